"""Writing and reading L1 event files.

Formats (``fmt``):

- ``l1t``: our own files, parquet (one row per crossing, the schema as nested columns) or ROOT
  (TTree ``Events`` in NanoAOD style: event fields as flat branches, collection ``C`` as jagged
  branches ``C_field`` with counter ``nC``). Both carry a JSON metadata dict (parquet key-value
  metadata ``l1t``; ROOT ``TObjString`` ``l1t_metadata``) and read back identically.
- ``nanoaod``: CMS NanoAOD-style L1 ntuples; branch names from ``nanoaod_mapping.yaml`` (or a user
  mapping); only objects with ``bx == 0`` are kept, missing hardware words are derived.
- ``adc-h5``: ADC2021 h5 files (dataset ``Particles``, shape (N, 19, 4)), see :mod:`l1t.datasets.adc`.
- ``auto``: by suffix (``.parquet``, ``.root``, ``.h5``/``.hdf5``) or magic bytes; a ROOT file is
  ``l1t`` when it has ``l1t_metadata``, else ``nanoaod``.

Every reader returns the schema layout of :mod:`l1t.datasets.schema`, validated; any problem with an
input file (missing, truncated, corrupt, wrong schema, NaN/inf) raises one
:class:`~l1t.core.errors.L1TInputError` naming the file.
"""
from __future__ import annotations

import datetime
import json
import os
import threading
import types
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import awkward as ak
import numpy as np

from . import hwunits
from l1t.core.errors import L1TInputError
from l1t.core.files import atomic_write
from .schema import (COLLECTIONS, EVENT_FIELDS, GEN_COLLECTIONS, MUON_FEATURES,
                     PHASE2_COLLECTIONS, validate)

PathLike = str | os.PathLike

FORMATS = ("auto", "l1t", "nanoaod", "adc-h5")
TREE = "Events"                     #: TTree of our ROOT files
ROOT_METADATA = "l1t_metadata"      #: TObjString with the JSON metadata in our ROOT files
METADATA_KEY = "l1t"                #: parquet key-value metadata key / h5 attribute
ROW_GROUP_SIZE = 10_000  #: rows per parquet row group / ROOT basket: reads of a step stay small
DEFAULT_MAPPING = Path(__file__).with_name("nanoaod_mapping.yaml")

_ALL_COLLECTIONS = {**COLLECTIONS, **PHASE2_COLLECTIONS, **GEN_COLLECTIONS}
#: Collections a file may lack (the collection is then left out).
_OPTIONAL = {*PHASE2_COLLECTIONS, *GEN_COLLECTIONS}
_EVENT_DEFAULTS = {"seed": -1, "weight": 1.0, "pu_source": -1}  # others 0; event = entry index
_MAGIC = {b"PAR1": "parquet", b"root": "root", b"\x89HDF\r\n\x1a\n": "adc-h5"}
_SUFFIX = {".parquet": "parquet", ".pq": "parquet", ".root": "root", ".h5": "adc-h5",
           ".hdf5": "adc-h5"}


# --------------------------------------------------------------------------- building arrays

def _charge_from_pdgid(pdgid: np.ndarray) -> np.ndarray:
    """Integer electric charge of common particles from the PDG id (0 for others and quarks)."""
    table = {11: -1, 13: -1, 15: -1, 24: 1, 37: 1, 211: 1, 321: 1, 411: 1, 431: 1, 521: 1,
             2212: 1, 3112: -1, 3222: 1, 3312: -1, 3334: -1}
    keys = np.array(sorted(table), np.int64)
    vals = np.array([table[k] for k in keys], np.int32)
    a = np.abs(pdgid.astype(np.int64))
    idx = np.clip(np.searchsorted(keys, a), 0, len(keys) - 1)
    return np.where(keys[idx] == a, vals[idx] * np.sign(pdgid).astype(np.int32), 0).astype(np.int32)


#: Phase-2 words and the value each is derived from (``datasets/hwunits.py``).
_P2_WORDS = {"hwPt": ("pt", hwunits.p2_hw_pt), "hwEta": ("eta", hwunits.p2_hw_angle),
             "hwPhi": ("phi", hwunits.p2_hw_angle), "hwZ0": ("z0", hwunits.p2_hw_z0),
             "hwSumPt": ("sumPt", hwunits.p2_hw_pt)}


def _derive(coll: str, name: str, flat: Mapping[str, np.ndarray], size: int) -> np.ndarray | None:
    """Value of a field a file lacks, from the fields it has (None: not derivable)."""
    mu = coll == "L1Mu"
    if coll in COLLECTIONS:
        if name == "hwPt":
            return hwunits.hw_pt(flat["pt"])
        if name == "hwEta":
            return (hwunits.hw_eta_mu if mu else hwunits.hw_eta_calo)(flat["eta"])
        if name == "hwPhi":
            return (hwunits.hw_phi_mu if mu else hwunits.hw_phi_calo)(flat["phi"])
        if name in ("iso", "isEle", "bx") or (mu and name in MUON_FEATURES):
            # track-finder features of files from elsewhere: 0, and tfMode 0 says "none"
            return np.zeros(size, COLLECTIONS[coll][name])
    if coll in PHASE2_COLLECTIONS:
        if name in _P2_WORDS:
            src, word = _P2_WORDS[name]
            return word(flat[src]) if src in flat else None
        if name in ("bx", "hwIso", "hwQual", "iso"):
            # isolation and quality of files from elsewhere: 0 (an iso leg does not fire)
            return np.zeros(size, PHASE2_COLLECTIONS[coll][name])
    if coll == "GenPart" and name == "charge" and "pdgId" in flat:
        return _charge_from_pdgid(flat["pdgId"])
    return None


def _cast(x, dtype: str, source: object, field: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise L1TInputError(source, f"expected numbers, found {x.dtype}", field)
    if x.dtype.kind == "f" and np.dtype(dtype).kind != "f" and not np.isfinite(x).all():
        raise L1TInputError(source, f"{int((~np.isfinite(x)).sum())} NaN/inf value(s)", field)
    return x.astype(dtype, copy=False)


def assemble(n: int, event_fields: Mapping[str, np.ndarray],
             collections: Mapping[str, tuple[np.ndarray, Mapping[str, np.ndarray]]],
             source: object, first_entry: int = 0) -> ak.Array:
    """Build a schema array from flat numpy columns; validate it.

    ``event_fields``: name → shape (n,); missing ones get defaults (``event`` = entry index
    counted from ``first_entry``, weight 1, seed -1, others 0). ``collections``: name →
    (counts shape (n,), field → flat values shape (sum(counts),)); derivable fields
    (hw words, iso, isEle, bx) may be missing. Collections not given are left out.
    """
    out: dict[str, object] = {}
    for name, dtype in EVENT_FIELDS.items():
        if name in event_fields:
            out[name] = _cast(event_fields[name], dtype, source, name)
        elif name == "event":
            out[name] = np.arange(first_entry, first_entry + n, dtype=dtype)
        else:
            out[name] = np.full(n, _EVENT_DEFAULTS.get(name, 0), dtype)
    for coll, spec in _ALL_COLLECTIONS.items():
        if coll not in collections:
            continue
        counts, flat = collections[coll]
        counts = np.asarray(counts, np.int64)
        size = int(counts.sum())
        cols = {}
        for name, dtype in spec.items():
            value = flat.get(name)
            if value is None:
                value = _derive(coll, name, flat, size)
                if value is None:
                    raise L1TInputError(source, "missing field", f"{coll}.{name}")
            cols[name] = _cast(value, dtype, source, f"{coll}.{name}")
            if len(cols[name]) != size:
                raise L1TInputError(source, "field length differs from its collection's counts",
                                    f"{coll}.{name}")
        out[coll] = ak.unflatten(ak.zip(cols), counts)
    return validate(ak.zip(out, depth_limit=1), source)


def _flat(x: ak.Array, source: object, field: str) -> np.ndarray:
    """Flat numpy values of a 1-d or jagged (n, var) awkward array; None values are an error."""
    if x.ndim == 2:
        x = ak.flatten(x, axis=1)
    if ak.any(ak.is_none(x, axis=0)):
        raise L1TInputError(source, "missing (null) values", field)
    return ak.to_numpy(ak.drop_none(x))


def _counts(x: ak.Array, source: object, field: str) -> np.ndarray:
    if x.ndim != 2:
        raise L1TInputError(source, f"expected one list per event, found type {x.type}", field)
    if ak.any(ak.is_none(x, axis=0)):
        raise L1TInputError(source, "missing (null) lists", field)
    return ak.to_numpy(ak.num(ak.drop_none(x, axis=0), axis=1))


def from_awkward(events: ak.Array, source: object, first_entry: int = 0) -> ak.Array:
    """Any awkward array with (at least) the schema fields → exact schema layout, validated.

    Fields and collections outside the schema are dropped; see :func:`assemble` for defaults.
    """
    validate(events, source)
    fields = set(ak.fields(events))
    ev = {name: _flat(events[name], source, name) for name in EVENT_FIELDS if name in fields}
    colls = {}
    for coll, spec in _ALL_COLLECTIONS.items():
        if coll in fields:
            x = events[coll]
            have = set(ak.fields(x))
            colls[coll] = (_counts(x, source, coll),
                           {f: _flat(x[f], source, f"{coll}.{f}") for f in spec if f in have})
    return assemble(len(events), ev, colls, source, first_entry)


# --------------------------------------------------------------------------- writing

_CLOCK_LOCK = threading.Lock()
ROOT_TIMESTAMP = datetime.datetime(2000, 1, 1)  #: creation time stamped into our ROOT files


@contextmanager
def _fixed_root_clock() -> Iterator[None]:
    """Pin the ``datetime.now()`` that uproot stamps into keys and directories.

    With it (and a fixed UUID), equal inputs give byte-identical ROOT files.
    """
    import uproot.writing._cascade as cascade
    import uproot.writing._cascadetree as cascadetree

    class _Fixed(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return ROOT_TIMESTAMP

    shim = types.SimpleNamespace(**{**vars(datetime), "datetime": _Fixed})
    modules = [m for m in (cascade, cascadetree) if hasattr(m, "datetime")]
    with _CLOCK_LOCK:
        saved = [m.datetime for m in modules]
        for m in modules:
            m.datetime = shim
        try:
            yield
        finally:
            for m, old in zip(modules, saved):
                m.datetime = old


def _write_parquet(chunks: Iterable[ak.Array], n: int, tmp: Path, meta: str) -> None:
    import pyarrow.parquet as pq

    writer = None
    try:
        for events in chunks:
            table = ak.to_arrow_table(events, extensionarray=False)
            table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                                   METADATA_KEY.encode(): meta.encode()})
            if writer is None:      # (one table written this way is pq.write_table's bytes)
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
    finally:
        if writer is not None:
            writer.close()


def _write_root(chunks: Iterable[ak.Array], n: int, tmp: Path, meta: str) -> None:
    import uproot

    file_uuid = uuid.uuid5(uuid.NAMESPACE_OID, f"l1t:{n}:{meta}")
    # A file object (not a path) so the name stored in the file does not depend on the tmp name.
    with _fixed_root_clock(), open(tmp, "w+b") as fh, \
            uproot.recreate(fh, uuid_function=lambda: file_uuid) as out:
        tree = None
        for events in chunks:
            names = list(ak.fields(events))
            data = {name: events[name] for name in names}
            if tree is None:
                types_ = {name: (np.dtype(EVENT_FIELDS[name]) if name in EVENT_FIELDS
                                 else data[name].type) for name in names}
                tree = out.mktree(TREE, types_, initial_basket_capacity=n // ROW_GROUP_SIZE + 2)
            for start in range(0, len(events), ROW_GROUP_SIZE):
                tree.extend({k: v[start:start + ROW_GROUP_SIZE] for k, v in data.items()})
        out[ROOT_METADATA] = meta


_WRITERS = {"parquet": "_write_parquet", "root": "_write_root"}   # looked up when called
_OUT_SUFFIX = {".parquet": "parquet", ".pq": "parquet", ".root": "root"}


def _out_format(path: Path, fmt: str | None) -> str:
    fmt = fmt or _OUT_SUFFIX.get(path.suffix.lower())
    if fmt not in _WRITERS:
        raise L1TInputError(path, f"cannot tell the output format (fmt={fmt!r}); "
                                  "use a .parquet or .root suffix or fmt='parquet'/'root'")
    return fmt


def write_events(events: ak.Array, path: PathLike, fmt: str | None = None,
                 metadata: dict | None = None) -> Path:
    """Write schema ``events`` (shape (N,)) to ``path`` as ``parquet`` or ``root``; return the path.

    ``fmt`` defaults to the suffix. ``metadata`` (JSON-serialisable) is stored with the events.
    The events are validated first; fields outside the schema are dropped. The write is atomic
    and deterministic: the same input gives the same bytes.
    """
    path = Path(path)
    fmt = _out_format(path, fmt)
    events = from_awkward(events, path)
    meta = json.dumps(metadata or {}, sort_keys=True)
    return atomic_write(path, lambda tmp: globals()[_WRITERS[fmt]]([events], len(events), tmp,
                                                                   meta))


def write_event_chunks(chunks: Iterable[ak.Array], n_events: int, path: PathLike,
                       fmt: str | None = None, metadata: dict | None = None) -> Path:
    """:func:`write_events` of the concatenation of ``chunks`` (``n_events`` in all), one chunk
    in memory at a time; the file holds exactly what :func:`write_events` of the concatenated
    events would (the same bytes for parquet, the same entries for ROOT). A count other than
    ``n_events`` is an error (nothing is written)."""
    path = Path(path)
    fmt = _out_format(path, fmt)
    meta = json.dumps(metadata or {}, sort_keys=True)
    seen = [0]

    def checked() -> Iterator[ak.Array]:
        for events in chunks:
            events = from_awkward(events, path, first_entry=seen[0])
            seen[0] += len(events)
            yield events

    def write(tmp: Path) -> None:
        globals()[_WRITERS[fmt]](checked(), n_events, tmp, meta)
        if seen[0] != n_events:
            raise L1TInputError(path, f"{seen[0]} events written, {n_events} announced",
                                "events")

    return atomic_write(path, write)


# --------------------------------------------------------------------------- reading helpers

@contextmanager
def _wrap(source: object, what: str) -> Iterator[None]:
    """Turn any library exception into an :class:`L1TInputError` naming ``source``."""
    try:
        yield
    except (L1TInputError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow/uproot/h5py raise many types
        msg = (str(exc).strip().splitlines() or [""])[0]
        msg = msg if len(msg) <= 200 else msg[:197] + "..."
        raise L1TInputError(source, f"cannot read {what}: {type(exc).__name__}: {msg}") from exc


def _listing(names: Iterable[str], limit: int = 30) -> str:
    names = sorted(names)
    more = f", ... (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _as_list(value, where: str, source: object) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not (isinstance(values, list) and values and all(isinstance(v, str) for v in values)):
        raise L1TInputError(source, f"expected a branch name or a list of names, got {value!r}",
                            where)
    return values


def load_mapping(mapping: PathLike | Mapping | None = None) -> dict:
    """The NanoAOD branch mapping: the shipped default updated with ``mapping`` (file or dict).

    Returns ``{"tree": str, "events": {field: [branch, ...]},
    "collections": {collection: {field: [branch, ...]}}}`` (candidates in order of preference).
    """
    from l1t.core.yamlio import load_yaml

    def load(src):
        data = load_yaml(src, "mapping")
        if not isinstance(data, Mapping):
            raise L1TInputError(src, "a mapping file must hold a YAML mapping")
        return data

    base = load(DEFAULT_MAPPING)
    source: object = "mapping"
    user: Mapping = {}
    if isinstance(mapping, (str, os.PathLike)):
        source, user = mapping, load(mapping)
    elif mapping is not None:
        user = mapping
    unknown = set(user) - {"tree", "events", "collections"}
    if unknown:
        raise L1TInputError(source, f"unknown keys {sorted(map(str, unknown))}; expected tree, "
                            "events, collections")
    for key in ("events", "collections"):
        if not isinstance(user.get(key) or {}, Mapping):
            raise L1TInputError(source, f"{key} must be a mapping of field names to branches",
                                key)
    tree = user.get("tree", base["tree"])
    if not isinstance(tree, str):
        raise L1TInputError(source, f"tree must be a name, got {tree!r}", "tree")
    events = {**base["events"], **(user.get("events") or {})}
    for name in events:
        if not isinstance(name, str) or name not in EVENT_FIELDS:
            raise L1TInputError(source, f"unknown event field; known: {list(EVENT_FIELDS)}",
                                f"events.{name}")
    colls = {c: dict(f) for c, f in base["collections"].items()}
    for coll, fields in (user.get("collections") or {}).items():
        if not isinstance(coll, str) or coll not in _ALL_COLLECTIONS \
                or not isinstance(fields, Mapping):
            raise L1TInputError(source, f"unknown collection; known: {list(_ALL_COLLECTIONS)}",
                                f"collections.{coll}")
        for name in fields:
            if not isinstance(name, str) or name not in _ALL_COLLECTIONS[coll]:
                raise L1TInputError(source, f"unknown field; {coll} has "
                                            f"{list(_ALL_COLLECTIONS[coll])}", f"{coll}.{name}")
        colls[coll].update(fields)
    return {"tree": tree,
            "events": {k: _as_list(v, f"events.{k}", source) for k, v in events.items()},
            "collections": {c: {k: _as_list(v, f"{c}.{k}", source) for k, v in f.items()}
                            for c, f in colls.items()}}


# --------------------------------------------------------------------------- readers

class _Reader:
    """An open input file: ``num_entries`` and ``read(start, stop)`` → schema array."""

    num_entries: int
    _file = None

    def __init__(self, path: Path, *args):
        self.path = path
        try:
            self._setup(*args)
        except BaseException:
            self.close()
            raise

    def _setup(self, *args) -> None:
        raise NotImplementedError

    def read(self, start: int, stop: int) -> ak.Array:
        raise NotImplementedError

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def metadata(self) -> dict:
        return {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _parse_metadata(raw, path: Path) -> dict:
    if raw is None:
        return {}
    try:
        meta = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise L1TInputError(path, f"metadata is not valid JSON: {exc}", METADATA_KEY) from exc
    if not isinstance(meta, dict):
        raise L1TInputError(path, "metadata is not a JSON object", METADATA_KEY)
    return meta


class _ParquetReader(_Reader):
    def _setup(self) -> None:
        import pyarrow.parquet as pq

        path = self.path
        with _wrap(path, "parquet file"):
            self._file = pq.ParquetFile(path)
            md = self._file.metadata
            sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
            self._offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
            self.num_entries = int(md.num_rows)
            names = set(self._file.schema_arrow.names)
            self._columns = [c for c in [*EVENT_FIELDS, *_ALL_COLLECTIONS] if c in names]
            self._raw_meta = (self._file.schema_arrow.metadata or {}).get(METADATA_KEY.encode())

    def metadata(self) -> dict:
        return _parse_metadata(self._raw_meta, self.path)

    def read(self, start: int, stop: int) -> ak.Array:
        off = self._offsets
        groups = [i for i in range(len(off) - 1) if off[i] < stop and off[i + 1] > start]
        with _wrap(self.path, "parquet file"):
            if groups:
                table = self._file.read_row_groups(groups, columns=self._columns)
                table = table.slice(start - int(off[groups[0]]), stop - start)
            else:
                table = self._file.schema_arrow.empty_table().select(self._columns)
            raw = ak.from_arrow(table)
        return from_awkward(raw, self.path, first_entry=start)


class _RootReader(_Reader):
    """A TTree in NanoAOD style; ``own`` (our files): no bx selection, the default names."""

    def _setup(self, own: bool | None, mapping) -> None:
        import uproot

        path = self.path
        with _wrap(path, "ROOT file"):
            self._file = uproot.open(path)
            end, size = int(self._file.file.fEND), path.stat().st_size
            if size < end:
                raise L1TInputError(path, f"truncated ROOT file: {size} bytes, header says {end}")
            keys = set(self._file.keys(cycle=False))
            self.own = (ROOT_METADATA in keys) if own is None else own
            self._map = load_mapping(None if self.own else mapping)
            tree = self._map["tree"]
            if tree not in keys:
                raise L1TInputError(path, f"no TTree {tree!r}; the file has {_listing(keys)}",
                                    tree)
            kind = self._file.classname_of(tree)
            if kind != "TTree":
                raise L1TInputError(path, f"{tree!r} is a {kind}, not a TTree", tree)
            self._raw_meta = str(self._file[ROOT_METADATA]) if ROOT_METADATA in keys else None
            self._tree = self._file[tree]
            self.num_entries = int(self._tree.num_entries)

    @cached_property
    def _plan(self) -> dict:
        """Which branch each field is read from (None: derived or default)."""
        with _wrap(self.path, "ROOT file"):
            branches = set(self._tree.keys(recursive=True))

        def pick(cands):
            return next((b for b in cands if b in branches), None)

        tree = self._map["tree"]
        plan = {"events": {k: pick(v) for k, v in self._map["events"].items()}, "collections": {}}
        for coll, fields in self._map["collections"].items():
            chosen = {f: pick(fields.get(f, [])) for f in _ALL_COLLECTIONS[coll]}
            dummy = dict.fromkeys(chosen, np.zeros(0))
            missing = [f for f, b in chosen.items()
                       if b is None and _derive(coll, f, dummy, 0) is None]
            if missing and coll in _OPTIONAL:
                continue  # generator and Phase-2 collections are optional
            if missing:
                f = missing[0]
                raise L1TInputError(
                    self.path, f"missing branch {fields.get(f, ['?'])[0]!r}; TTree {tree!r} has "
                               f"{len(branches)} branches: {_listing(branches)}", f"{coll}.{f}")
            plan["collections"][coll] = {f: b for f, b in chosen.items() if b is not None}
        return plan

    def metadata(self) -> dict:
        return _parse_metadata(self._raw_meta, self.path)

    def read(self, start: int, stop: int) -> ak.Array:
        plan = self._plan
        wanted = sorted({b for b in plan["events"].values() if b}
                        | {b for f in plan["collections"].values() for b in f.values()})
        with _wrap(self.path, "ROOT file"):
            arrays = self._tree.arrays(wanted, entry_start=start, entry_stop=stop,
                                       library="ak", how=dict)
        n = stop - start
        ev = {}
        for name, branch in plan["events"].items():
            if branch:
                if arrays[branch].ndim != 1:
                    raise L1TInputError(self.path, "expected one value per event", branch)
                ev[name] = _flat(arrays[branch], self.path, branch)
        colls = {}
        for coll, fields in plan["collections"].items():
            jag = {f: arrays[b] for f, b in fields.items()}
            first = next(iter(fields.values()))
            counts = _counts(arrays[first], self.path, first)
            for f, b in fields.items():
                if not np.array_equal(_counts(jag[f], self.path, b), counts):
                    raise L1TInputError(self.path, f"branches {first!r} and {b!r} differ in "
                                                   "length per event", f"{coll}.{f}")
            if "bx" in jag and not self.own:
                keep = jag["bx"] == 0
                jag = {f: x[keep] for f, x in jag.items()}
                counts = ak.to_numpy(ak.sum(keep, axis=1))
            colls[coll] = (counts, {f: _flat(x, self.path, fields[f]) for f, x in jag.items()})
        return assemble(n, ev, colls, self.path, first_entry=start)


class _AdcReader(_Reader):
    def _setup(self) -> None:
        import h5py

        path = self.path
        with _wrap(path, "h5 file"):
            self._file = h5py.File(path, "r")
            if "Particles" not in self._file:
                raise L1TInputError(path, f"no dataset 'Particles'; the file has "
                                          f"{_listing(self._file.keys())}", "Particles")
            self._data = self._file["Particles"]
            shape = self._data.shape
            if len(shape) != 3 or shape[1:] != (19, 4):
                raise L1TInputError(path, f"expected shape (N, 19, 4), got {shape}", "Particles")
            self.num_entries = int(shape[0])
            self._raw_meta = self._file.attrs.get(METADATA_KEY)

    def metadata(self) -> dict:
        raw = self._raw_meta
        return _parse_metadata(raw.decode() if isinstance(raw, bytes) else raw, self.path)

    def read(self, start: int, stop: int) -> ak.Array:
        from .adc import from_adc_particles

        with _wrap(self.path, "h5 file"):
            particles = self._data[start:stop]
        return from_adc_particles(particles, self.path, first_entry=start)


def _open(path: PathLike, fmt: str = "auto", mapping=None) -> _Reader:
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    path = Path(path)
    if not path.is_file():
        raise L1TInputError(path, "no such file")
    kind = _SUFFIX.get(path.suffix.lower())
    if kind is None:
        with _wrap(path, "file"), open(path, "rb") as fh:
            head = fh.read(8)
        kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if fmt == "nanoaod":
        return _RootReader(path, False, mapping)
    if fmt == "adc-h5":
        return _AdcReader(path)
    if fmt == "l1t":
        return _RootReader(path, True, None) if kind == "root" else \
            _ParquetReader(path)
    if kind is None:
        raise L1TInputError(path, "unknown file format; use .parquet, .root, .h5 or give fmt")
    if kind == "root":
        return _RootReader(path, None, mapping)
    return _ParquetReader(path) if kind == "parquet" else _AdcReader(path)


# --------------------------------------------------------------------------- public readers

def read_events(path: PathLike, fmt: str = "auto", mapping: PathLike | Mapping | None = None,
                entry_start: int | None = None, entry_stop: int | None = None) -> ak.Array:
    """Read events ``[entry_start, entry_stop)`` of one file as a validated schema array.

    ``fmt``: ``auto``, ``l1t``, ``nanoaod`` or ``adc-h5`` (see module doc); ``mapping``: NanoAOD
    branch names (YAML file or dict, merged over ``nanoaod_mapping.yaml``).
    """
    with _open(path, fmt, mapping) as reader:
        start, stop, _ = slice(entry_start, entry_stop).indices(reader.num_entries)
        return reader.read(start, max(start, stop))


def iter_events(paths: PathLike | Iterable[PathLike], step_size: int = 100_000,
                fmt: str = "auto", mapping: PathLike | Mapping | None = None
                ) -> Iterator[ak.Array]:
    """Yield schema arrays of at most ``step_size`` events, file after file.

    Only one chunk is in memory at a time; ``event`` defaults count entries within each file.
    """
    if step_size < 1:
        raise ValueError(f"step_size must be positive, not {step_size}")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in paths:
        with _open(path, fmt, mapping) as reader:
            for start in range(0, reader.num_entries, step_size):
                yield reader.read(start, min(start + step_size, reader.num_entries))


def read_metadata(path: PathLike) -> dict:
    """The metadata dict stored by :func:`write_events` (``{}`` for files without one)."""
    with _open(path) as reader:
        return reader.metadata()


def count_events(path: PathLike) -> int:
    """The number of events in a file, from its footer (no event is read)."""
    with _open(path) as reader:
        return reader.num_entries
