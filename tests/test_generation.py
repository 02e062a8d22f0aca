"""Real Pythia8 events (small N): cross sections, pileup, L1 physics, determinism, resume."""
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from scipy.optimize import curve_fit

from l1t.core.errors import L1TInputError
from l1t.datasets.inputs import read_inputs
from l1t.datasets.muon.lut import packaged
from l1t.datasets.production import produce
from l1t.datasets.pythia import generate, prepare_mpi_init
from l1t.datasets.samples import SAMPLES, get_sample


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("l1t-cache")


def _digests(manifest):
    return [c["sha256"] for c in manifest["chunks"]]


def test_sigma_inelastic_is_79_mb(cache):
    mpi = prepare_mpi_init(get_sample("minbias"), cache / "mpi-minbias.dat")
    ev = generate(get_sample("minbias"), 100, 11, mpi)
    assert len(ev) == 100 and ak.all(ak.num(ev.particles) > 0)
    assert ev.sigma_mb[0] == pytest.approx(79.0, rel=0.05)
    assert set(np.unique(ev.process)) <= {101, 102, 103, 104, 105, 106}


@pytest.mark.parametrize("name", [n for n, s in SAMPLES.items()
                                  if n != "minbias" and s.generator == "pythia"])
def test_every_sample_generates(name, cache):
    sample = get_sample(name)
    mpi = prepare_mpi_init(sample, cache / f"mpi-{name}.dat")
    ev = generate(sample, 3, 5, mpi)
    assert len(ev) == 3 and ev.sigma_mb[0] > 0
    if sample.weighted:
        assert len(np.unique(ak.to_numpy(ev.weight))) > 1  # pT-hat bias gives event weights
    else:
        assert ak.all(ev.weight == 1.0)


@pytest.fixture(scope="session")
def zero_bias(tmp_path_factory, cache):
    out = tmp_path_factory.mktemp("zb")
    m = produce("minbias", 400, out, pileup=30, seed=3, chunk_size=200, pool_size=300,
                workers=2, progress=False, cache_dir=cache)
    return out, m


def test_mean_interactions_equal_mu(zero_bias):
    out, manifest = zero_bias
    ev = read_inputs([out])
    n = ak.to_numpy(ev.n_interactions)
    mu = 30.0
    assert abs(n.mean() - mu) < 4 * np.sqrt(mu / len(n))
    assert n.var() == pytest.approx(mu, rel=0.3)  # Poisson
    assert manifest["complete"] and manifest["pileup_pool"]["reused"]
    assert manifest["pileup_pool"]["mean_uses_per_pool_event"] == pytest.approx(40.0)
    # pu_source: the pool event of each crossing's hardest pileup interaction (one pool id in
    # the upper half, an index below 300 in the lower); crossings sharing it share its pT-hat
    src = ak.to_numpy(ev.pu_source)
    has_pu = n >= 2
    assert (src[has_pu] >= 0).all() and (src[~has_pu] == -1).all()
    assert len(np.unique(src[has_pu] >> 32)) == 1 and ((src[has_pu] & 0xFFFFFFFF) < 300).all()
    pu_pthat = ak.to_numpy(ev.pu_pthat_max)
    for s in np.unique(src[has_pu]):
        assert len(np.unique(pu_pthat[src == s])) == 1
    assert len(np.unique(src[has_pu])) < has_pu.sum()      # the pool recurs


def test_signal_crossings_carry_hard_event_plus_pileup(tmp_path, cache):
    m = produce("w_lnu", 120, tmp_path, pileup=20, seed=4, chunk_size=120, pool_size=200,
                progress=False, cache_dir=cache)
    ev = read_inputs([tmp_path])
    pu = ak.to_numpy(ev.n_interactions) - 1
    assert abs(pu.mean() - 20) < 4 * np.sqrt(20 / len(pu))
    assert ak.all(ak.num(ev.GenPart) > 0)
    assert m["sigma_mb"] > 0
    # The hardest interaction of a crossing: the W (pT-hat of the hard process) or a pileup one.
    assert ak.all(ev.pthat_max >= ev.pthat) and ak.any(ev.pthat_max > ev.pthat)


def test_same_seed_same_bytes_any_worker_count(tmp_path, cache, zero_bias):
    _, first = zero_bias
    again = produce("minbias", 400, tmp_path / "again", pileup=30, seed=3, chunk_size=200,
                    pool_size=300, workers=1, progress=False, cache_dir=cache)
    assert _digests(again) == _digests(first)
    other = produce("minbias", 200, tmp_path / "other", pileup=30, seed=4, chunk_size=200,
                    pool_size=300, workers=1, progress=False, cache_dir=cache)
    assert _digests(other)[0] != _digests(first)[0]


def test_resume_skips_complete_chunks_and_ignores_partial_ones(tmp_path, cache):
    kw = dict(pileup=5, seed=9, chunk_size=50, pool_size=100, workers=1, progress=False,
              cache_dir=cache)
    first = produce("minbias", 150, tmp_path, **kw)
    chunk1 = tmp_path / "chunk-00001.parquet"
    stamp = (tmp_path / "chunk-00000.parquet").stat().st_mtime_ns
    chunk1.unlink()
    (tmp_path / ".chunk-00001.parquet.abc.tmp").write_bytes(b"half a chunk")
    second = produce("minbias", 150, tmp_path, **kw)
    assert _digests(second) == _digests(first)
    assert (tmp_path / "chunk-00000.parquet").stat().st_mtime_ns == stamp  # not redone
    with pytest.raises(L1TInputError, match="other parameters"):
        produce("minbias", 150, tmp_path, **{**kw, "seed": 10})


def _table_pt(mu):
    """The packaged table's pT of each L1 muon before its threshold scale (GeV), and the scaled
    words the detector stores in ``L1Mu.pt``."""
    table = packaged("stations-v1")
    feats = {k: ak.to_numpy(ak.flatten(mu[k])) for k in ak.fields(mu) if k.startswith("tf")}
    counts = ak.num(mu)
    stored = np.minimum(np.floor(table.assign(feats) / 0.5) * 0.5, 255.5)
    return ak.unflatten(table.pt(feats), counts), ak.unflatten(stored, counts)


def test_z_to_mumu_mass_peaks_at_91(tmp_path, cache):
    produce("z_ll", 900, tmp_path, pileup=0, seed=21, chunk_size=450, workers=2,
            progress=False, cache_dir=cache)
    ev = read_inputs([tmp_path])
    raw, stored = _table_pt(ev.L1Mu)
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(ev.L1Mu.pt)), ak.flatten(stored))
    # the mass and the response from the table's own pT: the threshold scale deliberately
    # moves L1Mu.pt up so that the 90% point of each turn-on sits at its threshold
    mu = ak.with_field(ev.L1Mu, raw, "pt")
    mu = mu[mu.hwQual >= 8]
    l1 = mu
    mu = mu[ak.num(mu) >= 2]
    a, b = mu[:, 0], mu[:, 1]
    opposite = ak.to_numpy(a.charge != b.charge)
    m2 = 2 * a.pt * b.pt * (np.cosh(a.eta - b.eta) - np.cos(a.phi - b.phi))
    mass = np.sqrt(ak.to_numpy(m2))[opposite]
    assert len(mass) > 60
    counts, edges = np.histogram(mass, bins=np.arange(61, 122, 3))
    centers = 0.5 * (edges[1:] + edges[:-1])
    gauss = lambda x, a, m, s: a * np.exp(-0.5 * ((x - m) / s) ** 2)  # noqa: E731
    (amp, peak, width), _ = curve_fit(gauss, centers, counts, p0=(counts.max(), 91, 8))
    # the table holds the median of 1/pT per address, floored to 0.5 GeV words: the peak sits
    # within a few per cent of m_Z
    assert 91.19 * 0.9 < peak < 91.19 * 1.08
    gen = ev.GenPart[(abs(ev.GenPart.pdgId) == 13) & (abs(ev.GenPart.eta) < 2.3)
                     & (ev.GenPart.pt > 20)]
    g, l1m = ak.unzip(ak.cartesian([gen, l1], nested=True))
    dr = np.hypot(g.eta - l1m.eta, (g.phi - l1m.phi + np.pi) % (2 * np.pi) - np.pi)
    best = ak.argmin(dr, axis=2, keepdims=True)
    close = ak.flatten(dr[best], axis=2) < 0.3
    ratio = ak.flatten(l1m[best], axis=2).pt / ak.flatten(g[best], axis=2).pt
    response = ak.to_numpy(ak.drop_none(ak.flatten(ratio[close])))
    assert len(response) > 0.9 * ak.sum(ak.num(gen))          # efficiency of the muon system
    assert 0.93 < np.median(response) < 1.07


def test_root_output_round_trips(tmp_path, cache):
    """The same production written as ROOT and as parquet reads back the same crossings, field
    by field and value by value (the generator and detector do not depend on the format)."""
    kw = dict(pileup=2, seed=2, chunk_size=20, pool_size=50, progress=False, cache_dir=cache)
    produce("minbias", 40, tmp_path / "root", fmt="root", **kw)
    produce("minbias", 40, tmp_path / "parquet", fmt="parquet", **kw)
    assert (tmp_path / "root" / "chunk-00001.root").exists()
    root, parquet = read_inputs([tmp_path / "root"]), read_inputs([tmp_path / "parquet"])
    assert len(root) == len(parquet) == 40
    assert ak.fields(root) == ak.fields(parquet)
    assert ak.sum(ak.num(root.L1Jet)) > 0 and ak.sum(ak.num(root.L1EtSum)) > 0
    assert ak.to_list(root) == ak.to_list(parquet)


def test_bad_arguments(tmp_path):
    with pytest.raises(L1TInputError, match="unknown sample"):
        produce("nope", 10, tmp_path)
    with pytest.raises(L1TInputError, match="pileup"):
        produce("minbias", 10, tmp_path, pileup=float("nan"))
    assert not any(tmp_path.iterdir())


def test_dask_cluster_gives_the_same_bytes(tmp_path, cache):
    from dask.distributed import LocalCluster

    kw = dict(pileup=5, seed=12, chunk_size=40, pool_size=60, progress=False, cache_dir=cache)
    local = produce("minbias", 80, tmp_path / "local", workers=1, **kw)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        remote = produce("minbias", 80, tmp_path / "dask", scheduler=cluster.scheduler_address, **kw)
    assert _digests(remote) == _digests(local)
