"""A simple, documented L1 detector: pp interactions → L1 trigger objects.

Pipeline per chunk of bunch crossings (one module per subsystem; parameters in :mod:`.config`):

    particles ──digitize──► deposits, tracks, muon candidates  (per interaction, deterministic)
    crossing = hard interaction + pileup interactions (gathered, see l1t.datasets.pileup)
    deposits ──calo──► tower ET words (N, 93, 72) ──egamma / tau / jets / sums──► L1EG, L1Tau, L1Jet, L1EtSum
    muon candidates ──muons (l1t.datasets.muon: stations, hits, track finder)──► L1Mu

Public: :func:`digitize`, :func:`simulate`, :func:`towers`, :class:`DetectorConfig`.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

from . import calo, egamma, jets, muons, sums, tau
from .config import DEFAULT, DetectorConfig
from .digitize import Digitized, digitize
from .geometry import N_ETA, N_PHI, N_TOWERS, tower_index
from .objects import to_collection

__all__ = ["DetectorConfig", "DEFAULT", "Digitized", "digitize", "simulate", "towers"]


def towers(digi: Digitized, members: np.ndarray, counts: np.ndarray, rng: np.random.Generator,
           cfg: DetectorConfig = DEFAULT, em_reco=None) -> tuple[np.ndarray, np.ndarray]:
    """Tower ET words ``(em, had)``, each ``(n_cross, 93, 72)`` int32 in ``cfg.tower_lsb`` units,
    of crossings made of interactions ``members`` (indices into ``digi``), ``counts`` per crossing;
    ``em_reco``: the EM towers from a LAr reconstruction (:func:`.calo.tower_words`)."""
    dep, cross = digi.deposits.gather(members, counts)
    return calo.tower_words(cross, dep["tower"], dep["em"], dep["had"], len(counts), rng, cfg,
                            em_reco)


def simulate(digi: Digitized, members: np.ndarray, counts: np.ndarray,
             rng: np.random.Generator, cfg: DetectorConfig = DEFAULT,
             weights: np.ndarray | None = None, em_reco=None) -> dict[str, ak.Array]:
    """L1 objects of each crossing: ``{"L1Mu", "L1EG", "L1Tau", "L1Jet", "L1EtSum"}``, each a
    ``var * {…}`` awkward array of length ``len(counts)`` (schema in :mod:`l1t.datasets.schema`).
    ``weights`` (per crossing, float64): multiplied in place by the muon enrichment's
    importance weights when ``cfg.mu_decay_boost`` is on (:mod:`l1t.datasets.detector.muons`).
    ``em_reco``: EM tower ET from a LAr reconstruction (``(N, 93, 72)`` GeV in and out).
    """
    n = len(counts)
    em_hw, had_hw = towers(digi, members, counts, rng, cfg, em_reco)
    total = em_hw + had_hw
    rho = calo.pileup_density(total, cfg.tower_lsb)
    trk, tc = digi.tracks.gather(members, counts)     # for e/γ isolation and punch-through
    track_max = _track_grid(trk, tc, len(counts), rng, cfg)

    out = {}
    c, cols = egamma.find(em_hw, had_hw, rho, track_max, cfg)
    out["L1EG"] = to_collection("L1EG", c, cols, n)
    c, cols = tau.find(total, rho, cfg)
    out["L1Tau"] = to_collection("L1Tau", c, cols, n)
    jc, jcols = jets.find(total, cfg)
    out["L1Jet"] = to_collection("L1Jet", jc, jcols, n)
    c, cols = sums.compute(total, jc, jcols, n, cfg)
    out["L1EtSum"] = to_collection("L1EtSum", c, cols, n)
    cands, mc = digi.mucands.gather(members, counts)
    c, cols = muons.simulate(cands, mc, trk, tc, counts, rng, cfg, weights)
    out["L1Mu"] = to_collection("L1Mu", c, cols, n)
    return out


def _track_grid(trk, cross, n_cross, rng, cfg) -> np.ndarray:
    """Highest L1-track pT (GeV) pointing at each tower, ``(n_cross, 93, 72)``, of the gathered
    tracks ``trk`` (crossing ``cross`` each)."""
    pt = trk["pt"] * (1.0 + cfg.track_pt_resolution * rng.standard_normal(len(cross)))
    grid = np.zeros(n_cross * N_TOWERS, np.float32)
    np.maximum.at(grid, cross * N_TOWERS + tower_index(trk["eta"], trk["phi_calo"]), pt)
    return grid.reshape(n_cross, N_ETA, N_PHI)
