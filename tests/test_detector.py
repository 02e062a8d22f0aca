"""The detector on hand-made particles: windows, single objects, hardware words."""
from dataclasses import replace

import awkward as ak
import numpy as np
import pytest

from l1t.datasets import detector
from l1t.datasets.detector.geometry import ETA_CENTERS, N_ETA, N_PHI, PHI_CENTERS, tower_index
from l1t.datasets.detector.windows import box_sum, local_maxima, shift
from l1t.datasets.muon.lut import packaged


def test_box_sum_matches_brute_force_with_phi_wrap():
    rng = np.random.default_rng(0)
    grid = rng.integers(0, 5, (2, N_ETA, N_PHI)).astype(np.int32)
    out = box_sum(grid, 3, 5)
    for (i, j) in [(0, 0), (5, 71), (92, 3), (40, 36)]:
        want = sum(grid[1, ii, jj % N_PHI] for ii in range(i - 1, i + 2) if 0 <= ii < N_ETA
                   for jj in range(j - 2, j + 3))
        assert out[1, i, j] == want


def test_shift_wraps_phi_and_pads_eta():
    grid = np.arange(N_ETA * N_PHI).reshape(1, N_ETA, N_PHI)
    s = shift(grid, 2, -1)
    assert s[0, 10, 0] == grid[0, 12, N_PHI - 1]
    assert s[0, N_ETA - 1, 5] == 0


def test_local_maxima_break_ties_once():
    grid = np.zeros((1, N_ETA, N_PHI), np.int32)
    grid[0, 40, 10] = grid[0, 40, 11] = 8  # equal neighbours: exactly one seed
    grid[0, 60, 71] = 9
    grid[0, 60, 0] = 5  # neighbour across the φ wrap is lower
    mask = local_maxima(grid, 3, 4)
    assert mask.sum() == 2
    assert mask[0, 60, 71] and not mask[0, 60, 0]


def _particles(rows):
    """One interaction per list of (pt, eta, phi, pdgId, charge)."""
    def rec(p):
        pt, eta, phi, pid, q = p
        mass = {11: 0.000511, 13: 0.10566, 211: 0.13957, 22: 0.0}.get(abs(pid), 0.0)
        return {"pt": pt, "eta": eta, "phi": phi, "mass": mass, "pdgId": pid, "charge": q}
    arr = ak.Array([[rec(p) for p in row] for row in rows])
    return arr


def _simulate(rows, seed=1, cfg=detector.DEFAULT):
    parts = _particles(rows)
    digi = detector.digitize(parts, cfg)
    n = len(rows)
    return detector.simulate(digi, np.arange(n), np.ones(n, np.int64), np.random.default_rng(seed),
                             cfg)


def test_single_electron_photon_muon_and_jet():
    out = _simulate([
        [(50.0, 0.5, 1.0, 11, -1)],
        [(50.0, 0.5, 1.0, 22, 0)],
        [(40.0, -0.3, -2.0, 13, -1)],
        [(30.0, 1.0 + 0.05 * k, 0.5 + 0.04 * (k % 3), 211, 1 - 2 * (k % 2)) for k in range(6)],
    ], cfg=replace(detector.DEFAULT, track_efficiency=1.0))   # the electron's track is found
    eg = out["L1EG"]
    assert ak.num(eg)[0] >= 1 and ak.num(eg)[1] >= 1
    assert eg[0, 0].pt == pytest.approx(50.0, rel=0.1) and bool(eg[0, 0].isEle)
    assert eg[1, 0].pt == pytest.approx(50.0, rel=0.1) and not bool(eg[1, 0].isEle)
    assert eg[0, 0].hwIso == 1
    mu = out["L1Mu"][2]
    assert len(mu) == 1 and abs(mu[0].eta + 0.3) < 0.05
    # L1Mu.pt is the packaged table's threshold-scaled word: 40 GeV raw within the barrel's
    # resolution, scaled up (the 90% point sits at the nominal threshold)
    table = packaged("stations-v1")
    feats = {k: np.asarray([mu[0][k]]) for k in ak.fields(mu) if k.startswith("tf")}
    assert table.pt(feats)[0] == pytest.approx(40.0, rel=0.3)
    assert mu[0].pt == pytest.approx(np.floor(table.assign(feats)[0] / 0.5) * 0.5)
    assert mu[0].pt > table.pt(feats)[0]
    jet = out["L1Jet"][3]
    assert len(jet) >= 1 and jet[0].pt == pytest.approx(180.0, rel=0.25)
    ht = out["L1EtSum"][3]
    assert ht[ht.etSumType == 1][0].pt == pytest.approx(jet[0].pt, abs=0.5)
    for coll in ("L1Mu", "L1EG", "L1Tau", "L1Jet", "L1EtSum"):
        flat = ak.flatten(out[coll])
        np.testing.assert_array_equal(ak.to_numpy(flat.pt), ak.to_numpy(flat.hwPt) * 0.5)


def test_neutrinos_leave_nothing_and_met_points_away_from_jet():
    out = _simulate([[(100.0, 0.0, 0.0, 12, 0)], [(60.0, 0.2, 0.3, 22, 0)]])
    assert len(out["L1EG"][0]) == 0 and len(out["L1Jet"][0]) == 0
    sums = out["L1EtSum"][1]
    met = sums[sums.etSumType == 2][0]
    assert met.pt == pytest.approx(60.0, rel=0.15)
    assert abs(np.angle(np.exp(1j * (met.phi - (0.3 + np.pi))))) < 0.1


def test_tower_index_geometry():
    idx = tower_index(np.array([0.01, -4.9, 5.1, 3.2]), np.array([0.0, 3.1, 0.0, -3.1]))
    assert idx[2] == -1
    ieta, iphi = idx[:2] // N_PHI, idx[:2] % N_PHI
    assert abs(ETA_CENTERS[ieta[0]] - 0.01) < 0.05 and abs(PHI_CENTERS[iphi[0]]) < 0.05
    assert ETA_CENTERS[ieta[1]] < -4.8
    assert idx[3] % N_PHI % 2 == 0  # forward towers fill the even φ bin


def test_simulation_is_deterministic():
    rows = [[(50.0, 0.5, 1.0, 11, -1), (20.0, -2.0, 2.0, 13, 1)]]
    a, b = _simulate(rows, seed=7), _simulate(rows, seed=7)
    for coll in a:
        assert ak.to_list(a[coll]) == ak.to_list(b[coll])
