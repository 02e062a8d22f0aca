"""Efficiency turn-ons: references and turn-ons on hand-made events with known answers, and one
small real production."""
from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from conftest import make_events

from l1t.datasets import formats
from l1t.core.errors import L1TInputError
from l1t.datasets.schema import HT
from l1t.trigger import efficiency
from l1t.trigger.efficiency import plot_turn_ons, reference, reference_name, turn_on, turn_ons
from l1t.trigger.menu import load_menu, parse_menu

#: Defaults of the fields a hand-made collection does not give.
DEFAULTS = {
    "L1Mu": {"eta": 0.0, "phi": 0.0, "charge": 1, "hwQual": 15},
    "L1EG": {"eta": 0.0, "phi": 0.0, "hwIso": 0, "isEle": True},
    "L1Tau": {"eta": 0.0, "phi": 0.0, "hwIso": 0},
    "L1Jet": {"eta": 0.0, "phi": 0.0},
    "L1EtSum": {"phi": 0.0},
    "GenPart": {"eta": 0.0, "phi": 0.0, "mass": 0.0, "charge": 0},
    "GenJet": {"eta": 0.0, "phi": 0.0, "mass": 0.0},
}


def build(n: int, **collections: tuple[np.ndarray, dict]) -> ak.Array:
    """Schema events from per-collection (counts, flat field arrays); absent collections empty."""
    out = {}
    for coll, defaults in DEFAULTS.items():
        counts, flat = collections.get(coll, (np.zeros(n, int), {}))
        size = int(np.sum(counts))
        if size == 0 and "pt" not in flat:
            flat = {"pt": np.zeros(0), **({"etSumType": np.zeros(0)} if coll == "L1EtSum" else {}),
                    **({"pdgId": np.zeros(0)} if coll == "GenPart" else {})}
        flat = {**{k: np.full(size, v) for k, v in defaults.items()}, **flat}
        out[coll] = (counts, flat)
    return formats.assemble(n, {}, out, "test")


def one_each(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """counts (1 where ``values`` is finite, else 0) and the finite values."""
    ok = np.isfinite(values)
    return ok.astype(int), values[ok]


@pytest.fixture
def muon_events() -> tuple[ak.Array, np.ndarray]:
    """3000 events: 2/3 with one gen muon (pT uniform 0–60, |η| < 1) and an L1 muon of the same
    pT (quality 12); 1/3 without a gen muon (a gen pion) but with a firing 50 GeV L1 muon."""
    rng = np.random.default_rng(7)
    n = 3000
    pt = rng.uniform(0.0, 60.0, n)
    eta = rng.uniform(-1.0, 1.0, n)
    has_mu = np.arange(n) % 3 != 0
    l1_pt = np.where(has_mu, pt, 50.0)
    events = build(
        n,
        L1Mu=(np.ones(n, int), {"pt": l1_pt, "eta": eta, "hwQual": np.full(n, 12)}),
        GenPart=(np.ones(n, int), {"pt": np.maximum(pt, 1.0), "eta": eta,
                                   "pdgId": np.where(has_mu, np.where(pt > 30, 13, -13), 211)}),
    )
    return events, np.where(has_mu, np.maximum(pt, 1.0), np.nan)


def test_single_muon_step(muon_events):
    events, ref = muon_events
    r = turn_on(events, load_menu(), "L1_SingleMu22")
    assert r["seed"] == "L1_SingleMu22" and r["reference"] == "muon" and r["threshold"] == 22
    bins = r["bins"]
    np.testing.assert_allclose(bins, np.linspace(0, 66, 31))
    # events without a gen muon are left out (they would fire, at reference "0")
    assert r["n"].sum() == np.isfinite(ref).sum() == 2000
    np.testing.assert_array_equal(r["n"], np.histogram(ref[np.isfinite(ref)], bins)[0])
    eff = r["efficiency"]
    below, above = bins[1:] <= 22, bins[:-1] >= 22
    filled = r["n"] > 0
    assert np.all(eff[below] == 0) and np.all(eff[above & filled] == 1)
    assert np.all(np.isnan(eff[~filled]))  # beyond 60 GeV: empty
    width = bins[1] - bins[0]
    assert abs(r["pt90_interp"] - 22) <= width
    assert r["pt90_fit"] is not None and abs(r["pt90_fit"] - 22) <= width
    assert r["plateau"] == 1.0 and r["plateau_n"] == np.sum(ref >= 33)
    # Clopper–Pearson 68%: zero width towards the boundary, e.g. k = n = 60 → lower 0.9698
    assert np.all(r["err_hi"][above & filled] == 0) and np.all(r["err_lo"][below] == 0)
    assert np.all(r["err_lo"][above & filled] > 0) and np.all(r["err_hi"][below] > 0)
    _, lo, hi = efficiency.clopper_pearson(np.array([60, 0, 5]), np.array([60, 60, 10]))
    assert lo[0] == pytest.approx(((1 - 0.6827) / 2) ** (1 / 60), rel=1e-6)
    assert hi[1] == pytest.approx(1 - ((1 - 0.6827) / 2) ** (1 / 60), rel=1e-6)


def test_custom_bins_and_resolution():
    """Smeared L1 pT: the 50% point sits at the threshold, the fit recovers μ and σ."""
    rng = np.random.default_rng(11)
    n = 40_000
    pt = rng.uniform(0.0, 60.0, n)
    l1 = pt + rng.normal(0.0, 3.0, n)
    events = build(n, L1Mu=(np.ones(n, int), {"pt": np.maximum(l1, 0.0), "hwQual": np.full(n, 12)}),
                   GenPart=(np.ones(n, int), {"pt": np.maximum(pt, 1.0), "pdgId": np.full(n, 13)}))
    bins = np.linspace(0, 60, 61)
    r = turn_on(events, load_menu(), "L1_SingleMu22", bins=bins)
    np.testing.assert_array_equal(r["bins"], bins)
    fit = r["fit"]
    assert fit["a"] == pytest.approx(1.0, abs=0.01)
    assert fit["mu"] == pytest.approx(22.0, abs=0.3)
    assert fit["sigma"] == pytest.approx(3.0, abs=0.3)
    expected90 = 22 + 3.0 * 1.2816  # Gaussian 90% quantile
    assert r["pt90_fit"] == pytest.approx(expected90, abs=0.4)
    assert r["pt90_interp"] == pytest.approx(expected90, abs=0.6)


def test_never_reaches_90_percent():
    n = 1000
    pt = np.linspace(1, 60, n)
    qual = np.where(np.arange(n) % 2 == 0, 12, 4)  # half the muons fail the quality cut
    events = build(n, L1Mu=(np.ones(n, int), {"pt": pt, "hwQual": qual}),
                   GenPart=(np.ones(n, int), {"pt": pt, "pdgId": np.full(n, 13)}))
    r = turn_on(events, load_menu(), "L1_SingleMu22")
    assert r["pt90_interp"] is None and r["pt90_fit"] is None
    assert r["plateau"] == pytest.approx(0.5, abs=0.01)
    assert r["fit"]["a"] == pytest.approx(0.5, abs=0.02)


def test_ht_turn_on():
    """Gen jets → gen HT (pT > 30, |η| < 2.4); the L1 HT equals it, so HTT450 steps at 450."""
    rng = np.random.default_rng(5)
    n = 4000
    counts = rng.integers(0, 7, n)
    size = counts.sum()
    jpt = rng.uniform(10, 250, size)
    jeta = rng.uniform(-3.5, 3.5, size)
    jphi = rng.uniform(-np.pi, np.pi, size)
    ev = np.repeat(np.arange(n), counts)
    use = (jpt > 30) & (np.abs(jeta) < 2.4)
    ht = np.bincount(ev, weights=np.where(use, jpt, 0), minlength=n)
    mht = np.hypot(np.bincount(ev, np.where(use, jpt * np.cos(jphi), 0), n),
                   np.bincount(ev, np.where(use, jpt * np.sin(jphi), 0), n))
    events = build(n, GenJet=(counts, {"pt": jpt, "eta": jeta, "phi": jphi}),
                   L1EtSum=(np.full(n, 2), {"pt": np.stack([ht, mht], 1).ravel(),
                                            "etSumType": np.tile([HT, 3], n)}))
    np.testing.assert_allclose(reference(events, "HT"), ht, rtol=1e-5)
    np.testing.assert_allclose(reference(events, "MHT"), mht, rtol=1e-4, atol=1e-3)
    leading = np.full(n, np.nan)
    central = np.abs(jeta) < 2.4
    np.fmax.at(leading, ev[central], jpt[central])
    np.testing.assert_allclose(reference(events, "jet"), leading, rtol=1e-6)
    r = turn_on(events, load_menu(), "L1_HTT450")
    assert r["reference"] == "HT" and r["n"].sum() == np.sum(ht < 1350)  # no event left out
    bins, eff, filled = r["bins"], r["efficiency"], r["n"] > 0
    assert np.all(eff[(bins[1:] <= 450) & filled] == 0)
    assert np.all(eff[(bins[:-1] >= 450) & filled] == 1)
    assert abs(r["pt90_interp"] - 450) <= bins[1] - bins[0]


def test_particle_and_sum_references():
    # event 0: μ 30 (|η| 2.5, outside), μ 20, e 25, γ 40, ν 10 at φ 0 and ν 10 at φ π (MET 0)
    # event 1: ν 30 at φ 0, ν 40 at φ π/2 (MET 50), π 5 at |η| 3.5 (outside ETT), e 12
    # event 2: nothing
    counts = np.array([6, 4, 0])
    gen = {"pt": np.array([30, 20, 25, 40, 10, 10, 30, 40, 5, 12.0]),
           "eta": np.array([2.5, 0.3, -1.0, 2.0, 0, 0, 0, 0, 3.5, -2.2]),
           "phi": np.array([0, 0, 0, 0, 0, np.pi, 0, np.pi / 2, 0, 0]),
           "pdgId": np.array([13, -13, -11, 22, 12, -14, 16, 12, 211, 11])}
    events = build(3, GenPart=(counts, gen))
    nan = np.nan
    np.testing.assert_allclose(reference(events, "muon"), [20, nan, nan])
    np.testing.assert_allclose(reference(events, "electron"), [25, 12, nan])
    np.testing.assert_allclose(reference(events, "photon"), [40, 12, nan])
    np.testing.assert_allclose(reference(events, "egamma"), [40, 12, nan])
    np.testing.assert_allclose(reference(events, "MET"), [0, 50, 0], atol=1e-5)
    np.testing.assert_allclose(reference(events, "METHF"), [0, 50, 0], atol=1e-5)
    np.testing.assert_allclose(reference(events, "ETT"), [30 + 20 + 25 + 40, 12, 0])
    np.testing.assert_allclose(reference(events, "tau"), [nan, nan, nan])


def test_reference_choice():
    menu = parse_menu("""
seeds:
  A: {legs: [{object: tau, pt: 30}, {object: muon, pt: 5}]}
  B: {sums: [{type: ETT, min: 500}], legs: [{object: photon, pt: 10}]}
  C: {and: [{sums: [{type: MET, min: 80}]}, {legs: [{object: jet, pt: 40}]}]}
  D: {or: [{legs: [{object: electron, pt: 20}]}, {legs: [{object: muon, pt: 20}]}]}
  E: {not: {legs: [{object: muon, pt: 20}]}}
""")
    assert [reference_name(s) for s in menu.seeds] == ["tau", "photon", "MET", "electron", None]
    events = make_events(50, seed=1)
    results = turn_ons(events, menu)
    assert [r["seed"] for r in results] == ["A", "B", "C", "D"]  # E has no reference
    with pytest.raises(ValueError, match="no legs or sums"):
        turn_on(events, menu, "E")


def test_turn_ons_match_turn_on_and_plot(tmp_path):
    events = make_events(300, seed=4)
    menu = load_menu()
    results = turn_ons(events, menu)
    assert [r["seed"] for r in results] == menu.names
    for r in results[::5]:
        one = turn_on(events, menu, r["seed"])
        np.testing.assert_array_equal(one["n"], r["n"])
        np.testing.assert_array_equal(one["efficiency"], r["efficiency"])
    path = plot_turn_ons(results, tmp_path / "turn_ons.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))
    pdf = plot_turn_ons(results[:3], tmp_path / "three.pdf")
    assert pdf.read_bytes()[:4] == b"%PDF"


def test_needs_generator_collections():
    events = make_events(10, seed=2, gen=False)
    with pytest.raises(L1TInputError, match="generator"):
        turn_on(events, load_menu(), "L1_SingleMu22")


def test_z_ll_single_muon_plateau(tmp_path):
    """A small real production: Z → ll without pileup. The plateau (gen μ pT ≥ 33 GeV) is near
    the detector model's quality-12 fraction (85% of muons, fewer beyond |η| 2.1)."""
    from l1t.datasets.inputs import read_inputs
    from l1t.datasets.production import produce

    produce("z_ll", 200, tmp_path, pileup=0, seed=3, chunk_size=200, progress=False)
    events = read_inputs([tmp_path])
    r = turn_on(events, load_menu(), "L1_SingleMu22")
    assert r["plateau_n"] >= 20
    assert r["plateau"] > 0.8
    # far below the threshold only the tails of the assignment fire (the threshold scale moves
    # the assigned pT up so that 22 GeV muons pass 22 GeV nine times in ten)
    low = r["bins"][1:] <= 15
    assert np.nansum(r["efficiency"][low] * r["n"][low]) <= 0.1 * r["n"][low].sum()
    assert np.nansum(r["efficiency"][r["bins"][1:] <= 8] * r["n"][r["bins"][1:] <= 8]) == 0
