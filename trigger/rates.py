"""Trigger rates from zero-bias crossings, optionally stitched with weighted hard-QCD crossings.

Rate of a seed: ``rate [kHz] = Σw_pass / Σw × n_bunches × 11.2456`` (the LHC revolution frequency
in kHz), with statistical error ``√Σw²_pass / Σw × …``.

Stitching (weighted ``qcd`` samples, no double counting). A crossing either has no interaction
with pT-hat ≥ P0 or at least one. The zero-bias sample measures the first part directly: its
crossings whose hardest interaction (``pthat_max``) is below P0 count in the numerator, all of
them in the denominator. The second part is P(≥ 1 hard) × P(fire | hard), with
P(≥ 1 hard) = 1 − exp(−μ σ(pT-hat ≥ P0) / σ_inel) and P(fire | hard) the weighted fraction of
``qcd`` crossings (hard interaction with pT-hat ≥ P0, plus pileup) that fire; σ(pT-hat ≥ P0) =
σ_qcd × Σ_{pT-hat ≥ P0} w / Σ w. The qcd crossings whose pileup holds another interaction with
pT-hat ≥ P0 (``pu_pthat_max``) are left out of P(fire | hard): a hard event of the finite pileup
pool recurs in many crossings, and would otherwise stand for the whole hard tail of the pileup.
Crossings with two hard interactions are counted as having one (a correction of order
P(≥ 2 hard) / P(≥ 1 hard) ≈ μσ/2σ_inel, negligible for P0 well above the pileup's pT-hat).

Pool-grouped errors. Below P0 the pool still recurs: a seed fired by single pileup interactions
that are rare in the pool (at μ = 200 photon candidates from pT-hat 25–60 GeV) counts each such
pool event in about μN/pool crossings, and those crossings are not independent. Zero-bias
crossings are therefore also grouped by the pool event of their hardest pileup interaction
(``pu_source``, the likeliest single cause of a rare object): the grouped variance is
Σ_groups (Σ_{i ∈ group} w_i pass_i)² / (Σw)², reported beside the independent-crossing error
with the number of distinct pool events behind the seed. For seeds that fire on the sum of
many interactions (MET, HT) it is an upper estimate; files without ``pu_source`` make every
crossing its own group (the grouped error equals the other).

Everything accumulated here is a sum over crossings, so chunks and workers merge by addition.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .lhc import DEFAULT_BUNCHES, LHC_REVOLUTION_KHZ

SCAN_BINS = 2000
SCAN_LSB = 0.5  # GeV: thresholds are hardware words in 0.5 GeV steps
LOW_STATISTICS = 10


def scan_step(reference: float | None, lsb: float | None = SCAN_LSB) -> float:
    """Scan bin width for a seed: 0.5 GeV (the pT word), wider when 4× the threshold needs it;
    with ``lsb=None`` (a threshold that is not in GeV, e.g. an anomaly score) 4× the threshold in
    ``SCAN_BINS`` bins."""
    if not reference:
        return SCAN_LSB
    if lsb is None:
        return 4.0 * reference / SCAN_BINS
    top = max(4.0 * reference, reference + 100.0)
    return lsb * math.ceil(top / (SCAN_BINS * lsb))


def scan_axes(menu) -> tuple[np.ndarray, np.ndarray]:
    """Reference threshold (0: no scan) and scan bin width of every seed, ``(S,)`` each."""
    refs = np.array([s.reference_threshold or 0.0 for s in menu.seeds])
    steps = np.array([scan_step(s.reference_threshold, None if s.reference_is_score else SCAN_LSB)
                      for s in menu.seeds])
    return refs, steps


@dataclass
class Tally:
    """Additive sums over the crossings of one kind (zero-bias or hard QCD) at one pileup."""

    n_seeds: int
    references: np.ndarray                      # (S,) reference thresholds (0: no scan)
    steps: np.ndarray                           # (S,) scan bin widths
    n: int = 0
    w: float = 0.0
    w2: float = 0.0
    arrays: dict = field(default_factory=dict)
    #: per pool event (``pu_source``): ids (U,) and Σ w·kept of each seed and of any seed
    #: (U, S+1); reduced to one row per id by :meth:`compact`
    sources: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def __post_init__(self):
        s = self.n_seeds
        for name in ("fired", "kept", "pure"):
            for suffix in ("_n", "_w", "_w2"):
                self.arrays.setdefault(name + suffix, np.zeros(s))
        for suffix in ("_n", "_w", "_w2"):
            self.arrays.setdefault("any" + suffix, np.zeros(1))
        self.arrays.setdefault("overlap_w", np.zeros((s, s)))
        self.arrays.setdefault("scan_w", np.zeros((s, SCAN_BINS)))
        self.arrays.setdefault("scan_w2", np.zeros((s, SCAN_BINS)))
        self.arrays.setdefault("scan_n", np.zeros((s, SCAN_BINS)))
        self.arrays.setdefault("ungrouped_w2", np.zeros(s + 1))

    def add(self, margins: np.ndarray, kept: np.ndarray, weights: np.ndarray,
            counted: np.ndarray | None = None, sources: np.ndarray | None = None) -> None:
        """Add crossings: ``margins`` (N, S), prescaled decisions ``kept`` (N, S), weights (N,).

        ``counted`` (N,) bool: crossings allowed in the numerators (all by default); every
        crossing enters the denominator. ``sources`` (N,) int64: the pool event of each
        crossing's hardest pileup interaction (-1: none; None: unknown for all), for the
        pool-grouped error.
        """
        w = np.asarray(weights, np.float64)
        self.n += len(w)
        self.w += float(w.sum())
        self.w2 += float((w * w).sum())
        if counted is not None:
            w = np.where(counted, w, 0.0)
        one = (w != 0).astype(np.float64)
        fired = margins >= 1.0
        kept = kept & fired
        pure = kept & (kept.sum(axis=1, keepdims=True) == 1)
        any_ = kept.any(axis=1, keepdims=True)
        a = self.arrays
        for name, mask in (("fired", fired), ("kept", kept), ("pure", pure), ("any", any_)):
            a[name + "_n"] += one @ mask
            a[name + "_w"] += w @ mask
            a[name + "_w2"] += (w * w) @ mask
        passed = np.concatenate([kept, any_], axis=1) * w[:, None]          # (N, S+1)
        grouped = np.zeros(len(w), bool) if sources is None else np.asarray(sources) >= 0
        a["ungrouped_w2"] += (passed[~grouped] ** 2).sum(axis=0)
        hit = grouped & (passed[:, -1] != 0)
        if hit.any():
            self.sources.append((np.asarray(sources)[hit].astype(np.int64), passed[hit]))
            if sum(len(i) for i, _ in self.sources) > 100_000:
                self.compact()
        fw = fired * w[:, None]
        a["overlap_w"] += fw.T @ fired
        with np.errstate(invalid="ignore"):
            t = margins * self.references[None, :] / self.steps[None, :] + 1e-9
        t = np.where(np.isnan(t), -1.0, t)
        idx = np.clip(np.floor(np.minimum(t, SCAN_BINS)), -1, SCAN_BINS - 1).astype(np.int64)
        for j in range(self.n_seeds):
            if self.references[j] <= 0:
                continue
            ok = (idx[:, j] >= 0) & (w != 0)
            a["scan_w"][j] += np.bincount(idx[ok, j], weights=w[ok], minlength=SCAN_BINS)
            a["scan_w2"][j] += np.bincount(idx[ok, j], weights=w[ok] ** 2, minlength=SCAN_BINS)
            a["scan_n"][j] += np.bincount(idx[ok, j], minlength=SCAN_BINS)

    def merge(self, other: "Tally") -> "Tally":
        self.n += other.n
        self.w += other.w
        self.w2 += other.w2
        for k, v in other.arrays.items():
            self.arrays[k] = self.arrays[k] + v
        self.sources.extend(other.sources)
        return self.compact()

    def compact(self) -> "Tally":
        """One row per pool event in :attr:`sources` (sums merged)."""
        if self.sources:
            ids = np.concatenate([i for i, _ in self.sources])
            sums = np.concatenate([x for _, x in self.sources])
            uniq, inverse = np.unique(ids, return_inverse=True)
            out = np.zeros((len(uniq), sums.shape[1]))
            np.add.at(out, inverse, sums)
            self.sources = [(uniq, out)]
        return self

    def grouped(self) -> tuple[np.ndarray, np.ndarray]:
        """``(S+1,)`` Σ_groups (Σ w·kept)² (seeds, then any seed; crossings without a pool
        event as groups of one) and the number of pool events behind each."""
        self.compact()
        g2 = self.arrays["ungrouped_w2"].copy()
        n = np.zeros_like(g2)
        if self.sources:
            _, sums = self.sources[0]
            g2 += (sums ** 2).sum(axis=0)
            n += (sums != 0).sum(axis=0)
        return g2, n


@dataclass
class Group:
    """The crossings of one pileup value: zero-bias, and optionally stitched hard QCD."""

    mu: float
    zero_bias: Tally
    qcd: Tally | None = None
    qcd_all_w: float = 0.0        # Σ w over every qcd crossing (any pT-hat)
    qcd_hard_w: float = 0.0       # Σ w over the qcd crossings with pT-hat ≥ P0
    qcd_sigma_mb: float = 0.0
    sigma_inel_mb: float = 78.9

    def merge(self, other: "Group") -> "Group":
        self.zero_bias.merge(other.zero_bias)
        if other.qcd is not None:
            self.qcd = other.qcd if self.qcd is None else self.qcd.merge(other.qcd)
            self.qcd_all_w += other.qcd_all_w
            self.qcd_hard_w += other.qcd_hard_w
            self.qcd_sigma_mb = other.qcd_sigma_mb or self.qcd_sigma_mb
        return self

    @property
    def p_hard(self) -> float:
        """P(≥ 1 interaction with pT-hat ≥ P0 in a crossing)."""
        if self.qcd is None or self.qcd_all_w <= 0:
            return 0.0
        sigma_hard = self.qcd_sigma_mb * self.qcd_hard_w / self.qcd_all_w
        return 1.0 - math.exp(-self.mu * sigma_hard / self.sigma_inel_mb)

    def fraction(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Fraction of crossings (and its variance) for the accumulated array ``name``
        (``fired``, ``kept``, ``pure``, ``any``, ``overlap``, ``scan`` …)."""
        z = self.zero_bias
        num, num2 = z.arrays[name + "_w"], z.arrays.get(name + "_w2")
        f = num / z.w if z.w else np.zeros_like(num)
        var = (num2 / z.w**2) if (z.w and num2 is not None) else np.zeros_like(num)
        f_hard, var_hard = self.hard_part(name)
        return f + f_hard, var + var_hard

    def hard_part(self, name: str) -> tuple[np.ndarray | float, np.ndarray | float]:
        """P(≥ 1 hard) × P(fire | hard) for ``name`` and its variance (0, 0 without qcd)."""
        if self.qcd is None or self.qcd.w <= 0:
            return 0.0, 0.0
        q, p = self.qcd, self.p_hard
        r = q.arrays[name + "_w"] / q.w
        r2 = q.arrays.get(name + "_w2")
        var_r = (np.zeros_like(r) if r2 is None else
                 np.maximum(r2 * (1 - 2 * r) + r * r * q.w2, 0.0) / q.w**2)
        return p * r, p * p * var_r


def pool_grouped(groups: list[Group]) -> tuple[np.ndarray, np.ndarray]:
    """``(S+1,)`` variance of the prescaled fractions (seeds, then the total) with zero-bias
    crossings grouped by pool event (see the module docstring), pooled over ``groups`` as
    :func:`pooled` does, and the number of pool events behind each."""
    total = sum(g.zero_bias.n for g in groups)
    var = n = 0.0
    for g in groups:
        z = g.zero_bias
        g2, ng = z.grouped()
        if not z.w:
            continue
        hard = np.concatenate([np.broadcast_to(g.hard_part(name)[1], z.arrays[name + "_w"].shape)
                               for name in ("kept", "any")])
        share = z.n / total
        var = var + share**2 * (g2 / z.w**2 + hard)
        n = n + ng
    return np.asarray(var), np.asarray(n)


def pooled(groups: list[Group], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Fraction and variance over all groups, each weighted by its zero-bias crossings."""
    total = sum(g.zero_bias.n for g in groups)
    f = var = 0.0
    for g in groups:
        fg, vg = g.fraction(name)
        share = g.zero_bias.n / total
        f = f + share * fg
        var = var + share**2 * vg
    return np.asarray(f), np.asarray(var)


def events_fired(groups: list[Group], name: str) -> np.ndarray:
    """Unweighted number of crossings behind a number (for the low-statistics flag)."""
    out = 0
    for g in groups:
        out = out + g.zero_bias.arrays[name + "_n"]
        if g.qcd is not None:
            out = out + g.qcd.arrays[name + "_n"]
    return np.asarray(out)


def threshold_for_rate(thresholds: np.ndarray, rate: np.ndarray, err: np.ndarray,
                       target: float, crossings: np.ndarray | None = None) -> dict:
    """Lowest scanned threshold whose rate is ≤ target (kHz), with the interval where the rate
    ± its error crosses the target; flagged when fewer than 10 crossings lie above it."""
    def first(values):
        idx = np.flatnonzero(values <= target)
        return int(idx[0]) if len(idx) else None
    i, lo, hi = first(rate), first(rate - err), first(rate + err)
    out = {"target_khz": target}
    for key, k in (("threshold", i), ("threshold_low", lo), ("threshold_high", hi)):
        out[key] = None if k is None else float(thresholds[k])
    out["low_statistics"] = bool(i is None or crossings is None or crossings[i] < LOW_STATISTICS)
    return out


def fit_rate_vs_pileup(mu: np.ndarray, rate: np.ndarray, err: np.ndarray) -> dict | None:
    """Weighted least squares of rate(μ) = a·μ + b·μ² (a·μ with fewer than 3 pileup values);
    a zero-bias rate vanishes at μ = 0."""
    mu, rate, err = map(np.asarray, (mu, rate, err))
    ok = mu > 0
    if ok.sum() == 0:
        return None
    mu, rate, err = mu[ok], rate[ok], err[ok]
    floor = max(float(err[err > 0].min()) if np.any(err > 0) else 1.0, 1e-9)
    sigma = np.where(err > 0, err, floor)
    cols = [mu, mu**2] if len(mu) >= 3 else [mu]
    A = np.stack(cols, axis=1) / sigma[:, None]
    b = rate / sigma
    params, *_ = np.linalg.lstsq(A, b, rcond=None)
    cov = np.linalg.pinv(A.T @ A)
    chi2 = float(((A @ params - b) ** 2).sum())
    names = ["a_khz", "b_khz"][:len(params)]
    return {"model": "a*mu + b*mu^2" if len(params) == 2 else "a*mu",
            **{k: float(v) for k, v in zip(names, params)},
            **{k + "_err": float(np.sqrt(cov[i, i])) for i, k in enumerate(names)},
            "chi2": chi2, "ndf": int(len(mu) - len(params))}


def _cumulate_scans(tally: Tally) -> None:
    """Rates above each scan threshold: reverse cumulative sums (before any ratio is taken)."""
    for s in ("_w", "_w2", "_n"):
        tally.arrays["scancum" + s] = np.cumsum(tally.arrays["scan" + s][:, ::-1], axis=1)[:, ::-1]


def summarize(groups: list[Group], menu, bunches: int = DEFAULT_BUNCHES,
              targets_khz: tuple[float, ...] = ()) -> dict:
    """All numbers of a rates job (kHz): per seed, total, overlaps, scans, target thresholds,
    rate vs pileup. ``groups`` from :func:`l1t.trigger.job.run`."""
    scale = bunches * LHC_REVOLUTION_KHZ
    _, steps = scan_axes(menu)
    for g in groups:
        _cumulate_scans(g.zero_bias)
        if g.qcd is not None:
            _cumulate_scans(g.qcd)

    def rate(name, gs=groups):
        f, var = pooled(gs, name)
        return f * scale, np.sqrt(var) * scale

    fired, fired_err = rate("fired")
    kept, kept_err = rate("kept")
    pure, pure_err = rate("pure")
    total, total_err = rate("any")
    overlap, _ = rate("overlap")
    scan, scan_err = rate("scancum")
    scan_n = events_fired(groups, "scancum")
    n_fired = events_fired(groups, "fired")
    n_total = events_fired(groups, "any")
    var_g, n_sources = pool_grouped(groups)
    err_g = np.sqrt(np.maximum(var_g, 0.0)) * scale
    seeds = []
    for j, seed in enumerate(menu.seeds):
        ref = seed.reference_threshold or 0.0
        entry = {
            "seed": seed.name, "prescale": seed.prescale,
            "rate_khz": float(kept[j]), "rate_err_khz": float(kept_err[j]),
            "unprescaled_rate_khz": float(fired[j]), "unprescaled_rate_err_khz": float(fired_err[j]),
            "pure_rate_khz": float(pure[j]), "pure_rate_err_khz": float(pure_err[j]),
            "events_fired": int(n_fired[j]), "low_statistics": bool(n_fired[j] < LOW_STATISTICS),
            "rate_err_pool_grouped_khz": float(err_g[j]), "pool_events": int(n_sources[j]),
            "reference_threshold": ref,
        }
        if ref > 0:
            thresholds = np.arange(SCAN_BINS) * steps[j]
            top = int(np.max(np.flatnonzero(scan[j] > 0), initial=0)) + 2
            keep = slice(0, min(max(top, int(2 * ref / steps[j]) + 1), SCAN_BINS))
            entry["scan"] = {"threshold": thresholds[keep].tolist(),
                             "rate_khz": scan[j][keep].tolist(),
                             "rate_err_khz": scan_err[j][keep].tolist()}
            entry["target_thresholds"] = [
                threshold_for_rate(thresholds, scan[j], scan_err[j], t, scan_n[j]) for t in targets_khz]
        seeds.append(entry)
    pileup = []
    for g in groups:
        f, e = rate("kept", [g])
        t, te = rate("any", [g])
        pileup.append({"mu": g.mu, "zero_bias_crossings": g.zero_bias.n,
                       "qcd_crossings": 0 if g.qcd is None else g.qcd.n,
                       "p_hard": g.p_hard, "total_khz": float(t[0]), "total_err_khz": float(te[0]),
                       "rate_khz": f.tolist(), "rate_err_khz": e.tolist()})
    mus = np.array([p["mu"] for p in pileup])
    fits = {}
    if len(pileup) >= 2:
        fits["TOTAL"] = fit_rate_vs_pileup(mus, [p["total_khz"] for p in pileup],
                                           [p["total_err_khz"] for p in pileup])
        for j, seed in enumerate(menu.seeds):
            fits[seed.name] = fit_rate_vs_pileup(mus, [p["rate_khz"][j] for p in pileup],
                                                 [p["rate_err_khz"][j] for p in pileup])
    return {
        "menu": menu.name, "bunches": bunches, "revolution_khz": LHC_REVOLUTION_KHZ,
        "zero_bias_crossings": int(sum(g.zero_bias.n for g in groups)),
        "qcd_crossings": int(sum(g.qcd.n for g in groups if g.qcd is not None)),
        "seeds": seeds,
        "total": {"rate_khz": float(total[0]), "rate_err_khz": float(total_err[0]),
                  "events_fired": int(n_total[0]),
                  "low_statistics": bool(n_total[0] < LOW_STATISTICS),
                  "rate_err_pool_grouped_khz": float(err_g[-1]), "pool_events": int(n_sources[-1])},
        "overlap_khz": {"seeds": menu.names, "matrix": overlap.tolist()},
        "pileup": pileup, "pileup_fits": fits,
    }
