"""The 40 MHz stream: seconds of beam simulated per second of wall time, on one core.

Pool: a zero-bias PU-200 sample (1000 produced crossings) with the default menu's decisions.
Ours: :func:`l1t.trigger.stream.run.run_stream` through the Phase-2 preset for 1 s of beam (11,246 orbits,
4.0 × 10^7 BX, nominal 2808-bunch filling), ``cycle_level="auto"``; also 0.05 s with the pipeline
simulated cycle by cycle on every BX (``"all"``), printed for information. Baseline, side by side:
the same stream written as a plain per-BX Python loop (draw, prescale, trigger rules,
derandomizer; no pipeline) over 20 orbits; its accept count per seed must equal ours on those
orbits (same draws). The process is pinned to one core. Memory: the peak resident size after 1 s
of beam is printed (bounded: chunks of 256 orbits). Set ``L1T_BENCH_CACHE`` to keep the sample.
Last line: one JSON object (name, value, unit, baseline, baseline_value, ratio). Goal:
value ≥ 0.1 s of beam per s.
"""
from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})   # one core

from l1t.datasets.inputs import expand_inputs  # noqa: E402
from l1t.datasets.production import produce  # noqa: E402
from l1t.trigger import prescale  # noqa: E402
from l1t.trigger.stream.crossings import EventPool, Sampler  # noqa: E402
from l1t.trigger.lhc import BX_PER_ORBIT
from l1t.trigger.stream.filling import nominal_25ns  # noqa: E402
from l1t.trigger.stream.l1a import L1AConfig  # noqa: E402
from l1t.trigger.menu import load_menu  # noqa: E402
from l1t.trigger.stream.pipeline import load_pipeline  # noqa: E402
from l1t.trigger.stream.run import run_stream  # noqa: E402

N_PRODUCED, BASE_ORBITS, SECONDS, ALL_SECONDS = 1000, 20, 1.0, 0.05


def baseline(pool: EventPool, menu, config: L1AConfig, orbits: int, seed: int) -> np.ndarray:
    """Per-BX Python: the stream's draws, prescales, rules and derandomizer, BX by BX."""
    scheme = nominal_25ns()
    sampler = Sampler(pool, seed)
    fired = pool.fired
    units = prescale.prescale_units([s.prescale for s in menu.seeds])
    count = np.zeros(len(menu.seeds), np.int64)
    accepted = np.zeros(len(menu.seeds), np.int64)
    history: list[int] = []          # BX of past accepts
    fifo = 0                         # events in the derandomizer
    residual = 0                     # BX left of the head event's readout
    bx = 0
    for orbit in range(orbits):
        idx, _ = sampler.draw(orbit, np.array([pool.mean_mu]), scheme.n_bunches)
        k = 0
        for slot in range(BX_PER_ORBIT):
            request, kept = False, []
            if scheme.colliding[slot]:
                row = fired[idx[k]]
                k += 1
                for j in range(len(row)):
                    if row[j] and units[j] > 0:
                        count[j] += 1
                        if (count[j] * 100) // units[j] > ((count[j] - 1) * 100) // units[j]:
                            kept.append(j)
                request = bool(kept)
            if request:
                ok = all(sum(1 for t in history[-n:] if t > bx - w) < n
                         for n, w in config.rules)
                if ok and fifo < config.depth:
                    history.append(bx)
                    history = history[-64:]
                    if fifo == 0:
                        residual = config.readout_bx
                    fifo += 1
                    for j in kept:
                        accepted[j] += 1
            if fifo:                 # one BX of readout
                residual -= 1
                if residual == 0:
                    fifo -= 1
                    residual = config.readout_bx if fifo else 0
            bx += 1
    return accepted


def main() -> None:
    cache = os.environ.get("L1T_BENCH_CACHE") or tempfile.mkdtemp(prefix="l1t-bench-stream-")
    sample = Path(cache) / "zb-pu200"
    produce("minbias", N_PRODUCED, sample, pileup=200, seed=21, chunk_size=500, pool_size=1000,
            progress=False, cache_dir=Path(cache) / ".cache")
    menu = load_menu()
    pipeline = load_pipeline("phase2")
    t0 = time.perf_counter()
    pool = EventPool.from_files(menu, expand_inputs([sample]))
    print(f"pool: {len(pool)} crossings, menu evaluated in {time.perf_counter() - t0:.1f} s")
    config = L1AConfig.from_dict(pipeline.l1a)

    short = run_stream(menu, pool, pipeline, orbits=BASE_ORBITS, seed=5)
    t0 = time.perf_counter()
    base = baseline(pool, menu, config, BASE_ORBITS, seed=5)
    base_rate = BASE_ORBITS / 11245.6 / (time.perf_counter() - t0)
    if not np.array_equal(base, short.accepted):
        raise SystemExit(f"baseline and stream disagree: {base} vs {short.accepted}")
    print(f"baseline (per-BX Python, {BASE_ORBITS} orbits): {base_rate:.2e} s of beam per s; "
          f"accepts per seed identical to the stream's")

    cyc = run_stream(menu, pool, pipeline, seconds=ALL_SECONDS, seed=6, cycle_level="all")
    print(f"cycle level on every BX ({ALL_SECONDS} s of beam): "
          f"{cyc.seconds / cyc.wall_seconds:.3f} s of beam per s")

    res = run_stream(menu, pool, pipeline, seconds=SECONDS, seed=7)
    rate = res.seconds / res.wall_seconds
    s = res.summary()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"stream ({res.orbits} orbits, {res.n_bx:,} BX, cycle-level on the first "
          f"{s['config']['cycle_level_bx']:,} BX): {res.wall_seconds:.2f} s -> {rate:.3f} s of "
          f"beam per s; L1A {s['total']['accepted_khz']:.1f} kHz, deadtime "
          f"{100 * s['deadtime']['fraction']:.2f}%; peak RSS {peak_mb:.0f} MB")
    print(json.dumps({"name": "stream_beam_seconds_per_second", "value": round(rate, 4),
                      "unit": "s beam / s wall (1 core)",
                      "baseline": "per-BX Python loop", "baseline_value": float(f"{base_rate:.4g}"),
                      "ratio": round(rate / base_rate, 1)}))


if __name__ == "__main__":
    main()
