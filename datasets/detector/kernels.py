"""Compiled per-crossing kernels (numba) of the Phase-2 correlator: the few loops over pairs
within a crossing that numpy cannot express without materialising every pair.

Every kernel takes flat arrays sorted by crossing with ``(n_cross + 1,)`` offsets, and loops
over crossings and over the pairs inside one crossing only. Angles in rad, pT in GeV, z in cm.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _dr2(eta1, phi1, eta2, phi2):  # pragma: no cover (compiled)
    dphi = phi1 - phi2
    if dphi > np.pi:
        dphi -= 2 * np.pi
    elif dphi < -np.pi:
        dphi += 2 * np.pi
    deta = eta1 - eta2
    return deta * deta + dphi * dphi


@numba.njit(cache=True, nogil=True)
def alpha_sums(c_off, c_eta, c_phi, c_region, r_off, r_eta, r_phi, r_pt, r_dz, reg_dz,
               reg_dr2min, reg_ptmax, dr2max, same):  # pragma: no cover (compiled)
    """PUPPI's local sum Σ min(pT_j, ptMax)² / max(ΔR², ΔR²_min) over references j within
    ΔR² ≤ ``dr2max`` of each candidate and with |Δz_j| ≤ the ΔZ of the candidate's region
    (``reg_*``: per region). ``same``: the references are the candidates themselves (a
    candidate skips itself)."""
    out = np.zeros(c_eta.shape[0])
    for e in range(c_off.shape[0] - 1):
        for i in range(c_off[e], c_off[e + 1]):
            r = c_region[i]
            dzcut, dr2min, ptmax = reg_dz[r], reg_dr2min[r], reg_ptmax[r]
            s = 0.0
            for j in range(r_off[e], r_off[e + 1]):
                if same and j == i:
                    continue
                if abs(r_dz[j]) > dzcut:
                    continue
                dr2 = _dr2(c_eta[i], c_phi[i], r_eta[j], r_phi[j])
                if dr2 > dr2max:
                    continue
                p = min(r_pt[j], ptmax)
                s += p * p / max(dr2, dr2min)
            out[i] = s
    return out


@numba.njit(cache=True, nogil=True)
def linpuppi_weights(sums, pt, photon, region, alpha_slope, alpha_zero, alpha_crop, pt_slope,
                     pt_slope_ph, pt_zero, pt_zero_ph, prior, prior_ph,
                     pt_cut):  # pragma: no cover (compiled)
    """LinearizedPuppi weight of each neutral from its local sum (``reg``-indexed parameters):
    x = clip(αslope (ln sum − α0), ±crop) + ptslope (pT − pT0) − prior, w = 1 / (1 + e⁻ˣ);
    0 where w pT is below the region's ptCut."""
    out = np.zeros(pt.shape[0])
    for i in range(pt.shape[0]):
        r = region[i]
        if sums[i] > 0:
            xa = alpha_slope[r] * (np.log(sums[i]) - alpha_zero[r])
            xa = min(max(xa, -alpha_crop[r]), alpha_crop[r])
        else:
            xa = -alpha_crop[r]
        if photon[i]:
            x = xa + pt_slope_ph[r] * (pt[i] - pt_zero_ph[r]) - prior_ph[r]
        else:
            x = xa + pt_slope[r] * (pt[i] - pt_zero[r]) - prior[r]
        w = 1.0 / (1.0 + np.exp(-x))
        if w * pt[i] >= pt_cut[r]:
            out[i] = w
    return out


@numba.njit(cache=True, nogil=True)
def seeded_cone(off, pt, eta, phi, cone2, seed_min, max_jets):  # pragma: no cover (compiled)
    """Seeded-cone jets: in each crossing (candidates pT-descending), the highest unused
    candidate ≥ ``seed_min`` seeds a jet of every unused candidate within ΔR² < ``cone2``;
    at most ``max_jets`` per crossing. Returns (crossing, pT = Σ pT, η, φ pT-weighted around the
    seed, constituents) of the jets."""
    n_cross = off.shape[0] - 1
    used = np.zeros(pt.shape[0], np.bool_)
    j_cross = np.empty(n_cross * max_jets, np.int64)
    j_pt = np.empty(n_cross * max_jets)
    j_eta = np.empty(n_cross * max_jets)
    j_phi = np.empty(n_cross * max_jets)
    j_n = np.empty(n_cross * max_jets, np.int64)
    nj = 0
    for e in range(n_cross):
        start, stop = off[e], off[e + 1]
        made = 0
        for i in range(start, stop):
            if made == max_jets or pt[i] < seed_min:
                break
            if used[i]:
                continue
            s = 0.0
            se = 0.0
            sp = 0.0
            n = 0
            for k in range(i, stop):
                if used[k]:
                    continue
                if _dr2(eta[i], phi[i], eta[k], phi[k]) < cone2:
                    used[k] = True
                    dphi = phi[k] - phi[i]
                    if dphi > np.pi:
                        dphi -= 2 * np.pi
                    elif dphi < -np.pi:
                        dphi += 2 * np.pi
                    s += pt[k]
                    se += pt[k] * (eta[k] - eta[i])
                    sp += pt[k] * dphi
                    n += 1
            j_cross[nj] = e
            j_pt[nj] = s
            j_eta[nj] = eta[i] + se / s
            p = phi[i] + sp / s
            if p > np.pi:
                p -= 2 * np.pi
            elif p < -np.pi:
                p += 2 * np.pi
            j_phi[nj] = p
            j_n[nj] = n
            nj += 1
            made += 1
    return j_cross[:nj], j_pt[:nj], j_eta[:nj], j_phi[:nj], j_n[:nj]


@numba.njit(cache=True, nogil=True)
def best_match(o_off, o_eta, o_phi, o_pt, o_deta, o_dphi, t_off, t_eta, t_phi, t_pt, t_ok,
               pt_weight):  # pragma: no cover (compiled)
    """For each object, the index of the usable track (``t_ok``) within |Δη| < ``o_deta`` and
    |Δφ| < ``o_dphi`` minimising (Δη/o_deta)² + (Δφ/o_dphi)² + ``pt_weight`` · ln²(pT_t/pT_o);
    -1 where none."""
    out = np.full(o_eta.shape[0], -1, np.int64)
    for e in range(o_off.shape[0] - 1):
        for i in range(o_off[e], o_off[e + 1]):
            best = np.inf
            for j in range(t_off[e], t_off[e + 1]):
                if not t_ok[j]:
                    continue
                deta = abs(t_eta[j] - o_eta[i])
                if deta >= o_deta[i]:
                    continue
                dphi = abs(t_phi[j] - o_phi[i])
                if dphi > np.pi:
                    dphi = 2 * np.pi - dphi
                if dphi >= o_dphi[i]:
                    continue
                r = np.log(t_pt[j] / o_pt[i])
                score = (deta / o_deta[i]) ** 2 + (dphi / o_dphi[i]) ** 2 + pt_weight * r * r
                if score < best:
                    best = score
                    out[i] = j
    return out


@numba.njit(cache=True, nogil=True)
def track_isolation(o_off, o_eta, o_phi, o_z0, o_track, t_off, t_eta, t_phi, t_pt, t_z0, t_ok,
                    dz_max, dr2_min, dr2_max):  # pragma: no cover (compiled)
    """Σ pT of the usable tracks within ``dr2_min`` < ΔR² < ``dr2_max`` and |Δz0| < ``dz_max``
    of each object (its own track ``o_track`` excluded; -1: none)."""
    out = np.zeros(o_eta.shape[0])
    for e in range(o_off.shape[0] - 1):
        for i in range(o_off[e], o_off[e + 1]):
            s = 0.0
            for j in range(t_off[e], t_off[e + 1]):
                if not t_ok[j] or j == o_track[i] or abs(t_z0[j] - o_z0[i]) >= dz_max:
                    continue
                dr2 = _dr2(o_eta[i], o_phi[i], t_eta[j], t_phi[j])
                if dr2_min < dr2 < dr2_max:
                    s += t_pt[j]
            out[i] = s
    return out
