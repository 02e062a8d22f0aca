"""Particle flow of the Phase-2 correlator: L1 tracks linked to calorimeter clusters and muons.

- clusters: the tower grid in tiles of ``pf_tile`` x ``pf_tile`` towers (31 x 24 tiles of
  0.26 x 0.26 in the central region), each with its EM and total ET and the ET-weighted
  centroid of its towers;
- a usable track (χ²/dof < ``track_max_chi2``) links to the tile its calorimeter impact point
  (η, φ at the calorimeter face) falls in, and to a standalone muon (``L1Mu``) within
  ΔR < ``pf_track_mu_dr`` whose pT it matches best (that track is the muon);
- charged candidates: the linked tracks, pT from the track; a track above
  ``pf_max_invisible_pt`` whose tile holds less than ``pf_invisible_fraction`` of its pT and
  that is not a muon is dropped (no calorimeter support: a fake or mismeasured track);
- neutral candidates: a tile's ET minus the pT of its charged candidates, when above the
  calorimeter resolution ``pf_calo_res_offset + pf_calo_res_scale × Σ pT(tracks)`` (or, with no
  track, above ``pf_neutral_min_pt``; ``pf_hf_min_pt`` in the forward calorimeter), at the tile's
  centroid; a photon when EM ET is at least half the tile's ET.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .config import DetectorConfig
from .geometry import (ETA_CENTERS, FORWARD_ROWS, N_ETA, N_PHI, PHI_CENTERS, PHI_WIDTH,
                       tower_index)
from .kernels import best_match
from .tracks import L1Tracks, offsets_of
from .vertex import usable

#: Candidate kinds.
CHARGED, MUON, NEUTRAL, PHOTON = 0, 1, 2, 3


@dataclass
class PFCandidates:
    """Flat PF candidates of a chunk of crossings, sorted by crossing. GeV, rad, cm."""

    crossing: np.ndarray  # int64
    pt: np.ndarray        # float64
    eta: np.ndarray
    phi: np.ndarray
    z0: np.ndarray        # cm (neutrals: 0)
    charge: np.ndarray    # int32
    kind: np.ndarray      # int8: CHARGED, MUON, NEUTRAL, PHOTON
    track: np.ndarray     # int64: index into the L1 tracks (-1 for neutrals)

    def select(self, mask: np.ndarray) -> "PFCandidates":
        return PFCandidates(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    @property
    def charged(self) -> np.ndarray:
        return self.kind <= MUON


def _forward_tile_rows(t: int) -> np.ndarray:
    """Tile rows of the forward calorimeter (|η| > 3), whose towers are clusters of their own."""
    return FORWARD_ROWS.reshape(-1, t).all(axis=1)


def tiles(em_hw: np.ndarray, had_hw: np.ndarray, cfg: DetectorConfig):
    """Per tile ``(N, N_ETA/t, N_PHI/t)``: total ET, EM ET (GeV) and the ET-weighted η and φ.

    Sums of strided views (one per position inside the tile) rather than reductions over short
    axes: numpy adds whole planes at a time."""
    t, lsb = cfg.pf_tile, np.float32(cfg.tower_lsb)

    def fold(x, axis):                       # sum of the t positions along an axis
        return sum(x[(slice(None),) * axis + (slice(k, None, t),)] for k in range(t))

    total = em_hw + had_hw
    cols = [total[:, :, k::t] for k in range(t)]                   # (N, N_ETA, N_PHI/t) each
    col_et = sum(cols)
    phi_c = PHI_CENTERS.reshape(-1, t).astype(np.float32)          # (N_PHI/t, t)
    col_phi = sum(c * phi_c[:, k] for k, c in enumerate(cols))
    eta_c = ETA_CENTERS.reshape(-1, t).astype(np.float32)          # (N_ETA/t, t)
    et = fold(col_et, 1).astype(np.float32)
    eta = sum(col_et[:, k::t] * eta_c[:, k][None, :, None] for k in range(t))
    safe = np.maximum(et, np.float32(1e-9))
    em = fold(fold(em_hw, 2), 1).astype(np.float32) * lsb
    return et * lsb, em, eta / safe, fold(col_phi, 1) / safe   # tiles never straddle φ = ±π


def build(tracks: L1Tracks, em_hw: np.ndarray, had_hw: np.ndarray, mu_cross: np.ndarray,
          mu_cols: dict[str, np.ndarray], n_cross: int, cfg: DetectorConfig
          ) -> tuple[PFCandidates, np.ndarray]:
    """PF candidates of ``n_cross`` crossings, and for each standalone muon (``mu_cols``,
    crossing ``mu_cross``) the index of its L1 track (-1: none)."""
    et, em, t_eta, t_phi = tiles(em_hw, had_hw, cfg)
    ne, npf = et.shape[1:]
    t = cfg.pf_tile
    ok = usable(tracks, cfg)

    # standalone muon ↔ track (the muons come pT-ordered per crossing; sort by crossing only)
    m_order = np.argsort(mu_cross, kind="stable")
    m_cross = mu_cross[m_order]
    m_pt = np.asarray(mu_cols["pt"], np.float64)[m_order]
    dr = cfg.pf_track_mu_dr
    match = best_match(offsets_of(m_cross, n_cross), np.asarray(mu_cols["eta"], np.float64)[m_order],
                       np.asarray(mu_cols["phi"], np.float64)[m_order], np.maximum(m_pt, 1.0),
                       np.full(len(m_cross), dr), np.full(len(m_cross), dr),
                       offsets_of(tracks.crossing, n_cross), tracks.eta.astype(np.float64),
                       tracks.phi.astype(np.float64), tracks.pt.astype(np.float64), ok, 1.0)
    mu_track = np.full(len(mu_cross), -1, np.int64)
    mu_track[m_order] = match
    is_mu = np.zeros(len(tracks), bool)
    is_mu[match[match >= 0]] = True

    tower = tower_index(tracks.eta, tracks.phi_calo)
    tile = (tower // N_PHI // t) * npf + (tower % N_PHI) // t
    key = tracks.crossing * (ne * npf) + tile
    tile_et = et.reshape(-1)[key]
    invisible = (tracks.pt > cfg.pf_max_invisible_pt) & \
        (tile_et < cfg.pf_invisible_fraction * tracks.pt) & ~is_mu
    charged = ok & ~invisible
    hadronic = charged & ~is_mu          # muons leave (almost) nothing in the calorimeter
    sum_trk = np.bincount(key[hadronic], weights=tracks.pt[hadronic].astype(np.float64),
                          minlength=n_cross * ne * npf).reshape(et.shape)
    resid = et - sum_trk
    sigma = cfg.pf_calo_res_offset + cfg.pf_calo_res_scale * sum_trk
    minimum = cfg.pf_neutral_min_pt
    neutral = np.where(sum_trk > 0, resid > sigma, resid >= minimum) & (resid >= minimum)
    neutral[:, _forward_tile_rows(t)] = False
    nc, ni, nj = np.nonzero(neutral)
    photon = em[nc, ni, nj] >= 0.5 * et[nc, ni, nj]
    # the forward calorimeter: its towers (0.17 x 0.17) are the clusters
    rows = np.flatnonzero(FORWARD_ROWS)
    fwd_et = (em_hw[:, rows] + had_hw[:, rows]) * cfg.tower_lsb
    fc, fr, fj = np.nonzero(fwd_et >= cfg.pf_hf_min_pt)
    fi = rows[fr]

    idx = np.flatnonzero(charged)
    n_ne = len(nc) + len(fc)
    cand = PFCandidates(
        crossing=np.concatenate([tracks.crossing[idx], nc, fc]).astype(np.int64),
        pt=np.concatenate([tracks.pt[idx].astype(np.float64), resid[nc, ni, nj],
                           fwd_et[fc, fr, fj]]),
        eta=np.concatenate([tracks.eta[idx].astype(np.float64), t_eta[nc, ni, nj],
                            ETA_CENTERS[fi]]),
        phi=np.concatenate([tracks.phi[idx].astype(np.float64), t_phi[nc, ni, nj],
                            PHI_CENTERS[fj] + 0.5 * PHI_WIDTH]),   # a forward tower spans 2 bins
        z0=np.concatenate([tracks.z0[idx].astype(np.float64), np.zeros(n_ne)]),
        charge=np.concatenate([tracks.charge[idx], np.zeros(n_ne, np.int32)]),
        kind=np.concatenate([np.where(is_mu[idx], MUON, CHARGED),
                             np.where(photon, PHOTON, NEUTRAL),
                             np.full(len(fc), NEUTRAL)]).astype(np.int8),
        track=np.concatenate([idx, np.full(n_ne, -1, np.int64)]))
    order = np.argsort(cand.crossing, kind="stable")
    return cand.select(order), mu_track
