"""Jet response: matching on hand-made events with known answers, the outputs, bad input."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from scipy import stats

from l1t.core.errors import L1TInputError
from l1t.datasets.formats import assemble, write_events
from l1t.datasets.schema import COLLECTIONS, GEN_COLLECTIONS
from l1t.validation.jet_response import COLUMNS, jet_response, match_jets, response_table

# Per event: generator jets and L1 jets as (pt, eta, phi).
GEN = [
    [(100.0, 0.5, 1.0), (50.0, -2.0, -1.0)],          # barrel and endcap, both matched
    [(200.0, 1.0, 0.0), (60.0, 3.5, 3.10), (20.0, 0.0, 2.0)],  # unmatched; φ wrap; below 30 GeV
    [(35.0, 0.0, 0.0)],                                # no L1 jet in the event
    [],                                                # L1 jets only
    [],                                                # empty crossing
]
L1 = [
    [(80.0, 0.6, 1.0), (200.0, 0.5, 1.35), (40.0, -2.0, -0.9)],  # ΔR 0.1, 0.35 (not closest), 0.1
    [(150.0, 1.5, 0.0), (48.0, 3.5, -3.10)],          # ΔR 0.5 (too far); wrapped ΔR 0.083
    [],
    [(30.0, 0.0, 0.0)],
    [],
]
#: Selected generator jets (pT ≥ 30 GeV) in event order and their expected matches.
EXP_GEN_PT = [100.0, 50.0, 200.0, 60.0, 35.0]
EXP_L1_PT = [80.0, 40.0, np.nan, 48.0, np.nan]
EXP_DR = [0.1, 0.1, np.nan, 2 * np.pi - 6.2, np.nan]


def _collection(objects: list[list[tuple]], spec: dict[str, str], mass: bool = False):
    counts = np.array([len(o) for o in objects], np.int64)
    flat = [x for o in objects for x in o]
    cols = {f: np.array([x[i] for x in flat], np.float64)
            for i, f in enumerate(("pt", "eta", "phi"))}
    if mass:
        cols["mass"] = np.zeros(len(flat))
    return counts, {f: cols.get(f, np.zeros(len(flat))) for f in spec}


def make_jet_events(gen: bool = True):
    """The events above in the full schema (other collections empty)."""
    n = len(GEN)
    colls = {c: (np.zeros(n, np.int64), {f: np.zeros(0) for f in spec})
             for c, spec in COLLECTIONS.items()}
    colls["L1Jet"] = _collection(L1, COLLECTIONS["L1Jet"])
    if gen:
        colls["GenJet"] = _collection(GEN, GEN_COLLECTIONS["GenJet"], mass=True)
        colls["GenPart"] = (np.zeros(n, np.int64),
                            {f: np.zeros(0) for f in GEN_COLLECTIONS["GenPart"]})
    return assemble(n, {}, colls, "test")


def test_match_jets_known_answer():
    m = match_jets(make_jet_events())
    np.testing.assert_allclose(m["gen_pt"], EXP_GEN_PT)
    np.testing.assert_allclose(m["gen_eta"], [0.5, -2.0, 1.0, 3.5, 0.0], rtol=1e-6)
    np.testing.assert_allclose(m["l1_pt"], EXP_L1_PT)          # closest, not hardest; NaN = none
    np.testing.assert_allclose(m["dr"], EXP_DR, rtol=1e-5)     # φ = ±π wrapped
    assert m["matched"].tolist() == [True, True, False, True, False]
    assert m["matched"].mean() == pytest.approx(3 / 5)
    r = m["l1_pt"][m["matched"]] / m["gen_pt"][m["matched"]]
    np.testing.assert_allclose(r, 0.8)


def test_match_jets_options():
    ev = make_jet_events()
    tight = match_jets(ev, max_dr=0.09)                        # only the wrapped pair survives
    assert tight["matched"].tolist() == [False, False, False, True, False]
    loose = match_jets(ev, max_dr=0.6)                         # 200-GeV gen jet now matched
    assert loose["l1_pt"][2] == pytest.approx(150.0)
    assert match_jets(ev, min_gen_pt=10.0)["gen_pt"].size == 6
    assert match_jets(ev, max_gen_eta=3.0)["gen_pt"].tolist() == [100.0, 50.0, 200.0, 35.0]
    assert match_jets(ev[3:])["gen_pt"].size == 0


def test_response_table_known_answer():
    m = match_jets(make_jet_events())
    rows = response_table(m["gen_pt"], m["gen_eta"], m["l1_pt"], m["matched"])
    got = {(r["region"], r["pt_lo"]): r for r in rows}
    # empty bins are left out
    assert set(got) == {("barrel", 30.0), ("barrel", 100.0), ("barrel", 200.0),
                        ("endcap", 40.0), ("forward", 60.0)}
    assert all(list(r) == list(COLUMNS) for r in rows)
    for key in [("barrel", 100.0), ("endcap", 40.0), ("forward", 60.0)]:
        r = got[key]
        assert (r["n_gen"], r["n_matched"], r["efficiency"]) == (1, 1, 1.0)
        assert r["mean_response"] == pytest.approx(0.8)
        assert r["median_response"] == pytest.approx(0.8)
        assert math.isnan(r["resolution"])                     # one jet: no spread
    for key in [("barrel", 30.0), ("barrel", 200.0)]:
        r = got[key]
        assert (r["n_gen"], r["n_matched"], r["efficiency"]) == (1, 0, 0.0)
        assert math.isnan(r["median_response"])


def test_response_table_statistics():
    rng = np.random.default_rng(1)
    n = 4000
    gen_pt = rng.uniform(40, 60, n)
    resp = rng.normal(0.9, 0.1, n)
    l1 = np.where(np.arange(n) % 4 == 0, np.nan, resp * gen_pt)   # 75 % efficiency
    rows = response_table(gen_pt, np.full(n, 0.3), l1)
    assert len(rows) == 1
    r = rows[0]
    ok = np.isfinite(l1)
    rr = l1[ok] / gen_pt[ok]
    q16, q84 = np.quantile(rr, [0.16, 0.84])
    assert (r["n_gen"], r["n_matched"]) == (n, 3000)
    assert r["efficiency"] == pytest.approx(0.75)
    # 68% Clopper–Pearson, as the turn-ons: close to the binomial √(ε(1-ε)/n) at n = 4000
    lo, hi = stats.beta.ppf([0.15865, 0.84135], [3000, 3001], [n - 3000 + 1, n - 3000])
    assert (r["efficiency_err_lo"], r["efficiency_err_hi"]) == pytest.approx((0.75 - lo, hi - 0.75))
    assert r["efficiency_err_lo"] == pytest.approx(math.sqrt(0.75 * 0.25 / n), rel=0.05)
    assert r["mean_response"] == pytest.approx(rr.mean())
    assert r["mean_response_err"] == pytest.approx(rr.std(ddof=1) / math.sqrt(3000))
    assert r["median_response"] == pytest.approx(np.median(rr))
    assert r["resolution"] == pytest.approx(0.5 * (q84 - q16) / np.median(rr))
    assert r["rms_over_mean"] == pytest.approx(rr.std(ddof=1) / rr.mean())
    assert r["resolution"] == pytest.approx(0.1 / 0.9, rel=0.06)
    assert r["gen_pt_mean"] == pytest.approx(gen_pt.mean())


def test_jet_response_end_to_end(tmp_path):
    path = write_events(make_jet_events(), tmp_path / "jets.parquet")
    out = tmp_path / "out"
    res = jet_response([str(path)], out)
    for key, name in [("table", "jet_response.csv"), ("json", "jet_response.json"),
                      ("plot", "jet_response.png")]:
        assert res[key] == out / name and res[key].is_file()
    assert sorted(p.name for p in out.iterdir()) == [
        "jet_response.csv", "jet_response.json", "jet_response.png"]  # no temporaries left
    assert res["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(res["table"], newline="") as fh:
        table = list(csv.reader(fh))
    assert tuple(table[0]) == COLUMNS
    assert len(table) == 1 + 5 == 1 + len(res["rows"])
    summary = json.loads(res["json"].read_text())
    assert summary["events"] == 5 and summary["gen_jets"] == 5 and summary["matched"] == 3
    assert summary["mean_pileup"] == 0.0 and summary["pt_bins"][0] == 30.0
    assert [r["n_gen"] for r in summary["rows"]] == [r["n_gen"] for r in res["rows"]]
    assert summary["rows"][0]["resolution"] is None             # NaN → null
    text = res["table_text"]
    assert "barrel" in text and "forward" in text and "100-150" in text
    # a rerun replaces the files
    jet_response([str(path)], out, min_gen_pt=40.0)
    assert len(json.loads(res["json"].read_text())["rows"]) == 4


def test_jet_response_cli(tmp_path, capsys):
    from l1t.cli import main

    path = write_events(make_jet_events(), tmp_path / "jets.parquet")
    assert main(["jet-response", str(path), "--out", str(tmp_path / "o")]) == 0
    assert "median R" in capsys.readouterr().out
    assert (tmp_path / "o" / "jet_response.png").is_file()


def test_missing_genjet(tmp_path):
    path = write_events(make_jet_events(gen=False), tmp_path / "nogen.parquet")
    with pytest.raises(L1TInputError) as err:
        jet_response([path], tmp_path / "out")
    assert "GenJet" in str(err.value) and "nogen.parquet" in str(err.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_no_gen_jets_above_threshold(tmp_path):
    path = write_events(make_jet_events(), tmp_path / "jets.parquet")
    with pytest.raises(L1TInputError, match="no generator jets with pT >= 5000"):
        jet_response([path], tmp_path / "out", min_gen_pt=5000.0)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
