"""The L1 trigger pipeline as data (YAML): stages, paths, presets and firmware reports.

The static check is :mod:`.check`, the cycle-level simulation :mod:`.simulate`.

A pipeline file (presets: ``trigger/stream/pipelines/phase2.yaml``, ``run3.yaml``)::

    name: phase2                 # optional (default: the file name)
    description: ...             # optional
    bx_ns: 25                    # BX period, ns (default: the nominal 25 of the 40 MHz clock)
    budget_us: 12.5              # fixed L1 latency budget, µs (BX to L1 accept at the front-ends)
    max_accept_khz: 750          # optional: the L1 accept rate the readout takes, kHz
    trigger_rules: [[1, 3], [2, 25], [3, 100], [4, 240]]   # optional, read by trigger/stream/l1a.py
    derandomizer: {depth: 8, readout_ns: 1000}               # optional, read by trigger/stream/l1a.py
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

``trigger_rules`` and ``derandomizer`` are kept as read (:attr:`Pipeline.l1a`); trigger/stream/l1a.py
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

import dataclasses
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from l1t.core.checks import Checker
from l1t.core.errors import L1TInputError
from l1t.core.yamlio import line_of, load_yaml, parse_yaml

from ...lhc import NOMINAL_BX_NS

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
PRESETS = {"phase2": PIPELINES / "phase2.yaml", "run3": PIPELINES / "run3.yaml"}
ROLES = ("frontend", "track", "muon", "calo", "correlator", "gt", "model", "l1a")
MAX_BUFFER = 4096
#: Accepted ranges, to catch a mistyped unit rather than to judge a design (estimates): a bunch
#: spacing from 1 ns to 10 µs (the LHC's is 25 ns), a latency budget up to 1 ms (Phase-2's is
#: 12.5 µs), stage clocks up to 2 GHz (FPGA fabric runs below 1 GHz).
MIN_BX_NS, MAX_BX_NS = 1.0, 10_000.0
MAX_BUDGET_US = 1000.0
MAX_CLOCK_MHZ = 2000.0
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

    def interval_ns(self, bx_ns: float = NOMINAL_BX_NS) -> float:
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
    bx_ns: float = NOMINAL_BX_NS
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
    return _pipeline_from(load_yaml(path, "pipeline"), str(path))


def parse_pipeline(text: str, source: str = "pipeline") -> Pipeline:
    """Parse pipeline YAML text; ``source`` names the file in errors and anchors firmware paths."""
    return _pipeline_from(parse_yaml(text, source), source)


def _pipeline_from(data, source: str) -> Pipeline:
    c = _Checker(source)
    if not isinstance(data, dict):
        raise L1TInputError(source, "line 1: a pipeline is a mapping with stages and paths",
                            "stages")
    c.keys(data, _TOP, "")
    for key in ("budget_us", "stages", "paths"):
        if key not in data:
            c.fail(data, None, f"missing {key!r}", key)
    budget = c.number(data, "budget_us", "", positive=True, maximum=MAX_BUDGET_US)
    bx_ns = c.number(data, "bx_ns", "", minimum=MIN_BX_NS, maximum=MAX_BX_NS) \
        if "bx_ns" in data else NOMINAL_BX_NS
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
            if not isinstance(s, str) or s not in stages_map:
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


class _Checker(Checker):
    """The pipeline grammar on top of the shared field checks."""

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
            kw["clock_mhz"] = self.number(body, "clock_mhz", where, positive=True,
                                          maximum=MAX_CLOCK_MHZ)
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
    (a dict as :mod:`l1t.firmware.report` writes it, or the path of its JSON file)."""
    from l1t.firmware.report import check_report, read_report

    if isinstance(report, dict):
        where, data = "firmware report", check_report(report)
    else:
        where, data = str(report), read_report(report)
    model = data.get("model")
    label = f"firmware report {where}" + (f" (model {model}, backend {data.get('backend')})"
                                          if isinstance(model, str) else "")
    return {"clock_mhz": 1000.0 / data["clock_ns"], "latency_cycles": int(data["latency_cycles"]),
            "ii": int(data["initiation_interval"]), "firmware": where, "source": label}


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


