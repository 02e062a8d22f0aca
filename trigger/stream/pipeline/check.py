"""Static timing analysis of a pipeline: per stage the event interval, II time and occupancy, the
time its output is ready after the BX and its critical input (the last to arrive); per path (a
chain of stages timed alone) the latency against the budget; the L1 accept (the last stage's
output: the latest chain) and the critical path; all worst over the clock phases of an orbit.
And the exact integer time base the simulation shares."""

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
    inputs: tuple[str, ...] = ()     # the stages it reads (none: the detector)
    ready_ns: float = 0.0            # its output after the BX, worst over the orbit
    min_ready_ns: float = 0.0        # best over the orbit
    critical_input: str | None = None    # the input arriving last (at the worst BX)
    slack_ns: dict = dataclasses.field(default_factory=dict)   # input → least time it
    #                                  arrives before the last one, over the orbit


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
    critical: bool = False   # on the critical path (its stages are the critical path's)


@dataclass(frozen=True)
class CheckReport:
    pipeline: str
    budget_ns: float
    stages: tuple[StageCheck, ...]
    paths: tuple[PathCheck, ...]
    l1a_ns: float = 0.0                  # the L1 accept after the BX, worst over the orbit
    min_l1a_ns: float = 0.0
    critical_path: tuple[str, ...] = ()  # from the detector, following critical inputs

    @property
    def too_slow(self) -> list[str]:
        return [s.name for s in self.stages if not s.ok]

    @property
    def over_budget(self) -> list[str]:
        return [p.name for p in self.paths if not p.ok]

    @property
    def l1a_margin_ns(self) -> float:
        return self.budget_ns - self.l1a_ns

    @property
    def ok(self) -> bool:
        return not self.too_slow and not self.over_budget and self.l1a_ns <= self.budget_ns

    def path(self, name: str) -> PathCheck:
        return next(p for p in self.paths if p.name == name)

    def stage(self, name: str) -> StageCheck:
        return next(s for s in self.stages if s.name == name)

    def to_dict(self) -> dict:
        return {"pipeline": self.pipeline, "budget_ns": self.budget_ns, "ok": self.ok,
                "too_slow": self.too_slow, "over_budget": self.over_budget,
                "l1a_ns": self.l1a_ns, "min_l1a_ns": self.min_l1a_ns,
                "l1a_margin_ns": self.l1a_margin_ns, "critical_path": list(self.critical_path),
                "stages": [{**dataclasses.asdict(s), "inputs": list(s.inputs)}
                           for s in self.stages],
                "paths": [{**dataclasses.asdict(p), "stages": list(p.stages)} for p in self.paths]}

    def table(self) -> str:
        """The report as fixed-width text (stages with their critical input, then paths)."""
        out = [f"pipeline {self.pipeline}: budget {self.budget_ns:.0f} ns, L1 accept after "
               f"{self.l1a_ns:.1f} ns (margin {self.l1a_margin_ns:.1f} ns)",
               f"{'stage':<18}{'role':<11}{'MHz':>8}{'tmux':>6}{'interval':>10}{'II ns':>9}"
               f"{'occup.':>8}{'lat. ns':>10}{'ready ns':>10}  {'critical input':<16}status"]
        for s in self.stages:
            out.append(f"{s.name:<18}{s.role or '-':<11}{s.clock_mhz:>8.1f}{s.tmux:>6}"
                       f"{s.interval_ns:>10.1f}{s.ii_ns:>9.2f}{s.occupancy:>8.3f}"
                       f"{s.latency_ns:>10.1f}{s.ready_ns:>10.1f}  "
                       f"{s.critical_input or '(detector)':<16}{'ok' if s.ok else 'TOO SLOW'}")
        out.append(f"{'path':<18}{'latency ns':>12}{'align ns':>10}{'margin ns':>11}  status")
        for p in self.paths:
            out.append(f"{p.name:<18}{p.latency_ns:>12.1f}{p.alignment_ns:>10.2f}"
                       f"{p.margin_ns:>11.1f}  {'ok' if p.ok else 'OVER BUDGET'}"
                       f"{'  (critical)' if p.critical else ''}")
        out.append("critical path: " + " > ".join(self.critical_path))
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


def _aligned_ready(tb: _Timebase, p: Pipeline, n_bx: int) -> np.ndarray:
    """Output time after the BX (ticks) of every stage (``p.stages`` order) for BX 0..n_bx-1 on
    the graph without II limits: ``(S, n_bx)``."""
    names = p.stage_names
    t0 = np.arange(n_bx, dtype=np.int64) * tb.bx
    out = np.empty((len(names), n_bx), np.int64)
    for s in p.order:
        ins = [names.index(i) for i in p.inputs[names[s]]]
        t_in = (out[ins].max(axis=0) if ins else t0) + tb.link[s]
        out[s] = -(-t_in // tb.period[s]) * tb.period[s] + tb.latency[s]
    return out - t0


def check(pipeline: Pipeline) -> CheckReport:
    """Static analysis: per stage the event interval (``bx_ns × tmux``), its II time and the
    occupancy (> 1: too slow, it breaks the fixed latency), its output time and critical input;
    per path the latency (links + latencies + the clock-edge waits found over one orbit), the
    budget and the margin; the L1 accept and the critical path."""
    tb = _timebase(pipeline)
    bx_ps = _ps(pipeline.bx_ns)
    names = pipeline.stage_names
    ready = _aligned_ready(tb, pipeline, BX_PER_ORBIT)
    stages = []
    for i, s in enumerate(pipeline.stages):
        ii_ps = s.ii * s.period_ps
        interval = bx_ps * s.tmux
        ins = pipeline.inputs[s.name]
        critical, slack = None, {}
        if ins:
            arrive = ready[[names.index(u) for u in ins]]            # (n_inputs, BX)
            last = arrive.max(axis=0)
            critical = ins[int(np.argmax(arrive[:, int(np.argmax(ready[i]))]))]
            slack = {u: float(tb.ns((last - arrive[k]).min())) for k, u in enumerate(ins)}
        stages.append(StageCheck(s.name, s.role, s.clock_mhz, s.tmux, float(interval) / 1000,
                                 float(ii_ps) / 1000, float(ii_ps / interval),
                                 s.link_ns + s.latency_ns, ii_ps <= interval, tuple(ins),
                                 float(tb.ns(ready[i].max())), float(tb.ns(ready[i].min())),
                                 critical, slack))
    by_name = {st.name: st for st in stages}
    crit = [pipeline.l1a_stage]
    while by_name[crit[0]].critical_input is not None:
        crit.insert(0, by_name[crit[0]].critical_input)
    sink = names.index(pipeline.l1a_stage)
    paths = []
    budget = pipeline.budget_ns
    for name in pipeline.paths:
        idx = _path_index(pipeline, name)
        fixed = int(tb.link[idx].sum() + tb.latency[idx].sum())
        lat = _aligned_latency(tb, idx, BX_PER_ORBIT)
        worst = float(tb.ns(lat.max()))
        paths.append(PathCheck(name, pipeline.paths[name], float(tb.ns(fixed)),
                               float(tb.ns(lat.max() - fixed)), worst, float(tb.ns(lat.min())),
                               budget, budget - worst, worst <= budget,
                               tuple(pipeline.paths[name]) == tuple(crit)))
    return CheckReport(pipeline.name, budget, tuple(stages), tuple(paths),
                       float(tb.ns(ready[sink].max())), float(tb.ns(ready[sink].min())),
                       tuple(crit))
