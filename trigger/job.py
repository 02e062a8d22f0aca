"""The rates job: stream inputs in chunks, evaluate the menu, accumulate, combine.

Memory is bounded by one chunk whatever the input size: ``step_size`` crossings (default
20,000) at pileup 200 peak at about 500 MB resident for the whole process (450 MB at 10,000,
720 MB at 50,000; measured on 200,000 crossings). Files are the tasks of
:mod:`l1t.core.executor` (this process, local processes or a dask.distributed cluster); partial
sums are added in file order, so the numbers are the same wherever they ran. Prescale counters run over the inputs in order: when a menu has prescales other
than 0 and 1, a first pass counts each file's firings so that every file starts its counters
where the previous one ended.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.executor import default_workers, map_tasks
from l1t.datasets.formats import read_metadata
from l1t.datasets.samples import SAMPLES

from . import prescale
from .evaluate import DEFAULT_STEP, Evaluator
from .menu import Menu
from .rates import Group, Tally, scan_axes

#: Default pT-hat (GeV) above which weighted QCD replaces the zero-bias crossings.
DEFAULT_STITCH_PTHAT = 30.0


@dataclass(frozen=True)
class RateJob:
    """What every task needs (picklable)."""

    menu: Menu
    fmt: str = "auto"
    mapping: object = None
    step_size: int = DEFAULT_STEP
    stitch_pthat: float | None = DEFAULT_STITCH_PTHAT
    sigma_inel_mb: float | None = None


def input_kind(path: Path) -> tuple[str, dict]:
    """``zero_bias`` (min-bias productions, muon-enriched ones with their weights, and foreign
    files), ``qcd`` (weighted hard QCD) or ``signal``; and the file's metadata."""
    meta = read_metadata(path)
    sample = meta.get("sample")
    if sample is None or (sample in SAMPLES and SAMPLES[sample].zero_bias):
        return "zero_bias", meta
    if sample in SAMPLES and SAMPLES[sample].weighted:
        return "qcd", meta
    return "signal", meta


def count_fired(job: RateJob, path: str) -> np.ndarray:
    """Unprescaled firings per seed in one file (the first pass for prescale counters)."""
    total = np.zeros(len(job.menu.seeds), np.int64)
    for c in Evaluator(job.menu).chunks([path], job.step_size, job.fmt, job.mapping):
        total += c.fired().sum(axis=0)
    return total


def process_file(job: RateJob, path: str, kind: str, counts_before: np.ndarray | None
                 ) -> tuple[dict[float, Group], np.ndarray]:
    """Partial sums of one file per pileup value, and its unprescaled firings per seed."""
    menu = job.menu
    counters = prescale.PrescaleCounters.of(menu, counts_before)
    start = counters.fired.copy()
    refs, steps = scan_axes(menu)
    groups: dict[float, Group] = {}
    for c in Evaluator(menu).chunks([path], job.step_size, job.fmt, job.mapping):
        chunk, margins = c.events, c.margins()
        fired = margins >= 1.0
        kept = counters.apply(fired)
        mu = np.rint(np.asarray(chunk.mu, np.float64))
        weight = np.asarray(chunk.weight, np.float64)
        sigma = np.asarray(chunk.sigma_mb, np.float64)
        for value in np.unique(mu):
            sel = mu == value
            if value not in groups:
                groups[value] = Group(float(value), Tally(len(menu.seeds), refs, steps))
            g = groups[value]
            if kind == "zero_bias":
                counted = None
                if job.stitch_pthat is not None:
                    counted = np.asarray(chunk.pthat_max, np.float64)[sel] < job.stitch_pthat
                sources = (np.asarray(chunk.pu_source, np.int64)[sel]
                           if "pu_source" in chunk.fields else None)   # older files: none
                # weights 1, or the importance weights of a muon-enriched sample
                g.zero_bias.add(margins[sel], kept[sel], weight[sel], counted, sources)
                if sigma[sel].max() > 0:
                    g.sigma_inel_mb = float(sigma[sel].max())
            else:
                hard = np.asarray(chunk.pthat, np.float64)[sel] >= job.stitch_pthat
                # pileup without another hard interaction: the crossings with two are left to
                # P(>= 1 hard), and a hard pool event recurring in many crossings never counts
                soft_pu = np.asarray(chunk.pu_pthat_max, np.float64)[sel] < job.stitch_pthat
                if g.qcd is None:
                    g.qcd = Tally(len(menu.seeds), refs, steps)
                g.qcd.add(margins[sel], kept[sel], np.where(hard & soft_pu, weight[sel], 0.0))
                g.qcd_all_w += float(weight[sel].sum())
                g.qcd_hard_w += float(weight[sel][hard].sum())
                g.qcd_sigma_mb = float(sigma[sel].max())
    if job.sigma_inel_mb is not None:
        for g in groups.values():
            g.sigma_inel_mb = job.sigma_inel_mb
    return groups, counters.fired - start


def run(job: RateJob, paths: list[Path], scheduler: str | None = None,
        workers: int | None = None, progress: bool = False) -> list[Group]:
    """Accumulate every input; returns one :class:`Group` per pileup value (ascending μ)."""
    kinds = []
    for p in paths:
        kind, _ = input_kind(p)
        if kind == "signal":
            raise L1TInputError(p, "a signal sample cannot give a rate: rates need zero-bias "
                                "(minbias) crossings, optionally with weighted qcd; give a "
                                "signal to --signal for its efficiency", "sample")
        kinds.append(kind)
    if "zero_bias" not in kinds:
        raise L1TInputError(", ".join(map(str, paths)), "no zero-bias input: a weighted qcd "
                            "sample is stitched onto min-bias crossings, it cannot stand alone")
    if "qcd" not in kinds:  # nothing to stitch: every zero-bias crossing counts
        job = RateJob(job.menu, job.fmt, job.mapping, job.step_size, None, job.sigma_inel_mb)
    needs_two_passes = any(s.prescale not in (0.0, 1.0) for s in job.menu.seeds)
    results = _map(job, [str(p) for p in paths], kinds, needs_two_passes, scheduler, workers,
                   progress)
    merged: dict[float, Group] = {}
    for groups in results:
        for mu, g in groups.items():
            merged[mu] = g if mu not in merged else merged[mu].merge(g)
    if not merged:
        raise L1TInputError(", ".join(map(str, paths)), "the inputs hold no crossings: a rate "
                            "needs at least one zero-bias crossing")
    for mu, g in merged.items():
        if g.zero_bias.n == 0:
            raise L1TInputError("inputs", f"qcd crossings at pileup {mu:g} have no zero-bias "
                                "crossings at the same pileup to be stitched onto", "mu")
    return [merged[mu] for mu in sorted(merged)]


def _map(job, paths, kinds, two_passes, scheduler, workers, progress):
    """Per file its groups, in file order. In one process the prescale counters run on from file
    to file; elsewhere (``workers`` > 1, a ``scheduler``) a first pass counts each file's firings
    so that every file starts its counters where the previous one ends."""
    from tqdm import tqdm

    n = len(paths)
    # disable=None: no bar when stderr is not a terminal (logs, pipes)
    with tqdm(total=n, desc="rates", disable=None if progress else True) as bar:
        if scheduler is None and min(workers or default_workers(), n) <= 1:
            out, before = [], None
            for path, kind in zip(paths, kinds):
                groups, fired = process_file(job, path, kind, before)
                before = fired if before is None else before + fired
                out.append(groups)
                bar.update()
            return out
        starts = [None] * n
        if two_passes:
            counts = map_tasks(count_fired, [(job, p) for p in paths], workers, scheduler)
            starts = list(np.cumsum([np.zeros_like(counts[0])] + counts[:-1], axis=0))
        results = map_tasks(process_file, list(zip([job] * n, paths, kinds, starts)), workers,
                            scheduler, progress=lambda _: bar.update())
    return [groups for groups, _ in results]
