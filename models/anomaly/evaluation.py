"""Anomaly-detection figures of merit: ROC, AUC and signal efficiency at a background FPR."""
from __future__ import annotations

import numpy as np

FPRS = (1e-5, 1e-4, 1e-3, 1e-2)


def threshold_at_fpr(background: np.ndarray, fpr: float) -> float:
    """Smallest threshold t with fraction(background > t) ≤ fpr (a crossing fires if score > t).

    With N background events the achievable FPRs are multiples of 1/N: at fpr < 1/N the threshold
    is the largest background score.
    """
    b = np.sort(np.asarray(background, np.float64))
    allowed = int(np.floor(fpr * len(b)))
    return float(b[len(b) - 1 - allowed]) if len(b) else np.inf


def efficiency_at_fpr(background: np.ndarray, signal: np.ndarray, fpr: float) -> dict:
    t = threshold_at_fpr(background, fpr)
    s = np.asarray(signal)
    eff = float((s > t).mean()) if len(s) else float("nan")
    n_pass = int((np.asarray(background) > t).sum())
    return {"fpr": fpr, "threshold": t, "efficiency": eff,
            "efficiency_err": float(np.sqrt(max(eff * (1 - eff), 0) / max(len(s), 1))),
            "background_passing": n_pass, "background_events": int(len(background)),
            "resolved": bool(fpr * len(background) >= 1)}


def roc(background: np.ndarray, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """False- and true-positive rates over all thresholds, and the AUC.

    Points are taken only where the score changes, so tied scores (a quantized encoder gives
    many) count one half in the AUC instead of ranking background above signal.
    """
    b, s = np.asarray(background, np.float64), np.asarray(signal, np.float64)
    scores = np.concatenate([b, s])
    labels = np.concatenate([np.zeros(len(b)), np.ones(len(s))])
    order = np.argsort(-scores, kind="stable")
    labels = labels[order]
    last = np.r_[np.diff(scores[order]) != 0, True]
    tpr = np.r_[0.0, np.cumsum(labels)[last] / max(len(s), 1)]
    fpr = np.r_[0.0, np.cumsum(1 - labels)[last] / max(len(b), 1)]
    return fpr, tpr, float(np.trapz(tpr, fpr))


ROC_POINTS = 60   #: points of the stored ROC curve (log-spaced in the background FPR)


def roc_points(fpr: np.ndarray, tpr: np.ndarray, n: int = ROC_POINTS) -> dict[str, list[float]]:
    """The ROC curve at about ``n`` background FPRs log-spaced from 1/N_background to 1 (the
    curve's own points nearest below each; for plots, small enough to store)."""
    lo = fpr[fpr > 0].min() if np.any(fpr > 0) else 1.0
    grid = np.geomspace(lo, 1.0, n)
    idx = np.unique(np.clip(np.searchsorted(fpr, grid, side="right") - 1, 0, len(fpr) - 1))
    return {"fpr": fpr[idx].tolist(), "tpr": tpr[idx].tolist()}


def evaluate(background: dict[str, np.ndarray], signals: dict[str, dict[str, np.ndarray]],
             fprs=FPRS) -> list[dict]:
    """Rows (signal, score, AUC, efficiency at each FPR, the ROC curve at about
    :data:`ROC_POINTS` points) from score dicts ``background[score]`` and
    ``signals[name][score]``."""
    rows = []
    for name, sig in signals.items():
        for score, b in background.items():
            fpr, tpr, auc = roc(b, sig[score])
            row = {"signal": name, "score": score, "auc": auc, "signal_events": int(len(sig[score])),
                   "roc": roc_points(fpr, tpr)}
            for f in fprs:
                row[f"eff_at_{f:g}"] = efficiency_at_fpr(b, sig[score], f)
            rows.append(row)
    return rows
