"""Compression: ap_fixed arithmetic (exact, vs a Fraction reference), PTQ, QAT, pruning,
distillation and scans, on tiny real TF/QKeras models."""
from __future__ import annotations

import math
import os
from fractions import Fraction

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from l1t.core.errors import L1TInputError
from l1t.models import distill as distill_mod
from l1t.models import fixedpoint as fp
from l1t.models import pruning, ptq, qat, scan
from l1t.models.fixedpoint import FixedType

# -- slow exact reference (Fraction per element) -------------------------------------------------
_HALF = Fraction(1, 2)


def _sign(y: Fraction) -> int:
    return (y > 0) - (y < 0)


_ROUND = {
    "TRN": lambda y: math.floor(y),
    "TRN_ZERO": lambda y: math.trunc(y),
    "RND": lambda y: math.floor(y + _HALF),
    "RND_ZERO": lambda y: _sign(y) * math.ceil(abs(y) - _HALF),
    "RND_MIN_INF": lambda y: math.ceil(y - _HALF),
    "RND_INF": lambda y: _sign(y) * math.floor(abs(y) + _HALF),
    "RND_CONV": lambda y: round(y),  # Fraction.__round__: half to even
}


def _overflow(r: int, t: FixedType) -> int:
    lo, hi = (-(2 ** (t.width - 1)), 2 ** (t.width - 1) - 1) if t.signed else (0, 2**t.width - 1)
    if t.overflow == "WRAP":
        u = r % 2**t.width
        return u - 2**t.width if t.signed and u > hi else u
    if t.overflow == "SAT":
        return min(max(r, lo), hi)
    if t.overflow == "SAT_ZERO":
        return r if lo <= r <= hi else 0
    # SAT_SYM: min = -max; a one-bit ap_fixed underflows to code -1 (checked against the real
    # headers in tests/test_fixed_ap_types.py).
    return min(max(r, (-hi if t.width > 1 else -1) if t.signed else 0), hi)


def ref_codes(values, t: FixedType) -> np.ndarray:
    """Reference codes, one Fraction at a time."""
    scale = Fraction(2) ** t.frac
    out = []
    for v in values:
        y = (v if isinstance(v, Fraction) else Fraction(float(v))) * scale
        out.append(_overflow(_ROUND[t.rounding](y), t))
    return np.array(out, dtype=object)


def _grid(t: FixedType) -> np.ndarray:
    """All multiples of LSB/4 over twice the type's range (ties, near-ties, overflow and
    wrap-around included), plus a few arbitrary floats."""
    step = np.ldexp(1.0, -t.frac - 2)
    span = np.ldexp(1.0, t.integer + 1)
    grid = np.arange(-span, span + step, step)
    rng = np.random.default_rng(t.width * 100 + t.integer)
    extra = rng.normal(0, float(span), 64)
    return np.concatenate([grid, extra, grid[::7] + step / 3])


TYPES = sorted({(w, i) for w in (1, 2, 3, 4, 5, 6, 8) for i in (-2, 0, 1, w - 1, w, w + 3)})


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("width,integer", TYPES)
def test_fixed_point_exhaustive_vs_fraction(width, integer, signed):
    """All rounding x overflow modes for small widths over a dense grid, vs the reference."""
    base = FixedType(width, integer, signed)
    x = _grid(base)
    exact = [Fraction(float(v)) * Fraction(2) ** base.frac for v in x]
    rounded = {q: [_ROUND[q](y) for y in exact] for q in fp.ROUNDING_MODES}
    for q in fp.ROUNDING_MODES:
        for o in fp.OVERFLOW_MODES:
            t = base.replace(rounding=q, overflow=o)
            want = np.array([_overflow(r, t) for r in rounded[q]], dtype=np.int64)
            got = fp.to_int(x, t)
            bad = np.flatnonzero(got != want)
            assert bad.size == 0, (str(t), x[bad[:5]], got[bad[:5]], want[bad[:5]])
            assert got.min() >= t.min_code and got.max() <= t.max_code
            np.testing.assert_array_equal(fp.quantize(x, t), np.ldexp(want.astype(float), -t.frac))
            over = np.array([not (t.min_code <= r <= t.max_code) for r in rounded[q]])
            np.testing.assert_array_equal(fp.overflows(x, t), over)


@pytest.mark.parametrize("text", ["ap_fixed<24,9,AP_RND_CONV,AP_SAT>", "ap_ufixed<40,-3,AP_RND>",
                                  "ap_fixed<53,20,AP_RND_ZERO,AP_WRAP>",
                                  "ap_fixed<62,30,AP_RND_INF,AP_SAT_SYM>",
                                  "ap_ufixed<62,70,AP_TRN_ZERO,AP_WRAP>"])
def test_fixed_point_wide_and_extreme_inputs(text):
    """Wide types (int64 codes), arbitrary float64 mantissas, tiny, huge and subnormal inputs."""
    t = FixedType.parse(text)
    rng = np.random.default_rng(7)
    x = np.concatenate([
        rng.normal(0, 2.0 ** (t.integer - 1), 300), rng.normal(0, 2.0 ** -t.frac, 100),
        [0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e300, -1e300, 2.0**52 + 1, -(2.0**53) - 2,
         np.nextafter(0.5, 1) * 2.0 ** -t.frac, -1.5 * 2.0 ** -t.frac, 2.5 * 2.0 ** -t.frac]])
    want = ref_codes(x, t).astype(np.int64)
    np.testing.assert_array_equal(fp.to_int(x, t), want)
    if t.width <= fp.MAX_FLOAT_WIDTH:
        got = fp.quantize(x, t)
        assert all(Fraction(float(g)) == Fraction(int(c)) / Fraction(2) ** t.frac
                   for g, c in zip(got, want))


def test_fixed_point_known_values():
    t = FixedType(4, 2)  # ap_fixed<4,2>: LSB 0.25, range [-2, 1.75]
    assert t.lsb == 0.25 and t.min == -2.0 and t.max == 1.75
    assert fp.quantize(1.3, t) == 1.25                                   # TRN
    assert fp.quantize(-1.3, t) == -1.5                                  # TRN is floor
    assert fp.quantize(-1.3, t.replace(rounding="TRN_ZERO")) == -1.25
    assert fp.quantize(2.5, t) == -1.5                                   # WRAP: 10 -> -6
    assert fp.quantize(2.5, t.replace(overflow="SAT")) == 1.75
    assert fp.quantize(-7.0, t.replace(overflow="SAT")) == -2.0
    assert fp.quantize(-7.0, t.replace(overflow="SAT_SYM")) == -1.75     # min = -max
    assert fp.quantize(-2.0, t.replace(overflow="SAT_SYM")) == -1.75     # HLS maps -2**(W-1) too
    assert fp.quantize(2.5, t.replace(overflow="SAT_ZERO")) == 0.0
    assert fp.quantize(1.9, "ap_fixed<4,2,AP_RND,AP_SAT>") == 1.75       # carry then saturate
    assert fp.quantize(1.9, "ap_fixed<4,2,AP_RND>") == -2.0              # carry then wrap
    conv = t.replace(rounding="RND_CONV")                                 # ties to even
    np.testing.assert_array_equal(fp.quantize([0.125, 0.375, 0.625, -0.125, -0.375], conv),
                                  [0.0, 0.5, 0.5, 0.0, -0.5])
    ties = np.array([0.125, -0.125])
    for mode, want in [("RND", [0.25, 0.0]), ("RND_ZERO", [0.0, 0.0]), ("RND_MIN_INF", [0.0, -0.25]),
                       ("RND_INF", [0.25, -0.25])]:
        np.testing.assert_array_equal(fp.quantize(ties, t.replace(rounding=mode)), want)
    u = FixedType(4, 2, signed=False)  # ap_ufixed<4,2>: [0, 3.75]
    assert (u.min_code, u.max_code, u.max) == (0, 15, 3.75)
    assert fp.quantize(-0.25, u) == 3.75                                 # wraps modulo 16 codes
    assert fp.quantize(-0.25, u.replace(overflow="SAT")) == 0.0
    assert fp.quantize(4.3, u.replace(overflow="SAT_SYM")) == 3.75
    np.testing.assert_array_equal(fp.to_int([1.3, -1.3], t), [5, -6])
    np.testing.assert_array_equal(fp.from_int(np.array([5, -6, -8, 7]), t), [1.25, -1.5, -2.0, 1.75])
    # requantize = assignment between types, here ap_fixed<8,4> -> ap_fixed<8,6,AP_RND_CONV>
    np.testing.assert_array_equal(
        fp.requantize(np.array([7, -7, 5, -5, 127]), FixedType(8, 4), FixedType(8, 6, rounding="RND_CONV")),
        [2, -2, 1, -1, 32])


def test_requantize_matches_reference():
    src = FixedType(12, 5, signed=True)
    q = np.arange(src.min_code, src.max_code + 1)
    values = [Fraction(int(c)) / Fraction(2) ** src.frac for c in q]
    for dst in (FixedType(6, 3, True, "RND_CONV", "SAT"), FixedType(7, 2, False, "RND_MIN_INF", "WRAP"),
                FixedType(20, 9, True, "RND_INF", "SAT_SYM"), FixedType(5, 8, True, "TRN_ZERO", "SAT_ZERO")):
        np.testing.assert_array_equal(fp.requantize(q, src, dst), ref_codes(values, dst).astype(np.int64))


def test_fixed_type_parse_and_str():
    t = FixedType.parse("ap_fixed<16,6,AP_RND_CONV,AP_SAT>")
    assert (t.width, t.integer, t.signed, t.rounding, t.overflow) == (16, 6, True, "RND_CONV", "SAT")
    assert str(t) == "ap_fixed<16,6,AP_RND_CONV,AP_SAT>"
    assert str(FixedType(16, 6)) == "ap_fixed<16,6>"
    assert str(FixedType(8, 3, signed=False, rounding="AP_RND")) == "ap_ufixed<8,3,AP_RND,AP_WRAP>"
    for text in ["ap_fixed<16,6>", "ap_ufixed<8,0,AP_RND,AP_SAT_SYM>",
                 "ap_fixed<10,-2,AP_TRN_ZERO,AP_SAT_ZERO>",
                 "ap_fixed<18,8,AP_RND_MIN_INF,AP_WRAP>"]:
        assert str(FixedType.parse(text)) == text
    assert FixedType.parse(" fixed< 8 , 3 , RND_CONV , SAT , 0 > ") == FixedType(8, 3, True, "RND_CONV",
                                                                               "SAT")
    assert FixedType.parse("ap_uint<8>") == FixedType(8, 8, False, "TRN_ZERO", "WRAP")
    assert FixedType.parse("ap_int<5>").frac == 0
    for bad in ["float", "ap_fixed<16>", "ap_fixed<0,0>", "ap_fixed<63,6>", "ap_fixed<8,3,AP_FOO>",
                "ap_fixed<8,3,AP_RND,AP_SAT,2>", "ap_fixed<8,3,AP_RND,AP_WRAP_SM>", "ap_fixed<a,3>"]:
        with pytest.raises(L1TInputError):
            FixedType.parse(bad)
    with pytest.raises(L1TInputError):
        fp.quantize(np.array([1.0, np.nan]), t)
    with pytest.raises(L1TInputError):
        fp.from_int(np.array([40000]), t)
    with pytest.raises(L1TInputError):
        fp.quantize(1.0, "ap_fixed<60,10>")  # float64 cannot hold every code: use to_int
    assert fp.to_int(1.0, "ap_fixed<60,10>") == 2**50


# -- tiny models -----------------------------------------------------------------------------------
def _data(n=1024, d=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (np.tanh(x[:, :1] - 0.5 * x[:, 1:2]) + 0.3 * x[:, 2:3] * x[:, 3:4]).astype("float32")
    return x, y


def _mlp(d=8, hidden=(16, 8), seed=0, name="mlp"):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((d,), name="x")
    h = inp
    for k, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"fc{k + 1}")(h)
    out = keras.layers.Dense(1, name="out")(h)
    return keras.Model(inp, out, name=name)


def _trained_mlp(epochs=3):
    x, y = _data()
    model = _mlp()
    model.compile(keras.optimizers.Adam(3e-3), "mse")
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model, x, y


@pytest.fixture(scope="module")
def trained():
    return _trained_mlp()


# -- PTQ -------------------------------------------------------------------------------------------
def test_ptq_fixed_point(trained):
    model, x, _ = trained
    before = [w.copy() for w in model.get_weights()]
    t = FixedType(8, 2, rounding="RND_CONV", overflow="SAT")
    # plant out-of-range kernel entries in a copy of the model
    planted = ptq.clone_with_weights(model)
    k, b = planted.get_layer("fc1").get_weights()
    k.flat[:5] = [3.0, -9.0, 2.5, 100.0, -2.5]          # outside [-2, 1.984375]
    planted.get_layer("fc1").set_weights([k, b])
    q, report = ptq.quantize_weights_fixed(planted, t, bias_type="ap_fixed<12,4,AP_RND_CONV,AP_SAT>")
    for layer in ptq.kernel_layers(q):
        kernel, bias = layer.get_weights()
        np.testing.assert_array_equal(fp.quantize(kernel, t), kernel)           # on the grid
        np.testing.assert_array_equal(fp.quantize(bias, "ap_fixed<12,4>"), bias)
        rep = report[layer.name]
        assert rep["kernel"]["type"] == str(t) and rep["bias"]["type"].startswith("ap_fixed<12,4")
        assert rep["bias"]["max_abs_error"] <= 2.0**-9
    assert report["fc1"]["kernel"]["clipped_fraction"] == pytest.approx(5 / k.size)
    assert report["fc1"]["kernel"]["max_abs_error"] == pytest.approx(100.0 - t.max)
    assert report["fc2"]["kernel"]["clipped_fraction"] == 0.0
    assert report["fc2"]["kernel"]["max_abs_error"] <= t.lsb / 2
    # the input model is untouched; the quantized one still predicts about the same
    for w0, w1 in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    q2, _ = ptq.quantize_weights_fixed(model, "ap_fixed<16,4,AP_RND_CONV,AP_SAT>")
    p0, p2 = model.predict(x[:256], verbose=0), q2.predict(x[:256], verbose=0)
    assert np.max(np.abs(p0 - p2)) < 0.02
    # per-layer mapping: unnamed layers stay float
    q3, rep3 = ptq.quantize_weights_fixed(model, {"out": "ap_fixed<4,1>"})
    assert set(rep3) == {"out"}
    np.testing.assert_array_equal(q3.get_layer("fc1").get_weights()[0],
                                  model.get_layer("fc1").get_weights()[0])


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("signed", [True, False])
def test_affine_round_trip(symmetric, signed):
    rng = np.random.default_rng(1)
    cases = [rng.normal(0.2, 1.0, (16, 6)), rng.uniform(0.1, 3.0, (16, 6)), -rng.uniform(0.1, 3.0, (16, 6)),
             np.concatenate([rng.normal(size=(16, 5)), np.zeros((16, 1))], axis=1)]
    qmin, qmax = ptq.int_range(8, signed)
    for x in cases:
        for axis in (None, -1, 0):
            s, z = ptq.affine_params(x, bits=8, signed=signed, symmetric=symmetric, axis=axis)
            assert np.all(s > 0) and np.all((qmin <= z) & (z <= qmax)) and z.dtype == np.int64
            if axis is None:
                assert s.shape == () and z.shape == ()
            else:
                expect = [1] * x.ndim
                expect[axis] = x.shape[axis]
                assert s.shape == tuple(expect) and z.shape == tuple(expect)
            q = ptq.affine_quantize(x, s, z, bits=8, signed=signed)
            assert q.dtype == np.int64 and q.min() >= qmin and q.max() <= qmax
            err = np.abs(ptq.affine_dequantize(q, s, z) - x)
            assert np.all(err <= s / 2 * (1 + 1e-9)), (axis, float(np.max(err / s)))
            assert np.all(ptq.affine_dequantize(ptq.affine_quantize(0.0, s, z, 8, signed), s, z) == 0.0)
            if symmetric:
                assert np.all(z == (0 if signed else 128))
    # per channel = per-tensor parameters of each column on its own
    x = cases[0]
    s, z = ptq.affine_params(x, bits=8, signed=signed, symmetric=symmetric, axis=-1)
    for j in range(x.shape[1]):
        sj, zj = ptq.affine_params(x[:, j], bits=8, signed=signed, symmetric=symmetric)
        assert s[0, j] == sj and z[0, j] == zj
    assert len(np.unique(s)) == x.shape[1]


def test_quantize_model_affine(trained):
    model, x, _ = trained
    q, report = ptq.quantize_model_affine(model, bits=8, per_channel=True)
    for layer in ptq.kernel_layers(model):
        kernel = layer.get_weights()[0]
        rep = report[layer.name]["kernel"]
        scales = np.array(rep["scale"])
        assert scales.shape == (kernel.shape[1],) and rep["zero_point"] == [0] * kernel.shape[1]
        err = np.abs(q.get_layer(layer.name).get_weights()[0] - kernel)
        assert np.all(err <= scales / 2 * (1 + 1e-6) + 1e-7)
        assert rep["max_abs_error"] <= scales.max() / 2 * (1 + 1e-6) and rep["clipped_fraction"] == 0.0
        codes = q.get_layer(layer.name).get_weights()[0] / scales
        np.testing.assert_allclose(codes, np.rint(codes), atol=1e-3)            # r = S q
    p0, p1 = model.predict(x[:256], verbose=0), q.predict(x[:256], verbose=0)
    assert np.max(np.abs(p0 - p1)) < 0.05
    _, per_tensor = ptq.quantize_model_affine(model, bits=4, per_channel=False)
    assert all(len(r["kernel"]["scale"]) == 1 for r in per_tensor.values())


# -- QAT -------------------------------------------------------------------------------------------
def test_qat_weights_on_grid(trained):
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    model, x, y = trained
    qmodel = qat.to_qkeras(model, bits=6, integer=0, act_bits=8, act_integer=3,
                           per_layer={"out": {"bits": 8, "integer": 1}})
    assert [type(layer) for layer in qmodel.layers[1:]] == [QDense] * 3
    for layer in model.layers[1:]:                       # float weights are the starting point
        for w0, w1 in zip(layer.get_weights(), qmodel.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(w0, w1)
    precisions = qat.layer_precisions(qmodel)
    assert str(precisions["fc1"]["weight"]) == "ap_fixed<6,1,AP_RND_CONV,AP_SAT>"
    assert str(precisions["out"]["weight"]) == "ap_fixed<8,2,AP_RND_CONV,AP_SAT>"
    assert str(precisions["fc1"]["activation"]) == "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>"
    assert precisions["out"]["activation"] is None       # linear output stays linear

    start = {l.name: l.get_weights()[0].copy() for l in ptq.kernel_layers(qmodel)}
    qmodel.compile(keras.optimizers.Adam(3e-3), "mse")
    hist = qmodel.fit(x, y, epochs=2, batch_size=64, verbose=0)
    assert np.isfinite(hist.history["loss"][-1])
    exported = qat.quantized_weights(qmodel)
    for layer in ptq.kernel_layers(qmodel):
        assert not np.array_equal(start[layer.name], layer.get_weights()[0])  # it trained
        b, i = (8, 1) if layer.name == "out" else (6, 0)
        quantizer = layer.kernel_quantizer_internal
        qk = quantizer(layer.kernel).numpy()
        steps = qk * 2.0 ** (b - 1 - i)
        np.testing.assert_array_equal(steps, np.round(steps))                  # multiples of the LSB
        assert np.all(np.abs(steps) <= 2 ** (b - 1))
        np.testing.assert_array_equal(quantizer(tf.constant(qk)).numpy(), qk)  # idempotent
        np.testing.assert_array_equal(exported[layer.name][0], qk)             # == ap_fixed type
        np.testing.assert_array_equal(exported[layer.name][1],
                                      layer.bias_quantizer_internal(layer.bias).numpy())

    # the activation types are exactly the QKeras quantizers, ties and saturation included
    grid = np.arange(-4, 12, 2.0**-7, dtype=np.float32)
    for quant, t in [(quantized_relu(8, 3), "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>"),
                     (quantized_bits(6, 2, alpha=1), "ap_fixed<6,3,AP_RND_CONV,AP_SAT>"),
                     (quantized_bits(6, 2, alpha=1, symmetric=True), "ap_fixed<6,3,AP_RND_CONV,AP_SAT_SYM>"),
                     (quantized_bits(5, 1, keep_negative=False, alpha=1),
                      "ap_ufixed<5,1,AP_RND_CONV,AP_SAT>")]:
        assert str(qat.quantizer_type(quant)) == t
        np.testing.assert_array_equal(quant(tf.constant(grid)).numpy(), fp.quantize(grid, t))

    # ReLU layers become QActivation; other settings via per_layer; alpha="auto" has no type
    seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, name="d"), keras.layers.ReLU(name="r"),
                            keras.layers.Dense(1, name="o")])
    qseq = qat.to_qkeras(seq, per_layer={"r": {"act_bits": 6, "act_integer": 2}}, quantize_linear=True)
    assert isinstance(qseq.get_layer("r"), QActivation)
    assert str(qat.layer_precisions(qseq)["r"]["activation"]) == "ap_ufixed<6,2,AP_RND_CONV,AP_SAT>"
    assert str(qat.layer_precisions(qseq)["o"]["activation"]) == "ap_fixed<8,4,AP_RND_CONV,AP_SAT>"
    with pytest.raises(L1TInputError):
        qat.quantizer_type(quantized_bits(6, 0, alpha="auto"))
    with pytest.raises(L1TInputError):
        qat.to_qkeras(seq, per_layer={"nope": {"bits": 4}})


# -- pruning ---------------------------------------------------------------------------------------
def test_unstructured_pruning_reaches_and_keeps_sparsity(trained):
    model, x, y = trained
    steps = pruning.training_steps(len(x), 64, epochs=4)                # 64 steps
    setup = pruning.prune_magnitude(model, final_sparsity=0.75, end_step=40, frequency=8)
    stripped, hist = pruning.fine_tune(setup, x, y, epochs=4, batch_size=64)
    assert steps > 40 and len(hist["loss"]) == 4 and np.isfinite(hist["loss"][-1])
    assert [type(l).__name__ for l in stripped.layers[1:]] == ["Dense"] * 3
    for name, s in pruning.sparsity(stripped).items():
        assert abs(s - 0.75) <= 0.02, (name, s)
    assert abs(pruning.overall_sparsity(stripped) - 0.75) <= 0.02
    # float model untouched
    assert max(pruning.sparsity(model).values()) < 0.05
    with pytest.raises(L1TInputError):
        pruning.prune_magnitude(model, 0.5, end_step=45, frequency=10)


def test_unstructured_pruning_of_qkeras_model(trained):
    model, x, y = trained
    qmodel = qat.to_qkeras(model, bits=8, integer=1)
    setup = pruning.prune_magnitude(qmodel, final_sparsity=0.5, end_step=16, frequency=8)
    stripped, _ = pruning.fine_tune(setup, x, y, epochs=2, batch_size=64)
    assert [type(l).__name__ for l in stripped.layers[1:]] == ["QDense"] * 3
    for name, s in pruning.sparsity(stripped).items():
        assert abs(s - 0.5) <= 0.02, (name, s)
        kernel_q = qat.quantized_weights(stripped)[name][0]
        assert np.mean(kernel_q == 0) >= s                                   # zeros survive quantization


@pytest.mark.parametrize("flavour,norm", [("float", "l1"), ("qkeras", "l2")])
def test_structured_row_pruning(trained, flavour, norm):
    model, x, y = trained
    net = model if flavour == "float" else qat.to_qkeras(model, bits=8, integer=1)
    setup = pruning.prune_rows(net, fraction=0.25, norm=norm)
    assert set(setup.masks) == {"fc1", "fc2"}                                # the output layer is kept
    expected = {}
    for name in ("fc1", "fc2"):
        kernel = net.get_layer(name).get_weights()[0].astype(np.float64)
        norms = np.abs(kernel).sum(0) if norm == "l1" else np.sqrt((kernel**2).sum(0))
        expected[name] = np.sort(np.argsort(norms, kind="stable")[: round(0.25 * kernel.shape[1])])
        assert np.array_equal(np.flatnonzero(~pruning.row_mask(kernel, 0.25, norm)), expected[name])
    stripped, hist = pruning.fine_tune(setup, x, y, epochs=2, batch_size=64, learning_rate=1e-2)
    assert np.isfinite(hist["loss"][-1])
    for name, dead in expected.items():
        kernel, bias = stripped.get_layer(name).get_weights()
        assert np.all(kernel[:, dead] == 0) and np.all(bias[dead] == 0)
        alive = np.setdiff1d(np.arange(kernel.shape[1]), dead)
        assert np.all(np.any(kernel[:, alive] != 0, axis=0))
        assert np.isclose(pruning.sparsity(stripped)[name], len(dead) / kernel.shape[1], atol=0.02)


def test_n_m_helpers():
    w = np.array([[0.1, -5.0], [3.0, 0.0], [-2.0, 1.0], [0.5, 0.2], [4.0, 0.3], [-1.0, 0.0]])
    mask = pruning.n_m_mask(w, 2, 4, axis=0)
    np.testing.assert_array_equal(mask[:, 0], [False, True, True, False, True, True])
    np.testing.assert_array_equal(mask[:, 1], [True, False, True, False, True, True])  # ties: lower index
    assert pruning.check_n_m(w * mask, 2, 4) and not pruning.check_n_m(w, 2, 4)
    assert pruning.check_n_m(np.zeros((7, 3))) and not pruning.check_n_m(np.ones((3, 2)))
    assert pruning.check_n_m(np.ones((2, 8)), 2, 4, axis=0)
    assert not pruning.check_n_m(np.ones((2, 8)), 2, 4, axis=1)
    assert pruning.check_n_m(np.ones((8, 3)) * pruning.n_m_mask(np.ones((8, 3)), 1, 4), 1, 4)


@pytest.mark.parametrize("backend,flavour", [("tfmot", "float"), ("mask", "qkeras"), ("tfmot", "qkeras")])
def test_n_m_sparsity_holds_after_fine_tuning(trained, backend, flavour):
    model, x, y = trained
    net = model if flavour == "float" else qat.to_qkeras(model, bits=8, integer=1)
    setup = pruning.prune_n_m(net, 2, 4, backend=backend)
    stripped, _ = pruning.fine_tune(setup, x, y, epochs=2, batch_size=64)
    for layer in ptq.kernel_layers(stripped):
        kernel = layer.get_weights()[0]
        assert pruning.check_n_m(kernel, 2, 4, axis=0), layer.name
        assert np.mean(kernel == 0) >= 0.5
        if flavour == "qkeras":
            assert pruning.check_n_m(qat.quantized_weights(stripped)[layer.name][0], 2, 4)
    assert not pruning.check_n_m(model.get_layer("fc1").get_weights()[0])   # the input was dense


# -- distillation ----------------------------------------------------------------------------------
def test_distillation_of_latent_score():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2000, 6)).astype("float32")
    inp = keras.Input((6,))
    hidden = keras.layers.Dense(16, activation="tanh")(inp)
    teacher = keras.Model(inp, keras.layers.Dense(4, name="mu")(hidden))  # an "encoder" giving mu
    student = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                                keras.layers.Dense(1)])
    result = distill_mod.distill(teacher, student, x, target=distill_mod.squared_norm, epochs=25,
                                 batch_size=64, learning_rate=1e-2)
    score = np.sum(teacher.predict(x, verbose=0).astype(np.float64) ** 2, axis=1)
    np.testing.assert_allclose(result.target[:, 0], score, rtol=1e-5)
    assert result.student is student and len(result.history["loss"]) == 25
    assert result.mse_after < 0.1 * result.mse_before            # seen: ~1/50 to 1/100
    assert result.mse_after < 0.15 * np.var(score), (result.mse_after, np.var(score))  # seen: ~0.05
    direct = distill_mod.teacher_target(teacher, x[:10])
    assert direct.shape == (10, 4)
    with pytest.raises(L1TInputError):
        distill_mod.distill(teacher, student, x[:10], target="output", epochs=1)  # 4 targets vs 1 output


# -- scans -----------------------------------------------------------------------------------------
def test_scans_write_csv_and_png(trained, tmp_path):
    model, x, _ = trained
    reference = model.predict(x[:256], verbose=0)

    def mse(m) -> float:
        return float(np.mean((m.predict(x[:256], verbose=0) - reference) ** 2))

    def ptq_at(bits: int):
        return ptq.quantize_weights_fixed(model, FixedType(bits, 2, rounding="RND_CONV", overflow="SAT"))[0]

    rows = scan.scan_bits(ptq_at, mse, bits=(3, 6, 12))
    assert [r["bits"] for r in rows] == [3, 6, 12]
    assert rows[0]["value"] > rows[1]["value"] > rows[2]["value"] >= 0.0

    def one_shot(s: float):
        m = ptq.clone_with_weights(model)
        for layer in ptq.kernel_layers(m):
            k, b = layer.get_weights()
            k[np.abs(k) < np.quantile(np.abs(k), s)] = 0.0
            layer.set_weights([k, b])
        return m

    srows = scan.scan_sparsity(one_shot, mse, sparsities=(0.0, 0.5, 0.8))
    assert [round(r["measured_sparsity"], 1) for r in srows] == [0.0, 0.5, 0.8]
    csv_path, png_path = scan.write_scan(srows, tmp_path / "s" / "scan.csv", tmp_path / "s" / "scan.png",
                                         "sparsity", "MSE vs float")
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "sparsity,measured_sparsity,value" and len(lines) == 4
    assert float(lines[2].split(",")[0]) == 0.5
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["scan.csv", "scan.png"]
    with pytest.raises(L1TInputError):
        scan.write_scan([], tmp_path / "a.csv", tmp_path / "a.png", "x", "y")
