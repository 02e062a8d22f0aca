"""Profiling across backends and the FPGA | CPU split, on the small run of ``conftest.small_run``
(a tiny VAE encoder and muon pT net, the smallest reference MLP) and on the reference nets.

Timings are never asserted (they depend on the machine): what is checked is that every backend
is measured or listed as missing with its reason, that the figures are consistent with each
other (p50 ≤ p99, throughput = batch / p50, the FPGA time from its cycles), that the ONNX export
computes what Keras computes, and that every split head is the firmware's own arithmetic.
"""
from __future__ import annotations

import numpy as np
import pytest

from l1t.validation.profile import RUNNERS, read_profile


@pytest.fixture(scope="module")
def prof(small_run):
    return read_profile(small_run / "profile" / "profile.json")


def test_every_model_has_every_backend_measured_or_missing_with_a_reason(prof, small_run):
    names = [m["name"] for m in prof["models"]]
    assert names == ["vae", "muon-pt", "mlp-s"]          # deployable kinds first, then references
    assert [m["origin"] for m in prof["models"]] == ["anomaly", "muon-pt", "reference"]
    for m in prof["models"]:
        assert [b["backend"] for b in m["backends"]] == prof["backends"]
        for b in m["backends"]:
            if b["status"] == "missing":
                assert b["reason"] and not b["points"]
                continue
            assert [q["batch"] for q in b["points"]] == prof["batch_sizes"] == [1, 16, 256]
            for q in b["points"]:
                assert 0 < q["p50_s"] <= q["p99_s"]
                assert q["throughput_hz"] == pytest.approx(q["batch"] / q["p50_s"])
    by = {m["name"]: {b["backend"]: b for b in m["backends"]} for m in prof["models"]}
    for name in names:
        assert {"emulator", "tensorflow-cpu", "onnxruntime", "rtl"} <= {
            k for k, b in by[name].items() if b["status"] == "ok"}
    gpu = by["vae"]["tensorflow-gpu"]
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        assert gpu["status"] == "missing" and "GPU" in gpu["reason"]
        assert "tensorflow-gpu" in prof["missing"]
    for name in ("profile.txt", "latency.png", "throughput.png", "layers.png", "split.png"):
        assert (small_run / "profile" / name).stat().st_size > 0


def test_fpga_time_from_clock_cycles_and_layer_times_per_keras_layer(prof):
    for m in prof["models"]:
        b = {x["backend"]: x for x in m["backends"]}
        hw = b["rtl"]["hardware"]
        assert hw["latency_ns"] == pytest.approx(hw["latency_cycles"] * hw["clock_ns"])
        assert hw["initiation_interval"] == 1 and hw["resources"]["LUT"] > 0
        for q in b["rtl"]["points"]:      # a batch streams through the pipeline at II
            assert q["p50_s"] == pytest.approx((hw["latency_cycles"] + q["batch"] - 1)
                                               * hw["clock_ns"] * 1e-9)
        for name in ("tensorflow-cpu", "onnxruntime"):
            layers = b[name]["layers"]
            assert {l["layer"] for l in layers} <= set(m["layers"])
            assert {l["layer"] for l in layers if "dense" in l["layer"]} and \
                all(l["seconds"] > 0 for l in layers)
        assert b["emulator"]["layers"] is None and "one pass" in b["emulator"]["layers_reason"]


@pytest.mark.parametrize("family", ["mlp", "cnn1d", "mixer"])
def test_the_onnx_export_computes_what_keras_computes(family):
    import onnxruntime as ort

    from l1t.models.onnx_export import keras_layer_of, to_onnx
    from l1t.models.reference import INPUT_TYPE, reference_net
    from l1t.validation.profile import grid_batch

    net = reference_net(family, "s", seed=2)
    proto = to_onnx(net)
    assert {keras_layer_of(n.name) for n in proto.graph.node} <= {l.name for l in net.layers}
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = grid_batch(INPUT_TYPE, 2000, 57, seed=3).astype(np.float32)
    want = net(x, training=False).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert got.shape == want.shape == (2000, 8)
    assert np.array_equal(got, want)       # the same float32 quantizers, the same grid values


def test_reference_nets_the_firmware_cannot_map_are_missing_there_with_the_layer(tmp_path):
    from l1t.validation.profile import profile_target, targets

    runners = [RUNNERS[n]() for n in ("emulator", "onnxruntime", "hls4ml-csim")]
    for t in targets((), ("cnn1d", "mixer"), ("s",)):
        m = profile_target(t, runners, {}, tmp_path / t.name, [1, 8], budget_s=0.01,
                           layer_batch=8)
        b = {x.backend: x for x in m.backends}
        for name in ("emulator", "hls4ml-csim"):
            assert b[name].status == "missing"
            assert "Reshape" in b[name].reason and "firmware IR" in b[name].reason
        assert b["onnxruntime"].status == "ok" and len(b["onnxruntime"].points) == 2


def test_hls4ml_c_simulation_of_the_smallest_reference_mlp(tmp_path):
    from l1t.validation.profile import profile_target, targets

    (t,) = targets((), ("mlp",), ("s",))
    m = profile_target(t, [RUNNERS["hls4ml-csim"](), RUNNERS["emulator"]()], {}, tmp_path,
                       [1, 64], budget_s=0.01, layer_batch=64)
    b = {x.backend: x for x in m.backends}
    assert b["hls4ml-csim"].status == "ok" and b["hls4ml-csim"].prepare_s > 0
    assert [p.batch for p in b["hls4ml-csim"].points] == [1, 64]
    assert "top function" in b["hls4ml-csim"].layers_reason


@pytest.mark.slow
@pytest.mark.parametrize("size,simulate", [("s", True), ("m", False), ("l", False)])
def test_reference_mlps_on_hls4ml_and_rtl(tmp_path, size, simulate):
    """The bigger sizes' C simulation and RTL figures; the smallest also built and simulated in
    Verilator (minutes of compilation)."""
    from l1t.validation.profile import RTLRunner, profile_target, targets

    (t,) = targets((), ("mlp",), (size,))
    m = profile_target(t, [RUNNERS["hls4ml-csim"](), RTLRunner(simulate=simulate)], {},
                       tmp_path, [1, 256], budget_s=0.05, layer_batch=64)
    rtl = m.backend("rtl")
    assert rtl.status == "ok" and rtl.hardware["simulated"] == simulate
    assert rtl.hardware["latency_cycles"] > 0 and rtl.hardware["resources"]["LUT"] > 0
    if simulate:
        assert [p.batch for p in rtl.simulation] == [1, 256]
    assert m.backend("hls4ml-csim").status == "ok"


# --------------------------------------------------------------------------- the split

def test_split_cuts_account_every_crossing_bit_and_pick_the_cheapest_fitting_cut(prof):
    from l1t.models.fixedpoint import FixedType

    splits = {s["model"]: s for s in prof["splits"]}
    assert set(splits) == {"vae", "muon-pt"}
    for s in splits.values():
        cuts = s["cuts"]
        assert [c["index"] for c in cuts] == list(range(len(cuts)))
        assert cuts[0]["fpga"]["LUT"] == 0 and cuts[0]["tensors"][0]["name"] == "inputs"
        assert cuts[-1]["cpu_p50_s"] == 0.0          # everything on the FPGA
        for c in cuts:
            bits = sum(t["values"] * FixedType.parse(t["type"]).width for t in c["tensors"])
            assert c["bits_per_event"] == bits
            assert c["link_gbps"] == pytest.approx(bits * 40e6 / 1e9)
            # a tail at 40 MHz: one core per 25 ns of its time per call
            assert c["cpu_cores_needed"] == pytest.approx(c["cpu_p50_s"] / 25e-9)
            assert c["fits"] == (c["link_gbps"] <= s["link_budget_gbps"]
                                 and c["cpu_cores_needed"] <= s["cpu_cores"])
        fpga = [c for c in cuts[1:] if c["fpga"]]
        assert all(a["fpga"]["latency_cycles"] <= b["fpga"]["latency_cycles"]
                   for a, b in zip(fpga, fpga[1:]))          # a longer head is never faster
        fitting = [c for c in cuts if c["fits"]]
        if fitting:
            best = cuts[s["best"]]
            assert best["fits"] and best["fpga"]["LUT"] == min(c["fpga"]["LUT"] for c in fitting)
        else:
            assert s["best"] is None and "no cut fits" in s["best_reason"]
    # the VAE encoder's latent pair: at the cut between mu and logvar both the shared hidden
    # tensor and mu cross the link
    vae = splits["vae"]["cuts"]
    mid = next(c for c in vae if c["after"] == "mu")
    assert [t["name"] for t in mid["tensors"]] == ["enc_relu1", "mu"]


def test_split_tail_needs_cores_at_the_event_rate(small_run, tmp_path):
    from l1t.validation.profile import targets
    from l1t.validation.split import split_model

    (t,) = targets([small_run / "muon-pt"], (), (), 1)
    # no core for a CPU tail: only the cut with everything on the FPGA fits
    none = split_model(t, workdir=tmp_path / "a", budget_s=0.01, cpu_cores=0)
    assert none.cuts[none.best].cpu_p50_s == 0.0 and none.best == len(none.cuts) - 1
    assert all(not c.fits for c in none.cuts if c.cpu_p50_s > 0)
    # at 1 kHz on a million cores every tail keeps up: a cut with no FPGA LUT
    slow = split_model(t, workdir=tmp_path / "b", budget_s=0.01, event_rate_mhz=0.001,
                       cpu_cores=1 << 20)
    assert slow.cuts[slow.best].fpga["LUT"] == 0 and slow.bx_mhz == 0.001
    for c in slow.cuts:
        assert c.cpu_cores_needed == pytest.approx(1e3 * c.cpu_p50_s)
        assert c.link_gbps == pytest.approx(c.bits_per_event * 1e3 / 1e9)
    from l1t.core.errors import L1TInputError

    with pytest.raises(L1TInputError, match="event rate"):
        split_model(t, event_rate_mhz=41.0)


def test_each_split_head_computes_the_firmware_values_of_its_crossing_tensors(small_run):
    from l1t.firmware import ir
    from l1t.firmware.backend import get_backend
    from l1t.firmware.deployable import kind_of
    from l1t.validation.profile import grid_batch
    from l1t.validation.split import _crossing, head_comb

    d = small_run / "muon-pt"
    net, input_type = kind_of(d).net(d)
    fw = ir.from_keras(net, input_type)
    emu = get_backend("emulator")
    emu.compile(fw)
    x = grid_batch(str(input_type), 500, fw.n_in, seed=5)
    layers = emu.predict_layers(x)
    for k in range(1, len(fw.layers)):
        names = [l.name for l in _crossing(fw.layers, k, fw.outputs)]
        want = np.concatenate([layers[n] for n in names], axis=1)
        got = np.asarray(head_comb(fw, k).predict(x), np.float64)
        assert np.array_equal(got, want), k


def test_profile_command(small_run, tmp_path, capsys):
    from l1t.cli import main

    out = tmp_path / "p"
    assert main(["profile", str(small_run / "muon-pt"), "--reference", "none", "--backends",
                 "emulator,onnxruntime,tensorflow-gpu", "--batch-sizes", "1,8", "--budget",
                 "0.01", "--link-gbps", "5", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "muon-pt" in text and "onnxruntime" in text and "split of muon-pt" in text
    assert "<=" in text or "no cut chosen" in text
    p = read_profile(out / "profile.json")
    assert p["splits"][0]["link_budget_gbps"] == 5.0 and (out / "split.png").exists()
    for argv, what in ((["--backends", "nope"], "unknown backend"),
                       (["--reference", "none"], "nothing to profile")):
        bad = tmp_path / "bad"
        assert main(["profile", str(tmp_path / "p"), *argv, "--out", str(bad)]) == 2
        assert what in capsys.readouterr().err and not bad.exists()
    with pytest.raises(SystemExit) as exit_:
        main(["profile", "--batch-sizes", "0", "--out", str(tmp_path / "bad")])
    assert exit_.value.code == 2
