"""A simple, documented L1 detector: pp interactions → L1 trigger objects.

Pipeline per chunk of bunch crossings (one module per subsystem; parameters in :mod:`.config`):

    particles ──digitize──► deposits, charged particles, muon candidates  (per interaction, deterministic)
    crossing = hard interaction + pileup interactions (gathered, see l1t.datasets.pileup), each
               interaction at its own z in the luminous region
    charged particles ──tracks──► L1 tracks (efficiency, resolution, fakes, 96-bit word)
    deposits ──calo──► tower ET words (N, 93, 72) ──egamma / tau / jets / sums──► L1EG, L1Tau, L1Jet, L1EtSum
    muon candidates ──muons (l1t.datasets.muon: stations, hits, track finder)──► L1Mu
    L1 tracks ──vertex──► L1PV;  tracks + towers + L1Mu ──pf──► PF candidates ──puppi──► weights
    ──phase2──► L1PuppiJet, L1PuppiSum;  L1Mu / L1EG + tracks ──phase2──► L1TkMu, L1TkEle, L1TkEm

Public: :func:`digitize`, :func:`simulate`, :func:`towers`, :class:`DetectorConfig`.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

from . import calo, egamma, jets, muons, phase2, sums, tau, tracks
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
             weights: np.ndarray | None = None, em_reco=None) -> dict[str, ak.Array | np.ndarray]:
    """L1 objects of each crossing: ``{"L1Mu", "L1EG", "L1Tau", "L1Jet", "L1EtSum"}`` and the
    Phase-2 objects (``schema.PHASE2_COLLECTIONS``), each a ``var * {…}`` awkward array of length
    ``len(counts)`` (schema in :mod:`l1t.datasets.schema`), and ``gen_vz``: the z (cm) of each
    crossing's first interaction (the hard one; 0 for a crossing without interactions).
    ``weights`` (per crossing, float64): multiplied in place by the muon enrichment's
    importance weights when ``cfg.mu_decay_boost`` is on (:mod:`l1t.datasets.detector.muons`).
    ``em_reco``: EM tower ET from a LAr reconstruction (``(N, 93, 72)`` GeV in and out).
    """
    n = len(counts)
    em_hw, had_hw = towers(digi, members, counts, rng, cfg, em_reco)
    total = em_hw + had_hw
    rho = calo.pileup_density(total, cfg.tower_lsb)
    # charged particles: the L1 tracks, and the punch-through into the muon stations
    trk, tc, origin = digi.tracks.gather_rows(members, counts)
    z_interaction = rng.normal(0.0, cfg.beam_sigma_z_cm, len(members))
    l1_tracks = tracks.simulate(trk, tc, origin, z_interaction, counts, rng, cfg)
    track_max = _track_grid(l1_tracks, n)

    out = {}
    eg = egamma.find(em_hw, had_hw, rho, track_max, cfg)
    out["L1EG"] = to_collection("L1EG", *eg, n)
    c, cols = tau.find(total, rho, cfg)
    out["L1Tau"] = to_collection("L1Tau", c, cols, n)
    jc, jcols = jets.find(total, cfg)
    out["L1Jet"] = to_collection("L1Jet", jc, jcols, n)
    c, cols = sums.compute(total, jc, jcols, n, cfg)
    out["L1EtSum"] = to_collection("L1EtSum", c, cols, n)
    cands, mc = digi.mucands.gather(members, counts)
    mu = muons.simulate(cands, mc, trk, tc, counts, rng, cfg, weights)
    out["L1Mu"] = to_collection("L1Mu", *mu, n)
    for name, (c, cols) in phase2.objects(l1_tracks, em_hw, had_hw, mu, eg, n, cfg).items():
        out[name] = to_collection(name, c, cols, n)
    starts = np.cumsum(counts) - counts
    out["gen_vz"] = np.where(counts > 0, z_interaction[np.minimum(starts, len(members) - 1)],
                             0.0) if len(members) else np.zeros(n)
    return out


def _track_grid(l1: tracks.L1Tracks, n_cross: int) -> np.ndarray:
    """Highest L1-track pT (GeV) pointing at each tower, ``(n_cross, 93, 72)``."""
    grid = np.zeros(n_cross * N_TOWERS, np.float32)
    np.maximum.at(grid, l1.crossing * N_TOWERS + tower_index(l1.eta, l1.phi_calo), l1.pt)
    return grid.reshape(n_cross, N_ETA, N_PHI)
