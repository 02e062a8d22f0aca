"""One interface for every firmware backend, and the registry that names them.

A backend takes the IR (:class:`~l1t.firmware.ir.FirmwareModel`, built by
:func:`l1t.firmware.ir.from_keras`), prepares it (``compile``) and evaluates it on fixed-point
inputs (``predict``)::

    from l1t.firmware import ir
    from l1t.firmware.backend import get_backend

    fw = ir.from_keras(encoder, "ap_fixed<10,8>")
    x = fw.quantize_inputs(features)            # float64 (N, n_in), on the input grid
    emu = get_backend("emulator"); emu.compile(fw)
    hls = get_backend("hls4ml");   hls.compile(fw, "out/hls")
    mu, logvar = emu.predict(x)                 # float64, exactly on the output grids

Contract of :meth:`Backend.predict`: ``x`` is ``(N, n_in)`` (float64, or anything convertible)
holding values *exactly* on the input type's grid and within its range (else
:class:`~l1t.core.errors.L1TInputError`); it returns one float64 array ``(N, n_out_k)`` per model
output, each value exactly a value of that output's fixed-point type. Fixed point in, fixed point
out: two backends that implement the same arithmetic agree bit for bit.

Hardware figures (``latency_cycles``, ``clock_ns``, ``initiation_interval``, ``resources``) are
None where the backend cannot know them; :meth:`Backend.report` then says why (for hls4ml: a
Vivado/Vitis synthesis run is needed).

Registry: :func:`get_backend` (``"emulator"``, ``"hls4ml"``; more with
:func:`register_backend`, e.g. ``register_backend("rtl", "l1t.firmware.rtl:RTLBackend")``). Factories
may be given as ``"module:attribute"`` strings so that heavy imports happen only when used.
"""
from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Union

import numpy as np

from l1t.core.errors import L1TInputError

from .ir import FirmwareModel

NOT_AVAILABLE = "not available: needs a synthesis run"

PathLike = Union[str, "os.PathLike[str]"]


def check_chunk_size(owner: str, chunk_size) -> int:
    """Events per chunk of a backend's predict: a positive integer (memory stays bounded)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise L1TInputError(owner, f"chunk_size must be a positive integer, got {chunk_size!r}",
                            "chunk_size")
    return int(chunk_size)


class Backend(ABC):
    """A way to run a :class:`FirmwareModel`: bit-exact emulation, HLS C simulation, RTL, …

    Subclasses set :attr:`name` and implement :meth:`_compile` and :meth:`_predict`; the base
    class checks the inputs and shapes the outputs.
    """

    name: ClassVar[str] = "backend"
    #: why the hardware figures are missing (None where they are known)
    unavailable_reason: ClassVar[str] = NOT_AVAILABLE

    def __init__(self) -> None:
        self._fw: FirmwareModel | None = None
        self.workdir: str | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def compile(self, fw_model: FirmwareModel, workdir: PathLike | None = None) -> None:
        """Prepare ``fw_model`` (writing and compiling a project in ``workdir`` if needed)."""
        if not isinstance(fw_model, FirmwareModel):
            raise L1TInputError(self.name, f"a FirmwareModel is required, got "
                                f"{type(fw_model).__name__} (use l1t.firmware.ir.from_keras)", "model")
        self.workdir = os.fspath(workdir) if workdir is not None else None
        self._compile(fw_model, self.workdir)
        self._fw = fw_model

    @property
    def fw_model(self) -> FirmwareModel:
        if self._fw is None:
            raise L1TInputError(self.name, "compile() a FirmwareModel first", "model")
        return self._fw

    @property
    def compiled(self) -> bool:
        return self._fw is not None

    def predict(self, x: np.ndarray) -> list[np.ndarray]:
        """Outputs for on-grid inputs ``x`` ``(N, n_in)``: one float64 ``(N, n_k)`` per output."""
        fw = self.fw_model
        codes = fw.input_codes(x)                     # validates shape and grid
        xs = np.ldexp(codes.astype(np.float64), -fw.input_type.frac)
        outs = self._predict(xs, codes)
        if len(outs) != len(fw.outputs):
            raise RuntimeError(f"{self.name}: {len(outs)} outputs, expected {len(fw.outputs)}")
        shaped = []
        for out, n in zip(outs, fw.output_sizes):
            shaped.append(np.asarray(out, dtype=np.float64).reshape(len(xs), n))
        return shaped

    # -- hardware figures ------------------------------------------------------------------------
    @property
    def latency_cycles(self) -> int | None:
        """Latency in clock cycles (None: unknown to this backend)."""
        return None

    @property
    def clock_ns(self) -> float | None:
        """Clock period in ns (the target or achieved one; None: unknown)."""
        return None

    @property
    def initiation_interval(self) -> int | None:
        """Cycles between accepted inputs (None: unknown)."""
        return None

    @property
    def resources(self) -> dict[str, Any] | None:
        """FPGA resources (LUT, FF, DSP, BRAM_18K, …; None: unknown)."""
        return None

    def report(self) -> dict[str, Any]:
        """JSON-able summary: model, types, and each hardware figure or why it is missing."""
        out: dict[str, Any] = {"backend": self.name}
        if self._fw is not None:
            fw = self._fw
            out.update(model=fw.name, input_type=str(fw.input_type),
                       outputs={n: str(t) for n, t in zip(fw.outputs, fw.output_types)},
                       reuse_factor=fw.reuse_factor, layers=fw.summary())
        if self.workdir is not None:
            out["workdir"] = self.workdir
        for key in ("latency_cycles", "clock_ns", "initiation_interval", "resources"):
            value = getattr(self, key)
            out[key] = value if value is not None else self.unavailable_reason
        if out["latency_cycles"] != self.unavailable_reason and out["clock_ns"] != \
                self.unavailable_reason:
            out["latency_ns"] = float(out["latency_cycles"]) * float(out["clock_ns"])
        return out

    # -- for subclasses --------------------------------------------------------------------------
    @abstractmethod
    def _compile(self, fw_model: FirmwareModel, workdir: str | None) -> None:
        """Backend-specific preparation."""

    @abstractmethod
    def _predict(self, x: np.ndarray, codes: np.ndarray) -> list[np.ndarray]:
        """Outputs for validated float64 inputs ``(N, n_in)`` on the input grid, also given as
        their int64 codes (so a backend working on codes does not convert again)."""


# -- registry ----------------------------------------------------------------------------------
BackendFactory = Union[Callable[..., Backend], str]

_REGISTRY: dict[str, BackendFactory] = {
    "emulator": "l1t.firmware.emulator:EmulatorBackend",
    "hls4ml": "l1t.firmware.hls:HLSBackend",
    "rtl": "l1t.firmware.rtl:RTLBackend",
}


def register_backend(name: str, factory: BackendFactory, *, replace: bool = False) -> None:
    """Make ``get_backend(name)`` return ``factory(**options)``.

    ``factory``: a Backend subclass or any callable returning one, or ``"module:attribute"``
    (imported on first use). An existing name is an error unless ``replace``.
    """
    if not isinstance(name, str) or not name:
        raise L1TInputError("l1t.firmware.backend", f"backend name must be a non-empty string, got "
                            f"{name!r}", "name")
    if name in _REGISTRY and not replace:
        raise L1TInputError("l1t.firmware.backend", f"backend {name!r} is already registered", "name")
    _REGISTRY[name] = factory


def available_backends() -> list[str]:
    """Registered backend names (sorted)."""
    return sorted(_REGISTRY)


def get_backend(name: str, **options: Any) -> Backend:
    """A new backend instance of the registered ``name`` (options go to its constructor)."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise L1TInputError("l1t.firmware.backend", f"unknown backend {name!r}; one of "
                            f"{', '.join(available_backends())}", "name") from None
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
    backend = factory(**options)
    if not isinstance(backend, Backend):
        raise TypeError(f"factory of backend {name!r} returned {type(backend).__name__}, "
                        "not a Backend")
    return backend


__all__ = ["Backend", "FirmwareModel", "NOT_AVAILABLE", "available_backends", "get_backend",
           "register_backend"]
