"""The firmware report of one model: latency, initiation interval, clock and resources.

One JSON object per deployed model, the hand-over from firmware to the trigger pipeline
(``trigger/pipeline.py`` reads it for a model stage)::

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

import json
import math
from pathlib import Path
from typing import Any

from l1t.core.errors import L1TInputError
from l1t.core.files import atomic_write

from .backend import Backend

FORMAT = "l1t-firmware-report"
FIGURES = ("latency_cycles", "clock_ns", "initiation_interval")


def report_of(model: str, backends: list[Backend]) -> dict[str, Any]:
    """The report of ``model`` from the first compiled backend that knows its latency.

    Raises :class:`L1TInputError` when none does (run the ``rtl`` backend, or synthesise the
    hls4ml project, to get figures).
    """
    for b in backends:
        if b.compiled and all(getattr(b, k) is not None for k in FIGURES):
            r = b.report()
            return {"format": FORMAT, "model": model, "backend": b.name,
                    "latency_cycles": int(b.latency_cycles), "clock_ns": float(b.clock_ns),
                    "initiation_interval": int(b.initiation_interval),
                    "latency_ns": float(b.latency_cycles) * float(b.clock_ns),
                    "resources": b.resources, "input_type": r.get("input_type"),
                    "outputs": r.get("outputs")}
    names = ", ".join(b.name for b in backends) or "none"
    raise L1TInputError(model, f"no backend gave a latency (backends: {names}); the rtl backend "
                        "does, hls4ml needs a synthesis run", "latency_cycles")


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    """Write ``report`` as JSON (atomically)."""
    path = Path(path)
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(report, indent=1, default=str)))
    return path


def read_report(path: str | Path) -> dict[str, Any]:
    """Read and check a firmware report; a missing or malformed figure names the file and
    field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise L1TInputError(path, "no such firmware report") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise L1TInputError(path, f"unreadable firmware report ({err})") from None
    if not isinstance(data, dict):
        raise L1TInputError(path, "a firmware report is a JSON object")
    for key, kind in (("latency_cycles", int), ("clock_ns", float),
                      ("initiation_interval", int)):
        v = data.get(key)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if ok and kind is int:
            ok = float(v).is_integer() and v >= (0 if key == "latency_cycles" else 1)
        if ok and kind is float:
            ok = v > 0
        if not ok:
            raise L1TInputError(path, f"{key} must be a {'positive number' if kind is float else 'non-negative integer' if key == 'latency_cycles' else 'positive integer'}, got {v!r}", key)
    return data
