"""L1 jet response and resolution against anti-kt R = 0.4 generator jets.

For every generator jet (``GenJet``, the hard interaction only) with pT ≥ ``min_gen_pt`` and
|η| < ``max_gen_eta`` the closest L1 jet in ΔR = √(Δη² + Δφ²) (Δφ wrapped into [-π, π)) within
``max_dr`` is its match. One L1 jet may match several generator jets (no exclusivity; with R = 0.4
generator jets and ΔR < 0.4 this is rare). In bins of generator pT and in |η| regions:

- efficiency: matched / all generator jets with its 68% Clopper–Pearson interval (the turn-ons'
  convention, :func:`l1t.trigger.efficiency.clopper_pearson`);
- response R = pT(L1) / pT(gen) of matched jets: mean (± RMS/√n) and median
  (± 1.2533 σ/√n, σ the 16–84 % half width: the Gaussian approximation);
- resolution: half the 16–84 % quantile width over the median (± 0.965 σ/√n / median for a
  Gaussian), and RMS / mean (± (RMS/mean)/√(2n)).

Every generator jet counts once (event weights are not used: within a narrow generator-pT bin the
response is a property of the jets, and the pT-hat-biased QCD weights would only add noise).
"""
from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

import awkward as ak
import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import atomic_write, write_json
from l1t.datasets.inputs import expand_inputs, iter_inputs, read_inputs
from l1t.trigger.efficiency import clopper_pearson

#: Generator-pT bin edges, GeV.
PT_BINS: tuple[float, ...] = (30, 40, 60, 80, 100, 150, 200, 300, 500, 1000)
#: |η| regions: name → (low, high).
ETA_REGIONS: dict[str, tuple[float, float]] = {
    "barrel": (0.0, 1.5), "endcap": (1.5, 3.0), "forward": (3.0, 5.0)}
MAX_GEN_ETA = 5.0           #: calorimeter coverage
STEP_SIZE = 20_000          #: events read at a time
MEDIAN_ERR = math.sqrt(math.pi / 2)   #: σ(median) = 1.2533 σ/√n for a Gaussian
QWIDTH_ERR = 0.965                    #: σ(half 16–84 % width) ≈ 0.965 σ/√n for a Gaussian

COLUMNS = ("region", "eta_lo", "eta_hi", "pt_lo", "pt_hi", "gen_pt_mean", "n_gen", "n_matched",
           "efficiency", "efficiency_err_lo", "efficiency_err_hi", "mean_response", "mean_response_err",
           "median_response", "median_response_err", "resolution", "resolution_err",
           "rms_over_mean", "rms_over_mean_err")


# --------------------------------------------------------------------------- matching

def _delta_phi(a, b):
    """a − b wrapped into [-π, π)."""
    return (a - b + np.pi) % (2 * np.pi) - np.pi


def match_jets(events: ak.Array, max_dr: float = 0.4, min_gen_pt: float = 30.0,
               max_gen_eta: float = MAX_GEN_ETA) -> dict[str, np.ndarray]:
    """Match each generator jet (pT ≥ ``min_gen_pt``, |η| < ``max_gen_eta``) to its closest L1 jet.

    Returns flat numpy arrays over the selected generator jets (event order, then GenJet order):
    ``gen_pt``, ``gen_eta``, ``l1_pt`` (NaN when unmatched), ``dr`` (NaN when unmatched) and
    ``matched`` (bool).
    """
    gen = events.GenJet
    gen = gen[(gen.pt >= min_gen_pt) & (abs(gen.eta) < max_gen_eta)]
    l1 = events.L1Jet
    pairs = ak.cartesian({"g": gen, "l": l1}, axis=1, nested=True)   # (event, gen, l1)
    g, l = pairs.g, pairs.l
    deta = ak.values_astype(g.eta, np.float64) - ak.values_astype(l.eta, np.float64)
    dphi = _delta_phi(ak.values_astype(g.phi, np.float64), ak.values_astype(l.phi, np.float64))
    dr = np.sqrt(deta * deta + dphi * dphi)
    best = ak.argmin(dr, axis=2, keepdims=True)                        # None: no L1 jet at all
    best_dr = ak.flatten(ak.fill_none(ak.firsts(dr[best], axis=2), np.inf), axis=1)
    best_pt = ak.flatten(ak.fill_none(ak.firsts(l.pt[best], axis=2), np.nan), axis=1)
    best_dr = ak.to_numpy(best_dr).astype(np.float64)
    matched = best_dr < max_dr
    l1_pt = np.where(matched, ak.to_numpy(best_pt).astype(np.float64), np.nan)
    return {
        "gen_pt": ak.to_numpy(ak.flatten(gen.pt, axis=1)).astype(np.float64),
        "gen_eta": ak.to_numpy(ak.flatten(gen.eta, axis=1)).astype(np.float64),
        "l1_pt": l1_pt,
        "dr": np.where(matched, best_dr, np.nan),
        "matched": matched,
    }


# --------------------------------------------------------------------------- statistics

def _nan_or(x: float) -> float:
    return float(x) if np.isfinite(x) else float("nan")


def _bin_stats(gen_pt: np.ndarray, l1_pt: np.ndarray, matched: np.ndarray) -> dict:
    n = int(gen_pt.size)
    k = int(matched.sum())
    eff, lo, hi = (float(x) for x in clopper_pearson(np.array([k]), np.array([n])))
    out = {"gen_pt_mean": float(gen_pt.mean()), "n_gen": n, "n_matched": k,
           "efficiency": eff, "efficiency_err_lo": eff - lo, "efficiency_err_hi": hi - eff}
    nan = float("nan")
    for key in COLUMNS[COLUMNS.index("mean_response"):]:
        out[key] = nan
    if k == 0:
        return out
    r = l1_pt[matched] / gen_pt[matched]
    mean, median = float(r.mean()), float(np.median(r))
    out["mean_response"], out["median_response"] = mean, median
    if k < 2:
        return out
    rms = float(r.std(ddof=1))
    q16, q84 = np.quantile(r, [0.16, 0.84])
    sigma_q = 0.5 * float(q84 - q16)
    out["mean_response_err"] = rms / math.sqrt(k)
    out["median_response_err"] = MEDIAN_ERR * sigma_q / math.sqrt(k)
    if median > 0:
        out["resolution"] = sigma_q / median
        out["resolution_err"] = QWIDTH_ERR * sigma_q / math.sqrt(k) / median
    if mean > 0:
        out["rms_over_mean"] = rms / mean
        out["rms_over_mean_err"] = rms / mean / math.sqrt(2 * k)
    return {key: (_nan_or(v) if isinstance(v, float) else v) for key, v in out.items()}


def response_table(gen_pt: np.ndarray, gen_eta: np.ndarray, l1_pt: np.ndarray,
                   matched: np.ndarray | None = None, pt_bins: Iterable[float] = PT_BINS,
                   eta_regions: dict[str, tuple[float, float]] | None = None) -> list[dict]:
    """One row (dict with :data:`COLUMNS`) per (|η| region, generator-pT bin) holding jets.

    ``matched`` defaults to ``isfinite(l1_pt)``. Bins are [lo, hi); bins without generator jets
    are left out. Statistics that need matched jets are NaN when there are none (or, for the
    spreads and errors, fewer than two).
    """
    gen_pt, gen_eta, l1_pt = (np.asarray(a, np.float64) for a in (gen_pt, gen_eta, l1_pt))
    matched = np.isfinite(l1_pt) if matched is None else np.asarray(matched, bool)
    edges = np.asarray(list(pt_bins), np.float64)
    aeta = np.abs(gen_eta)
    rows = []
    for region, (elo, ehi) in (eta_regions or ETA_REGIONS).items():
        in_region = (aeta >= elo) & (aeta < ehi)
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = in_region & (gen_pt >= lo) & (gen_pt < hi)
            if not sel.any():
                continue
            row = {"region": region, "eta_lo": float(elo), "eta_hi": float(ehi),
                   "pt_lo": float(lo), "pt_hi": float(hi)}
            row.update(_bin_stats(gen_pt[sel], l1_pt[sel], matched[sel]))
            rows.append({c: row[c] for c in COLUMNS})
    return rows


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table of :func:`response_table` rows."""
    def f(x, fmt):
        return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) \
            else format(x, fmt)

    head = (f"{'region':8s} {'gen pT [GeV]':>13s} {'N gen':>7s} {'eff':>6s} {'mean R':>7s} "
            f"{'median R':>15s} {'res (q)':>15s} {'RMS/mean':>8s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        med = f"{f(r['median_response'], '.3f')} ± {f(r['median_response_err'], '.3f')}"
        res = f"{f(r['resolution'], '.3f')} ± {f(r['resolution_err'], '.3f')}"
        bin_ = f"{r['pt_lo']:.0f}-{r['pt_hi']:.0f}"
        lines.append(
            f"{r['region']:8s} {bin_:>13s} {r['n_gen']:7d} "
            f"{r['efficiency']:6.1%} {f(r['mean_response'], '7.3f')} {med:>15s} {res:>15s} "
            f"{f(r['rms_over_mean'], '8.3f')}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- outputs

def _json_value(x):
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _write_csv(rows: list[dict], tmp: Path) -> None:
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow(["" if _json_value(r[c]) is None else
                        (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c]) for c in COLUMNS])


def _write_plot(rows: list[dict], tmp: Path, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # An Agg canvas of our own: no pyplot, no global backend switch, no display needed.
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    colors = {"barrel": "tab:blue", "endcap": "tab:orange", "forward": "tab:green"}
    panels = [("median_response", "median_response_err", "median L1 pT / gen pT"),
              ("resolution", "resolution_err", "resolution (16-84% half width / median)"),
              ("efficiency", ("efficiency_err_lo", "efficiency_err_hi"),
               "matching efficiency (ΔR < 0.4)")]
    regions = list(dict.fromkeys(r["region"] for r in rows))
    for ax, (key, err, label) in zip(axes, panels):
        for i, region in enumerate(regions):
            sel = [r for r in rows if r["region"] == region and math.isfinite(r[key])]
            if not sel:
                continue
            x = np.array([r["gen_pt_mean"] for r in sel])
            xerr = np.array([[xi - r["pt_lo"], r["pt_hi"] - xi] for xi, r in zip(x, sel)]).T
            y = np.array([r[key] for r in sel])
            errs = err if isinstance(err, tuple) else (err,)
            yerr = np.nan_to_num(np.array([[r[e] for r in sel] for e in errs]))
            lo, hi = ETA_REGIONS.get(region, (sel[0]["eta_lo"], sel[0]["eta_hi"]))
            ax.errorbar(x * (1 + 0.03 * (i - 1)), y, xerr=xerr, yerr=yerr, fmt="o", ms=4,
                        capsize=2, color=colors.get(region), label=f"{region} {lo}≤|η|<{hi}")
        ax.set_xscale("log")
        ax.set_xlabel("generator jet pT [GeV]")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    axes[0].axhline(1.0, color="grey", lw=0.8, ls="--")
    axes[2].set_ylim(0, 1.05)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    with open(tmp, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)


def _collect(inputs, min_gen_pt: float, max_dr: float, max_gen_eta: float,
             step_size: int) -> tuple[dict[str, np.ndarray], int, float]:
    parts, n_events, mu_sum = [], 0, 0.0
    for path in expand_inputs(list(inputs) if not isinstance(inputs, (str, Path)) else [inputs]):
        seen = False
        for chunk in iter_inputs([path], step_size=step_size):
            seen = True
            if "GenJet" not in ak.fields(chunk):
                raise L1TInputError(path, "no generator jets: the jet response needs the GenJet "
                                          "collection (an l1t production has it)", "GenJet")
            n_events += len(chunk)
            mu_sum += float(np.sum(ak.to_numpy(chunk.mu), dtype=np.float64))
            parts.append(match_jets(chunk, max_dr=max_dr, min_gen_pt=min_gen_pt,
                                    max_gen_eta=max_gen_eta))
        if not seen and "GenJet" not in ak.fields(read_inputs([path])):
            raise L1TInputError(path, "no generator jets: the jet response needs the GenJet "
                                      "collection (an l1t production has it)", "GenJet")
    keys = ("gen_pt", "gen_eta", "l1_pt", "dr", "matched")
    mu = mu_sum / n_events if n_events else float("nan")
    if not parts:
        return {k: np.zeros(0, bool if k == "matched" else np.float64) for k in keys}, n_events, mu
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}, n_events, mu


def jet_response(inputs, out_dir, min_gen_pt: float = 30.0, max_dr: float = 0.4,
                 max_gen_eta: float = MAX_GEN_ETA, pt_bins: Iterable[float] = PT_BINS,
                 step_size: int = STEP_SIZE) -> dict:
    """Jet response of ``inputs`` (files or production directories) into ``out_dir``.

    Writes ``jet_response.csv``, ``jet_response.json`` and ``jet_response.png`` (each
    atomically). Returns ``{"table", "json", "plot"`` (paths), ``"table_text"``, ``"rows"}``.
    Raises :class:`L1TInputError` for inputs without ``GenJet`` or without any generator jet
    above ``min_gen_pt``.
    """
    if not (math.isfinite(min_gen_pt) and min_gen_pt >= 0):
        raise L1TInputError("min_gen_pt", f"must be a non-negative number, not {min_gen_pt}")
    pt_bins = [float(x) for x in pt_bins]
    pt_bins = [x for x in pt_bins if x > min_gen_pt] if pt_bins[0] < min_gen_pt else pt_bins
    if pt_bins and pt_bins[0] > min_gen_pt:
        pt_bins = [float(min_gen_pt)] + pt_bins
    if len(pt_bins) < 2:
        pt_bins = [float(min_gen_pt), max(2.0 * min_gen_pt, min_gen_pt + 1.0)]
    names = [str(p) for p in ([inputs] if isinstance(inputs, (str, Path)) else inputs)]
    m, n_events, mu = _collect(inputs, min_gen_pt, max_dr, max_gen_eta, step_size)
    if m["gen_pt"].size == 0:
        raise L1TInputError(", ".join(names), f"no generator jets with pT >= {min_gen_pt:g} GeV "
                            f"and |eta| < {max_gen_eta:g} in {n_events} events", "GenJet")
    rows = response_table(m["gen_pt"], m["gen_eta"], m["l1_pt"], m["matched"], pt_bins)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table_text = format_table(rows)
    n_jets, n_matched = int(m["gen_pt"].size), int(m["matched"].sum())
    title = (f"L1 jets vs anti-kt R=0.4 generator jets: {n_events} events, mean pileup "
             f"{mu:.0f}, {n_jets} gen jets with pT ≥ {min_gen_pt:g} GeV, {n_matched} matched "
             f"(ΔR < {max_dr:g})")
    summary = {"inputs": names, "events": n_events, "mean_pileup": mu,
               "min_gen_pt": min_gen_pt, "max_dr": max_dr,
               "max_gen_eta": max_gen_eta, "pt_bins": pt_bins,
               "eta_regions": {k: list(v) for k, v in ETA_REGIONS.items()},
               "gen_jets": n_jets, "matched": n_matched,
               "rows": [{k: _json_value(v) for k, v in r.items()} for r in rows]}
    table = atomic_write(out / "jet_response.csv", lambda tmp: _write_csv(rows, tmp))
    jpath = write_json(out / "jet_response.json", summary)
    plot = atomic_write(out / "jet_response.png", lambda tmp: _write_plot(rows, tmp, title))
    return {"table": table, "json": jpath, "plot": plot, "table_text": table_text, "rows": rows,
            "events": n_events, "mean_pileup": mu, "gen_jets": n_jets, "matched": n_matched}
