"""The Dense alternative of the LAr energy net: the ET of a crossing from a window of samples
around it, quantization-aware (QKeras), through the firmware backends bit for bit.

Window (:data:`BEFORE`, :data:`AFTER`): samples k − 4 … k + 5 for the deposit at crossing k (the
optimal filter reads k + 1 … k + 5); the earlier samples carry the undershoots of earlier
deposits, which the filter cannot see. Inputs: ADC counts minus the pedestal divided by 2¹² —
exactly on the grid of ``ap_fixed<13,1>`` (:data:`INPUT_TYPE`); output: ET / 128 GeV as a
``quantized_bits(16, 0)`` (``ap_fixed<16,1>``, 3.9 MeV steps).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from l1t.datasets.lar.sequences import LArSequences

BEFORE, AFTER = 4, 5          # samples before the crossing and after it (the filter's five)
INPUT_SHIFT = 12
INPUT_TYPE = f"ap_fixed<{INPUT_SHIFT + 1},1>"
ET_SCALE_GEV = 128.0
OUTPUT_BITS = 16


def windows(seq: LArSequences) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Net inputs ``(M, BEFORE + 1 + AFTER)`` float32 of every channel and crossing whose window
    lies inside the sequence, their truth ET (GeV) and their (channel, crossing) indices."""
    codes = seq.adc.astype(np.int64) - seq.config.pedestal
    n = BEFORE + 1 + AFTER
    w = np.lib.stride_tricks.sliding_window_view(codes, n, axis=1)      # start s: crossing s+4
    ch, start = np.meshgrid(np.arange(codes.shape[0]), np.arange(w.shape[1]), indexing="ij")
    x = np.ldexp(w.reshape(-1, n).astype(np.float64), -INPUT_SHIFT).astype(np.float32)
    k = (start + BEFORE).ravel()
    return x, seq.truth_et[ch.ravel(), k], np.stack([ch.ravel(), k], axis=1)


@dataclass
class DenseConfig:
    hidden: tuple[int, ...] = (16, 8)
    bits: int = 8
    integer: int = 1
    act_bits: int = 12
    act_integer: int = 4
    epochs: int = 10
    batch_size: int = 1024
    learning_rate: float = 2e-3
    seed: int = 1


def build(cfg: DenseConfig):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorflow import keras

    keras.utils.set_random_seed(cfg.seed)
    x = inp = keras.Input((BEFORE + 1 + AFTER,), name="samples")
    for i, units in enumerate(cfg.hidden):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i}")(x)
    return keras.Model(inp, keras.layers.Dense(1, name="et")(x), name="lar_dense")


def train(x: np.ndarray, et: np.ndarray, cfg: DenseConfig):
    """The QAT net regressing ET / 128 GeV (float first, then QKeras fine-tuning)."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    from tensorflow import keras

    from l1t.models.qat import to_qkeras

    y = (np.asarray(et) / ET_SCALE_GEV).astype(np.float32)

    def fit(model, lr: float) -> None:
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
        model.fit(x, y, epochs=cfg.epochs, batch_size=cfg.batch_size, shuffle=True, verbose=0)

    net = build(cfg)
    fit(net, cfg.learning_rate)
    qnet = to_qkeras(net, cfg.bits, cfg.integer, cfg.act_bits, cfg.act_integer,
                     per_layer={"et": {"quantize_linear": True, "act_bits": OUTPUT_BITS,
                                       "act_integer": 0}})
    fit(qnet, cfg.learning_rate / 4)
    return qnet


def et_of(y: np.ndarray) -> np.ndarray:
    """ET (GeV) of net outputs."""
    return np.asarray(y, np.float64).reshape(-1) * ET_SCALE_GEV
