"""The 1-D convolutional LAr energy net, trained as a QKeras ``QConv1D`` over the window of
samples (:mod:`.inputs`) and deployed as Dense layers the firmware computes bit for bit.

Trained: window (10 samples) → QConv1D(F filters, K taps, relu) → flatten → QDense(H, relu) →
QDense(1) = ET / 128 GeV. The firmware IR maps Dense layers, so the convolution is deployed as
its Toeplitz matrix (:func:`deployable`): a QDense (10 → (10 − K + 1)·F) whose column p·F + f
holds filter f's taps at rows p … p + K − 1 (the flatten order of Keras) — the same weights tied
across positions, zeros elsewhere (which cost the firmware nothing).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .dense import fit
from .inputs import OUTPUT_BITS, WINDOW, target, window_view


@dataclass
class CNNConfig:
    filters: int = 4
    kernel: int = 3
    hidden: int = 8
    bits: int = 8                 # weights: quantized_bits(bits, 1)
    act_bits: int = 12            # activations: quantized_relu(act_bits, act_integer)
    act_integer: int = 4
    epochs: int = 20              # float epochs, then as many quantization-aware
    batch_size: int = 1024
    learning_rate: float = 2e-3
    seed: int = 1


def _net(cfg: CNNConfig, quantized: bool):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorflow import keras

    keras.utils.set_random_seed(cfg.seed)
    inp = keras.Input((WINDOW,), name="samples")
    x = keras.layers.Reshape((WINDOW, 1))(inp)
    if quantized:
        from qkeras import QActivation, QConv1D, QDense, quantized_bits, quantized_relu

        qw = quantized_bits(cfg.bits, 1, alpha=1)
        qa = quantized_relu(cfg.act_bits, cfg.act_integer)
        x = QActivation(qa, name="conv_relu")(
            QConv1D(cfg.filters, cfg.kernel, kernel_quantizer=qw, bias_quantizer=qw,
                    name="conv")(x))
        x = keras.layers.Flatten()(x)
        x = QActivation(qa, name="dense_relu")(
            QDense(cfg.hidden, kernel_quantizer=qw, bias_quantizer=qw, name="dense")(x))
        y = QActivation(quantized_bits(OUTPUT_BITS, 0, alpha=1), name="et_q")(
            QDense(1, kernel_quantizer=qw, bias_quantizer=qw, name="et")(x))
    else:
        x = keras.layers.Conv1D(cfg.filters, cfg.kernel, activation="relu", name="conv")(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(cfg.hidden, activation="relu", name="dense")(x)
        y = keras.layers.Dense(1, name="et")(x)
    return keras.Model(inp, y, name="lar_cnn")


def train_windows(x: np.ndarray, et: np.ndarray, cfg: CNNConfig = CNNConfig()):
    """The trained QConv1D net (windows ``(M, WINDOW)`` → ET / 128 GeV): float, then QAT."""
    y = target(et)
    net = _net(cfg, quantized=False)
    fit(net, x, y, cfg.learning_rate, cfg.epochs, cfg.batch_size)
    qnet = _net(cfg, quantized=True)
    qnet.set_weights(net.get_weights())
    fit(qnet, x, y, cfg.learning_rate / 4, cfg.epochs, cfg.batch_size)
    return qnet


def deployable(qnet, cfg: CNNConfig):
    """The QDense form of a trained QConv1D net (module docstring): the same function."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    qw = quantized_bits(cfg.bits, 1, alpha=1)
    qa = quantized_relu(cfg.act_bits, cfg.act_integer)
    w, b = (np.asarray(qw(v)) for v in qnet.get_layer("conv").get_weights())   # (K, 1, F), (F,)
    k, _, f = w.shape
    positions = WINDOW - k + 1
    toeplitz = np.zeros((WINDOW, positions * f))
    for p in range(positions):                 # build-time loop over the kernel's positions
        toeplitz[p:p + k, p * f:(p + 1) * f] = w[:, 0, :]
    inp = keras.Input((WINDOW,), name="samples")
    layers = [("conv", toeplitz, np.tile(b, positions), qa),
              ("dense", *(np.asarray(qw(v)) for v in qnet.get_layer("dense").get_weights()), qa),
              ("et", *(np.asarray(qw(v)) for v in qnet.get_layer("et").get_weights()),
               quantized_bits(OUTPUT_BITS, 0, alpha=1))]
    x = inp
    for name, kernel, bias, act in layers:
        d = QDense(kernel.shape[1], kernel_quantizer=qw, bias_quantizer=qw, name=name)
        x = QActivation(act, name=f"{name}_q" if name == "et" else f"{name}_relu")(d(x))
        d.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return keras.Model(inp, x, name="lar_cnn_dense")


def train(values: np.ndarray, et: np.ndarray, cfg: CNNConfig = CNNConfig()):
    """The deployable (Toeplitz) net trained on streams ``values`` with truth ``et`` (GeV)."""
    x, where = window_view(values)
    return deployable(train_windows(x, et[where[:, 0], where[:, 1]], cfg), cfg)
