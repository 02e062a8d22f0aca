"""Anomaly-detection working points: score thresholds at target rates, written as menu seeds.

The rate of "score ≥ t" on zero-bias crossings is ``n(score ≥ t) / N × n_bunches × 11.2456 kHz``.
For a target rate R the threshold is the lowest t whose rate is ≤ R; its uncertainty is the
range of thresholds whose count lies within ±√k of the k crossings allowed. Seeds are named
``L1_AXO_<WP>`` (``axo`` score) or ``L1_AD<score>_<WP>``, WPs VLoose … VTight from the highest
rate to the lowest, and appended to a menu so ``l1t rates`` treats them like any other seed.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from datasets.errors import L1TInputError
from datasets.formats import atomic_write, iter_events, read_metadata

from .evaluate import Evaluator, anomaly_scores
from .inputs import from_events
from .menu import DEFAULT_MENU, Menu, load_menu
from .rates import DEFAULT_BUNCHES, LHC_REVOLUTION_KHZ

WP_NAMES = {1: ["Nominal"], 2: ["Loose", "Tight"], 3: ["Loose", "Nominal", "Tight"],
            4: ["VLoose", "Loose", "Tight", "VTight"],
            5: ["VLoose", "Loose", "Nominal", "Tight", "VTight"]}


def zero_bias_scores(model_dir: str | Path, paths: list[Path], score: str = "axo",
                     step_size: int = 20_000) -> np.ndarray:
    """Scores of every zero-bias crossing (8 bytes per crossing are kept)."""
    out = []
    for path in paths:
        sample = read_metadata(path).get("sample")
        if sample not in (None, "minbias"):
            raise L1TInputError(path, f"working points are tuned on zero-bias crossings, this is "
                                f"{sample!r}", "sample")
        for chunk in iter_events([path], step_size):
            out.append(anomaly_scores(str(Path(model_dir).resolve()), chunk)[score])
    return np.concatenate(out) if out else np.zeros(0)


def working_points(scores: np.ndarray, targets_khz, bunches: int = DEFAULT_BUNCHES,
                   score: str = "axo") -> list[dict]:
    """Thresholds for each target rate (kHz), highest rate first."""
    targets = sorted(set(float(t) for t in targets_khz), reverse=True)
    if not 1 <= len(targets) <= 5:
        raise L1TInputError("target rates", "give 1 to 5 distinct target rates", "target_rates")
    names = WP_NAMES[len(targets)]
    n = len(scores)
    if n == 0:
        raise L1TInputError("inputs", "no zero-bias crossings")
    scale = bunches * LHC_REVOLUTION_KHZ
    desc = np.sort(np.asarray(scores, np.float64))[::-1]
    prefix = "L1_AXO_" if score == "axo" else f"L1_AD{score.upper()}_"
    out = []
    for name, target in zip(names, targets):
        allowed = int(math.floor(target / scale * n))   # crossings allowed above threshold

        def thr(k: int) -> float:
            k = min(max(k, 0), n - 1)
            return float(np.nextafter(desc[k], np.inf))  # count(score >= thr) == k (no ties)
        k = min(allowed, n - 1)
        t = thr(k)
        fired = int((scores >= t).sum())
        spread = int(math.ceil(math.sqrt(max(k, 1))))
        out.append({"seed": prefix + name, "working_point": name, "target_khz": target,
                    "threshold": t, "threshold_low": thr(k + spread),
                    "threshold_high": thr(k - spread), "rate_khz": fired / n * scale,
                    "rate_err_khz": math.sqrt(fired) / n * scale, "crossings_fired": fired,
                    "zero_bias_crossings": n, "low_statistics": fired < 10})
    return out


def write_menu(wps: list[dict], model_dir: str | Path, out: str | Path, score: str = "axo",
               base_menu: str | Path | None = None) -> Path:
    """The base menu's text plus one seed per working point, written atomically; the model path
    is stored relative to the new menu's directory."""
    out = Path(out)
    base = Path(base_menu) if base_menu else DEFAULT_MENU
    text = base.read_text().rstrip() + "\n"
    rel = Path(model_dir).resolve()
    try:
        rel = rel.relative_to(out.resolve().parent)
    except ValueError:
        pass
    lines = [f"  # anomaly working points tuned by `l1t tune-anomaly` (score {score})"]
    for wp in wps:
        lines += [f"  {wp['seed']}:", "    anomaly:",
                  f"      - {{model: {rel}, score: {score}, min: {wp['threshold']!r}}}"]
    atomic_write(out, lambda p: Path(p).write_text(text + "\n".join(lines) + "\n"))
    load_menu(out)  # the written menu must parse (and find the model)
    return out


def pure_efficiencies(menu: Menu, wps: list[dict], signal_paths: dict[str, list[Path]]) -> list[dict]:
    """Per signal: efficiency of the menu without the anomaly seeds, and per working point its
    efficiency and its pure efficiency (fires while no other non-anomaly seed does)."""
    ev = Evaluator(menu)
    wp_names = [w["seed"] for w in wps]
    idx_wp = [menu.names.index(n) for n in wp_names]
    idx_menu = [i for i, n in enumerate(menu.names) if n not in wp_names]
    rows = []
    for name, paths in signal_paths.items():
        fired = []
        for path in paths:
            electron_id = bool(read_metadata(path))
            for chunk in iter_events([path], 20_000):
                fired.append(ev.margins(ev.prepare(chunk, from_events(chunk, electron_id))) >= 1.0)
        f = np.concatenate(fired)
        menu_any = f[:, idx_menu].any(axis=1)
        row = {"signal": name, "events": int(len(f)), "menu_efficiency": float(menu_any.mean())}
        for seed, j in zip(wp_names, idx_wp):
            row[seed] = {"efficiency": float(f[:, j].mean()),
                         "pure_efficiency": float((f[:, j] & ~menu_any).mean())}
        rows.append(row)
    return rows
