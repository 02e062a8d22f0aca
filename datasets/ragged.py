"""Flat columnar tables split into rows of variable length (one row = one interaction or crossing).

A small numpy structure, faster than awkward for the gather-and-concatenate that pileup mixing does
hundreds of times per crossing.
"""
from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np


@dataclass
class Ragged:
    """``offsets`` (n_rows + 1) into equal-length flat ``columns``."""

    offsets: np.ndarray
    columns: dict[str, np.ndarray]

    @classmethod
    def from_counts(cls, counts: np.ndarray, columns: dict[str, np.ndarray]) -> "Ragged":
        offsets = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        return cls(offsets, columns)

    @classmethod
    def from_awkward(cls, array: ak.Array) -> "Ragged":
        """From a ``var * {…}`` awkward array of records."""
        counts = ak.to_numpy(ak.num(array)).astype(np.int64)
        flat = ak.flatten(array)
        return cls.from_counts(counts, {f: ak.to_numpy(flat[f]) for f in ak.fields(flat)})

    def to_awkward(self) -> ak.Array:
        return ak.unflatten(ak.zip(dict(self.columns)), np.diff(self.offsets))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def gather(self, rows: np.ndarray, group_counts: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Concatenate ``rows`` (row indices) grouped ``group_counts`` at a time.

        Returns the gathered columns and, for each gathered element, its group index.
        """
        columns, group, _ = self._gather(rows, group_counts, False)
        return columns, group

    def gather_rows(self, rows: np.ndarray, group_counts: np.ndarray
                    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """:meth:`gather`, and for each gathered element also the position in ``rows`` of the row
        it came from (which interaction of a crossing made it)."""
        return self._gather(rows, group_counts, True)

    def _gather(self, rows, group_counts, positions: bool):
        rows = np.asarray(rows, np.int64)
        starts = self.offsets[rows]
        lengths = self.offsets[rows + 1] - starts
        total = int(lengths.sum())
        # Position of each output element in the flat input: start of its row plus rank in row.
        out_start = np.cumsum(lengths) - lengths
        index = np.arange(total, dtype=np.int64) + np.repeat(starts - out_start, lengths)
        group_of_row = np.repeat(np.arange(len(group_counts)), group_counts)
        group = np.repeat(group_of_row, lengths)
        position = np.repeat(np.arange(len(rows)), lengths) if positions else None
        return {k: v[index] for k, v in self.columns.items()}, group, position

    @staticmethod
    def concatenate(parts: list["Ragged"]) -> "Ragged":
        counts = np.concatenate([p.counts for p in parts])
        cols = {k: np.concatenate([p.columns[k] for p in parts]) for k in parts[0].columns}
        return Ragged.from_counts(counts, cols)
