"""Writing and reading L1 event files: round trips, NanoAOD input, bad input, determinism."""
from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot
import yaml
from conftest import make_events

from l1t.datasets import formats, hwunits
from l1t.core.errors import L1TInputError
from l1t.datasets.formats import iter_events, read_events, read_metadata, write_events
from l1t.datasets.schema import empty_events


def assert_same(a: ak.Array, b: ak.Array) -> None:
    assert str(a.type) == str(b.type)
    assert ak.to_list(a) == ak.to_list(b)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- our files

@pytest.mark.parametrize("suffix", [".parquet", ".root"])
def test_round_trip(tmp_path, events, suffix):
    path = write_events(events, tmp_path / f"ev{suffix}", metadata={"sample": "minbias", "n": 40})
    back = read_events(path)
    assert_same(back, events)
    assert ak.sum(events.L1Jet.bx != 0) > 0  # our files keep out-of-time objects
    assert read_metadata(path) == {"n": 40, "sample": "minbias"}


def test_parquet_and_root_read_identically(tmp_path, events):
    a = read_events(write_events(events, tmp_path / "ev.parquet"))
    b = read_events(write_events(events, tmp_path / "ev.root"))
    assert_same(a, b)
    assert ak.to_layout(a).form == ak.to_layout(b).form


@pytest.mark.parametrize("suffix", [".parquet", ".root"])
def test_empty_and_without_gen(tmp_path, suffix):
    assert len(read_events(write_events(empty_events(), tmp_path / f"e{suffix}"))) == 0
    nogen = make_events(12, seed=5, gen=False)
    back = read_events(write_events(nogen, tmp_path / f"n{suffix}"))
    assert_same(back, nogen)
    assert "GenPart" not in ak.fields(back)


def test_root_file_is_nanoaod_style(tmp_path, events):
    path = write_events(events, tmp_path / "ev.root")
    with uproot.open(path) as f:
        tree = f["Events"]
        assert {"nL1Mu", "L1Mu_pt", "L1EG_isEle", "L1EtSum_etSumType", "event", "weight"} \
            <= set(tree.keys())
        assert tree.num_entries == len(events)
        np.testing.assert_array_equal(tree["nL1Jet"].array(library="np"),
                                      ak.to_numpy(ak.num(events.L1Jet)))


def test_write_fills_defaults_and_drops_extra_fields(tmp_path):
    ev = make_events(6, seed=2, gen=False)
    partial = ak.zip({"L1Mu": ev.L1Mu, "L1EG": ev.L1EG, "L1Tau": ev.L1Tau,
                      "L1Jet": ev.L1Jet[["pt", "eta", "phi", "hwPt", "hwEta", "hwPhi"]],
                      "L1EtSum": ev.L1EtSum, "extra": np.arange(6)}, depth_limit=1)
    back = read_events(write_events(partial, tmp_path / "p.parquet"))
    assert "extra" not in ak.fields(back)
    assert back.event.tolist() == list(range(6))
    assert back.seed.tolist() == [-1] * 6 and back.weight.tolist() == [1.0] * 6
    assert ak.all(back.L1Jet.bx == 0) and back.L1Jet.bx.type.content.content.primitive == "int32"


@pytest.mark.parametrize("suffix", [".parquet", ".root"])
def test_same_input_same_bytes(tmp_path, events, suffix):
    one = write_events(events, tmp_path / "a" / f"ev{suffix}", metadata={"k": [1, 2]})
    time.sleep(1.1)  # ROOT stamps keys with a 1 s resolution date
    two = write_events(events, tmp_path / "b" / f"other{suffix}", metadata={"k": [1, 2]})
    assert sha256(one) == sha256(two)


def test_entry_range_and_iteration(tmp_path, events):
    pq_path = write_events(events, tmp_path / "ev.parquet")
    root_path = write_events(events, tmp_path / "ev.root")
    for path in (pq_path, root_path):
        assert_same(read_events(path, entry_start=5, entry_stop=12), events[5:12])
        assert_same(read_events(path, entry_start=35), events[35:])
        chunks = list(iter_events(path, step_size=7))
        assert [len(c) for c in chunks] == [7, 7, 7, 7, 7, 5]
        assert_same(ak.concatenate(chunks), events)
    both = list(iter_events([pq_path, root_path], step_size=16))
    assert [len(c) for c in both] == [16, 16, 8, 16, 16, 8]
    assert_same(ak.concatenate(both), ak.concatenate([events, events]))


def test_parquet_row_groups_are_bounded(tmp_path, monkeypatch, events):
    monkeypatch.setattr(formats, "ROW_GROUP_SIZE", 9)
    path = write_events(events, tmp_path / "ev.parquet")
    import pyarrow.parquet as pq

    assert pq.ParquetFile(path).metadata.num_row_groups == 5
    assert_same(read_events(path, entry_start=8, entry_stop=19), events[8:19])
    assert_same(ak.concatenate(list(iter_events(path, step_size=4))), events)


def test_format_from_magic_bytes(tmp_path, events):
    path = write_events(events, tmp_path / "ev.parquet")
    other = tmp_path / "ev.data"
    other.write_bytes(path.read_bytes())
    assert_same(read_events(other), events)


# --------------------------------------------------------------------------- NanoAOD input

CMS_FIELDS = {"L1Mu": ["pt", "eta", "phi", "charge", "hwQual"],
              "L1EG": ["pt", "eta", "phi", "hwIso"],
              "L1Tau": ["pt", "eta", "phi", "hwIso"], "L1Jet": ["pt", "eta", "phi"],
              "L1EtSum": ["pt", "phi", "etSumType"]}


def write_nano(path: Path, ev: ak.Array, prefix: dict[str, str] | None = None,
               tree: str = "Events", skip: tuple[str, ...] = (), with_bx: bool = True) -> None:
    """A CMS-like L1 ntuple: only the NanoAOD fields, plus ``_bx``; names ``prefix[C]_field``."""
    prefix = prefix or {c: c for c in CMS_FIELDS}
    data = {"event": ev.event.to_numpy().astype(np.uint64),
            "genWeight": ev.weight.to_numpy().astype(np.float32),
            "Pileup_nTrueInt": ev.mu.to_numpy()}
    for coll, fields in CMS_FIELDS.items():
        cols = {f: ev[coll][f] for f in fields + (["bx"] if with_bx else [])
                if f"{coll}_{f}" not in skip}
        data[prefix[coll]] = ak.zip(cols)
    data["GenPart"] = ev.GenPart[["pt", "eta", "phi", "mass", "pdgId"]]
    with uproot.recreate(path) as f:
        f.mktree(tree, {k: (v.type if isinstance(v, ak.Array) else v.dtype)
                        for k, v in data.items()})
        f[tree].extend(data)


def test_nanoaod_bx_selection_and_derived_fields(tmp_path, events):
    path = tmp_path / "nano.root"
    write_nano(path, events)
    out = read_events(path)
    assert len(out) == len(events)
    assert out.event.tolist() == events.event.tolist()
    assert out.weight.tolist() == pytest.approx(events.weight.tolist(), rel=1e-6)
    assert out.seed.tolist() == [-1] * len(events) and out.process.tolist() == [0] * len(events)
    for coll in CMS_FIELDS:
        src = events[coll][events[coll].bx == 0]
        assert ak.sum(ak.num(events[coll])) > ak.sum(ak.num(src))  # something was dropped
        got = out[coll]
        assert ak.all(got.bx == 0)
        for f in CMS_FIELDS[coll] + ["hwPt", "hwPhi"] + (["hwEta"] if coll != "L1EtSum" else []):
            assert got[f].tolist() == src[f].tolist(), (coll, f)
    assert not ak.any(out.L1EG.isEle) and ak.all(out.L1EG.iso == 0)
    assert "GenJet" not in ak.fields(out)
    pdg = ak.flatten(out.GenPart.pdgId).to_numpy()
    charge = ak.flatten(out.GenPart.charge).to_numpy()
    expected = np.select([np.isin(pdg, [11, 13]), np.isin(pdg, [-11, -13])], [-1, 1], 0)
    np.testing.assert_array_equal(charge, expected)


def test_nanoaod_without_bx_keeps_all(tmp_path, events):
    path = tmp_path / "nobx.root"
    write_nano(path, events, with_bx=False)
    out = read_events(path, fmt="nanoaod")
    assert ak.num(out.L1Jet).tolist() == ak.num(events.L1Jet).tolist()
    assert ak.all(out.L1Jet.bx == 0)


def test_nanoaod_custom_mapping(tmp_path, events):
    prefix = {"L1Mu": "TrgMuon", "L1EG": "TrgEG", "L1Tau": "TrgTau", "L1Jet": "TrgJet",
              "L1EtSum": "TrgSum"}
    path = tmp_path / "custom.root"
    write_nano(path, events, prefix=prefix, tree="L1Tree")
    mapping = {"tree": "L1Tree",
               "collections": {c: {f: f"{prefix[c]}_{f}" for f in fields + ["bx"]}
                               for c, fields in CMS_FIELDS.items()}}
    mfile = tmp_path / "mapping.yaml"
    mfile.write_text(yaml.safe_dump(mapping))
    default = tmp_path / "default.root"
    write_nano(default, events)
    expected = read_events(default)
    for m in (mapping, mfile, str(mfile)):
        assert_same(read_events(path, mapping=m), expected)
    with pytest.raises(L1TInputError, match="no TTree 'Events'.*L1Tree"):
        read_events(path)
    with pytest.raises(L1TInputError, match=r"\[L1Mu.colour\]"):
        read_events(path, mapping={"collections": {"L1Mu": {"colour": "x"}}})


def test_own_root_read_as_nanoaod_drops_other_bx(tmp_path, events):
    path = write_events(events, tmp_path / "ev.root")
    out = read_events(path, fmt="nanoaod")
    assert ak.num(out.L1Mu).tolist() == ak.sum(events.L1Mu.bx == 0, axis=1).tolist()


def test_missing_branch_lists_branches(tmp_path, events):
    path = tmp_path / "nano.root"
    write_nano(path, events, skip=("L1Tau_hwIso",))
    with pytest.raises(L1TInputError) as err:
        read_events(path)
    msg = str(err.value)
    assert "nano.root" in msg and "'L1Tau_hwIso'" in msg and err.value.field == "L1Tau.hwIso"
    assert "L1Mu_pt" in msg and "L1Tau_pt" in msg  # the branches the file has


# --------------------------------------------------------------------------- bad input

def _truncated(tmp_path: Path, src: Path, keep: float) -> Path:
    out = tmp_path / f"cut_{src.name}"
    data = src.read_bytes()
    out.write_bytes(data[: int(len(data) * keep)])
    return out


@pytest.mark.parametrize("keep", [0.5, 0.99])
@pytest.mark.parametrize("suffix", [".parquet", ".root", ".h5"])
def test_truncated_files(tmp_path, suffix, keep):
    if suffix == ".h5":
        from l1t.datasets.adc import write_adc_h5

        src = write_adc_h5(make_events(3000, seed=1), tmp_path / "ev.h5")
    else:
        src = write_events(make_events(3000, seed=1), tmp_path / f"ev{suffix}")
    bad = _truncated(tmp_path, src, keep)
    with pytest.raises(L1TInputError, match=re.escape(bad.name)):
        read_events(bad)


@pytest.mark.parametrize("name", ["junk.parquet", "junk.root", "junk.h5", "junk.bin"])
def test_random_bytes(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(L1TInputError, match=re.escape(name)):
        read_events(path)


def test_missing_file(tmp_path):
    with pytest.raises(L1TInputError, match="no such file"):
        read_events(tmp_path / "nope.parquet")


def test_nan_in_parquet_field(tmp_path, events):
    pt = ak.flatten(events.L1Jet.pt).to_numpy().copy()
    pt[3] = np.nan
    bad = ak.with_field(events, ak.unflatten(pt, ak.num(events.L1Jet)), ["L1Jet", "pt"])
    path = tmp_path / "nan.parquet"
    ak.to_parquet(bad, path)  # bypasses write_events' validation
    with pytest.raises(L1TInputError, match=r"nan\.parquet \[L1Jet\.pt\]: 1 NaN"):
        read_events(path)


def test_nan_in_nanoaod_branch(tmp_path, events):
    eta = ak.flatten(events.L1Mu.eta).to_numpy().copy()
    eta[:] = np.inf
    bad = ak.with_field(events, ak.unflatten(eta, ak.num(events.L1Mu)), ["L1Mu", "eta"])
    path = tmp_path / "inf.root"
    write_nano(path, bad)
    with pytest.raises(L1TInputError, match=r"inf\.root \[L1Mu\.eta\]"):
        read_events(path)


def test_wrong_schema_parquet(tmp_path, events):
    path = tmp_path / "notau.parquet"
    ak.to_parquet(events[[f for f in ak.fields(events) if f != "L1Tau"]], path)
    with pytest.raises(L1TInputError, match=r"notau\.parquet \[L1Tau\]: missing collection"):
        read_events(path)


def test_h5_without_particles(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["Jets"] = np.zeros((3, 4))
    with pytest.raises(L1TInputError, match=r"other\.h5 \[Particles\]: no dataset.*Jets"):
        read_events(path)


# --------------------------------------------------------------------------- atomic writes

def test_invalid_events_leave_no_file(tmp_path, events):
    pt = ak.flatten(events.L1EG.pt).to_numpy().copy()
    pt[0] = np.nan
    bad = ak.with_field(events, ak.unflatten(pt, ak.num(events.L1EG)), ["L1EG", "pt"])
    for suffix in (".parquet", ".root"):
        with pytest.raises(L1TInputError, match=r"\[L1EG\.pt\]"):
            write_events(bad, tmp_path / f"bad{suffix}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".parquet", ".root"])
def test_failed_write_keeps_old_file_and_no_temporary(tmp_path, monkeypatch, events, suffix):
    path = write_events(events[:5], tmp_path / f"ev{suffix}")
    before = sha256(path)

    def broken(chunks, n, tmp, meta):
        Path(tmp).write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(formats, "_write_parquet" if suffix == ".parquet" else "_write_root",
                        broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_events(events, path)
    assert sha256(path) == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


# --------------------------------------------------------------------------- hardware units

def test_hwunits():
    np.testing.assert_array_equal(hwunits.hw_pt(np.array([0.0, 0.49, 0.5, 10.26])), [0, 0, 1, 20])
    np.testing.assert_array_equal(hwunits.hw_eta_calo(np.array([0.0, 0.087, -0.13, 0.044])),
                                  [0, 1, -1, 1])
    two_pi = 2 * np.pi
    np.testing.assert_array_equal(
        hwunits.hw_phi_calo(np.array([0.0, two_pi / 72, -two_pi / 72, np.pi, two_pi - 1e-6])),
        [0, 1, 71, 36, 0])
    np.testing.assert_array_equal(hwunits.hw_phi_mu(np.array([-np.pi, two_pi / 576 * 3.4])),
                                  [288, 3])
    np.testing.assert_array_equal(hwunits.hw_eta_mu(np.array([2.4, -0.010875])), [221, -1])
    jag = ak.Array([[1.2, 3.0], []])
    assert hwunits.hw_pt(jag).tolist() == [[2, 6], []]
