"""``l1t demo``: the main job on a small embedded default.

1. Samples at ⟨μ⟩ = 200: zero-bias (min-bias) crossings, weighted hard-QCD crossings for the
   rate tails, and Z→ℓℓ as a signal; an L1 object summary of each.
2. The default menu's rate table on the zero-bias crossings stitched with the weighted QCD ones.
Later steps add the anomaly model, firmware and the stream.
"""
from __future__ import annotations

import time
from pathlib import Path

from datasets.inputs import expand_inputs, read_inputs
from datasets.production import produce
from datasets.summary import format_summary, object_summary
from trigger.job import RateJob, run
from trigger.menu import load_menu
from trigger.rates import summarize
from trigger.report import rate_table_text, write_rates

#: pT-hat above which the weighted QCD sample replaces zero-bias crossings at μ = 200, where
#: P(≥ 1 interaction above it) is a few per cent (30 GeV would give 36%).
DEMO_STITCH_PTHAT = 60.0


def run_demo(out_dir: str | Path = "demo-out", events: int = 1000, pileup: float = 200.0,
             seed: int = 1, progress: bool = True, echo=print) -> dict:
    """Run the demo into ``out_dir`` (resumes if rerun) and print what it made."""
    out = Path(out_dir)
    result = {}
    cache = out / ".cache"
    for sample, n in (("minbias", events), ("qcd", max(events // 2, 50)),
                      ("z_ll", max(events // 4, 50))):
        t0 = time.perf_counter()
        manifest = produce(sample, n, out / sample, pileup=pileup, seed=seed,
                           chunk_size=max(n // 2, 25), pool_size=2000, progress=progress,
                           cache_dir=cache)
        dt = time.perf_counter() - t0
        events_ = read_inputs([out / sample])
        rows = object_summary(events_)
        echo(f"\n== {sample}: {len(events_)} crossings at <mu> = {pileup:g} "
             f"(sigma = {manifest['sigma_mb']:.4g} mb), {dt:.0f} s -> {out / sample}")
        echo(format_summary(rows))
        result[sample] = {"manifest": manifest, "summary": rows}

    menu = load_menu()
    job = RateJob(menu, stitch_pthat=DEMO_STITCH_PTHAT)
    groups = run(job, expand_inputs([out / "minbias", out / "qcd"]))
    summary = summarize(groups, menu, targets_khz=(10.0,))
    paths = write_rates(summary, out / "rates")
    echo(f"\n== rates of the default menu ({menu.name}): zero-bias + weighted QCD above "
         f"pT-hat {DEMO_STITCH_PTHAT:g} GeV (P(hard) = {summary['pileup'][0]['p_hard']:.3f}) "
         f"-> {paths['csv']}")
    echo(rate_table_text(summary))
    result["rates"] = summary
    return result
