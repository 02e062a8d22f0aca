"""The 40 MHz bunch-crossing stream through a fixed-latency trigger pipeline.

Every bunch slot of every orbit (3564 per orbit at 11.2456 kHz, :mod:`l1t.trigger.stream.filling`)
is one step. A colliding slot becomes a crossing of the mixture ``l1t rates`` measures
(:mod:`l1t.trigger.stream.crossings`: zero-bias with its pileup n ~ Poisson(⟨μ(t)⟩), or with
probability p_hard(⟨μ⟩) a weighted hard-QCD crossing), or with probability F per injected signal
a signal crossing (:mod:`l1t.trigger.stream.injection`), each with the menu's decisions
(anomaly scores firmware-exact); an empty slot carries no collision and fires nothing. Then, BX
by BX:

1. **prescales** — per-seed counters over the stream, as in the global trigger
   (:mod:`l1t.trigger.prescale`); the OR of the prescaled seeds is the GT's accept *request*;
2. **pipeline** — the cycle-level timing of the subsystems and the global trigger
   (:mod:`l1t.trigger.stream.pipeline`): an event that a too-slow stage drops never reaches the
   GT (its request is lost there); the latency of every stage is measured against the budget;
3. **L1A distribution** — trigger rules and the readout derandomizer
   (:mod:`l1t.trigger.stream.l1a`): accepts, vetoes, deadtime.

The draws and the prescales run in one compiled pass per chunk of whole orbits (the draws are
counter-based hashes of the BX number, so nothing depends on the chunking); the pipeline and the
L1A distribution are compiled passes too.
Rates are counts per simulated time: ``rate[kHz] = count × 11.2456 / orbits``. With a constant
⟨μ⟩ equal to the pool's, the requested rate of a seed estimates what ``l1t rates`` computes from
the same inputs. Memory is bounded by one chunk whatever the simulated time; with a checkpoint
file the stream can stop after any complete chunk and resume (:func:`run_stream`).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numba
import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import atomic_write

from .. import prescale
from .crossings import (MU_STEP, AliasTable, EventPool, MuProfile, PileupTables, SignalPool,
                        ZeroBiasIndex, _alias_draw, _uniform, stream_keys, unpack)
from .filling import FillingScheme, nominal_25ns
from .injection import FATES, SignalTally
from .l1a import (FATE_ACCEPTED, FATE_LOST, FATE_NONE, FATE_VETOED, L1AConfig, L1AResult,
                  L1AState, distribute)
from ..menu import Menu
from ..lhc import BX_PER_ORBIT, LHC_REVOLUTION_KHZ

DEFAULT_CHUNK_ORBITS = 256       #: 912,384 BX per step (about 40 MB of working arrays)
DEFAULT_TIMELINE_ORBITS = 3
DEFAULT_CHECKPOINT_SECONDS = 2.0  #: wall time between checkpoints (each after a whole chunk)
CHECKPOINT_FORMAT = "l1t-stream-checkpoint/1"


@dataclass
class Timeline:
    """The first orbits BX by BX, for the timeline plot: ``(n_bx,)`` arrays, and the accepted
    seeds as ``(bx, seed index)`` rows ``(A, 2)``."""

    colliding: np.ndarray
    n_interactions: np.ndarray   # 0 in empty slots
    requests: np.ndarray
    accepted: np.ndarray
    lost_pipeline: np.ndarray
    occupancy: np.ndarray        # derandomizer occupancy at each BX's decision
    seed_accepts: np.ndarray
    depth: int = 0
    seeds: tuple[str, ...] = ()


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
    total_requests: int            # BX with a request (injected signal included)
    l1a: L1AResult
    lost_pipeline: int
    lost_pipeline_by_stage: dict[str, int]
    pipeline: dict[str, Any]
    pool: dict[str, Any]
    wall_seconds: float
    timeline: Timeline | None = None
    config: dict[str, Any] = field(default_factory=dict)
    signals: list[dict] = field(default_factory=list)
    draws: dict[str, int] = field(default_factory=dict)
    signal_requests: int = 0       # of total_requests, injected signal crossings
    signal_accepts: int = 0        # of the L1 accepts, injected signal crossings

    @property
    def seconds(self) -> float:
        """Simulated beam time (s)."""
        return self.orbits / (LHC_REVOLUTION_KHZ * 1e3)

    def rate_khz(self, count: float) -> tuple[float, float]:
        """Rate (kHz) and its Poisson error for ``count`` occurrences over the stream."""
        scale = LHC_REVOLUTION_KHZ / self.orbits
        return count * scale, math.sqrt(count) * scale

    def summary(self) -> dict[str, Any]:
        """JSON-able results: rates per seed and total, deadtime, losses, latency, stages,
        injected signals."""
        seeds = []
        for j, s in enumerate(self.menu.seeds):
            req, req_err = self.rate_khz(self.requested[j])
            acc, acc_err = self.rate_khz(self.accepted[j])
            seeds.append({"seed": s.name, "prescale": s.prescale,
                          "requested_khz": req, "requested_err_khz": req_err,
                          "accepted_khz": acc, "accepted_err_khz": acc_err})
        # per seed and TOTAL: the background crossings (zero-bias and QCD), as l1t rates gives
        # them; the L1 accept rate the readout sees includes the injected signal
        req, req_err = self.rate_khz(self.total_requests - self.signal_requests)
        acc, acc_err = self.rate_khz(self.l1a.n_accepted - self.signal_accepts)
        all_acc, all_err = self.rate_khz(self.l1a.n_accepted)
        sig_acc, _ = self.rate_khz(self.signal_accepts)
        l1a = self.l1a.summary()
        limit = self.pipeline.get("max_accept_khz")
        return {
            "menu": self.menu.name, "filling_scheme": self.scheme.name,
            "n_bunches": self.scheme.n_bunches, "orbits": self.orbits, "bx": self.n_bx,
            "seconds": self.seconds, "colliding_crossings": self.n_colliding,
            "mean_mu": self.mean_mu, "pool": self.pool, "draws": self.draws,
            "config": self.config, "seeds": seeds,
            "total": {"requested_khz": req, "requested_err_khz": req_err,
                      "accepted_khz": acc, "accepted_err_khz": acc_err,
                      "l1a_khz": all_acc, "l1a_err_khz": all_err,
                      "signal_accepted_khz": sig_acc, "max_accept_khz": limit,
                      "within_max": (all_acc <= limit) if limit else None},
            "deadtime": {"fraction": l1a["deadtime_fraction"],
                         "derandomizer_full_fraction": l1a["full_fraction"],
                         "max_occupancy": l1a["max_occupancy"],
                         "mean_occupancy": l1a["mean_occupancy"]},
            "lost": {"pipeline": self.lost_pipeline,
                     "pipeline_by_stage": self.lost_pipeline_by_stage,
                     "trigger_rules": l1a["vetoed"], "trigger_rules_by_rule": l1a["vetoed_by_rule"],
                     "derandomizer": l1a["lost_derandomizer"]},
            "signals": self.signals,
            "l1a": l1a, "pipeline": self.pipeline,
            "wall_seconds": self.wall_seconds,
            "beam_seconds_per_wall_second": self.seconds / self.wall_seconds
            if self.wall_seconds else None,
        }


# --------------------------------------------------------------------------- the compiled pass

@numba.njit(cache=True, nogil=True)
def _crossings_kernel(g0, n_bx, colliding, keys, which, prob, alias, p_hard, zb_bits, zb_n,
                      q_bits, q_n, q_prob, q_alias, s_bits, s_n, s_off, fraction, plain, counted,
                      c_units, counted_mask, counters, requests, req_pos, req_words, sig_pos,
                      sig_which, sig_row, sig_words, nint, stats):  # pragma: no cover (compiled)
    """Draw the crossing of every colliding slot of ``n_bx`` BX (whole orbits from global BX
    ``g0``), apply the prescale counters and set ``requests``; record the requesting BX
    (``req_pos``, their prescaled words ``req_words``) and the injected signal BX (``sig_*``);
    ``nint`` (when it has rows) the interactions of the first BX. ``stats``: requests,
    signal BX, (unused), zero-bias, QCD and signal draws."""
    n_words = zb_bits.shape[1]
    n_sig = s_off.shape[0] - 1
    n_counted = counted.shape[0]
    n_q = q_prob.shape[0]
    n_p = zb_bits.shape[0]
    k_sig, k_hard, k_zb, k_row = keys[0], keys[1], keys[2], keys[3]
    n_time = nint.shape[0]
    kept = np.zeros(n_words, np.uint64)
    one = np.uint64(1)
    nr = 0
    ns = 0
    n_zb = 0
    n_qcd = 0
    n_signal = 0
    n_slots = colliding.shape[0]
    slots = np.flatnonzero(colliding)
    for i in range(n_bx):                    # empty slots: no collision, no request
        requests[i] = False
    for i in range(n_time):
        nint[i] = 0
    for orbit in range(n_bx // n_slots):
        for c in range(slots.shape[0]):
            i = orbit * n_slots + slots[c]
            g = g0 + i
            kind = 0                                  # 0 zero-bias, 1 QCD, 2 signal
            row = 0
            which_sig = -1
            if n_sig > 0:
                u = _uniform(k_sig, g)
                if u < fraction * n_sig:
                    which_sig = min(np.int64(u / fraction), n_sig - 1)
                    size = s_off[which_sig + 1] - s_off[which_sig]
                    row = s_off[which_sig] + min(np.int64(_uniform(k_row, g) * size), size - 1)
                    kind = 2
            if kind == 0 and n_q > 0 and _uniform(k_hard, g) < p_hard[orbit]:
                row = _alias_draw(_uniform(k_row, g), q_prob, q_alias, 0, n_q)
                kind = 1
            if kind == 0:
                row = _alias_draw(_uniform(k_zb, g), prob, alias, which[orbit] * n_p, n_p)
                n_zb += 1
            elif kind == 1:
                n_qcd += 1
            else:
                n_signal += 1
            any_kept = np.uint64(0)
            for w in range(n_words):
                if kind == 0:
                    bits = zb_bits[row, w]
                elif kind == 1:
                    bits = q_bits[row, w]
                else:
                    bits = s_bits[row, w]
                kept[w] = bits & plain[w]
                any_kept |= bits & counted_mask[w]
            if any_kept != 0:                        # a counted (prescaled) seed fired
                for c in range(n_counted):
                    j = counted[c]
                    if kind == 0:
                        bits = zb_bits[row, j >> 6]
                    elif kind == 1:
                        bits = q_bits[row, j >> 6]
                    else:
                        bits = s_bits[row, j >> 6]
                    if (bits >> np.uint64(j & 63)) & one:
                        counters[c] += 1
                        k = counters[c]
                        if (k * 100) // c_units[c] > ((k - 1) * 100) // c_units[c]:
                            kept[j >> 6] |= one << np.uint64(j & 63)
            req = False
            for w in range(n_words):
                if kept[w] != 0:
                    req = True
            requests[i] = req
            if req:
                req_pos[nr] = i
                for w in range(n_words):
                    req_words[nr, w] = kept[w]
                nr += 1
            if kind == 2:
                sig_pos[ns] = i
                sig_which[ns] = which_sig
                sig_row[ns] = row
                for w in range(n_words):
                    sig_words[ns, w] = kept[w]
                ns += 1
            if i < n_time:
                nint[i] = zb_n[row] if kind == 0 else (q_n[row] if kind == 1 else s_n[row])
    stats[0] += nr
    stats[1] += ns
    stats[3] += n_zb
    stats[4] += n_qcd
    stats[5] += n_signal


def _count_bits(words: np.ndarray, n_seeds: int) -> np.ndarray:
    """How many rows have each seed's bit set, ``(n_seeds,)`` int64."""
    if len(words) == 0:
        return np.zeros(n_seeds, np.int64)
    return unpack(words, n_seeds).sum(axis=0).astype(np.int64)


# --------------------------------------------------------------------------- accumulated state

@dataclass
class _Totals:
    """Everything a stream accumulates (and a checkpoint holds)."""

    n_seeds: int
    orbit: int = 0
    requested: np.ndarray = None        # type: ignore[assignment]
    accepted: np.ndarray = None         # type: ignore[assignment]
    counters: np.ndarray = None         # type: ignore[assignment]  prescale counters
    total_requests: int = 0
    signal_requests: int = 0
    signal_accepts: int = 0
    lost_pipeline: int = 0
    lost_by_stage: dict = field(default_factory=dict)
    n_colliding: int = 0
    mu_sum: int = 0                     # Σ ⟨μ⟩ over colliding slots, in grid steps
    draws: np.ndarray = None            # type: ignore[assignment]  stats of the kernel
    l1a: L1AResult | None = None
    steady: bool = False
    cycle_bx: int = 0
    wall: float = 0.0
    substituted: float = 0.0
    timeline: list = field(default_factory=list)

    def __post_init__(self):
        if self.requested is None:
            self.requested = np.zeros(self.n_seeds, np.int64)
            self.accepted = np.zeros(self.n_seeds, np.int64)
            self.draws = np.zeros(6, np.int64)


def _fingerprint(menu: Menu, pool: EventPool, signals, fraction, pipeline, seed, mu, scheme,
                 l1a: L1AConfig, cycle_level: str, timeline_orbits: int) -> str:
    """What a checkpoint must match to be resumed (everything but the length of the stream)."""
    from .pipeline.simulate import _key

    h = hashlib.sha256()
    h.update(json.dumps([[s.name, s.prescale] for s in menu.seeds]).encode())
    h.update(pool.fingerprint().encode())
    for s in signals:
        h.update(s.fingerprint().encode())
    h.update(repr((fraction, _key(pipeline), int(seed), mu.seconds, mu.mu, l1a.to_dict(),
                   cycle_level, timeline_orbits)).encode())
    h.update(np.asarray(scheme.colliding).tobytes())
    return h.hexdigest()


def _save(path: Path, key: str, totals: _Totals, l1a_state: L1AState, pipe_state, tallies
          ) -> None:
    """The stream's state after a complete chunk, written atomically (``.npz``)."""
    arrays: dict[str, np.ndarray] = {
        "requested": totals.requested, "accepted": totals.accepted, "draws": totals.draws,
        "counters": totals.counters, "l1a_ring": l1a_state.ring, "l1a_regs": l1a_state.regs}
    r = totals.l1a
    if r is not None:
        arrays.update(l1a_vetoed=r.vetoed_by_rule, l1a_hist=r.occupancy_hist)
    if pipe_state is not None:
        arrays.update({f"pipe_{k}": v for k, v in pipe_state.arrays().items()})
    for i, t in enumerate(tallies):
        arrays.update({f"signal{i}_{k}": v for k, v in t.arrays().items()})
    for i, part in enumerate(totals.timeline):
        arrays.update({f"timeline{i}_{k}": v for k, v in enumerate(part)})
    meta = {"format": CHECKPOINT_FORMAT, "key": key, "orbit": totals.orbit,
            "total_requests": totals.total_requests, "lost_pipeline": totals.lost_pipeline,
            "signal_requests": totals.signal_requests, "signal_accepts": totals.signal_accepts,
            "lost_by_stage": totals.lost_by_stage, "n_colliding": totals.n_colliding,
            "mu_sum": totals.mu_sum, "steady": totals.steady, "cycle_bx": totals.cycle_bx,
            "wall": totals.wall, "substituted": totals.substituted, "timeline_parts": len(totals.timeline),
            "timeline_fields": len(totals.timeline[0]) if totals.timeline else 0,
            "l1a": None if r is None else [r.n_bx, r.requests, r.n_accepted,
                                           r.lost_derandomizer]}
    arrays["meta"] = np.array(json.dumps(meta))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)


def _load(path: Path, key: str, totals: _Totals, l1a_state: L1AState, pipeline, tallies,
          config: L1AConfig):
    """Restore a checkpoint into ``totals``, ``l1a_state`` and ``tallies``; returns the
    pipeline state (or None). Refuses another stream's checkpoint."""
    from .pipeline import SimState

    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError) as err:
        raise L1TInputError(path, f"not a stream checkpoint ({err})", "checkpoint") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise L1TInputError(path, f"not a stream checkpoint (format {meta.get('format')!r})",
                            "checkpoint")
    if meta["key"] != key:
        raise L1TInputError(path, "the checkpoint belongs to another stream (menu, inputs, "
                            "pipeline, seed, <mu>, filling scheme or signals differ); start "
                            "over without --resume", "checkpoint")
    totals.orbit = int(meta["orbit"])
    totals.requested, totals.accepted = data["requested"], data["accepted"]
    totals.draws, totals.counters = data["draws"], data["counters"]
    for k in ("total_requests", "signal_requests", "signal_accepts", "lost_pipeline",
              "n_colliding", "cycle_bx"):
        setattr(totals, k, int(meta[k]))
    totals.substituted = float(meta["substituted"])
    totals.lost_by_stage = {k: int(v) for k, v in meta["lost_by_stage"].items()}
    totals.mu_sum, totals.wall = int(meta["mu_sum"]), float(meta["wall"])
    totals.steady = bool(meta["steady"])
    l1a_state.ring[:] = data["l1a_ring"]
    l1a_state.regs[:] = data["l1a_regs"]
    if meta["l1a"] is not None:
        n_bx, req, acc, lost = meta["l1a"]
        totals.l1a = L1AResult(config.rules, config.depth, int(n_bx), int(req), int(acc),
                               data["l1a_vetoed"], int(lost), data["l1a_hist"],
                               np.zeros(0, bool))
    for i, t in enumerate(tallies):
        prefix = f"signal{i}_"
        t.restore({k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)})
    totals.timeline = [tuple(data[f"timeline{i}_{k}"] for k in range(meta["timeline_fields"]))
                       for i in range(meta["timeline_parts"])]
    if any(k.startswith("pipe_") for k in data):
        return SimState.from_arrays(pipeline, {k[5:]: v for k, v in data.items()
                                               if k.startswith("pipe_")})
    return None


# --------------------------------------------------------------------------- the stream

def run_stream(menu: Menu, pool: EventPool, pipeline, *, seconds: float | None = None,
               orbits: int | None = None, scheme: FillingScheme | None = None,
               mu: MuProfile | None = None, seed: int = 1,
               signals: list[SignalPool] | tuple = (), signal_fraction: float = 0.0,
               chunk_orbits: int = DEFAULT_CHUNK_ORBITS,
               timeline_orbits: int = DEFAULT_TIMELINE_ORBITS, cycle_level: str = "auto",
               checkpoint: str | Path | None = None, resume: bool = False,
               checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS,
               progress: bool = False) -> StreamResult:
    """Stream ``seconds`` of beam (or a number of ``orbits``) through ``pipeline``.

    ``pool``: the crossings with ``menu``'s decisions (:meth:`EventPool.from_files`: zero-bias,
    and the QCD tail if given); ``pipeline``: a :class:`l1t.trigger.stream.pipeline.Pipeline`
    (stages, graph, budget, L1A settings); ``scheme``: the filling scheme (nominal 2808 bunches by
    default); ``mu``: ⟨μ⟩ over the fill (default: constant at the pool's ⟨μ⟩); ``seed``: the
    random seed of the draws (same seed, same result); ``signals``: signal pools injected, each
    at a fraction ``signal_fraction`` of the colliding slots; ``chunk_orbits``: orbits per step
    (bounds memory); ``cycle_level``: ``"all"`` simulates the pipeline cycle by cycle on every
    BX, ``"auto"`` stops after the first chunk when every stage keeps up and nothing was lost
    (the timing is then periodic: see the comment in the loop); the summary says how many BX
    were simulated. ``checkpoint``: a file the state is written to after a complete chunk (at
    most every ``checkpoint_seconds`` of wall time, and at the end); with ``resume`` a stream
    continues from it (refused if it belongs to another stream; a longer stream extends it).
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
    orbits = int(orbits)
    if isinstance(chunk_orbits, bool) or not isinstance(chunk_orbits, int) or chunk_orbits < 1:
        raise L1TInputError("stream", f"chunk_orbits must be a positive integer, got "
                            f"{chunk_orbits!r}", "chunk_orbits")
    if cycle_level not in ("auto", "all"):
        raise L1TInputError("stream", f"cycle_level is 'auto' or 'all', got {cycle_level!r}",
                            "cycle_level")
    signals = list(signals)
    if not (isinstance(signal_fraction, (int, float)) and math.isfinite(signal_fraction)
            and 0 <= signal_fraction and signal_fraction * len(signals) <= 1):
        raise L1TInputError("--signal-fraction", f"each signal takes a fraction of the colliding "
                            f"slots, together at most 1; got {signal_fraction!r} for "
                            f"{len(signals)} signal(s)", "signal_fraction")
    if signals and signal_fraction <= 0:
        raise L1TInputError("--signal-fraction", "give the fraction of colliding slots to inject "
                            "the signal into (> 0)", "signal_fraction")
    if tuple(menu.names) != pool.seeds:
        raise ValueError("the pool was evaluated with another menu")
    scheme = scheme or nominal_25ns()
    mu = mu or MuProfile.constant(pool.mean_mu)
    l1a_config = L1AConfig.from_dict(pipeline.l1a, source=str(pipeline.source))
    l1a_state = L1AState.new(l1a_config)
    n_seeds = len(menu.seeds)
    n_words = pool.bits.shape[1]
    units = prescale.prescale_units([s.prescale for s in menu.seeds])
    counted = np.array([j for j in range(n_seeds) if units[j] not in (0, 100)], np.int64)

    def mask(js) -> np.ndarray:
        m = np.zeros(n_words, np.uint64)
        for j in js:
            m[j // 64] |= np.uint64(1) << np.uint64(j % 64)
        return m

    plain = mask([j for j in range(n_seeds) if units[j] == 100])
    counted_mask = mask(counted)
    positions = scheme.positions()
    tallies = [SignalTally(s.name, n_seeds, int(positions.max())) for s in signals]
    totals = _Totals(n_seeds, counters=np.zeros(len(counted), np.int64))
    key = _fingerprint(menu, pool, signals, signal_fraction, pipeline, seed, mu, scheme,
                       l1a_config, cycle_level, timeline_orbits)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    pipe_state = None
    if resume and checkpoint is not None and checkpoint.exists():
        pipe_state = _load(checkpoint, key, totals, l1a_state, pipeline, tallies, l1a_config)
        if totals.orbit > orbits:
            raise L1TInputError(checkpoint, f"the checkpoint is at orbit {totals.orbit}, past "
                                f"the {orbits} orbits asked for", "orbits")
    if pipe_state is None and not totals.steady:
        pipe_state = pipe_mod.SimState.new(pipeline)
    keeps_up = not pipe_mod.check(pipeline).too_slow

    # the draws' fixed inputs
    zi = ZeroBiasIndex.of(pool.n_interactions)
    keys = stream_keys(seed)
    tables = PileupTables.new(zi)
    tail = pool.tail
    empty_words = np.zeros((0, n_words), np.uint64)
    if tail is not None:
        q_table = AliasTable.of(tail.weights)
        q_bits, q_n, q_prob, q_alias = tail.bits, tail.n_interactions, q_table.prob, q_table.alias
    else:
        q_bits, q_n = empty_words, np.zeros(0, np.int64)
        q_prob, q_alias = np.zeros(0), np.zeros(0, np.int64)
    if signals:
        s_bits = np.concatenate([s.bits for s in signals])
        s_n = np.concatenate([s.n_interactions for s in signals])
        s_w = np.concatenate([s.weights for s in signals])
        s_off = np.concatenate([[0], np.cumsum([len(s) for s in signals])]).astype(np.int64)
    else:
        s_bits, s_n, s_w = empty_words, np.zeros(0, np.int64), np.zeros(0)
        s_off = np.zeros(1, np.int64)
    cap = min(chunk_orbits, orbits) * BX_PER_ORBIT
    requests = np.empty(cap, np.bool_)
    req_pos = np.empty(cap, np.int64)
    req_words = np.empty((cap, n_words), np.uint64)
    sig_cap = cap if signals else 0
    sig_pos, sig_which, sig_row = (np.empty(sig_cap, np.int64) for _ in range(3))
    sig_words = np.empty((sig_cap, n_words), np.uint64)
    fate_of = np.empty(4, np.int64)                 # l1a FATE_* → injection.FATES index
    for code, name in ((FATE_NONE, "not_requested"), (FATE_ACCEPTED, "accepted"),
                       (FATE_VETOED, "vetoed_rule"), (FATE_LOST, "lost_derandomizer")):
        fate_of[code] = FATES.index(name)

    from tqdm import tqdm

    t_start = time.perf_counter()
    wall_before = totals.wall
    last_save = t_start
    # disable=None: no bar when stderr is not a terminal (logs, pipes)
    bar = tqdm(total=orbits, initial=totals.orbit, desc="stream", unit="orbit", unit_scale=True,
               disable=None if progress else True)
    while totals.orbit < orbits:
        first = totals.orbit
        k = min(chunk_orbits, orbits - first)
        n_bx = k * BX_PER_ORBIT
        t_orbit = (first + np.arange(k)) / (LHC_REVOLUTION_KHZ * 1e3)
        steps = mu.on_grid(t_orbit)
        which, prob, alias, p_sub = tables.packed(steps)
        mu_orbit = steps * MU_STEP
        p_hard = tail.p_hard(mu_orbit) if tail is not None else np.zeros(k)
        in_timeline = first < timeline_orbits
        m = min(timeline_orbits - first, k) * BX_PER_ORBIT if in_timeline else 0
        nint = np.empty(m, np.int32)
        stats = np.zeros(6, np.int64)
        _crossings_kernel(first * BX_PER_ORBIT, n_bx, scheme.colliding, keys, which, prob,
                          alias, p_hard, pool.bits, pool.n_interactions, q_bits, q_n, q_prob,
                          q_alias, s_bits, s_n, s_off, float(signal_fraction), plain, counted,
                          units[counted], counted_mask, totals.counters, requests, req_pos, req_words, sig_pos,
                          sig_which, sig_row, sig_words, nint, stats)
        nr, ns = int(stats[0]), int(stats[1])
        totals.draws += stats
        # expected zero-bias draws whose n the pool lacked (their share went to the nearest n)
        zb_share = (1.0 - p_hard) * (1.0 - float(signal_fraction) * len(signals))
        totals.substituted += float(np.sum(p_sub * zb_share)) * scheme.n_bunches
        reqs = requests[:n_bx]
        kept = req_words[:nr]
        totals.requested += _count_bits(kept, n_seeds)
        totals.total_requests += nr
        totals.mu_sum += int(np.sum(steps)) * scheme.n_bunches   # exact: grid steps
        totals.n_colliding += k * scheme.n_bunches
        wanted = reqs[:m].copy()
        sim = None
        if not totals.steady:
            sim = pipe_mod.simulate(pipeline, n_bx, pipe_state, latencies=False)
            totals.cycle_bx += n_bx
            # A pipeline whose every stage keeps up never queues: no event can be lost and each
            # BX's latency depends only on its clock phase, which repeats every orbit (clocks
            # are multiples of 40 MHz). One chunk of whole orbits without a loss has shown
            # every latency there is, so the rest need not be simulated again ("auto").
            totals.steady = cycle_level == "auto" and keeps_up and pipe_state.n_lost == 0
        lost = sim.lost if sim is not None and sim.lost.any() else None
        if lost is not None:
            dropped = reqs & lost
            totals.lost_pipeline += int(np.count_nonzero(dropped))
            where = sim.lost_stage[dropped]
            for s, c in zip(*np.unique(where, return_counts=True)):
                name = sim.stage_names[s]
                totals.lost_by_stage[name] = totals.lost_by_stage.get(name, 0) + int(c)
            reqs &= ~lost
        res = distribute(reqs, l1a_config, l1a_state, detail=bool(m or ns))
        acc = res.accepted
        totals.accepted += _count_bits(kept[acc[req_pos[:nr]]], n_seeds)
        if ns:
            pos = sig_pos[:ns]
            # the seeds' rates are the background's (as l1t rates gives them): take the
            # injected crossings out; the L1A counts keep them (they took readout time)
            totals.requested -= _count_bits(sig_words[:ns], n_seeds)
            totals.accepted -= _count_bits(sig_words[:ns][acc[pos]], n_seeds)
            totals.signal_requests += int(np.count_nonzero(sig_words[:ns].any(axis=1)))
            totals.signal_accepts += int(np.count_nonzero(acc[pos]))
            fate = fate_of[res.fate[pos]]                 # accepted, not requested, ...
            if lost is not None:                            # requested, lost in the pipeline
                fate = np.where(lost[pos] & sig_words[:ns].any(axis=1),
                                FATES.index("lost_pipeline"), fate)
            for i, t in enumerate(tallies):
                sel = sig_which[:ns] == i
                t.add(s_w[sig_row[:ns][sel]], sig_words[:ns][sel], fate[sel],
                      positions[pos[sel] % BX_PER_ORBIT])
        slim = replace(res, accepted=np.zeros(0, bool), occupancy=None, fate=None)
        totals.l1a = slim if totals.l1a is None else L1AResult.concat([totals.l1a, slim])
        if m:
            coll = np.tile(scheme.colliding, m // BX_PER_ORBIT)
            rows = np.flatnonzero(acc[req_pos[:nr]] & (req_pos[:nr] < m))
            hits = np.argwhere(unpack(kept[rows], n_seeds))
            seed_acc = np.stack([req_pos[:nr][rows][hits[:, 0]] + first * BX_PER_ORBIT,
                                 hits[:, 1]], axis=1) if len(hits) else np.zeros((0, 2), np.int64)
            totals.timeline.append((coll, nint, wanted, acc[:m].copy(),
                                    lost[:m].copy() if lost is not None else np.zeros(m, bool),
                                    res.occupancy[:m].copy(), seed_acc.astype(np.int64)))
        totals.orbit = first + k
        bar.update(k)
        now = time.perf_counter()
        totals.wall = wall_before + now - t_start
        if checkpoint is not None and (now - last_save >= checkpoint_seconds
                                       or totals.orbit == orbits):
            _save(checkpoint, key, totals, l1a_state, pipe_state, tallies)
            last_save = now
    bar.close()
    if pipe_state is None:          # resumed after the cycle-level part: report the timing
        pipe_state = pipe_mod.SimState.new(pipeline)
        pipe_mod.simulate(pipeline, BX_PER_ORBIT, pipe_state, events=False)
    timeline = None
    if totals.timeline:
        parts = list(zip(*totals.timeline))
        timeline = Timeline(*(np.concatenate(p) for p in parts), depth=l1a_config.depth,
                            seeds=tuple(menu.names))
    d = totals.draws
    return StreamResult(
        menu=menu, scheme=scheme, orbits=orbits, n_bx=orbits * BX_PER_ORBIT,
        n_colliding=totals.n_colliding,
        mean_mu=totals.mu_sum * MU_STEP / max(totals.n_colliding, 1),
        requested=totals.requested, accepted=totals.accepted,
        total_requests=totals.total_requests, l1a=totals.l1a,
        signal_requests=totals.signal_requests, signal_accepts=totals.signal_accepts,
        lost_pipeline=totals.lost_pipeline, lost_pipeline_by_stage=totals.lost_by_stage,
        pipeline=pipe_mod.stream_report(pipeline, pipe_state),
        pool={**pool.summary(), "n_interactions_range": [zi.n_min, zi.n_max],
              "draws_substituted": round(totals.substituted, 1)},
        wall_seconds=totals.wall, timeline=timeline,
        config={"seed": seed, "mu": {"seconds": list(mu.seconds), "mu": list(mu.mu),
                                     "grid": MU_STEP},
                "l1a": l1a_config.to_dict(), "chunk_orbits": chunk_orbits,
                "cycle_level": cycle_level, "cycle_level_bx": totals.cycle_bx,
                "signal_fraction": signal_fraction,
                "checkpoint": str(checkpoint) if checkpoint is not None else None},
        signals=[t.summary(s, list(menu.names), signal_fraction)
                 for t, s in zip(tallies, signals)],
        draws={"zero_bias": int(d[3]), "qcd": int(d[4]), "signal": int(d[5])})
