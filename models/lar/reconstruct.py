"""The optimal filter run over sample sequences: an ET per channel and crossing, the bunch-crossing
assignment by a peak finder, and the noise + pileup autocorrelation the filter is built from."""
from __future__ import annotations

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.datasets.lar.pulse import SAMPLE_NS
from l1t.datasets.lar.sequences import LArSequences

from .optimal_filter import OptimalFilter


def window_offset(of: OptimalFilter, seq: LArSequences) -> int:
    """Samples between a deposit's crossing and the filter's first sample (the filter's first
    sample time must fall on a sample of the sequences)."""
    shift = (of.first_sample_ns - (seq.config.phase_ns - SAMPLE_NS)) / SAMPLE_NS
    if abs(shift - round(shift)) > 1e-6 or of.sample_ns != SAMPLE_NS:
        raise L1TInputError("optimal filter", f"its first sample at {of.first_sample_ns:g} ns "
                            f"does not fall on the sequences' samples (phase "
                            f"{seq.config.phase_ns:g} ns, every {SAMPLE_NS:g} ns)",
                            "first_sample_ns")
    return int(round(shift))


def of_energies(seq: LArSequences, of: OptimalFilter) -> np.ndarray:
    """``(channels, crossings)`` OF amplitude in GeV for a deposit at each crossing (the last
    crossings, whose window runs past the sequence, are 0)."""
    e = seq.energy_mev()
    n = len(of.a)
    off = window_offset(of, seq)
    windows = np.lib.stride_tricks.sliding_window_view(e, n, axis=1)   # (C, B - n + 1, n)
    amp = windows @ of.a / 1000.0
    out = np.zeros(e.shape)
    lo = max(0, -off)
    hi = min(e.shape[1], amp.shape[1] - off)
    out[:, lo:hi] = amp[:, lo + off:hi + off]
    return out


def peak_finder(energies: np.ndarray, threshold_gev: float = 0.0) -> np.ndarray:
    """The bunch-crossing assignment: a crossing keeps its ET where it is above
    ``threshold_gev`` and a local maximum in time (above the crossing before, at least the one
    after); elsewhere 0."""
    e = np.asarray(energies, np.float64)
    before = np.pad(e, ((0, 0), (1, 0)), constant_values=-np.inf)[:, :-1]
    after = np.pad(e, ((0, 0), (0, 1)), constant_values=-np.inf)[:, 1:]
    keep = (e > threshold_gev) & (e > before) & (e >= after)
    return np.where(keep, e, 0.0)


def autocorrelation(seq: LArSequences, n: int) -> np.ndarray:
    """The ``n × n`` autocorrelation of the samples (noise + pileup, MeV²) measured on the filled
    crossings of ``seq``: R_ij = r(|i − j|), r(k) the covariance of samples k apart, over
    channels and crossings whose window lies within the filled crossings."""
    e = seq.energy_mev()
    inside = np.lib.stride_tricks.sliding_window_view(seq.filled, n).all(axis=1)
    w = np.lib.stride_tricks.sliding_window_view(e, n, axis=1)[:, inside]   # (C, M, n)
    if w.shape[1] < 2:
        raise L1TInputError("lar", f"too few filled crossings for a {n}-sample autocorrelation",
                            "filled")
    x = w.reshape(-1, n)
    x = x - x.mean(axis=0)
    cov = x.T @ x / (len(x) - 1)
    r = np.array([np.mean(np.diagonal(cov, k)) for k in range(n)])
    idx = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    return r[idx]
