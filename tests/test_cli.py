"""The `l1t` command: subcommands, help, output and exit status."""
import os

import pytest

from l1t.cli import build_parser, main

SUBCOMMANDS = ["samples", "generate", "summary", "jet-response", "rates", "turn-on", "train",
               "scan", "evaluate-anomaly", "tune-anomaly", "firmware", "validate", "stream",
               "demo", "efficiency"]


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    assert "usage: l1t " + name in capsys.readouterr().out


def test_generate_then_summary(tmp_path, capsys):
    out = tmp_path / "zb"
    assert main(["generate", "minbias", "--events", "30", "--pileup", "3", "--pool-size", "40",
                 "--out", str(out), "--quiet"]) == 0
    assert (out / "manifest.json").exists()
    assert "30 crossings at pileup 3" in capsys.readouterr().out
    assert main(["summary", str(out)]) == 0
    text = capsys.readouterr().out
    assert "30 crossings" in text and "L1Jet" in text and "L1EtSum ETM" in text


def test_bad_input_exits_2_with_one_line_and_no_output(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["generate", "no_such_sample", "--events", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown sample 'no_such_sample'" in err[0]
    assert not out.exists()
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not a parquet file")
    assert main(["summary", str(broken)]) == 2
    assert str(broken) in capsys.readouterr().err


def test_parser_rejects_non_positive_event_counts():
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["generate", "minbias", "--events", "0", "--out", "x"])
    assert exit_.value.code == 2


def test_rates_and_turn_on_commands(tmp_path, capsys):
    zb, sig = tmp_path / "zb", tmp_path / "zll"
    assert main(["generate", "minbias", "--events", "40", "--pileup", "5", "--pool-size", "50",
                 "--out", str(zb), "--quiet"]) == 0
    assert main(["generate", "z_ll", "--events", "40", "--out", str(sig), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["rates", "--input", str(zb), "--out", str(tmp_path / "r"), "--target-rate", "5",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "L1_SingleMu22" in text and "TOTAL" in text
    assert (tmp_path / "r" / "rates.csv").read_text().startswith("seed,rate_khz,rate_err_khz,pure_rate_khz")
    assert main(["turn-on", "--input", str(sig), "--seeds", "L1_SingleMu22",
                 "--out", str(tmp_path / "t")]) == 0
    assert "L1_SingleMu22" in capsys.readouterr().out
    assert (tmp_path / "t" / "turn_ons.png").read_bytes()[:4] == b"\x89PNG"
    # A signal sample is not a rate input: one line, exit 2, nothing written.
    assert main(["rates", "--input", str(sig), "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_train_evaluate_and_tune_anomaly_commands(tmp_path, capsys):
    from l1t.datasets.production import produce

    data = tmp_path / "data"
    for sample, n in (("w_lnu", 120), ("qcd_pt15", 160), ("z_ll", 40), ("ttbar", 10),
                      ("a50_4l", 40), ("minbias", 80)):
        produce(sample, n, data / sample, pileup=5, seed=2, chunk_size=n, pool_size=60,
                progress=False, cache_dir=data / ".cache")
    model = tmp_path / "vae"
    assert main(["train", "vae", "--data", str(data), "--out", str(model), "--epochs", "2",
                 "--bits", "6", "--seed", "5", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "QAT 6-bit" in out and "a50_4l" in out
    assert (model / "encoder.h5").exists() and (model / "model.json").exists()
    trained_table = out.splitlines()[1:-1]            # the table after the training line
    # the test split comes from the model's record (seed 5), not from an option
    assert main(["evaluate-anomaly", "--model", str(model)]) == 0
    evaluated = capsys.readouterr().out.splitlines()
    assert "a50_4l" in "\n".join(evaluated)
    assert evaluated[2:] == trained_table
    # a user's signal (HepMC events, here four hard muons each) beside the built-in ones
    mine = tmp_path / "four_muons"
    assert main(["generate", "--hepmc", str(_four_muon_events(tmp_path / "four_muons.hepmc3")),
                 "--pileup", "5", "--pool-size", "60", "--out", str(mine), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate-anomaly", "--model", str(model), "--signal", str(mine)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[2:-2] == trained_table[:-1] and rows[-1] == trained_table[-1]
    assert rows[-2].startswith("four_muons")
    menu = tmp_path / "menu.yaml"
    assert main(["tune-anomaly", "--model", str(model), "--input", str(data / "minbias"),
                 "--target-rates", "20000,5000", "--out", str(menu),
                 "--signal", str(data / "a50_4l"), str(mine)]) == 0
    text = capsys.readouterr().out
    assert "L1_AXO_Loose" in text and "L1_AXO_Tight" in text and "pure" in text
    assert "four_muons" in text
    assert "L1_AXO_Tight" in menu.read_text()
    assert main(["scan", "vae", "--data", str(data), "--out", str(tmp_path / "scan"),
                 "--epochs", "1", "--bits", "4", "6", "--sparsity", "0", "0.5"]) == 0
    text = capsys.readouterr().out
    assert "0.500" in text  # measured sparsity of the pruned encoder
    assert (tmp_path / "scan" / "scan_bits.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "scan" / "scan_sparsity.csv").read_text().startswith("sparsity,")
    # A model directory without model.json: one line, exit 2.
    assert main(["tune-anomaly", "--model", str(tmp_path), "--input", str(data / "minbias"),
                 "--target-rates", "5", "--out", str(tmp_path / "x.yaml")]) == 2
    assert not (tmp_path / "x.yaml").exists()


def _four_muon_events(path, n: int = 30):
    """HepMC3 events of four 40 GeV muons each (written with pyhepmc)."""
    import numpy as np
    import pyhepmc

    rng = np.random.default_rng(3)
    with pyhepmc.open(path, "w") as f:
        for number in range(n):
            evt = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
            evt.event_number = number
            vertex = pyhepmc.GenVertex()
            vertex.add_particle_in(pyhepmc.GenParticle((0, 0, 7000, 7000), 2212, 4))
            for phi, eta in zip(rng.uniform(-np.pi, np.pi, 4), rng.uniform(-2, 2, 4)):
                px, py, pz = 40 * np.cos(phi), 40 * np.sin(phi), 40 * np.sinh(eta)
                vertex.add_particle_out(pyhepmc.GenParticle(
                    (px, py, pz, float(np.sqrt(40**2 + pz**2 + 0.1057**2))), 13, 1))
            evt.add_vertex(vertex)
            f.write(evt)
    return path


def test_commands_print_no_framework_noise(tmp_path):
    """A command that loads, converts and runs a QKeras model in its own process prints our lines
    only: no TensorFlow start-up log (cuDNN/cuFFT registration, CUDA driver), no Keras or QKeras
    warnings."""
    import subprocess
    import sys

    from conftest import small_qkeras_model

    path = tmp_path / "small.h5"
    small_qkeras_model().save(str(path), save_format="h5")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run([sys.executable, "-m", "l1t", "firmware", "check", str(path),
                          "--input-precision", "ap_fixed<10,4>", "--events", "200",
                          "--backends", "emulator", "--out",
                          str(tmp_path / "chk")], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    out = run.stdout + run.stderr
    for noise in ("tensorflow", "cuda", "cuDNN", "Warning", "WARNING", "warn("):
        assert noise not in out, (noise, out)
    assert "software vs emulator" in run.stdout
