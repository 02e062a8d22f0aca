"""Pileup: each bunch crossing gets Poisson(μ) extra min-bias interactions from a pool.

The pool is a finite set of min-bias events generated once per production (``pool_size``, seeded)
and drawn with replacement, so at μ = 200 every pool event appears in many crossings: on average
μ·N_crossings / pool_size times. This reuse is recorded in the manifest and in each chunk's
metadata. A crossing is (hard interaction, pileup …); for the ``minbias`` sample at μ > 0 the
crossing is a zero-bias one: Poisson(μ) interactions in all, the first of them the sample's own
event (none when the draw is 0), so its mean number of interactions is μ.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path

import awkward as ak
import numpy as np

from .detector import DEFAULT, DetectorConfig, Digitized, digitize
from .pythia import chunk_seed, generate
from .samples import get_sample

#: Index used for the pool's Pythia seed, apart from chunk indices.
POOL_STREAM = 10**9


def pool_path(cache_dir: Path, size: int, seed: int) -> Path:
    return Path(cache_dir) / f"minbias-pool-v2-n{size}-s{seed}.parquet"


def build_pool(cache_dir: Path, size: int, seed: int, mpi_init: Path,
               progress: bool = False) -> Path:
    """Generate the min-bias pool (particles and pT-hat) once; cache it as parquet (atomically).
    ``progress``: a progress bar while it is generated (one process: minutes for 10⁴ events)."""
    path = pool_path(cache_dir, size, seed)
    if path.exists():
        return path
    events = generate(get_sample("minbias"), size, chunk_seed(seed, POOL_STREAM), mpi_init,
                      progress="pileup pool" if progress else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    ak.to_parquet(events[["particles", "pthat"]], tmp)
    os.replace(tmp, path)
    return path


def pool_id(path: Path) -> int:
    """A 31-bit id of a pool file (CRC-32 of its name, which holds its size and seed): the upper
    half of ``pu_source``, so that pool events of different pools never share a source."""
    return zlib.crc32(Path(path).name.encode()) & 0x7FFFFFFF


def hardest_sources(pu_crossing: np.ndarray, pu_members: np.ndarray, pthats: np.ndarray,
                    n_crossings: int, n_hard: int, pool: Path | None) -> np.ndarray:
    """``(C,)`` int64: per crossing the pool event of its hardest pileup interaction (highest
    pT-hat; ties: the later one), as ``pool_id << 32 | index in the pool``; -1 for a crossing
    without pileup. ``pu_crossing``, ``pu_members``: the crossing and interaction index of
    every pileup interaction (all but each crossing's first, :func:`compose`), ``pthats``
    (GeV) of every interaction index, the pool's events after the ``n_hard`` hard ones."""
    out = np.full(n_crossings, -1, np.int64)
    if pool is None or len(pu_members) == 0:
        return out
    order = np.lexsort((pthats[pu_members], pu_crossing))
    c, m = pu_crossing[order], pu_members[order]
    last = np.r_[c[1:] != c[:-1], True]
    out[c[last]] = (np.int64(pool_id(pool)) << 32) | (m[last] - n_hard).astype(np.int64)
    return out


_POOLS: dict[tuple[str, int], tuple[Digitized, np.ndarray]] = {}


def load_pool(path: Path, cfg: DetectorConfig = DEFAULT) -> tuple[Digitized, np.ndarray]:
    """The digitised pool and the pT-hat (GeV) of each of its events (cached per process: every
    chunk of a worker reuses it)."""
    key = (str(path), hash(cfg))
    if key not in _POOLS:
        events = ak.from_parquet(path)
        _POOLS[key] = (digitize(events.particles, cfg), ak.to_numpy(events.pthat))
    return _POOLS[key]


def compose(n_hard: int, mu: float, pool_size: int, rng: np.random.Generator,
            zero_bias: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Interaction indices of each crossing: hard event ``i`` is index ``i``, pool event ``j`` is
    ``n_hard + j``. Returns ``(members, counts)``: crossing ``c`` has ``counts[c]`` interactions,
    the hard one (if any) first.

    ``zero_bias``: crossings have Poisson(μ) interactions in all, the first being the hard event.
    Otherwise they have the hard event plus Poisson(μ) pileup interactions.
    """
    n_draw = rng.poisson(mu, n_hard) if mu > 0 else np.zeros(n_hard, np.int64)
    if zero_bias and mu > 0:
        has_hard = n_draw > 0
        n_pu = np.maximum(n_draw - 1, 0)
    else:
        has_hard = np.ones(n_hard, bool)
        n_pu = n_draw
    counts = has_hard.astype(np.int64) + n_pu
    pool_idx = rng.integers(0, pool_size, int(n_pu.sum())) + n_hard if pool_size else np.zeros(0, np.int64)
    members = np.empty(int(counts.sum()), np.int64)
    starts = np.cumsum(counts) - counts
    hard_pos = starts[has_hard]
    members[hard_pos] = np.flatnonzero(has_hard)
    is_pu = np.ones(len(members), bool)
    is_pu[hard_pos] = False
    members[is_pu] = pool_idx
    return members, counts
