"""Pythia8 (pythia8mc) event generation: hard interactions as awkward arrays of stable particles.

One Pythia instance per chunk, seeded from ``(seed, chunk)``, so a chunk's events depend on nothing
but its seed. The multiparton-interaction initialisation (≈4 s) is computed once per production with
a fixed seed, written to a file and read by every chunk (``MultipartonInteractions:reuseInit``).
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import awkward as ak
import numpy as np

from l1t.core.errors import L1TInputError

from .native import captured
from .samples import COMMON_SETTINGS, Sample

#: Largest seed Pythia accepts (Random:seed).
_MAX_PYTHIA_SEED = 900_000_000
_MAX_FAILURES = 100


def chunk_seed(seed: int, chunk: int) -> int:
    """Pythia seed of chunk ``chunk`` of a production with master seed ``seed`` (1..9e8)."""
    state = np.random.SeedSequence([int(seed), int(chunk)]).generate_state(1, np.uint64)[0]
    return int(state % _MAX_PYTHIA_SEED) + 1


def _make_pythia(sample: Sample, seed: int, extra: tuple[str, ...] = ()):
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in (*COMMON_SETTINGS, *sample.settings, "Random:setSeed = on",
                 f"Random:seed = {seed}", *extra):
        if not pythia.readString(line):
            raise L1TInputError(_where(sample), f"Pythia rejected the setting {line!r}")
    return pythia


def _where(sample: Sample) -> str:
    """What an error about ``sample`` names: its file, or the built-in sample."""
    return sample.source or f"sample {sample.name}"


def _init(pythia, sample: Sample) -> None:
    """``pythia.init()``; a failure is an :class:`L1TInputError` quoting Pythia's reason (from
    its error statistics) and naming the lines that switch processes on."""
    if pythia.init():
        return
    raise L1TInputError(_where(sample), "Pythia cannot make events with these settings: "
                        + _pythia_errors(pythia), _process_lines(sample))


def _pythia_errors(pythia) -> str:
    """Pythia's most specific message so far (from its error statistics: an ``Error in``
    before an ``Abort from``)."""
    with captured() as out:
        pythia.stat()
    found = []
    for line in out.text.splitlines():
        text = line.strip(" |")
        words = text.split(None, 1)
        if len(words) == 2 and words[0].isdigit() and words[1].startswith(("Error", "Abort")):
            found.append(words[1])
    found.sort(key=lambda m: not m.startswith("Error"))
    return _reason(found[0]) if found else "no reason given"


def _reason(message: str) -> str:
    """``Error in ProcessLevel::init: no process switched on`` → ``no process switched on
    (ProcessLevel::init)``."""
    head, sep, tail = message.partition(": ")
    where = head.split()[-1]
    return f"{tail} ({where})" if sep else message


def _process_lines(sample: Sample) -> str | None:
    """``line N[, M …]``: the lines of a command file that switch a process on (None when none
    does, or for a built-in sample)."""
    if not sample.origin or sample.origin.kind != "pythia-cmnd":
        return None
    numbers = [n for n, line in command_lines(sample.origin.text) if _is_process(line)]
    return ("line " + ", ".join(map(str, numbers))) if numbers else None


@functools.lru_cache(maxsize=None)
def _bare_pythia(use: str):
    """A Pythia with default settings and particle table, one per ``use`` in a process (built
    once: about 0.1 s)."""
    import pythia8mc

    return pythia8mc.Pythia("", False)


def _is_process(line: str) -> bool:
    """Whether a setting switches a process on (Pythia's own test for hard processes, or a
    soft-QCD switch)."""
    settings = _bare_pythia("probe").settings
    settings.resetAll()
    with captured():
        ok = settings.readString(line, False)
    key = _key(line)
    return ok and (settings.hasHardProc()
                   or (key.startswith(("softqcd:", "lowenergyqcd:")) and settings.flag(key)))


def prepare_mpi_init(sample: Sample, path: Path, seed: int = 1, check_events: bool = False
                     ) -> Path:
    """Write the MPI initialisation file for ``sample`` to ``path`` (atomically) if missing.

    Nothing is written unless Pythia initialises: the file is made in a temporary directory and
    moved into place. ``check_events``: also make one event (a command file's process might
    give none), an :class:`L1TInputError` naming the sample's file when it cannot.
    """
    path = Path(path)
    if path.exists():
        return path
    with tempfile.TemporaryDirectory(prefix="l1t-mpi-") as tmpdir:
        made = Path(tmpdir) / path.name
        pythia = _make_pythia(sample, seed, ("MultipartonInteractions:reuseInit = 1",
                                             f"MultipartonInteractions:initFile = {made}"))
        _init(pythia, sample)
        if check_events:
            _next_event(pythia, sample, _failure_limit(pythia, sample))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        shutil.copyfile(made, tmp)
        os.replace(tmp, path)
    return path


def _failure_limit(pythia, sample: Sample) -> int:
    """Failed events in a row before giving up: a command file's ``Main:timesAllowErrors``,
    else :data:`_MAX_FAILURES`."""
    if any(_key(line) == "main:timesallowerrors" for line in sample.settings):
        return max(int(pythia.mode("Main:timesAllowErrors")), 1)
    return _MAX_FAILURES


def _next_event(pythia, sample: Sample, limit: int) -> ak.Array:
    """One event (``nextBatch(1)``), retried up to ``limit`` failures in a row; giving up is
    an :class:`L1TInputError` naming the sample's file."""
    for _ in range(limit + 1):
        batch = pythia.nextBatch(1)
        if len(batch) == 1:
            return batch
    raise L1TInputError(_where(sample), f"Pythia failed to make an event {limit + 1} times in a "
                        f"row: {_pythia_errors(pythia)}", _process_lines(sample))


class PythiaRun:
    """One initialised Pythia of ``sample`` with seed ``seed`` (reading the MPI initialisation
    ``mpi_init`` when given): its events one by one as Pythia's full records, and the cross
    section it estimates."""

    def __init__(self, sample: Sample, seed: int, mpi_init: Path | None = None):
        extra: tuple[str, ...] = ()
        if mpi_init is not None:
            extra = ("MultipartonInteractions:reuseInit = 2",
                     f"MultipartonInteractions:initFile = {mpi_init}")
        self.sample = sample
        self.pythia = _make_pythia(sample, seed, extra)
        _init(self.pythia, sample)
        self._limit = _failure_limit(self.pythia, sample)

    def events(self, n_events: int) -> Iterator[tuple[ak.Array, int, float, float]]:
        """``n_events`` times: the event record as a one-event array (every particle Pythia
        lists: ``id``, ``status``, mothers, daughters, ``p`` = (px, py, pz, e) and ``m`` in GeV,
        …), the process code, the event weight and pT-hat (GeV)."""
        for _ in range(n_events):
            batch = _next_event(self.pythia, self.sample, self._limit)
            info = self.pythia.infoPython()
            yield batch.prt, info.code(), info.weight(), info.pTHat()

    @property
    def sigma_mb(self) -> float:
        """Pythia's estimate of the generated cross section so far, mb."""
        return float(self.pythia.infoPython().sigmaGen())

    def charges(self, pid: np.ndarray) -> np.ndarray:
        """Electric charges (units of e) from this Pythia's particle table (the sample may
        change it)."""
        return _charges(pid, self.pythia)


def generate(sample: Sample, n_events: int, seed: int, mpi_init: Path | None = None,
             first_event: int = 0, progress: str | None = None) -> ak.Array:
    """Generate ``n_events`` events of ``sample`` with Pythia seed ``seed``.

    Returns an array of length ``n_events`` with fields ``process`` (Pythia code), ``sigma_mb``
    (Pythia's cross-section estimate at the end of the run, mb), ``weight``, ``pthat`` (GeV) and
    ``particles``: the stable final-state particles, ``var * {pt, eta, phi, mass, pdgId, charge}``
    in GeV and radians (particles with pT = 0, e.g. along the beam, are dropped).
    ``first_event`` (the chunk's place in the production) does not enter: the seed does.
    ``progress``: the label of a progress bar (none when None or stderr is not a terminal).
    """
    from tqdm import tqdm

    run = PythiaRun(sample, seed, mpi_init)
    records, codes, weights, pthats = [], [], [], []
    events = tqdm(run.events(n_events), total=n_events, unit="ev", desc=progress,
                  disable=None if progress else True)
    for prt, code, weight, pthat in events:
        records.append(prt)
        codes.append(code)
        weights.append(weight)
        pthats.append(pthat)
    if not records:
        particles = stable_particles(*(np.zeros(0),) * 4, np.zeros(0, np.int32),
                                     np.zeros(0, np.int64), run.charges)
    else:
        prt = ak.concatenate(records)
        final = prt[prt.status > 0]
        flat = ak.flatten(final)
        particles = stable_particles(
            *(ak.to_numpy(flat.p[c]) for c in ("px", "py", "pz")), ak.to_numpy(flat.m),
            ak.to_numpy(flat.id), ak.to_numpy(ak.num(final)), run.charges)
    return hard_events(np.asarray(codes, np.int32), np.full(n_events, run.sigma_mb),
                       np.asarray(weights, np.float64), np.asarray(pthats, np.float64),
                       particles)


def hard_events(process: np.ndarray, sigma_mb: np.ndarray, weight: np.ndarray,
                pthat: np.ndarray, particles: ak.Array) -> ak.Array:
    """The hard interactions as every generator returns them (see :func:`generate`)."""
    return ak.zip({"process": process, "sigma_mb": sigma_mb, "weight": weight,
                   "pthat": pthat, "particles": particles}, depth_limit=1)


def stable_particles(px: np.ndarray, py: np.ndarray, pz: np.ndarray, mass: np.ndarray,
                     pid: np.ndarray, counts: np.ndarray, charges) -> ak.Array:
    """Final-state particles (flat arrays, GeV, ``counts`` per event) as
    ``var * {pt, eta, phi, mass, pdgId, charge}`` (float32 kinematics); those with pT = 0 are
    dropped. ``charges(pid)`` gives the electric charges."""
    px, py, pz = (np.asarray(a, np.float64) for a in (px, py, pz))
    pt = np.hypot(px, py)
    keep = pt > 0
    pid = np.asarray(pid).astype(np.int32)
    charge = charges(pid)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(pz / pt)
    cols = {
        "pt": pt.astype(np.float32), "eta": eta.astype(np.float32),
        "phi": np.arctan2(py, px).astype(np.float32),
        "mass": np.asarray(mass).astype(np.float32), "pdgId": pid, "charge": charge,
    }
    counts = np.asarray(counts, np.int64)
    event_of = np.repeat(np.arange(len(counts)), counts)
    new_counts = np.bincount(event_of[keep], minlength=len(counts))
    return ak.unflatten(ak.zip({k: v[keep] for k, v in cols.items()}), new_counts)


def default_charges(pid: np.ndarray) -> np.ndarray:
    """Electric charges (units of e) from Pythia's default particle table; 0 for a code the
    table lacks (events from another generator)."""
    return _charges(pid, _bare_pythia("particle table"))


def _charges(pid: np.ndarray, pythia) -> np.ndarray:
    """Electric charge of each particle (units of e) from Pythia's particle table."""
    ids, inverse = np.unique(pid, return_inverse=True)
    table = np.array([round(pythia.particleData.charge(int(i))) for i in ids], np.int32)
    return table[inverse].reshape(pid.shape)


# --------------------------------------------------------------------------- command files

#: ``Main:`` settings a production honours (the others are accepted and do nothing: they steer
#: Pythia's own example programs, which l1t does not run).
MAIN_HONOURED = ("Main:numberOfEvents", "Main:timesAllowErrors")
#: Settings a command file may not make: l1t cannot run them chunk by chunk.
_REFUSED = {
    "main:subrun": "subruns are not supported: one command file is one sample",
    "main:numberofsubruns": "subruns are not supported: one command file is one sample",
}
#: ``Beams:frameType`` values that read events from elsewhere (4: a Les Houches file, 5: a
#: user's LHAup object).
_EXTERNAL_FRAMES = (4, 5)


def _key(line: str) -> str:
    """The setting a command line sets, lower case (Pythia's names are case-insensitive)."""
    return line.split("=", 1)[0].split()[0].lower() if line.split() else ""


def command_lines(text: str) -> list[tuple[int, str]]:
    """The settings of a Pythia command file with their line numbers (from 1): blank lines and
    comments dropped as Pythia's ``readFile`` drops them (a line whose first character is not a
    letter or digit, e.g. ``!``, ``#``, ``//``; the lines from one starting with ``/*`` to one
    starting with ``*/``)."""
    out, commented = [], False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith(("/*", "*/")):
            commented = line.startswith("/*")
            continue
        if commented or not line or not line[0].isalnum():
            continue
        out.append((number, line))
    return out


def read_command_file(path: str | Path) -> Sample:
    """The sample of a Pythia8 command file: the file's settings after the common ones
    (:data:`~l1t.datasets.samples.COMMON_SETTINGS`: 14 TeV pp, Tune:pp 14, quiet), so that a
    setting of the file wins; named after the file's stem; its text and sha256 in
    :attr:`Sample.origin`, ``Main:numberOfEvents`` (when set) as :attr:`Sample.events`.

    Every setting is checked by Pythia here: one it does not know or whose value it refuses is
    an :class:`L1TInputError` naming the file and line with Pythia's reason. Refused too:
    subruns and external event input (``Beams:frameType`` 4, 5: l1t runs a sample in chunks,
    each from its own seed; shower Les Houches events into HepMC3 and use those instead).
    ``Random:`` settings are the production's (``--seed``), set after the file's.
    Whether the settings make events is checked when the production initialises Pythia.
    """
    import hashlib

    import pythia8mc

    from l1t.core.files import read_text

    from .samples import Origin, user_sample_name

    path = Path(path)
    text = read_text(path, "Pythia command file")
    lines = command_lines(text)
    if not lines:
        raise L1TInputError(path, "no settings in the command file")
    pythia = pythia8mc.Pythia("", False)
    for line in COMMON_SETTINGS:
        pythia.readString(line)
    for number, line in lines:
        key = _key(line)
        if key in _REFUSED:
            raise L1TInputError(path, _REFUSED[key], f"line {number}")
        with captured() as out:
            ok = pythia.readString(line)
        if not ok:
            said = out.lines("PYTHIA")
            reason = said[-1].split(":", 1)[-1].strip(" :") if said else "refused"
            raise L1TInputError(path, f"Pythia does not accept {line!r}: {reason}",
                                f"line {number}")
        if key == "beams:frametype" and pythia.mode("Beams:frameType") in _EXTERNAL_FRAMES:
            raise L1TInputError(path, "events from a Les Houches file or an external source "
                                "are not supported in a command file: shower them into HepMC3 "
                                "and use --hepmc", f"line {number}")
    events = None
    numbered = [n for n, line in lines if _key(line) == "main:numberofevents"]
    if numbered:
        events = int(pythia.mode("Main:numberOfEvents"))
        if events <= 0:
            raise L1TInputError(path, f"Main:numberOfEvents must be positive, got {events}",
                                f"line {numbered[-1]}")
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    name = user_sample_name(path.stem, path)
    return Sample(name, f"Pythia8 command file {path.name} (sha256 {sha[:12]})",
                  tuple(line for _, line in lines), tags=("user",),
                  origin=Origin("pythia-cmnd", (str(path.resolve()),), (sha,), text=text),
                  source=str(path), events=events)
