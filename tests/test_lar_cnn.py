"""The convolutional LAr net: its Dense (Toeplitz) form is the trained QConv1D net, and the
firmware computes it bit for bit."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from l1t.models.lar import cnn, inputs  # noqa: E402
from test_lar_dense import _sample  # noqa: E402

CFG = cnn.CNNConfig(epochs=3)


@pytest.fixture(scope="module")
def trained():
    seq, _ = _sample(1, 60, 1000)
    x, et, _ = inputs.windows(seq)
    qconv = cnn.train_windows(x, et, CFG)
    return qconv, cnn.deployable(qconv, CFG)


def test_the_toeplitz_form_is_the_convolution(trained):
    qconv, dense_form = trained
    k = dense_form.get_layer("conv").get_weights()[0]
    positions = inputs.WINDOW - CFG.kernel + 1
    assert k.shape == (inputs.WINDOW, positions * CFG.filters)
    from qkeras import quantized_bits

    taps = np.asarray(quantized_bits(CFG.bits, 1, alpha=1)(
        qconv.get_layer("conv").get_weights()[0]))[:, 0, :]          # (K, F), quantized
    assert np.abs(taps).max() > 0
    # the trained taps at every position (tied), zeros off the band
    for p in range(positions):
        band = k[:, p * CFG.filters:(p + 1) * CFG.filters]
        np.testing.assert_array_equal(band[p:p + CFG.kernel], taps)
        assert np.all(band[:p] == 0) and np.all(band[p + CFG.kernel:] == 0)
    seq, _ = _sample(4, 20, 300)
    x, _, _ = inputs.windows(seq)
    a = qconv.predict(x, verbose=0).reshape(-1)
    b = dense_form.predict(x, verbose=0).reshape(-1)
    assert np.mean(a == b) > 0.99 and np.abs(a - b).max() <= 2 * 2.0 ** -15


def test_the_cnn_is_bit_exact_in_the_emulator_and_the_rtl(trained, tmp_path):
    from l1t.firmware import ir
    from l1t.firmware.backend import get_backend

    _, dense_form = trained
    seq, _ = _sample(5, 20, 300)
    x, _, _ = inputs.windows(seq)
    x = x.astype(np.float64)
    want = np.asarray(dense_form.predict(x, verbose=0), np.float64)
    fw = ir.from_keras(dense_form, inputs.INPUT_TYPE)
    for name in ("emulator", "rtl"):
        b = get_backend(name)
        b.compile(fw, str(tmp_path / name))
        assert np.array_equal(b.predict(x)[0], want), name
        if name == "rtl":
            assert b.report()["latency_ns"] <= 125.0
