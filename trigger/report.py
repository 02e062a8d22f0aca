"""Rates outputs: ``rates.csv``, ``rates.json``, PNG plots and the printed table."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from l1t.core.files import JsonContract, atomic_write


#: a seed whose pool-grouped error exceeds its independent-crossing error this many times is
#: listed under the table as pool-limited
POOL_LIMITED = 1.5


def rate_table_text(summary: dict) -> str:
    """The printed table: one line per seed and TOTAL; ``*`` marks < 10 crossings behind it;
    then the pool-limited seeds with their pool-grouped errors (:mod:`l1t.trigger.rates`)."""
    lines = [f"{'seed':34s} {'prescale':>8s} {'rate [kHz]':>22s} {'pure [kHz]':>11s} {'crossings':>9s}"]
    for s in summary["seeds"]:
        flag = " *" if s["low_statistics"] else ""
        lines.append(f"{s['seed']:34s} {s['prescale']:8g} {s['rate_khz']:10.2f} ± "
                     f"{s['rate_err_khz']:8.2f} {s['pure_rate_khz']:11.2f} {s['events_fired']:9d}{flag}")
    t = summary["total"]
    lines.append(f"{'TOTAL':34s} {'':8s} {t['rate_khz']:10.2f} ± {t['rate_err_khz']:8.2f} "
                 f"{'':11s} {t['events_fired']:9d}{' *' if t['low_statistics'] else ''}")
    lines.append(f"({summary['zero_bias_crossings']} zero-bias crossings"
                 + (f" + {summary['qcd_crossings']} weighted qcd" if summary["qcd_crossings"] else "")
                 + f", {summary['bunches']} bunches; * fewer than 10 crossings fired)")
    limited = [s for s in [*summary["seeds"], {"seed": "TOTAL", **t}]
               if s.get("rate_err_pool_grouped_khz", 0.0) > POOL_LIMITED * s["rate_err_khz"]]
    if limited:
        lines.append(f"pool-limited (zero-bias crossings grouped by the pool event of their "
                     f"hardest pileup interaction; error > {POOL_LIMITED:g} x the one above):")
        for s in limited:
            lines.append(f"{s['seed']:34s} {'':8s} {'error':>10s} ± "
                         f"{s['rate_err_pool_grouped_khz']:8.2f} {s['pool_events']:11d} pool events")
    targets = [(s["seed"], t) for s in summary["seeds"] for t in s.get("target_thresholds", [])]
    if targets:
        lines.append("")
        lines.append(f"{'seed':34s} {'target [kHz]':>12s} {'threshold [GeV]':>16s} {'interval':>16s}")
        for name, t in targets:
            thr = "-" if t["threshold"] is None else f"{t['threshold']:.1f}"
            lo = "-" if t["threshold_low"] is None else f"{t['threshold_low']:.1f}"
            hi = "-" if t["threshold_high"] is None else f"{t['threshold_high']:.1f}"
            flag = " *" if t["low_statistics"] else ""
            lines.append(f"{name:34s} {t['target_khz']:12g} {thr:>16s} {lo:>7s}..{hi:<7s}{flag}")
    return "\n".join(lines)


#: ``rates.json``: everything :func:`l1t.trigger.rates.summarize` returns.
RATES_CONTRACT = JsonContract("l1t-rates", 1)


def read_rates(path: str | Path) -> dict:
    """Read a ``rates.json`` written by :func:`write_rates` (format and version checked)."""
    return RATES_CONTRACT.read(path)


def write_rates(summary: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write ``rates.csv`` (seed,rate_khz,rate_err_khz,pure_rate_khz + TOTAL), ``rates.json`` and
    the plots, each atomically. Returns the paths."""
    out = Path(out_dir)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["seed", "rate_khz", "rate_err_khz", "pure_rate_khz"])
    for s in summary["seeds"]:
        w.writerow([s["seed"], f"{s['rate_khz']:.6g}", f"{s['rate_err_khz']:.6g}",
                    f"{s['pure_rate_khz']:.6g}"])
    t = summary["total"]
    w.writerow(["TOTAL", f"{t['rate_khz']:.6g}", f"{t['rate_err_khz']:.6g}", ""])
    paths = {"csv": out / "rates.csv", "json": out / "rates.json",
             "scans": out / "rate_vs_threshold.png", "overlap": out / "overlap.png"}
    # Render everything first so that a failure leaves no file behind.
    scans_png, overlap_png = _plot_scans(summary), _plot_overlap(summary)
    pileup_png = _plot_pileup(summary) if len(summary["pileup"]) >= 2 else None
    atomic_write(paths["csv"], lambda p: Path(p).write_text(buf.getvalue()))
    RATES_CONTRACT.write(paths["json"], summary)
    atomic_write(paths["scans"], lambda p: Path(p).write_bytes(scans_png))
    atomic_write(paths["overlap"], lambda p: Path(p).write_bytes(overlap_png))
    if pileup_png is not None:
        paths["pileup"] = out / "rate_vs_pileup.png"
        atomic_write(paths["pileup"], lambda p: Path(p).write_bytes(pileup_png))
    return paths


def _figure(n_panels: int):
    from matplotlib.figure import Figure

    cols = min(4, n_panels)
    rows = int(np.ceil(n_panels / cols))
    fig = Figure(figsize=(3.6 * cols, 2.8 * rows), constrained_layout=True)
    return fig, [fig.add_subplot(rows, cols, i + 1) for i in range(n_panels)]


def png_bytes(fig) -> bytes:
    """A matplotlib figure as PNG bytes (90 dpi, no software stamp: same figure, same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    return buf.getvalue()


def _plot_scans(summary: dict) -> bytes:
    seeds = [s for s in summary["seeds"] if "scan" in s]
    fig, axes = _figure(max(len(seeds), 1))
    for ax, s in zip(axes, seeds):
        x = np.array(s["scan"]["threshold"])
        y = np.array(s["scan"]["rate_khz"])
        e = np.array(s["scan"]["rate_err_khz"])
        ax.fill_between(x, np.maximum(y - e, 1e-3), y + e, step="post", alpha=0.3)
        ax.step(x, np.maximum(y, 1e-3), where="post")
        ax.axvline(s["reference_threshold"], color="k", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_title(s["seed"], fontsize=8)
        ax.set_xlabel("threshold [GeV] (all legs scaled)", fontsize=7)
        ax.set_ylabel("rate [kHz]", fontsize=7)
    return png_bytes(fig)


def _plot_overlap(summary: dict) -> bytes:
    from matplotlib.figure import Figure

    names = summary["overlap_khz"]["seeds"]
    m = np.array(summary["overlap_khz"]["matrix"])
    diag = np.diag(m).copy()
    frac = np.divide(m, diag[:, None], out=np.zeros_like(m), where=diag[:, None] > 0)
    fig = Figure(figsize=(8, 7), constrained_layout=True)
    ax = fig.add_subplot()
    im = ax.imshow(frac, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)), names, fontsize=6)
    ax.set_title("overlap: fraction of row seed's rate also fired by column seed", fontsize=9)
    fig.colorbar(im, ax=ax)
    return png_bytes(fig)


def _plot_pileup(summary: dict) -> bytes:
    from matplotlib.figure import Figure

    p = summary["pileup"]
    mu = np.array([x["mu"] for x in p])
    fig = Figure(figsize=(6, 4), constrained_layout=True)
    ax = fig.add_subplot()
    ax.errorbar(mu, [x["total_khz"] for x in p], yerr=[x["total_err_khz"] for x in p], fmt="o",
                label="TOTAL")
    fit = summary["pileup_fits"].get("TOTAL")
    if fit:
        xs = np.linspace(0, mu.max() * 1.05, 100)
        ax.plot(xs, fit["a_khz"] * xs + fit.get("b_khz", 0.0) * xs**2, label=f"fit {fit['model']}")
    ax.set_xlabel("pileup μ")
    ax.set_ylabel("total rate [kHz]")
    ax.legend()
    return png_bytes(fig)
