"""l1t.models.fixedpoint (and the emulator's casts) against the real HLS ap_fixed headers.

A C++ harness (firmware/templates/ap_fixed_harness.cpp) is compiled once per test session with
g++ against the ap_types headers that hls4ml ships, for a fixed table of types: every rounding
mode × overflow mode × signedness with a few shapes each (negative I, I > W, W from 1 to 62),
plus fixed → fixed pairs for requantize (narrower, wider, fewer/more fractional bits,
signed/unsigned) and fixed → ap_int/ap_uint. Hypothesis then draws values and codes.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l1t.firmware.aptypes import ApHarness
from l1t.firmware.emulator import cast as emulator_cast
from l1t.models import fixedpoint
from l1t.models.fixedpoint import OVERFLOW_MODES, ROUNDING_MODES, FixedType

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")

# (W, I) shapes, cycled through so that every mode combination meets several of them
SHAPES = [(1, 1), (2, 0), (3, 1), (4, 2), (5, -2), (6, 3), (7, 7), (8, 10), (3, -1), (12, 4),
          (16, 6), (18, 8), (24, 12), (33, 3), (40, 20), (53, 5), (62, 30), (10, 0), (6, 1),
          (9, 4)]
SHAPES_PER_COMBO = 3
# sources of fixed -> fixed assignments
SOURCES = [FixedType(8, 3), FixedType(12, 2, signed=False), FixedType(20, 10), FixedType(5, 5),
           FixedType(30, 4), FixedType(16, 6), FixedType(10, 12, signed=False), FixedType(6, -1),
           FixedType(62, 20), FixedType(1, 1)]
INT_TARGETS = ["ap_int<4>", "ap_uint<4>", "ap_int<9>", "ap_uint<1>", "ap_int<20>"]

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _table():
    types: list[FixedType] = []
    k = 0
    for signed in (True, False):
        for q in ROUNDING_MODES:
            for o in OVERFLOW_MODES:
                for _ in range(SHAPES_PER_COMBO):
                    w, i = SHAPES[k % len(SHAPES)]
                    k += 1
                    if signed and w == 1 and o == "SAT_SYM":
                        w, i = 2, 1   # the one known disagreement: test_one_bit_sat_sym
                    types.append(FixedType(w, i, signed=signed, rounding=q, overflow=o))
    n_dst = len(types)
    src_index = {}
    for s in SOURCES:
        src_index[s] = len(types)
        types.append(s)
    cpp = [str(t) for t in types] + INT_TARGETS
    pairs = [(src_index[SOURCES[j % len(SOURCES)]], j) for j in range(n_dst)]
    pairs += [(src_index[SOURCES[(7 * j + 3) % len(SOURCES)]], j) for j in range(n_dst)]
    ints = range(len(types), len(cpp))
    pairs += [(src_index[s], d) for s in SOURCES[:5] for d in ints]
    pairs = [(s, d) for s, d in pairs if d >= n_dst or not _header_aborts(types[s], types[d])]
    # the known 1-bit SAT_SYM disagreement, kept apart
    cpp.append("ap_fixed<1,1,AP_TRN,AP_SAT_SYM>")
    pairs.append((src_index[SOURCES[0]], len(cpp) - 1))
    # a cast the headers abort on (test_headers_abort_on_rounding_past_the_source)
    cpp += ["ap_fixed<6,-1>", "ap_ufixed<8,10,AP_RND_CONV,AP_SAT>"]
    pairs.append((len(cpp) - 2, len(cpp) - 1))
    # same shape, SAT_SYM target (test_sat_sym_remaps_the_most_negative_code)
    cpp.append("ap_fixed<8,3,AP_TRN,AP_SAT_SYM>")
    pairs.append((src_index[FixedType(8, 3)], len(cpp) - 1))
    return cpp, sorted(set(pairs)), n_dst


def _header_aborts(src: FixedType, dst: FixedType) -> bool:
    """ap_fixed_base::operator= reads bit F_src - F_dst - 1 of the source for every rounding
    mode but TRN (and TRN_ZERO from an unsigned source): past its MSB the C-simulation headers
    fail an assertion (ap_private::get_bit) and abort."""
    rounds = not (dst.rounding == "TRN" or (dst.rounding == "TRN_ZERO" and not src.signed))
    return rounds and src.frac - dst.frac - 1 >= src.width


CPP_TYPES, PAIRS, N_DST = _table()
TYPES = [FixedType.parse(t) for t in CPP_TYPES]
ONE_BIT_SYM = len(CPP_TYPES) - 4
ABORT_PAIR = (len(CPP_TYPES) - 3, len(CPP_TYPES) - 2)
SYM_PAIR = (CPP_TYPES.index("ap_fixed<8,3>"), len(CPP_TYPES) - 1)
INT_PAIRS = [p for p in PAIRS if CPP_TYPES[p[1]] in INT_TARGETS]
FIXED_PAIRS = [p for p in PAIRS if p[1] < N_DST]
assert len(FIXED_PAIRS) > 200


@pytest.fixture(scope="session")
def harness(tmp_path_factory) -> ApHarness:
    return ApHarness(CPP_TYPES, PAIRS, tmp_path_factory.mktemp("ap_harness"))


@st.composite
def values_for(draw, t: FixedType, n_max: int = 24) -> np.ndarray:
    """Doubles around ``t``: on the grid, quarter-LSB steps (ties), beyond the range, any float."""
    f, w = t.frac, t.width
    reach = min(w + 3, 70)
    one = st.one_of(
        # quarter-LSB multiples: exact values, ties (±1/2 LSB) and near-ties, in and beyond range
        st.builds(lambda m: float(m) * 2.0 ** (-f - 2),
                  st.integers(-(2 ** reach), 2 ** reach)),
        # 53-bit mantissas at exponents from far below the LSB to far above the range
        st.builds(lambda m, e: float(np.ldexp(float(m), e)),
                  st.integers(-(2 ** 53) + 1, 2 ** 53 - 1),
                  st.integers(-f - 53 - 60, t.integer + 10 - 53)),
        st.sampled_from([0.0, -0.0, t.min, t.max, -t.max, t.lsb / 2, -t.lsb / 2,
                         t.max + t.lsb / 2, t.min - t.lsb / 2, 5e-324, -5e-324]),
        st.floats(allow_nan=False, allow_infinity=False),
    )
    return np.array(draw(st.lists(one, min_size=1, max_size=n_max)), dtype=np.float64)


def _check_convert(harness, index: int, values: np.ndarray) -> None:
    t = TYPES[index]
    ref = harness.convert(values, index)
    mine = fixedpoint.to_int(values, t)
    bad = ref != mine
    assert not bad.any(), (f"{CPP_TYPES[index]}: values {values[bad][:5].tolist()} → ap_fixed "
                           f"{ref[bad][:5].tolist()}, fixedpoint {mine[bad][:5].tolist()}")
    if t.width <= fixedpoint.MAX_FLOAT_WIDTH:
        q = fixedpoint.quantize(values, t)
        assert np.array_equal(q, np.ldexp(ref.astype(np.float64), -t.frac))


@pytest.mark.parametrize("rounding", ROUNDING_MODES)
@SETTINGS
@given(data=st.data())
def test_rounding_modes_match_ap_fixed(harness, rounding, data):
    """double → ap_fixed/ap_ufixed, for each rounding mode (any overflow mode and shape)."""
    idx = data.draw(st.sampled_from([i for i in range(N_DST) if TYPES[i].rounding == rounding]))
    _check_convert(harness, idx, data.draw(values_for(TYPES[idx])))


@pytest.mark.parametrize("overflow", OVERFLOW_MODES)
@SETTINGS
@given(data=st.data())
def test_overflow_modes_match_ap_fixed(harness, overflow, data):
    """double → ap_fixed/ap_ufixed, for each overflow mode (values mostly beyond the range)."""
    idx = data.draw(st.sampled_from([i for i in range(N_DST) if TYPES[i].overflow == overflow]))
    t = TYPES[idx]
    big = st.builds(lambda m: float(m) * 2.0 ** (-t.frac),
                    st.integers(-(2 ** min(t.width + 4, 70)), 2 ** min(t.width + 4, 70)))
    values = np.array(data.draw(st.lists(big, min_size=1, max_size=24)), dtype=np.float64)
    _check_convert(harness, idx, np.concatenate([values, data.draw(values_for(t, 8))]))


@st.composite
def codes_for(draw, t: FixedType, n_max: int = 24) -> np.ndarray:
    one = st.one_of(st.integers(t.min_code, t.max_code),
                    st.sampled_from([t.min_code, t.max_code, 0, t.min_code + 1, t.max_code - 1]))
    codes = draw(st.lists(one, min_size=1, max_size=n_max))
    return np.clip(np.array(codes, dtype=np.int64), t.min_code, t.max_code)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_requantize_matches_ap_fixed(harness, data):
    """ap_fixed → ap_fixed assignment (mixed widths, signedness, all modes) == requantize."""
    src, dst = data.draw(st.sampled_from(FIXED_PAIRS))
    codes = data.draw(codes_for(TYPES[src]))
    ref = harness.cast(codes, src, dst)
    mine = fixedpoint.requantize(codes, TYPES[src], TYPES[dst])
    assert np.array_equal(ref, mine), (CPP_TYPES[src], CPP_TYPES[dst], codes, ref, mine)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_emulator_cast_matches_ap_fixed(harness, data):
    """The emulator's fast cast (l1t.firmware.emulator.cast) == real ap_fixed assignment."""
    src, dst = data.draw(st.sampled_from(FIXED_PAIRS))
    codes = data.draw(codes_for(TYPES[src]))
    ref = harness.cast(codes, src, dst)
    assert np.array_equal(emulator_cast(codes, TYPES[src], TYPES[dst]), ref), \
        (CPP_TYPES[src], CPP_TYPES[dst])


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_fixed_to_ap_int_truncates_toward_zero_and_wraps(harness, data):
    """ap_fixed → ap_int<W>/ap_uint<W>: FixedType.parse's ap_fixed<W,W,AP_TRN_ZERO,AP_WRAP>."""
    src, dst = data.draw(st.sampled_from(INT_PAIRS))
    codes = data.draw(codes_for(TYPES[src]))
    ref = harness.cast(codes, src, dst)
    assert np.array_equal(fixedpoint.requantize(codes, TYPES[src], TYPES[dst]), ref)


def test_documented_examples(harness):
    """Hand-picked cases: carries out of rounding, ties, SAT_SYM at the most negative code."""
    cases = {
        "ap_fixed<4,2,AP_RND,AP_SAT>": ([1.9, -2.0, -2.1, 1.875, 0.125, -0.125], None),
        "ap_fixed<8,3,AP_RND_CONV,AP_SAT>": ([0.015625, 0.046875, -0.015625, -0.046875], None),
        "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>": ([-1.0, 7.99, 8.5, 0.0234375], None),
        "ap_fixed<6,1,AP_TRN,AP_SAT_SYM>": ([-1.0, -2.0, -0.96875, 5.0], None),
    }
    cpp = list(cases)
    h = ApHarness(cpp, [], harness.workdir / "examples")
    for i, text in enumerate(cpp):
        values = np.array(cases[text][0])
        assert np.array_equal(h.convert(values, i), fixedpoint.to_int(values, text)), text
    assert fixedpoint.quantize(np.array([1.9]), "ap_fixed<4,2,AP_RND,AP_SAT>")[0] == 1.75


def test_one_bit_sat_sym(harness):
    """A one-bit signed AP_SAT_SYM underflows to code -1 (the headers' 1 << (W-1) | 1 pattern)."""
    values = np.array([-0.75, -3.0])
    ref = harness.convert(values, ONE_BIT_SYM)
    assert np.array_equal(fixedpoint.to_int(values, TYPES[ONE_BIT_SYM]), ref)


def test_headers_abort_on_rounding_past_the_source(harness):
    """Documented limit of the HLS C-simulation headers (not of our arithmetic): a rounding cast
    that drops more bits than the source has aborts; fixedpoint gives the mathematical answer."""
    import subprocess

    src, dst = ABORT_PAIR
    with pytest.raises(subprocess.CalledProcessError):
        harness.cast(np.array([0]), src, dst)
    assert fixedpoint.requantize(np.array([5]), TYPES[src], TYPES[dst])[0] == 0


def test_sat_sym_remaps_the_most_negative_code(harness):
    """AP_SAT_SYM turns -2**(W-1) into -(2**(W-1) - 1) even when the value is representable
    (an exact ap_fixed<8,3> → ap_fixed<8,3,AP_TRN,AP_SAT_SYM> copy): fixedpoint and the
    emulator's cast agree with the headers."""
    src, dst = SYM_PAIR
    codes = np.array([-128, -127, 0, 127])
    ref = harness.cast(codes, src, dst)
    assert ref.tolist() == [-127, -127, 0, 127]
    assert np.array_equal(fixedpoint.requantize(codes, TYPES[src], TYPES[dst]), ref)
    assert np.array_equal(emulator_cast(codes, TYPES[src], TYPES[dst]), ref)
    one_bit = FixedType(1, 1)   # the case hypothesis found in the emulator's shortcut
    wide = FixedType(6, 1, rounding="RND_MIN_INF", overflow="SAT_SYM")
    assert emulator_cast(np.array([-1, 0]), one_bit, wide).tolist() == [-31, 0]
