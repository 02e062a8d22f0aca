"""Cycle-level simulation of a pipeline: every BX through every stage of every path (compiled
kernels, one thread per path), streamed in chunks with a carried :class:`SimState`."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np

from ...lhc import BX_PER_ORBIT
from .check import _path_index, _timebase, _Timebase, check
from .config import Pipeline


# --------------------------------------------------------------------------- cycle-level sim

@numba.njit(cache=True, nogil=True)
def _path_kernel(bx0, n, bx_ticks, period, ii_ticks, lat_ticks, link, tmux, depth, last_start,
                 ring, head, fill, accepted, lost_n, max_fill, out,
                 lost_at):  # pragma: no cover (compiled)
    """Run BX ``bx0 .. bx0+n-1`` through one path's stages (arrays over the path's stages).

    Per board (stage s, board k): ``last_start`` the last start, ``ring``/``head``/``fill`` the
    starts of its last ``depth[s]`` accepted events (increasing), updated in place. ``out``:
    latency in ticks (−1: lost), ``lost_at``: the path's stage index where lost (−1: not).
    Event-major order is exact: a board's state depends only on earlier BX.
    """
    n_stages = period.shape[0]
    board = np.empty(n_stages, np.int64)       # b % tmux, advanced without dividing
    inv = np.empty(n_stages, np.float64)       # 1 / period: the clock-edge quotient, corrected
    for s in range(n_stages):
        board[s] = bx0 % tmux[s]
        inv[s] = 1.0 / period[s]
    for i in range(n):
        b = bx0 + i
        t = b * bx_ticks
        where = -1
        for s in range(n_stages):
            t_in = t + link[s]
            k = board[s]
            d = depth[s]
            # events of this board ahead in BX order and not yet started (starts increase)
            waiting = 0
            h = head[s, k]
            for _ in range(fill[s, k]):
                h -= 1
                if h < 0:
                    h += d
                if ring[s, k, h] > t_in:
                    waiting += 1
                else:
                    break
            if waiting >= d:
                where = s
                lost_n[s] += 1
                break
            e = last_start[s, k] + ii_ticks[s]
            if t_in > e:
                e = t_in
            p = period[s]
            q = np.int64(e * inv[s])           # first edge >= e: float guess, exact fix-up
            while q * p < e:
                q += 1
            while q > 0 and (q - 1) * p >= e:
                q -= 1
            start = q * p
            f = waiting + 1 if start > t_in else waiting
            if f > max_fill[s]:
                max_fill[s] = f
            last_start[s, k] = start
            ring[s, k, head[s, k]] = start
            hh = head[s, k] + 1
            head[s, k] = 0 if hh == d else hh
            if fill[s, k] < d:
                fill[s, k] += 1
            accepted[s] += 1
            t = start + lat_ticks[s]
        for s in range(n_stages):
            kk = board[s] + 1
            board[s] = 0 if kk == tmux[s] else kk
        if where >= 0:
            out[i] = -1
            lost_at[i] = where
        else:
            out[i] = t - b * bx_ticks
            lost_at[i] = -1


@dataclass
class _PathState:
    idx: np.ndarray          # (S,) stage indices into the pipeline
    last_start: np.ndarray   # (S, T) int64
    ring: np.ndarray         # (S, T, D) int64
    head: np.ndarray         # (S, T) int64
    fill: np.ndarray         # (S, T) int64
    accepted: np.ndarray     # (S,) int64
    lost: np.ndarray         # (S,) int64
    max_fill: np.ndarray     # (S,) int64
    n_ok: int = 0
    sum_ticks: int = 0
    min_ticks: int = -1
    max_ticks: int = -1


@dataclass
class SimState:
    """What a chunk carries to the next: the next BX, every board's recent starts, the totals."""

    next_bx: int
    key: tuple
    paths: dict[str, _PathState]
    l1a: list = field(default_factory=lambda: [0, 0, -1, -1])   # n_ok, sum, min, max (ticks)
    lost_union: dict = field(default_factory=dict)            # stage → BX lost there (any path)
    n_lost: int = 0

    @classmethod
    def new(cls, pipeline: Pipeline) -> "SimState":
        """Empty boards at BX 0 (what :func:`simulate` starts from without a state)."""
        return _new_state(pipeline)


@dataclass(frozen=True)
class PathStats:
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


@dataclass(frozen=True)
class StageStats:
    """Over the BX simulated so far, worst over the paths through the stage."""

    n_lost: int              # BX lost at this stage (in any path)
    occupancy: float         # busy fraction of its boards: accepted × ii / (tmux × elapsed);
    #                          slightly > 1 for a stage too slow (its queue outlasts the window)
    max_fill: int            # most events waiting in one board's input buffer (incl. the new one)


@dataclass
class SimResult:
    """One :func:`simulate` call: per-BX arrays of its chunk (``events=True``) and the totals
    over every chunk so far; ``state`` continues the stream."""

    start_bx: int
    n_bx: int
    stage_names: tuple[str, ...]               # the pipeline's stages: lost_stage indexes these
    latency_ns: dict[str, np.ndarray] | None   # path → (n_bx,) float64, NaN where lost
    l1a_ns: np.ndarray | None                  # (n_bx,) slowest path per BX, NaN where lost
    lost: np.ndarray | None                    # (n_bx,) bool, lost in any path
    lost_stage: np.ndarray | None              # (n_bx,) int16: first stage (pipeline order)
    #                                            where a path lost the BX, −1 if none did
    paths: dict[str, PathStats]
    l1a: PathStats
    stages: dict[str, StageStats]
    state: SimState


def _key(p: Pipeline) -> tuple:
    return (p.bx_ns, tuple((s.name, s.clock_mhz, s.latency_cycles, s.ii, s.tmux, s.link_ns,
                            s.buffer) for s in p.stages), tuple(p.paths.items()))


def _new_state(p: Pipeline) -> SimState:
    paths = {}
    for name in p.paths:
        idx = _path_index(p, name)
        st = [p.stages[i] for i in idx]
        n, t, d = len(st), max(s.tmux for s in st), max(s.buffer for s in st)
        paths[name] = _PathState(idx, np.full((n, t), -(2**62), dtype=np.int64),
                                 np.zeros((n, t, d), dtype=np.int64),
                                 np.zeros((n, t), dtype=np.int64), np.zeros((n, t), dtype=np.int64),
                                 np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                                 np.zeros(n, dtype=np.int64))
    return SimState(0, _key(p), paths, lost_union={s: 0 for s in p.stage_names})


def _fold(acc: list | _PathState, ticks: np.ndarray) -> None:
    """Add the kept latencies ``ticks`` (≥ 0) to running n, sum, min, max."""
    if ticks.size == 0:
        return
    lo, hi, total = int(ticks.min()), int(ticks.max()), int(ticks.sum())
    if isinstance(acc, list):
        acc[2] = lo if acc[0] == 0 else min(acc[2], lo)
        acc[3] = hi if acc[0] == 0 else max(acc[3], hi)
        acc[0] += ticks.size
        acc[1] += total
    else:
        acc.min_ticks = lo if acc.n_ok == 0 else min(acc.min_ticks, lo)
        acc.max_ticks = hi if acc.n_ok == 0 else max(acc.max_ticks, hi)
        acc.n_ok += ticks.size
        acc.sum_ticks += total


def _stats(tb: _Timebase, n_bx: int, n_ok: int, total: int, lo: int, hi: int) -> PathStats:
    if n_ok == 0:
        return PathStats(n_bx, n_bx, math.nan, math.nan, math.nan)
    return PathStats(n_bx, n_bx - n_ok, float(tb.ns(lo)), float(tb.ns(hi)),
                     float(total / n_ok / (tb.ticks_per_ps * 1000)))


def simulate(pipeline: Pipeline, n_bx: int = BX_PER_ORBIT, state: SimState | None = None, *,
             events: bool = True, block_bx: int = 1 << 16) -> SimResult:
    """Cycle-level simulation of ``n_bx`` consecutive BX (one event per BX, every slot filled),
    continuing ``state`` if given, which is updated in place (and returned as ``result.state``):
    chunk after chunk gives bit for bit one long run.

    ``events=False`` keeps only the totals (memory independent of ``n_bx``); ``block_bx`` is the
    size of the compiled kernel's blocks. Returns :class:`SimResult` (latencies in ns).
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
    names = list(pipeline.paths)
    lat = {p: np.empty(n_bx, np.float64) for p in names} if events else None
    l1a_out = np.empty(n_bx, np.float64) if events else None
    lost_out = np.zeros(n_bx, bool) if events else None
    lost_stage_out = np.full(n_bx, -1, np.int16) if events else None
    nan = np.float64(np.nan)
    args = {}
    for name in names:
        idx = state.paths[name].idx
        args[name] = (tb.period[idx], tb.ii[idx], tb.latency[idx], tb.link[idx],
                      np.array([pipeline.stages[i].tmux for i in idx], np.int64),
                      np.array([pipeline.stages[i].buffer for i in idx], np.int64))
    workers = min(len(names), os.cpu_count() or 1)
    # paths are independent and the kernel releases the GIL: one thread per path
    pool = ThreadPoolExecutor(workers) if workers > 1 and n_bx > 65536 else None
    with pool if pool is not None else contextlib.nullcontext():
        for b0 in range(0, n_bx, block_bx):
            n = min(block_bx, n_bx - b0)
            bx0 = start_bx + b0
            worst = np.zeros(n, np.int64)
            lost_any = np.zeros(n, bool)
            lost_where = np.full(n, np.iinfo(np.int16).max, np.int16)
            lost_glob = []          # per path with losses: global stage index, −1 where kept
            before = {name: int(state.paths[name].lost.sum()) for name in names}
            outs = {name: (np.empty(n, np.int64), np.empty(n, np.int16)) for name in names}

            def run(name, bx0=bx0, n=n, outs=outs):
                ps = state.paths[name]
                _path_kernel(bx0, n, tb.bx, *args[name], ps.last_start, ps.ring, ps.head, ps.fill,
                             ps.accepted, ps.lost, ps.max_fill, *outs[name])

            if pool is not None:
                list(pool.map(run, names))
            else:
                for name in names:
                    run(name)
            for name in names:
                ps = state.paths[name]
                idx = ps.idx
                out, at = outs[name]
                kept = out >= 0
                _fold(ps, out[kept])
                np.maximum(worst, out, out=worst)
                if int(ps.lost.sum()) > before[name]:
                    lost = ~kept
                    lost_any |= lost
                    glob = np.where(lost, idx[np.maximum(at, 0)], -1)
                    lost_glob.append(glob)
                    np.minimum(lost_where, np.where(lost, glob, np.iinfo(np.int16).max)
                               .astype(np.int16), out=lost_where)
                if events:
                    lat[name][b0:b0 + n] = np.where(kept, tb.ns(out), nan)
            if lost_any.any():
                glob = np.stack(lost_glob)
                for s in np.unique(glob[glob >= 0]):
                    state.lost_union[pipeline.stage_names[s]] += int((glob == s).any(axis=0).sum())
                state.n_lost += int(lost_any.sum())
            _fold(state.l1a, worst[~lost_any])
            if events:
                l1a_out[b0:b0 + n] = np.where(lost_any, nan, tb.ns(worst))
                lost_out[b0:b0 + n] = lost_any
                lost_stage_out[b0:b0 + n] = np.where(lost_any, lost_where, -1)
    state.next_bx = start_bx + n_bx
    return SimResult(start_bx, n_bx, tuple(pipeline.stage_names), lat, l1a_out, lost_out, lost_stage_out,
                     _path_stats(tb, state), _stats(tb, state.next_bx, *state.l1a),
                     _stage_stats(pipeline, tb, state), state)


def _path_stats(tb: _Timebase, state: SimState) -> dict[str, PathStats]:
    return {name: _stats(tb, state.next_bx, ps.n_ok, ps.sum_ticks, ps.min_ticks, ps.max_ticks)
            for name, ps in state.paths.items()}


def _stage_stats(p: Pipeline, tb: _Timebase, state: SimState) -> dict[str, StageStats]:
    occ = dict.fromkeys(p.stage_names, 0.0)
    fill = dict.fromkeys(p.stage_names, 0)
    elapsed = state.next_bx * tb.bx
    for ps in state.paths.values():
        for j, i in enumerate(ps.idx):
            s = p.stages[i]
            busy = int(ps.accepted[j]) * int(tb.ii[i])
            if elapsed:
                occ[s.name] = max(occ[s.name], busy / (s.tmux * elapsed))
            fill[s.name] = max(fill[s.name], int(ps.max_fill[j]))
    return {n: StageStats(state.lost_union[n], occ[n], fill[n]) for n in p.stage_names}


def stream_report(pipeline: Pipeline, state: SimState) -> dict:
    """JSON-able summary of a stream: the static :func:`check` and the simulated totals
    (latencies in ns, per path with its margin against the budget; per stage losses,
    busy fraction, fullest buffer)."""
    tb = _timebase(pipeline)
    rep = check(pipeline)
    paths = {}
    for name, st in _path_stats(tb, state).items():
        worst = st.max_ns
        paths[name] = {**dataclasses.asdict(st), "fixed": st.fixed,
                       "static_latency_ns": rep.path(name).latency_ns,
                       "margin_ns": pipeline.budget_ns - worst if st.n_lost < st.n_bx else None}
    l1a = _stats(tb, state.next_bx, *state.l1a)
    return {"name": pipeline.name, "file": pipeline.path, "budget_us": pipeline.budget_us,
            "max_accept_khz": pipeline.max_accept_khz, "bx_ns": pipeline.bx_ns,
            "simulated_bx": state.next_bx, "lost_bx": state.n_lost,
            "check": rep.to_dict(), "paths": paths,
            "l1a": {**dataclasses.asdict(l1a), "fixed": l1a.fixed},
            "stages": {n: dataclasses.asdict(s)
                       for n, s in _stage_stats(pipeline, tb, state).items()}}

