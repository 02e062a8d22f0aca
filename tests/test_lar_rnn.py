"""The recurrent LAr net: trained on stretches of the stream, deployed as its step, stepped over
the stream by every backend bit for bit; its loop closes within one crossing."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from l1t.models.lar import inputs, rnn  # noqa: E402
from l1t.models.lar.model import keras_predict  # noqa: E402
from test_lar_dense import _sample  # noqa: E402

CFG = rnn.RNNConfig(epochs=6, seq_len=48, burn_in=20)


@pytest.fixture(scope="module")
def trained():
    seq, _ = _sample(1, 60, 1000)
    net = rnn.train(inputs.sample_values(seq), seq.truth_et, CFG)
    return net, rnn.step_net(net, CFG.bits)


def test_training_stretches_read_each_crossing_delay_steps_later():
    values = np.arange(2 * 200, dtype=np.float32).reshape(2, 200) / 4096
    et = np.arange(2 * 200, dtype=np.float64).reshape(2, 200)
    x, y, w = rnn.stretches(values, et, CFG)
    stride = CFG.seq_len - CFG.burn_in
    assert x.shape == (2 * len(range(0, 200 - CFG.seq_len + 1, stride)), CFG.seq_len, 1)
    # step t of the first stretch reads sample t and learns the ET of crossing t - delay
    np.testing.assert_array_equal(x[0, :, 0], values[0, :CFG.seq_len])
    np.testing.assert_allclose(y[0, CFG.delay:, 0] * inputs.ET_SCALE_GEV,
                               et[0, :CFG.seq_len - CFG.delay], rtol=1e-6)
    assert np.all(w[:, :CFG.burn_in] == 0) and np.all(w[:, CFG.burn_in:] == 1)


def test_the_step_stepped_over_the_stream_is_the_trained_recurrence(trained):
    net, step = trained
    seq, _ = _sample(5, 20, 300)
    values = inputs.sample_values(seq)
    stepped, _ = rnn.run(keras_predict(step), values, rnn.hidden_of(step), CFG.delay)
    whole = inputs.et_of(net.predict(values[:, :, None], verbose=0)).reshape(values.shape)
    want = np.zeros(values.shape)
    want[:, :-CFG.delay] = whole[:, CFG.delay:]
    lsb = inputs.ET_SCALE_GEV * 2.0 ** -(inputs.OUTPUT_BITS - 1)
    # the same quantized arithmetic (float32 sums in another order: a rare 1-LSB difference)
    assert np.abs(stepped - want).max() <= 2 * lsb
    assert np.mean(stepped == want) > 0.99
    # the tied weights: the step holds the cell's [U; W] and b quantized
    u = step.get_layer("cell").get_weights()[0]
    assert u.shape == (CFG.hidden + 1, CFG.hidden)
    assert np.all(np.abs(u * 64 - np.round(u * 64)) == 0)      # 8-bit weights, 6 fractional


def test_the_recurrence_is_bit_exact_through_every_backend(trained, tmp_path):
    from l1t.firmware import ir
    from l1t.firmware.backend import get_backend
    from l1t.firmware.rtl import pipeline_figures, trace

    _, step = trained
    seq, _ = _sample(6, 40, 250)
    values = inputs.sample_values(seq)
    hidden = rnn.hidden_of(step)
    want, h_want = rnn.run(keras_predict(step), values, hidden)
    fw = ir.from_keras(step, rnn.STEP_INPUT_TYPE)
    for name in ("emulator", "hls4ml", "rtl"):
        b = get_backend(name)
        b.compile(fw, str(tmp_path / name))
        got, h_got = rnn.run(b.predict, values, hidden)
        assert np.array_equal(got, want) and np.array_equal(h_got, h_want), name
        if name == "rtl":
            rep = b.report()
            assert rep["initiation_interval"] == 1 and rep["latency_ns"] <= 125.0
    # the loop (state in -> state out) closes within one crossing: 5 clocks at 200 MHz
    from tensorflow import keras

    loop = keras.Model(step.input, step.get_layer("state").output)
    loop_fw = ir.from_keras(loop, rnn.STEP_INPUT_TYPE)
    assert pipeline_figures(trace(loop_fw), loop_fw.clock_ns)["latency_cycles"] <= 5


@pytest.mark.slow
def test_a_million_steps_emulator_equals_rtl(trained, tmp_path):
    from l1t.firmware import ir
    from l1t.firmware.backend import get_backend

    _, step = trained
    seq, _ = _sample(7, 1000, 1000)
    values = inputs.sample_values(seq)
    fw = ir.from_keras(step, rnn.STEP_INPUT_TYPE)
    outs = []
    for name in ("emulator", "rtl"):
        b = get_backend(name)
        b.compile(fw, str(tmp_path / name))
        outs.append(rnn.run(b.predict, values, rnn.hidden_of(step)))
    assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])


def test_the_rtl_refuses_accumulators_da4ml_gets_wrong(trained):
    """12-bit weights make 33-bit accumulators: refused by name, not simulated wrongly."""
    from l1t.core.errors import L1TInputError
    from l1t.firmware import ir
    from l1t.firmware.rtl import trace

    net, _ = trained
    with pytest.raises(L1TInputError, match="wider than 30 bits") as err:
        trace(ir.from_keras(rnn.step_net(net, 12), rnn.STEP_INPUT_TYPE))
    assert err.value.field == "accum_t"
    with pytest.raises(L1TInputError, match="weight bits"):
        rnn.RNNConfig(bits=12).check()
