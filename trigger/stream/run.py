"""The 40 MHz bunch-crossing stream through a fixed-latency trigger pipeline.

Every bunch slot of every orbit (3564 per orbit at 11.2456 kHz, :mod:`l1t.trigger.stream.filling`) is one
step. A colliding slot draws its pileup n ~ Poisson(⟨μ(t)⟩) and a zero-bias crossing with n
interactions from the pool (:mod:`l1t.trigger.stream.crossings`), with the menu's decisions (anomaly scores
firmware-exact); an empty slot carries no collision and fires nothing. Then, BX by BX:

1. **prescales** — per-seed counters over the stream, as in the global trigger
   (:mod:`l1t.trigger.prescale`); the OR of the prescaled seeds is the GT's accept *request*;
2. **pipeline** — the cycle-level timing of the subsystems and the global trigger
   (:mod:`l1t.trigger.stream.pipeline`): an event that a too-slow stage drops never reaches the GT (its
   request is lost there); the latency of every path is measured against the budget;
3. **L1A distribution** — trigger rules and the readout derandomizer (:mod:`l1t.trigger.stream.l1a`):
   accepts, vetoes, deadtime.

Rates are counts per simulated time: ``rate[kHz] = count × 11.2456 / orbits``. With a constant
⟨μ⟩ equal to the pool's, the requested rate of a seed estimates what ``l1t rates`` computes from the
same crossings (N_pass / N × n_bunches × 11.2456 kHz). The simulation runs in chunks of whole
orbits, so memory is bounded whatever the simulated time.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from l1t.core.errors import L1TInputError

from .. import prescale
from .crossings import EventPool, MuProfile, Sampler
from .filling import FillingScheme, nominal_25ns
from .l1a import L1AConfig, L1AResult, L1AState, distribute
from ..menu import Menu
from ..lhc import BX_PER_ORBIT, LHC_REVOLUTION_KHZ

DEFAULT_CHUNK_ORBITS = 256       #: 912,384 BX per step (about 30 MB of working arrays)
DEFAULT_TIMELINE_ORBITS = 3


@dataclass
class Timeline:
    """The first orbits BX by BX, for the timeline plot: ``(n_bx,)`` arrays."""

    colliding: np.ndarray
    n_interactions: np.ndarray   # 0 in empty slots
    requests: np.ndarray
    accepted: np.ndarray
    lost_pipeline: np.ndarray


@dataclass
class StreamResult:
    """What :func:`run_stream` measured (see :meth:`summary`)."""

    menu: Menu
    scheme: FillingScheme
    orbits: int
    n_bx: int
    n_colliding: int
    mean_mu: float
    requested: np.ndarray          # (n_seeds,) prescaled firings, before deadtime
    accepted: np.ndarray           # (n_seeds,) of those, in BX that got an L1A
    total_requests: int
    l1a: L1AResult
    lost_pipeline: int
    lost_pipeline_by_stage: dict[str, int]
    pipeline: dict[str, Any]
    pool: dict[str, Any]
    wall_seconds: float
    timeline: Timeline | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Simulated beam time (s)."""
        return self.orbits / (LHC_REVOLUTION_KHZ * 1e3)

    def rate_khz(self, count: float) -> tuple[float, float]:
        """Rate (kHz) and its Poisson error for ``count`` occurrences over the stream."""
        scale = LHC_REVOLUTION_KHZ / self.orbits
        return count * scale, math.sqrt(count) * scale

    def summary(self) -> dict[str, Any]:
        """JSON-able results: rates per seed and total, deadtime, losses, latency, stages."""
        seeds = []
        for j, s in enumerate(self.menu.seeds):
            req, req_err = self.rate_khz(self.requested[j])
            acc, acc_err = self.rate_khz(self.accepted[j])
            seeds.append({"seed": s.name, "prescale": s.prescale,
                          "requested_khz": req, "requested_err_khz": req_err,
                          "accepted_khz": acc, "accepted_err_khz": acc_err})
        req, req_err = self.rate_khz(self.total_requests)
        acc, acc_err = self.rate_khz(self.l1a.n_accepted)
        l1a = self.l1a.summary()
        return {
            "menu": self.menu.name, "filling_scheme": self.scheme.name,
            "n_bunches": self.scheme.n_bunches, "orbits": self.orbits, "bx": self.n_bx,
            "seconds": self.seconds, "colliding_crossings": self.n_colliding,
            "mean_mu": self.mean_mu, "pool": self.pool, "config": self.config,
            "seeds": seeds,
            "total": {"requested_khz": req, "requested_err_khz": req_err,
                      "accepted_khz": acc, "accepted_err_khz": acc_err,
                      "max_accept_khz": self.pipeline.get("max_accept_khz"),
                      "within_max": (acc <= self.pipeline["max_accept_khz"])
                      if self.pipeline.get("max_accept_khz") else None},
            "deadtime": {"fraction": l1a["deadtime_fraction"],
                         "derandomizer_full_fraction": l1a["full_fraction"],
                         "max_occupancy": l1a["max_occupancy"],
                         "mean_occupancy": l1a["mean_occupancy"]},
            "lost": {"pipeline": self.lost_pipeline,
                     "pipeline_by_stage": self.lost_pipeline_by_stage,
                     "trigger_rules": l1a["vetoed"], "trigger_rules_by_rule": l1a["vetoed_by_rule"],
                     "derandomizer": l1a["lost_derandomizer"]},
            "l1a": l1a, "pipeline": self.pipeline,
            "wall_seconds": self.wall_seconds,
            "beam_seconds_per_wall_second": self.seconds / self.wall_seconds
            if self.wall_seconds else None,
        }


def _seed_bits(n_seeds: int, j_list) -> np.ndarray:
    """uint64 words ``(n_words,)`` with the bits of seeds ``j_list`` set."""
    mask = np.zeros(max((n_seeds + 63) // 64, 1), np.uint64)
    for j in j_list:
        mask[j // 64] |= np.uint64(1) << np.uint64(j % 64)
    return mask


def _bit(words: np.ndarray, j: int) -> np.ndarray:
    """Seed ``j``'s decisions ``(K,) bool`` from packed words ``(K, n_words)``."""
    return ((words[:, j // 64] >> np.uint64(j % 64)) & np.uint64(1)).astype(bool)


def _count_bits(words: np.ndarray, n_seeds: int) -> np.ndarray:
    """How many rows have each seed's bit set, ``(n_seeds,)`` int64."""
    return np.array([np.count_nonzero(_bit(words, j)) for j in range(n_seeds)], np.int64)


def run_stream(menu: Menu, pool: EventPool, pipeline, *, seconds: float | None = None,
               orbits: int | None = None, scheme: FillingScheme | None = None,
               mu: MuProfile | None = None, seed: int = 1,
               chunk_orbits: int = DEFAULT_CHUNK_ORBITS,
               timeline_orbits: int = DEFAULT_TIMELINE_ORBITS, cycle_level: str = "auto",
               progress: bool = False) -> StreamResult:
    """Stream ``seconds`` of beam (or a number of ``orbits``) through ``pipeline``.

    ``pool``: the zero-bias crossings with ``menu``'s decisions (:meth:`EventPool.from_files`);
    ``pipeline``: a :class:`l1t.trigger.stream.pipeline.Pipeline` (stages, paths, budget, L1A settings);
    ``scheme``: the filling scheme (nominal 2808 bunches by default); ``mu``: ⟨μ⟩ over the fill
    (default: constant at the pool's ⟨μ⟩); ``seed``: the random seed of the crossing draws
    (same seed, same result); ``chunk_orbits``: orbits per step (bounds memory);
    ``cycle_level``: ``"all"`` simulates the pipeline cycle by cycle on every BX, ``"auto"`` stops
    after the first chunk when every stage keeps up and nothing was lost (the timing is then
    periodic: see the comment in the loop); the summary says how many BX were simulated.
    """
    from . import pipeline as pipe_mod

    if (seconds is None) == (orbits is None):
        raise L1TInputError("stream", "give either seconds or orbits", "seconds")
    if orbits is None:
        if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
            raise L1TInputError("stream", f"seconds must be > 0, got {seconds!r}", "seconds")
        orbits = max(int(math.ceil(seconds * LHC_REVOLUTION_KHZ * 1e3)), 1)
    if isinstance(orbits, bool) or not isinstance(orbits, (int, np.integer)) or orbits < 1:
        raise L1TInputError("stream", f"orbits must be a positive integer, got {orbits!r}",
                            "orbits")
    if isinstance(chunk_orbits, bool) or not isinstance(chunk_orbits, int) or chunk_orbits < 1:
        raise L1TInputError("stream", f"chunk_orbits must be a positive integer, got "
                            f"{chunk_orbits!r}", "chunk_orbits")
    if cycle_level not in ("auto", "all"):
        raise L1TInputError("stream", f"cycle_level is 'auto' or 'all', got {cycle_level!r}",
                            "cycle_level")
    if tuple(menu.names) != pool.seeds:
        raise ValueError("the pool was evaluated with another menu")
    scheme = scheme or nominal_25ns()
    mu = mu or MuProfile.constant(pool.mean_mu)
    l1a_config = L1AConfig.from_dict(pipeline.l1a, source=str(pipeline.source))
    l1a_state = L1AState.new(l1a_config)
    pipe_state = pipe_mod.SimState.new(pipeline)
    sampler = Sampler(pool, seed)
    n_seeds = len(menu.seeds)
    units = prescale.prescale_units([s.prescale for s in menu.seeds])
    plain = _seed_bits(n_seeds, [j for j in range(n_seeds) if units[j] == 100])
    counted = [j for j in range(n_seeds) if units[j] not in (0, 100)]
    counters = prescale.PrescaleCounters(units[counted])
    requested = np.zeros(n_seeds, np.int64)
    accepted = np.zeros(n_seeds, np.int64)
    l1a_total: L1AResult | None = None
    lost_by_stage: dict[str, int] = {}
    total_requests = lost_pipeline = n_colliding = 0
    mu_sum = 0.0
    timeline_parts: list[tuple] = []
    keeps_up = not pipe_mod.check(pipeline).too_slow
    steady, cycle_bx = False, 0
    t_start = time.perf_counter()

    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, pipes)
    bar = tqdm(total=orbits, desc="stream", unit="orbit",
               disable=None if progress else True)
    for first in range(0, orbits, chunk_orbits):
        k = min(chunk_orbits, orbits - first)
        n_bx = k * BX_PER_ORBIT
        coll = np.tile(scheme.colliding, k)
        t_orbit = (first + np.arange(k)) / (LHC_REVOLUTION_KHZ * 1e3)
        mu_orbit = mu.at(t_orbit)
        idx, n_int = sampler.draw(first, mu_orbit, scheme.n_bunches)
        mu_sum += float(np.sum(mu_orbit)) * scheme.n_bunches
        words = pool.bits[idx]
        kept = words & plain
        if counted:                           # counter-based prescales, in BX order
            keep = counters.apply(np.stack([_bit(words, j) for j in counted], axis=1))
            for i, j in enumerate(counted):
                kept[keep[:, i], j // 64] |= np.uint64(1) << np.uint64(j % 64)
        req_coll = kept.any(axis=1)
        requested += _count_bits(kept, n_seeds)
        requests = np.zeros(n_bx, bool)
        requests[coll] = req_coll
        total_requests += int(np.count_nonzero(req_coll))
        wanted = requests.copy() if first < timeline_orbits else None
        if steady:
            sim = None
        else:
            sim = pipe_mod.simulate(pipeline, n_bx, pipe_state)
            cycle_bx += n_bx
            # A pipeline whose every stage keeps up never queues: no event can be lost and each
            # BX's latency depends only on its clock phase, which repeats every orbit (clocks
            # are multiples of 40 MHz). One chunk of whole orbits without a loss has shown
            # every latency there is, so the rest need not be simulated again ("auto").
            steady = cycle_level == "auto" and keeps_up and pipe_state.n_lost == 0
        if sim is not None and sim.lost.any():
            dropped = requests & sim.lost
            lost_pipeline += int(np.count_nonzero(dropped))
            for s, name in enumerate(sim.stage_names):
                c = int(np.count_nonzero(dropped & (sim.lost_stage == s)))
                if c:
                    lost_by_stage[name] = lost_by_stage.get(name, 0) + c
            requests &= ~sim.lost
        res = distribute(requests, l1a_config, l1a_state)
        acc_coll = res.accepted[coll]
        accepted += _count_bits(kept[acc_coll], n_seeds)
        slim = replace(res, accepted=np.zeros(0, bool))    # memory stays bounded
        l1a_total = slim if l1a_total is None else L1AResult.concat([l1a_total, slim])
        n_colliding += len(idx)
        if first < timeline_orbits:
            m = min(timeline_orbits - first, k) * BX_PER_ORBIT
            nint = np.zeros(n_bx, np.int64)
            nint[coll] = n_int
            timeline_parts.append((coll[:m], nint[:m], wanted[:m], res.accepted[:m],
                                   sim.lost[:m] if sim is not None else np.zeros(m, bool)))
        bar.update(k)
    bar.close()
    wall = time.perf_counter() - t_start
    timeline = None
    if timeline_parts:
        timeline = Timeline(*(np.concatenate(p) for p in zip(*timeline_parts)))
    return StreamResult(
        menu=menu, scheme=scheme, orbits=int(orbits), n_bx=int(orbits) * BX_PER_ORBIT,
        n_colliding=n_colliding, mean_mu=mu_sum / max(n_colliding, 1), requested=requested,
        accepted=accepted, total_requests=total_requests, l1a=l1a_total,
        lost_pipeline=lost_pipeline, lost_pipeline_by_stage=lost_by_stage,
        pipeline=pipe_mod.stream_report(pipeline, pipe_state),
        pool={"crossings": len(pool), "mean_mu": pool.mean_mu,
              "n_interactions_range": [sampler.n_min, sampler.n_max],
              "draws_substituted": sampler.substituted, "sources": list(pool.sources)},
        wall_seconds=wall, timeline=timeline,
        config={"seed": seed, "mu": {"seconds": list(mu.seconds), "mu": list(mu.mu)},
                "l1a": l1a_config.to_dict(), "chunk_orbits": chunk_orbits,
                "cycle_level": cycle_level, "cycle_level_bx": cycle_bx})
