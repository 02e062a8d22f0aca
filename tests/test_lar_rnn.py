"""The recurrent LAr net unrolled into tied Dense layers: the same function as the cell (up to
quantization), and Keras = emulator = hls4ml C-sim = RTL bit for bit."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from l1t.models.lar import dense, rnn  # noqa: E402
from test_lar_dense import _sample  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    seq, _ = _sample(1, 60, 1000)
    x, et, _ = dense.windows(seq)
    cell = rnn.train_cell(x, et, rnn.RNNConfig(epochs=3))
    return cell, rnn.unrolled(cell)


def test_the_unrolled_chain_is_the_cell_up_to_quantization(trained):
    cell, chain = trained
    seq, _ = _sample(5, 20, 400)
    x, et, _ = dense.windows(seq)
    float_et = dense.et_of(cell.predict(x[:, :, None], verbose=0))
    chain_et = dense.et_of(chain.predict(x, verbose=0))
    # the tied weights: every step layer holds the same cell block
    u = chain.get_layer("step2").get_weights()[0][:8, :8]
    for t in range(3, rnn.T + 1):
        np.testing.assert_array_equal(chain.get_layer(f"step{t}").get_weights()[0][:8, :8], u)
    diff = chain_et - float_et
    assert np.abs(diff).mean() < 1.0                     # GeV, 8-bit weights (post-training)
    assert np.corrcoef(chain_et, float_et)[0, 1] > 0.99
    # with 16-bit weights only the activations' 12 fractional bits separate chain and cell
    fine = dense.et_of(rnn.unrolled(cell, 16).predict(x, verbose=0))
    assert np.abs(fine - float_et).mean() < 0.02


def test_the_chain_is_bit_exact_through_every_backend(trained, tmp_path):
    from l1t.firmware import ir
    from l1t.firmware.backend import get_backend
    from l1t.firmware.compare import compare

    _, chain = trained
    seq, _ = _sample(6, 20, 400)
    x, _, _ = dense.windows(seq)
    x = x[:3000].astype(np.float64)
    keras = [np.asarray(chain.predict(x, verbose=0), np.float64)]
    fw = ir.from_keras(chain, dense.INPUT_TYPE)
    for name in ("emulator", "hls4ml", "rtl"):
        b = get_backend(name)
        b.compile(fw, str(tmp_path / name))
        c = compare(keras, b.predict(x), fw.output_types, fw.outputs)
        assert c["overall"]["mismatched_events"] == 0, name
        if name == "rtl":
            rep = b.report()
            assert rep["initiation_interval"] == 1 and rep["latency_ns"] > 0


def test_the_rtl_refuses_accumulators_da4ml_gets_wrong(trained):
    """12-bit weights make 34-bit accumulators: refused by name, not simulated wrongly."""
    from l1t.core.errors import L1TInputError
    from l1t.firmware import ir
    from l1t.firmware.rtl import trace

    cell, _ = trained
    fw = ir.from_keras(rnn.unrolled(cell, 12), dense.INPUT_TYPE)
    with pytest.raises(L1TInputError, match="wider than 30 bits") as err:
        trace(fw)
    assert err.value.field == "accum_t"
