"""The optimal filter (OF) of the LAr energy reconstruction (Cleland & Stern, NIM A 338 (1994) 467).

From N samples s_i = A g(t_i − τ) + n_i ≈ A g_i − Aτ g'_i + n_i (g_i, g'_i: the pulse and its
derivative at the sampling times of an in-time deposit, :mod:`l1t.datasets.lar.pulse`; n: noise
and pileup with autocorrelation R), the amplitude is Â = Σ a_i s_i and the time Âτ̂ = Σ b_i s_i.
The coefficients minimise the variance aᵀRa (bᵀRb) under

    Σ a_i g_i = 1,  Σ a_i g'_i = 0   (unbiased amplitude, insensitive to a small time shift)
    Σ b_i g_i = 0,  Σ b_i g'_i = −1  (the time, unbiased by the amplitude)

which, with M = [g g'] (N × 2), gives a = R⁻¹M (MᵀR⁻¹M)⁻¹ (1, 0)ᵀ and b = R⁻¹M (MᵀR⁻¹M)⁻¹ (0, −1)ᵀ.
On noise alone the amplitude's spread is √(aᵀRa) (R in units of the noise variance: σ² r(k)).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract
from l1t.datasets.lar.pulse import SAMPLE_NS, PulseShape

#: ``coefficients.json``: the filter's coefficients and how they were made.
COEFFICIENTS_CONTRACT = JsonContract("l1t-lar-optimal-filter", 1)
#: R is refused as singular above this condition number
MAX_CONDITION = 1e12


@dataclass(frozen=True)
class OptimalFilter:
    """Coefficients ``a`` (amplitude) and ``b`` (amplitude × time, ns) for ``len(a)`` samples
    starting ``first_sample_ns`` after an in-time deposit."""

    a: np.ndarray
    b: np.ndarray
    first_sample_ns: float
    sample_ns: float = SAMPLE_NS
    meta: dict = field(default_factory=dict)

    def amplitude(self, samples: np.ndarray) -> np.ndarray:
        """Â = Σ a_i s_i of windows ``(…, N)`` (pedestal-subtracted samples)."""
        return np.asarray(samples, np.float64) @ self.a

    def time(self, samples: np.ndarray) -> np.ndarray:
        """τ̂ (ns; positive: the pulse came later) = Σ b_i s_i / Â."""
        s = np.asarray(samples, np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (s @ self.b) / (s @ self.a)

    def noise_factor(self, autocorr: np.ndarray) -> float:
        """√(aᵀRa): the spread of Â on noise of autocorrelation ``autocorr`` (N × N)."""
        return float(np.sqrt(self.a @ autocorr @ self.a))

    def save(self, path: str | Path) -> Path:
        return COEFFICIENTS_CONTRACT.write(path, COEFFICIENTS_CONTRACT.tag({
            "a": self.a.tolist(), "b": self.b.tolist(), "samples": len(self.a),
            "first_sample_ns": self.first_sample_ns, "sample_ns": self.sample_ns, **self.meta}))

    @classmethod
    def load(cls, path: str | Path) -> "OptimalFilter":
        d = COEFFICIENTS_CONTRACT.read(path)
        try:
            a, b = np.asarray(d["a"], np.float64), np.asarray(d["b"], np.float64)
            first, step = float(d["first_sample_ns"]), float(d["sample_ns"])
        except (KeyError, TypeError, ValueError) as err:
            raise L1TInputError(path, f"missing or malformed field ({err})", "a") from None
        if a.ndim != 1 or a.shape != b.shape or not len(a) or not np.all(np.isfinite(a)):
            raise L1TInputError(path, "a and b are equally long lists of finite numbers", "a")
        meta = {k: v for k, v in d.items() if k not in ("a", "b", "first_sample_ns", "sample_ns",
                                                         "samples", "format", "format_version")}
        return cls(a, b, first, step, meta)


def optimal_filter(pulse: PulseShape, autocorr: np.ndarray, first_sample_ns: float,
                   sample_ns: float = SAMPLE_NS, source: str = "autocorrelation") -> OptimalFilter:
    """The OF for ``len(autocorr)`` samples of ``pulse`` from ``first_sample_ns`` on (module
    docstring). A singular R, or samples that cannot tell g from g' (the window misses the
    pulse), is an :class:`L1TInputError`."""
    r = np.asarray(autocorr, np.float64)
    n = len(r)
    if r.ndim != 2 or r.shape != (n, n) or n < 2:
        raise L1TInputError(source, f"the autocorrelation is an N x N matrix with N >= 2, got "
                            f"shape {r.shape}", "r")
    if not np.allclose(r, r.T):
        raise L1TInputError(source, "the autocorrelation matrix is not symmetric", "r")
    eig = np.linalg.eigvalsh(r)
    if eig[0] <= eig[-1] / MAX_CONDITION:
        raise L1TInputError(source, f"the {n} x {n} autocorrelation matrix is singular or not "
                            f"positive definite (eigenvalues {eig[0]:.3g} … {eig[-1]:.3g})", "r")
    g, dg = pulse.samples(n, first_sample_ns, sample_ns)
    m = np.stack([g, dg], axis=1)
    rinv_m = np.linalg.solve(r, m)
    gram = m.T @ rinv_m
    if abs(np.linalg.det(gram)) <= 1e-12 * np.abs(gram).max() ** 2:
        raise L1TInputError(pulse.source, f"the {n} samples from {first_sample_ns:g} ns do not "
                            "see the pulse (g and g' there are degenerate)", "first_sample_ns")
    coef = rinv_m @ np.linalg.inv(gram)
    a, b = coef @ np.array([1.0, 0.0]), coef @ np.array([0.0, -1.0])
    meta = {"pulse": pulse.source, "autocorrelation": source,
            "noise_factor": float(np.sqrt(a @ r @ a))}
    if pulse.t_ns is None:
        meta.update(drift_ns=pulse.drift_ns, tau_ns=pulse.tau_ns)
    return OptimalFilter(a, b, float(first_sample_ns), float(sample_ns), meta)
