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
    stages:                      # every processing stage
      track_finder:
        inputs: [tracker_dtc]    # optional: the stages it reads (see "Graph" below)
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

Graph. The pipeline is a directed acyclic graph of stages: a stage reads the outputs of its
``inputs`` and starts when the last of them has arrived. Either every stage that reads another
one lists it under ``inputs:`` (stages without ``inputs`` read the detector) and ``paths:`` is
optional, naming chains of the graph for the latency table (each consecutive pair an edge, the
last stage the L1 accept; unnamed chains are listed under their stages joined by ``>``); or no
stage has ``inputs:`` and the graph is derived from ``paths:`` (a stage reads the stage before
it on every path it is on). Exactly one stage feeds no other (it issues the L1 accept) and every
stage leads to it.

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

* the event of BX ``b`` exists at ``t = b × bx_ns`` (a source stage's ``link_ns`` brings it
  from the detector); at each stage it goes to board ``b % tmux``, arrives at
  ``t_in = max over the inputs of t_out(input) + link_ns`` (the last input to arrive is the
  stage's *critical input*), waits in that board's input buffer, starts at the first edge of
  the stage's clock ``>= max(t_in, previous start on the board + ii clocks)`` and leaves at
  ``start + latency_cycles`` clocks;
* boards take their events in BX order; an event arriving while ``buffer`` earlier events of its
  board are still waiting to start is lost at that stage (it would break the fixed latency), and
  with it at every stage downstream (they never receive it);
* the L1 accept of a BX is ready when the last stage's output is. Because the clock-edge wait
  and ``max`` are both non-decreasing, without queues this is the latest of the chains from the
  detector to the L1 accept, each timed alone (a path's own total).

A stage keeps up iff ``ii / clock <= bx_ns × tmux`` (:func:`check`: occupancy <= 1); with every
stage keeping up and clocks that are multiples of the BX frequency, every event of a path has the
same latency (fixed latency); along a chain ``Σ (link_ns + latency_cycles / clock) + the waits
for clock edges``; a clock not locked to the BX makes the edge waits, so the latency, vary over the orbit
(:func:`check` reports the worst). :func:`simulate` runs every stage once per BX in topological
order (compiled), streams in chunks with a carried :class:`SimState`, and reports per BX the L1
accept latency, the loss and where, and per stage its output time, critical input, busy
fraction and fullest buffer.
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
          "role", "description", "inputs"}
#: Chains listed when a graph names none (a bigger graph names the ones to report).
MAX_AUTO_PATHS = 256
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
    """Stages, the graph (``inputs``: stage → the stages it reads, ``()`` for a source), named
    chains (``paths``: name → stage names ending at the L1 accept), budget. Built with ``paths``
    alone, the graph is derived from them; with ``inputs`` alone, every chain from a source to
    the L1 accept is listed as a path named by its stages."""

    name: str
    stages: tuple[Stage, ...]
    paths: dict[str, tuple[str, ...]]
    budget_us: float
    max_accept_khz: float | None = None
    bx_ns: float = NOMINAL_BX_NS
    l1a: dict = field(default_factory=dict)   # raw ``trigger_rules`` / ``derandomizer``
    description: str = ""
    path: str = ""                              # the YAML file
    inputs: dict[str, tuple[str, ...]] | None = None

    def __post_init__(self):
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate stage names in {names}")
        for pname, chain in self.paths.items():
            unknown = [s for s in chain if s not in names]
            if not chain or unknown:
                raise ValueError(f"path {pname}: empty or unknown stages {unknown}")
        inputs = self.inputs
        if inputs is None:
            inputs = derive_inputs(names, self.paths)
        else:
            inputs = {n: tuple(inputs.get(n, ())) for n in names}
            for n, ins in inputs.items():
                bad = [i for i in ins if i not in names or i == n]
                if bad or len(set(ins)) != len(ins):
                    raise ValueError(f"stage {n}: bad or repeated inputs {list(ins)}")
        problem = graph_problem(names, inputs)
        if problem:
            raise ValueError(problem)
        object.__setattr__(self, "inputs", inputs)
        sink = sinks(names, inputs)[0]
        for pname, chain in self.paths.items():
            problem = chain_problem(chain, inputs, sink)
            if problem:
                raise ValueError(f"path {pname}: {problem}")
        if not self.paths:
            object.__setattr__(self, "paths", auto_paths(inputs, sink))

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
        """The stage that feeds no other (where the L1 accept is issued)."""
        return sinks(self.stage_names, self.inputs)[0]

    @property
    def order(self) -> list[int]:
        """Stage indices in topological order (inputs first; ties in the order of ``stages``)."""
        return topological_order(self.stage_names, self.inputs)

    @property
    def budget_ns(self) -> float:
        return self.budget_us * 1000


# --------------------------------------------------------------------------- the graph

def derive_inputs(names: list[str], paths: dict[str, tuple[str, ...]]
                  ) -> dict[str, tuple[str, ...]]:
    """The graph of chains: a stage reads the stage before it on every path it is on (in the
    order the paths list them)."""
    inputs: dict[str, list[str]] = {n: [] for n in names}
    for chain in paths.values():
        for a, b in zip(chain, chain[1:]):
            if a not in inputs[b]:
                inputs[b].append(a)
    return {n: tuple(v) for n, v in inputs.items()}


def sinks(names: list[str], inputs: dict[str, tuple[str, ...]]) -> list[str]:
    """Stages no other stage reads, in the order of ``names``."""
    read = {i for ins in inputs.values() for i in ins}
    return [n for n in names if n not in read]


def topological_order(names: list[str], inputs: dict[str, tuple[str, ...]]) -> list[int]:
    """Indices of ``names``, every stage after its inputs (stable); raises ValueError on a
    cycle."""
    index = {n: i for i, n in enumerate(names)}
    done: list[int] = []
    placed: set[str] = set()
    left = list(names)
    while left:
        ready = [n for n in left if all(i in placed for i in inputs[n])]
        if not ready:
            raise ValueError(f"the stages {', '.join(left)} read each other in a cycle")
        for n in ready:
            placed.add(n)
            done.append(index[n])
        left = [n for n in left if n not in placed]
    return done


def graph_problem(names: list[str], inputs: dict[str, tuple[str, ...]]) -> str | None:
    """Why ``inputs`` is not a pipeline (a cycle, several or no last stage, a stage that does
    not lead to the L1 accept), or None."""
    try:
        topological_order(names, inputs)
    except ValueError as err:
        return str(err)
    last = sinks(names, inputs)
    if len(last) != 1:
        return ("exactly one stage issues the L1 accept (feeds no other stage); these feed "
                f"none: {', '.join(last)}")
    return None


def chain_problem(chain, inputs: dict[str, tuple[str, ...]], sink: str) -> str | None:
    """Why ``chain`` is not a chain of the graph ending at ``sink``, or None."""
    for a, b in zip(chain, chain[1:]):
        if a not in inputs[b]:
            return f"{b} does not read {a}"
    if chain[-1] != sink:
        return f"ends at {chain[-1]}, not at the stage issuing the L1 accept ({sink})"
    return None


def auto_paths(inputs: dict[str, tuple[str, ...]], sink: str) -> dict[str, tuple[str, ...]]:
    """Every chain from a source to ``sink``, named by its stages joined with ``>``."""
    chains: list[tuple[str, ...]] = []

    def walk(stage: str, tail: tuple[str, ...]) -> None:
        if len(chains) > MAX_AUTO_PATHS:
            return
        if not inputs[stage]:
            chains.append((stage,) + tail)
        for i in inputs[stage]:
            walk(i, (stage,) + tail)

    walk(sink, ())
    if len(chains) > MAX_AUTO_PATHS:
        raise ValueError(f"the graph has more than {MAX_AUTO_PATHS} chains from the detector to "
                         "the L1 accept: name the ones to report under paths:")
    return {">".join(c): c for c in sorted(chains)}


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
    for key in ("budget_us", "stages"):
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
    names = [st.name for st in stages]
    graph = any("inputs" in body for body in stages_map.values())
    inputs = {n: c.inputs(stages_map[n], n, names) for n in names} if graph else None
    if not graph and "paths" not in data:
        c.fail(data, None, "missing 'paths' (or the stages' inputs)", "paths")

    paths: dict[str, tuple[str, ...]] = {}
    paths_map = data.get("paths", {})
    if "paths" in data and (not isinstance(paths_map, dict) or not paths_map):
        c.fail(data, "paths", "'paths' must be a non-empty mapping of path names", "paths")
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
    if not graph:
        ends = {chain[-1] for chain in paths.values()}
        if len(ends) > 1:
            c.fail(data, "paths", "every path ends at the stage issuing the L1 accept; these "
                   f"end at {', '.join(sorted(ends))}", "paths")
        unused = [n for n in names if not any(n in chain for chain in paths.values())]
        if unused:
            c.fail(stages_map, unused[0], f"stage {unused[0]} is on no path", f"stages.{unused[0]}")
    graph_inputs = inputs if graph else derive_inputs(names, paths)
    problem = graph_problem(names, graph_inputs)
    if problem:
        c.fail(data, "paths" if not graph else "stages", problem,
               "paths" if not graph else "stages")
    if graph:
        sink = sinks(names, graph_inputs)[0]
        for pname, chain in paths.items():
            problem = chain_problem(chain, graph_inputs, sink)
            if problem:
                c.fail(paths_map, pname, f"path {pname}: {problem}", f"paths.{pname}")
    try:
        return Pipeline(name, tuple(stages), paths, budget, max_khz, bx_ns, l1a, description,
                        source, inputs)
    except ValueError as err:          # e.g. a graph with too many chains to list
        raise L1TInputError(source, str(err), "paths") from None


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

    def inputs(self, body, name: str, names: list[str]) -> tuple[str, ...]:
        """A stage's ``inputs:`` (absent: none, it reads the detector)."""
        if "inputs" not in body:
            return ()
        where = f"stages.{name}.inputs"
        v = body["inputs"]
        if not isinstance(v, list) or not v:
            self.fail(body, "inputs", "inputs must be a non-empty list of stage names", where)
        for i, s in enumerate(v):
            if not isinstance(s, str) or s not in names or s == name:
                self.fail(body, "inputs", f"unknown input {s!r} (stages: "
                          f"{', '.join(n for n in names if n != name)})", f"{where}[{i}]")
            if s in v[:i]:
                self.fail(body, "inputs", f"input {s!r} twice", f"{where}[{i}]")
        return tuple(v)


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


