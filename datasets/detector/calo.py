"""Calorimeter towers of a crossing: summed deposits, resolution, noise, zero suppression.

Output: integer tower ET words ``(N, N_ETA, N_PHI)`` for EM and hadronic parts in units of
``cfg.tower_lsb`` (0.5 GeV). Forward towers (|η| > 3) hold their whole ET in the hadronic word.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .config import DetectorConfig
from .geometry import ETA_CENTERS, FORWARD_ROWS, N_ETA, N_PHI, N_TOWERS


def tower_words(crossing: np.ndarray, tower: np.ndarray, em: np.ndarray, had: np.ndarray,
                n_cross: int, rng: np.random.Generator, cfg: DetectorConfig,
                em_reco: Callable[[np.ndarray], np.ndarray] | None = None):
    """Sum deposits (GeV) per tower of each crossing and measure them; returns (em_hw, had_hw).

    ``em_reco``: the EM towers' ET from a LAr reconstruction of their samples
    (:func:`l1t.datasets.lar.towers.reconstructed_em`, given the in-time deposits after the
    shower's sampling fluctuations, ``(N, 93, 72)`` GeV) instead of the ideal measurement's
    noise term."""
    key = crossing.astype(np.int64) * N_TOWERS + tower
    shape = (n_cross, N_ETA, N_PHI)
    em_true = np.bincount(key, weights=em, minlength=n_cross * N_TOWERS).reshape(shape)
    had_true = np.bincount(key, weights=had, minlength=n_cross * N_TOWERS).reshape(shape)
    fwd = FORWARD_ROWS[None, :, None]
    had_true = np.where(fwd, had_true + em_true, had_true)
    em_true = np.where(fwd, 0.0, em_true)
    cosh = np.cosh(ETA_CENTERS)[None, :, None]
    em_meas = _measure(em_true, cosh, cfg.em_stochastic, cfg.em_constant,
                       cfg.em_noise if em_reco is None else 0.0, rng)
    if em_reco is not None:
        em_meas = np.where(fwd, em_meas, em_reco(em_meas))
    had_meas = _measure(had_true, cosh,
                        np.where(fwd, cfg.fwd_stochastic, cfg.had_stochastic),
                        np.where(fwd, cfg.fwd_constant, cfg.had_constant),
                        np.where(fwd, cfg.fwd_noise, cfg.had_noise), rng)
    # Forward towers span two φ bins and have one readout: noise only in the even bin.
    odd_fwd = fwd & (np.arange(N_PHI)[None, None, :] % 2 == 1)
    had_meas = np.where(odd_fwd, 0.0, had_meas)
    em_meas = np.where(em_meas >= cfg.em_zs, em_meas, 0.0)
    had_meas = np.where(had_meas >= np.where(fwd, cfg.fwd_zs, cfg.had_zs), had_meas, 0.0)
    return (np.floor(em_meas / cfg.tower_lsb).astype(np.int32),
            np.floor(had_meas / cfg.tower_lsb).astype(np.int32))


def _measure(et, cosh, a, c, noise, rng: np.random.Generator) -> np.ndarray:
    """ET measured with σ_E = a√E ⊕ cE, i.e. σ_ET = a√(ET/coshη) ⊕ c·ET, ⊕ noise (GeV)."""
    sigma = np.sqrt(a * a * et / cosh + (c * et) ** 2 + noise * noise)
    return et + sigma * rng.standard_normal(et.shape, dtype=np.float32)


def pileup_density(total_hw: np.ndarray, lsb: float) -> np.ndarray:
    """Mean tower ET per η row (GeV per tower), ``(N, N_ETA)``: the pileup density ρ(η) used
    for isolation. (A median is biased to zero by zero suppression; one jet adds ~1/72 of its
    ET to its rows' means.) Forward towers span two φ bins, so the row mean is per bin area.
    """
    return total_hw.mean(axis=2) * lsb
