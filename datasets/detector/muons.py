"""L1 muons from the muon candidates of a crossing (all interactions).

- π/K candidates decay in flight with their probability ``p_decay``; the muon keeps the parent's
  direction and a fraction of its pT uniform in [``fmin``, 1];
- efficiency ``mu_efficiency``; pT measured in 1/pT with σ = (``mu_res_const`` ⊕ ``mu_res_slope``·pT)
  / pT; charge flipped with probability ``mu_flip_const`` + ``mu_flip_slope``·pT (both grow with pT);
- quality word ``hwQual`` (0–15, the CMS convention: single-muon seeds use ≥ 12, double ≥ 8,
  triple ≥ 4): 12 (≥ 3 stations) with probability 0.85, 8 with 0.10, 4 with 0.05 for |η| < 2.1;
  one class lower (8 / 4 / 4) in 2.1 < |η| < 2.4 where fewer stations are crossed;
- words: hwPt in 0.5 GeV (9 bits), hwEta in 0.010875, hwPhi in 2π/576 (0…575).
"""
from __future__ import annotations

import numpy as np

from .config import DetectorConfig
from .objects import PT_BITS, PT_LSB, saturate

MU_ETA_LSB = 0.010875
MU_N_PHI = 576


def simulate(cands: dict[str, np.ndarray], crossing: np.ndarray, rng: np.random.Generator,
             cfg: DetectorConfig):
    n = len(crossing)
    u_decay, u_frac, u_eff, u_flip, u_qual = rng.random((5, n))
    g_pt, g_eta, g_phi = rng.standard_normal((3, n))
    keep = (u_decay < cands["p_decay"]) & (u_eff < cfg.mu_efficiency)
    fmin = cands["fmin"].astype(np.float64)
    pt_true = cands["pt"] * (fmin + (1.0 - fmin) * u_frac)
    sigma = np.hypot(cfg.mu_res_const, cfg.mu_res_slope * pt_true)
    inv = np.abs(1.0 + sigma * g_pt) / pt_true
    pt = 1.0 / np.maximum(inv, 1e-4)
    keep &= pt_true > cfg.mu_min_pt
    flip = u_flip < cfg.mu_flip_const + cfg.mu_flip_slope * pt_true
    charge = np.where(flip, -cands["charge"], cands["charge"])
    eta = cands["eta"] + cfg.mu_eta_resolution * g_eta
    phi = cands["phi"] + (cfg.mu_phi_resolution + 0.2 / pt_true) * g_phi
    phi = np.mod(phi + np.pi, 2 * np.pi) - np.pi
    qual = np.select([u_qual < 0.85, u_qual < 0.95], [12, 8], 4)
    qual = np.where(np.abs(eta) > 2.1, np.maximum(qual - 4, 4), qual)
    hw = saturate(np.floor(pt / PT_LSB).astype(np.int64), PT_BITS["L1Mu"])
    cols = {"pt": (hw * PT_LSB)[keep].astype(np.float32), "eta": eta[keep].astype(np.float32),
            "phi": phi[keep].astype(np.float32), "charge": charge[keep],
            "hwQual": qual[keep].astype(np.int32), "hwPt": hw[keep],
            "hwEta": np.round(eta[keep] / MU_ETA_LSB).astype(np.int32),
            "hwPhi": (np.floor((phi[keep] + np.pi) / (2 * np.pi / MU_N_PHI)).astype(np.int64)
                      % MU_N_PHI).astype(np.int32)}
    return crossing[keep], cols
