"""The L1 event schema: one awkward record per bunch crossing.

The same layout is used in memory, in our parquet files and (flattened NanoAOD-style,
``L1Mu_pt`` with counter ``nL1Mu``) in ROOT TTrees, so a reader of CMS L1 ntuples and a
reader of our own files give identical arrays.

Units: pT and energies in GeV, angles in radians, cross sections in mb.
Hardware words are integers: pT in 0.5 GeV steps (``hwPt``), calorimeter η/φ in tower units,
muon η in 0.010875 and φ in 2π/576 units (CMS uGMT convention).
"""
from __future__ import annotations

import awkward as ak
import numpy as np

from l1t.core.errors import L1TInputError
from .muon.trackfinder import FEATURES as MUON_FEATURES

#: Event-level fields and their dtypes.
EVENT_FIELDS: dict[str, str] = {
    "event": "int64",        # index of the event in its sample
    "seed": "int64",         # Pythia seed of the chunk the event came from
    "process": "int32",      # Pythia process code of the hard interaction
    "sigma_mb": "float64",   # generated cross section of the sample, mb
    "weight": "float64",     # generator event weight (1 for unweighted samples)
    "pthat": "float64",      # pT-hat of the hard interaction, GeV
    "pthat_max": "float64",  # largest pT-hat of all interactions in the crossing, GeV
    "pu_pthat_max": "float64",  # largest pT-hat of the crossing's other (pileup) interactions
    # the pool event of that interaction: the pool's id << 32 | its index in the pool (-1: none
    # or unknown); crossings sharing it share a recurring pileup event (datasets/pileup.py)
    "pu_source": "int64",
    "mu": "float32",         # mean pileup of the crossing
    "n_interactions": "int32",  # inelastic pp interactions in the crossing
    "gen_vz": "float32",     # z of the crossing's first (hard) interaction, cm (0: none)
}

#: L1 object collections, their fields and dtypes (NanoAOD names where NanoAOD has them).
COLLECTIONS: dict[str, dict[str, str]] = {
    "L1Mu": {"pt": "float32", "eta": "float32", "phi": "float32", "charge": "int32",
             "hwQual": "int32", "hwPt": "int32", "hwEta": "int32", "hwPhi": "int32", "bx": "int32",
             # the track finder's integer features (datasets/muon/trackfinder.py: FEATURES)
             **dict.fromkeys(MUON_FEATURES, "int32")},
    "L1EG": {"pt": "float32", "eta": "float32", "phi": "float32", "hwIso": "int32",
             "iso": "float32", "isEle": "bool", "hwPt": "int32", "hwEta": "int32",
             "hwPhi": "int32", "bx": "int32"},
    "L1Tau": {"pt": "float32", "eta": "float32", "phi": "float32", "hwIso": "int32",
              "iso": "float32", "hwPt": "int32", "hwEta": "int32", "hwPhi": "int32", "bx": "int32"},
    "L1Jet": {"pt": "float32", "eta": "float32", "phi": "float32", "hwPt": "int32",
              "hwEta": "int32", "hwPhi": "int32", "bx": "int32"},
    "L1EtSum": {"pt": "float32", "phi": "float32", "etSumType": "int32", "hwPt": "int32",
                "hwPhi": "int32", "bx": "int32"},
}

#: Phase-2 objects of the correlator and the track trigger (optional: files without them, e.g.
#: CMS Phase-1 ntuples, still read). Units GeV, rad, cm; words on the Phase-2 global-trigger
#: scales (``datasets/hwunits.py``: pT 1/32 GeV, η and φ π/4096, z0 0.05 cm), so that
#: ``pt == hwPt / 32`` exactly. ``iso`` is the relative track isolation, ``hwIso`` 1 when it
#: passes the TkIsoElectron / TkIsoPhoton cut. ``L1PuppiSum`` holds etSumType 0 (Σ pT of the PUPPI
#: candidates), 1 HT and 3 MHT (PUPPI jets above 30 GeV, |η| < 2.4) and 2 MET; ``L1PV`` one
#: primary vertex per crossing.
PHASE2_COLLECTIONS: dict[str, dict[str, str]] = {
    "L1TkMu": {"pt": "float32", "eta": "float32", "phi": "float32", "charge": "int32",
               "z0": "float32", "hwQual": "int32", "hwPt": "int32", "hwEta": "int32",
               "hwPhi": "int32", "hwZ0": "int32", "bx": "int32"},
    "L1TkEle": {"pt": "float32", "eta": "float32", "phi": "float32", "charge": "int32",
                "z0": "float32", "iso": "float32", "hwIso": "int32", "hwPt": "int32",
                "hwEta": "int32", "hwPhi": "int32", "hwZ0": "int32", "bx": "int32"},
    "L1TkEm": {"pt": "float32", "eta": "float32", "phi": "float32", "iso": "float32",
               "hwIso": "int32", "hwPt": "int32", "hwEta": "int32", "hwPhi": "int32",
               "bx": "int32"},
    "L1PuppiJet": {"pt": "float32", "eta": "float32", "phi": "float32", "hwPt": "int32",
                   "hwEta": "int32", "hwPhi": "int32", "bx": "int32"},
    "L1PuppiSum": {"pt": "float32", "phi": "float32", "etSumType": "int32", "hwPt": "int32",
                   "hwPhi": "int32", "bx": "int32"},
    "L1PV": {"z0": "float32", "sumPt": "float32", "hwZ0": "int32", "hwSumPt": "int32",
             "bx": "int32"},
}

#: Generator-level collections kept for efficiencies and responses (hard interaction only).
GEN_COLLECTIONS: dict[str, dict[str, str]] = {
    "GenPart": {"pt": "float32", "eta": "float32", "phi": "float32", "mass": "float32",
                "pdgId": "int32", "charge": "int32"},
    "GenJet": {"pt": "float32", "eta": "float32", "phi": "float32", "mass": "float32"},
}

#: ``etSumType`` codes (CMS NanoAOD convention).
ET_TOTAL, HT, MET, MHT, MET_HF = 0, 1, 2, 3, 8

#: Physical ranges checked on reading (a value outside is refused, naming the field): pT, masses,
#: hardware pT, cross sections, pileup and weights are >= 0 (l1t counts crossings with weights
#: >= 0; negative generator weights are refused); |φ| <= π; the L1 objects' |η| <= 5.5 (our
#: calorimeter ends at |η| = 5.0, ``detector/geometry.py``; the margin, an estimate, admits
#: other detectors' files, e.g. CMS's forward calorimeter to |η| = 5.191).
MAX_ABS_ETA = 5.5
_NON_NEGATIVE = {"pt", "mass", "hwPt", "sumPt", "hwSumPt", "sigma_mb", "weight", "pthat",
                 "pthat_max", "pu_pthat_max", "mu",
                 "n_interactions"}
_PHI_TOLERANCE = 1e-5   # float32 rounding of ±π

#: Collections a file must have to be used as L1 trigger input.
REQUIRED = ("L1Mu", "L1EG", "L1Tau", "L1Jet", "L1EtSum")


def validate(events: ak.Array, source: object, require_gen: bool = False) -> ak.Array:
    """Check that ``events`` follows the schema; raise :class:`L1TInputError` otherwise.

    Checks presence of collections and fields, numeric types, and that no float field holds
    NaN or ±inf. Returns ``events`` unchanged so it can be used inline.
    """
    fields = set(ak.fields(events))
    wanted = list(REQUIRED) + (list(GEN_COLLECTIONS) if require_gen else [])
    for coll in wanted:
        if coll not in fields:
            raise L1TInputError(source, f"missing collection; the file has {sorted(fields)}", coll)
        spec = COLLECTIONS.get(coll) or GEN_COLLECTIONS[coll]
        have = set(ak.fields(events[coll]))
        for name, dtype in spec.items():
            if (name == "bx" or name in MUON_FEATURES) and name not in have:
                continue
            if name not in have:
                raise L1TInputError(source, f"missing field; {coll} has {sorted(have)}",
                                    f"{coll}.{name}")
            _check_values(ak.flatten(events[coll][name], axis=None), source, f"{coll}.{name}",
                          l1=coll in COLLECTIONS)
    for coll in PHASE2_COLLECTIONS:
        if coll in fields:
            have = set(ak.fields(events[coll]))
            for name in PHASE2_COLLECTIONS[coll]:
                if name == "bx" and name not in have:
                    continue
                if name not in have:
                    raise L1TInputError(source, f"missing field; {coll} has {sorted(have)}",
                                        f"{coll}.{name}")
                _check_values(ak.flatten(events[coll][name], axis=None), source,
                              f"{coll}.{name}", l1=True)
    for name in EVENT_FIELDS:
        if name in fields:
            _check_values(events[name], source, name)
    return events


def _check_values(values: ak.Array, source: object, field: str, l1: bool = False) -> None:
    arr = np.asarray(ak.to_numpy(ak.flatten(values, axis=None)))
    if arr.dtype.kind not in "biuf":
        raise L1TInputError(source, f"expected numbers, found {arr.dtype}", field)
    if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise L1TInputError(source, f"{bad} NaN/inf value(s)", field)
    if not arr.size or arr.dtype.kind == "b":
        return
    name = field.rpartition(".")[2]
    low, high = arr.min(), arr.max()
    if name in _NON_NEGATIVE and low < 0:
        raise L1TInputError(source, f"{int((arr < 0).sum())} negative value(s) (lowest "
                            f"{low:g}); must be >= 0", field)
    if name == "phi" and max(-low, high) > np.pi + _PHI_TOLERANCE:
        raise L1TInputError(source, f"phi {max(-low, high):g} outside [-pi, pi]", field)
    if name == "eta" and l1 and max(-low, high) > MAX_ABS_ETA:
        raise L1TInputError(source, f"|eta| {max(-low, high):g} beyond the detector "
                            f"(|eta| <= {MAX_ABS_ETA:g})", field)


def empty_events() -> ak.Array:
    """A zero-length event array with the full schema (for empty chunks and tests)."""
    out = {name: np.zeros(0, dtype) for name, dtype in EVENT_FIELDS.items()}
    for coll, spec in {**COLLECTIONS, **PHASE2_COLLECTIONS, **GEN_COLLECTIONS}.items():
        out[coll] = ak.unflatten(
            ak.zip({n: np.zeros(0, d) for n, d in spec.items()}), np.zeros(0, np.int64))
    return ak.zip(out, depth_limit=1)
