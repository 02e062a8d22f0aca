"""Default-menu evaluation, crossings per second per core.

Events: a zero-bias PU-200 sample (2000 produced crossings, replicated to 1,000,000).
Ours: ``Evaluator(menu).margins(inputs)`` on pre-built :class:`~l1t.trigger.inputs.TriggerInputs`
(building them with ``from_events`` is the loading step; timed separately and end to end).
Baseline, side by side on the same events: a plain per-event Python function evaluating the same
seeds from the menu's semantics, on events already converted to Python lists (``ak.to_list``).
The baseline's decisions must equal ours. Set ``L1T_BENCH_CACHE`` to a directory to keep and reuse
the produced sample. Last line: one JSON object (name, value, unit, baseline, baseline_value,
ratio).
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np


from l1t.datasets.inputs import read_inputs  # noqa: E402
from l1t.datasets.production import produce  # noqa: E402
from l1t.trigger.evaluate import Evaluator  # noqa: E402
from l1t.trigger.inputs import from_events  # noqa: E402
from l1t.trigger.menu import SUM_TYPES, Condition, Leg, Seed, load_menu  # noqa: E402

N_PRODUCED, N_OURS, N_BASE, REPEATS = 2000, 1_000_000, 5000, 3
GOAL_RATIO, GOAL_RATE = 50.0, 5e6
LOOSE = 0.25  # threshold scale of the second, denser decision check

# --------------------------------------------------------------------------- baseline

GT_MAX = {"L1Mu": 8, "L1EG": 12, "L1Tau": 12, "L1Jet": 12}  # objects the global trigger sees


def leg_accepts(leg: Leg, obj: dict) -> bool:
    """Does ``obj`` pass the leg's cuts (pT inclusive, |η| strict)?"""
    if obj["pt"] < leg.pt:
        return False
    if leg.eta is not None and not abs(obj["eta"]) < leg.eta:
        return False
    if leg.eta_min is not None and abs(obj["eta"]) < leg.eta_min:
        return False
    if leg.quality is not None and obj["hwQual"] < leg.quality:
        return False
    if leg.iso and obj["hwIso"] != 1:
        return False
    if leg.charge is not None and obj["charge"] != leg.charge:
        return False
    if leg.object == "electron" and not obj["isEle"]:
        return False
    return True


def assign(legs: list[Leg], seen: dict[str, list[dict]], used: set) -> bool:
    """Can each leg take a distinct object among those the trigger sees? (backtracking)"""
    if not legs:
        return True
    leg, rest = legs[0], legs[1:]
    for i, obj in enumerate(seen[leg.collection]):
        key = (leg.collection, i)
        if key not in used and leg_accepts(leg, obj):
            if assign(rest, seen, used | {key}):
                return True
    return False


def sum_value(event: dict, type_name: str) -> float:
    code = SUM_TYPES[type_name]
    for s in event["L1EtSum"]:
        if s["etSumType"] == code:
            return s["pt"]
    return 0.0


def condition_fires(cond: Condition, event: dict, seen: dict[str, list[dict]]) -> bool:
    if cond.cross:
        raise NotImplementedError("the baseline evaluates legs, sums, and/or/not")
    if cond.legs and not assign(list(cond.legs), seen, set()):
        return False
    for s in cond.sums:
        if not sum_value(event, s.type) >= s.min:
            return False
    if not all(condition_fires(c, event, seen) for c in cond.all_of):
        return False
    if cond.any_of and not any(condition_fires(c, event, seen) for c in cond.any_of):
        return False
    if cond.none_of is not None and condition_fires(cond.none_of, event, seen):
        return False
    return True


def baseline(events_list: list[dict], menu) -> list[list[bool]]:
    """Decisions of every seed for every event, one event at a time."""
    out = []
    for event in events_list:
        # per collection, the objects the global trigger sees: the first ones by descending pT
        seen = {c: sorted(event[c], key=lambda o: -o["pt"])[:n] for c, n in GT_MAX.items()}
        out.append([condition_fires(seed.condition, event, seen) for seed in menu.seeds])
    return out


# --------------------------------------------------------------------------- main

def zero_bias_sample() -> ak.Array:
    """The produced PU200 crossings (L1 collections only); kept in ``$L1T_BENCH_CACHE`` if set."""
    keep = os.environ.get("L1T_BENCH_CACHE")
    with tempfile.TemporaryDirectory(prefix="l1t-bench-menu-") as tmp:
        cache = Path(keep or tmp)
        sample = cache / "minbias-pu200"
        t0 = time.perf_counter()
        produce("minbias", N_PRODUCED, sample, pileup=200, seed=1, pool_size=1000,
                progress=False, cache_dir=cache / ".cache")
        produced = read_inputs([sample])
        print(f"sample: {len(produced)} zero-bias PU200 crossings in {sample} "
              f"({time.perf_counter() - t0:.1f} s to produce/read)")
        return ak.to_packed(produced[["L1Mu", "L1EG", "L1Tau", "L1Jet", "L1EtSum"]])


def main() -> None:
    l1 = zero_bias_sample()
    events = ak.concatenate([l1] * (N_OURS // len(l1) + 1))[:N_OURS]
    events = ak.to_packed(events)

    menu = load_menu()
    ev = Evaluator(menu)
    ev.margins(from_events(events[:1000]))  # warm-up (numba JIT / cache load)

    t_load, t_eval = [], []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        inputs = from_events(events)
        t1 = time.perf_counter()
        margins = ev.margins(inputs)
        t2 = time.perf_counter()
        t_load.append(t1 - t0)
        t_eval.append(t2 - t1)
        del inputs
    ours = N_OURS / min(t_eval)
    end_to_end = N_OURS / min(a + b for a, b in zip(t_load, t_eval))
    load_rate = N_OURS / min(t_load)

    events_list = ak.to_list(events[:N_BASE])
    t0 = time.perf_counter()
    base_dec = baseline(events_list, menu)
    base = N_BASE / (time.perf_counter() - t0)

    ours_dec = margins[:N_BASE] >= 1.0
    base_dec = np.array(base_dec, bool)
    if not np.array_equal(ours_dec, base_dec):
        bad = np.argwhere(ours_dec != base_dec)
        raise SystemExit(f"MISMATCH: baseline and vectorised decisions differ in {len(bad)} "
                         f"(event, seed) pairs, first {bad[:5].tolist()} "
                         f"(seeds {[menu.names[j] for j in bad[:5, 1]]})")
    rates = ours_dec.mean(axis=0)
    print(f"decisions agree on {N_BASE} crossings x {len(menu.seeds)} seeds; fraction fired: "
          + ", ".join(f"{n}={r:.4f}" for n, r in zip(menu.names, rates)))
    # Few default-menu seeds fire on zero bias: check again with every threshold scaled down.
    loose = menu.with_seeds([Seed(s.name, s.condition.scaled(LOOSE), s.prescale, s.line)
                             for s in menu.seeds])
    loose_ours = Evaluator(loose).margins(from_events(events[:N_BASE])) >= 1.0
    loose_base = np.array(baseline(events_list, loose), bool)
    if not np.array_equal(loose_ours, loose_base):
        bad = np.argwhere(loose_ours != loose_base)
        raise SystemExit(f"MISMATCH (thresholds x{LOOSE}): decisions differ in {len(bad)} "
                         f"(event, seed) pairs, first {bad[:5].tolist()}")
    print(f"decisions also agree with all thresholds x{LOOSE} (fraction fired: "
          + ", ".join(f"{r:.3f}" for r in loose_ours.mean(axis=0)) + ")")
    print(f"ours: {ours:,.0f} crossings/s/core (Evaluator.margins, {len(menu.seeds)} seeds, "
          f"pre-built inputs, best of {REPEATS} on {N_OURS:,})")
    print(f"  loading (from_events): {load_rate:,.0f} crossings/s; end to end incl. loading: "
          f"{end_to_end:,.0f} crossings/s")
    print(f"baseline (per-event Python loop on ak.to_list events): {base:,.0f} crossings/s/core")
    ratio = ours / base
    met = {True: "met", False: "NOT met"}
    print(f"ratio: {ratio:.1f}x (goal >= {GOAL_RATIO:.0f}x: {met[ratio >= GOAL_RATIO]}); "
          f"rate goal >= {GOAL_RATE / 1e6:.0f} M/s: {met[ours >= GOAL_RATE]}")
    print(json.dumps({"name": "menu_evaluation", "value": round(ours, 1), "unit": "events/s",
                      "baseline": "per-event Python loop", "baseline_value": round(base, 1),
                      "ratio": round(ratio, 2)}))


if __name__ == "__main__":
    main()
