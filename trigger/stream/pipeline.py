"""The L1 trigger pipeline as data (YAML) and its cycle-level timing simulation (issue 7).

A pipeline file (presets: ``trigger/pipelines/phase2.yaml``, ``run3.yaml``)::

    name: phase2                 # optional (default: the file name)
    description: ...             # optional
    bx_ns: 25                    # bunch spacing, ns (default 25): one event per BX
    budget_us: 12.5              # fixed L1 latency budget, µs (BX to L1 accept at the front-ends)
    max_accept_khz: 750          # optional: the L1 accept rate the readout takes, kHz
    trigger_rules: [[1, 3], [2, 25], [3, 100], [4, 240]]   # optional, read by trigger/l1a.py
    derandomizer: {depth: 8, readout_ns: 1000}               # optional, read by trigger/l1a.py
    stages:                      # every processing stage, upstream first
      track_finder:
        clock_mhz: 240           # > 0: the stage's clock (its edges are phase-locked to BX 0)
        latency_cycles: 600      # >= 0: clocks from the start of an event to its output
        ii: 108                  # >= 1 (default 1): initiation interval, clocks between starts
        tmux: 18                 # >= 1 (default 1): boards in turn; BX b goes to board b % tmux
        link_ns: 100             # >= 0 (default 0): link + serialisation latency into the stage
        buffer: 1                # 1..4096 (default 1): input buffer depth per board, events
        source: "..."            # where the figures come from (a citation, or "estimate (l1t)")
        role: track              # optional: frontend|track|muon|calo|correlator|gt|model|l1a
        firmware: report.json    # optional, instead of clock_mhz/latency_cycles/ii: a firmware
                                 # report (relative to the YAML file), see below
        description: ...         # optional
    paths:                       # name -> stages in order; all end at one stage (the L1 accept)
      correlator: [tracker_dtc, track_finder, correlator_l1, correlator_l2, gt_menu, gt_final]

``trigger_rules`` and ``derandomizer`` are kept as read (:attr:`Pipeline.l1a`); trigger/l1a.py
parses them. A firmware report (``firmware/report.py``) is one JSON object
``{"model", "backend", "latency_cycles": int, "clock_ns": float, "initiation_interval": int,
"resources"}``: the stage takes ``clock_mhz = 1000 / clock_ns``, ``latency_cycles`` and
``ii = initiation_interval`` from it (:func:`with_firmware` plugs one into a loaded pipeline).
Anything malformed raises :class:`~l1t.core.errors.L1TInputError` naming the file, the line and
the field (``stages.calo_l2.ii``).

Timing model (cycle level; times are exact integers in ticks of ``1/D`` ps, ``D`` the least
common multiple of the denominators of the clock periods, link latencies and the BX in ps, each
a fraction of ps with a denominator up to 10^4, so 240 MHz is exactly 12500/3 ps):

* the event of BX ``b`` exists at ``t = b × bx_ns`` (the first stage's ``link_ns`` brings it
  from the detector); at each stage of a path it goes to board
  ``b % tmux``, arrives at ``t_in = t_out(previous stage) + link_ns``, waits in that board's
  input buffer, starts at the first edge of the stage's clock ``>= max(t_in, previous start on
  the board + ii clocks)`` and leaves at ``start + latency_cycles`` clocks;
* boards take their events in BX order; an event arriving while ``buffer`` earlier events of its
  board are still waiting to start is lost at that stage (it would break the fixed latency);
* paths are independent chains: a stage on several paths (the global trigger) is timed on each
  path's own arrivals; the L1 accept of a BX is ready when its slowest path is (``l1a``).

A stage keeps up iff ``ii / clock <= bx_ns × tmux`` (:func:`check`: occupancy <= 1); with every
stage keeping up and clocks that are multiples of the BX frequency, every event of a path has the
same latency (fixed latency), ``Σ (link_ns + latency_cycles / clock) + the waits for clock
edges``; a clock not locked to the BX makes the edge waits, so the latency, vary over the orbit
(:func:`check` reports the worst). :func:`simulate` runs ~10^8 stage-BX/s (compiled, one thread
per path), streams in chunks with a carried :class:`SimState`, and reports per BX the latency of
every path, the loss and where, and per stage its busy fraction and fullest buffer.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numba
import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.yamlio import line_of, parse_yaml

PIPELINES = Path(__file__).with_name("pipelines")
PRESETS = {"phase2": PIPELINES / "phase2.yaml", "run3": PIPELINES / "run3.yaml"}
ROLES = ("frontend", "track", "muon", "calo", "correlator", "gt", "model", "l1a")
ORBIT_BX = 3564          # bunch slots per LHC orbit
MAX_BUFFER = 4096
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_TOP = {"name", "description", "bx_ns", "budget_us", "max_accept_khz", "trigger_rules",
        "derandomizer", "stages", "paths"}
_STAGE = {"clock_mhz", "latency_cycles", "ii", "tmux", "link_ns", "buffer", "firmware", "source",
          "role", "description"}
_FROM_FIRMWARE = ("clock_mhz", "latency_cycles", "ii")


def _ps(ns: float) -> Fraction:
    """``ns`` as an exact number of ps (decimal input is exact; limited to 1/10^4 ps)."""
    return (Fraction(str(float(ns))) * 1000).limit_denominator(10**4)


@dataclass(frozen=True)
class Stage:
    """One processing stage: clock (MHz), latency and II (clocks), boards, link (ns), buffer."""

    name: str
    clock_mhz: float
    latency_cycles: int
    ii: int = 1
    tmux: int = 1
    link_ns: float = 0.0
    buffer: int = 1
    source: str = ""
    role: str | None = None
    firmware: str | None = None      # the firmware report the clock/latency/II came from

    def __post_init__(self):
        ok = (self.clock_mhz > 0 and self.latency_cycles >= 0 and self.ii >= 1 and self.tmux >= 1
              and self.link_ns >= 0 and 1 <= self.buffer <= MAX_BUFFER)
        if not ok:
            raise ValueError(f"stage {self.name}: figures out of range ({self})")

    @property
    def period_ps(self) -> Fraction:
        """Exact clock period, ps."""
        return (Fraction(10**6) / Fraction(str(float(self.clock_mhz)))).limit_denominator(10**4)

    @property
    def period_ns(self) -> float:
        return float(self.period_ps) / 1000

    @property
    def latency_ns(self) -> float:
        """Own processing latency (without link), ns."""
        return float(self.latency_cycles * self.period_ps) / 1000

    @property
    def ii_ns(self) -> float:
        """Time between two event starts on one board, ns."""
        return float(self.ii * self.period_ps) / 1000

    def interval_ns(self, bx_ns: float = 25.0) -> float:
        """Time between two events arriving at one board (``bx_ns × tmux``), ns."""
        return bx_ns * self.tmux


@dataclass(frozen=True)
class Pipeline:
    """Stages (upstream first), paths (name → stage names ending at the L1 accept), budget."""

    name: str
    stages: tuple[Stage, ...]
    paths: dict[str, tuple[str, ...]]
    budget_us: float
    max_accept_khz: float | None = None
    bx_ns: float = 25.0
    l1a: dict = field(default_factory=dict)   # raw ``trigger_rules`` / ``derandomizer``
    description: str = ""
    path: str = ""                              # the YAML file

    def __post_init__(self):
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate stage names in {names}")
        ends = {chain[-1] for chain in self.paths.values() if chain}
        for pname, chain in self.paths.items():
            unknown = [s for s in chain if s not in names]
            if not chain or unknown:
                raise ValueError(f"path {pname}: empty or unknown stages {unknown}")
        if len(ends) > 1:
            raise ValueError(f"paths end at different stages {sorted(ends)}")

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    def path_stages(self, path: str) -> tuple[Stage, ...]:
        return tuple(self.stage(n) for n in self.paths[path])

    @property
    def source(self) -> str:
        """The file it was read from (its name if built in Python), for error messages."""
        return self.path or self.name

    @property
    def l1a_stage(self) -> str:
        """The stage every path ends at (where the L1 accept is issued)."""
        return next(iter(self.paths.values()))[-1]

    @property
    def budget_ns(self) -> float:
        return self.budget_us * 1000


# --------------------------------------------------------------------------- reading

def load_pipeline(path: str | Path | None = None) -> Pipeline:
    """Load and check a pipeline file; ``None`` → the Phase-2 preset, ``"run3"`` → a preset."""
    if path is None:
        path = PRESETS["phase2"]
    elif str(path) in PRESETS and not Path(path).exists():
        path = PRESETS[str(path)]
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise L1TInputError(path, f"cannot read pipeline ({err.strerror})") from None
    return parse_pipeline(text, source=str(path))


def parse_pipeline(text: str, source: str = "pipeline") -> Pipeline:
    """Parse pipeline YAML text; ``source`` names the file in errors and anchors firmware paths."""
    data = parse_yaml(text, source)
    c = _Checker(source)
    if not isinstance(data, dict):
        raise L1TInputError(source, "line 1: a pipeline is a mapping with stages and paths",
                            "stages")
    c.keys(data, _TOP, "")
    for key in ("budget_us", "stages", "paths"):
        if key not in data:
            c.fail(data, None, f"missing {key!r}", key)
    budget = c.number(data, "budget_us", "", positive=True)
    bx_ns = c.number(data, "bx_ns", "", positive=True) if "bx_ns" in data else 25.0
    max_khz = c.number(data, "max_accept_khz", "", positive=True) \
        if "max_accept_khz" in data else None
    name = c.string(data, "name", "") if "name" in data else Path(source).stem
    description = c.string(data, "description", "") if "description" in data else ""
    l1a = {k: data[k] for k in ("trigger_rules", "derandomizer") if k in data}

    stages_map = data["stages"]
    if not isinstance(stages_map, dict) or not stages_map:
        c.fail(data, "stages", "'stages' must be a non-empty mapping of stage names", "stages")
    stages = []
    for sname, body in stages_map.items():
        where = f"stages.{sname}"
        if not isinstance(sname, str) or not _NAME.match(sname):
            c.fail(stages_map, sname, f"stage names are identifiers, got {sname!r}", where)
        if not isinstance(body, dict):
            c.fail(stages_map, sname, "a stage is a mapping (clock_mhz, latency_cycles, ...)",
                   where)
        stages.append(c.stage(sname, body, where, line_of(stages_map, sname)))

    paths_map = data["paths"]
    if not isinstance(paths_map, dict) or not paths_map:
        c.fail(data, "paths", "'paths' must be a non-empty mapping of path names", "paths")
    paths: dict[str, tuple[str, ...]] = {}
    for pname, chain in paths_map.items():
        where = f"paths.{pname}"
        if not isinstance(pname, str) or not _NAME.match(pname):
            c.fail(paths_map, pname, f"path names are identifiers, got {pname!r}", where)
        if not isinstance(chain, list) or not chain:
            c.fail(paths_map, pname, "a path is a non-empty list of stage names", where)
        for i, s in enumerate(chain):
            if s not in stages_map:
                c.fail(paths_map, pname, f"unknown stage {s!r} (stages: "
                       f"{', '.join(stages_map)})", f"{where}[{i}]")
            if s in chain[:i]:
                c.fail(paths_map, pname, f"stage {s!r} twice in the path", f"{where}[{i}]")
        paths[pname] = tuple(chain)
    ends = {chain[-1] for chain in paths.values()}
    if len(ends) > 1:
        c.fail(data, "paths", "every path ends at the stage issuing the L1 accept; these end at "
               f"{', '.join(sorted(ends))}", "paths")
    return Pipeline(name, tuple(stages), paths, budget, max_khz, bx_ns, l1a, description, source)


class _Checker:
    def __init__(self, source: str):
        self.source = source

    def fail(self, mapping, key, problem: str, fld: str):
        raise L1TInputError(self.source, f"line {line_of(mapping, key)}: {problem}", fld)

    def keys(self, mapping, allowed: set, where: str):
        for k in mapping:
            if k not in allowed:
                self.fail(mapping, k, f"unknown field {k!r} (allowed: "
                          f"{', '.join(sorted(allowed))})", f"{where}.{k}".lstrip("."))

    def number(self, mapping, key, where, minimum=0.0, positive=False, integer=False, maximum=None):
        v = mapping[key]
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and v >= minimum and (v > 0 or not positive) and (not integer or int(v) == v)
        ok = ok and (maximum is None or v <= maximum)
        if not ok:
            kind = "an integer" if integer else "a number"
            bound = f"> {minimum:g}" if positive else f">= {minimum:g}"
            if maximum is not None:
                bound += f" and <= {maximum:g}"
            self.fail(mapping, key, f"{key} must be {kind} {bound}, got {v!r}",
                      f"{where}.{key}".lstrip("."))
        return int(v) if integer else float(v)

    def string(self, mapping, key, where) -> str:
        v = mapping[key]
        if not isinstance(v, str):
            self.fail(mapping, key, f"{key} must be a string, got {v!r}",
                      f"{where}.{key}".lstrip("."))
        return v

    def stage(self, name: str, body, where: str, line: int) -> Stage:
        self.keys(body, _STAGE, where)
        kw = {"name": name}
        if "firmware" in body:
            given = [k for k in _FROM_FIRMWARE if k in body]
            if given:
                self.fail(body, given[0], f"{given[0]} comes from the firmware report; give "
                          "either firmware or the figures", f"{where}.{given[0]}")
            report = Path(self.string(body, "firmware", where))
            if not report.is_absolute():
                base = Path(self.source).parent if self.source not in ("pipeline", "") \
                    else Path.cwd()
                report = (base / report).resolve()
            if not report.exists():
                self.fail(body, "firmware", f"no firmware report at {report}", f"{where}.firmware")
            kw.update(_firmware_figures(report))
        else:
            for key in ("clock_mhz", "latency_cycles"):
                if key not in body:
                    raise L1TInputError(self.source, f"line {line}: stage {name} needs {key} (or "
                                        "a firmware report)", f"{where}.{key}")
            kw["clock_mhz"] = self.number(body, "clock_mhz", where, positive=True)
            kw["latency_cycles"] = self.number(body, "latency_cycles", where, integer=True)
            if "ii" in body:
                kw["ii"] = self.number(body, "ii", where, minimum=1, integer=True)
        if "tmux" in body:
            kw["tmux"] = self.number(body, "tmux", where, minimum=1, integer=True)
        if "link_ns" in body:
            kw["link_ns"] = self.number(body, "link_ns", where)
        if "buffer" in body:
            kw["buffer"] = self.number(body, "buffer", where, minimum=1, integer=True,
                                       maximum=MAX_BUFFER)
        if "source" in body:
            kw["source"] = self.string(body, "source", where)
        if "role" in body:
            if body["role"] not in ROLES:
                self.fail(body, "role", f"unknown role {body['role']!r} (known: "
                          f"{', '.join(ROLES)})", f"{where}.role")
            kw["role"] = body["role"]
        if "description" in body:
            self.string(body, "description", where)
        return Stage(**kw)


# --------------------------------------------------------------------------- firmware reports

def _firmware_figures(report: dict | str | Path) -> dict:
    """``clock_mhz``, ``latency_cycles``, ``ii``, ``firmware`` and ``source`` of a firmware report
    (a dict as written by firmware/report.py, or the path of its JSON file)."""
    if isinstance(report, dict):
        where, data = "firmware report", report
    else:
        where = str(report)
        try:
            data = json.loads(Path(report).read_text())
        except OSError as err:
            raise L1TInputError(where, f"cannot read firmware report ({err.strerror})") from None
        except json.JSONDecodeError as err:
            raise L1TInputError(where, f"line {err.lineno}: bad JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise L1TInputError(where, "a firmware report is one JSON object")

    def num(key, integer, minimum):
        v = data.get(key)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) \
            and v >= minimum and (not integer or int(v) == v)
        if not ok:
            kind = "an integer" if integer else "a number"
            problem = "missing" if key not in data else f"must be {kind} >= {minimum:g}, got {v!r}"
            raise L1TInputError(where, f"{key} {problem}", key)
        return int(v) if integer else float(v)

    clock_ns = num("clock_ns", False, 0)
    if clock_ns <= 0:
        raise L1TInputError(where, f"clock_ns must be > 0, got {clock_ns!r}", "clock_ns")
    latency = num("latency_cycles", True, 0)
    ii = num("initiation_interval", True, 1)
    model = data.get("model")
    label = f"firmware report {where}" + (f" (model {model}, backend {data.get('backend')})"
                                          if isinstance(model, str) else "")
    return {"clock_mhz": 1000.0 / clock_ns, "latency_cycles": latency, "ii": ii,
            "firmware": where, "source": label}


def with_firmware(pipeline: Pipeline, stage_name: str, report: dict | str | Path) -> Pipeline:
    """A copy of ``pipeline`` whose stage ``stage_name`` takes its clock, latency and II from a
    firmware report (dict or JSON path); tmux, link, buffer and role stay."""
    if stage_name not in pipeline.stage_names:
        raise L1TInputError(pipeline.path or pipeline.name, f"no stage {stage_name!r} (stages: "
                            f"{', '.join(pipeline.stage_names)})", f"stages.{stage_name}")
    figures = _firmware_figures(report)
    stages = tuple(dataclasses.replace(s, **figures) if s.name == stage_name else s
                   for s in pipeline.stages)
    return dataclasses.replace(pipeline, stages=stages)


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
        lat = _aligned_latency(tb, idx, ORBIT_BX)
        worst = float(tb.ns(lat.max()))
        paths.append(PathCheck(name, pipeline.paths[name], float(tb.ns(fixed)),
                               float(tb.ns(lat.max() - fixed)), worst, float(tb.ns(lat.min())),
                               budget, budget - worst, worst <= budget))
    return CheckReport(pipeline.name, budget, tuple(stages), tuple(paths))


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


def simulate(pipeline: Pipeline, n_bx: int = ORBIT_BX, state: SimState | None = None, *,
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
