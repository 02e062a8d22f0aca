"""`l1t validate` (firmware vs software at the menu's thresholds), firmware/deployed.py and
firmware/report.py.

One small zero-bias sample (300 crossings, pileup 5) and two tiny VAEs trained for one epoch:
a QAT one (6-bit; Keras and firmware bit-identical, so no flips) and a float one converted by
post-training quantisation (hls4ml's default precision; its flips are counted against an
independent count from the two score arrays).
"""
from __future__ import annotations

import json
import math
import os
import shutil

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from l1t.core.errors import L1TInputError  # noqa: E402
from l1t.trigger.lhc import DEFAULT_BUNCHES, LHC_REVOLUTION_KHZ  # noqa: E402
from l1t.validation.firmware_check import read_check  # noqa: E402
from l1t.validation.validate import read_validate  # noqa: E402
from conftest import small_qkeras_model  # noqa: E402

SCALE = DEFAULT_BUNCHES * LHC_REVOLUTION_KHZ
N = 300


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from l1t.datasets.inputs import expand_inputs, read_inputs
    from l1t.datasets.production import produce
    from l1t.models.anomaly.inputs import event_words
    from l1t.models.anomaly.vae import VAEConfig, train

    d = tmp_path_factory.mktemp("validate")
    produce("minbias", N, d / "zb", pileup=5, seed=4, chunk_size=150, pool_size=100,
            progress=False)
    words = event_words(read_inputs([d / "zb"]))
    for name, bits in (("vae-float", None), ("vae-qat6", 6)):
        model, _ = train(words, VAEConfig(epochs=1, bits=bits, batch_size=64))
        model.save(d / name)
    return {"dir": d, "zb": d / "zb", "files": expand_inputs([d / "zb"]), "words": words,
            "float": d / "vae-float", "qat": d / "vae-qat6"}


def _scores(model_dir, words, workdir):
    """Keras scores and firmware scores from a fresh (uncached) deployment."""
    from l1t.firmware.deployed import DeployedAnomalyModel
    from l1t.models.anomaly.vae import AnomalyModel

    return (AnomalyModel.load(model_dir).scores(words),
            DeployedAnomalyModel(model_dir, workdir=workdir).scores(words))


def _menu(setup, model_dir, out, extra: str = "") -> str:
    """The lecture menu + two axo working points (on firmware scores) + ``extra`` seed text."""
    from l1t.trigger.anomaly import working_points, write_menu, zero_bias_scores

    scores = zero_bias_scores(model_dir, setup["files"])
    wps = working_points(scores, [30 / N * SCALE, 10 / N * SCALE])
    path = write_menu(wps, model_dir, out)
    if extra:
        path.write_text(path.read_text() + extra)
    return str(path)


def test_deployed_qat_scores_are_keras_scores_bit_for_bit(setup, tmp_path):
    from l1t.firmware.deployed import DeployedAnomalyModel

    words = setup["words"]
    sw, fw = _scores(setup["qat"], words, tmp_path / "q")
    for k in ("axo", "rz", "kl"):
        assert np.array_equal(sw[k], fw[k]), k
        assert fw[k].dtype == np.float64 and len(fw[k]) == N
    dep = DeployedAnomalyModel(setup["qat"], workdir=tmp_path / "q2")
    for a, b in zip(dep.latent(words), dep.software_latent(words)):
        assert np.array_equal(a, b)
    sw, fw = _scores(setup["float"], words, tmp_path / "f")
    assert not np.array_equal(sw["axo"], fw["axo"])     # post-training quantisation differs


def test_validate_counts_flips_of_a_float_model_exactly(setup, tmp_path):
    """Float VAE (hls4ml default precision): per seed, software-only and firmware-only
    crossings equal an independent count from the Keras and firmware score arrays; the menu
    total in firmware is the total of `l1t rates` (which decides on firmware scores)."""
    from l1t.trigger.job import RateJob, run
    from l1t.trigger.menu import load_menu
    from l1t.trigger.rates import summarize
    from l1t.validation.validate import validate

    words = setup["words"]
    sw, fw = _scores(setup["float"], words, tmp_path / "dep")
    d = np.abs(fw["rz"] - sw["rz"])
    i = int(np.argmax(d))
    forced = float((fw["rz"][i] + sw["rz"][i]) / 2)   # a threshold between them: >= 1 flip
    extra = (f"  L1_ADRZ_Forced:\n    prescale: 2\n    anomaly:\n"
             f"      - {{model: {setup['float']}, score: rz, min: {forced!r}}}\n")
    menu_path = _menu(setup, setup["float"], tmp_path / "menu.yaml", extra)
    out = tmp_path / "out"
    s = validate(menu_path, [setup["zb"]], out, events=1000, backends=("emulator", "hls4ml"),
                 step_size=100)
    assert s["zero_bias_crossings"] == N
    (m,) = s["models"]
    assert m["name"] == "vae-float" and m["kind"] == "anomaly"
    assert [x["seed"] for x in m["seeds"]] == ["L1_AXO_Loose", "L1_AXO_Tight", "L1_ADRZ_Forced"]
    flips = 0
    for seed in m["seeds"]:
        (cut,) = seed["cuts"]
        t, k = cut["min"], cut["output"]
        s_fire, f_fire = sw[k] >= t, fw[k] >= t
        sw_only, fw_only = int((s_fire & ~f_fire).sum()), int((f_fire & ~s_fire).sum())
        assert seed["software_fired"] == int(s_fire.sum())
        assert seed["firmware_fired"] == int(f_fire.sum())
        assert (seed["software_only"], seed["firmware_only"]) == (sw_only, fw_only)
        assert seed["impact_khz"] == pytest.approx((fw_only - sw_only) / N * SCALE, rel=1e-12)
        assert seed["impact_err_khz"] == pytest.approx(math.sqrt(sw_only + fw_only) / N * SCALE)
        assert seed["firmware_rate_khz"] == pytest.approx(f_fire.sum() / N * SCALE, rel=1e-12)
        flips += sw_only + fw_only
    assert m["seeds"][-1]["software_only"] + m["seeds"][-1]["firmware_only"] >= 1
    assert flips >= 1
    # score and latent differences: counted and histogrammed
    assert m["values"]["axo"]["crossings_differing"] == int((fw["axo"] != sw["axo"]).sum())
    assert m["values"]["rz"]["max_abs_diff"] == pytest.approx(float(d.max()), rel=1e-12)
    h = m["histograms"]["axo"]
    assert sum(h["counts"]) + h["zeros"] == h["entries"] == N
    assert m["outputs"]["mu"]["crossings_differing"] > 0
    assert sum(m["histograms"]["mu [LSB]"]["counts"]) > 0
    # firmware check: emulator and C-sim agree bit for bit; no latency without RTL/synthesis
    assert m["check_pairs"]["emulator vs hls4ml"]["mismatched_events"] == 0
    assert m["check_pairs"]["emulator vs hls4ml"]["events"] == 1000
    assert m["firmware_report"] is None and "latency" in m["firmware_report_missing"]
    assert (out / "vae-float" / "check.json").exists()
    assert not (out / "vae-float" / "firmware.json").exists()
    assert (out / "vae-float.png").read_bytes()[:4] == b"\x89PNG"
    assert read_validate(out / "validate.json") == json.loads(json.dumps(s))
    # the menu total, prescales applied, with firmware scores = `l1t rates`
    menu = load_menu(menu_path)
    rates = summarize(run(RateJob(menu), setup["files"]), menu)
    t = s["menu_total"]
    assert t["firmware_rate_khz"] == pytest.approx(rates["total"]["rate_khz"], rel=1e-12)
    assert t["firmware_fired"] - t["software_fired"] == t["firmware_only"] - t["software_only"]


def test_validate_qat_model_has_no_flips(setup, tmp_path, capsys):
    """QAT VAE through the command: zero flips, zero differences, table printed."""
    from l1t.cli import main

    menu_path = _menu(setup, setup["qat"], tmp_path / "menu.yaml")
    out = tmp_path / "out"
    assert main(["validate", "--menu", menu_path, "--input", str(setup["zb"]), "--out", str(out),
                 "--events", "500", "--backends", "emulator,hls4ml"]) == 0
    text = capsys.readouterr().out
    assert "L1_AXO_Loose" in text and "TOTAL" in text
    s = read_validate(out / "validate.json")
    (m,) = s["models"]
    assert [x["seed"] for x in m["seeds"]] == ["L1_AXO_Loose", "L1_AXO_Tight"]
    assert [x["software_fired"] for x in m["seeds"]] == [30, 10]
    for seed in [*m["seeds"], s["menu_total"]]:
        assert seed["software_only"] == seed["firmware_only"] == 0
        assert seed["impact_khz"] == 0 and seed["software_fired"] == seed["firmware_fired"]
    for o in m["outputs"].values():
        assert o["crossings_differing"] == 0 and o["max_abs_diff_lsb"] == 0
    for v in m["values"].values():
        assert v == {"crossings_differing": 0, "max_abs_diff": 0.0}
    for h in m["histograms"].values():
        assert h["zeros"] == h["entries"] and sum(h["counts"]) == 0
    for p in m["check_pairs"].values():
        assert p["mismatched_events"] == 0 and p["max_abs_diff_lsb"] == 0


@pytest.mark.slow
def test_validate_with_rtl_writes_the_firmware_report(setup, tmp_path):
    """The default backends (with RTL, ~1 min to build the VAE): every pair bit-exact and
    DIR/<model>/firmware.json readable by the pipeline."""
    from l1t.firmware.report import read_report
    from l1t.validation.validate import validate

    menu_path = _menu(setup, setup["qat"], tmp_path / "menu.yaml")
    s = validate(menu_path, [setup["zb"]], tmp_path / "out", events=1000)
    (m,) = s["models"]
    assert len(m["check_pairs"]) == 6 and not m["check_skipped"]
    assert all(p["mismatched_events"] == 0 for p in m["check_pairs"].values())
    rep = read_report(tmp_path / "out" / "vae-qat6" / "firmware.json")
    assert rep["backend"] == "rtl" and rep["model"] == "vae-qat6"
    assert rep["latency_cycles"] > 0 and rep["initiation_interval"] == 1
    assert m["hardware"]["latency_cycles"] == rep["latency_cycles"]
    # a float model's 37-bit outputs are refused by RTL: skipped, not fatal
    menu2 = _menu(setup, setup["float"], tmp_path / "menu2.yaml")
    s2 = validate(menu2, [setup["zb"]], tmp_path / "out2", events=200)
    assert "rtl" in s2["models"][0]["check_skipped"] and s2["models"][0]["hardware"] is None


def test_validate_bad_input(setup, tmp_path, capsys):
    from l1t.cli import main
    from l1t.trigger.menu import DEFAULT_MENU
    from l1t.validation.validate import validate

    zb = str(setup["zb"])
    with pytest.raises(L1TInputError, match="deployable model") as err:
        validate(DEFAULT_MENU, [zb], tmp_path / "a")
    assert err.value.field == "anomaly"
    assert not (tmp_path / "a").exists()
    # a model directory without its encoder
    broken = tmp_path / "broken"
    shutil.copytree(setup["qat"], broken)
    (broken / "encoder.h5").unlink()
    menu = _menu(setup, setup["qat"], tmp_path / "menu.yaml")
    text = open(menu).read().replace(str(setup["qat"]), str(broken))
    (tmp_path / "broken.yaml").write_text(text)
    with pytest.raises(L1TInputError, match="encoder"):
        validate(tmp_path / "broken.yaml", [zb], tmp_path / "b")
    # a menu naming a directory that does not exist
    (tmp_path / "missing.yaml").write_text(text.replace(str(broken), str(tmp_path / "nowhere")))
    with pytest.raises(L1TInputError, match="no anomaly model"):
        validate(tmp_path / "missing.yaml", [zb], tmp_path / "c")
    # unreadable and missing inputs, through the command: one line, exit 2, nothing written
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    for inputs in ([str(bad)], [str(tmp_path / "none.parquet")]):
        capsys.readouterr()
        assert main(["validate", "--menu", menu, "--input", *inputs, "--out",
                     str(tmp_path / "d")]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and inputs[0] in lines[0]
        assert not (tmp_path / "d").exists()


# --------------------------------------------------------------------------- firmware/report.py


def test_firmware_check_writes_the_report_and_it_round_trips(tmp_path, capsys):
    from l1t.firmware.report import read_report, write_report
    from l1t.cli import main

    path = tmp_path / "small.h5"
    small_qkeras_model("small").save(str(path), save_format="h5")
    out = tmp_path / "chk"
    assert main(["firmware", "check", str(path), "--input-precision", "ap_fixed<10,8>",
                 "--events", "500", "--backends", "emulator,rtl", "--out", str(out)]) == 0
    assert "firmware.json" in capsys.readouterr().out
    check = read_check(out / "check.json")
    assert check["pairs"]["emulator vs rtl"]["mismatched_events"] == 0
    rep = read_report(out / "firmware.json")
    rtl = check["backends"]["rtl"]
    assert rep["model"] == "small" and rep["backend"] == "rtl"
    for k in ("latency_cycles", "clock_ns", "initiation_interval", "resources"):
        assert rep[k] == rtl[k]
    assert rep["latency_ns"] == rep["latency_cycles"] * rep["clock_ns"]
    assert read_report(write_report(rep, tmp_path / "again.json")) == rep
    # without a backend that knows the latency: no report, and check.json says why
    assert main(["firmware", "check", str(path), "--input-precision", "ap_fixed<10,8>",
                 "--events", "200", "--backends", "emulator", "--out", str(tmp_path / "e")]) == 0
    check = read_check(tmp_path / "e" / "check.json")
    assert check["firmware_report"] is None and not (tmp_path / "e" / "firmware.json").exists()


def test_report_of_needs_a_latency():
    from l1t.firmware import ir
    from l1t.firmware.backend import get_backend
    from l1t.firmware.report import report_of

    emu = get_backend("emulator")
    emu.compile(ir.from_keras(small_qkeras_model("small"), "ap_fixed<10,8>"))
    with pytest.raises(L1TInputError, match="no backend gave a latency") as err:
        report_of("small", [emu])
    assert err.value.field == "latency_cycles"


GOOD = {"format": "l1t-firmware-report", "format_version": 1, "model": "m", "backend": "rtl", "latency_cycles": 14,
        "clock_ns": 5.0, "initiation_interval": 1, "latency_ns": 70.0,
        "resources": {"LUT": 100}}


@pytest.mark.parametrize("field, value", [
    ("latency_cycles", None), ("latency_cycles", -1), ("latency_cycles", 2.5),
    ("latency_cycles", True), ("clock_ns", 0), ("clock_ns", "5"), ("clock_ns", float("inf")),
    ("initiation_interval", 0), ("initiation_interval", 1.5)])
def test_read_report_names_the_bad_field(tmp_path, field, value):
    """A bad figure names the file and the field, read from a file or checked in memory (an
    infinite number cannot be in a JSON file: the reader refuses it as bad JSON)."""
    from l1t.firmware.report import check_report, read_report

    data = {k: v for k, v in GOOD.items() if not (k == field and value is None)}
    if value is not None:
        data[field] = value
    path = tmp_path / "firmware.json"
    with pytest.raises(L1TInputError, match=field) as err:
        check_report(data, path)
    assert err.value.field == field and str(path) in str(err.value)
    path.write_text(json.dumps(data))
    with pytest.raises(L1TInputError) as err:
        read_report(path)
    assert str(path) in str(err.value)


def test_read_report_file_errors(tmp_path):
    from l1t.firmware.report import read_report, write_report

    with pytest.raises(L1TInputError, match="no such l1t-firmware-report"):
        read_report(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(L1TInputError, match="bad JSON"):
        read_report(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(L1TInputError, match="JSON object"):
        read_report(tmp_path / "list.json")
    assert read_report(write_report(GOOD, tmp_path / "ok.json")) == GOOD
