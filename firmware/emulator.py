"""Bit-exact emulation of the fixed-point arithmetic hls4ml generates (numpy + numba).

Everything is integer *codes* (value = code × 2**-F, :mod:`l1t.models.fixedpoint`), evaluated layer
by layer:

- **input**: ``input_t`` codes (values checked to be on the input grid);
- **Dense** (``nnet::dense_latency``): in C++ each product ``x[i] * w[i][j]`` is exact
  (``ap_fixed<Wx+Ww, Ix+Iw>``) and is stored into an ``accum_t`` array, the accumulator starts at
  ``(accum_t) bias[j]`` and ``acc[j] += mult[i][j]`` runs over ``i = 0 … n_in-1``, then
  ``res[j] = (result_t) acc[j]``. Here: products are integer products of the input codes and the
  weight codes (LSB ``2**-(Fx+Fw)``), summed exactly; the sum is then cast to ``accum_t`` and
  ``result_t`` with their rounding/overflow modes. Summing first and casting once is exact when
  ``accum_t`` needs no rounding of a product (``F_acc >= Fx + Fw``) and either wraps
  (``AP_WRAP``: every cast is the same modular reduction) or cannot overflow for any input
  (checked from the weights and the input range); otherwise the emulator follows the C++ step
  by step (product → ``accum_t``, then each ``+=`` with ``accum_t``'s overflow mode, in the C++
  order). The exact sum uses a float32 (float64) product when every partial sum is an integer
  below 2**24 (2**53) for any input — then every product and every addition is exact in any
  order —, else an int64 one; a layer whose sums could need 63 bits or more is refused.
- **relu** (``nnet::relu``): ``x > 0 ? (result_t) x : 0``; **linear** (``nnet::linear``):
  ``(result_t) x``.

Casts (:func:`cast`, ``dst_t y = x``) are a shift (left, or right by ``k`` bits followed by the
rounding increment of ``dst``'s mode, decided from the dropped bits ``r``: above, at or below
``2**(k-1)``), then ``dst``'s overflow mode; one branch-free int64 formula (:func:`_cast1`)
covers every mode pair whose shifted codes fit in int64, :func:`l1t.models.fixedpoint.requantize`
(the reference) the rest. ``tests/test_fixed_ap_types.py`` checks :func:`cast` against the real
``ap_fixed`` headers.

Two ways to run a model, with the same results:

- **fused kernel** (:class:`_Program`, used by :meth:`EmulatorBackend.predict`): one compiled
  pass over the float64 inputs, chunks of events on threads (the kernel releases the GIL), 64
  events at a time through the whole network (grid check, float32/float64 sums, int64 casts,
  float64 outputs), so that nothing larger than the outputs is ever written to memory. It
  applies when every Dense layer takes the "sum once" path with a float product and every cast
  has int64 parameters — the usual case, the VAE encoder included;
- **layer by layer** on int64 code arrays (:func:`emulate_codes`, chunks of ``chunk_size``
  events): every other model (step-by-step accumulators, int64 sums) and the per-layer trace.

Bit-exact to hls4ml's C simulation (``tests/test_firmware_emulator.py``).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from l1t.core.errors import L1TInputError
from l1t.models.fixedpoint import MAX_WIDTH, FixedType, requantize

from .backend import Backend, check_chunk_size
from .ir import ActivationLayer, DenseLayer, FirmwareModel, InputLayer

FLOAT32_EXACT = 2**24   #: float32 matrix products are exact while every partial sum stays below
FLOAT_EXACT = 2**53     #: float64 matrix products are exact while every partial sum stays below
INT_EXACT = 2**62       #: int64 sums are exact (with room for the bias) below this

DEFAULT_CHUNK = 32768
GROUP = 64              #: events the fused kernel carries through the network together


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


# -- casts -----------------------------------------------------------------------------------------
# A cast is 10 int64 parameters: left shift, right shift, mask of the dropped bits, half (2**(k-1),
# or 1 when nothing is dropped so that no rounding condition holds), rounding flags, overflow
# kind, low / high code bounds, mask of the W low bits, and 2**W (the wrap's correction).
N_CAST = 10
OV_WRAP, OV_CLIP, OV_ZERO, OV_NONE = 0, 1, 2, 3
# rounding flags: +1 when the dropped bits r are above half (G); at half: always (E), when the
# code is negative (EN), non-negative (EP), when the kept part is odd (EO); r != 0 and negative (Z)
_G, _E, _EN, _EP, _EO, _Z = 1, 2, 4, 8, 16, 32
_ROUNDING_FLAGS = {"TRN": 0, "TRN_ZERO": _Z, "RND": _G | _E, "RND_ZERO": _G | _EN,
                   "RND_MIN_INF": _G, "RND_INF": _G | _EP, "RND_CONV": _G | _EO}


def _cast_params(src: FixedType, dst: FixedType) -> np.ndarray | None:
    """The :func:`_cast1` parameters of ``dst_t y = (src_t) x`` (None: use the reference)."""
    p = np.zeros(N_CAST, dtype=np.int64)
    p[3], p[5] = 1, OV_NONE
    if src == dst:
        return p
    d = dst.frac - src.frac
    if _contains(src, dst):
        p[0] = d
        return p
    if d >= 0:
        if src.width + d > MAX_WIDTH:      # the shifted codes could leave int64
            return None
        p[0] = d
    else:
        k = -d
        if k > MAX_WIDTH:
            return None
        p[1], p[2], p[3] = k, (1 << k) - 1, 1 << (k - 1)
        p[4] = _ROUNDING_FLAGS[dst.rounding]
    lo, hi = dst.min_code, dst.max_code
    o = dst.overflow
    if o == "SAT_SYM":
        # the headers set the pattern 1 << (W-1) | 1 on underflow: -hi, or -1 for one bit
        lo = (-hi if dst.width > 1 else -1) if dst.signed else 0
    p[5] = {"WRAP": OV_WRAP, "SAT": OV_CLIP, "SAT_SYM": OV_CLIP, "SAT_ZERO": OV_ZERO}[o]
    p[6], p[7], p[8], p[9] = lo, hi, (1 << dst.width) - 1, 1 << dst.width
    return p


def _wrap_params(t: FixedType) -> np.ndarray:
    """:func:`_cast1` parameters of a plain reduction modulo ``2**W`` into ``t``."""
    p = np.zeros(N_CAST, dtype=np.int64)
    p[3], p[5] = 1, OV_WRAP
    p[6], p[7], p[8], p[9] = t.min_code, t.max_code, (1 << t.width) - 1, 1 << t.width
    return p


@numba.njit(inline="always", nogil=True)
def _cast1(v, ls, rs, rmask, half, flags, ov, lo, hi, wmask, wsize):  # pragma: no cover - jit
    """One code: shift, rounding increment, overflow (branch-free, so loops vectorise)."""
    q = (v << ls) >> rs
    r = v & rmask
    neg = v < 0
    tie = r == half
    inc = (((r > half) & ((flags & 1) != 0))
           | (tie & (((flags & 2) != 0) | (neg & ((flags & 4) != 0))
                     | ((v >= 0) & ((flags & 8) != 0)) | (((q & 1) == 1) & ((flags & 16) != 0))))
           | ((r != 0) & neg & ((flags & 32) != 0)))
    q = q + np.int64(inc)
    u = q & wmask
    u = u - np.int64(u > hi) * wsize                     # two's complement (never for unsigned)
    c = min(max(q, lo), hi)
    z = q if (q >= lo) & (q <= hi) else np.int64(0)
    return u if ov == 0 else (c if ov == 1 else (z if ov == 2 else q))


@numba.njit(cache=True, nogil=True)
def _cast_array(v, out, p):  # pragma: no cover - jit
    ls, rs, rmask, half, flags = p[0], p[1], p[2], p[3], p[4]
    ov, lo, hi, wmask, wsize = p[5], p[6], p[7], p[8], p[9]
    for n in range(v.size):
        out[n] = _cast1(v[n], ls, rs, rmask, half, flags, ov, lo, hi, wmask, wsize)


def cast(codes: np.ndarray, src: FixedType, dst: FixedType) -> np.ndarray:
    """``dst_t y = x;`` for ``x`` of type ``src``: int64 codes of ``dst`` (shape of ``codes``).

    Same result as :func:`l1t.models.fixedpoint.requantize` (the reference; checked against it and
    against the ``ap_fixed`` headers in the tests), computed by the compiled :func:`_cast1`
    wherever its int64 shifts cannot overflow.
    """
    if src == dst:
        return codes
    p = _cast_params(src, dst)
    if p is None:
        return requantize(codes, src, dst)
    v = np.ascontiguousarray(codes, dtype=np.int64)
    out = np.empty_like(v)
    _cast_array(v.reshape(-1), out.reshape(-1), p)
    return out


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


# -- the fused kernel --------------------------------------------------------------------------
K_DENSE, K_ACT, K_OUT = 1, 2, 3
# one int64 row per step: kind, source row, destination row, n_in (or n), n_out, weight offset,
# bias offset, sum mask, sum shift, relu floor, output offset (in units of N), then two casts
_ROW = 11
_CA = _ROW              # dense: the sum's wrap into accum_t (OV_NONE when it cannot overflow)
_CB = _ROW + N_CAST     # dense: accum_t -> result_t; activation: input -> result_t
_PROG_WIDTH = _ROW + 2 * N_CAST
_INT64_MIN = -(1 << 63)


@numba.njit(cache=True, nogil=True)
def _forward(x, start, stop, in_scale, in_inv, in_lo, in_hi, prog, fscale, wts, bias, n_units,
             max_in, max_out, out):  # pragma: no cover - jit
    """Run ``prog`` on the events ``start:stop`` of the inputs ``x`` (float64 ``(N, n_in)``) into
    ``out`` (float64, the outputs one after the other, each ``(N, n_k)``). Returns the flat index
    of the first of these inputs that is not a code × ``in_inv`` within ``[in_lo, in_hi]`` (NaN
    and inf included), else -1."""
    n, n_in = x.shape
    codes = np.zeros((n_units, GROUP), dtype=np.int64)
    stage = np.zeros((GROUP, n_in), dtype=np.float64)
    xf = np.zeros((max_in, GROUP), dtype=wts.dtype)
    acc = np.zeros((max_out, GROUP), dtype=wts.dtype)
    first_bad = -1
    for g0 in range(start, stop, GROUP):
        m = min(GROUP, stop - g0)
        for b in range(m):                            # branch-free, along the row of x
            e = g0 + b
            n_bad = 0
            for i in range(n_in):
                v = x[e, i]
                f = np.floor(v * in_scale)            # exact: a power-of-two scaling
                ok = (f >= in_lo) & (f <= in_hi) & (f * in_inv == v)
                n_bad += np.int64(not ok)
                stage[b, i] = f if ok else 0.0
            if n_bad > 0 and first_bad < 0:
                for i in range(n_in):
                    v = x[e, i]
                    f = np.floor(v * in_scale)
                    if not ((f >= in_lo) & (f <= in_hi) & (f * in_inv == v)):
                        first_bad = e * n_in + i
                        break
        for b in range(m, GROUP):                     # the tail of the last group
            for i in range(n_in):
                stage[b, i] = 0.0
        for i in range(n_in):
            for b in range(GROUP):
                codes[i, b] = np.int64(stage[b, i])
        for s in range(prog.shape[0]):
            kind, src, dst, n_a, n_b = prog[s, 0], prog[s, 1], prog[s, 2], prog[s, 3], \
                prog[s, 4]
            if kind == K_DENSE:
                woff, boff, smask, shift = prog[s, 5], prog[s, 6], prog[s, 7], prog[s, 8]
                for i in range(n_a):
                    for b in range(GROUP):
                        xf[i, b] = codes[src + i, b]
                for j in range(n_b):
                    for b in range(GROUP):
                        acc[j, b] = 0
                for i in range(n_a):
                    for j in range(n_b):
                        w = wts[woff + i * n_b + j]
                        for b in range(GROUP):
                            acc[j, b] += xf[i, b] * w
                a0, a1, a2, a3, a4 = prog[s, _CA], prog[s, _CA + 1], prog[s, _CA + 2], \
                    prog[s, _CA + 3], prog[s, _CA + 4]
                a5, a6, a7, a8, a9 = prog[s, _CA + 5], prog[s, _CA + 6], prog[s, _CA + 7], \
                    prog[s, _CA + 8], prog[s, _CA + 9]
                b0, b1, b2, b3, b4 = prog[s, _CB], prog[s, _CB + 1], prog[s, _CB + 2], \
                    prog[s, _CB + 3], prog[s, _CB + 4]
                b5, b6, b7, b8, b9 = prog[s, _CB + 5], prog[s, _CB + 6], prog[s, _CB + 7], \
                    prog[s, _CB + 8], prog[s, _CB + 9]
                if a0 == 0 and a1 == 0 and a5 == OV_NONE:     # the usual: cannot overflow
                    for j in range(n_b):
                        bj = bias[boff + j]
                        for b in range(GROUP):
                            t = (np.int64(acc[j, b]) << shift) + bj
                            codes[dst + j, b] = _cast1(t, b0, b1, b2, b3, b4, b5, b6, b7,
                                                       b8, b9)
                else:
                    for j in range(n_b):
                        bj = bias[boff + j]
                        for b in range(GROUP):
                            t = ((np.int64(acc[j, b]) & smask) << shift) + bj
                            t = _cast1(t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9)
                            codes[dst + j, b] = _cast1(t, b0, b1, b2, b3, b4, b5, b6, b7,
                                                       b8, b9)
            elif kind == K_ACT:
                floor = prog[s, 9]
                b0, b1, b2, b3, b4 = prog[s, _CB], prog[s, _CB + 1], prog[s, _CB + 2], \
                    prog[s, _CB + 3], prog[s, _CB + 4]
                b5, b6, b7, b8, b9 = prog[s, _CB + 5], prog[s, _CB + 6], prog[s, _CB + 7], \
                    prog[s, _CB + 8], prog[s, _CB + 9]
                for j in range(n_a):
                    for b in range(GROUP):
                        t = max(codes[src + j, b], floor)
                        codes[dst + j, b] = _cast1(t, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9)
            else:  # K_OUT
                base = prog[s, 10] * n
                sc = fscale[s]
                for b in range(m):
                    row = base + (g0 + b) * n_a
                    for j in range(n_a):
                        out[row + j] = codes[src + j, b] * sc
    return first_bad


@dataclass
class _Program:
    """A model compiled for :func:`_forward` (see the module docstring for when it applies)."""

    prog: np.ndarray        # (steps, _PROG_WIDTH) int64
    fscale: np.ndarray      # (steps,) float64: 2**-F of each output step
    weights: np.ndarray     # every Dense's weight codes, flat, float32 or float64
    bias: np.ndarray        # every Dense's (accum_t) bias codes, flat int64
    n_units: int            # rows of codes per event (every layer's outputs)
    max_in: int
    max_out: int
    sizes: list[int]        # output sizes, in fw.outputs order
    input_type: FixedType

    @classmethod
    def build(cls, fw: FirmwareModel, plans: list[Any]) -> "_Program | None":
        """The program of ``fw`` (``plans`` from :func:`_plan`), or None where it does not apply."""
        dense = [p for p in plans if isinstance(p, _DensePlan)]
        if any(p.path != "sum" or p.w_float is None for p in dense):
            return None
        dtype = np.float32 if all(p.w_float.dtype == np.float32 for p in dense) else np.float64
        rows: dict[str, int] = {}
        n_units = 0
        steps, weights, biases = [], [], []
        woff = boff = 0
        for plan in plans:
            layer = plan.layer if isinstance(plan, _DensePlan) else plan
            rows[layer.name] = n_units
            n_units += layer.n_out
            if isinstance(plan, InputLayer):
                if plan is not fw.layers[0]:
                    return None
                continue
            row = np.zeros(_PROG_WIDTH, dtype=np.int64)
            row[1], row[2] = rows[layer.input], rows[layer.name]
            if isinstance(plan, _DensePlan):
                ta = layer.accum_type
                cb = _cast_params(ta, layer.result_type)
                if cb is None:
                    return None
                row[0], row[3], row[4], row[5], row[6] = K_DENSE, layer.n_in, layer.n_out, \
                    woff, boff
                if not plan.may_overflow:
                    row[7], row[8] = -1, plan.shift
                    row[_CA:_CA + N_CAST] = _cast_params(ta, ta)        # identity
                elif plan.shift < ta.width:         # wrap: reduce before shifting (int64)
                    row[7], row[8] = (1 << (ta.width - plan.shift)) - 1, plan.shift
                    row[_CA:_CA + N_CAST] = _wrap_params(ta)
                else:                               # every bit of the sum shifted out
                    row[7], row[8] = 0, 0
                    row[_CA:_CA + N_CAST] = _wrap_params(ta)
                row[_CB:_CB + N_CAST] = cb
                weights.append(plan.w_float.astype(dtype).ravel())
                biases.append(plan.bias_acc.astype(np.int64))
                woff += layer.n_in * layer.n_out
                boff += layer.n_out
            else:  # ActivationLayer
                cb = _cast_params(layer.input_type, layer.result_type)
                if cb is None:
                    return None
                row[0], row[3] = K_ACT, layer.n
                row[9] = 0 if layer.activation == "relu" else _INT64_MIN
                row[_CB:_CB + N_CAST] = cb
            steps.append(row)
        fscale, offset, sizes = [0.0] * len(steps), 0, []
        for name in fw.outputs:
            layer = fw.layer(name)
            row = np.zeros(_PROG_WIDTH, dtype=np.int64)
            row[0], row[1], row[3], row[10] = K_OUT, rows[name], layer.n_out, offset
            steps.append(row)
            fscale.append(float(np.ldexp(1.0, -layer.result_type.frac)))
            offset += layer.n_out
            sizes.append(layer.n_out)
        mx_in = max([p.layer.n_in for p in dense], default=1)
        mx_out = max([p.layer.n_out for p in dense], default=1)
        return cls(np.array(steps, dtype=np.int64).reshape(-1, _PROG_WIDTH),
                   np.array(fscale, dtype=np.float64),
                   np.concatenate(weights) if weights else np.zeros(1, dtype=dtype),
                   np.concatenate(biases) if biases else np.zeros(1, dtype=np.int64),
                   n_units, mx_in, mx_out, sizes, fw.input_type)

    def run(self, x: np.ndarray, chunk_size: int, n_threads: int = 0
            ) -> tuple[list[np.ndarray], int]:
        """Outputs (float64 ``(N, n_k)``, views of one buffer) for float64 inputs ``x``
        ``(N, n_in)``, and the flat index of the first input off the grid (-1: none).

        Chunks of ``chunk_size`` events run on ``n_threads`` threads (0: one per CPU); the
        kernel releases the GIL.
        """
        t = self.input_type
        n = len(x)
        out = np.empty(n * sum(self.sizes), dtype=np.float64)
        args = (float(np.ldexp(1.0, t.frac)), float(np.ldexp(1.0, -t.frac)), float(t.min_code),
                float(t.max_code), self.prog, self.fscale, self.weights, self.bias, self.n_units,
                self.max_in, self.max_out, out)

        def chunk(start: int) -> int:
            return _forward(x, start, min(n, start + chunk_size), *args)

        starts = range(0, n, chunk_size)
        workers = min(n_threads or _cpu_count(), len(starts))
        if workers <= 1:
            bad = [chunk(s) for s in starts]
        else:
            with ThreadPoolExecutor(workers) as pool:
                bad = list(pool.map(chunk, starts))
        outs, offset = [], 0
        for size in self.sizes:
            outs.append(out[offset * n:(offset + size) * n].reshape(n, size))
            offset += size
        hit = [b for b in bad if b >= 0]
        return outs, min(hit) if hit else -1


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:       # not on Linux
        return os.cpu_count() or 1


class EmulatorBackend(Backend):
    """Our bit-exact emulation of the hls4ml arithmetic (no hardware figures).

    ``chunk_size``: events per work item (a compiled chunk of the fused kernel, or a step of the
    layer-by-layer path: bounds its working memory); ``n_threads``: threads running the fused
    kernel's chunks (0: one per CPU).
    """

    name = "emulator"
    unavailable_reason = ("not available: the emulator models arithmetic only; latency and "
                          "resources need a synthesis run (hls4ml backend + Vivado/Vitis)")

    def __init__(self, chunk_size: int = DEFAULT_CHUNK, n_threads: int = 0) -> None:
        super().__init__()
        self.chunk_size = check_chunk_size(self.name, chunk_size)
        if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) \
                or n_threads < 0:
            raise L1TInputError(self.name, f"n_threads must be an integer >= 0, got "
                                f"{n_threads!r}", "n_threads")
        self.n_threads = int(n_threads)
        self._plans: list[Any] = []
        self._program: _Program | None = None

    @property
    def fused(self) -> bool:
        """Whether :meth:`predict` runs the fused compiled kernel (else layer by layer)."""
        return self._program is not None

    def _compile(self, fw_model: FirmwareModel, workdir: str | None) -> None:
        self._plans = _plan(fw_model)     # validates every layer (widths) up front
        self._program = _Program.build(fw_model, self._plans)

    def predict(self, x: np.ndarray) -> list[np.ndarray]:
        """Outputs for on-grid inputs ``x`` ``(N, n_in)`` (the contract of
        :meth:`Backend.predict`); the fused kernel checks the grid as it reads ``x``."""
        fw = self.fw_model
        if self._program is None:
            return super().predict(x)
        x = fw._shape(x, finite=False)            # NaN/inf fail the kernel's grid check
        outs, first_bad = self._program.run(x, self.chunk_size, self.n_threads)
        if first_bad >= 0:
            fw.input_codes(x)                     # raises, naming the first bad input
            raise RuntimeError(f"{self.name}: input {divmod(first_bad, fw.n_in)} failed the "
                               "kernel's grid check but not FirmwareModel.input_codes")
        return outs

    def _predict(self, x: np.ndarray, codes: np.ndarray) -> list[np.ndarray]:
        fw = self.fw_model
        if self._program is not None:
            return self._program.run(x, self.chunk_size, self.n_threads)[0]
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
