"""Fixed-point numbers exactly as Vivado/Vitis HLS ``ap_fixed<W,I,Q,O>`` / ``ap_ufixed<W,I,Q,O>``.

A type has ``W`` bits in all, ``I`` of them left of the binary point (the sign bit included for
``ap_fixed``), so ``F = W - I`` fractional bits and an LSB of ``2**-F`` (``I`` may be negative or
larger than ``W``, as in HLS). A value is stored as its integer *code* ``q`` with value
``q * 2**-F``:

============  ======================  ==========================
type          code range              value range
============  ======================  ==========================
ap_fixed      -2**(W-1) .. 2**(W-1)-1  -2**(I-1) .. 2**(I-1) - 2**-F
ap_ufixed     0 .. 2**W - 1            0 .. 2**I - 2**-F
============  ======================  ==========================

Converting a real number ``x`` (any float64, hence any float32) to a type is done exactly as the
HLS ``ap_fixed_base(double)`` constructor (``ap_fixed_base.h``) does, in two steps:

1. **Quantization** (``Q``, the rounding mode) of the exact value ``y = x * 2**F`` to an integer
   ``r``. With ``f = y - floor(y)`` the fractional part (``0 <= f < 1``):

   ========  =================  ================================================
   mode      HLS name           ``r``
   ========  =================  ================================================
   TRN       AP_TRN (default)   ``floor(y)`` (toward -inf)
   TRN_ZERO  AP_TRN_ZERO        ``trunc(y)`` (toward 0)
   RND       AP_RND             nearest, ties toward +inf: ``floor(y + 1/2)``
   RND_ZERO  AP_RND_ZERO        nearest, ties toward 0
   RND_MIN_INF AP_RND_MIN_INF   nearest, ties toward -inf: ``ceil(y - 1/2)``
   RND_INF   AP_RND_INF         nearest, ties away from 0
   RND_CONV  AP_RND_CONV        nearest, ties to even (convergent rounding)
   ========  =================  ================================================

2. **Overflow** (``O``) of ``r`` against the code range ``[lo, hi]`` (table above), *after*
   rounding (a carry out of rounding can overflow: ``ap_fixed<4,2,AP_RND,AP_SAT>(1.9) = 1.75``):

   ========  =================  ================================================
   mode      HLS name           code
   ========  =================  ================================================
   WRAP      AP_WRAP (default)  the low ``W`` bits of ``r``, read as two's complement
                                (``ap_fixed``) or unsigned (``ap_ufixed``): ``r mod 2**W``
                                mapped into ``[lo, hi]``
   SAT       AP_SAT             ``clip(r, lo, hi)``
   SAT_ZERO  AP_SAT_ZERO        ``0`` where ``r`` is outside ``[lo, hi]``, else ``r``
   SAT_SYM   AP_SAT_SYM         ``clip(r, -hi, hi)`` for ``ap_fixed`` (so ``lo`` itself maps to
                                ``-hi``, as HLS does; a one-bit ``ap_fixed`` underflows to code
                                -1, the headers' pattern); same as SAT for ``ap_ufixed``
   ========  =================  ================================================

   ``AP_WRAP_SM`` and saturation bits ``N != 0`` are not supported (hls4ml never writes them).

Exactness: a finite float64 is split into an integer mantissa and an exponent (``np.frexp``),
and everything after that is int64 arithmetic (shifts, masks, comparisons), so the result is
exact for every finite input, however large or small. Limits: ``1 <= W <= MAX_WIDTH = 62`` (codes
are int64) and ``|F| <= MAX_FRAC = 960`` (values stay in float64's normal range). Functions that
return *values* as float64 (:func:`quantize`, :func:`from_int`) need ``W <= 53`` so that every
code is exactly representable in float64; the integer functions (:func:`to_int`,
:func:`requantize`, :func:`overflows`) work up to ``W = 62``. NaN and ±inf are rejected
(:class:`~l1t.core.errors.L1TInputError`), as integer inputs beyond ``2**53`` in magnitude are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from l1t.core.errors import L1TInputError

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
MAX_WIDTH = 62        #: widest type: codes and intermediate magnitudes are int64
MAX_FLOAT_WIDTH = 53  #: widest type whose values are all exact float64
MAX_FRAC = 960        #: largest |F| = |W - I|

_TYPE_RE = re.compile(r"^\s*(?:ap_)?(u?)(fixed|int)\s*<([^<>]*)>\s*$", re.IGNORECASE)


def _mode(name: object, allowed: tuple[str, ...], what: str) -> str:
    text = str(name).strip().upper()
    if text.startswith("AP_"):
        text = text[3:]
    if text not in allowed:
        raise L1TInputError("FixedType", f"unknown {what} mode {name!r}; one of {', '.join(allowed)}",
                            what)
    return text


@dataclass(frozen=True)
class FixedType:
    """``ap_fixed<width, integer, AP_<rounding>, AP_<overflow>>`` (``ap_ufixed`` if not signed).

    Modes may be given with or without the ``AP_`` prefix, in any case; they are stored without
    it (``"RND_CONV"``). ``str(t)`` is the hls4ml/HLS spelling, e.g. ``ap_fixed<16,6>`` (default
    modes left out) or ``ap_ufixed<8,3,AP_RND_CONV,AP_SAT>``.
    """

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self) -> None:
        for name in ("width", "integer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise L1TInputError("FixedType", f"{name} must be an integer, got {value!r}", name)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "integer", int(self.integer))
        object.__setattr__(self, "signed", bool(self.signed))
        object.__setattr__(self, "rounding", _mode(self.rounding, ROUNDING_MODES, "rounding"))
        object.__setattr__(self, "overflow", _mode(self.overflow, OVERFLOW_MODES, "overflow"))
        if not 1 <= self.width <= MAX_WIDTH:
            raise L1TInputError("FixedType", f"width {self.width} outside 1..{MAX_WIDTH}", "width")
        if abs(self.width - self.integer) > MAX_FRAC:
            raise L1TInputError("FixedType", f"|width - integer| = {abs(self.width - self.integer)} "
                                f"exceeds {MAX_FRAC}", "integer")

    # -- derived quantities -------------------------------------------------------------------
    @property
    def frac(self) -> int:
        """Fractional bits ``F = W - I`` (may be negative)."""
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        """Value of one code step, ``2**-F``."""
        return float(np.ldexp(1.0, -self.frac))

    @property
    def min_code(self) -> int:
        """Smallest code: ``-2**(W-1)`` (signed) or 0."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        """Largest code: ``2**(W-1) - 1`` (signed) or ``2**W - 1``."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def min(self) -> float:
        """Smallest value, ``min_code * 2**-F`` (rounded to float64 if ``W > 53``)."""
        return float(np.ldexp(float(self.min_code), -self.frac))

    @property
    def max(self) -> float:
        """Largest value, ``max_code * 2**-F`` (rounded to float64 if ``W > 53``)."""
        return float(np.ldexp(float(self.max_code), -self.frac))

    def replace(self, **changes: object) -> FixedType:
        """A copy with some fields changed, e.g. ``t.replace(overflow="SAT")``."""
        fields = {"width": self.width, "integer": self.integer, "signed": self.signed,
                  "rounding": self.rounding, "overflow": self.overflow}
        fields.update(changes)
        return FixedType(**fields)  # type: ignore[arg-type]

    # -- text ---------------------------------------------------------------------------------
    def __str__(self) -> str:
        prefix = "ap_fixed" if self.signed else "ap_ufixed"
        if self.rounding == "TRN" and self.overflow == "WRAP":
            return f"{prefix}<{self.width},{self.integer}>"
        return f"{prefix}<{self.width},{self.integer},AP_{self.rounding},AP_{self.overflow}>"

    @classmethod
    def parse(cls, text: str) -> FixedType:
        """Parse an HLS/hls4ml type string.

        Accepts ``ap_fixed<W,I>``, ``ap_fixed<W,I,Q>``, ``ap_fixed<W,I,Q,O>``,
        ``ap_fixed<W,I,Q,O,0>``, the same with ``ap_ufixed``, the hls4ml short forms
        ``fixed<...>``/``ufixed<...>``, and ``ap_int<W>``/``ap_uint<W>``. Modes with or without
        ``AP_``. Anything else raises :class:`L1TInputError`.

        ``ap_int<W>`` becomes ``ap_fixed<W,W,AP_TRN_ZERO,AP_WRAP>``: HLS converts a fixed-point
        value to an integer toward zero and wraps (C semantics), and ``str`` spells it that way.
        (Not emulated: the Xilinx ``ap_int_base(double)`` constructor turns a negative double
        with ``|x| < 0.5`` into ``+1``, a quirk of those headers.)
        """
        match = _TYPE_RE.match(str(text))
        if not match:
            raise L1TInputError(text, "not an ap_fixed/ap_ufixed/ap_int/ap_uint type", "precision")
        unsigned, kind, body = match.groups()
        args = [a.strip() for a in body.split(",")]
        try:
            if kind.lower() == "int":
                if len(args) != 1:
                    raise ValueError("ap_int takes one parameter")
                width = int(args[0])
                return cls(width, width, signed=not unsigned, rounding="TRN_ZERO")
            if not 2 <= len(args) <= 5:
                raise ValueError("ap_fixed takes 2 to 5 parameters")
            if len(args) == 5 and int(args[4]) != 0:
                raise ValueError("saturation bits N != 0 are not supported")
            return cls(int(args[0]), int(args[1]), signed=not unsigned,
                       rounding=args[2] if len(args) > 2 else "TRN",
                       overflow=args[3] if len(args) > 3 else "WRAP")
        except ValueError as exc:  # L1TInputError is a ValueError: keep its message
            if isinstance(exc, L1TInputError):
                raise L1TInputError(text, exc.problem, exc.field) from None
            raise L1TInputError(text, str(exc), "precision") from None


def as_type(t: FixedType | str) -> FixedType:
    """``t`` itself, or ``FixedType.parse(t)`` for a string."""
    return t if isinstance(t, FixedType) else FixedType.parse(t)


# -- the exact conversion ----------------------------------------------------------------------
def _split_float(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact decomposition ``x = ±A * 2**e`` with ``A`` an int64 < 2**53.

    Returns ``(neg, A, e)``, each of ``x``'s shape (bool, int64, int64).
    """
    x = np.asarray(x)
    if x.dtype.kind in "iub":
        if x.size and np.max(np.abs(x.astype(np.float64))) > 2.0**53:
            raise L1TInputError("fixedpoint", "integer input beyond 2**53 cannot be converted "
                                "exactly through float64", "x")
    elif x.dtype.kind != "f":
        raise L1TInputError("fixedpoint", f"numeric input expected, got dtype {x.dtype}", "x")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise L1TInputError("fixedpoint", "NaN or infinite input cannot be converted", "x")
    mant, exp = np.frexp(x)                       # x = mant * 2**exp, 0.5 <= |mant| < 1 (or 0)
    m = np.ldexp(mant, 53).astype(np.int64)       # exact: |m| < 2**53
    return m < 0, np.abs(m), exp.astype(np.int64) - 53


def _codes(neg: np.ndarray, mag: np.ndarray, shift: np.ndarray,
           t: FixedType) -> tuple[np.ndarray, np.ndarray]:
    """Convert the exact value ``±mag * 2**shift`` (in units of the target LSB) to codes of ``t``.

    ``neg`` bool, ``mag`` int64 in ``[0, 2**62)``, ``shift`` int64, all of one shape. Returns
    ``(codes, overflowed)``: the int64 codes after rounding and overflow handling, and whether
    the rounded value fell outside the code range.
    """
    mag = mag.astype(np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    one = np.int64(1)

    # right shifts (the value has fractional bits): integer part, then the dropped fraction f
    # compared with 1/2. mag < 2**62, so dropping more than 62 bits leaves 0 with 0 < f < 1/2.
    drop_all = -shift > 62
    k = np.clip(-shift, 0, 62)
    tpart = np.where(drop_all, 0, mag >> k)
    rem = np.where(drop_all, mag, mag & ((one << k) - one))
    half = np.where(k > 0, one << np.maximum(k - 1, 0), 0)
    has_frac = (shift < 0) & (rem != 0)
    above = has_frac & ~drop_all & (rem > half)          # f > 1/2
    tie = has_frac & ~drop_all & (rem == half)           # f == 1/2
    at_least = above | tie

    q = t.rounding
    if q == "TRN":
        inc = neg & has_frac
    elif q == "TRN_ZERO":
        inc = np.zeros_like(neg)
    elif q == "RND":
        inc = np.where(neg, above, at_least)
    elif q == "RND_ZERO":
        inc = above
    elif q == "RND_MIN_INF":
        inc = np.where(neg, at_least, above)
    elif q == "RND_INF":
        inc = at_least
    else:  # RND_CONV
        inc = above | (tie & ((tpart & 1) == 1))
    rounded = tpart + inc.astype(np.int64)               # magnitude after rounding, <= 2**62

    # left shifts (value is an integer multiple of 2**shift): may be too big for int64
    s = np.clip(shift, 0, 62)
    limit = one << (62 - s)
    big = (shift >= 0) & (mag != 0) & ((shift > 62) | (mag >= limit))
    shifted = np.where(big, 0, mag << np.where(big, 0, s))
    magnitude = np.where(shift >= 0, shifted, rounded)   # valid where not big

    # low W bits of the magnitude (for WRAP), exact also for big values
    w = t.width
    sw = np.clip(shift, 0, w)
    low_big = (mag & ((one << (w - sw)) - one)) << sw    # zero when shift >= W
    low = np.where(big, low_big, magnitude & ((one << w) - one))

    code = np.where(neg, -magnitude, magnitude)
    lo, hi = t.min_code, t.max_code
    over = np.where(big, ~neg, code > hi)
    under = np.where(big, neg, code < lo)
    overflowed = over | under

    o = t.overflow
    if o == "WRAP":
        mask = (one << w) - one
        u = np.where(neg, (-low) & mask, low)
        out = np.where(u > hi, u - (one << w), u) if t.signed else u
    elif o == "SAT":
        out = np.where(over, hi, np.where(under, lo, code))
    elif o == "SAT_ZERO":
        out = np.where(overflowed, 0, code)
    else:  # SAT_SYM
        # The headers set the pattern 1 << (W-1) | 1 on underflow: -hi, except for a one-bit
        # signed type, where that pattern is the code -1.
        lo_sym = (-hi if t.width > 1 else -1) if t.signed else 0
        out = np.where(over, hi, np.where(under | (code < lo_sym), lo_sym, code))
    return out.astype(np.int64), overflowed


def _check_float_width(t: FixedType, what: str) -> None:
    if t.width > MAX_FLOAT_WIDTH:
        raise L1TInputError(str(t), f"{what} returns float64 values, exact only for width <= "
                            f"{MAX_FLOAT_WIDTH}; use to_int/requantize", "width")


def to_int(x: np.ndarray, t: FixedType | str) -> np.ndarray:
    """Codes (int64, shape of ``x``) of ``t``'s conversion of the real values ``x``.

    ``x``: any array-like of finite real numbers (float32/float64, or integers up to 2**53);
    ``t``: the target type (or its string). Value of code ``q``: ``q * 2**-(W-I)``.
    """
    t = as_type(t)
    neg, mag, exp = _split_float(x)
    return _codes(neg, mag, exp + t.frac, t)[0]


def _checked_codes(q, t: FixedType) -> np.ndarray:
    """``q`` as int64 codes of ``t``: integers within ``[t.min_code, t.max_code]``."""
    q = np.asarray(q)
    if q.dtype.kind not in "iu":
        raise L1TInputError(str(t), f"integer codes expected, got dtype {q.dtype}", "q")
    q = q.astype(np.int64)
    if q.size and (q.min() < t.min_code or q.max() > t.max_code):
        raise L1TInputError(str(t), f"codes outside [{t.min_code}, {t.max_code}]", "q")
    return q


def from_int(q: np.ndarray, t: FixedType | str) -> np.ndarray:
    """Values (float64, exact) of the codes ``q`` of type ``t``: ``q * 2**-(W-I)``.

    ``q`` must be integers within ``[t.min_code, t.max_code]`` (else :class:`L1TInputError`).
    """
    t = as_type(t)
    _check_float_width(t, "from_int")
    q = _checked_codes(q, t)
    return np.ldexp(q.astype(np.float64), -t.frac)


def quantize(x: np.ndarray, t: FixedType | str) -> np.ndarray:
    """``t``'s conversion of ``x``, as float64 values on ``t``'s grid (exact; shape of ``x``).

    Same as ``from_int(to_int(x, t), t)``: what ``ap_fixed<...> v = x;`` holds in HLS.
    """
    t = as_type(t)
    _check_float_width(t, "quantize")
    return np.ldexp(to_int(x, t).astype(np.float64), -t.frac)


def overflows(x: np.ndarray, t: FixedType | str) -> np.ndarray:
    """Whether converting ``x`` to ``t`` overflows (bool, shape of ``x``).

    True where the *rounded* value is outside ``t``'s range, i.e. where the overflow mode acts
    (for SAT_SYM the code ``-2**(W-1)`` itself is also remapped but does not count here).
    """
    t = as_type(t)
    neg, mag, exp = _split_float(x)
    return _codes(neg, mag, exp + t.frac, t)[1]


def requantize(q: np.ndarray, src: FixedType | str, dst: FixedType | str) -> np.ndarray:
    """Codes of ``dst`` for the values held by codes ``q`` of ``src`` (int64, exact).

    The HLS assignment ``dst_t b = a;`` with ``a`` of type ``src_t``: rounding and overflow
    of ``dst``. Codes must be within ``src``'s range.
    """
    src, dst = as_type(src), as_type(dst)
    q = _checked_codes(q, src)
    shift = np.full(q.shape, dst.frac - src.frac, dtype=np.int64)
    return _codes(q < 0, np.abs(q), shift, dst)[0]
