"""Compare two backends' outputs bit for bit, in units of each output's LSB.

:func:`compare` takes two lists of float64 arrays (one ``(N, n_k)`` per model output, as
:meth:`l1t.firmware.backend.Backend.predict` returns them) and the output types, and counts events
whose outputs differ anywhere, per output and overall, with the largest difference in LSBs.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.models.fixedpoint import FixedType, as_type


def compare(outputs_a: Sequence[np.ndarray], outputs_b: Sequence[np.ndarray],
            out_types: Sequence[FixedType | str],
            names: Sequence[str] | None = None) -> dict[str, dict[str, float | int]]:
    """Per output (keyed by ``names`` or ``"output<k>"``) and ``"overall"``:
    ``{"events", "mismatched_events", "max_abs_diff_lsb"}``.

    ``mismatched_events``: events with any differing value; ``max_abs_diff_lsb``: the largest
    ``|a - b|`` divided by that output's LSB ``2**-F`` (0 when bit-exact; overall: the largest
    over outputs). Arrays are ``(N, n_k)`` (a 1-d array is one value per event). NaNs count as
    mismatches with an infinite difference.
    """
    if isinstance(outputs_a, np.ndarray):
        outputs_a = [outputs_a]
    if isinstance(outputs_b, np.ndarray):
        outputs_b = [outputs_b]
    if isinstance(out_types, (str, FixedType)):
        out_types = [out_types]
    if not len(outputs_a) == len(outputs_b) == len(out_types):
        raise L1TInputError("compare", f"{len(outputs_a)} and {len(outputs_b)} outputs with "
                            f"{len(out_types)} types", "outputs")
    names = list(names) if names is not None else [f"output{k}" for k in range(len(outputs_a))]
    if len(names) != len(outputs_a):
        raise L1TInputError("compare", "one name per output expected", "names")
    result: dict[str, dict[str, float | int]] = {}
    any_bad = None
    worst = 0.0
    n_events = None
    for name, a, b, t in zip(names, outputs_a, outputs_b, out_types):
        t = as_type(t)
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if a.ndim == 1:
            a = a[:, None]
        if b.ndim == 1:
            b = b[:, None]
        if a.shape != b.shape:
            raise L1TInputError("compare", f"{name}: shapes {a.shape} and {b.shape} differ",
                                "outputs")
        if n_events is None:
            n_events = len(a)
        elif len(a) != n_events:
            raise L1TInputError("compare", f"{name}: {len(a)} events, expected {n_events}",
                                "outputs")
        diff = np.abs(a - b)
        diff = np.where(np.isnan(diff), np.inf, diff)
        bad = (diff != 0).any(axis=1) if a.size else np.zeros(len(a), bool)
        lsb = diff.max(initial=0.0) / t.lsb
        result[name] = {"events": int(len(a)), "mismatched_events": int(bad.sum()),
                        "max_abs_diff_lsb": float(lsb)}
        any_bad = bad if any_bad is None else (any_bad | bad)
        worst = max(worst, float(lsb))
    result["overall"] = {"events": int(n_events or 0),
                         "mismatched_events": int(any_bad.sum()) if any_bad is not None else 0,
                         "max_abs_diff_lsb": worst}
    return result
