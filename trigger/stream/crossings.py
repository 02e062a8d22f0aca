"""The crossings of the 40 MHz stream: pileup per colliding slot and an event from the pool.

:class:`EventPool` holds, for every zero-bias crossing of the input samples, its number of pp
interactions and the menu's unprescaled decisions, packed as bits (``(P, n_words)`` uint64, bit
``j % 64`` of word ``j // 64`` for seed ``j``) — the anomaly seeds' scores come from the
firmware-exact emulator (:mod:`l1t.firmware.deployed`), so a stream decision is a firmware decision.
The pool is evaluated once; the stream then only draws indices.

:class:`MuProfile` gives the mean pileup ⟨μ⟩ over the fill (constant, or piecewise linear in
time, e.g. a luminosity decay). For each colliding slot :func:`draw` takes n ~ Poisson(⟨μ(t)⟩)
and an event of the pool with exactly n interactions (drawn with replacement). The pool is made at
one ⟨μ⟩ with Poisson-distributed n, so this reproduces the pileup distribution of any ⟨μ⟩ whose
Poisson range the pool covers; an n the pool lacks is replaced by the nearest n it has (counted as
``substituted``: keep ⟨μ(t)⟩ near the pool's).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.datasets.formats import read_metadata
from l1t.datasets.production import MAX_PILEUP

from ..evaluate import Evaluator
from ..menu import Menu


@dataclass(frozen=True)
class EventPool:
    """Zero-bias crossings reduced to what the stream needs (see the module docstring)."""

    n_interactions: np.ndarray   # (P,) int64, sorted ascending
    bits: np.ndarray             # (P, n_words) uint64: unprescaled seed decisions
    seeds: tuple[str, ...]
    mean_mu: float               # the productions' ⟨μ⟩
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.n_interactions)

    @property
    def fired(self) -> np.ndarray:
        """Unprescaled decisions ``(P, n_seeds)`` bool."""
        return unpack(self.bits, len(self.seeds))

    @classmethod
    def from_files(cls, menu: Menu, paths: list[Path], step_size: int = 20_000) -> "EventPool":
        """Evaluate ``menu`` on every crossing of zero-bias files (``sample`` minbias, or files
        without l1t metadata); weighted or signal samples are refused: a stream needs crossings
        as the LHC delivers them."""
        if not paths:
            raise L1TInputError("stream", "no input files", "input")
        ev = Evaluator(menu)
        n_all, bits_all, mus = [], [], []
        for path in paths:
            meta = read_metadata(path)
            sample = meta.get("sample")
            if sample not in (None, "minbias"):
                raise L1TInputError(path, f"the stream draws zero-bias crossings; this file "
                                    f"holds {sample!r}", "sample")
            for c in ev.chunks([path], step_size):
                bits_all.append(pack(c.fired()))
                n_all.append(np.asarray(c.events.n_interactions, np.int64))
                mus.append(np.asarray(c.events.mu, np.float64))
        n = np.concatenate(n_all) if n_all else np.zeros(0, np.int64)
        if len(n) == 0:
            raise L1TInputError(paths[0], "no crossings in the inputs")
        order = np.argsort(n, kind="stable")
        return cls(n[order], np.concatenate(bits_all)[order], tuple(menu.names),
                   float(np.concatenate(mus).mean()), tuple(str(p) for p in paths))


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
    flat = np.unpackbits(b.view(np.uint8).reshape(len(b), -1), axis=1, bitorder="little")
    return flat[:, :n_seeds].astype(bool)


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
        except ValueError:
            raise L1TInputError("--mu", f"{text!r} is not MU or T:MU,T:MU,...", "mu") from None

    def at(self, seconds: np.ndarray) -> np.ndarray:
        """⟨μ⟩ at times (s) since the start of the stream."""
        return np.interp(seconds, self.seconds, self.mu)

    @property
    def is_constant(self) -> bool:
        return len(set(self.mu)) == 1


class Sampler:
    """Draws pool events for colliding slots: n ~ Poisson(⟨μ⟩), then a pool event with n."""

    def __init__(self, pool: EventPool, seed: int) -> None:
        self.pool = pool
        self.seed = int(seed)
        n = pool.n_interactions
        self.n_min, self.n_max = int(n[0]), int(n[-1])
        values, starts, counts = np.unique(n, return_index=True, return_counts=True)
        # for every n in [n_min, n_max]: the nearest n the pool has (ties: the lower one)
        grid = np.arange(self.n_min, self.n_max + 1)
        pos = np.argmin(np.abs(grid[:, None] - values[None, :]), axis=1)   # first: the lower
        self._exact = np.isin(grid, values)
        self._start = starts[pos].astype(np.int64)
        self._count = counts[pos].astype(np.int64)
        self.substituted = 0
        self.drawn = 0

    def draw(self, first_orbit: int, mu_orbit: np.ndarray, per_orbit: int
             ) -> tuple[np.ndarray, np.ndarray]:
        """Pool indices and interaction counts ``(k × per_orbit,)`` for the colliding slots of
        orbits ``first_orbit … first_orbit + k − 1`` with ⟨μ⟩ ``mu_orbit`` ``(k,)``.

        Each orbit has its own random stream (seeded by ``(seed, orbit)``), so the result does
        not depend on how the stream is cut into chunks.
        """
        k = len(mu_orbit)
        n = np.empty((k, per_orbit), np.int64)
        u = np.empty((k, per_orbit))
        for i in range(k):                       # one generator per orbit (not per crossing)
            rng = np.random.default_rng([self.seed, first_orbit + i])
            n[i] = rng.poisson(mu_orbit[i], per_orbit)
            u[i] = rng.random(per_orbit)
        n, u = n.ravel(), u.ravel()
        kk = np.clip(n, self.n_min, self.n_max) - self.n_min
        self.substituted += int(np.count_nonzero((n < self.n_min) | (n > self.n_max)
                                                 | ~self._exact[kk]))
        self.drawn += len(n)
        idx = self._start[kk] + (u * self._count[kk]).astype(np.int64)
        return idx, self.pool.n_interactions[idx]
