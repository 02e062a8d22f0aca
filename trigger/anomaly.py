"""Anomaly-detection working points: score thresholds at target rates, written as menu seeds.

:func:`tune` (files; what ``l1t tune-anomaly`` runs) measures the rate of "score ≥ t" with the
rates job — zero-bias crossings stitched with weighted QCD ones when given — and takes the lowest
scanned t whose rate is ≤ the target, with the interval where rate ± error crosses it.
:func:`working_points` does the same exactly on an array of zero-bias scores
(``n(score ≥ t) / N × n_bunches × 11.2456 kHz``; interval: ±√k of the k crossings allowed). Seeds are named
``L1_AXO_<WP>`` (``axo`` score) or ``L1_AD<score>_<WP>``, WPs VLoose … VTight from the highest
rate to the lowest, and appended to a menu so ``l1t rates`` treats them like any other seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.datasets.formats import iter_events, read_metadata
from l1t.core.files import atomic_write, read_text

from .evaluate import DEFAULT_STEP, Evaluator, model_scores
from .menu import DEFAULT_MENU, Menu, parse_menu
from .lhc import DEFAULT_BUNCHES, LHC_REVOLUTION_KHZ

WP_NAMES = {1: ["Nominal"], 2: ["Loose", "Tight"], 3: ["Loose", "Nominal", "Tight"],
            4: ["VLoose", "Loose", "Tight", "VTight"],
            5: ["VLoose", "Loose", "Nominal", "Tight", "VTight"]}


def zero_bias_scores(model_dir: str | Path, paths: list[Path], score: str = "axo",
                     step_size: int = DEFAULT_STEP) -> np.ndarray:
    """Scores of every zero-bias crossing (8 bytes per crossing are kept)."""
    out = []
    for path in paths:
        sample = read_metadata(path).get("sample")
        if sample not in (None, "minbias"):
            raise L1TInputError(path, f"working points are tuned on zero-bias crossings, this is "
                                f"{sample!r}", "sample")
        for chunk in iter_events([path], step_size):
            out.append(model_scores(str(Path(model_dir).resolve()), chunk)[score])
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


def menu_text(wps: list[dict], model_dir: str | Path, out: str | Path, score: str = "axo",
              base_menu: str | Path | None = None) -> str:
    """The base menu's text plus one seed per working point; the model path is relative to the
    directory of the menu file ``out`` the text is meant for."""
    out = Path(out)
    base = Path(base_menu) if base_menu else DEFAULT_MENU
    text = read_text(base, "menu").rstrip() + "\n"
    rel = Path(model_dir).resolve()
    try:
        rel = rel.relative_to(out.resolve().parent)
    except ValueError:
        pass
    lines = [f"  # anomaly working points tuned by `l1t tune-anomaly` (score {score})"]
    for wp in wps:
        lines += [f"  {wp['seed']}:", "    anomaly:",
                  f"      - {{model: {rel}, score: {score}, min: {wp['threshold']!r}}}"]
    return text + "\n".join(lines) + "\n"


def write_menu(wps: list[dict], model_dir: str | Path, out: str | Path, score: str = "axo",
               base_menu: str | Path | None = None) -> Path:
    """:func:`menu_text` checked (it must parse and find the model), then written atomically."""
    text = menu_text(wps, model_dir, out, score, base_menu)
    parse_menu(text, str(out))
    return atomic_write(out, lambda p: Path(p).write_text(text))


@dataclass(frozen=True)
class TunedMenu:
    """What :func:`tune_menu` made: the working points, the menu file, and per signal the
    efficiencies of :func:`pure_efficiencies` (empty without signals)."""

    working_points: list[dict]
    path: Path
    signals: list[dict]


def tune_menu(model_dir: str | Path, paths: list[Path], targets_khz, out: str | Path,
              score: str = "axo", base_menu: str | Path | None = None,
              bunches: int = DEFAULT_BUNCHES, stitch_pthat: float | None = 30.0,
              signals: dict[str, list[Path]] | None = None) -> TunedMenu:
    """:func:`tune`, the menu with the working points, and the signals' efficiencies on it; the
    menu file is written last, so a failure anywhere leaves nothing behind."""
    wps = tune(model_dir, paths, targets_khz, score, bunches, stitch_pthat)
    text = menu_text(wps, model_dir, out, score, base_menu)
    menu = parse_menu(text, str(out))
    rows = pure_efficiencies(menu, wps, signals) if signals else []
    path = atomic_write(out, lambda p: Path(p).write_text(text))
    return TunedMenu(wps, path, rows)


def pure_efficiencies(menu: Menu, wps: list[dict], signal_paths: dict[str, list[Path]]) -> list[dict]:
    """Per signal: efficiency of the menu without the anomaly seeds, and per working point its
    efficiency and its pure efficiency (fires while no other non-anomaly seed does)."""
    ev = Evaluator(menu)
    wp_names = [w["seed"] for w in wps]
    idx_wp = [menu.names.index(n) for n in wp_names]
    idx_menu = [i for i, n in enumerate(menu.names) if n not in wp_names]
    rows = []
    for name, paths in signal_paths.items():
        f = np.concatenate([c.fired() for c in ev.chunks(paths)])
        menu_any = f[:, idx_menu].any(axis=1)
        row = {"signal": name, "events": int(len(f)), "menu_efficiency": float(menu_any.mean())}
        for seed, j in zip(wp_names, idx_wp):
            row[seed] = {"efficiency": float(f[:, j].mean()),
                         "pure_efficiency": float((f[:, j] & ~menu_any).mean())}
        rows.append(row)
    return rows


def tune(model_dir: str | Path, paths: list[Path], targets_khz, score: str = "axo",
         bunches: int = DEFAULT_BUNCHES, stitch_pthat: float | None = 30.0) -> list[dict]:
    """Working points from files, with the rates job's estimate: zero-bias crossings stitched
    with weighted QCD ones when given (``l1t.trigger.rates``), so a threshold means the same rate
    here and in ``l1t rates``. A one-seed menu ``score ≥ ref`` is scanned; ``ref`` is a third of
    the largest score seen, so the scan (up to 4 × ref in 2000 steps) covers every crossing.
    """
    from .job import RateJob, run
    from .menu import Condition, ModelCut, Seed
    from .rates import summarize

    model = str(Path(model_dir).resolve())
    top = 0.0
    for path in paths:
        for chunk in iter_events([path], DEFAULT_STEP):
            top = max(top, float(np.max(model_scores(model, chunk)[score], initial=0.0)))
    ref = max(top, 1e-6) / 3.0
    menu = Menu("tune", (Seed("AD", Condition(models=(ModelCut("anomaly", model, score, ref),))),))
    targets = sorted(set(float(t) for t in targets_khz), reverse=True)
    if not 1 <= len(targets) <= 5:
        raise L1TInputError("target rates", "give 1 to 5 distinct target rates", "target_rates")
    summary = summarize(run(RateJob(menu, stitch_pthat=stitch_pthat), paths), menu, bunches,
                        tuple(targets))
    seed = summary["seeds"][0]
    scan_t = np.array(seed["scan"]["threshold"])
    prefix = "L1_AXO_" if score == "axo" else f"L1_AD{score.upper()}_"
    out = []
    for name, t in zip(WP_NAMES[len(targets)], seed["target_thresholds"]):
        if t["threshold"] is None:
            raise L1TInputError("inputs", f"no threshold gives {t['target_khz']:g} kHz within "
                                "the scanned range", "target_rates")
        k = int(np.searchsorted(scan_t, t["threshold"]))
        out.append({"seed": prefix + name, "working_point": name, "target_khz": t["target_khz"],
                    "threshold": t["threshold"], "threshold_low": t["threshold_low"],
                    "threshold_high": t["threshold_high"],
                    "rate_khz": seed["scan"]["rate_khz"][k], "rate_err_khz": seed["scan"]["rate_err_khz"][k],
                    "zero_bias_crossings": summary["zero_bias_crossings"],
                    "qcd_crossings": summary["qcd_crossings"], "low_statistics": t["low_statistics"]})
    return out


def working_points_table_text(wps: list[dict]) -> str:
    """The working points of :func:`tune`: per seed the target (kHz), the score threshold, the
    interval of thresholds compatible with the target and the rate (kHz) at the threshold."""
    def g(v):
        return "-" if v is None else format(v, ".5g")

    lines = [f"{'seed':22s} {'target [kHz]':>12s} {'threshold':>12s} {'interval':>25s} "
             f"{'rate [kHz]':>20s}"]
    for w in wps:
        flag = " *" if w["low_statistics"] else ""
        lines.append(f"{w['seed']:22s} {w['target_khz']:12g} {w['threshold']:12.5g} "
                     f"{g(w['threshold_low']):>12s}..{g(w['threshold_high']):<12s} "
                     f"{w['rate_khz']:9.2f} ± {w['rate_err_khz']:7.2f}{flag}")
    w = wps[0]
    lines.append(f"({w['zero_bias_crossings']} zero-bias crossings"
                 + (f" + {w['qcd_crossings']} weighted qcd" if w["qcd_crossings"] else "")
                 + "; * fewer than 10 crossings above the threshold)")
    return "\n".join(lines)


def pure_efficiency_table_text(rows: list[dict], wps: list[dict]) -> str:
    """:func:`pure_efficiencies` as a table: per signal the menu's efficiency and, per working
    point, the efficiency and the pure efficiency (no other seed fires), in %."""
    lines = [f"{'signal':14s} {'menu eff':>9s} " + " ".join(
        f"{w['seed'] + ' eff / pure':>34s}" for w in wps)]
    for r in rows:
        cells = [f"{100 * r[w['seed']]['efficiency']:15.2f}% / "
                 f"{100 * r[w['seed']]['pure_efficiency']:6.2f}%" for w in wps]
        lines.append(f"{r['signal']:14s} {100 * r['menu_efficiency']:8.2f}% "
                     + " ".join(f"{c:>34s}" for c in cells))
    return "\n".join(lines)
