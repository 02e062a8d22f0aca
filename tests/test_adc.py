"""The ADC2021 view: object selection, ordering, padding, h5 round trip."""
from __future__ import annotations

import hashlib
import re

import awkward as ak
import h5py
import numpy as np
import pytest
from conftest import make_events

from l1t.datasets.adc import (ADC_MUON_QUAL, from_adc_particles, to_adc_features, to_adc_particles,
                          write_adc_h5)
from l1t.core.errors import L1TInputError
from l1t.datasets.formats import from_awkward, iter_events, read_events, read_metadata


def _objects(rows, fields, **fixed):
    return [{**dict(zip(fields, r)), **fixed} for r in rows]


def hand_events(events: list[dict]) -> ak.Array:
    """Schema events from short per-event lists: mu/eg/jet (pt, eta, phi[, isEle]), sums."""
    hw = {"hwPt": 0, "hwEta": 0, "hwPhi": 0}
    out = []
    for e in events:
        out.append({
            "L1Mu": _objects(e.get("mu", []), ["pt", "eta", "phi"], charge=1, hwQual=12, **hw),
            "L1EG": _objects(e.get("eg", []), ["pt", "eta", "phi", "isEle"], hwIso=0, iso=0.0,
                             **hw),
            "L1Tau": _objects([], ["pt", "eta", "phi"], hwIso=0, iso=0.0, **hw),
            "L1Jet": _objects(e.get("jet", []), ["pt", "eta", "phi"], **hw),
            "L1EtSum": _objects(e.get("sums", []), ["pt", "phi", "etSumType"], hwPt=0, hwPhi=0),
        })
    # to the exact schema dtypes; empty lists need a typed template
    template = from_awkward(make_events(1, gen=False), "template")[:0]
    return from_awkward(ak.concatenate([template, ak.Array(out)]), "hand-made")


def test_ordering_cuts_and_padding():
    ev = hand_events([
        {"jet": [(20, 0.1, 0.1), (50, 0.2, 0.2), (16, 0.3, 0.3), (14, 0.4, 0.4),
                 (100, -1.0, 1.0), (30, 4.5, 0.5)],
         "eg": [(5, 0.5, 0.5, True), (60, 0.1, 0.1, False), (40, -2.9, 2.0, True),
                (50, 3.1, 0.0, True)],
         "mu": [(3.5, 2.3, 0.0), (10, -2.0, -1.0), (2.5, 0.0, 0.0)],
         "sums": [(200, 0.0, 0), (35, 1.0, 2), (80, 2.0, 1)]},
        {},
    ])
    p = to_adc_particles(ev)
    assert p.shape == (2, 19, 4) and p.dtype == np.float32
    np.testing.assert_array_equal(p[0, 0], [35, 0, 1.0, 1])                 # MET
    np.testing.assert_allclose(p[0, 1:5, 0], [40, 5, 0, 0])                 # e: isEle only, cuts
    np.testing.assert_array_equal(p[0, 1:5, 3], [2, 2, 0, 0])
    np.testing.assert_allclose(p[0, 5:9, 0], [10, 0, 0, 0])                 # μ: |η| < 2.1, pT > 3
    np.testing.assert_allclose(p[0, 9:19, 0], [100, 50, 20, 16] + [0] * 6)  # jets: pT > 15, |η| < 4
    np.testing.assert_array_equal(p[0, 9:19, 3], [4] * 4 + [0] * 6)
    np.testing.assert_allclose(p[0, 9, :3], [100, -1.0, 1.0], rtol=1e-6)
    assert not p[1].any()                                                   # empty event: all zero

    x = to_adc_features(ev)
    assert x.shape == (2, 57)
    np.testing.assert_array_equal(x, p[:, :, :3].reshape(2, 57))
    np.testing.assert_allclose(x[0, 27:30], [100, -1.0, 1.0], rtol=1e-6)   # leading jet
    pts = x[0, 27::3]
    assert (np.diff(pts[pts > 0]) <= 0).all()
    # looser cuts let more objects in
    y = to_adc_features(ev, jet_min_pt=10.0, jet_max_eta=5.0)
    np.testing.assert_allclose(y[0, 27::3][:6], [100, 50, 30, 20, 16, 14])


def test_truncation_to_slots():
    jets = [(float(pt), 0.0, 0.0) for pt in range(20, 140, 10)]  # 12 jets
    ev = hand_events([{"jet": jets, "mu": [(float(pt), 0.0, 0.0) for pt in range(5, 11)]}])
    p = to_adc_particles(ev)
    np.testing.assert_allclose(p[0, 9:19, 0], list(range(130, 30, -10)))
    np.testing.assert_allclose(p[0, 5:9, 0], [10, 9, 8, 7])
    assert p[0, 0, 3] == 0  # no MET sum → empty slot


def test_all_eg_when_no_isele_and_bx0_only():
    ev = hand_events([{"eg": [(10, 0.0, 0.0, False), (20, 0.0, 0.0, False)]}])
    np.testing.assert_allclose(to_adc_particles(ev)[0, 1:5, 0], [20, 10, 0, 0])
    ev = ak.with_field(ev, ak.Array([[1, 0]]), ["L1EG", "bx"])
    np.testing.assert_allclose(to_adc_particles(ev)[0, 1:5, 0], [20, 0, 0, 0])


def test_round_trip_through_h5(tmp_path):
    events = make_events(300, seed=7)
    p = to_adc_particles(events)
    assert (p[:, 9, 3] == 4).any() and (p[:, 1:5, 3] == 0).any()
    path = write_adc_h5(events, tmp_path / "adc.h5", metadata={"sample": "W"})
    back = read_events(path)
    np.testing.assert_array_equal(to_adc_particles(back), p)
    assert read_metadata(path) == {"sample": "W"}
    assert back.event.tolist() == list(range(300))
    assert ak.all(back.L1EG.isEle) and ak.all(back.L1Mu.hwQual == ADC_MUON_QUAL)
    assert ak.all(back.L1Mu.charge == 0) and ak.all(back.L1EtSum.etSumType == 2)
    assert ak.sum(ak.num(back.L1Tau)) == 0
    assert ak.num(back.L1Jet).tolist() == (p[:, 9:, 3] == 4).sum(axis=1).tolist()
    chunks = list(iter_events(path, step_size=128))
    assert [len(c) for c in chunks] == [128, 128, 44]
    assert chunks[1].event.tolist() == list(range(128, 256))
    np.testing.assert_array_equal(to_adc_particles(ak.concatenate(chunks)), p)
    with h5py.File(path) as f:
        assert f["Particles"].shape == (300, 19, 4)


def test_h5_bytes_deterministic(tmp_path):
    events = make_events(50, seed=1)
    a = write_adc_h5(events, tmp_path / "a.h5")
    b = write_adc_h5(events, tmp_path / "b.h5")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_from_adc_particles_checks():
    good = to_adc_particles(make_events(5, seed=2))
    with pytest.raises(L1TInputError, match=r"src \[Particles\]: expected shape"):
        from_adc_particles(good[:, :, :3], "src")
    bad = good.copy()
    bad[2, 10, 0] = np.nan
    with pytest.raises(L1TInputError, match=r"src \[Particles\]: 1 NaN"):
        from_adc_particles(bad, "src")
    bad = good.copy()
    bad[0, 1, 3] = 4  # a jet code in an electron slot
    with pytest.raises(L1TInputError, match="electron slots"):
        from_adc_particles(bad, "src")


def test_h5_with_nan_or_wrong_shape(tmp_path):
    good = to_adc_particles(make_events(5, seed=2))
    good[1, 0, 0] = np.inf
    for name, data in [("inf.h5", good), ("shape.h5", good[:, :10])]:
        with h5py.File(tmp_path / name, "w") as f:
            f["Particles"] = data
        with pytest.raises(L1TInputError, match=re.escape(name) + r" \[Particles\]"):
            read_events(tmp_path / name)
