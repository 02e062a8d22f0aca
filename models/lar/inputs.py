"""What every LAr energy net reads and gives.

Inputs: ADC counts minus the pedestal divided by 2¹² — exactly on the grid of
``ap_fixed<13,1>`` (:data:`INPUT_TYPE`; a 12-bit ADC minus its pedestal lies in [−1, 1)). Output:
ET / 128 GeV as ``quantized_bits(16, 0)`` (``ap_fixed<16,1>``: 3.9 MeV steps, ±128 GeV).
Window nets read samples k − :data:`BEFORE` … k + :data:`AFTER` for the deposit at crossing k
(the optimal filter reads k + 1 … k + 5); the earlier samples carry the undershoots of earlier
deposits, which the filter cannot see.
"""
from __future__ import annotations

import numpy as np

from l1t.datasets.lar.sequences import LArSequences

BEFORE, AFTER = 4, 5          # samples before the crossing and after it (the filter's five)
WINDOW = BEFORE + 1 + AFTER
INPUT_SHIFT = 12
INPUT_TYPE = f"ap_fixed<{INPUT_SHIFT + 1},1>"
ET_SCALE_GEV = 128.0
OUTPUT_BITS = 16


def sample_values(seq: LArSequences) -> np.ndarray:
    """``(channels, crossings)`` float32 net inputs: (ADC − pedestal) / 2¹², on the input grid."""
    codes = seq.adc.astype(np.int64) - seq.config.pedestal
    return np.ldexp(codes.astype(np.float64), -INPUT_SHIFT).astype(np.float32)


def windows(seq: LArSequences) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Net inputs ``(M, WINDOW)`` float32 of every channel and crossing whose window lies inside
    the sequence, their truth ET (GeV) and their (channel, crossing) indices ``(M, 2)``."""
    values = sample_values(seq)
    x, where = window_view(values)
    return x, seq.truth_et[where[:, 0], where[:, 1]], where


def window_view(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``(M, WINDOW)`` of ``values`` (channels, crossings) and their (channel, crossing)
    ``(M, 2)``: crossing k reads k − BEFORE … k + AFTER."""
    w = np.lib.stride_tricks.sliding_window_view(values, WINDOW, axis=1)   # start s: k = s + 4
    ch, start = np.meshgrid(np.arange(values.shape[0]), np.arange(w.shape[1]), indexing="ij")
    return w.reshape(-1, WINDOW), np.stack([ch.ravel(), (start + BEFORE).ravel()], axis=1)


def window_energies(values: np.ndarray, predict) -> np.ndarray:
    """``(channels, crossings)`` ET (GeV) of a window net: ``predict`` maps windows
    ``(M, WINDOW)`` to outputs ``(M, 1)``; crossings without a full window are 0."""
    x, where = window_view(values)
    out = np.zeros(values.shape)
    if len(x):
        out[where[:, 0], where[:, 1]] = et_of(predict(x))
    return out


def target(et: np.ndarray) -> np.ndarray:
    """The training target ET / 128 GeV (float32)."""
    return (np.asarray(et, np.float64) / ET_SCALE_GEV).astype(np.float32)


def et_of(y: np.ndarray) -> np.ndarray:
    """ET (GeV) of net outputs."""
    return np.asarray(y, np.float64).reshape(-1) * ET_SCALE_GEV
