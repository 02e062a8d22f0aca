"""L1 muons of a crossing from the muon system (:mod:`l1t.datasets.muon`).

- π/K candidates decay in flight with their probability ``p_decay``; the muon keeps the parent's
  direction and charge and a fraction of its pT uniform in [``fmin``, 1];
- every muon is carried through the field and the iron to the stations
  (:func:`~l1t.datasets.muon.propagate.transport`: bending, multiple scattering, energy loss and
  range-out), measured there (:func:`~l1t.datasets.muon.hits.measure`), joined by background hits
  growing with the crossing's interactions and by punch-through of charged hadrons (the crossing's
  charged particles in the tracker), and the track finder builds the candidates (:func:`~l1t.datasets.muon.trackfinder.find`);
- ``L1Mu`` is the track finder's output: its pT assignment (by default the lookup table shipped
  for the muon system, threshold-scaled: :func:`l1t.datasets.muon.lut.packaged`), η, φ at the vertex, charge, quality
  ``hwQual`` (single-muon seeds ≥ 12, double ≥ 8, triple ≥ 4) and the integer features ``tf*``;
  words: hwPt in 0.5 GeV (9 bits), hwEta in 0.010875, hwPhi in 2π/576 (0…575).
"""
from __future__ import annotations

import numpy as np

from l1t.core.errors import L1TInputError

from ..muon import hits as muon_hits
from ..muon.lut import packaged
from ..muon.propagate import transport
from ..muon.trackfinder import find
from .config import DetectorConfig
from .objects import PT_BITS, PT_LSB, saturate

MU_ETA_LSB = 0.010875
MU_N_PHI = 576


def simulate(cands: dict[str, np.ndarray], crossing: np.ndarray, tracks: dict[str, np.ndarray],
             track_crossing: np.ndarray, interactions: np.ndarray, rng: np.random.Generator,
             cfg: DetectorConfig, weights: np.ndarray | None = None):
    """L1 muon columns and their crossings from the muon candidates ``cands`` (crossing
    ``crossing`` each), the charged ``tracks`` (for punch-through) and the number of
    ``interactions`` per crossing (for the background hits). With the decay boost on
    (``cfg.mu_decay_boost`` > 1), ``weights`` (per crossing) is multiplied in place by each
    crossing's importance weight (:func:`decay_probability`)."""
    n = len(crossing)
    u_decay, u_frac = rng.random((2, n))
    fmin = cands["fmin"].astype(np.float64)
    pt_true = cands["pt"] * (fmin + (1.0 - fmin) * u_frac)
    p = cands["p_decay"].astype(np.float64)
    q = decay_probability(p, cands["pt"], cfg)
    decayed = u_decay < q
    if weights is not None and cfg.mu_decay_boost != 1.0:
        boosted = q != p
        # not boosted: p = q, a factor 1 either way (p0 = q0 = 0 and pb = qb = 1 below)
        p0, q0 = np.where(boosted, p, 0.0), np.where(boosted, q, 0.0)
        pb, qb = np.where(boosted, p, 1.0), np.where(boosted, q, 1.0)
        log_w = np.where(decayed, np.log(pb / qb), np.log1p(-p0) - np.log1p(-q0))
        per_crossing = np.zeros(len(weights))
        np.add.at(per_crossing, crossing, log_w)
        weights *= np.exp(per_crossing)
    keep = decayed & (pt_true > cfg.mu_min_pt)
    t = transport(pt_true[keep], cands["eta"][keep], cands["phi"][keep],
                  cands["charge"][keep], rng)
    p_trk = tracks["pt"] * np.cosh(tracks["eta"])
    h = muon_hits.Hits.concatenate([
        muon_hits.measure(t, crossing[keep], rng),
        muon_hits.background(len(interactions), interactions, rng),
        muon_hits.punch_through(p_trk, tracks["eta"], tracks["phi"], track_crossing, rng)])
    c = find(h)
    hw = pt_word(_pt(c, cfg))
    cols = {"pt": (hw * PT_LSB).astype(np.float32), "eta": c.eta.astype(np.float32),
            "phi": c.phi.astype(np.float32), "charge": c.charge, "hwQual": c.quality,
            "hwPt": hw, "hwEta": np.round(c.eta / MU_ETA_LSB).astype(np.int32),
            "hwPhi": (np.floor((c.phi + np.pi) / (2 * np.pi / MU_N_PHI)).astype(np.int64)
                      % MU_N_PHI).astype(np.int32), **c.features}
    return c.crossing, cols


def pt_word(pt: np.ndarray) -> np.ndarray:
    """``hwPt`` of assigned pT values (GeV): floor(pT / 0.5 GeV) in 9 bits, saturated."""
    return saturate(np.floor(np.asarray(pt) / PT_LSB).astype(np.int64), PT_BITS["L1Mu"])


def decay_probability(p_decay: np.ndarray, parent_pt: np.ndarray,
                      cfg: DetectorConfig) -> np.ndarray:
    """The probability each candidate decays with in the simulation: ``p_decay``, or with the
    decay boost q = min(boost · p, ``mu_boost_max``) for π/K of parent pT ≥ ``mu_boost_min_pt``
    (GeV). Prompt muons (p = 1) are never boosted."""
    p = np.asarray(p_decay, np.float64)
    if cfg.mu_decay_boost == 1.0:
        return p
    boost = (np.asarray(parent_pt) >= cfg.mu_boost_min_pt) & (p < 1.0)
    return np.where(boost, np.maximum(p, np.minimum(cfg.mu_decay_boost * p, cfg.mu_boost_max)), p)


def _pt(c, cfg: DetectorConfig) -> np.ndarray:
    if cfg.mu_pt_assignment == "lut":
        return packaged(cfg.muon_system).assign(c.features)
    if cfg.mu_pt_assignment == "bend":
        return c.pt
    raise L1TInputError("detector", f"mu_pt_assignment must be 'lut' or 'bend', got "
                        f"{cfg.mu_pt_assignment!r}", "mu_pt_assignment")
