"""Command-line style inputs: files, or production directories (their manifest's chunks)."""
from __future__ import annotations

from pathlib import Path

import awkward as ak

from l1t.core.errors import L1TInputError
from .formats import iter_events, read_events
from .production import MANIFEST, chunk_files


def expand_inputs(paths: list[str | Path]) -> list[Path]:
    """Files as given; a directory stands for the chunk files listed in its manifest (checked,
    :mod:`l1t.datasets.integrity`). A file given twice, directly or through its production, is
    refused: its crossings would count twice."""
    out: list[Path] = []
    seen: dict[Path, Path] = {}
    for p in map(Path, paths):
        if p.is_dir():
            if not (p / MANIFEST).exists():
                raise L1TInputError(p, f"directory has no {MANIFEST}: not an l1t production")
            files = chunk_files(p)
        elif p.exists():
            files = [p]
        else:
            raise L1TInputError(p, "no such file or directory")
        for f in files:
            key = f.resolve()
            if key in seen:
                raise L1TInputError(p, f"{f} is given twice (also through {seen[key]}): its "
                                    "crossings would count twice")
            seen[key] = p
        out.extend(files)
    if not out:
        raise L1TInputError(", ".join(map(str, paths)) or "inputs", "no input files")
    return out


def named_inputs(paths: list[str | Path]) -> dict[str, list[Path]]:
    """Each input (a production directory or a file) under its name (the directory's name, the
    file's stem) with its files (:func:`expand_inputs`): signals in tables. Two inputs of one
    name are refused (the table would not tell them apart), as is a file given twice."""
    out: dict[str, list[Path]] = {}
    expand_inputs(paths)      # a file given twice, directly or through its production
    for p in map(Path, paths):
        name = p.name if p.is_dir() else p.stem
        if name in out:
            raise L1TInputError(p, f"another input is also named {name!r}: give inputs of "
                                "distinct names")
        out[name] = expand_inputs([p])
    return out


def read_inputs(paths: list[str | Path], fmt: str = "auto", mapping=None) -> ak.Array:
    """All events of ``paths`` in one array (small inputs; use :func:`iter_inputs` for big ones)."""
    return ak.concatenate([read_events(p, fmt=fmt, mapping=mapping) for p in expand_inputs(paths)])


def iter_inputs(paths: list[str | Path], step_size: int = 100_000, fmt: str = "auto", mapping=None):
    """Events of ``paths`` in chunks of at most ``step_size`` (bounded memory)."""
    yield from iter_events(expand_inputs(paths), step_size=step_size, fmt=fmt, mapping=mapping)
