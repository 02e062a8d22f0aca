"""Signal crossings injected into the stream, and what became of them.

``l1t stream --signal DIR --signal-fraction F`` turns each colliding slot, with probability F
per signal, into a crossing of that signal (:class:`l1t.trigger.stream.crossings.SignalPool`,
drawn uniformly, counted with its generator weight). :class:`SignalTally` follows every injected
crossing through the stream: the seeds its prescaled decisions request (``requested``: what
``l1t rates --signal`` / ``l1t efficiency`` measure, before deadtime), whether its BX got an L1
accept, and otherwise where the request died (the pipeline, a trigger rule, the derandomizer).
Efficiencies are weighted fractions Σw(accepted) / Σw(injected) with 68% Clopper–Pearson
intervals from the effective numbers (:func:`l1t.trigger.acceptance.weighted_fractions`), per
seed (the seed requested it and the BX was accepted), for the menu, and per position of the slot
in its bunch train (a train's first bunches follow empty slots, so the trigger rules and the
derandomizer are less often busy there).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..acceptance import weighted_fractions
from .crossings import SignalPool, unpack

#: Fates of a signal BX (as :func:`l1t.trigger.stream.l1a.distribute` reports them, plus the
#: pipeline and "not requested").
FATES = ("accepted", "not_requested", "lost_pipeline", "vetoed_rule", "lost_derandomizer")


@dataclass
class _Sums:
    n: int = 0
    w: float = 0.0
    w2: float = 0.0


@dataclass
class SignalTally:
    """Weighted sums over one signal's injected crossings (additive over chunks); positions run
    1 … ``max_position`` (the longest train)."""

    name: str
    n_seeds: int
    max_position: int
    injected: _Sums = field(default_factory=_Sums)
    seed_requested_w: np.ndarray = None      # type: ignore[assignment]  (S,)
    seed_accepted_w: np.ndarray = None       # type: ignore[assignment]  (S,)
    fate_w: np.ndarray = None                # type: ignore[assignment]  (len(FATES),)
    fate_n: np.ndarray = None                # type: ignore[assignment]
    position_w: np.ndarray = None            # type: ignore[assignment]  (P + 1,) injected
    position_w2: np.ndarray = None           # type: ignore[assignment]
    position_accepted_w: np.ndarray = None   # type: ignore[assignment]
    position_n: np.ndarray = None            # type: ignore[assignment]

    def __post_init__(self):
        z = np.zeros
        for name, shape in (("seed_requested_w", self.n_seeds), ("seed_accepted_w", self.n_seeds),
                            ("fate_w", len(FATES)), ("position_w", self.max_position + 1),
                            ("position_w2", self.max_position + 1),
                            ("position_accepted_w", self.max_position + 1)):
            if getattr(self, name) is None:
                setattr(self, name, z(shape))
        for name, shape in (("fate_n", len(FATES)), ("position_n", self.max_position + 1)):
            if getattr(self, name) is None:
                setattr(self, name, z(shape, np.int64))

    def add(self, weights: np.ndarray, kept_words: np.ndarray, fate: np.ndarray,
            position: np.ndarray) -> None:
        """Injected crossings of a chunk: weights ``(K,)``, prescaled decisions ``(K, n_words)``,
        fate index into :data:`FATES` ``(K,)``, train position ``(K,)``."""
        w = np.asarray(weights, np.float64)
        self.injected.n += len(w)
        self.injected.w += float(w.sum())
        self.injected.w2 += float((w * w).sum())
        kept = unpack(kept_words, self.n_seeds)
        accepted = fate == 0
        self.seed_requested_w += w @ kept
        self.seed_accepted_w += w[accepted] @ kept[accepted]
        self.fate_w += np.bincount(fate, weights=w, minlength=len(FATES))
        self.fate_n += np.bincount(fate, minlength=len(FATES))
        self.position_w += np.bincount(position, weights=w, minlength=self.max_position + 1)
        self.position_w2 += np.bincount(position, weights=w * w,
                                        minlength=self.max_position + 1)
        self.position_accepted_w += np.bincount(position[accepted], weights=w[accepted],
                                                minlength=self.max_position + 1)
        self.position_n += np.bincount(position, minlength=self.max_position + 1)

    def arrays(self) -> dict[str, np.ndarray]:
        """The sums as named arrays (a checkpoint); :meth:`restore` reads them back."""
        out = {k: getattr(self, k) for k in ("seed_requested_w", "seed_accepted_w", "fate_w",
                                               "fate_n", "position_w", "position_w2",
                                               "position_accepted_w", "position_n")}
        out["injected"] = np.array([self.injected.n, self.injected.w, self.injected.w2])
        return out

    def restore(self, arrays: dict) -> None:
        for k, v in arrays.items():
            if k == "injected":
                self.injected = _Sums(int(v[0]), float(v[1]), float(v[2]))
            else:
                setattr(self, k, np.array(v, dtype=getattr(self, k).dtype))

    def summary(self, pool: SignalPool, seeds: list[str], fraction: float) -> dict:
        """JSON-able efficiencies (fractions, not %): total, requested (before deadtime), per
        seed, the fates of the injected crossings and the efficiency per train position."""
        s = self.injected
        weighted = not (np.isclose(s.w, s.n) and np.isclose(s.w2, s.n))

        def frac(k):
            return [asdict(f) for f in weighted_fractions(k, s.w, s.w2, weighted)]

        total, requested = frac([self.fate_w[0], self.fate_w.sum() - self.fate_w[1]])
        per_seed = [{"seed": name, "requested": r, "efficiency": a}
                    for name, r, a in zip(seeds, frac(self.seed_requested_w),
                                          frac(self.seed_accepted_w))]
        positions = []
        for p in range(1, self.max_position + 1):
            if self.position_n[p] == 0:
                continue
            f = weighted_fractions(self.position_accepted_w[p], self.position_w[p],
                                   self.position_w2[p], weighted)[0]
            positions.append({"position": p, "injected": int(self.position_n[p]),
                              "efficiency": asdict(f)})
        return {"signal": self.name, "inputs": list(pool.sources), "fraction": fraction,
                "injected": s.n, "weighted": bool(weighted),
                "effective_crossings": s.w ** 2 / s.w2 if s.w2 > 0 else 0.0,
                "efficiency": total, "requested": requested, "seeds": per_seed,
                "fates": {f: {"crossings": int(n), "fraction": float(w / s.w) if s.w else None}
                          for f, n, w in zip(FATES, self.fate_n, self.fate_w)},
                "positions": positions}


def _pct(f: dict) -> str:
    v = f["value"]
    if v is None or not np.isfinite(v):
        return "-"
    return f"{100 * v:6.2f} +{100 * (f['high'] - v):.2f}/-{100 * (v - f['low']):.2f}"


def signal_table_text(signals: list[dict]) -> str:
    """Per signal: per seed the efficiency requested (before deadtime) and accepted (after
    prescales, pipeline, trigger rules and derandomizer), the menu's, the fates, and the
    efficiency along the bunch train (first, middle and last positions)."""
    blocks = []
    for s in signals:
        lines = [f"signal {s['signal']}: {s['injected']} crossings injected "
                 f"(fraction {s['fraction']:g} of colliding slots)",
                 f"{'seed':34s} {'requested [%]':>21s} {'accepted [%]':>21s}"]
        for e in s["seeds"]:
            lines.append(f"{e['seed']:34s} {_pct(e['requested']):>21s} "
                         f"{_pct(e['efficiency']):>21s}")
        lines.append(f"{'TOTAL':34s} {_pct(s['requested']):>21s} {_pct(s['efficiency']):>21s}")
        fates = s["fates"]
        lines.append("  not accepted: " + ", ".join(
            f"{k.replace('_', ' ')} {100 * (v['fraction'] or 0):.2f}%"
            for k, v in fates.items() if k != "accepted"))
        pos = s["positions"]
        if pos:
            pick = pos if len(pos) <= 6 else pos[:3] + [None] + pos[-3:]
            lines.append("  accepted vs position in the train: " + ", ".join(
                "..." if p is None else f"{p['position']}: {100 * p['efficiency']['value']:.1f}%"
                for p in pick))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n(requested: a seed's prescaled decision, before deadtime; "
                                  "accepted: and its BX got an L1A; 68% Clopper-Pearson)")
