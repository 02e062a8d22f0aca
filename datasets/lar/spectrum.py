"""The pileup spectrum of LAr channels from our own min-bias events.

A channel is the EM part of one trigger tower (η row ``ieta``). Each pileup interaction deposits
in it the EM tower ET of one digitised Pythia min-bias interaction at that η
(:func:`~.sequences.em_spectrum`: one value per interaction and φ tower, zeros included). The
min-bias events are the productions' pileup pool (:mod:`l1t.datasets.pileup`), generated once
and cached.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..detector.geometry import ETA_CENTERS, FORWARD_ROWS
from .sequences import em_spectrum

#: η rows with an EM calorimeter in the tower grid (|η| < 3; forward rows hold no EM word)
EM_ROWS = np.flatnonzero(~FORWARD_ROWS)


def minbias_spectra(rows, pool_size: int = 2000, seed: int = 1,
                    cache_dir: str | Path = ".l1t-cache") -> dict[int, np.ndarray]:
    """``{ieta: per-interaction EM ET (GeV)}`` for the η ``rows`` from a min-bias pool of
    ``pool_size`` Pythia events (seed ``seed``) cached under ``cache_dir``."""
    from ..pileup import build_pool, load_pool
    from ..pythia import prepare_mpi_init
    from ..samples import get_sample

    cache = Path(cache_dir)
    mpi = prepare_mpi_init(get_sample("minbias"), cache / "mpi-minbias.dat", seed=1)
    digi, _ = load_pool(build_pool(cache, pool_size, seed, mpi))
    return {int(r): em_spectrum(digi.deposits, int(r)) for r in np.unique(rows)}


def row_of_eta(eta: float) -> int:
    """The η row whose centre is nearest ``eta``."""
    return int(np.argmin(np.abs(ETA_CENTERS - eta)))
