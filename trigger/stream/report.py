"""The stream as a job on files (what ``l1t stream`` runs) and its outputs: ``stream.json``,
``timeline.png`` and the printed summary."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from l1t.core.files import JsonContract, atomic_write

from ..lhc import BX_PER_ORBIT
from ..report import _png
from .run import StreamResult, Timeline, run_stream


def stream_job(menu_path, inputs: list, out_dir: str | Path, *, pipeline_path=None,
               seconds: float | None = None, orbits: int | None = None, filling_scheme=None,
               mu: str | None = None, seed: int = 1, firmware: dict | None = None,
               cycle_level: str = "auto", progress: bool = False) -> tuple[dict, dict]:
    """Load the menu, the pipeline (a file or a preset name; Phase-2 by default), the filling
    scheme (nominal by default) and the zero-bias inputs; plug firmware reports into model
    stages (``{stage: report.json}``); stream; write the outputs. Returns (summary, paths)."""
    from l1t.datasets.inputs import expand_inputs

    from .crossings import EventPool, MuProfile
    from .filling import load_filling_scheme
    from ..menu import load_menu
    from .pipeline import load_pipeline, with_firmware

    menu = load_menu(menu_path)
    pipeline = load_pipeline(pipeline_path)
    for stage, report in (firmware or {}).items():
        pipeline = with_firmware(pipeline, stage, report)
    scheme = load_filling_scheme(filling_scheme)
    profile = MuProfile.parse(mu) if mu is not None else None
    pool = EventPool.from_files(menu, expand_inputs(inputs))
    result = run_stream(menu, pool, pipeline, seconds=seconds, orbits=orbits, scheme=scheme,
                        mu=profile, seed=seed, cycle_level=cycle_level, progress=progress)
    paths = write_stream(result, out_dir)
    return result.summary(), paths


def latency_table_text(summary: dict) -> str:
    """The latency budget table: each path's simulated latency vs the budget, with margin."""
    p = summary["pipeline"]
    budget = p["budget_us"] * 1e3
    lines = [f"latency budget of {p['name']}: {budget:.0f} ns",
             f"{'path':18s} {'latency [ns]':>13s} {'min..max [ns]':>17s} {'margin [ns]':>12s} "
             f"{'lost':>6s}  status"]
    for name, st in p["paths"].items():
        margin = st["margin_ns"]
        ok = margin is not None and margin >= 0 and st["n_lost"] == 0
        lines.append(f"{name:18s} {st['static_latency_ns']:13.1f} {st['min_ns']:8.1f}..{st['max_ns']:<8.1f}"
                     f" {margin if margin is not None else float('nan'):12.1f} {st['n_lost']:6d}  "
                     f"{'ok' if ok else 'OVER BUDGET' if margin is not None and margin < 0 else 'LOSSES'}")
    lines.append(f"{'stage':18s} {'busy':>6s} {'max buffer':>10s} {'lost':>6s}   (busy: fraction "
                 "of its boards' time spent on events; > 1 cannot keep up)")
    for name, st in p["stages"].items():
        lines.append(f"{name:18s} {st['occupancy']:6.3f} {st['max_fill']:10d} {st['n_lost']:6d}")
    slow = p["check"]["too_slow"]
    lines.append("stages that cannot take an event every 25 ns x TMUX: "
                 + (", ".join(slow) if slow else "none"))
    return "\n".join(lines)


def stream_table_text(summary: dict) -> str:
    """Rates per seed and total (requested before deadtime, accepted), deadtime and losses."""
    lines = [f"{'seed':34s} {'prescale':>8s} {'requested [kHz]':>20s} {'accepted [kHz]':>20s}"]
    for s in summary["seeds"]:
        lines.append(f"{s['seed']:34s} {s['prescale']:8g} {s['requested_khz']:10.2f} ± "
                     f"{s['requested_err_khz']:7.2f} {s['accepted_khz']:10.2f} ± "
                     f"{s['accepted_err_khz']:7.2f}")
    t = summary["total"]
    lines.append(f"{'TOTAL':34s} {'':8s} {t['requested_khz']:10.2f} ± {t['requested_err_khz']:7.2f} "
                 f"{t['accepted_khz']:10.2f} ± {t['accepted_err_khz']:7.2f}")
    if t.get("max_accept_khz"):
        lines.append(f"L1 accept rate {t['accepted_khz']:.1f} kHz vs maximum "
                     f"{t['max_accept_khz']:g} kHz: {'OK' if t['within_max'] else 'OVER'}")
    d, lost = summary["deadtime"], summary["lost"]
    lines.append(f"deadtime {100 * d['fraction']:.3f}% of requests (trigger rules "
                 f"{lost['trigger_rules']}, derandomizer {lost['derandomizer']}, pipeline "
                 f"{lost['pipeline']}); derandomizer full in {100 * d['derandomizer_full_fraction']:.3f}% "
                 f"of BX, max occupancy {d['max_occupancy']}")
    if lost["trigger_rules"]:
        lines.append("  vetoed by rule: " + ", ".join(
            f"{k}: {v}" for k, v in lost["trigger_rules_by_rule"].items()))
    if lost["pipeline_by_stage"]:
        lines.append("  lost in the pipeline: " + ", ".join(
            f"{k}: {v}" for k, v in lost["pipeline_by_stage"].items()))
    lines.append(f"({summary['orbits']} orbits = {summary['seconds'] * 1e3:.3f} ms of beam, "
                 f"{summary['bx']} BX, {summary['colliding_crossings']} colliding at <mu> = "
                 f"{summary['mean_mu']:.1f}, {summary['n_bunches']} bunches; "
                 f"{summary['beam_seconds_per_wall_second']:.3g} s of beam per s)")
    return "\n".join(lines)


def plot_timeline(timeline: Timeline) -> bytes:
    """PNG of the first orbits: pileup of each slot, accept requests and L1 accepts."""
    from matplotlib.figure import Figure

    n = len(timeline.colliding)
    bx = np.arange(n)
    fig = Figure(figsize=(11, 5), constrained_layout=True)
    ax1, ax2 = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2, sharex=None)
    ax1.plot(bx, timeline.n_interactions, lw=0.3, color="tab:gray")
    ax1.set_ylabel("pp interactions")
    ax1.set_title(f"first {n // BX_PER_ORBIT} orbits: colliding slots and their pileup", fontsize=9)
    for orbit in range(1, n // BX_PER_ORBIT):
        ax1.axvline(orbit * BX_PER_ORBIT, color="k", lw=0.5, ls=":")
    req = np.flatnonzero(timeline.requests)
    acc = np.flatnonzero(timeline.accepted)
    lost = np.flatnonzero(timeline.lost_pipeline)
    ax2.eventplot([req, acc] + ([lost] if len(lost) else []), lineoffsets=[2, 1, 0][:2 + bool(len(lost))],
                  colors=["tab:blue", "tab:green", "tab:red"][:2 + bool(len(lost))], linelengths=0.8)
    ax2.set_yticks([2, 1] + ([0] if len(lost) else []),
                   ["GT request", "L1 accept"] + (["lost in pipeline"] if len(lost) else []))
    ax2.set_xlabel("BX since the start of the stream (25 ns)")
    ax2.set_xlim(0, n)
    ax1.set_xlim(0, n)
    return _png(fig)


#: ``stream.json``: the summary of a stream run (:meth:`StreamResult.summary`).
STREAM_CONTRACT = JsonContract("l1t-stream", 1)


def read_stream(path: str | Path) -> dict:
    """Read a ``stream.json`` written by :func:`write_stream` (format and version checked)."""
    return STREAM_CONTRACT.read(path)


def write_stream(result: StreamResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``stream.json`` and ``timeline.png`` (atomically); returns the paths."""
    out = Path(out_dir)
    summary = result.summary()
    paths = {"json": out / "stream.json"}
    png = plot_timeline(result.timeline) if result.timeline is not None else None
    STREAM_CONTRACT.write(paths["json"], summary)
    if png is not None:
        paths["timeline"] = out / "timeline.png"
        atomic_write(paths["timeline"], lambda p: Path(p).write_bytes(png))
    return paths

