"""``l1t muon-performance``: the lookup-table and the net pT assignments side by side, at equal
efficiency.

Two assignments of every L1 muon: ``lut``, the detector's ``L1Mu.pt`` (the packaged lookup table,
threshold-scaled: :mod:`l1t.datasets.muon.lut`), and ``nn``, a muon pT net's firmware output
through the bit-exact emulator (:class:`l1t.firmware.deployed.DeployedMuonPt`), each with its own
threshold scale, so that both 90% points sit at the nominal threshold. The single-muon
condition is that of the menus' ``L1_SingleMu`` seeds: a muon with ``hwQual`` ≥ 12 and
|η| < 2.4 (strict, as a menu leg's ``eta``: the track finder puts candidates beyond the
acceptance at |η| = 2.4 exactly) with pT ≥ T.

- On a muon-gun production (one generator muon per event): the resolution of every candidate
  against its muon's true pT (core: half the 16–84% spread of pT_true / pT_L1 − 1; tail: the
  fraction assigned more than twice the true pT), and per threshold the turn-on (efficiency vs
  true pT, 1 GeV bins up to 2.5 T, Clopper–Pearson errors) with its 90% point ``pt90_gev``
  (linear interpolation where the efficiency first reaches 0.9).
- On zero-bias (or weighted) crossings: per threshold ``rate_khz = Σw_fired / Σw × n_bunches ×
  11.2456 kHz``, ``rate_err_khz = √Σw²_fired / Σw × …``, ``crossings`` (unweighted count that
  fired), and ``reduction`` = LUT rate / NN rate with the error of the ratio from the two rate
  errors added in quadrature (conservative: both are counted on the same crossings, positively
  correlated).

Everything goes to ``DIR/performance.json`` (:data:`PERFORMANCE_CONTRACT`), with
``resolution.png``, ``turn_on.png`` and ``rate.png``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import awkward as ak
import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract, atomic_write
from l1t.datasets.formats import iter_events
from l1t.models.muon.train import ResolutionBin, resolution

from .efficiency import clopper_pearson, crossing
from .job import input_kind
from .lhc import DEFAULT_BUNCHES, LHC_REVOLUTION_KHZ

ASSIGNMENTS = ("lut", "nn")
QUALITY = 12              # single-muon seeds (trigger/menus/lecture.yaml: L1_SingleMu22)
ETA_MAX = 2.4
#: thresholds (GeV) of the rate-vs-threshold curves: the 0.5 GeV hardware steps
SCAN_GEV = np.arange(0.0, 60.5, 0.5)

PERFORMANCE_CONTRACT = JsonContract("l1t-muon-performance", 1)


@dataclass(frozen=True)
class AssignmentPoint:
    """One assignment at one threshold."""

    pt90_gev: float | None
    rate_khz: float
    rate_err_khz: float
    crossings: int


@dataclass(frozen=True)
class ThresholdResult:
    """Both assignments at one threshold, and the rate reduction LUT / NN."""

    threshold_gev: float
    lut: AssignmentPoint
    nn: AssignmentPoint
    reduction: float | None
    reduction_err: float | None


@dataclass
class MuonPerformance:
    """What :func:`muon_performance` measured (see the module docstring)."""

    thresholds: list[ThresholdResult]
    resolution: dict[str, list[ResolutionBin]]
    gun_muons: int
    rate_crossings: int
    rate_weight: float
    bunches: int
    pileup: list[float]
    paths: dict[str, Path]

    def text(self) -> str:
        """A table a physicist can paste."""
        lines = [f"single muon (hwQual >= {QUALITY}, |eta| < {ETA_MAX}); rates from "
                 f"{self.rate_crossings} crossings (<mu> {', '.join(f'{m:g}' for m in self.pileup)},"
                 f" {self.bunches} bunches); turn-ons from {self.gun_muons} gun muons",
                 f"{'threshold':>9s} {'assignment':>10s} {'pT90 (GeV)':>10s} {'rate (kHz)':>18s} "
                 f"{'crossings':>9s} {'LUT/NN':>12s}"]
        for t in self.thresholds:
            for name in ASSIGNMENTS:
                p = getattr(t, name)
                pt90 = f"{p.pt90_gev:.1f}" if p.pt90_gev is not None else "-"
                red = ""
                if name == "nn":
                    red = (f"{t.reduction:.2f} ± {t.reduction_err:.2f}" if t.reduction is not None
                           else "-")
                lines.append(f"{t.threshold_gev:9g} {name:>10s} {pt90:>10s} "
                             f"{p.rate_khz:9.2f} ± {p.rate_err_khz:6.2f} {p.crossings:9d} {red:>12s}")
        lines.append("core resolution of 1/pT (tail: assigned > 2x true pT)")
        lines.append(f"{'true pT (GeV)':>14s} " + " ".join(f"{n + ' core':>9s} {n + ' tail':>9s}"
                                                           for n in ASSIGNMENTS))
        rows = {name: {(b.lo_gev, b.hi_gev): b for b in bins}
                for name, bins in self.resolution.items()}
        for key in rows["lut"]:
            if key not in rows["nn"]:
                continue
            cells = " ".join(f"{rows[n][key].core:9.1%} {rows[n][key].tail:9.2%}"
                             for n in ASSIGNMENTS)
            lines.append(f"{f'{key[0]:g}-{key[1]:g}':>14s} {cells}")
        lines.append(f"-> {self.paths['json']}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- per chunk

def _qualified(mu) -> np.ndarray:
    """Flat mask of the L1 muons the single-muon condition takes."""
    flat = ak.flatten(mu)
    return (ak.to_numpy(flat.hwQual) >= QUALITY) & (np.abs(ak.to_numpy(flat.eta)) < ETA_MAX)


def _leading(pt_flat: np.ndarray, ok: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per crossing the highest pT among the flat objects ``ok`` (−1 with none)."""
    event = np.repeat(np.arange(len(counts)), counts)
    out = np.full(len(counts), -1.0)
    np.maximum.at(out, event[ok], pt_flat[ok])
    return out


def _assignments(deployed, events) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Flat pT per assignment of every L1 muon, the quality mask and the counts per crossing."""
    mu = events.L1Mu
    lut = ak.to_numpy(ak.flatten(mu.pt)).astype(np.float64)
    nn = deployed.firmware(events).values["pt"]
    return {"lut": lut, "nn": nn}, _qualified(mu), ak.to_numpy(ak.num(mu))


# --------------------------------------------------------------------------- the function

def _check_files(paths, want: str, option: str) -> list[Path]:
    from l1t.datasets.inputs import expand_inputs

    files = expand_inputs(paths)
    for f in files:
        kind, meta = input_kind(f)
        sample = meta.get("sample")
        ok = sample == "muon_gun" if want == "muon_gun" else kind == "zero_bias"
        if not ok:
            need = "a muon_gun production" if want == "muon_gun" else "zero-bias (minbias) crossings"
            raise L1TInputError(f, f"{option} needs {need}, this is {sample!r}", "sample")
    return files


def muon_performance(model_dir: str | Path, gun: list[str | Path],
                     rate_samples: list[str | Path], thresholds: list[float],
                     out_dir: str | Path, bunches: int = DEFAULT_BUNCHES,
                     step_size: int = 20_000) -> MuonPerformance:
    """Measure both assignments (see the module docstring); writes ``out_dir``."""
    from l1t.firmware.deployable import deployed

    if not thresholds or any(not (0 < t <= 255.5) for t in thresholds):
        raise L1TInputError("thresholds", f"thresholds are in (0, 255.5] GeV, got {thresholds}",
                            "thresholds")
    gun_files = _check_files(gun, "muon_gun", "--gun")
    rate_files = _check_files(rate_samples, "zero_bias", "--rate-sample")
    dep = deployed(model_dir)
    if not hasattr(dep, "words"):
        raise L1TInputError(model_dir, "not a muon pT net (l1t train muon-pt)", "format")

    # gun: per event the true pT and the leading qualified muon per assignment; per candidate
    # the assignments for the resolution
    true_ev, lead = [], {n: [] for n in ASSIGNMENTS}
    true_cand, cand = [], {n: [] for n in ASSIGNMENTS}
    for events in iter_events(gun_files, step_size):
        gen = events.GenPart[abs(events.GenPart.pdgId) == 13]
        if ak.any(ak.num(gen) != 1):
            raise L1TInputError(gun_files[0], "muon-gun events hold one generator muon",
                                "GenPart")
        pts, ok, counts = _assignments(dep, events)
        t = ak.to_numpy(gen.pt[:, 0]).astype(np.float64)
        true_ev.append(t)
        true_cand.append(np.repeat(t, counts))
        for n in ASSIGNMENTS:
            lead[n].append(_leading(pts[n], ok, counts))
            cand[n].append(pts[n])
    true_ev = np.concatenate(true_ev)
    lead = {n: np.concatenate(v) for n, v in lead.items()}
    true_cand = np.concatenate(true_cand)
    cand = {n: np.concatenate(v) for n, v in cand.items()}

    # rates: per crossing the leading qualified muon per assignment, with its weight
    rate_lead = {n: [] for n in ASSIGNMENTS}
    weights, pileup = [], set()
    for events in iter_events(rate_files, step_size):
        pts, ok, counts = _assignments(dep, events)
        for n in ASSIGNMENTS:
            rate_lead[n].append(_leading(pts[n], ok, counts))
        weights.append(np.asarray(events.weight, np.float64))
        pileup.update(np.unique(ak.to_numpy(events.mu)).tolist())
    w = np.concatenate(weights) if weights else np.zeros(0)
    if not len(w) or w.sum() <= 0:
        raise L1TInputError(", ".join(map(str, rate_files)), "no crossings to measure rates on")
    rate_lead = {n: np.concatenate(v) for n, v in rate_lead.items()}
    scale = bunches * LHC_REVOLUTION_KHZ

    def rate(lead_pt: np.ndarray, t: float) -> AssignmentPoint:
        fired = lead_pt >= t
        return AssignmentPoint(None, float(w[fired].sum() / w.sum() * scale),
                               float(math.sqrt((w[fired] ** 2).sum()) / w.sum() * scale),
                               int(fired.sum()))

    results, turn_ons = [], {}
    for t in thresholds:
        points = {}
        for n in ASSIGNMENTS:
            curve = _turn_on(true_ev, lead[n], t)
            turn_ons[(t, n)] = curve
            r = rate(rate_lead[n], t)
            points[n] = AssignmentPoint(curve["pt90_gev"], r.rate_khz, r.rate_err_khz,
                                        r.crossings)
        a, b = points["lut"], points["nn"]
        red = err = None
        if b.rate_khz > 0 and a.rate_khz > 0:
            red = a.rate_khz / b.rate_khz
            err = red * math.hypot(a.rate_err_khz / a.rate_khz, b.rate_err_khz / b.rate_khz)
        results.append(ThresholdResult(float(t), a, b, red, err))
    res = {n: resolution(true_cand, np.maximum(cand[n], 0.5)) for n in ASSIGNMENTS}

    out = Path(out_dir)
    paths = {"json": out / "performance.json", "resolution": out / "resolution.png",
             "turn_on": out / "turn_on.png", "rate": out / "rate.png"}
    scan = {n: [rate(rate_lead[n], float(s)) for s in SCAN_GEV] for n in ASSIGNMENTS}
    _plot_resolution(res, paths["resolution"])
    _plot_turn_ons(turn_ons, thresholds, paths["turn_on"])
    _plot_rates(scan, thresholds, paths["rate"])
    perf = MuonPerformance(results, res, int(len(true_ev)), int(len(w)), float(w.sum()), bunches,
                           sorted(pileup), paths)
    PERFORMANCE_CONTRACT.write(paths["json"], PERFORMANCE_CONTRACT.tag({
        "model": str(model_dir), "gun": [str(f) for f in gun_files],
        "rate_samples": [str(f) for f in rate_files], "bunches": bunches,
        "revolution_khz": LHC_REVOLUTION_KHZ, "quality_min": QUALITY, "eta_max": ETA_MAX,
        "gun_muons": perf.gun_muons, "rate_crossings": perf.rate_crossings,
        "rate_weight": perf.rate_weight, "pileup": perf.pileup,
        "thresholds": [{"threshold_gev": r.threshold_gev, "reduction": r.reduction,
                        "reduction_err": r.reduction_err,
                        **{n: asdict(getattr(r, n)) for n in ASSIGNMENTS}} for r in results],
        "resolution": {n: [asdict(b) for b in bins] for n, bins in res.items()},
        "rate_scan": {"threshold_gev": SCAN_GEV.tolist(),
                      **{n: {"rate_khz": [p.rate_khz for p in pts],
                             "rate_err_khz": [p.rate_err_khz for p in pts]}
                         for n, pts in scan.items()}},
        "plots": {k: str(v) for k, v in paths.items() if k != "json"}}))
    return perf


def read_performance(path: str | Path) -> dict:
    """Read a ``performance.json`` (format and version checked)."""
    return PERFORMANCE_CONTRACT.read(path)


def _turn_on(true_pt: np.ndarray, lead_pt: np.ndarray, threshold: float) -> dict:
    """Efficiency vs true pT in 1 GeV bins up to 2.5 × threshold, and its 90% point."""
    bins = np.arange(0.0, math.ceil(2.5 * threshold) + 1.0, 1.0)
    n = np.histogram(true_pt, bins)[0]
    k = np.histogram(true_pt[lead_pt >= threshold], bins)[0]
    eff, lo, hi = clopper_pearson(k, n)
    centres = 0.5 * (bins[1:] + bins[:-1])
    return {"bins": bins, "centres": centres, "efficiency": eff, "lo": lo, "hi": hi,
            "pt90_gev": crossing(centres, eff, 0.9)}


# --------------------------------------------------------------------------- plots

_STYLE = {"lut": ("lookup table", "tab:blue"), "nn": ("net (firmware)", "tab:red")}


def _figure(ncols: int = 1, width: float = 4.6, height: float = 3.4):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _save(fig, path: Path) -> Path:
    return atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))


def _plot_resolution(res: dict[str, list[ResolutionBin]], path: Path) -> Path:
    fig, (core, tail) = _figure(2)
    for n, bins in res.items():
        label, color = _STYLE[n]
        x = [math.sqrt(b.lo_gev * b.hi_gev) for b in bins]
        xerr = [[xi - b.lo_gev for xi, b in zip(x, bins)], [b.hi_gev - xi for xi, b in zip(x, bins)]]
        core.errorbar(x, [b.core for b in bins], xerr=xerr, fmt="o-", ms=3, color=color,
                      label=label)
        tail.errorbar(x, [b.tail for b in bins], xerr=xerr, fmt="o-", ms=3, color=color,
                      label=label)
    for ax, what in ((core, "core resolution of 1/pT"), (tail, "fraction assigned > 2 x true pT")):
        ax.set_xscale("log")
        ax.set_xlabel("true muon pT [GeV]")
        ax.set_ylabel(what)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _plot_turn_ons(curves: dict, thresholds: list[float], path: Path) -> Path:
    fig, axes = _figure(len(thresholds), 3.8)
    for ax, t in zip(axes, thresholds):
        for n in ASSIGNMENTS:
            c = curves[(t, n)]
            label, color = _STYLE[n]
            ok = np.isfinite(c["efficiency"])
            ax.errorbar(c["centres"][ok], c["efficiency"][ok],
                        yerr=[(c["efficiency"] - c["lo"])[ok], (c["hi"] - c["efficiency"])[ok]],
                        fmt="o", ms=2.5, lw=0.8, color=color,
                        label=f"{label}: 90% at {c['pt90_gev']:.1f} GeV"
                        if c["pt90_gev"] is not None else label)
        ax.axhline(0.9, color="0.6", lw=0.6)
        ax.axvline(t, color="0.6", lw=0.6, ls=":")
        ax.set_title(f"single muon, pT >= {t:g} GeV", fontsize=9)
        ax.set_xlabel("true muon pT [GeV]")
        ax.set_ylabel("efficiency")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def _plot_rates(scan: dict[str, list[AssignmentPoint]], thresholds: list[float],
                path: Path) -> Path:
    fig, (ax,) = _figure(1, 5.2, 3.8)
    for n, pts in scan.items():
        label, color = _STYLE[n]
        r = np.array([p.rate_khz for p in pts])
        e = np.array([p.rate_err_khz for p in pts])
        ok = r > 0
        ax.plot(SCAN_GEV[ok], r[ok], color=color, label=label)
        ax.fill_between(SCAN_GEV[ok], (r - e)[ok], (r + e)[ok], color=color, alpha=0.25, lw=0)
    for t in thresholds:
        ax.axvline(t, color="0.6", lw=0.6, ls=":")
    if any(p.rate_khz > 0 for pts in scan.values() for p in pts):
        ax.set_yscale("log")           # (no muon fired at all: a linear axis at zero)
    ax.set_xlabel("single-muon threshold [GeV]")
    ax.set_ylabel("rate [kHz]")
    ax.legend(fontsize=8)
    return _save(fig, path)
