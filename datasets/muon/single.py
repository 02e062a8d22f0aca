"""Single muons straight through the muon system, without event files: a quick gun for tests,
benchmarks and studies (a ``muon_gun`` production adds the files, the detector's other
subsystems and pileup)."""
from __future__ import annotations

import numpy as np

from . import hits, trackfinder
from .propagate import transport


def single_muons(n: int, seed: int, eta_max: float = 2.4, inv_pt: tuple[float, float] = (1e-3, 0.5)
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """``n`` muons flat in 1/pT over ``inv_pt`` (GeV⁻¹: 2 GeV to 1 TeV), |η| < ``eta_max``, φ and
    both charges, transported, measured and found. Returns, per candidate made by a gun muon:
    its track-finder words, the muon's true pT (GeV) and charge, and the track finder's bend pT
    (GeV)."""
    rng = np.random.default_rng(seed)
    pt = 1.0 / rng.uniform(*inv_pt, n)
    q = rng.choice([-1, 1], n)
    tr = transport(pt, rng.uniform(-eta_max, eta_max, n), rng.uniform(-np.pi, np.pi, n), q, rng)
    c = trackfinder.find(hits.measure(tr, np.arange(n), rng))
    own = c.muon >= 0
    return ({k: v[own] for k, v in c.features.items()}, pt[c.muon[own]], q[c.muon[own]],
            c.pt[own])
