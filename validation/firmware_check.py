"""``l1t firmware check``: software (Keras) vs emulator vs hls4ml C-sim (vs RTL), pairwise.

Works on any saved QKeras/Keras Dense model (``.h5`` / ``.keras``) or an l1t model directory
of a deployable kind (:mod:`l1t.firmware.deployable`: the anomaly encoder, the muon pT net).
Inputs are drawn on the input grid: half uniformly over the whole range (every bit and the
saturation paths), half Gaussian around zero (typical values). For each pair of implementations:
``events``, ``mismatched_events``, ``max_abs_diff_lsb`` (in the LSB of each output's type), written to ``DIR/check.json`` with each backend's report (latency, II, resources
or why they are missing). When a compiled backend knows the hardware figures (``rtl``; hls4ml
after a synthesis run), the firmware report (:mod:`l1t.firmware.report`: latency, II, clock,
resources) is written to ``DIR/firmware.json``, the file the trigger pipeline reads.
"""
from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract
from l1t.firmware import ir
from l1t.firmware.backend import get_backend
from l1t.firmware.compare import compare
from l1t.firmware.deployable import kind_of
from l1t.firmware.report import report_of, write_report
from l1t.models.fixedpoint import FixedType
from l1t.models.keras_file import load_keras_model


#: ``check.json``: the pairwise comparison of a model's implementations.
CHECK_CONTRACT = JsonContract("l1t-firmware-check", 1)


def load_model(path: str | Path):
    """A Keras model from a file, or the net of an l1t model directory of any deployable kind
    (the anomaly model's encoder, the muon pT net); returns ``(model, default_input_type or
    None)``."""
    p = Path(path)
    if p.is_dir():
        return kind_of(p).net(p)
    return load_keras_model(p), None


def grid_inputs(t: FixedType, n: int, n_in: int, seed: int = 1) -> np.ndarray:
    """``(n, n_in)`` float64 values on the grid of ``t`` (half uniform, half Gaussian)."""
    rng = np.random.default_rng(seed)
    half = n // 2
    uniform = rng.integers(t.min_code, t.max_code + 1, (half, n_in))
    gauss = np.rint(rng.normal(0.0, max(t.max_code, 1) / 8.0, (n - half, n_in)))
    codes = np.clip(np.concatenate([uniform, gauss.astype(np.int64)]), t.min_code, t.max_code)
    return np.ldexp(codes.astype(np.float64), -t.frac)


def model_name(model_path: str | Path) -> str:
    """A model's name: its directory name, or its file name without the suffix."""
    p = Path(model_path)
    return p.name if p.is_dir() else p.stem


def firmware_check(model_path: str | Path, input_precision: str | None, events: int,
                   backends: list[str], out_dir: str | Path, seed: int = 1,
                   skip_unsupported: bool = False) -> dict:
    """Run every backend on ``events`` grid inputs and compare all implementations pairwise.

    Writes ``out_dir/check.json`` (the returned summary) and, when a backend gives the hardware
    figures, ``out_dir/firmware.json`` (``summary["firmware_report"]`` is its path, else None
    with the reason in ``summary["firmware_report_missing"]``). ``skip_unsupported``: a backend
    that refuses the model (e.g. ``rtl`` on outputs wider than 32 bits) is left out and listed in
    ``summary["skipped"]`` instead of raising :class:`L1TInputError`.
    """
    model, default_type = load_model(model_path)
    type_text = input_precision or default_type
    if type_text is None:
        raise L1TInputError(model_path, "give --input-precision (e.g. \"ap_fixed<16,6>\")",
                            "input_precision")
    t_in = FixedType.parse(type_text)
    out = Path(out_dir)
    try:
        fw = ir.from_keras(model, t_in, output_dir=str(out / "hls4ml_prj"))
    except L1TInputError as err:      # name the model file, then the layer and its field
        where = ".".join(x for x in (err.source, err.field) if x)
        raise L1TInputError(model_path, err.problem, where) from None
    x = grid_inputs(t_in, events, fw.n_in, seed)
    results: dict[str, list[np.ndarray]] = {}
    t0 = time.perf_counter()
    pred = model.predict(x, batch_size=16384, verbose=0)
    results["software"] = [np.asarray(p, np.float64) for p in (pred if isinstance(pred, list) else [pred])]
    timing = {"software": time.perf_counter() - t0}
    reports, compiled, skipped = {}, [], {}
    for name in backends:
        backend = get_backend(name)
        t0 = time.perf_counter()
        try:
            backend.compile(fw, str(out / f"{name}_prj"))
        except L1TInputError as err:
            if not skip_unsupported:
                raise
            skipped[name] = str(err)
            continue
        compiled.append(backend)
        t1 = time.perf_counter()
        results[name] = backend.predict(x)
        timing[name] = time.perf_counter() - t1
        reports[name] = {**backend.report(), "compile_seconds": round(t1 - t0, 2)}
    pairs = {}
    for a, b in itertools.combinations(results, 2):
        c = compare(results[a], results[b], fw.output_types, fw.outputs)
        pairs[f"{a} vs {b}"] = c["overall"] | {"per_output": {k: v for k, v in c.items()
                                                               if k != "overall"}}
    summary = {"model": str(model_path), "input_precision": str(t_in), "events": events,
               "seed": seed, "outputs": dict(zip(fw.outputs, map(str, fw.output_types))),
               "pairs": pairs, "events_per_second": {k: events / v for k, v in timing.items() if v},
               "backends": reports, "skipped": skipped}
    try:
        report = report_of(model_name(model_path), compiled)
    except L1TInputError as err:
        summary["firmware_report"], summary["firmware_report_missing"] = None, err.problem
    else:
        kind = kind_of(model_path) if Path(model_path).is_dir() else None
        if kind is not None and kind.figures is not None:
            report.update(kind.figures(Path(model_path), report))
            summary["notes"] = report.get("notes", [])
        summary["firmware_report"] = str(write_report(report, out / "firmware.json"))
    summary = CHECK_CONTRACT.tag(summary)
    CHECK_CONTRACT.write(out / "check.json", summary)
    return summary


def read_check(path: str | Path) -> dict:
    """Read a ``check.json`` written by :func:`firmware_check` (format and version checked)."""
    return CHECK_CONTRACT.read(path)


def check_table_text(summary: dict) -> str:
    """The comparison table of a :func:`firmware_check` summary: events and types, then one row
    per pair (mismatched events, max |diff| in LSB of the output type) and the latency figures of
    every backend that has them (clocks of ``clock_ns``, initiation interval; the others say why
    not in ``check.json``)."""
    lines = [f"{summary['events']} events on {summary['input_precision']}; outputs "
             + ", ".join(f"{k}: {v}" for k, v in summary["outputs"].items()),
             f"{'pair':28s} {'mismatched events':>18s} {'max |diff| [LSB]':>17s}"]
    for pair, r in summary["pairs"].items():
        lines.append(f"{pair:28s} {r['mismatched_events']:18d} {r['max_abs_diff_lsb']:17g}")
    for name, rep in summary["backends"].items():
        lat = rep.get("latency_cycles")
        if isinstance(lat, (int, float)):     # only backends that know it (RTL, synthesised HLS)
            lines.append(f"{name}: latency {lat} clocks at {rep.get('clock_ns')} ns, "
                         f"II {rep.get('initiation_interval')}")
    lines.extend(summary.get("notes", []))
    return "\n".join(lines)
