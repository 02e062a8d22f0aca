"""Jets: a 9x9-tower (0.78 x 0.79) sliding window around local maxima, pileup subtracted.

- seed: tower ≥ ``jet_seed`` GeV, maximum of its 9x9 window (ties broken by position);
- pileup: the "chunky donut" of the CMS Phase-1 jet finder: four 3x9 strips just outside the
  window (above and below in η, left and right in φ); the window's pileup is the mean ET density
  of the three lowest strips times the window's area (in the central region: the sum of the three
  strips, each a third of the window), so a neighbouring jet in one strip does not bias it. Areas
  are η–φ areas of live towers (forward towers are wider in η and fill one of their two φ
  bins); strips beyond |η| = 5 are left out;
- pT: window ET minus pileup; jets with pT ≥ ``jet_min_pt`` are kept.
"""
from __future__ import annotations

import numpy as np

from .config import DetectorConfig
from .geometry import ETA_EDGES, FORWARD_ROWS, N_ETA, N_PHI
from .objects import calo_candidates
from .windows import box_sum, local_maxima, shift


def _strips(grid: np.ndarray, w: int) -> np.ndarray:
    """Sums over the four 3x9 strips around each tower's 9x9 window, ``(4, N, N_ETA, N_PHI)``."""
    off = w // 2 + 2  # strips of 3 rows/columns, centred 2 beyond the window edge
    along_phi = box_sum(grid, 3, w)   # 3 (η) x 9 (φ)
    along_eta = box_sum(grid, w, 3)   # 9 (η) x 3 (φ)
    return np.stack([shift(along_phi, off, 0), shift(along_phi, -off, 0),
                     shift(along_eta, 0, off), shift(along_eta, 0, -off)])


# η–φ area of each tower bin (in central-tower units): pileup ET is roughly flat per unit η, and
# forward bins are wider in η; the odd φ bins of a forward tower are not read out (area 0).
_LIVE = ((~(FORWARD_ROWS[:, None] & (np.arange(N_PHI)[None, :] % 2 == 1)))
         * (np.diff(ETA_EDGES) / np.diff(ETA_EDGES)[N_ETA // 2])[:, None])[None]


def find(total_hw, cfg: DetectorConfig):
    lsb, w = cfg.tower_lsb, cfg.jet_window
    raw = box_sum(total_hw, w)
    strips = _strips(total_hw.astype(np.int64), w).astype(np.float64)
    area = _strips(_LIVE, w)
    # A strip beyond |η| = 5 has no towers: it measures nothing, so it never counts as lowest.
    density = np.where(area > 1e-9, strips / np.maximum(area, 1.0), np.inf)
    order = np.argsort(density, axis=0)[:3]
    lowest3 = np.take_along_axis(density, order, axis=0)
    area3 = np.where(np.isfinite(lowest3), np.take_along_axis(area, order, axis=0), 0.0)
    lowest3 = np.where(np.isfinite(lowest3), lowest3, 0.0)
    # Mean density of the three lowest strips (area-weighted) times the window's live area.
    rho = (lowest3 * area3).sum(axis=0) / np.maximum(area3.sum(axis=0), 1.0)
    pileup = np.floor(rho * box_sum(_LIVE, w) + 0.5).astype(np.int64)
    corrected = np.maximum(raw - pileup, 0)
    seeds = local_maxima(total_hw, w, cfg.jet_seed / lsb)
    seeds &= corrected * lsb >= cfg.jet_min_pt
    return calo_candidates(seeds, corrected, "L1Jet")
