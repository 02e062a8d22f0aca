"""Calorimeter tower grid in (η, φ).

Central region |η| < 3: 69 η bins of 0.0870 and 72 φ bins of 2π/72 = 0.0873 (the CMS trigger tower
size). Forward region 3 < |η| < 5: 12 η bins of 0.167 per side; there a tower spans two φ bins (0.175
rad) and its energy is put in the even one, so one dense ``(N_ETA, N_PHI)`` array holds everything.
"""
from __future__ import annotations

import numpy as np

N_CENTRAL = 69
N_FORWARD = 12  # per side
N_PHI = 72
ETA_MAX = 5.0
ETA_CENTRAL = 3.0

ETA_EDGES = np.concatenate([
    np.linspace(-ETA_MAX, -ETA_CENTRAL, N_FORWARD + 1)[:-1],
    np.linspace(-ETA_CENTRAL, ETA_CENTRAL, N_CENTRAL + 1),
    np.linspace(ETA_CENTRAL, ETA_MAX, N_FORWARD + 1)[1:],
])
N_ETA = len(ETA_EDGES) - 1  # 93
N_TOWERS = N_ETA * N_PHI
ETA_CENTERS = 0.5 * (ETA_EDGES[1:] + ETA_EDGES[:-1])
PHI_WIDTH = 2 * np.pi / N_PHI
PHI_CENTERS = (np.arange(N_PHI) + 0.5) * PHI_WIDTH - np.pi
#: True for the η rows of the forward calorimeter.
FORWARD_ROWS = np.abs(ETA_CENTERS) > ETA_CENTRAL
#: Signed tower index in η (±1 … ±46, no zero), the hardware η word of calorimeter objects.
HW_ETA = np.where(np.arange(N_ETA) < N_ETA // 2, np.arange(N_ETA) - N_ETA // 2,
                  np.arange(N_ETA) - N_ETA // 2 + 1).astype(np.int32)
HW_ETA[N_ETA // 2] = 0  # the central row straddles η = 0


def tower_index(eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Flat tower index ``ieta * N_PHI + iphi`` for each (η, φ); −1 outside |η| < 5."""
    ieta = np.searchsorted(ETA_EDGES, eta, side="right") - 1
    iphi = np.floor((np.asarray(phi) + np.pi) / PHI_WIDTH).astype(np.int64) % N_PHI
    forward = (ieta >= 0) & (ieta < N_ETA) & FORWARD_ROWS[np.clip(ieta, 0, N_ETA - 1)]
    iphi = np.where(forward, iphi - iphi % 2, iphi)
    inside = (ieta >= 0) & (ieta < N_ETA)
    return np.where(inside, ieta * N_PHI + iphi, -1)
