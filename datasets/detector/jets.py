"""Jets: a 9x9-tower (0.78 x 0.79) sliding window around local maxima, pileup subtracted.

- seed: tower ≥ ``jet_seed`` GeV, maximum of its 9x9 window (ties broken by position);
- pileup: the "chunky donut" of the CMS Phase-1 jet finder: four 3x9 strips just outside the
  window (above and below in η, left and right in φ); the window's pileup is the sum of the three
  lowest strips (each strip has a third of the window's area), so a neighbouring jet in one strip
  does not bias it;
- pT: window ET minus pileup; jets with pT ≥ ``jet_min_pt`` are kept.
"""
from __future__ import annotations

import numpy as np

from .config import DetectorConfig
from .objects import calo_candidates
from .windows import box_sum, local_maxima, shift


def find(total_hw, cfg: DetectorConfig):
    lsb, w = cfg.tower_lsb, cfg.jet_window
    raw = box_sum(total_hw, w)
    off = w // 2 + 2  # strips of 3 rows/columns, centred 2 beyond the window edge
    along_phi = box_sum(total_hw, 3, w)   # 3 (η) x 9 (φ)
    along_eta = box_sum(total_hw, w, 3)   # 9 (η) x 3 (φ)
    strips = np.stack([shift(along_phi, off, 0), shift(along_phi, -off, 0),
                       shift(along_eta, 0, off), shift(along_eta, 0, -off)])
    pileup = strips.sum(axis=0) - strips.max(axis=0)
    corrected = np.maximum(raw - pileup, 0)
    seeds = local_maxima(total_hw, w, cfg.jet_seed / lsb)
    seeds &= corrected * lsb >= cfg.jet_min_pt
    return calo_candidates(seeds, corrected, "L1Jet")
