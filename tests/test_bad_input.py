"""Bad input to the real ``l1t`` command, one case per row: exit status 2, one line on stderr
naming the file or option (and the field), no traceback, no file created or changed anywhere
under the test's directory. Cases that already worked stay in the table so they keep working.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import awkward as ak
import numpy as np
import pytest

from conftest import make_events, small_qkeras_model

LAMBDA_CODE = "lambda x: (__import__('pathlib').Path({marker!r}).write_text('ran'), x)[1]"


@dataclass
class Fixtures:
    root: Path
    zb: Path          # minbias production, 20 crossings at pileup 2, two chunks
    sig: Path         # z_ll production, 10 crossings
    model: Path       # an (untrained) anomaly model directory
    lam: Path         # a Keras .h5 model with a Lambda layer whose code writes `marker`
    marker: Path


def _lambda_model(path: Path, marker: Path) -> None:
    from tensorflow import keras

    fn = eval(LAMBDA_CODE.format(marker=str(marker)))  # noqa: S307 (the test's own code)
    inp = keras.Input((4,))
    x = keras.layers.Dense(3, name="d")(inp)
    x = keras.layers.Lambda(fn, name="lam")(x)
    keras.Model(inp, x).save(str(path), save_format="h5")
    marker.unlink(missing_ok=True)          # building the model ran the code once


def _anomaly_model(path: Path) -> None:
    from l1t.models.anomaly.inputs import N_FEATURES, InputScaling
    from l1t.models.anomaly.vae import AnomalyModel, VAEConfig, build

    cfg = VAEConfig(epochs=1, seed=1, bits=6)
    _, encoder = build(cfg)
    words = np.random.default_rng(1).integers(0, 500, (200, N_FEATURES))
    AnomalyModel(encoder, InputScaling.fit(words), cfg).save(path)


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> Fixtures:
    from l1t.datasets.production import produce

    root = tmp_path_factory.mktemp("bad")
    zb, sig = root / "zb", root / "sig"
    produce("minbias", 20, zb, pileup=2, seed=3, chunk_size=10, pool_size=30, progress=False,
            cache_dir=root / ".cache")
    produce("z_ll", 10, sig, seed=3, progress=False, cache_dir=root / ".cache")
    shutil.rmtree(root / ".cache")
    _anomaly_model(root / "model")
    _lambda_model(root / "lam.h5", root / "ran.txt")
    return Fixtures(root, zb, sig, root / "model", root / "lam.h5", root / "ran.txt")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_manifest(prod: Path, change: Callable[[dict], object]) -> Path:
    path = prod / "manifest.json"
    m = json.loads(path.read_text())
    m = change(m) or m
    path.write_text(json.dumps(m))
    return prod


def _bad_file(path: Path, change: Callable[[ak.Array], ak.Array]) -> Path:
    """A parquet file in the schema with one field changed (written around the validation)."""
    ak.to_parquet(change(make_events(20, seed=4)), path)
    return path


def _set(events: ak.Array, where: str, value: float) -> ak.Array:
    coll, _, name = where.rpartition(".")
    if not coll:
        return ak.with_field(events, np.full(len(events), value, np.float64), name)
    inner = events[coll]
    return ak.with_field(events, ak.with_field(inner, inner[name] * 0 + value, name), coll)


def _menu(path: Path, text: str | bytes) -> Path:
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def _pipeline_with(path: Path, old: str, new: str) -> Path:
    from l1t.trigger.stream.pipeline.config import PRESETS

    text = PRESETS["run3"].read_text()
    assert old in text
    return _menu(path, text.replace(old, new, 1))


def _chunk0(p: Path) -> Path:
    return p / "chunk-00000.parquet"


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# Each case: (id, build(fx, work dir) -> (argv, text expected in the error line)).
CASES: list[tuple[str, Callable[[Fixtures, Path], tuple[list[str], str]]]] = [
    # -- model files: code from a file never runs
    ("lambda-firmware-check", lambda f, w: (
        ["firmware", "check", str(f.lam), "--input-precision", "ap_fixed<8,3>", "--out",
         str(w / "o")], "Lambda")),
    ("lambda-encoder-evaluate", lambda f, w: (
        ["evaluate-anomaly", "--model", str(_lambda_encoder(f, w))], "Lambda")),
    ("lambda-encoder-tune", lambda f, w: (
        ["tune-anomaly", "--model", str(_lambda_encoder(f, w)), "--input", str(f.zb),
         "--target-rates", "5", "--out", str(w / "m.yaml")], "Lambda")),
    ("model-file-not-keras", lambda f, w: (
        ["firmware", "check", str(_menu(w / "x.h5", b"not hdf5")), "--out", str(w / "o")],
        "x.h5")),
    ("unsupported-layer-names-file", lambda f, w: (
        ["firmware", "check", str(_tanh_model(w / "tanh.h5")), "--input-precision",
         "ap_fixed<8,3>", "--out", str(w / "o")], "tanh.h5 [")),
    ("scaling-wrong-length", lambda f, w: (
        ["evaluate-anomaly", "--model", str(_model_with(f, w, _short_scaling))],
        "input_scaling.offset")),
    ("encoder-wrong-input-shape", lambda f, w: (
        ["evaluate-anomaly", "--model", str(_model_with(f, w, _small_encoder))], "input_shape")),
    ("evaluate-model-is-a-file", lambda f, w: (
        ["evaluate-anomaly", "--model", str(f.model / "model.json")], "is a directory")),
    # -- rates that would look fine
    ("sigma-inel-negative", lambda f, w: (
        _rates(f, w, "--sigma-inel", "-1"),
        "--sigma-inel")),
    ("sigma-inel-zero", lambda f, w: (
        _rates(f, w, "--sigma-inel", "0"),
        "--sigma-inel")),
    ("sigma-inel-nan", lambda f, w: (
        _rates(f, w, "--sigma-inel", "nan"),
        "--sigma-inel")),
    ("stitch-pthat-nan", lambda f, w: (
        _rates(f, w, "--stitch-pthat", "nan"),
        "--stitch-pthat")),
    ("input-twice", lambda f, w: (
        _rates(f, w, str(f.zb)), "given twice")),
    ("input-chunk-and-its-production", lambda f, w: (
        _rates(f, w, str(_chunk0(f.zb))),
        "given twice")),
    ("target-rate-above-crossing-rate", lambda f, w: (
        _rates(f, w, "--target-rate", "40000"),
        "--target-rate")),
    ("target-rates-above-crossing-rate", lambda f, w: (
        ["tune-anomaly", "--model", str(f.model), "--input", str(f.zb), "--target-rates",
         "5,1e6", "--out", str(w / "m.yaml")], "--target-rates")),
    # -- productions are checked
    ("chunk-bytes-appended", lambda f, w: (
        ["summary", str(_appended(_copy(f.zb, w / "p")))], "chunk-00000.parquet")),
    ("chunk-byte-flipped", lambda f, w: (
        ["rates", "--input", str(_flipped(_copy(f.zb, w / "p"))), "--out", str(w / "r")],
        "does not match the production's manifest")),
    ("chunk-sha256-differs", lambda f, w: (
        ["summary", str(_edit_manifest(_copy(f.zb, w / "p"), _other_sha))], "sha256")),
    ("chunk-events-edited", lambda f, w: (
        ["summary", str(_edit_manifest(_copy(f.zb, w / "p"), _fewer_events))], "holds 10 events")),
    ("chunk-missing", lambda f, w: (
        ["summary", str(_removed(_copy(f.zb, w / "p")))], "missing")),
    ("production-incomplete", lambda f, w: (
        ["summary", str(_edit_manifest(_copy(f.zb, w / "p"),
                                       lambda m: m.update(complete=False)))], "incomplete")),
    ("chunk-path-outside", lambda f, w: (
        ["summary", str(_edit_manifest(_copy(f.zb, w / "p"), _outside))], "chunks[0].file")),
    ("manifest-a-list", lambda f, w: (
        ["summary", str(_edit_manifest(_copy(f.zb, w / "p"), lambda m: [m]))], "manifest.json")),
    ("manifest-chunk-without-file", lambda f, w: (
        ["summary", str(_edit_manifest(_copy(f.zb, w / "p"),
                                       lambda m: m["chunks"][0].update(file=None)))],
        "chunks[0].file")),
    ("manifest-chunks-a-string", lambda f, w: (
        ["summary", str(_edit_manifest(_copy(f.zb, w / "p"),
                                       lambda m: m.update(chunks="chunk-00000.parquet")))],
        "[chunks]")),
    ("manifest-not-json", lambda f, w: (
        ["summary", str(_broken_manifest(_copy(f.zb, w / "p")))], "bad JSON")),
    ("generate-over-other-production", lambda f, w: (
        ["generate", "minbias", "--events", "30", "--pileup", "2", "--out",
         str(_copy(f.zb, w / "p")), "--quiet"], "other parameters")),
    # -- output paths
    ("out-existing-file", lambda f, w: (
        ["rates", "--input", str(f.zb), "--out", str(_menu(w / "file", "x"))], "existing file")),
    ("out-inside-a-file", lambda f, w: (
        ["rates", "--input", str(f.zb), "--out", str(_chunk0(f.zb) / "r")], "inside the file")),
    ("out-unwritable", lambda f, w: (
        ["rates", "--input", str(f.zb), "--out", "/proc/l1t-out"], "cannot write")),
    ("out-inside-input-production", lambda f, w: (
        ["rates", "--input", str(f.zb), "--out", str(f.zb / "r")], "inside the input")),
    ("generate-out-existing-file", lambda f, w: (
        ["generate", "minbias", "--events", "5", "--out", str(_menu(w / "file", "x"))],
        "existing file")),
    ("tune-out-a-directory", lambda f, w: (
        ["tune-anomaly", "--model", str(f.model), "--input", str(f.zb), "--target-rates", "5",
         "--out", str(w)], "is a directory")),
    ("tune-out-is-its-menu", lambda f, w: (
        ["tune-anomaly", "--model", str(f.model), "--input", str(f.zb), "--target-rates", "5",
         "--menu", str(_lecture(w / "menu.yaml")), "--out", str(w / "menu.yaml")],
        "would be overwritten")),
    ("tune-bad-signal-writes-nothing", lambda f, w: (
        ["tune-anomaly", "--model", str(f.model), "--input", str(f.zb), "--target-rates", "5",
         "--out", str(w / "m.yaml"), "--signal", str(w / "no-such-signal")], "no-such-signal")),
    ("turn-on-out-inside-input", lambda f, w: (
        ["turn-on", "--input", str(f.sig), "--out", str(f.sig / "t")], "inside the input")),
    ("generate-unreachable-scheduler", lambda f, w: (
        ["generate", "minbias", "--events", "5", "--out", str(w / "g"), "--scheduler",
         "tcp://127.0.0.1:9"], "--scheduler")),
    # -- configuration files
    ("menu-not-utf8", lambda f, w: (_menu_case(f, w, b"seeds: \xff\xfe\n"), "UTF-8")),
    ("menu-mapping-as-key", lambda f, w: (_menu_case(f, w, "? {a: 1}\n: 2\n"), "line 1")),
    ("menu-list-as-key", lambda f, w: (_menu_case(f, w, "seeds:\n  ? [a]\n  : 1\n"), "line 2")),
    ("menu-deep-nesting", lambda f, w: (
        _menu_case(f, w, "[" * 5000 + "]" * 5000), "nested deeper")),
    ("menu-alias", lambda f, w: (
        _menu_case(f, w, "a: &l [1, 2]\nseeds: {S: {legs: *l}}\n"), "aliases")),
    ("menu-billion-laughs", lambda f, w: (_menu_case(f, w, _laughs()), "aliases")),
    ("menu-python-tag", lambda f, w: (
        _menu_case(f, w, "seeds: !!python/object/apply:os.system ['true']\n"), "m.yaml")),
    ("menu-missing", lambda f, w: (
        _rates(f, w, "--menu", str(w / "none.yaml")),
        "no such menu")),
    ("menu-a-directory", lambda f, w: (
        _rates(f, w, "--menu", str(_mkdir(w / "menu"))),
        "not a directory")),
    ("pipeline-path-list-element", lambda f, w: (
        ["stream", "--input", str(f.zb), "--orbits", "1", "--out", str(w / "s"), "--pipeline",
         str(_pipeline_with(w / "p.yaml", "paths:\n", "paths:\n  bad: [[calo_tpg]]\n"))],
        "paths.bad[0]")),
    ("pipeline-bx-spacing-tiny", lambda f, w: (
        ["stream", "--input", str(f.zb), "--orbits", "1", "--out", str(w / "s"), "--pipeline",
         str(_pipeline_with(w / "p.yaml", "bx_ns: 25", "bx_ns: 0.0001"))], "[bx_ns]")),
    ("filling-scheme-not-utf8", lambda f, w: (
        ["stream", "--input", str(f.zb), "--orbits", "1", "--out", str(w / "s"),
         "--filling-scheme", str(_menu(w / "f.txt", b"\xff1-10\n"))], "UTF-8")),
    ("mapping-missing", lambda f, w: (
        ["summary", str(f.zb), "--mapping", str(w / "none.yaml")], "no such mapping")),
    ("mapping-a-list", lambda f, w: (
        ["summary", str(f.zb), "--mapping", str(_menu(w / "m.yaml", "- a\n- b\n"))],
        "YAML mapping")),
    # -- numbers
    ("seed-negative", lambda f, w: (
        ["generate", "minbias", "--events", "5", "--seed", "-1", "--out", str(w / "g")],
        "--seed")),
    ("seed-beyond-64-bits", lambda f, w: (
        ["generate", "minbias", "--events", "5", "--seed", str(2**64), "--out", str(w / "g")],
        "--seed")),
    ("bunches-above-orbit", lambda f, w: (
        _rates(f, w, "--bunches", "3565"),
        "--bunches")),
    ("pileup-huge", lambda f, w: (
        ["generate", "minbias", "--events", "5", "--pileup", "1e9", "--out", str(w / "g")],
        "--pileup")),
    ("stream-mu-huge", lambda f, w: (
        ["stream", "--input", str(f.zb), "--orbits", "1", "--mu", "1e9", "--out", str(w / "s")],
        "--mu")),
    ("sparsity-one", lambda f, w: (
        ["train", "vae", "--sparsity", "1", "--out", str(w / "m")], "--sparsity")),
    ("events-zero", lambda f, w: (
        ["generate", "minbias", "--events", "0", "--out", str(w / "g")], "--events")),
    ("file-negative-pt", lambda f, w: (
        ["summary", str(_bad_file(w / "x.parquet", lambda e: _set(e, "L1Jet.pt", -5.0)))],
        "[L1Jet.pt]")),
    ("file-negative-weight", lambda f, w: (
        ["summary", str(_bad_file(w / "x.parquet", lambda e: _set(e, "weight", -1.0)))],
        "[weight]")),
    ("file-eta-outside", lambda f, w: (
        ["summary", str(_bad_file(w / "x.parquet", lambda e: _set(e, "L1EG.eta", 7.0)))],
        "[L1EG.eta]")),
    ("file-phi-outside", lambda f, w: (
        ["summary", str(_bad_file(w / "x.parquet", lambda e: _set(e, "L1Mu.phi", 4.0)))],
        "[L1Mu.phi]")),
    ("file-mu-negative", lambda f, w: (
        ["stream", "--orbits", "1", "--out", str(w / "s"), "--input",
         str(_bad_file(w / "x.parquet", lambda e: _set(e, "mu", -3.0)))], "x.parquet [mu]")),
    ("file-nan", lambda f, w: (
        ["summary", str(_bad_file(w / "x.parquet", lambda e: _set(e, "L1Tau.pt", np.nan)))],
        "NaN")),
    ("file-truncated", lambda f, w: (
        ["summary", str(_truncated(_chunk0(f.zb), w / "t.parquet"))], "t.parquet")),
    ("file-corrupt", lambda f, w: (
        ["summary", str(_menu(w / "c.parquet", b"PAR1 not a parquet file"))], "c.parquet")),
    ("file-missing", lambda f, w: (
        ["summary", str(w / "none.parquet")], "no such file")),
    # -- smaller ones
    ("rates-zero-row-file", lambda f, w: (
        ["rates", "--input", str(_empty(w / "e.parquet")), "--out", str(w / "r")], "e.parquet")),
    ("turn-on-unknown-seed", lambda f, w: (
        ["turn-on", "--input", str(f.sig), "--seeds", "L1_NoSuchSeed", "--out", str(w / "t")],
        "L1_NoSuchSeed")),
    ("backends-empty", lambda f, w: (
        ["firmware", "check", str(f.model), "--backends", ",", "--out", str(w / "o")],
        "--backends")),
    ("backend-unknown", lambda f, w: (
        ["firmware", "check", str(f.model), "--backends", "fpga", "--out", str(w / "o")],
        "fpga")),
    ("sample-unknown", lambda f, w: (
        ["generate", "no_such_sample", "--events", "5", "--out", str(w / "g")], "no_such_sample")),
    ("rates-signal-as-zero-bias", lambda f, w: (
        ["rates", "--input", str(f.sig), "--out", str(w / "r")], "sig")),
]


def _rates(f: Fixtures, w: Path, *args: str) -> list[str]:
    """``l1t rates`` on the zero-bias production, writing into the case's directory."""
    return ["rates", "--input", str(f.zb), *args, "--out", str(w / "r")]


def _menu_case(f: Fixtures, w: Path, text: str | bytes) -> list[str]:
    """:func:`_rates` with a menu file of this text."""
    return _rates(f, w, "--menu", str(_menu(w / "m.yaml", text)))


def _lambda_encoder(f: Fixtures, w: Path) -> Path:
    d = _copy(f.model, w / "m")
    shutil.copy(f.lam, d / "encoder.h5")
    return d


def _tanh_model(path: Path) -> Path:
    from tensorflow import keras

    inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Dense(2, activation="tanh", name="t")(inp)).save(
        str(path), save_format="h5")
    return path


def _model_with(f: Fixtures, w: Path, change: Callable[[Path], None]) -> Path:
    d = _copy(f.model, w / "m")
    change(d)
    return d


def _short_scaling(d: Path) -> None:
    m = json.loads((d / "model.json").read_text())
    m["input_scaling"]["offset"] = m["input_scaling"]["offset"][:5]
    (d / "model.json").write_text(json.dumps(m))


def _small_encoder(d: Path) -> None:
    small_qkeras_model().save(str(d / "encoder.h5"), save_format="h5")


def _appended(p: Path) -> Path:
    with open(_chunk0(p), "ab") as fh:
        fh.write(b"x")
    return p


def _flipped(p: Path) -> Path:
    _flip_byte(_chunk0(p))
    return p


def _removed(p: Path) -> Path:
    _chunk0(p).unlink()
    return p


def _fewer_events(m: dict) -> None:
    m["chunks"][0]["events"] = 9
    m["events_done"] -= 1


def _other_sha(m: dict) -> None:
    m["chunks"][0]["sha256"] = "0" * 64


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _outside(m: dict) -> None:
    m["chunks"][0]["file"] = "../zb/chunk-00000.parquet"


def _broken_manifest(p: Path) -> Path:
    (p / "manifest.json").write_text('{"format": "l1t-production-manifest", ')
    return p


def _lecture(path: Path) -> Path:
    from l1t.trigger.menu import DEFAULT_MENU

    shutil.copy(DEFAULT_MENU, path)
    return path


def _laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\nseeds: *i\n"


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _empty(path: Path) -> Path:
    from l1t.datasets.formats import write_events
    from l1t.datasets.schema import empty_events

    write_events(empty_events(), path, metadata={"sample": "minbias"})
    return path


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(root.rglob("*"))}


def run_l1t(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # as a user runs it: without the TensorFlow log level this test process may have set
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", "l1t", *argv], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


@pytest.mark.parametrize("case", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(fx, case, request):
    work = fx.root / "cases" / request.node.callspec.id
    work.mkdir(parents=True)
    argv, expected = case(fx, work)
    before = _snapshot(fx.root)
    run = run_l1t(argv, work)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr + run.stdout
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("l1t"), lines
    assert expected in lines[0], lines[0]
    assert " object at 0x" not in lines[0]
    assert _snapshot(fx.root) == before, "files were created or changed"
    assert not fx.marker.exists(), "code from a model file ran"


def test_the_lambda_model_would_run_its_code_in_keras(fx, tmp_path):
    """The refusal above matters: Keras itself runs the Lambda's code while loading the file."""
    marker = tmp_path / "ran.txt"
    model = tmp_path / "lam.h5"
    _lambda_model(model, marker)
    code = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
            "from tensorflow import keras\n"
            f"keras.models.load_model({str(model)!r}, compile=False)\n")
    subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert marker.read_text() == "ran"


def test_no_verify_reads_what_the_manifest_does_not_claim(fx, tmp_path):
    prod = _copy(fx.zb, tmp_path / "p")
    _flip_byte(_chunk0(prod))                       # may leave the file unreadable
    shutil.copy(_chunk0(fx.zb), _chunk0(prod))      # the same bytes again: passes
    assert run_l1t(["summary", str(prod)], tmp_path).returncode == 0
    _edit_manifest(prod, _other_sha)
    assert run_l1t(["summary", str(prod)], tmp_path).returncode == 2
    run = run_l1t(["summary", str(prod), "--no-verify"], tmp_path)
    assert run.returncode == 0 and "20 crossings" in run.stdout
    _edit_manifest(prod, lambda m: m.update(complete=False))
    assert run_l1t(["summary", str(prod), "--no-verify"], tmp_path).returncode == 0
    # the shape and location checks stay on
    _edit_manifest(prod, _outside)
    assert run_l1t(["summary", str(prod), "--no-verify"], tmp_path).returncode == 2


def test_generate_rerun_regenerates_a_changed_chunk(fx, tmp_path):
    prod = _copy(fx.zb, tmp_path / "p")
    good = _chunk0(prod).read_bytes()
    _appended(prod)
    run = run_l1t(["generate", "minbias", "--events", "20", "--pileup", "2", "--seed", "3",
                   "--chunk-size", "10", "--pool-size", "30", "--out", str(prod), "--quiet"],
                  tmp_path)
    assert run.returncode == 0, run.stderr
    assert "chunk-00000.parquet does not match the manifest" in run.stderr
    assert _chunk0(prod).read_bytes() == good
    assert run_l1t(["summary", str(prod)], tmp_path).returncode == 0


def test_pileup_bound_of_the_command_is_the_productions():
    from l1t.cli import _pileup
    from l1t.datasets.production import MAX_PILEUP

    assert _pileup(str(MAX_PILEUP)) == MAX_PILEUP
    with pytest.raises(Exception):
        _pileup(str(MAX_PILEUP * 1.0001))
