"""Seed evaluation on tiny hand-made crossings with hand-counted answers, and a brute-force
per-event reference for the general (assignment) path."""
from __future__ import annotations

import itertools
import math

import awkward as ak
import numpy as np
import pytest

from l1t.datasets import formats
from l1t.trigger.evaluate import Evaluator
from l1t.trigger.inputs import GT_INPUTS, from_events
from l1t.trigger.menu import SUM_TYPES, Condition, Cross, Leg, load_menu, parse_menu

#: Defaults of the fields a hand-made object does not give.
DEFAULTS = {
    "L1Mu": {"pt": 0.0, "eta": 0.0, "phi": 0.0, "charge": 1, "hwQual": 15},
    "L1EG": {"pt": 0.0, "eta": 0.0, "phi": 0.0, "hwIso": 0, "isEle": False},
    "L1Tau": {"pt": 0.0, "eta": 0.0, "phi": 0.0, "hwIso": 0},
    "L1Jet": {"pt": 0.0, "eta": 0.0, "phi": 0.0},
    "L1EtSum": {"pt": 0.0, "phi": 0.0, "etSumType": 0},
    "L1TkMu": {"pt": 0.0, "eta": 0.0, "phi": 0.0, "charge": 1, "z0": 0.0, "hwQual": 15},
}
HT, MET, MET_HF = SUM_TYPES["HT"], SUM_TYPES["MET"], SUM_TYPES["METHF"]


def crossings(*events: dict) -> ak.Array:
    """Schema events from hand-written crossings: ``{"L1Mu": [{"pt": 20, ...}, ...], ...}``;
    fields not given take :data:`DEFAULTS`, collections not given are empty."""
    cols = {}
    for coll, defaults in DEFAULTS.items():
        lists = [ev.get(coll, []) for ev in events]
        flat = {f: np.array([obj.get(f, d) for objs in lists for obj in objs],
                            dtype=np.asarray(d).dtype) for f, d in defaults.items()}
        cols[coll] = (np.array([len(x) for x in lists]), flat)
    return formats.assemble(len(events), {}, cols, "test")


def mu(pt, eta=0.0, phi=0.0, q=15, charge=1) -> dict:
    return {"pt": pt, "eta": eta, "phi": phi, "hwQual": q, "charge": charge}


def eg(pt, eta=0.0, phi=0.0, ele=False, iso=0) -> dict:
    return {"pt": pt, "eta": eta, "phi": phi, "isEle": ele, "hwIso": iso}


def obj(pt, eta=0.0, phi=0.0) -> dict:
    return {"pt": pt, "eta": eta, "phi": phi}


def sums(**by_type: float) -> list[dict]:
    return [{"pt": v, "etSumType": SUM_TYPES[k]} for k, v in by_type.items()]


def margins(menu, events: ak.Array, electron_id: bool = True) -> np.ndarray:
    menu = parse_menu(menu) if isinstance(menu, str) else menu
    return Evaluator(menu).margins(from_events(events, electron_id))


def fires(menu, *events: dict, electron_id: bool = True) -> list[list[bool]]:
    return (margins(menu, crossings(*events), electron_id) >= 1.0).tolist()


def seed_fires(name: str, *events: dict, electron_id: bool = True) -> list[bool]:
    """Decisions of one default-menu seed (evaluated alone) for each crossing."""
    menu = load_menu()
    one = menu.with_seeds([menu.seed(name)])
    return [row[0] for row in fires(one, *events, electron_id=electron_id)]


# --------------------------------------------------------------------------- single legs

def test_threshold_inclusive_and_margin():
    ev = [{"L1Mu": [mu(22.0)]}, {"L1Mu": [mu(21.5)]}, {"L1Mu": [mu(30.0), mu(25.0)]},
          {"L1Mu": [mu(40.0, q=11), mu(27.5)]}, {}]
    assert seed_fires("L1_SingleMu22", *ev) == [True, False, True, True, False]
    m = margins(load_menu().with_seeds([load_menu().seed("L1_SingleMu22")]), crossings(*ev))[:, 0]
    # margin = leading passing pT / threshold (the 40 GeV muon fails quality 12); -inf if none
    assert m[0] == 1.0
    np.testing.assert_allclose(m[:4], [1.0, 21.5 / 22, 30 / 22, 27.5 / 22], rtol=1e-7)
    assert m[4] == -np.inf


def test_muon_quality_and_eta():
    ev = [{"L1Mu": [mu(30, q=11)]}, {"L1Mu": [mu(30, q=12)]},
          {"L1Mu": [mu(30, eta=2.39)]}, {"L1Mu": [mu(30, eta=-2.39)]},
          {"L1Mu": [mu(30, eta=2.41)]}, {"L1Mu": [mu(30, eta=-2.5)]}]
    assert seed_fires("L1_SingleMu22", *ev) == [False, True, True, True, False, False]
    # |eta| < eta is strict (2.0 is exact in float32), eta_min inclusive
    menu = """
seeds:
  Central: {legs: [{object: muon, pt: 5, eta: 2.0}]}
  Forward: {legs: [{object: muon, pt: 5, eta_min: 1.5}]}
  Ring: {legs: [{object: muon, pt: 5, eta: 2.0, eta_min: 1.5, quality: 8, charge: -1}]}
"""
    ev = [{"L1Mu": [mu(10, eta=2.0)]}, {"L1Mu": [mu(10, eta=-1.5, charge=-1, q=8)]},
          {"L1Mu": [mu(10, eta=1.75, charge=1)]}, {"L1Mu": [mu(10, eta=-1.49)]},
          {"L1Mu": [mu(10, eta=1.75, charge=-1, q=7)]}]
    assert fires(menu, *ev) == [[False, True, False], [True, True, True], [True, True, False],
                                [True, False, False], [True, True, False]]
    # double-muon quality (>= 8): the second muon has 7
    assert seed_fires("L1_DoubleMu15_7", {"L1Mu": [mu(20, q=8), mu(10, q=7)]},
                      {"L1Mu": [mu(20, q=8), mu(10, q=8)]}) == [False, True]


def test_electron_id_and_iso():
    ev = [{"L1EG": [eg(40, ele=False)]}, {"L1EG": [eg(40, ele=True)]},
          {"L1EG": [eg(50, ele=False), eg(36, ele=True)]}, {"L1EG": [eg(40, eta=2.6, ele=True)]}]
    assert seed_fires("L1_SingleEle36", *ev) == [False, True, True, False]
    assert seed_fires("L1_SinglePho36", *ev) == [True, True, True, False]
    # without a track match (NanoAOD-style input) electron legs use every L1EG object
    assert seed_fires("L1_SingleEle36", *ev, electron_id=False) == [True, True, True, False]
    # DoubleEle25_12 needs two electrons
    assert seed_fires("L1_DoubleEle25_12", {"L1EG": [eg(40, ele=True), eg(20)]},
                      {"L1EG": [eg(40, ele=True), eg(20), eg(12, ele=True)]}) == [False, True]
    menu = """
seeds:
  IsoEG: {legs: [{object: egamma, pt: 20, iso: true}]}
  IsoTau: {legs: [{object: tau, pt: 20, iso: true}]}
"""
    assert fires(menu, {"L1EG": [eg(30, iso=0), eg(25, iso=1)], "L1Tau": [eg(30, iso=2)]},
                 {"L1EG": [eg(30, iso=3)], "L1Tau": [eg(21, iso=1)]}) == \
        [[True, False], [False, True]]


# --------------------------------------------------------------------------- several legs

def test_distinct_objects():
    ev = [{"L1Mu": [mu(20)]}, {"L1Mu": [mu(20), mu(7)]}, {"L1Mu": [mu(20), mu(6.5)]},
          {"L1Mu": [mu(16), mu(14)]}, {"L1Mu": [mu(14), mu(14)]}]
    assert seed_fires("L1_DoubleMu15_7", *ev) == [False, True, False, True, False]
    one = load_menu().with_seeds([load_menu().seed("L1_DoubleMu15_7")])
    m = margins(one, crossings(*ev))[:, 0]
    np.testing.assert_allclose(m[1:4], [1.0, 6.5 / 7, 16 / 15], rtol=1e-7)
    assert m[0] == -np.inf
    ev = [{"L1Mu": [mu(5), mu(3), mu(3)]}, {"L1Mu": [mu(5), mu(3)]}, {"L1Mu": [mu(4)] * 3},
          {"L1Mu": [mu(6), mu(6), mu(2.5)]}, {"L1Mu": [mu(9), mu(8), mu(3, q=3), mu(3)]}]
    assert seed_fires("L1_TripleMu5_3_3", *ev) == [True, False, False, False, True]
    jets = [obj(80), obj(60), obj(45), obj(40)]
    assert seed_fires("L1_QuadJet75_55_40_40_HTT400",
                      {"L1Jet": jets, "L1EtSum": sums(HT=400)},
                      {"L1Jet": jets, "L1EtSum": sums(HT=399.5)},
                      {"L1Jet": jets[:3] + [obj(39.5)], "L1EtSum": sums(HT=500)},
                      {"L1Jet": jets[:3] + [obj(41, eta=2.5)], "L1EtSum": sums(HT=500)}) == \
        [True, False, False, False]
    assert seed_fires("L1_DoubleTau90_90", {"L1Tau": [obj(95), obj(90)]},
                      {"L1Tau": [obj(200)]}) == [True, False]


def test_global_trigger_input_limits():
    """Only the first 8 muons and 12 e/γ, τ, jets (by pT) of a crossing reach the trigger."""
    twelve_photons = [eg(100 - i) for i in range(12)]
    assert seed_fires("L1_SingleEle36", {"L1EG": twelve_photons + [eg(40, ele=True)]},
                      {"L1EG": twelve_photons[:11] + [eg(40, ele=True)]}) == [False, True]
    bad_muons = [mu(50 - i, q=4) for i in range(8)]
    assert seed_fires("L1_SingleMu22", {"L1Mu": bad_muons + [mu(25)]},
                      {"L1Mu": bad_muons[:7] + [mu(25)]}) == [False, True]
    forward_jets = [obj(400 - i, eta=3.0) for i in range(12)]
    assert seed_fires("L1_SingleJet180", {"L1Jet": forward_jets + [obj(200)]},
                      {"L1Jet": forward_jets[:11] + [obj(200)]}) == [False, True]
    taus = [obj(300 - i, eta=2.2) for i in range(12)]
    assert seed_fires("L1_SingleTau150", {"L1Tau": taus + [obj(160)]},
                      {"L1Tau": taus[1:] + [obj(160)]}) == [False, True]
    assert {k: GT_INPUTS[k] for k in ("L1Mu", "L1EG", "L1Tau", "L1Jet")} == \
        {"L1Mu": 8, "L1EG": 12, "L1Tau": 12, "L1Jet": 12}


def test_unsorted_input_is_sorted():
    ev = crossings({"L1Mu": [mu(10), mu(30), mu(8)]},
                   {"L1EG": [eg(20 + i) for i in range(12)] + [eg(200, ele=True)]},
                   {"L1Mu": [mu(3, q=4), mu(3, q=4), mu(5, q=4)]})
    inputs = from_events(ev)
    o = inputs.objects["L1Mu"]
    np.testing.assert_array_equal(o.pt, [30, 10, 8, 5, 3, 3])
    np.testing.assert_array_equal(inputs.objects["L1EG"].pt[:2], [200, 31])
    dec = Evaluator(load_menu()).decisions(inputs)
    names = load_menu().names
    col = {n: dec[:, names.index(n)].tolist() for n in names}
    assert col["L1_SingleMu22"] == [True, False, False]
    assert col["L1_DoubleMu15_7"] == [True, False, False]
    # the 200 GeV electron is listed last but is the leading object after sorting
    assert col["L1_SingleEle36"] == [False, True, False]
    assert col["L1_TripleMu5_3_3"] == [True, False, True]


# --------------------------------------------------------------------------- sums, logic

def test_sums():
    ev = [{"L1EtSum": sums(HT=450)}, {"L1EtSum": sums(HT=449.5, MET=300)},
          {"L1EtSum": sums(MET=199.5, METHF=250)}, {"L1EtSum": sums(MET=200)}, {}]
    assert seed_fires("L1_HTT450", *ev) == [True, False, False, False, False]
    assert seed_fires("L1_ETM200", *ev) == [False, True, False, True, False]
    menu = """
seeds:
  ETMHF: {sums: [{type: METHF, min: 200}]}
  ETT: {sums: [{type: ETT, min: 1000}]}
  MHT: {sums: [{type: MHT, min: 100}]}
"""
    assert fires(menu, {"L1EtSum": sums(MET=250, METHF=150, ETT=1000, MHT=99)},
                 {"L1EtSum": sums(METHF=200, ETT=999, MHT=100)}) == \
        [[False, True, False], [True, False, True]]
    m = margins(menu, crossings({"L1EtSum": sums(METHF=300, ETT=500, MHT=10)}, {}))
    np.testing.assert_allclose(m, [[1.5, 0.5, 0.1], [0, 0, 0]])


def test_and_or_not():
    menu = """
seeds:
  A: {and: [{legs: [{object: muon, pt: 10}]}, {sums: [{type: HT, min: 100}]}]}
  O: {or: [{legs: [{object: muon, pt: 10}]}, {sums: [{type: HT, min: 100}]}]}
  N: {legs: [{object: muon, pt: 10}], not: {legs: [{object: jet, pt: 50}]}}
  P: {sums: [{type: HT, min: 100}],
      or: [{legs: [{object: jet, pt: 50}]}, {not: {legs: [{object: muon, pt: 1}]}}]}
"""
    ev = [{"L1Mu": [mu(12)], "L1EtSum": sums(HT=50)},
          {"L1Mu": [mu(12)], "L1Jet": [obj(60)], "L1EtSum": sums(HT=150)},
          {},
          {"L1Jet": [obj(40)], "L1EtSum": sums(HT=150)},
          {"L1Mu": [mu(12)], "L1Jet": [obj(40)], "L1EtSum": sums(HT=150)}]
    assert fires(menu, *ev) == [[False, True, True, False], [True, True, False, True],
                                [False, False, False, False], [False, True, False, True],
                                [True, True, True, False]]
    m = margins(menu, crossings(*ev))
    np.testing.assert_allclose(m[1, :2], [1.2, 1.5])   # AND: min of the parts; OR: max
    np.testing.assert_allclose(m[0, :3], [0.5, 1.2, 1.2])


# --------------------------------------------------------------------------- cross cuts

def test_opposite_charge():
    menu = """
seeds:
  OS: {legs: [{object: muon, pt: 10}, {object: muon, pt: 10}], cross: {opposite_charge: true}}
"""
    ev = [{"L1Mu": [mu(20, charge=1), mu(15, charge=1)]},
          {"L1Mu": [mu(20, charge=1), mu(15, charge=-1)]},
          {"L1Mu": [mu(20, charge=1), mu(15, charge=1), mu(12, charge=-1)]},
          {"L1Mu": [mu(20, charge=-1), mu(9, charge=1)]}]
    assert [r[0] for r in fires(menu, *ev)] == [False, True, True, False]
    m = margins(menu, crossings(*ev))[:, 0]
    np.testing.assert_allclose(m[1:], [1.5, 1.2, 0.9])  # best pair: min(pT) / 10
    assert m[0] == -np.inf


def test_mass_window():
    """m² = 2 pT1 pT2 (cosh Δη − cos Δφ): back to back at η 0 with 45.5 GeV each, m = 91."""
    menu = """
seeds:
  Z: {legs: [{object: muon, pt: 5}, {object: muon, pt: 5}],
      cross: [{mass: [81, 101], opposite_charge: true}]}
"""
    pi = math.pi
    ev = [{"L1Mu": [mu(45.5, phi=0, charge=1), mu(45.5, phi=pi, charge=-1)]},
          {"L1Mu": [mu(30, phi=0, charge=1), mu(30, phi=pi, charge=-1)]},         # m = 60
          {"L1Mu": [mu(45.5, phi=0, charge=1), mu(45.5, phi=pi, charge=1)]},      # same sign
          {"L1Mu": [mu(60, phi=pi / 2, charge=1), mu(45.5, phi=0, charge=1),
                    mu(45.5, phi=pi, charge=-1)]},                               # 3rd pair
          {"L1Mu": [mu(39, eta=1.0, charge=1), mu(39, eta=-1.0, charge=-1)]}]     # Δη only
    m39 = math.sqrt(2 * 39 * 39 * (math.cosh(2.0) - 1))
    assert 81 <= m39 <= 101  # 91.7 GeV
    assert [r[0] for r in fires(menu, *ev)] == [True, False, False, True, True]
    m = margins(menu, crossings(*ev))[:, 0]
    np.testing.assert_allclose(m[[0, 3, 4]], [9.1, 9.1, 7.8], rtol=1e-6)


def test_dr_across_collections():
    """Muon + jet legs (different collections may use the same rank) with ΔR and Δη cuts."""
    menu = """
seeds:
  MJ: {legs: [{object: muon, pt: 10}, {object: jet, pt: 30}], cross: {dr: [0, 0.4]}}
  MJfar: {legs: [{object: muon, pt: 10}, {object: jet, pt: 30}], cross: {dr: [1.0, 10], deta: 0.5}}
  MJplain: {legs: [{object: muon, pt: 10}, {object: jet, pt: 30}]}
"""
    ev = [{"L1Mu": [mu(20, eta=0.5, phi=1.0)], "L1Jet": [obj(40, eta=0.6, phi=1.1)]},
          {"L1Mu": [mu(20, eta=0.5, phi=1.0)], "L1Jet": [obj(40, eta=0.5, phi=2.2)]},
          {"L1Mu": [mu(20, eta=0.5, phi=1.0)],
           "L1Jet": [obj(100, eta=0.1, phi=-2.0), obj(35, eta=0.5, phi=1.2)]},
          {"L1Mu": [mu(20, eta=0.0, phi=3.1)], "L1Jet": [obj(40, eta=0.0, phi=-3.1)]},  # φ wraps
          {"L1Mu": [mu(20, eta=0.0, phi=0.0)], "L1Jet": [obj(40, eta=0.7, phi=1.5)]},
          {"L1Mu": [mu(9, eta=0.5, phi=1.0)], "L1Jet": [obj(40, eta=0.6, phi=1.1)]}]
    assert fires(menu, *ev) == [[True, False, True], [False, True, True], [True, True, True],
                                [True, False, True], [False, False, True], [False, False, False]]
    m = margins(menu, crossings(*ev))
    np.testing.assert_allclose(m[2], [35 / 30, 2.0, 2.0], rtol=1e-6)


def test_cross_on_chosen_legs():
    """``legs: [i, j]`` restricts a cross cut to one pair; the other pairs are free."""
    menu = """
seeds:
  T: {legs: [{object: muon, pt: 5}, {object: muon, pt: 5}, {object: muon, pt: 5}],
      cross: {legs: [0, 2], dr: [0, 0.2]}}
"""
    near = [mu(20, phi=0.0), mu(10, phi=2.0), mu(8, phi=0.1)]
    far = [mu(20, phi=0.0), mu(10, phi=2.0), mu(8, phi=-2.0)]
    assert [r[0] for r in fires(menu, {"L1Mu": near}, {"L1Mu": far})] == [True, False]


# --------------------------------------------------------------------------- brute force

def _passes(leg: Leg, o: dict, electron_id: bool) -> bool:
    """The leg's cuts other than pT, written out for one object."""
    return ((leg.eta is None or abs(o["eta"]) < leg.eta)
            and (leg.eta_min is None or abs(o["eta"]) >= leg.eta_min)
            and (leg.quality is None or o["hwQual"] >= leg.quality)
            and (not leg.iso or o["hwIso"] == 1)
            and (leg.charge is None or o["charge"] == leg.charge)
            and (leg.object != "electron" or not electron_id or o["isEle"]))


def _cross_ok(c: Cross, a: dict, b: dict) -> bool:
    deta = a["eta"] - b["eta"]
    dphi = math.remainder(a["phi"] - b["phi"], 2 * math.pi)
    if c.dr is not None and not c.dr[0] <= math.hypot(deta, dphi) <= c.dr[1]:
        return False
    if c.deta is not None and not abs(deta) <= c.deta:
        return False
    if c.mass is not None:
        m = math.sqrt(max(2 * a["pt"] * b["pt"] * (math.cosh(deta) - math.cos(dphi)), 0.0))
        if not c.mass[0] <= m <= c.mass[1]:
            return False
    if c.opposite_charge and not a["charge"] * b["charge"] < 0:
        return False
    return True


def brute_margin(cond: Condition, ev: dict, electron_id: bool = True) -> float:
    """The margin of one crossing by trying every assignment of distinct objects to legs."""
    out = math.inf
    if cond.legs:
        seen = {c: sorted(ev.get(c, []), key=lambda o: -o["pt"])[:n] for c, n in GT_INPUTS.items()}
        options = [[(i, o) for i, o in enumerate(seen[leg.collection])
                    if _passes(leg, o, electron_id)] for leg in cond.legs]
        pairs = [(i, j, c) for c in cond.cross
                 for i, j in ([c.legs] if c.legs else
                              itertools.combinations(range(len(cond.legs)), 2))]
        best = -math.inf
        for combo in itertools.product(*options):
            ids = [(leg.collection, i) for leg, (i, _) in zip(cond.legs, combo)]
            if len(set(ids)) < len(ids):
                continue
            if not all(_cross_ok(c, combo[i][1], combo[j][1]) for i, j, c in pairs):
                continue
            best = max(best, min(o["pt"] / leg.pt for leg, (_, o) in zip(cond.legs, combo)))
        out = min(out, best)
    for s in cond.sums:
        value = next((x["pt"] for x in ev["L1EtSum"] if x["etSumType"] == s.code), 0.0)
        out = min(out, value / s.min)
    for child in cond.all_of:
        out = min(out, brute_margin(child, ev, electron_id))
    if cond.any_of:
        out = min(out, max(brute_margin(c, ev, electron_id) for c in cond.any_of))
    if cond.none_of is not None and brute_margin(cond.none_of, ev, electron_id) >= 1:
        out = -math.inf
    return out


def random_crossings(n: int, seed: int) -> ak.Array:
    """Random unsorted crossings, up to 11 muons and 15 calorimeter objects (beyond the
    global-trigger limits), φ near ±π and small |η| differences common (cross cuts bite)."""
    rng = np.random.default_rng(seed)
    cols = {}
    for coll, most in (("L1Mu", 11), ("L1EG", 15), ("L1Tau", 15), ("L1Jet", 15)):
        counts = rng.integers(0, most + 1, n)
        size = int(counts.sum())
        flat = {"pt": rng.choice([5.0, 10.0, 15.0, 20.0, 30.0], size) + rng.uniform(0, 30, size),
                "eta": rng.uniform(-2.6, 2.6, size), "phi": rng.uniform(-np.pi, np.pi, size),
                "charge": rng.choice([-1, 1], size), "hwQual": rng.integers(0, 16, size),
                "hwIso": rng.integers(0, 3, size), "isEle": rng.random(size) < 0.5}
        cols[coll] = (counts, {f: flat[f] for f in DEFAULTS[coll]})
    counts = np.full(n, 3)
    cols["L1EtSum"] = (counts, {"pt": rng.uniform(0, 400, 3 * n), "phi": np.zeros(3 * n),
                                "etSumType": np.tile([HT, MET, MET_HF], n)})
    return formats.assemble(n, {}, cols, "test")


SAME_CUTS = """
seeds:
  DiMuOS: {legs: [{object: muon, pt: 15, eta: 2.4}, {object: muon, pt: 7, eta: 2.4}],
           cross: {opposite_charge: true, mass: [40, 120]}}
  MuJetDR: {legs: [{object: muon, pt: 12}, {object: jet, pt: 30, eta: 2.4}],
            cross: {dr: [0, 0.6]}}
  TriEG: {legs: [{object: egamma, pt: 30}, {object: egamma, pt: 20}, {object: egamma, pt: 10}],
          cross: {legs: [0, 1], deta: 0.8}}
  TauTau: {legs: [{object: tau, pt: 30, eta: 2.1}, {object: tau, pt: 30, eta: 2.1}],
           cross: {dr: [0.5, 10]}}
  QuadJetHT: {legs: [{object: jet, pt: 50}, {object: jet, pt: 40}, {object: jet, pt: 30},
                     {object: jet, pt: 20}], sums: [{type: HT, min: 200}]}
  Logic: {or: [{legs: [{object: muon, pt: 25, quality: 12}]},
               {and: [{legs: [{object: electron, pt: 30}]}, {sums: [{type: MET, min: 100}]}]}],
          not: {sums: [{type: METHF, min: 350}]}}
"""

MIXED_CUTS = """
seeds:
  MuEta: {legs: [{object: muon, pt: 10, eta: 1.0}, {object: muon, pt: 15, eta: 2.4}]}
  MuQual: {legs: [{object: muon, pt: 20, quality: 12}, {object: muon, pt: 10, quality: 4}]}
  EleGamma: {legs: [{object: electron, pt: 25}, {object: photon, pt: 20, eta: 1.5}]}
  JetRing: {legs: [{object: jet, pt: 40, eta_min: 1.3}, {object: jet, pt: 30, eta: 1.3},
                   {object: jet, pt: 20}]}
  MuEtaDR: {legs: [{object: muon, pt: 10, eta: 1.0}, {object: muon, pt: 5, eta: 2.4}],
            cross: {dr: [0, 1.0]}}
"""


def _compare(menu_text: str, n: int, seed: int, electron_id: bool = True) -> None:
    menu = parse_menu(menu_text)
    events = random_crossings(n, seed)
    ours = Evaluator(menu).margins(from_events(events, electron_id))
    lists = ak.to_list(events)
    brute = np.array([[brute_margin(s.condition, ev, electron_id) for s in menu.seeds]
                      for ev in lists])
    assert np.array_equal(ours >= 1, brute >= 1), \
        f"decisions differ at (crossing, seed) {np.argwhere((ours >= 1) != (brute >= 1))[:5]}"
    np.testing.assert_allclose(ours, brute, rtol=1e-6)
    assert 0.02 < np.mean(brute >= 1) < 0.98  # the comparison is not vacuous


@pytest.mark.parametrize("electron_id", [True, False])
def test_brute_force_same_cut_legs(electron_id):
    _compare(SAME_CUTS, 400, 21, electron_id)


def test_brute_force_legs_with_different_cuts():
    _compare(MIXED_CUTS, 400, 22)


def test_different_eta_cuts_hand_counted():
    """Muons A (20 GeV, η 2.0) and B (12 GeV, η 0.5). Leg 0 (≥ 10, |η| < 1) can only take B,
    leg 1 (≥ 15, |η| < 2.4) takes A: fires. With a ΔR ≤ 0.1 cut between the legs the only
    pairs are (B, A), ΔR 1.5: must not fire (B cannot serve both legs)."""
    menu = """
seeds:
  Plain: {legs: [{object: muon, pt: 10, eta: 1.0}, {object: muon, pt: 15, eta: 2.4}]}
  Near: {legs: [{object: muon, pt: 10, eta: 1.0}, {object: muon, pt: 5, eta: 2.4}],
         cross: {dr: [0, 0.1]}}
"""
    assert fires(menu, {"L1Mu": [mu(20, eta=2.0), mu(12, eta=0.5)]}) == [[True, False]]


def test_threshold_not_representable_in_float32():
    """pT 22.3 stored as float32 is 22.2999992 < 22.3: neither path may fire; both must agree."""
    menu = """
seeds:
  Fast: {legs: [{object: muon, pt: 22.3}]}
  General: {legs: [{object: muon, pt: 22.3}, {object: jet, pt: 1}], cross: {dr: [0, 100]}}
"""
    assert fires(menu, {"L1Mu": [mu(22.3)], "L1Jet": [obj(50)]}) == [[False, False]]


# --------------------------------------------------------------------------- Δz between legs

def tkmu(pt, z0, eta=0.0, phi=0.0) -> dict:
    return {"pt": pt, "eta": eta, "phi": phi, "z0": z0}


def test_dz_between_track_legs_counted_by_hand():
    menu = """
seeds:
  DoubleTkMu15_7_dz1:
    legs: [{object: tkmuon, pt: 15}, {object: tkmuon, pt: 7}]
    cross: [{dz: 1.0}]
  TripleTkMu5_3_3_dz1:
    legs: [{object: tkmuon, pt: 5}, {object: tkmuon, pt: 3}, {object: tkmuon, pt: 3}]
    cross: [{legs: [0, 1], dz: 1.0}, {legs: [0, 2], dz: 1.0}]
"""
    got = fires(menu,
                {"L1TkMu": [tkmu(20, 0.0), tkmu(8, 0.5)]},                    # 0: Δz 0.5
                {"L1TkMu": [tkmu(20, 0.0), tkmu(8, 1.5)]},                    # 1: Δz 1.5
                {"L1TkMu": [tkmu(20, 0.0), tkmu(8, 1.5), tkmu(7.5, -0.9)]},   # 2: the third
                {"L1TkMu": [tkmu(20, 2.0), tkmu(16, 3.0)]},                   # 3: Δz = 1 (≤)
                {"L1TkMu": [tkmu(14, 0.0), tkmu(8, 0.0)]},                    # 4: 14 < 15
                {"L1TkMu": [tkmu(6, 0.0), tkmu(4, 0.8), tkmu(3.5, -0.8)]},    # 5: 1.6 apart is fine
                {"L1TkMu": [tkmu(6, 0.0), tkmu(4, 0.8), tkmu(3.5, 1.2)]},     # 6: 3.5 too far
                {"L1TkMu": [tkmu(6, 0.0), tkmu(5.5, 1.2), tkmu(4, 0.3), tkmu(3, 0.5)]})  # 7
    assert [g[0] for g in got] == [True, False, True, True, False, False, False, False]
    assert [g[1] for g in got] == [False, False, False, False, False, True, False, True]


def test_dz_needs_legs_with_a_track():
    from l1t.core.errors import L1TInputError

    with pytest.raises(L1TInputError, match="dz needs legs with a track"):
        parse_menu("seeds:\n  A:\n    legs: [{object: jet, pt: 1}, {object: tkmuon, pt: 1}]\n"
                   "    cross: [{dz: 1.0}]\n")
    with pytest.raises(L1TInputError, match="L1PuppiJet"):   # the inputs lack the collection
        margins("seeds:\n  A:\n    legs: [{object: puppijet, pt: 1}]\n", crossings({}))
