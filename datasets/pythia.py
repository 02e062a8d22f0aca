"""Pythia8 (pythia8mc) event generation: hard interactions as awkward arrays of stable particles.

One Pythia instance per chunk, seeded from ``(seed, chunk)``, so a chunk's events depend on nothing
but its seed. The multiparton-interaction initialisation (≈4 s) is computed once per production with
a fixed seed, written to a file and read by every chunk (``MultipartonInteractions:reuseInit``).
"""
from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import numpy as np

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
            raise RuntimeError(f"Pythia rejected setting {line!r} of sample {sample.name!r}")
    return pythia


def prepare_mpi_init(sample: Sample, path: Path, seed: int = 1) -> Path:
    """Write the MPI initialisation file for ``sample`` to ``path`` (atomically) if missing."""
    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pythia = _make_pythia(sample, seed, ("MultipartonInteractions:reuseInit = 1",
                                         f"MultipartonInteractions:initFile = {tmp}"))
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise sample {sample.name!r}")
    os.replace(tmp, path)
    return path


def generate(sample: Sample, n_events: int, seed: int, mpi_init: Path | None = None) -> ak.Array:
    """Generate ``n_events`` events of ``sample`` with Pythia seed ``seed``.

    Returns an array of length ``n_events`` with fields ``process`` (Pythia code), ``sigma_mb``
    (Pythia's cross-section estimate at the end of the run, mb), ``weight``, ``pthat`` (GeV) and
    ``particles``: the stable final-state particles, ``var * {pt, eta, phi, mass, pdgId, charge}``
    in GeV and radians (particles with pT = 0, e.g. along the beam, are dropped).
    """
    extra: tuple[str, ...] = ()
    if mpi_init is not None:
        extra = ("MultipartonInteractions:reuseInit = 2",
                 f"MultipartonInteractions:initFile = {mpi_init}")
    pythia = _make_pythia(sample, seed, extra)
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise sample {sample.name!r}")
    batches, codes, weights, pthats = [], [], [], []
    failures = 0
    while len(batches) < n_events:
        batch = pythia.nextBatch(1)
        if len(batch) != 1:
            failures += 1
            if failures > _MAX_FAILURES:
                raise RuntimeError(f"Pythia failed {failures} times in a row ({sample.name})")
            continue
        failures = 0
        info = pythia.infoPython()
        batches.append(batch.prt)
        codes.append(info.code())
        weights.append(info.weight())
        pthats.append(info.pTHat())
    sigma_mb = pythia.infoPython().sigmaGen()
    prt = ak.concatenate(batches) if batches else ak.Array([[]])[:0]
    particles = _stable_particles(prt, pythia)
    return ak.zip({
        "process": np.asarray(codes, np.int32),
        "sigma_mb": np.full(n_events, sigma_mb, np.float64),
        "weight": np.asarray(weights, np.float64),
        "pthat": np.asarray(pthats, np.float64),
        "particles": particles,
    }, depth_limit=1)


def _stable_particles(prt: ak.Array, pythia) -> ak.Array:
    final = prt[prt.status > 0]
    counts = ak.num(final)
    flat = ak.flatten(final)
    px, py, pz = (ak.to_numpy(flat.p[c]) for c in ("px", "py", "pz"))
    pt = np.hypot(px, py)
    keep = pt > 0
    pid = ak.to_numpy(flat.id).astype(np.int32)
    charge = _charges(pid, pythia)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(pz / pt)
    cols = {
        "pt": pt.astype(np.float32), "eta": eta.astype(np.float32),
        "phi": np.arctan2(py, px).astype(np.float32),
        "mass": ak.to_numpy(flat.m).astype(np.float32), "pdgId": pid, "charge": charge,
    }
    event_of = np.repeat(np.arange(len(counts)), ak.to_numpy(counts))
    new_counts = np.bincount(event_of[keep], minlength=len(counts))
    return ak.unflatten(ak.zip({k: v[keep] for k, v in cols.items()}), new_counts)


def _charges(pid: np.ndarray, pythia) -> np.ndarray:
    """Electric charge of each particle (units of e) from Pythia's particle table."""
    ids, inverse = np.unique(pid, return_inverse=True)
    table = np.array([round(pythia.particleData.charge(int(i))) for i in ids], np.int32)
    return table[inverse].reshape(pid.shape)
