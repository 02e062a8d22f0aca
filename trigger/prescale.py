"""Prescales with a counter, as the CMS global trigger and L1MenuTools apply them.

A prescale p (two decimals) keeps, of the crossings where the seed fires, the k-th one when
``floor(100 k / P) > floor(100 (k - 1) / P)`` with ``P = round(100 p)``: exactly 1 in p for an
integer p, and the deterministic pattern of the firmware's counter for a fractional one
(p = 1.5 keeps 2 of every 3). p = 0 disables the seed. The counter runs over the whole input in
order, so a chunked or distributed run must pass each chunk the count of firings before it.
"""
from __future__ import annotations

import numpy as np


def prescale_units(prescales) -> np.ndarray:
    """Prescales in units of 1/100 (integers), ``(n_seeds,)``."""
    return np.round(np.asarray(prescales, np.float64) * 100).astype(np.int64)


def apply(fired: np.ndarray, units: np.ndarray, counts_before: np.ndarray) -> np.ndarray:
    """Prescaled decisions ``(N, n_seeds)`` from unprescaled ones, given the firings so far."""
    k = counts_before[None, :] + np.cumsum(fired, axis=0, dtype=np.int64)
    p = np.maximum(units, 1)[None, :]
    kept = fired & ((k * 100) // p > ((k - 1) * 100) // p)
    return kept & (units > 0)[None, :]
