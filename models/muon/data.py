"""Gun muons for training and calibrating the muon pT assignments: the track-finder words of
the L1 muons of muon-gun productions with their generator truth."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.datasets.muon.scaling import MIN_MUONS, POINTS_GEV, WINDOW
from l1t.datasets.muon.trackfinder import FEATURES


def gun_candidates(paths: list[Path]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The track-finder features of every L1 muon in muon-gun events, with the pT (GeV) and
    charge of the event's gun muon (``GenPart``, one per event) as the truth."""
    import awkward as ak

    from l1t.datasets.formats import iter_events

    feats: dict[str, list] = {name: [] for name in FEATURES}
    truth, charge = [], []
    for chunk in iter_events(paths):
        gen = chunk.GenPart[abs(chunk.GenPart.pdgId) == 13]
        if ak.any(ak.num(gen) != 1):
            raise L1TInputError(paths[0], "muon-gun events hold exactly one generator muon",
                                "GenPart")
        mu = chunk.L1Mu
        for name in FEATURES:
            feats[name].append(ak.to_numpy(ak.flatten(mu[name])))
        n = ak.to_numpy(ak.num(mu))
        truth.append(np.repeat(ak.to_numpy(gen.pt[:, 0]), n))
        charge.append(np.repeat(ak.to_numpy(gen.charge[:, 0]), n))
    return ({k: np.concatenate(v) for k, v in feats.items()}, np.concatenate(truth),
            np.concatenate(charge).astype(np.int32))


def split(n: int, seed: int, fractions: tuple[float, ...]) -> list[np.ndarray]:
    """Indices ``0..n-1`` shuffled with ``seed`` and cut into parts of the given fractions."""
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.round(np.cumsum(fractions)[:-1] * n).astype(int)
    return np.split(order, cuts)


def scale_points(true_pt: np.ndarray) -> tuple[float, ...]:
    """The calibration points a gun sample has enough muons for (a small sample: fewer)."""
    return tuple(t for t in POINTS_GEV if np.sum(np.abs(true_pt - t) <= WINDOW * t) >= MIN_MUONS)
