"""``l1t train lar``: a LAr energy net trained on simulated sample streams with pileup from our
own min-bias events, compared with the optimal filter on held-out streams, saved.

The streams (:class:`LArData`): channels spread over the EM η rows |η| < ``eta_max``, each row
with its own pileup spectrum (:func:`l1t.datasets.lar.spectrum.minbias_spectra`), the LHC's
train structure (72 filled slots, 8 empty), Poisson(⟨μ⟩) interactions per filled crossing and
signal deposits (log-uniform ``signal_min_gev`` … ``signal_max_gev``) in a fraction of the filled
crossings. The reference filter is the optimal filter built from the autocorrelation (noise and
pileup) measured on the training streams.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.datasets.lar.pulse import PulseShape
from l1t.datasets.lar.sequences import LArConfig, LArSequences, simulate_rows, trains
from l1t.datasets.lar.spectrum import EM_ROWS

from .inputs import sample_values
from .model import LArModel, get_net
from .optimal_filter import OptimalFilter, optimal_filter
from .reconstruct import autocorrelation, of_energies

#: true-ET bins (GeV) of the resolution tables
ET_BINS = ((1, 5), (5, 10), (10, 25), (25, 60))
#: crossings at the start of a stream left out of every figure (the recurrence's start and
#: the first train's missing history)
SETTLE = 40
#: crossings at the end without the samples a reconstruction reads after the deposit
TAIL = 10
OF_FILE = "optimal_filter.json"


@dataclass(frozen=True)
class LArData:
    """The simulated streams a net is trained and tested on."""

    pileup: float = 200.0
    channels: int = 256
    crossings: int = 3000
    eta_max: float = 2.5
    signal_fraction: float = 0.05
    signal_min_gev: float = 1.0
    signal_max_gev: float = 60.0      # below the ADC's range with pileup (77 GeV)
    pool_size: int = 2000
    seed: int = 1

    def check(self) -> "LArData":
        if not 0 <= self.pileup <= 300:
            raise L1TInputError("lar", f"pileup must be in 0..300, got {self.pileup}", "pileup")
        if self.channels < 1 or self.crossings < 2 * SETTLE:
            raise L1TInputError("lar", f"need >= 1 channel and >= {2 * SETTLE} crossings",
                                "crossings")
        if not 0 < self.signal_min_gev < self.signal_max_gev:
            raise L1TInputError("lar", "signal ET range must be 0 < min < max", "signal_min_gev")
        return self


def rows(data: LArData, rng: np.random.Generator) -> np.ndarray:
    """An EM η row per channel, uniform over the rows with |η| < ``eta_max``."""
    from l1t.datasets.detector.geometry import ETA_CENTERS

    allowed = EM_ROWS[np.abs(ETA_CENTERS[EM_ROWS]) < data.eta_max]
    return rng.choice(allowed, data.channels)


def streams(data: LArData, spectra: dict[int, np.ndarray], stream: int,
            pulse: PulseShape | None = None, cfg: LArConfig = LArConfig(),
            filled: np.ndarray | None = None, mu: float | None = None,
            signal: np.ndarray | None = None) -> tuple[LArSequences, np.ndarray]:
    """Sequences of ``data`` (stream ``stream``: 0 training, 1 test, …) and the signal ET
    ``(channels, crossings)`` they carry (``signal``: given instead of drawn); ``filled``
    (default: :data:`data.crossings` slots of 72-bunch trains) and ``mu`` (default
    ``data.pileup``) replace those of ``data``."""
    rng = np.random.default_rng(np.random.SeedSequence([data.seed, stream]))
    filled = trains(data.crossings) if filled is None else np.asarray(filled, bool)
    ch_rows = rows(data, rng)
    n = (data.channels, len(filled))
    if signal is None:
        signal = signal_deposits(data, filled, rng)
    seq = simulate_rows(filled, ch_rows, spectra, data.pileup if mu is None else mu,
                        pulse or PulseShape.analytic(), rng, cfg, signal)
    return seq, signal


def signal_deposits(data: LArData, filled: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Signal ET ``(channels, crossings)``: in ``signal_fraction`` of the filled crossings,
    log-uniform between ``signal_min_gev`` and ``signal_max_gev``."""
    n = (data.channels, len(filled))
    hit = (rng.random(n) < data.signal_fraction) & np.asarray(filled, bool)[None, :]
    lo, hi = np.log(data.signal_min_gev), np.log(data.signal_max_gev)
    return np.where(hit, np.exp(rng.uniform(lo, hi, n)), 0.0)


def reference_filter(seq: LArSequences, pulse: PulseShape | None = None,
                     samples: int = 5) -> OptimalFilter:
    """The optimal filter from the autocorrelation measured on ``seq`` (noise + pileup)."""
    r = autocorrelation(seq, samples)
    return optimal_filter(pulse or PulseShape.analytic(), r / r[0, 0], seq.config.phase_ns,
                          source="autocorrelation measured on the streams (noise + pileup)")


@dataclass(frozen=True)
class ETBin:
    """ET − truth (GeV) of the net and of the optimal filter in a true-ET bin."""

    lo_gev: float
    hi_gev: float
    crossings: int
    nn_bias: float
    nn_sigma: float
    of_bias: float
    of_sigma: float


def resolution(truth: np.ndarray, nn: np.ndarray, of: np.ndarray, mask: np.ndarray,
               bins=ET_BINS) -> list[ETBin]:
    """Bias (mean) and resolution (RMS) of ET − truth in true-ET bins over ``mask``."""
    out = []
    for lo, hi in bins:
        sel = mask & (truth >= lo) & (truth < hi)
        if sel.sum() < 10:
            continue
        dn, do = nn[sel] - truth[sel], of[sel] - truth[sel]
        out.append(ETBin(lo, hi, int(sel.sum()), float(dn.mean()), float(dn.std()),
                         float(do.mean()), float(do.std())))
    return out


def settled(shape: tuple[int, int]) -> np.ndarray:
    """Crossings every reconstruction has a full history and future for."""
    mask = np.zeros(shape, bool)
    mask[:, SETTLE:shape[1] - TAIL] = True
    return mask


def bins_table_text(bins: list[ETBin], name: str = "net") -> str:
    head = (f"{'true ET [GeV]':>14s} {'crossings':>9s} {name + ' bias':>10s} {name + ' sigma':>10s}"
            f" {'OF bias':>9s} {'OF sigma':>9s}")
    rows_ = [f"{f'{b.lo_gev:g}-{b.hi_gev:g}':>14s} {b.crossings:9d} {b.nn_bias:10.3f} "
             f"{b.nn_sigma:10.3f} {b.of_bias:9.3f} {b.of_sigma:9.3f}" for b in bins]
    return "\n".join([head, *rows_])


@dataclass(frozen=True)
class LArTraining:
    """What ``l1t train lar`` did: the test-stream table (GeV) and where the model went."""

    out_dir: Path
    kind: str
    bins: list[ETBin]
    seconds: float
    data: LArData

    def text(self) -> str:
        return (f"LAr {self.kind} net trained on {self.data.channels} channels x "
                f"{self.data.crossings} crossings at <mu> = {self.data.pileup:g} in "
                f"{self.seconds:.0f} s; held-out streams, signal crossings:\n"
                + bins_table_text(self.bins, self.kind) + f"\n-> {self.out_dir}")


def train_lar(kind: str, out_dir: str | Path, cfg=None, data: LArData = LArData(),
              cache_dir: str | Path = ".l1t-cache") -> LArTraining:
    """Train a LAr net of ``kind`` (``dense``, ``cnn``, ``rnn``; ``cfg`` its config, default
    the kind's) on streams of ``data``, test it against the optimal filter, save it."""
    from l1t.datasets.lar.spectrum import minbias_spectra

    spec = get_net(kind)
    cfg = cfg or spec.config()
    data.check()
    t0 = time.perf_counter()
    probe = rows(data, np.random.default_rng(0))       # the rows the streams may use
    spectra = minbias_spectra(np.r_[probe, EM_ROWS], data.pool_size, data.seed, cache_dir)
    train_seq, _ = streams(data, spectra, 0)
    net = spec.train(sample_values(train_seq), train_seq.truth_et, cfg)
    model = LArModel(kind, net, cfg)
    of = reference_filter(train_seq)
    test_seq, signal = streams(data, spectra, 1)
    nn_et = model.energies(sample_values(test_seq))
    of_et = of_energies(test_seq, of)
    bins = resolution(test_seq.truth_et, nn_et, of_et, settled(signal.shape) & (signal > 0))
    seconds = time.perf_counter() - t0
    out = Path(out_dir)
    model.save(out, {"training": {"data": asdict(data), "seconds": round(seconds, 1),
                                  "test_resolution": [asdict(b) for b in bins]}})
    of.save(out / OF_FILE)
    return LArTraining(out, kind, bins, seconds, data)
