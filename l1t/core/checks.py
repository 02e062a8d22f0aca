"""Field checks for data files read with :func:`l1t.core.yamlio.parse_yaml` (menus, pipelines,
L1A configuration): each failure is one :class:`~l1t.core.errors.L1TInputError` naming the
file, the line of the offending key and the field's path (``seeds.L1_X.legs[0].pt``)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NoReturn

from l1t.core.errors import L1TInputError
from l1t.core.yamlio import line_of


def _field(where: str, key: object) -> str:
    return f"{where}.{key}".lstrip(".")


class Checker:
    """Checks for the mappings of one file; ``source`` names the file in every error."""

    def __init__(self, source: str):
        self.source = source

    @staticmethod
    def line(mapping, key=None) -> int:
        """The line of ``key`` in ``mapping`` (0 when unknown)."""
        return line_of(mapping, key)

    def fail(self, mapping, key, problem: str, field: str) -> NoReturn:
        raise L1TInputError(self.source, f"line {line_of(mapping, key)}: {problem}", field)

    def keys(self, mapping: Mapping, allowed: set, where: str) -> None:
        """Refuse a key outside ``allowed``."""
        for k in mapping:
            if k not in allowed:
                self.fail(mapping, k, f"unknown field {k!r} (allowed: "
                          f"{', '.join(sorted(allowed))})", _field(where, k))

    def number(self, mapping: Mapping, key, where: str, minimum: float = 0.0,
               positive: bool = False, integer: bool = False,
               maximum: float | None = None) -> float | int:
        """``mapping[key]`` as a finite number ``>= minimum`` (``> 0`` with ``positive``,
        ``<= maximum``), an ``int`` with ``integer``; booleans are not numbers."""
        v = mapping[key]
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and v >= minimum and (v > 0 or not positive) and (not integer or int(v) == v)
        ok = ok and (maximum is None or v <= maximum)
        if not ok:
            kind = "an integer" if integer else "a number"
            bound = f"> {minimum:g}" if positive else f">= {minimum:g}"
            if maximum is not None:
                bound += f" and <= {maximum:g}"
            self.fail(mapping, key, f"{key} must be {kind} {bound}, got {v!r}",
                      _field(where, key))
        return int(v) if integer else float(v)

    def string(self, mapping: Mapping, key, where: str) -> str:
        v = mapping[key]
        if not isinstance(v, str):
            self.fail(mapping, key, f"{key} must be a string, got {v!r}", _field(where, key))
        return v

    def window(self, mapping: Mapping, key, where: str) -> tuple[float, float]:
        """``[min, max]`` with ``0 <= min <= max``."""
        v = mapping[key]
        if not (isinstance(v, list) and len(v) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                        and math.isfinite(x) for x in v)
                and 0 <= v[0] <= v[1]):
            self.fail(mapping, key, f"{key} must be [min, max] with 0 <= min <= max, got {v!r}",
                      _field(where, key))
        return (float(v[0]), float(v[1]))

    def listof(self, mapping: Mapping, key, where: str) -> list[Any]:
        """``mapping[key]`` as a non-empty list (an absent key: an empty list)."""
        v = mapping.get(key, [])
        if not isinstance(v, list) or (key in mapping and not v):
            self.fail(mapping, key, f"{key} must be a non-empty list", _field(where, key))
        return v
