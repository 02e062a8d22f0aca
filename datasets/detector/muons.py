"""L1 muons of a crossing from the muon system (:mod:`l1t.datasets.muon`).

- π/K candidates decay in flight with their probability ``p_decay``; the muon keeps the parent's
  direction and charge and a fraction of its pT uniform in [``fmin``, 1];
- every muon is carried through the field and the iron to the stations
  (:func:`~l1t.datasets.muon.propagate.transport`: bending, multiple scattering, energy loss and
  range-out), measured there (:func:`~l1t.datasets.muon.hits.measure`), joined by background hits
  growing with the crossing's interactions and by punch-through of charged hadrons (the crossing's
  L1 tracks), and the track finder builds the candidates (:func:`~l1t.datasets.muon.trackfinder.find`);
- ``L1Mu`` is the track finder's output: its pT assignment, η, φ at the vertex, charge, quality
  ``hwQual`` (single-muon seeds ≥ 12, double ≥ 8, triple ≥ 4) and the integer features ``tf*``;
  words: hwPt in 0.5 GeV (9 bits), hwEta in 0.010875, hwPhi in 2π/576 (0…575).
"""
from __future__ import annotations

import numpy as np

from ..muon import hits as muon_hits
from ..muon.propagate import transport
from ..muon.trackfinder import find
from .config import DetectorConfig
from .objects import PT_BITS, PT_LSB, saturate

MU_ETA_LSB = 0.010875
MU_N_PHI = 576


def simulate(cands: dict[str, np.ndarray], crossing: np.ndarray, tracks: dict[str, np.ndarray],
             track_crossing: np.ndarray, interactions: np.ndarray, rng: np.random.Generator,
             cfg: DetectorConfig):
    """L1 muon columns and their crossings from the muon candidates ``cands`` (crossing
    ``crossing`` each), the charged ``tracks`` (for punch-through) and the number of
    ``interactions`` per crossing (for the background hits)."""
    n = len(crossing)
    u_decay, u_frac = rng.random((2, n))
    fmin = cands["fmin"].astype(np.float64)
    pt_true = cands["pt"] * (fmin + (1.0 - fmin) * u_frac)
    keep = (u_decay < cands["p_decay"]) & (pt_true > cfg.mu_min_pt)
    t = transport(pt_true[keep], cands["eta"][keep], cands["phi"][keep],
                  cands["charge"][keep], rng)
    p_trk = tracks["pt"] * np.cosh(tracks["eta"])
    h = muon_hits.Hits.concatenate([
        muon_hits.measure(t, crossing[keep], rng),
        muon_hits.background(len(interactions), interactions, rng),
        muon_hits.punch_through(p_trk, tracks["eta"], tracks["phi"], track_crossing, rng)])
    c = find(h)
    hw = saturate(np.floor(c.pt / PT_LSB).astype(np.int64), PT_BITS["L1Mu"])
    cols = {"pt": (hw * PT_LSB).astype(np.float32), "eta": c.eta.astype(np.float32),
            "phi": c.phi.astype(np.float32), "charge": c.charge, "hwQual": c.quality,
            "hwPt": hw, "hwEta": np.round(c.eta / MU_ETA_LSB).astype(np.int32),
            "hwPhi": (np.floor((c.phi + np.pi) / (2 * np.pi / MU_N_PHI)).astype(np.int64)
                      % MU_N_PHI).astype(np.int32), **c.features}
    return c.crossing, cols
