"""Parameters of the simple L1 detector (all energies in GeV, distances in m, angles in rad).

Every number a physicist may want to change is here, with why it has its value; the whole
configuration is stored in each production's manifest.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DetectorConfig:
    # --- tracking / magnet -------------------------------------------------------------
    b_field_t: float = 3.8            # solenoid field (CMS)
    calo_radius_m: float = 1.29       # radius of the ECAL front face: φ bending, loopers
    track_min_pt: float = 2.0         # L1 tracks (Phase-2 track trigger) above this pT
    track_max_eta: float = 2.4
    track_pt_resolution: float = 0.02  # σ(pT)/pT of L1 tracks
    # --- calorimeter response, σ_E/E = a/√E ⊕ c, plus noise in ET per tower ----------------
    em_stochastic: float = 0.10
    em_constant: float = 0.01
    em_noise: float = 0.15
    had_stochastic: float = 1.00
    had_constant: float = 0.05
    had_noise: float = 0.25
    fwd_stochastic: float = 1.50      # forward calorimeter (|η| > 3), EM and hadronic summed
    fwd_constant: float = 0.10
    fwd_noise: float = 0.50
    em_zs: float = 0.5                # zero suppression per tower (ET)
    had_zs: float = 0.75
    fwd_zs: float = 1.5
    tower_lsb: float = 0.5            # tower ET word LSB, as the calorimeter trigger primitives
    # --- e/γ: 3x3 EM clusters -----------------------------------------------------------------
    eg_seed: float = 2.0
    eg_min_pt: float = 3.0
    eg_max_eta: float = 2.5
    eg_max_hoe: float = 0.25          # hadronic / EM energy in the 3x3 window
    eg_iso_cut: float = 0.25          # hwIso = 1 below this relative isolation
    eg_track_fraction: float = 0.3    # electron: a track with pT >= this x cluster ET in the seed φ±1
    # --- τ: 3x3 hadronic clusters ----------------------------------------------------------
    tau_seed: float = 5.0
    tau_min_pt: float = 10.0
    tau_max_eta: float = 2.5
    tau_iso_cut: float = 0.2
    # --- jets: 9x9 towers around a local maximum, pileup subtracted --------------------------
    jet_seed: float = 4.0
    jet_window: int = 9
    jet_min_pt: float = 10.0
    # --- energy sums -----------------------------------------------------------------------
    ht_jet_min_pt: float = 30.0
    ht_jet_max_eta: float = 2.4
    met_max_eta: float = 3.0          # MET (type 2) from towers with |η| < 3; type 8 uses all
    # --- muons -----------------------------------------------------------------------------
    # (the stations, field, iron, hits and track finder: l1t.datasets.muon, versioned here)
    muon_system: str = "stations-v1"
    # L1Mu.pt: "lut" (the table shipped for the muon system, with its threshold scale) or "bend"
    # (the track finder's calibrated-bend assignment, unscaled)
    mu_pt_assignment: str = "lut"
    mu_max_eta: float = 2.4
    mu_min_p: float = 3.0             # pre-filter: below it no muon gets through the calorimeters
    mu_min_pt: float = 2.0
    decay_length_m: float = 2.0       # π/K decaying in flight before this length give muons
    mu_min_parent_pt: float = 3.0
    # Muon enrichment (importance sampling of the decays in flight): a π/K of parent pT >=
    # mu_boost_min_pt decays with q = min(mu_decay_boost * p, mu_boost_max) instead of p, and
    # each crossing is weighted by the product over those candidates of p/q (decayed) or
    # (1 - p)/(1 - q) (not): every rate stays unbiased while the decay muons of the rate tail
    # are simulated mu_decay_boost times more often. 1 = off (the plain zero-bias crossings).
    mu_decay_boost: float = 1.0
    mu_boost_min_pt: float = 8.0
    mu_boost_max: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT = DetectorConfig()
