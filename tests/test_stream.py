"""The 40 MHz stream: filling schemes, crossing draws, the stream against `l1t rates` (zero-bias
and the stitched QCD tail) and `l1t efficiency` (injected signal), checkpoints."""
import numpy as np
import pytest

from l1t.core.errors import L1TInputError
from l1t.trigger.stream.crossings import (AliasTable, EventPool, MuProfile, Sampler,
                                          ZeroBiasIndex, pack, unpack, poisson_pmf)
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
        assert unpack(bits[:0], s).shape == (0, s)            # no rows (an orbit with no accept)


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
    idx3, _ = b.draw(50, np.full(50, 40.0), 2000)          # orbits 50..99 again: the same rows
    assert np.array_equal(idx3, idx[50 * 2000:])
    assert not np.array_equal(Sampler(pool, seed=8).draw(0, np.full(2, 40.0), 2000)[0],
                              idx[:4000])


def test_alias_tables_draw_the_poisson_mixture_exactly():
    w = np.array([0.0, 1.0, 3.0, 0.5, 5.5])
    np.testing.assert_allclose(AliasTable.of(w).probabilities(), w / w.sum(), atol=1e-15)
    # pool rows with n in {3, 5, 5, 9}: n = 4 goes to 3 (ties: the lower), 6, 7 to 5, 8+ to 9
    index = ZeroBiasIndex.of(np.array([3, 5, 5, 9]))
    per_row, sub = index.row_weights(5.0)
    lo, pmf = poisson_pmf(5.0)
    p = dict(zip(range(lo, lo + len(pmf)), pmf))
    to3 = sum(v for k, v in p.items() if k <= 4)
    to5 = p[5] + p[6] + p[7]
    np.testing.assert_allclose(per_row, [to3, to5 / 2, to5 / 2, 1 - to3 - to5], atol=1e-12)
    assert sub == pytest.approx(1 - p[3] - p[5] - p[9])


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
  L1_SingleJet60: {legs: [{object: jet, pt: 60}]}
  L1_SingleEG8: {legs: [{object: egamma, pt: 8}]}
  L1_HTT60_ps2: {prescale: 2, sums: [{type: HT, min: 60}]}
"""


@pytest.fixture(scope="module")
def zero_bias(tmp_path_factory):
    """Zero-bias, weighted QCD and a Z→ℓℓ signal at ⟨μ⟩ = 30 (about 15 s)."""
    from l1t.datasets.production import produce

    out = tmp_path_factory.mktemp("zb")
    for sample, n in (("minbias", 400), ("qcd", 150), ("z_ll", 100)):
        produce(sample, n, out / ("zb" if sample == "minbias" else sample), pileup=30, seed=5,
                chunk_size=200, pool_size=200, progress=False, cache_dir=out / ".cache")
    (out / "menu.yaml").write_text(LOW_MENU)
    return out


def _pools(zero_bias, inputs=("zb",), signal=False):
    from l1t.datasets.inputs import expand_inputs
    from l1t.trigger.menu import load_menu
    from l1t.trigger.stream.crossings import SignalPool

    menu = load_menu(zero_bias / "menu.yaml")
    pool = EventPool.from_files(menu, expand_inputs([zero_bias / i for i in inputs]))
    sig = [SignalPool.from_files(menu, "z_ll", expand_inputs([zero_bias / "z_ll"]))] \
        if signal else []
    return menu, pool, sig


_CACHE: dict = {}


def _stream(zero_bias, pipeline="phase2", inputs=("zb",), signal=False, **kw):
    from l1t.trigger.stream.pipeline import load_pipeline
    from l1t.trigger.stream.run import run_stream

    key = (str(zero_bias), inputs, signal)
    if key not in _CACHE:                       # the menu on the inputs once per module
        _CACHE[key] = _pools(zero_bias, inputs, signal)
    menu, pool, sig = _CACHE[key]
    p = pipeline if not isinstance(pipeline, str) else load_pipeline(pipeline)
    if signal:
        kw.setdefault("signals", sig)
    return run_stream(menu, pool, p, **kw), pool


def _rates(zero_bias, inputs):
    from l1t.datasets.inputs import expand_inputs
    from l1t.trigger.job import RateJob, run
    from l1t.trigger.menu import load_menu
    from l1t.trigger.rates import summarize

    menu = load_menu(zero_bias / "menu.yaml")
    return summarize(run(RateJob(menu), expand_inputs([zero_bias / i for i in inputs]),
                         workers=1), menu)


def test_stream_rates_agree_with_l1t_rates(zero_bias):
    """Same menu, same zero-bias crossings: the stream's requested rate per seed (before
    deadtime) is the rates job's within the stream's sampling error; accepts = requests −
    vetoes − losses."""
    rates = _rates(zero_bias, ["zb"])
    res, pool = _stream(zero_bias, orbits=150, seed=3)
    s = res.summary()
    assert res.n_colliding == 150 * 2808 and s["n_bunches"] == 2808
    assert s["draws"] == {"zero_bias": 150 * 2808, "qcd": 0, "signal": 0}
    scale = 2808 * 11.2456
    for mine, ref in zip(s["seeds"], rates["seeds"]):
        assert mine["accepted_khz"] <= mine["requested_khz"]
        if ref["events_fired"] < 20:
            # a few crossings: drawn by their n with weight Poisson(n) / (pool crossings with
            # n), whose sampling noise the pool's fraction does not show (the QCD test below)
            continue
        p = ref["rate_khz"] / scale                      # the pool's fraction (prescaled)
        sigma = np.sqrt(p * (1 - p) / res.n_colliding) * scale
        assert abs(mine["requested_khz"] - ref["rate_khz"]) < 4 * sigma + 1e-9, mine
    lost = s["lost"]
    assert res.l1a.n_accepted == res.total_requests - lost["trigger_rules"] \
        - lost["derandomizer"] - lost["pipeline"]
    total = rates["total"]["rate_khz"]
    sigma = np.sqrt(total / scale * (1 - total / scale) / res.n_colliding) * scale
    assert abs(s["total"]["requested_khz"] - total) < 4 * sigma
    assert s["deadtime"]["fraction"] == pytest.approx(
        (lost["trigger_rules"] + lost["derandomizer"]) / res.total_requests)
    # the L1 accept at its fixed latency, within budget; every stage at its static time
    l1a = s["pipeline"]["l1a"]
    assert l1a["n_lost"] == 0 and l1a["min_ns"] == l1a["max_ns"] == l1a["static_latency_ns"]
    assert l1a["margin_ns"] > 0 and l1a["critical_path"][-1] == "l1a_distribution"
    for name, st in s["pipeline"]["stages"].items():
        assert st["min_ns"] == st["max_ns"] == st["static_ready_ns"], name
    assert s["pipeline"]["stages"]["gmt"]["critical_input"] == "track_finder"


def test_stream_with_the_qcd_tail_agrees_with_l1t_rates(zero_bias):
    """Zero-bias + weighted QCD stitched at 30 GeV, as `l1t rates` does: every seed and the
    total agree within the errors; the tail matters (the 30 GeV jet and the total rates with
    it are many standard errors of the stream away from the zero-bias-only ones)."""
    both = ("zb", "qcd")
    rates = _rates(zero_bias, list(both))
    zb_only = _rates(zero_bias, ["zb"])
    res, pool = _stream(zero_bias, inputs=both, orbits=150, seed=4)
    s = res.summary()
    tail = pool.tail
    assert tail is not None and tail.stitch_pthat == 30.0
    assert len(pool) < pool.zero_bias_crossings          # the zero-bias above 30 GeV left out
    p_hard = s["pool"]["qcd"]["p_hard_at_mean_mu"]
    assert p_hard == pytest.approx(rates["pileup"][0]["p_hard"], rel=1e-9)
    n = res.n_colliding
    assert abs(s["draws"]["qcd"] - p_hard * n) < 4 * np.sqrt(n * p_hard * (1 - p_hard))
    for mine, ref in zip(s["seeds"] + [s["total"]], rates["seeds"] + [rates["total"]]):
        err = np.hypot(mine["requested_err_khz"], ref["rate_err_khz"])
        assert abs(mine["requested_khz"] - ref["rate_khz"]) < 3 * err, (mine, ref)
    jet30 = [e["seed"] for e in s["seeds"]].index("L1_SingleJet30")
    assert abs(rates["seeds"][jet30]["rate_khz"] - zb_only["seeds"][jet30]["rate_khz"]) \
        > 10 * s["seeds"][jet30]["requested_err_khz"]
    assert abs(rates["total"]["rate_khz"] - zb_only["total"]["rate_khz"]) \
        > 10 * s["total"]["requested_err_khz"]
    assert "weighted QCD above it" in _table(s)


def _table(summary):
    from l1t.trigger.stream.report import stream_table_text

    return stream_table_text(summary)


NO_DEADTIME = """
name: open
budget_us: 1.0
trigger_rules: []
derandomizer: {depth: 1, readout_bx: 1}
stages:
  gt: {clock_mhz: 40, latency_cycles: 4}
paths:
  all: [gt]
"""


def test_injected_signal_efficiency_equals_l1t_efficiency_without_deadtime(zero_bias):
    """Z→ℓℓ injected at 5% of the colliding slots, through a pipeline without deadtime: per
    seed and for the menu, the efficiency after everything equals `l1t efficiency`'s on the
    same crossings within errors. With the Phase-2 deadtime it drops, most at the end of the
    bunch trains, and every injected crossing has one fate."""
    from l1t.datasets.inputs import expand_inputs
    from l1t.trigger.acceptance import signal_efficiency
    from l1t.trigger.menu import load_menu
    from l1t.trigger.stream.pipeline import parse_pipeline

    menu = load_menu(zero_bias / "menu.yaml")
    ref = signal_efficiency(menu, {"z_ll": expand_inputs([zero_bias / "z_ll"])})[0]
    res, _ = _stream(zero_bias, pipeline=parse_pipeline(NO_DEADTIME), signal=True,
                     signal_fraction=0.05, orbits=40, seed=5)
    sig = res.summary()["signals"][0]
    n = sig["injected"]
    assert abs(n - 0.05 * res.n_colliding) < 4 * np.sqrt(0.05 * 0.95 * res.n_colliding)
    assert sig["fates"]["vetoed_rule"]["crossings"] == sig["fates"]["lost_derandomizer"][
        "crossings"] == sig["fates"]["lost_pipeline"]["crossings"] == 0

    def close(mine, theirs):
        sd_mine = (mine["high"] - mine["low"]) / 2
        sd_ref = (theirs.high - theirs.low) / 2
        assert abs(mine["value"] - theirs.value) < 4 * np.hypot(sd_mine, sd_ref) + 1e-12, \
            (mine, theirs)

    for mine, theirs in zip(sig["seeds"], ref.seeds):
        close(mine["efficiency"], theirs.efficiency)
        assert mine["efficiency"] == mine["requested"]          # nothing lost after the GT
    close(sig["efficiency"], ref.total)
    assert ref.total.value > 0.3

    dead, _ = _stream(zero_bias, signal=True, signal_fraction=0.05, orbits=40, seed=5)
    d = dead.summary()["signals"][0]
    assert d["injected"] == n                                   # the same slots, same crossings
    assert d["requested"] == sig["requested"]                   # same prescaled decisions
    assert d["efficiency"]["value"] < sig["efficiency"]["value"]
    assert sum(f["crossings"] for f in d["fates"].values()) == n
    pos = {p["position"]: p for p in d["positions"]}
    assert sum(p["injected"] for p in pos.values()) == n and max(pos) == 72
    first = np.mean([pos[k]["efficiency"]["value"] for k in range(1, 5)])
    last = np.mean([pos[k]["efficiency"]["value"] for k in range(60, 73)])
    assert first > last            # a train's first bunches follow empty, quiet slots
    from l1t.trigger.stream.injection import signal_table_text
    assert "accepted vs position in the train" in signal_table_text([d])


def test_stream_is_deterministic_and_independent_of_chunking(zero_bias):
    a, _ = _stream(zero_bias, orbits=40, seed=9, chunk_orbits=7)
    b, _ = _stream(zero_bias, orbits=40, seed=9, chunk_orbits=40, cycle_level="all")
    c, _ = _stream(zero_bias, orbits=40, seed=10)
    for key in ("requested", "accepted"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    assert a.l1a.n_accepted == b.l1a.n_accepted
    for f in ("accepted", "occupancy", "seed_accepts", "n_interactions"):
        assert np.array_equal(getattr(a.timeline, f), getattr(b.timeline, f))
    assert not np.array_equal(a.requested, c.requested)
    t = a.timeline
    assert t.occupancy.max() <= t.depth and len(t.occupancy) == 3 * BX_PER_ORBIT
    assert set(t.seed_accepts[:, 0]) == set(np.flatnonzero(t.accepted))


def test_a_stream_resumes_from_its_checkpoint(zero_bias, tmp_path):
    """Stopped after 20 orbits, resumed to 45: the same numbers as 45 orbits in one go, QCD tail
    and signal included; another stream's checkpoint is refused."""
    from l1t.trigger.stream.run import DEFAULT_TIMELINE_ORBITS

    kw = dict(inputs=("zb", "qcd"), signal=True, signal_fraction=0.02, seed=11,
              chunk_orbits=6, mu=MuProfile.parse("0:30,0.004:20"))
    whole, _ = _stream(zero_bias, orbits=45, **kw)
    ck = tmp_path / "ck.npz"
    first, _ = _stream(zero_bias, orbits=20, checkpoint=ck, checkpoint_seconds=0.0, **kw)
    assert ck.exists() and first.orbits == 20
    rest, _ = _stream(zero_bias, orbits=45, checkpoint=ck, resume=True, **kw)
    a, b = whole.summary(), rest.summary()
    for key in ("seeds", "total", "deadtime", "lost", "signals", "draws", "mean_mu", "l1a"):
        assert a[key] == b[key], key
    assert a["pipeline"]["stages"] == b["pipeline"]["stages"]
    assert DEFAULT_TIMELINE_ORBITS <= 20 and np.array_equal(whole.timeline.occupancy,
                                                            rest.timeline.occupancy)
    assert 20 < whole.mean_mu < 30               # the luminosity decays
    with pytest.raises(L1TInputError, match="another stream"):
        _stream(zero_bias, orbits=45, checkpoint=ck, resume=True,
                **{**kw, "seed": 12})


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
                 "--input", str(zero_bias / "zb"), str(zero_bias / "qcd"), "--orbits", "5",
                 "--signal", str(zero_bias / "z_ll"), "--signal-fraction", "0.01",
                 "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "latency budget of run3: 3800 ns" in text and "TOTAL" in text
    assert "signal z_ll" in text and "critical input" in text
    summary = read_stream(out / "stream.json")
    assert summary["orbits"] == 5 and (out / "timeline.png").stat().st_size > 1000
    assert summary["signals"][0]["signal"] == "z_ll" and summary["draws"]["qcd"] > 0
    # resume: a longer stream continues from the checkpoint the first one left
    assert main(["stream", "--pipeline", "run3", "--menu", str(zero_bias / "menu.yaml"),
                 "--input", str(zero_bias / "zb"), str(zero_bias / "qcd"), "--orbits", "8",
                 "--signal", str(zero_bias / "z_ll"), "--signal-fraction", "0.01",
                 "--out", str(out), "--quiet", "--resume"]) == 0
    assert read_stream(out / "stream.json")["orbits"] == 8
    bad = tmp_path / "bad"
    assert main(["stream", "--pipeline", str(tmp_path / "nope.yaml"), "--input",
                 str(zero_bias / "zb"), "--orbits", "5", "--out", str(bad), "--quiet"]) == 2
    assert not bad.exists()
    assert main(["stream", "--input", str(zero_bias / "z_ll"), "--orbits", "5", "--out",
                 str(bad), "--quiet"]) == 2                  # a signal is not zero-bias
    assert main(["stream", "--input", str(zero_bias / "zb"), "--orbits", "5", "--signal",
                 str(zero_bias / "z_ll"), "--out", str(bad), "--quiet"]) == 2   # no fraction
    assert not bad.exists()
