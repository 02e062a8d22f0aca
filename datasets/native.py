"""What the C++ generator libraries (Pythia8, HepMC3) print, caught instead of shown.

Both write their errors straight to the process's standard output or error (file descriptors 1
and 2), past Python's ``sys.stdout``. :func:`captured` points those descriptors at a temporary
file for the duration of a block, so that a refused setting or a broken event file becomes one
:class:`~l1t.core.errors.L1TInputError` line quoting the library's own words, and nothing else
reaches the terminal.
"""
from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Captured:
    """The text written to the captured descriptors; complete once the block has ended."""

    text: str = ""

    def lines(self, marker: str) -> list[str]:
        """The lines holding ``marker``, stripped."""
        return [line.strip() for line in self.text.splitlines() if marker in line]


def _flush_c_streams() -> None:
    """Flush C stdio buffers (C++ ``std::cout`` writes through them when synced, the default)."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):   # no C library to call: nothing buffered there either
        pass


@contextmanager
def captured(fds: tuple[int, ...] = (1, 2)) -> Iterator[Captured]:
    """Within the block, what anything writes to ``fds`` goes to a temporary file; the yielded
    :class:`Captured` holds it after the block."""
    out = Captured()
    sys.stdout.flush()
    sys.stderr.flush()
    _flush_c_streams()
    saved = [os.dup(fd) for fd in fds]
    with tempfile.TemporaryFile() as tmp:
        try:
            for fd in fds:
                os.dup2(tmp.fileno(), fd)
            yield out
        finally:
            _flush_c_streams()
            for fd, copy in zip(fds, saved):
                os.dup2(copy, fd)
                os.close(copy)
            tmp.seek(0)
            out.text = tmp.read().decode("utf-8", errors="replace")
