"""The firmware IR, the bit-exact emulator and the hls4ml C-simulation backend, and the four
implementations of a fully quantized model (Keras, emulator, C-sim, RTL) compared pairwise.

Each model is converted and its hls4ml project compiled once per module (≈ 5–10 s each); an
RTL (Verilator) build happens on first use: ≈ 7 s for ``small``, but ≈ 35 s for ``deep`` and
≈ 1 min for the VAE encoder, whose small-size checks therefore run the traced da4ml graph the
Verilog is generated from (da4ml's interpreter); the slow 10^6-event test simulates the RTL of
all three.
"""
from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from l1t.core.errors import L1TInputError  # noqa: E402
from l1t.firmware import ir  # noqa: E402
from l1t.firmware.backend import (NOT_AVAILABLE, Backend, available_backends, get_backend,  # noqa: E402
                              register_backend)
from l1t.firmware.compare import compare  # noqa: E402
from l1t.firmware.emulator import EmulatorBackend, cast, emulate_codes  # noqa: E402
from l1t.models import fixedpoint  # noqa: E402
from l1t.models.fixedpoint import OVERFLOW_MODES, ROUNDING_MODES, FixedType  # noqa: E402
from l1t.validation.firmware_check import read_check

N_EVENTS = 3000


def _randomize(model, seed: int, scale: float = 0.5) -> None:
    """Non-trivial weights (the default initialisers leave biases at 0)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, scale, w.shape).astype(np.float32) for w in weights])


def _vae_model():
    """The AXOL1TL-shaped QAT encoder of models/anomaly/vae.py: 57 → 28 → 15 → (μ 8, log σ² 8)."""
    from l1t.models.anomaly.inputs import InputScaling
    from l1t.models.anomaly.vae import AnomalyModel, VAEConfig, build

    cfg = VAEConfig(bits=6, integer=0, act_bits=8, act_integer=3)
    _, encoder = build(cfg)
    _randomize(encoder, 1, 0.4)
    scaling = InputScaling(offset=(0,) * 57, shift=(0,) * 57, width=10, frac=2)
    return AnomalyModel(encoder, scaling, cfg)


def _small_model():
    """16 → 8 → 4, 4-bit weights, quantized_relu(6,2), a quantized_bits(8,2) output activation
    (the one hls4ml 1.3.0 would drop without the IR's fix) and a Keras ReLU layer."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    q4 = quantized_bits(4, 0, alpha=1)
    x = keras.Input((16,), name="x")
    h = QDense(8, kernel_quantizer=q4, bias_quantizer=q4, name="d1",
               activation=quantized_relu(6, 2))(x)
    h = QDense(8, kernel_quantizer=q4, bias_quantizer=q4, name="d2")(h)
    h = keras.layers.ReLU(name="plain_relu")(h)
    h = QDense(4, kernel_quantizer=q4, bias_quantizer=q4, name="d3")(h)
    h = QActivation(quantized_bits(8, 2, alpha=1), name="out_q")(h)
    model = keras.Model(x, h, name="small")
    _randomize(model, 2, 0.5)
    return model


def _eight_bit_model():
    """8-bit weights, unsigned inputs, narrowed/saturating accumulators and a float Dense
    (weights off any grid: hls4ml's decimal text then ap_fixed<16,6> truncation)."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    q8 = quantized_bits(8, 1, alpha=1)
    x = keras.Input((12,), name="x")
    h = QDense(10, kernel_quantizer=q8, bias_quantizer=q8, name="a")(x)
    h = QActivation(quantized_relu(10, 4), name="a_relu")(h)
    h = QDense(6, kernel_quantizer=q8, use_bias=False, name="b")(h)
    h = keras.layers.Activation("relu", name="b_relu")(h)
    out1 = keras.layers.Dense(3, name="c")(h)
    out2 = QDense(2, kernel_quantizer=q8, bias_quantizer=q8, name="d")(h)
    model = keras.Model(x, [out1, out2], name="eight")
    _randomize(model, 3, 0.6)
    return model


def _deep_model():
    """32 → 24 → 12 → 6, signed ap_fixed<12,4> inputs, 8-, 5- and 7-bit weights,
    quantized_relu(10,4) and (6,2), a quantized_bits(12,4) output: fully quantized, sums within
    float32's mantissa (Keras is exact) and modes the RTL backend expresses."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    q8, q5, q7 = (quantized_bits(8, 1, alpha=1), quantized_bits(5, 0, alpha=1),
                  quantized_bits(7, 1, alpha=1))
    x = keras.Input((32,), name="x")
    h = QDense(24, kernel_quantizer=q8, bias_quantizer=q8, name="e1",
               activation=quantized_relu(10, 4))(x)
    h = QDense(12, kernel_quantizer=q5, bias_quantizer=q5, name="e2")(h)
    h = QActivation(quantized_relu(6, 2), name="e2_relu")(h)
    h = QDense(6, kernel_quantizer=q7, bias_quantizer=q7, name="e3")(h)
    h = QActivation(quantized_bits(12, 4, alpha=1), name="e3_q")(h)
    model = keras.Model(x, h, name="deep")
    _randomize(model, 4, 0.4)
    return model


EIGHT_BIT_PRECISION = {
    # fewer fractional bits than the products, rounding + saturation: the step-by-step path
    "a": {"accum": "ap_fixed<16,7,AP_RND_CONV,AP_SAT>", "result": "ap_fixed<14,6,AP_RND,AP_SAT>"},
    # too few integer bits: the accumulator wraps
    "b": {"accum": "ap_fixed<16,3>", "result": "ap_fixed<12,3>"},
    # symmetric saturation on an output
    "d": {"result": "ap_fixed<10,2,AP_RND_INF,AP_SAT_SYM>"},
}


def _inputs(fw: ir.FirmwareModel, n: int, seed: int) -> np.ndarray:
    """On-grid inputs: half uniform over every code (saturation, wrap), half realistic."""
    rng = np.random.default_rng(seed)
    t = fw.input_type
    codes = rng.integers(t.min_code, t.max_code + 1, (n // 2, fw.n_in))
    realistic = fw.quantize_inputs(rng.normal(0, t.max / 4, (n - n // 2, fw.n_in)))
    return np.concatenate([fixedpoint.from_int(codes, t), realistic])


class Compiled:
    """A model's IR with its emulator and compiled C-sim (``x``: N_EVENTS on-grid inputs); the
    RTL backend is built on first use (:meth:`rtl`). ``anomaly``: the VAE's AnomalyModel."""

    def __init__(self, fw, keras_model, workdir, anomaly=None):
        self.fw = fw
        self.keras = keras_model
        self.anomaly = anomaly
        self.workdir = Path(workdir)
        self.emu = get_backend("emulator")
        self.emu.compile(fw)
        self.hls = get_backend("hls4ml")
        self.hls.compile(fw, workdir)
        self.x = _inputs(fw, N_EVENTS, 7)
        self._rtl = None

    def rtl(self):
        """The Verilator-simulated RTL backend (built once)."""
        if self._rtl is None:
            self._rtl = get_backend("rtl")
            self._rtl.compile(self.fw, self.workdir / "rtl")
        return self._rtl


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    model = _vae_model()
    fw = ir.from_anomaly_model(model, name="vae_encoder")
    return Compiled(fw, model.encoder, tmp_path_factory.mktemp("hls_vae"), anomaly=model)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    model = _small_model()
    fw = ir.from_keras(model, "ap_fixed<8,3>")
    return Compiled(fw, model, tmp_path_factory.mktemp("hls_small"))


@pytest.fixture(scope="module")
def eight(tmp_path_factory):
    model = _eight_bit_model()
    fw = ir.from_keras(model, "ap_ufixed<12,4>", precision=EIGHT_BIT_PRECISION)
    return Compiled(fw, model, tmp_path_factory.mktemp("hls_eight"))


@pytest.fixture(scope="module")
def deep(tmp_path_factory):
    model = _deep_model()
    fw = ir.from_keras(model, "ap_fixed<12,4>")
    return Compiled(fw, model, tmp_path_factory.mktemp("hls_deep"))


MODELS = ["vae", "small", "eight"]
#: fully quantized (Keras is bit-exact too) with modes da4ml expresses: all four implementations
FOUR_WAY = ["vae", "small", "deep"]
SLOW_RTL_BUILD = {"vae", "deep"}   # Verilator builds of ≈ 1 min and 35 s: only in the slow test


def _keras_outputs(c: Compiled, x: np.ndarray) -> list[np.ndarray]:
    y = c.keras.predict(x.astype(np.float32), verbose=0, batch_size=16384)
    return y if isinstance(y, list) else [y]


def _graph_outputs(c: Compiled, x: np.ndarray) -> list[np.ndarray]:
    """The RTL's da4ml graph run by da4ml's interpreter (no Verilator build)."""
    from l1t.firmware.rtl import trace

    flat = np.asarray(trace(c.fw).predict(x), dtype=np.float64)
    return np.split(flat, np.cumsum(c.fw.output_sizes)[:-1], axis=1)


def _check_four_way(c: Compiled, x: np.ndarray, rtl: list[np.ndarray]) -> None:
    """Keras, emulator, C-sim and RTL outputs on ``x``: every pair bit for bit; for the VAE
    also its three anomaly scores (Keras through AnomalyModel.scores on the integer words)."""
    outs = {"keras": _keras_outputs(c, x), "emulator": c.emu.predict(x),
            "hls4ml": c.hls.predict(x), "rtl": rtl}
    n = len(x)
    exact = {"events": n, "mismatched_events": 0, "max_abs_diff_lsb": 0.0}
    pairs = {f"{a} vs {b}": compare(outs[a], outs[b], c.fw.output_types, c.fw.outputs)["overall"]
             for a, b in itertools.combinations(outs, 2)}
    assert pairs == {key: exact for key in pairs}, pairs
    for y, t in zip(outs["emulator"], c.fw.output_types):     # non-trivial, on the output grid
        assert np.count_nonzero(y) > y.size // 10
        assert len(np.unique(y)) > 20
        assert np.array_equal(fixedpoint.quantize(y, t), y)
    if c.anomaly is not None:
        from l1t.models.anomaly.vae import scores_from_latent

        words = fixedpoint.to_int(x, c.fw.input_type)   # the test scaling: word = input code
        assert np.array_equal(c.anomaly.scaling.values(words), x.astype(np.float32))
        software = c.anomaly.scores(words)
        for name in ("emulator", "hls4ml", "rtl"):
            firmware = scores_from_latent(*outs[name])
            assert set(firmware) == set(software) == {"axo", "rz", "kl"}
            for score in software:
                assert np.array_equal(firmware[score], software[score]), (name, score)


# -- bit-exactness ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MODELS)
def test_emulator_matches_csim(name, request):
    c = request.getfixturevalue(name)
    ye = c.emu.predict(c.x)
    yh = c.hls.predict(c.x)
    result = compare(ye, yh, c.fw.output_types, c.fw.outputs)
    assert result["overall"] == {"events": N_EVENTS, "mismatched_events": 0,
                                 "max_abs_diff_lsb": 0.0}, result
    for y, t in zip(ye, c.fw.output_types):   # fixed point out
        assert np.array_equal(fixedpoint.quantize(y, t), y)


def test_vae_ir_types(vae):
    fw = vae.fw
    assert fw.outputs == ["mu", "logvar"]
    assert str(fw.input_type) == "ap_fixed<10,8>"
    dense0 = fw.layer("enc_dense0")
    assert (dense0.n_in, dense0.n_out) == (57, 28)
    assert str(dense0.weight_type) == "ap_fixed<6,1>"
    # hls4ml's inferred accumulator: 10 + 6 bits + ceil(log2 57) + 1 for the bias
    assert str(dense0.accum_type) == "ap_fixed<23,16>"
    assert str(fw.layer("enc_relu0").result_type) == "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>"
    assert [str(t) for t in fw.output_types] == ["ap_fixed<19,9>", "ap_fixed<19,9>"]


def test_saturating_accumulator_uses_stepwise_path(eight):
    from l1t.firmware.emulator import _DensePlan

    assert _DensePlan.build(eight.fw.layer("a")).path == "stepwise"
    assert _DensePlan.build(eight.fw.layer("b")).path == "sum"     # wraps: sum once, wrap once


@pytest.mark.parametrize("name", FOUR_WAY)
def test_four_implementations_agree(name, request):
    """Fully quantized models: QKeras' float arithmetic is exact here (all sums fit float32's
    24-bit mantissa, quantizers scale by powers of two), so Keras, the emulator, the C-sim and the
    RTL agree exactly, not to ±1 LSB (N_EVENTS here, 10^6 in the slow test)."""
    c = request.getfixturevalue(name)
    rtl = _graph_outputs(c, c.x) if name in SLOW_RTL_BUILD else c.rtl().predict(c.x)
    _check_four_way(c, c.x, rtl)


def test_float_dense_is_close_to_keras(eight):
    """The float Dense 'c' (weights ap_fixed<16,6> truncated, a narrowed input chain) agrees with
    Keras only approximately: a check that the emulator computes the same function."""
    fw = eight.fw
    emu = eight.emu
    layers = emu.predict_layers(eight.x)
    w = eight.keras.get_layer("c").get_weights()
    ref = layers["b_relu"] @ w[0].astype(np.float64) + w[1]
    lsb_w = fw.layer("c").weight_type.lsb
    tol = (np.abs(layers["b_relu"]).sum(axis=1, keepdims=True) + 1) * lsb_w
    assert np.all(np.abs(layers["c"] - ref) <= tol)


def test_ir_types_match_written_defines(small, eight, vae):
    """The IR's types are exactly the typedefs hls4ml wrote into firmware/defines.h."""
    for c in (small, eight, vae):
        text = (c.workdir / "firmware" / "defines.h").read_text()
        typedefs = dict((m.group(2), m.group(1))
                        for m in re.finditer(r"typedef\s+(.+?)\s+(\w+);", text))
        graph = c.fw.hls_model.graph
        for layer in c.fw.layers:
            node = graph[layer.name]
            fields = {"result_t": layer.result_type}
            if layer.kind == "dense":
                fields.update(accum_t=layer.accum_type, weight_t=layer.weight_type,
                              bias_t=layer.bias_type)
            for key, t in fields.items():
                written = typedefs[node.types[key].name]
                assert fixedpoint.FixedType.parse(written) == t, (layer.name, key, written)


def test_weights_match_written_files(eight, vae):
    """Weights as the C-sim reads them (weights/*.txt → double → weight_t) == the IR's."""
    for c in (eight, vae):
        for layer in c.fw.layers:
            if layer.kind != "dense":
                continue
            node = c.fw.hls_model.graph[layer.name]
            for key, t, mine in (("weight", layer.weight_type, layer.weight),
                                 ("bias", layer.bias_type, layer.bias)):
                path = c.workdir / "firmware" / "weights" / f"{node.weights[key].name}.txt"
                text = path.read_text().strip()
                values = np.array([float(v) for v in text.split(",")]) if text else np.zeros(0)
                assert np.array_equal(fixedpoint.quantize(values, t), mine.ravel()), \
                    (layer.name, key)


def test_chunking_and_trace(small):
    fw = small.fw
    whole = small.emu.predict(small.x)
    for threads in (0, 1, 3):
        chunked = EmulatorBackend(chunk_size=37, n_threads=threads)
        chunked.compile(fw)
        assert all(np.array_equal(a, b) for a, b in zip(whole, chunked.predict(small.x)))
    with pytest.raises(L1TInputError, match="n_threads"):
        EmulatorBackend(n_threads=-1)
    codes = emulate_codes(fw, fw.input_codes(small.x), chunk_size=100, trace=True)
    assert set(codes) == {layer.name for layer in fw.layers}
    assert np.array_equal(fixedpoint.from_int(codes["d3"], fw.layer("d3").result_type),
                          whole[0])


# -- the fused kernel --------------------------------------------------------------------------
def test_cast_matches_requantize_for_every_mode():
    """emulator.cast (the compiled cast of the fused kernel) == fixedpoint.requantize (checked
    against the ap_fixed headers) for every code of small sources into every rounding × overflow
    mode: right shifts past the source width, left shifts that overflow, one-bit SAT_SYM."""
    sources = [FixedType(8, 3), FixedType(6, -1), FixedType(1, 1), FixedType(5, 5),
               FixedType(7, 7, signed=False), FixedType(10, 12, signed=False)]
    shapes = [(1, 1), (2, 0), (3, 1), (4, -2), (5, 2), (6, 8), (9, 4), (12, 3)]
    n = 0
    for src in sources:
        codes = np.arange(src.min_code, src.max_code + 1, dtype=np.int64)
        for q, o, signed, (w, i) in itertools.product(ROUNDING_MODES, OVERFLOW_MODES,
                                                      (True, False), shapes):
            dst = FixedType(w, i, signed=signed, rounding=q, overflow=o)
            got = cast(codes, src, dst)
            assert np.array_equal(got, fixedpoint.requantize(codes, src, dst)), (src, dst)
            n += 1
    wide = FixedType(62, 20)                  # left shifts beyond int64 fall back to requantize
    codes = np.array([wide.min_code, -5, -1, 0, 1, 7, wide.max_code], dtype=np.int64)
    for dst in (FixedType(8, 3, rounding="RND_CONV", overflow="SAT"), FixedType(40, 10),
                FixedType(20, -30, rounding="RND"), FixedType(62, 1, overflow="SAT_SYM")):
        assert np.array_equal(cast(codes, wide, dst), fixedpoint.requantize(codes, wide, dst))
    assert n == len(sources) * 7 * 4 * 2 * len(shapes)


# (input type, weight type, accum_t, result_t, activation, its result_t, 2nd accum_t, 2nd result_t)
FUSED_CASES = {
    # accum_t wraps (shift 1: more fractional bits than the products), zero/symmetric saturation
    "wrap": ("ap_fixed<8,4>", "ap_fixed<6,1>", "ap_fixed<14,4>",
             "ap_fixed<8,3,AP_RND_ZERO,AP_SAT_ZERO>", "relu",
             "ap_ufixed<6,2,AP_RND_MIN_INF,AP_SAT>", "ap_fixed<20,8>",
             "ap_fixed<9,4,AP_TRN_ZERO,AP_SAT_SYM>"),
    # unsigned inputs, wrapping result, convergent rounding, a left shift that saturates
    "unsigned": ("ap_ufixed<10,6>", "ap_fixed<5,2>", "ap_fixed<24,12>",
                 "ap_fixed<8,3,AP_RND_INF,AP_WRAP>", "relu", "ap_ufixed<6,0,AP_TRN,AP_SAT>",
                 "ap_fixed<18,6>", "ap_fixed<5,2,AP_RND_CONV,AP_WRAP>"),
    # sums beyond float32's mantissa: the float64 kernel; a one-bit SAT_SYM output
    "float64": ("ap_fixed<20,10>", "ap_fixed<10,2>", "ap_fixed<40,20>",
                "ap_fixed<16,8,AP_RND,AP_SAT>", "linear", "ap_fixed<12,6,AP_RND,AP_SAT>",
                "ap_fixed<30,16>", "ap_fixed<1,1,AP_RND,AP_SAT_SYM>"),
    # every bit of the first sum (and bias) shifted out of a 2-bit wrapping accumulator
    "shifted_out": ("ap_fixed<8,4>", "ap_fixed<6,1>", "ap_fixed<2,-9>", "ap_fixed<6,-7>",
                    "linear", "ap_fixed<7,-6,AP_RND,AP_SAT>", "ap_fixed<16,-2>",
                    "ap_fixed<10,-2,AP_RND_CONV,AP_SAT>"),
}


def _mode_chain(case: str, seed: int) -> ir.FirmwareModel:
    """in → Dense(9) → activation → Dense(5), random on-grid weights; outputs: both Dense."""
    t_in, t_w, acc1, res1, act, act_t, acc2, res2 = FUSED_CASES[case]
    T = FixedType.parse
    rng = np.random.default_rng(seed)

    def dense(name, src, n_in, n_out, tx, ta, tr):
        tw = T(t_w)
        w = fixedpoint.from_int(rng.integers(tw.min_code, tw.max_code + 1, (n_in, n_out)), tw)
        b = fixedpoint.from_int(rng.integers(tw.min_code, tw.max_code + 1, n_out), tw)
        return ir.DenseLayer(name, src, n_in, n_out, w, b, tx, tw, tw, T(ta), T(tr))

    d1 = dense("d1", "in", 11, 9, T(t_in), acc1, res1)
    a1 = ir.ActivationLayer("a1", "d1", 9, act, T(res1), T(act_t))
    d2 = dense("d2", "a1", 9, 5, T(act_t), acc2, res2)
    return ir.FirmwareModel(case, [ir.InputLayer("in", 11, T(t_in)), d1, a1, d2], ["d2", "d1"])


def _reference_codes(fw: ir.FirmwareModel, x: np.ndarray) -> dict[str, np.ndarray]:
    """The C++ loops with fixedpoint.requantize alone: acc = (accum_t) bias, then each
    product cast to accum_t and each += in accum_t, in order; then the result casts."""
    rq = fixedpoint.requantize
    codes = {fw.input.name: fw.input_codes(x)}
    for layer in fw.layers[1:]:
        src = codes[layer.input]
        if layer.kind == "dense":
            ta = layer.accum_type
            product = FixedType(62, 62 - layer.input_type.frac - layer.weight_type.frac)
            wide = FixedType(ta.width + 1, ta.integer + 1, signed=ta.signed)
            acc = np.tile(rq(layer.bias_codes, layer.bias_type, ta), (len(src), 1))
            for i in range(layer.n_in):
                acc = rq(acc + rq(src[:, i:i + 1] * layer.weight_codes[i], product, ta), wide, ta)
            codes[layer.name] = rq(acc, ta, layer.result_type)
        else:
            v = np.maximum(src, 0) if layer.activation == "relu" else src
            codes[layer.name] = rq(v, layer.input_type, layer.result_type)
    return codes


@pytest.mark.parametrize("case", sorted(FUSED_CASES))
def test_fused_kernel_matches_the_cpp_order(case):
    """The fused kernel on IRs exercising every cast kind and both float widths == the C++
    order computed with requantize alone == the layer-by-layer emulation."""
    from l1t.firmware.emulator import _Program, _plan

    fw = _mode_chain(case, 5)
    emu = EmulatorBackend(chunk_size=100)      # several chunks, a partial group of 64 at the end
    emu.compile(fw)
    assert emu.fused
    program = _Program.build(fw, _plan(fw))
    assert program.weights.dtype == (np.float64 if case == "float64" else np.float32)
    t = fw.input_type
    rng = np.random.default_rng(6)
    x = fixedpoint.from_int(rng.integers(t.min_code, t.max_code + 1, (1001, fw.n_in)), t)
    x[0], x[1] = t.min, t.max
    got = emu.predict(x)
    ref = _reference_codes(fw, x)
    layered = emulate_codes(fw, fw.input_codes(x))
    for y, name in zip(got, fw.outputs):
        t_out = fw.layer(name).result_type
        assert np.array_equal(y, fixedpoint.from_int(ref[name], t_out)), name
        assert np.array_equal(y, fixedpoint.from_int(layered[name], t_out)), name
        assert y.flags.c_contiguous and y.shape == (len(x), fw.layer(name).n_out)
    if case == "shifted_out":      # d1: sums and bias (LSB 2**-5) wrap to 0 in a 2-bit accum_t
        assert not np.any(got[1]) and np.array_equal(got[0], np.tile(got[0][0], (len(x), 1)))
        assert np.any(got[0])      # d2: its bias alone
    else:
        assert all(len(np.unique(y)) > 1 for y in got)
    empty = emu.predict(np.zeros((0, fw.n_in)))
    assert [e.shape for e in empty] == [(0, 5), (0, 9)]
    single = emu.predict(x[7])
    assert all(np.array_equal(a, b[7:8]) for a, b in zip(single, got))


def test_fused_kernel_checks_every_input(small):
    """Off-grid, out-of-range, NaN and inf inputs anywhere (any chunk) are refused, naming the
    first one in (event, feature) order; the stepwise model runs layer by layer."""
    emu = EmulatorBackend(chunk_size=64)
    emu.compile(small.fw)
    assert emu.fused and small.emu.fused
    t = small.fw.input_type
    x = small.x[:1000].copy()
    for value, match in ((t.lsb / 2, r"input \[700, 5\]"), (t.max + t.lsb, r"input \[700, 5\]"),
                         (t.min - t.lsb, r"input \[700, 5\]"), (np.nan, "NaN"), (np.inf, "NaN"),
                         (-np.inf, "NaN")):
        y = x.copy()
        y[700, 5] = value
        y[900, 0] = t.lsb / 4                  # a later chunk: not the one reported
        with pytest.raises(L1TInputError, match=match):
            emu.predict(y)
    assert np.array_equal(emu.predict(x)[0], small.emu.predict(x)[0])


def test_stepwise_model_is_not_fused(eight):
    assert not eight.emu.fused


def test_inputs_must_be_on_the_grid(small):
    x = small.x[:5].copy()
    x[2, 3] += small.fw.input_type.lsb / 3
    for backend in (small.emu, small.hls):
        with pytest.raises(L1TInputError, match="input \\[2, 3\\]"):
            backend.predict(x)
    with pytest.raises(L1TInputError, match="shaped"):
        small.emu.predict(small.x[:, :5])
    big = small.x[:2].copy()
    big[0, 0] = small.fw.input_type.max * 4
    with pytest.raises(L1TInputError):
        small.emu.predict(big)
    q = small.fw.quantize_inputs(x)
    assert np.array_equal(small.emu.predict(q)[0], small.hls.predict(q)[0])


# -- reports, registry, scan ---------------------------------------------------------------------
def test_reports_say_what_needs_synthesis(small):
    rep = small.hls.report()
    for key in ("latency_cycles", "initiation_interval", "resources"):
        assert rep[key].startswith(NOT_AVAILABLE)
    assert small.hls.latency_cycles is None and small.hls.resources is None
    assert "vitis-run" in rep["synthesis"]
    assert rep["target_clock_ns"] == 5.0 and rep["target_initiation_interval"] == 1
    assert rep["outputs"] == {"d3": "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"}
    assert small.emu.report()["latency_cycles"].startswith("not available")
    json.dumps(rep)


def test_prepare_synthesis(small, tmp_path):
    from l1t.firmware.hls import prepare_synthesis

    cmd = prepare_synthesis(small.workdir)
    assert cmd.endswith("vitis-run --tcl build_prj.tcl --mode hls")
    opts = (small.workdir / "build_opt.tcl").read_text()
    assert re.search(r"csim\s+0", opts) and re.search(r"synth\s+1", opts)
    assert re.search(r"cosim\s+0", opts)
    with pytest.raises(L1TInputError, match="build_prj.tcl"):
        prepare_synthesis(tmp_path)


def _hand_built(accum: str) -> ir.FirmwareModel:
    """A 3 → 2 Dense IR built by hand (no hls4ml), for what needs no C simulation."""
    T = fixedpoint.FixedType.parse
    w = np.array([[0.5, -0.25], [0.75, 0.96875], [-1.0, 0.125]])
    dense = ir.DenseLayer("d", "in", 3, 2, w, np.array([0.25, -0.5]), T("ap_fixed<8,4>"),
                          T("ap_fixed<6,1>"), T("ap_fixed<6,1>"), T(accum), T("ap_fixed<12,6>"))
    return ir.FirmwareModel("hand", [ir.InputLayer("in", 3, T("ap_fixed<8,4>")), dense], ["d"])


def test_hand_built_ir_and_csim_abort_check(tmp_path):
    """The emulator runs an IR without hls4ml; casts that abort the HLS C-simulation headers
    (rounding away more bits than the source has) are refused before compiling."""
    fw = _hand_built("ap_fixed<16,6>")          # ≥ 9 fractional bits: exact sums
    emu = get_backend("emulator")
    emu.compile(fw)
    x = np.array([[1.0, -2.0, 0.5], [7.9375, -8.0, 0.0]])
    exact = x @ fw.layer("d").weight + fw.layer("d").bias
    assert np.array_equal(emu.predict(x)[0], fixedpoint.quantize(exact, "ap_fixed<12,6>"))
    bad = _hand_built("ap_fixed<4,8,AP_RND,AP_SAT>")   # products have 9 fractional bits
    with pytest.raises(L1TInputError, match="abort") as info:
        get_backend("hls4ml").compile(bad, tmp_path)
    assert info.value.source == "d"
    emu.compile(bad)                                     # the emulator computes it anyway
    assert emu.predict(x)[0].shape == (2, 2)
    t = bad.input_type
    with pytest.raises(L1TInputError, match="not all values"):   # 0.1 is off ap_fixed<8,4>
        ir.DenseLayer("d", "in", 1, 1, np.array([[0.1]]), np.zeros(1), t, t, t, t, t)


def test_synthesis_report_is_read_when_present(tmp_path):
    """A (fake) Vitis csynth.xml in the project: latency/II/resources come from it."""
    from l1t.firmware.hls import synthesis_report

    assert synthesis_report(tmp_path) is None
    (tmp_path / "project.tcl").write_text('set project_name "myproject"\nset backend "vitis"\n')
    prj = tmp_path / "myproject_prj"
    (prj / "solution1" / "syn" / "report").mkdir(parents=True)
    (prj / "hls.app").write_text('<project><solutions><solution name="solution1"/></solutions>'
                                 '</project>')
    (prj / "solution1" / "syn" / "report" / "myproject_csynth.xml").write_text(
        "<profile><UserAssignments><TargetClockPeriod>5.00</TargetClockPeriod></UserAssignments>"
        "<PerformanceEstimates><SummaryOfTimingAnalysis><EstimatedClockPeriod>4.2"
        "</EstimatedClockPeriod></SummaryOfTimingAnalysis><SummaryOfOverallLatency>"
        "<Best-caseLatency>9</Best-caseLatency><Worst-caseLatency>9</Worst-caseLatency>"
        "<Interval-min>1</Interval-min><Interval-max>1</Interval-max></SummaryOfOverallLatency>"
        "</PerformanceEstimates><AreaEstimates><Resources><BRAM_18K>0</BRAM_18K><DSP>12</DSP>"
        "<FF>3000</FF><LUT>20000</LUT></Resources><AvailableResources><BRAM_18K>5376</BRAM_18K>"
        "<DSP>12288</DSP><FF>3456000</FF><LUT>1728000</LUT></AvailableResources></AreaEstimates>"
        "</profile>")
    rep = synthesis_report(tmp_path)
    assert rep["WorstLatency"] == "9" and rep["LUT"] == "20000"
    backend = get_backend("hls4ml")
    backend.workdir = str(tmp_path)
    assert backend.latency_cycles == 9 and backend.initiation_interval == 1
    assert backend.clock_ns == 4.2 and backend.resources == {"LUT": 20000, "FF": 3000, "DSP": 12,
                                                             "BRAM_18K": 0}


def test_registry():
    assert {"emulator", "hls4ml"} <= set(available_backends())
    assert isinstance(get_backend("emulator"), EmulatorBackend)
    with pytest.raises(L1TInputError, match="unknown backend"):
        get_backend("nope")
    with pytest.raises(L1TInputError, match="already registered"):
        register_backend("emulator", EmulatorBackend)

    class Echo(EmulatorBackend):
        name = "echo-test"

    register_backend("echo-test", Echo)
    try:
        assert isinstance(get_backend("echo-test", chunk_size=5), Backend)
    finally:
        from l1t.firmware import backend as backend_module

        backend_module._REGISTRY.pop("echo-test")
    with pytest.raises(L1TInputError, match="compile"):
        get_backend("emulator").predict(np.zeros((1, 3)))


def test_reuse_factor_scan(tmp_path):
    from l1t.firmware.hls import reuse_factor_scan

    rows = reuse_factor_scan(_small_model(), "ap_fixed<8,3>", [1, 4], tmp_path)
    assert [r["reuse_factor"] for r in rows] == [1, 4]
    assert rows[0]["multipliers"] > rows[1]["multipliers"]
    for r in rows:
        params = (Path(r["project"]) / "firmware" / "parameters.h").read_text()
        assert f"reuse_factor = {r['reuse_factor']};" in params
        assert (Path(r["project"]) / "build_prj.tcl").is_file()
        assert r["layers"]["d1"]["reuse_factor"] == r["reuse_factor"]
    assert json.loads((tmp_path / "scan.json").read_text()) == rows


def test_compare_counts_events_and_lsbs():
    t = "ap_fixed<8,3>"
    a = [np.zeros((4, 2)), np.zeros((4, 1))]
    b = [np.zeros((4, 2)), np.zeros((4, 1))]
    b[0][1, 1] = 3 * 2.0**-5
    b[1][2, 0] = 2.0**-5
    b[1][1, 0] = 2.0**-5
    r = compare(a, b, [t, t], ["p", "q"])
    assert r["p"] == {"events": 4, "mismatched_events": 1, "max_abs_diff_lsb": 3.0}
    assert r["q"]["mismatched_events"] == 2
    assert r["overall"] == {"events": 4, "mismatched_events": 2, "max_abs_diff_lsb": 3.0}
    with pytest.raises(L1TInputError):
        compare(a, b[:1], [t])


# -- refused models ------------------------------------------------------------------------------
def _refused(build, layer_name: str, why: str):
    from tensorflow import keras

    model = build(keras)
    with pytest.raises(L1TInputError, match=why) as info:
        ir.from_keras(model, "ap_fixed<16,6>")
    assert info.value.source == layer_name


def test_simple_rnn_is_refused():
    def build(keras):
        x = keras.Input((10, 3))
        return keras.Model(x, keras.layers.Dense(2)(keras.layers.SimpleRNN(4, name="rnn")(x)))

    _refused(build, "rnn", "silently wrong")


def test_conv1d_is_refused():
    def build(keras):
        x = keras.Input((10, 3))
        h = keras.layers.Conv1D(4, 3, name="conv")(x)
        return keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(h)))

    _refused(build, "conv", "convolutions")


def test_lut_activations_and_bounded_relu_are_refused():
    def softmax(keras):
        x = keras.Input((5,))
        return keras.Model(x, keras.layers.Dense(3, activation="softmax", name="cls")(x))

    def relu6(keras):
        x = keras.Input((5,))
        return keras.Model(x, keras.layers.ReLU(max_value=6.0, name="r6")(keras.layers.Dense(3)(x)))

    def tanh(keras):
        x = keras.Input((5,))
        h = keras.layers.Dense(3)(x)
        return keras.Model(x, keras.layers.Activation("tanh", name="t")(h))

    _refused(softmax, "cls", "lookup table")
    _refused(relu6, "r6", "plain relu")
    _refused(tanh, "t", "lookup table")


def test_unfolded_batchnorm_is_refused():
    """A BatchNormalization hls4ml cannot fold into a Dense (it follows an activation)."""
    def build(keras):
        x = keras.Input((5,))
        h = keras.layers.Activation("relu")(keras.layers.Dense(4)(x))
        return keras.Model(x, keras.layers.BatchNormalization(name="bn")(h))

    _refused(build, "bn", "BatchNormalization")


# -- the long one ----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", FOUR_WAY)
def test_million_events_four_implementations(name, request):
    """10^6 events (half uniform over every input code, half realistic): Keras, emulator, hls4ml
    C simulation and the Verilator-simulated RTL, every pair bit for bit (and the VAE's scores)."""
    c = request.getfixturevalue(name)
    x = _inputs(c.fw, 1_000_000, 11)
    _check_four_way(c, x, c.rtl().predict(x))


def test_l1t_firmware_check_command(tmp_path, capsys):
    """`l1t firmware check` on a saved QKeras model: every pair bit-exact, check.json written;
    a model the converter cannot map exits 2 naming the layer."""
    from tensorflow import keras

    from l1t.cli import main
    from l1t.models.anomaly.vae import VAEConfig, build

    _, encoder = build(VAEConfig(bits=6, seed=2))
    path = tmp_path / "enc.h5"
    encoder.save(str(path), save_format="h5")
    assert main(["firmware", "check", str(path), "--input-precision", "ap_fixed<10,8>",
                 "--events", "2000", "--out", str(tmp_path / "chk")]) == 0
    check = read_check(tmp_path / "chk" / "check.json")
    assert set(check["pairs"]) == {"software vs emulator", "software vs hls4ml",
                                   "emulator vs hls4ml"}
    for pair in check["pairs"].values():
        assert pair["events"] == 2000 and pair["mismatched_events"] == 0
        assert pair["max_abs_diff_lsb"] == 0
    rnn = keras.Sequential([keras.Input((4, 3)), keras.layers.SimpleRNN(2, name="rnn")])
    rnn_path = tmp_path / "rnn.h5"
    rnn.save(str(rnn_path), save_format="h5")
    capsys.readouterr()
    assert main(["firmware", "check", str(rnn_path), "--input-precision", "ap_fixed<16,6>",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "rnn" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "check.json").exists()
