"""The hls4ml backend: the synthesizable HLS project, and its C simulation as ``predict``.

:meth:`HLSBackend.compile` writes the project hls4ml generates for the IR's ModelGraph
(``hls_model.write()``: ``firmware/myproject.cpp``, ``defines.h``, ``parameters.h``, weights,
``build_prj.tcl``, …) into ``workdir`` and compiles its C++ with g++ into a shared library
(``hls_model.compile()``, ≈ 8–30 s); :meth:`HLSBackend.predict` runs that C simulation
(``hls_model.predict`` on float64 inputs, so inputs and outputs cross the C boundary exactly).

Latency, initiation interval and resources come from Vivado/Vitis HLS synthesis, which is not on
this machine: they are None (``report()`` says "not available: needs a synthesis run") until a
synthesis report exists in the project; then :func:`synthesis_report` reads it. To synthesize
(docs/firmware.md): :func:`prepare_synthesis` (writes ``build_opt.tcl``: C synthesis only), then
``vitis-run --tcl build_prj.tcl --mode hls`` in the project directory (older Vitis HLS:
``vitis_hls -f build_prj.tcl``), or ``hls_model.build(csim=False, synth=True, cosim=False,
validation=False)`` from Python; then ``hls4ml.report.read_vivado_report(workdir)``.

:func:`reuse_factor_scan` writes one project per reuse factor (no synthesis), for a later
synthesis campaign.
"""
from __future__ import annotations

import contextlib
import glob
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import atomic_write, write_json

from .backend import NOT_AVAILABLE, Backend, PathLike, check_chunk_size
from l1t.models.fixedpoint import MAX_WIDTH, FixedType

from .ir import ActivationLayer, DenseLayer, FirmwareModel, from_keras

SYNTHESIS_HOWTO = ("run Vitis HLS synthesis in the project directory (l1t.firmware.hls."
                   "prepare_synthesis(dir), then 'vitis-run --tcl build_prj.tcl --mode hls', or "
                   "hls_model.build(csim=False, synth=True, cosim=False, validation=False)); "
                   "hls4ml.report.read_vivado_report(dir) shows the result")


@contextlib.contextmanager
def _quiet(enabled: bool = True):
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _set_output_dir(fw: FirmwareModel, workdir: PathLike) -> Path:
    """Point ``fw``'s hls4ml ModelGraph at ``workdir`` (created); returns its resolved path."""
    if fw.hls_model is None:
        raise L1TInputError(fw.name, "this FirmwareModel has no hls4ml ModelGraph (build it with "
                            "l1t.firmware.ir.from_keras)", "hls_model")
    out = Path(workdir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    fw.hls_model.config.config["OutputDir"] = str(out)
    return out


def write_project(fw: FirmwareModel, workdir: PathLike, quiet: bool = True) -> Path:
    """Write the HLS project of ``fw`` (its hls4ml ModelGraph) into ``workdir``; returns it."""
    out = _set_output_dir(fw, workdir)
    with _quiet(quiet):
        fw.hls_model.write()
    return out


def prepare_synthesis(project_dir: PathLike, *, csim: bool = False, synth: bool = True,
                      cosim: bool = False, validation: bool = False, export: bool = False,
                      vsynth: bool = False, reset: bool = False) -> str:
    """Write ``build_opt.tcl`` (the steps ``build_prj.tcl`` runs) and return the shell command.

    hls4ml writes ``csim synth cosim validation`` all on; the default here is C synthesis only
    (latency, II and resource estimates). ``vsynth`` adds a Vivado logic synthesis. Needs
    Vitis HLS on the machine that runs the returned command.
    """
    d = Path(project_dir)
    if not (d / "build_prj.tcl").is_file():
        raise L1TInputError(d, "no build_prj.tcl: not an hls4ml project (write_project first)",
                            "project_dir")
    opts = {"reset": reset, "csim": csim, "synth": synth, "cosim": cosim,
            "validation": validation, "export": export, "vsynth": vsynth, "fifo_opt": False}
    text = "array set opt {\n" + "".join(f"    {k:<10} {int(v)}\n" for k, v in opts.items()) + "}\n"
    atomic_write(d / "build_opt.tcl", lambda p: Path(p).write_text(text))
    return f"cd {d.resolve()} && vitis-run --tcl build_prj.tcl --mode hls"


def synthesis_report(project_dir: PathLike) -> dict[str, Any] | None:
    """hls4ml's parsed Vivado/Vitis C-synthesis report of a project, or None if not synthesized.

    Returns ``hls4ml.report.parse_vivado_report(project_dir)["CSynthesisReport"]`` (strings:
    ``BestLatency``, ``WorstLatency``, ``IntervalMin``, ``IntervalMax``, ``TargetClockPeriod``,
    ``EstimatedClockPeriod``, ``LUT``, ``FF``, ``DSP``, ``BRAM_18K``, ``Available…``).
    """
    d = os.fspath(project_dir)
    if not glob.glob(os.path.join(d, "*_prj", "*", "syn", "report", "*_csynth.xml")):
        return None
    from hls4ml.report import parse_vivado_report

    with _quiet():
        parsed = parse_vivado_report(d)
    return (parsed or {}).get("CSynthesisReport") or None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _cast_aborts(src: FixedType, dst: FixedType) -> bool:
    """Whether ``dst_t y = x;`` (``x`` of type ``src``) aborts in the HLS C-simulation headers.

    ``ap_fixed_base::operator=`` reads bit ``F_src - F_dst - 1`` of the source for every
    rounding mode but TRN (and TRN_ZERO from an unsigned source); past the source's MSB that is
    a failed assertion in ``ap_private::get_bit`` and the process aborts.
    """
    rounds = not (dst.rounding == "TRN" or (dst.rounding == "TRN_ZERO" and not src.signed))
    return rounds and src.frac - dst.frac - 1 >= src.width


def csim_problems(fw: FirmwareModel) -> list[str]:
    """Casts of ``fw`` that would abort hls4ml's C simulation (empty: none), one line each."""
    problems = []
    for layer in fw.layers:
        if isinstance(layer, DenseLayer):
            tx, tw = layer.input_type, layer.weight_type
            product = FixedType(min(tx.width + tw.width, MAX_WIDTH), tx.integer + tw.integer,
                                signed=tx.signed or tw.signed)
            casts = [("product", product, layer.accum_type),
                     ("bias", layer.bias_type, layer.accum_type),
                     ("accum", layer.accum_type, layer.result_type)]
        elif isinstance(layer, ActivationLayer):
            casts = [("input", layer.input_type, layer.result_type)]
        else:
            continue
        for what, src, dst in casts:
            if _cast_aborts(src, dst):
                problems.append(f"{layer.name}: {what} {src} → {dst} rounds away more bits than "
                                "the source has (the ap_fixed headers abort in C simulation)")
    return problems


class HLSBackend(Backend):
    """hls4ml 1.3.0 Vitis project + C simulation.

    ``chunk_size``: events per ``hls_model.predict`` call; ``quiet``: silence hls4ml's prints.
    """

    name = "hls4ml"
    unavailable_reason = f"{NOT_AVAILABLE}: {SYNTHESIS_HOWTO}"

    def __init__(self, chunk_size: int = 100_000, quiet: bool = True) -> None:
        super().__init__()
        self.chunk_size = check_chunk_size(self.name, chunk_size)
        self.quiet = quiet

    def _compile(self, fw_model: FirmwareModel, workdir: str | None) -> None:
        problems = csim_problems(fw_model)
        if problems:
            name = problems[0].split(":")[0]
            raise L1TInputError(name, "; ".join(problems), "precision")
        if workdir is None:
            workdir = tempfile.mkdtemp(prefix=f"l1t-hls4ml-{fw_model.name}-")
        out = _set_output_dir(fw_model, workdir)
        self.workdir = str(out)
        with _quiet(self.quiet):
            try:
                fw_model.hls_model.compile()      # write() the project, then g++ it
            except Exception as err:
                raise RuntimeError(f"hls4ml C++ compilation failed in {out}: {err}") from err

    def _predict(self, x: np.ndarray, codes: np.ndarray) -> list[np.ndarray]:
        fw = self.fw_model
        outs: list[list[np.ndarray]] = [[] for _ in fw.outputs]
        for start in range(0, len(x), self.chunk_size):
            chunk = np.ascontiguousarray(x[start:start + self.chunk_size], dtype=np.float64)
            with _quiet(self.quiet):
                y = fw.hls_model.predict(chunk)
            ys = y if isinstance(y, (list, tuple)) else [y]
            for k, (yk, n) in enumerate(zip(ys, fw.output_sizes)):
                outs[k].append(np.asarray(yk, dtype=np.float64).reshape(len(chunk), n))
        return [np.concatenate(parts) if parts else np.empty((0, n))
                for parts, n in zip(outs, fw.output_sizes)]

    # -- hardware figures: from a synthesis report, if one exists --------------------------------
    def synthesis_report(self) -> dict[str, Any] | None:
        return synthesis_report(self.workdir) if self.workdir else None

    @property
    def latency_cycles(self) -> int | None:
        rep = self.synthesis_report()
        return _int(rep.get("WorstLatency")) if rep else None

    @property
    def initiation_interval(self) -> int | None:
        rep = self.synthesis_report()
        return _int(rep.get("IntervalMax")) if rep else None

    @property
    def clock_ns(self) -> float | None:
        """The estimated clock period after synthesis; None before (the target is in report())."""
        rep = self.synthesis_report()
        try:
            return float(rep["EstimatedClockPeriod"]) if rep else None
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def resources(self) -> dict[str, Any] | None:
        rep = self.synthesis_report()
        if not rep:
            return None
        keys = ("LUT", "FF", "DSP", "BRAM_18K", "URAM")
        return {k: _int(rep[k]) for k in keys if k in rep}

    def report(self) -> dict[str, Any]:
        out = super().report()
        if self._fw is not None:
            out["target_clock_ns"] = self._fw.clock_ns
            out["target_initiation_interval"] = self._fw.reuse_factor
            out["part"] = self._fw.part
        rep = self.synthesis_report()
        out["synthesis"] = rep if rep else self.unavailable_reason
        return out


def reuse_factor_scan(model, input_type: str, reuse_factors: Iterable[int], workdir: PathLike,
                      **from_keras_kwargs: Any) -> list[dict[str, Any]]:
    """Write one HLS project per reuse factor into ``workdir/rf<R>`` (no compilation, no synthesis).

    Returns (and writes to ``workdir/scan.json``) one row per reuse factor: the project path,
    the reuse factor hls4ml actually uses per Dense layer (it may adjust an invalid one), the
    multipliers hls4ml allows per layer (``multiplier_limit``) and in total, and the target II.
    Synthesize each project as described in docs/firmware.md to get latency and resources.
    """
    root = Path(workdir)
    rows = []
    for rf in reuse_factors:
        rf = int(rf)
        fw = from_keras(model, input_type, rf, output_dir=root / f"rf{rf}", **from_keras_kwargs)
        path = write_project(fw, root / f"rf{rf}")
        dense = [layer for layer in fw.layers if isinstance(layer, DenseLayer)]
        rows.append({
            "reuse_factor": rf, "project": str(path),
            "layers": {l.name: {"reuse_factor": l.reuse_factor, "n_in": l.n_in,
                                "n_out": l.n_out, "n_zeros": l.n_zeros,
                                "multiplier_limit": l.multiplier_limit} for l in dense},
            "multipliers": sum(l.multiplier_limit for l in dense),
            "target_initiation_interval": fw.reuse_factor,
            "latency_cycles": NOT_AVAILABLE, "resources": NOT_AVAILABLE,
        })
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / "scan.json", rows)
    return rows
