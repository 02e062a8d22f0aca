"""Continuous 40 MHz sample sequences of LAr channels with in-time and out-of-time pileup.

A channel here is the EM part of one trigger tower of the detector (η row ``ieta``). Every
filled bunch crossing brings Poisson(⟨μ⟩) interactions, each depositing in the channel an ET drawn
from our own min-bias events at that η (:func:`em_spectrum`: the digitised pool's EM tower ET per
interaction, zeros included); empty slots of the filling scheme bring nothing, so the pileup a
crossing sees from earlier ones depends on where it sits in the bunch train. A deposit E at
crossing k adds E · g((j − k) · 25 ns + φ) to sample j (the pulse of :mod:`.pulse`; the phase φ
puts sample k + 1 one sample after the deposit's crossing, see :data:`LArConfig.phase_ns`); each
sample is taken with a Gaussian phase jitter (first order: + δ · E g'), gets white electronic
noise and is digitised by an ADC with a pedestal, a gain (MeV per count) and saturation.

Returned per channel and crossing: the ADC codes and the truth ET of that crossing's deposits.
Nothing here is a per-crossing Python loop: the deposits are summed with ``np.add.at`` and the
pulse train is one FFT convolution per sequence set.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l1t.core.errors import L1TInputError

from ..detector.geometry import N_PHI
from ..ragged import Ragged
from .pulse import SAMPLE_NS, PulseShape

#: pulse samples kept after a deposit: past the drift time and the undershoot's tail
PULSE_SAMPLES = 24


@dataclass(frozen=True)
class LArConfig:
    """Electronics of a channel (all estimates for a trigger-tower-sized EM channel: no public
    figure fits this simplified channel; chosen so that noise, pileup and the ADC range are of
    the sizes ATLAS describes, ../shared/NOTES.md "LAr references")."""

    noise_mev: float = 100.0      # electronic noise per sample (estimate)
    adc_lsb_mev: float = 25.0     # gain: MeV per ADC count (estimate)
    adc_bits: int = 12            # ADC range 0 … 4095 (estimate; ATLAS digitises with 12 bits)
    pedestal: int = 1000          # ADC counts without signal (estimate)
    jitter_ns: float = 0.5        # RMS sampling-phase jitter (estimate)
    #: the deposit's crossing k is sampled at −25 ns + this phase, sample k + 1 at the phase:
    #: one sample before the peak of the analytic pulse (29 ns) and the next ones on its tail
    phase_ns: float = 4.0

    def check(self) -> "LArConfig":
        for name in ("noise_mev", "jitter_ns"):
            if not getattr(self, name) >= 0:
                raise L1TInputError("lar", f"{name} must be >= 0", name)
        if not self.adc_lsb_mev > 0 or not 1 <= self.adc_bits <= 16:
            raise L1TInputError("lar", "the ADC needs a positive gain and 1..16 bits", "adc_bits")
        if not 0 <= self.pedestal < (1 << self.adc_bits):
            raise L1TInputError("lar", "the pedestal lies outside the ADC range", "pedestal")
        return self


@dataclass(frozen=True)
class LArSequences:
    """``adc`` (channels, crossings) int32 codes; ``truth_et`` (channels, crossings) float64 GeV
    deposited in each crossing; ``filled`` (crossings,) the filling scheme; ``config``."""

    adc: np.ndarray
    truth_et: np.ndarray
    filled: np.ndarray
    config: LArConfig

    def energy_mev(self) -> np.ndarray:
        """Pedestal-subtracted samples in MeV (float64, same shape as ``adc``)."""
        return (self.adc.astype(np.float64) - self.config.pedestal) * self.config.adc_lsb_mev


def em_spectrum(deposits: Ragged, ieta: int) -> np.ndarray:
    """The EM ET (GeV) one interaction leaves in one tower of η row ``ieta``: one value per
    interaction of ``deposits`` (the digitised pool) and φ tower, zeros included."""
    tower = np.asarray(deposits.columns["tower"], np.int64)
    em = np.asarray(deposits.columns["em"], np.float64)
    interaction = np.repeat(np.arange(len(deposits)), np.diff(deposits.offsets))
    sel = tower // N_PHI == ieta
    out = np.zeros(len(deposits) * N_PHI)
    np.add.at(out, interaction[sel] * N_PHI + tower[sel] % N_PHI, em[sel])
    return out


#: the LHC's nominal bunch train: 72 filled slots (one SPS batch) and 8 empty ones for the
#: injection kicker (LHC Design Report, CERN-2004-003-V-1, ch. 2)
TRAIN_FILLED, TRAIN_GAP = 72, 8


def trains(n_bx: int, filled: int = TRAIN_FILLED, gap: int = TRAIN_GAP) -> np.ndarray:
    """A filling pattern of ``n_bx`` slots: trains of ``filled`` bunches and ``gap`` empty
    slots, starting with a gap (so the first train starts with no earlier pulses)."""
    period = np.r_[np.zeros(gap, bool), np.ones(filled, bool)]
    return np.resize(period, n_bx)


def simulate_rows(filled: np.ndarray, rows: np.ndarray, spectra: dict[int, np.ndarray],
                  mu: float, pulse: PulseShape, rng: np.random.Generator,
                  cfg: LArConfig = LArConfig(), signal: np.ndarray | None = None) -> LArSequences:
    """:func:`simulate` for channels in several η rows: channel c draws its pileup from
    ``spectra[rows[c]]``. One :func:`simulate` call per row (not per channel)."""
    rows = np.asarray(rows, np.int64)
    missing = sorted(set(rows.tolist()) - set(spectra))
    if missing:
        raise L1TInputError("lar", f"no pileup spectrum for eta rows {missing}", "spectra")
    n_bx = len(filled)
    adc = np.empty((len(rows), n_bx), np.int32)
    truth = np.empty((len(rows), n_bx))
    for r in np.unique(rows):
        sel = np.flatnonzero(rows == r)
        part = simulate(filled, len(sel), spectra[int(r)], mu, pulse, rng, cfg,
                        None if signal is None else np.asarray(signal)[sel])
        adc[sel], truth[sel] = part.adc, part.truth_et
    return LArSequences(adc, truth, np.asarray(filled, bool), cfg)


def _kernel(pulse: PulseShape, phase_ns: float) -> tuple[np.ndarray, np.ndarray]:
    """g and g' at the samples j = k … k + PULSE_SAMPLES − 1 after a deposit at crossing k."""
    t = phase_ns - SAMPLE_NS + SAMPLE_NS * np.arange(PULSE_SAMPLES)
    return pulse.g(t), pulse.dg(t)


def simulate(filled: np.ndarray, n_channels: int, spectrum: np.ndarray, mu: float,
             pulse: PulseShape, rng: np.random.Generator, cfg: LArConfig = LArConfig(),
             signal: np.ndarray | None = None) -> LArSequences:
    """Sequences of ``n_channels`` channels over the crossings of ``filled`` (bool per slot).

    ``spectrum``: per-interaction ET (GeV) values to draw the pileup from (:func:`em_spectrum`);
    ``mu``: mean interactions per filled crossing; ``signal`` (channels, crossings) GeV: extra
    deposits (a hard process) added to the truth and the samples.
    """
    cfg.check()
    filled = np.asarray(filled, bool)
    n_bx = len(filled)
    spectrum = np.asarray(spectrum, np.float64)
    if spectrum.ndim != 1 or not len(spectrum) or np.any(~np.isfinite(spectrum)) \
            or np.any(spectrum < 0):
        raise L1TInputError("lar", "the pileup spectrum is a non-empty list of ET >= 0",
                            "spectrum")
    if not 0 <= mu <= 300:
        raise L1TInputError("lar", f"<mu> must be in 0..300, got {mu}", "mu")
    # only the interactions that deposit something matter: Poisson(mu * f) of them per crossing
    nonzero = spectrum[spectrum > 0]
    f = len(nonzero) / len(spectrum)
    counts = rng.poisson(mu * f, (n_channels, n_bx)) * filled[None, :]
    truth = np.zeros((n_channels, n_bx))
    total = int(counts.sum())
    if total:
        cell = np.repeat(np.arange(n_channels * n_bx), counts.ravel())
        np.add.at(truth.reshape(-1), cell, nonzero[rng.integers(0, len(nonzero), total)])
    if signal is not None:
        signal = np.asarray(signal, np.float64)
        if signal.shape != truth.shape or np.any(~np.isfinite(signal)) or np.any(signal < 0):
            raise L1TInputError("lar", f"signal is (channels, crossings) = {truth.shape} of "
                                "ET >= 0", "signal")
        truth = truth + signal
    from scipy.signal import fftconvolve

    g, dg = _kernel(pulse, cfg.phase_ns)
    mev = truth * 1000.0
    clean = fftconvolve(mev, g[None, :], axes=1)[:, :n_bx]
    slope = fftconvolve(mev, dg[None, :], axes=1)[:, :n_bx]
    jitter = cfg.jitter_ns * rng.standard_normal((n_channels, n_bx))
    noise = cfg.noise_mev * rng.standard_normal((n_channels, n_bx))
    value = clean + jitter * slope + noise
    top = (1 << cfg.adc_bits) - 1
    adc = np.clip(np.rint(cfg.pedestal + value / cfg.adc_lsb_mev), 0, top).astype(np.int32)
    return LArSequences(adc, truth, filled, cfg)
