"""What the global trigger sees: per collection the objects of each crossing, pT-descending, as
flat numpy arrays with offsets (only the first ``GT_INPUTS`` of a crossing are used: the links from
the calorimeter and muon layers), and the energy sums by type (``menu.SUMS``). The Phase-2
collections are there when the input files have them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import awkward as ak
import numpy as np

from .kernels import first_of_type, is_descending
from .menu import SUMS

#: Objects per crossing sent to the global trigger (CMS Phase-1: 8 muons, 12 e/γ, τ and jets;
#: the Phase-2 objects 12 each, an estimate following the Phase-1 links).
GT_INPUTS = {"L1Mu": 8, "L1EG": 12, "L1Tau": 12, "L1Jet": 12,
             "L1TkMu": 12, "L1TkEle": 12, "L1TkEm": 12, "L1PuppiJet": 12}
_FIELDS = {"pt": ("pt", np.float32), "eta": ("eta", np.float32), "phi": ("phi", np.float32),
           "quality": ("hwQual", np.int32), "iso": ("hwIso", np.int32),
           "charge": ("charge", np.int32), "is_ele": ("isEle", np.bool_),
           "z0": ("z0", np.float32)}


@dataclass
class Objects:
    """One collection, flat and pT-descending within each crossing; ``offsets`` is (N + 1)."""

    offsets: np.ndarray
    pt: np.ndarray         # GeV
    eta: np.ndarray
    phi: np.ndarray        # rad
    quality: np.ndarray    # hwQual (muons), 0 otherwise
    iso: np.ndarray        # hwIso (e/γ, τ), 0 otherwise
    charge: np.ndarray     # muons, 0 otherwise
    is_ele: np.ndarray     # e/γ with a matched track
    z0: np.ndarray         # cm: objects with a track, 0 otherwise

    @cached_property
    def event(self) -> np.ndarray:
        """Crossing index of each object."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))

    @cached_property
    def rank(self) -> np.ndarray:
        """Position of each object in its crossing (0 = highest pT)."""
        return np.arange(len(self.pt)) - self.offsets[:-1][self.event]


@dataclass
class TriggerInputs:
    """Trigger inputs of N crossings."""

    n: int
    objects: dict[str, Objects]
    sums: dict[str, np.ndarray]            # sum type (menu.SUMS) → (N,) GeV
    electron_id: bool = True               # False: electron legs use every L1EG object
    scores: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # model scores (N,)


def from_events(events: ak.Array, electron_id: bool = True) -> TriggerInputs:
    """Build trigger inputs from schema events (``l1t.datasets.schema``); no copy where the layout
    allows it."""
    n = len(events)
    have = set(ak.fields(events))
    objects = {name: objects_of(events[name]) for name in GT_INPUTS if name in have}
    out = {}
    for coll in sorted({c for c, _ in SUMS.values()} & have):
        sums = events[coll]
        offsets = _offsets(sums)
        flat = ak.flatten(sums)
        types = ak.to_numpy(flat.etSumType).astype(np.int32, copy=False)
        values = ak.to_numpy(flat.pt).astype(np.float32, copy=False)
        for name, (c, code) in SUMS.items():
            if c == coll:
                out[name] = first_of_type(offsets, types, values, code)
    return TriggerInputs(n, objects, out, electron_id)


def _offsets(coll: ak.Array) -> np.ndarray:
    counts = ak.to_numpy(ak.num(coll)).astype(np.int64)
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def objects_of(coll: ak.Array) -> Objects:
    """One collection's :class:`Objects`, pT-descending, from its awkward array."""
    offsets = _offsets(coll)
    flat = ak.flatten(coll)
    have = set(ak.fields(flat))
    cols = {}
    for name, (src, dtype) in _FIELDS.items():
        # A field the collection lacks reads as zeros.
        cols[name] = (ak.to_numpy(flat[src]).astype(dtype, copy=False) if src in have
                      else np.zeros(len(flat), dtype))
    obj = Objects(offsets, **cols)
    if not is_descending(offsets, obj.pt):  # not pT-ordered (e.g. a foreign file): sort
        order = np.lexsort((-obj.pt, obj.event))
        obj = Objects(offsets, **{k: v[order] for k, v in cols.items()})
    return obj
