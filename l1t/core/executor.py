"""One way to run independent tasks (production chunks, rate files): in this process, in local
worker processes, or on a dask.distributed cluster.

``workers`` means the same everywhere (``l1t generate --workers``, ``l1t rates --workers``): the
number of local processes, default one per core (:data:`None`); 1 runs in this process. Worker
processes are *spawned*, not forked: the parent may already hold TensorFlow or Pythia state that
is not fork-safe. ``scheduler`` (an address) sends the tasks to a dask.distributed cluster
instead. Results carry their task index, so callers that combine them in task order get the
same numbers whatever ran where.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from l1t.core.errors import L1TInputError


def default_workers() -> int:
    """Local worker processes when none are asked for: one per core."""
    return os.cpu_count() or 1


def _log_levels() -> dict[str, int]:
    """Levels set on the loggers of this process (a command may have quieted a framework's)."""
    return {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
            if isinstance(logger, logging.Logger) and logger.level}


def _like_parent(filters: list, levels: dict[str, int]) -> None:
    """In a spawned worker: the parent's warning filters and logger levels, so that a worker
    prints no more than the command that started it."""
    warnings.filters[:] = filters
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


#: Seconds to wait for a dask scheduler before giving up.
CONNECT_TIMEOUT_S = 10


def connect(scheduler: str):
    """A dask.distributed client of ``scheduler``; an address that does not answer within
    :data:`CONNECT_TIMEOUT_S` is an :class:`~l1t.core.errors.L1TInputError` naming it."""
    from dask.distributed import Client

    try:
        return Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise L1TInputError("--scheduler", f"cannot reach the dask scheduler {scheduler!r} "
                            f"({reason})") from None


def run_tasks(fn: Callable[..., Any], tasks: Sequence[tuple], workers: int | None = None,
              scheduler: str | None = None) -> Iterator[tuple[int, Any]]:
    """An iterator of ``(i, fn(*tasks[i]))`` for every task, as they complete (``fn`` and the
    arguments must be picklable when they leave this process). A scheduler is connected to
    before this returns, so an unreachable one fails before any work or output."""
    if not tasks:
        return iter(())
    if scheduler:
        return _on_dask(connect(scheduler), fn, tasks)
    n = min(workers or default_workers(), len(tasks))
    if n <= 1:
        return ((i, fn(*args)) for i, args in enumerate(tasks))
    return _on_processes(n, fn, tasks)


def _on_dask(client, fn, tasks) -> Iterator[tuple[int, Any]]:
    from dask.distributed import as_completed as dask_completed

    with client:
        futures = {client.submit(fn, *args, pure=False): i for i, args in enumerate(tasks)}
        for fut in dask_completed(list(futures)):
            yield futures[fut], fut.result()


def _on_processes(n: int, fn, tasks) -> Iterator[tuple[int, Any]]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n, mp_context=context, initializer=_like_parent,
                             initargs=(list(warnings.filters), _log_levels())) as pool:
        futures = {pool.submit(fn, *args): i for i, args in enumerate(tasks)}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()


def map_tasks(fn: Callable[..., Any], tasks: Sequence[tuple], workers: int | None = None,
              scheduler: str | None = None, progress: Callable[[Any], None] | None = None
              ) -> list[Any]:
    """``[fn(*t) for t in tasks]`` through :func:`run_tasks`, in task order; ``progress`` is
    called with each result as it arrives."""
    out: list[Any] = [None] * len(tasks)
    for i, result in run_tasks(fn, tasks, workers, scheduler):
        out[i] = result
        if progress is not None:
            progress(result)
    return out
