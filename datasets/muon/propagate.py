"""Transport of muons from the interaction point through the field and the iron to the stations.

Vectorised over muons, stepping in the transverse path length L (a helix in an axial field keeps
dz/dL = cot θ, so z follows L; scattering changes θ too). Per step of ``dL``:

- the direction in the transverse plane turns by −q · 0.3 · B_z · dL / pT (pT in GeV, B in T,
  lengths in m): the 3.8 T solenoid bends one way, the −1.8 T return field in the iron the other,
  which is why the bend angle flips sign between the inner and outer stations;
- in material (:func:`~l1t.datasets.muon.geometry.iron_density`) the muon scatters, one Highland
  angle in each projection (:func:`~l1t.datasets.muon.material.highland_theta0`; in the
  transverse plane it counts 1/sin θ times), and loses energy with fluctuations; when its energy
  falls below the muon mass it stops;
- crossing a station's surface (r = R_i in the barrel, |z| = Z_i in the endcap) records the hit
  position φ, θ, the local bend ψ (direction minus position angle, rad) and the momentum there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import geometry as g
from .material import MUON_MASS_GEV, energy_loss, highland_theta0

N_STEPS = 600
_BARREL_END_M = 7.6        # transverse path after the outermost barrel station (curlers too)


@dataclass(frozen=True)
class Transport:
    """Per muon (rows) and station (columns, 0..3): whether it reached the station, the hit's
    φ and θ (rad), the local bend ψ (rad), and the momentum there (GeV); ``endcap`` per muon."""

    reached: np.ndarray
    phi: np.ndarray
    theta: np.ndarray
    bend: np.ndarray
    p: np.ndarray
    endcap: np.ndarray


def _wrap(a: np.ndarray) -> np.ndarray:
    return np.mod(a + np.pi, 2 * np.pi) - np.pi


def transport(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, charge: np.ndarray,
              rng: np.random.Generator, scatter: bool = True, lose_energy: bool = True,
              fluctuate: bool = True) -> Transport:
    """Carry muons (``pt`` GeV, ``eta``, ``phi`` rad, ``charge`` ±1, shape (N,)) from the origin
    to the four stations of their region. ``scatter`` / ``lose_energy`` / ``fluctuate`` switch
    off multiple scattering, energy loss, or only its fluctuations (for tests and calibration)."""
    pt = np.asarray(pt, np.float64)
    eta = np.asarray(eta, np.float64)
    n = len(pt)
    endcap = g.is_endcap(eta)
    sinh = np.sinh(eta)
    length = np.where(endcap, (g.ENDCAP_Z[-1] + 0.05) / np.maximum(np.abs(sinh), 1e-6),
                      _BARREL_END_M)
    dl = length / N_STEPS
    x = np.zeros(n)
    y = np.zeros(n)
    z = np.zeros(n)
    alpha = np.asarray(phi, np.float64).copy()
    polar = 2.0 * np.arctan(np.exp(-eta))          # direction's polar angle
    e = np.hypot(pt * np.cosh(eta), MUON_MASS_GEV)
    alive = np.ones(n, bool)
    q = np.asarray(charge, np.float64)
    shape = (n, g.N_STATIONS)
    reached = np.zeros(shape, bool)
    out = {k: np.zeros(shape) for k in ("phi", "theta", "bend", "p")}
    surf = np.where(endcap[:, None], g.ENDCAP_Z[None, :], g.BARREL_R[None, :])
    r1 = np.zeros(n)                                   # radius after the step (before: r0)
    for _ in range(N_STEPS):
        cot = 1.0 / np.tan(polar)
        r0, z0 = r1, z
        xm, ym = x + 0.5 * dl * np.cos(alpha), y + 0.5 * dl * np.sin(alpha)
        rm, zm = np.hypot(xm, ym), z + 0.5 * dl * cot
        stretch = np.sqrt(1.0 + cot * cot)           # 3-D path per transverse length = 1/sin(theta)
        x_iron = g.iron_density(rm, zm) * dl * stretch
        p = np.sqrt(np.maximum(e * e - MUON_MASS_GEV ** 2, 1e-12))
        pt_now = p / stretch
        alpha = alpha - q * 0.3 * g.field_t(rm, zm) * dl / pt_now
        g1, g2 = rng.standard_normal((2, n))
        if scatter:
            theta0 = highland_theta0(p, x_iron)
            alpha = alpha + theta0 * g1 * stretch
            polar = np.clip(polar + theta0 * g2, 1e-3, np.pi - 1e-3)
        loss = energy_loss(e, x_iron, rng, fluctuate) if lose_energy else np.zeros(n)
        x = np.where(alive, x + dl * np.cos(alpha), x)
        y = np.where(alive, y + dl * np.sin(alpha), y)
        z = np.where(alive, z + dl * cot, z)
        e = np.where(alive, e - loss, e)
        r1 = np.hypot(x, y)
        depth0 = np.where(endcap, np.abs(z0), r0)
        depth1 = np.where(endcap, np.abs(z), r1)
        cross = alive[:, None] & (depth0[:, None] < surf) & (depth1[:, None] >= surf) & ~reached
        if cross.any():
            i, s = np.nonzero(cross)
            pos = np.arctan2(y[i], x[i])
            out["phi"][i, s] = pos
            out["theta"][i, s] = np.arctan2(r1[i], z[i])
            out["bend"][i, s] = _wrap(alpha[i] - pos)
            out["p"][i, s] = np.sqrt(np.maximum(e[i] ** 2 - MUON_MASS_GEV ** 2, 0.0))
            reached[i, s] = True
        alive &= e > MUON_MASS_GEV
    return Transport(reached, out["phi"], out["theta"], out["bend"], out["p"], endcap)
