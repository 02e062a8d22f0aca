"""The stream as a job on files (what ``l1t stream`` runs) and its outputs: ``stream.json``,
``timeline.png`` and the printed summary."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from l1t.core.files import JsonContract, atomic_write

from ..lhc import BX_PER_ORBIT
from ..report import png_bytes
from .run import StreamResult, Timeline, run_stream


CHECKPOINT_NAME = "stream.checkpoint.npz"


def stream_job(menu_path, inputs: list, out_dir: str | Path, *, pipeline_path=None,
               seconds: float | None = None, orbits: int | None = None, filling_scheme=None,
               mu: str | None = None, seed: int = 1, firmware: dict | None = None,
               cycle_level: str = "auto", signals: list | None = None,
               signal_fraction: float = 0.0, stitch_pthat: float | None = None,
               sigma_inel_mb: float | None = None, resume: bool = False,
               checkpoint_seconds: float | None = None,
               progress: bool = False) -> tuple[dict, dict]:
    """Load the menu, the pipeline (a file or a preset name; Phase-2 by default), the filling
    scheme (nominal by default), the inputs (zero-bias, optionally weighted qcd stitched at
    ``stitch_pthat`` as ``l1t rates`` does) and the ``signals`` (productions injected at
    ``signal_fraction`` of the colliding slots each); plug firmware reports into model stages
    (``{stage: report.json}``); stream, checkpointing into ``out_dir`` (``resume`` continues
    from there); write the outputs. Returns (summary, paths)."""
    from l1t.datasets.inputs import expand_inputs, named_inputs

    from .crossings import EventPool, MuProfile, SignalPool
    from .filling import load_filling_scheme
    from ..menu import load_menu
    from .pipeline import load_pipeline, with_firmware
    from .run import DEFAULT_CHECKPOINT_SECONDS

    menu = load_menu(menu_path)
    pipeline = load_pipeline(pipeline_path)
    for stage, report in (firmware or {}).items():
        pipeline = with_firmware(pipeline, stage, report)
    scheme = load_filling_scheme(filling_scheme)
    profile = MuProfile.parse(mu) if mu is not None else None
    pool = EventPool.from_files(menu, expand_inputs(inputs), stitch_pthat=stitch_pthat,
                                sigma_inel_mb=sigma_inel_mb)
    sig = [SignalPool.from_files(menu, name, files)
           for name, files in named_inputs(signals).items()] if signals else []
    result = run_stream(menu, pool, pipeline, seconds=seconds, orbits=orbits, scheme=scheme,
                        mu=profile, seed=seed, signals=sig, signal_fraction=signal_fraction,
                        cycle_level=cycle_level, checkpoint=Path(out_dir) / CHECKPOINT_NAME,
                        resume=resume, checkpoint_seconds=DEFAULT_CHECKPOINT_SECONDS
                        if checkpoint_seconds is None else checkpoint_seconds,
                        progress=progress)
    paths = write_stream(result, out_dir)
    return result.summary(), paths


def latency_table_text(summary: dict) -> str:
    """The latency budget: the L1 accept (simulated, vs the budget), each stage's output time
    after the BX with its critical input (the last to arrive) and how much earlier the others
    arrive, its busy fraction, buffer and losses; each named path's own total (a chain timed
    alone) with its margin."""
    p = summary["pipeline"]
    budget = p["budget_us"] * 1e3
    l1a = p["l1a"]
    margin = l1a["margin_ns"]
    lines = [f"latency budget of {p['name']}: {budget:.0f} ns; L1 accept {l1a['max_ns']:.1f} ns "
             f"after the BX (min {l1a['min_ns']:.1f}, static {l1a['static_latency_ns']:.1f}), "
             f"margin {margin if margin is not None else float('nan'):.1f} ns, "
             f"{l1a['n_lost']} BX lost: "
             + ("ok" if margin is not None and margin >= 0 and l1a["n_lost"] == 0 else
                "OVER BUDGET" if margin is not None and margin < 0 else "LOSSES"),
             "critical path: " + " > ".join(l1a["critical_path"]),
             f"{'stage':18s} {'ready [ns]':>11s} {'min..max [ns]':>17s} {'critical input':16s} "
             f"{'others earlier by [ns]':30s} {'busy':>6s} {'buffer':>6s} {'lost':>6s}"]
    for name, st in p["stages"].items():
        others = ", ".join(f"{k} {v:.0f}" for k, v in st["slack_ns"].items()
                           if k != st["critical_input"])
        lo, hi = st["min_ns"], st["max_ns"]
        span = f"{lo:8.1f}..{hi:<8.1f}" if lo is not None and hi is not None else f"{'-':>17s}"
        lines.append(f"{name:18s} {st['static_ready_ns']:11.1f} {span} "
                     f"{st['critical_input'] or '(detector)':16s} {others or '-':30s} "
                     f"{st['occupancy']:6.3f} {st['max_fill']:6d} {st['n_lost']:6d}")
    lines.append(f"{'path':18s} {'total [ns]':>11s} {'margin [ns]':>12s}   (a chain timed "
                 "alone: when its objects would reach the L1 accept without waiting for others)")
    for name, st in p["paths"].items():
        lines.append(f"{name:18s} {st['static_latency_ns']:11.1f} {st['margin_ns']:12.1f}"
                     f"{'   critical' if st['critical'] else ''}")
    slow = p["check"]["too_slow"]
    lines.append("busy: fraction of a stage's board time spent on events (> 1 cannot keep up); "
                 "stages that cannot take an event every 25 ns x TMUX: "
                 + (", ".join(slow) if slow else "none"))
    return "\n".join(lines)


def stream_table_text(summary: dict) -> str:
    """Rates per seed and total of the background crossings (zero-bias and QCD, as ``l1t rates``
    gives them): requested before deadtime, accepted; the L1 accept rate (injected signal
    included), deadtime and losses."""
    lines = [f"{'seed':34s} {'prescale':>8s} {'requested [kHz]':>20s} {'accepted [kHz]':>20s}"]
    for s in summary["seeds"]:
        lines.append(f"{s['seed']:34s} {s['prescale']:8g} {s['requested_khz']:10.2f} ± "
                     f"{s['requested_err_khz']:7.2f} {s['accepted_khz']:10.2f} ± "
                     f"{s['accepted_err_khz']:7.2f}")
    t = summary["total"]
    lines.append(f"{'TOTAL':34s} {'':8s} {t['requested_khz']:10.2f} ± {t['requested_err_khz']:7.2f} "
                 f"{t['accepted_khz']:10.2f} ± {t['accepted_err_khz']:7.2f}")
    signal = (f" (injected signal {t['signal_accepted_khz']:.1f} kHz included)"
              if t.get("signal_accepted_khz") else "")
    lines.append(f"L1 accept rate {t['l1a_khz']:.1f} kHz{signal}"
                 + (f" vs maximum {t['max_accept_khz']:g} kHz: "
                    f"{'OK' if t['within_max'] else 'OVER'}" if t.get("max_accept_khz") else ""))
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
    draws, pool = summary.get("draws", {}), summary["pool"]
    if pool.get("qcd"):
        q = pool["qcd"]
        lines.append(f"crossings: {draws.get('zero_bias', 0)} zero-bias below pT-hat "
                     f"{q['stitch_pthat']:g} GeV, {draws.get('qcd', 0)} weighted QCD above it "
                     f"(p_hard = {q['p_hard_at_mean_mu']:.4f} at <mu> = {pool['mean_mu']:.1f})"
                     + (f", {draws.get('signal', 0)} signal" if draws.get("signal") else ""))
    elif draws.get("signal"):
        lines.append(f"crossings: {draws.get('zero_bias', 0)} zero-bias, "
                     f"{draws['signal']} signal")
    lines.append(f"({summary['orbits']} orbits = {summary['seconds'] * 1e3:.3f} ms of beam, "
                 f"{summary['bx']} BX, {summary['colliding_crossings']} colliding at <mu> = "
                 f"{summary['mean_mu']:.1f}, {summary['n_bunches']} bunches; "
                 f"{summary['beam_seconds_per_wall_second']:.3g} s of beam per s)")
    return "\n".join(lines)


def plot_timeline(timeline: Timeline) -> bytes:
    """PNG of the first orbits: the pileup of each slot, the derandomizer occupancy, and the
    GT requests, the L1 accepts per seed and the pipeline losses."""
    from matplotlib.figure import Figure

    n = len(timeline.colliding)
    bx = np.arange(n)
    n_orbits = max(n // BX_PER_ORBIT, 1)
    fired = sorted(set(timeline.seed_accepts[:, 1].tolist())) if len(timeline.seed_accepts) \
        else []
    fig = Figure(figsize=(11, 7.5), constrained_layout=True)
    ax1, ax2, ax3 = (fig.add_subplot(3, 1, i, sharex=None) for i in (1, 2, 3))
    ax1.plot(bx, timeline.n_interactions, lw=0.3, color="tab:gray")
    ax1.set_ylabel("pp interactions")
    ax1.set_title(f"first {n_orbits} orbits: colliding slots and their pileup", fontsize=9)
    ax2.step(bx, timeline.occupancy, where="post", lw=0.6, color="tab:purple")
    if timeline.depth:
        ax2.axhline(timeline.depth, color="tab:red", lw=0.8, ls="--",
                    label=f"depth {timeline.depth}: full")
        ax2.legend(fontsize=7, loc="upper right")
    ax2.set_ylabel("derandomizer\noccupancy")
    rows = [(f"GT request", np.flatnonzero(timeline.requests), "tab:blue"),
            ("L1 accept", np.flatnonzero(timeline.accepted), "tab:green")]
    lost = np.flatnonzero(timeline.lost_pipeline)
    if len(lost):
        rows.append(("lost in pipeline", lost, "tab:red"))
    for j in fired:
        rows.append((timeline.seeds[j] if j < len(timeline.seeds) else f"seed {j}",
                     timeline.seed_accepts[timeline.seed_accepts[:, 1] == j, 0], "tab:olive"))
    offsets = list(range(len(rows) - 1, -1, -1))
    ax3.eventplot([r[1] for r in rows], lineoffsets=offsets, colors=[r[2] for r in rows],
                  linelengths=0.8, linewidths=0.6)
    ax3.set_yticks(offsets, [r[0] for r in rows], fontsize=6 if len(rows) > 12 else 8)
    ax3.set_title("requests, accepts per seed (olive) and losses", fontsize=9)
    ax3.set_xlabel("BX since the start of the stream (25 ns)")
    for ax in (ax1, ax2, ax3):
        ax.set_xlim(0, n)
        for orbit in range(1, n_orbits):
            ax.axvline(orbit * BX_PER_ORBIT, color="k", lw=0.5, ls=":")
    return png_bytes(fig)


#: ``stream.json``: the summary of a stream run (:meth:`StreamResult.summary`).
STREAM_CONTRACT = JsonContract("l1t-stream", 2)


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

