"""Flat object lists (one entry per candidate, with its crossing index) → awkward collections."""
from __future__ import annotations

import awkward as ak
import numpy as np

from ..schema import COLLECTIONS, PHASE2_COLLECTIONS
from .geometry import ETA_CENTERS, HW_ETA, N_PHI, PHI_CENTERS

#: Saturation of the pT word per collection, in bits (CMS Phase-1 widths, wider sums for PU 200; 0.5 GeV LSB).
PT_BITS = {"L1Mu": 9, "L1EG": 9, "L1Tau": 9, "L1Jet": 11, "L1EtSum": 16}
PT_LSB = 0.5


def saturate(hw: np.ndarray, bits: int) -> np.ndarray:
    """Clip non-negative integer words to ``bits`` bits."""
    return np.clip(hw, 0, (1 << bits) - 1).astype(np.int32)


def calo_candidates(mask: np.ndarray, hw_pt: np.ndarray, name: str, **extra: np.ndarray):
    """Candidates at the towers where ``mask`` is set: crossing, position words and pT."""
    cross, ieta, iphi = np.nonzero(mask)
    hw = saturate(hw_pt[cross, ieta, iphi], PT_BITS[name])
    cols = {"pt": (hw * PT_LSB).astype(np.float32),
            "eta": ETA_CENTERS[ieta].astype(np.float32),
            "phi": PHI_CENTERS[iphi].astype(np.float32),
            "hwPt": hw, "hwEta": HW_ETA[ieta], "hwPhi": iphi.astype(np.int32)}
    for key, grid in extra.items():
        cols[key] = grid[cross, ieta, iphi]
    return cross, cols


def to_collection(name: str, crossing: np.ndarray, cols: dict[str, np.ndarray],
                  n_cross: int) -> ak.Array:
    """Sort by crossing then decreasing pT, cast to the schema dtypes, one list per crossing."""
    order = np.lexsort((-np.asarray(cols.get("pt", np.zeros(len(crossing)))), crossing))
    spec = COLLECTIONS.get(name) or PHASE2_COLLECTIONS[name]
    data = {}
    for field, dtype in spec.items():
        if field == "bx":
            data[field] = np.zeros(len(crossing), np.int32)
        else:
            data[field] = np.asarray(cols[field])[order].astype(dtype)
    return ak.unflatten(ak.zip(data), np.bincount(crossing, minlength=n_cross))


def phi_word(phi: np.ndarray) -> np.ndarray:
    """Calorimeter φ word (2π/72 units, 0…71) of an angle in rad."""
    return (np.floor((np.asarray(phi) + np.pi) / (2 * np.pi / N_PHI)).astype(np.int64)
            % N_PHI).astype(np.int32)


__all__ = ["PT_BITS", "PT_LSB", "saturate", "calo_candidates", "to_collection", "phi_word",
           "PHI_CENTERS"]
