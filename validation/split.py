"""Splitting a model between the FPGA and a CPU/GPU: what crosses the link at every cut.

The model's firmware IR (:func:`l1t.firmware.ir.from_keras`) is cut at every layer boundary, in
its topological order: cut ``k`` puts the first ``k`` layers after the input on the FPGA (the
*head*) and the rest on a CPU or GPU (the *tail*). Per cut:

- the tensors crossing the link: every head layer a tail layer reads, plus the model outputs the
  head already computed; ``bits_per_event`` = Σ values × the width of their fixed-point type
  (the tensor as the firmware holds it), and the link bandwidth needed at the LHC crossing
  rate, ``link_gbps = bits_per_event × 40 MHz`` (one event per 25 ns bunch crossing, NOTES.md);
- the head on the FPGA: latency (clock cycles × the target clock) and resources (LUT, FF) of
  the head sub-net in RTL (:mod:`l1t.firmware.rtl`: the model is traced once, each head's
  da4ml logic is the part of it that its crossing tensors need, pipelined at the backend's
  latency cutoff; :func:`head_comb` gives it, e.g. to simulate; cut 0 has no FPGA part);
- the tail on the CPU: the float net of the remaining layers, timed per call at batch 1
  (:func:`l1t.validation.profile.time_calls`) in ONNX Runtime (TensorFlow where ONNX Runtime is
  missing; ``cpu_backend`` says which); on a GPU in TensorFlow where it sees one, else the
  reason.

The tail has to keep up with the events: at ``event_rate_mhz`` (default the 40 MHz crossing
rate; 0.75 for the L1 accept rate behind the trigger) and batch 1 (at 40 MHz there is no time to
gather a batch: 4096 crossings are 102 µs, several L1 latencies), it needs ``event rate × tail
time per call`` CPU cores (``cpu_cores_needed``). A cut *fits* when its link bandwidth is within
the link budget (``link_budget_gbps``) and its tail needs no more than ``cpu_cores`` cores. The
cheapest cut that fits is the one with the fewest FPGA LUTs among them (ties: the lower total
latency). The default budgets are estimates, stated and changeable (``--link-gbps``,
``--cpu-cores``): :data:`DEFAULT_LINK_GBPS`, one 16 Gb/s serial link, the order of the optical
links of the trigger boards; :data:`DEFAULT_CPU_CORES`, 64 cores, one dual-socket server. At
40 MHz a tail of a few µs per call needs hundreds of cores, so a net in the L1 trigger stays on
the FPGA; at the accept rate a CPU tail can fit.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import atomic_write

BX_MHZ = 40.0            #: LHC bunch-crossing rate: 25 ns spacing (NOTES.md)
DEFAULT_LINK_GBPS = 16.0  #: estimate: one 16 Gb/s serial link (see the module docstring)
DEFAULT_CPU_CORES = 64    #: estimate: the cores of one dual-socket server (module docstring)


@dataclass
class Cut:
    """One cut: ``index`` layers on the FPGA (the last one ``after``), the ``tensors`` crossing
    (name, values, type), bits per event and link Gb/s, the FPGA head's figures (or why not),
    the tail's time per call at batch 1 on the CPU (s) and on the GPU (or why not), the CPU
    cores the tail needs at the event rate; ``fits``: within the link and the core budgets."""

    index: int
    after: str
    tensors: list[dict]
    bits_per_event: int
    link_gbps: float
    fpga: dict | None
    fpga_reason: str | None
    cpu_p50_s: float | None
    gpu_p50_s: float | None
    gpu_reason: str | None
    fits: bool
    cpu_cores_needed: float = 0.0

    @property
    def total_latency_ns(self) -> float | None:
        if self.fpga is None or self.cpu_p50_s is None:
            return None
        return self.fpga["latency_ns"] + self.cpu_p50_s * 1e9


@dataclass
class SplitResult:
    """Every cut of one model, the budgets and the cheapest cut within them (``best``: its
    index, None with ``best_reason`` when no cut fits); ``bx_mhz``: the event rate (MHz)."""

    model: str
    link_budget_gbps: float
    bx_mhz: float
    cuts: list[Cut] = field(default_factory=list)
    best: int | None = None
    best_reason: str | None = None
    cpu_backend: str | None = None
    cpu_cores: int = DEFAULT_CPU_CORES


def _crossing(layers: list, k: int, outputs: list[str]) -> list:
    """Head layers (``layers[:k+1]``) a tail layer reads or that are model outputs."""
    tail_inputs = {l.input for l in layers[k + 1:]}
    return [l for l in layers[:k + 1] if l.name in tail_inputs or l.name in outputs]


def _tail_net(fw, k: int, crossing: list):
    """The float Keras net of ``fw.layers[k+1:]``, one input per crossing tensor; None when
    the tail is empty."""
    from tensorflow import keras

    from l1t.firmware.ir import ActivationLayer, DenseLayer

    tail = fw.layers[k + 1:]
    if not tail:
        return None
    values = {l.name: keras.Input((l.n_out,), name=f"in_{l.name}") for l in crossing}
    inputs = list(values.values())
    for layer in tail:
        if isinstance(layer, DenseLayer):
            dense = keras.layers.Dense(layer.n_out, name=layer.name)
            values[layer.name] = dense(values[layer.input])
            dense.set_weights([layer.weight.astype(np.float32), layer.bias.astype(np.float32)])
        elif isinstance(layer, ActivationLayer):
            act = "relu" if layer.activation == "relu" else "linear"
            values[layer.name] = keras.layers.Activation(act, name=layer.name)(
                values[layer.input])
        else:
            raise L1TInputError(layer.name, f"layer kind {layer.kind} in a tail", "layer")
    outs = [values[n] for n in fw.outputs if n in {l.name for l in tail}]
    return keras.Model(inputs, outs, name="tail")


def _time_tail_onnx(net, budget_s: float) -> float:
    import onnxruntime as ort

    from l1t.models.onnx_export import to_onnx

    from .profile import time_calls

    session = ort.InferenceSession(to_onnx(net).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    feed = {i.name: np.zeros((1, int(i.shape[-1])), np.float32) for i in session.get_inputs()}
    return time_calls(lambda _: session.run(None, feed), np.zeros((1, 1)), 1, budget_s).p50_s


def _time_tail(net, device: str, budget_s: float) -> float:
    import tensorflow as tf

    from .profile import time_calls

    xs = [np.zeros((1, int(i.shape[-1])), np.float32) for i in net.inputs]
    with tf.device(device):
        fn = tf.function(lambda *a: net(list(a) if len(a) > 1 else a[0], training=False))

    def call(_):
        with tf.device(device):
            return [o.numpy() for o in tf.nest.flatten(fn(*xs))]

    return time_calls(call, np.zeros((1, 1)), 1, budget_s).p50_s


def _fpga(fw, k: int, crossing: list, traced) -> tuple[dict | None, str | None]:
    """The head's figures from the traced layers (``traced``: ``(input, values)`` of
    :func:`l1t.firmware.rtl.trace_layers`, or the error that refused the model)."""
    from l1t.firmware.rtl import comb_of, pipeline_figures

    if k == 0:
        return {"latency_cycles": 0, "clock_ns": fw.clock_ns, "latency_ns": 0.0,
                "initiation_interval": 1, "LUT": 0, "FF": 0}, None
    if isinstance(traced, L1TInputError):
        return None, f"{traced.source}: {traced.problem}"
    inp, values = traced
    return pipeline_figures(comb_of(inp, values, [l.name for l in crossing]), fw.clock_ns), None


def head_comb(fw, k: int):
    """da4ml ``CombLogic`` of cut ``k``'s head (its outputs: the crossing tensors in order)."""
    from l1t.firmware.rtl import comb_of, trace_layers

    inp, values = trace_layers(fw)
    return comb_of(inp, values, [l.name for l in _crossing(fw.layers, k, fw.outputs)])


def split_model(target, link_budget_gbps: float = DEFAULT_LINK_GBPS,
                workdir: str | Path | None = None, seed: int = 1,
                budget_s: float = 0.2, event_rate_mhz: float = BX_MHZ,
                cpu_cores: int = DEFAULT_CPU_CORES) -> SplitResult:
    """Every cut of ``target`` (a :class:`l1t.validation.profile.Target`): link bandwidth at
    ``event_rate_mhz``, FPGA head figures, CPU/GPU tail time and the CPU cores it needs, and the
    cheapest cut within ``link_budget_gbps`` and ``cpu_cores``."""
    from l1t.firmware import ir

    from .profile import ONNXRunner, _tf_device_missing

    if not (link_budget_gbps > 0):
        raise L1TInputError("--link-gbps", f"link budget must be > 0 Gb/s, got "
                            f"{link_budget_gbps!r}", "link_gbps")
    if not (0 < event_rate_mhz <= BX_MHZ):
        raise L1TInputError("--event-rate-mhz", f"the event rate must be in (0, {BX_MHZ:g}] MHz, "
                            f"got {event_rate_mhz!r}", "event_rate_mhz")
    if not (isinstance(cpu_cores, int) and cpu_cores >= 0):
        raise L1TInputError("--cpu-cores", f"CPU cores must be an integer >= 0, got "
                            f"{cpu_cores!r}", "cpu_cores")
    result = SplitResult(target.name, float(link_budget_gbps), float(event_rate_mhz),
                         cpu_cores=cpu_cores)
    try:
        fw = ir.from_keras(target.net, target.input_type, name="split",
                           output_dir=str(workdir) if workdir else None)
    except L1TInputError as err:
        result.best_reason = f"the firmware IR cannot map this model: {err.problem}"
        return result
    from l1t.firmware.rtl import trace_layers

    gpu_reason = _tf_device_missing("GPU")
    cpu_backend = "onnxruntime" if ONNXRunner().missing() is None else "tensorflow-cpu"
    result.cpu_backend = cpu_backend
    try:
        traced: Any = trace_layers(fw)          # once: every head is a part of it
    except L1TInputError as err:
        traced = err
    for k in range(len(fw.layers)):
        crossing = _crossing(fw.layers, k, fw.outputs)
        bits = int(sum(l.n_out * l.result_type.width for l in crossing))
        gbps = bits * event_rate_mhz * 1e6 / 1e9
        fpga, reason = _fpga(fw, k, crossing, traced)
        tail = _tail_net(fw, k, crossing)
        cpu = 0.0 if tail is None else (_time_tail_onnx(tail, budget_s) if cpu_backend ==
                                         "onnxruntime" else _time_tail(tail, "/CPU:0", budget_s))
        gpu = None
        if gpu_reason is None:
            gpu = _time_tail(tail, "/GPU:0", budget_s) if tail is not None else 0.0
        cores = event_rate_mhz * 1e6 * cpu
        result.cuts.append(Cut(
            k, fw.layers[k].name, [{"name": l.name, "values": l.n_out,
                                    "type": str(l.result_type)} for l in crossing],
            bits, gbps, fpga, reason, cpu, gpu, gpu_reason,
            fits=gbps <= link_budget_gbps and cores <= cpu_cores, cpu_cores_needed=cores))
    ok = [c for c in result.cuts if c.fits and c.fpga is not None]
    if ok:
        result.best = min(ok, key=lambda c: (c.fpga["LUT"] or 0, c.total_latency_ns or 0)).index
    else:
        low = min(c.link_gbps for c in result.cuts)
        few = min(c.cpu_cores_needed for c in result.cuts)
        result.best_reason = (f"no cut fits {link_budget_gbps:g} Gb/s and {cpu_cores} CPU cores "
                              f"(the narrowest link needs {low:.3g} Gb/s, the smallest tail "
                              f"{few:.3g} cores)")
    return result


def split_table_text(s: SplitResult | dict) -> str:
    """One line per cut: what crosses, bits/event, Gb/s at the event rate, FPGA latency and
    LUTs, CPU time of the rest and the cores it needs; the cheapest cut within the budgets
    marked ``<=``. Reads profile files written before the core budget (no cores column)."""
    d = asdict(s) if isinstance(s, SplitResult) else s
    budget = d.get("cpu_cores")
    lines = [f"split of {d['model']} (link budget {d['link_budget_gbps']:g} Gb/s at "
             f"{d['bx_mhz']:g} MHz" + ("" if budget is None else f", {budget} CPU cores") + ")",
             f"{'cut':>3s} {'after':20s} {'bits/event':>10s} {'Gb/s':>7s} {'FPGA [ns]':>9s} "
             f"{'LUT':>7s} {'CPU rest [us]':>13s} {'cores':>7s}  crossing"]
    for c in d["cuts"]:
        f = c["fpga"]
        cores = c.get("cpu_cores_needed")
        over = [what for what, out in (
            ("link", c["link_gbps"] > d["link_budget_gbps"]),
            (f"> {budget} cores", cores is not None and budget is not None and cores > budget))
            if out]
        mark = (" <=" if c["index"] == d["best"] else
                "" if c["fits"] else f" (over budget: {', '.join(over) or 'link'})")
        lines.append(f"{c['index']:3d} {c['after'][:20]:20s} {c['bits_per_event']:10d} "
                     f"{c['link_gbps']:7.2f} "
                     f"{(f['latency_ns'] if f else float('nan')):9.1f} "
                     f"{(f['LUT'] if f else -1):7d} {c['cpu_p50_s'] * 1e6:13.1f} "
                     f"{'-' if cores is None else format(cores, '7.3g'):>7s}  "
                     + ", ".join(f"{t['name']}[{t['values']}] {t['type']}" for t in c["tensors"])
                     + mark)
    if d["best"] is None:
        lines.append(f"no cut chosen: {d['best_reason']}")
    return "\n".join(lines)


def plot_split(splits: list[SplitResult | dict]) -> bytes:
    """Per model: link Gb/s per cut (with the budget), FPGA LUTs vs link bandwidth, and the
    latency of the FPGA head and of the CPU tail per cut."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from l1t.trigger.report import png_bytes

    ds = [asdict(s) if isinstance(s, SplitResult) else s for s in splits]
    ds = [d for d in ds if d["cuts"]] or ds
    fig = Figure(figsize=(13, 3.2 * max(len(ds), 1)), layout="constrained")
    FigureCanvasAgg(fig)
    for row, d in enumerate(ds):
        axes = [fig.add_subplot(max(len(ds), 1), 3, 3 * row + i + 1) for i in range(3)]
        cuts = d["cuts"]
        if not cuts:
            axes[0].text(0.5, 0.5, d["best_reason"] or "no cut", ha="center", fontsize=8,
                         transform=axes[0].transAxes, wrap=True)
            continue
        idx = np.array([c["index"] for c in cuts])
        gbps = np.array([c["link_gbps"] for c in cuts])
        colors = ["tab:green" if c["index"] == d["best"] else
                  ("tab:blue" if c["fits"] else "tab:gray") for c in cuts]
        labels = [c["after"] for c in cuts]
        axes[0].bar(idx, gbps, color=colors)
        axes[0].axhline(d["link_budget_gbps"], color="k", ls="--", lw=1,
                        label=f"budget {d['link_budget_gbps']:g} Gb/s")
        axes[0].set_xticks(idx, labels, rotation=60, fontsize=6, ha="right")
        axes[0].set_ylabel(f"link [Gb/s] at {d['bx_mhz']:g} MHz", fontsize=7)
        axes[0].set_title(f"{d['model']}: cut after layer", fontsize=8)
        axes[0].legend(fontsize=6)
        lut = np.array([c["fpga"]["LUT"] if c["fpga"] else np.nan for c in cuts], float)
        axes[1].scatter(gbps, lut, c=colors, s=18)
        for x, y, lab in zip(gbps, lut, labels):
            axes[1].annotate(lab, (x, y), fontsize=5, xytext=(2, 2), textcoords="offset points")
        axes[1].axvline(d["link_budget_gbps"], color="k", ls="--", lw=1)
        axes[1].set_xlabel("link [Gb/s]", fontsize=7)
        axes[1].set_ylabel("FPGA head [LUT, da4ml estimate]", fontsize=7)
        axes[1].set_title("options (green: cheapest within the budget)", fontsize=8)
        fpga_ns = np.array([c["fpga"]["latency_ns"] if c["fpga"] else np.nan for c in cuts])
        cpu_ns = np.array([c["cpu_p50_s"] * 1e9 for c in cuts])
        axes[2].bar(idx - 0.2, np.where(fpga_ns > 0, fpga_ns, np.nan), 0.4, color="tab:red",
                    label="FPGA head (RTL cycles)")
        axes[2].bar(idx + 0.2, np.where(cpu_ns > 0, cpu_ns, np.nan), 0.4, color="tab:orange",
                    label=f"CPU rest ({d.get('cpu_backend')}, batch 1)")
        axes[2].set_yscale("log")
        axes[2].set_xticks(idx, labels, rotation=60, fontsize=6, ha="right")
        axes[2].set_ylabel("latency [ns]", fontsize=7)
        axes[2].legend(fontsize=6)
        for ax in axes:
            ax.tick_params(labelsize=6)
    return png_bytes(fig)


def write_split_plot(splits: list[SplitResult], path: str | Path) -> Path:
    """:func:`plot_split` to ``path`` (atomic)."""
    png = plot_split(splits)
    return atomic_write(path, lambda p: Path(p).write_bytes(png))
