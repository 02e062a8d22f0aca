"""Quantization-aware training (QAT) with QKeras, and the fixed-point types it implies.

:func:`to_qkeras` turns a float Keras model (Sequential or functional, Dense layers and
activations) into its QKeras twin, starting from the float weights; train it as usual
(``compile``/``fit``). :func:`layer_precisions` reads back, per layer, the ``ap_fixed`` types the
quantizers are equivalent to, which is what firmware conversion needs, and
:func:`quantized_weights` gives the on-grid weights the firmware holds.

Equivalences (exact, checked in ``tests/test_compression.py`` against the QKeras quantizers):

* ``quantized_bits(b, i, keep_negative=True, alpha=1)`` ≡ ``ap_fixed<b, i+1, AP_RND_CONV, AP_SAT>``:
  step ``2**-(b-1-i)``, range ``[-2**i, 2**i - step]``, ties to even (``tf.round``); with
  ``symmetric=True`` the overflow is ``AP_SAT_SYM``; ``keep_negative=False`` gives
  ``ap_ufixed<b, i, ...>``.
* ``quantized_relu(b, i)`` ≡ ``ap_ufixed<b, i, AP_RND_CONV, AP_SAT>`` (negative inputs give 0).

These are the types hls4ml derives for QKeras layers (``hls4ml.utils.config``). Quantizers
without an ``ap_fixed`` equivalent (``alpha="auto"`` scales, stochastic rounding, po2, leaky or
sigmoid relus) make :func:`layer_precisions` raise :class:`~l1t.core.errors.L1TInputError`.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.models import fixedpoint
from l1t.models.fixedpoint import FixedType
from l1t.models.ptq import keras_objects, kernel_layers

_LAYER_KEYS = {"bits", "integer", "bias_bits", "bias_integer", "act_bits", "act_integer",
               "quantize_linear"}


def _activation_name(activation) -> str | None:
    """'relu', 'linear', ... for Keras activation functions; None for anything else."""
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", None)


def _is_plain_relu(layer) -> bool:
    from tensorflow import keras

    if isinstance(layer, keras.layers.ReLU):
        cfg = layer.get_config()
        return (cfg.get("max_value") is None and not cfg.get("negative_slope")
                and not cfg.get("threshold"))
    return type(layer) is keras.layers.Activation and _activation_name(layer.activation) == "relu"


def to_qkeras(model, bits: int = 6, integer: int = 0, act_bits: int = 8, act_integer: int = 3,
              per_layer: Mapping[str, Mapping[str, object]] | None = None, *,
              bias_bits: int | None = None, bias_integer: int | None = None,
              quantize_linear: bool = False):
    """The QKeras version of ``model``, initialised with its float weights (uncompiled).

    * ``Dense`` → ``QDense`` with ``kernel_quantizer = quantized_bits(bits, integer, alpha=1)``
      and ``bias_quantizer = quantized_bits(bias_bits, bias_integer, alpha=1)`` (default: the
      kernel's); its activation becomes ``quantized_relu(act_bits, act_integer)`` if it is
      ``relu``; ``linear`` stays linear unless ``quantize_linear`` (then
      ``quantized_bits(act_bits, act_integer, alpha=1)``); other activations (sigmoid, tanh,
      softmax) stay float.
    * ``ReLU()`` / ``Activation("relu")`` → ``QActivation(quantized_relu(act_bits, act_integer))``.
    * Everything else (inputs, existing QKeras layers, other layers) is copied unchanged.

    ``per_layer``: ``{layer_name: {"bits": .., "integer": .., "bias_bits": .., "bias_integer": ..,
    "act_bits": .., "act_integer": .., "quantize_linear": ..}}`` overrides for single layers.
    Layer names are kept, so the float and QKeras layers correspond by name.
    """
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    per_layer = dict(per_layer or {})
    names = {layer.name for layer in model.layers}
    for name, settings in per_layer.items():
        if name not in names:
            raise L1TInputError("to_qkeras", f"no layer named {name!r} in the model", "per_layer")
        unknown = set(settings) - _LAYER_KEYS
        if unknown:
            raise L1TInputError("to_qkeras", f"unknown keys {sorted(unknown)} for layer {name!r}; "
                                f"allowed: {sorted(_LAYER_KEYS)}", "per_layer")

    def setting(name: str, key: str, default):
        return per_layer.get(name, {}).get(key, default)

    def convert(layer):
        name = layer.name
        b, i = setting(name, "bits", bits), setting(name, "integer", integer)
        bb = setting(name, "bias_bits", bias_bits if bias_bits is not None else b)
        bi = setting(name, "bias_integer", bias_integer if bias_integer is not None else i)
        ab, ai = setting(name, "act_bits", act_bits), setting(name, "act_integer", act_integer)
        if type(layer) is keras.layers.Dense:
            act = _activation_name(layer.activation)
            if act == "relu":
                activation = quantized_relu(ab, ai)
            elif act == "linear":
                activation = (quantized_bits(ab, ai, alpha=1)
                              if setting(name, "quantize_linear", quantize_linear) else None)
            else:
                activation = layer.activation
            return QDense(layer.units, activation=activation, use_bias=layer.use_bias,
                          kernel_quantizer=quantized_bits(b, i, alpha=1),
                          bias_quantizer=quantized_bits(bb, bi, alpha=1), name=name)
        if _is_plain_relu(layer):
            return QActivation(quantized_relu(ab, ai), name=name)
        return layer.__class__.from_config(layer.get_config())

    with keras_objects():
        qmodel = keras.models.clone_model(model, clone_function=convert)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            qmodel.get_layer(layer.name).set_weights(weights)
    return qmodel


# -- QKeras quantizer -> ap_fixed type ---------------------------------------------------------
def quantizer_type(quantizer, where: str = "quantizer") -> FixedType | None:
    """The ``FixedType`` exactly equivalent to a QKeras quantizer; None for no/float quantizer.

    Supports ``quantized_bits`` (``alpha`` None or 1, deterministic rounding) and
    ``quantized_relu`` (``negative_slope=0``, no sigmoid, deterministic). Anything else raises
    :class:`L1TInputError` naming ``where``.
    """
    from qkeras import quantized_bits, quantized_relu

    if quantizer is None or not hasattr(quantizer, "bits"):
        return None
    if getattr(quantizer, "use_stochastic_rounding", False):
        raise L1TInputError(where, "stochastic rounding has no ap_fixed equivalent", "quantizer")
    if isinstance(quantizer, quantized_bits):
        alpha = quantizer.alpha
        if alpha is not None and (isinstance(alpha, str) or np.any(np.asarray(alpha) != 1)):
            raise L1TInputError(where, f"quantized_bits alpha={alpha!r}: only alpha=1 (or None) "
                                "is a plain ap_fixed type", "quantizer")
        k = int(bool(quantizer.keep_negative))
        b, i = int(quantizer.bits), int(quantizer.integer)
        if b - k <= 0:
            raise L1TInputError(where, "quantized_bits without magnitude bits (sign only)",
                                "quantizer")
        sym = bool(quantizer.symmetric) and k == 1
        return FixedType(b, i + k, signed=bool(k), rounding="RND_CONV",
                         overflow="SAT_SYM" if sym else "SAT")
    if isinstance(quantizer, quantized_relu):
        if quantizer.negative_slope or quantizer.use_sigmoid:
            raise L1TInputError(where, "leaky or sigmoid quantized_relu has no single ap_fixed "
                                "type", "quantizer")
        return FixedType(int(quantizer.bits), int(quantizer.integer), signed=False,
                         rounding="RND_CONV", overflow="SAT")
    raise L1TInputError(where, f"unsupported quantizer {quantizer!r}", "quantizer")


def layer_precisions(qmodel) -> dict[str, dict[str, FixedType | None]]:
    """Per QKeras layer, the ``ap_fixed`` types of its weights and output activation.

    Returns ``{layer_name: {"weight": FixedType | None, "bias": FixedType | None,
    "activation": FixedType | None}}`` for QDense layers (``activation``: the quantizer used
    as the layer's activation, None if float) and ``{"activation": FixedType | None}`` for
    QActivation layers. Other layers are left out.
    """
    from qkeras import QActivation, QDense

    out: dict[str, dict[str, FixedType | None]] = {}
    for layer in qmodel.layers:
        if isinstance(layer, QDense):
            out[layer.name] = {
                "weight": quantizer_type(layer.kernel_quantizer_internal, layer.name),
                "bias": quantizer_type(layer.bias_quantizer_internal, layer.name)
                if layer.use_bias else None,
                "activation": quantizer_type(layer.activation, layer.name),
            }
        elif isinstance(layer, QActivation):
            out[layer.name] = {"activation": quantizer_type(layer.quantizer, layer.name)}
    return out


def quantized_weights(qmodel) -> dict[str, list[np.ndarray]]:
    """Per kernel layer, ``[kernel, bias]`` as the firmware holds them (float64, on the grid).

    For QDense the float (shadow) weights go through the layer's quantizer types (exactly what
    the QKeras quantizers compute); layers without quantizer keep their float values.
    """
    precisions = layer_precisions(qmodel)
    out: dict[str, list[np.ndarray]] = {}
    for layer in kernel_layers(qmodel):
        types = precisions.get(layer.name, {})
        tensors = layer.get_weights()[:2]
        out[layer.name] = [
            fixedpoint.quantize(w, t) if t is not None else np.asarray(w, np.float64)
            for w, t in zip(tensors, (types.get("weight"), types.get("bias")))]
    return out

