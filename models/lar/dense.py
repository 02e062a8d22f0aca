"""The Dense LAr energy net: the ET of a crossing from the window of samples around it
(:mod:`.inputs`), quantization-aware (QKeras), through the firmware backends bit for bit."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .inputs import OUTPUT_BITS, WINDOW, target, window_view


@dataclass
class DenseConfig:
    hidden: tuple[int, ...] = (16, 8)
    bits: int = 8
    integer: int = 1
    act_bits: int = 12
    act_integer: int = 4
    epochs: int = 20              # float epochs, then as many quantization-aware
    batch_size: int = 1024
    learning_rate: float = 2e-3
    seed: int = 1


def build(cfg: DenseConfig):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorflow import keras

    keras.utils.set_random_seed(cfg.seed)
    x = inp = keras.Input((WINDOW,), name="samples")
    for i, units in enumerate(cfg.hidden):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i}")(x)
    return keras.Model(inp, keras.layers.Dense(1, name="et")(x), name="lar_dense")


def fit(model, x: np.ndarray, y: np.ndarray, lr: float, epochs: int, batch_size: int) -> None:
    """MSE fit with a cosine-decaying learning rate (shared by the window nets)."""
    import tensorflow as tf
    from tensorflow import keras

    tf.config.experimental.enable_op_determinism()
    steps = epochs * -(-len(x) // batch_size)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, steps)),
                  loss="mse")
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)


def train_windows(x: np.ndarray, et: np.ndarray, cfg: DenseConfig = DenseConfig()):
    """The QAT net regressing ET / 128 GeV from windows ``x`` (M, WINDOW) with truth ``et``
    (GeV): float first, then QKeras fine-tuning."""
    from l1t.models.qat import to_qkeras

    y = target(et)
    net = build(cfg)
    fit(net, x, y, cfg.learning_rate, cfg.epochs, cfg.batch_size)
    qnet = to_qkeras(net, cfg.bits, cfg.integer, cfg.act_bits, cfg.act_integer,
                     per_layer={"et": {"quantize_linear": True, "act_bits": OUTPUT_BITS,
                                       "act_integer": 0}})
    fit(qnet, x, y, cfg.learning_rate / 4, cfg.epochs, cfg.batch_size)
    return qnet


def train(values: np.ndarray, et: np.ndarray, cfg: DenseConfig = DenseConfig()):
    """The deployable net trained on streams ``values`` (channels, crossings), truth ``et``."""
    x, where = window_view(values)
    return train_windows(x, et[where[:, 0], where[:, 1]], cfg)
