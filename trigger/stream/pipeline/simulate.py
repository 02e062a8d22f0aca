"""Cycle-level simulation of a pipeline graph: every BX through every stage once, in topological
order (one compiled pass), streamed in chunks with a carried :class:`SimState`."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numba
import numpy as np

from ...lhc import BX_PER_ORBIT
from .check import _timebase, _Timebase, check
from .config import Pipeline

_FAR_PAST = -(2**62)


# --------------------------------------------------------------------------- cycle-level sim

@numba.njit(cache=True, inline="always")
def _edge(t, p, inv):  # pragma: no cover (compiled)
    """The first multiple of ``p`` at or after ``t`` (integers; ``inv`` = 1 / p): ceil(t / p) =
    floor((t − 1) / p) + 1, the quotient guessed in floating point and corrected exactly (the
    guess is off by at most one below 2^53 ticks)."""
    m = t - 1
    q = np.int64(m * inv)
    rem = m - q * p
    q += np.int64(rem >= p) - np.int64(rem < 0)
    return (q + 1) * p


@numba.njit(cache=True, nogil=True)
def _graph_kernel(bx0, n, bx_ticks, order, in_ptr, in_idx, period, ii_ticks, lat_ticks, link,
                  tmux, depth, last_start, ring, head, fill, accepted, lost_n, max_fill,
                  ready_n, ready_sum, ready_min, ready_max, critical, times, first_lost,
                  t_in, crit):  # pragma: no cover (compiled)
    """Run BX ``bx0 .. bx0+n-1`` through the stages (arrays indexed by stage; ``order`` the
    topological processing order; the inputs of stage ``s`` are ``in_idx[in_ptr[s]:in_ptr[s+1]]``).

    Stage after stage (inputs first), each over the BX of the block in BX order: exact, since a
    board's state depends only on earlier BX of its own stage and an event's arrival only on
    stages already done. Per stage three passes: the arrival of every BX (the latest input plus
    the link; −1 if an input lost it; independent per BX, so the compiler vectorises it); the
    clock edges and the boards in BX order (busy, buffer, loss: the sequential part); the
    statistics of the outputs (vectorised). Per board (stage s, board k):
    ``last_start[s, k]`` the last start, ``ring``/``head``/``fill`` the starts of its last
    ``depth[s]`` accepted events (increasing), updated in place. Per stage: events taken and
    lost, fullest buffer, output time after the BX (count, sum, min, max in ticks); per input
    edge: how often it arrived last (``critical``; ties: the first listed). Out: ``times[s, i]``
    the absolute output time of BX ``bx0 + i`` at stage ``s`` (−1: lost there or upstream),
    ``first_lost[i]`` the lowest stage index that lost it (−1: none). ``t_in``, ``crit``:
    scratch of the block's length.
    """
    n_order = order.shape[0]
    for i in range(n):
        first_lost[i] = -1
    for j in range(n_order):
        s = order[j]
        lo = in_ptr[s]
        hi = in_ptr[s + 1]
        p = period[s]
        inv = 1.0 / p
        ii = ii_ticks[s]
        lat = lat_ticks[s]
        lk = link[s]
        tm = tmux[s]
        d = depth[s]
        out = times[s]
        # pass 1: the arrival of every BX: the latest input + link (−1 if an input lost it)
        if lo == hi:
            for i in range(n):
                t_in[i] = (bx0 + i) * bx_ticks + lk
        else:
            src = times[in_idx[lo]]
            for i in range(n):
                t_in[i] = src[i]
                crit[i] = 0
            for e in range(lo + 1, hi):
                other = times[in_idx[e]]
                c_e = e - lo
                for i in range(n):
                    u = other[i]
                    a = t_in[i]
                    later = u > a
                    crit[i] = c_e if later else crit[i]
                    t_in[i] = -1 if (u < 0 or a < 0) else (u if later else a)
            for e in range(lo, hi):
                c_e = e - lo
                cnt = 0
                for i in range(n):
                    cnt += (crit[i] == c_e) & (t_in[i] >= 0)
                critical[e] += cnt
            for i in range(n):
                t_in[i] = t_in[i] + lk if t_in[i] >= 0 else -1
        # pass 2: every BX in order: the first clock edge at or after its arrival t (t − 1 − r + p
        # with r = (t − 1) mod p: arrivals usually come one BX apart, and then r advances by
        # bx mod p in exact integers; otherwise it comes from _edge), then its board
        bxm = bx_ticks % p
        prev = -1
        rem = 0
        k = bx0 % tm
        fmax = max_fill[s]
        n_lost = 0
        n_ok = 0
        total = 0
        r_lo = ready_min[s]
        r_hi = ready_max[s]
        board = last_start[s]
        for i in range(n):
            t = t_in[i]
            if t < 0:                               # an input lost it: it never arrives
                out[i] = -1
            else:
                if prev >= 0 and t - prev == bx_ticks:
                    rem += bxm
                    if rem >= p:
                        rem -= p
                else:
                    rem = t - 1 + p - _edge(t, p, inv)
                start = t - 1 - rem + p
                last = board[k]
                if d == 1 and last <= t and start >= last + ii:
                    # the usual case: the board is free, the event starts at the edge (kept
                    # apart so that nothing here waits on the previous event's numbers)
                    fmax = max(fmax, np.int64(start > t))
                    board[k] = start
                    out[i] = start + lat
                else:
                    # events of this board ahead in BX order and not yet started (starts
                    # increase); with a one-event buffer that is the last one, at last_start
                    if d == 1:
                        waiting = 1 if last > t else 0
                    else:
                        waiting = 0
                        h = head[s, k]
                        for _ in range(fill[s, k]):
                            h -= 1
                            if h < 0:
                                h += d
                            if ring[s, k, h] > t:
                                waiting += 1
                            else:
                                break
                    if waiting >= d:
                        n_lost += 1
                        out[i] = -1
                        if first_lost[i] < 0 or s < first_lost[i]:
                            first_lost[i] = s
                    else:
                        if start < last + ii:           # the board is still busy: wait
                            start = _edge(last + ii, p, inv)
                        fmax = max(fmax, waiting + 1 if start > t else waiting)
                        board[k] = start
                        if d > 1:
                            hh = head[s, k]
                            ring[s, k, hh] = start
                            hh += 1
                            head[s, k] = 0 if hh == d else hh
                            if fill[s, k] < d:
                                fill[s, k] += 1
                        out[i] = start + lat
            prev = t
            k += 1
            if k == tm:
                k = 0
        # pass 3: the output times after the BX
        t0 = bx0 * bx_ticks
        for i in range(n):
            done = out[i]
            ok = done >= 0
            r = done - (t0 + i * bx_ticks)
            n_ok += ok
            total += r if ok else 0
            r_lo = min(r_lo, r) if ok else r_lo
            r_hi = max(r_hi, r) if ok else r_hi
        accepted[s] += n_ok
        ready_n[s] += n_ok
        ready_sum[s] += total
        ready_min[s] = r_lo
        ready_max[s] = r_hi
        max_fill[s] = fmax
        lost_n[s] += n_lost


@numba.njit(cache=True, nogil=True)
def _run_blocks(bx0, n_bx, block, bx_ticks, order, in_ptr, in_idx, period, ii_ticks, lat_ticks,
                link, tmux, depth, last_start, ring, head, fill, accepted, lost_n, max_fill,
                ready_n, ready_sum, ready_min, ready_max, critical, sink, out_l1a, out_lost,
                out_ready):  # pragma: no cover (compiled)
    """:func:`_graph_kernel` over ``n_bx`` BX in blocks of ``block`` (the per-stage times of a
    block stay in cache); the per-BX outputs when their arrays have ``n_bx`` rows: the L1 accept
    after the BX in ticks (−1: lost), the first stage that lost it, every stage's output time
    after the BX (−1: not processed)."""
    n_stages = period.shape[0]
    size = min(block, n_bx)
    times = np.empty((n_stages, size), np.int64)
    first = np.empty(size, np.int64)
    t_in = np.empty(size, np.int64)
    crit = np.empty(size, np.int64)
    events = out_l1a.shape[0] > 0
    stage_times = out_ready.shape[1] > 0
    for b0 in range(0, n_bx, block):
        n = min(n_bx - b0, block)
        _graph_kernel(bx0 + b0, n, bx_ticks, order, in_ptr, in_idx, period, ii_ticks, lat_ticks,
                      link, tmux, depth, last_start, ring, head, fill, accepted, lost_n,
                      max_fill, ready_n, ready_sum, ready_min, ready_max, critical, times, first,
                      t_in, crit)
        if events or stage_times:
            for i in range(n):
                t0 = (bx0 + b0 + i) * bx_ticks
                if events:
                    done = times[sink, i]
                    out_l1a[b0 + i] = done - t0 if done >= 0 else -1
                    out_lost[b0 + i] = first[i]
                if stage_times:
                    for s in range(n_stages):
                        done = times[s, i]
                        out_ready[s, b0 + i] = done - t0 if done >= 0 else -1


@dataclass
class SimState:
    """What a chunk carries to the next: the next BX, every board's recent starts, the totals
    (arrays over the pipeline's stages, in ``stage_names`` order)."""

    next_bx: int
    key: tuple
    last_start: np.ndarray   # (S, T) int64
    ring: np.ndarray         # (S, T, D) int64
    head: np.ndarray         # (S, T) int64
    fill: np.ndarray         # (S, T) int64
    accepted: np.ndarray     # (S,) int64: events started
    lost: np.ndarray         # (S,) int64: events lost at the stage
    max_fill: np.ndarray     # (S,) int64
    ready_n: np.ndarray      # (S,) int64: events out of the stage
    ready_sum: list          # (S,) Python ints: Σ output time after the BX, ticks
    ready_min: np.ndarray    # (S,) int64 ticks
    ready_max: np.ndarray    # (S,) int64 ticks
    critical: np.ndarray     # (E,) int64: per input edge, BX it arrived last
    sink: int = -1           # the L1 accept stage's index

    @classmethod
    def new(cls, pipeline: Pipeline) -> "SimState":
        """Empty boards at BX 0 (what :func:`simulate` starts from without a state)."""
        return _new_state(pipeline)

    @property
    def n_lost(self) -> int:
        """BX lost (that never reached the L1 accept)."""
        return int(self.next_bx - self.ready_n[self.sink])

    def arrays(self) -> dict[str, np.ndarray]:
        """The state as named arrays (a checkpoint); :meth:`from_arrays` restores it."""
        out = {f: getattr(self, f) for f in _ARRAYS}
        out["ready_sum"] = np.array([str(v) for v in self.ready_sum])   # exact big integers
        out["next_bx"] = np.array(self.next_bx, np.int64)
        return out

    @classmethod
    def from_arrays(cls, pipeline: Pipeline, arrays) -> "SimState":
        state = _new_state(pipeline)
        for f in _ARRAYS:
            a = np.asarray(arrays[f])
            if a.shape != getattr(state, f).shape:
                raise ValueError(f"the saved {f} has shape {a.shape}, this pipeline "
                                 f"{getattr(state, f).shape}")
            setattr(state, f, a.astype(np.int64).copy())
        state.ready_sum = [int(v) for v in np.asarray(arrays["ready_sum"])]
        state.next_bx = int(arrays["next_bx"])
        return state


_ARRAYS = ("last_start", "ring", "head", "fill", "accepted", "lost", "max_fill", "ready_n",
           "ready_min", "ready_max", "critical")


@dataclass(frozen=True)
class LatencyStats:
    """Latency (ns) over the events simulated so far (all chunks); lost events excluded."""

    n_bx: int
    n_lost: int
    min_ns: float
    max_ns: float
    mean_ns: float

    @property
    def fixed(self) -> bool:
        """Every event kept and all with the same latency."""
        return self.n_lost == 0 and self.min_ns == self.max_ns


PathStats = LatencyStats


@dataclass(frozen=True)
class StageStats:
    """One stage over the BX simulated so far: its output time after the BX (ns) over the events
    it processed (``n_events``; lost ones and those an input lost excluded)."""

    n_lost: int              # BX lost at this stage
    occupancy: float         # busy fraction of its boards: accepted × ii / (tmux × elapsed);
    #                          slightly > 1 for a stage too slow (its queue outlasts the window)
    max_fill: int            # most events waiting in one board's input buffer (incl. the new one)
    n_events: int = 0
    min_ns: float = math.nan
    max_ns: float = math.nan
    mean_ns: float = math.nan
    critical: dict = dataclasses.field(default_factory=dict)   # input → BX it arrived last


@dataclass
class SimResult:
    """One :func:`simulate` call: per-BX arrays of its chunk (``events=True``) and the totals
    over every chunk so far; ``state`` continues the stream."""

    start_bx: int
    n_bx: int
    stage_names: tuple[str, ...]               # the pipeline's stages: lost_stage indexes these
    ready_ns: dict[str, np.ndarray] | None     # stage → (n_bx,) output after the BX, NaN where
    #                                            not processed (``stage_times=True``)
    l1a_ns: np.ndarray | None                  # (n_bx,) the L1 accept after the BX, NaN if lost
    lost: np.ndarray | None                    # (n_bx,) bool, lost at some stage
    lost_stage: np.ndarray | None              # (n_bx,) int16: first stage (pipeline order)
    #                                            that lost the BX, −1 if none did
    l1a: LatencyStats
    stages: dict[str, StageStats]
    state: SimState


def _key(p: Pipeline) -> tuple:
    return (p.bx_ns, tuple((s.name, s.clock_mhz, s.latency_cycles, s.ii, s.tmux, s.link_ns,
                            s.buffer) for s in p.stages),
            tuple((n, p.inputs[n]) for n in p.stage_names))


def _edges(p: Pipeline) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """CSR inputs: ``in_ptr`` (S+1,), ``in_idx`` (E,) stage indices, and (stage, input) per
    edge."""
    names = p.stage_names
    ptr, idx, edges = [0], [], []
    for n in names:
        for u in p.inputs[n]:
            idx.append(names.index(u))
            edges.append((n, u))
        ptr.append(len(idx))
    return np.array(ptr, np.int64), np.array(idx, np.int64), edges


def _new_state(p: Pipeline) -> SimState:
    n, t, d = len(p.stages), max(s.tmux for s in p.stages), max(s.buffer for s in p.stages)
    e = sum(len(v) for v in p.inputs.values())
    z = np.zeros(n, np.int64)
    state = SimState(0, _key(p), np.full((n, t), _FAR_PAST, np.int64), np.zeros((n, t, d), np.int64),
                     np.zeros((n, t), np.int64), np.zeros((n, t), np.int64), z.copy(), z.copy(),
                     z.copy(), z.copy(), [0] * n, np.full(n, np.iinfo(np.int64).max, np.int64),
                     np.full(n, -1, np.int64), np.zeros(e, np.int64),
                     p.stage_names.index(p.l1a_stage))
    return state


def simulate(pipeline: Pipeline, n_bx: int = BX_PER_ORBIT, state: SimState | None = None, *,
             events: bool = True, stage_times: bool = False, latencies: bool = True,
             block_bx: int = 2048) -> SimResult:
    """Cycle-level simulation of ``n_bx`` consecutive BX (one event per BX, every slot filled),
    continuing ``state`` if given, which is updated in place (and returned as ``result.state``):
    chunk after chunk gives bit for bit one long run.

    ``events=False`` keeps only the totals (memory independent of ``n_bx``); with
    ``latencies=False`` the events are only ``lost`` and ``lost_stage``; ``stage_times`` adds
    every stage's output time per BX; ``block_bx`` BX go through the stages at a time
    (any value gives the same result). Returns :class:`SimResult` (times in ns).
    """
    if isinstance(n_bx, bool) or not isinstance(n_bx, (int, np.integer)) or n_bx < 0:
        raise ValueError(f"n_bx must be an integer >= 0, got {n_bx!r}")
    n_bx = int(n_bx)
    tb = _timebase(pipeline)
    if state is None:
        state = _new_state(pipeline)
    elif state.key != _key(pipeline):
        raise ValueError("state comes from a different pipeline")
    start_bx = state.next_bx
    # latest time reachable: arrival + links + latencies + at most (buffer + 1) IIs of queue
    horizon = (start_bx + n_bx + 1) * tb.bx + int(tb.link.sum() + tb.latency.sum()) \
        + 2 * int((tb.ii * np.array([s.buffer + 2 for s in pipeline.stages])).sum())
    if horizon >= 2**62:
        raise ValueError(f"{start_bx + n_bx} BX overflow the integer time base "
                         f"({tb.ticks_per_ps} ticks/ps)")
    names = pipeline.stage_names
    sink = names.index(pipeline.l1a_stage)
    in_ptr, in_idx, _ = _edges(pipeline)
    order = np.array(pipeline.order, np.int64)
    tmux = np.array([s.tmux for s in pipeline.stages], np.int64)
    depth = np.array([s.buffer for s in pipeline.stages], np.int64)
    out_l1a = np.empty(n_bx if events else 0, np.int64)
    out_lost = np.empty(n_bx if events else 0, np.int16)
    out_ready = np.empty((len(names), n_bx if stage_times else 0), np.int64)
    # calls short enough that their Σ of output times stays within int64
    bound = int(tb.link.sum() + tb.latency.sum()) \
        + 2 * int((tb.ii * np.array([s.buffer + 2 for s in pipeline.stages])).sum())
    step = max(block_bx, (2**62) // max(bound, 1) // block_bx * block_bx)
    for b0 in range(0, max(n_bx, 1), step):
        n = min(n_bx - b0, step)
        part = np.zeros(len(names), np.int64)
        _run_blocks(start_bx + b0, n, block_bx, tb.bx, order, in_ptr, in_idx, tb.period, tb.ii,
                    tb.latency, tb.link, tmux, depth, state.last_start, state.ring, state.head,
                    state.fill, state.accepted, state.lost, state.max_fill, state.ready_n, part,
                    state.ready_min, state.ready_max, state.critical, sink,
                    out_l1a[b0:b0 + n], out_lost[b0:b0 + n], out_ready[:, b0:b0 + n])
        state.ready_sum = [a + int(v) for a, v in zip(state.ready_sum, part)]
    state.next_bx = start_bx + n_bx
    l1a_ns = lost = lost_stage = ready_ns = None
    if events:
        lost = out_l1a < 0
        l1a_ns = np.where(lost, np.nan, tb.ns(out_l1a)) if latencies else None
        lost_stage = out_lost
    if stage_times:
        ready_ns = {name: np.where(out_ready[s] < 0, np.nan, tb.ns(out_ready[s]))
                    for s, name in enumerate(names)}
    return SimResult(start_bx, n_bx, tuple(names), ready_ns, l1a_ns, lost, lost_stage,
                     _l1a_stats(pipeline, tb, state), _stage_stats(pipeline, tb, state), state)


def _latency(tb: _Timebase, n_bx: int, n_ok: int, total: int, lo: int, hi: int) -> LatencyStats:
    if n_ok == 0:
        return LatencyStats(n_bx, n_bx, math.nan, math.nan, math.nan)
    return LatencyStats(n_bx, n_bx - n_ok, float(tb.ns(lo)), float(tb.ns(hi)),
                        float(total / n_ok / (tb.ticks_per_ps * 1000)))


def _l1a_stats(p: Pipeline, tb: _Timebase, state: SimState) -> LatencyStats:
    s = p.stage_names.index(p.l1a_stage)
    return _latency(tb, state.next_bx, int(state.ready_n[s]), state.ready_sum[s],
                    int(state.ready_min[s]), int(state.ready_max[s]))


def _stage_stats(p: Pipeline, tb: _Timebase, state: SimState) -> dict[str, StageStats]:
    elapsed = state.next_bx * tb.bx
    _, _, edges = _edges(p)
    crit: dict[str, dict[str, int]] = {n: {} for n in p.stage_names}
    for (stage, inp), c in zip(edges, state.critical):
        crit[stage][inp] = int(c)
    out = {}
    for i, s in enumerate(p.stages):
        busy = int(state.accepted[i]) * int(tb.ii[i])
        lat = _latency(tb, state.next_bx, int(state.ready_n[i]), state.ready_sum[i],
                       int(state.ready_min[i]), int(state.ready_max[i]))
        out[s.name] = StageStats(int(state.lost[i]), busy / (s.tmux * elapsed) if elapsed else 0.0,
                                 int(state.max_fill[i]), int(state.ready_n[i]), lat.min_ns,
                                 lat.max_ns, lat.mean_ns, crit[s.name])
    return out


def stream_report(pipeline: Pipeline, state: SimState) -> dict:
    """JSON-able summary of a stream: the static :func:`check` and the simulated totals (ns):
    the L1 accept (latency and margin against the budget), per path its static total and
    margin, per stage its output time (simulated and static), critical input, losses, busy
    fraction and fullest buffer."""
    tb = _timebase(pipeline)
    rep = check(pipeline)
    l1a = _l1a_stats(pipeline, tb, state)
    paths = {q.name: {"stages": list(q.stages), "static_latency_ns": q.latency_ns,
                      "alignment_ns": q.alignment_ns, "margin_ns": q.margin_ns,
                      "critical": q.critical} for q in rep.paths}
    stages = {}
    for name, st in _stage_stats(pipeline, tb, state).items():
        c = rep.stage(name)
        stages[name] = {**dataclasses.asdict(st), "inputs": list(c.inputs),
                        "static_ready_ns": c.ready_ns, "critical_input": c.critical_input,
                        "slack_ns": c.slack_ns}
    return {"name": pipeline.name, "file": pipeline.path, "budget_us": pipeline.budget_us,
            "max_accept_khz": pipeline.max_accept_khz, "bx_ns": pipeline.bx_ns,
            "simulated_bx": state.next_bx, "lost_bx": state.n_lost,
            "check": rep.to_dict(), "paths": paths,
            "l1a": {**dataclasses.asdict(l1a), "fixed": l1a.fixed,
                    "static_latency_ns": rep.l1a_ns,
                    "margin_ns": pipeline.budget_ns - l1a.max_ns if l1a.n_lost < l1a.n_bx
                    else None,
                    "critical_path": list(rep.critical_path)},
            "stages": stages}
