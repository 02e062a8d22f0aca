"""The primary vertex of each crossing by FastHisto (CMSSW ``L1Trigger/VertexFinder``).

Tracks with χ²/dof below ``track_max_chi2`` and pT ≥ 2 GeV fill a histogram of z0 weighted by
their pT (saturated at ``vertex_max_track_pt``) over the track word's z0 range in
``vertex_bins`` bins; the ``vertex_window`` adjacent bins with the largest pT sum are the
vertex, at the pT-weighted mean z0 of their tracks, with that sum as ``sumPt``. A crossing
without tracks gets z0 = 0, sumPt = 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import DetectorConfig
from .tracks import L1Tracks


@dataclass
class Vertices:
    """One primary vertex per crossing: ``z0`` (cm) and the pT sum of its window (GeV)."""

    z0: np.ndarray       # (N,) float64
    sum_pt: np.ndarray   # (N,) float64


def usable(tracks: L1Tracks, cfg: DetectorConfig) -> np.ndarray:
    """Tracks that the vertex finder and PF take (quality cut on χ²/dof in r-φ)."""
    return (tracks.chi2_rphi < cfg.track_max_chi2) & (tracks.pt >= cfg.track_min_pt)


def fast_histo(tracks: L1Tracks, n_cross: int, cfg: DetectorConfig) -> Vertices:
    sel = usable(tracks, cfg)
    z0 = np.asarray(tracks.z0[sel], np.float64)
    pt = np.minimum(np.asarray(tracks.pt[sel], np.float64), cfg.vertex_max_track_pt)
    cross = tracks.crossing[sel]
    nb, w = cfg.vertex_bins, cfg.vertex_window
    width = 2 * cfg.vertex_z_range_cm / nb
    b = np.floor((z0 + cfg.vertex_z_range_cm) / width).astype(np.int64)
    inside = (b >= 0) & (b < nb)
    cross, b, z0, pt = cross[inside], b[inside], z0[inside], pt[inside]
    key = cross * nb + b
    hist = np.bincount(key, weights=pt, minlength=n_cross * nb).reshape(n_cross, nb)
    zsum = np.bincount(key, weights=pt * z0, minlength=n_cross * nb).reshape(n_cross, nb)
    c = np.zeros((n_cross, nb + 1))
    np.cumsum(hist, axis=1, out=c[:, 1:])
    window = c[:, w:] - c[:, :-w]                      # (N, nb - w + 1): sum of bins i..i+w-1
    first = np.argmax(window, axis=1)                  # lowest z wins a tie, as a sequential scan
    cz = np.zeros((n_cross, nb + 1))
    np.cumsum(zsum, axis=1, out=cz[:, 1:])
    rows = np.arange(n_cross)
    sum_pt = window[rows, first]
    z_sum = cz[rows, first + w] - cz[rows, first]
    z = np.divide(z_sum, sum_pt, out=np.zeros(n_cross), where=sum_pt > 0)
    return Vertices(z, sum_pt)


def efficiency(pv_z: np.ndarray, gen_z: np.ndarray, half_width: float) -> tuple[float, float]:
    """Fraction of crossings whose vertex lies within ``half_width`` (cm) of the hard
    interaction, and its binomial error."""
    found = np.abs(np.asarray(pv_z) - np.asarray(gen_z)) < half_width
    n = len(found)
    if n == 0:
        return float("nan"), float("nan")
    e = float(found.mean())
    return e, float(np.sqrt(e * (1 - e) / n))
