"""``l1t lar-performance``: LAr energy nets against the optimal filter under pileup.

Every reconstruction runs on the same simulated streams (:mod:`l1t.models.lar.train`: channels
over the EM η rows, pileup from our own min-bias spectrum per row, signal deposits of 1–60 GeV in
5% of the filled crossings) following the LHC's nominal filling scheme, one orbit per channel
(:mod:`l1t.trigger.stream.filling`: 2808 bunches in trains of 72, so a crossing's out-of-time
pileup depends on where it sits in its train). The nets run as the firmware computes them (the
bit-exact emulator, :class:`l1t.firmware.lar.DeployedLAr`); the optimal filter (OF) is the one
built from the autocorrelation measured on the streams at each ⟨μ⟩ (the best the OF can do).
Figures, each the bias (mean) and resolution (RMS) of reconstructed − true ET in GeV on the
signal crossings a full window away from the stream's ends:

- ``et``: per true-ET bin at the main ⟨μ⟩;
- ``pileup``: per ⟨μ⟩ (all signal crossings);
- ``train``: per position in the bunch train (bunches since the train's first);
- ``after_deposit``: a probe deposit 2–20 crossings after a large one (50 GeV), per true-ET bin
  of the probe; and ``after_lag``: the bias of crossings without signal vs the crossings since
  the large deposit (the OF's undershoot problem).

Written to ``DIR/performance.json`` (:data:`PERFORMANCE_CONTRACT`) with ``resolution.png``,
``pileup.png``, ``train.png`` and ``after_deposit.png``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract, atomic_write
from l1t.datasets.lar.sequences import LArSequences
from l1t.datasets.lar.spectrum import EM_ROWS, minbias_spectra
from l1t.firmware.deployable import deployed, kind_of
from l1t.models.lar.inputs import sample_values
from l1t.models.lar.reconstruct import of_energies
from l1t.models.lar.train import ET_BINS, SETTLE, TAIL, LArData, reference_filter, streams
from l1t.trigger.stream.filling import nominal_25ns

PERFORMANCE_CONTRACT = JsonContract("l1t-lar-performance", 1)
OF = "OF"
BIG_GEV = 50.0                                  #: the large earlier deposit
LAGS = (2, 20)                                  #: probe crossings after it (inclusive)
TRAIN_BINS = ((0, 4), (4, 12), (12, 24), (24, 48), (48, 72))


@dataclass(frozen=True)
class Row:
    """One bin: its label and range, the signal crossings in it, and per reconstruction the
    bias and resolution (GeV)."""

    label: str
    lo: float
    hi: float
    crossings: int
    bias: dict[str, float]
    sigma: dict[str, float]


@dataclass
class LArPerformance:
    models: dict[str, str]              # name -> kind
    pileup: float
    channels: int
    et: list[Row]
    pileup_scan: list[Row]
    train: list[Row]
    after_deposit: list[Row]
    after_lag: list[Row]

    def to_dict(self) -> dict:
        return asdict(self)


def _rows(label_of, edges, key: np.ndarray, truth: np.ndarray, recos: dict[str, np.ndarray],
          mask: np.ndarray, min_count: int = 10) -> list[Row]:
    out = []
    for lo, hi in edges:
        sel = mask & (key >= lo) & (key < hi)
        n = int(sel.sum())
        if n < min_count:
            continue
        err = {name: e[sel] - truth[sel] for name, e in recos.items()}
        out.append(Row(label_of(lo, hi), float(lo), float(hi), n,
                       {k: float(v.mean()) for k, v in err.items()},
                       {k: float(v.std()) for k, v in err.items()}))
    return out


def _et_label(lo, hi) -> str:
    return f"{lo:g}-{hi:g} GeV"


def _reconstruct(seq: LArSequences, nets: dict[str, object]) -> dict[str, np.ndarray]:
    """ET of every reconstruction: the OF from this stream's autocorrelation and each net in
    firmware."""
    values = sample_values(seq)
    out = {OF: of_energies(seq, reference_filter(seq))}
    for name, net in nets.items():
        out[name] = net.energies(values)
    return out


def _inside(shape) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[:, SETTLE:shape[1] - TAIL] = True
    return m


def train_position(filled: np.ndarray) -> np.ndarray:
    """Per slot, the filled slots since the first of its train (0 for the first; −1 empty)."""
    filled = np.asarray(filled, bool)
    idx = np.arange(len(filled))
    start = np.maximum.accumulate(np.where(~filled, idx, -1))   # last empty slot so far
    return np.where(filled, idx - start - 1, -1)


def _big_deposits(data: LArData, filled: np.ndarray, rng: np.random.Generator):
    """Signal with a large deposit every 40 filled-slot-aligned crossings per channel and a
    probe 2–20 crossings after each (log-uniform 1–60 GeV); returns (signal, probe mask,
    crossings since the last large deposit)."""
    n_ch, n_bx = data.channels, len(filled)
    signal = np.zeros((n_ch, n_bx))
    probe = np.zeros((n_ch, n_bx), bool)
    since = np.full((n_ch, n_bx), 10_000)
    big = np.arange(SETTLE, n_bx - 40, 40)
    big = big[np.asarray(filled)[big]]
    ch = np.arange(n_ch)[:, None]
    signal[:, big] = BIG_GEV
    lag = rng.integers(LAGS[0], LAGS[1] + 1, (n_ch, len(big)))
    et = np.exp(rng.uniform(np.log(data.signal_min_gev), np.log(data.signal_max_gev),
                            (n_ch, len(big))))
    at = big[None, :] + lag
    ok = np.asarray(filled)[at]
    signal[np.broadcast_to(ch, at.shape)[ok], at[ok]] += et[ok]
    probe[np.broadcast_to(ch, at.shape)[ok], at[ok]] = True
    for k in range(1, 40):                       # crossings since the large deposit (k < 40)
        since[:, big + k] = np.minimum(since[:, big + k], k)
    return signal, probe, since


def lar_performance(model_dirs: list[str | Path], out_dir: str | Path, pileup: float = 200.0,
                    pileup_scan: tuple[float, ...] = (140.0, 200.0, 250.0),
                    channels: int = 128, pool_size: int = 2000, seed: int = 11,
                    cache_dir: str | Path | None = None, pool_seed: int = 1) -> LArPerformance:
    """Measure (module docstring) and write ``performance.json`` and the plots; the pileup
    spectrum comes from the min-bias pool of ``pool_size`` events and seed ``pool_seed`` (the
    productions' pool of that seed: shared through ``cache_dir``)."""
    nets = {}
    for d in model_dirs:
        k = kind_of(d)
        if k.name != "lar":
            raise L1TInputError(d, f"holds a {k.name} model, not a LAr net (l1t train lar)",
                                "model")
        name = Path(d).resolve().name
        if name in nets or name == OF:
            raise L1TInputError(d, f"two reconstructions named {name!r}: give the model "
                                "directories different names", "model")
        nets[name] = deployed(d)
    out = Path(out_dir)
    cache = Path(cache_dir) if cache_dir else out / ".cache"
    filled = nominal_25ns().colliding.copy()
    data = LArData(pileup=pileup, channels=channels, crossings=len(filled), pool_size=pool_size,
                   seed=seed)
    spectra = minbias_spectra(EM_ROWS, pool_size, pool_seed, cache)
    # the main streams: per ET bin and per position in the train
    seq, signal = streams(data, spectra, 1, filled=filled)
    recos = _reconstruct(seq, nets)
    hit = _inside(signal.shape) & (signal > 0)
    et_rows = _rows(_et_label, ET_BINS, seq.truth_et, seq.truth_et, recos, hit)
    pos = np.broadcast_to(train_position(filled)[None, :], signal.shape)
    train_rows = _rows(lambda lo, hi: f"bunch {lo:g}-{hi - 1:g}", TRAIN_BINS, pos,
                       seq.truth_et, recos, hit)
    # per <mu>
    scan = []
    for i, mu in enumerate(pileup_scan):
        s_mu, sig_mu = streams(replace(data, pileup=mu), spectra, 10 + i, filled=filled)
        r_mu = _reconstruct(s_mu, nets)
        m = _inside(sig_mu.shape) & (sig_mu > 0)
        scan += _rows(lambda lo, hi, mu=mu: f"<mu> = {mu:g}", [(-np.inf, np.inf)],
                      s_mu.truth_et, s_mu.truth_et, r_mu, m)
        scan[-1] = replace(scan[-1], lo=mu, hi=mu)
    # after a large deposit
    rng = np.random.default_rng(np.random.SeedSequence([seed, 99]))
    big_signal, probe, since = _big_deposits(data, filled, rng)
    s_big, _ = streams(data, spectra, 2, filled=filled, signal=big_signal)
    r_big = _reconstruct(s_big, nets)
    after_rows = _rows(_et_label, ET_BINS, s_big.truth_et, s_big.truth_et, r_big,
                       probe & _inside(probe.shape))
    quiet = (big_signal == 0) & np.asarray(filled)[None, :] & _inside(probe.shape)
    lag_rows = _rows(lambda lo, hi: f"{lo:g}", [(k, k + 1) for k in range(1, 35)], since,
                     s_big.truth_et, r_big, quiet)
    perf = LArPerformance({n: net.model.kind for n, net in nets.items()}, pileup, channels,
                          et_rows, scan, train_rows, after_rows, lag_rows)
    out.mkdir(parents=True, exist_ok=True)
    PERFORMANCE_CONTRACT.write(out / "performance.json", perf.to_dict())
    _plots(perf, out)
    return perf


def read_performance(path: str | Path) -> dict:
    return PERFORMANCE_CONTRACT.read(path)


def _plots(perf: LArPerformance, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [OF, *perf.models]

    def panel(rows: list[Row], x, xlabel: str, path: str, title: str) -> None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for name in names:
            axes[0].plot(x, [r.bias[name] for r in rows], "o-", label=name)
            axes[1].plot(x, [r.sigma[name] for r in rows], "o-", label=name)
        axes[0].set_ylabel("bias: mean(reco - true ET) [GeV]")
        axes[1].set_ylabel("resolution: RMS(reco - true ET) [GeV]")
        for ax in axes:
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3)
        axes[0].axhline(0, color="k", lw=0.5)
        axes[1].legend()
        fig.suptitle(title)
        fig.tight_layout()
        atomic_write(out / path, lambda p: fig.savefig(p, format="png", dpi=100))
        plt.close(fig)

    mid = lambda rows: [0.5 * (r.lo + r.hi) for r in rows]    # noqa: E731
    panel(perf.et, mid(perf.et), "true ET [GeV]", "resolution.png",
          f"LAr ET reconstruction at <mu> = {perf.pileup:g}")
    panel(perf.pileup_scan, [r.lo for r in perf.pileup_scan], "<mu>", "pileup.png",
          "vs pileup (signal crossings)")
    panel(perf.train, mid(perf.train), "bunch position in the train", "train.png",
          "vs position in the train")
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in names:
        ax.plot([r.lo for r in perf.after_lag], [r.bias[name] for r in perf.after_lag], ".-",
                label=name)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel(f"crossings after a {BIG_GEV:g} GeV deposit")
    ax.set_ylabel("bias without signal [GeV]")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(out / "after_deposit.png", lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)


def table_text(perf: LArPerformance) -> str:
    """The tables a physicist pastes: bias / RMS per reconstruction in each study."""
    names = [OF, *perf.models]
    head = f"{'':22s} {'crossings':>9s} " + " ".join(f"{n[:17]:>17s}" for n in names)

    def block(title: str, rows: list[Row]) -> list[str]:
        lines = [title, head]
        for r in rows:
            lines.append(f"{r.label:22s} {r.crossings:9d} " + " ".join(
                f"{r.bias[n]:+7.2f} / {r.sigma[n]:5.2f}   " for n in names))
        return lines + [""]

    return "\n".join(["bias / RMS of reconstructed - true ET [GeV]; nets in firmware "
                      "(emulator), OF from the measured autocorrelation", ""]
                     + block(f"per true ET, <mu> = {perf.pileup:g}", perf.et)
                     + block("per pileup", perf.pileup_scan)
                     + block("per position in the bunch train", perf.train)
                     + block(f"probe {LAGS[0]}-{LAGS[1]} crossings after a {BIG_GEV:g} GeV "
                             "deposit, per probe ET", perf.after_deposit)).rstrip()
