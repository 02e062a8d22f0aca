"""L1-accept distribution: trigger rules, then the readout derandomizer, on a 40 MHz request stream.

The bunch-crossing stream (:mod:`l1t.trigger.stream.run`) decides, for every BX slot (25 ns; 3564 per
orbit, colliding or not), whether the global trigger *requests* an accept. This module turns
requests ``(N,) bool`` into L1 accepts ``(N,) bool`` the way the central trigger control does:

1. **Trigger rules** ``(n, w)``: at most ``n`` accepts in any ``w`` consecutive BX. A request at
   BX ``t`` passes a rule iff fewer than ``n`` accepts lie in ``[t - w + 1, t - 1]``, i.e. the
   ``n``-th most recent accept is at least ``w`` BX old. A request failing any rule is vetoed;
   it is booked against the first rule (in configured order) that it violates. The CMS-like
   default ``((1, 3), (2, 25), (3, 100), (4, 240))`` is l1t's CMS-like estimate (CMS
   protects the tracker front-end buffers with these programmable rules in its central trigger
   control / TCDS).
2. **Derandomizer**: an accept enters a FIFO holding at most ``depth`` events (the one being read
   out included); events are read out one at a time, each for ``readout_bx`` BX (deterministic
   service). An accept arriving while the FIFO is full is lost. In CMS the front-ends signal
   "busy" through the trigger throttling system (TTS) and the trigger is inhibited instead of the
   data being lost; either way the request costs deadtime, which is what is counted here.

Order: rules first, then the derandomizer. A request lost to a full derandomizer is *not* an
L1A (in CMS a throttled trigger is never sent), so it does not enter the rules' windows.

Timing within one BX ``t`` (this fixes the exact Markov chain of the tests):
the decision sees the FIFO occupancy ``q`` left by BX ``t - 1``; an accepted event enters; if it
found the FIFO empty its readout starts in this BX, so it occupies BX ``t .. t + readout_bx - 1``
and frees its slot for BX ``t + readout_bx``. With ``depth = 1`` the derandomizer therefore acts
exactly as the rule ``(1, readout_bx)``.

Occupancy is sampled at each BX's decision point (before that BX's accept enters), so the
histogram bin ``depth`` counts exactly the BX in which an accept would be lost ("busy").

Streaming: :func:`distribute` mutates a :class:`L1AState` (accept history, FIFO, global BX
count), so chunk after chunk gives bit for bit the answer of one call on the concatenation;
:meth:`L1AResult.concat` adds up per-chunk results.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numba
import numpy as np

from l1t.core.errors import L1TInputError

from ..lhc import NOMINAL_BX_NS

#: CMS-like default from l1t's requirements (an estimate, not a CMS configuration): ≤1 L1A in 3 BX, ≤2 in 25, ≤3 in 100, ≤4 in 240.
DEFAULT_RULES: tuple[tuple[int, int], ...] = ((1, 3), (2, 25), (3, 100), (4, 240))
#: Illustrative default derandomizer, not a CMS figure: 10 events, 1 µs (40 BX) readout each,
#: i.e. a load of 0.75 at a 750 kHz L1A rate.
DEFAULT_DEPTH = 10
DEFAULT_READOUT_BX = 40
_MAX_N = 4096        # the accept history is a ring buffer of max(n) entries
_MAX_DEPTH = 1 << 20  # the occupancy histogram has depth + 1 bins
_NEVER = -(1 << 62)  # "no accept yet": older than any window
#: What became of each BX's request (``distribute(..., detail=True)``).
FATE_NONE, FATE_ACCEPTED, FATE_VETOED, FATE_LOST = 0, 1, 2, 3


def _int(value, source: str, field_name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise L1TInputError(source, f"must be an integer, got {value!r}", field_name)
    if value < low or (high is not None and value > high):
        bound = f">= {low}" + (f" and <= {high}" if high is not None else "")
        raise L1TInputError(source, f"must be {bound}, got {value}", field_name)
    return int(value)


@dataclass(frozen=True)
class L1AConfig:
    """Trigger rules and derandomizer.

    ``rules``: ``((n, w), ...)``, at most ``n`` accepts in any ``w`` consecutive BX (``1 <= n <=
    w``); empty for none. ``depth``: FIFO capacity in events (>= 1). ``readout_bx``: readout time
    of one event in BX (integer >= 1; from ns with :meth:`from_dict`, rounded up).
    Bad values raise :class:`~l1t.core.errors.L1TInputError` naming ``source`` and the field.
    """

    rules: tuple[tuple[int, int], ...] = DEFAULT_RULES
    depth: int = DEFAULT_DEPTH
    readout_bx: int = DEFAULT_READOUT_BX
    source: str = field(default="l1a config", compare=False)

    def __post_init__(self):
        src = self.source
        if isinstance(self.rules, (str, bytes, Mapping)) or not isinstance(self.rules, Iterable):
            raise L1TInputError(src, "must be a list of [n, w] pairs", "trigger_rules")
        rules = []
        for i, rule in enumerate(self.rules):
            where = f"trigger_rules[{i}]"
            if isinstance(rule, (str, bytes, Mapping)) or not isinstance(rule, Iterable) \
                    or len(rule := tuple(rule)) != 2:
                raise L1TInputError(src, f"a rule is a pair [n, w], got {rule!r}", where)
            n = _int(rule[0], src, where + ".n", 1, _MAX_N)
            w = _int(rule[1], src, where + ".w", 1)
            if w < n:
                raise L1TInputError(src, f"window w = {w} BX is shorter than n = {n} accepts "
                                         "(the rule could never bind)", where)
            rules.append((n, w))
        object.__setattr__(self, "rules", tuple(rules))
        _int(self.depth, src, "derandomizer.depth", 1, _MAX_DEPTH)
        _int(self.readout_bx, src, "derandomizer.readout_bx", 1)
        object.__setattr__(self, "depth", int(self.depth))
        object.__setattr__(self, "readout_bx", int(self.readout_bx))

    @property
    def readout_ns(self) -> float:
        return self.readout_bx * NOMINAL_BX_NS

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "l1a config") -> "L1AConfig":
        """From the pipeline YAML mapping: ``trigger_rules: [[1, 3], [2, 25], ...]`` and
        ``derandomizer: {depth: D, readout_ns: T}`` (or ``readout_bx: S``, not both).

        Missing keys take the defaults; other top-level keys are the caller's and are ignored.
        A readout of ``T`` ns occupies ``ceil(T / 25)`` BX: its FIFO slot is free at the first BX
        boundary after the readout ends.
        """
        if not isinstance(data, Mapping):
            raise L1TInputError(source, "must be a mapping with trigger_rules / derandomizer")
        rules = data.get("trigger_rules", DEFAULT_RULES)
        if rules is None:
            raise L1TInputError(source, "must be a list of [n, w] pairs ([] for none)",
                                "trigger_rules")
        der = data.get("derandomizer", {})
        if not isinstance(der, Mapping):
            raise L1TInputError(source, "must be a mapping {depth, readout_ns}", "derandomizer")
        unknown = sorted(set(der) - {"depth", "readout_ns", "readout_bx"})
        if unknown:
            raise L1TInputError(source, f"unknown key(s) {unknown}; expected depth, readout_ns",
                                "derandomizer")
        if "readout_ns" in der and "readout_bx" in der:
            raise L1TInputError(source, "give readout_ns or readout_bx, not both", "derandomizer")
        readout_bx = der.get("readout_bx", DEFAULT_READOUT_BX)
        if "readout_ns" in der:
            ns = der["readout_ns"]
            if isinstance(ns, bool) or not isinstance(ns, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(ns) or ns <= 0:
                raise L1TInputError(source, f"must be a finite number of ns > 0, got {ns!r}",
                                    "derandomizer.readout_ns")
            readout_bx = max(1, math.ceil(float(ns) / NOMINAL_BX_NS - 1e-9))
        return cls(rules=rules, depth=der.get("depth", DEFAULT_DEPTH), readout_bx=readout_bx,
                   source=source)

    def to_dict(self) -> dict:
        """The YAML form (round-trips through :meth:`from_dict`)."""
        return {"trigger_rules": [list(r) for r in self.rules],
                "derandomizer": {"depth": self.depth, "readout_bx": self.readout_bx}}


@dataclass
class L1AState:
    """What carries over from one chunk to the next (mutated by :func:`distribute`).

    ``ring``: BX of the last ``max(n)`` accepts (ring buffer, ``_NEVER`` when none);
    ``regs``: ``[next global BX, ring head, FIFO occupancy, residual readout BX of the head
    event]``.
    """

    config: L1AConfig
    ring: np.ndarray
    regs: np.ndarray

    @classmethod
    def new(cls, config: L1AConfig) -> "L1AState":
        k = max([n for n, _ in config.rules], default=1)
        return cls(config, np.full(k, _NEVER, np.int64), np.zeros(4, np.int64))

    def copy(self) -> "L1AState":
        return L1AState(self.config, self.ring.copy(), self.regs.copy())

    @property
    def bx(self) -> int:
        """Global BX index of the next request to be processed."""
        return int(self.regs[0])

    @property
    def occupancy(self) -> int:
        """FIFO occupancy (events) at the next decision point."""
        return int(self.regs[2])


@dataclass
class L1AResult:
    """Counts over the processed BX, and the per-BX accepts ``accepted`` ``(N,) bool``.

    ``vetoed_by_rule[i]``: requests whose first violated rule is ``rules[i]``;
    ``occupancy_hist[q]``: BX whose decision found ``q`` events in the FIFO, ``(depth + 1,)``.
    """

    rules: tuple[tuple[int, int], ...]
    depth: int
    n_bx: int
    requests: int
    n_accepted: int
    vetoed_by_rule: np.ndarray
    lost_derandomizer: int
    occupancy_hist: np.ndarray
    accepted: np.ndarray
    occupancy: np.ndarray | None = None   # (N,) int32: FIFO occupancy at each decision
    fate: np.ndarray | None = None        # (N,) int8: FATE_* of each BX (``detail=True``)

    @property
    def vetoed(self) -> int:
        return int(self.vetoed_by_rule.sum())

    @property
    def deadtime_fraction(self) -> float:
        """(vetoed by rules + lost to the derandomizer) / requests; 0 without requests."""
        return (self.vetoed + self.lost_derandomizer) / self.requests if self.requests else 0.0

    @property
    def full_fraction(self) -> float:
        """Fraction of BX in which the FIFO was full (an accept there would be lost)."""
        return self.occupancy_hist[self.depth] / self.n_bx if self.n_bx else 0.0

    @property
    def max_occupancy(self) -> int:
        nonzero = np.flatnonzero(self.occupancy_hist)
        return int(nonzero[-1]) if nonzero.size else 0

    @property
    def mean_occupancy(self) -> float:
        """Mean FIFO occupancy (events) over BX, at the decision points."""
        if not self.n_bx:
            return 0.0
        return float(np.arange(self.depth + 1) @ self.occupancy_hist) / self.n_bx

    def summary(self) -> dict:
        """JSON-ready counts and fractions (no per-BX array)."""
        return {
            "n_bx": self.n_bx, "requests": self.requests, "accepted": self.n_accepted,
            "vetoed": self.vetoed,
            "vetoed_by_rule": {f"{n}/{w}": int(c) for (n, w), c in
                               zip(self.rules, self.vetoed_by_rule)},
            "lost_derandomizer": self.lost_derandomizer,
            "deadtime_fraction": self.deadtime_fraction, "full_fraction": self.full_fraction,
            "max_occupancy": self.max_occupancy, "mean_occupancy": self.mean_occupancy,
            "occupancy_hist": self.occupancy_hist.tolist(),
        }

    @classmethod
    def concat(cls, results: Iterable["L1AResult"]) -> "L1AResult":
        """One result for consecutive chunks (counts added, ``accepted`` concatenated)."""
        results = list(results)
        if not results:
            raise ValueError("no results to concatenate")
        first = results[0]
        if any(r.rules != first.rules or r.depth != first.depth for r in results):
            raise ValueError("results from different configurations")
        return cls(first.rules, first.depth, sum(r.n_bx for r in results),
                   sum(r.requests for r in results), sum(r.n_accepted for r in results),
                   np.sum([r.vetoed_by_rule for r in results], axis=0, dtype=np.int64),
                   sum(r.lost_derandomizer for r in results),
                   np.sum([r.occupancy_hist for r in results], axis=0, dtype=np.int64),
                   np.concatenate([r.accepted for r in results]))


@numba.njit(cache=True, nogil=True)
def _distribute_kernel(requests, rule_n, rule_w, ring, regs, depth, readout, accepted, vetoes,
                       hist, occ, fate):  # pragma: no cover (compiled)
    """One pass over the chunk: rules, FIFO, readout; mutates ring/regs, fills the outputs
    (``occ`` and ``fate`` per BX when they have the chunk's length).

    Returns (requests, accepted, lost to the derandomizer).
    """
    t0, head, q, r = regs[0], regs[1], regs[2], regs[3]
    k = ring.shape[0]
    n_rules = rule_n.shape[0]
    n_req = 0
    n_acc = 0
    n_lost = 0
    q_dec = q     # occupancy seen by the current BX's decision
    since = 0     # first BX (chunk index) with that occupancy: run-length histogram filling
    n = requests.shape[0]
    detail = occ.shape[0] > 0
    for i in range(n):
        if detail:
            occ[i] = q
            fate[i] = 0
        if requests[i]:
            n_req += 1
            t = t0 + i
            bound = -1
            for j in range(n_rules):
                # the rule_n[j]-th most recent accept must be at least rule_w[j] BX old
                if t - ring[(head - rule_n[j] + k) % k] < rule_w[j]:
                    bound = j
                    break
            if bound >= 0:
                vetoes[bound] += 1
                if detail:
                    fate[i] = 2
            elif q >= depth:
                n_lost += 1  # not sent: stays out of the rules' history
                if detail:
                    fate[i] = 3
            else:
                accepted[i] = True
                if detail:
                    fate[i] = 1
                n_acc += 1
                ring[head] = t
                head = (head + 1) % k
                q += 1
                if q == 1:
                    r = readout
        if q > 0:  # readout of the head event during this BX
            r -= 1
            if r == 0:
                q -= 1
                if q > 0:
                    r = readout
        if q != q_dec:
            hist[q_dec] += i + 1 - since
            since = i + 1
            q_dec = q
    hist[q_dec] += n - since
    regs[0] = t0 + n
    regs[1] = head
    regs[2] = q
    regs[3] = r
    return n_req, n_acc, n_lost


def distribute(requests: np.ndarray, config: L1AConfig | None = None,
               state: L1AState | None = None, detail: bool = False) -> L1AResult:
    """L1 accepts for one chunk of consecutive BX.

    ``requests``: ``(N,) bool``, BX by BX. ``state``: carried from the previous chunk and updated
    in place (a fresh one, i.e. an empty history and FIFO, when ``None``). ``config`` defaults to
    the state's, else to :class:`L1AConfig` (). ``detail`` adds per BX the FIFO occupancy at its
    decision and the fate of its request (``FATE_*``).
    """
    if config is None:
        config = state.config if state is not None else L1AConfig()
    if state is None:
        state = L1AState.new(config)
    elif state.config != config:
        raise ValueError("state was made for a different L1AConfig")
    requests = np.asarray(requests)
    if requests.ndim != 1 or requests.dtype != np.bool_:
        raise L1TInputError("requests", f"must be a 1-D boolean array, got {requests.dtype} "
                                        f"of shape {requests.shape}")
    requests = np.ascontiguousarray(requests)
    rule_n = np.array([n for n, _ in config.rules], np.int64)
    rule_w = np.array([w for _, w in config.rules], np.int64)
    accepted = np.zeros(requests.shape[0], np.bool_)
    vetoes = np.zeros(len(config.rules), np.int64)
    hist = np.zeros(config.depth + 1, np.int64)
    m = requests.shape[0] if detail else 0
    occ, fate = np.empty(m, np.int32), np.empty(m, np.int8)
    n_req, n_acc, n_lost = _distribute_kernel(requests, rule_n, rule_w, state.ring, state.regs,
                                              config.depth, config.readout_bx, accepted, vetoes,
                                              hist, occ, fate)
    return L1AResult(config.rules, config.depth, int(requests.shape[0]), int(n_req), int(n_acc),
                     vetoes, int(n_lost), hist, accepted, occ if detail else None,
                     fate if detail else None)
