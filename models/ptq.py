"""Post-training quantization (PTQ) of the weights of Dense/QDense Keras models.

Two schemes, both leave the input model untouched and return a clone plus a per-layer report:

* **Fixed point** (what hls4ml deploys): every kernel and bias is put on the grid of an
  ``ap_fixed<W,I,Q,O>`` type (:mod:`l1t.models.fixedpoint`), e.g. ``ap_fixed<8,2,AP_RND_CONV,AP_SAT>``.
  The clone holds float32, so the weights are exactly the fixed-point values for ``W <= 24``.
* **Affine integer** ``r = S (q - Z)`` with ``q`` a ``bits``-bit integer, scale ``S`` (float)
  and zero point ``Z`` (integer), per tensor or per output channel (TFLite/ONNX style).

Report layout (both schemes): ``{layer_name: {"kernel": {...}, "bias": {...}}}`` with, per
tensor, ``max_abs_error`` and ``rms_error`` (same units as the weights) and ``clipped_fraction``
(fraction of entries outside the representable range, where overflow handling acted), plus the
scheme's parameters (``type`` for fixed point; ``scale``/``zero_point`` for affine).
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.models import fixedpoint
from l1t.models.fixedpoint import FixedType

TypeSpec = FixedType | str | Mapping[str, FixedType | str]


# -- Keras helpers shared by the compression modules ---------------------------------------------
@contextlib.contextmanager
def keras_objects() -> Iterator[None]:
    """Custom-object scope knowing the QKeras layers and quantizers (no-op without QKeras)."""
    from tensorflow import keras

    objects: dict[str, object] = {}
    try:
        from qkeras.utils import _add_supported_quantized_objects
        _add_supported_quantized_objects(objects)
    except ImportError:  # pragma: no cover - QKeras is part of the pinned stack
        pass
    with keras.utils.custom_object_scope(objects), warnings.catch_warnings():
        # QDense.get_config serializes its quantizers through keras.constraints.serialize
        warnings.filterwarnings("ignore", message=".*keras.constraints.serialize", category=UserWarning)
        yield


def clone_with_weights(model):
    """A new model of the same architecture (Sequential or functional) holding copies of the weights."""
    from tensorflow import keras

    with keras_objects():
        clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def kernel_layers(model) -> list:
    """The layers of ``model`` that own a ``kernel`` (Dense, QDense, ...), in model order.

    Nested models are not descended into: compression works on flat Sequential/functional nets.
    """
    return [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]


def _type_for(spec: TypeSpec | None, name: str, default: FixedType | None) -> FixedType | None:
    if spec is None:
        return default
    if isinstance(spec, Mapping):
        return fixedpoint.as_type(spec[name]) if name in spec else default
    return fixedpoint.as_type(spec)


def _stats(x: np.ndarray, xq: np.ndarray, clipped: np.ndarray) -> dict[str, float]:
    err = np.abs(np.asarray(xq, np.float64) - np.asarray(x, np.float64))
    return {"max_abs_error": float(err.max(initial=0.0)),
            "rms_error": float(np.sqrt(np.mean(err**2))) if err.size else 0.0,
            "clipped_fraction": float(np.mean(clipped)) if clipped.size else 0.0}


# -- fixed point -------------------------------------------------------------------------------
def quantize_weights_fixed(model, weight_type: TypeSpec, bias_type: TypeSpec | None = None,
                           ) -> tuple[object, dict[str, dict[str, dict]]]:
    """Clone ``model`` with every kernel/bias converted to a fixed-point type.

    ``weight_type``: one type (``FixedType`` or string such as ``"ap_fixed<8,2,AP_RND_CONV,AP_SAT>"``)
    for all kernels, or a mapping ``{layer_name: type}`` (layers not named stay float).
    ``bias_type``: same forms; None uses the kernel's type. Returns ``(clone, report)``, see
    the module docstring; the clone is uncompiled.
    """
    clone = clone_with_weights(model)
    report: dict[str, dict[str, dict]] = {}
    for layer in kernel_layers(clone):
        wt = _type_for(weight_type, layer.name, None)
        bt = _type_for(bias_type, layer.name, wt)
        weights = layer.get_weights()
        entry: dict[str, dict] = {}
        for i, (tensor, t) in enumerate(zip(weights[:2], (wt, bt))):
            if t is None:
                continue
            xq = fixedpoint.quantize(tensor, t)
            stats = _stats(tensor, xq, fixedpoint.overflows(tensor, t))
            entry["kernel" if i == 0 else "bias"] = {"type": str(t), **stats}
            weights[i] = xq.astype(tensor.dtype)
        if entry:
            layer.set_weights(weights)
            report[layer.name] = entry
    return clone, report


# -- affine integer ----------------------------------------------------------------------------
def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """``(qmin, qmax)`` of a ``bits``-bit integer: ``(-2**(b-1), 2**(b-1)-1)`` or ``(0, 2**b-1)``."""
    if not 2 <= bits <= 32:
        raise L1TInputError("affine", f"bits must be within 2..32, got {bits}", "bits")
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def affine_params(x: np.ndarray, bits: int = 8, signed: bool = True, symmetric: bool = False,
                  axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scale ``S`` and zero point ``Z`` of ``r = S (q - Z)`` covering the range of ``x``.

    ``axis`` None: one ``(S, Z)`` for the whole tensor (0-d arrays). ``axis=k``: one per index
    along axis ``k`` (per channel; for a Dense kernel ``(n_in, n_out)`` use ``axis=-1``: one
    per output neuron), returned with ``x``'s rank and size 1 on the other axes so that they
    broadcast against ``x``.

    Asymmetric: the range ``[min(x, 0), max(x, 0)]`` (0 always exactly representable) is
    mapped onto ``[qmin, qmax]``: ``Z = qmin + rint(-rmin / S0)`` with ``S0 = (rmax - rmin) /
    (qmax - qmin)``, then ``S`` is enlarged just enough that the integer ``Z`` still covers both
    ends, so nothing is clipped and the round-trip error is at most ``S/2``. Symmetric: ``Z = 0``
    (signed, range ``[-(2**(b-1)-1), 2**(b-1)-1]``) or ``Z = 2**(b-1)`` (unsigned) and ``S =
    max|x| / (2**(b-1) - 1)``. A constant-zero slice gets ``S = 1``.

    Returns ``(S, Z)``: float64 and int64 arrays, ``Z`` within ``[qmin, qmax]``.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise L1TInputError("affine", "NaN or infinite values", "x")
    qmin, qmax = int_range(bits, signed)
    if axis is None:
        reduce_axes: tuple[int, ...] | None = None
    else:
        ax = axis % x.ndim
        reduce_axes = tuple(i for i in range(x.ndim) if i != ax)
    keep = axis is not None
    rmin = np.minimum(np.min(x, axis=reduce_axes, keepdims=keep), 0.0)
    rmax = np.maximum(np.max(x, axis=reduce_axes, keepdims=keep), 0.0)
    if symmetric:
        half = (1 << (bits - 1)) - 1
        amax = np.maximum(-rmin, rmax)
        scale = np.where(amax > 0, amax / half, 1.0)
        zero = np.full(np.shape(scale), 0 if signed else 1 << (bits - 1), dtype=np.int64)
        return scale, zero
    span = rmax - rmin
    s0 = np.where(span > 0, span / (qmax - qmin), 1.0)
    zero = qmin + np.rint(-rmin / s0).astype(np.int64)
    # keep one integer step on each side that holds data: Z < qmax if rmax > 0, Z > qmin if rmin < 0
    zero = np.clip(zero, qmin + (rmin < 0), qmax - (rmax > 0)).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        need_hi = np.where(rmax > 0, rmax / (qmax - zero), 0.0)
        need_lo = np.where(rmin < 0, -rmin / (zero - qmin), 0.0)
    scale = np.maximum(s0, np.maximum(need_hi, need_lo))
    return scale, zero


def affine_quantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, bits: int = 8,
                    signed: bool = True) -> np.ndarray:
    """Integer codes ``q = clip(rint(x / S) + Z, qmin, qmax)`` (int64, shape of ``x``).

    ``scale``/``zero_point`` broadcast against ``x`` (as returned by :func:`affine_params`).
    ``rint`` rounds half to even.
    """
    qmin, qmax = int_range(bits, signed)
    x = np.asarray(x, dtype=np.float64)
    q = np.rint(x / np.asarray(scale, np.float64)) + np.asarray(zero_point, np.float64)
    return np.clip(q, qmin, qmax).astype(np.int64)


def affine_dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """Real values ``S (q - Z)`` (float64, broadcast shape)."""
    return np.asarray(scale, np.float64) * (np.asarray(q, np.int64) - np.asarray(zero_point, np.int64))


def quantize_model_affine(model, bits: int = 8, per_channel: bool = True, symmetric: bool = True,
                          bias_bits: int = 32) -> tuple[object, dict[str, dict[str, dict]]]:
    """Clone ``model`` with every kernel/bias replaced by its affine-quantized value ``S (q - Z)``.

    Kernels: ``bits``-bit signed, one scale per output neuron (``per_channel``, last axis) or
    per tensor; ``symmetric`` (default, the usual choice for weights: ``Z = 0``) or asymmetric.
    Biases: ``bias_bits``-bit signed, symmetric, per tensor (32 bits is practically float; the
    TFLite convention ``S_b = S_in S_w`` needs activation scales, which a weights-only pass has
    not). Returns ``(clone, report)``; the report adds ``scale``/``zero_point`` lists.
    """
    clone = clone_with_weights(model)
    report: dict[str, dict[str, dict]] = {}
    for layer in kernel_layers(clone):
        weights = layer.get_weights()
        entry: dict[str, dict] = {}
        specs = [(bits, -1 if per_channel else None, symmetric), (bias_bits, None, True)]
        for i, (tensor, (b, axis, sym)) in enumerate(zip(weights[:2], specs)):
            scale, zero = affine_params(tensor, bits=b, signed=True, symmetric=sym, axis=axis)
            q = affine_quantize(tensor, scale, zero, bits=b, signed=True)
            xq = affine_dequantize(q, scale, zero)
            qmin, qmax = int_range(b, True)
            raw = np.rint(np.asarray(tensor, np.float64) / scale) + zero
            stats = _stats(tensor, xq, (raw < qmin) | (raw > qmax))
            entry["kernel" if i == 0 else "bias"] = {
                "bits": b, "scale": np.ravel(scale).tolist(), "zero_point": np.ravel(zero).tolist(), **stats}
            weights[i] = xq.astype(tensor.dtype)
        layer.set_weights(weights)
        report[layer.name] = entry
    return clone, report
