"""Bit-exact numpy emulation of the fixed-point arithmetic hls4ml generates.

Everything is integer *codes* (int64; value = code × 2**-F, :mod:`models.fixedpoint`), evaluated
layer by layer on chunks of events (memory stays bounded: ``chunk_size`` events at a time):

- **input**: ``input_t`` codes (the backend interface has already checked the grid);
- **Dense** (``nnet::dense_latency``): in C++ each product ``x[i] * w[i][j]`` is exact
  (``ap_fixed<Wx+Ww, Ix+Iw>``) and is stored into an ``accum_t`` array, the accumulator starts at
  ``(accum_t) bias[j]`` and ``acc[j] += mult[i][j]`` runs over ``i = 0 … n_in-1``, then
  ``res[j] = (result_t) acc[j]``. Here: products are integer products of the input codes and the
  weight codes (LSB ``2**-(Fx+Fw)``), summed exactly; the sum is then cast to ``accum_t`` and
  ``result_t`` with their rounding/overflow modes (:func:`models.fixedpoint.requantize`).
  Summing first and casting once is exact when ``accum_t`` needs no rounding of a product
  (``F_acc >= Fx + Fw``) and either wraps (``AP_WRAP``: every cast is the same modular
  reduction) or cannot overflow for any input (checked from the weights and the input range);
  otherwise the emulator follows the C++ step by step (product → ``accum_t``, then each ``+=``
  with ``accum_t``'s overflow mode, in the C++ order). The exact sum uses a float32 (float64)
  matrix product when every partial sum is an integer below 2**24 (2**53) for any input —
  then every addition is exact in any order —, else an int64 one; a layer whose sums could need
  63 bits or more is refused.
- **relu** (``nnet::relu``): ``x > 0 ? (result_t) x : 0``; **linear** (``nnet::linear``):
  ``(result_t) x``.

Bit-exact to hls4ml's C simulation (``tests/test_firmware_emulator.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from datasets.errors import L1TInputError
from models.fixedpoint import MAX_WIDTH, FixedType, requantize

from .backend import Backend, check_chunk_size
from .ir import ActivationLayer, DenseLayer, FirmwareModel, InputLayer

FLOAT32_EXACT = 2**24   #: float32 matrix products are exact while every partial sum stays below
FLOAT_EXACT = 2**53     #: float64 matrix products are exact while every partial sum stays below
INT_EXACT = 2**62       #: int64 sums are exact (with room for the bias) below this

DEFAULT_CHUNK = 32768


def _max_abs_code(t: FixedType) -> int:
    return max(-t.min_code, t.max_code)


def _min_kept(t: FixedType) -> int:
    """Smallest code a cast into ``t`` leaves as it is: ``AP_SAT_SYM`` maps ``-2**(W-1)`` to
    ``-(2**(W-1) - 1)`` even when the value is exactly representable (as HLS does)."""
    return -t.max_code if (t.overflow == "SAT_SYM" and t.signed) else t.min_code


def _contains(src: FixedType, dst: FixedType) -> bool:
    """Whether every value of ``src`` is a value of ``dst`` (the cast is a plain left shift)."""
    d = dst.frac - src.frac
    return d >= 0 and (src.min_code << d) >= _min_kept(dst) and (src.max_code << d) <= dst.max_code


def cast(codes: np.ndarray, src: FixedType, dst: FixedType) -> np.ndarray:
    """``dst_t y = x;`` for ``x`` of type ``src``: int64 codes of ``dst`` (shape of ``codes``).

    Same result as :func:`models.fixedpoint.requantize` (the reference; checked against it in
    the tests), with a faster path for the usual case: a right shift by ``k`` bits followed by
    the rounding increment of ``dst``'s mode, then its overflow mode.
    """
    if src == dst:
        return codes
    d = dst.frac - src.frac
    if _contains(src, dst):
        return codes << d                                  # every value fits exactly
    if d >= 0 or dst.overflow not in ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM"):
        return requantize(codes, src, dst)
    k = -d
    if k >= src.width + 1:                                  # everything shifted out: reference
        return requantize(codes, src, dst)
    q = codes >> k                                          # floor
    r = codes & ((1 << k) - 1)                              # dropped bits, 0 <= r < 2**k
    half = 1 << (k - 1)
    mode = dst.rounding
    if mode == "TRN":
        inc = None
    elif mode == "TRN_ZERO":
        inc = (codes < 0) & (r != 0)
    elif mode == "RND":
        inc = r >= half
    elif mode == "RND_ZERO":
        inc = (r > half) | ((r == half) & (codes < 0))
    elif mode == "RND_MIN_INF":
        inc = r > half
    elif mode == "RND_INF":
        inc = (r > half) | ((r == half) & (codes >= 0))
    else:  # RND_CONV
        inc = (r > half) | ((r == half) & ((q & 1) == 1))
    if inc is not None:
        q = q + inc
    lo, hi = dst.min_code, dst.max_code
    o = dst.overflow
    if o == "WRAP":
        return _wrap(q, dst)
    if o == "SAT":
        return np.clip(q, lo, hi)
    if o == "SAT_ZERO":
        return np.where((q < lo) | (q > hi), 0, q)
    return np.clip(q, -hi if dst.signed else 0, hi)        # SAT_SYM


def _wrap(v: np.ndarray, t: FixedType) -> np.ndarray:
    """``v mod 2**W`` mapped into ``t``'s code range (two's complement for signed types)."""
    w = t.width
    u = v & ((1 << w) - 1)
    if t.signed:
        u = np.where(u > t.max_code, u - (1 << w), u)
    return u


@dataclass
class _DensePlan:
    layer: DenseLayer
    w_codes: np.ndarray         # (n_in, n_out) int64
    w_float: np.ndarray | None  # float32/float64 weights for an exact float matrix product
    bias_acc: np.ndarray        # (n_out,) int64: (accum_t) bias
    shift: int                  # F_acc - (F_in + F_w)
    path: str                   # "sum" (sum once, cast once) | "stepwise"
    product_type: FixedType | None = None   # stepwise: a type holding every product exactly
    wide_type: FixedType | None = None      # stepwise: accum_t with one more integer bit
    may_overflow: bool = True               # sum: whether accum_t can overflow (then it wraps)

    @classmethod
    def build(cls, layer: DenseLayer) -> "_DensePlan":
        name = layer.name
        tx, tw, ta = layer.input_type, layer.weight_type, layer.accum_type
        w = layer.weight_codes
        fp = tx.frac + tw.frac
        shift = ta.frac - fp
        x_max = _max_abs_code(tx)
        col = [sum(abs(int(v)) for v in w[:, j]) for j in range(layer.n_out)]
        bound = [x_max * c for c in col]                 # |Σ_i x_i w_ij| for any input
        if max(bound, default=0) >= INT_EXACT:
            raise L1TInputError(name, f"input {tx} × weight {tw} summed over {layer.n_in} inputs "
                                "can need 63 bits or more: not emulated exactly in int64",
                                "accum_t")
        bias_acc = cast(layer.bias_codes, layer.bias_type, ta)
        if shift >= 0:
            no_overflow = all(int(b) + (m << shift) <= ta.max_code and
                              int(b) - (m << shift) >= _min_kept(ta)
                              for b, m in zip(bias_acc, bound))
            if ta.overflow == "WRAP" or no_overflow:
                top = max(bound, default=0)
                w_float = (w.astype(np.float32) if top < FLOAT32_EXACT else
                           w.astype(np.float64) if top < FLOAT_EXACT else None)
                return cls(layer, w, w_float, bias_acc, shift, "sum",
                           may_overflow=not no_overflow)
        # step by step, as the C++ loops do
        p_max = x_max * int(np.abs(w).max(initial=0))
        p_width = max(p_max.bit_length() + 1, 2)
        if p_width > MAX_WIDTH or ta.width + 1 > MAX_WIDTH:
            raise L1TInputError(name, f"products ({p_width} bits) or accum_t {ta} too wide for "
                                "exact int64 emulation", "accum_t")
        ptype = FixedType(p_width, p_width - fp, signed=True)
        wide = FixedType(ta.width + 1, ta.integer + 1, signed=ta.signed)
        return cls(layer, w, None, bias_acc, shift, "stepwise", ptype, wide)

    def accumulate(self, x: np.ndarray) -> np.ndarray:
        """``acc`` codes of ``accum_t`` ``(N, n_out)`` for input codes ``x`` ``(N, n_in)``."""
        ta = self.layer.accum_type
        if self.path == "sum":
            if self.w_float is not None:
                s = (x.astype(self.w_float.dtype) @ self.w_float).astype(np.int64)
            else:
                s = x @ self.w_codes
            if not self.may_overflow:
                return (s << self.shift) + self.bias_acc if self.shift else s + self.bias_acc
            # accum_t wraps (AP_WRAP): reduce modulo 2**W before shifting to stay within int64
            if self.shift >= ta.width:
                s = np.zeros_like(s)
            else:
                s = (s & ((1 << (ta.width - self.shift)) - 1)) << self.shift
            return _wrap(s + self.bias_acc, ta)
        acc = np.broadcast_to(self.bias_acc, (len(x), self.layer.n_out)).copy()
        for i in range(self.layer.n_in):
            p = x[:, i:i + 1] * self.w_codes[i]                      # exact products (N, n_out)
            acc = requantize(acc + requantize(p, self.product_type, ta), self.wide_type, ta)
        return acc


def _plan(fw: FirmwareModel) -> list[Any]:
    plans: list[Any] = []
    for layer in fw.layers:
        if isinstance(layer, DenseLayer):
            plans.append(_DensePlan.build(layer))
        elif isinstance(layer, (ActivationLayer, InputLayer)):
            plans.append(layer)
        else:
            raise L1TInputError(getattr(layer, "name", "?"), f"layer kind "
                                f"{type(layer).__name__} is not emulated", "layer")
    return plans


def _run(plans: list[Any], outputs: list[str], x_codes: np.ndarray,
         keep: bool = False) -> dict[str, np.ndarray]:
    """Codes of every layer (or only of the outputs) for one chunk of input codes."""
    values: dict[str, np.ndarray] = {}
    for plan in plans:
        if isinstance(plan, InputLayer):
            values[plan.name] = x_codes
        elif isinstance(plan, _DensePlan):
            layer = plan.layer
            acc = plan.accumulate(values[layer.input])
            values[layer.name] = cast(acc, layer.accum_type, layer.result_type)
        else:  # ActivationLayer
            src = values[plan.input]
            if plan.activation == "relu":
                src = np.maximum(src, 0)
            values[plan.name] = cast(src, plan.input_type, plan.result_type)
    return values if keep else {name: values[name] for name in outputs}


def emulate_codes(fw: FirmwareModel, x_codes: np.ndarray, chunk_size: int = DEFAULT_CHUNK,
                  trace: bool = False) -> dict[str, np.ndarray]:
    """Output codes (int64 ``(N, n_k)``, keyed by layer name) for input codes ``(N, n_in)``.

    With ``trace`` every layer's codes are returned (``chunk_size`` still bounds the working
    memory of each step, the returned arrays are full length).
    """
    plans = _plan(fw)
    x_codes = np.asarray(x_codes, dtype=np.int64)
    n = len(x_codes)
    names = [layer.name for layer in fw.layers] if trace else list(fw.outputs)
    out = {name: np.empty((n, fw.layer(name).n_out), dtype=np.int64) for name in names}
    for start in range(0, n, chunk_size):
        part = _run(plans, fw.outputs, x_codes[start:start + chunk_size], keep=trace)
        for name in names:
            out[name][start:start + chunk_size] = part[name]
    return out


class EmulatorBackend(Backend):
    """Our vectorised numpy emulation of the hls4ml arithmetic (no hardware figures).

    ``chunk_size``: events evaluated at a time (bounds memory).
    """

    name = "emulator"
    unavailable_reason = ("not available: the emulator models arithmetic only; latency and "
                          "resources need a synthesis run (hls4ml backend + Vivado/Vitis)")

    def __init__(self, chunk_size: int = DEFAULT_CHUNK) -> None:
        super().__init__()
        self.chunk_size = check_chunk_size(self.name, chunk_size)
        self._plans: list[Any] = []

    def _compile(self, fw_model: FirmwareModel, workdir: str | None) -> None:
        self._plans = _plan(fw_model)     # validates every layer (widths) up front

    def _predict(self, x: np.ndarray, codes: np.ndarray) -> list[np.ndarray]:
        fw = self.fw_model
        outs = [np.empty((len(codes), n), dtype=np.float64) for n in fw.output_sizes]
        for start in range(0, len(codes), self.chunk_size):
            part = _run(self._plans, fw.outputs, codes[start:start + self.chunk_size])
            for k, (name, t) in enumerate(zip(fw.outputs, fw.output_types)):
                outs[k][start:start + self.chunk_size] = np.ldexp(
                    part[name].astype(np.float64), -t.frac)
        return outs

    def predict_layers(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every layer's values (float64 ``(N, n)``, on its result grid) for inputs ``x``."""
        fw = self.fw_model
        codes = emulate_codes(fw, fw.input_codes(x), self.chunk_size, trace=True)
        return {layer.name: np.ldexp(codes[layer.name].astype(np.float64),
                                     -layer.result_type.frac) for layer in fw.layers}
