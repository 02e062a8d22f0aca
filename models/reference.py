"""Reference nets for profiling: an MLP, a 1-D CNN and an MLP-Mixer at a few sizes.

All three read the 57 ADC2021-style inputs (MET + 4 e + 4 μ + 10 jets, each pT, η, φ; NOTES.md
"ADC2021") and give 8 outputs, so that they compare with the anomaly encoder. They are QKeras
models (6-bit weights and biases ``quantized_bits(6, 0, alpha=1)``, ``quantized_relu(8, 3)``
activations: the quantization the project's deployable nets use) with seeded random weights:
profiling measures time and resources, which do not depend on what the weights learned
(the resources of a constant-multiplier design do depend on the weight values: random 6-bit
weights are a fair stand-in for trained ones, an estimate).

- ``mlp``: Dense layers only, the only family the firmware IR maps today;
- ``cnn1d``: the 57 inputs as 19 objects × 3 features, two ``Conv1D`` (kernel 3) then Dense;
- ``mixer``: the 19 objects as tokens: a per-object embedding, then blocks of token mixing
  (Dense across objects, through ``Permute``) and channel mixing (Dense across features) with
  residual additions, a global average over the objects and a Dense head (Tolstikhin et al.,
  arXiv:2105.01601, without layer normalisation).

:data:`SIZES` gives the widths of each size; :func:`reference_net` builds one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l1t.core.errors import L1TInputError

N_INPUTS = 57           #: ADC2021 inputs (NOTES.md "ADC2021")
N_OBJECTS, N_FEATURES = 19, 3
N_OUTPUTS = 8           #: like the anomaly encoder's latent space
INPUT_TYPE = "ap_fixed<16,6>"   #: the input precision the QKeras MLP in NOTES.md was checked with
FAMILIES = ("mlp", "cnn1d", "mixer")


@dataclass(frozen=True)
class Size:
    """Widths of one size: ``mlp`` hidden layers, ``cnn1d`` filters, ``mixer`` (channels,
    token-mixing width, blocks)."""

    mlp: tuple[int, ...]
    cnn_filters: int
    mixer_channels: int
    mixer_tokens: int
    mixer_blocks: int


SIZES: dict[str, Size] = {
    "s": Size((16, 8), 4, 4, 8, 1),
    "m": Size((32, 16), 8, 8, 16, 2),        # the MLP of NOTES.md's hls4ml/da4ml checks
    "l": Size((128, 64, 32), 16, 16, 32, 4),
}


def _quantizers():
    from qkeras import quantized_bits, quantized_relu

    return quantized_bits(6, 0, alpha=1), quantized_relu(8, 3)


def _mlp(size: Size, name: str):
    from qkeras import QActivation, QDense
    from tensorflow import keras

    qw, qa = _quantizers()
    x = keras.Input((N_INPUTS,), name="inputs")
    h = x
    for i, units in enumerate(size.mlp):
        h = QDense(units, kernel_quantizer=qw, bias_quantizer=qw, name=f"dense{i}")(h)
        h = QActivation(qa, name=f"relu{i}")(h)
    out = QDense(N_OUTPUTS, kernel_quantizer=qw, bias_quantizer=qw, name="out")(h)
    return keras.Model(x, out, name=name)


def _cnn1d(size: Size, name: str):
    from qkeras import QActivation, QConv1D, QDense
    from tensorflow import keras

    qw, qa = _quantizers()
    x = keras.Input((N_INPUTS,), name="inputs")
    h = keras.layers.Reshape((N_OBJECTS, N_FEATURES), name="objects")(x)
    for i in range(2):
        h = QConv1D(size.cnn_filters, 3, kernel_quantizer=qw, bias_quantizer=qw,
                    name=f"conv{i}")(h)
        h = QActivation(qa, name=f"conv_relu{i}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = QDense(16, kernel_quantizer=qw, bias_quantizer=qw, name="dense0")(h)
    h = QActivation(qa, name="relu0")(h)
    out = QDense(N_OUTPUTS, kernel_quantizer=qw, bias_quantizer=qw, name="out")(h)
    return keras.Model(x, out, name=name)


def _mixer(size: Size, name: str):
    from qkeras import QActivation, QDense
    from tensorflow import keras

    qw, qa = _quantizers()
    c, t = size.mixer_channels, size.mixer_tokens

    def dense(units, label, h):
        return QDense(units, kernel_quantizer=qw, bias_quantizer=qw, name=label)(h)

    x = keras.Input((N_INPUTS,), name="inputs")
    h = keras.layers.Reshape((N_OBJECTS, N_FEATURES), name="objects")(x)
    h = dense(c, "embed", h)                                        # (19, c)
    for b in range(size.mixer_blocks):
        y = keras.layers.Permute((2, 1), name=f"b{b}_to_tokens")(h)    # (c, 19)
        y = QActivation(qa, name=f"b{b}_token_relu")(dense(t, f"b{b}_token0", y))
        y = dense(N_OBJECTS, f"b{b}_token1", y)
        y = keras.layers.Permute((2, 1), name=f"b{b}_to_channels")(y)  # (19, c)
        h = keras.layers.Add(name=f"b{b}_token_add")([h, y])
        y = QActivation(qa, name=f"b{b}_channel_relu")(dense(2 * c, f"b{b}_channel0", h))
        y = dense(c, f"b{b}_channel1", y)
        h = keras.layers.Add(name=f"b{b}_channel_add")([h, y])
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    out = dense(N_OUTPUTS, "out", h)
    return keras.Model(x, out, name=name)


_BUILDERS = {"mlp": _mlp, "cnn1d": _cnn1d, "mixer": _mixer}


def reference_net(family: str, size: str = "s", seed: int = 1):
    """The QKeras reference net ``family`` (``mlp``, ``cnn1d``, ``mixer``) of ``size`` (``s``,
    ``m``, ``l``), named ``<family>-<size>``, with weights drawn from ``seed`` (Gaussian of width
    0.5, on the 6-bit grid once quantized). Input ``(N, 57)``, output ``(N, 8)``."""
    if family not in _BUILDERS:
        raise L1TInputError("reference net", f"unknown family {family!r} (one of "
                            f"{', '.join(FAMILIES)})", "family")
    if size not in SIZES:
        raise L1TInputError("reference net", f"unknown size {size!r} (one of "
                            f"{', '.join(SIZES)})", "size")
    from tensorflow import keras

    keras.utils.set_random_seed(seed)
    model = _BUILDERS[family](SIZES[size], f"{family}-{size}")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0.0, 0.5, w.shape).astype(np.float32)
                               for w in weights])
    return model


def parameter_count(model) -> int:
    """Trainable and fixed weights of a Keras model."""
    return int(sum(int(np.prod(w.shape)) for w in model.weights))
