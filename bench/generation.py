"""PU200 crossings per second per core: towers, and towers with the Phase-2 chain on top.

Ours: the min-bias pool is digitised once; a crossing gathers the tower deposits of its Poisson(200)
interactions and sums them with one bincount, then applies resolution, noise and zero suppression;
with the Phase-2 chain, each crossing also gets its L1 tracks (efficiency, resolution, fakes), the
FastHisto vertex, particle flow, PUPPI weights, PUPPI jets and sums, TkMu, TkEle and TkEm (their
inputs L1Mu and L1EG, the Phase-1 objects, are made outside the timed region).
Baseline, side by side on the same pool: the direct way, histogramming every particle of every
interaction of each crossing onto the tower grid (``np.histogram2d``, one crossing at a time).
Last line: one JSON object (name, value, unit, baseline, baseline_value, ratio) for the crossings
with the Phase-2 chain on.
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
from l1t.datasets.detector import calo, egamma, muons, phase2, tracks  # noqa: E402
from l1t.datasets.detector.geometry import ETA_EDGES, N_PHI  # noqa: E402
from l1t.datasets.pileup import build_pool, load_pool  # noqa: E402
from l1t.datasets.pythia import prepare_mpi_init  # noqa: E402
from l1t.datasets.samples import get_sample  # noqa: E402

MU, POOL, N_OURS, N_BASE, BATCH = 200.0, 2000, 2000, 100, 500
CFG = detector.DEFAULT


def _inputs(digi, members, counts, em, had, rng):
    """L1Mu and L1EG of the crossings (Phase-1 objects; not timed)."""
    total = em + had
    rho = calo.pileup_density(total, CFG.tower_lsb)
    trk, tc = digi.tracks.gather(members, counts)
    cands, mc = digi.mucands.gather(members, counts)
    mu = muons.simulate(cands, mc, trk, tc, counts, rng, CFG)
    eg = egamma.find(em, had, rho, np.zeros(em.shape, np.float32), CFG)
    return mu, eg


def main() -> None:
    cache = Path(os.environ.get("L1T_BENCH_CACHE", tempfile.mkdtemp(prefix="l1t-bench-")))
    mpi = prepare_mpi_init(get_sample("minbias"), cache / "mpi-minbias.dat")
    pool_file = build_pool(cache, POOL, 1, mpi)
    particles = ak.from_parquet(pool_file).particles
    digi, _ = load_pool(pool_file)

    # the same crossings for both of ours: towers alone, then towers + the Phase-2 chain
    rng = np.random.default_rng(1)
    batches = []
    for _ in range(N_OURS // BATCH):
        counts = rng.poisson(MU, BATCH)  # zero-bias crossings: every interaction from the pool
        batches.append((rng.integers(0, POOL, counts.sum()), counts))
    warm = batches[0]   # compile the numba kernels before timing
    em, had = detector.towers(digi, *warm, rng)
    _phase2(digi, *warm, em, had, *_inputs(digi, *warm, em, had, rng), rng)

    t_towers = 0.0
    t_phase2 = 0.0
    for members, counts in batches:
        t0 = time.perf_counter()
        em, had = detector.towers(digi, members, counts, rng)
        t_towers += time.perf_counter() - t0
        mu, eg = _inputs(digi, members, counts, em, had, rng)
        t0 = time.perf_counter()
        _phase2(digi, members, counts, em, had, mu, eg, rng)
        t_phase2 += time.perf_counter() - t0
    towers = N_OURS / t_towers
    ours = N_OURS / (t_towers + t_phase2)

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

    print(f"towers: {towers:.0f} PU200 crossings/s/core (resolution, noise, ZS)")
    print(f"towers + Phase-2 chain (L1 tracks, vertex, PF, PUPPI, PUPPI jets and sums, TkMu, "
          f"TkEle, TkEm): {ours:.0f} crossings/s/core "
          f"({1e3 * t_phase2 / N_OURS:.2f} ms of {1e3 * (t_towers + t_phase2) / N_OURS:.2f} ms "
          "per crossing)")
    print(f"baseline (per-crossing particle histogram): {base:.0f} crossings/s/core")
    print(json.dumps({"name": "generation_pu200_towers_phase2", "value": round(ours, 1),
                      "unit": "crossings/s/core", "baseline": "per-crossing particle histogram2d",
                      "baseline_value": round(base, 1), "ratio": round(ours / base, 2)}))


def _phase2(digi, members, counts, em, had, mu, eg, rng):
    trk, tc, origin = digi.tracks.gather_rows(members, counts)
    z = rng.normal(0.0, CFG.beam_sigma_z_cm, len(members))
    l1 = tracks.simulate(trk, tc, origin, z, counts, rng, CFG)
    return phase2.objects(l1, em, had, mu, eg, len(counts), CFG)


if __name__ == "__main__":
    main()
