"""The RTL backend (da4ml Verilog + Verilator) against the bit-exact emulator.

One small QKeras model is converted, traced to Verilog and compiled with Verilator once per
module (≈ 5 s on 2 cores, so not marked ``slow``). The step-by-step accumulator and the mode
checks use da4ml's own graph interpreter (``CombLogic.predict``: the same graph, no build).
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from l1t.core.errors import L1TInputError  # noqa: E402
from l1t.firmware import ir  # noqa: E402
from l1t.firmware.compare import compare  # noqa: E402
from l1t.firmware.emulator import EmulatorBackend  # noqa: E402
from l1t.models.fixedpoint import FixedType  # noqa: E402
from conftest import small_qkeras_model  # noqa: E402

N_EVENTS = 2000


@pytest.fixture(scope="module")
def fw():
    return ir.from_keras(small_qkeras_model("rtl_small"), "ap_fixed<10,8>")


@pytest.fixture(scope="module")
def inputs(fw):
    rng = np.random.default_rng(11)
    t = fw.input_type
    # on-grid values over the whole input range, extremes included
    codes = rng.integers(t.min_code, t.max_code + 1, size=(N_EVENTS, fw.n_in))
    codes[0], codes[1] = t.min_code, t.max_code
    return np.ldexp(codes.astype(np.float64), -t.frac)


@pytest.fixture(scope="module")
def rtl(fw, tmp_path_factory):
    from l1t.firmware.rtl import RTLBackend

    backend = RTLBackend()
    backend.compile(fw, tmp_path_factory.mktemp("rtl"))
    return backend


def test_rtl_bit_exact_to_emulator(fw, inputs, rtl):
    emu = EmulatorBackend()
    emu.compile(fw)
    expected = emu.predict(inputs)
    got = rtl.predict(inputs)
    result = compare(expected, got, fw.output_types, fw.outputs)
    assert result["overall"]["mismatched_events"] == 0, result
    assert result["overall"]["events"] == N_EVENTS
    # outputs are non-trivial (not all zero) and on the output grid
    assert np.any(got[0] != 0)
    t = fw.output_types[0]
    assert np.array_equal(np.ldexp(np.round(np.ldexp(got[0], t.frac)), -t.frac), got[0])


def test_rtl_hardware_figures(rtl):
    assert rtl.latency_cycles > 0
    assert rtl.initiation_interval == 1
    res = rtl.resources
    assert res["LUT"] > 0 and res["FF"] > 0
    report = rtl.report()
    assert report["backend"] == "rtl"
    assert report["latency_ns"] == pytest.approx(rtl.latency_cycles * rtl.clock_ns)


def test_unsupported_mode_is_refused(fw):
    """A type da4ml cannot express (AP_RND_INF) is refused, naming the layer, before a build."""
    import dataclasses

    from l1t.firmware.rtl import trace

    layers = list(fw.layers)
    k = next(n for n, layer in enumerate(layers) if isinstance(layer, ir.DenseLayer))
    bad = layers[k].result_type.replace(rounding="RND_INF")
    layers[k] = dataclasses.replace(layers[k], result_type=bad)
    nxt = layers[k + 1]
    layers[k + 1] = dataclasses.replace(nxt, input_type=bad)
    broken = ir.FirmwareModel(fw.name, layers, fw.outputs)
    with pytest.raises(L1TInputError, match=layers[k].name):
        trace(broken)


def test_verilator_wrapper(tmp_path, monkeypatch):
    from l1t.firmware.verilator_wrapper import ensure_verilator

    monkeypatch.setenv("L1T_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))
    path = ensure_verilator()
    assert path == tmp_path / "bin" / "verilator"
    assert ensure_verilator() == path                           # idempotent
    assert os.environ["PATH"].split(os.pathsep)[0] == str(path.parent)
    assert shutil.which("verilator") == str(path)
    import subprocess
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "Verilator 5.048"


@pytest.mark.parametrize("accum", ["ap_fixed<12,6,AP_TRN,AP_SAT>",
                                   "ap_fixed<14,7,AP_RND,AP_SAT_SYM>",
                                   "ap_fixed<12,6,AP_RND_CONV,AP_WRAP>"])
def test_stepwise_accumulator_traced_exactly(fw, inputs, accum):
    """Narrow, rounding or saturating accum_t: the emulator's C++-order path, traced the same."""
    import dataclasses

    from l1t.firmware.emulator import _DensePlan
    from l1t.firmware.rtl import trace

    ta = FixedType.parse(accum)
    layers = list(fw.layers)
    layers[1] = dataclasses.replace(layers[1], accum_type=ta, result_type=ta)
    layers[2] = dataclasses.replace(layers[2], input_type=ta)
    model = ir.FirmwareModel("stepwise", layers, fw.outputs)
    assert _DensePlan.build(layers[1]).path == "stepwise"
    emu = EmulatorBackend()
    emu.compile(model)
    got = np.asarray(trace(model).predict(inputs), dtype=np.float64)
    result = compare(emu.predict(inputs), [got], model.output_types)
    assert result["overall"]["mismatched_events"] == 0, result


def test_registry_name():
    from l1t.firmware.backend import available_backends, get_backend
    from l1t.firmware.rtl import RTLBackend

    assert RTLBackend.name == "rtl"
    if "rtl" in available_backends():
        assert isinstance(get_backend("rtl"), RTLBackend)
