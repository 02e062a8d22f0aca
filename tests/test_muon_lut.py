"""The muon gun sample and the lookup-table pT assignment trained from it."""
import numpy as np
import pytest

from l1t.core.errors import L1TInputError
from l1t.datasets.muon.lut import ADDRESS_BITS, WORD_BITS, MuonLUT, addresses
from l1t.datasets.muon.single import single_muons
from l1t.models.muon.lut import train_lut


def _gun_candidates(n, seed):
    feats, pt, _, bend = single_muons(n, seed)
    return feats, pt, bend


@pytest.fixture(scope="module")
def trained():
    feats, pt, bend = _gun_candidates(60_000, 1)
    return train_lut(feats, pt)


def test_addresses_fit_the_width_and_follow_the_bend():
    feats, pt, _ = _gun_candidates(3000, 2)
    a = addresses(feats)
    assert a.min() >= 0 and a.max() < 1 << ADDRESS_BITS
    # same mode and theta: a larger bend is a different (lower-pT) address
    low, high = pt < 5, pt > 100
    assert len(np.intersect1d(a[low], a[high])) < 0.05 * len(np.unique(a[high]))


def test_lut_holds_nine_bit_words_and_beats_nothing_by_chance(trained, tmp_path):
    assert trained.words.max() < 1 << WORD_BITS and (trained.words > 0).sum() > 1000
    assert trained.memory_bits == (1 << 20) * 9
    feats, pt, bend = _gun_candidates(20_000, 3)
    lut_pt = trained.pt(feats)
    for lo, hi in ((10, 20), (20, 40)):
        sel = (pt > lo) & (pt < hi)
        assert 0.85 < np.median(lut_pt[sel] / pt[sel]) < 1.15      # trained on 1/pT medians
    assert np.all(lut_pt > 0)        # complete: rare addresses take a coarser address's word
    path = trained.save(tmp_path / "lut.npz")
    assert np.array_equal(MuonLUT.load(path).words, trained.words)


def test_rare_addresses_take_the_word_of_a_coarser_one():
    from l1t.models.muon.lut import MIN_ENTRIES

    feats, pt, _ = _gun_candidates(20_000, 5)
    lut = train_lut(feats, pt)
    a = addresses(feats)
    counts = np.bincount(a, minlength=1 << ADDRESS_BITS)
    rare = np.flatnonzero((counts > 0) & (counts < MIN_ENTRIES))
    assert len(rare) > 100 and np.all(lut.words[rare] > 0)
    # an address never seen, in a (mode, theta, first, second) cell with enough muons, holds the
    # cell's median 1/pT
    cells = a >> 2
    cell_counts = np.bincount(cells)
    cell = next(c for c in np.flatnonzero(cell_counts >= 10)
                if np.any(counts[(c << 2) + np.arange(4)] == 0))
    empty = (cell << 2) + int(np.flatnonzero(counts[(cell << 2) + np.arange(4)] == 0)[0])
    inv = np.sort(1.0 / pt[cells == cell])
    assert lut.words[empty] == np.clip(np.floor(1.0 / inv[len(inv) // 2] / 0.5), 1, 511)


def test_the_packaged_table_scales_and_assigns_l1mu_pt():
    from l1t.datasets.muon.lut import packaged

    lut = packaged("stations-v1")
    assert lut.scale is not None and 22.0 in lut.scale.thresholds_gev
    feats, pt, _ = _gun_candidates(40_000, 9)
    assigned = lut.assign(feats)
    for t in (10.0, 22.0):
        near = np.abs(pt - t) <= 0.05 * t
        assert np.mean(assigned[near] >= t) == pytest.approx(0.90, abs=0.05)
    with pytest.raises(L1TInputError, match="muon_system"):
        packaged("stations-v0")


def test_a_table_of_another_shape_is_refused(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, words=np.zeros(10, np.uint16))
    with pytest.raises(L1TInputError, match="words"):
        MuonLUT.load(path)
    (tmp_path / "x.npz").write_bytes(b"nope")
    with pytest.raises(L1TInputError, match="x.npz"):
        MuonLUT.load(tmp_path / "x.npz")


def test_muon_gun_production_trains_the_table_through_the_command(tmp_path):
    """``l1t generate muon_gun`` then ``l1t train muon-lut``: the table file from real event
    files; the gun is flat in q/pT, one generator muon per event, deterministic."""
    import awkward as ak

    from l1t.cli import main
    from l1t.datasets.inputs import read_inputs

    gun = tmp_path / "gun"
    assert main(["generate", "muon_gun", "--events", "600", "--chunk-size", "300", "--seed", "4",
                 "--out", str(gun), "--quiet"]) == 0
    ev = read_inputs([gun])
    muons = ev.GenPart[abs(ev.GenPart.pdgId) == 13]
    assert ak.all(ak.num(muons) == 1)
    inv = 1.0 / ak.to_numpy(muons.pt[:, 0])
    assert inv.min() >= 1e-3 - 1e-6 and inv.max() <= 0.5 + 1e-6
    assert 0.4 < np.mean(ak.to_numpy(muons.charge[:, 0]) > 0) < 0.6
    high = ak.to_numpy(muons.pt[:, 0]) > 10
    assert np.mean(ak.to_numpy(ak.num(ev.L1Mu))[high] >= 1) > 0.95
    assert ak.any(ev.L1Mu.tfMode > 0)
    assert main(["train", "muon-lut", "--data", str(gun), "--out", str(tmp_path / "lut")]) == 0
    lut = MuonLUT.load(tmp_path / "lut" / "lut.npz")
    assert (lut.words > 0).sum() >= 5         # 600 muons: a handful of addresses with 3+


def test_threshold_scaling_puts_the_90_percent_point_at_the_threshold():
    from l1t.datasets.muon.scaling import ThresholdScale

    feats, pt, bend = _gun_candidates(80_000, 7)
    scale = ThresholdScale.fit(pt, bend, (10.0, 22.0, 40.0))
    scaled = scale.apply(bend)
    for t in (10.0, 22.0, 40.0):
        near = np.abs(pt - t) <= 0.05 * t
        assert np.mean(bend[near] >= t) < 0.85                 # unscaled: the turn-on is late
        assert np.mean(scaled[near] >= t) == pytest.approx(0.90, abs=0.04)
    assert np.all(np.diff(scale.apply(np.linspace(5, 200, 50))) > 0)    # monotonic
