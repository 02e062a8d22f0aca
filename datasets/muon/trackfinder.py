"""The track finder: muon candidates from station hits, with hardware-like integer features.

As the CMS endcap track finder (EMTF) does, per crossing and region (barrel, endcap):

1. **Roads.** Every hit is an anchor; in each later station the hit closest in φ within the road
   (``PHI_ROAD`` rad for the station pair, ``THETA_ROAD`` in θ) joins it. A candidate has hits in
   ≥ 2 stations; its *mode* is the 4-bit hit pattern (station 1 = bit 3 … station 4 = bit 0, the
   EMTF convention: 15 = all four).
2. **Ghost cancellation.** Candidates sharing a hit: the one with more stations (then the lower
   anchor station, then the smaller summed |Δφ|) survives; all comparisons in parallel, as in
   hardware.
3. **Features** (:data:`FEATURES`: name → bits, signed, LSB): φ (13 bits over 2π) and θ (7 bits over
   0…π/2, folded) of the reference hit (station 2, else 1, 3, 4), the side, Δφ (11 bits) and Δθ
   (6 bits) between the six station pairs, the bend per station (6 bits), mode, ring (0: barrel
   with a station-1 hit, 1: ME1/1 (|η| > 1.6), 2: ME1/2–3, 3: no station-1 hit) and quality;
   zero where a station is missing (the mode says which). Values beyond a word's range saturate,
   as in firmware.
4. **pT assignment** by default from the bend: pT = K(pair, |η|) / |Δφ| of the first available
   station pair (12, 13, 23, 14, 24, 34), K calibrated on the transport model itself (muons of
   50 GeV, no scattering, mean energy loss, at points 0.05 apart in |η|, interpolated within the
   barrel and within the endcap): the classic assignment before
   lookup tables and nets; charge from the sign of that Δφ; φ at the vertex and η from the
   reference hit.

Quality (``hwQual``, the convention of the menus: single-muon seeds ≥ 12, double ≥ 8, triple ≥ 4):
15 for four stations, 14/13/12 for three (station 1 with 2 and 3 / 2 and 4 / otherwise), 8 for
two including station 1, 4 for other pairs.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import geometry as g
from .hits import Hits

PAIRS = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
PAIR_NAMES = tuple(f"{a + 1}{b + 1}" for a, b in PAIRS)
#: road half-widths in φ (rad) per station pair, wide enough for 3 GeV muons (estimate)
PHI_ROAD = {(0, 1): 0.25, (0, 2): 0.35, (1, 2): 0.2, (0, 3): 0.45, (1, 3): 0.3, (2, 3): 0.2}
THETA_ROAD = 0.06
_ROAD = np.zeros((g.N_STATIONS, g.N_STATIONS))
for (_a, _b), _w in PHI_ROAD.items():
    _ROAD[_a, _b] = _w
PHI_LSB = 2 * np.pi / 8192
THETA_LSB = (np.pi / 2) / 128
DPHI_LSB = 0.00025
DTHETA_LSB = 0.002
BEND_LSB = 0.008

#: integer features kept with each candidate: name → (bits, signed, LSB in rad or None)
FEATURES: dict[str, tuple[int, bool, float | None]] = {
    "tfPhi": (13, False, PHI_LSB), "tfTheta": (7, False, THETA_LSB), "tfSide": (1, False, None),
    **{f"tfDPhi{p}": (11, True, DPHI_LSB) for p in PAIR_NAMES},
    **{f"tfDTheta{p}": (6, True, DTHETA_LSB) for p in PAIR_NAMES},
    **{f"tfBend{s + 1}": (6, True, BEND_LSB) for s in range(g.N_STATIONS)},
    "tfMode": (4, False, None), "tfRing": (2, False, None), "tfQual": (4, False, None),
}
_REF_ORDER = (1, 0, 2, 3)


@dataclass(frozen=True)
class Candidates:
    """Track-finder candidates (flat, one row each): ``crossing``, ``features`` (name → int32
    array, :data:`FEATURES`), and the default assignment ``pt`` (GeV), ``eta``, ``phi`` (rad),
    ``charge``, ``quality``; ``muon``: the index of the muon behind the reference hit (−1 for
    background), for truth matching."""

    crossing: np.ndarray
    features: dict[str, np.ndarray]
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    charge: np.ndarray
    quality: np.ndarray
    muon: np.ndarray

    def __len__(self) -> int:
        return len(self.crossing)


def word(values: np.ndarray, bits: int, signed: bool, lsb: float | None) -> np.ndarray:
    """``values`` as integer words of ``bits`` (two's-complement range when ``signed``), in units
    of ``lsb`` (floor), saturated."""
    codes = np.floor(values / lsb) if lsb else np.asarray(values, np.float64)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return np.clip(codes, lo, hi).astype(np.int32)


def _wrap(a):
    return np.mod(a + np.pi, 2 * np.pi) - np.pi


def _pairs_within(crossing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ordered index pairs (i, j), i ≠ j, of rows sharing a crossing (rows sorted by it)."""
    starts = np.flatnonzero(np.r_[True, crossing[1:] != crossing[:-1]])
    sizes = np.diff(np.r_[starts, len(crossing)])
    per_row = np.repeat(sizes, sizes)
    i = np.repeat(np.arange(len(crossing)), per_row)
    first = np.repeat(np.repeat(starts, sizes), per_row)
    j = first + (np.arange(len(i)) - np.repeat(np.cumsum(per_row) - per_row, per_row))
    keep = i != j
    return i[keep], j[keep]


def find(hits: Hits) -> Candidates:
    """Candidates of ``hits`` (any order)."""
    h = hits.sorted()
    n_st = g.N_STATIONS
    i, j = _pairs_within(h.crossing)
    dphi = _wrap(h.phi[j] - h.phi[i])
    dtheta = h.theta[j] - h.theta[i]
    ok = (h.station[j] > h.station[i]) & (h.endcap[i] == h.endcap[j])
    ok &= (np.abs(dphi) < _ROAD[h.station[i], h.station[j]]) & (np.abs(dtheta) < THETA_ROAD)
    i, j, dphi = i[ok], j[ok], dphi[ok]
    # the closest hit in φ per (anchor, station)
    key = i * n_st + h.station[j]
    order = np.lexsort((np.abs(dphi), key))
    first = np.ones(len(order), bool)
    first[1:] = key[order][1:] != key[order][:-1]
    best = order[first]
    members = np.full((len(h), n_st), -1, np.int64)
    members[np.arange(len(h)), h.station] = np.arange(len(h))
    members[i[best], h.station[j[best]]] = j[best]
    spread = np.zeros(len(h))
    np.add.at(spread, i[best], np.abs(dphi[best]))
    n_hits = (members >= 0).sum(axis=1)
    cand = np.flatnonzero(n_hits >= 2)
    members, spread, n_hits = members[cand], spread[cand], n_hits[cand]
    anchor_station = h.station[cand]
    # ghost cancellation: a candidate lives if it is the best of every hit it uses
    rank = ((n_st - n_hits) * 10 + anchor_station) * 1e4 + np.minimum(spread, 9.99) * 1e3
    rank = np.argsort(np.argsort(rank, kind="stable"), kind="stable")
    used_c, used_s = np.nonzero(members >= 0)
    used_h = members[used_c, used_s]
    best_of_hit = np.full(len(h), np.iinfo(np.int64).max)
    np.minimum.at(best_of_hit, used_h, rank[used_c])
    dead = np.zeros(len(cand), bool)
    np.logical_or.at(dead, used_c, best_of_hit[used_h] < rank[used_c])
    members, cand = members[~dead], cand[~dead]
    return _features(h, members, h.crossing[cand])


def _features(h: Hits, members: np.ndarray, crossing: np.ndarray) -> Candidates:
    n = len(members)
    have = members >= 0
    m = np.where(have, members, 0)
    phi, theta, bend = h.phi[m], h.theta[m], h.bend[m]
    rows = np.arange(n)
    first_station = have.argmax(axis=1)          # every candidate has hits in >= 2 stations
    endcap = h.endcap[m[rows, first_station]]
    ref = np.full(n, -1)
    for s in reversed(_REF_ORDER):
        ref = np.where(have[:, s], s, ref)
    ref_phi, ref_theta = phi[rows, ref], theta[rows, ref]
    folded = np.minimum(ref_theta, np.pi - ref_theta)
    side = (ref_theta > np.pi / 2).astype(np.int32)        # z < 0 (theta measured from +z)
    f: dict[str, np.ndarray] = {
        "tfPhi": word(np.mod(ref_phi, 2 * np.pi), *FEATURES["tfPhi"][:2], PHI_LSB),
        "tfTheta": word(folded, *FEATURES["tfTheta"][:2], THETA_LSB), "tfSide": side}
    dphis = {}
    for (a, b), name in zip(PAIRS, PAIR_NAMES):
        both = have[:, a] & have[:, b]
        d = np.where(both, _wrap(phi[:, b] - phi[:, a]), 0.0)
        dt = np.where(both, theta[:, b] - theta[:, a], 0.0)
        dphis[(a, b)] = (both, d)
        f[f"tfDPhi{name}"] = word(d, *FEATURES[f"tfDPhi{name}"])
        f[f"tfDTheta{name}"] = word(dt, *FEATURES[f"tfDTheta{name}"])
    for s in range(g.N_STATIONS):
        f[f"tfBend{s + 1}"] = word(np.where(have[:, s], bend[:, s], 0.0),
                                   *FEATURES[f"tfBend{s + 1}"])
    mode = sum(have[:, s].astype(np.int32) << (3 - s) for s in range(g.N_STATIONS))
    quality = _quality(mode)
    eta_abs = np.minimum(-np.log(np.tan(np.maximum(folded, 1e-3) / 2)), g.ETA_MAX)
    ring = np.where(endcap, np.where(eta_abs > 1.6, 1, 2), 0) * (first_station == 0) \
        + np.where(first_station > 0, 3, 0)
    f["tfMode"], f["tfRing"], f["tfQual"] = mode.astype(np.int32), ring.astype(np.int32), quality
    pt, charge, phi_vtx = _assign(dphis, eta_abs, endcap, ref_phi, ref)
    eta = np.where(side == 1, -eta_abs, eta_abs)
    return Candidates(crossing, f, pt, eta, phi_vtx, charge, quality, h.muon[m[rows, ref]])


def _quality(mode: np.ndarray) -> np.ndarray:
    table = np.zeros(16, np.int32)
    for mo in range(16):
        st = [(mo >> (3 - s)) & 1 for s in range(4)]
        k = sum(st)
        if k == 4:
            table[mo] = 15
        elif k == 3:
            table[mo] = 14 if mo == 0b1110 else 13 if mo == 0b1101 else 12
        elif k == 2:
            table[mo] = 8 if st[0] else 4
    return table[mode]


#: calibration points in |η|: each region on its own, so nothing is interpolated across the
#: barrel–endcap boundary, where the bend changes fastest
_CAL_BARREL = np.linspace(0.0, g.ETA_BARREL - 1e-3, 21)
_CAL_ENDCAP = np.linspace(g.ETA_BARREL, g.ETA_MAX, 29)


@lru_cache(maxsize=1)
def calibration() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At the calibration points ``eta`` (|η|, barrel then endcap): ``K[pair, point]`` (rad·GeV:
    Δφ·pT of a positive muon) and ``C[station, point]`` (φ at the station minus φ at the vertex,
    times pT), from the transport model at 50 GeV without scattering and with the mean loss."""
    from .propagate import transport

    eta = np.r_[_CAL_BARREL, _CAL_ENDCAP]
    pt = 50.0
    tr = transport(np.full(len(eta), pt), eta, np.zeros(len(eta)), np.ones(len(eta)),
                   np.random.default_rng(0), scatter=False, fluctuate=False)
    k = np.stack([(tr.phi[:, b] - tr.phi[:, a]) * pt for a, b in PAIRS])
    return eta, k, (tr.phi * pt).T


def _at(eta_abs: np.ndarray, endcap: np.ndarray, table_row: np.ndarray,
        eta_points: np.ndarray) -> np.ndarray:
    """A calibration row interpolated linearly in |η| within the candidate's region (that of its
    hits, not of its measured η)."""
    nb = len(_CAL_BARREL)
    barrel = np.interp(eta_abs, eta_points[:nb], table_row[:nb])
    end = np.interp(eta_abs, eta_points[nb:], table_row[nb:])
    return np.where(endcap, end, barrel)


def _assign(dphis, eta_abs, endcap, ref_phi, ref):
    points, k, c = calibration()
    n = len(eta_abs)
    inv = np.full(n, np.nan)                      # charge / pT
    for p, pair in enumerate(PAIRS):
        both, d = dphis[pair]
        take = both & np.isnan(inv)
        inv = np.where(take, d / _at(eta_abs, endcap, k[p], points), inv)
    inv = np.nan_to_num(inv)
    charge = np.where(inv >= 0, 1, -1).astype(np.int32)
    pt = 1.0 / np.maximum(np.abs(inv), 1.0 / 1000.0)
    c_ref = np.choose(ref, [_at(eta_abs, endcap, c[s], points) for s in range(4)])
    return pt, charge, _wrap(ref_phi - c_ref * inv)
