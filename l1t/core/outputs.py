"""Where a command may write: checked before any work, so that a bad ``--out`` costs nothing and
an output never lands on an input.

An output directory may exist (its files are replaced whole, :func:`l1t.core.files.atomic_write`)
but may not be a file, lie inside a file, lie inside an input directory (a production) or be
unwritable. An output file may not be a directory or one of the inputs either.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from l1t.core.errors import L1TInputError

PathLike = str | os.PathLike


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _inside(a: Path, b: Path) -> bool:
    """Whether ``a`` is ``b`` or lies below it."""
    return a == b or b in a.parents


def check_output(out: PathLike, inputs: Iterable[PathLike] = (), kind: str = "dir",
                 option: str = "--out") -> Path:
    """Refuse an output path ``out`` (``kind`` ``"dir"`` or ``"file"``) that cannot be written or
    that would overwrite or write into one of ``inputs`` (files or directories); returns it."""
    path = Path(out)
    resolved = path.resolve()
    if kind == "dir" and path.exists() and not path.is_dir():
        raise L1TInputError(option, f"{path} is an existing file; give a directory")
    if kind == "file" and path.is_dir():
        raise L1TInputError(option, f"{path} is a directory; give the file to write")
    base = _nearest_existing(path.parent if kind == "file" else path)
    if not base.is_dir():
        raise L1TInputError(option, f"{path} lies inside the file {base}")
    try:   # a real probe: permissions, read-only mounts, /proc (and root, for whom all is allowed)
        fd, probe = tempfile.mkstemp(prefix=".l1t-probe-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise L1TInputError(option, f"cannot write to {base} ({err.strerror or err})") from None
    for item in inputs:
        src = Path(item).resolve()
        if src.is_dir() and _inside(resolved, src):
            raise L1TInputError(option, f"{path} lies inside the input {item}: outputs never go "
                                "into an input")
        if src.is_file() and resolved == src:
            raise L1TInputError(option, f"{path} is the input {item}: it would be overwritten")
    return path
