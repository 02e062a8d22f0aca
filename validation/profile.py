"""``l1t profile``: the deployable models and reference nets on every backend this machine has.

What is profiled (:func:`targets`): every model directory of a registered deployable kind
(:func:`l1t.firmware.deployable.deployable_kinds`; a kind's ``net(model_dir)`` gives the Keras
net and its input type) found under the given run directories or named directly, plus the
reference MLP, 1-D CNN and MLP-Mixer of :mod:`l1t.models.reference` at the chosen sizes.

Backends (:data:`RUNNERS`, one registered class each; :func:`register_runner` adds one):

- ``emulator``: the bit-exact fixed-point emulator (numpy + numba, CPU);
- ``tensorflow-cpu``: the (Q)Keras net in TensorFlow on the CPU (a ``tf.function``);
- ``onnxruntime``: the net exported to ONNX (:mod:`l1t.models.onnx_export`) in ONNX Runtime;
- ``hls4ml-csim``: the hls4ml project's C simulation (g++, CPU);
- ``rtl``: the da4ml design of :mod:`l1t.firmware.rtl`; its hardware figures come from the
  pipeline (clock cycles at the IR's target clock, II, da4ml's LUT/FF estimate): a batch of B
  events takes ``(latency_cycles + (B - 1) × II) × clock_ns`` ns on the FPGA (the batch streams
  through the pipeline), the throughput is ``1 / (II × clock)``. With the runner option
  ``simulate`` (``l1t profile --rtl-simulate``) the Verilog is also built and simulated in
  Verilator and its wall time per call recorded (``simulation``): minutes of compilation for a
  net of a few thousand weights, so off by default;
- ``tensorflow-gpu``: the net in TensorFlow on a GPU, where TensorFlow sees one.

A backend missing on this machine (no GPU) or unable to map a model (the firmware IR takes
Dense/ReLU/linear layers only: no convolutions, reshapes or additions) is listed as missing with
the reason, never dropped. Per call (one batch of B events, B in :data:`BATCH_SIZES`), the wall
time of a call is measured repeatedly: median ``p50_s`` and 99th percentile ``p99_s``
(``numpy.percentile``, linear), throughput = B / p50 (events/s). Per-layer times where the
backend allows it: TensorFlow (each Keras layer called on its own, a ``tf.function`` per layer)
and ONNX Runtime (its profiler's kernel times, summed per Keras layer); the emulator's fused
kernel, the C simulation and the RTL pipeline run all layers in one pass (the reason is
recorded).

Timings are of this machine, under whatever else runs on it: each runtime uses its default
threads. Outputs: ``profile.json`` (:data:`PROFILE_CONTRACT`), ``profile.txt`` (the table),
``latency.png``, ``throughput.png``, ``layers.png``, and the split analysis
(:mod:`l1t.validation.split`: ``split.png``) of the deployable models.
"""
from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract, atomic_write
from l1t.trigger.report import png_bytes

BATCH_SIZES = (1, 4, 16, 64, 256, 1024, 4096)
#: the batch of the per-layer times (large enough that the layers' work shows over call overhead)
LAYER_BATCH = 1024
#: wall time spent per (model, backend, batch) measurement, seconds (at least MIN_REPEATS calls)
BUDGET_S = 0.4
MIN_REPEATS, MAX_REPEATS = 5, 300
PROFILE_CONTRACT = JsonContract("l1t-profile", 1)


# --------------------------------------------------------------------------- results

@dataclass
class Point:
    """One batch size: per-call wall time (s) median and 99th percentile, events/s, calls."""

    batch: int
    p50_s: float
    p99_s: float
    throughput_hz: float
    repeats: int


@dataclass
class LayerTime:
    """Time per call of one Keras layer (s) at ``batch`` events."""

    layer: str
    kind: str
    seconds: float


@dataclass
class BackendProfile:
    """One model on one backend: ``status`` ``ok`` or ``missing`` (``reason`` says why)."""

    backend: str
    status: str
    reason: str | None = None
    points: list[Point] = field(default_factory=list)
    layers: list[LayerTime] | None = None
    layers_reason: str | None = None
    layer_batch: int | None = None
    #: FPGA figures (RTL): latency_cycles, clock_ns, initiation_interval, latency_ns, resources
    hardware: dict | None = None
    #: measured wall time of the simulation where ``points`` are the hardware's (RTL)
    simulation: list[Point] | None = None
    prepare_s: float | None = None

    def point(self, batch: int) -> Point | None:
        return next((p for p in self.points if p.batch == batch), None)


@dataclass
class ModelProfile:
    """One profiled net: where it comes from (a deployable kind or ``reference``), its family
    and size, inputs, parameters, input type, and one :class:`BackendProfile` per backend."""

    name: str
    origin: str
    family: str
    size: str | None
    path: str | None
    n_in: int
    parameters: int
    input_type: str
    layers: list[str]
    backends: list[BackendProfile]

    def backend(self, name: str) -> BackendProfile | None:
        return next((b for b in self.backends if b.backend == name), None)


@dataclass
class Profile:
    """Everything ``l1t profile`` measured (``profile.json``)."""

    machine: dict
    batch_sizes: list[int]
    backends: list[str]
    missing: dict[str, str]
    models: list[ModelProfile]
    splits: list = field(default_factory=list)
    paths: dict = field(default_factory=dict)

    def model(self, name: str) -> ModelProfile | None:
        return next((m for m in self.models if m.name == name), None)


# --------------------------------------------------------------------------- targets

@dataclass
class Target:
    """A net to profile: its Keras model, input type, origin (deployable kind or ``reference``)."""

    name: str
    origin: str
    family: str
    net: Any
    input_type: str
    size: str | None = None
    path: str | None = None


def deployable_dirs(roots: Iterable[str | Path]) -> list[tuple[Path, Any]]:
    """``(model_dir, kind)`` of every directory under ``roots`` (or a root itself) whose
    ``model.json`` is of a registered deployable kind, kinds in registration order."""
    from l1t.firmware.deployable import deployable_kinds, kind_of

    found: list[tuple[Path, Any]] = []
    for root in map(Path, roots):
        if not root.exists():
            raise L1TInputError(root, "no such file or directory")
        candidates = [root] if (root / "model.json").exists() else \
            sorted(p.parent for p in root.rglob("model.json"))
        for d in candidates:
            try:
                found.append((d, kind_of(d)))
            except L1TInputError:
                continue                       # a model.json of no deployable kind
    order = list(deployable_kinds())
    return sorted(found, key=lambda dk: (order.index(dk[1].name), str(dk[0])))


def targets(run_dirs: Iterable[str | Path] = (), families: Iterable[str] = (),
            sizes: Iterable[str] = ("s",), seed: int = 1) -> list[Target]:
    """The deployable models under ``run_dirs`` and the reference nets ``families`` × ``sizes``."""
    from l1t.models.reference import INPUT_TYPE, reference_net

    out = []
    for d, kind in deployable_dirs(run_dirs):
        net, input_type = kind.net(d)
        out.append(Target(d.name, kind.name, "mlp", net, str(input_type), path=str(d)))
    for family in families:
        for size in sizes:
            out.append(Target(f"{family}-{size}", "reference", family,
                              reference_net(family, size, seed), INPUT_TYPE, size=size))
    names = [t.name for t in out]
    for t in out:          # two runs with a model directory of the same name: add the parent
        if names.count(t.name) > 1 and t.path is not None:
            t.name = f"{Path(t.path).parent.name}/{t.name}"
    return out


# --------------------------------------------------------------------------- timing

def time_calls(call: Callable[[np.ndarray], Any], x: np.ndarray, batch: int,
               budget_s: float = BUDGET_S, min_repeats: int = MIN_REPEATS,
               max_repeats: int = MAX_REPEATS) -> Point:
    """Wall time of ``call(x[:batch])`` (after one warm-up call): repeated until ``budget_s``
    has passed and at least ``min_repeats`` calls were made, at most ``max_repeats``."""
    xb = x[:batch]
    call(xb)
    times = []
    start = time.perf_counter()
    while len(times) < max_repeats:
        t0 = time.perf_counter_ns()
        call(xb)
        times.append((time.perf_counter_ns() - t0) * 1e-9)
        if len(times) >= min_repeats and time.perf_counter() - start > budget_s:
            break
    t = np.asarray(times)
    p50 = float(np.percentile(t, 50))
    return Point(batch, p50, float(np.percentile(t, 99)), batch / p50 if p50 > 0 else
                 float("inf"), len(times))


def grid_batch(input_type: str, n: int, n_in: int, seed: int = 1) -> np.ndarray:
    """``(n, n_in)`` float64 inputs on the grid of ``input_type`` (what every backend takes)."""
    from l1t.models.fixedpoint import FixedType
    from l1t.validation.firmware_check import grid_inputs

    return grid_inputs(FixedType.parse(input_type), n, n_in, seed)


# --------------------------------------------------------------------------- runners

class Prepared:
    """A target ready on a backend: ``call(x)`` runs one batch (float64 on-grid inputs)."""

    def __init__(self, call: Callable[[np.ndarray], Any], *,
                 layers: Callable[[np.ndarray], list[LayerTime]] | None = None,
                 layers_reason: str | None = None, hardware: dict | None = None) -> None:
        self.call = call
        self.layers = layers
        self.layers_reason = layers_reason
        self.hardware = hardware


class Runner:
    """A backend of the profile. ``missing()``: why it cannot run on this machine (None: it can);
    ``prepare(target, fw, workdir)``: a :class:`Prepared` or :class:`L1TInputError` with the
    reason it cannot take that model (``fw``: the firmware IR, or the error that refused it)."""

    name: ClassVar[str] = "runner"
    needs_ir: ClassVar[bool] = False

    def missing(self) -> str | None:
        return None

    def prepare(self, target: Target, fw: Any, workdir: Path) -> Prepared:
        raise NotImplementedError

    def points(self, prepared: Prepared, x: np.ndarray, batch_sizes: Iterable[int],
               budget_s: float) -> tuple[list[Point], list[Point] | None]:
        """Measured points (and, for a backend with hardware figures, the simulation's)."""
        return [time_calls(prepared.call, x, b, budget_s) for b in batch_sizes], None


def _ir(fw: Any, runner: str):
    if isinstance(fw, L1TInputError):
        raise L1TInputError(fw.source, f"the firmware IR cannot map this model: {fw.problem}",
                            runner)
    return fw


class _FirmwareRunner(Runner):
    needs_ir = True
    backend = ""
    layers_reason: ClassVar[str] = ""

    def prepare(self, target: Target, fw: Any, workdir: Path) -> Prepared:
        from l1t.firmware.backend import get_backend

        fw = _ir(fw, self.name)
        b = get_backend(self.backend)
        b.compile(fw, str(workdir / f"{self.backend}_prj"))
        return Prepared(b.predict, layers_reason=self.layers_reason)

class EmulatorRunner(_FirmwareRunner):
    name = "emulator"
    backend = "emulator"
    layers_reason = "the fused kernel carries events through all layers in one pass"


class HLSRunner(_FirmwareRunner):
    name = "hls4ml-csim"
    backend = "hls4ml"
    layers_reason = "the C simulation runs the whole top function in one call"

    def missing(self) -> str | None:
        import shutil

        return None if shutil.which("g++") else "no g++ on this machine (hls4ml compiles the " \
                                                "C simulation with it)"


class RTLRunner(_FirmwareRunner):
    """The FPGA figures of the da4ml design; with ``simulate`` also the Verilator build and its
    wall time per call (minutes of compilation for a net of a few thousand weights)."""

    name = "rtl"
    backend = "rtl"
    layers_reason = "da4ml schedules the pipeline stages across layers (no per-layer stage)"
    def __init__(self, simulate: bool = False) -> None:
        self.simulate = bool(simulate)

    def prepare(self, target: Target, fw: Any, workdir: Path) -> Prepared:
        from l1t.firmware.backend import get_backend

        fw = _ir(fw, self.name)
        b = get_backend("rtl", build=self.simulate)
        b.compile(fw, str(workdir / "rtl_prj") if self.simulate else None)
        hw = {"latency_cycles": int(b.latency_cycles), "clock_ns": float(b.clock_ns),
              "initiation_interval": int(b.initiation_interval),
              "latency_ns": float(b.latency_cycles) * float(b.clock_ns),
              "throughput_hz": 1e9 / (b.initiation_interval * b.clock_ns),
              "resources": b.resources, "simulated": self.simulate}
        return Prepared(b.predict if self.simulate else None,
                        layers_reason=self.layers_reason, hardware=hw)

    def points(self, prepared: Prepared, x: np.ndarray, batch_sizes: Iterable[int],
               budget_s: float) -> tuple[list[Point], list[Point] | None]:
        hw = prepared.hardware
        sim = [time_calls(prepared.call, x, b, budget_s) for b in batch_sizes] \
            if prepared.call is not None else None
        pts = []
        for b in batch_sizes:
            t = (hw["latency_cycles"] + (b - 1) * hw["initiation_interval"]) \
                * hw["clock_ns"] * 1e-9
            pts.append(Point(b, t, t, b / t if t > 0 else float("inf"), 0))
        return pts, sim


def _tf_device_missing(kind: str) -> str | None:
    import tensorflow as tf

    if tf.config.list_physical_devices(kind):
        return None
    return (f"no {kind} visible to TensorFlow {tf.__version__} on this machine "
            "(tf.config.list_physical_devices is empty)")


class TFRunner(Runner):
    name = "tensorflow-cpu"
    device = "/CPU:0"

    def prepare(self, target: Target, fw: Any, workdir: Path) -> Prepared:
        import tensorflow as tf

        net = target.net
        n_in = int(net.inputs[0].shape[-1])
        with tf.device(self.device):
            fn = tf.function(lambda x: net(x, training=False), reduce_retracing=True,
                             input_signature=[tf.TensorSpec([None, n_in], tf.float32)])

        def call(x: np.ndarray):
            with tf.device(self.device):
                return [o.numpy() for o in tf.nest.flatten(fn(np.asarray(x, np.float32)))]

        return Prepared(call, layers=lambda x: self._layers(net, x))

    def _layers(self, net, x: np.ndarray) -> list[LayerTime]:
        import tensorflow as tf
        from tensorflow import keras

        from l1t.models.onnx_export import inbound_layers

        layers = [l for l in net.layers if type(l).__name__ != "InputLayer"]
        with tf.device(self.device):
            sub = keras.Model(net.inputs, [l.output for l in layers])
            values = dict(zip([l.name for l in layers],
                              tf.nest.flatten(sub(np.asarray(x, np.float32), training=False))))
            values.update({l.name: tf.constant(np.asarray(x, np.float32))
                           for l in net.layers if type(l).__name__ == "InputLayer"})
        out = []
        for layer in layers:
            args = [values[src.name] for src in inbound_layers(layer)]
            arg = args if len(args) > 1 else args[0]
            with tf.device(self.device):
                fn = tf.function(lambda a, layer=layer: layer(a, training=False))
                p = time_calls(lambda _, fn=fn, arg=arg: fn(arg).numpy(), x, len(x), 0.1, 5, 50)
            out.append(LayerTime(layer.name, type(layer).__name__, p.p50_s))
        return out


class TFGPURunner(TFRunner):
    name = "tensorflow-gpu"
    device = "/GPU:0"

    def missing(self) -> str | None:
        return _tf_device_missing("GPU")


class ONNXRunner(Runner):
    name = "onnxruntime"

    def missing(self) -> str | None:
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as err:
            return f"not installed ({err})"
        return None

    def prepare(self, target: Target, fw: Any, workdir: Path) -> Prepared:
        import onnxruntime as ort

        from l1t.models.onnx_export import to_onnx

        proto = to_onnx(target.net)
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / f"{_safe(target.name)}.onnx"
        atomic_write(path, lambda p: Path(p).write_bytes(proto.SerializeToString()))
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def call(x: np.ndarray):
            return session.run(None, {name: np.asarray(x, np.float32)})

        return Prepared(call, layers=lambda x: self._layers(path, name, x))

    @staticmethod
    def _layers(path: Path, input_name: str, x: np.ndarray, runs: int = 20) -> list[LayerTime]:
        import onnxruntime as ort

        from l1t.models.onnx_export import keras_layer_of

        opts = ort.SessionOptions()
        opts.enable_profiling = True
        opts.profile_file_prefix = str(path.with_suffix("")) + "-profile"
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        xf = np.asarray(x, np.float32)
        for _ in range(runs + 1):
            session.run(None, {input_name: xf})
        trace = Path(session.end_profiling())
        events = json.loads(trace.read_text())
        trace.unlink(missing_ok=True)
        per_layer: dict[str, float] = {}
        kinds: dict[str, str] = {}
        for e in events:
            if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
                continue
            node = e["name"][: -len("_kernel_time")]
            layer = keras_layer_of(node)
            per_layer[layer] = per_layer.get(layer, 0.0) + float(e["dur"]) * 1e-6
            kinds.setdefault(layer, e.get("args", {}).get("op_name", "?"))
        # the first run is a warm-up: scale the sums to one call
        return [LayerTime(k, kinds[k], v / (runs + 1)) for k, v in per_layer.items()]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


RUNNERS: dict[str, type[Runner]] = {}


def register_runner(cls: type[Runner], *, replace: bool = False) -> type[Runner]:
    """Make the backend ``cls.name`` available to the profile (refused if taken unless
    ``replace``)."""
    if cls.name in RUNNERS and not replace:
        raise ValueError(f"profile backend {cls.name!r} is already registered")
    RUNNERS[cls.name] = cls
    return cls


for _cls in (EmulatorRunner, TFRunner, ONNXRunner, HLSRunner, RTLRunner, TFGPURunner):
    register_runner(_cls)
DEFAULT_BACKENDS = tuple(RUNNERS)


def check_backends(names: Iterable[str]) -> list[str]:
    names = list(names)
    for n in names:
        if n not in RUNNERS:
            raise L1TInputError("--backends", f"unknown backend {n!r} (one of "
                                f"{', '.join(RUNNERS)})", "backends")
    return names


# --------------------------------------------------------------------------- the profile

def machine_info() -> dict:
    """This machine and the versions of the runtimes the timings depend on."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("numpy", "tensorflow", "onnxruntime", "hls4ml", "da4ml", "verilator"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return {"platform": platform.platform(), "processor": platform.processor() or None,
            "cpus": os.cpu_count(), "python": platform.python_version(), "versions": versions}


def profile_target(target: Target, runners: list[Runner], missing: dict[str, str],
                   workdir: Path, batch_sizes: list[int], budget_s: float = BUDGET_S,
                   layer_batch: int = LAYER_BATCH, seed: int = 1) -> ModelProfile:
    """Measure one target on every runner (those in ``missing`` are listed with the reason)."""
    from l1t.firmware import ir
    from l1t.models.reference import parameter_count

    net = target.net
    n_in = int(net.inputs[0].shape[-1])
    x = grid_batch(target.input_type, max(max(batch_sizes), layer_batch), n_in, seed)
    fw: Any = None
    if any(r.needs_ir for r in runners):
        try:
            fw = ir.from_keras(net, target.input_type, name=_safe(target.name).replace("-", "_")
                               .replace(":", "_").replace(".", "_"),
                               output_dir=str(workdir / "hls4ml_prj"))
        except L1TInputError as err:
            fw = err
    backends = []
    for r in runners:
        if r.name in missing:
            backends.append(BackendProfile(r.name, "missing", missing[r.name]))
            continue
        t0 = time.perf_counter()
        try:
            prepared = r.prepare(target, fw, workdir / _safe(r.name))
        except L1TInputError as err:
            backends.append(BackendProfile(r.name, "missing", f"{err.source}: {err.problem}"))
            continue
        prep_s = time.perf_counter() - t0
        pts, sim = r.points(prepared, x, batch_sizes, budget_s)
        bp = BackendProfile(r.name, "ok", points=pts, hardware=prepared.hardware,
                            simulation=sim, prepare_s=round(prep_s, 3))
        if prepared.layers is not None:
            bp.layers = prepared.layers(x[:layer_batch])
            bp.layer_batch = layer_batch
        else:
            bp.layers_reason = prepared.layers_reason
        backends.append(bp)
    layers = [l.name for l in net.layers if type(l).__name__ != "InputLayer"]
    return ModelProfile(target.name, target.origin, target.family, target.size, target.path,
                        n_in, parameter_count(net), target.input_type, layers, backends)


def profile(run_dirs: Iterable[str | Path], out_dir: str | Path, *,
            families: Iterable[str] = ("mlp", "cnn1d", "mixer"), sizes: Iterable[str] = ("s",),
            backends: Iterable[str] = DEFAULT_BACKENDS,
            batch_sizes: Iterable[int] = BATCH_SIZES, budget_s: float = BUDGET_S,
            layer_batch: int = LAYER_BATCH, split: bool = True,
            runner_options: dict[str, dict] | None = None,
            link_budget_gbps: float | None = None, seed: int = 1,
            event_rate_mhz: float | None = None, cpu_cores: int | None = None,
            progress: bool = False) -> Profile:
    """Profile the deployable models of ``run_dirs`` and the reference nets; write the outputs
    into ``out_dir``; with ``split``, the split analysis of every deployable model
    (:func:`l1t.validation.split.split_model`, its budgets and event rate defaulted there when
    None). ``runner_options``: constructor options by
    backend name (``{"rtl": {"simulate": True}}``)."""
    from tqdm import tqdm

    from .split import BX_MHZ, DEFAULT_CPU_CORES, DEFAULT_LINK_GBPS, split_model, write_split_plot

    batch_sizes = sorted(set(int(b) for b in batch_sizes))
    if not batch_sizes or batch_sizes[0] < 1:
        raise L1TInputError("--batch-sizes", "batch sizes must be positive integers",
                            "batch_sizes")
    names = check_backends(backends)
    runners = [RUNNERS[n](**(runner_options or {}).get(n, {})) for n in names]
    missing = {r.name: reason for r in runners if (reason := r.missing()) is not None}
    todo = targets(run_dirs, families, sizes, seed)
    if not todo:
        raise L1TInputError(", ".join(map(str, run_dirs)) or "profile", "nothing to profile: no "
                            "deployable model found and no reference family chosen", "models")
    out = Path(out_dir)
    models, splits = [], []
    with tempfile.TemporaryDirectory(prefix="l1t_profile_") as tmp:
        for t in tqdm(todo, desc="profile", unit="model", disable=None if progress else True):
            work = Path(tmp) / _safe(t.name)
            models.append(profile_target(t, runners, missing, work, batch_sizes, budget_s,
                                         layer_batch, seed))
            if split and t.origin != "reference":
                splits.append(split_model(
                    t, link_budget_gbps or DEFAULT_LINK_GBPS, work / "split", seed=seed,
                    event_rate_mhz=event_rate_mhz or BX_MHZ,
                    cpu_cores=DEFAULT_CPU_CORES if cpu_cores is None else cpu_cores))
    result = Profile(machine_info(), batch_sizes, names, missing, models, splits)
    result.paths = write_profile(result, out)
    if splits:
        result.paths["split"] = str(write_split_plot(splits, out / "split.png"))
        PROFILE_CONTRACT.write(out / "profile.json", _json(result))
    return result


# --------------------------------------------------------------------------- outputs

def _json(result: Profile) -> dict:
    return PROFILE_CONTRACT.tag(asdict(result))


def read_profile(path: str | Path) -> dict:
    """Read a ``profile.json`` (format and version checked)."""
    return PROFILE_CONTRACT.read(path)


def _us(s: float | None) -> str:
    return "-" if s is None else f"{s * 1e6:.3g}"


def profile_table_text(p: Profile | dict) -> str:
    """One row per model and backend: per-call p50/p99 at batch 1 (µs), p50 at the largest
    batch, throughput there (events/s), FPGA latency and II where known; missing backends
    with their reason."""
    d = asdict(p) if isinstance(p, Profile) else p
    big = max(d["batch_sizes"])
    lines = [f"{'model':26s} {'backend':15s} {'p50@1 [us]':>11s} {'p99@1 [us]':>11s} "
             f"{f'p50@{big} [us]':>14s} {f'events/s@{big}':>14s}  hardware"]
    for m in d["models"]:
        for b in m["backends"]:
            if b["status"] != "ok":
                reason = b["reason"] if len(b["reason"]) <= 100 else b["reason"][:99] + "…"
                lines.append(f"{m['name']:26s} {b['backend']:15s} missing: {reason}")
                continue
            one = next((q for q in b["points"] if q["batch"] == 1), None)
            last = next((q for q in b["points"] if q["batch"] == big), None)
            rate = f"{last['throughput_hz']:.3g}" if last else "-"
            hw = b.get("hardware")
            hw_text = (f"{hw['latency_cycles']} clk x {hw['clock_ns']:g} ns = "
                       f"{hw['latency_ns']:g} ns, II {hw['initiation_interval']}, "
                       f"{hw['resources'].get('LUT', '?')} LUT" if hw else "")
            lines.append(f"{m['name']:26s} {b['backend']:15s} "
                         f"{_us(one and one['p50_s']):>11s} {_us(one and one['p99_s']):>11s} "
                         f"{_us(last and last['p50_s']):>14s} "
                         f"{rate:>14s}  {hw_text}")
    if d["missing"]:
        lines.append("missing on this machine: " + "; ".join(f"{k}: {v}"
                                                             for k, v in d["missing"].items()))
    lines.append(f"({d['machine']['cpus']} CPUs, {d['machine']['platform']}; rtl rows: the "
                 "FPGA pipeline's time from its clock cycles, not the Verilator wall time)")
    return "\n".join(lines)


_COLORS = {"emulator": "tab:blue", "tensorflow-cpu": "tab:orange", "onnxruntime": "tab:green",
           "hls4ml-csim": "tab:purple", "rtl": "tab:red", "tensorflow-gpu": "tab:brown"}


def _grid(n: int, width: float = 3.6, height: float = 2.9):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(4, max(n, 1))
    rows = -(-max(n, 1) // cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(max(n, 1))]
    return fig, axes


def plot_latency(d: dict, what: str = "latency") -> bytes:
    """Per model: p50 per call vs batch (band to p99), or events/s vs batch, per backend."""
    fig, axes = _grid(len(d["models"]))
    for ax, m in zip(axes, d["models"]):
        for b in m["backends"]:
            if b["status"] != "ok":
                continue
            bs = np.array([q["batch"] for q in b["points"]])
            color = _COLORS.get(b["backend"])
            label = "FPGA (RTL cycles)" if b["backend"] == "rtl" else b["backend"]
            if what == "latency":
                p50 = np.array([q["p50_s"] for q in b["points"]]) * 1e6
                p99 = np.array([q["p99_s"] for q in b["points"]]) * 1e6
                ax.fill_between(bs, p50, p99, color=color, alpha=0.2, lw=0)
                ax.plot(bs, p50, "o-", ms=3, color=color, label=label)
            else:
                ax.plot(bs, [q["throughput_hz"] for q in b["points"]], "o-", ms=3,
                        color=color, label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(m["name"], fontsize=8)
        ax.set_xlabel("batch size [events]", fontsize=7)
        ax.set_ylabel("time per call [us] (p50, band to p99)" if what == "latency"
                      else "throughput [events/s]", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    return png_bytes(fig)


def plot_layers(d: dict) -> bytes | None:
    """Per model: time per Keras layer (TensorFlow, ONNX Runtime) at the layer batch."""
    models = [m for m in d["models"] if any(b.get("layers") for b in m["backends"])]
    if not models:
        return None
    fig, axes = _grid(len(models), 4.2, 3.2)
    for ax, m in zip(axes, models):
        with_layers = [b for b in m["backends"] if b.get("layers")]
        names = m["layers"]
        width = 0.8 / len(with_layers)
        for k, b in enumerate(with_layers):
            t = {l["layer"]: l["seconds"] for l in b["layers"]}
            ax.barh(np.arange(len(names)) + k * width, [t.get(n, 0.0) * 1e6 for n in names],
                    height=width, color=_COLORS.get(b["backend"]), label=b["backend"])
        ax.set_yticks(np.arange(len(names)) + 0.4 - width / 2, names, fontsize=6)
        ax.invert_yaxis()
        ax.set_xscale("log")
        batch = with_layers[0].get("layer_batch")
        ax.set_xlabel(f"time per call [us] at batch {batch}", fontsize=7)
        ax.set_title(m["name"], fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    return png_bytes(fig)


def write_profile(result: Profile, out_dir: str | Path) -> dict[str, str]:
    """``profile.json``, ``profile.txt``, ``latency.png``, ``throughput.png`` and
    ``layers.png`` (where some backend gave per-layer times), each atomically."""
    out = Path(out_dir)
    d = asdict(result)
    pngs = {"latency": plot_latency(d, "latency"), "throughput": plot_latency(d, "throughput"),
            "layers": plot_layers(d)}
    paths = {"json": str(out / "profile.json"), "table": str(out / "profile.txt")}
    text = profile_table_text(d) + "\n"
    for key, png in pngs.items():
        if png is not None:
            paths[key] = str(atomic_write(out / f"{key}.png",
                                          lambda p, png=png: Path(p).write_bytes(png)))
    atomic_write(out / "profile.txt", lambda p: Path(p).write_text(text))
    result.paths = paths
    PROFILE_CONTRACT.write(out / "profile.json", _json(result))
    return paths
