"""``l1t demo``: the main job on a small embedded default.

First version (foundation): a zero-bias (min-bias) sample at PU 200 and a Z→ℓℓ signal sample,
both with L1 objects, and their L1 object summaries. Later steps add rates, the anomaly model,
firmware and the stream.
"""
from __future__ import annotations

import time
from pathlib import Path

from datasets.inputs import read_inputs
from datasets.production import produce
from datasets.summary import format_summary, object_summary


def run_demo(out_dir: str | Path = "demo-out", events: int = 1000, pileup: float = 200.0,
             seed: int = 1, progress: bool = True, echo=print) -> dict:
    """Run the demo into ``out_dir`` (resumes if rerun) and print what it made."""
    out = Path(out_dir)
    result = {}
    for sample, n in (("minbias", events), ("z_ll", max(events // 4, 50))):
        t0 = time.perf_counter()
        manifest = produce(sample, n, out / sample, pileup=pileup, seed=seed,
                           chunk_size=max(n // 2, 25), pool_size=2000, progress=progress)
        dt = time.perf_counter() - t0
        events_ = read_inputs([out / sample])
        rows = object_summary(events_)
        echo(f"\n== {sample}: {len(events_)} crossings at <mu> = {pileup:g} "
             f"(sigma = {manifest['sigma_mb']:.4g} mb), {dt:.0f} s -> {out / sample}")
        echo(format_summary(rows))
        result[sample] = {"manifest": manifest, "summary": rows}
    return result
