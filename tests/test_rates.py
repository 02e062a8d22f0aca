"""Rates: hand-counted tiny samples, NanoAOD input, chunking/dask identity, QCD stitching."""
import json

import awkward as ak
import numpy as np
import pytest

from l1t.core.errors import L1TInputError
from l1t.datasets.formats import assemble, write_events
from l1t.datasets.inputs import expand_inputs
from l1t.cli import main
from l1t.trigger.job import RateJob, run
from l1t.trigger.menu import parse_menu
from l1t.trigger.lhc import DEFAULT_BUNCHES, LHC_REVOLUTION_KHZ
from l1t.trigger.rates import summarize
from l1t.trigger.report import write_rates

SCALE = DEFAULT_BUNCHES * LHC_REVOLUTION_KHZ  # kHz per unit fraction of crossings

MENU = """
name: tiny
seeds:
  Mu20:
    legs: [{object: muon, pt: 20, quality: 12}]
  DiMu10:
    legs: [{object: muon, pt: 10, quality: 8}, {object: muon, pt: 10, quality: 8}]
  Jet50_ps2:
    prescale: 2
    legs: [{object: jet, pt: 50}]
  HT100:
    sums: [{type: HT, min: 100}]
"""


def tiny_events(n=10, extra_bx=False):
    """Crossing by crossing (muon pTs with quality, jet pTs, HT), counted by hand below."""
    rows = [
        ([(25, 12)], [60], 120),          # 0: Mu20, Jet50, HT100
        ([(20, 12), (12, 8)], [], 0),     # 1: Mu20 (inclusive), DiMu10
        ([(30, 4)], [55], 50),            # 2: Jet50 (quality 4 fails Mu20)
        ([(15, 12), (10, 12)], [], 0),    # 3: DiMu10
        ([], [49.5], 100),                # 4: HT100 (jet just below)
        ([], [50], 90),                   # 5: Jet50 (inclusive)
        ([(19.5, 12)], [], 0),            # 6: nothing
        ([], [70, 65], 135),              # 7: Jet50, HT100
        ([(10, 8)], [], 0),               # 8: nothing (one muon only)
        ([], [], 0),                      # 9: nothing
    ][:n]
    mu_counts = [len(r[0]) for r in rows]
    mu_pt = [m[0] for r in rows for m in r[0]]
    mu_q = [m[1] for r in rows for m in r[0]]
    jet_counts = [len(r[1]) for r in rows]
    jet_pt = [j for r in rows for j in r[1]]
    if extra_bx:  # out-of-time objects (bx = ±1) that must be ignored
        mu_counts = [c + 1 for c in mu_counts]
        mu_pt = [p for r in rows for p in [m[0] for m in r[0]] + [80.0]]
        mu_q = [q for r in rows for q in [m[1] for m in r[0]] + [15]]
    bx = [b for r in rows for b in [0] * len(r[0]) + ([1] if extra_bx else [])]
    z = lambda k: np.zeros(k, np.float32)  # noqa: E731
    cols = {
        "L1Mu": (mu_counts, {"pt": np.array(mu_pt, np.float32), "eta": z(len(mu_pt)),
                             "phi": z(len(mu_pt)), "charge": np.ones(len(mu_pt), np.int32),
                             "hwQual": np.array(mu_q, np.int32),
                             "bx": np.array(bx if extra_bx else [0] * len(mu_pt), np.int32)}),
        "L1Jet": (jet_counts, {"pt": np.array(jet_pt, np.float32), "eta": z(len(jet_pt)),
                               "phi": z(len(jet_pt))}),
        "L1EG": ([0] * n, {"pt": z(0), "eta": z(0), "phi": z(0), "hwIso": np.zeros(0, np.int32)}),
        "L1Tau": ([0] * n, {"pt": z(0), "eta": z(0), "phi": z(0), "hwIso": np.zeros(0, np.int32)}),
        "L1EtSum": ([1] * n, {"pt": np.array([r[2] for r in rows], np.float32), "phi": z(n),
                              "etSumType": np.ones(n, np.int32)}),
    }
    return assemble(n, {"mu": np.full(n, 200.0)}, cols, "tiny")


def test_hand_counted_rates(tmp_path):
    path = write_events(tiny_events(), tmp_path / "zb.parquet", metadata={"sample": "minbias"})
    menu = parse_menu(MENU)
    s = summarize(run(RateJob(menu), [path]), menu, targets_khz=(SCALE * 0.25,))
    by = {x["seed"]: x for x in s["seeds"]}
    assert by["Mu20"]["rate_khz"] == pytest.approx(2 / 10 * SCALE)
    assert by["Mu20"]["rate_err_khz"] == pytest.approx(np.sqrt(2) / 10 * SCALE)
    assert by["DiMu10"]["rate_khz"] == pytest.approx(2 / 10 * SCALE)
    # Jet50 fires in crossings 0, 2, 5, 7; prescale 2 keeps the 2nd and 4th (2 and 7).
    assert by["Jet50_ps2"]["unprescaled_rate_khz"] == pytest.approx(4 / 10 * SCALE)
    assert by["Jet50_ps2"]["rate_khz"] == pytest.approx(2 / 10 * SCALE)
    assert by["HT100"]["rate_khz"] == pytest.approx(3 / 10 * SCALE)
    # Pure (of the prescaled menu): Mu20 alone in none (0 has HT, 1 has DiMu); DiMu10 alone in
    # 3; Jet50 kept alone in 2; HT100 alone in 0? no (Mu20), in 4 yes, in 7 no (Jet50 kept).
    assert by["Mu20"]["pure_rate_khz"] == 0
    assert by["DiMu10"]["pure_rate_khz"] == pytest.approx(1 / 10 * SCALE)
    assert by["Jet50_ps2"]["pure_rate_khz"] == pytest.approx(1 / 10 * SCALE)
    assert by["HT100"]["pure_rate_khz"] == pytest.approx(1 / 10 * SCALE)
    # TOTAL: crossings 0, 1, 2, 3, 4, 7 (5 only had the prescaled-away Jet50).
    assert s["total"]["rate_khz"] == pytest.approx(6 / 10 * SCALE)
    overlap = np.array(s["overlap_khz"]["matrix"])
    assert overlap[0, 1] == pytest.approx(1 / 10 * SCALE)  # Mu20 & DiMu10: crossing 1
    assert overlap[0, 3] == pytest.approx(1 / 10 * SCALE)  # Mu20 & HT100: crossing 0
    assert all(x["low_statistics"] for x in s["seeds"])
    # Scan of Mu20: fires at threshold T for crossings with a quality-12 muon >= T.
    scan = by["Mu20"]["scan"]
    at = dict(zip(scan["threshold"], scan["rate_khz"]))
    assert at[19.5] == pytest.approx(3 / 10 * SCALE) and at[25.0] == pytest.approx(1 / 10 * SCALE)
    assert at[25.5] == 0
    # Target 0.25 x SCALE: the lowest threshold with <= 2.5 crossings is 19.5 + 0.5 = 20.
    assert by["Mu20"]["target_thresholds"][0]["threshold"] == 20.0


def test_pool_grouped_errors_group_crossings_sharing_a_pileup_pool_event(tmp_path):
    from l1t.trigger import report

    ev = tiny_events()
    # crossings 0 and 1 share a pool event, 2 and 3 have their own, the rest none known
    ev = ak.with_field(ev, np.array([7, 7, 8, 9, -1, -1, -1, -1, -1, -1], np.int64), "pu_source")
    path = write_events(ev, tmp_path / "zb.parquet", metadata={"sample": "minbias"})
    menu = parse_menu(MENU)
    s = summarize(run(RateJob(menu), [path]), menu)
    by = {x["seed"]: x for x in s["seeds"]}
    # Mu20 fires in 0 and 1: one group of two crossings
    assert by["Mu20"]["rate_err_pool_grouped_khz"] == pytest.approx(2 / 10 * SCALE)
    assert by["Mu20"]["rate_err_khz"] == pytest.approx(np.sqrt(2) / 10 * SCALE)
    assert by["Mu20"]["pool_events"] == 1
    # DiMu10 fires in 1 and 3: two pool events, independent
    assert by["DiMu10"]["rate_err_pool_grouped_khz"] == pytest.approx(np.sqrt(2) / 10 * SCALE)
    assert by["DiMu10"]["pool_events"] == 2
    # the total: 0, 1, 2, 3, 4, 7 -> groups {0, 1}, {2}, {3}, and 4, 7 alone: 4 + 1 + 1 + 1 + 1
    assert s["total"]["rate_err_pool_grouped_khz"] == pytest.approx(np.sqrt(8) / 10 * SCALE)
    assert s["total"]["pool_events"] == 3
    # one crossing per chunk: the groups still form across chunks and dask workers
    split = summarize(run(RateJob(menu, step_size=1), [path], workers=2), menu)
    assert json.dumps(split) == json.dumps(s)
    text = report.rate_table_text(s)
    assert "pool-limited" not in text              # sqrt(2) is below 1.5 x
    report.POOL_LIMITED, old = 1.2, report.POOL_LIMITED
    try:
        lines = report.rate_table_text(s).splitlines()
    finally:
        report.POOL_LIMITED = old
    limited = lines[lines.index(next(x for x in lines if x.startswith("pool-limited"))) + 1:]
    assert [x.split()[0] for x in limited] == ["Mu20"]
    # without pu_source every crossing is its own group: the two errors agree
    plain = summarize(run(RateJob(menu), [write_events(tiny_events(), tmp_path / "p.parquet",
                                                       metadata={"sample": "minbias"})]), menu)
    for x in plain["seeds"] + [plain["total"]]:
        assert x["rate_err_pool_grouped_khz"] == pytest.approx(x["rate_err_khz"])


def test_chunks_and_dask_give_identical_numbers(tmp_path):
    a = write_events(tiny_events(), tmp_path / "a.parquet", metadata={"sample": "minbias"})
    b = write_events(tiny_events(7), tmp_path / "b.parquet", metadata={"sample": "minbias"})
    menu = parse_menu(MENU)
    whole = summarize(run(RateJob(menu), [a, b]), menu)
    small = summarize(run(RateJob(menu, step_size=3), [a, b]), menu)
    dask = summarize(run(RateJob(menu, step_size=3), [a, b], workers=2), menu)
    assert json.dumps(whole) == json.dumps(small) == json.dumps(dask)
    # The prescale counter runs across files: Jet50 fires 4 + 3 times, 3 kept (2nd, 4th, 6th).
    jet = next(x for x in whole["seeds"] if x["seed"] == "Jet50_ps2")
    assert jet["rate_khz"] == pytest.approx(3 / 17 * SCALE)


def test_nanoaod_input_ignores_other_bunch_crossings(tmp_path):
    import uproot

    ev = tiny_events(extra_bx=True)
    flat = {}
    for coll, fields in (("L1Mu", ("pt", "eta", "phi", "charge", "hwQual", "bx")),
                         ("L1Jet", ("pt", "eta", "phi", "bx")), ("L1EG", ("pt", "eta", "phi", "hwIso", "bx")),
                         ("L1Tau", ("pt", "eta", "phi", "hwIso", "bx")),
                         ("L1EtSum", ("pt", "phi", "etSumType", "bx"))):
        flat[coll] = ak.zip({f: ev[coll][f] for f in fields})
    path = tmp_path / "nano.root"
    with uproot.recreate(path) as f:
        f.mktree("Events", {k: v.type for k, v in flat.items()})
        f["Events"].extend(flat)
    menu = parse_menu(MENU)
    s = summarize(run(RateJob(menu), [path]), menu)
    mu20 = next(x for x in s["seeds"] if x["seed"] == "Mu20")
    assert mu20["rate_khz"] == pytest.approx(2 / 10 * SCALE)  # the 80 GeV bx=+1 muons are out


def test_signal_input_and_malformed_menu_are_refused(tmp_path):
    sig = write_events(tiny_events(), tmp_path / "sig.parquet", metadata={"sample": "z_ll"})
    with pytest.raises(L1TInputError, match="zero-bias"):
        run(RateJob(parse_menu(MENU)), [sig])
    bad = tmp_path / "menu.yaml"
    bad.write_text("seeds:\n  A:\n    legs: [{object: muon, pt: 20}]\n  A:\n    sums: [{type: HT, min: 1}]\n")
    out = tmp_path / "out"
    assert main(["rates", "--menu", str(bad), "--input", str(sig), "--out", str(out)]) == 2
    assert not out.exists()


@pytest.fixture(scope="module")
def stitch_samples(tmp_path_factory):
    from l1t.datasets.production import produce

    root = tmp_path_factory.mktemp("stitch")
    cache = root / "cache"
    # Low pileup and a large pool: the zero-bias tail then rests on many distinct hard
    # interactions (with a small pool it rests on the few hard pool events; see docs/rates.md).
    kw = dict(pileup=3, seed=5, pool_size=2500, progress=False, cache_dir=cache, workers=2)
    produce("minbias", 5000, root / "zb", chunk_size=1250, **kw)
    produce("qcd", 600, root / "qcd", chunk_size=300, **kw)
    return root


def test_weighted_qcd_stitches_onto_zero_bias_without_double_counting(stitch_samples, tmp_path):
    menu = parse_menu("""
seeds:
  Jet20: {legs: [{object: jet, pt: 20, eta: 2.4}]}
  Jet60: {legs: [{object: jet, pt: 60, eta: 2.4}]}
""")
    zb = expand_inputs([stitch_samples / "zb"])
    qcd = expand_inputs([stitch_samples / "qcd"])
    alone = summarize(run(RateJob(menu), zb), menu)
    both = summarize(run(RateJob(menu), zb + qcd), menu)
    a, b = alone["seeds"][0], both["seeds"][0]
    assert a["events_fired"] >= 30
    assert abs(a["rate_khz"] - b["rate_khz"]) < 3 * np.hypot(a["rate_err_khz"], b["rate_err_khz"])
    # The weighted sample is what measures the tail: many more crossings behind the 60 GeV rate.
    hi_a, hi_b = alone["seeds"][1], both["seeds"][1]
    assert hi_b["events_fired"] > 10 * max(hi_a["events_fired"], 1)
    assert hi_b["rate_err_khz"] < hi_b["rate_khz"]
    assert 0 < both["pileup"][0]["p_hard"] < 0.05


def test_rate_vs_pileup_groups_and_fit(tmp_path):
    menu = parse_menu(MENU)
    paths = []
    for mu, n in ((50.0, 4), (100.0, 7), (200.0, 10)):
        ev = tiny_events(n)
        ev = ak.with_field(ev, np.full(n, mu, np.float32), "mu")
        paths.append(write_events(ev, tmp_path / f"zb{int(mu)}.parquet",
                                  metadata={"sample": "minbias"}))
    s = summarize(run(RateJob(menu), paths), menu)
    assert [p["mu"] for p in s["pileup"]] == [50.0, 100.0, 200.0]
    ht = menu.names.index("HT100")
    # HT100 fires in crossing 0 of every file, in 4 and 7 of the larger ones.
    assert s["pileup"][0]["rate_khz"][ht] == pytest.approx(1 / 4 * SCALE)
    assert s["pileup"][2]["rate_khz"][ht] == pytest.approx(3 / 10 * SCALE)
    fit = s["pileup_fits"]["TOTAL"]
    assert fit["model"] == "a*mu + b*mu^2" and fit["ndf"] == 1
    # The pooled table weights each pileup value by its zero-bias crossings.
    assert s["seeds"][ht]["rate_khz"] == pytest.approx((1 + 2 + 3) / 21 * SCALE)
    paths_out = write_rates(s, tmp_path / "o")
    assert paths_out["pileup"].read_bytes()[:4] == b"\x89PNG"
    rows = (tmp_path / "o" / "rates.csv").read_text().splitlines()
    assert rows[0] == "seed,rate_khz,rate_err_khz,pure_rate_khz" and rows[-1].startswith("TOTAL,")
