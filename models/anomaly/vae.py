"""The VAE anomaly detector: a Dense VAE trained on background, deployed as its encoder.

Encoder ``57 → 28 → 15 → (μ, log σ²)`` with an 8-dimensional latent space (the AXOL1TL v4
shape), decoder mirrored. Loss per event: the squared reconstruction error of the scaled inputs
*summed* over the 57 features (η and φ weighted by ``angle_weight``) plus ``beta`` × the KL
divergence to N(0, 1) (summed over the latent dimensions). Anomaly scores from the encoder alone
(what runs in firmware):

- ``axo``: Σ μ²  (AXOL1TL),
- ``rz``:  Σ μ² / σ²  (the R_z of the lecture on ML in the L1 trigger that l1t follows),
- ``kl``:  ½ Σ (μ² + σ² − 1 − log σ²)  (the KL term).

With ``bits`` set the encoder is quantization-aware (QKeras): weights and biases
``quantized_bits(bits, integer, alpha=1)`` (= ``ap_fixed<bits, integer + 1>``), hidden activations
``quantized_relu(act_bits, act_integer)``; μ and log σ² stay un-quantized accumulator outputs.

Why the loss is summed, not averaged: with the per-feature *mean* squared error (model version 1)
the reconstruction term was 57× smaller than the summed one, so the KL term effectively weighed
57 × ``beta``: it won, the posterior collapsed (μ ≈ 0, σ ≈ 1 for every crossing, AUCs ≈ 0.5) and
the 6-bit encoder (then ``ap_fixed<6,3>`` weights, step 1/8) put μ at exactly 0 for 90–99.7% of
crossings, background and signal alike: tied scores, which a ROC that breaks ties
background-first reads as an "inverted" AUC of ~0.1. Defaults since version 2: summed error with
η/φ weighted ¼ (at μ = 200 the angles are mostly pileup-jet noise), ``beta`` 1, weights
``ap_fixed<bits,1>`` (trained weights stay within ±1), and QAT fine-tuning at a tenth of the
learning rate, so that the quantized encoder stays near the float optimum instead of re-training.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract, atomic_write
from l1t.models.keras_file import load_keras_model

from .inputs import N_FEATURES, InputScaling

MODEL_FORMAT = "l1t-vae-anomaly"
MODEL_VERSION = 2
#: ``model.json``: reads versions 1 (before the reconstruction/angle-weight settings) and 2.
MODEL_CONTRACT = JsonContract(MODEL_FORMAT, MODEL_VERSION, oldest=1, version_key="version")
SCORES = {"axo": "sum(mu^2) (AXOL1TL)", "rz": "sum(mu^2 / sigma^2) (R_z)",
          "kl": "0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2)"}


@dataclass
class VAEConfig:
    hidden: tuple[int, ...] = (28, 15)
    latent: int = 8
    beta: float = 1.0
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    seed: int = 1
    bits: int | None = None          # QAT encoder weights (None: float)
    integer: int = 0                 # integer bits of quantized_bits (ap_fixed<bits, integer+1>)
    act_bits: int = 8
    act_integer: int = 3
    sparsity: float = 0.0            # unstructured magnitude pruning of the encoder
    reconstruction: str = "sum"      # squared error "sum"med or averaged ("mean") over features
    angle_weight: float = 0.25       # weight of the η and φ features in the reconstruction error
    qat_lr_scale: float = 0.1        # QAT fine-tuning learning rate, relative to learning_rate
    inputs: str = "calo"             # the 57 inputs' objects: calo or phase2 (datasets.adc)


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def build(cfg: VAEConfig):
    """Return ``(vae, encoder)`` Keras models; the encoder maps (N, 57) to [μ, log σ²]."""
    tf = _tf()
    from tensorflow import keras

    keras.utils.set_random_seed(cfg.seed)
    x_in = keras.Input((N_FEATURES,), name="inputs")
    h = x_in
    if cfg.bits:
        from qkeras import QActivation, QDense, quantized_bits, quantized_relu

        q = quantized_bits(cfg.bits, cfg.integer, alpha=1)
        for i, units in enumerate(cfg.hidden):
            h = QDense(units, kernel_quantizer=q, bias_quantizer=q, name=f"enc_dense{i}")(h)
            h = QActivation(quantized_relu(cfg.act_bits, cfg.act_integer), name=f"enc_relu{i}")(h)
        mu = QDense(cfg.latent, kernel_quantizer=q, bias_quantizer=q, name="mu")(h)
        logvar = QDense(cfg.latent, kernel_quantizer=q, bias_quantizer=q, name="logvar")(h)
    else:
        for i, units in enumerate(cfg.hidden):
            h = keras.layers.Dense(units, name=f"enc_dense{i}")(h)
            h = keras.layers.Activation("relu", name=f"enc_relu{i}")(h)
        mu = keras.layers.Dense(cfg.latent, name="mu")(h)
        logvar = keras.layers.Dense(cfg.latent, name="logvar")(h)
    encoder = keras.Model(x_in, [mu, logvar], name="encoder")

    class Sampling(keras.layers.Layer):
        def call(self, inputs):
            m, lv = inputs
            eps = tf.random.normal(tf.shape(m), seed=cfg.seed)
            kl = 0.5 * tf.reduce_sum(tf.square(m) + tf.exp(lv) - 1.0 - lv, axis=1)
            self.add_loss(cfg.beta * tf.reduce_mean(kl))
            return m + tf.exp(0.5 * lv) * eps

    z = Sampling(name="sampling")([mu, logvar])
    d = z
    for i, units in enumerate(reversed(cfg.hidden)):
        d = keras.layers.Dense(units, activation="relu", name=f"dec_dense{i}")(d)
    out = keras.layers.Dense(N_FEATURES, name="reconstruction")(d)
    vae = keras.Model(x_in, out, name="vae")
    weights = tf.constant(np.tile([1.0, cfg.angle_weight, cfg.angle_weight], N_FEATURES // 3),
                          tf.float32)
    if cfg.reconstruction in ("sum", "mean"):
        norm = 1.0 if cfg.reconstruction == "sum" else 1.0 / N_FEATURES

        def recon(y, p):
            return norm * tf.reduce_sum(weights * tf.square(y - p), axis=-1)
    else:
        raise ValueError(f"reconstruction must be 'sum' or 'mean', not {cfg.reconstruction!r}")
    lr = cfg.learning_rate * (cfg.qat_lr_scale if cfg.bits else 1.0)
    vae.compile(optimizer=keras.optimizers.Adam(lr), loss=recon)
    return vae, encoder


def scores_from_latent(mu: np.ndarray, logvar: np.ndarray) -> dict[str, np.ndarray]:
    """The three anomaly scores, each ``(N,)`` float64."""
    mu = np.asarray(mu, np.float64)
    lv = np.asarray(logvar, np.float64)
    return {"axo": (mu**2).sum(axis=1), "rz": (mu**2 * np.exp(-lv)).sum(axis=1),
            "kl": 0.5 * (mu**2 + np.exp(lv) - 1.0 - lv).sum(axis=1)}


@dataclass
class AnomalyModel:
    """A trained anomaly encoder with its input scaling and metadata (``model.json``)."""

    encoder: object
    scaling: InputScaling
    config: VAEConfig
    meta: dict = field(default_factory=dict)

    def latent(self, words: np.ndarray, batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        mu, lv = self.encoder.predict(self.scaling.values(words), batch_size=batch_size, verbose=0)
        return mu, lv

    def scores(self, words: np.ndarray) -> dict[str, np.ndarray]:
        """Anomaly scores of integer words ``(N, 57)`` (see :mod:`l1t.models.anomaly.inputs`)."""
        return scores_from_latent(*self.latent(words))

    @property
    def quantization(self) -> dict | None:
        if not self.config.bits:
            return None
        w = f"ap_fixed<{self.config.bits},{self.config.integer + 1}>"
        a = f"ap_ufixed<{self.config.act_bits},{self.config.act_integer}>"
        layers = {f"enc_dense{i}": {"weight": w, "bias": w, "activation": a}
                  for i in range(len(self.config.hidden))}
        layers.update({n: {"weight": w, "bias": w, "activation": None} for n in ("mu", "logvar")})
        return {"input": self.scaling.input_type, "layers": layers}

    def save(self, out_dir: str | Path, extra: dict | None = None) -> Path:
        """Write ``encoder.h5`` and ``model.json`` into ``out_dir`` (each atomically)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "encoder.h5", lambda p: self.encoder.save(str(p), save_format="h5"))
        meta = {"architecture": {"inputs": N_FEATURES, "hidden": list(self.config.hidden),
                                 "latent": self.config.latent},
                "config": asdict(self.config), "quantization": self.quantization,
                "input_scaling": self.scaling.to_dict(), "scores": SCORES,
                "default_score": "axo", **self.meta, **(extra or {})}
        self.meta = MODEL_CONTRACT.tag(meta)
        MODEL_CONTRACT.write(out / "model.json", self.meta)
        return out

    @classmethod
    def load(cls, model_dir: str | Path) -> "AnomalyModel":
        """Load a saved model; a missing or malformed file is an :class:`L1TInputError`."""
        d = Path(model_dir)
        path, meta = MODEL_CONTRACT.read_in(d, "model.json", "an l1t anomaly model "
                                            "(model.json + encoder.h5; l1t train vae)")
        try:
            old = ({"reconstruction": "mean", "angle_weight": 1.0, "qat_lr_scale": 1.0}
                   if meta["version"] < 2 else {})          # version-1 training defaults
            cfg = VAEConfig(**{**old, **meta["config"], "hidden": tuple(meta["config"]["hidden"])})
            scaling = InputScaling.from_dict(meta["input_scaling"])
        except (KeyError, TypeError, ValueError) as err:
            raise L1TInputError(path, f"missing or malformed field ({err})", "config") from None
        from l1t.datasets.adc import OBJECT_SOURCES

        if cfg.inputs not in OBJECT_SOURCES:
            raise L1TInputError(path, f"unknown inputs {cfg.inputs!r} (known: "
                                f"{', '.join(OBJECT_SOURCES)})", "config.inputs")
        for key in ("offset", "shift"):
            if len(getattr(scaling, key)) != N_FEATURES:
                raise L1TInputError(path, f"input scaling has {len(getattr(scaling, key))} "
                                    f"{key} values, the encoder reads {N_FEATURES} features",
                                    f"input_scaling.{key}")
        _tf()
        h5 = d / "encoder.h5"
        encoder = load_keras_model(h5)
        shape = tuple(encoder.input_shape) if not isinstance(encoder.input_shape, list) else None
        if shape != (None, N_FEATURES) or len(encoder.outputs) != 2:
            raise L1TInputError(h5, f"the encoder maps {encoder.input_shape} to "
                                f"{len(encoder.outputs)} output(s); an anomaly encoder maps "
                                f"(None, {N_FEATURES}) to [mu, log sigma^2]", "input_shape")
        return cls(encoder, scaling, cfg, meta)


def train(train_words: np.ndarray, cfg: VAEConfig, val_words: np.ndarray | None = None,
          scaling: InputScaling | None = None, verbose: int = 0) -> tuple[AnomalyModel, dict]:
    """Train a VAE on background words ``(N, 57)``; returns the model and the loss history.

    Float first; with ``cfg.bits`` the quantized encoder starts from the float weights and the
    whole VAE is fine-tuned (quantization-aware) for the same number of epochs, at
    ``cfg.qat_lr_scale`` × the learning rate. With
    ``cfg.sparsity`` the encoder's Dense kernels are pruned by magnitude and kept pruned.
    """
    tf = _tf()
    tf.config.experimental.enable_op_determinism()
    scaling = scaling or InputScaling.fit(train_words)
    x = scaling.values(train_words)
    xv = scaling.values(val_words) if val_words is not None else None
    float_cfg = VAEConfig(**{**asdict(cfg), "bits": None})
    vae, encoder = build(float_cfg)
    history = _fit(vae, x, xv, cfg, verbose)
    if cfg.bits:
        qvae, qenc = build(cfg)
        for layer in qvae.layers:
            if layer.get_weights():
                layer.set_weights(vae.get_layer(layer.name).get_weights())
        qhist = _fit(qvae, x, xv, cfg, verbose)
        history = {"float": history, "qat": qhist}
        vae, encoder = qvae, qenc
    if cfg.sparsity > 0:
        history["pruning"] = _prune_encoder(vae, encoder, x, xv, cfg, verbose)
    return AnomalyModel(encoder, scaling, cfg), history


def _fit(vae, x, xv, cfg: VAEConfig, verbose: int, callbacks=()) -> dict:
    hist = vae.fit(x, x, validation_data=None if xv is None else (xv, xv), epochs=cfg.epochs,
                   batch_size=cfg.batch_size, shuffle=True, verbose=verbose,
                   callbacks=list(callbacks))
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def _prune_encoder(vae, encoder, x, xv, cfg: VAEConfig, verbose: int) -> dict:
    """Magnitude pruning of the encoder kernels to ``cfg.sparsity`` (one-shot, per layer), the
    masks kept while the VAE is fine-tuned (:class:`l1t.models.pruning.MaskCallback`)."""
    from ..pruning import MaskCallback, overall_sparsity

    masks = {}
    for layer in encoder.layers:
        if getattr(layer, "kernel", None) is None:
            continue
        k = np.abs(layer.get_weights()[0])
        masks[layer.name] = (k > np.quantile(k, cfg.sparsity), None)
    keep = MaskCallback(vae, masks)
    keep.apply()
    hist = _fit(vae, x, xv, VAEConfig(**{**asdict(cfg), "epochs": max(cfg.epochs // 3, 1)}),
                verbose, [keep])
    hist["sparsity"] = overall_sparsity(encoder)
    return hist
