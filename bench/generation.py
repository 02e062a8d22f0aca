"""PU200 crossings per second per core at tower level.

Ours: the min-bias pool is digitised once; a crossing gathers the tower deposits of its Poisson(200)
interactions and sums them with one bincount, then applies resolution, noise and zero suppression.
Baseline, side by side on the same pool: the direct way, histogramming every particle of every
interaction of each crossing onto the tower grid (``np.histogram2d``, one crossing at a time).
Last line: one JSON object (name, value, unit, baseline, baseline_value, ratio).
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np


from l1t.datasets import detector  # noqa: E402
from l1t.datasets.detector.geometry import ETA_EDGES, N_PHI  # noqa: E402
from l1t.datasets.pileup import build_pool, load_pool  # noqa: E402
from l1t.datasets.pythia import prepare_mpi_init  # noqa: E402
from l1t.datasets.samples import get_sample  # noqa: E402

MU, POOL, N_OURS, N_BASE = 200.0, 2000, 2000, 100


def main() -> None:
    cache = Path(os.environ.get("L1T_BENCH_CACHE", tempfile.mkdtemp(prefix="l1t-bench-")))
    mpi = prepare_mpi_init(get_sample("minbias"), cache / "mpi-minbias.dat")
    pool_file = build_pool(cache, POOL, 1, mpi)
    particles = ak.from_parquet(pool_file)
    digi, _ = load_pool(pool_file)

    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    for _ in range(N_OURS // 500):
        counts = rng.poisson(MU, 500)  # zero-bias crossings: every interaction from the pool
        members = rng.integers(0, POOL, counts.sum())
        detector.towers(digi, members, counts, rng)
    ours = N_OURS / (time.perf_counter() - t0)

    flat_eta = [ak.to_numpy(particles[i].eta) for i in range(POOL)]
    flat_phi = [ak.to_numpy(particles[i].phi) for i in range(POOL)]
    flat_pt = [ak.to_numpy(particles[i].pt) for i in range(POOL)]
    phi_edges = np.linspace(-np.pi, np.pi, N_PHI + 1)
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    for _ in range(N_BASE):
        idx = rng.integers(0, POOL, rng.poisson(MU))
        eta = np.concatenate([flat_eta[i] for i in idx])
        phi = np.concatenate([flat_phi[i] for i in idx])
        pt = np.concatenate([flat_pt[i] for i in idx])
        grid, _, _ = np.histogram2d(eta, phi, bins=(ETA_EDGES, phi_edges), weights=pt)
        grid = grid + 0.3 * rng.standard_normal(grid.shape)
        grid[grid < 0.5] = 0
    base = N_BASE / (time.perf_counter() - t0)

    print(f"ours: {ours:.0f} PU200 crossings/s/core (towers, resolution, noise, ZS)")
    print(f"baseline (per-crossing particle histogram): {base:.0f} crossings/s/core")
    print(json.dumps({"name": "generation_pu200_towers", "value": round(ours, 1),
                      "unit": "crossings/s/core", "baseline": "per-crossing particle histogram2d",
                      "baseline_value": round(base, 1), "ratio": round(ours / base, 2)}))


if __name__ == "__main__":
    main()
