"""The VAE anomaly detector on synthetic integer words: ranking, QAT grid, persistence, scaling.

Everything is tiny (a few hundred crossings, a 16-8-4 encoder) so the module runs in well under a
minute; the trained models are shared by the tests through module-scoped fixtures.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("qkeras")

from l1t.core.errors import L1TInputError  # noqa: E402
from l1t.models.anomaly.evaluation import roc  # noqa: E402
from l1t.models.anomaly.inputs import N_FEATURES, InputScaling  # noqa: E402
from l1t.models.anomaly.vae import AnomalyModel, VAEConfig, train  # noqa: E402

TINY = dict(hidden=(16, 8), latent=4, epochs=15, batch_size=64, seed=3)
BITS = 6


def synthetic_words(n: int, seed: int, anomalous: bool = False) -> np.ndarray:
    """Integer words ``(n, 57)`` (pT LSB 0.5 GeV, η 0.0435, φ 2π/144) of a crude background:
    MET, one lepton in most crossings, ten soft jets; anomalies have 4× harder jets, large MET and
    three hard muons."""
    rng = np.random.default_rng(seed)
    w = np.zeros((n, N_FEATURES), np.int64)
    w[:, 0] = rng.exponential(60, n) + 20
    w[:, 2] = rng.integers(-72, 72, n)
    lep = rng.random(n) < 0.8
    ele = rng.random(n) < 0.5
    for col, sel in ((3, lep & ele), (15, lep & ~ele)):              # e0 or μ0
        k = int(sel.sum())
        w[sel, col] = rng.exponential(40, k) + 20
        w[sel, col + 1] = rng.integers(-55, 55, k)
        w[sel, col + 2] = rng.integers(-72, 72, k)
    jets = np.sort(rng.exponential(25, (n, 10)) + 30, axis=1)[:, ::-1]
    if anomalous:
        jets *= 4
        w[:, 0] *= 3
        for i in range(3):                                            # μ0..μ2
            w[:, 15 + 3 * i] = rng.exponential(40, n) + 60
            w[:, 16 + 3 * i] = rng.integers(-55, 55, n)
            w[:, 17 + 3 * i] = rng.integers(-72, 72, n)
    w[:, 27::3] = np.floor(jets)
    w[:, 28::3] = rng.integers(-100, 100, (n, 10))
    w[:, 29::3] = rng.integers(-72, 72, (n, 10))
    return w


@pytest.fixture(scope="module")
def data():
    return synthetic_words(400, 1), synthetic_words(300, 2), synthetic_words(200, 3, True)


@pytest.fixture(scope="module")
def float_model(data):
    return train(data[0], VAEConfig(**TINY))[0]


@pytest.fixture(scope="module")
def qat_model(data):
    return train(data[0], VAEConfig(**TINY, bits=BITS))[0]


@pytest.mark.parametrize("which", ["float", "qat"])
def test_anomalies_score_higher(which, data, float_model, qat_model):
    model = float_model if which == "float" else qat_model
    _, test, anomalies = data
    b, s = model.scores(test), model.scores(anomalies)
    for name in ("axo", "rz", "kl"):
        assert b[name].shape == (len(test),) and np.isfinite(b[name]).all()
        assert roc(b[name], s[name])[2] > 0.8, name
    # not a collapsed posterior: background μ varies (v1 had μ ≡ 0 after quantization)
    mu, _ = model.latent(test)
    assert mu.std(axis=0).max() > 0.1
    assert len(np.unique(b["axo"])) > len(test) // 2


def test_qat_weights_on_quantized_bits_grid(qat_model):
    cfg = qat_model.config
    step = 2.0 ** -(cfg.bits - 1 - cfg.integer)                  # ap_fixed<bits, integer + 1>
    lo, hi = -(2.0 ** cfg.integer), 2.0 ** cfg.integer - step
    dense = [layer for layer in qat_model.encoder.layers if hasattr(layer, "kernel_quantizer")]
    assert [layer.name for layer in dense] == ["enc_dense0", "enc_dense1", "mu", "logvar"]
    for layer in dense:
        for var, quantizer in ((layer.kernel, layer.kernel_quantizer_internal),
                               (layer.bias, layer.bias_quantizer_internal)):
            q = np.asarray(quantizer(var))
            assert np.array_equal(q / step, np.round(q / step)), layer.name
            assert q.min() >= lo and q.max() <= hi, layer.name
            assert np.count_nonzero(q) > q.size // 4, layer.name   # not quantized away
    # hidden activations on the quantized_relu grid, inside [0, 2^act_integer)
    from tensorflow import keras

    probe = keras.Model(qat_model.encoder.input, qat_model.encoder.get_layer("enc_relu0").output)
    a = probe.predict(qat_model.scaling.values(synthetic_words(50, 9)), verbose=0)
    act_step = 2.0 ** -(cfg.act_bits - cfg.act_integer)
    assert np.array_equal(a / act_step, np.round(a / act_step))
    assert a.min() >= 0 and a.max() < 2.0 ** cfg.act_integer


@pytest.mark.parametrize("which", ["float", "qat"])
def test_save_load_round_trip(which, tmp_path, data, float_model, qat_model):
    model = float_model if which == "float" else qat_model
    model.save(tmp_path / which, extra={"training": {"note": "test"}})
    meta = json.loads((tmp_path / which / "model.json").read_text())
    for key in ("input_scaling", "quantization", "scores", "config", "architecture"):
        assert key in meta
    assert set(meta["scores"]) == {"axo", "rz", "kl"}
    assert meta["training"] == {"note": "test"}
    sc = meta["input_scaling"]
    assert len(sc["offset"]) == len(sc["shift"]) == N_FEATURES
    assert sc["input_type"] == "ap_fixed<10,8>" and sc["word_lsb"]["pt_gev"] == 0.5
    if which == "float":
        assert meta["quantization"] is None
    else:
        assert meta["config"]["bits"] == BITS
        assert meta["quantization"]["layers"]["mu"]["weight"] == f"ap_fixed<{BITS},1>"
        assert meta["quantization"]["input"] == sc["input_type"]
    loaded = AnomalyModel.load(tmp_path / which)
    assert loaded.scaling == model.scaling and loaded.config == model.config
    words = np.concatenate([data[1], data[2]])
    a, b = model.scores(words), loaded.scores(words)
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def test_load_errors(tmp_path, float_model):
    with pytest.raises(L1TInputError, match="no model.json"):
        AnomalyModel.load(tmp_path)
    float_model.save(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text('{"format": "l1t-vae-anomaly", "vers')
    with pytest.raises(L1TInputError, match="bad JSON"):
        AnomalyModel.load(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(L1TInputError, match="format"):
        AnomalyModel.load(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text(json.dumps({"format": "l1t-vae-anomaly",
                                                           "version": 2}))
    with pytest.raises(L1TInputError, match="config"):
        AnomalyModel.load(tmp_path / "m")


def test_loads_version_1_model(tmp_path, data, float_model):
    """A version-1 model.json (no reconstruction/angle_weight/spread fields) still loads, with the
    version-1 training settings recorded; its scores depend only on the saved bits."""
    float_model.save(tmp_path / "v1")
    path = tmp_path / "v1" / "model.json"
    meta = json.loads(path.read_text())
    meta["version"] = 1
    for key in ("reconstruction", "angle_weight", "qat_lr_scale"):
        del meta["config"][key]
    del meta["input_scaling"]["spread"]
    path.write_text(json.dumps(meta))
    loaded = AnomalyModel.load(tmp_path / "v1")
    assert loaded.config.reconstruction == "mean" and loaded.config.angle_weight == 1.0
    assert loaded.scaling.spread == "feature"
    assert loaded.scaling.offset == float_model.scaling.offset
    assert np.array_equal(loaded.scores(data[2])["axo"], float_model.scores(data[2])["axo"])
    path.write_text("[1, 2]")
    with pytest.raises(L1TInputError, match="one JSON object"):
        AnomalyModel.load(tmp_path / "v1")


def test_input_codes_by_hand():
    offset, shift = [0] * N_FEATURES, [0] * N_FEATURES
    offset[:4], shift[:4] = [10, 0, -3, 100], [3, 1, 0, 2]
    sc = InputScaling(tuple(offset), tuple(shift), width=10, frac=2)
    w = np.zeros((3, N_FEATURES), np.int64)
    w[:, :4] = [[1000, -5, 7, 99], [10, 5, 9000, 2200], [-9000, -2000, -600, 104]]
    c = sc.codes(w)
    assert c.dtype.kind == "i"
    # (1000-10)>>3 = 123; -5>>1 = -3 (floor); 7+3 = 10; (99-100)>>2 = -1 (floor)
    assert c[0, :4].tolist() == [123, -3, 10, -1]
    # 0>>3 = 0; 5>>1 = 2; 9003 saturates at 511; 2100>>2 = 525 saturates at 511
    assert c[1, :4].tolist() == [0, 2, 511, 511]
    # -9010>>3 = -1127 → -512; -1000 → -512; -597; 4>>2 = 1
    assert c[2, :4].tolist() == [-512, -512, -512, 1]
    assert np.array_equal(sc.values(w), (c / 4.0).astype(np.float32))
    assert sc.input_type == "ap_fixed<10,8>"
    assert InputScaling.from_dict(json.loads(json.dumps(sc.to_dict()))) == sc


@pytest.mark.parametrize("spread", ["object", "feature"])
def test_fitted_codes_are_saturated_shifts(spread):
    w = np.concatenate([synthetic_words(300, 4), synthetic_words(20, 5, True)])
    sc = InputScaling.fit(w, width=8, frac=2, spread=spread)
    w[0, 27] = 10 ** 6                                           # an overflowing jet pT word
    assert sc.spread == spread and all(isinstance(v, int) for v in sc.offset + sc.shift)
    c = sc.codes(w)
    assert c.dtype.kind == "i" and c.min() >= -128 and c.max() <= 127
    expect = np.clip((w - np.array(sc.offset)) >> np.array(sc.shift), -128, 127)
    assert np.array_equal(c, expect)
    assert c[0, 27] == 127
    i, j = 5, 30                                                 # one entry, by hand
    assert c[i, j] == max(min((int(w[i, j]) - sc.offset[j]) // 2 ** sc.shift[j], 127), -128)
    if spread == "object":                                       # one unit for all jet pT
        assert len({sc.shift[k] for k in range(27, 57, 3)}) == 1
    with pytest.raises(ValueError):
        InputScaling.fit(w, spread="nonsense")


@pytest.mark.parametrize("bits", [None, BITS])
def test_same_seed_same_weights(data, bits):
    cfg = VAEConfig(**{**TINY, "epochs": 3, "bits": bits})
    a, _ = train(data[0], cfg)
    b, _ = train(data[0], cfg)
    for wa, wb in zip(a.encoder.get_weights(), b.encoder.get_weights()):
        assert np.array_equal(wa, wb)
    if bits:
        return
    c, _ = train(data[0], VAEConfig(**{**TINY, "epochs": 3, "seed": 4}))
    assert not all(np.array_equal(x, y) for x, y in zip(a.encoder.get_weights(),
                                                        c.encoder.get_weights()))


def test_roc_counts_ties_as_one_half():
    from l1t.models.anomaly.evaluation import roc

    _, _, auc = roc(np.zeros(100), np.zeros(50))
    assert auc == pytest.approx(0.5)
    _, _, auc = roc(np.array([0.0, 1.0]), np.array([1.0, 2.0]))
    assert auc == pytest.approx(0.875)  # pairs: (0<1) 1, (0<2) 1, (1=1) 0.5, (1<2) 1
