"""Particle guns: events of one generated particle each, for training and calibrating the muon
pT assignment where physics samples have too few high-pT muons.

The muon gun: one muon per event, flat in q/pT between −1/2 and +1/2 GeV⁻¹ with |q/pT| ≥ 1/1000
(2 GeV to 1 TeV, both charges; flat in q/pT as the bend is), flat in η within the muon system's
acceptance |η| < 2.4 and in φ. The event fields follow :func:`l1t.datasets.pythia.generate`:
``process`` 0, ``sigma_mb`` 0 (a gun has no cross section), ``weight`` 1, ``pthat`` the muon's
pT.
"""
from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np

from .muon.geometry import ETA_MAX
from .muon.material import MUON_MASS_GEV
from .samples import Sample

INV_PT_MIN, INV_PT_MAX = 1.0 / 1000.0, 1.0 / 2.0


def muon_gun(sample: Sample, n_events: int, seed: int, mpi_init: Path | None = None,
             first_event: int = 0) -> ak.Array:
    """``n_events`` single muons from a generator seeded with ``seed`` (``mpi_init`` and
    ``first_event`` unused: the signature of :func:`l1t.datasets.pythia.generate`)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 13]))
    inv = rng.uniform(INV_PT_MIN, INV_PT_MAX, n_events)
    charge = np.where(rng.random(n_events) < 0.5, -1, 1).astype(np.int32)
    pt = 1.0 / inv
    eta = rng.uniform(-ETA_MAX, ETA_MAX, n_events)
    phi = rng.uniform(-np.pi, np.pi, n_events)
    particles = ak.unflatten(ak.zip({
        "pt": pt.astype(np.float32), "eta": eta.astype(np.float32),
        "phi": phi.astype(np.float32),
        "mass": np.full(n_events, MUON_MASS_GEV, np.float32),
        "pdgId": (-13 * charge).astype(np.int32), "charge": charge}), np.ones(n_events, np.int64))
    return ak.zip({
        "process": np.zeros(n_events, np.int32), "sigma_mb": np.zeros(n_events),
        "weight": np.ones(n_events), "pthat": pt, "particles": particles}, depth_limit=1)
