"""The muon pT net: inputs, training, its refusal of foreign inputs, the firmware (Keras ↔
emulator ↔ hls4ml C-sim ↔ RTL, bit for bit), and the trigger reading its L1Mu.pt.

One small net (21 → 16 → 8 → 1) is trained for a few epochs on muons carried through the muon
system in this process (no production needed); the command-line path runs on a small gun
production.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil

import awkward as ak
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from l1t.core.errors import L1TInputError  # noqa: E402
from l1t.datasets.muon.single import single_muons  # noqa: E402
from l1t.models.fixedpoint import FixedType  # noqa: E402
from l1t.models.muon import nn  # noqa: E402


def _gun(n, seed):
    """Track-finder words, true pT and charge, bend pT of gun muons (flat in q/pT, 2 GeV–1 TeV)."""
    return single_muons(n, seed)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from l1t.datasets.muon.scaling import ThresholdScale
    from l1t.models.muon.data import scale_points

    feats, pt, q, _ = _gun(40_000, 1)
    x, y = nn.input_values(feats), nn.target(pt, q)
    cfg = nn.NetConfig(hidden=(16, 8), epochs=8)
    n = len(y) * 8 // 10
    net, history = nn.train(x[:n], y[:n], x[n:], y[n:], cfg)
    m = nn.MuonPtModel(net, cfg)
    raw, _ = nn.pt_of(m.outputs({k: v[n:] for k, v in feats.items()}))
    m.scale = ThresholdScale.fit(pt[n:], raw, scale_points(pt[n:]))
    d = tmp_path_factory.mktemp("muon-nn") / "net"
    m.save(d)
    return d


def test_inputs_are_the_stored_words_on_the_input_grid():
    feats, _, _, _ = _gun(2000, 2)
    x = nn.input_values(feats)
    t = FixedType.parse(nn.INPUT_TYPE)
    assert x.shape == (len(feats["tfMode"]), len(nn.INPUTS)) and "tfPhi" not in nn.INPUTS
    codes = np.ldexp(x.astype(np.float64), t.frac)
    assert np.array_equal(codes, np.round(codes))                       # on the grid
    assert codes.min() >= t.min_code and codes.max() <= t.max_code      # within the range
    # a power of two per word: the integer word comes back exactly
    k = nn.INPUTS.index("tfDPhi12")
    assert np.array_equal(np.ldexp(x[:, k].astype(np.float64), int(nn.input_shifts()[k])),
                          feats["tfDPhi12"])
    with pytest.raises(L1TInputError, match="tfMode"):
        nn.input_values({k: v for k, v in feats.items() if k != "tfMode"})


def test_the_net_measures_pt_better_than_the_bend_at_low_pt(model):
    """Multiple scattering dominates at a few GeV: the net, reading every station pair, the
    bends and the hit pattern, beats the first-pair bend estimate there; the charge is right
    for most muons."""
    from l1t.models.muon.train import resolution

    m = nn.MuonPtModel.load(model)
    feats, pt, q, bend = _gun(20_000, 3)
    y = m.outputs(feats)
    raw, charge = nn.pt_of(y)
    ours = {(b.lo_gev, b.hi_gev): b for b in resolution(pt, raw)}
    theirs = {(b.lo_gev, b.hi_gev): b for b in resolution(pt, bend)}
    assert ours[(3, 5)].core < 0.8 * theirs[(3, 5)].core
    assert ours[(5, 10)].core < 0.25 and ours[(10, 20)].core < 0.25
    assert np.mean(charge[pt < 50] == q[pt < 50]) > 0.95
    # the threshold scale moves the assignment up (the 90% point to the threshold)
    scaled, _ = m.assign(y)
    assert np.all(scaled >= raw - 1e-9) and np.any(scaled > raw)


def test_a_model_whose_inputs_differ_from_the_stored_features_is_refused(model, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(model, bad)
    meta = json.loads((bad / "model.json").read_text())
    meta["inputs"]["features"] = meta["inputs"]["features"][:-1] + ["tfBendStation5"]
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(L1TInputError, match="tfBendStation5") as err:
        nn.MuonPtModel.load(bad)
    assert err.value.field == "inputs.features"
    meta["inputs"]["features"] = list(reversed(nn.INPUTS))
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(L1TInputError, match="order"):
        nn.MuonPtModel.load(bad)


def test_the_firmware_is_bit_exact_and_fits_240_ns(model, tmp_path):
    """Keras, the emulator, hls4ml's C simulation and the da4ml RTL (Verilator) give the same
    bits on grid inputs and on real candidates; the RTL's latency at its clock is within the
    240 ns of the muon track finder's pT assignment, one candidate per clock."""
    from l1t.firmware.backend import get_backend
    from l1t.firmware.compare import compare
    from l1t.firmware.deployed import DeployedMuonPt
    from l1t.firmware.report import read_report
    from l1t.validation.firmware_check import firmware_check

    s = firmware_check(model, None, 2000, ["emulator", "hls4ml", "rtl"], tmp_path / "check")
    assert set(s["pairs"]) == {f"{a} vs {b}" for a, b in itertools.combinations(
        ("software", "emulator", "hls4ml", "rtl"), 2)}
    for pair, v in s["pairs"].items():
        assert v["mismatched_events"] == 0 and v["events"] == 2000, pair
    rep = read_report(s["firmware_report"])
    assert rep["initiation_interval"] == 1
    assert 0 < rep["latency_ns"] <= 240.0
    assert rep["resources"]["LUT"] > 0

    feats, _, _, _ = _gun(3000, 4)
    dep = DeployedMuonPt(model, workdir=tmp_path / "dep")
    fw = dep.outputs(feats)
    sw = dep.model.outputs(feats)
    assert np.array_equal(fw, sw)
    csim = get_backend("hls4ml")
    csim.compile(dep.fw, str(tmp_path / "csim"))
    x = nn.input_values(feats).astype(np.float64)
    c = compare([fw.reshape(-1, 1)], csim.predict(x), dep.output_types, dep.output_names)
    assert c["overall"]["mismatched_events"] == 0
    pt, charge = dep.words(fw)
    assert np.array_equal(pt, np.floor(pt / 0.5) * 0.5) and pt.max() <= 255.5
    assert set(np.unique(charge)) <= {-1.0, 1.0}


def test_the_menu_assigns_l1mu_pt_from_the_net(model, tmp_path):
    """A menu's ``assign:`` puts the net's firmware pT in every muon leg; an anomaly model
    there, or two muon models, are refused."""
    from l1t.firmware.deployable import deployed, kind_of
    from l1t.trigger.evaluate import Evaluator
    from l1t.trigger.menu import parse_menu
    from conftest import make_events

    assert kind_of(model).name == "muon-pt"
    text = (f"assign:\n  - {model}\nseeds:\n  L1_SingleMu22:\n    legs:\n"
            "      - {object: muon, pt: 22, quality: 12}\n")
    menu = parse_menu(text)
    assert menu.assign == (str(model),)
    events = make_events(60, seed=5)
    ev = Evaluator(menu)
    new = ev.assign(events)
    want = deployed(model).firmware(events).values["pt"]
    got = ak.to_numpy(ak.flatten(new.L1Mu.pt)).astype(np.float64)
    assert np.array_equal(got, want)
    assert np.array_equal(ak.to_numpy(ak.flatten(new.L1Mu.hwPt)), np.round(want / 0.5))
    copy = tmp_path / "twin"
    shutil.copytree(model, copy)
    with pytest.raises(L1TInputError, match="two models assign L1Mu"):
        menu.with_assign([copy])
    vae = tmp_path / "vae"
    vae.mkdir()
    (vae / "model.json").write_text(json.dumps({"format": "l1t-vae-anomaly", "version": 1}))
    with pytest.raises(L1TInputError, match="gives scores to cut on"):
        parse_menu(text.replace(str(model), str(vae)))
    with pytest.raises(L1TInputError, match="model.json"):
        parse_menu(text.replace(str(model), str(tmp_path / "none")))


@pytest.fixture(scope="module")
def gun(tmp_path_factory):
    from l1t.cli import main

    d = tmp_path_factory.mktemp("gun") / "gun"
    assert main(["generate", "muon_gun", "--events", "800", "--chunk-size", "400", "--seed", "6",
                 "--out", str(d), "--quiet"]) == 0
    return d


def test_train_muon_pt_command_on_a_gun_production(gun, tmp_path, capsys):
    from l1t.cli import main

    out = tmp_path / "net"
    assert main(["train", "muon-pt", "--data", str(gun), "--epochs", "4", "--bits", "6",
                 "--sparsity", "0.5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "muon pT net" in text and "6-bit weights" in text
    m = nn.MuonPtModel.load(out)
    assert m.config.bits == 6 and m.meta["training"]["candidates"] > 500
    assert 0.3 < m.meta["training"]["sparsity"] < 0.7
    with pytest.raises(SystemExit) as exit_:
        main(["train", "muon-pt", "--data", str(gun), "--sparsity", "1.5",
              "--out", str(tmp_path / "bad")])
    assert exit_.value.code == 2
    assert main(["train", "muon-pt", "--out", str(tmp_path / "bad")]) == 2     # no --data
    assert main(["train", "muon-pt", "--data", str(tmp_path / "none"),
                 "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


@pytest.fixture(scope="module")
def zb(tmp_path_factory):
    from l1t.datasets.production import produce

    d = tmp_path_factory.mktemp("zb") / "zb"
    produce("minbias", 200, d, pileup=40, seed=8, chunk_size=100, pool_size=100,
            progress=False)
    return d


def _net_pt(model, events):
    from l1t.firmware.deployable import deployed

    return ak.unflatten(deployed(model).firmware(events).values["pt"], ak.num(events.L1Mu))


def test_rates_and_validate_read_l1mu_pt_from_the_net(model, zb, tmp_path, capsys):
    """``l1t rates --assign`` decides the muon seeds on the net's firmware pT; ``l1t validate``
    finds the net through the menu's ``assign:``, with no flip (Keras equals the firmware)."""
    from l1t.cli import main
    from l1t.datasets.inputs import read_inputs
    from l1t.trigger.lhc import DEFAULT_BUNCHES, LHC_REVOLUTION_KHZ
    from l1t.trigger.report import read_rates
    from l1t.validation.validate import validate

    seeds = "seeds:\n" + "".join(
        f"  L1_SingleMu{t}:\n    legs:\n      - {{object: muon, pt: {t}, eta: 2.4, quality: 12}}\n"
        for t in (3, 6))
    menu = tmp_path / "menu.yaml"
    menu.write_text(seeds)
    assert main(["rates", "--menu", str(menu), "--input", str(zb), "--assign", str(model),
                 "--out", str(tmp_path / "rates"), "--quiet", "--workers", "1"]) == 0
    assert f"L1Mu pT and charge from {model}" in capsys.readouterr().out
    ev = read_inputs([zb])
    pt = _net_pt(model, ev)
    ok = (ev.L1Mu.hwQual >= 12) & (abs(ev.L1Mu.eta) < 2.4)
    got = {s["seed"]: s for s in read_rates(tmp_path / "rates" / "rates.json")["seeds"]}
    scale = DEFAULT_BUNCHES * LHC_REVOLUTION_KHZ
    for t in (3, 6):
        k = int(ak.sum(ak.any(ok & (pt >= t), axis=1)))
        assert got[f"L1_SingleMu{t}"]["rate_khz"] == pytest.approx(k / len(ev) * scale)
    menu.write_text(f"assign:\n  - {model}\n" + seeds)
    s = validate(menu, [zb], tmp_path / "validate", events=500, backends=("emulator",))
    (m,) = s["models"]
    assert m["kind"] == "muon-pt" and [x["seed"] for x in m["seeds"]] == ["L1_SingleMu3",
                                                                          "L1_SingleMu6"]
    assert all(x["software_only"] == x["firmware_only"] == 0 for x in m["seeds"])
    assert m["outputs"]["q_over_pt"]["crossings_differing"] == 0
    assert m["check_pairs"]["software vs emulator"]["mismatched_events"] == 0


def test_muon_performance_counts_rates_of_both_assignments(model, gun, zb, tmp_path, capsys):
    """``l1t muon-performance``: per threshold and assignment the rate equals an independent
    count over the zero-bias crossings (the lookup table: the stored L1Mu.pt; the net: its
    firmware words), the reduction is their ratio, and the plots are written."""
    from l1t.cli import main
    from l1t.datasets.inputs import read_inputs
    from l1t.trigger.lhc import DEFAULT_BUNCHES, LHC_REVOLUTION_KHZ
    from l1t.trigger.muon_performance import read_performance

    out = tmp_path / "perf"
    assert main(["muon-performance", "--model", str(model), "--gun", str(gun),
                 "--rate-sample", str(zb), "--thresholds", "3,8", "--out", str(out)]) == 0
    assert "LUT/NN" in capsys.readouterr().out
    perf = read_performance(out / "performance.json")
    ev = read_inputs([zb])
    mu = ev.L1Mu
    ok = (mu.hwQual >= 12) & (abs(mu.eta) < 2.4)
    nn_pt = _net_pt(model, ev)
    scale = DEFAULT_BUNCHES * LHC_REVOLUTION_KHZ
    assert perf["rate_crossings"] == len(ev)
    for entry in perf["thresholds"]:
        t = entry["threshold_gev"]
        for name, pt in (("lut", mu.pt), ("nn", nn_pt)):
            k = int(ak.sum(ak.any(ok & (pt >= t), axis=1)))
            assert entry[name]["crossings"] == k, (t, name)
            assert entry[name]["rate_khz"] == pytest.approx(k / len(ev) * scale)
            assert entry[name]["rate_err_khz"] == pytest.approx(np.sqrt(k) / len(ev) * scale)
        if entry["nn"]["crossings"] and entry["lut"]["crossings"]:
            assert entry["reduction"] == pytest.approx(entry["lut"]["rate_khz"]
                                                       / entry["nn"]["rate_khz"])
    assert perf["thresholds"][0]["lut"]["crossings"] > 0        # muons at pileup 40 above 3 GeV
    for png in ("resolution", "turn_on", "rate"):
        assert (out / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["muon-performance", "--model", str(model), "--gun", str(zb),
                 "--rate-sample", str(zb), "--out", str(tmp_path / "bad")]) == 2
    assert main(["muon-performance", "--model", str(model), "--gun", str(gun),
                 "--rate-sample", str(gun), "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_the_kinds_stage_takes_the_firmware_report(model, tmp_path):
    """The muon pT kind names its pipeline stage; the Phase-2 preset has it on the endcap muon
    path, and a firmware report sets its latency there."""
    from l1t.firmware.deployable import kind_of
    from l1t.trigger.stream.pipeline import check, load_pipeline, with_firmware

    stage = kind_of(model).stage
    p = load_pipeline("phase2")
    before = {q.name: q.latency_ns for q in check(p).paths}
    report = {"format": "l1t-firmware-report", "format_version": 1, "backend": "rtl",
              "model": "muon", "latency_cycles": 14, "clock_ns": 5.0, "latency_ns": 70.0,
              "initiation_interval": 1, "resources": {}}
    after = {q.name: q.latency_ns for q in check(with_firmware(p, stage, report)).paths}
    # 70 ns instead of 200, plus at most one 5 ns clock period waiting for the stage's edge
    wait = after["muon_endcap"] - (before["muon_endcap"] - 200.0 + 70.0)
    assert 0.0 <= wait <= 5.0
    assert after["muon_barrel"] == before["muon_barrel"]


@pytest.mark.slow
def test_the_firmware_is_bit_exact_on_a_million_candidates(model, tmp_path):
    """Keras, the emulator, hls4ml's C simulation and the RTL on 10⁶ real candidates."""
    from l1t.firmware.backend import get_backend
    from l1t.firmware.compare import compare
    from l1t.firmware.deployed import DeployedMuonPt

    feats, _, _, _ = single_muons(1_300_000, 9)
    feats = {k: v[:1_000_000] for k, v in feats.items()}
    assert len(feats["tfMode"]) == 1_000_000
    x = nn.input_values(feats).astype(np.float64)
    dep = DeployedMuonPt(model, workdir=tmp_path / "dep")
    emu = [dep.outputs(feats).reshape(-1, 1)]
    keras = [dep.model.outputs(feats).reshape(-1, 1)]
    for name in ("hls4ml", "rtl"):
        b = get_backend(name)
        b.compile(dep.fw, str(tmp_path / name))
        c = compare(emu, b.predict(x), dep.output_types, dep.output_names)
        assert c["overall"]["mismatched_events"] == 0, name
    c = compare(emu, keras, dep.output_types, dep.output_names)
    assert c["overall"]["mismatched_events"] == 0 and c["overall"]["events"] == 1_000_000


def test_turn_on_with_the_net_assigned(model, gun, tmp_path):
    """``l1t turn-on --assign``: the single-muon turn-on on the gun with the net's pT: the events
    it counts as fired are those where the deployed net's words pass the seed."""
    import json as _json

    from l1t.cli import main
    from l1t.datasets.inputs import read_inputs
    from l1t.trigger.efficiency import reference

    assert main(["turn-on", "--input", str(gun), "--seeds", "L1_SingleMu22", "--assign",
                 str(model), "--out", str(tmp_path / "t")]) == 0
    (r,) = _json.loads((tmp_path / "t" / "turn_ons.json").read_text())
    ev = read_inputs([gun])
    fired = ak.to_numpy(ak.any((ev.L1Mu.hwQual >= 12) & (abs(ev.L1Mu.eta) < 2.4)
                               & (_net_pt(model, ev) >= 22), axis=1))
    ref = reference(ev, r["reference"])
    k = np.histogram(ref[np.isfinite(ref) & fired], r["bins"])[0]
    n = np.asarray(r["n"])
    np.testing.assert_allclose(np.where(n > 0, k / np.maximum(n, 1), np.nan),
                               np.asarray(r["efficiency"], dtype=float), equal_nan=True)
