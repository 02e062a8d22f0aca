"""Sliding windows on the tower grid ``(N, N_ETA, N_PHI)``: φ wraps around, η is zero padded.

Integer inputs give exact integer sums, as the firmware's adders do.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .geometry import N_ETA, N_PHI


def box_sum(grid: np.ndarray, size: int, size_phi: int | None = None) -> np.ndarray:
    """Sum over the ``size`` (η) x ``size_phi`` (φ, default ``size``) towers centred on each
    tower (sizes odd)."""
    sp = size if size_phi is None else size_phi
    h, hp = size // 2, sp // 2
    padded = np.pad(grid, ((0, 0), (h, h), (0, 0)))
    if hp:
        padded = np.concatenate([padded[:, :, -hp:], padded, padded[:, :, :hp]], axis=2)
    acc = padded.astype(np.int64 if grid.dtype.kind in "iu" else np.float64)
    c = np.zeros((acc.shape[0], acc.shape[1] + 1, acc.shape[2] + 1), acc.dtype)
    np.cumsum(np.cumsum(acc, axis=1), axis=2, out=c[:, 1:, 1:])
    out = c[:, size:, sp:] - c[:, :-size, sp:] - c[:, size:, :-sp] + c[:, :-size, :-sp]
    return out.astype(grid.dtype)


def shift(grid: np.ndarray, d_eta: int, d_phi: int) -> np.ndarray:
    """``out[:, i, j] = grid[:, i + d_eta, j + d_phi]``; zero beyond the η edges, φ wraps."""
    out = np.roll(grid, -d_phi, axis=2)
    if d_eta > 0:
        out = np.concatenate([out[:, d_eta:], np.zeros_like(out[:, :d_eta])], axis=1)
    elif d_eta < 0:
        out = np.concatenate([np.zeros_like(out[:, d_eta:]), out[:, :d_eta]], axis=1)
    return out


def local_maxima(grid: np.ndarray, size: int, threshold: float) -> np.ndarray:
    """Mask of towers ≥ ``threshold`` that are the maximum of their ``size x size`` window.

    Ties are broken by tower position (the lower index wins), so two equal neighbours never
    both seed, as in the firmware's asymmetric comparisons.
    """
    rank = (N_ETA * N_PHI - 1) - np.arange(N_ETA * N_PHI, dtype=np.int64).reshape(N_ETA, N_PHI)
    key = grid.astype(np.int64) * (N_ETA * N_PHI) + rank
    key = np.where(grid >= threshold, key, -1)
    peak = ndimage.maximum_filter(key, size=(1, size, size), mode=("constant", "constant", "wrap"),
                                  cval=-1)
    return (key == peak) & (key >= 0)
