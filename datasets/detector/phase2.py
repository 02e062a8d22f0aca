"""The Phase-2 objects of a chunk of crossings: primary vertex, PF + PUPPI, PUPPI jets and sums,
track-matched muons, electrons and photons (collections of ``schema.PHASE2_COLLECTIONS``).

- ``L1PV``: the FastHisto vertex (:mod:`.vertex`);
- ``L1PuppiJet``: seeded cones (``puppi_jet_cone``) over the PUPPI-weighted PF candidates
  (:mod:`.pf`, :mod:`.puppi`), seeds above ``puppi_jet_seed``, jets above ``puppi_jet_min_pt``;
  no jet energy calibration;
- ``L1PuppiSum``: Σ pT (type 0) and MET (type 2) of the PUPPI candidates, HT (1) and MHT (3) of
  the PUPPI jets above ``ht_jet_min_pt`` within ``ht_jet_max_eta``;
- ``L1TkMu``: a standalone muon (``L1Mu``, |η| < ``tkmu_max_eta``) with the L1 track PF linked
  to it; pT, η, φ, charge and z0 of the track, quality of the standalone muon;
- ``L1TkEle``: an e/γ cluster (``L1EG``, |η| < 2.4) with a track of pT ≥ ``tkele_min_track_pt``
  within the matching window at the calorimeter (see ``DetectorConfig``); pT of the cluster,
  η, φ, charge and z0 of the track; relative track isolation around the track's z0;
- ``L1TkEm``: every e/γ cluster with |η| < 2.4, relative track isolation around the vertex.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import hwunits
from ..schema import ET_TOTAL, HT, MET, MHT
from .config import DetectorConfig
from .kernels import best_match, seeded_cone, track_isolation
from .pf import PFCandidates, build as build_pf
from .puppi import weights as puppi_weights
from .tracks import L1Tracks, offsets_of
from .vertex import Vertices, fast_histo, usable

#: |η| of the e/γ barrel–endcap boundary for the isolation cuts (Phase2-L1MenuTools).
_EG_BARREL_ETA = 1.479
#: TkElectron Δη windows above |η| 0, 0.9, 1.5 (CMSSW l1TkEgAlgoEmulator_cfi dEtaValues).
_TKELE_DETA = ((0.0, 0.025), (0.9, 0.015), (1.5, 0.01))
_HALF_TOWER = 0.087 / 2
_TRACKER_ETA = 2.4


def _words(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add the Phase-2 words of the values present; pT rounded down to its word."""
    out = dict(cols)
    if "pt" in cols:
        out["hwPt"] = hwunits.p2_hw_pt(np.asarray(cols["pt"], np.float64))
        out["pt"] = out["hwPt"] * hwunits.P2_PT_LSB
    for name in ("eta", "phi"):
        if name in cols:
            out["hw" + name.capitalize()] = hwunits.p2_hw_angle(np.asarray(cols[name]))
    if "z0" in cols:
        out["hwZ0"] = hwunits.p2_hw_z0(np.asarray(cols["z0"]))
    return out


@dataclass
class Correlator:
    """What the correlator computes for a chunk of crossings before its output objects."""

    vertices: Vertices
    candidates: PFCandidates
    weights: np.ndarray     # PUPPI weight per candidate (0: removed)
    mu_track: np.ndarray    # per standalone muon: index of its L1 track, -1 for none


def correlator(tracks: L1Tracks, em_hw: np.ndarray, had_hw: np.ndarray,
               mu: tuple[np.ndarray, dict], n_cross: int, cfg: DetectorConfig) -> Correlator:
    """Vertex, PF candidates and PUPPI weights of ``n_cross`` crossings (``mu``: the crossing
    and columns of their standalone muons)."""
    vtx = fast_histo(tracks, n_cross, cfg)
    cand, mu_track = build_pf(tracks, em_hw, had_hw, mu[0], mu[1], n_cross, cfg)
    return Correlator(vtx, cand, puppi_weights(cand, tracks, vtx, n_cross, cfg), mu_track)


def objects(tracks: L1Tracks, em_hw: np.ndarray, had_hw: np.ndarray,
            mu: tuple[np.ndarray, dict], eg: tuple[np.ndarray, dict], n_cross: int,
            cfg: DetectorConfig) -> dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]:
    """``{collection: (crossing, columns)}`` of the Phase-2 objects; ``mu`` and ``eg`` are the
    (crossing, columns) of the standalone muons and e/γ clusters of the same crossings."""
    c = correlator(tracks, em_hw, had_hw, mu, n_cross, cfg)
    vtx, cand, w = c.vertices, c.candidates, c.weights
    keep = w > 0
    p_cross, p_pt = cand.crossing[keep], cand.pt[keep] * w[keep]
    p_eta, p_phi = cand.eta[keep], cand.phi[keep]
    out = {"L1PV": (np.arange(n_cross), {
        "z0": vtx.z0, "sumPt": vtx.sum_pt, "hwZ0": hwunits.p2_hw_z0(vtx.z0),
        "hwSumPt": hwunits.p2_hw_pt(vtx.sum_pt)})}
    out["L1PuppiJet"] = _jets(p_cross, p_pt, p_eta, p_phi, n_cross, cfg)
    out["L1PuppiSum"] = _sums(p_cross, p_pt, p_phi, out["L1PuppiJet"], n_cross, cfg)
    out["L1TkMu"] = _tkmu(tracks, mu, c.mu_track, cfg)
    out["L1TkEle"], out["L1TkEm"] = _tkeg(tracks, vtx, eg, n_cross, cfg)
    return out


def _jets(cross, pt, eta, phi, n_cross, cfg):
    order = np.lexsort((-pt, cross))
    j_cross, j_pt, j_eta, j_phi, _ = seeded_cone(
        offsets_of(cross[order], n_cross), pt[order], eta[order], phi[order],
        cfg.puppi_jet_cone ** 2, cfg.puppi_jet_seed, cfg.puppi_max_jets)
    sel = j_pt >= cfg.puppi_jet_min_pt
    return j_cross[sel], _words({"pt": j_pt[sel], "eta": j_eta[sel], "phi": j_phi[sel]})


def _sums(cross, pt, phi, jets, n_cross, cfg):
    ett = np.bincount(cross, weights=pt, minlength=n_cross)
    mx = -np.bincount(cross, weights=pt * np.cos(phi), minlength=n_cross)
    my = -np.bincount(cross, weights=pt * np.sin(phi), minlength=n_cross)
    jc, jcols = jets
    sel = (jcols["pt"] >= cfg.ht_jet_min_pt) & (np.abs(jcols["eta"]) < cfg.ht_jet_max_eta)
    jc, jpt, jphi = jc[sel], jcols["pt"][sel], jcols["phi"][sel]
    ht = np.bincount(jc, weights=jpt, minlength=n_cross)
    hx = -np.bincount(jc, weights=jpt * np.cos(jphi), minlength=n_cross)
    hy = -np.bincount(jc, weights=jpt * np.sin(jphi), minlength=n_cross)
    values = {ET_TOTAL: (ett, np.zeros(n_cross)), HT: (ht, np.zeros(n_cross)),
              MET: (np.hypot(mx, my), np.arctan2(my, mx)),
              MHT: (np.hypot(hx, hy), np.arctan2(hy, hx))}
    types = np.array(list(values), np.int32)
    pt_all = np.stack([v[0] for v in values.values()], axis=1).ravel()
    phi_all = np.stack([v[1] for v in values.values()], axis=1).ravel()
    cols = _words({"pt": pt_all, "phi": phi_all})
    cols["etSumType"] = np.tile(types, n_cross)
    return np.repeat(np.arange(n_cross), len(types)), cols


def _tkmu(tracks, mu, mu_track, cfg):
    m_cross, m_cols = mu
    t = mu_track
    sel = (t >= 0) & (np.abs(np.asarray(m_cols["eta"])) < cfg.tkmu_max_eta)
    t = t[sel]
    cols = _words({"pt": tracks.pt[t], "eta": tracks.eta[t], "phi": tracks.phi[t],
                   "z0": tracks.z0[t]})
    cols["charge"] = tracks.charge[t]
    cols["hwQual"] = np.asarray(m_cols["hwQual"])[sel]
    return m_cross[sel], cols


def _relative_cut(eta, iso, cuts):
    return (iso < np.where(np.abs(eta) < _EG_BARREL_ETA, cuts[0], cuts[1])).astype(np.int32)


def _tkeg(tracks, vtx: Vertices, eg, n_cross, cfg):
    e_cross, e_cols = eg
    e_eta = np.asarray(e_cols["eta"], np.float64)
    inside = np.abs(e_eta) < _TRACKER_ETA
    order = np.flatnonzero(inside)[np.argsort(e_cross[inside], kind="stable")]
    c = e_cross[order]
    eta, phi = e_eta[order], np.asarray(e_cols["phi"], np.float64)[order]
    pt = np.asarray(e_cols["pt"], np.float64)[order]
    off = offsets_of(c, n_cross)
    t_off = offsets_of(tracks.crossing, n_cross)
    ok = usable(tracks, cfg)
    t_eta, t_phi = tracks.eta.astype(np.float64), tracks.phi.astype(np.float64)
    t_pt, t_z0 = tracks.pt.astype(np.float64), tracks.z0.astype(np.float64)
    # electrons: the closest track at the calorimeter face within the window
    bins = np.array([b for b, _ in _TKELE_DETA])
    deta = np.array([d for _, d in _TKELE_DETA])[np.searchsorted(bins, np.abs(eta), "right") - 1]
    match = best_match(off, eta, phi, pt, deta + _HALF_TOWER,
                       np.full(len(c), cfg.tkele_dphi + _HALF_TOWER), t_off, t_eta,
                       tracks.phi_calo.astype(np.float64), t_pt,
                       ok & (tracks.pt >= cfg.tkele_min_track_pt), 0.0)
    has = match >= 0
    m = match[has]
    ele_off = offsets_of(c[has], n_cross)
    iso = track_isolation(ele_off, t_eta[m], t_phi[m], t_z0[m], m, t_off, t_eta, t_phi, t_pt,
                          t_z0, ok, cfg.tkiso_dz_cm, 0.03 ** 2, 0.2 ** 2) / pt[has]
    ele = _words({"pt": pt[has], "eta": t_eta[m], "phi": t_phi[m], "z0": t_z0[m]})
    ele.update(charge=tracks.charge[m], iso=iso, hwIso=_relative_cut(eta[has], iso,
                                                                      cfg.tkele_iso_cut))
    # photons: every cluster, isolation around the primary vertex
    iso_em = track_isolation(off, eta, phi, vtx.z0[c], np.full(len(c), -1, np.int64), t_off,
                             t_eta, t_phi, t_pt, t_z0, ok, cfg.tkiso_dz_cm, 0.07 ** 2,
                             0.3 ** 2) / pt
    em = _words({"pt": pt, "eta": eta, "phi": phi})
    em.update(iso=iso_em, hwIso=_relative_cut(eta, iso_em, cfg.tkem_iso_cut))
    return (c[has], ele), (c, em)
