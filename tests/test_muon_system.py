"""The muon system: transport through field and iron, hits, track finder and its features."""
import numpy as np
import pytest

from l1t.datasets.muon import geometry, hits, trackfinder
from l1t.datasets.muon.propagate import transport


def _gun(n, pt, eta, seed=1, **kw):
    rng = np.random.default_rng(seed)
    pt = np.broadcast_to(np.asarray(pt, float), (n,)).copy()
    eta = np.broadcast_to(np.asarray(eta, float), (n,)).copy()
    phi = rng.uniform(-np.pi, np.pi, n)
    q = rng.choice([-1, 1], n)
    return pt, eta, phi, q, transport(pt, eta, phi, q, rng, **kw)


@pytest.mark.parametrize("eta", [0.5, 1.8])
def test_bend_between_stations_scales_as_one_over_pt(eta):
    pts = np.array([20.0, 40.0, 80.0, 160.0, 400.0])
    tr = transport(pts, np.full(5, eta), np.zeros(5), np.ones(5), np.random.default_rng(1),
                   scatter=False, fluctuate=False)
    assert tr.reached.all()
    k = (tr.phi[:, 1] - tr.phi[:, 0]) * pts
    assert np.all(k < 0)                                    # a positive muon bends to -phi
    np.testing.assert_allclose(k, k[-1], rtol=0.06)
    # the charge flips the bend
    neg = transport(pts, np.full(5, eta), np.zeros(5), -np.ones(5), np.random.default_rng(1),
                    scatter=False, fluctuate=False)
    np.testing.assert_allclose(neg.phi[:, 1] - neg.phi[:, 0], -(tr.phi[:, 1] - tr.phi[:, 0]))
    # the return field bends the other way: the local bend shrinks from station 1 to 4
    assert np.all(np.abs(tr.bend[:, 3]) < np.abs(tr.bend[:, 0]))


def _spread(d):
    return (np.percentile(d, 75) - np.percentile(d, 25)) / 1.349


def test_low_momentum_resolution_is_multiple_scattering():
    """sigma(dphi12): with scattering vs without (hit resolution only) at 5 GeV and 500 GeV."""
    out = {}
    for pt in (5.0, 500.0):
        for scatter in (True, False):
            _, _, _, q, tr = _gun(3000, pt, 0.5, scatter=scatter, fluctuate=scatter)
            h = hits.measure(tr, np.arange(3000), np.random.default_rng(2))
            c = trackfinder.find(h)
            true = c.muon >= 0
            ratio = (c.charge / c.pt)[true] * q[c.muon[true]] * pt   # (q/pT) measured / true
            out[pt, scatter] = _spread(ratio)                   # sigma(1/pT) / (1/pT)
    assert out[5.0, True] > 3 * out[5.0, False]             # scattering dominates at low pT
    assert out[500.0, True] < 1.5 * out[500.0, False]       # the hits dominate at high pT
    assert out[5.0, True] < 0.5


def test_muons_below_range_out_give_no_candidate():
    n = 500
    for pt, expect_low in ((2.5, True), (8.0, False)):
        pt_, eta, phi, q, tr = _gun(n, pt, 0.2)
        c = trackfinder.find(hits.measure(tr, np.arange(n), np.random.default_rng(3)))
        eff = len(np.unique(c.muon[c.muon >= 0])) / n
        assert (eff < 0.02) if expect_low else (eff > 0.98), (pt, eff)
    # the endcap needs more momentum (p = pT cosh eta): the same pT reaches it
    _, _, _, _, tr = _gun(n, 2.5, 2.0)
    c = trackfinder.find(hits.measure(tr, np.arange(n), np.random.default_rng(3)))
    assert len(np.unique(c.muon[c.muon >= 0])) / n > 0.9


def test_features_are_words_of_their_widths_and_deterministic():
    rng = np.random.default_rng(4)
    n = 2000
    pt = 1.0 / rng.uniform(1e-3, 0.5, n)
    eta = rng.uniform(-2.4, 2.4, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    q = rng.choice([-1, 1], n)

    def run():
        r = np.random.default_rng(5)
        tr = transport(pt, eta, phi, q, r)
        h = hits.Hits.concatenate([hits.measure(tr, np.arange(n), r),
                                   hits.background(n, np.full(n, 200.0), r)])
        return trackfinder.find(h)

    c, again = run(), run()
    assert 20 <= len(trackfinder.FEATURES) <= 40
    for name, (bits, signed, _) in trackfinder.FEATURES.items():
        v = c.features[name]
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        assert v.dtype == np.int32 and v.min() >= lo and v.max() <= hi, name
        assert np.array_equal(v, again.features[name])
    assert np.array_equal(c.pt, again.pt)
    true = c.muon >= 0
    assert (c.charge[true] == q[c.muon[true]]).mean() > 0.97
    assert np.all(np.abs(c.eta) <= geometry.ETA_MAX)


def test_background_alone_makes_few_low_quality_candidates():
    n = 4000
    rng = np.random.default_rng(6)
    c = trackfinder.find(hits.background(n, np.full(n, 200.0), rng))
    assert len(c) < 0.1 * n
    assert np.mean(c.quality >= 12) < 0.05        # three-station coincidences are rare


def test_no_hits_no_candidates():
    empty = hits.background(5, np.zeros(5), np.random.default_rng(1))
    c = trackfinder.find(empty)
    assert len(c) == 0 and all(len(v) == 0 for v in c.features.values()) and len(c.pt) == 0
