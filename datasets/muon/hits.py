"""Station hits: the transported muons measured with resolution and inefficiency, plus background
hits that grow with pileup.

Each hit is a trigger primitive of one station: position φ and θ (rad) and the local bend ψ
(rad, the segment's direction relative to the radial direction). Figures (estimates, chosen to
resemble CMS trigger primitives; no public per-primitive figures were at hand):

- resolution: ``POSITION_RES_M`` = 2 mm across the bending plane (σφ = 2 mm / r), θ 3 mrad, bend
  5 mrad;
- station inefficiency ``STATION_INEFFICIENCY`` = 5% per station and muon;
- background per station and crossing, Poisson with mean ``BACKGROUND_PER_MU`` per pp interaction
  of the crossing and region (neutron-induced and other uncorrelated hits: 0.5 per station at
  200 interactions), uniform in φ and in
  η over the region, with a bend uniform in ±``BACKGROUND_BEND``;
- punch-through: a charged hadron of momentum p leaks hits into the first station with probability
  ``PUNCH_THROUGH`` · (1 − exp(−p / 20 GeV)), into the second with a tenth of it.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from . import geometry as g
from .propagate import Transport

POSITION_RES_M = 0.002
THETA_RES = 0.003
BEND_RES = 0.005
STATION_INEFFICIENCY = 0.05
BACKGROUND_PER_MU = 0.0025
BACKGROUND_BEND = 0.1
PUNCH_THROUGH = 0.002


@dataclass(frozen=True)
class Hits:
    """Flat hits: ``crossing`` (int), ``station`` 0..3, ``endcap`` (bool), ``phi``, ``theta``,
    ``bend`` (rad) and ``muon`` (the index of the muon that made it; −1 for background)."""

    crossing: np.ndarray
    station: np.ndarray
    endcap: np.ndarray
    phi: np.ndarray
    theta: np.ndarray
    bend: np.ndarray
    muon: np.ndarray

    def __len__(self) -> int:
        return len(self.crossing)

    @staticmethod
    def concatenate(parts: list["Hits"]) -> "Hits":
        return Hits(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Hits)))

    def sorted(self) -> "Hits":
        order = np.lexsort((self.station, self.crossing))
        return Hits(*(getattr(self, f.name)[order] for f in fields(Hits)))


def _radius(endcap: np.ndarray, station: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return np.where(endcap, g.ENDCAP_Z[station] * np.abs(np.tan(theta)), g.BARREL_R[station])


def measure(t: Transport, crossing: np.ndarray, rng: np.random.Generator) -> Hits:
    """Hits of transported muons (``crossing`` per muon): resolution and inefficiency."""
    n = len(crossing)
    u = rng.random((n, g.N_STATIONS))
    gauss = rng.standard_normal((3, n, g.N_STATIONS))
    seen = t.reached & (u >= STATION_INEFFICIENCY)
    i, s = np.nonzero(seen)
    endcap = t.endcap[i]
    theta = t.theta[i, s] + THETA_RES * gauss[1, i, s]
    r = _radius(endcap, s, t.theta[i, s])
    phi = t.phi[i, s] + POSITION_RES_M / np.maximum(r, 0.5) * gauss[0, i, s]
    return Hits(crossing[i].astype(np.int64), s.astype(np.int64), endcap,
                np.mod(phi + np.pi, 2 * np.pi) - np.pi, theta,
                t.bend[i, s] + BEND_RES * gauss[2, i, s], i.astype(np.int64))


def background(n_crossings: int, interactions: np.ndarray, rng: np.random.Generator) -> Hits:
    """Uncorrelated hits of ``n_crossings`` crossings of ``interactions`` pp interactions each
    (or the mean pileup, for a plain estimate)."""
    mean = np.repeat(np.asarray(interactions, np.float64), 2 * g.N_STATIONS) * BACKGROUND_PER_MU
    counts = rng.poisson(mean)
    total = int(counts.sum())
    slot = np.repeat(np.arange(len(counts)), counts)
    crossing, rest = np.divmod(slot, 2 * g.N_STATIONS)
    endcap, station = np.divmod(rest, g.N_STATIONS)
    endcap = endcap.astype(bool)
    u = rng.random((4, total))
    eta_lo = np.where(endcap, g.ETA_BARREL, 0.0)
    eta_hi = np.where(endcap, g.ETA_MAX, g.ETA_BARREL)
    eta = (eta_lo + (eta_hi - eta_lo) * u[0]) * np.where(u[1] < 0.5, -1.0, 1.0)
    theta = np.arctan2(1.0, np.sinh(eta))
    return Hits(crossing.astype(np.int64), station.astype(np.int64), endcap,
                np.pi * (2 * u[2] - 1), theta, BACKGROUND_BEND * (2 * u[3] - 1),
                np.full(total, -1, np.int64))


def punch_through(p: np.ndarray, eta: np.ndarray, phi: np.ndarray, crossing: np.ndarray,
                  rng: np.random.Generator) -> Hits:
    """Hits of charged hadrons leaking through the calorimeters (``p`` GeV, direction η, φ at the
    vertex; only |η| within the muon system counts)."""
    prob = PUNCH_THROUGH * -np.expm1(-np.asarray(p, np.float64) / 20.0)
    u = rng.random((2, len(p)))
    inside = np.abs(eta) < g.ETA_MAX
    first = inside & (u[0] < prob)
    second = first & (u[1] < 0.1)
    parts = []
    for station, sel in ((0, first), (1, second)):
        e = np.asarray(eta)[sel]
        parts.append(Hits(crossing[sel].astype(np.int64), np.full(int(sel.sum()), station),
                          g.is_endcap(e), np.asarray(phi)[sel], np.arctan2(1.0, np.sinh(e)),
                          np.zeros(int(sel.sum())), np.full(int(sel.sum()), -1, np.int64)))
    return Hits.concatenate(parts)
