"""LHC filling schemes: which of the 3564 bunch slots of an orbit hold colliding bunches.

An orbit is 3564 slots of 24.95 ns (:mod:`l1t.trigger.lhc`; the LHC revolution frequency is 11.2456 kHz, so 40.079 MHz of
bunch crossings); CMS numbers the slots BX 1 … 3564. The trigger processes every slot; only
colliding slots carry pp interactions.

The default is the nominal 25 ns scheme of the LHC Design Report (CERN-2004-003-V-1, ch. 2,
"bunch filling scheme"): 2808 bunches in 39 trains of 72 (SPS batches), with the gaps of the
injection kickers and the abort gap::

    3564 = { [(72b + 8e) × 3 + 30e] × 2 + [(72b + 8e) × 4 + 31e] } × 3
           + { [(72b + 8e) × 3 + 30e] × 3 + 81e }

(b: a filled slot, e: an empty one; the last 119 slots are the abort gap). A filling-scheme file
lists the colliding slots, one BX number (1 … 3564) or range ``a-b`` per line or separated by
commas, ``#`` starting a comment — e.g. ``trigger/stream/filling_schemes/nominal_2808.txt``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import read_text

from ..lhc import BX_PER_ORBIT, DEFAULT_BUNCHES, LHC_REVOLUTION_KHZ
#: The nominal scheme as a file (the format of :func:`parse_filling_scheme`).
NOMINAL_FILE = Path(__file__).with_name("filling_schemes") / "nominal_2808.txt"


@dataclass(frozen=True)
class FillingScheme:
    """``colliding``: bool ``(3564,)``, index 0 is BX 1."""

    colliding: np.ndarray = field(repr=False)
    name: str = "custom"

    def __post_init__(self) -> None:
        c = np.asarray(self.colliding, dtype=bool)
        if c.shape != (BX_PER_ORBIT,):
            raise L1TInputError(self.name, f"a filling scheme has {BX_PER_ORBIT} slots, got "
                                f"shape {c.shape}", "colliding")
        if not c.any():
            raise L1TInputError(self.name, "no colliding bunch", "colliding")
        c.setflags(write=False)
        object.__setattr__(self, "colliding", c)

    @property
    def n_bunches(self) -> int:
        """Colliding bunch pairs per orbit."""
        return int(self.colliding.sum())

    @property
    def collision_rate_khz(self) -> float:
        """Rate of colliding crossings (kHz): n_bunches × 11.2456."""
        return self.n_bunches * LHC_REVOLUTION_KHZ

    def trains(self) -> list[tuple[int, int]]:
        """(first BX, length) of each train of consecutive colliding slots (BX numbers 1-based)."""
        c = self.colliding.astype(np.int8)
        edges = np.diff(np.concatenate([[0], c, [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        return [(int(s) + 1, int(e - s)) for s, e in zip(starts, ends)]

    def positions(self) -> np.ndarray:
        """Position of each slot in its train, ``(3564,)`` int64: 1 for a train's first bunch,
        0 for an empty slot."""
        pos = np.zeros(BX_PER_ORBIT, np.int64)
        for start, length in self.trains():
            pos[start - 1:start - 1 + length] = np.arange(1, length + 1)
        return pos

    def colliding_at(self, bx: np.ndarray) -> np.ndarray:
        """Whether absolute crossing numbers ``bx`` (0 = BX 1 of orbit 0) collide."""
        return self.colliding[np.asarray(bx) % BX_PER_ORBIT]

    def to_text(self) -> str:
        """The scheme as a file: one ``a-b`` range per train."""
        lines = [f"# {self.name}: {self.n_bunches} colliding bunches, BX numbers 1-{BX_PER_ORBIT}"]
        lines += [f"{s}-{s + n - 1}" if n > 1 else f"{s}" for s, n in self.trains()]
        return "\n".join(lines) + "\n"


def nominal_25ns() -> FillingScheme:
    """The LHC Design Report's 2808-bunch 25 ns scheme (see the module docstring)."""
    batch = [True] * 72 + [False] * 8
    def group(n_batches: int, gap: int) -> list[bool]:
        return batch * n_batches + [False] * gap
    block = group(3, 30) * 2 + group(4, 31)
    last = group(3, 30) * 3 + [False] * 81
    scheme = FillingScheme(np.array(block * 3 + last), f"nominal 25 ns, {DEFAULT_BUNCHES} bunches")
    assert scheme.n_bunches == DEFAULT_BUNCHES
    return scheme


def single_trains(n_bunches: int, train: int = 72, gap: int = 8) -> FillingScheme:
    """``n_bunches`` in trains of ``train`` separated by ``gap`` empty slots (from BX 1), for
    studies of the train structure; the abort gap (last 119 slots) stays empty."""
    usable = BX_PER_ORBIT - 119
    c = np.zeros(BX_PER_ORBIT, bool)
    pos, left = 0, n_bunches
    while left > 0 and pos < usable:
        n = min(train, left, usable - pos)
        c[pos:pos + n] = True
        left -= n
        pos += n + gap
    if left:
        raise L1TInputError("filling scheme", f"{n_bunches} bunches do not fit in trains of "
                            f"{train} with gaps of {gap}", "n_bunches")
    return FillingScheme(c, f"{n_bunches} bunches in trains of {train}")


_RANGE = re.compile(r"^(\d+)(?:\s*-\s*(\d+))?$")


def parse_filling_scheme(text: str, source: str = "filling scheme") -> FillingScheme:
    """A scheme from the file format above; errors name the file, the line and the slot."""
    c = np.zeros(BX_PER_ORBIT, bool)
    for lineno, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].strip()
        for item in filter(None, (p.strip() for p in body.split(","))):
            m = _RANGE.match(item)
            if not m:
                raise L1TInputError(source, f"line {lineno}: {item!r} is not a BX number or a "
                                    "range a-b", "bx")
            a = int(m.group(1))
            b = int(m.group(2)) if m.group(2) else a
            if not 1 <= a <= b <= BX_PER_ORBIT:
                raise L1TInputError(source, f"line {lineno}: {item!r} outside 1-{BX_PER_ORBIT} "
                                    "or reversed", "bx")
            if c[a - 1:b].any():
                raise L1TInputError(source, f"line {lineno}: {item!r} repeats a slot", "bx")
            c[a - 1:b] = True
    if not c.any():
        raise L1TInputError(source, "lists no colliding slot", "bx")
    return FillingScheme(c, Path(source).stem)


def load_filling_scheme(path: str | Path | None = None) -> FillingScheme:
    """A scheme from a file, or the nominal 2808-bunch scheme when ``path`` is None."""
    if path is None:
        return nominal_25ns()
    return parse_filling_scheme(read_text(path, "filling scheme"), str(path))
