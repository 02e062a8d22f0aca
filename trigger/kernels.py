"""Compiled per-crossing kernels (numba) for the hot path of seed evaluation.

Objects arrive pT-descending, so the k highest objects passing a leg's cuts are found by walking
each crossing's list and stopping after k hits: most crossings touch one to three objects. This is
the awkward + numba idiom for a loop that numpy cannot express without touching every object.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def top_passing(offsets, pt, eta, quality, iso, charge, is_ele, gt_max, eta_max, eta_min,
                min_quality, need_iso, want_charge, need_ele, n):  # pragma: no cover (compiled)
    """pT of the ``n`` highest objects of each crossing passing the cuts, ``(n, N)`` float64
    (row k: the (k+1)-th highest), −inf padded.

    Only the first ``gt_max`` objects of a crossing are seen (the global-trigger inputs).
    Cuts with a sentinel are off: eta_max < 0, eta_min <= 0, min_quality < 0, want_charge == 0.
    """
    n_events = offsets.shape[0] - 1
    out = np.full((n, n_events), -np.inf)
    cut_eta = eta_max >= 0 or eta_min > 0
    cut_other = min_quality >= 0 or need_iso or want_charge != 0 or need_ele
    for e in range(n_events):
        start = offsets[e]
        stop = min(offsets[e + 1], start + gt_max)
        found = 0
        for k in range(start, stop):
            if cut_eta:
                a = abs(eta[k])
                if (eta_max >= 0 and a >= eta_max) or (eta_min > 0 and a < eta_min):
                    continue
            if cut_other:
                if min_quality >= 0 and quality[k] < min_quality:
                    continue
                if need_iso and iso[k] != 1:
                    continue
                if want_charge != 0 and charge[k] != want_charge:
                    continue
                if need_ele and not is_ele[k]:
                    continue
            out[found, e] = pt[k]
            found += 1
            if found == n:
                break
    return out


@numba.njit(cache=True, nogil=True)
def is_descending(offsets, pt):  # pragma: no cover (compiled)
    """True if ``pt`` is non-increasing within every crossing."""
    for e in range(offsets.shape[0] - 1):
        for k in range(offsets[e] + 1, offsets[e + 1]):
            if pt[k] > pt[k - 1]:
                return False
    return True


@numba.njit(cache=True, nogil=True)
def first_of_type(offsets, types, values, code):  # pragma: no cover (compiled)
    """Value of the first entry with ``types == code`` in each crossing, 0 where none, ``(N,)``."""
    n_events = offsets.shape[0] - 1
    out = np.zeros(n_events)
    for e in range(n_events):
        for k in range(offsets[e], offsets[e + 1]):
            if types[k] == code:
                out[e] = values[k]
                break
    return out
