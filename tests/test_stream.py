"""The 40 MHz stream: filling schemes, crossing draws, and the stream against `l1t rates`."""
import numpy as np
import pytest

from l1t.core.errors import L1TInputError
from l1t.trigger.stream.crossings import EventPool, MuProfile, Sampler, pack, unpack
from l1t.trigger.lhc import BX_PER_ORBIT
from l1t.trigger.stream.filling import (NOMINAL_FILE, load_filling_scheme, nominal_25ns,
                                        parse_filling_scheme, single_trains)
from l1t.trigger.stream.report import read_stream


def test_nominal_scheme_is_the_design_report_pattern():
    s = nominal_25ns()
    assert s.n_bunches == 2808
    trains = s.trains()
    assert len(trains) == 39 and {n for _, n in trains} == {72}
    assert trains[0] == (1, 72) and trains[1][0] == 81            # 8 empty slots between batches
    last_start, last_len = trains[-1]
    assert BX_PER_ORBIT - (last_start + last_len - 1) == 119      # the abort gap
    assert s.collision_rate_khz == pytest.approx(2808 * 11.2456)
    same = load_filling_scheme(NOMINAL_FILE)
    assert np.array_equal(same.colliding, s.colliding)
    assert np.array_equal(parse_filling_scheme(s.to_text()).colliding, s.colliding)


def test_filling_scheme_file_errors(tmp_path):
    ok = parse_filling_scheme("# two trains\n1-10, 20\n3000-3001\n", "f.txt")
    assert ok.n_bunches == 13 and ok.trains() == [(1, 10), (20, 1), (3000, 2)]
    for text, where in (("1-10\n5\n", "line 2"), ("0\n", "line 1"), ("3565\n", "line 1"),
                        ("abc\n", "line 1"), ("# nothing\n", "no colliding")):
        with pytest.raises(L1TInputError, match=where) as err:
            parse_filling_scheme(text, "f.txt")
        assert "f.txt" in str(err.value)
    with pytest.raises(L1TInputError, match="no such filling scheme"):
        load_filling_scheme(tmp_path / "missing.txt")
    assert single_trains(144).trains() == [(1, 72), (81, 72)]


def test_pack_unpack_round_trip():
    rng = np.random.default_rng(1)
    for s in (1, 14, 64, 65, 130):
        fired = rng.random((50, s)) < 0.3
        bits = pack(fired)
        assert bits.shape == (50, (s + 63) // 64) and bits.dtype == np.uint64
        assert np.array_equal(unpack(bits, s), fired)


def _pool(n_int, fired, mean_mu):
    order = np.argsort(n_int, kind="stable")
    return EventPool(np.asarray(n_int, np.int64)[order], pack(np.asarray(fired)[order]),
                     tuple(f"s{j}" for j in range(np.asarray(fired).shape[1])), mean_mu, ())


def test_sampler_reproduces_poisson_pileup_and_is_deterministic():
    rng = np.random.default_rng(2)
    n_int = rng.poisson(50, 20_000)
    pool = _pool(n_int, np.zeros((20_000, 1), bool), 50.0)
    a = Sampler(pool, seed=7)
    idx, n = a.draw(0, np.full(100, 40.0), 2000)          # a lower mu than the pool's
    assert np.array_equal(n, pool.n_interactions[idx])
    assert n.mean() == pytest.approx(40.0, abs=0.1) and n.var() == pytest.approx(40.0, rel=0.03)
    assert a.substituted / a.drawn < 0.01
    b = Sampler(pool, seed=7)
    idx2, _ = b.draw(0, np.full(100, 40.0), 2000)
    assert np.array_equal(idx, idx2)


def test_mu_profile():
    p = MuProfile.parse("0:200,10:100")
    assert p.at(np.array([0.0, 5.0, 20.0])).tolist() == [200.0, 150.0, 100.0]
    assert MuProfile.parse("140").is_constant
    for bad in ("x", "0:200,0:100", "0:-1"):
        with pytest.raises(L1TInputError):
            MuProfile.parse(bad)


# --------------------------------------------------------------------------- the stream itself
LOW_MENU = """
name: low
seeds:
  L1_SingleJet30: {legs: [{object: jet, pt: 30}]}
  L1_SingleEG8: {legs: [{object: egamma, pt: 8}]}
  L1_HTT60_ps2: {prescale: 2, sums: [{type: HT, min: 60}]}
"""


@pytest.fixture(scope="module")
def zero_bias(tmp_path_factory):
    from l1t.datasets.production import produce

    out = tmp_path_factory.mktemp("zb")
    produce("minbias", 400, out / "zb", pileup=30, seed=5, chunk_size=200, pool_size=200,
            progress=False)
    (out / "menu.yaml").write_text(LOW_MENU)
    return out


def _stream(zero_bias, pipeline="phase2", **kw):
    from l1t.datasets.inputs import expand_inputs
    from l1t.trigger.menu import load_menu
    from l1t.trigger.stream.pipeline import load_pipeline
    from l1t.trigger.stream.run import run_stream

    menu = load_menu(zero_bias / "menu.yaml")
    pool = EventPool.from_files(menu, expand_inputs([zero_bias / "zb"]))
    p = pipeline if not isinstance(pipeline, str) else load_pipeline(pipeline)
    return run_stream(menu, pool, p, **kw), pool


def test_stream_rates_agree_with_l1t_rates(zero_bias):
    """Same menu, same crossings: the stream's requested rate per seed (before deadtime) is the
    rates job's within the stream's sampling error; accepts = requests − vetoes − losses."""
    from l1t.datasets.inputs import expand_inputs
    from l1t.trigger.job import RateJob, run
    from l1t.trigger.menu import load_menu
    from l1t.trigger.rates import summarize

    menu = load_menu(zero_bias / "menu.yaml")
    rates = summarize(run(RateJob(menu), expand_inputs([zero_bias / "zb"])), menu)
    res, pool = _stream(zero_bias, orbits=150, seed=3)
    s = res.summary()
    assert res.n_colliding == 150 * 2808 and s["n_bunches"] == 2808
    scale = 2808 * 11.2456
    for mine, ref in zip(s["seeds"], rates["seeds"]):
        p = ref["rate_khz"] / scale                      # the pool's fraction (prescaled)
        sigma = np.sqrt(p * (1 - p) / res.n_colliding) * scale
        assert ref["rate_khz"] > 10
        assert abs(mine["requested_khz"] - ref["rate_khz"]) < 4 * sigma + 1e-9, mine
        assert mine["accepted_khz"] <= mine["requested_khz"]
    lost = s["lost"]
    assert res.l1a.n_accepted == res.total_requests - lost["trigger_rules"] \
        - lost["derandomizer"] - lost["pipeline"]
    total = rates["total"]["rate_khz"]
    sigma = np.sqrt(total / scale * (1 - total / scale) / res.n_colliding) * scale
    assert abs(s["total"]["requested_khz"] - total) < 4 * sigma
    assert s["deadtime"]["fraction"] == pytest.approx(
        (lost["trigger_rules"] + lost["derandomizer"]) / res.total_requests)
    # every path of the preset at its fixed latency, within budget
    for name, st in s["pipeline"]["paths"].items():
        assert st["n_lost"] == 0 and st["min_ns"] == st["max_ns"] == st["static_latency_ns"]
        assert st["margin_ns"] > 0


def test_stream_is_deterministic_and_independent_of_chunking(zero_bias):
    a, _ = _stream(zero_bias, orbits=40, seed=9, chunk_orbits=7)
    b, _ = _stream(zero_bias, orbits=40, seed=9, chunk_orbits=40, cycle_level="all")
    c, _ = _stream(zero_bias, orbits=40, seed=10)
    for key in ("requested", "accepted"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    assert a.l1a.n_accepted == b.l1a.n_accepted
    assert np.array_equal(a.timeline.accepted, b.timeline.accepted)
    assert not np.array_equal(a.requested, c.requested)


def test_filling_scheme_and_empty_slots(zero_bias):
    """Only colliding slots fire: 144 bunches give 144 crossings per orbit."""
    res, _ = _stream(zero_bias, orbits=20, scheme=single_trains(144))
    assert res.n_colliding == 20 * 144
    t = res.timeline
    assert not (t.requests & ~t.colliding).any() and not (t.accepted & ~t.requests).any()
    assert (t.n_interactions[~t.colliding] == 0).all()


def test_too_slow_stage_loses_events_in_the_stream(zero_bias):
    """A global trigger needing 2 BX per event with no time multiplexing drops every other
    event; the stream counts the requests lost there and names the stage."""
    from l1t.trigger.stream.pipeline import parse_pipeline

    slow = parse_pipeline("""
name: slow
budget_us: 1.0
max_accept_khz: 750
trigger_rules: [[1, 1]]
derandomizer: {depth: 100, readout_ns: 25}
stages:
  gt: {clock_mhz: 40, latency_cycles: 4, ii: 2, buffer: 1}
paths:
  all: [gt]
""")
    res, _ = _stream(zero_bias, pipeline=slow, orbits=10)
    s = res.summary()
    assert s["pipeline"]["check"]["too_slow"] == ["gt"]
    assert s["lost"]["pipeline"] > 0 and set(s["lost"]["pipeline_by_stage"]) == {"gt"}
    # with rule 1-in-1 and an always-free derandomizer, every surviving request is accepted
    assert res.l1a.n_accepted == res.total_requests - s["lost"]["pipeline"]
    assert s["config"]["cycle_level_bx"] == 10 * BX_PER_ORBIT


def test_l1t_stream_command(zero_bias, tmp_path, capsys):
    from l1t.cli import main

    out = tmp_path / "s"
    assert main(["stream", "--pipeline", "run3", "--menu", str(zero_bias / "menu.yaml"),
                 "--input", str(zero_bias / "zb"), "--orbits", "5", "--out", str(out),
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "latency budget of run3: 3800 ns" in text and "TOTAL" in text
    summary = read_stream(out / "stream.json")
    assert summary["orbits"] == 5 and (out / "timeline.png").stat().st_size > 1000
    bad = tmp_path / "bad"
    assert main(["stream", "--pipeline", str(tmp_path / "nope.yaml"), "--input",
                 str(zero_bias / "zb"), "--orbits", "5", "--out", str(bad), "--quiet"]) == 2
    assert not bad.exists()
