"""Sample production: chunks of PU-mixed crossings with L1 objects, a manifest, resume, parallelism.

``produce()`` writes ``DIR/chunk-00000.parquet`` … and ``DIR/manifest.json``. Every chunk is written
to a temporary file and renamed when complete, so a file that exists is a complete chunk: a rerun
skips it (resume) and a killed run never leaves a half chunk that counts. Chunks run in a process
pool (all cores by default) or, given a scheduler address, on a dask.distributed cluster; the result
is the same bytes either way because every chunk depends only on (sample, seed, chunk index, μ).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from . import detector
from .detector import DEFAULT, DetectorConfig, Digitized
from l1t.core.errors import L1TInputError
from .formats import write_events
from l1t.core.executor import connect, run_tasks
from l1t.core.files import JsonContract
from .genjets import gen_jets
from .gun import muon_gun
from .integrity import changed, check_manifest_shape, sha256_of, verified_chunks
from .pileup import build_pool, compose, hardest_sources, load_pool
from .hepmc import hard_interactions, hepmc_sample, prepare as prepare_hepmc
from .pythia import chunk_seed, generate, prepare_mpi_init, read_command_file
from .samples import Sample, get_sample
from .schema import EVENT_FIELDS, GEN_COLLECTIONS

MANIFEST = "manifest.json"
#: ``manifest.json``: what a production holds (chunks, sha256, parameters, detector, pool).
MANIFEST_CONTRACT = JsonContract("l1t-production-manifest", 1)
#: Generator particles kept per event (GenPart): stable, pT above this (GeV).
GENPART_MIN_PT = 1.0
MAX_PILEUP = 300.0
#: Largest master seed: every file format l1t writes stores integers up to 2^63 - 1 exactly.
MAX_SEED = 2**63 - 1
_log = logging.getLogger("l1t")


@dataclass(frozen=True)
class Generator:
    """What makes a sample's hard interactions: ``make(sample, n, seed, mpi_init, first_event)``
    → events as :func:`l1t.datasets.pythia.generate` returns them (``first_event``: the chunk's
    first event in the production); ``mpi_init``: whether it reads a Pythia
    multiparton-interaction initialisation; ``prepare(sample, cache)``: run once per
    production before the chunks, in this process, returning the sample the chunks get (HepMC
    files: their events converted into the cache)."""

    make: Callable[..., ak.Array]
    mpi_init: bool
    prepare: Callable[[Sample, Path], Sample] | None = None


#: Generators by the name a :class:`~l1t.datasets.samples.Sample` gives.
GENERATORS: dict[str, Generator] = {"pythia": Generator(generate, True),
                                     "muon_gun": Generator(muon_gun, False),
                                     "hepmc": Generator(hard_interactions, False, prepare_hepmc)}


@dataclass(frozen=True)
class ChunkSpec:
    """Everything one chunk needs; picklable, so it travels to worker processes and dask (a
    user's sample with it: a command file's settings, the converted HepMC events' directory)."""

    sample: Sample
    index: int
    first_event: int
    n_events: int
    seed: int
    mu: float
    path: str
    mpi_init: str
    pool: str | None
    pool_size: int
    fmt: str
    cfg: DetectorConfig = DEFAULT
    #: a LAr reconstruction of the EM towers (:class:`l1t.datasets.lar.towers.Reconstruction`);
    #: None: the ideal measurement
    lar: Any = None


def simulate_chunk(spec: ChunkSpec) -> ak.Array:
    """Generate, mix and simulate one chunk; returns the events in the L1 schema."""
    sample = spec.sample
    pythia_seed = chunk_seed(spec.seed, spec.index)
    hard = GENERATORS[sample.generator].make(sample, spec.n_events, pythia_seed,
                                             Path(spec.mpi_init) if spec.mpi_init else None,
                                             spec.first_event)
    digi = detector.digitize(hard.particles, spec.cfg)
    pool_size = 0
    pthats = ak.to_numpy(hard.pthat)
    if spec.pool is not None:
        pool, pool_pthat = load_pool(Path(spec.pool), spec.cfg)
        digi = Digitized.concatenate([digi, pool])
        pthats = np.concatenate([pthats, pool_pthat])
        pool_size = len(pool)
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, spec.index, 1]))
    members, counts = compose(spec.n_events, spec.mu, pool_size, rng, zero_bias=sample.zero_bias)
    # event weights: the generator's, times the muon enrichment's where the sample boosts decays
    weight = np.array(ak.to_numpy(hard.weight), np.float64)
    em_reco = None
    if spec.lar is not None:
        from .lar.towers import EMPTY_SPECTRA, reconstructed_em, spectra_of

        spectra = spectra_of(pool.deposits) if spec.pool is not None else EMPTY_SPECTRA
        lar_rng = np.random.default_rng(np.random.SeedSequence([spec.seed, spec.index, 2]))
        em_reco = partial(reconstructed_em, mu=spec.mu, spectra=spectra,
                          reconstruct=spec.lar, rng=lar_rng)
    l1 = detector.simulate(digi, members, counts, rng, spec.cfg, weight, em_reco)
    pthat_max = np.zeros(len(counts))
    crossing = np.repeat(np.arange(len(counts)), counts)
    np.maximum.at(pthat_max, crossing, pthats[members])
    other = np.ones(len(members), bool)         # all but each crossing's first interaction
    other[(np.cumsum(counts) - counts)[counts > 0]] = False
    pu_crossing, pu_members = crossing[other], members[other]
    pu_pthat_max = np.zeros(len(counts))
    np.maximum.at(pu_pthat_max, pu_crossing, pthats[pu_members])
    pu_source = hardest_sources(pu_crossing, pu_members, pthats, len(counts), spec.n_events,
                                Path(spec.pool) if spec.pool is not None else None)
    gen = hard.particles[hard.particles.pt >= GENPART_MIN_PT]
    n = spec.n_events
    fields = {
        "event": np.arange(spec.first_event, spec.first_event + n, dtype=np.int64),
        "seed": np.full(n, pythia_seed, np.int64),
        "process": hard.process, "sigma_mb": hard.sigma_mb, "weight": weight,
        "pthat": hard.pthat, "pthat_max": pthat_max, "pu_pthat_max": pu_pthat_max,
        "pu_source": pu_source, "mu": np.full(n, spec.mu, np.float32),
        "n_interactions": counts.astype(np.int32),
        **l1,
        "GenPart": gen,
        "GenJet": gen_jets(hard.particles),
    }
    out = {k: (ak.values_astype(v, EVENT_FIELDS[k]) if k in EVENT_FIELDS else v)
           for k, v in fields.items()}
    for coll, spec_fields in GEN_COLLECTIONS.items():
        out[coll] = ak.zip({f: ak.values_astype(out[coll][f], d) for f, d in spec_fields.items()})
    return ak.zip(out, depth_limit=1)


def run_chunk(spec: ChunkSpec) -> dict:
    """Simulate a chunk and write it atomically; returns its manifest entry."""
    events = simulate_chunk(spec)
    meta = {"sample": spec.sample.name, "chunk": spec.index, "seed": spec.seed, "mu": spec.mu,
            "pool_size": spec.pool_size, "first_event": spec.first_event}
    write_events(events, spec.path, spec.fmt, metadata=meta)
    return chunk_entry(Path(spec.path), spec.index, len(events),
                       float(ak.to_numpy(events.sigma_mb)[0]) if len(events) else 0.0)


def chunk_entry(path: Path, index: int, n: int, sigma_mb: float) -> dict:
    """A chunk's manifest entry: what :mod:`l1t.datasets.integrity` checks before reading it."""
    return {"index": index, "file": path.name, "events": n, "sigma_mb": sigma_mb,
            "bytes": path.stat().st_size, "sha256": sha256_of(path)}


def produce(sample: str | Sample, n_events: int | None, out_dir: str | Path, pileup: float = 0.0,
            seed: int = 1, chunk_size: int = 500, pool_size: int = 2000, fmt: str = "parquet",
            workers: int | None = None, scheduler: str | None = None, progress: bool = True,
            cfg: DetectorConfig = DEFAULT, cache_dir: str | Path | None = None,
            lar=None) -> dict:
    """Produce ``n_events`` crossings of ``sample`` at mean pileup ``pileup`` into ``out_dir``.

    ``lar``: the EM towers from this LAr reconstruction of their samples
    (:mod:`l1t.datasets.lar.towers`; its ``describe()`` goes into the manifest) instead of the
    ideal measurement.

    ``sample``: a built-in sample's name, or a user's :class:`~l1t.datasets.samples.Sample`
    (:func:`l1t.datasets.pythia.read_command_file`, :func:`l1t.datasets.hepmc.hepmc_sample`),
    whose :attr:`~l1t.datasets.samples.Sample.events` is the default of ``n_events`` (None).
    Returns the manifest (also written to ``out_dir/manifest.json``). A rerun with the same
    arguments resumes: complete chunks are kept; different arguments (or a user's file with
    other contents) are refused. ``cache_dir`` (default ``out_dir/.cache``) holds the Pythia MPI
    initialisation, the min-bias pool and converted HepMC events; all are deterministic, so
    productions may share one. Nothing is written before a user's sample has shown that it
    makes events (Pythia initialised, one event made).
    """
    s = sample if isinstance(sample, Sample) else get_sample(sample)
    n_events = _events_of(s, n_events)
    cfg = replace(cfg, **dict(s.detector))
    _check_args(n_events, pileup, seed, chunk_size, pool_size, fmt)
    if scheduler:   # an unreachable scheduler fails before anything is written
        connect(scheduler).close()
    out = Path(out_dir)
    params = {"sample": s.name, "events": n_events, "pileup": pileup, "seed": seed,
              "chunk_size": chunk_size, "pool_size": pool_size if pileup > 0 else 0,
              "format": fmt, "detector": cfg.to_dict()}
    if lar is not None:   # (absent otherwise: productions made before keep their parameters)
        params["lar"] = lar.describe()
    if s.origin is not None:
        params["origin"] = s.origin.parameters()
    previous = _read_manifest(out)
    if previous and previous["parameters"] != params:
        diff = sorted(k for k in params if previous["parameters"].get(k) != params[k])
        raise L1TInputError(out / MANIFEST, "directory holds a production with other "
                            f"parameters ({', '.join(diff)}); use a new --out", diff[0])
    cache = Path(cache_dir) if cache_dir is not None else out / ".cache"
    generator = GENERATORS[s.generator]
    mpi = (prepare_mpi_init(s, cache / _mpi_name(s), seed=1, check_events=s.origin is not None)
           if generator.mpi_init else "")
    if generator.prepare is not None and s.events is not None and n_events > s.events:
        raise L1TInputError(s.source, f"{n_events} events asked for, the files hold "
                            f"{s.events}", "events")
    out.mkdir(parents=True, exist_ok=True)
    if generator.prepare is not None:
        s = generator.prepare(s, cache)
    pool = None
    if pileup > 0:
        pool_mpi = prepare_mpi_init(get_sample("minbias"), cache / "mpi-minbias.dat", seed=1)
        pool = str(build_pool(cache, pool_size, seed, pool_mpi, progress))
    suffix = ".parquet" if fmt == "parquet" else ".root"
    specs = []
    for i in range(math.ceil(n_events / chunk_size)):
        first = i * chunk_size
        specs.append(ChunkSpec(s, i, first, min(chunk_size, n_events - first), seed,
                               float(pileup), str(out / f"chunk-{i:05d}{suffix}"), str(mpi), pool,
                               params["pool_size"], fmt, cfg, lar))
    done = {e["index"]: e for e in (previous or {}).get("chunks", [])}
    todo = []
    for spec in specs:
        path = Path(spec.path)
        problem = changed(path, done[spec.index]) if path.exists() and spec.index in done else None
        if problem:   # edited or damaged since it was written: the production is deterministic
            _log.warning("l1t: %s does not match the manifest (%s): generating it again",
                         path, problem)
            path.unlink()
        if path.exists():
            if spec.index not in done:  # finished after the last manifest update
                done[spec.index] = chunk_entry(path, spec.index, spec.n_events, _sigma_of(path))
        else:
            done.pop(spec.index, None)
            todo.append(spec)
    results = run_tasks(run_chunk, [(spec,) for spec in todo], workers, scheduler)
    manifest = _manifest(params, done, pileup, n_events, pool_size, s)
    _write_manifest(out, manifest)
    for entry in _progress(results, todo, progress, s.name):
        done[entry["index"]] = entry
        manifest = _manifest(params, done, pileup, n_events, pool_size, s)
        _write_manifest(out, manifest)
    return manifest


def sample_of(name: str | None, pythia_cmnd: str | Path | None = None,
              hepmc: Sequence[str | Path] | None = None) -> Sample:
    """The sample ``l1t generate`` is asked for: exactly one of a built-in sample's name, a
    Pythia command file (:func:`l1t.datasets.pythia.read_command_file`) or HepMC files
    (:func:`l1t.datasets.hepmc.hepmc_sample`), each checked before anything is written."""
    given = [what for what, value in (("a sample name", name), ("--pythia-cmnd", pythia_cmnd),
                                      ("--hepmc", hepmc)) if value]
    if len(given) != 1:
        raise L1TInputError("arguments", "give one of a sample name, --pythia-cmnd FILE or "
                            "--hepmc FILE..." + (f" (got {' and '.join(given)})" if given else ""),
                            "sample")
    if pythia_cmnd:
        return read_command_file(pythia_cmnd)
    if hepmc:
        return hepmc_sample(hepmc)
    return get_sample(name)


def production_text(manifest: dict, out_dir: str | Path) -> str:
    """What ``l1t generate`` prints: the sample, crossings, pileup, chunks, where the manifest
    is, the input a user's sample came from and the cross section."""
    p = manifest["parameters"]
    lar = f", EM towers from the LAr {p['lar']['reconstruction']}" if p.get("lar") else ""
    lines = [f"{p['sample']}: {manifest['events_done']} crossings at pileup {p['pileup']:g} in "
             f"{len(manifest['chunks'])} chunk(s){lar} -> {Path(out_dir) / MANIFEST}"]
    origin = manifest.get("origin")
    if origin:
        files = ", ".join(Path(f).name for f in origin["files"])
        lines.append(f"from {files} (sha256 {origin['sha256'][0][:12]}"
                     + (f", {sum(origin['events'])} events" if origin.get("events") else "")
                     + ")")
    source = "from the HepMC files" if origin and origin["kind"] == "hepmc3" else \
        "Pythia estimate"
    lines.append(f"cross section {manifest['sigma_mb']:.4g} mb ({source})" if manifest["sigma_mb"]
                 else "no cross section (a particle gun, or HepMC files without one)")
    return "\n".join(lines)


def _events_of(sample: Sample, n_events: int | None) -> int:
    """The crossings to make: as asked, else the sample's default (a command file's
    ``Main:numberOfEvents``, every event of HepMC files)."""
    if n_events is not None:
        return n_events
    if sample.events is None:
        if sample.origin is not None:
            raise L1TInputError(sample.source, "give --events, or set Main:numberOfEvents in "
                                "the command file")
        raise L1TInputError("--events", "give the number of crossings to generate")
    return sample.events


def _mpi_name(sample: Sample) -> str:
    """The cache file of a sample's MPI initialisation; a user's sample's is named after the
    contents of its file too (two command files may share a stem)."""
    if sample.origin is None:
        return f"mpi-{sample.name}.dat"
    return f"mpi-{sample.name}-{sample.origin.sha256[0][:16]}.dat"


def _progress(results, specs: list[ChunkSpec], progress: bool, label: str):
    """Chunk entries of :func:`l1t.core.executor.run_tasks` results, with a progress bar."""
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, pipes)
    bar = tqdm(total=sum(s.n_events for s in specs), unit="ev", desc=label,
               disable=None if progress and specs else True)
    try:
        for _, entry in results:
            bar.update(entry["events"])
            yield entry
    finally:
        bar.close()


def _manifest(params, done, pileup, n_events, pool_size, sample: Sample) -> dict:
    chunks = [done[k] for k in sorted(done)]
    n_done = sum(c["events"] for c in chunks)
    sigma = (sum(c["sigma_mb"] * c["events"] for c in chunks) / n_done) if n_done else None
    m = {"parameters": params, "complete": n_done == n_events,
         "events_done": n_done, "sigma_mb": sigma, "chunks": chunks,
         "description": sample.description}
    if sample.origin is not None:
        m["origin"] = sample.origin.record()
    if pileup > 0:
        m["pileup_pool"] = {
            "size": pool_size, "reused": True,
            "mean_uses_per_pool_event": pileup * n_events / pool_size,
            "note": "pileup interactions are drawn with replacement from a finite min-bias pool"}
    return MANIFEST_CONTRACT.tag(m)


def _sigma_of(path: Path) -> float:
    from .formats import read_events

    ev = read_events(path)
    return float(ak.to_numpy(ev.sigma_mb)[0]) if len(ev) else 0.0


def _read_manifest(out: Path) -> dict | None:
    path = out / MANIFEST
    if not path.exists():
        return None
    m = MANIFEST_CONTRACT.read(path)
    check_manifest_shape(m, path)
    return m


def _write_manifest(out: Path, manifest: dict) -> None:
    MANIFEST_CONTRACT.write(out / MANIFEST, manifest)


def _check_args(n_events, pileup, seed, chunk_size, pool_size, fmt) -> None:
    if not isinstance(n_events, (int, np.integer)) or n_events <= 0:
        raise L1TInputError("arguments", f"need a positive number of events, got {n_events}", "events")
    if not math.isfinite(pileup) or not 0 <= pileup <= MAX_PILEUP:
        raise L1TInputError("arguments", f"pileup must be within 0..{MAX_PILEUP:g}, got {pileup}",
                            "pileup")
    if not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise L1TInputError("arguments", f"seed must be an integer 0..{MAX_SEED}, got {seed}",
                            "seed")
    if chunk_size <= 0 or pool_size <= 0:
        raise L1TInputError("arguments", "chunk size and pool size must be positive", "chunk_size")
    if fmt not in ("parquet", "root"):
        raise L1TInputError("arguments", f"format must be parquet or root, got {fmt!r}", "format")


def read_manifest(out_dir: str | Path) -> dict:
    """The manifest of a production directory (error if there is none)."""
    m = _read_manifest(Path(out_dir))
    if m is None:
        raise L1TInputError(Path(out_dir) / MANIFEST, "no manifest: not an l1t production")
    return m


def chunk_files(out_dir: str | Path) -> list[Path]:
    """The chunk files of a production, in order, after checking what the manifest claims about
    them (:mod:`l1t.datasets.integrity`)."""
    m = read_manifest(out_dir)
    return verified_chunks(Path(out_dir), m, Path(out_dir) / MANIFEST)
