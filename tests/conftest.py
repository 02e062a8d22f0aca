"""Shared test helpers: small deterministic event arrays in the L1 schema."""
from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from l1t.datasets import hwunits
from l1t.datasets.schema import COLLECTIONS, EVENT_FIELDS, GEN_COLLECTIONS


def _collection(rng: np.random.Generator, coll: str, spec: dict[str, str], n: int,
                max_objects: int) -> ak.Array:
    counts = rng.integers(0, max_objects + 1, n)
    counts[::5] = 0  # some events without any object of this kind
    size = int(counts.sum())
    pt = rng.uniform(1.0, 120.0, size).astype(np.float32)
    eta_max = 2.4 if coll == "L1Mu" else 4.5
    eta = rng.uniform(-eta_max, eta_max, size).astype(np.float32)
    phi = rng.uniform(-np.pi, np.pi, size).astype(np.float32)
    mu = coll == "L1Mu"
    values = {
        "pt": pt, "eta": eta, "phi": phi, "mass": rng.uniform(0, 10, size),
        "charge": rng.choice([-1, 1], size), "hwQual": rng.integers(0, 16, size),
        "hwIso": rng.integers(0, 4, size), "iso": rng.uniform(0, 1, size),
        "isEle": rng.random(size) < 0.5, "pdgId": rng.choice([11, -11, 13, -13, 1, 21], size),
        "etSumType": rng.choice([0, 1, 2, 3, 8], size), "bx": rng.choice([0, 0, 0, -1, 1], size),
        "hwPt": hwunits.hw_pt(pt),
        "hwEta": (hwunits.hw_eta_mu if mu else hwunits.hw_eta_calo)(eta),
        "hwPhi": (hwunits.hw_phi_mu if mu else hwunits.hw_phi_calo)(phi),
    }
    from l1t.datasets.muon.trackfinder import FEATURES

    for name, (bits, signed, _) in FEATURES.items():     # track-finder words of their widths
        lo = -(1 << (bits - 1)) if signed else 0
        values[name] = rng.integers(lo, (1 << (bits - 1)) if signed else (1 << bits), size)
    return ak.unflatten(ak.zip({f: values[f].astype(d) for f, d in spec.items()}), counts)


def make_events(n: int, seed: int = 0, gen: bool = True) -> ak.Array:
    """``n`` events in the full schema with random, reproducible content."""
    rng = np.random.default_rng(seed)
    out = {
        "event": np.arange(n) + 1000 * seed, "seed": np.full(n, seed),
        "process": rng.choice([101, 102, 201], n), "sigma_mb": np.full(n, 78.9),
        "weight": rng.uniform(0.5, 2.0, n), "pthat": rng.uniform(0, 50, n),
        "pthat_max": rng.uniform(50, 100, n), "mu": np.full(n, 200.0), "n_interactions": rng.poisson(200, n),
        "gen_vz": rng.normal(0.0, 5.0, n), "pu_pthat_max": rng.uniform(0, 50, n),
        "pu_source": np.full(n, -1),
    }
    out = {k: np.asarray(out[k]).astype(d) for k, d in EVENT_FIELDS.items()}   # schema order
    specs = {**COLLECTIONS, **(GEN_COLLECTIONS if gen else {})}
    for coll, spec in specs.items():
        out[coll] = _collection(rng, coll, spec, n, 8 if coll == "L1Jet" else 4)
    return ak.zip(out, depth_limit=1)


@pytest.fixture
def events() -> ak.Array:
    return make_events(40, seed=3)


def small_qkeras_model(name: str = "small"):
    """16 → 8 → 4 QKeras model: 6-bit weights and biases, quantized_relu(8,3) after each Dense,
    seeded random weights. Fully quantized (Keras equals the firmware bit for bit) and small
    enough for an RTL build in seconds."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    q6 = quantized_bits(6, 0, alpha=1)
    x = keras.Input((16,), name="x")
    h = QDense(8, kernel_quantizer=q6, bias_quantizer=q6, name="d1")(x)
    h = QActivation(quantized_relu(8, 3), name="r1")(h)
    h = QDense(4, kernel_quantizer=q6, bias_quantizer=q6, name="d2")(h)
    h = QActivation(quantized_relu(8, 3), name="r2")(h)
    model = keras.Model(x, h, name=name)
    rng = np.random.default_rng(7)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in weights])
    return model


# --------------------------------------------------------------------------- a small run
def tiny_vae(out_dir, seed: int = 3):
    """A 57 → 16 → 8 → (4, 4) QAT (6-bit) VAE anomaly model trained for two epochs on random
    integer words (what profiling, splitting and reports need: a real saved model of the kind)."""
    from l1t.models.anomaly.evaluation import evaluate
    from l1t.models.anomaly.vae import VAEConfig, train

    rng = np.random.default_rng(seed)
    words = rng.integers(0, 200, (500, 57))
    words[:, 1::3] = rng.integers(-100, 100, (500, 19))
    model, _ = train(words[:300], VAEConfig(hidden=(16, 8), latent=4, epochs=2, batch_size=64,
                                            seed=seed, bits=6))
    harder = words[300:].copy()
    harder[:, ::3] *= 3                                 # an "anomaly": every pT three times
    rows = evaluate(model.scores(words[300:]), {"harder": model.scores(harder)})
    model.save(out_dir, extra={"evaluation": rows})
    return out_dir


def tiny_muon_net(out_dir, seed: int = 1):
    """A 6-bit muon pT net (16, 8 hidden) trained for two epochs on 3000 gun muons."""
    from l1t.datasets.muon.single import single_muons
    from l1t.models.muon import nn

    feats, pt, q, _ = single_muons(3000, seed)
    x, y = nn.input_values(feats), nn.target(pt, q)
    cfg = nn.NetConfig(hidden=(16, 8), bits=6, epochs=2, seed=seed)
    n = len(y) * 8 // 10
    net, _ = nn.train(x[:n], y[:n], x[n:], y[n:], cfg)
    nn.MuonPtModel(net, cfg).save(out_dir)        # no threshold scale: too few muons for one
    return out_dir


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A run directory as ``l1t demo`` lays it out, from small productions: zero-bias crossings
    (pileup 5) and a muon gun, a tiny VAE and muon pT net, the rate table, the encoder's firmware
    check (emulator), the muon performance, a turn-on, one orbit of the stream and a profile
    (MLP reference, emulator/TensorFlow/ONNX Runtime/RTL figures, split analysis)."""
    from l1t.datasets.inputs import expand_inputs, read_inputs
    from l1t.datasets.production import produce
    from l1t.trigger.efficiency import turn_ons, write_turn_ons
    from l1t.trigger.job import RateJob, run
    from l1t.trigger.menu import load_menu
    from l1t.trigger.muon_performance import muon_performance
    from l1t.trigger.rates import summarize
    from l1t.trigger.report import write_rates
    from l1t.trigger.stream.report import stream_job
    from l1t.validation.firmware_check import firmware_check
    from l1t.validation.profile import profile

    out = tmp_path_factory.mktemp("run") / "demo-out"
    cache = out / ".cache"
    produce("minbias", 80, out / "minbias", pileup=5, seed=4, chunk_size=40, pool_size=60,
            progress=False, cache_dir=cache, workers=1)
    produce("muon_gun", 300, out / "muon-gun", seed=6, chunk_size=150, progress=False,
            cache_dir=cache)
    tiny_vae(out / "vae")
    tiny_muon_net(out / "muon-pt")
    menu = load_menu()
    summary = summarize(run(RateJob(menu), expand_inputs([out / "minbias"])), menu)
    write_rates(summary, out / "rates")
    firmware_check(out / "vae", None, 300, ["emulator"], out / "firmware")
    muon_performance(out / "muon-pt", [out / "muon-gun"], [out / "minbias"], [22.0],
                     out / "muon-performance")
    write_turn_ons(turn_ons(read_inputs([out / "muon-gun"]), menu, ["L1_SingleMu22"]),
                   out / "turn-on")
    stream_job(None, [out / "minbias"], out / "stream", orbits=1, seed=1)
    profile([out], out / "profile", families=("mlp",), sizes=("s",),
            backends=("emulator", "tensorflow-cpu", "onnxruntime", "rtl", "tensorflow-gpu"),
            batch_sizes=(1, 16, 256), budget_s=0.02, layer_batch=256)
    return out
