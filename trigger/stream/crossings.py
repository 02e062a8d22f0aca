"""The crossings of the 40 MHz stream: the mixture `l1t rates` measures, drawn slot by slot.

:class:`EventPool` holds the crossings the stream draws from, each reduced to its number of pp
interactions and the menu's unprescaled decisions packed as bits (``(P, n_words)`` uint64, bit
``j % 64`` of word ``j // 64`` for seed ``j``) — the anomaly seeds' scores and the ``assign:``
models come from the firmware-exact emulators (:mod:`l1t.firmware.deployed`), so a stream
decision is a firmware decision. The pool is evaluated once; the stream then only draws indices.

The mixture is the one of :mod:`l1t.trigger.rates` (stitching at pT-hat ``P0``): a crossing has
no interaction with pT-hat ≥ P0 — a zero-bias crossing whose hardest interaction is below P0 —
or, with probability ``p_hard(μ) = 1 − exp(−μ σ(pT-hat ≥ P0) / σ_inel)``, at least one — a
crossing of the weighted hard-QCD sample above P0, drawn in proportion to its weight
(:class:`QcdTail`). Without a QCD input every zero-bias crossing is drawn, as ``l1t rates``
counts them all. Both estimate the same rate; on the same inputs the stream's expected rate
differs from the rates job's only by the sampling error of the zero-bias hard fraction (the job
estimates P(no hard) by the fraction of zero-bias crossings below P0, the stream by
``1 − p_hard``), well within the rates' errors. QCD crossings keep the pileup they were made
with.

:class:`MuProfile` gives ⟨μ⟩ over the fill (constant, or piecewise linear in time, e.g. a
luminosity decay). Each orbit takes ⟨μ⟩ at its start on a grid of :data:`MU_STEP`; each colliding
slot draws n ~ Poisson(⟨μ⟩) and a zero-bias crossing with exactly n interactions (with
replacement), in one step: a crossing of the pool with ``n_r`` interactions is drawn with
probability ``Poisson(n_r; ⟨μ⟩) / (crossings with n_r)``, by Walker's alias method (Vose's
construction, IEEE TSE 17 (1991) 972), one table per ⟨μ⟩ grid step. The pool is made at one ⟨μ⟩
with Poisson-distributed n, so this reproduces the pileup distribution of any ⟨μ⟩ whose Poisson
range the pool covers; the probability of an n the pool lacks goes to the nearest n it has (its
expected count is ``substituted``: keep ⟨μ(t)⟩ near the pool's).

Random numbers are counter-based: the ``k``-th uniform of BX ``g`` (its global number since the
start of the stream) is a SplitMix64 hash (Steele, Lea & Flood, OOPSLA 2014) of ``(seed, k, g)``,
so every slot's draws depend only on the seed and the slot: the same at any chunking, and
resuming a stream from a checkpoint needs no generator state.

:class:`SignalPool`: crossings of a signal production, injected at random colliding slots with
a probability per slot (:mod:`l1t.trigger.stream.run`); they are drawn uniformly and counted
with their generator weights, as :mod:`l1t.trigger.acceptance` counts them.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from l1t.core.errors import L1TInputError
from l1t.datasets.production import MAX_PILEUP

from ..evaluate import Evaluator
from ..menu import Menu

#: ⟨μ⟩ grid of the per-orbit Poisson tables (a relative error below 3 × 10⁻⁵ at μ = 200).
MU_STEP = 0.01
#: σ_inel (mb) when the zero-bias files do not record it: Pythia 8 at 14 TeV (NOTES.md), as
#: :class:`l1t.trigger.rates.Group` assumes.
SIGMA_INEL_MB = 78.9
_GOLDEN = 0x9E3779B97F4A7C15
_N_STREAMS = 4            #: uniforms per slot: signal?, hard?, pileup n, which crossing


# --------------------------------------------------------------------------- bits

def pack(fired: np.ndarray) -> np.ndarray:
    """Pack decisions ``(N, S)`` bool into ``(N, ceil(S / 64))`` uint64 words."""
    n, s = fired.shape
    words = max((s + 63) // 64, 1)
    padded = np.zeros((n, words * 64), bool)
    padded[:, :s] = fired
    return np.packbits(padded, axis=1, bitorder="little").view("<u8").reshape(n, words)


def unpack(bits: np.ndarray, n_seeds: int) -> np.ndarray:
    """Inverse of :func:`pack`: ``(N, n_seeds)`` bool."""
    b = np.ascontiguousarray(bits, dtype="<u8")
    if len(b) == 0:
        return np.zeros((0, n_seeds), bool)
    flat = np.unpackbits(b.view(np.uint8).reshape(len(b), -1), axis=1, bitorder="little")
    return flat[:, :n_seeds].astype(bool)


# --------------------------------------------------------------------------- pools

@dataclass(frozen=True)
class QcdTail:
    """Weighted hard-QCD crossings above the stitching pT-hat: ``bits`` ``(Q, n_words)``,
    ``weights`` ``(Q,)``; ``sigma_hard_mb`` = σ_qcd × Σ_{pT-hat ≥ P0} w / Σ w."""

    bits: np.ndarray
    weights: np.ndarray
    stitch_pthat: float
    sigma_hard_mb: float
    sigma_inel_mb: float
    crossings: int               # QCD crossings read (above and below P0)
    sources: tuple[str, ...]
    n_interactions: np.ndarray   # (Q,) int64: the hard one and its pileup

    def p_hard(self, mu) -> np.ndarray:
        """P(≥ 1 interaction with pT-hat ≥ P0) at ⟨μ⟩ (as :attr:`l1t.trigger.rates.Group.p_hard`)."""
        return 1.0 - np.exp(-np.asarray(mu, np.float64) * self.sigma_hard_mb / self.sigma_inel_mb)


@dataclass(frozen=True)
class EventPool:
    """The crossings the stream draws (see the module docstring): zero-bias ones sorted by their
    number of interactions, and the QCD tail when the inputs hold weighted QCD."""

    n_interactions: np.ndarray   # (P,) int64, sorted ascending
    bits: np.ndarray             # (P, n_words) uint64: unprescaled seed decisions
    seeds: tuple[str, ...]
    mean_mu: float               # the zero-bias productions' ⟨μ⟩
    sources: tuple[str, ...]
    tail: QcdTail | None = None
    zero_bias_crossings: int = -1    # read; the pool keeps those below the stitching pT-hat

    def __len__(self) -> int:
        return len(self.n_interactions)

    @property
    def fired(self) -> np.ndarray:
        """Unprescaled decisions ``(P, n_seeds)`` bool."""
        return unpack(self.bits, len(self.seeds))

    def fingerprint(self) -> str:
        """A hash of what the stream draws (checks that a checkpoint belongs to this pool)."""
        h = hashlib.sha256()
        for a in (self.n_interactions, self.bits) + ((self.tail.bits, self.tail.weights)
                                                     if self.tail else ()):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(repr((self.seeds, self.tail.p_hard(1.0) if self.tail else None)).encode())
        return h.hexdigest()

    def summary(self) -> dict:
        out = {"crossings": len(self), "zero_bias_crossings": self.zero_bias_crossings,
               "mean_mu": self.mean_mu, "sources": list(self.sources), "qcd": None}
        if self.tail is not None:
            t = self.tail
            out["qcd"] = {"crossings": t.crossings, "above_stitch": len(t.weights),
                          "stitch_pthat": t.stitch_pthat, "sigma_hard_mb": t.sigma_hard_mb,
                          "sigma_inel_mb": t.sigma_inel_mb,
                          "p_hard_at_mean_mu": float(t.p_hard(self.mean_mu)),
                          "sources": list(t.sources)}
        return out

    @classmethod
    def from_files(cls, menu: Menu, paths: list[Path], step_size: int = 20_000,
                   stitch_pthat: float | None = None, sigma_inel_mb: float | None = None
                   ) -> "EventPool":
        """Evaluate ``menu`` on zero-bias files (min-bias productions or files without l1t
        metadata) and, optionally, weighted ``qcd`` productions stitched at ``stitch_pthat``
        GeV (default :data:`l1t.trigger.job.DEFAULT_STITCH_PTHAT`, as ``l1t rates``). Signal or
        weighted zero-bias files are refused: the stream draws crossings as the LHC delivers
        them (a signal goes to :class:`SignalPool`)."""
        from ..job import DEFAULT_STITCH_PTHAT, input_kind

        if not paths:
            raise L1TInputError("stream", "no input files", "input")
        stitch = DEFAULT_STITCH_PTHAT if stitch_pthat is None else float(stitch_pthat)
        ev = Evaluator(menu)
        zb: dict[str, list] = {"bits": [], "n": [], "mu": [], "pthat_max": []}
        qcd: dict[str, list] = {"bits": [], "w": [], "pthat": [], "pu_pthat": [], "n": []}
        sig_inel, sig_qcd, zb_src, qcd_src = 0.0, 0.0, [], []
        for path in paths:
            kind, _ = input_kind(path)
            if kind == "signal":
                raise L1TInputError(path, "the stream draws zero-bias crossings (and weighted "
                                    "qcd); give a signal to --signal", "sample")
            for c in ev.chunks([path], step_size):
                e = c.events
                w = np.asarray(e.weight, np.float64)
                sigma = float(np.max(np.asarray(e.sigma_mb, np.float64), initial=0.0))
                if kind == "zero_bias":
                    if np.any(w != 1.0):
                        raise L1TInputError(path, "weighted zero-bias crossings (an enriched "
                                            "sample) cannot be drawn as the LHC delivers them; "
                                            "give unweighted min-bias", "weight")
                    zb["bits"].append(pack(c.fired()))
                    zb["n"].append(np.asarray(e.n_interactions, np.int64))
                    zb["mu"].append(np.asarray(e.mu, np.float64))
                    zb["pthat_max"].append(np.asarray(e.pthat_max, np.float64))
                    sig_inel = max(sig_inel, sigma)
                else:
                    qcd["bits"].append(pack(c.fired()))
                    qcd["w"].append(w)
                    qcd["pthat"].append(np.asarray(e.pthat, np.float64))
                    qcd["pu_pthat"].append(np.asarray(e.pu_pthat_max, np.float64))
                    qcd["n"].append(np.asarray(e.n_interactions, np.int64))
                    sig_qcd = max(sig_qcd, sigma)
            (zb_src if kind == "zero_bias" else qcd_src).append(str(path))
        if not zb["n"] or sum(len(x) for x in zb["n"]) == 0:
            raise L1TInputError(", ".join(map(str, paths)), "no zero-bias crossings in the "
                                "inputs: a weighted qcd sample is stitched onto min-bias "
                                "crossings, it cannot stand alone")
        n = np.concatenate(zb["n"])
        bits = np.concatenate(zb["bits"])
        mean_mu = float(np.concatenate(zb["mu"]).mean())
        tail = None
        if qcd["w"]:
            w = np.concatenate(qcd["w"])
            hard = np.concatenate(qcd["pthat"]) >= stitch
            if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                raise L1TInputError(", ".join(qcd_src), "qcd weights must be finite, >= 0 and "
                                    "not all 0", "weight")
            if not hard.any() or w[hard].sum() <= 0:
                raise L1TInputError(", ".join(qcd_src), f"no qcd crossing above the stitching "
                                    f"pT-hat {stitch:g} GeV", "pthat")
            inel = float(sigma_inel_mb or sig_inel or SIGMA_INEL_MB)
            # as l1t rates: P(fire | hard) from the hard crossings whose pileup holds no other
            # hard interaction (a hard pool event recurring in many crossings never stands for
            # the pileup's hard tail); the hard cross section from all of them
            drawn = hard & (np.concatenate(qcd["pu_pthat"]) < stitch)
            if not drawn.any():
                raise L1TInputError(", ".join(qcd_src), f"no qcd crossing above the stitching "
                                    f"pT-hat {stitch:g} GeV without another hard interaction "
                                    "in its pileup", "pu_pthat_max")
            tail = QcdTail(np.concatenate(qcd["bits"])[drawn], w[drawn], stitch,
                           sig_qcd * float(w[hard].sum() / w.sum()), inel, len(w),
                           tuple(qcd_src), np.concatenate(qcd["n"])[drawn])
            soft = np.concatenate(zb["pthat_max"]) < stitch
            if not soft.any():
                raise L1TInputError(", ".join(zb_src), f"no zero-bias crossing below the "
                                    f"stitching pT-hat {stitch:g} GeV", "pthat_max")
            n, bits = n[soft], bits[soft]
        order = np.argsort(n, kind="stable")
        return cls(n[order], bits[order], tuple(menu.names), mean_mu,
                   tuple(zb_src), tail, int(sum(len(x) for x in zb["n"])))


@dataclass(frozen=True)
class SignalPool:
    """A signal's crossings: decisions ``bits`` ``(S, n_words)`` and generator ``weights``."""

    name: str
    bits: np.ndarray
    weights: np.ndarray
    sources: tuple[str, ...]
    n_interactions: np.ndarray   # (S,) int64

    def __len__(self) -> int:
        return len(self.weights)

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.name.encode())
        for a in (self.bits, self.weights):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    @classmethod
    def from_files(cls, menu: Menu, name: str, paths: list[Path], step_size: int = 20_000
                   ) -> "SignalPool":
        """Evaluate ``menu`` on a signal's files (any sample; its weights kept)."""
        bits, weights, n = [], [], []
        for c in Evaluator(menu).chunks(paths, step_size):
            bits.append(pack(c.fired()))
            weights.append(np.asarray(c.events.weight, np.float64))
            n.append(np.asarray(c.events.n_interactions, np.int64))
        w = np.concatenate(weights) if weights else np.zeros(0)
        src = ", ".join(map(str, paths))
        if len(w) == 0:
            raise L1TInputError(src, "the signal holds no crossings", "signal")
        if not np.all(np.isfinite(w)) or w.sum() == 0:
            raise L1TInputError(src, "the signal's weights must be finite and not sum to 0",
                                "weight")
        return cls(name, np.concatenate(bits), w, tuple(map(str, paths)), np.concatenate(n))


# --------------------------------------------------------------------------- ⟨μ⟩ over the fill

@dataclass(frozen=True)
class MuProfile:
    """⟨μ⟩ over the fill: piecewise linear through ``(seconds, mu)`` points, constant outside."""

    seconds: tuple[float, ...]
    mu: tuple[float, ...]

    def __post_init__(self) -> None:
        t, m = np.asarray(self.seconds, float), np.asarray(self.mu, float)
        if len(t) == 0 or len(t) != len(m):
            raise L1TInputError("--mu", "give as many times as mu values (>= 1)", "mu")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(m))) or np.any(m < 0) \
                or np.any(m > MAX_PILEUP) or np.any(np.diff(t) <= 0):
            raise L1TInputError("--mu", f"times must increase and mu lie within "
                                f"0..{MAX_PILEUP:g}", "mu")

    @classmethod
    def constant(cls, mu: float) -> "MuProfile":
        return cls((0.0,), (float(mu),))

    @classmethod
    def parse(cls, text: str) -> "MuProfile":
        """``"200"`` (constant) or ``"0:200,3600:140"`` (seconds:mu points)."""
        try:
            if ":" not in text:
                return cls.constant(float(text))
            pts = [tuple(float(v) for v in p.split(":")) for p in text.split(",") if p.strip()]
            return cls(tuple(p[0] for p in pts), tuple(p[1] for p in pts))
        except (ValueError, IndexError):
            raise L1TInputError("--mu", f"{text!r} is not MU or T:MU,T:MU,...", "mu") from None

    def at(self, seconds: np.ndarray) -> np.ndarray:
        """⟨μ⟩ at times (s) since the start of the stream."""
        return np.interp(seconds, self.seconds, self.mu)

    def on_grid(self, seconds: np.ndarray) -> np.ndarray:
        """⟨μ⟩ at ``seconds`` rounded to the :data:`MU_STEP` grid, as integer grid steps."""
        return np.rint(self.at(seconds) / MU_STEP).astype(np.int64)

    @property
    def is_constant(self) -> bool:
        return len(set(self.mu)) == 1


# --------------------------------------------------------------------------- draws

@numba.njit(cache=True)
def _vose(p, prob, alias):  # pragma: no cover (compiled)
    """Walker's alias table of the probabilities ``p`` (sum 1), Vose's construction."""
    k = p.shape[0]
    small = np.empty(k, np.int64)
    large = np.empty(k, np.int64)
    ns = 0
    nl = 0
    scaled = p * k
    for i in range(k):
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        nl -= 1
        g = large[nl]
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            small[ns] = g
            ns += 1
        else:
            large[nl] = g
            nl += 1
    for i in range(nl):
        prob[large[i]] = 1.0
        alias[large[i]] = large[i]
    for i in range(ns):                   # rounding leftovers
        prob[small[i]] = 1.0
        alias[small[i]] = small[i]


@dataclass(frozen=True)
class AliasTable:
    """Draws index ``i`` of ``K`` with probability ``weights[i] / Σ weights`` from one uniform
    ``u``: ``j = ⌊u K⌋``, then ``j`` if ``u K − j < prob[j]`` else ``alias[j]``."""

    prob: np.ndarray     # (K,) float64
    alias: np.ndarray    # (K,) int64

    @classmethod
    def of(cls, weights: np.ndarray) -> "AliasTable":
        w = np.asarray(weights, np.float64)
        if len(w) == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("alias table: weights must be finite, >= 0, not all 0")
        prob, alias = np.empty(len(w)), np.empty(len(w), np.int64)
        _vose(w / w.sum(), prob, alias)
        return cls(prob, alias)

    def probabilities(self) -> np.ndarray:
        """The distribution the table draws (for checks)."""
        k = len(self.prob)
        out = self.prob / k
        np.add.at(out, self.alias, (1.0 - self.prob) / k)
        return out


def poisson_pmf(mu: float) -> tuple[int, np.ndarray]:
    """Poisson(μ) over μ ± (12 √μ + 10) (the mass outside is below 10⁻³⁰): first n, pmf."""
    from scipy.special import gammaln

    if mu <= 0:
        return 0, np.ones(1)
    lo = max(0, int(math.floor(mu - 12 * math.sqrt(mu) - 10)))
    hi = int(math.ceil(mu + 12 * math.sqrt(mu) + 10))
    n = np.arange(lo, hi + 1, dtype=np.float64)
    p = np.exp(n * math.log(mu) - mu - gammaln(n + 1))
    return lo, p / p.sum()


@numba.njit(cache=True, inline="always")
def _mix(z):  # pragma: no cover (compiled)
    """SplitMix64's finaliser (uint64 → uint64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def _uniform(key, g):  # pragma: no cover (compiled)
    """The uniform in [0, 1) of stream ``key`` (uint64) at BX ``g`` (int64), 53 bits."""
    x = _mix(key + np.uint64(g) * np.uint64(_GOLDEN))
    return np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, inline="always")
def _alias_draw(u, prob, alias, start, k):  # pragma: no cover (compiled)
    """Index in ``[0, k)`` drawn with the alias table at ``start`` of ``prob``/``alias``."""
    x = u * k
    j = min(np.int64(x), k - 1)
    take = np.int64(x - j < prob[start + j])     # arithmetic select: no branch to mispredict
    return take * j + (1 - take) * alias[start + j]


def stream_keys(seed: int) -> np.ndarray:
    """The per-stream hash keys of a seed, ``(_N_STREAMS,)`` uint64."""
    out = np.empty(_N_STREAMS, np.uint64)
    for k in range(_N_STREAMS):
        out[k] = _mix(np.uint64((int(seed) * 0x2545F4914F6CDD1D + k * _GOLDEN + 1)
                                % 2**64))
    return out


@dataclass(frozen=True)
class ZeroBiasIndex:
    """For every n in ``[n_min, n_max]``: the pool rows of the nearest n the pool has (ties: the
    lower) as ``start`` / ``count``, and whether n itself is there (``exact``)."""

    n_min: int
    n_max: int
    start: np.ndarray
    count: np.ndarray
    exact: np.ndarray

    @classmethod
    def of(cls, n_interactions: np.ndarray) -> "ZeroBiasIndex":
        n = n_interactions
        values, starts, counts = np.unique(n, return_index=True, return_counts=True)
        grid = np.arange(int(n[0]), int(n[-1]) + 1)
        pos = np.argmin(np.abs(grid[:, None] - values[None, :]), axis=1)   # first: the lower
        return cls(int(n[0]), int(n[-1]), starts[pos].astype(np.int64),
                   counts[pos].astype(np.int64), np.isin(grid, values))

    def row_weights(self, mu: float) -> tuple[np.ndarray, float]:
        """Probability of each pool row (rows sorted by n) at ⟨μ⟩ — Poisson(n; μ) shared by the
        rows with n, an n the pool lacks going to the nearest it has — and the probability that
        the crossing's n was substituted."""
        lo, pmf = poisson_pmf(mu)
        n = np.arange(lo, lo + len(pmf))
        k = np.clip(n, self.n_min, self.n_max) - self.n_min
        exact = self.exact[k] & (n >= self.n_min) & (n <= self.n_max)
        size = int(self.start[-1] + self.count[-1])
        mass = np.bincount(self.start[k], weights=pmf, minlength=size)   # at block starts
        first = np.unique(self.start)
        counts = np.diff(np.append(first, size))
        per_row = np.repeat(mass[first] / counts, counts)
        return per_row, float(pmf[~exact].sum())


@dataclass
class PileupTables:
    """Alias tables over the zero-bias pool's rows by ⟨μ⟩ grid step (a few kept)."""

    index: ZeroBiasIndex
    cache: dict

    @classmethod
    def new(cls, index: ZeroBiasIndex) -> "PileupTables":
        return cls(index, {})

    def packed(self, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For per-orbit grid steps ``steps`` ``(k,)``: the table of each orbit ``(k,)``, the
        tables' ``prob`` and ``alias`` concatenated ``(T × P,)``, and the probability of a
        substituted n per orbit ``(k,)``."""
        values, which = np.unique(steps, return_inverse=True)
        tables = []
        for v in values.tolist():
            if v not in self.cache:
                if len(self.cache) >= 16:          # a luminosity decay: keep memory bounded
                    self.cache.pop(next(iter(self.cache)))
                w, sub = self.index.row_weights(v * MU_STEP)
                self.cache[v] = (AliasTable.of(w), sub)
            tables.append(self.cache[v])
        sub = np.array([t[1] for t in tables])[which]
        return (which.astype(np.int64), np.concatenate([t[0].prob for t in tables]),
                np.concatenate([t[0].alias for t in tables]), sub)


@numba.njit(cache=True, nogil=True)
def _draw_kernel(g0, n_slots, per_orbit, key, which, prob, alias, size, idx
                 ):  # pragma: no cover (compiled)
    """Zero-bias rows for ``len(which)`` orbits of ``per_orbit`` slots (test helper: the
    stream's loop draws the same way)."""
    for o in range(which.shape[0]):
        start = which[o] * size
        for j in range(per_orbit):
            g = g0 + o * n_slots + j
            idx[o * per_orbit + j] = _alias_draw(_uniform(key, g), prob, alias, start, size)


class Sampler:
    """Zero-bias draws alone, as the stream makes them (for tests and the bench's baseline):
    n ~ Poisson(⟨μ⟩) and a pool crossing with n. Slot ``j`` of orbit ``o`` is BX
    ``o × 3564 + j``."""

    def __init__(self, pool: EventPool, seed: int) -> None:
        self.pool = pool
        self.keys = stream_keys(seed)
        self.index = ZeroBiasIndex.of(pool.n_interactions)
        self.n_min, self.n_max = self.index.n_min, self.index.n_max
        self.tables = PileupTables.new(self.index)
        self.substituted = 0.0          # expected number of draws whose n the pool lacked
        self.drawn = 0

    def draw(self, first_orbit: int, mu_orbit: np.ndarray, per_orbit: int
             ) -> tuple[np.ndarray, np.ndarray]:
        """Pool indices and interaction counts ``(k × per_orbit,)`` for ``per_orbit`` slots of
        orbits ``first_orbit … first_orbit + k − 1`` with ⟨μ⟩ ``mu_orbit`` ``(k,)``."""
        from ..lhc import BX_PER_ORBIT

        k = len(mu_orbit)
        which, prob, alias, sub = self.tables.packed(
            np.rint(np.asarray(mu_orbit, np.float64) / MU_STEP).astype(np.int64))
        idx = np.empty(k * per_orbit, np.int64)
        _draw_kernel(first_orbit * BX_PER_ORBIT, BX_PER_ORBIT, per_orbit, self.keys[2], which,
                     prob, alias, len(self.pool), idx)
        self.substituted += float(sub.sum()) * per_orbit
        self.drawn += len(idx)
        return idx, self.pool.n_interactions[idx]
