"""τ candidates: narrow 3x3 clusters of total (EM + hadronic) ET around local maxima.

- seed: tower ≥ ``tau_seed`` GeV, maximum of its 3x3 window, |η| < ``tau_max_eta``;
- pT: ET in the 3x3 window minus its expected pileup 9·ρ(η); iso: (ET in 9x9 − ET in 3x3 − ρ·72 towers) / pT,
  ``hwIso`` = 1 when iso < ``tau_iso_cut``.
"""
from __future__ import annotations

import numpy as np

from .config import DetectorConfig
from .geometry import ETA_CENTERS
from .objects import calo_candidates
from .windows import box_sum, local_maxima


def find(total_hw, rho, cfg: DetectorConfig):
    lsb = cfg.tower_lsb
    t3 = box_sum(total_hw, 3)
    t3 = np.maximum(t3 - np.floor(9.0 * rho / lsb + 0.5).astype(np.int64)[:, :, None], 0)
    seeds = local_maxima(total_hw, 3, cfg.tau_seed / lsb)
    seeds &= (np.abs(ETA_CENTERS) < cfg.tau_max_eta)[None, :, None]
    seeds &= t3 * lsb >= cfg.tau_min_pt
    ring = (box_sum(total_hw, 9) - box_sum(total_hw, 3)) * lsb - rho[:, :, None] * 72.0
    iso = np.maximum(ring, 0.0) / np.maximum(t3 * lsb, lsb)
    cross, cols = calo_candidates(seeds, t3, "L1Tau", iso=iso.astype(np.float32))
    cols["hwIso"] = (cols["iso"] < cfg.tau_iso_cut).astype(np.int32)
    return cross, cols
