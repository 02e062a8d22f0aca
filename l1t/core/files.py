"""Files written whole or not at all, and JSON with numpy values.

Every output of l1t goes through :func:`atomic_write`: a temporary file next to the target,
renamed when complete, so an error never leaves a partial file.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from l1t.core.errors import L1TInputError

PathLike = str | os.PathLike


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write(path: PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary ``.<name>.*.tmp`` next to ``path``, then rename it.

    On any exception the temporary is removed and the exception re-raised: ``path`` is either
    untouched or the complete new file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _plain(x):
    """``x`` as JSON values in one pass: numpy scalars and arrays as plain numbers and lists,
    NaN and ±inf floats as ``None`` (JSON has no such numbers), other unknown objects as their
    ``str``."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, (str, int)):
        return x
    return str(x)


def write_json(path: PathLike, data) -> Path:
    """Write ``data`` as indented JSON, atomically (:func:`atomic_write`); numpy values become
    plain numbers and lists, NaN and ±inf (an undefined figure) ``null``, other unknown objects
    their ``str``. Every JSON file l1t writes goes through here."""
    text = json.dumps(_plain(data), indent=1, allow_nan=False) + "\n"
    return atomic_write(path, lambda p: Path(p).write_text(text))


@dataclass(frozen=True)
class JsonContract:
    """A JSON file that passes between packages: one object tagged with ``format`` (what it is)
    and ``format_version`` (an integer raised whenever a reader of the old layout would
    misread the new one).

    Each contract has one writer and one reader, both in the package that owns the file; they
    go through :meth:`write` and :meth:`read`, so every such file is written atomically with
    the same JSON rules and every reader refuses another format or version with one
    :class:`~l1t.core.errors.L1TInputError` naming the file and field.
    """

    format: str
    version: int
    #: the oldest version the reader still reads (default: only the current one)
    oldest: int | None = None
    #: the key holding the version (``model.json`` keeps its historical ``version``)
    version_key: str = "format_version"

    def tag(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` with this contract's ``format`` and version first."""
        body = {k: v for k, v in data.items() if k not in ("format", self.version_key)}
        return {"format": self.format, self.version_key: self.version, **body}

    def write(self, path: PathLike, data: Mapping[str, Any]) -> Path:
        """Write ``data`` tagged with the format and version (:func:`write_json`)."""
        return write_json(path, self.tag(data))

    def read(self, path: PathLike) -> dict[str, Any]:
        """Read and check the tag; the object comes back with the tag included."""
        return self.check(read_json(path, what=self.format), path)

    def read_in(self, directory: PathLike, name: str, what: str) -> tuple[Path, dict[str, Any]]:
        """Read ``directory/name``, where the directory holds ``what`` (e.g. "an l1t LAr model
        (l1t train lar)"): a file in place of the directory, or a directory without ``name``,
        is refused saying so. Returns the file's path and its object."""
        d = Path(directory)
        if d.is_file():
            raise L1TInputError(d, f"{what} is a directory, not a file")
        path = d / name
        if not path.is_file():
            raise L1TInputError(d, f"no {name}: not {what}", name)
        return path, self.read(path)

    def check(self, data: Any, source: object) -> dict[str, Any]:
        """Check an already loaded object's tag (``source`` names it in errors)."""
        if not isinstance(data, dict):
            raise L1TInputError(source, f"a {self.format} file is one JSON object")
        if data.get("format") != self.format:
            raise L1TInputError(source, f"format is {data.get('format')!r}, expected "
                                f"{self.format!r}", "format")
        version = data.get(self.version_key)
        oldest = self.version if self.oldest is None else self.oldest
        if isinstance(version, bool) or not isinstance(version, int) \
                or not oldest <= version <= self.version:
            readable = (f"{self.version}" if oldest == self.version
                        else f"{oldest} to {self.version}")
            raise L1TInputError(source, f"{self.version_key} {version!r} is not a version this "
                                f"l1t reads ({readable}); write the file again with this l1t",
                                self.version_key)
        return data


def read_text(path: PathLike, what: str = "file") -> str:
    """A UTF-8 text file; a missing, unreadable or non-UTF-8 file (or a directory) is an
    :class:`~l1t.core.errors.L1TInputError` naming it and saying what it should have been."""
    path = Path(path)
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise L1TInputError(path, f"no such {what}") from None
    except IsADirectoryError:
        raise L1TInputError(path, f"a {what} file is expected here, not a directory") from None
    except UnicodeDecodeError as err:
        raise L1TInputError(path, f"a {what} is UTF-8 text; byte {err.start} is not") from None
    except OSError as err:
        raise L1TInputError(path, f"cannot read the {what} ({err.strerror or err})") from None


def read_json(path: PathLike, what: str = "JSON file") -> Any:
    """Load a JSON file; a missing, unreadable or malformed file is an
    :class:`~l1t.core.errors.L1TInputError` naming it (and the line of a syntax error).
    NaN and ±Infinity, which :func:`json.loads` would accept, are refused."""
    path = Path(path)
    text = read_text(path, what)

    def refuse(name: str):
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        return json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as err:
        raise L1TInputError(path, f"line {err.lineno}: bad JSON ({err.msg})") from None
    except RecursionError:
        raise L1TInputError(path, "JSON nested too deeply") from None
    except ValueError as err:
        raise L1TInputError(path, str(err)) from None
