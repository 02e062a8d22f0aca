"""Trigger pipeline as data (trigger/stream/pipeline/): presets, the graph (a stage starts when its
last input has arrived), static check, cycle-level simulation with hand-derived answers and
against a plain reference of the chain model, firmware reports, malformed YAML, chunked
streaming."""
from __future__ import annotations

import json

import numpy as np
import pytest

from l1t.core.errors import L1TInputError
from l1t.trigger.lhc import BX_PER_ORBIT
from l1t.trigger.stream.pipeline import (PRESETS, Pipeline, SimState, Stage, check,
                              load_pipeline, parse_pipeline, simulate, stream_report,
                              with_firmware)

#: Path latencies (ns) of the presets: Σ (link + latency) + the waits for clock edges
#: (docs/stream.md, "## Pipeline"); margin = budget − latency.
PRESET_LATENCY_NS = {
    "phase2": {"muon_barrel": 4600.0, "muon_endcap": 4800.0, "track_muon": 7100.0,
               "calo": 4500.0, "correlator": 8750.0, "anomaly": 8000.0,
               "calo_correlator": 6350.0, "calo_anomaly": 5600.0},
    "run3": {"muon_barrel": 2475.0, "muon_overlap": 2475.0, "muon_endcap": 2575.0,
             "calo": 3100.0, "anomaly": 3000.0, "cicada": 2175.0},
}
BUDGET_NS = {"phase2": 12500.0, "run3": 3800.0}


def one_stage(clock_mhz=40, latency=2, ii=2, tmux=1, buffer=1, budget_us=1.0) -> Pipeline:
    return parse_pipeline(f"""
budget_us: {budget_us}
stages:
  slow: {{clock_mhz: {clock_mhz}, latency_cycles: {latency}, ii: {ii}, tmux: {tmux},
          buffer: {buffer}}}
paths:
  only: [slow]
""")


# --------------------------------------------------------------------------- presets

@pytest.mark.parametrize("preset", ["phase2", "run3"])
def test_presets_meet_their_budgets_with_the_documented_margins(preset):
    p = load_pipeline(preset)
    assert p.path == str(PRESETS[preset]) and p.name == preset
    assert p.budget_ns == BUDGET_NS[preset]
    assert p.max_accept_khz == {"phase2": 750.0, "run3": 100.0}[preset]
    assert p.l1a["trigger_rules"] == {"phase2": [[1, 3], [2, 8], [4, 50], [8, 200]],
                                      "run3": [[1, 3], [2, 25], [3, 100], [4, 240]]}[preset]
    assert set(p.l1a["derandomizer"]) == {"depth", "readout_ns"}
    assert all(s.source for s in p.stages)          # every figure has its source
    assert {s.role for s in p.stages} >= {"frontend", "muon", "calo", "gt", "model"}
    rep = check(p)
    assert rep.ok and rep.too_slow == [] and rep.over_budget == []
    got = {q.name: q.latency_ns for q in rep.paths}
    assert got == pytest.approx(PRESET_LATENCY_NS[preset], abs=1e-9)
    for q in rep.paths:
        assert q.margin_ns == pytest.approx(BUDGET_NS[preset] - got[q.name], abs=1e-9)
        assert q.margin_ns > 0
        assert q.fixed_ns + q.alignment_ns == pytest.approx(q.latency_ns, abs=1e-9)
    assert "OVER BUDGET" not in rep.table() and "TOO SLOW" not in rep.table()


def test_run3_waits_for_clock_edges_and_phase2_does_not():
    # Run-3 links of 60 ns / 30 ns fall between 240 MHz edges (4.17 ns): 15 ns on muon paths
    align = {q.name: q.alignment_ns for q in check(load_pipeline("run3")).paths}
    assert align == pytest.approx({"muon_barrel": 15.0, "muon_overlap": 15.0, "muon_endcap": 15.0,
                                   "calo": 30.0, "anomaly": 30.0, "cicada": 25.0}, abs=1e-9)
    assert all(q.alignment_ns == 0 for q in check(load_pipeline("phase2")).paths)


@pytest.mark.parametrize("preset", ["phase2", "run3"])
def test_presets_have_a_fixed_latency_equal_to_the_static_figure(preset):
    p = load_pipeline(preset)
    rep = check(p)
    res = simulate(p, BX_PER_ORBIT, stage_times=True)
    for s in p.stages:             # every stage's output at its static time, every BX
        st = res.stages[s.name]
        assert st.n_events == BX_PER_ORBIT and st.n_lost == 0
        assert st.min_ns == st.max_ns == pytest.approx(rep.stage(s.name).ready_ns, abs=1e-9)
        assert np.all(res.ready_ns[s.name] == res.ready_ns[s.name][0])
    assert not res.lost.any() and np.all(res.lost_stage == -1)
    # the L1 accept is the latest chain (max and the clock-edge wait commute)
    slowest = max(q.latency_ns for q in rep.paths)
    assert res.l1a.fixed and res.l1a.min_ns == pytest.approx(slowest, abs=1e-9)
    assert rep.l1a_ns == pytest.approx(slowest, abs=1e-9)
    assert [q.name for q in rep.paths if q.critical] == [max(rep.paths,
                                                             key=lambda q: q.latency_ns).name]
    assert all(s.n_lost == 0 and s.max_fill <= 1 for s in res.stages.values())
    for s in p.stages:      # busy fraction = static occupancy when every event is taken
        assert res.stages[s.name].occupancy == pytest.approx(rep.stage(s.name).occupancy)
    # the critical input measured BX by BX is the static one
    for s in p.stages:
        crit = res.stages[s.name].critical
        if crit:
            assert max(crit, key=crit.get) == rep.stage(s.name).critical_input
            assert crit[rep.stage(s.name).critical_input] == BX_PER_ORBIT


def test_phase2_graph_waits_for_the_last_input():
    """The global muon trigger waits for tracks and muons, correlator layer 1 for tracks and
    calorimeter clusters: each starts when its last input has arrived (the track finder)."""
    p = load_pipeline("phase2")
    assert p.inputs["gmt"] == ("barrel_mtf", "muon_pt", "track_finder")
    assert p.inputs["correlator_l1"] == ("track_finder", "regional_calo")
    rep = check(p)
    gmt, cl1 = rep.stage("gmt"), rep.stage("correlator_l1")
    track_out = rep.stage("track_finder").ready_ns                     # 4100 ns
    assert gmt.critical_input == cl1.critical_input == "track_finder"
    assert gmt.ready_ns == pytest.approx(track_out + 150 + 1000)      # link + 240 clocks
    assert cl1.ready_ns == pytest.approx(track_out + 150 + 1500)
    # how much earlier the other inputs arrive
    assert gmt.slack_ns == pytest.approx({"barrel_mtf": track_out - 1600,
                                          "muon_pt": track_out - 1800, "track_finder": 0.0})
    assert cl1.slack_ns["regional_calo"] == pytest.approx(track_out - 1700)
    assert rep.critical_path == ("tracker_dtc", "track_finder", "correlator_l1",
                                 "correlator_l2", "gt_menu", "gt_final", "l1a_distribution")
    assert "critical input" in rep.table() and "track_finder" in rep.table()


def _chain_reference(p, n_bx: int) -> np.ndarray:
    """The chain timing model written plainly (docs/stream.md, "Pipeline"), BX by BX, for a
    pipeline that is one chain: latency per BX in ns, NaN where lost."""
    from fractions import Fraction

    chain = [p.stage(n) for n in p.paths[next(iter(p.paths))]]
    boards = [[[] for _ in range(s.tmux)] for s in chain]    # per board: starts, in order
    last = [[None] * s.tmux for s in chain]
    out = np.full(n_bx, np.nan)
    bx = Fraction(str(p.bx_ns))
    for b in range(n_bx):
        t = b * bx
        for j, s in enumerate(chain):
            period = Fraction(1000) / Fraction(str(s.clock_mhz))
            t_in = t + Fraction(str(s.link_ns))
            k = b % s.tmux
            waiting = sum(1 for x in boards[j][k][-s.buffer:] if x > t_in)
            if waiting >= s.buffer:
                t = None
                break
            e = t_in if last[j][k] is None else max(t_in, last[j][k] + s.ii * period)
            start = -(-e // period) * period
            last[j][k] = start
            boards[j][k].append(start)
            t = start + s.latency_cycles * period
        if t is not None:
            out[b] = float(t - b * bx)
    return out


@pytest.mark.parametrize("yaml_text", ["CHUNK", "phase2", "run3"])
def test_a_graph_with_one_input_per_stage_gives_the_chain_latencies(yaml_text):
    """Every chain on its own (each stage one input) against the chain model written plainly:
    the same latency BX by BX, losses included (the too-slow 'busy' stage)."""
    if yaml_text == "CHUNK":
        base = parse_pipeline(CHUNK_YAML)
        chains = {"main": base.paths["main"]}
        n_bx = 400
    else:
        base = load_pipeline(yaml_text)
        chains = dict(base.paths)
        n_bx = 60
    for name, chain in chains.items():
        one = Pipeline(name, tuple(base.stage(n) for n in chain), {name: chain},
                       base.budget_us)
        assert all(len(v) <= 1 for v in one.inputs.values())
        res = simulate(one, n_bx)
        ref = _chain_reference(one, n_bx)
        np.testing.assert_array_equal(np.isnan(res.l1a_ns), np.isnan(ref))
        np.testing.assert_allclose(res.l1a_ns[~np.isnan(ref)], ref[~np.isnan(ref)], atol=1e-6)
        if yaml_text != "CHUNK":    # the presets' chains at their static totals
            assert res.l1a.fixed
            assert res.l1a.max_ns == pytest.approx(check(base).path(name).latency_ns)
    assert yaml_text != "CHUNK" or np.isnan(ref).sum() > 0      # the lossy chain lost some


GRAPH = """
budget_us: 2
stages:
  fast: {clock_mhz: 40, latency_cycles: 2, link_ns: 25}
  slow: {clock_mhz: 40, latency_cycles: 8, ii: 1, tmux: 1, link_ns: 0}
  join: {clock_mhz: 40, latency_cycles: 1, ii: 2, tmux: 2, inputs: [fast, slow], link_ns: 25}
  gt: {clock_mhz: 40, latency_cycles: 1, inputs: [join]}
"""


def test_a_stage_starts_when_its_last_input_has_arrived():
    p = parse_pipeline(GRAPH)
    assert p.inputs == {"fast": (), "slow": (), "join": ("fast", "slow"), "gt": ("join",)}
    # fast: 25 + 50 = 75 ns; slow: 200 ns; join: max(75, 200) + 25 → 225 + 25 = 250; gt: 275
    assert set(p.paths) == {"fast>join>gt", "slow>join>gt"}     # chains named by their stages
    rep = check(p)
    assert rep.stage("join").critical_input == "slow"
    assert rep.stage("join").slack_ns == {"fast": 125.0, "slow": 0.0}
    assert rep.l1a_ns == 275.0 and rep.path("fast>join>gt").latency_ns == 150.0
    res = simulate(p, 100)
    assert res.l1a.fixed and res.l1a.max_ns == 275.0
    assert res.stages["join"].critical == {"fast": 0, "slow": 100}
    # an input losing the event: the stage never receives it and its boards stay free
    lossy = parse_pipeline(GRAPH.replace("slow: {clock_mhz: 40, latency_cycles: 8, ii: 1",
                                         "slow: {clock_mhz: 40, latency_cycles: 8, ii: 2"))
    res = simulate(lossy, 100)
    assert res.stages["slow"].n_lost == 49 and res.lost.sum() == 49
    assert res.stages["join"].n_events == 51 and res.stages["join"].n_lost == 0
    assert res.stages["fast"].n_events == 100
    assert np.all(res.lost_stage[res.lost] == p.stage_names.index("slow"))


@pytest.mark.parametrize("text,problem", [
    (GRAPH.replace("inputs: [join]", "inputs: [join, gt]"), "unknown input 'gt'"),
    (GRAPH.replace("inputs: [join]", "inputs: [joins]"), "unknown input 'joins'"),
    (GRAPH.replace("inputs: [fast, slow]", "inputs: [fast]"), "feed none: slow, gt"),
    (GRAPH.replace("  fast: {clock_mhz: 40, latency_cycles: 2, link_ns: 25}",
                   "  fast: {clock_mhz: 40, latency_cycles: 2, link_ns: 25, inputs: [gt]}"),
     "cycle"),
    (GRAPH + "paths:\n  a: [slow, gt]\n", "gt does not read slow"),
    (GRAPH + "paths:\n  a: [fast, join]\n", "not at the stage issuing the L1 accept"),
    (GRAPH.replace("inputs: [join]", "inputs: []"), "non-empty list"),
])
def test_malformed_graphs_are_refused(text, problem):
    with pytest.raises(L1TInputError, match=problem) as err:
        parse_pipeline(text, "g.yaml")
    assert err.value.source == "g.yaml"


def test_clock_not_locked_to_the_bx_gives_a_latency_range_found_by_check_and_simulate():
    # 300 MHz: 25 ns = 7.5 clocks, so every other BX waits 5/3 ns for an edge
    p = one_stage(clock_mhz=300, latency=3, ii=1)
    q = check(p).path("only")
    assert q.fixed_ns == pytest.approx(10.0) and q.alignment_ns == pytest.approx(5 / 3)
    assert q.min_latency_ns == pytest.approx(10.0) and q.latency_ns == pytest.approx(35 / 3)
    res = simulate(p, 10)
    assert res.l1a_ns == pytest.approx([10.0, 35 / 3] * 5)
    assert (res.l1a.min_ns, res.l1a.max_ns) == (q.min_latency_ns, q.latency_ns)


# --------------------------------------------------------------------------- too slow, over budget

@pytest.mark.parametrize("buffer,lost", [(1, 49), (3, 47)])
def test_a_stage_needing_two_bx_per_event_loses_events(buffer, lost):
    # 40 MHz, ii = 2 clocks = 50 ns > 25 ns × tmux 1. The stage starts at 0, 2, 4, ... BX; at
    # BX t the events started are those with start <= t and `buffer` more wait, so after 100 BX
    # it took 50 + buffer events (BX 0 .. 2·buffer, then every even BX) and lost the rest.
    p = one_stage(buffer=buffer)
    st = check(p).stage("slow")
    assert not st.ok and st.occupancy == 2.0 and st.ii_ns == 50.0 and st.interval_ns == 25.0
    assert check(p).too_slow == ["slow"]
    res = simulate(p, 100)
    assert res.lost.sum() == lost == res.stages["slow"].n_lost == res.l1a.n_lost
    expect_lost = np.zeros(100, bool)
    expect_lost[2 * buffer + 1::2] = True
    np.testing.assert_array_equal(res.lost, expect_lost)
    np.testing.assert_array_equal(res.lost_stage, np.where(expect_lost, 0, -1))
    assert res.stages["slow"].max_fill == buffer
    # latency grows while the queue fills (25 ns a BX), then stays at 2 + 2·buffer BX
    kept = res.l1a_ns[~res.lost]
    assert kept[: 2 * buffer + 1] == pytest.approx(50.0 + 25.0 * np.arange(2 * buffer + 1))
    assert np.all(kept[2 * buffer:] == 50.0 + 50.0 * buffer)


def test_time_multiplexing_makes_the_same_stage_keep_up():
    p = one_stage(tmux=2)           # two boards take every other BX: 50 ns each
    assert check(p).ok and check(p).stage("slow").occupancy == 1.0
    res = simulate(p, 100)
    assert not res.lost.any() and res.l1a.fixed and res.l1a.max_ns == 50.0


def test_a_path_over_budget_has_a_negative_margin():
    p = one_stage(latency=2, ii=1, budget_us=0.04)      # 50 ns against 40 ns
    rep = check(p)
    assert not rep.ok and rep.over_budget == ["only"] and rep.too_slow == []
    assert rep.path("only").margin_ns == pytest.approx(-10.0)
    assert "OVER BUDGET" in rep.table()


# --------------------------------------------------------------------------- firmware reports

MODEL_YAML = """
budget_us: 1
stages:
  a: {clock_mhz: 200, latency_cycles: 10}
  m: {clock_mhz: 240, latency_cycles: 12, role: model}
  g: {clock_mhz: 200, latency_cycles: 4, role: gt}
paths:
  p: [a, m, g]
"""


def report(**kw) -> dict:
    return {"format": "l1t-firmware-report", "format_version": 1, "model": "vae_encoder", "backend": "rtl", "latency_cycles": 14, "clock_ns": 5.0,
            "initiation_interval": 1, "resources": {"lut": 1234}, **kw}


def test_a_firmware_report_sets_the_model_stage(tmp_path):
    base = parse_pipeline(MODEL_YAML)
    # a: 0 -> 50 ns; m: 12 clocks of 25/6 ns = 50 ns -> 100; g: 20 ns -> 120 ns
    assert check(base).path("p").latency_ns == pytest.approx(120.0)
    path = tmp_path / "fw.json"
    path.write_text(json.dumps(report()))
    new = with_firmware(base, "m", path)
    # m now 14 clocks of 5 ns = 70 ns: +20 ns exactly, no edge waits (all on 5 ns edges)
    assert check(new).path("p").latency_ns == pytest.approx(140.0)
    assert simulate(new, 50).l1a.max_ns == pytest.approx(140.0)
    m = new.stage("m")
    assert (m.clock_mhz, m.latency_cycles, m.ii, m.role) == (200.0, 14, 1, "model")
    assert m.firmware == str(path) and "vae_encoder" in m.source
    assert base.stage("m").latency_cycles == 12           # the original is unchanged
    from_dict = with_firmware(base, "m", report()).stage("m")   # a dict works as the file
    assert (from_dict.clock_mhz, from_dict.latency_cycles, from_dict.ii) == (200.0, 14, 1)
    # the same from YAML: firmware relative to the file
    yaml_path = tmp_path / "p.yaml"
    yaml_path.write_text(MODEL_YAML.replace("m: {clock_mhz: 240, latency_cycles: 12, role: model}",
                                            "m: {firmware: fw.json, role: model}"))
    from_yaml = load_pipeline(yaml_path)
    assert check(from_yaml).path("p").latency_ns == pytest.approx(140.0)


def test_firmware_report_into_the_phase2_anomaly_stage():
    p = load_pipeline("phase2")
    new = with_firmware(p, "anomaly", report(clock_ns=2.5, latency_cycles=40))   # 100 ns
    rep = check(new)
    assert rep.path("anomaly").latency_ns == pytest.approx(8050.0)    # 8000 + 100 − 50
    assert rep.path("anomaly").margin_ns == pytest.approx(4450.0)
    assert rep.stage("anomaly").occupancy == pytest.approx(0.1)
    assert rep.path("correlator").latency_ns == pytest.approx(8750.0)
    slow = with_firmware(p, "anomaly", report(clock_ns=2.5, initiation_interval=11))  # 27.5 ns
    assert check(slow).too_slow == ["anomaly"]
    assert simulate(slow, 200).stages["anomaly"].n_lost > 0


@pytest.mark.parametrize("change,field", [
    ({"clock_ns": "fast"}, "clock_ns"), ({"clock_ns": 0}, "clock_ns"),
    ({"latency_cycles": None}, "latency_cycles"), ({"latency_cycles": 1.5}, "latency_cycles"),
    ({"initiation_interval": 0}, "initiation_interval")])
def test_bad_firmware_reports_are_refused(tmp_path, change, field):
    path = tmp_path / "fw.json"
    path.write_text(json.dumps(report(**change)))
    with pytest.raises(L1TInputError) as err:
        with_firmware(parse_pipeline(MODEL_YAML), "m", path)
    assert err.value.source == str(path) and err.value.field == field
    missing = report()
    del missing[field]
    path.write_text(json.dumps(missing))
    with pytest.raises(L1TInputError, match="missing") as err:
        with_firmware(parse_pipeline(MODEL_YAML), "m", path)
    assert err.value.field == field


def test_unknown_stage_or_unreadable_report(tmp_path):
    with pytest.raises(L1TInputError) as err:
        with_firmware(parse_pipeline(MODEL_YAML), "nope", report())
    assert err.value.field == "stages.nope"
    (tmp_path / "fw.json").write_text("{not json")
    with pytest.raises(L1TInputError, match="line 1: bad JSON"):
        with_firmware(parse_pipeline(MODEL_YAML), "m", tmp_path / "fw.json")


# --------------------------------------------------------------------------- malformed YAML

GOOD = """\
name: t
budget_us: 4
max_accept_khz: 100
stages:
  calo_l1: {clock_mhz: 240, latency_cycles: 60, ii: 6}
  calo_l2:
    clock_mhz: 240
    latency_cycles: 216
    ii: 54
    tmux: 9
    link_ns: 60
    buffer: 2
    role: calo
  gt: {clock_mhz: 240, latency_cycles: 36, role: gt}
paths:
  calo: [calo_l1, calo_l2, gt]
"""


@pytest.mark.parametrize("old,new,field,line", [
    ("    ii: 54", "    ii: 0", "stages.calo_l2.ii", 9),
    ("    ii: 54", "    ii: 2.5", "stages.calo_l2.ii", 9),
    ("    tmux: 9", "    tmux: nine", "stages.calo_l2.tmux", 10),
    ("    link_ns: 60", "    link_ns: -1", "stages.calo_l2.link_ns", 11),
    ("    link_ns: 60", "    link_ns: .nan", "stages.calo_l2.link_ns", 11),
    ("    buffer: 2", "    buffer: 0", "stages.calo_l2.buffer", 12),
    ("    role: calo", "    role: magic", "stages.calo_l2.role", 13),
    ("    clock_mhz: 240", "    clock_mhz: 0", "stages.calo_l2.clock_mhz", 7),
    ("    latency_cycles: 216", "    latncy_cycles: 216", "stages.calo_l2.latncy_cycles", 8),
    ("    clock_mhz: 240\n", "", "stages.calo_l2.clock_mhz", 6),
    ("budget_us: 4", "budget_us: true", "budget_us", 2),
    ("budget_us: 4\n", "", "budget_us", 1),
    ("max_accept_khz: 100", "max_accept_khz: -1", "max_accept_khz", 3),
    ("  calo: [calo_l1, calo_l2, gt]", "  calo: [calo_l1, calo_l3, gt]", "paths.calo[1]", 16),
    ("  calo: [calo_l1, calo_l2, gt]", "  calo: []", "paths.calo", 16),
    ("  calo: [calo_l1, calo_l2, gt]", "  calo: [calo_l1, calo_l2, gt]\n  mu: [calo_l1]",
     "paths", 15),
    ("    role: calo", "    role: calo\n    firmware: fw.json", "stages.calo_l2.clock_mhz", 7),
    ("    role: calo", "    role: calo\n    ii: 3", "ii", 14),
    ("stages:\n", "stage:\n", "stage", 4),
])
def test_malformed_fields_name_file_line_and_field(tmp_path, old, new, field, line):
    assert old in GOOD
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(L1TInputError) as err:
        load_pipeline(path)
    assert err.value.source == str(path)
    assert err.value.field == field
    assert f"line {line}:" in err.value.problem


def test_bad_yaml_and_missing_files(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("stages: [\n")
    with pytest.raises(L1TInputError, match="bad YAML") as err:
        load_pipeline(path)
    assert err.value.source == str(path)
    with pytest.raises(L1TInputError, match="no such pipeline"):
        load_pipeline(tmp_path / "none.yaml")
    fw = "  calo_l2:\n    firmware: fw.json\n    tmux: 9\n"
    path.write_text(GOOD.replace(GOOD[GOOD.index("  calo_l2:"):GOOD.index("  gt:")], fw))
    with pytest.raises(L1TInputError, match="no firmware report") as err:
        load_pipeline(path)
    assert err.value.field == "stages.calo_l2.firmware" and "line 7:" in err.value.problem
    assert load_pipeline(None).name == "phase2"
    assert check(parse_pipeline(GOOD)).ok


# --------------------------------------------------------------------------- chunked streaming

CHUNK_YAML = """
budget_us: 2
stages:
  fe: {clock_mhz: 240, latency_cycles: 7, ii: 6, link_ns: 13}
  busy: {clock_mhz: 320, latency_cycles: 9, ii: 25, tmux: 3, buffer: 2, link_ns: 7}
  gt: {clock_mhz: 300, latency_cycles: 5, ii: 7, link_ns: 3}
  side: {clock_mhz: 40, latency_cycles: 1, ii: 1}
paths:
  main: [fe, busy, gt]
  other: [side, gt]
"""


def test_chunked_equals_unchunked():
    # busy: 25 clocks of 3.125 ns = 78.1 ns > 3 boards × 25 ns: it loses events, so the chunks
    # must carry every board's queue; gt at 300 MHz waits 0 or 5/3 ns for its edges
    p = parse_pipeline(CHUNK_YAML)
    assert check(p).too_slow == ["busy"]
    n = 5000
    whole = simulate(p, n, stage_times=True)
    assert whole.lost.sum() > 0 and whole.stages["busy"].n_lost == whole.lost.sum()
    state, parts = None, []
    for size in (1, 999, 7, 2500, 1493):
        start = state.next_bx if state else 0
        part = simulate(p, size, state, stage_times=True, block_bx=64)
        assert part.start_bx == start
        state = part.state
        parts.append(part)
    assert state.next_bx == n
    for name in p.stage_names:
        np.testing.assert_array_equal(np.concatenate([r.ready_ns[name] for r in parts]),
                                      whole.ready_ns[name])
    for attr in ("l1a_ns", "lost", "lost_stage"):
        np.testing.assert_array_equal(np.concatenate([getattr(r, attr) for r in parts]),
                                      getattr(whole, attr))
    assert part.l1a == whole.l1a and part.stages == whole.stages
    # the state as arrays (a checkpoint) continues the same way
    from l1t.trigger.stream.pipeline import SimState
    restored = SimState.from_arrays(p, {k: v.copy() for k, v in state.arrays().items()})
    a, b = simulate(p, 700, state), simulate(p, 700, restored)
    np.testing.assert_array_equal(a.l1a_ns, b.l1a_ns)
    assert a.stages == b.stages
    # totals only: the same numbers without the per-BX arrays
    totals = simulate(p, n, events=False)
    assert totals.l1a_ns is None and totals.l1a == whole.l1a
    assert totals.stages == whole.stages


def test_the_state_is_carried_in_place_and_belongs_to_its_pipeline():
    p = one_stage()
    state = SimState.new(p)
    first = simulate(p, 10, state)
    again = simulate(p, 10, state)
    assert first.state is again.state is state and state.next_bx == 20
    assert (first.start_bx, again.start_bx) == (0, 10) and again.stage_names == ("slow",)
    with pytest.raises(ValueError, match="different pipeline"):
        simulate(one_stage(tmux=2), 10, state)
    rep = stream_report(p, state)
    json.dumps(rep)                                  # JSON-able
    assert rep["simulated_bx"] == 20 and rep["stages"]["slow"]["n_lost"] == 9
    assert rep["l1a"]["n_lost"] == 9 and rep["check"]["too_slow"] == ["slow"]


def test_python_constructed_pipelines_are_checked():
    s = Stage("a", 40.0, 1)
    with pytest.raises(ValueError, match="unknown stages"):
        Pipeline("x", (s,), {"p": ("b",)}, 1.0)
    with pytest.raises(ValueError, match="feed none"):       # b is on no path: a second end
        Pipeline("x", (s, Stage("b", 40.0, 1)), {"p": ("a",)}, 1.0)
    assert check(Pipeline("x", (s,), {"p": ("a",)}, 1.0)).path("p").latency_ns == 25.0
