"""Phase-2 objects on real Pythia events: L1 tracks and their word, the FastHisto vertex, PF +
PUPPI, PUPPI MET against the calorimeter MET, the Phase-2 collections' words."""
from dataclasses import replace

import awkward as ak
import numpy as np
import pytest

from l1t.datasets import detector, hwunits
from l1t.datasets.detector import phase2, tracks
from l1t.datasets.detector.digitize import Digitized
from l1t.datasets.pileup import build_pool, compose, load_pool
from l1t.datasets.pythia import chunk_seed, generate, prepare_mpi_init
from l1t.datasets.samples import get_sample
from l1t.datasets.schema import MET, PHASE2_COLLECTIONS

CFG = detector.DEFAULT
POOL = 600


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    """A min-bias pool and 120 tt̄ events (real Pythia), digitised together: hard event i is
    interaction i, pool event j is interaction 120 + j."""
    cache = tmp_path_factory.mktemp("phase2")
    pool_file = build_pool(cache, POOL, 3, prepare_mpi_init(get_sample("minbias"),
                                                            cache / "mpi-minbias.dat"))
    pool, _ = load_pool(pool_file)
    ttbar = get_sample("ttbar")
    hard = generate(ttbar, 120, chunk_seed(3, 0), prepare_mpi_init(ttbar, cache / "mpi-tt.dat"))
    return Digitized.concatenate([detector.digitize(hard.particles), pool]), 120


def _crossings(events, mu, seed, n=None):
    digi, n_hard = events
    rng = np.random.default_rng(seed)
    n = n or n_hard
    members, counts = compose(n, mu, POOL, rng)
    members = np.where(members >= n, members - n + n_hard, members)   # pool after the hard events
    return digi, members, counts, rng


def _correlator(events, mu, seed, n=None, cfg=CFG):
    digi, members, counts, rng = _crossings(events, mu, seed, n)
    em, had = detector.towers(digi, members, counts, rng, cfg)
    trk, tc, origin = digi.tracks.gather_rows(members, counts)
    z = rng.normal(0.0, cfg.beam_sigma_z_cm, len(members))
    l1 = tracks.simulate(trk, tc, origin, z, counts, rng, cfg)
    no_mu = (np.zeros(0, np.int64), {k: np.zeros(0) for k in ("pt", "eta", "phi")})
    c = phase2.correlator(l1, em, had, no_mu, len(counts), cfg)
    starts = np.cumsum(counts) - counts
    return l1, c, z, starts, counts, (em, had)


def test_track_resolution_efficiency_and_fakes():
    """Hand-made charged particles: the smearing follows the configured resolutions, the
    efficiency is track_efficiency, fakes grow as the square of the interactions."""
    n = 20000
    rng = np.random.default_rng(5)
    charged = {"pt": np.full(n, 10.0, np.float32), "eta": np.full(n, 0.1, np.float32),
               "phi": np.zeros(n, np.float32), "charge": np.ones(n, np.int32)}
    z = np.array([1.5])
    l1 = tracks.simulate(charged, np.zeros(n, np.int64), np.zeros(n, np.int64), z,
                         np.array([1]), rng, CFG)
    real = l1.origin >= 0
    assert real.sum() / n == pytest.approx(CFG.track_efficiency, abs=0.01)
    rel = np.hypot(np.interp(0.1, CFG.track_res_eta, CFG.track_res_pt_ms),
                   np.interp(0.1, CFG.track_res_eta, CFG.track_res_pt_curv) * 10.0)
    assert np.std(1 / l1.pt[real]) * 10.0 == pytest.approx(rel, rel=0.05)
    sz = np.hypot(np.interp(0.1, CFG.track_res_eta, CFG.track_res_z0),
                  np.interp(0.1, CFG.track_res_eta, CFG.track_res_z0_ms) / 10.0)
    assert np.std(l1.z0[real] - 1.5) == pytest.approx(sz, rel=0.05)
    # fakes: (n / 200)² x track_fakes_200 per crossing
    none = {k: v[:0] for k, v in charged.items()}
    for n_int, want in ((100, CFG.track_fakes_200 / 4), (200, CFG.track_fakes_200)):
        f = tracks.simulate(none, np.zeros(0, np.int64), np.zeros(0, np.int64), z,
                            np.full(2000, n_int), np.random.default_rng(1), CFG)
        assert len(f) / 2000 == pytest.approx(want, rel=0.05)
        assert (f.origin == -1).all() and (f.pt >= 2.0).all()


def test_track_word_round_trips(events):
    l1, *_ = _correlator(events, 200, 1, n=20)
    word = tracks.word_fields(l1, CFG)
    for name, width in tracks.LAYOUT:
        assert (word[name] < (1 << width)).all(), name
    hi, lo = tracks.pack(word)
    assert hi.dtype == np.uint32 and (hi >> np.uint32(31)).all()   # valid bit = bit 95
    back = tracks.unpack(hi, lo)
    for name in word:
        np.testing.assert_array_equal(back[name], word[name])
    val = tracks.decode(back, tracks.sector_of(l1.phi))
    inside = np.abs(l1.z0) < 20.4
    assert np.abs(val["z0"] - l1.z0)[inside].max() <= tracks.Z0_LSB
    assert np.abs(np.angle(np.exp(1j * (val["phi"] - l1.phi)))).max() <= tracks.PHI_LSB
    assert np.abs(val["tanl"] - np.sinh(l1.eta)).max() <= tracks.TANL_LSB
    rinv = l1.charge * 0.003 * CFG.b_field_t / l1.pt
    assert np.abs(val["rinv"] - rinv).max() <= tracks.RINV_LSB
    assert np.array_equal(np.sign(val["rinv"]), l1.charge)


def test_vertex_found_within_its_resolution_on_single_interactions(events):
    """tt̄ alone (μ = 0): the FastHisto vertex lies within the vertex half-width (0.15 cm) of
    the interaction in ≥ 95% of the events; at μ = 200 it still finds the tt̄ vertex mostly."""
    _, c, z, starts, counts, _ = _correlator(events, 0, 2)
    dz = c.vertices.z0 - z[starts]
    assert np.mean(np.abs(dz) < CFG.vertex_half_width_cm) >= 0.95
    assert np.median(np.abs(dz)) < 0.05      # cm: far inside the 0.48 cm window
    _, c, z, starts, _, _ = _correlator(events, 200, 3, n=60)
    assert np.mean(np.abs(c.vertices.z0 - z[starts]) < CFG.vertex_half_width_cm) >= 0.8


def test_puppi_weights_charged_pileup_zero_vertex_one(events):
    l1, c, z, starts, counts, _ = _correlator(events, 200, 4, n=60)
    cand, w = c.candidates, c.weights
    ch = cand.charged & (l1.origin[np.maximum(cand.track, 0)] >= 0)   # genuine tracks
    origin = l1.origin[cand.track[ch]]
    hard = origin == starts[cand.crossing[ch]]
    found = np.abs(c.vertices.z0 - z[starts]) < CFG.vertex_half_width_cm
    z_true = z[origin]
    far = np.abs(z_true - c.vertices.z0[cand.crossing[ch]]) > 3.0        # cm: ≥ 5σ of any z0
    wc = w[ch]
    assert far.sum() > 1000 and (wc[far & ~hard] == 0).all()
    from_vertex = hard & found[cand.crossing[ch]]
    assert from_vertex.sum() > 500 and np.mean(wc[from_vertex] == 1) > 0.97
    assert set(np.unique(wc)) <= {0.0, 1.0}          # charged: 1 or removed
    neutral = ~cand.charged
    assert ((w[neutral] >= 0) & (w[neutral] <= 1)).all() and 0 < np.mean(w[neutral] > 0) < 0.5


def test_puppi_met_of_pileup_far_below_calorimeter_met(events, tmp_path):
    """Zero-bias crossings at μ = 200: PUPPI MET is well below the unmitigated calorimeter MET
    (median below 60% of it), the point of pileup mitigation."""
    digi = events[0]
    rng = np.random.default_rng(6)
    counts = rng.poisson(200, 150)
    members = rng.integers(0, POOL, counts.sum()) + events[1]
    out = detector.simulate(digi, members, counts, rng)
    puppi = out["L1PuppiSum"]
    calo = out["L1EtSum"]
    p_met = ak.to_numpy(ak.flatten(puppi.pt[puppi.etSumType == MET]))
    c_met = ak.to_numpy(ak.flatten(calo.pt[calo.etSumType == MET]))
    assert np.median(p_met) < 0.6 * np.median(c_met)
    assert np.percentile(p_met, 95) < 0.7 * np.percentile(c_met, 95)
    # every Phase-2 collection is there, its pT a multiple of its word's LSB
    for coll in PHASE2_COLLECTIONS:
        flat = ak.flatten(out[coll])
        assert set(ak.fields(flat)) == set(PHASE2_COLLECTIONS[coll])
        if "pt" in ak.fields(flat):
            np.testing.assert_array_equal(ak.to_numpy(flat.pt),
                                          ak.to_numpy(flat.hwPt) * hwunits.P2_PT_LSB)
    assert ak.all(ak.num(out["L1PV"]) == 1)
    ev = ak.zip({"gen_vz": out.pop("gen_vz"), **out}, depth_limit=1)
    # the ADC-style 57 inputs from the Phase-2 objects: slot 0 is the PUPPI MET
    from l1t.datasets.adc import to_adc_features

    x = to_adc_features(ev, "phase2")
    assert x.shape == (150, 57)
    np.testing.assert_allclose(x[:, 0], p_met.astype(np.float32))
    assert not np.array_equal(x, to_adc_features(ev, "calo"))
    # written NanoAOD-style (ROOT) and read back through the NanoAOD mapping, like CMS files
    from l1t.datasets.formats import read_events, write_events

    path = write_events(ev, tmp_path / "zb.root")
    back = read_events(path, fmt="nanoaod")
    for coll in PHASE2_COLLECTIONS:
        assert ak.to_list(back[coll]) == ak.to_list(out[coll]), coll
