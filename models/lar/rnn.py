"""The recurrent LAr energy net, in a form the firmware computes exactly.

Trained as a Keras ``SimpleRNN`` (relu, H units) over the window of :mod:`.dense` (samples
k − 4 … k + 5, one per step) with a linear read-out of the last state. hls4ml's ``SimpleRNN`` is
silently wrong on Vivado/Vitis and its LSTM/GRU approximate (../shared/NOTES.md), so the cell is
deployed unrolled over the fixed window as a chain of Dense layers with tied weights
(:func:`unrolled`):

- layer ``split``: the window x (T values, signed) → (relu(x_j), relu(−x_j)) pairs, so that the
  relu of every later layer passes the inputs still to come through unchanged;
- layer ``step{t}`` (t = 1 … T): [h, pairs of steps t … T] → [h', pairs of steps t+1 … T] with
  h' = relu(U h + W (x⁺_t − x⁻_t) + b) — the same W, U, b at every step — and the identity on the
  pairs passed on (the first step, with h₀ = 0, has no U rows);
- layer ``et``: the read-out of h_T, ``quantized_bits(16, 0)`` = ET / 128 GeV.

The weights are the trained cell's, quantized to ``quantized_bits(bits, 1)`` (post-training: the
tying is kept by construction), the activations ``quantized_relu(16, 4)``, whose 12 fractional
bits hold the ``ap_fixed<13,1>`` inputs exactly. The chain is a plain QKeras Dense network, so
Keras, the emulator, the hls4ml C simulation and the RTL agree bit for bit; it differs from the
float cell only by the weight and activation quantization (measured in the tests).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .dense import AFTER, BEFORE, ET_SCALE_GEV, OUTPUT_BITS

T = BEFORE + 1 + AFTER
ACT_BITS, ACT_INTEGER = 16, 4


@dataclass
class RNNConfig:
    hidden: int = 8
    bits: int = 8                 # weights: quantized_bits(bits, 1) (the RTL takes <= 8 here)
    epochs: int = 10
    batch_size: int = 1024
    learning_rate: float = 3e-3
    seed: int = 1


def train_cell(x: np.ndarray, et: np.ndarray, cfg: RNNConfig):
    """The float SimpleRNN (relu) + linear read-out, regressing ET / 128 GeV from windows
    ``(N, T)``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from tensorflow import keras

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(cfg.seed)
    inp = keras.Input((T, 1), name="samples")
    h = keras.layers.SimpleRNN(cfg.hidden, activation="relu", name="cell")(inp)
    model = keras.Model(inp, keras.layers.Dense(1, name="et")(h), name="lar_rnn")
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="mse")
    model.fit(np.asarray(x)[:, :, None], (np.asarray(et) / ET_SCALE_GEV).astype(np.float32),
              epochs=cfg.epochs, batch_size=cfg.batch_size, shuffle=True, verbose=0)
    return model


def _quantize(w: np.ndarray, bits: int) -> np.ndarray:
    """Values on the grid of ``quantized_bits(bits, 1, alpha=1)`` (range [−2, 2))."""
    lsb = 2.0 ** -(bits - 2)
    return np.clip(np.round(np.asarray(w, np.float64) / lsb), -2 ** (bits - 1),
                   2 ** (bits - 1) - 1) * lsb


def unrolled(cell_model, bits: int = 8):
    """The deployable chain of QDense layers (module docstring) from a trained cell."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    cell = cell_model.get_layer("cell")
    w_in, u, b = (_quantize(v, bits) for v in cell.get_weights())       # (1, H), (H, H), (H,)
    w_out, b_out = (_quantize(v, bits) for v in cell_model.get_layer("et").get_weights())
    hdim = u.shape[0]
    q = quantized_bits(bits, 1, alpha=1)
    act = quantized_relu(ACT_BITS, ACT_INTEGER)
    layers = []
    x = inp = keras.Input((T,), name="samples")
    # [(x⁺_0, x⁻_0), (x⁺_1, x⁻_1), …]
    split = np.zeros((T, 2 * T))
    split[np.arange(T), 2 * np.arange(T)] = 1.0
    split[np.arange(T), 2 * np.arange(T) + 1] = -1.0
    layers.append(("split", split, np.zeros(2 * T)))
    for t in range(T):
        h_in = hdim if t else 0                        # h_0 = 0: the first step has no U term
        n_in = h_in + 2 * (T - t)
        n_out = hdim + 2 * (T - t - 1)
        k = np.zeros((n_in, n_out))
        k[:h_in, :hdim] = u[:h_in]
        k[h_in, :hdim] = w_in[0]                       # x⁺ of this step
        k[h_in + 1, :hdim] = -w_in[0]                  # x⁻ of this step
        k[h_in + 2:, hdim:] = np.eye(n_out - hdim)     # the pairs still to come
        layers.append((f"step{t + 1}", k, np.r_[b, np.zeros(n_out - hdim)]))
    for name, kernel, bias in layers:
        d = QDense(kernel.shape[1], kernel_quantizer=q, bias_quantizer=q, name=name)
        x = QActivation(act, name=f"{name}_relu")(d(x))
        d.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    out_q = quantized_bits(OUTPUT_BITS, 0, alpha=1)
    d = QDense(1, kernel_quantizer=q, bias_quantizer=q, name="et")
    y = QActivation(out_q, name="et_q")(d(x))
    d.set_weights([w_out.astype(np.float32), b_out.astype(np.float32)])
    return keras.Model(inp, y, name="lar_rnn_unrolled")
