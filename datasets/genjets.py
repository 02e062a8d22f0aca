"""Generator-level jets: anti-kt (R = 0.4 by default) with FastJet on stable visible particles."""
from __future__ import annotations

import contextlib
import os
import sys

import awkward as ak
import numpy as np

_INVISIBLE = (12, 14, 16, 1000022)


@contextlib.contextmanager
def _quiet_stdout():
    """FastJet's C++ library prints a banner to stdout on first use: keep the CLI output clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def gen_jets(particles: ak.Array, radius: float = 0.4, min_pt: float = 10.0) -> ak.Array:
    """Anti-kt jets of ``particles`` (``var * {pt, eta, phi, mass, pdgId}``), neutrinos excluded.

    Returns ``var * {pt, eta, phi, mass}`` (GeV, rad), pT-ordered, jets with pT ≥ ``min_pt``.
    """
    import fastjet

    pid = np.abs(ak.to_numpy(ak.flatten(particles.pdgId)))
    visible = ak.unflatten(~np.isin(pid, _INVISIBLE), ak.num(particles))
    vis = particles[visible]
    pt, eta, phi, m = (ak.values_astype(vis[f], np.float64) for f in ("pt", "eta", "phi", "mass"))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px * px + py * py + pz * pz + m * m)
    vecs = ak.zip({"px": px, "py": py, "pz": pz, "E": e})
    with _quiet_stdout():
        cs = fastjet.ClusterSequence(vecs, fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
        jets = cs.inclusive_jets(min_pt)
    jpt = np.hypot(jets.px, jets.py)
    p = np.sqrt(jpt**2 + jets.pz**2)
    out = ak.zip({
        "pt": jpt, "eta": np.arcsinh(jets.pz / jpt), "phi": np.arctan2(jets.py, jets.px),
        "mass": np.sqrt(np.maximum(jets.E**2 - p**2, 0.0)),
    })
    out = out[ak.argsort(out.pt, ascending=False)]
    return ak.values_astype(out, np.float32)
