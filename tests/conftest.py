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
