"""Deployed models as the FPGA computes them: the outputs the trigger decides on.

:class:`DeployedAnomalyModel` loads a saved l1t anomaly model (``l1t.models.anomaly.vae.AnomalyModel``),
converts its encoder to the firmware IR and evaluates it with a bit-exact backend (the emulator
by default: the same bits as hls4ml's C simulation and the da4ml RTL, far faster). The inputs are
the integer words the firmware receives, scaled as in :mod:`l1t.models.anomaly.inputs`; the latent
μ and log σ² are exactly the firmware's fixed-point values, and the scores
(:func:`l1t.models.anomaly.vae.scores_from_latent`) are computed from them in float64 — exact for ``axo``
(a sum of squares of short fixed-point numbers), to float64 precision for ``rz``/``kl``.

``l1t rates`` and the stream decide with these scores (``l1t.trigger.evaluate.anomaly_scores``), so a
threshold tuned on them is a firmware threshold.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .backend import Backend, get_backend
from .ir import FirmwareModel, from_anomaly_model


class DeployedAnomalyModel:
    """An anomaly model's encoder on a firmware backend.

    ``model_dir``: a directory written by ``l1t train vae``; ``backend``: a registered backend
    name (``"emulator"``; ``"hls4ml"`` and ``"rtl"`` compile a project first).
    """

    def __init__(self, model_dir: str | Path, backend: str = "emulator",
                 workdir: str | Path | None = None) -> None:
        from l1t.models.anomaly.vae import AnomalyModel

        self.model_dir = Path(model_dir)
        self.model = AnomalyModel.load(self.model_dir)
        # Without a workdir: a temporary one, removed with this object (or at exit).
        self._tmp = None if workdir is not None else tempfile.TemporaryDirectory(
            prefix=f"l1t-deployed-{os.getpid()}-")
        self.workdir = Path(workdir) if workdir is not None else Path(self._tmp.name)
        self.fw: FirmwareModel = from_anomaly_model(
            self.model, output_dir=str(self.workdir / "hls4ml_prj"))
        self.backend: Backend = get_backend(backend)
        self.backend.compile(self.fw, str(self.workdir / f"{backend}_prj"))

    def inputs(self, words: np.ndarray) -> np.ndarray:
        """Encoder inputs ``(N, 57)`` float64 on the input grid, from integer words."""
        return self.model.scaling.values(words)

    def latent(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Firmware μ and log σ², each float64 ``(N, latent)`` on their output grids."""
        mu, logvar = self.backend.predict(self.inputs(words))
        return mu, logvar

    def software_latent(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The Keras model's μ and log σ² on the same inputs (float64)."""
        mu, logvar = self.model.latent(words)
        return np.asarray(mu, np.float64), np.asarray(logvar, np.float64)

    def scores(self, words: np.ndarray) -> dict[str, np.ndarray]:
        """Firmware anomaly scores ``(N,)`` of integer words ``(N, 57)``."""
        from l1t.models.anomaly.vae import scores_from_latent

        return scores_from_latent(*self.latent(words))


_CACHE: dict[tuple[str, str], DeployedAnomalyModel] = {}


def deployed_anomaly_model(model_dir: str | Path, backend: str = "emulator") \
        -> DeployedAnomalyModel:
    """:class:`DeployedAnomalyModel`, converted once per process and model directory."""
    key = (str(Path(model_dir).resolve()), backend)
    if key not in _CACHE:
        _CACHE[key] = DeployedAnomalyModel(model_dir, backend)
    return _CACHE[key]
