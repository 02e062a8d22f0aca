"""The firmware IR, the bit-exact emulator and the hls4ml C-simulation backend.

Each model is converted and its hls4ml project compiled once per module (≈ 5–10 s each).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from datasets.errors import L1TInputError  # noqa: E402
from firmware import ir  # noqa: E402
from firmware.backend import (NOT_AVAILABLE, Backend, available_backends, get_backend,  # noqa: E402
                              register_backend)
from firmware.compare import compare  # noqa: E402
from firmware.emulator import EmulatorBackend, emulate_codes  # noqa: E402
from models import fixedpoint  # noqa: E402

N_EVENTS = 3000


def _randomize(model, seed: int, scale: float = 0.5) -> None:
    """Non-trivial weights (the default initialisers leave biases at 0)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, scale, w.shape).astype(np.float32) for w in weights])


def _vae_model():
    """The AXOL1TL-shaped QAT encoder of models/vae.py: 57 → 28 → 15 → (μ 8, log σ² 8)."""
    from models.anomaly_inputs import InputScaling
    from models.vae import AnomalyModel, VAEConfig, build

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
    def __init__(self, fw, keras_model, workdir):
        self.fw = fw
        self.keras = keras_model
        self.workdir = Path(workdir)
        self.emu = get_backend("emulator")
        self.emu.compile(fw)
        self.hls = get_backend("hls4ml")
        self.hls.compile(fw, workdir)
        self.x = _inputs(fw, N_EVENTS, 7)


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    model = _vae_model()
    fw = ir.from_anomaly_model(model, name="vae_encoder")
    return Compiled(fw, model.encoder, tmp_path_factory.mktemp("hls_vae"))


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


MODELS = ["vae", "small", "eight"]


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
    from firmware.emulator import _DensePlan

    assert _DensePlan.build(eight.fw.layer("a")).path == "stepwise"
    assert _DensePlan.build(eight.fw.layer("b")).path == "sum"     # wraps: sum once, wrap once


@pytest.mark.parametrize("name", ["vae", "small"])
def test_emulator_matches_keras(name, request):
    """Fully quantized models: QKeras' float arithmetic is exact here (all sums fit float32's
    24-bit mantissa, quantizers scale by powers of two), so agreement is exact, not ±1 LSB."""
    c = request.getfixturevalue(name)
    yk = c.keras.predict(c.x.astype(np.float32), verbose=0, batch_size=1024)
    yk = yk if isinstance(yk, list) else [yk]
    result = compare(c.emu.predict(c.x), yk, c.fw.output_types, c.fw.outputs)
    assert result["overall"]["mismatched_events"] == 0, result


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
    chunked = EmulatorBackend(chunk_size=37)
    chunked.compile(fw)
    assert all(np.array_equal(a, b) for a, b in zip(whole, chunked.predict(small.x)))
    codes = emulate_codes(fw, fw.input_codes(small.x), chunk_size=100, trace=True)
    assert set(codes) == {layer.name for layer in fw.layers}
    assert np.array_equal(fixedpoint.from_int(codes["d3"], fw.layer("d3").result_type),
                          whole[0])


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
    from firmware.hls import prepare_synthesis

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
    from firmware.hls import synthesis_report

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
        from firmware import backend as backend_module

        backend_module._REGISTRY.pop("echo-test")
    with pytest.raises(L1TInputError, match="compile"):
        get_backend("emulator").predict(np.zeros((1, 3)))


def test_reuse_factor_scan(tmp_path):
    from firmware.hls import reuse_factor_scan

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
def test_million_events_emulator_vs_csim(vae):
    """10^6 events of the VAE encoder: emulator vs hls4ml C simulation, bit for bit."""
    rng = np.random.default_rng(11)
    fw = vae.fw
    t = fw.input_type
    n = 1_000_000
    codes = rng.integers(t.min_code, t.max_code + 1, (n, fw.n_in))
    codes[n // 2:] = np.clip(np.round(rng.normal(0, 30, (n - n // 2, fw.n_in))),
                             t.min_code, t.max_code)
    x = fixedpoint.from_int(codes, t)
    result = compare(vae.emu.predict(x), vae.hls.predict(x), fw.output_types, fw.outputs)
    assert result["overall"] == {"events": n, "mismatched_events": 0, "max_abs_diff_lsb": 0.0}


def test_l1t_firmware_check_command(tmp_path, capsys):
    """`l1t firmware check` on a saved QKeras model: every pair bit-exact, check.json written;
    a model the converter cannot map exits 2 naming the layer."""
    import json

    from tensorflow import keras

    from l1t.cli import main
    from models.vae import VAEConfig, build

    _, encoder = build(VAEConfig(bits=6, seed=2))
    path = tmp_path / "enc.h5"
    encoder.save(str(path), save_format="h5")
    assert main(["firmware", "check", str(path), "--input-precision", "ap_fixed<10,8>",
                 "--events", "2000", "--out", str(tmp_path / "chk")]) == 0
    check = json.loads((tmp_path / "chk" / "check.json").read_text())
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
