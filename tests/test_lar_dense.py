"""The Dense LAr net against the optimal filter under pileup, and its firmware."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from l1t.datasets.lar.pulse import PulseShape  # noqa: E402
from l1t.datasets.lar.sequences import LArConfig, simulate  # noqa: E402
from l1t.models.lar import dense, inputs  # noqa: E402


def _sample(seed, n_channels=100, n_bx=1200):
    """Sequences at <mu> = 200 (a synthetic spectrum: 10% of interactions deposit, exponential
    with mean 0.3 GeV) with signal deposits of 1-50 GeV in 5% of the crossings."""
    rng = np.random.default_rng(seed)
    spectrum = np.r_[np.zeros(900), np.random.default_rng(0).exponential(0.3, 100)]
    signal = np.where(rng.random((n_channels, n_bx)) < 0.05,
                      rng.uniform(1.0, 50.0, (n_channels, n_bx)), 0.0)
    return simulate(np.ones(n_bx, bool), n_channels, spectrum, 200.0, PulseShape.analytic(),
                    rng, LArConfig(), signal), signal


@pytest.fixture(scope="module")
def net():
    seq, _ = _sample(1)
    x, et, _ = inputs.windows(seq)
    return dense.train_windows(x, et, dense.DenseConfig(epochs=4))


def test_windows_are_the_adc_codes_on_the_input_grid():
    seq, _ = _sample(2, 3, 50)
    x, et, where = inputs.windows(seq)
    assert x.shape == (3 * (50 - 9), 10)
    c, k = where[7]
    want = (seq.adc[c, k - 4:k + 6] - seq.config.pedestal) / 4096.0
    np.testing.assert_array_equal(x[7], want.astype(np.float32))
    assert et[7] == seq.truth_et[c, k]


def test_the_net_beats_the_optimal_filter_under_pileup_and_is_bit_exact(net):
    from l1t.firmware import ir
    from l1t.firmware.backend import get_backend
    from l1t.models.lar.optimal_filter import optimal_filter
    from l1t.models.lar.reconstruct import autocorrelation, of_energies

    seq, signal = _sample(3)
    x, et, where = inputs.windows(seq)
    y = np.asarray(net.predict(x, batch_size=8192, verbose=0), np.float64)
    nn_et = inputs.et_of(y)
    r = autocorrelation(seq, 5)
    of = optimal_filter(PulseShape.analytic(), r / r[0, 0], seq.config.phase_ns)
    of_et = of_energies(seq, of)[where[:, 0], where[:, 1]]
    hit = signal[where[:, 0], where[:, 1]] > 0
    nn_err, of_err = nn_et[hit] - et[hit], of_et[hit] - et[hit]
    assert abs(nn_err.mean()) < 0.5 * abs(of_err.mean())        # the OF misses the mean pileup
    assert nn_err.std() < of_err.std()

    fw = ir.from_keras(net, inputs.INPUT_TYPE)
    emu = get_backend("emulator")
    emu.compile(fw)
    out = emu.predict(x[:20000].astype(np.float64))[0]
    assert np.array_equal(out.reshape(-1), y[:20000].reshape(-1))
