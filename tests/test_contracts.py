"""The JSON files passed between packages: one writer, one reader, a format and a version each.

Every contract round-trips through its own writer and reader, and every reader refuses another
format, another version and a truncated file, naming the file and the field."""
from __future__ import annotations

import json

import pytest

from conftest import make_events, small_qkeras_model
from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract, read_json, write_json
from l1t.datasets.export import DATASHEET_CONTRACT
from l1t.datasets.formats import write_events
from l1t.datasets.production import MANIFEST_CONTRACT, produce, read_manifest
from l1t.firmware.report import CONTRACT as FIRMWARE_CONTRACT
from l1t.firmware.report import read_report, write_report
from l1t.models.anomaly.vae import MODEL_CONTRACT
from l1t.models.lar.model import MODEL_CONTRACT as LAR_MODEL_CONTRACT
from l1t.models.lar.optimal_filter import COEFFICIENTS_CONTRACT
from l1t.models.muon.nn import MODEL_CONTRACT as MUON_MODEL_CONTRACT
from l1t.trigger.acceptance import (EFFICIENCY_CONTRACT, read_efficiencies, signal_efficiency,
                                    write_efficiencies)
from l1t.trigger.job import RateJob, run
from l1t.trigger.menu import load_menu
from l1t.trigger.muon_performance import PERFORMANCE_CONTRACT
from l1t.trigger.rates import summarize
from l1t.trigger.report import RATES_CONTRACT, read_rates, write_rates
from l1t.trigger.stream.report import STREAM_CONTRACT
from l1t.validation.firmware_check import CHECK_CONTRACT, firmware_check, read_check
from l1t.validation.profile import PROFILE_CONTRACT
from l1t.validation.validate import VALIDATE_CONTRACT

CONTRACTS = [MANIFEST_CONTRACT, MODEL_CONTRACT, FIRMWARE_CONTRACT, RATES_CONTRACT,
             STREAM_CONTRACT, CHECK_CONTRACT, VALIDATE_CONTRACT, MUON_MODEL_CONTRACT,
             PERFORMANCE_CONTRACT, COEFFICIENTS_CONTRACT, EFFICIENCY_CONTRACT,
             LAR_MODEL_CONTRACT, PROFILE_CONTRACT, DATASHEET_CONTRACT]


def test_every_contract_has_its_own_format():
    assert len({c.format for c in CONTRACTS}) == len(CONTRACTS)


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.format)
def test_readers_refuse_another_format_version_or_a_truncated_file(tmp_path, contract):
    path = contract.write(tmp_path / "f.json", {"value": 1.5})
    assert contract.read(path)["value"] == 1.5
    data = json.loads(path.read_text())
    for key, value in (("format", "l1t-something-else"), (contract.version_key, contract.version + 1),
                       (contract.version_key, "1")):
        bad = tmp_path / f"bad-{key}.json"
        bad.write_text(json.dumps({**data, key: value}))
        with pytest.raises(L1TInputError) as err:
            contract.read(bad)
        assert err.value.field == key and str(bad) in str(err.value)
    cut = tmp_path / "cut.json"
    cut.write_text(path.read_text()[:20])
    with pytest.raises(L1TInputError, match="bad JSON") as err:
        contract.read(cut)
    assert str(cut) in str(err.value)


def test_older_readable_versions_and_nan():
    old = JsonContract("l1t-x", 3, oldest=2)
    assert old.check({"format": "l1t-x", "format_version": 2}, "x")["format_version"] == 2
    with pytest.raises(L1TInputError, match="2 to 3"):
        old.check({"format": "l1t-x", "format_version": 1}, "x")


def test_write_json_writes_undefined_numbers_as_null_and_read_json_refuses_nan(tmp_path):
    import numpy as np

    p = write_json(tmp_path / "a.json", {"x": float("nan"), "y": [np.float32(1.5), np.inf]})
    assert read_json(p) == {"x": None, "y": [1.5, None]}
    (tmp_path / "b.json").write_text('{"x": NaN}')
    with pytest.raises(L1TInputError, match="NaN"):
        read_json(tmp_path / "b.json")


def test_manifest_round_trip(tmp_path):
    m = produce("minbias", 10, tmp_path / "p", pileup=0, seed=4, chunk_size=5, progress=False,
                cache_dir=tmp_path / "cache")
    assert read_manifest(tmp_path / "p") == m
    assert m["format"] == MANIFEST_CONTRACT.format and m["events_done"] == 10
    # a manifest from before the tag is refused, not half-trusted
    untagged = {k: v for k, v in m.items() if k not in ("format", "format_version")}
    (tmp_path / "p" / "manifest.json").write_text(json.dumps(untagged))
    with pytest.raises(L1TInputError, match="format"):
        produce("minbias", 10, tmp_path / "p", pileup=0, seed=4, chunk_size=5, progress=False,
                cache_dir=tmp_path / "cache")


def test_rates_round_trip(tmp_path):
    events = make_events(60, seed=2)
    path = write_events(events, tmp_path / "zb.parquet",
                        metadata={"sample": "minbias"})
    menu = load_menu()
    summary = summarize(run(RateJob(menu), [path]), menu)
    paths = write_rates(summary, tmp_path / "r")
    back = read_rates(paths["json"])
    assert back == json.loads(json.dumps(RATES_CONTRACT.tag(summary)))


def test_signal_efficiency_round_trip(tmp_path):
    events = make_events(60, seed=3)            # weighted crossings (weights 0.5 .. 2)
    path = write_events(events, tmp_path / "sig.parquet", metadata={"sample": "a50_4l"})
    menu = load_menu()
    results = signal_efficiency(menu, {"sig": [path]})
    assert results[0].weighted and results[0].effective_crossings < 60
    paths = write_efficiencies(results, menu, tmp_path / "e")
    assert read_efficiencies(paths["json"]) == results
    data = json.loads(paths["json"].read_text())
    data["signals"][0].pop("total")
    paths["json"].write_text(json.dumps(data))
    with pytest.raises(L1TInputError, match="total"):
        read_efficiencies(paths["json"])


def test_check_and_firmware_report_round_trip(tmp_path):
    model = tmp_path / "small.h5"
    small_qkeras_model().save(str(model), save_format="h5")
    s = firmware_check(model, "ap_fixed<10,4>", 200, ["emulator"], tmp_path / "c")
    assert read_check(tmp_path / "c" / "check.json") == json.loads(json.dumps(s))
    report = FIRMWARE_CONTRACT.tag({"model": "small", "backend": "rtl", "latency_cycles": 7,
                                    "clock_ns": 5.0, "initiation_interval": 1})
    assert read_report(write_report(report, tmp_path / "firmware.json")) == report
