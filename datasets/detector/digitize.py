"""Stable generator particles → what the detector keeps of each pp interaction.

Deterministic (no random numbers), so a min-bias pool is digitised once and reused for every
crossing; all smearing happens per crossing in :mod:`calo`, :mod:`tracks` and :mod:`muons`.

Per interaction we keep three tables:
- ``deposits``: calorimeter ET per tower (``tower``, ``em``, ``had`` in GeV), summed over particles.
  Photons and electrons deposit electromagnetically, hadrons hadronically; neutrinos, muons and
  charged particles that curl before the calorimeter leave nothing. Charged particles hit the
  tower at their bent φ.
- ``tracks``: charged particles within the tracker (|η| < 2.4, pT > 2 GeV) with φ at vertex and at
  the calorimeter.
- ``mucands``: muons that reach the muon stations, and charged pions/kaons that may decay in
  flight into one (``p_decay``: probability; the muon takes a fraction of the parent pT uniform in
  [``fmin``, 1], the two-body decay kinematics in the lab).
"""
from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from ..ragged import Ragged
from .config import DEFAULT, DetectorConfig
from .geometry import N_TOWERS, tower_index

_ENDCAP_Z_M = 3.15
_INVISIBLE = np.array([12, 14, 16, 1000022, 1000012, 1000014, 1000016, 1000039])
# (|pdgId|, cτ in m, mass in GeV, BR to μν, minimal muon momentum fraction (mμ/m)²)
_DECAYERS = np.array([
    (211, 7.8045, 0.139570, 0.99988, (0.105658 / 0.139570) ** 2),
    (321, 3.7115, 0.493677, 0.6356, (0.105658 / 0.493677) ** 2),
])


@dataclass
class Digitized:
    """Detector view of a list of interactions: three :class:`~l1t.datasets.ragged.Ragged` tables."""

    deposits: Ragged
    tracks: Ragged
    mucands: Ragged

    def __len__(self) -> int:
        return len(self.deposits)

    @staticmethod
    def concatenate(parts: list["Digitized"]) -> "Digitized":
        return Digitized(*(Ragged.concatenate([getattr(p, f) for p in parts])
                           for f in ("deposits", "tracks", "mucands")))


def bending(pt: np.ndarray, eta: np.ndarray, charge: np.ndarray, cfg: DetectorConfig):
    """φ shift at the calorimeter face (rad) and whether the particle reaches it.

    A track of transverse momentum pT (GeV) in field B (T) has radius pT / (0.3 B) m; at radius r it
    has turned by asin(0.3 B r / (2 pT)). r is the barrel radius, or where an endcap track crosses
    the endcap face. Particles with 0.3 B r / 2 > pT curl up first.
    """
    r = np.minimum(cfg.calo_radius_m, _ENDCAP_Z_M / np.maximum(np.abs(np.sinh(eta)), 1e-6))
    reach_pt = 0.3 * cfg.b_field_t * r / 2.0
    charged = charge != 0
    ratio = np.where(charged, reach_pt / np.maximum(pt, 1e-6), 0.0)
    dphi = -np.sign(charge) * np.arcsin(np.clip(ratio, 0.0, 1.0))
    return dphi, ~charged | (ratio < 1.0)


def digitize(particles: ak.Array, cfg: DetectorConfig = DEFAULT) -> Digitized:
    """Digitise ``particles`` (``var * {pt, eta, phi, mass, pdgId, charge}``, one row per interaction)."""
    counts = ak.to_numpy(ak.num(particles)).astype(np.int64)
    flat = ak.flatten(particles)
    pt = ak.to_numpy(flat.pt).astype(np.float64)
    eta = ak.to_numpy(flat.eta).astype(np.float64)
    phi = ak.to_numpy(flat.phi).astype(np.float64)
    pid = np.abs(ak.to_numpy(flat.pdgId))
    charge = ak.to_numpy(flat.charge)
    inter = np.repeat(np.arange(len(counts)), counts)

    dphi, reaches = bending(pt, eta, charge, cfg)
    phi_calo = np.mod(phi + dphi + np.pi, 2 * np.pi) - np.pi
    invisible = np.isin(pid, _INVISIBLE)
    calo = ~invisible & (pid != 13) & reaches
    tower = tower_index(eta, phi_calo)
    calo &= tower >= 0
    em = np.isin(pid, (11, 22))
    deposits = _sum_per_tower(inter[calo], tower[calo], pt[calo], em[calo], len(counts))

    trk = (charge != 0) & (pt > cfg.track_min_pt) & (np.abs(eta) < cfg.track_max_eta)
    tracks = Ragged.from_counts(np.bincount(inter[trk], minlength=len(counts)), {
        "pt": pt[trk].astype(np.float32), "eta": eta[trk].astype(np.float32),
        "phi": phi[trk].astype(np.float32), "phi_calo": phi_calo[trk].astype(np.float32),
        "charge": charge[trk].astype(np.int32)})

    p = pt * np.cosh(eta)
    in_mu = np.abs(eta) < cfg.mu_max_eta
    is_mu = (pid == 13) & in_mu & (p > cfg.mu_min_p) & (pt > cfg.mu_min_pt)
    p_decay = np.where(is_mu, 1.0, 0.0)
    fmin = np.ones_like(pt)
    for code, ctau, m, br, fm in _DECAYERS:
        sel = (pid == int(code)) & in_mu & (pt > cfg.mu_min_parent_pt)
        # Decay probability within L: 1 - exp(-L m / (p cτ)), times the μν branching ratio.
        p_decay[sel] = br * -np.expm1(-cfg.decay_length_m * m / (p[sel] * ctau))
        fmin[sel] = fm
    mc = p_decay > 0
    mucands = Ragged.from_counts(np.bincount(inter[mc], minlength=len(counts)), {
        "pt": pt[mc].astype(np.float32), "eta": eta[mc].astype(np.float32),
        "phi": phi[mc].astype(np.float32), "charge": charge[mc].astype(np.int32),
        "p_decay": p_decay[mc].astype(np.float32), "fmin": fmin[mc].astype(np.float32)})
    return Digitized(deposits, tracks, mucands)


def _sum_per_tower(inter, tower, et, em, n_inter) -> Ragged:
    key = inter.astype(np.int64) * N_TOWERS + tower
    uniq, inv = np.unique(key, return_inverse=True)
    em_et = np.bincount(inv, weights=np.where(em, et, 0.0), minlength=len(uniq))
    had_et = np.bincount(inv, weights=np.where(em, 0.0, et), minlength=len(uniq))
    counts = np.bincount(uniq // N_TOWERS, minlength=n_inter)
    return Ragged.from_counts(counts, {"tower": (uniq % N_TOWERS).astype(np.int32),
                                       "em": em_et.astype(np.float32),
                                       "had": had_et.astype(np.float32)})
