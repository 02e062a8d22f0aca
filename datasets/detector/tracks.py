"""L1 tracks of a crossing (the Phase-2 track trigger) and their 96-bit hardware word.

From the charged particles every interaction leaves in the tracker (pT > 2 GeV, |η| < 2.4,
``digitize``) a crossing's L1 tracks are made by:

- efficiency: each particle gives a track with probability ``track_efficiency``, kept when
  its measured pT is above ``track_min_pt``;
- resolution, piecewise linear in |η| (``DetectorConfig.track_res_*``): 1/pT smeared with
  σ(1/pT) = √(a² + (b pT)²) / pT (scattering term a, curvature term b), φ and η with a constant
  plus a 1/pT term, z0 around the interaction's position with σ(z0) = c ⊕ d / pT (cm);
- fakes: Poisson(``track_fakes_200`` × (n / 200)²) per crossing of n interactions, uniform in
  φ and |η| < 2.4, z0 ~ N(0, ``track_fake_z0_sigma_cm``), pT with P(pT > x) = (2 GeV / x)²;
- quality: χ²/dof in r-φ and r-z drawn from χ²(4)/4 (genuine) or ``track_fake_chi2_scale``
  times that (fakes), the bend χ² likewise, 4–6 stubs (estimates).

The word (CMSSW ``DataFormats/L1TrackTrigger/interface/TTTrack_TrackWord.h``), least significant
bit first: MVA other 6, MVA quality 3, hit pattern 7, bend χ² 3, d0 13, χ²(r-z) 4, z0 12,
tan λ 16, χ²(r-φ) 4, φ 12 (relative to the centre of its 40° sector), q/R 15, valid 1: 96 bits,
here as a 32-bit high and a 64-bit low part. Signed fields are floor(value / LSB) saturated, in
two's complement: q/R over ±0.006 cm⁻¹, φ over ±π/4, tan λ in 1/4096 steps (±8), z0 over
±20.47 cm, d0 (0: prompt tracks) in 1/256 cm; χ² fields are bin indices of the word's bin edges.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .config import DetectorConfig
from .digitize import bending

#: (width, LSB) of the signed fields of the track word; (width,) of the others.
RINV_BITS, RINV_LSB = 15, 2 * 0.006 / (1 << 15)
PHI_BITS, PHI_LSB = 12, 2 * 0.7853981696 / (1 << 12)
TANL_BITS, TANL_LSB = 16, 1.0 / (1 << 12)
Z0_BITS, Z0_LSB = 12, 2 * 20.46912512 / (1 << 12)
D0_BITS, D0_LSB = 13, 1.0 / (1 << 8)
N_SECTORS = 9
SECTOR_WIDTH = 2 * np.pi / N_SECTORS
CHI2_RPHI_BINS = np.array([0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 10.0, 15.0, 20.0, 35.0,
                           60.0, 200.0])
CHI2_RZ_BINS = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 8.0, 10.0,
                         20.0, 50.0])
BEND_CHI2_BINS = np.array([0.0, 0.75, 1.0, 1.5, 2.25, 3.5, 5.0, 20.0])
#: (field, width) from the least significant bit of the 96-bit word.
LAYOUT = (("mva_other", 6), ("mva_quality", 3), ("hit_pattern", 7), ("bend_chi2", 3),
          ("d0", 13), ("chi2_rz", 4), ("z0", 12), ("tanl", 16), ("chi2_rphi", 4), ("phi", 12),
          ("rinv", 15), ("valid", 1))
_SIGNED = {"rinv": RINV_LSB, "phi": PHI_LSB, "tanl": TANL_LSB, "z0": Z0_LSB, "d0": D0_LSB}


@dataclass
class L1Tracks:
    """Flat L1 tracks of a chunk of crossings, ordered by crossing. Units: GeV, rad, cm."""

    crossing: np.ndarray   # (T,) int64
    pt: np.ndarray         # measured pT
    eta: np.ndarray
    phi: np.ndarray        # at the vertex
    phi_calo: np.ndarray   # at the calorimeter face (bent with the measured pT and charge)
    z0: np.ndarray         # cm
    charge: np.ndarray     # int32, ±1
    chi2_rphi: np.ndarray  # χ²/dof
    chi2_rz: np.ndarray
    bend_chi2: np.ndarray
    n_stubs: np.ndarray    # int32
    origin: np.ndarray     # int64: position in the crossings' interaction list, -1 for fakes

    def __len__(self) -> int:
        return len(self.pt)

    def select(self, mask: np.ndarray) -> "L1Tracks":
        return L1Tracks(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})


def offsets_of(crossing: np.ndarray, n_cross: int) -> np.ndarray:
    """``(n_cross + 1,)`` start offsets of items sorted by ``crossing``."""
    out = np.zeros(n_cross + 1, np.int64)
    np.cumsum(np.bincount(crossing, minlength=n_cross), out=out[1:])
    return out


def _at_eta(knots, values, abs_eta: np.ndarray) -> np.ndarray:
    return np.interp(abs_eta, knots, values)


def simulate(charged: dict[str, np.ndarray], crossing: np.ndarray, origin: np.ndarray,
             z_interaction: np.ndarray, counts: np.ndarray, rng: np.random.Generator,
             cfg: DetectorConfig) -> L1Tracks:
    """L1 tracks of ``len(counts)`` crossings from the gathered charged particles ``charged``
    (``pt``, ``eta``, ``phi``, ``charge``; crossing ``crossing`` and interaction position
    ``origin`` each), the interactions' z positions ``z_interaction`` (cm, one per interaction
    in the crossings' lists) and the number of interactions per crossing ``counts``."""
    keep = rng.random(len(crossing)) < cfg.track_efficiency
    pt, eta, phi = (np.asarray(charged[k][keep], np.float64) for k in ("pt", "eta", "phi"))
    q = np.asarray(charged["charge"][keep], np.float64)
    cross, orig = crossing[keep], origin[keep]
    z_true = z_interaction[orig]
    a_eta = np.abs(eta)
    k = cfg.track_res_eta
    rel = np.hypot(_at_eta(k, cfg.track_res_pt_ms, a_eta),
                   _at_eta(k, cfg.track_res_pt_curv, a_eta) * pt)
    n = len(pt)
    g = rng.standard_normal((4, n))
    inv = q / pt + rel / pt * g[0]          # signed curvature q/pT, GeV⁻¹
    inv = np.where(inv == 0.0, 1e-6, inv)
    m_pt = 1.0 / np.abs(inv)
    m_q = np.sign(inv)
    m_phi = phi + np.hypot(_at_eta(k, cfg.track_res_phi, a_eta), 2e-3 / pt) * g[1]
    m_eta = eta + np.hypot(_at_eta(k, cfg.track_res_eta_const, a_eta), 3e-3 / pt) * g[2]
    m_z0 = z_true + np.hypot(_at_eta(k, cfg.track_res_z0, a_eta),
                             _at_eta(k, cfg.track_res_z0_ms, a_eta) / pt) * g[3]
    chi2 = rng.chisquare(4, (3, n)) / 4.0
    # the track finder only reconstructs what it measures above track_min_pt (its stub-bend
    # window; the q/R word ends at 1.9 GeV)
    found = m_pt >= cfg.track_min_pt
    m_pt, m_q, m_phi, m_eta, m_z0 = m_pt[found], m_q[found], m_phi[found], m_eta[found], m_z0[found]
    chi2, cross, orig, n = chi2[:, found], cross[found], orig[found], int(found.sum())

    # fakes: their number grows as the square of the interactions (combinatorics of stubs)
    n_fake = rng.poisson(cfg.track_fakes_200 * (np.asarray(counts, np.float64) / 200.0) ** 2)
    f_cross = np.repeat(np.arange(len(counts)), n_fake)
    nf = len(f_cross)
    f_pt = 2.0 / np.sqrt(rng.random(nf))
    f_q = np.where(rng.random(nf) < 0.5, -1.0, 1.0)
    f_eta = rng.uniform(-cfg.track_max_eta, cfg.track_max_eta, nf)
    f_phi = rng.uniform(-np.pi, np.pi, nf)
    f_z0 = np.clip(rng.normal(0.0, cfg.track_fake_z0_sigma_cm, nf), -20.4, 20.4)
    f_chi2 = cfg.track_fake_chi2_scale * rng.chisquare(4, (3, nf)) / 4.0
    n_stubs = rng.integers(4, 7, n + nf)

    all_cross = np.concatenate([cross, f_cross])
    order = np.argsort(all_cross, kind="stable")
    pt_all = np.concatenate([m_pt, f_pt])
    eta_all = np.concatenate([m_eta, f_eta])
    q_all = np.concatenate([m_q, f_q])
    phi_all = np.mod(np.concatenate([m_phi, f_phi]) + np.pi, 2 * np.pi) - np.pi
    dphi, _ = bending(pt_all, eta_all, q_all, cfg)
    phi_calo = np.mod(phi_all + dphi + np.pi, 2 * np.pi) - np.pi
    chi2_all = np.concatenate([chi2, f_chi2], axis=1)
    f32 = np.float32
    return L1Tracks(
        crossing=all_cross[order].astype(np.int64), pt=pt_all[order].astype(f32),
        eta=eta_all[order].astype(f32), phi=phi_all[order].astype(f32),
        phi_calo=phi_calo[order].astype(f32),
        z0=np.concatenate([m_z0, f_z0])[order].astype(f32),
        charge=q_all[order].astype(np.int32),
        chi2_rphi=chi2_all[0][order].astype(f32), chi2_rz=chi2_all[1][order].astype(f32),
        bend_chi2=chi2_all[2][order].astype(f32), n_stubs=n_stubs[order].astype(np.int32),
        origin=np.concatenate([orig, np.full(nf, -1, np.int64)])[order])


# --------------------------------------------------------------------------- the track word

def _signed(value: np.ndarray, bits: int, lsb: float) -> np.ndarray:
    """floor(value / lsb) saturated to ``bits`` signed bits, in two's complement."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    v = np.clip(np.floor(np.asarray(value, np.float64) / lsb), lo, hi).astype(np.int64)
    return np.where(v < 0, v + (1 << bits), v).astype(np.uint64)


def _unsigned_to_value(word: np.ndarray, bits: int, lsb: float) -> np.ndarray:
    """Centre of the bin of a two's-complement word (as CMSSW's undigitizeSignedValue)."""
    v = word.astype(np.int64)
    v = np.where(v >= (1 << (bits - 1)), v - (1 << bits), v)
    return (v + 0.5) * lsb


def _bin(value: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return (np.searchsorted(edges, value, side="right") - 1).clip(0, len(edges) - 1).astype(np.uint64)


def sector_of(phi: np.ndarray) -> np.ndarray:
    """The 40° tracker sector (0…8, centred at k·2π/9) a track of global φ belongs to."""
    return (np.rint(np.asarray(phi, np.float64) / SECTOR_WIDTH).astype(np.int64) % N_SECTORS)


def word_fields(tracks: L1Tracks, cfg: DetectorConfig) -> dict[str, np.ndarray]:
    """The fields of each track's word (unsigned integers of their widths, ``LAYOUT``)."""
    pt = np.asarray(tracks.pt, np.float64)
    rinv = tracks.charge * 0.003 * cfg.b_field_t / pt      # q/R in cm⁻¹ (R = pT / (0.3 B) m)
    phi = np.asarray(tracks.phi, np.float64)
    local = np.angle(np.exp(1j * (phi - sector_of(phi) * SECTOR_WIDTH)))
    n = len(pt)
    return {
        "mva_other": np.zeros(n, np.uint64), "mva_quality": np.zeros(n, np.uint64),
        "hit_pattern": ((np.uint64(1) << tracks.n_stubs.astype(np.uint64)) - np.uint64(1)),
        "bend_chi2": _bin(tracks.bend_chi2, BEND_CHI2_BINS),
        "d0": _signed(np.zeros(n), D0_BITS, D0_LSB),
        "chi2_rz": _bin(tracks.chi2_rz, CHI2_RZ_BINS),
        "z0": _signed(tracks.z0, Z0_BITS, Z0_LSB),
        "tanl": _signed(np.sinh(np.asarray(tracks.eta, np.float64)), TANL_BITS, TANL_LSB),
        "chi2_rphi": _bin(tracks.chi2_rphi, CHI2_RPHI_BINS),
        "phi": _signed(local, PHI_BITS, PHI_LSB),
        "rinv": _signed(rinv, RINV_BITS, RINV_LSB),
        "valid": np.ones(n, np.uint64),
    }


def pack(word: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(high, low)``: bits 64–95 as uint32 and bits 0–63 as uint64 of each 96-bit word."""
    lo = np.zeros(len(word["valid"]), np.uint64)
    hi = np.zeros(len(word["valid"]), np.uint64)
    pos = 0
    for name, width in LAYOUT:
        v = word[name].astype(np.uint64) & np.uint64((1 << width) - 1)
        if pos >= 64:
            hi |= v << np.uint64(pos - 64)
        else:  # no field straddles bit 64 (tan λ ends at bit 63)
            lo |= v << np.uint64(pos)
        pos += width
    return hi.astype(np.uint32), lo


def unpack(hi: np.ndarray, lo: np.ndarray) -> dict[str, np.ndarray]:
    """The fields of packed words (inverse of :func:`pack`)."""
    out, pos = {}, 0
    for name, width in LAYOUT:
        src, shift = (hi.astype(np.uint64), pos - 64) if pos >= 64 else (lo, pos)
        out[name] = (src >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        pos += width
    return out


def decode(word: dict[str, np.ndarray], sector: np.ndarray) -> dict[str, np.ndarray]:
    """Physical values of word fields (bin centres): q/R (cm⁻¹), global φ (rad, with the
    track's ``sector``), tan λ, z0 and d0 (cm), χ² lower bin edges."""
    out = {k: _unsigned_to_value(word[k], b, _SIGNED[k])
           for k, b in (("rinv", RINV_BITS), ("phi", PHI_BITS), ("tanl", TANL_BITS),
                        ("z0", Z0_BITS), ("d0", D0_BITS))}
    out["phi"] = np.angle(np.exp(1j * (out["phi"] + sector * SECTOR_WIDTH)))
    out["chi2_rphi"] = CHI2_RPHI_BINS[word["chi2_rphi"].astype(np.int64)]
    out["chi2_rz"] = CHI2_RZ_BINS[word["chi2_rz"].astype(np.int64)]
    out["bend_chi2"] = BEND_CHI2_BINS[word["bend_chi2"].astype(np.int64)]
    return out
