"""HepMC3 events (MadGraph + a shower, Herwig, Sherpa, Pythia …) as the hard interaction of a
production, through pyhepmc.

A production of HepMC files runs like any other: each crossing is one event of the files (in
order) plus Poisson(μ) pileup interactions from the min-bias pool, through the same detector,
chunk by chunk with the seeds of the built-in samples. What it takes from an event:

- the final-state particles: status 1, momenta and ``generated_mass`` in the file's units
  (MeV files are converted to GeV), charges from Pythia's particle table (0 for a code the table
  lacks);
- ``weight``: the event's first (nominal) weight, 1 without weights; negative weights are
  refused (l1t counts crossings with weights ≥ 0);
- ``sigma_mb``: the cross section of the file's last event (generators write a running
  estimate, so the last is the best), converted from pb; 0 when the file has none;
- ``process``: the ``signal_process_id`` attribute (0 without it); ``pthat``: the
  ``event_scale`` attribute in GeV (Pythia writes its renormalisation scale there; 0 without
  it).

Reading is in two passes. :func:`hepmc_sample` reads every event before anything is written:
a truncated or corrupt file, an event without final-state particles, a negative weight or a
non-finite number is an :class:`~l1t.core.errors.L1TInputError` naming the file and the event,
and no output exists yet. :func:`prepare` then converts the events once per production into a
directory of parquet pieces in the production's cache (written whole and renamed), which the
chunks read wherever they run (:func:`hard_interactions`). HepMC3 ASCII and the older HepMC2
``IO_GenEvent`` ASCII are read, plain or compressed (``.gz``, ``.bz2``, ``.xz``, ``.zst``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import awkward as ak
import numpy as np

from l1t.core.errors import L1TInputError

from .integrity import sha256_of
from .native import captured
from .pythia import default_charges, hard_events, stable_particles
from .samples import Origin, Sample, user_sample_name

#: Header and end-of-listing line of each ASCII format pyhepmc reads here.
_FORMATS = {b"HepMC::Asciiv3-START_EVENT_LISTING": ("HepMC3", b"HepMC::Asciiv3-END_EVENT_LISTING"),
            b"HepMC::IO_GenEvent-START_EVENT_LISTING":
                ("HepMC2", b"HepMC::IO_GenEvent-END_EVENT_LISTING")}
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zstd")
#: Events per parquet piece of a converted production (bounds the memory of the conversion).
PIECE = 2000
_PB_TO_MB = 1e-9
_STORE = "store.json"


@dataclass
class _Event:
    """What a production takes from one event (kinematics in GeV)."""

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    mass: np.ndarray
    pid: np.ndarray
    process: int
    weight: float
    pthat: float
    sigma_mb: float | None


def _open_binary(path: Path):
    """The file's bytes, decompressed by its suffix as pyhepmc does."""
    name = path.name.lower()
    if name.endswith(".gz"):
        import gzip
        return gzip.open(path, "rb")
    if name.endswith(".bz2"):
        import bz2
        return bz2.open(path, "rb")
    if name.endswith(".xz"):
        import lzma
        return lzma.open(path, "rb")
    if name.endswith((".zst", ".zstd")):
        from backports import zstd
        return zstd.open(path, "rb")
    return open(path, "rb")


def _format(path: Path) -> tuple[str, bytes]:
    """The file's format and its end-of-listing line; a file that is none of the formats read
    here (or is empty, or unreadable) is an :class:`L1TInputError`."""
    try:
        with _open_binary(path) as fh:
            head = fh.read(512)
    except FileNotFoundError:
        raise L1TInputError(path, "no such HepMC file") from None
    except IsADirectoryError:
        raise L1TInputError(path, "a HepMC file is expected here, not a directory") from None
    except (OSError, EOFError, ValueError) as err:
        raise L1TInputError(path, f"cannot read the HepMC file ({err})") from None
    for header, (fmt, footer) in _FORMATS.items():
        if header in head:
            return fmt, footer
    what = "empty" if not head.strip() else "not HepMC3 (or HepMC2) ASCII: no start-of-listing line"
    raise L1TInputError(path, f"{what}")


def _ends_with(path: Path, footer: bytes) -> bool:
    """Whether the file's last non-blank line is ``footer`` (a complete listing)."""
    tail = b""
    with _open_binary(path) as fh:
        if path.name.lower().endswith(_COMPRESSED):
            for block in iter(lambda: fh.read(1 << 20), b""):
                tail = (tail + block)[-4096:]
        else:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(fh.tell() - 4096, 0))
            tail = fh.read()
    lines = tail.strip().splitlines()
    return bool(lines) and lines[-1].strip() == footer


def _declared(path: Path, fmt: str) -> list[int | None]:
    """The events the file lists (its ``E`` lines), each with the number of particles it
    declares (HepMC3; None for HepMC2, whose event line does not give it): what the reader
    must find, so that an event it stops in early never passes for the end of the file."""
    out: list[int | None] = []
    with _open_binary(path) as fh:
        for line in fh:
            if line.startswith(b"E "):
                words = line.split()
                try:
                    out.append(int(words[3]) if fmt == "HepMC3" else None)
                except (IndexError, ValueError):
                    out.append(-1)      # a malformed event line: the reader will say more
    return out


def _attribute(evt, name: str, kind: type):
    """An event attribute as ``kind``; None when absent or unreadable."""
    if name not in evt.attributes:
        return None
    try:
        value = evt.attributes[name]
        return kind(value.astype(kind) if hasattr(value, "astype") else value)
    except (TypeError, ValueError):
        return None


def _label(evt, index: int) -> str:
    """How an error names an event: its number in the file and its place."""
    return f"event {evt.event_number} (the {_ordinal(index + 1)} in the file)"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _take(evt, index: int, path: Path) -> _Event:
    """One event's final-state particles and numbers, checked."""
    import pyhepmc

    where = _label(evt, index)
    p = evt.numpy.particles
    final = np.asarray(p.status) == 1
    if not final.any():
        raise L1TInputError(path, f"{where} has no final-state particles (status 1)",
                            f"event {evt.event_number}")
    scale = 1e-3 if evt.momentum_unit == pyhepmc.Units.MEV else 1.0
    cols = [np.asarray(c, np.float64)[final] * scale
            for c in (p.px, p.py, p.pz, p.generated_mass)]
    if not all(np.isfinite(c).all() for c in cols):
        raise L1TInputError(path, f"{where} has a NaN or infinite momentum or mass",
                            f"event {evt.event_number}")
    pid = np.asarray(p.pid, np.int64)[final]
    if (pid == 0).any():
        raise L1TInputError(path, f"{where} has a final-state particle with PDG id 0",
                            f"event {evt.event_number}")
    weights = list(evt.weights)
    weight = float(weights[0]) if weights else 1.0
    if not (np.isfinite(weight) and weight >= 0):
        raise L1TInputError(path, f"{where} has weight {weight:g}: l1t counts crossings with "
                            "finite weights >= 0", f"event {evt.event_number}")
    sigma = None
    if evt.cross_section is not None:
        pb = float(evt.cross_section.xsec())
        if not (np.isfinite(pb) and pb >= 0):
            raise L1TInputError(path, f"{where} has cross section {pb:g} pb",
                                f"event {evt.event_number}")
        sigma = pb * _PB_TO_MB
    process = _attribute(evt, "signal_process_id", int) or 0
    pthat = _attribute(evt, "event_scale", float)
    pthat = pthat * scale if pthat is not None and np.isfinite(pthat) and pthat >= 0 else 0.0
    return _Event(*cols, pid, process, weight, pthat, sigma)


def _events(path: Path) -> Iterator[_Event]:
    """Every event of one file, in order, checked; a file that stops before its end-of-listing
    line (truncated) or fails to parse is an :class:`L1TInputError` naming the event after
    the last good one."""
    import pyhepmc

    fmt, footer = _format(path)
    declared = _declared(path, fmt)
    reader_class = pyhepmc.io.ReaderAscii if fmt == "HepMC3" else pyhepmc.io.ReaderAsciiHepMC2
    last = None
    index = 0

    def broken(reason: str) -> L1TInputError:
        after = f"after event {last}" if last is not None else "in its first event"
        return L1TInputError(path, f"truncated or corrupt {after} ({' '.join(reason.split())})",
                             f"event {index + 1} in the file")

    with _open_binary(path) as fh:
        stream = pyhepmc.io.pyiostream(fh)
        with captured():          # HepMC3 prints its parsing errors itself
            reader = reader_class(stream)
        while True:
            evt = pyhepmc.GenEvent()
            with captured() as said:
                ok = reader.read_event(evt)
                failed = reader.failed()
            if not ok:
                problems = said.lines("ERROR")
                raise broken(problems[0].split("::", 1)[-1] if problems else "parse error")
            if failed and len(evt.particles) == 0:      # the end of the listing
                break
            if index >= len(declared) or declared[index] not in (None, len(evt.particles)):
                want = declared[index] if index < len(declared) else "no"
                raise broken(f"{want} particles listed, {len(evt.particles)} read")
            yield _take(evt, index, path)
            last = evt.event_number
            index += 1
            if failed:
                break
    if index != len(declared):
        raise broken(f"{len(declared)} events listed, {index} read")
    if not _ends_with(path, footer):
        after = f"after event {last} (the {_ordinal(index)} in the file)" if index else \
            "before its first event"
        raise L1TInputError(path, f"truncated: the file ends {after} without its end-of-listing "
                            f"line {footer.decode()}", f"event {index + 1} in the file")
    if index == 0:
        raise L1TInputError(path, "no events in the file")


def _stem(path: Path) -> str:
    """``zp.hepmc3.gz`` → ``zp``."""
    name = path.name
    for suffix in _COMPRESSED:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return Path(name).stem


def hepmc_sample(paths: Sequence[str | Path]) -> Sample:
    """The sample of HepMC files: every event read and checked (nothing is written), named after
    the first file's stem; its :attr:`~l1t.datasets.samples.Sample.origin` holds the files, their
    sha256, events and cross sections, :attr:`~l1t.datasets.samples.Sample.events` their sum.
    ``weighted`` when an event weight differs from 1."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise L1TInputError("--hepmc", "give at least one HepMC file")
    seen: dict[Path, Path] = {}
    for p in paths:
        key = p.resolve()
        if key in seen:
            raise L1TInputError(p, "given twice: its events would count twice")
        seen[key] = p
    name = user_sample_name(_stem(paths[0]), paths[0])
    counts, sigmas, shas, weighted = [], [], [], False
    for path in paths:
        n, sigma = 0, None
        for event in _events(path):
            n += 1
            sigma = event.sigma_mb if event.sigma_mb is not None else sigma
            weighted = weighted or event.weight != 1.0
        counts.append(n)
        sigmas.append(sigma or 0.0)
        shas.append(sha256_of(path))
    origin = Origin("hepmc3", tuple(str(p.resolve()) for p in paths), tuple(shas), events=tuple(counts),
                    sigma_mb=tuple(sigmas))
    files = ", ".join(p.name for p in paths)
    return Sample(name, f"HepMC events from {files}", (), weighted=weighted, tags=("user",),
                  generator="hepmc", origin=origin, source=str(paths[0]), events=sum(counts))


def store_key(sample: Sample) -> str:
    """The name of a sample's converted events in a cache: from the files' contents."""
    digest = hashlib.sha256("".join(sample.origin.sha256).encode()).hexdigest()
    return f"hepmc-{digest[:16]}"


def prepare(sample: Sample, cache: Path) -> Sample:
    """The sample with :attr:`~l1t.datasets.samples.Sample.store` set: its events converted
    (once; a cache holding them already is reused) into ``cache/hepmc-<key>/``."""
    store = Path(cache) / store_key(sample)
    if not (store / _STORE).exists():
        convert(sample, store)
    return replace(sample, store=str(store.resolve()))


def convert(sample: Sample, store: Path) -> Path:
    """Write the sample's events as the hard interactions the chunks read (:func:`hard_events`
    arrays, :data:`PIECE` per parquet file) into the directory ``store``, built next to it and
    renamed when complete."""
    store = Path(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{store.name}.", dir=store.parent))
    try:
        pending: list[tuple[_Event, float]] = []
        pieces = 0
        for path, sigma in zip(map(Path, sample.origin.files), sample.origin.sigma_mb):
            for event in _events(path):
                pending.append((event, sigma))
                if len(pending) == PIECE:
                    _write_piece(pending, tmp / f"events-{pieces:05d}.parquet")
                    pieces, pending = pieces + 1, []
        if pending:
            _write_piece(pending, tmp / f"events-{pieces:05d}.parquet")
            pieces += 1
        (tmp / _STORE).write_text(json.dumps({"events": sample.events, "piece": PIECE,
                                              "pieces": pieces, "files": list(sample.origin.files),
                                              "sha256": list(sample.origin.sha256)}, indent=1))
        if store.exists():     # another process converted the same files meanwhile
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, store)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return store


def _write_piece(events: list[tuple[_Event, float]], path: Path) -> None:
    cat = {k: np.concatenate([getattr(e, k) for e, _ in events])
           for k in ("px", "py", "pz", "mass", "pid")}
    counts = np.array([len(e.px) for e, _ in events], np.int64)
    particles = stable_particles(cat["px"], cat["py"], cat["pz"], cat["mass"], cat["pid"],
                                 counts, default_charges)
    arr = hard_events(np.array([e.process for e, _ in events], np.int32),
                      np.array([sigma for _, sigma in events], np.float64),
                      np.array([e.weight for e, _ in events], np.float64),
                      np.array([e.pthat for e, _ in events], np.float64), particles)
    ak.to_parquet(arr, path)


def hard_interactions(sample: Sample, n_events: int, seed: int, mpi_init: Path | None = None,
                      first_event: int = 0) -> ak.Array:
    """Events ``first_event`` … ``first_event + n_events − 1`` of a prepared sample
    (:func:`prepare`), as :func:`l1t.datasets.pythia.generate` returns its events (``seed`` and
    ``mpi_init`` unused: the files hold the events)."""
    store = Path(sample.store)
    if not (store / _STORE).exists():
        raise L1TInputError(store, "the converted HepMC events are missing: generate again")
    first, last = first_event // PIECE, (first_event + n_events - 1) // PIECE
    parts = [ak.from_parquet(store / f"events-{i:05d}.parquet") for i in range(first, last + 1)]
    start = first_event - first * PIECE
    events = ak.concatenate(parts)[start:start + n_events] if parts else None
    if events is None or len(events) != n_events:
        raise L1TInputError(store, f"holds fewer than {first_event + n_events} events")
    return events
