"""A trained LAr energy net of any kind, saved as ``model.json`` + ``model.h5``.

The kinds (:data:`NETS`, registered by name): ``dense`` and ``cnn`` read a window of samples
around each crossing; ``rnn`` steps a cell once per crossing over the stream. Each kind says how
to train its deployable Keras net from sample streams and how to turn any implementation of that
net (``predict``: Keras or a firmware backend, fixed point in, outputs out) into the ET of every
channel and crossing, so software and firmware run the same reconstruction.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract, atomic_write

from . import cnn, dense, rnn
from .inputs import AFTER, BEFORE, ET_SCALE_GEV, INPUT_TYPE, WINDOW, window_energies

#: ``model.json`` of a LAr net
MODEL_CONTRACT = JsonContract("l1t-lar", 1, version_key="version")
MODEL_FILE = "model.h5"

#: ``predict(x (N, n_in) float64) -> list of (N, n_k) outputs``
Predict = Callable[[np.ndarray], list]


@dataclass(frozen=True)
class LArNet:
    """One kind of LAr net: its config class, trainer (streams → deployable Keras net), the
    firmware input type, and ``energies(predict, values, net, config) -> (channels, crossings)``
    GeV."""

    name: str
    config: type
    train: Callable[[np.ndarray, np.ndarray, Any], Any]
    input_type: str
    energies: Callable[[Predict, np.ndarray, Any, Any], np.ndarray]
    reads: str
    #: the deployable net's inputs (given the net) and outputs
    n_inputs: Callable[[Any], int]
    n_outputs: int


def _window_energies(predict: Predict, values: np.ndarray, net, cfg) -> np.ndarray:
    return window_energies(values, lambda x: predict(x)[0])


def _rnn_train(values, et, cfg: rnn.RNNConfig):
    return rnn.step_net(rnn.train(values, et, cfg), cfg.bits)


def _rnn_energies(predict: Predict, values: np.ndarray, net, cfg: rnn.RNNConfig) -> np.ndarray:
    return rnn.run(predict, values, rnn.hidden_of(net), cfg.delay)[0]


_WINDOW_READS = f"the window of samples k-{BEFORE} ... k+{AFTER} for the ET of crossing k"
NETS: dict[str, LArNet] = {
    "dense": LArNet("dense", dense.DenseConfig, dense.train, INPUT_TYPE, _window_energies,
                    _WINDOW_READS, lambda net: WINDOW, 1),
    "cnn": LArNet("cnn", cnn.CNNConfig, cnn.train, INPUT_TYPE, _window_energies,
                  _WINDOW_READS, lambda net: WINDOW, 1),
    "rnn": LArNet("rnn", rnn.RNNConfig, _rnn_train, rnn.STEP_INPUT_TYPE, _rnn_energies,
                  "[state h_{t-1}, sample t] per step, the state carried from crossing to "
                  "crossing; the ET of crossing k at step k + delay",
                  lambda net: rnn.hidden_of(net) + 1, 2),
}


def get_net(kind: str) -> LArNet:
    if kind not in NETS:
        raise L1TInputError("lar", f"unknown LAr net {kind!r} (known: {', '.join(NETS)})",
                            "kind")
    return NETS[kind]


def keras_predict(net) -> Predict:
    """``predict`` of a Keras net (float64 outputs; direct calls: the step loop makes many)."""
    def predict(x: np.ndarray) -> list:
        out = net(np.asarray(x, np.float32), training=False)
        return [np.asarray(o, np.float64) for o in (out if isinstance(out, list) else [out])]
    return predict


@dataclass
class LArModel:
    """A deployable LAr net (``net``: the Keras form the firmware converts) of kind ``kind``."""

    kind: str
    net: Any
    config: Any
    meta: dict = field(default_factory=dict)

    @property
    def input_type(self) -> str:
        return get_net(self.kind).input_type

    def energies(self, values: np.ndarray, predict: Predict | None = None) -> np.ndarray:
        """ET ``(channels, crossings)`` in GeV of sample streams ``values`` (the net inputs,
        :func:`~.inputs.sample_values`), with ``predict`` (default: the Keras net)."""
        return get_net(self.kind).energies(predict or keras_predict(self.net), values, self.net,
                                           self.config)

    def save(self, out_dir: str | Path, extra: dict | None = None) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / MODEL_FILE, lambda p: self.net.save(str(p), save_format="h5"))
        meta = {"kind": self.kind, "reads": get_net(self.kind).reads,
                "input": {"type": self.input_type, "meaning": "samples: (ADC - pedestal) / 2^12"},
                "output": {"meaning": f"ET / {ET_SCALE_GEV:g} GeV", "type": "ap_fixed<16,1>"},
                "config": asdict(self.config), **self.meta, **(extra or {})}
        self.meta = MODEL_CONTRACT.tag(meta)
        MODEL_CONTRACT.write(out / "model.json", self.meta)
        return out

    @classmethod
    def load(cls, model_dir: str | Path) -> "LArModel":
        d = Path(model_dir)
        path, meta = MODEL_CONTRACT.read_in(d, "model.json", "an l1t LAr model "
                                            "(l1t train lar)")
        kind = meta.get("kind")
        if kind not in NETS:
            raise L1TInputError(path, f"unknown LAr net {kind!r} (known: {', '.join(NETS)})",
                                "kind")
        spec = NETS[kind]
        try:
            raw = dict(meta["config"])
            if "hidden" in raw and isinstance(raw["hidden"], list):
                raw["hidden"] = tuple(raw["hidden"])
            cfg = spec.config(**raw)
        except (KeyError, TypeError, ValueError) as err:
            raise L1TInputError(path, f"missing or malformed config ({err})", "config") from None
        if meta.get("input", {}).get("type") != spec.input_type:
            raise L1TInputError(path, f"a {kind} net reads {spec.input_type}, the file says "
                                f"{meta.get('input', {}).get('type')!r}", "input.type")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from l1t.models.keras_file import load_keras_model

        net = load_keras_model(d / MODEL_FILE)
        outs = net.output_shape if isinstance(net.output_shape, list) else [net.output_shape]
        if int(net.input_shape[-1]) != spec.n_inputs(net) or outs[-1][-1] != 1 \
                or len(outs) != spec.n_outputs:
            raise L1TInputError(d / MODEL_FILE, f"the net maps {net.input_shape} to "
                                f"{net.output_shape}, not what a {kind} LAr net maps", "shape")
        return cls(kind, net, cfg, meta)
