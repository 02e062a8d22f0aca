"""The firmware report of one model: latency, initiation interval, clock and resources.

One JSON object per deployed model, the hand-over from firmware to the trigger pipeline
(``trigger/stream/pipeline/`` reads it for a model stage)::

    {"model": "vae-qat6", "backend": "rtl", "latency_cycles": 15, "clock_ns": 5.0,
     "initiation_interval": 1, "latency_ns": 75.0,
     "resources": {"LUT": 20130, "FF": 14017, "DSP": 0, "BRAM_18K": 0, "source": "..."},
     "input_type": "ap_fixed<10,8>", "outputs": {...}}

``latency_cycles`` counts clocks of ``clock_ns`` from input to output; ``initiation_interval``
is the number of clocks between accepted inputs. A backend that cannot know a figure (the
emulator; hls4ml without a synthesis run) gives none: :func:`report_of` takes the figures from the
first backend that has them (RTL by default) and says where they came from.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract

from .backend import Backend

FORMAT = "l1t-firmware-report"
#: ``firmware.json``: the hand-over from firmware to the trigger pipeline.
CONTRACT = JsonContract(FORMAT, 1)
FIGURES = ("latency_cycles", "clock_ns", "initiation_interval")


def report_of(model: str, backends: list[Backend]) -> dict[str, Any]:
    """The report of ``model`` from the first compiled backend that knows its latency.

    Raises :class:`L1TInputError` when none does (run the ``rtl`` backend, or synthesise the
    hls4ml project, to get figures).
    """
    for b in backends:
        if b.compiled and all(getattr(b, k) is not None for k in FIGURES):
            r = b.report()
            return CONTRACT.tag({
                "model": model, "backend": b.name, "latency_cycles": int(b.latency_cycles),
                "clock_ns": float(b.clock_ns), "initiation_interval": int(b.initiation_interval),
                "latency_ns": float(b.latency_cycles) * float(b.clock_ns),
                "resources": b.resources, "input_type": r.get("input_type"),
                "outputs": r.get("outputs")})
    names = ", ".join(b.name for b in backends) or "none"
    raise L1TInputError(model, f"no backend gave a latency (backends: {names}); the rtl backend "
                        "does, hls4ml needs a synthesis run", "latency_cycles")


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    """Write ``report`` as ``firmware.json`` (tagged with the format and version, atomically)."""
    return CONTRACT.write(path, report)


def read_report(path: str | Path) -> dict[str, Any]:
    """Read and check a firmware report; a missing or malformed figure names the file and
    field."""
    return check_report(CONTRACT.read(path), path)


def check_report(data: Any, source: object = "firmware report") -> dict[str, Any]:
    """Check a firmware report already in memory (``source`` names it in errors): the tag, and
    ``latency_cycles`` (integer >= 0), ``clock_ns`` (> 0), ``initiation_interval`` (integer >= 1)."""
    data = CONTRACT.check(data, source)
    for key, integer, low in (("latency_cycles", True, 0), ("clock_ns", False, 0),
                              ("initiation_interval", True, 1)):
        v = data.get(key)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and (float(v).is_integer() and v >= low if integer else v > low)
        if not ok:
            kind = (f"an integer >= {low}" if integer else "a number > 0")
            problem = "missing" if key not in data else f"must be {kind}, got {v!r}"
            raise L1TInputError(source, f"{key} {problem}", key)
    return data
