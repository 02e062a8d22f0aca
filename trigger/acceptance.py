"""Signal efficiency of a menu: the table a physicist shows when asking for a new seed.

For each signal (a production, or files) and each seed: the fraction of the signal's crossings
the seed accepts, and the fraction it accepts *alone*, no other seed of the menu firing (what
the menu loses without it, its unique acceptance); for the menu, the fraction any seed accepts.
Seeds are taken after their prescales (the counters of :mod:`l1t.trigger.prescale`, run over
each signal's crossings in order, as in ``l1t rates``); the unprescaled efficiency of each seed
is kept alongside. Crossings count with their generator weights (HepMC weights, a weighted
sample's): efficiency = Σw(accepted) / Σw.

Errors are 68% Clopper–Pearson intervals (:func:`l1t.trigger.efficiency.clopper_pearson`),
exact for unweighted crossings. With weights they use the effective numbers
n_eff = (Σw)² / Σw² and k_eff = efficiency × n_eff (the usual approximation; it is the exact
interval when the weights are equal).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract, atomic_write

from .efficiency import CL, clopper_pearson
from .evaluate import DEFAULT_STEP, Evaluator
from .menu import Menu
from .prescale import PrescaleCounters


@dataclass(frozen=True)
class Fraction:
    """An efficiency and its 68% Clopper–Pearson interval (fractions, not %); NaN without
    crossings."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class SeedEfficiency:
    """One seed on one signal: accepted after its prescale, unprescaled, and alone (no other
    seed accepted the crossing); ``crossings``: how many crossings it accepted (unweighted)."""

    seed: str
    prescale: float
    efficiency: Fraction
    unprescaled: Fraction
    alone: Fraction
    crossings: int


@dataclass(frozen=True)
class SignalEfficiency:
    """A menu on one signal: per seed, and for the menu (``total``: any seed accepted)."""

    signal: str
    inputs: list[str]
    crossings: int
    weighted: bool
    effective_crossings: float
    seeds: list[SeedEfficiency]
    total: Fraction
    total_crossings: int


@dataclass
class _Sums:
    """Weighted sums over a signal's crossings (additive over chunks)."""

    n: int = 0
    w: float = 0.0
    w2: float = 0.0
    kept: np.ndarray | None = None
    fired: np.ndarray | None = None
    alone: np.ndarray | None = None
    total: float = 0.0
    n_kept: np.ndarray | None = None
    n_total: int = 0

    def add(self, fired: np.ndarray, kept: np.ndarray, w: np.ndarray) -> None:
        alone = kept & (kept.sum(axis=1, keepdims=True) == 1)
        any_ = kept.any(axis=1)
        parts = {"kept": w @ kept, "fired": w @ fired, "alone": w @ alone,
                 "n_kept": kept.sum(axis=0)}
        for name, value in parts.items():
            before = getattr(self, name)
            setattr(self, name, value if before is None else before + value)
        self.n += len(w)
        self.w += float(w.sum())
        self.w2 += float((w * w).sum())
        self.total += float(w @ any_)
        self.n_total += int(any_.sum())


    @property
    def weighted(self) -> bool:
        """Whether any weight differs from 1."""
        return not (np.isclose(self.w, self.n) and np.isclose(self.w2, self.n))


def _fractions(k_w: np.ndarray, sums: _Sums) -> list[Fraction]:
    """Fractions ``k_w / Σw`` with their intervals from the effective numbers (the counts
    themselves when every weight is 1)."""
    return weighted_fractions(k_w, sums.w, sums.w2, sums.weighted)


def weighted_fractions(k_w, w: float, w2: float, weighted: bool) -> list[Fraction]:
    """Fractions ``k_w / w`` of crossings of total weight ``w`` (and Σw² ``w2``), each with its
    68% interval from the effective numbers n_eff = w² / w2, k_eff = fraction × n_eff (rounded
    to whole crossings when ``weighted`` is False); NaN without weight."""
    k_w = np.atleast_1d(np.asarray(k_w, np.float64))
    if w <= 0 or w2 <= 0:
        return [Fraction(np.nan, np.nan, np.nan) for _ in k_w]
    n_eff = w ** 2 / w2
    value = np.clip(k_w / w, 0.0, 1.0)
    k_eff = value * n_eff if weighted else np.round(value * n_eff)
    _, low, high = clopper_pearson(k_eff, np.full(len(k_w), n_eff), CL)
    return [Fraction(float(v), float(lo), float(hi)) for v, lo, hi in zip(value, low, high)]


def signal_efficiency(menu: Menu, signals: Mapping[str, Sequence[str | Path]],
                      step_size: int = DEFAULT_STEP, fmt: str = "auto", mapping=None
                      ) -> list[SignalEfficiency]:
    """The menu on each signal (name → its files, e.g. from
    :func:`l1t.datasets.inputs.expand_inputs`); memory bounded by ``step_size`` crossings."""
    if not signals:
        raise L1TInputError("--signal", "give at least one signal production")
    evaluator = Evaluator(menu)
    out = []
    for name, paths in signals.items():
        counters = PrescaleCounters.of(menu)
        sums = _Sums()
        for chunk in evaluator.chunks(list(paths), step_size, fmt, mapping):
            fired = chunk.fired()
            sums.add(fired, counters.apply(fired), np.asarray(chunk.events.weight, np.float64))
        if sums.n == 0:
            raise L1TInputError(", ".join(map(str, paths)), "the signal holds no crossings")
        if sums.w <= 0:
            raise L1TInputError(", ".join(map(str, paths)), "the signal's crossings all have "
                                "weight 0", "weight")
        n_kept = sums.n_kept if sums.n_kept is not None else np.zeros(len(menu.seeds), int)
        kept, fired, alone = (_fractions(getattr(sums, a), sums)
                              for a in ("kept", "fired", "alone"))
        seeds = [SeedEfficiency(s.name, s.prescale, kept[j], fired[j], alone[j], int(n_kept[j]))
                 for j, s in enumerate(menu.seeds)]
        out.append(SignalEfficiency(name, [str(p) for p in paths], sums.n, sums.weighted,
                                    sums.w ** 2 / sums.w2, seeds, _fractions(sums.total, sums)[0],
                                    sums.n_total))
    return out


def _pct(f: Fraction) -> str:
    """``93.50 +1.20/-1.41`` (%)."""
    if not np.isfinite(f.value):
        return "-"
    return f"{100 * f.value:6.2f} +{100 * (f.high - f.value):.2f}/-{100 * (f.value - f.low):.2f}"


def efficiency_table_text(results: Sequence[SignalEfficiency]) -> str:
    """One block per signal: per seed the prescale, the efficiency and the efficiency alone
    (%, with the 68% interval), the crossings accepted; then the menu's total."""
    blocks = []
    for r in results:
        weights = (f", weighted: {r.effective_crossings:.1f} effective" if r.weighted else "")
        lines = [f"signal {r.signal} ({r.crossings} crossings{weights})",
                 f"{'seed':34s} {'prescale':>8s} {'efficiency [%]':>21s} {'alone [%]':>21s} "
                 f"{'crossings':>9s}"]
        for s in r.seeds:
            lines.append(f"{s.seed:34s} {s.prescale:8g} {_pct(s.efficiency):>21s} "
                         f"{_pct(s.alone):>21s} {s.crossings:9d}")
        lines.append(f"{'TOTAL':34s} {'':8s} {_pct(r.total):>21s} {'':>21s} "
                     f"{r.total_crossings:9d}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n(efficiency after prescale; alone: no other seed "
                                  "accepts the crossing; 68% Clopper-Pearson intervals)")


#: ``efficiency.json``: the results of :func:`signal_efficiency`.
EFFICIENCY_CONTRACT = JsonContract("l1t-signal-efficiency", 1)


def write_efficiencies(results: Sequence[SignalEfficiency], menu: Menu, out_dir: str | Path
                       ) -> dict[str, Path]:
    """``efficiency.json`` (everything) and ``efficiency.csv`` (signal, seed, prescale,
    efficiency and alone with their bounds; a ``TOTAL`` row per signal) into ``out_dir``,
    each atomically."""
    out = Path(out_dir)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["signal", "seed", "prescale", "efficiency", "efficiency_low", "efficiency_high",
                "alone", "alone_low", "alone_high", "crossings"])
    for r in results:
        for s in r.seeds:
            w.writerow([r.signal, s.seed, f"{s.prescale:g}", *_cells(s.efficiency),
                        *_cells(s.alone), s.crossings])
        w.writerow([r.signal, "TOTAL", "", *_cells(r.total), "", "", "", r.total_crossings])
    paths = {"csv": out / "efficiency.csv", "json": out / "efficiency.json"}
    data = {"menu": menu.name, "menu_file": str(menu.path) if menu.path else None,
            "confidence_level": CL, "signals": [asdict(r) for r in results]}
    atomic_write(paths["csv"], lambda p: Path(p).write_text(buf.getvalue()))
    EFFICIENCY_CONTRACT.write(paths["json"], data)
    return paths


def _cells(f: Fraction) -> list[str]:
    return [f"{v:.6g}" for v in (f.value, f.low, f.high)]


def read_efficiencies(path: str | Path) -> list[SignalEfficiency]:
    """The results in an ``efficiency.json`` written by :func:`write_efficiencies`."""
    data = EFFICIENCY_CONTRACT.read(path)
    try:
        out = []
        for r in data["signals"]:
            seeds = [SeedEfficiency(s["seed"], float(s["prescale"]), _fraction(s["efficiency"]),
                                    _fraction(s["unprescaled"]), _fraction(s["alone"]),
                                    int(s["crossings"])) for s in r["seeds"]]
            out.append(SignalEfficiency(str(r["signal"]), [str(p) for p in r["inputs"]],
                                        int(r["crossings"]), bool(r["weighted"]),
                                        float(r["effective_crossings"]), seeds,
                                        _fraction(r["total"]), int(r["total_crossings"])))
    except (KeyError, TypeError, ValueError) as err:
        raise L1TInputError(path, f"not a signal-efficiency file ({err})", "signals") from None
    return out


def _fraction(d) -> Fraction:
    return Fraction(*(np.nan if d[k] is None else float(d[k]) for k in ("value", "low", "high")))
