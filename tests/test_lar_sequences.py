"""LAr sample sequences: single pulses, the filling scheme, out-of-time pileup, the ADC."""
from __future__ import annotations

import numpy as np
import pytest

from l1t.core.errors import L1TInputError
from l1t.datasets.lar.pulse import PulseShape
from l1t.datasets.lar.sequences import (PULSE_SAMPLES, LArConfig, _kernel, em_spectrum,
                                        simulate)

QUIET = LArConfig(noise_mev=0.0, jitter_ns=0.0, adc_lsb_mev=1.0, adc_bits=16, pedestal=30000)


def _trains(n_trains=6, filled=72, gap=12):
    return np.tile(np.r_[np.ones(filled, bool), np.zeros(gap, bool)], n_trains)


def test_an_isolated_deposit_gives_the_pulse_at_the_samples():
    pulse = PulseShape.analytic()
    filled = np.ones(60, bool)
    signal = np.zeros((1, 60))
    signal[0, 10] = 20.0                                   # 20 GeV at crossing 10
    seq = simulate(filled, 1, np.zeros(5), 0.0, pulse, np.random.default_rng(1), QUIET, signal)
    g, _ = _kernel(pulse, QUIET.phase_ns)
    want = np.zeros(60)
    want[10:10 + PULSE_SAMPLES] = 20_000.0 * g
    np.testing.assert_allclose(seq.energy_mev()[0], np.rint(want), atol=1.0)
    assert seq.truth_et[0, 10] == 20.0 and seq.truth_et.sum() == 20.0
    assert seq.energy_mev()[0, 12] == pytest.approx(20_000.0, abs=1.0)   # k + 2: the peak


def test_empty_slots_deposit_nothing_and_the_pileup_depends_on_the_train_position():
    """Noise off: in the first crossings of a train no earlier undershoot pulls the samples
    down, deep in the train the mean is the expectation μ f <E> Σ g_m (the sampled pulse sums
    to −0.08, not 0)."""
    pulse = PulseShape.analytic()
    rng = np.random.default_rng(2)
    spectrum = np.r_[np.zeros(900), rng.exponential(0.3, 100)]     # 10% of interactions deposit
    filled = _trains()
    mu = 200.0
    seq = simulate(filled, 400, spectrum, mu, pulse, rng, QUIET)
    assert np.all(seq.truth_et[:, ~filled] == 0)
    assert seq.truth_et[:, filled].mean() == pytest.approx(mu * spectrum.mean(), rel=0.02)
    e = seq.energy_mev()
    start = np.flatnonzero(filled & ~np.roll(filled, 1))          # first crossing of each train
    early = np.concatenate([e[:, s + 1:s + 4] for s in start[1:]], axis=1)
    deep = np.concatenate([e[:, s + 40:s + 70] for s in start[1:]], axis=1)
    g, _ = _kernel(pulse, QUIET.phase_ns)
    expect = mu * spectrum.mean() * 1000.0 * g.sum()
    assert deep.mean() == pytest.approx(expect, abs=5 * deep.std() / np.sqrt(deep.size / 10))
    assert early.mean() > deep.mean() + 10 * deep.std() / np.sqrt(deep.size / 10)


def test_noise_jitter_adc_and_determinism():
    pulse = PulseShape.analytic()
    cfg = LArConfig()
    a = simulate(np.ones(500, bool), 50, np.r_[np.zeros(50), np.ones(5)], 100.0, pulse,
                 np.random.default_rng(7), cfg)
    b = simulate(np.ones(500, bool), 50, np.r_[np.zeros(50), np.ones(5)], 100.0, pulse,
                 np.random.default_rng(7), cfg)
    assert np.array_equal(a.adc, b.adc) and a.adc.dtype == np.int32
    assert a.adc.min() >= 0 and a.adc.max() <= 4095
    quiet = simulate(np.ones(500, bool), 50, np.zeros(5), 0.0, pulse, np.random.default_rng(8),
                     cfg)
    assert quiet.energy_mev().std() == pytest.approx(cfg.noise_mev, rel=0.03)
    big = np.zeros((1, 40))
    big[0, 5] = 1000.0                                      # 1 TeV: the ADC saturates
    sat = simulate(np.ones(40, bool), 1, np.zeros(5), 0.0, pulse, np.random.default_rng(9), cfg,
                   big)
    assert sat.adc.max() == 4095
    with pytest.raises(L1TInputError, match="signal"):
        simulate(np.ones(40, bool), 2, np.zeros(5), 0.0, pulse, np.random.default_rng(9), cfg,
                 big)
    with pytest.raises(L1TInputError, match="spectrum"):
        simulate(np.ones(40, bool), 1, np.array([-1.0]), 10.0, pulse, np.random.default_rng(9))


def test_the_spectrum_comes_from_min_bias_events():
    """Real Pythia min-bias interactions, digitised: most towers see nothing from one
    interaction, a few see some ET, more in the barrel than far forward."""
    from l1t.datasets.detector import digitize
    from l1t.datasets.detector.geometry import ETA_CENTERS
    from l1t.datasets.pythia import generate
    from l1t.datasets.samples import get_sample

    events = generate(get_sample("minbias"), 60, 5)
    deposits = digitize(events.particles).deposits
    central = int(np.argmin(np.abs(ETA_CENTERS - 0.3)))
    s = em_spectrum(deposits, central)
    assert len(s) == 60 * 72 and np.all(s >= 0)
    assert 0.001 < np.mean(s > 0) < 0.5 and s.max() > 0.3


def test_the_optimal_filter_over_sequences_unbiased_and_optimal_under_pileup():
    """Isolated deposits in noise: the OF's ET at their crossings is unbiased with the analytic
    spread; under pileup at <mu> = 200 the filter built from the measured noise + pileup
    autocorrelation beats the white-noise one; the peak finder keeps the deposit's crossing."""
    from l1t.models.lar.optimal_filter import optimal_filter
    from l1t.models.lar.reconstruct import autocorrelation, of_energies, peak_finder

    pulse = PulseShape.analytic()
    cfg = LArConfig(jitter_ns=0.0)
    white = optimal_filter(pulse, np.eye(5), cfg.phase_ns)
    n_bx = 2000
    signal = np.zeros((20, n_bx))
    signal[:, 50::40] = 30.0                               # 30 GeV every 40 crossings
    seq = simulate(np.ones(n_bx, bool), 20, np.zeros(5), 0.0, pulse, np.random.default_rng(4),
                   cfg, signal)
    reco = of_energies(seq, white)
    at = signal > 0
    diff = reco[at] - 30.0
    sigma = white.noise_factor(np.eye(5)) * cfg.noise_mev / 1000.0
    assert abs(diff.mean()) < 4 * sigma / np.sqrt(diff.size) + 0.0125   # + half an ADC count
    assert diff.std() == pytest.approx(np.hypot(sigma, 0.025 / np.sqrt(12)), rel=0.1)
    peaks = peak_finder(reco, 1.0)
    assert np.array_equal(peaks > 0, at)

    rng = np.random.default_rng(5)
    spectrum = np.r_[np.zeros(900), rng.exponential(0.3, 100)]
    pu = simulate(np.ones(3000, bool), 100, spectrum, 200.0, pulse, rng, cfg)
    r = autocorrelation(pu, 5)
    assert r[0, 0] > cfg.noise_mev ** 2                    # pileup adds to the noise
    tuned = optimal_filter(pulse, r / r[0, 0], cfg.phase_ns)
    err = {name: (of_energies(pu, of) - pu.truth_et)[:, 30:-30].std()
           for name, of in (("white", white), ("tuned", tuned))}
    assert err["tuned"] < 0.95 * err["white"], err
    from l1t.models.lar.reconstruct import window_offset

    with pytest.raises(L1TInputError, match="does not fall on"):
        window_offset(optimal_filter(pulse, np.eye(5), cfg.phase_ns + 3.0), pu)
