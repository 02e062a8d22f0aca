"""The muon-enriched zero-bias sample: decays in flight boosted and weighted back, checked against
plain zero-bias crossings."""
from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from l1t.datasets.detector.config import DetectorConfig
from l1t.datasets.detector.muons import decay_probability


def test_boosted_decay_probability_and_unbiased_weights():
    cfg = DetectorConfig(mu_decay_boost=50.0, mu_boost_min_pt=8.0, mu_boost_max=0.5)
    p = np.array([0.004, 0.004, 0.02, 1.0, 0.0])
    parent = np.array([10.0, 5.0, 30.0, 40.0, 20.0])
    q = decay_probability(p, parent, cfg)
    np.testing.assert_allclose(q, [0.2, 0.004, 0.5, 1.0, 0.0])     # boosted, below, capped, prompt
    np.testing.assert_array_equal(decay_probability(p, parent, DetectorConfig()), p)
    # the weight p/q (decayed) or (1-p)/(1-q) (not) has mean 1 under the boosted draw
    rng = np.random.default_rng(1)
    decayed = rng.random(200_000) < 0.2
    w = np.where(decayed, 0.004 / 0.2, 0.996 / 0.8)
    assert w.mean() == pytest.approx(1.0, abs=4 * w.std() / np.sqrt(len(w)))


def test_muon_enriched_crossings_give_the_zero_bias_rate(tmp_path):
    """The same crossings (seed, pool) with and without the boost: the weighted single-muon rates
    agree within their errors at low thresholds, while the enriched sample has more crossings
    behind them; the weights average to 1."""
    from l1t.datasets.production import produce
    from l1t.trigger.job import RateJob, run
    from l1t.trigger.menu import parse_menu
    from l1t.trigger.rates import summarize

    kw = dict(pileup=100, seed=3, chunk_size=300, pool_size=400, progress=False,
              cache_dir=tmp_path / "cache", workers=2)
    produce("minbias", 900, tmp_path / "zb", **kw)
    produce("minbias_mu", 900, tmp_path / "mu", **kw)
    menu = parse_menu("seeds:\n" + "".join(
        f"  L1_SingleMu{t}:\n    legs:\n      - {{object: muon, pt: {t}, eta: 2.4, quality: 12}}\n"
        for t in (3, 5, 8)))
    from l1t.datasets.inputs import expand_inputs, read_inputs

    rates = {}
    for name in ("zb", "mu"):
        groups = run(RateJob(menu), expand_inputs([tmp_path / name]))
        rates[name] = {s["seed"]: s for s in summarize(groups, menu)["seeds"]}
    w = ak.to_numpy(read_inputs([tmp_path / "mu"]).weight).astype(np.float64)
    assert np.any(w != 1.0)
    assert w.mean() == pytest.approx(1.0, abs=4 * w.std() / np.sqrt(len(w)))
    more = 0
    for seed in rates["zb"]:
        a, b = rates["zb"][seed], rates["mu"][seed]
        err = np.hypot(a["rate_err_khz"], b["rate_err_khz"])
        assert abs(a["rate_khz"] - b["rate_khz"]) < 3 * err, (seed, a["rate_khz"], b["rate_khz"])
        more += b["events_fired"] > a["events_fired"]
    assert more >= 2
