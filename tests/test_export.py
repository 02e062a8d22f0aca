"""The exported benchmark dataset: every format reads back identically through our readers and
through plain h5py / pyarrow / uproot, the datasheet's checksums and counts are the files', and
the same run gives the same bytes."""
from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from l1t.core.errors import L1TInputError
from l1t.datasets.adc import to_adc_particles
from l1t.datasets.export import ADC_CUTS, export, read_datasheet
from l1t.datasets.formats import read_events
from l1t.datasets.inputs import read_inputs
from l1t.datasets.integrity import sha256_of


@pytest.fixture(scope="module")
def source(small_run):
    return {name: read_inputs([small_run / name]) for name in ("minbias", "muon-gun")}


@pytest.fixture(scope="module")
def exports(small_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return {fmt: export(small_run, fmt, root / fmt) for fmt in ("adc-h5", "parquet", "root")}


def _same(a: ak.Array, b: ak.Array) -> None:
    assert ak.fields(a) == ak.fields(b) and len(a) == len(b)
    for name in ak.fields(a):
        assert ak.to_list(a[name]) == ak.to_list(b[name]), name


def test_the_datasheet_describes_the_files(exports, source):
    for fmt, e in exports.items():
        d = read_datasheet(e.paths[0].parent / "datasheet.json")
        assert d["data_format"] == fmt and d["dataset_version"] == 1
        assert [f["file"] for f in d["files"]] == [p.name for p in e.paths]
        assert d["total_events"] == sum(len(v) for v in source.values())
        assert sum(d["composition"].values()) == pytest.approx(1.0)
        for f, path in zip(d["files"], e.paths):
            assert f["sha256"] == sha256_of(path) and f["bytes"] == path.stat().st_size
        mb = d["files"][0]
        assert mb["sample"] == "minbias" and mb["role"] == "background" and mb["pileup"] == 5
        assert "SoftQCD:inelastic = on" in mb["generator"]["settings"] and mb["seed"] == 4
        assert d["files"][1]["generator"]["name"] == "muon_gun"
        assert isinstance(d["detector"], dict) and "b_field_t" in d["detector"]
        assert "sha256" in (e.paths[0].parent / "DATASHEET.md").read_text()


def test_adc_h5_reads_back_through_h5py_and_our_reader(exports, source):
    import h5py

    for path, name in zip(exports["adc-h5"].paths, source):
        want = to_adc_particles(source[name], **ADC_CUTS)
        with h5py.File(path, "r") as f:
            particles, weight = f["Particles"][:], f["weight"][:]
        assert particles.shape == (len(source[name]), 19, 4) and particles.dtype == np.float32
        assert np.array_equal(particles, want)
        assert np.array_equal(weight, np.asarray(source[name].weight, np.float64))
        back = read_events(path)                         # our ADC2021 reader
        assert np.array_equal(to_adc_particles(back, **ADC_CUTS), particles)


def test_parquet_and_root_read_back_identically(exports, source):
    import pyarrow.parquet as pq
    import uproot

    for fmt in ("parquet", "root"):
        for path, name in zip(exports[fmt].paths, source):
            _same(read_events(path), source[name])       # every field of every crossing
    for path, name in zip(exports["parquet"].paths, source):
        table = pq.read_table(path)
        assert table.num_rows == len(source[name])
        assert table.column("event").to_pylist() == ak.to_list(source[name].event)
    for path, name in zip(exports["root"].paths, source):
        with uproot.open(path) as f:
            tree = f["Events"]
            assert tree.num_entries == len(source[name])
            assert tree["nL1Mu"].array(library="np").tolist() == \
                ak.num(source[name].L1Mu).to_list()
            assert ak.to_list(tree["L1Mu_pt"].array()) == ak.to_list(source[name].L1Mu.pt)


def test_the_same_run_exports_the_same_bytes_and_bad_requests_are_refused(small_run, exports,
                                                                         tmp_path, capsys):
    from l1t.cli import main

    again = export(small_run, "adc-h5", tmp_path / "again", samples=["minbias"])
    assert [p.name for p in again.paths] == ["minbias.h5"]
    assert sha256_of(again.paths[0]) == sha256_of(exports["adc-h5"].paths[0])
    with pytest.raises(L1TInputError, match="inside the production"):
        export(small_run, "root", small_run / "minbias" / "x")
    with pytest.raises(L1TInputError, match="no production"):
        export(small_run, "root", tmp_path / "y", samples=["ttbar"])
    assert main(["export", str(small_run), "--format", "parquet", "--samples", "muon_gun",
                 "--out", str(tmp_path / "cli")]) == 0
    assert "muon-gun.parquet" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(small_run), "--format", "csv", "--out", str(tmp_path / "z")])
    assert exit_.value.code == 2
    assert main(["export", str(tmp_path / "none"), "--format", "root",
                 "--out", str(tmp_path / "z")]) == 2
    assert not (tmp_path / "z").exists() and not (tmp_path / "y").exists()
