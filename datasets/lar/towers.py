"""EM tower energies of the calorimeter trigger from a LAr reconstruction of their samples.

Instead of measuring each EM tower's ET directly (``ideal``: resolution and noise,
:mod:`l1t.datasets.detector.calo`), every EM tower of a crossing k gets its own 40 MHz sample
stream: the crossing's in-time EM deposit at k, pileup deposits at the :data:`HISTORY` crossings
before and the :data:`FUTURE` after it (Poisson(⟨μ⟩) interactions each, drawn from the min-bias
EM spectrum of the tower's η row, :func:`spectra_of`), the pulse shape, noise, jitter and the ADC
(:mod:`.sequences`). A reconstruction (the optimal filter or a LAr net in firmware: anything with
the :class:`Reconstruction` interface) turns the stream into ET per crossing; the tower reads
the value at crossing k. The crossing sits deep in a bunch train: all earlier slots are filled.

Pileup pedestal: every reconstruction answers a tower holding only pileup with a mean offset —
the filter negative (the undershoots of earlier pulses), a net positive (its estimate of the
in-time pileup it cannot tell from noise: about +0.6 GeV per tower at ⟨μ⟩ = 200). Summed over a
3×3 e/γ cluster that moves every cluster by several GeV, so the towers read the reconstruction
minus its mean response to pileup-only towers of that η row at that ⟨μ⟩ (:func:`pileup_pedestal`,
measured on :data:`PEDESTAL_CHANNELS` streams per row; an estimate of the pedestal correction a
calorimeter trigger applies): a pileup-only tower averages 0 and the zero suppression removes
most of it, as for the ideal measurement.

The reconstruction object comes from the caller (``l1t generate --lar``), which owns the models
and the firmware; this module only builds the streams.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from l1t.core.errors import L1TInputError

from ..detector.geometry import FORWARD_ROWS, N_ETA, N_PHI
from ..ragged import Ragged
from .pulse import PulseShape
from .sequences import LArConfig, LArSequences, em_spectrum, simulate_rows

#: crossings before k whose pileup pulses reach k's samples (the pulse lasts 24 samples)
HISTORY = 24
#: crossings after k: the optimal filter and the window nets read up to sample k + 5
FUTURE = 5
#: crossings reconstructed at once (memory: 70 × 4968 towers × 30 samples of float64)
BATCH = 70
#: pileup-only streams per η row measuring the pedestal (20 × 72: ~0.07 GeV error for the
#: filter's ~3 GeV spread)
PEDESTAL_CHANNELS = 20 * N_PHI


class Reconstruction(Protocol):
    """A LAr reconstruction: ET ``(channels, crossings)`` in GeV of sample streams."""

    def __call__(self, seq: LArSequences) -> np.ndarray: ...

    def describe(self) -> dict: ...


#: spectra without pileup (a production at <mu> = 0 draws no interaction)
EMPTY_SPECTRA = {int(r): np.zeros(1) for r in np.flatnonzero(~FORWARD_ROWS)}


def spectra_of(deposits: Ragged) -> dict[int, np.ndarray]:
    """The EM spectrum (:func:`em_spectrum`) of every η row with an EM calorimeter, from the
    deposits of min-bias interactions (the pileup pool)."""
    return {int(r): em_spectrum(deposits, int(r)) for r in np.flatnonzero(~FORWARD_ROWS)}


def _streams(deposits: np.ndarray, rows: np.ndarray, spectra, mu, pulse, rng, cfg,
             in_time_pileup: bool) -> LArSequences:
    """Streams of HISTORY + 1 + FUTURE crossings whose crossing HISTORY holds ``deposits``
    (GeV, one per channel) and, if ``in_time_pileup``, its own pileup drawn too."""
    n_bx = HISTORY + 1 + FUTURE
    filled = np.ones(n_bx, bool)
    filled[HISTORY] = in_time_pileup
    signal = np.zeros((len(deposits), n_bx))
    signal[:, HISTORY] = np.maximum(deposits, 0.0)
    return simulate_rows(filled, rows, spectra, mu, pulse, rng, cfg, signal)


def pileup_pedestal(reconstruct: Reconstruction, spectra: dict[int, np.ndarray], mu: float,
                    rng: np.random.Generator, pulse: PulseShape | None = None,
                    cfg: LArConfig = LArConfig()) -> np.ndarray:
    """``(93,)`` GeV: the mean reconstructed ET of towers holding only pileup (in time and out
    of time), per η row; 0 for the forward rows."""
    rows = np.flatnonzero(~FORWARD_ROWS)
    ch_rows = np.repeat(rows, PEDESTAL_CHANNELS)
    seq = _streams(np.zeros(len(ch_rows)), ch_rows, spectra, mu, pulse or PulseShape.analytic(),
                   rng, cfg, in_time_pileup=True)
    et = np.asarray(reconstruct(seq))[:, HISTORY]
    out = np.zeros(N_ETA)
    out[rows] = et.reshape(len(rows), PEDESTAL_CHANNELS).mean(axis=1)
    return out


def reconstructed_em(em: np.ndarray, *, mu: float, spectra: dict[int, np.ndarray],
                     reconstruct: Reconstruction, rng: np.random.Generator,
                     pulse: PulseShape | None = None, cfg: LArConfig = LArConfig()) -> np.ndarray:
    """EM tower ET ``(N, 93, 72)`` GeV reconstructed from their sample streams, minus the
    reconstruction's pileup pedestal (module docstring); ``em``: the in-time EM deposits
    ``(N, 93, 72)`` GeV (after the shower's sampling fluctuations; forward rows are left as they
    are)."""
    em = np.asarray(em, np.float64)
    if em.ndim != 3 or em.shape[1:] != (N_ETA, N_PHI):
        raise L1TInputError("lar", f"EM towers are (N, {N_ETA}, {N_PHI}), got {em.shape}", "em")
    rows = np.flatnonzero(~FORWARD_ROWS)
    pulse = pulse or PulseShape.analytic()
    pedestal = pileup_pedestal(reconstruct, spectra, mu, rng, pulse, cfg)[rows]
    out = em.copy()
    ch_rows = np.repeat(rows, N_PHI)
    for start in range(0, len(em), BATCH):
        part = em[start:start + BATCH][:, rows, :].reshape(-1)          # (n × towers,)
        n = len(part) // len(ch_rows)
        # the crossing's own pileup is in its deposits: not drawn again
        seq = _streams(part, np.tile(ch_rows, n), spectra, mu, pulse, rng, cfg,
                       in_time_pileup=False)
        et = np.asarray(reconstruct(seq))[:, HISTORY].reshape(n, len(rows), N_PHI)
        out[start:start + n][:, rows, :] = et - pedestal[None, :, None]
    return out

