"""The ADC2021 view of L1 events (Anomaly Detection Challenge, arXiv:2108.03986).

One event = 19 objects × (pT [GeV], η, φ [rad], type): slot 0 MET (η = 0), slots 1–4 electrons,
5–8 muons, 9–18 jets, each group pT-ordered (descending) and zero-padded. Type codes: 0 empty,
1 MET, 2 electron, 3 muon, 4 jet. The h5 files hold this as dataset ``Particles`` (N, 19, 4).
"""
from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np

from l1t.core.errors import L1TInputError
from .formats import METADATA_KEY, PathLike, assemble
from l1t.core.files import atomic_write
from .schema import MET

N_OBJECTS = 19
EMPTY, TYPE_MET, TYPE_ELECTRON, TYPE_MUON, TYPE_JET = 0, 1, 2, 3, 4
#: (first slot, number of slots, type code) of each object group.
SLOTS = {"met": (0, 1, TYPE_MET), "electron": (1, 4, TYPE_ELECTRON),
         "muon": (5, 4, TYPE_MUON), "jet": (9, 10, TYPE_JET)}
#: hwQual given to muons read from ADC2021 files (which have no quality): passes single-mu seeds.
ADC_MUON_QUAL = 12


def _bx0(coll: ak.Array) -> ak.Array:
    return coll[coll.bx == 0] if "bx" in ak.fields(coll) else coll


def _block(coll: ak.Array, n_slots: int, code: int, min_pt: float, max_eta: float) -> np.ndarray:
    """pT-ordered, cut, padded (N, n_slots, 4) block of one collection."""
    coll = coll[(coll.pt > min_pt) & (abs(coll.eta) < max_eta)]
    coll = coll[ak.argsort(coll.pt, axis=1, ascending=False, stable=True)]
    padded = ak.pad_none(coll, n_slots, axis=1, clip=True)
    present = ~ak.to_numpy(ak.is_none(padded, axis=1))

    def col(x):
        return ak.to_numpy(ak.fill_none(x, 0.0)).astype(np.float32)

    typ = np.where(present, code, EMPTY).astype(np.float32)
    return np.stack([col(padded.pt), col(padded.eta), col(padded.phi), typ], axis=-1)


#: Where the 57 inputs come from: the calorimeter and standalone-muon objects, or the Phase-2
#: objects (PUPPI MET, TkElectron, TkMuon, PUPPI jets): (MET collection, electrons, muons, jets).
OBJECT_SOURCES = {"calo": ("L1EtSum", "L1EG", "L1Mu", "L1Jet"),
                  "phase2": ("L1PuppiSum", "L1TkEle", "L1TkMu", "L1PuppiJet")}


def to_adc_particles(events: ak.Array, e_min_pt: float = 3.0, e_max_eta: float = 3.0,
                     mu_min_pt: float = 3.0, mu_max_eta: float = 2.1,
                     jet_min_pt: float = 15.0, jet_max_eta: float = 4.0,
                     objects: str = "calo") -> np.ndarray:
    """Schema events → ADC2021 ``Particles`` array, shape (N, 19, 4), float32.

    ``objects`` (:data:`OBJECT_SOURCES`): ``calo`` — MET the first ``L1EtSum`` with
    ``etSumType == 2``, electrons ``L1EG`` with ``isEle`` (if no object in ``events`` has
    ``isEle``, NanoAOD input: all ``L1EG``), muons ``L1Mu``, jets ``L1Jet``; ``phase2`` — the PUPPI
    MET, ``L1TkEle``, ``L1TkMu``, ``L1PuppiJet``. Objects pass ``pt > min_pt`` (GeV) and
    ``|eta| < max_eta``; only bx == 0 objects are used.
    """
    if objects not in OBJECT_SOURCES:
        raise L1TInputError("inputs", f"unknown object source {objects!r}; known: "
                            f"{', '.join(OBJECT_SOURCES)}", "objects")
    met_coll, ele_coll, mu_coll, jet_coll = OBJECT_SOURCES[objects]
    missing = [c for c in OBJECT_SOURCES[objects] if c not in ak.fields(events)]
    if missing:
        raise L1TInputError("events", f"the {objects} inputs need {', '.join(missing)}, which "
                            "the events lack", missing[0])
    n = len(events)
    met = _bx0(events[met_coll])
    met = ak.firsts(met[met.etSumType == MET], axis=1)
    has_met = ~ak.to_numpy(ak.is_none(met))
    met_block = np.zeros((n, 1, 4), np.float32)
    met_block[:, 0, 0] = ak.to_numpy(ak.fill_none(met.pt, 0.0))
    met_block[:, 0, 2] = ak.to_numpy(ak.fill_none(met.phi, 0.0))
    met_block[:, 0, 3] = np.where(has_met, TYPE_MET, EMPTY)

    eg = _bx0(events[ele_coll])
    if "isEle" in ak.fields(eg) and ak.any(eg.isEle):
        eg = eg[eg.isEle]
    return np.concatenate([
        met_block,
        _block(eg, 4, TYPE_ELECTRON, e_min_pt, e_max_eta),
        _block(_bx0(events[mu_coll]), 4, TYPE_MUON, mu_min_pt, mu_max_eta),
        _block(_bx0(events[jet_coll]), 10, TYPE_JET, jet_min_pt, jet_max_eta),
    ], axis=1)


def to_adc_features(events: ak.Array, objects: str = "calo", **cuts: float) -> np.ndarray:
    """The 57 ADC2021 inputs, shape (N, 57) float32: (pT, η, φ) of the 19 objects in slot order,
    from the ``objects`` of :data:`OBJECT_SOURCES`."""
    particles = to_adc_particles(events, objects=objects, **cuts)
    return particles[:, :, :3].reshape(len(particles), 3 * N_OBJECTS)


def from_adc_particles(particles: np.ndarray, source: object, first_entry: int = 0) -> ak.Array:
    """ADC2021 ``Particles`` (N, 19, 4) → schema events (validated).

    MET → ``L1EtSum`` (etSumType 2), electrons → ``L1EG`` (isEle True, iso 0), muons → ``L1Mu``
    (charge 0 and hwQual 12: the format has neither), jets → ``L1Jet``; empty (type 0) slots are
    dropped; hardware words from :mod:`l1t.datasets.hwunits`; event fields get defaults.
    """
    p = np.asarray(particles)
    if p.ndim != 3 or p.shape[1:] != (N_OBJECTS, 4):
        raise L1TInputError(source, f"expected shape (N, 19, 4), got {p.shape}", "Particles")
    if p.dtype.kind not in "biuf":
        raise L1TInputError(source, f"expected numbers, found {p.dtype}", "Particles")
    if not np.isfinite(p).all():
        raise L1TInputError(source, f"{int((~np.isfinite(p)).sum())} NaN/inf value(s)",
                            "Particles")
    p = p.astype(np.float32)
    groups = {}
    for name, (first, size, code) in SLOTS.items():
        block = p[:, first:first + size]
        typ = block[..., 3]
        if not np.isin(typ, (EMPTY, code)).all():
            raise L1TInputError(source, f"{name} slots {first}..{first + size - 1} hold type "
                                        f"codes {sorted(set(np.unique(typ)) - {EMPTY, code})}, "
                                        f"expected {code} or 0", "Particles")
        keep = typ == code
        pt, eta, phi = (block[..., i][keep] for i in range(3))
        groups[name] = (keep.sum(axis=1), pt, eta, phi)

    def calo(name, **extra):
        counts, pt, eta, phi = groups[name]
        return counts, {"pt": pt, "eta": eta, "phi": phi, **extra}

    zeros = {name: np.zeros(len(groups[name][1]), np.int32) for name in groups}
    counts, pt, _, phi = groups["met"]
    collections = {
        "L1EtSum": (counts, {"pt": pt, "phi": phi, "etSumType": zeros["met"] + MET}),
        "L1EG": calo("electron", hwIso=zeros["electron"],
                     isEle=np.ones(len(groups["electron"][1]), bool)),
        "L1Mu": calo("muon", charge=zeros["muon"], hwQual=zeros["muon"] + ADC_MUON_QUAL),
        "L1Tau": (np.zeros(len(p), np.int64), {k: np.zeros(0, np.float32)
                                               for k in ("pt", "eta", "phi")}
                  | {"hwIso": np.zeros(0, np.int32)}),
        "L1Jet": calo("jet"),
    }
    return assemble(len(p), {}, collections, source, first_entry)


def write_adc_h5(events: ak.Array, path: PathLike, metadata: dict | None = None,
                 **cuts: float) -> Path:
    """Write :func:`to_adc_particles` of ``events`` as h5 dataset ``Particles`` (atomic).

    ``metadata`` (JSON-serialisable) goes to the file attribute ``l1t``. Equal inputs give
    equal bytes (no time stamps).
    """
    import json

    import h5py

    particles = to_adc_particles(events, **cuts)
    meta = json.dumps(metadata or {}, sort_keys=True)

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w", track_order=False) as out:
            opts = {"compression": "gzip", "shuffle": True} if len(particles) else {}
            out.create_dataset("Particles", data=particles, track_times=False, **opts)
            out.attrs[METADATA_KEY] = meta

    return atomic_write(path, write)
