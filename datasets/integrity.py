"""A production is a unit of data integrity: its manifest claims, chunk by chunk, a file name, a
size in bytes, an event count and a sha256; those claims are checked before any chunk is read.

Checks, cheapest first: the manifest's shape; every chunk file a plain name inside the production
directory; the production complete; then per chunk its size, its event count (from the file's
footer) and its sha256 (the file streamed once through the hash in 1 MiB blocks). A chunk checked
once is not hashed again in the same process while its size and modification time are unchanged.
Each failure is one :class:`~l1t.core.errors.L1TInputError` naming the chunk and what changed.

``verification(False)`` (the ``--no-verify`` option of the ``l1t`` command) keeps the shape and
location checks, which guard against reading files the production does not own, and skips the
rest: for a user who knows a production was edited on purpose, or is still being written.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from l1t.core.errors import L1TInputError

_SHA256 = re.compile(r"[0-9a-f]{64}")
_BLOCK = 1 << 20
_state = {"verify": True}
#: ``(resolved path, size, mtime_ns)`` of chunks whose claims were checked in this process
_checked: set[tuple[str, int, int]] = set()


@contextmanager
def verification(enabled: bool) -> Iterator[None]:
    """Within the block, check (``True``, the default) or skip the chunks' size, count and
    sha256 claims."""
    before = _state["verify"]
    _state["verify"] = bool(enabled)
    try:
        yield
    finally:
        _state["verify"] = before


def verifying() -> bool:
    """Whether chunk claims are checked now (see :func:`verification`)."""
    return _state["verify"]


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file, streamed in 1 MiB blocks (bounded memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_manifest_shape(m: Any, path: Path) -> None:
    """Refuse a manifest whose fields are not what :mod:`l1t.datasets.production` writes."""
    if not isinstance(m.get("parameters"), dict):
        raise L1TInputError(path, "parameters must be a mapping", "parameters")
    if not isinstance(m.get("chunks"), list):
        raise L1TInputError(path, "chunks must be a list of chunk entries", "chunks")
    if not isinstance(m.get("complete"), bool):
        raise L1TInputError(path, "complete must be true or false", "complete")
    if not _is_count(m.get("events_done")):
        raise L1TInputError(path, "events_done must be a count of crossings", "events_done")
    for i, c in enumerate(m["chunks"]):
        where = f"chunks[{i}]"
        if not isinstance(c, dict):
            raise L1TInputError(path, "a chunk entry is a mapping (file, events, sha256)", where)
        f = c.get("file")
        if not isinstance(f, str) or not f or Path(f).name != f or f in (".", ".."):
            raise L1TInputError(path, f"file {f!r} is not a file name inside the production "
                                "directory (a production reads only its own files)",
                                f"{where}.file")
        if not _is_count(c.get("events")):
            raise L1TInputError(path, f"events must be a count, got {c.get('events')!r}",
                                f"{where}.events")
        if not isinstance(c.get("sha256"), str) or not _SHA256.fullmatch(c["sha256"]):
            raise L1TInputError(path, "sha256 must be 64 lowercase hex digits", f"{where}.sha256")
        if "bytes" in c and not _is_count(c["bytes"]):
            raise L1TInputError(path, "bytes must be a file size", f"{where}.bytes")
    if sum(c["events"] for c in m["chunks"]) != m["events_done"]:
        raise L1TInputError(path, f"events_done {m['events_done']} is not the sum of the chunks' "
                            "events", "events_done")


def changed(chunk: Path, entry: dict) -> str | None:
    """What no longer matches ``entry`` (a manifest chunk entry) in ``chunk``: ``None`` when the
    file is what the manifest claims."""
    from .formats import count_events

    if not chunk.is_file():
        return "the file is missing"
    st = chunk.stat()
    key = (str(chunk.resolve()), st.st_size, st.st_mtime_ns)
    if key in _checked:
        return None
    if "bytes" in entry and st.st_size != entry["bytes"]:
        return f"its size is {st.st_size} bytes, the manifest says {entry['bytes']}"
    try:
        n = count_events(chunk)
    except L1TInputError as err:
        return f"it cannot be read ({err.problem})"
    if n != entry["events"]:
        return f"it holds {n} events, the manifest says {entry['events']}"
    if sha256_of(chunk) != entry["sha256"]:
        return "its sha256 differs from the manifest's"
    _checked.add(key)
    return None


def verified_chunks(out_dir: Path, m: dict, manifest_path: Path) -> list[Path]:
    """The chunk files of a production whose manifest ``m`` was read from ``manifest_path``,
    after the checks of this module."""
    check_manifest_shape(m, manifest_path)
    files = [out_dir / c["file"] for c in m["chunks"]]
    if not verifying():
        return files
    if not m["complete"]:
        n = m["parameters"].get("events", "?")
        raise L1TInputError(manifest_path, f"the production is incomplete ({m['events_done']} of "
                            f"{n} crossings): rerun the same `l1t generate` to finish it "
                            "(or --no-verify to read what is there)", "complete")
    for i, (path, entry) in enumerate(zip(files, m["chunks"])):
        problem = changed(path, entry)
        if problem:
            raise L1TInputError(path, f"does not match the production's manifest: {problem} "
                                "(regenerate it with the same `l1t generate`, or --no-verify)",
                                f"chunks[{i}]")
    return files
