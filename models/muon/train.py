"""``l1t train muon-pt``: the net trained on a muon-gun production, calibrated, saved."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.datasets.muon.scaling import ThresholdScale

from .data import gun_candidates, scale_points, split
from .nn import MuonPtModel, NetConfig, input_values, pt_of, target, train

#: shares of the gun candidates: training, validation (loss), calibration (threshold scale and
#: the figures below)
FRACTIONS = (0.7, 0.1, 0.2)
#: true-pT bins (GeV) of the resolution reported after training
RESOLUTION_BINS = ((3, 5), (5, 10), (10, 20), (20, 40), (40, 100), (100, 1000))


@dataclass(frozen=True)
class ResolutionBin:
    """Relative resolution of 1/pT in a true-pT bin: the core (half the 16–84% spread of
    pT_true/pT_assigned − 1) and the tail (fraction assigned more than twice the true pT)."""

    lo_gev: float
    hi_gev: float
    muons: int
    core: float
    tail: float


def resolution(true_pt: np.ndarray, assigned_pt: np.ndarray,
               bins=RESOLUTION_BINS) -> list[ResolutionBin]:
    out = []
    for lo, hi in bins:
        sel = (true_pt >= lo) & (true_pt < hi)
        if sel.sum() < 10:
            continue
        r = true_pt[sel] / assigned_pt[sel] - 1.0
        q16, q84 = np.quantile(r, (0.16, 0.84))
        out.append(ResolutionBin(lo, hi, int(sel.sum()), float((q84 - q16) / 2),
                                 float(np.mean(assigned_pt[sel] > 2 * true_pt[sel]))))
    return out


@dataclass(frozen=True)
class MuonPtTraining:
    """What ``l1t train muon-pt`` did."""

    out_dir: Path
    candidates: int
    sparsity: float
    bits: int
    resolution: list[ResolutionBin]
    seconds: float

    def text(self) -> str:
        lines = [f"muon pT net: {self.candidates} gun candidates, {self.bits}-bit weights, "
                 f"sparsity {self.sparsity:.0%}, {self.seconds:.0f} s",
                 f"{'true pT (GeV)':>14s} {'muons':>7s} {'core':>7s} {'tail':>7s}"]
        for b in self.resolution:
            lines.append(f"{f'{b.lo_gev:g}-{b.hi_gev:g}':>14s} {b.muons:7d} {b.core:7.1%} "
                         f"{b.tail:7.2%}")
        lines.append(f"-> {self.out_dir}")
        return "\n".join(lines)


def train_muon_pt(data: str | Path, out_dir: str | Path, cfg: NetConfig) -> MuonPtTraining:
    """Train on the muon-gun production ``data`` (see :mod:`l1t.models.muon.nn`); writes
    ``out_dir/model.json`` and ``model.h5``."""
    from l1t.datasets.inputs import expand_inputs

    t0 = time.perf_counter()
    cfg.check()
    feats, pt, charge = gun_candidates(expand_inputs([data]))
    if len(pt) < 100:
        raise L1TInputError(data, f"{len(pt)} L1 muons; the net needs at least 100 gun muons",
                            "L1Mu")
    if not np.any(feats["tfMode"]):
        raise L1TInputError(data, "the L1 muons carry no track-finder features (tfMode 0)",
                            "L1Mu.tfMode")
    x, y = input_values(feats), target(pt, charge)
    tr, va, cal = split(len(pt), cfg.seed, FRACTIONS)
    net, history = train(x[tr], y[tr], x[va], y[va], cfg)
    model = MuonPtModel(net, cfg)
    raw_pt, _ = pt_of(model.outputs({k: v[cal] for k, v in feats.items()}))
    points = scale_points(pt[cal])
    model.scale = ThresholdScale.fit(pt[cal], raw_pt, points) if points else None
    assigned, _ = model.assign(model.outputs({k: v[cal] for k, v in feats.items()}))
    res = resolution(pt[cal], assigned)
    seconds = round(time.perf_counter() - t0, 1)
    sparsity = float(history.get("sparsity", 0.0))
    model.save(out_dir, extra={"training": {
        "data": str(data), "candidates": int(len(pt)), "train": int(len(tr)),
        "validation": int(len(va)), "calibration": int(len(cal)), "seed": cfg.seed,
        "history": history, "sparsity": sparsity, "seconds": seconds,
        "resolution": [vars(b) for b in res]}})
    return MuonPtTraining(Path(out_dir), int(len(pt)), sparsity, cfg.bits, res, seconds)
