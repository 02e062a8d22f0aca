"""Prescales with a counter, as the CMS global trigger and L1MenuTools apply them.

A prescale p (two decimals) keeps, of the crossings where the seed fires, the k-th one when
``floor(100 k / P) > floor(100 (k - 1) / P)`` with ``P = round(100 p)``: exactly 1 in p for an
integer p, and the deterministic pattern of the firmware's counter for a fractional one
(p = 1.5 keeps 2 of every 3). p = 0 disables the seed. The counter runs over the whole input in
order, so a chunked or distributed run must start each chunk where the previous one ended
(:class:`PrescaleCounters` carries that state).
"""
from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class PrescaleCounters:
    """The prescale counters of a menu's seeds: ``units`` (prescales × 100, ``(S,)``) and the
    unprescaled firings counted so far (``(S,)``)."""

    units: np.ndarray
    fired: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        self.units = np.asarray(self.units, np.int64)
        self.fired = (np.zeros(len(self.units), np.int64) if self.fired is None
                      else np.array(self.fired, np.int64))

    @classmethod
    def of(cls, menu, start: np.ndarray | None = None) -> "PrescaleCounters":
        """Counters for ``menu``'s seeds, starting after ``start`` firings (default none)."""
        return cls(prescale_units([s.prescale for s in menu.seeds]), start)

    def apply(self, fired: np.ndarray) -> np.ndarray:
        """Prescaled decisions ``(N, S)`` of the next ``N`` crossings' unprescaled ``fired``;
        the counters advance past them."""
        kept = apply(fired, self.units, self.fired)
        self.fired += fired.sum(axis=0)
        return kept
