"""The LAr pulse shape and the optimal filter: the shape's integral, the filter's constraints,
bias and noise, and the files it reads."""
from __future__ import annotations

import json

import numpy as np
import pytest

from l1t.core.errors import L1TInputError
from l1t.datasets.lar.pulse import PulseShape, read_autocorrelation, read_pulse
from l1t.models.lar.optimal_filter import OptimalFilter, optimal_filter


def _correlated(n: int, rho: float = 0.4) -> np.ndarray:
    """An autocorrelation r(k) = rho^k (positive definite)."""
    k = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    return rho ** k


def test_the_analytic_pulse_integrates_to_zero_and_peaks_at_one():
    p = PulseShape.analytic()
    t = np.linspace(0.0, 2000.0, 400_001)
    g = p.g(t)
    assert g.max() == pytest.approx(1.0, abs=1e-6)
    assert 20.0 < p.peak_ns < 45.0                      # a fast rise, near 2 tau
    assert g[t > 100].min() < -0.02                     # then the long undershoot
    area = np.trapz(np.abs(g), t)
    assert abs(np.trapz(g, t)) < 1e-6 * area            # the shaper blocks DC
    # g' is the derivative of g
    mid = (t > 1) & (t < 600)
    fd = np.gradient(g, t)
    np.testing.assert_allclose(p.dg(t)[mid], fd[mid], atol=1e-4)
    assert np.all(p.g(np.array([-5.0, 0.0])) == 0)


@pytest.mark.parametrize("corr", ["white", "correlated"])
def test_the_coefficients_satisfy_the_four_constraints_and_minimise_the_variance(corr):
    p = PulseShape.analytic()
    r = np.eye(5) if corr == "white" else _correlated(5)
    of = optimal_filter(p, r, p.peak_ns - 25.0)
    g, dg = p.samples(5, of.first_sample_ns)
    assert of.a @ g == pytest.approx(1.0, abs=1e-10)
    assert of.a @ dg == pytest.approx(0.0, abs=1e-10)
    assert of.b @ g == pytest.approx(0.0, abs=1e-8)
    assert of.b @ dg == pytest.approx(-1.0, abs=1e-8)
    # any other unbiased, time-insensitive filter has a larger variance
    m = np.stack([g, dg], axis=1)
    null = np.linalg.svd(m.T)[2][2:]                   # directions keeping both constraints
    rng = np.random.default_rng(1)
    for _ in range(20):
        other = of.a + null.T @ rng.normal(0, 0.05, len(null))
        assert other @ r @ other > of.a @ r @ of.a
    assert of.noise_factor(r) == pytest.approx(of.meta["noise_factor"])


def test_the_filter_is_unbiased_on_in_time_pulses_and_measures_small_shifts():
    p = PulseShape.analytic()
    of = optimal_filter(p, _correlated(5), p.peak_ns - 25.0)
    t = of.first_sample_ns + 25.0 * np.arange(5)
    amplitudes = np.array([0.5, 3.0, 40.0, 900.0])
    s = amplitudes[:, None] * p.g(t)[None, :]
    np.testing.assert_allclose(of.amplitude(s), amplitudes, rtol=1e-12)
    # the deposit 0.5 ns late: the amplitude does not move to first order, the time is measured
    # (to first order in the shift: g'' makes it 3% short here)
    shifted = 100.0 * p.g(t - 0.5)
    assert of.amplitude(shifted) == pytest.approx(100.0, rel=1e-3)
    assert of.time(shifted) == pytest.approx(0.5, rel=0.05)


def test_on_noise_alone_the_spread_is_the_analytic_one():
    p = PulseShape.analytic()
    r = _correlated(5, 0.5)
    of = optimal_filter(p, r, p.peak_ns - 25.0)
    sigma = 0.7
    rng = np.random.default_rng(3)
    n = 200_000
    noise = sigma * rng.standard_normal((n, 5)) @ np.linalg.cholesky(r).T
    spread = of.amplitude(noise).std()
    want = of.noise_factor(r) * sigma
    assert spread == pytest.approx(want, abs=4 * want / np.sqrt(2 * n))


def test_coefficients_round_trip_and_the_command(tmp_path, capsys):
    from l1t.cli import main

    ac = tmp_path / "ac.csv"
    ac.write_text("lag,r\n0,1.0\n1,0.3\n2,-0.1\n3,0.02\n4,0\n")
    assert main(["lar", "optimal-filter", "--autocorr", str(ac), "--samples", "5",
                 "--first-sample-ns", "5", "--out", str(tmp_path / "of")]) == 0
    assert "sqrt(a^T R a)" in capsys.readouterr().out
    path = tmp_path / "of" / "coefficients.json"
    d = json.loads(path.read_text())
    assert d["format"] == "l1t-lar-optimal-filter" and len(d["a"]) == len(d["b"]) == 5
    of = OptimalFilter.load(path)
    p = PulseShape.analytic()
    ref = optimal_filter(p, read_autocorrelation(ac, 5), 5.0)
    np.testing.assert_allclose(of.a, ref.a)
    np.testing.assert_allclose(of.b, ref.b)
    assert of.first_sample_ns == 5.0
    # a shape from a file: the analytic one tabulated gives the same filter
    t = np.arange(0.0, 700.0, 0.5)
    pulse = tmp_path / "pulse.csv"
    pulse.write_text("t_ns,g,dg_dt\n" + "".join(f"{a!r},{b!r},{c!r}\n" for a, b, c in
                                                zip(t, p.g(t), p.dg(t))))
    shape = read_pulse(pulse)
    np.testing.assert_allclose(optimal_filter(shape, np.eye(5), 5.0).a,
                               optimal_filter(p, np.eye(5), 5.0).a, atol=2e-3)


@pytest.mark.parametrize("text, field, message", [
    ("t_ns,g\n0,0\n1,0.5\n0.5,1\n" + "".join(f"{k + 2},{1 / (k + 1)}\n" for k in range(10)),
     "t_ns", "increase strictly"),
    ("t_ns,g\n0,0\n1,1\n2,0.5\n", "t_ns", "at least 10"),
    ("t_ns,g\n" + "".join(f"{k},nan\n" for k in range(12)), "g", "not finite"),
    ("t_ns,g\n" + "".join(f"{k},-1\n" for k in range(12)), "g", "no positive peak"),
    ("t_ns,g\n0,x\n", "t_ns", "not numbers"),
])
def test_bad_pulse_files_are_refused(tmp_path, text, field, message):
    path = tmp_path / "pulse.csv"
    path.write_text(text)
    with pytest.raises(L1TInputError, match=message) as err:
        read_pulse(path)
    assert err.value.field == field and str(path) in str(err.value)


@pytest.mark.parametrize("text, field, message", [
    ("lag,r\n0,1\n1,1\n2,1\n3,1\n4,1\n", "r", "singular"),
    ("lag,r\n0,1\n1,0.2\n3,0\n4,0\n", "lag", "missing 2"),
    ("lag,r\n0,0\n1,0\n2,0\n3,0\n4,0\n", "r", "positive"),
    ("lag,r\n0,1\n0,0.5\n1,0\n2,0\n3,0\n4,0\n", "lag", "twice"),
    ("lag,r\n0,1\n1.5,0\n", "lag", "integers"),
])
def test_bad_autocorrelation_files_are_refused(tmp_path, text, field, message):
    from l1t.cli import main

    path = tmp_path / "ac.csv"
    path.write_text(text)
    with pytest.raises(L1TInputError, match=message) as err:
        optimal_filter(PulseShape.analytic(), read_autocorrelation(path, 5), 5.0, source=str(path))
    assert err.value.field == field
    assert main(["lar", "optimal-filter", "--autocorr", str(path), "--out",
                 str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_a_window_that_misses_the_pulse_is_refused():
    with pytest.raises(L1TInputError, match="do not see the pulse"):
        optimal_filter(PulseShape.analytic(), np.eye(5), -500.0)
