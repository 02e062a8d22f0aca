"""Threshold scaling: a pT assignment rescaled so that a trigger threshold T is 90% efficient
for muons of true pT T (the convention of the CMS L1 muon seeds: a "22 GeV" seed reaches 90%
efficiency at 22 GeV).

For each calibration point T the factor is f(T) = T / q₁₀(T), q₁₀ the 10% quantile of the
assigned pT of gun muons whose true pT lies within ±``WINDOW`` of T: scaled by f(T), nine in ten
of them pass T. Between points f is interpolated linearly in the assigned pT, constant outside;
the scaled assignment is pT · f(pT).

Every assignment gets its own scale, fitted on gun muons: the lookup table's travels in its file
(:mod:`l1t.datasets.muon.lut`), the net's in its ``model.json``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l1t.core.errors import L1TInputError

WINDOW = 0.05            # relative half-width of the true-pT window around each point
MIN_MUONS = 50           # muons a calibration point needs
#: calibration points of a shipped assignment (GeV): the single- and multi-muon seed thresholds
#: of the menus lie between them
POINTS_GEV = (3.0, 5.0, 7.0, 10.0, 12.0, 15.0, 18.0, 20.0, 22.0, 25.0, 30.0, 40.0, 50.0, 70.0,
              100.0)


@dataclass(frozen=True)
class ThresholdScale:
    """Calibration points ``thresholds_gev`` and their factors ``factors``."""

    thresholds_gev: tuple[float, ...]
    factors: tuple[float, ...]

    @classmethod
    def fit(cls, true_pt: np.ndarray, assigned_pt: np.ndarray,
            thresholds_gev: tuple[float, ...]) -> "ThresholdScale":
        true_pt, assigned_pt = np.asarray(true_pt, float), np.asarray(assigned_pt, float)
        factors = []
        for t in thresholds_gev:
            near = np.abs(true_pt - t) <= WINDOW * t
            if near.sum() < MIN_MUONS:
                raise L1TInputError("gun sample", f"{int(near.sum())} muons within ±{WINDOW:.0%} "
                                    f"of {t:g} GeV; the 90% point needs {MIN_MUONS}",
                                    "thresholds")
            factors.append(float(t / np.quantile(assigned_pt[near], 0.10)))
        return cls(tuple(float(t) for t in thresholds_gev), tuple(factors))

    def apply(self, assigned_pt: np.ndarray) -> np.ndarray:
        """The scaled assignment pT · f(pT) (GeV)."""
        pt = np.asarray(assigned_pt, float)
        order = np.argsort(self.thresholds_gev)
        t = np.asarray(self.thresholds_gev)[order]
        f = np.asarray(self.factors)[order]
        return pt * np.interp(pt, t / f, f)

    def to_dict(self) -> dict:
        return {"thresholds_gev": list(self.thresholds_gev), "factors": list(self.factors)}

    @classmethod
    def from_dict(cls, d: dict, source: str = "scale") -> "ThresholdScale":
        try:
            t = tuple(float(v) for v in d["thresholds_gev"])
            f = tuple(float(v) for v in d["factors"])
        except (KeyError, TypeError, ValueError) as err:
            raise L1TInputError(source, f"malformed threshold scale ({err})",
                                "thresholds_gev") from None
        if len(t) != len(f) or not t or not all(np.isfinite(t + f)) or min(f) <= 0:
            raise L1TInputError(source, "a threshold scale needs as many positive finite factors "
                                "as thresholds", "factors")
        return cls(t, f)
