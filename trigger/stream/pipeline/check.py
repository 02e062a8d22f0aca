"""Static timing analysis of a pipeline: per stage the event interval, II time and occupancy,
per path the latency (worst over the clock phases of an orbit) against the budget; and the exact
integer time base the simulation shares."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from l1t.core.errors import L1TInputError

from ...lhc import BX_PER_ORBIT
from .config import Pipeline, _ps


# --------------------------------------------------------------------------- exact time base

@dataclass(frozen=True)
class _Timebase:
    """Integer ticks: ``ticks_per_ps`` ticks per ps; per stage (pipeline order) period, link."""

    ticks_per_ps: int
    bx: int
    period: np.ndarray      # (S,) int64 ticks
    link: np.ndarray        # (S,) int64 ticks
    ii: np.ndarray          # (S,) int64 ticks (ii × period)
    latency: np.ndarray     # (S,) int64 ticks (latency_cycles × period)

    def ns(self, ticks):
        return np.asarray(ticks, dtype=np.float64) / (self.ticks_per_ps * 1000)


def _timebase(p: Pipeline) -> _Timebase:
    periods = [s.period_ps for s in p.stages]
    links = [_ps(s.link_ns) for s in p.stages]
    bx = _ps(p.bx_ns)
    d = math.lcm(*(x.denominator for x in (*periods, *links, bx)))
    if d > 10**6:
        raise L1TInputError(p.path or p.name, f"clock periods and links need a time step of 1/{d}"
                            " ps; give clocks and links with fewer decimals", "stages")

    def ticks(x: Fraction) -> int:
        v = x * d
        assert v.denominator == 1
        return int(v)

    period = np.array([ticks(x) for x in periods], dtype=np.int64)
    return _Timebase(d, ticks(bx), period, np.array([ticks(x) for x in links], dtype=np.int64),
                     period * np.array([s.ii for s in p.stages], dtype=np.int64),
                     period * np.array([s.latency_cycles for s in p.stages], dtype=np.int64))


def _path_index(p: Pipeline, path: str) -> np.ndarray:
    names = p.stage_names
    return np.array([names.index(s) for s in p.paths[path]], dtype=np.int64)


# --------------------------------------------------------------------------- static check

@dataclass(frozen=True)
class StageCheck:
    name: str
    role: str | None
    clock_mhz: float
    tmux: int
    interval_ns: float       # time between events at one board: bx_ns × tmux
    ii_ns: float             # the stage's own time between starts: ii / clock
    occupancy: float         # ii_ns / interval_ns; > 1: too slow
    latency_ns: float        # link_ns + latency_cycles / clock
    ok: bool


@dataclass(frozen=True)
class PathCheck:
    name: str
    stages: tuple[str, ...]
    fixed_ns: float          # Σ (link_ns + latency_cycles / clock)
    alignment_ns: float      # worst wait for clock edges along the path
    latency_ns: float        # fixed + alignment: the path's fixed latency
    min_latency_ns: float    # best case over the orbit (== latency_ns when edges align)
    budget_ns: float
    margin_ns: float         # budget − latency; < 0: over budget
    ok: bool


@dataclass(frozen=True)
class CheckReport:
    pipeline: str
    budget_ns: float
    stages: tuple[StageCheck, ...]
    paths: tuple[PathCheck, ...]

    @property
    def too_slow(self) -> list[str]:
        return [s.name for s in self.stages if not s.ok]

    @property
    def over_budget(self) -> list[str]:
        return [p.name for p in self.paths if not p.ok]

    @property
    def ok(self) -> bool:
        return not self.too_slow and not self.over_budget

    def path(self, name: str) -> PathCheck:
        return next(p for p in self.paths if p.name == name)

    def stage(self, name: str) -> StageCheck:
        return next(s for s in self.stages if s.name == name)

    def to_dict(self) -> dict:
        return {"pipeline": self.pipeline, "budget_ns": self.budget_ns, "ok": self.ok,
                "too_slow": self.too_slow, "over_budget": self.over_budget,
                "stages": [dataclasses.asdict(s) for s in self.stages],
                "paths": [{**dataclasses.asdict(p), "stages": list(p.stages)} for p in self.paths]}

    def table(self) -> str:
        """The report as fixed-width text (stages, then paths)."""
        out = [f"pipeline {self.pipeline}: budget {self.budget_ns:.0f} ns",
               f"{'stage':<18}{'role':<11}{'MHz':>8}{'tmux':>6}{'interval':>10}{'II ns':>9}"
               f"{'occup.':>8}{'lat. ns':>10}  status"]
        for s in self.stages:
            out.append(f"{s.name:<18}{s.role or '-':<11}{s.clock_mhz:>8.1f}{s.tmux:>6}"
                       f"{s.interval_ns:>10.1f}{s.ii_ns:>9.2f}{s.occupancy:>8.3f}"
                       f"{s.latency_ns:>10.1f}  {'ok' if s.ok else 'TOO SLOW'}")
        out.append(f"{'path':<18}{'latency ns':>12}{'align ns':>10}{'margin ns':>11}  status")
        for p in self.paths:
            out.append(f"{p.name:<18}{p.latency_ns:>12.1f}{p.alignment_ns:>10.2f}"
                       f"{p.margin_ns:>11.1f}  {'ok' if p.ok else 'OVER BUDGET'}")
        return "\n".join(out)


def _aligned_latency(tb: _Timebase, idx: np.ndarray, n_bx: int) -> np.ndarray:
    """Latency (ticks) of BX 0..n_bx-1 along stages ``idx`` without II limits: the cycle-level
    recursion with only the waits for clock edges, shape (n_bx,)."""
    t0 = np.arange(n_bx, dtype=np.int64) * tb.bx
    t = t0.copy()
    for s in idx:
        t_in = t + tb.link[s]
        t = -(-t_in // tb.period[s]) * tb.period[s] + tb.latency[s]
    return t - t0


def check(pipeline: Pipeline) -> CheckReport:
    """Static analysis: per stage the event interval (``bx_ns × tmux``), its II time and the
    occupancy (> 1: too slow, it breaks the fixed latency); per path the latency (links +
    latencies + the clock-edge waits found over one orbit), the budget and the margin."""
    tb = _timebase(pipeline)
    bx_ps = _ps(pipeline.bx_ns)
    stages = []
    for s in pipeline.stages:
        ii_ps = s.ii * s.period_ps
        interval = bx_ps * s.tmux
        stages.append(StageCheck(s.name, s.role, s.clock_mhz, s.tmux, float(interval) / 1000,
                                 float(ii_ps) / 1000, float(ii_ps / interval),
                                 s.link_ns + s.latency_ns, ii_ps <= interval))
    paths = []
    budget = pipeline.budget_ns
    for name in pipeline.paths:
        idx = _path_index(pipeline, name)
        fixed = int(tb.link[idx].sum() + tb.latency[idx].sum())
        lat = _aligned_latency(tb, idx, BX_PER_ORBIT)
        worst = float(tb.ns(lat.max()))
        paths.append(PathCheck(name, pipeline.paths[name], float(tb.ns(fixed)),
                               float(tb.ns(lat.max() - fixed)), worst, float(tb.ns(lat.min())),
                               budget, budget - worst, worst <= budget))
    return CheckReport(pipeline.name, budget, tuple(stages), tuple(paths))


