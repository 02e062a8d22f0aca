"""The task executor: results in task order wherever the tasks ran; spawned workers print no
more than the command that started them."""
import math
import warnings

from l1t.core.executor import map_tasks, run_tasks


def test_results_in_task_order_in_process_and_in_workers():
    tasks = [(n,) for n in range(12)]
    expected = [math.factorial(n) for n in range(12)]
    assert map_tasks(math.factorial, tasks, workers=1) == expected
    assert map_tasks(math.factorial, tasks, workers=2) == expected
    assert sorted(i for i, _ in run_tasks(math.factorial, tasks, workers=2)) == list(range(12))
    assert map_tasks(math.factorial, [], workers=2) == []


def test_spawned_workers_keep_the_parents_warning_filters(capfd):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="l1t-quiet")
        map_tasks(warnings.warn, [("l1t-quiet: hidden",)] * 2, workers=2)
    map_tasks(warnings.warn, [("l1t-loud: shown",)] * 2, workers=2)
    err = capfd.readouterr().err
    assert "l1t-quiet" not in err and "l1t-loud" in err
