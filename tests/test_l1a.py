"""L1-accept distribution: simulation vs exact Markov chains, closed forms, chunking, edge cases.

The exact answers come from the stationary distribution of the chain that the rules + FIFO
define on a Bernoulli(p) request stream, built here independently of the numba kernel: the state
at a decision point is (ages of the last max(n) accepts capped at max(w), FIFO occupancy,
residual readout BX); it is enumerated from the empty state and solved with numpy.
"""
from __future__ import annotations

import numpy as np
import pytest

from l1t.core.errors import L1TInputError
from l1t.trigger.stream.l1a import (DEFAULT_RULES, FATE_ACCEPTED, FATE_LOST, FATE_NONE,
                                    FATE_VETOED, L1AConfig, L1AResult, L1AState, distribute)

N_SIM = 10_000_000
N_BATCH = 100


# ---------------------------------------------------------------- exact chain (reference) ----
def _first_violated(ages, rules):
    for j, (n, w) in enumerate(rules):
        if ages[n - 1] < w:  # n-th most recent accept younger than w BX
            return j
    return -1


def _step(state, request, rules, depth, readout, cap):
    """The next decision-point state, and the outcome: 'none' | rule index | 'lost' | 'acc'."""
    ages, q, r = state
    outcome = "none"
    if request:
        j = _first_violated(ages, rules)
        if j >= 0:
            outcome = j
        elif q == depth:
            outcome = "lost"
        else:
            outcome = "acc"
            ages = (0,) + ages[:-1]
            q += 1
            if q == 1:
                r = readout
    ages = tuple(min(a + 1, cap) for a in ages)
    if q > 0:
        r -= 1
        if r == 0:
            q -= 1
            r = readout if q > 0 else 0
    return (ages, q, r), outcome


def exact_chain(p, rules, depth, readout):
    """Stationary per-BX probabilities of each outcome, of a full FIFO and the mean occupancy."""
    k = max([n for n, _ in rules], default=1)
    cap = max([w for _, w in rules], default=1)
    start = ((cap,) * k, 0, 0)
    index, states, edges = {start: 0}, [start], []
    for s in states:  # breadth-first enumeration of the reachable states
        for request, prob in ((True, p), (False, 1.0 - p)):
            nxt, outcome = _step(s, request, rules, depth, readout, cap)
            if nxt not in index:
                index[nxt] = len(states)
                states.append(nxt)
            edges.append((index[s], index[nxt], prob, outcome))
    m = len(states)
    P = np.zeros((m, m))
    for a, b, prob, _ in edges:
        P[a, b] += prob
    # pi P = pi, sum(pi) = 1: replace one balance equation by the normalisation
    A = P.T - np.eye(m)
    A[-1, :] = 1.0
    rhs = np.zeros(m)
    rhs[-1] = 1.0
    pi = np.linalg.solve(A, rhs)
    out = {"acc": 0.0, "lost": 0.0, "veto": np.zeros(len(rules))}
    for a, _, prob, outcome in edges:
        if outcome in ("acc", "lost"):
            out[outcome] += pi[a] * prob
        elif outcome != "none":
            out["veto"][outcome] += pi[a] * prob
    out["full"] = sum(pi[i] for i, s in enumerate(states) if s[1] == depth)
    out["occupancy"] = sum(pi[i] * s[1] for i, s in enumerate(states))
    out["n_states"] = m
    return out


# ---------------------------------------------------------------------------- helpers ----
def bernoulli(p, n=N_SIM, seed=7):
    return np.random.default_rng(seed).random(n) < p


def batches(req, cfg):
    """Per-batch (chunk) fractions per BX: accepted, lost, full, mean occupancy, vetoes by rule."""
    state = L1AState.new(cfg)
    out = {"acc": [], "lost": [], "full": [], "occupancy": [], "veto": []}
    for chunk in np.split(req, N_BATCH):  # batch means: correlations span << N / N_BATCH BX
        res = distribute(chunk, cfg, state)
        out["acc"].append(res.n_accepted / res.n_bx)
        out["lost"].append(res.lost_derandomizer / res.n_bx)
        out["full"].append(res.full_fraction)
        out["occupancy"].append(res.mean_occupancy)
        out["veto"].append(res.vetoed_by_rule / res.n_bx)
    return {k: np.array(v) for k, v in out.items()}


def assert_close(sim_batches, exact, n_sigma=4.0, label=""):
    sim_batches = np.asarray(sim_batches, float)
    mean = sim_batches.mean()
    se = sim_batches.std(ddof=1) / np.sqrt(sim_batches.size)
    print(f"{label}: sim {mean:.6f} ± {se:.6f}  exact {exact:.6f}  pull {(mean - exact) / se:+.2f}"
          if se > 0 else f"{label}: sim {mean:.6f} exact {exact:.6f}")
    assert abs(mean - exact) <= n_sigma * se + 1e-12, (label, mean, exact, se)


# ----------------------------------------------------------- (a) trigger rules, exact ----
@pytest.mark.parametrize("w,p", [(3, 0.3), (25, 0.02)])
def test_single_rule_closed_form(w, p):
    """Rule (1, w): an accept, w - 1 dead BX, then a geometric wait of mean 1/p BX."""
    closed = p / (1 + (w - 1) * p)
    exact = exact_chain(p, ((1, w),), depth=1, readout=1)
    assert exact["acc"] == pytest.approx(closed, rel=1e-12)
    cfg = L1AConfig(rules=((1, w),), depth=1, readout_bx=1)
    sim = batches(bernoulli(p), cfg)
    assert sim["lost"].sum() == 0
    assert_close(sim["acc"], closed, label=f"(1,{w}) p={p} accept")


@pytest.mark.parametrize("rules,p", [(((1, 3), (2, 8)), 0.2), (((1, 3), (2, 8), (3, 20)), 0.1)])
def test_rules_vs_markov_chain(rules, p):
    exact = exact_chain(p, rules, depth=1, readout=1)
    cfg = L1AConfig(rules=rules, depth=1, readout_bx=1)
    sim = batches(bernoulli(p, seed=11), cfg)
    assert_close(sim["acc"], exact["acc"], label=f"{rules} accept")
    for j, rule in enumerate(rules):  # which rule bound, per rule
        assert_close(sim["veto"][:, j], exact["veto"][j], label=f"{rules} veto by {rule}")
    assert exact["acc"] + exact["veto"].sum() == pytest.approx(p, rel=1e-12)


# ------------------------------------------------------------- (b) derandomizer, exact ----
@pytest.mark.parametrize("p,depth,readout", [(0.08, 4, 10), (0.02, 3, 40), (0.1, 1, 5)])
def test_derandomizer_vs_markov_chain(p, depth, readout):
    """Finite discrete-time queue: Bernoulli(p) arrivals, s = readout BX service, capacity D."""
    exact = exact_chain(p, (), depth=depth, readout=readout)
    # (queue length, residual service) at decision points: empty, or q = 1..D with r = 1..s,
    # except (D, s) (a fresh readout with D waiting would need D + 1 events before it ended)
    assert exact["n_states"] == depth * readout
    # Bernoulli arrivals see time averages: loss per BX = p × P(full)
    assert exact["lost"] == pytest.approx(p * exact["full"], rel=1e-12)
    if depth == 1:  # = rule (1, s): loss fraction (s - 1) p / (1 + (s - 1) p)
        assert exact["lost"] / p == pytest.approx(
            (readout - 1) * p / (1 + (readout - 1) * p), rel=1e-12)
    cfg = L1AConfig(rules=(), depth=depth, readout_bx=readout)
    req = bernoulli(p, seed=3)
    sim = batches(req, cfg)
    label = f"p={p} D={depth} s={readout}"
    assert_close(sim["lost"], exact["lost"], label=label + " lost/BX")
    assert_close(sim["full"], exact["full"], label=label + " full fraction")
    assert_close(sim["occupancy"], exact["occupancy"], label=label + " mean occupancy")
    assert distribute(req, cfg).max_occupancy == depth


def test_rules_and_derandomizer_vs_markov_chain():
    """Both together: a request lost to the FIFO does not enter the rules' windows."""
    rules, p, depth, readout = ((1, 3), (2, 8)), 0.2, 2, 9
    exact = exact_chain(p, rules, depth, readout)
    cfg = L1AConfig(rules=rules, depth=depth, readout_bx=readout)
    sim = batches(bernoulli(p, seed=5), cfg)
    for key in ("acc", "lost", "full", "occupancy"):
        assert_close(sim[key], exact[key], label=f"rules+FIFO {key}")
    for j in range(len(rules)):
        assert_close(sim["veto"][:, j], exact["veto"][j], label=f"rules+FIFO veto {rules[j]}")


@pytest.mark.parametrize("rules,depth,readout", [(DEFAULT_RULES, 2, 70), (((1, 3),), 3, 12)])
def test_kernel_matches_reference_step(rules, depth, readout):
    """Bit for bit against the chain's own transition function, BX by BX (pure Python)."""
    req = bernoulli(0.05, n=30_000, seed=4)
    res = distribute(req, L1AConfig(rules=rules, depth=depth, readout_bx=readout), detail=True)
    cap = max(w for _, w in rules)
    state = ((cap,) * max(n for n, _ in rules), 0, 0)
    outcomes, occupancy = [], []
    for request in req.tolist():
        occupancy.append(state[1])              # the FIFO as the decision sees it
        state, outcome = _step(state, request, rules, depth, readout, cap)
        outcomes.append(outcome)
    np.testing.assert_array_equal(res.accepted, [o == "acc" for o in outcomes])
    # the per-BX detail: occupancy at the decision and the fate of the request
    np.testing.assert_array_equal(res.occupancy, occupancy)
    fate = [FATE_ACCEPTED if o == "acc" else FATE_LOST if o == "lost" else FATE_NONE
            if o == "none" else FATE_VETOED for o in outcomes]
    np.testing.assert_array_equal(res.fate, fate)
    np.testing.assert_array_equal(np.bincount(res.occupancy, minlength=depth + 1),
                                  res.occupancy_hist)
    assert res.lost_derandomizer == outcomes.count("lost") > 0
    assert res.vetoed_by_rule.tolist() == [outcomes.count(j) for j in range(len(rules))]


def test_depth_one_is_rule_one_in_readout():
    """Exact identity: D = 1 with an s-BX readout accepts the same BX as the rule (1, s)."""
    req = bernoulli(0.15, n=200_000, seed=2)
    a = distribute(req, L1AConfig(rules=(), depth=1, readout_bx=7))
    b = distribute(req, L1AConfig(rules=((1, 7),), depth=1, readout_bx=1))
    np.testing.assert_array_equal(a.accepted, b.accepted)
    assert a.lost_derandomizer == b.vetoed == b.requests - b.n_accepted


# ------------------------------------------------------------------ (c) chunking ----
@pytest.mark.parametrize("chunks", [[3564] * 30, [1, 2, 3, 1000, 7, 50_000], [0, 5, 0, 20_000]])
def test_chunked_equals_unchunked(chunks):
    cfg = L1AConfig(rules=DEFAULT_RULES, depth=2, readout_bx=70)  # every veto and loss path
    req = bernoulli(0.03, n=sum(chunks) + 12_345, seed=9)
    whole = distribute(req, cfg)
    state = L1AState.new(cfg)
    bounds = np.cumsum([0] + chunks + [12_345])
    parts = [distribute(req[a:b], cfg, state) for a, b in zip(bounds[:-1], bounds[1:])]
    merged = L1AResult.concat(parts)
    assert state.bx == req.size
    np.testing.assert_array_equal(merged.accepted, whole.accepted)
    np.testing.assert_array_equal(merged.vetoed_by_rule, whole.vetoed_by_rule)
    np.testing.assert_array_equal(merged.occupancy_hist, whole.occupancy_hist)
    assert merged.summary() == whole.summary()
    assert whole.lost_derandomizer > 0 and (whole.vetoed_by_rule > 0).all()  # all paths taken


# ---------------------------------------------------------------- (d) edge cases ----
def test_no_requests():
    res = distribute(np.zeros(10_000, bool))
    assert (res.requests, res.n_accepted, res.vetoed, res.lost_derandomizer) == (0, 0, 0, 0)
    assert res.deadtime_fraction == 0.0 and res.full_fraction == 0.0
    assert res.occupancy_hist.tolist() == [10_000] + [0] * res.depth
    empty = distribute(np.zeros(0, bool))
    assert empty.n_bx == 0 and empty.accepted.shape == (0,)


def test_all_requests_one_in_three():
    n = 3000
    res = distribute(np.ones(n, bool), L1AConfig(rules=((1, 3),), depth=1, readout_bx=1))
    np.testing.assert_array_equal(np.flatnonzero(res.accepted), np.arange(0, n, 3))
    assert res.vetoed_by_rule.tolist() == [2000]
    assert res.deadtime_fraction == pytest.approx(2 / 3)


def test_all_requests_default_rules():
    """1/3, 2/25, 3/100, 4/240 saturated: accepts at 240 k + {0, 3, 25, 100}, worked by hand."""
    n = 240 * 50
    res = distribute(np.ones(n, bool), L1AConfig(depth=1, readout_bx=1))
    expected = (240 * np.arange(50)[:, None] + np.array([0, 3, 25, 100])).ravel()
    np.testing.assert_array_equal(np.flatnonzero(res.accepted), expected)
    # first violated rule at 240 k + x, by hand: (1,3) for x = 1-2, 4-5, 26-27, 101-102 (8);
    # (2,25) for 6-24 (19); (3,100) for 28-99 (72); (4,240) for 103-239 (137)
    assert res.vetoed_by_rule.tolist() == [50 * 8, 50 * 19, 50 * 72, 50 * 137]
    assert res.deadtime_fraction == pytest.approx(236 / 240)


def test_bad_configs_raise():
    bad_rules = [[(0, 3)], [(2, 1)], [(1.5, 3)], [(True, 3)], [(1, 3, 4)], ["1/3"], [(1, "3")]]
    for rules in bad_rules:
        with pytest.raises(L1TInputError, match="trigger_rules"):
            L1AConfig(rules=rules)
    for depth in (0, -1, 2.5, None):
        with pytest.raises(L1TInputError, match="derandomizer.depth"):
            L1AConfig(depth=depth)
    with pytest.raises(L1TInputError, match="derandomizer.readout_bx"):
        L1AConfig(readout_bx=0)
    src = "pipeline.yaml"
    for data, fld in [({"trigger_rules": [[1, 3], [3, 2]]}, r"trigger_rules\[1\]"),
                      ({"trigger_rules": None}, "trigger_rules"),
                      ({"trigger_rules": "1/3"}, "trigger_rules"),
                      ({"derandomizer": {"depth": 0, "readout_ns": 500}}, "derandomizer.depth"),
                      ({"derandomizer": {"depth": 4, "readout_ns": float("nan")}}, "readout_ns"),
                      ({"derandomizer": {"depth": 4, "readout_ns": -25}}, "readout_ns"),
                      ({"derandomizer": {"depth": 4, "readout_ns": "1us"}}, "readout_ns"),
                      ({"derandomizer": {"depth": 4, "readout": 25}}, "derandomizer"),
                      ({"derandomizer": {"readout_ns": 25, "readout_bx": 1}}, "derandomizer"),
                      ({"derandomizer": [4, 25]}, "derandomizer"), ([1, 3], None)]:
        with pytest.raises(L1TInputError, match="pipeline.yaml") as err:
            L1AConfig.from_dict(data, src)
        if fld:
            assert err.match(fld)
    with pytest.raises(L1TInputError, match="requests"):
        distribute(np.ones(10, np.int64))
    with pytest.raises(L1TInputError, match="requests"):
        distribute(np.ones((2, 5), bool))


def test_from_dict_yaml_keys():
    import yaml
    text = """
trigger_rules: [[1, 3], [2, 25], [3, 100], [4, 240]]
derandomizer: {depth: 8, readout_ns: 1010}
other_key: belongs to the pipeline
"""
    cfg = L1AConfig.from_dict(yaml.safe_load(text), "pipeline.yaml")
    assert cfg.rules == DEFAULT_RULES and cfg.depth == 8
    assert cfg.readout_bx == 41 and cfg.readout_ns == 1025.0  # 1010 ns rounds up to 41 BX
    assert L1AConfig.from_dict({"derandomizer": {"depth": 2, "readout_ns": 50.0}}).readout_bx == 2
    assert L1AConfig.from_dict({"trigger_rules": []}).rules == ()
    assert L1AConfig.from_dict(cfg.to_dict()) == cfg
    assert L1AConfig.from_dict({}) == L1AConfig()
    with pytest.raises(ValueError, match="different"):
        distribute(np.ones(3, bool), cfg, L1AState.new(L1AConfig()))
