"""The muon pT net: q/pT regressed from the track finder's integer words, trained
quantization-aware with QKeras and pruned, for the firmware.

Inputs (:data:`INPUTS`): the 22 track-finder words of :data:`l1t.datasets.muon.trackfinder.FEATURES`
other than φ (the system is symmetric in φ). Each word is scaled by a power of two, the way an
FPGA does it for free (wiring), into [−1, 1): a b-bit signed word by 2^(b−1), an unsigned one by
2^b; every value then lies on the grid of ``ap_fixed<11,1>`` (:data:`INPUT_TYPE`), exactly.

Output: y = q · (2 GeV) / pT, in [−1, 1) as an ``ap_fixed<16,1>`` (a ``quantized_bits(16, 0)``
output activation), so pT = 2 GeV / |y| and the charge is the sign of y; a 2¹⁵-entry reciprocal
table after the net would give the pT word in firmware (as the 1/pT of the Run-2 endcap BDT was
turned into pT by a table). The loss is the Huber loss on y (robust to the multiple-scattering
tails), each muon weighted by 1 / (|y| + y(100 GeV)) so that high-pT muons count by their relative
error (:func:`sample_weights`); the assignment then gets its threshold scale
(:class:`~l1t.datasets.muon.scaling.ThresholdScale`), fitted on held-out gun muons.

Training (:func:`train`): the float net first, then its QKeras twin
(:func:`l1t.models.qat.to_qkeras`) fine-tuned quantization-aware, then with ``sparsity`` the
kernels pruned by magnitude (:func:`l1t.models.pruning.prune_magnitude`) while fine-tuning.
Deterministic for a seed (TensorFlow's op determinism).

Saved as ``model.json`` (:data:`MODEL_CONTRACT`: inputs, types, threshold scale, training
figures) and ``model.h5``; :meth:`MuonPtModel.load` refuses a model whose inputs are not the
stored features.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract, atomic_write
from l1t.datasets.muon.scaling import ThresholdScale
from l1t.datasets.muon.trackfinder import FEATURES
from l1t.models.keras_file import load_keras_model

#: the words the net reads, in order
INPUTS: tuple[str, ...] = tuple(name for name in FEATURES if name != "tfPhi")
INPUT_FRAC = 10
INPUT_TYPE = f"ap_fixed<{INPUT_FRAC + 1},1>"
#: the output y = q · OUTPUT_GEV / pT
OUTPUT_GEV = 2.0
OUTPUT_BITS = 16
OUTPUT_TYPE = f"ap_fixed<{OUTPUT_BITS},1>"
MAX_PT_GEV = 1000.0          # pT assigned to |y| below 2 GeV / 1 TeV (the gun's upper edge)

MODEL_FORMAT = "l1t-muon-pt"
MODEL_CONTRACT = JsonContract(MODEL_FORMAT, 1, version_key="version")
MODEL_FILE = "model.h5"


def input_shifts(names: tuple[str, ...] = INPUTS) -> np.ndarray:
    """Per input, the power of two its word is divided by (its width, less one if signed)."""
    return np.array([FEATURES[n][0] - (1 if FEATURES[n][1] else 0) for n in names], np.int64)


def input_values(features: dict[str, np.ndarray]) -> np.ndarray:
    """Net inputs ``(N, 22)`` float32, exactly on the ``ap_fixed<11,1>`` grid, from the words."""
    missing = [n for n in INPUTS if n not in features]
    if missing:
        raise L1TInputError("L1Mu", f"the muon pT net reads the track-finder words; missing "
                            f"{', '.join(missing)}", missing[0])
    w = np.stack([np.asarray(features[n], np.int64) for n in INPUTS], axis=1)
    return np.ldexp(w.astype(np.float64), -input_shifts()).astype(np.float32)


def target(true_pt: np.ndarray, charge: np.ndarray) -> np.ndarray:
    """y = q · 2 GeV / pT (float32) of gun muons."""
    return (np.sign(charge) * OUTPUT_GEV / np.asarray(true_pt, np.float64)).astype(np.float32)


def pt_of(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pT (GeV, ≤ :data:`MAX_PT_GEV`) and charge (±1) of net outputs y ``(N,)``."""
    y = np.asarray(y, np.float64).reshape(-1)
    pt = OUTPUT_GEV / np.maximum(np.abs(y), OUTPUT_GEV / MAX_PT_GEV)
    return pt, np.where(y >= 0, 1, -1).astype(np.int32)


@dataclass
class NetConfig:
    """Architecture and training of the net."""

    hidden: tuple[int, ...] = (64, 32)
    bits: int = 8                 # weights and biases: quantized_bits(bits, integer)
    integer: int = 1
    act_bits: int = 12            # hidden activations: quantized_relu(act_bits, act_integer)
    act_integer: int = 3
    sparsity: float = 0.0         # fraction of kernel weights pruned (magnitude)
    epochs: int = 30              # float epochs; QAT and pruning fine-tune for as many
    batch_size: int = 512
    learning_rate: float = 2e-3
    huber_delta: float = 0.02     # in y: ~ the resolution of a 20 GeV muon's y (0.1 · 0.2)
    seed: int = 1

    def check(self) -> "NetConfig":
        if not 2 <= self.bits <= 16 or not 0 <= self.integer < self.bits:
            raise L1TInputError("muon-pt", f"--bits must be 2..16 (integer bits below it), got "
                                f"{self.bits}", "bits")
        if not 0.0 <= self.sparsity < 1.0:
            raise L1TInputError("muon-pt", f"--sparsity must be in [0, 1), got {self.sparsity}",
                                "sparsity")
        return self


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def build_float(cfg: NetConfig):
    """The float Keras net (N, 22) → (N, 1)."""
    _tf()
    from tensorflow import keras

    keras.utils.set_random_seed(cfg.seed)
    x = inp = keras.Input((len(INPUTS),), name="inputs")
    for i, units in enumerate(cfg.hidden):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i}")(x)
    out = keras.layers.Dense(1, name="q_over_pt")(x)
    return keras.Model(inp, out, name="muon_pt")


@dataclass
class MuonPtModel:
    """A trained net with its threshold scale and metadata."""

    net: object
    config: NetConfig
    scale: ThresholdScale | None = None
    meta: dict = field(default_factory=dict)

    def outputs(self, features: dict[str, np.ndarray], batch_size: int = 16384) -> np.ndarray:
        """The Keras net's y ``(N,)`` (float64)."""
        x = input_values(features)
        if not len(x):
            return np.zeros(0)
        return np.asarray(self.net.predict(x, batch_size=batch_size, verbose=0),
                          np.float64).reshape(-1)

    def assign(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Threshold-scaled pT (GeV) and charge of outputs ``y`` (software or firmware)."""
        pt, charge = pt_of(y)
        return (self.scale.apply(pt) if self.scale is not None else pt), charge

    def save(self, out_dir: str | Path, extra: dict | None = None) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / MODEL_FILE, lambda p: self.net.save(str(p), save_format="h5"))
        meta = {"inputs": {"features": list(INPUTS),
                           "shifts": [int(s) for s in input_shifts()],
                           "type": INPUT_TYPE},
                "output": {"name": "q_over_pt", "meaning": f"q * {OUTPUT_GEV:g} GeV / pT",
                           "type": OUTPUT_TYPE},
                "config": asdict(self.config),
                "threshold_scale": None if self.scale is None else self.scale.to_dict(),
                **self.meta, **(extra or {})}
        self.meta = MODEL_CONTRACT.tag(meta)
        MODEL_CONTRACT.write(out / "model.json", self.meta)
        return out

    @classmethod
    def load(cls, model_dir: str | Path) -> "MuonPtModel":
        d = Path(model_dir)
        path, meta = MODEL_CONTRACT.read_in(d, "model.json", "an l1t muon pT model "
                                            "(l1t train muon-pt)")
        try:
            names = tuple(meta["inputs"]["features"])
            shifts = [int(s) for s in meta["inputs"]["shifts"]]
            cfg = NetConfig(**{**meta["config"], "hidden": tuple(meta["config"]["hidden"])})
            scale = (None if meta.get("threshold_scale") is None
                     else ThresholdScale.from_dict(meta["threshold_scale"], str(path)))
        except (KeyError, TypeError, ValueError) as err:
            raise L1TInputError(path, f"missing or malformed field ({err})", "inputs") from None
        if names != INPUTS:
            unknown = [n for n in names if n not in FEATURES]
            raise L1TInputError(path, "the model reads " + (
                f"{', '.join(unknown)}, which the track finder does not store" if unknown else
                f"{len(names)} words in another order than the stored features "
                f"({', '.join(INPUTS)})"), "inputs.features")
        if shifts != [int(s) for s in input_shifts()]:
            raise L1TInputError(path, "the input scaling differs from the stored words' widths",
                                "inputs.shifts")
        _tf()
        net = load_keras_model(d / MODEL_FILE)
        if tuple(net.input_shape) != (None, len(INPUTS)) or tuple(net.output_shape) != (None, 1):
            raise L1TInputError(d / MODEL_FILE, f"the net maps {net.input_shape} to "
                                f"{net.output_shape}; a muon pT net maps (None, {len(INPUTS)}) "
                                "to (None, 1)", "input_shape")
        return cls(net, cfg, scale, meta)


#: the loss weighs a muon by 1 / (|y| + WEIGHT_Y0): a trigger threshold needs the relative
#: precision of pT, which an unweighted loss on y would give up at high pT (small |y|) for the
#: low-pT muons' large absolute errors; WEIGHT_Y0 is y at 100 GeV, where the weight levels off
WEIGHT_Y0 = OUTPUT_GEV / 100.0


def sample_weights(y: np.ndarray) -> np.ndarray:
    """Loss weights ``(N,)`` (mean 1) of targets y."""
    w = 1.0 / (np.abs(np.asarray(y, np.float64)) + WEIGHT_Y0)
    return (w / w.mean()).astype(np.float32)


def _fit(model, x, y, xv, yv, cfg: NetConfig, lr: float, callbacks=()) -> dict:
    from tensorflow import keras

    model.compile(optimizer=keras.optimizers.Adam(lr), loss=keras.losses.Huber(cfg.huber_delta))
    hist = model.fit(x, y, sample_weight=sample_weights(y),
                     validation_data=(xv, yv, sample_weights(yv)), epochs=cfg.epochs,
                     batch_size=cfg.batch_size, shuffle=True, verbose=0,
                     callbacks=list(callbacks))
    return {k: [round(float(v), 7) for v in vals] for k, vals in hist.history.items()}


def train(x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray,
          cfg: NetConfig) -> tuple[object, dict]:
    """The quantized (and pruned) net trained on inputs ``x`` and targets ``y`` (validation
    ``xv``, ``yv``); returns it with the loss history per stage."""
    tf = _tf()
    tf.config.experimental.enable_op_determinism()
    from l1t.models.pruning import overall_sparsity, prune_magnitude, training_steps
    from l1t.models.qat import to_qkeras

    net = build_float(cfg)
    history = {"float": _fit(net, x, y, xv, yv, cfg, cfg.learning_rate)}
    qnet = to_qkeras(net, cfg.bits, cfg.integer, cfg.act_bits, cfg.act_integer,
                     per_layer={"q_over_pt": {"quantize_linear": True, "act_bits": OUTPUT_BITS,
                                              "act_integer": 0}})
    history["qat"] = _fit(qnet, x, y, xv, yv, cfg, cfg.learning_rate / 4)
    if cfg.sparsity > 0:
        # prune every 10 steps up to half of the fine-tuning (fewer steps: more often)
        steps = training_steps(len(x), cfg.batch_size, cfg.epochs)
        frequency = max(1, min(10, steps // 4))
        end = max(frequency, (steps // 2) // frequency * frequency)
        setup = prune_magnitude(qnet, cfg.sparsity, end, frequency=frequency)
        history["pruning"] = _fit(setup.model, x, y, xv, yv, cfg, cfg.learning_rate / 4,
                                  setup.callbacks)
        qnet = setup.strip()
        history["sparsity"] = round(float(overall_sparsity(qnet)), 4)
    return qnet, history
