"""Scans of a figure of merit against bit width or sparsity, written as CSV + PNG.

The caller supplies two callables: one building and training a model for a setting (bits, or
target sparsity), one evaluating a model to a float (AUC, efficiency at fixed rate, MSE, ...).
Rows are plain dicts, so they go to CSV, JSON or a DataFrame as they are.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from l1t.core.errors import L1TInputError
from l1t.core.files import atomic_write

Row = dict[str, float]


def scan_bits(build_and_train: Callable[[int], object], evaluate: Callable[[object], float],
              bits: Iterable[int] = (4, 6, 8, 10, 12, 16)) -> list[Row]:
    """``[{"bits": b, "value": evaluate(build_and_train(b))} for b in bits]``."""
    return [{"bits": int(b), "value": float(evaluate(build_and_train(int(b))))} for b in bits]


def scan_sparsity(build_and_train: Callable[[float], object], evaluate: Callable[[object], float],
                  sparsities: Iterable[float] = (0.0, 0.25, 0.5, 0.75, 0.9)) -> list[Row]:
    """Per target sparsity ``s``: ``{"sparsity": s, "measured_sparsity": .., "value": ..}``.

    ``measured_sparsity`` is the fraction of zero kernel entries of the returned model
    (:func:`l1t.models.pruning.overall_sparsity`), to see the target was reached.
    """
    from l1t.models.pruning import overall_sparsity

    rows = []
    for s in sparsities:
        model = build_and_train(float(s))
        rows.append({"sparsity": float(s), "measured_sparsity": float(overall_sparsity(model)),
                     "value": float(evaluate(model))})
    return rows


def write_scan(rows: Sequence[Row], path_csv, path_png, xlabel: str, ylabel: str, *,
               x: str | None = None, y: str = "value", title: str | None = None,
               logy: bool = False) -> tuple[Path, Path]:
    """Write ``rows`` to ``path_csv`` (header = keys of the first row) and a line plot of ``y``
    against ``x`` (default: the first key) to ``path_png``; both atomically. Returns the paths."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = list(rows)
    if not rows:
        raise L1TInputError("write_scan", "no rows to write", "rows")
    keys = list(rows[0])
    xkey = x if x is not None else keys[0]

    def write_csv(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)

    def write_png(tmp: Path) -> None:
        fig = Figure(figsize=(5, 3.5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        xs = [r[xkey] for r in rows]
        ys = [r[y] for r in rows]
        ax.plot(xs, ys, "o-")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if logy and all(v > 0 and math.isfinite(v) for v in ys):
            ax.set_yscale("log")
        if title:
            ax.set_title(title)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(tmp, format="png", dpi=100)

    return atomic_write(path_csv, write_csv), atomic_write(path_png, write_png)
