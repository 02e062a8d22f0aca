"""Hardware units of L1 objects: the one place where the integer word scales are defined.

pT words are ``floor(pT / 0.5 GeV)``; angle words are the nearest bin (``np.rint``), with φ
first wrapped into [0, 2π) so that the word is in ``0 .. N-1``. Calorimeter objects use trigger
towers (η bin 0.087, 72 φ bins); muons use the uGMT scales (η bin 0.010875, 576 φ bins).

The functions take numpy arrays (any shape) or awkward arrays (any depth) and return int32.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

PT_LSB = 0.5                  #: GeV per hwPt count (all objects)
CALO_ETA_LSB = 0.087          #: η per calorimeter tower
CALO_N_PHI = 72               #: calorimeter φ bins in 2π
MU_ETA_LSB = 0.010875         #: η per uGMT muon η count
MU_N_PHI = 576                #: uGMT muon φ bins in 2π

_TWO_PI = 2.0 * np.pi


def _int32(x):
    if isinstance(x, ak.Array):
        return ak.values_astype(x, np.int32)
    return np.asarray(x).astype(np.int32)


def hw_pt(pt):
    """pT (GeV) → hardware pT word, ``floor(pt / 0.5)``."""
    with np.errstate(invalid="ignore"):
        return _int32(np.floor(pt / PT_LSB))


def _hw_eta(eta, lsb):
    with np.errstate(invalid="ignore"):
        return _int32(np.rint(eta / lsb))


def _hw_phi(phi, n):
    with np.errstate(invalid="ignore"):
        return _int32(np.mod(np.rint(np.mod(phi, _TWO_PI) / (_TWO_PI / n)), n))


def hw_eta_calo(eta):
    """η → calorimeter tower word (nearest multiple of 0.087)."""
    return _hw_eta(eta, CALO_ETA_LSB)


def hw_phi_calo(phi):
    """φ (rad, any range) → calorimeter φ word in 0..71 (2π/72 bins)."""
    return _hw_phi(phi, CALO_N_PHI)


def hw_eta_mu(eta):
    """η → muon η word (nearest multiple of 0.010875)."""
    return _hw_eta(eta, MU_ETA_LSB)


def hw_phi_mu(phi):
    """φ (rad, any range) → muon φ word in 0..575 (2π/576 bins)."""
    return _hw_phi(phi, MU_N_PHI)


# Phase-2 global-trigger inputs (CMSSW DataFormats/L1Trigger/interface/P2GTCandidate.h and the
# l1gt scales of L1Trigger/Phase2L1GT: pt ap_ufixed<16,11>, φ ap_fixed<13,13> and η
# ap_fixed<14,14> in units of π/4096, z0 ap_fixed<10,9> in mm)
P2_PT_LSB = 1.0 / 32          #: GeV per Phase-2 hwPt count (16 bits)
P2_PT_BITS = 16
P2_ANGLE_LSB = np.pi / 4096   #: rad (φ) and η per Phase-2 angle count
P2_Z0_LSB = 0.05              #: cm per Phase-2 hwZ0 count (10 bits, ±25.6 cm)
P2_Z0_BITS = 10


def p2_hw_pt(pt):
    """pT (GeV) → Phase-2 hwPt: floor(pt / (1/32 GeV)), saturated at 16 bits."""
    with np.errstate(invalid="ignore"):
        return _int32(np.clip(np.floor(pt / P2_PT_LSB), 0, (1 << P2_PT_BITS) - 1))


def p2_hw_angle(x):
    """η or φ (rad, within ±π) → Phase-2 angle word (nearest multiple of π/4096)."""
    with np.errstate(invalid="ignore"):
        return _int32(np.rint(x / P2_ANGLE_LSB))


def p2_hw_z0(z0):
    """z0 (cm) → Phase-2 hwZ0 (nearest 0.05 cm), saturated at 10 signed bits."""
    half = 1 << (P2_Z0_BITS - 1)
    with np.errstate(invalid="ignore"):
        return _int32(np.clip(np.rint(z0 / P2_Z0_LSB), -half, half - 1))
