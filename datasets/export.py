"""``l1t export RUN_DIR --format adc-h5|parquet|root --out DIR``: a versioned, benchmark-ready
dataset from the productions of a run, with its datasheet.

One file per production found under ``RUN_DIR`` (a directory holding a ``manifest.json``; its
chunks are checked against the manifest first), named after its path in the run
(``anomaly-data/w_lnu`` → ``anomaly-data.w_lnu``), streamed chunk by chunk:

- ``adc-h5``: the ADC2021 layout (arXiv:2108.03986; NOTES.md "ADC2021"): dataset ``Particles``
  ``(N, 19, 4)`` float32 = (pT [GeV], η, φ, type) of MET, 4 electrons, 4 muons, 10 jets
  (:func:`l1t.datasets.adc.to_adc_particles`, its object cuts in the datasheet), plus
  ``weight`` ``(N,)`` (the event weights; 1 for unweighted samples) and the JSON metadata in the
  file attribute ``l1t``. h5py writes it without time stamps: the same run gives the same bytes;
- ``parquet`` / ``root``: every crossing in the full event schema of :mod:`l1t.datasets.schema`
  (:func:`l1t.datasets.formats.write_event_chunks`; ROOT: TTree ``Events`` in NanoAOD style).

``datasheet.json`` (:data:`DATASHEET_CONTRACT`) and ``DATASHEET.md`` describe the dataset for
another group: its version (:data:`DATASET_VERSION`), the format and layout, per file the sample
(generator and its settings, description, role: background / signal / gun, weighted or not),
pileup, seed, chunking and pool, the detector settings, the cross section, the events, bytes and
sha256 of the file, and the composition (the share of each sample); the read-back recipe with
plain h5py / pyarrow / uproot. Every file reads back through :func:`l1t.datasets.formats.
read_events` too.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract, atomic_write

from .formats import METADATA_KEY, iter_events, write_event_chunks
from .production import MANIFEST, chunk_files, read_manifest
from .samples import COMMON_SETTINGS, SAMPLES

#: the layout of the exported files; raised when a reader of the old one would misread it
DATASET_VERSION = 1
DATASHEET_CONTRACT = JsonContract("l1t-dataset-datasheet", 1)
EXPORT_FORMATS = {"adc-h5": ".h5", "parquet": ".parquet", "root": ".root"}
STEP = 20_000       #: crossings in memory at a time
#: the object cuts of :func:`l1t.datasets.adc.to_adc_particles` (GeV, |η|), for the datasheet
ADC_CUTS = {"e_min_pt": 3.0, "e_max_eta": 3.0, "mu_min_pt": 3.0, "mu_max_eta": 2.1,
            "jet_min_pt": 15.0, "jet_max_eta": 4.0}
ADC_LAYOUT = ("Particles (N, 19, 4) float32: (pT [GeV], eta, phi [rad], type) of object slots "
              "0 MET (eta 0), 1-4 electrons, 5-8 muons, 9-18 jets, each group pT-ordered and "
              "zero-padded; type 0 empty, 1 MET, 2 electron, 3 muon, 4 jet (ADC2021, "
              "arXiv:2108.03986). weight (N,) float64: event weights.")


@dataclass
class Exported:
    """An export: the datasheet (as written) and the paths."""

    datasheet: dict
    paths: list[Path]

    def text(self) -> str:
        """The file table: name, sample, role, crossings, share, pileup, MB, sha256 prefix."""
        d = self.datasheet
        lines = [f"dataset {d['name']} v{d['dataset_version']} ({d['data_format']}): "
                 f"{d['total_events']} crossings in {len(d['files'])} files",
                 f"{'file':34s} {'sample':12s} {'role':10s} {'crossings':>9s} {'share':>6s} "
                 f"{'pileup':>6s} {'MB':>7s}  sha256"]
        for f in d["files"]:
            lines.append(f"{f['file']:34s} {f['sample']:12s} {f['role']:10s} {f['events']:9d} "
                         f"{100 * d['composition'][f['file']]:5.1f}% {f['pileup']:6g} "
                         f"{f['bytes'] / 1e6:7.2f}  {f['sha256'][:16]}")
        return "\n".join(lines)


def productions(run_dir: str | Path) -> list[Path]:
    """Production directories under ``run_dir`` (``run_dir`` itself included; hidden
    directories such as ``.cache`` skipped), sorted by path."""
    run = Path(run_dir)
    if not run.is_dir():
        raise L1TInputError(run, "no such run directory")
    found = [p.parent for p in run.rglob(MANIFEST)
             if not any(part.startswith(".") for part in p.relative_to(run).parts)]
    return sorted(found)


def _name(run: Path, prod: Path) -> str:
    rel = prod.relative_to(run)
    return ".".join(rel.parts) if rel.parts else prod.resolve().name


def _write_adc(files: list[Path], n: int, path: Path, meta: dict) -> Path:
    import h5py

    from .adc import N_OBJECTS, to_adc_particles

    text = json.dumps(meta, sort_keys=True)

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w", track_order=False) as out:
            opts = {"compression": "gzip", "shuffle": True,
                    "chunks": (min(max(n, 1), 4096), N_OBJECTS, 4)} if n else {}
            particles = out.create_dataset("Particles", (n, N_OBJECTS, 4), np.float32,
                                           track_times=False, **opts)
            weights = out.create_dataset("weight", (n,), np.float64, track_times=False)
            start = 0
            for events in iter_events(files, step_size=STEP):
                stop = start + len(events)
                if stop > n:
                    raise L1TInputError(path, f"more crossings than the manifest's {n}",
                                        "events")
                particles[start:stop] = to_adc_particles(events, **ADC_CUTS)
                weights[start:stop] = np.asarray(events.weight, np.float64)
                start = stop
            if start != n:
                raise L1TInputError(path, f"{start} crossings read, the manifest says {n}",
                                    "events")
            out.attrs[METADATA_KEY] = text

    return atomic_write(path, write)


def _sheet_md(d: dict) -> str:
    lines = [f"# Dataset {d['name']}, version {d['dataset_version']}", "",
             f"Format **{d['data_format']}**, {d['total_events']} crossings in {len(d['files'])} "
             f"files, written by l1t {d['l1t_version']}.", "", d["layout"], "",
             "| file | sample | role | crossings | share | pileup | seed | sigma [mb] | sha256 |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for f in d["files"]:
        sigma = "-" if f["sigma_mb"] is None else f"{f['sigma_mb']:.4g}"
        lines.append(f"| {f['file']} | {f['sample']} | {f['role']} | {f['events']} | "
                     f"{100 * d['composition'][f['file']]:.1f}% | {f['pileup']:g} | {f['seed']} "
                     f"| {sigma} | `{f['sha256']}` |")
    lines += ["", "## Samples", ""]
    for f in d["files"]:
        g = f["generator"]
        lines.append(f"- **{f['file']}**: {f['description']}; generator {g['name']}"
                     + (f" with `{'; '.join(g['settings'])}`" if g["settings"] else "")
                     + ("; weighted: use `weight`" if f["weighted"] else ""))
    lines += ["", "## Detector", "", "```json", json.dumps(d["detector"], indent=1,
                                                           sort_keys=True), "```", "",
              "## Reading it", "", "```python", d["read_back"], "```", ""]
    return "\n".join(lines)


_READ_BACK = {
    "adc-h5": "import h5py\nwith h5py.File('FILE', 'r') as f:\n    particles = f['Particles'][:]"
              "   # (N, 19, 4)\n    weight = f['weight'][:]\n# or: l1t.datasets.formats."
              "read_events('FILE')",
    "parquet": "import pyarrow.parquet as pq\ntable = pq.read_table('FILE')   # one row per "
               "crossing, collections as list<struct>\n# or: l1t.datasets.formats.read_events("
               "'FILE'), awkward.from_parquet('FILE')",
    "root": "import uproot\nevents = uproot.open('FILE')['Events'].arrays()   # NanoAOD style: "
            "nL1Jet, L1Jet_pt, ...\n# or: l1t.datasets.formats.read_events('FILE')",
}


def export(run_dir: str | Path, fmt: str, out_dir: str | Path,
           samples: list[str] | None = None) -> Exported:
    """Export the productions of ``run_dir`` (only those of ``samples`` if given) as ``fmt``
    into ``out_dir``, with ``datasheet.json`` and ``DATASHEET.md`` (see the module docstring).
    ``out_dir`` may not lie inside a production."""
    from importlib.metadata import version

    from .integrity import sha256_of

    if fmt not in EXPORT_FORMATS:
        raise L1TInputError("--format", f"unknown format {fmt!r} (one of "
                            f"{', '.join(EXPORT_FORMATS)})", "format")
    run, out = Path(run_dir), Path(out_dir)
    prods = productions(run)
    if samples is not None:
        prods = [p for p in prods if read_manifest(p)["parameters"]["sample"] in samples]
    if not prods:
        raise L1TInputError(run, "no production (a directory with manifest.json) found"
                            + (f" of samples {', '.join(samples)}" if samples else ""),
                            "productions")
    resolved = out.resolve()
    for p in prods:
        if resolved == p.resolve() or p.resolve() in resolved.parents:
            raise L1TInputError("--out", f"{out} lies inside the production {p}: outputs never "
                                "go into an input")
    entries, paths, detectors = [], [], []
    for prod in prods:
        m = read_manifest(prod)
        files = chunk_files(prod)                # checked against the manifest (sha256)
        params = m["parameters"]
        sample = SAMPLES.get(params["sample"])
        name = _name(run, prod) + EXPORT_FORMATS[fmt]
        n = int(m["events_done"])
        source = {"production": str(prod), "sample": params["sample"],
                  "dataset_version": DATASET_VERSION}
        path = out / name
        if fmt == "adc-h5":
            _write_adc(files, n, path, source)
        else:
            write_event_chunks(iter_events(files, step_size=STEP), n, path, fmt, source)
        paths.append(path)
        detectors.append(params.get("detector"))
        generator = sample.generator if sample else "unknown"
        entries.append({
            "file": name, "sample": params["sample"],
            "description": sample.description if sample else m.get("description", ""),
            "role": (sample.tags[0] if sample and sample.tags else "unknown"),
            "weighted": bool(sample.weighted) if sample else False,
            "generator": {"name": generator,
                          "settings": (list(COMMON_SETTINGS) + list(sample.settings)
                                       if sample and generator == "pythia" else [])},
            "pileup": params["pileup"], "seed": params["seed"],
            "chunk_size": params["chunk_size"], "pool_size": params.get("pool_size"),
            "pileup_pool": m.get("pileup_pool"), "sigma_mb": m.get("sigma_mb"),
            "detector": params.get("detector"), "events": n, "bytes": path.stat().st_size,
            "sha256": sha256_of(path),
            "source_chunks": [{"file": c["file"], "sha256": c["sha256"]} for c in m["chunks"]]})
    total = sum(e["events"] for e in entries)
    same = all(d == detectors[0] for d in detectors)
    sheet = DATASHEET_CONTRACT.tag({
        "name": run.resolve().name, "dataset_version": DATASET_VERSION, "data_format": fmt,
        "l1t_version": version("l1t"),
        "layout": ADC_LAYOUT if fmt == "adc-h5" else
        "every crossing in the l1t event schema (l1t.datasets.schema): event fields, L1 "
        "collections with physical values and hardware words, generator collections GenPart "
        "and GenJet" + ("; ROOT TTree 'Events', collection C as branches C_field with counter "
                        "nC" if fmt == "root" else "; parquet, one row per crossing"),
        "adc_cuts": ADC_CUTS if fmt == "adc-h5" else None,
        "total_events": total,
        "composition": {e["file"]: (e["events"] / total if total else 0.0) for e in entries},
        "detector": detectors[0] if same else "per file (they differ)",
        "files": entries, "read_back": _READ_BACK[fmt]})
    DATASHEET_CONTRACT.write(out / "datasheet.json", sheet)
    md = _sheet_md(sheet)
    atomic_write(out / "DATASHEET.md", lambda p: Path(p).write_text(md))
    return Exported(sheet, paths)


def read_datasheet(path: str | Path) -> dict:
    """Read a ``datasheet.json`` (format and version checked)."""
    return DATASHEET_CONTRACT.read(path)
