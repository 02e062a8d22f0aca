"""``l1t train lar`` on streams with pileup from real Pythia min-bias events, the saved model,
its firmware check with the channel budget, and the refusal of foreign model files."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from l1t.core.errors import L1TInputError  # noqa: E402
from l1t.models.lar.model import LArModel  # noqa: E402
from l1t.models.lar.train import LArData, streams  # noqa: E402

L1T = [sys.executable, "-m", "l1t"]
DATA = ["--channels", "48", "--crossings", "600", "--pool-size", "200"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("lar") / "rnn"
    r = subprocess.run(L1T + ["train", "lar", "--kind", "rnn", "--epochs", "4", *DATA,
                              "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    return out, r.stdout


def test_train_lar_prints_the_net_beside_the_optimal_filter(trained):
    out, text = trained
    assert "LAr rnn net trained on 48 channels x 600 crossings at <mu> = 200" in text
    assert "OF sigma" in text and "25-60" in text
    meta = json.loads((out / "model.json").read_text())
    assert meta["format"] == "l1t-lar" and meta["kind"] == "rnn"
    assert meta["input"]["type"] == "ap_fixed<17,5>"
    rows = meta["training"]["test_resolution"]
    assert rows and all(r["crossings"] >= 10 for r in rows)
    assert (out / "optimal_filter.json").is_file()


def test_the_saved_model_reconstructs_streams_as_trained(trained):
    out, _ = trained
    model = LArModel.load(out)
    meta = model.meta["training"]
    data = LArData(**meta["data"])
    from l1t.datasets.lar.spectrum import minbias_spectra
    from l1t.models.lar.inputs import sample_values
    from l1t.models.lar.train import ET_BINS, SETTLE, TAIL, resolution

    seq, signal = streams(data, minbias_spectra(np.arange(93), data.pool_size, data.seed,
                                                out / ".cache"), 1)
    et = model.energies(sample_values(seq))
    mask = np.zeros(signal.shape, bool)
    mask[:, SETTLE:-TAIL] = signal[:, SETTLE:-TAIL] > 0
    bins = resolution(seq.truth_et, et, et, mask, ET_BINS)
    want = meta["test_resolution"]
    assert [b.crossings for b in bins] == [r["crossings"] for r in want]
    np.testing.assert_allclose([b.nn_sigma for b in bins], [r["nn_sigma"] for r in want],
                               rtol=1e-6)


def test_firmware_check_of_a_lar_model_gives_its_channel_budget(trained, tmp_path):
    out, _ = trained
    r = subprocess.run(L1T + ["firmware", "check", str(out), "--events", "2000", "--backends",
                              "emulator,rtl", "--out", str(tmp_path / "fw")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "software vs rtl                               0" in r.stdout
    assert "LAr:" in r.stdout and "channels per instance" in r.stdout
    report = json.loads((tmp_path / "fw" / "firmware.json").read_text())
    lar = report["lar"]
    assert lar["channels_per_instance"] == 5                # 25 ns at 5 ns, II 1
    assert lar["recurrence_cycles"] <= 5 and lar["latency_ns"] <= 125.0 and lar["fits"]
    assert lar["channels_per_device"] == int(min(
        0.5 * 1_728_000 / lar["lut_per_channel"], 0.5 * 3_456_000 / lar["ff_per_channel"]))


def test_foreign_or_damaged_lar_models_are_refused(trained, tmp_path):
    out, _ = trained
    meta = json.loads((out / "model.json").read_text())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.h5").write_bytes((out / "model.h5").read_bytes())
    for change, field in (({"kind": "lstm"}, "kind"), ({"input": {"type": "ap_fixed<13,1>"}},
                                                       "input.type")):
        (bad / "model.json").write_text(json.dumps({**meta, **change}))
        with pytest.raises(L1TInputError) as err:
            LArModel.load(bad)
        assert err.value.field == field and "model.json" in str(err.value)
    with pytest.raises(L1TInputError, match="not an l1t LAr model"):
        LArModel.load(tmp_path)
