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
    # --- luminous region: interactions of a crossing spread along the beam ----------------
    # σ_z = σ_s/√2 for head-on Gaussian bunches of rms length σ_s = 7.55 cm (LHC design report,
    # kept for the HL-LHC): 5.3 cm; crossing angle and crab cavities ignored (estimate)
    beam_sigma_z_cm: float = 5.3
    # --- L1 tracks (l1t.datasets.detector.tracks); resolutions are piecewise linear in |η| at
    # the knots track_res_eta. Estimates read off the L1 track performance of the Phase-2
    # tracker TDR (CMS-TDR-014: σ(pT)/pT ≈ 1% central to a few % at |η| = 2.4, σ(z0) ≈ 1 mm
    # central for prompt tracks to several mm forward, worse at low pT), not fitted here.
    track_res_eta: tuple = (0.0, 0.8, 1.6, 2.4)
    track_res_pt_ms: tuple = (0.010, 0.013, 0.020, 0.035)       # σ(pT)/pT, scattering term
    track_res_pt_curv: tuple = (4e-4, 5e-4, 9e-4, 2e-3)         # σ(1/pT) GeV⁻¹, curvature term
    track_res_phi: tuple = (0.7e-3, 0.8e-3, 1.0e-3, 1.5e-3)     # rad, plus 2 mrad GeV / pT
    track_res_eta_const: tuple = (0.8e-3, 1.0e-3, 2.0e-3, 4.0e-3)  # plus 3e-3 GeV / pT
    track_res_z0: tuple = (0.05, 0.08, 0.15, 0.35)              # cm, plus track_res_z0_ms / pT
    track_res_z0_ms: tuple = (0.25, 0.35, 0.6, 1.0)             # cm GeV (multiple scattering)
    track_efficiency: float = 0.95    # per charged particle above 2 GeV (TDR: μ ≈ 98%, π ≈ 90-95%)
    # Fake tracks (random stub combinations) grow as the square of the interactions: on
    # average track_fakes_200 × (n / 200)² per crossing of n interactions, 3% of the ≈185
    # genuine tracks at 200 (TDR: fake rates of a few % at PU 200; estimate), 1/pT flat in
    # (0, 1/2 GeV⁻¹) weighted to low pT (P(pT > x) = (2 GeV / x)²), χ² 10× worse
    track_fakes_200: float = 6.0
    track_fake_z0_sigma_cm: float = 10.0
    track_fake_chi2_scale: float = 10.0
    track_max_chi2: float = 10.0      # χ²/dof (r-φ) of tracks used by PF, vertex, isolation
    # --- primary vertex: FastHisto (CMSSW L1Trigger/VertexFinder VertexProducer_cff: the
    # track-word range in 256 bins of 0.1599 cm, 3-bin sliding window, tracks 2-127 GeV with
    # pT saturated above, pT-weighted mean z0 of the window's tracks; vertex half-width 0.15 cm)
    vertex_z_range_cm: float = 20.46912512
    vertex_bins: int = 256
    vertex_window: int = 3
    vertex_max_track_pt: float = 127.0
    vertex_half_width_cm: float = 0.15
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
    # --- Phase-2 correlator: particle flow and PUPPI (l1t.datasets.detector.pf, .puppi) ---------
    # Linking (CMSSW L1Trigger/Phase2L1ParticleFlow l1ctLayer1_cff, PFAlgo3): a track whose
    # calorimeter tile holds less than pf_invisible_fraction of its pT and whose pT exceeds
    # maxInvisiblePt = 10 GeV is dropped (no calorimeter support, not a muon); the tile's
    # calorimeter ET minus its tracks' pT is a neutral when above the calorimeter resolution
    # σ = 2.9 GeV + 0.12 pT (caloResolution, barrel) and above 1 GeV (hadPtCut; EM 0.5)
    pf_tile: int = 3                  # neutral clusters: tiles of 3x3 towers (0.26 x 0.26)
    pf_max_invisible_pt: float = 10.0
    pf_invisible_fraction: float = 0.5   # estimate: a tile with < half the track's pT
    pf_calo_res_offset: float = 2.9
    pf_calo_res_scale: float = 0.12
    pf_neutral_min_pt: float = 1.0
    pf_hf_min_pt: float = 15.0        # HF clusters (|η| > 3): hadPtCut 15 GeV
    pf_track_mu_dr: float = 0.2       # trackMuDR: L1 track to standalone muon
    # PUPPI: LinearizedPuppi regions |η| < 1.5 (barrel), 1.5-2.0-2.5 (endcap with tracks),
    # 2.5-3.0 (endcap without), 3-5 (HF); values per region in l1t.datasets.detector.puppi
    puppi_dr: float = 0.3             # cone for the local shape α (CMSSW dr = 0.3)
    # --- Phase-2 objects -------------------------------------------------------------------
    puppi_jet_cone: float = 0.4       # seeded cone (CMSSW L1SeedConePFJetProducer coneSize)
    puppi_jet_seed: float = 5.0       # seed PUPPI candidate pT (estimate)
    puppi_jet_min_pt: float = 10.0
    puppi_max_jets: int = 16
    # TkElectron (CMSSW l1TkEgAlgoEmulator_cfi): the track within |Δη| < dEta(|η|) and |Δφ| <
    # 0.07 of the cluster (dEta 0.025 / 0.015 / 0.01 above |η| 0 / 0.9 / 1.5), widened here
    # by half a tower because our cluster sits at its seed tower's centre (estimate), track pT
    # >= 10 GeV (trkQualityPtMin); track isolation: tracks > 2 GeV within |Δz| < 0.6 cm,
    # 0.03 < ΔR < 0.2 (TkEle, around the electron's track) and 0.07 < ΔR < 0.3 (TkEm, around
    # the vertex)
    tkele_dphi: float = 0.07
    tkele_min_track_pt: float = 10.0
    tkiso_dz_cm: float = 0.6
    # relative track-isolation cuts for hwIso (Phase2-L1MenuTools v10 LHCC-review menu:
    # TkIsoElectron 0.10 / 0.125, TkIsoPhoton 0.29 / 0.39 below / above |η| = 1.479)
    tkele_iso_cut: tuple = (0.10, 0.125)
    tkem_iso_cut: tuple = (0.29, 0.39)
    tkmu_max_eta: float = 2.4

    def to_dict(self) -> dict:
        """The configuration as JSON stores it (tuples as lists), so that a manifest read back
        compares equal."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


DEFAULT = DetectorConfig()
