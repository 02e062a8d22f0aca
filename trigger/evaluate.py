"""Seed decisions, vectorised over crossings.

For each seed and crossing we compute the *margin* s: the largest factor by which all the seed's
thresholds could be scaled and the seed still fire. The seed fires iff s ≥ 1 (thresholds are
inclusive, and x / x == 1 exactly in floating point), and the rate-vs-threshold scan of a seed is
the distribution of s × (its reference threshold), obtained from one evaluation.

- a leg: pT / threshold of its object (−inf when no object passes the leg's other cuts);
- several legs: the best assignment of distinct objects, min over legs. Legs of one collection
  with identical cuts (the usual multi-object seed) pair the k-th highest threshold with the k-th
  highest object; otherwise, or with cross cuts, all assignments of the few candidates are tried;
- a sum: value / threshold; AND: min of the parts; OR: max; NOT: ±inf.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np

from l1t.core.errors import L1TInputError
from l1t.datasets.formats import iter_events, read_metadata
from l1t.firmware.deployable import deployed, kind_of, replace_fields

from .inputs import GT_INPUTS, Objects, TriggerInputs, from_events
from .kernels import top_passing
from .menu import Condition, Cross, Leg, Menu


def ratio(value: np.ndarray, threshold: float) -> np.ndarray:
    """value / threshold in float64 (a float32 pT against a scaled threshold must not round
    across it); with a zero threshold, +inf where a value exists (≥ 0)."""
    if threshold > 0:
        return np.divide(value, threshold, dtype=np.float64)
    return np.where(value >= 0, np.inf, -np.inf)


def _and(result: np.ndarray | None, part: np.ndarray) -> np.ndarray:
    """Minimum of the parts so far and ``part`` (``part`` may be modified: pass fresh arrays)."""
    if result is None:
        return part
    return np.minimum(result, part, out=result)


#: Crossings per chunk when a menu runs over files: bounds the memory (see :mod:`l1t.trigger.job`).
DEFAULT_STEP = 20_000


def has_electron_id(path: str | Path) -> bool:
    """Whether the e/γ objects of a file carry the track-matched electron bit (``isEle``).

    Files l1t writes do, and they are the ones carrying l1t metadata; foreign files (CMS
    NanoAOD-style ntuples, ADC2021 h5) have neither, and their electron legs then take every L1EG
    object, as photon legs do."""
    return bool(read_metadata(path))


@dataclass
class MenuChunk:
    """One chunk of a file with its trigger inputs; :meth:`margins` evaluates the menu on them.

    Model scores already in ``inputs.scores`` are used as they are (a caller may inject the
    software or firmware outputs of a model); the missing ones are computed from ``events``
    (whose fields the menu's ``assign:`` models have already replaced)."""

    path: str
    events: ak.Array
    inputs: TriggerInputs
    evaluator: "Evaluator"

    def margins(self) -> np.ndarray:
        """``(N, n_seeds)`` margins (fires iff >= 1)."""
        ev = self.evaluator
        return ev.margins(ev.prepare(self.events, self.inputs))

    def fired(self) -> np.ndarray:
        """``(N, n_seeds)`` unprescaled decisions."""
        return self.margins() >= 1.0


class Evaluator:
    """Evaluates a menu on :class:`TriggerInputs`; ``margins`` is ``(N, n_seeds)``."""

    def __init__(self, menu: Menu):
        self.menu = menu
        # Legs with equal cuts share one search for their objects: find the most needed once.
        self._depth: dict[tuple, int] = {}
        for seed in menu.seeds:
            _count_depth(seed.condition, self._depth)
        # what each assign: model replaces, read from its model.json once (not per chunk)
        self._assign = [(model_dir, kind_of(model_dir).output) for model_dir in menu.assign]

    def margins(self, inputs: TriggerInputs) -> np.ndarray:
        cache = _Cache(inputs, self._depth)
        out = np.empty((len(self.menu.seeds), inputs.n))
        for j, seed in enumerate(self.menu.seeds):
            out[j] = _condition(seed.condition, cache)
        return out.T  # (N, n_seeds), a view

    def decisions(self, inputs: TriggerInputs) -> np.ndarray:
        return self.margins(inputs) >= 1.0

    def chunks(self, paths: Iterable[str | Path], step_size: int = DEFAULT_STEP,
               fmt: str = "auto", mapping=None, assign: bool = True) -> Iterator[MenuChunk]:
        """The menu over files, one :class:`MenuChunk` of at most ``step_size`` crossings at a
        time, file by file in order (each file's own electron-ID rule, :func:`has_electron_id`);
        with ``assign`` the menu's ``assign:`` models replace their fields first."""
        for path in paths:
            electron_id = has_electron_id(path)
            for events in iter_events([path], step_size, fmt, mapping):
                if assign:
                    events = self.assign(events)
                yield MenuChunk(str(path), events, from_events(events, electron_id), self)

    def assign(self, events):
        """``events`` with the fields of the menu's ``assign:`` models (the muon pT net:
        ``L1Mu.pt``, ``hwPt``, ``charge``) replaced by their firmware values (the bit-exact
        emulator, :func:`l1t.firmware.deployable.deployed`)."""
        for model_dir, replaces in self._assign:
            events = replace_fields(events, replaces, deployed(model_dir).firmware(events))
        return events

    @property
    def model_scores(self) -> set[tuple[str, str]]:
        """(model directory, score) pairs the menu cuts on."""
        return {(a.model, a.score) for seed in self.menu.seeds
                for c in seed.condition.walk() for a in c.models}

    def prepare(self, events, inputs: TriggerInputs) -> TriggerInputs:
        """Compute the model scores the menu needs and ``inputs.scores`` lacks from ``events``."""
        done: dict[str, dict[str, np.ndarray]] = {}
        for model_dir, score in self.model_scores:
            if (model_dir, score) not in inputs.scores:
                if model_dir not in done:
                    done[model_dir] = model_scores(model_dir, events)
                inputs.scores[(model_dir, score)] = done[model_dir][score]
        return inputs


def model_scores(model_dir: str, events) -> dict[str, np.ndarray]:
    """Firmware-exact scores ``(N,)`` of a saved deployable model on schema events: the model
    runs on the bit-exact emulator backend (:func:`l1t.firmware.deployable.deployed`,
    converted once per process)."""
    return deployed(model_dir).firmware(events).values



def _count_depth(cond: Condition, depth: dict) -> None:
    for c in cond.walk():
        keys = [leg.cut_key() for leg in c.legs]
        for key in set(keys):
            depth[key] = max(depth.get(key, 0), keys.count(key))


def _condition(cond: Condition, cache: "_Cache") -> np.ndarray:
    n = cache.inputs.n
    result = None
    if cond.legs:
        result = _and(result, _legs(cond.legs, cond.cross, cache))
    for s in cond.sums:
        value = cache.inputs.sums.get(s.type)
        if value is None and s.collection != "L1EtSum":
            raise _missing(s.collection, f"sum {s.type}")
        result = _and(result, ratio(np.zeros(n) if value is None else value, s.min))
    for a in cond.models:
        result = _and(result, ratio(cache.inputs.scores[(a.model, a.score)], a.min))
    for child in cond.all_of:
        result = _and(result, _condition(child, cache))
    if cond.any_of:
        best = _condition(cond.any_of[0], cache)
        for child in cond.any_of[1:]:
            np.maximum(best, _condition(child, cache), out=best)
        result = _and(result, best)
    if cond.none_of is not None:
        fires = _condition(cond.none_of, cache) >= 1.0
        result = _and(result, np.where(fires, -np.inf, np.inf))
    return result


def _missing(collection: str, what: str) -> L1TInputError:
    return L1TInputError("inputs", f"the menu's {what} needs {collection}, which the input files "
                         "lack (Phase-2 objects come from l1t productions, the Phase-2 detector)",
                         collection)


def _legs(legs: tuple[Leg, ...], cross: tuple[Cross, ...], cache: "_Cache") -> np.ndarray:
    if cross:
        return _assign(legs, cross, cache)
    result = None
    by_coll: dict[str, list[Leg]] = {}
    for leg in legs:
        by_coll.setdefault(leg.collection, []).append(leg)
    for group in by_coll.values():
        if len({leg.cut_key() for leg in group}) == 1:
            thr = sorted((leg.pt for leg in group), reverse=True)
            top = cache.top(group[0], len(group))
            for k, t in enumerate(thr):
                result = _and(result, ratio(top[k], t))
        else:
            result = _and(result, _assign(tuple(group), (), cache))
    return result


def _assign(legs: tuple[Leg, ...], cross: tuple[Cross, ...], cache: "_Cache") -> np.ndarray:
    """Best assignment of distinct objects to legs, trying every assignment of the candidates."""
    cand = [cache.candidates(leg) for leg in legs]  # per leg: (ratio (N, K), fields)
    widths = [c[0].shape[1] for c in cand]
    best = np.full(cache.inputs.n, -np.inf)
    pairs = []
    for c in cross:
        idx = [c.legs] if c.legs else list(itertools.combinations(range(len(legs)), 2))
        pairs += [(i, j, c) for i, j in idx]
    same = [(a, b) for a, b in itertools.combinations(range(len(legs)), 2)
            if legs[a].collection == legs[b].collection]
    for combo in itertools.product(*(range(w) for w in widths)):
        m = np.full(cache.inputs.n, np.inf)
        for i, k in enumerate(combo):
            np.minimum(m, cand[i][0][:, k], out=m)
        for a, b in same:  # one object cannot serve two legs (compared by position in crossing)
            clash = cand[a][1]["rank"][:, combo[a]] == cand[b][1]["rank"][:, combo[b]]
            m = np.where(clash, -np.inf, m)
        for i, j, c in pairs:
            ok = _cross_ok(c, cand[i][1], combo[i], cand[j][1], combo[j])
            m = np.where(ok, m, -np.inf)
        np.maximum(best, m, out=best)
    return best


def _cross_ok(c: Cross, a: dict, ka: int, b: dict, kb: int) -> np.ndarray:
    ok = np.ones(len(a["pt"]), bool)
    deta = a["eta"][:, ka] - b["eta"][:, kb]
    dphi = np.angle(np.exp(1j * (a["phi"][:, ka] - b["phi"][:, kb])))
    if c.dr is not None:
        dr = np.hypot(deta, dphi)
        ok &= (dr >= c.dr[0]) & (dr <= c.dr[1])
    if c.deta is not None:
        ok &= np.abs(deta) <= c.deta
    if c.mass is not None:
        m2 = 2.0 * a["pt"][:, ka] * b["pt"][:, kb] * (np.cosh(deta) - np.cos(dphi))
        m = np.sqrt(np.maximum(m2, 0.0))
        ok &= (m >= c.mass[0]) & (m <= c.mass[1])
    if c.dz is not None:
        ok &= np.abs(a["z0"][:, ka] - b["z0"][:, kb]) <= c.dz
    if c.opposite_charge:
        ok &= a["charge"][:, ka] * b["charge"][:, kb] < 0
    return ok


class _Cache:
    """Per-evaluation cache of leg masks and of the top objects passing them."""

    def __init__(self, inputs: TriggerInputs, depth: dict[tuple, int] | None = None):
        self.inputs = inputs
        self._depth = depth or {}
        self._masks: dict[tuple, np.ndarray] = {}
        self._top: dict[tuple, np.ndarray] = {}

    def objects(self, leg: Leg) -> Objects:
        try:
            return self.inputs.objects[leg.collection]
        except KeyError:
            raise _missing(leg.collection, f"{leg.object} leg") from None

    def mask(self, leg: Leg) -> np.ndarray:
        """Objects seen by the global trigger that pass the leg's cuts other than pT."""
        key = leg.cut_key()
        if key not in self._masks:
            o: Objects = self.objects(leg)
            m = o.rank < GT_INPUTS[leg.collection]
            if leg.eta is not None:
                m &= np.abs(o.eta) < leg.eta
            if leg.eta_min is not None:
                m &= np.abs(o.eta) >= leg.eta_min
            if leg.quality is not None:
                m &= o.quality >= leg.quality
            if leg.iso:
                m &= o.iso == 1
            if leg.charge is not None:
                m &= o.charge == leg.charge
            if leg.object == "electron" and self.inputs.electron_id:
                m &= o.is_ele
            self._masks[key] = m
        return self._masks[key]

    def top(self, leg: Leg, n: int) -> np.ndarray:
        """pT (GeV) of the ``n`` highest objects passing the leg's cuts, ``(n, N)``, −inf padded."""
        key = leg.cut_key()
        if key not in self._top or self._top[key].shape[0] < n:
            depth = max(n, self._depth.get(key, 0))
            o = self.objects(leg)
            self._top[key] = top_passing(
                o.offsets, o.pt, o.eta, o.quality, o.iso, o.charge, o.is_ele,
                GT_INPUTS[leg.collection], -1.0 if leg.eta is None else leg.eta,
                0.0 if leg.eta_min is None else leg.eta_min,
                -1 if leg.quality is None else leg.quality, leg.iso, leg.charge or 0,
                leg.object == "electron" and self.inputs.electron_id, depth)
        return self._top[key][:n]

    def candidates(self, leg: Leg) -> tuple[np.ndarray, dict]:
        """Dense ``(N, K)`` ratios for the leg and the candidates' fields; K is the most objects
        passing the leg's cuts in any crossing (at most the global-trigger input count)."""
        o = self.objects(leg)
        mask = self.mask(leg)
        c = np.cumsum(mask)
        before = np.concatenate([[0], c])[o.offsets[:-1]]
        rank = c - 1 - before[o.event]
        k = int(rank[mask].max()) + 1 if mask.any() else 1
        k = min(k, GT_INPUTS[leg.collection])
        fields = {}
        ev, rk = o.event[mask], rank[mask]
        for f in ("pt", "eta", "phi", "charge", "z0", "rank"):
            dense = np.full((self.inputs.n, k), -1.0 if f == "rank" else 0.0)
            dense[ev, rk] = getattr(o, f)[mask]
            fields[f] = dense
        valid = np.zeros((self.inputs.n, k), bool)
        valid[ev, rk] = True
        r = np.where(valid, ratio(fields["pt"], leg.pt), -np.inf)
        return r, fields
