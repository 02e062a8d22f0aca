"""``l1t train lar`` on streams with pileup from real Pythia min-bias events, the saved model,
its firmware check with the channel budget, and the refusal of foreign model files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def test_the_lar_stage_takes_the_firmware_report(trained, tmp_path):
    from l1t.firmware.deployable import get_deployable
    from l1t.trigger.stream.pipeline import check, load_pipeline, with_firmware
    from l1t.validation.firmware_check import firmware_check

    out, _ = trained
    s = firmware_check(out, None, 500, ["emulator", "rtl"], tmp_path / "fw")
    preset = load_pipeline("phase2")
    stage = get_deployable("lar").stage
    p = with_firmware(preset, stage, s["firmware_report"])
    lar = next(x for x in p.stages if x.name == stage)
    report = json.loads(Path(s["firmware_report"]).read_text())
    assert lar.latency_cycles == report["latency_cycles"] and lar.firmware
    before = {q.name: q.fixed_ns for q in check(preset).paths}["calo"]
    after = {q.name: q.fixed_ns for q in check(p).paths}["calo"]
    assert after - before == pytest.approx(report["latency_ns"] - 125.0, abs=1e-9)


def test_lar_performance_compares_the_net_with_the_optimal_filter(trained, tmp_path):
    from l1t.validation.lar_performance import OF, lar_performance, read_performance, \
        table_text, train_position

    out, _ = trained
    perf = lar_performance([out], tmp_path / "perf", 200.0, (140.0, 250.0), channels=12,
                           pool_size=200, cache_dir=out / ".cache")
    data = read_performance(tmp_path / "perf" / "performance.json")
    assert data["models"] == {"rnn": "rnn"} and data["format"] == "l1t-lar-performance"
    for name in ("resolution", "pileup", "train", "after_deposit"):
        assert (tmp_path / "perf" / f"{name}.png").stat().st_size > 5000
    assert [r.lo for r in perf.pileup_scan] == [140.0, 250.0]
    assert all(r.crossings >= 10 for r in perf.et + perf.train + perf.after_deposit)
    # the OF is unbiased on isolated deposits only: after a 50 GeV deposit its undershoot pulls
    # the crossings without signal down for ~18 crossings (450 ns of drift), then it recovers
    lag = {int(r.lo): r.bias[OF] for r in perf.after_lag}
    assert np.mean([lag[k] for k in range(3, 12)]) < -1.0
    assert np.mean([lag[k] for k in range(3, 12)]) < np.mean([lag[k] for k in range(25, 35)])
    assert "per position in the bunch train" in table_text(perf)
    # bunch positions: 0 for the first of a train, counting filled slots, -1 for empty ones
    np.testing.assert_array_equal(train_position(np.array([0, 1, 1, 1, 0, 1], bool)),
                                  [-1, 0, 1, 2, -1, 0])


def test_tower_streams_put_the_crossing_in_time_and_draw_only_out_of_time_pileup():
    from l1t.datasets.detector.geometry import FORWARD_ROWS
    from l1t.datasets.lar.pulse import PulseShape
    from l1t.datasets.lar.sequences import LArConfig
    from l1t.datasets.lar.towers import HISTORY, reconstructed_em
    from l1t.models.lar.optimal_filter import optimal_filter
    from l1t.models.lar.reconstruct import of_energies

    rng = np.random.default_rng(3)
    em = np.where(rng.random((3, 93, 72)) < 0.05, rng.uniform(1, 50, (3, 93, 72)), 0.0)
    spectra = {r: np.r_[np.zeros(90), np.full(10, 2.0)] for r in np.flatnonzero(~FORWARD_ROWS)}
    seen = []

    def truth(seq):                       # the ideal reconstruction: the deposits themselves
        seen.append(seq)
        return seq.truth_et

    got = reconstructed_em(em, mu=200.0, spectra=spectra, reconstruct=truth, rng=rng)
    central = ~FORWARD_ROWS
    # the pedestal (the mean response to pileup-only towers: 200 x 10% x 2 GeV in time) is
    # subtracted per eta row; the crossing's own deposits are not given a second pileup
    offset = (em - got)[:, central]
    np.testing.assert_allclose(offset, np.broadcast_to(offset[:1, :, :1], offset.shape), atol=1e-9)
    assert offset.mean() == pytest.approx(200 * 0.1 * 2.0, abs=1.0)
    np.testing.assert_array_equal(got[:, ~central], em[:, ~central])
    pedestal_seq, seq = seen[0], seen[1]
    assert pedestal_seq.truth_et[:, HISTORY].mean() == pytest.approx(40.0, rel=0.05)
    assert seq.truth_et[:, :HISTORY].mean() == pytest.approx(200 * 0.1 * 2.0, rel=0.05)
    # with a quiet channel and no pileup, the optimal filter gives the deposits back
    quiet = LArConfig(noise_mev=0.0, jitter_ns=0.0)
    of = optimal_filter(PulseShape.analytic(), np.eye(5), quiet.phase_ns)
    got = reconstructed_em(em, mu=0.0, spectra=spectra, rng=rng, cfg=quiet,
                           reconstruct=lambda s: of_energies(s, of))
    assert np.abs(got[:, central] - em[:, central]).max() < 0.05     # 25 MeV ADC steps


def test_a_production_with_its_em_towers_from_the_net(trained, tmp_path):
    out, _ = trained
    args = ["generate", "minbias", "--events", "30", "--pileup", "50", "--pool-size", "200",
            "--chunk-size", "15", "--seed", "4", "--quiet"]
    runs = {}
    for lar in ("ideal", "nn"):
        d = tmp_path / lar
        extra = [] if lar == "ideal" else ["--lar", lar, "--lar-model", str(out)]
        r = subprocess.run(L1T + args + extra + ["--out", str(d)], capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        runs[lar] = json.loads((d / "manifest.json").read_text())
    lar = runs["nn"]["parameters"]["lar"]
    assert lar["reconstruction"] == "nn" and len(lar["sha256"]) == 64
    assert "lar" not in runs["ideal"]["parameters"]
    # a rerun with another reconstruction is refused, nothing rewritten
    r = subprocess.run(L1T + args + ["--lar", "of", "--lar-model", str(out), "--out",
                                     str(tmp_path / "nn")], capture_output=True, text=True)
    assert r.returncode == 2 and "other parameters (lar)" in r.stderr
    from l1t.datasets.inputs import read_inputs

    ideal, nn = read_inputs([tmp_path / "ideal"]), read_inputs([tmp_path / "nn"])
    import awkward as ak

    # the same crossings (muons untouched), other EM towers: other e/gamma candidates
    assert ak.all(ideal.L1Mu.pt == nn.L1Mu.pt)
    assert not ak.all(ak.num(ideal.L1EG) == ak.num(nn.L1EG))
    r = subprocess.run(L1T + ["generate", "minbias", "--events", "5", "--lar", "nn", "--out",
                              str(tmp_path / "x")], capture_output=True, text=True)
    assert r.returncode == 2 and "--lar-model" in r.stderr and not (tmp_path / "x").exists()
