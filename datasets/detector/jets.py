"""Jets: a 9x9-tower (0.78 x 0.79 in the central region) sliding window around local maxima,
pileup subtracted.

- seed: tower ≥ ``jet_seed`` GeV, maximum of its 9x9 window (ties broken by position);
- pileup: for each of the window's 9 η rows, the mean ET per live tower of that row *outside* the
  window's 9 φ bins (an η ring without the jet), times the window's live towers in the row. The
  ring follows the steep η dependence of pileup (forward towers are wider) and the jet does not
  subtract itself; a second jet in the same rows adds ~1/63 of its ET to the estimate;
- pT: window ET minus pileup; jets with pT ≥ ``jet_min_pt`` are kept. No jet energy calibration
  is applied: the response vs generator jets is measured by ``l1t jet-response``.
"""
from __future__ import annotations

import numpy as np

from .config import DetectorConfig
from .geometry import FORWARD_ROWS, N_PHI
from .objects import calo_candidates
from .windows import box_sum, local_maxima

# Towers that are read out: a forward tower spans two φ bins and fills only the even one.
_LIVE = (~(FORWARD_ROWS[:, None] & (np.arange(N_PHI)[None, :] % 2 == 1)))[None].astype(np.int64)


def ring_pileup(total_hw: np.ndarray, w: int) -> np.ndarray:
    """Expected pileup (tower-LSB units, float) in the ``w x w`` window around every tower."""
    row_sum = total_hw.sum(axis=2, dtype=np.int64)[:, :, None]
    row_live = _LIVE.sum(axis=2)[:, :, None]
    win_row = box_sum(total_hw.astype(np.int64), 1, w)
    win_live = box_sum(_LIVE, 1, w)
    density = (row_sum - win_row) / np.maximum(row_live - win_live, 1)
    return box_sum(density * win_live, w, 1)


def find(total_hw, cfg: DetectorConfig):
    lsb, w = cfg.tower_lsb, cfg.jet_window
    raw = box_sum(total_hw, w)
    pileup = np.floor(ring_pileup(total_hw, w) + 0.5).astype(np.int64)
    corrected = np.maximum(raw - pileup, 0)
    seeds = local_maxima(total_hw, w, cfg.jet_seed / lsb)
    seeds &= corrected * lsb >= cfg.jet_min_pt
    return calo_candidates(seeds, corrected, "L1Jet")
