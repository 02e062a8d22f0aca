"""The shaped pulse of a liquid-argon calorimeter cell: what one deposit leaves in the 40 MHz
samples.

The analytic shape (the textbook form, ../shared/NOTES.md "LAr references"): the ionisation
current of a deposit is a triangle, i(t) = 1 − t/t_d for 0 ≤ t < t_d (the electrons drift across
the gap in t_d ≈ 450 ns), through a CR–(RC)² shaper with one time constant τ ≈ 15 ns,
H(s) = sτ / (1 + sτ)³. With u = t/τ the shaper's step response is S(t) = u²/2 · e^(−u) and its
ramp response R(t) = τ (1 − (1 + u + u²/2) e^(−u)), so, writing the triangle as a step minus
two ramps,

    g(t) = S(t) − R(t)/t_d + R(t − t_d)/t_d,    g'(t) = h(t) − S(t)/t_d + S(t − t_d)/t_d,

with h(t) = (1/τ) u (1 − u/2) e^(−u) the impulse response: a fast rise (peak near 2τ), a long
undershoot until t_d, and ∫ g dt = τ − τ = 0 exactly (the shaper blocks DC). g is normalised to
a peak of 1 (an amplitude A in the samples is A × g).

A measured shape instead comes as a CSV file ``t_ns,g[,dg_dt]`` (:func:`read_pulse`): time
strictly increasing, at least :data:`MIN_POINTS` points; g' is the file's third column or the
derivative of a cubic spline through g.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError

SAMPLE_NS = 25.0                #: one sample per bunch crossing
DRIFT_NS = 450.0                #: drift time t_d (NOTES.md: ~450 ns)
SHAPER_TAU_NS = 15.0            #: shaper time constant τ (NOTES.md: ~15 ns)
MIN_POINTS = 10                 #: points a pulse file needs


def _step(t: np.ndarray, tau: float) -> np.ndarray:
    u = np.maximum(t, 0.0) / tau
    return np.where(t > 0, 0.5 * u * u * np.exp(-u), 0.0)


def _ramp(t: np.ndarray, tau: float) -> np.ndarray:
    u = np.maximum(t, 0.0) / tau
    return np.where(t > 0, tau * (1.0 - (1.0 + u + 0.5 * u * u) * np.exp(-u)), 0.0)


def _impulse(t: np.ndarray, tau: float) -> np.ndarray:
    u = np.maximum(t, 0.0) / tau
    return np.where(t > 0, u * (1.0 - 0.5 * u) * np.exp(-u) / tau, 0.0)


@dataclass(frozen=True)
class PulseShape:
    """A pulse shape g(t) (peak 1) and its derivative (per ns), on or between tabulated points.

    ``source``: ``"analytic"`` (with ``drift_ns`` and ``tau_ns``) or the file it was read from.
    """

    source: str
    t_ns: np.ndarray | None = None
    g_tab: np.ndarray | None = None
    dg_tab: np.ndarray | None = None
    drift_ns: float = DRIFT_NS
    tau_ns: float = SHAPER_TAU_NS
    scale: float = 1.0            # 1 / peak of the raw analytic shape

    @classmethod
    def analytic(cls, drift_ns: float = DRIFT_NS, tau_ns: float = SHAPER_TAU_NS) -> "PulseShape":
        """The triangle through the CR–(RC)² shaper (module docstring), normalised to peak 1."""
        if not (0 < tau_ns < drift_ns):
            raise L1TInputError("pulse", f"the shaper time constant ({tau_ns} ns) must be "
                                f"positive and below the drift time ({drift_ns} ns)", "tau_ns")
        raw = cls("analytic", drift_ns=drift_ns, tau_ns=tau_ns)
        t = np.linspace(0.0, 6.0 * tau_ns, 60001)
        return cls("analytic", drift_ns=drift_ns, tau_ns=tau_ns,
                   scale=1.0 / float(raw.g(t).max()))

    def g(self, t_ns) -> np.ndarray:
        """g(t) at times ``t_ns`` (ns after the deposit; 0 before it and outside a table)."""
        t = np.asarray(t_ns, np.float64)
        if self.t_ns is None:
            td, tau = self.drift_ns, self.tau_ns
            return self.scale * (_step(t, tau) - _ramp(t, tau) / td + _ramp(t - td, tau) / td)
        return np.interp(t, self.t_ns, self.g_tab, left=0.0, right=0.0)

    def dg(self, t_ns) -> np.ndarray:
        """g'(t) in 1/ns at times ``t_ns``."""
        t = np.asarray(t_ns, np.float64)
        if self.t_ns is None:
            td, tau = self.drift_ns, self.tau_ns
            return self.scale * (_impulse(t, tau) - _step(t, tau) / td + _step(t - td, tau) / td)
        return np.interp(t, self.t_ns, self.dg_tab, left=0.0, right=0.0)

    def samples(self, n: int, first_sample_ns: float, sample_ns: float = SAMPLE_NS
                ) -> tuple[np.ndarray, np.ndarray]:
        """g and g' (per ns) at the ``n`` sampling times ``first_sample_ns + k · sample_ns``."""
        t = first_sample_ns + sample_ns * np.arange(n)
        return self.g(t), self.dg(t)

    @property
    def peak_ns(self) -> float:
        """The time of the peak (ns after the deposit)."""
        t = (np.linspace(0.0, 6.0 * self.tau_ns, 60001) if self.t_ns is None else self.t_ns)
        return float(t[int(np.argmax(self.g(t)))])


def read_pulse(path: str | Path) -> PulseShape:
    """A measured shape from a CSV file ``t_ns,g[,dg_dt]`` (a header line is allowed); it is
    normalised to a peak of 1 (g' with it)."""
    from scipy.interpolate import CubicSpline

    data = _read_csv(path, ("t_ns", "g", "dg_dt"), min_columns=2)
    t, g = data[:, 0], data[:, 1]
    if len(t) < MIN_POINTS:
        raise L1TInputError(path, f"{len(t)} points; a pulse shape needs at least {MIN_POINTS}",
                            "t_ns")
    bad = np.flatnonzero(np.diff(t) <= 0)
    if len(bad):
        raise L1TInputError(path, f"time must increase strictly: row {bad[0] + 2} has "
                            f"t = {t[bad[0] + 1]:g} ns after {t[bad[0]]:g} ns", "t_ns")
    peak = float(np.max(g))
    if not peak > 0:
        raise L1TInputError(path, "the pulse has no positive peak", "g")
    dg = data[:, 2] if data.shape[1] > 2 else CubicSpline(t, g)(t, 1)
    return PulseShape(str(path), t, g / peak, dg / peak)


def _read_csv(path: str | Path, names: tuple[str, ...], min_columns: int) -> np.ndarray:
    """Rows of numbers (``min_columns`` … ``len(names)`` columns, all finite) from a CSV file;
    a first line that is not numeric is taken as a header."""
    from l1t.core.files import read_text

    rows: list[list[float]] = []
    first = True
    for k, line in enumerate(read_text(path, "CSV file").splitlines()):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            values = [float(c) for c in line.split(",")]
        except ValueError:
            if first:                                     # a header line
                first = False
                continue
            raise L1TInputError(path, f"line {k + 1}: not numbers: {line[:60]!r}",
                                names[0]) from None
        first = False
        if not min_columns <= len(values) <= len(names):
            raise L1TInputError(path, f"line {k + 1}: {len(values)} columns; expected "
                                f"{','.join(names[:min_columns])}[,{','.join(names[min_columns:])}]",
                                names[0])
        if not all(np.isfinite(values)):
            col = names[next(i for i, v in enumerate(values) if not np.isfinite(v))]
            raise L1TInputError(path, f"line {k + 1}: {col} is not finite", col)
        if rows and len(values) != len(rows[0]):
            raise L1TInputError(path, f"line {k + 1}: {len(values)} columns, the first row has "
                                f"{len(rows[0])}", names[0])
        rows.append(values)
    if not rows:
        raise L1TInputError(path, "no data rows", names[0])
    return np.asarray(rows, np.float64)


def read_autocorrelation(path: str | Path, n: int) -> np.ndarray:
    """The ``n × n`` autocorrelation matrix R_ij = r(|i − j|) from a CSV file ``lag,r`` (lag in
    samples of 25 ns, 0 … n − 1 each once; r(0) > 0)."""
    data = _read_csv(path, ("lag", "r"), min_columns=2)
    lags, r = data[:, 0], data[:, 1]
    if np.any(lags != np.round(lags)) or np.any(lags < 0):
        raise L1TInputError(path, "lags are non-negative integers (in 25 ns samples)", "lag")
    table = {}
    for lag, value in zip(lags.astype(int), r):
        if lag in table:
            raise L1TInputError(path, f"lag {lag} appears twice", "lag")
        table[lag] = value
    missing = [k for k in range(n) if k not in table]
    if missing:
        raise L1TInputError(path, f"{n} samples need lags 0..{n - 1}; missing "
                            f"{', '.join(map(str, missing[:5]))}", "lag")
    if not table[0] > 0:
        raise L1TInputError(path, f"r(0) is the variance and must be positive, got {table[0]}",
                            "r")
    idx = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    return np.vectorize(table.get)(idx).astype(np.float64)
