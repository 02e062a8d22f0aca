"""PUPPI weights of PF candidates, as the Phase-2 correlator's LinearizedPuppi.

Charged candidates: weight 1 when their z0 lies within ``dz`` of the primary vertex (the
region's ΔZ), 0 otherwise (they are removed). Neutral candidates in the tracker's reach
(|η| < 2.5): the local shape α = ln Σ_j min(pT_j, ptMax)² / max(ΔR², ΔR²_min) over the tracks
from the vertex (|Δz| ≤ dz) within ΔR ≤ ``puppi_dr``; beyond |η| = 2.5 (no tracks) over the
other neutral candidates. Then x = clip(αslope (α − α0), ±crop) + ptslope (pT − pT0) − prior
and the weight 1 / (1 + e⁻ˣ) (photons have their own pT0, slope and prior); a neutral whose
weighted pT is below the region's ptCut is removed.

Region parameters: CMSSW ``L1Trigger/Phase2L1ParticleFlow/python/l1ctLayer1_cff.py``
(l1tLayer1Barrel, l1tLayer1HGCal with its two |η| bins, l1tLayer1HGCalNoTK, l1tLayer1HF) and
the weight formula of ``linpuppi_ref.cpp`` (``sum2puppiPt_flt``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import DetectorConfig
from .kernels import alpha_sums, linpuppi_weights
from .pf import PHOTON, PFCandidates
from .tracks import L1Tracks, offsets_of
from .vertex import Vertices, usable


@dataclass(frozen=True)
class Region:
    eta_max: float       # |η| upper edge
    dz: float            # cm (regions with tracks)
    dr_min: float
    pt_max: float
    pt_cut: float
    pt_slope: float
    pt_slope_photon: float
    pt_zero: float
    pt_zero_photon: float
    alpha_slope: float
    alpha_zero: float
    alpha_crop: float
    prior: float
    prior_photon: float
    tracks: bool         # α from vertex tracks (else from the other neutrals)


REGIONS = (
    Region(1.5, 0.5, 0.07, 50.0, 1.0, 0.3, 0.3, 4.0, 2.5, 0.7, 6.0, 4.0, 5.0, 1.0, True),
    Region(2.0, 1.33, 0.04, 50.0, 1.0, 0.3, 0.4, 5.0, 3.0, 1.5, 6.0, 3.0, 5.0, 1.5, True),
    Region(2.5, 1.33, 0.04, 50.0, 2.0, 0.3, 0.4, 7.0, 4.0, 1.5, 6.0, 3.0, 5.0, 1.5, True),
    Region(3.0, 1.33, 0.04, 50.0, 4.0, 0.3, 0.4, 9.0, 5.0, 2.2, 9.0, 4.0, 7.0, 5.0, False),
    Region(99.0, 1.33, 0.1, 100.0, 10.0, 0.25, 0.25, 14.0, 14.0, 0.6, 9.0, 4.0, 6.0, 6.0, False),
)
_TABLE = {name: np.array([getattr(r, name) for r in REGIONS], np.float64)
          for name in Region.__dataclass_fields__}


def region_of(eta: np.ndarray) -> np.ndarray:
    """Index into :data:`REGIONS` of each |η|."""
    return np.searchsorted(_TABLE["eta_max"], np.abs(eta), side="right").clip(0, len(REGIONS) - 1)


def weights(cand: PFCandidates, tracks: L1Tracks, vertices: Vertices, n_cross: int,
            cfg: DetectorConfig) -> np.ndarray:
    """PUPPI weight of each candidate in [0, 1] (0: removed), ``(len(cand),)``."""
    t = _TABLE
    w = np.zeros(len(cand.pt))
    reg = region_of(cand.eta)
    ch = cand.charged
    dz = cand.z0[ch] - vertices.z0[cand.crossing[ch]]
    w[ch] = (np.abs(dz) <= t["dz"][reg[ch]]).astype(np.float64)

    ne = np.flatnonzero(~ch)
    r = reg[ne]
    eta, phi, pt, cross = cand.eta[ne], cand.phi[ne], cand.pt[ne], cand.crossing[ne]
    central = t["tracks"][r] > 0
    f = ~central
    s = np.zeros(len(ne))
    dr2max = cfg.puppi_dr ** 2
    region_cols = (t["dz"], t["dr_min"] ** 2, t["pt_max"])
    # central neutrals: the vertex tracks around them (only tracks that can pass some region's
    # Δz cut enter the pair loop)
    t_dz = (tracks.z0 - vertices.z0[tracks.crossing]).astype(np.float64)
    near = usable(tracks, cfg) & (np.abs(t_dz) <= t["dz"][t["tracks"] > 0].max())
    s[central] = alpha_sums(
        offsets_of(cross[central], n_cross), eta[central], phi[central], r[central],
        offsets_of(tracks.crossing[near], n_cross), tracks.eta[near].astype(np.float64),
        tracks.phi[near].astype(np.float64), tracks.pt[near].astype(np.float64), t_dz[near],
        *region_cols, dr2max, False)
    # forward neutrals: the other forward neutrals around them (no Δz: every reference passes)
    off_f = offsets_of(cross[f], n_cross)
    no_dz = (np.full(len(REGIONS), np.inf), *region_cols[1:])
    s[f] = alpha_sums(off_f, eta[f], phi[f], r[f], off_f, eta[f], phi[f], pt[f],
                      np.zeros(int(f.sum())), *no_dz, dr2max, True)
    w[ne] = linpuppi_weights(s, pt, cand.kind[ne] == PHOTON, r, t["alpha_slope"],
                             t["alpha_zero"], t["alpha_crop"], t["pt_slope"],
                             t["pt_slope_photon"], t["pt_zero"], t["pt_zero_photon"],
                             t["prior"], t["prior_photon"], t["pt_cut"])
    return w
