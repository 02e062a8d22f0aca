"""e/γ candidates: 3x3 EM clusters around EM local maxima, with H/E, isolation and track match.

- seed: EM tower ≥ ``eg_seed`` GeV, maximum of its 3x3 window; |η| < ``eg_max_eta``;
- pT: EM ET of the 3x3 cluster; H/E: hadronic over EM ET in the 3x3 window ≤ ``eg_max_hoe``;
- iso: (ET in 7x7 − ET in 3x3 − ρ·40 towers) / pT, ``hwIso`` = 1 when iso < ``eg_iso_cut``;
- ``isEle``: an L1 track with pT ≥ ``eg_track_fraction`` × cluster pT hits the seed tower or its
  φ neighbours (electron); otherwise a photon.
"""
from __future__ import annotations

import numpy as np

from .config import DetectorConfig
from .geometry import ETA_CENTERS
from .objects import calo_candidates
from .windows import box_sum, local_maxima


def find(em_hw, had_hw, rho, track_max, cfg: DetectorConfig):
    """Return (crossing, columns) of e/γ candidates; ``track_max`` is the max track pT per tower."""
    lsb = cfg.tower_lsb
    total = em_hw + had_hw
    em3, had3 = box_sum(em_hw, 3), box_sum(had_hw, 3)
    seeds = local_maxima(em_hw, 3, cfg.eg_seed / lsb)
    seeds &= (np.abs(ETA_CENTERS) < cfg.eg_max_eta)[None, :, None]
    seeds &= em3 * lsb >= cfg.eg_min_pt
    seeds &= had3 <= cfg.eg_max_hoe * em3
    ring = (box_sum(total, 7) - box_sum(total, 3)) * lsb - rho[:, :, None] * 40.0
    iso = np.maximum(ring, 0.0) / np.maximum(em3 * lsb, lsb)
    near_track = np.maximum(track_max, np.maximum(np.roll(track_max, 1, axis=2),
                                                  np.roll(track_max, -1, axis=2)))
    is_ele = near_track >= cfg.eg_track_fraction * em3 * lsb
    cross, cols = calo_candidates(seeds, em3, "L1EG", iso=iso.astype(np.float32), isEle=is_ele)
    cols["hwIso"] = (cols["iso"] < cfg.eg_iso_cut).astype(np.int32)
    return cross, cols
