"""Deployed models as the FPGA computes them: the outputs the trigger decides on (the kinds are
registered in :mod:`l1t.firmware.deployable`; :func:`~l1t.firmware.deployable.deployed` loads any).

:class:`DeployedAnomalyModel` loads a saved l1t anomaly model (``l1t.models.anomaly.vae.AnomalyModel``),
converts its encoder to the firmware IR and evaluates it with a bit-exact backend (the emulator
by default: the same bits as hls4ml's C simulation and the da4ml RTL, far faster). The inputs are
the integer words the firmware receives, scaled as in :mod:`l1t.models.anomaly.inputs`; the latent
μ and log σ² are exactly the firmware's fixed-point values, and the scores
(:func:`l1t.models.anomaly.vae.scores_from_latent`) are computed from them in float64 — exact for ``axo``
(a sum of squares of short fixed-point numbers), to float64 precision for ``rz``/``kl``.

``l1t rates`` and the stream decide with these scores (``l1t.trigger.evaluate.anomaly_scores``), so a
threshold tuned on them is a firmware threshold.

:class:`DeployedMuonPt` does the same for a saved muon pT net
(``l1t.models.muon.nn.MuonPtModel``): the track-finder words of each L1 muon in, the firmware's
y = q · 2 GeV / pT out, turned into the threshold-scaled pT word (0.5 GeV, 9 bits, as the
detector's ``L1Mu.pt``) and the charge that replace the lookup table's.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError

from .backend import Backend, get_backend
from .deployable import Evaluation
from .ir import FirmwareModel, from_anomaly_model, from_keras


def _workdir(workdir: str | Path | None):
    """(path, handle): ``workdir``, or a temporary directory removed with the handle."""
    if workdir is not None:
        return Path(workdir), None
    tmp = tempfile.TemporaryDirectory(prefix=f"l1t-deployed-{os.getpid()}-")
    return Path(tmp.name), tmp


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
        self.workdir, self._tmp = _workdir(workdir)
        self.fw: FirmwareModel = from_anomaly_model(
            self.model, output_dir=str(self.workdir / "hls4ml_prj"))
        self.output_names = list(self.fw.outputs)
        self.output_types = list(self.fw.output_types)
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

    def software(self, events) -> Evaluation:
        """Keras scores and latent of schema events."""
        from l1t.models.anomaly.inputs import event_words
        from l1t.models.anomaly.vae import scores_from_latent

        raw = list(self.software_latent(event_words(events, self.model.config.inputs)))
        return Evaluation(scores_from_latent(*raw), raw)

    def firmware(self, events) -> Evaluation:
        """Firmware scores and latent of schema events."""
        from l1t.models.anomaly.inputs import event_words
        from l1t.models.anomaly.vae import scores_from_latent

        raw = list(self.latent(event_words(events, self.model.config.inputs)))
        return Evaluation(scores_from_latent(*raw), raw)


class DeployedMuonPt:
    """A muon pT net on a firmware backend (``model_dir``: written by ``l1t train muon-pt``)."""

    def __init__(self, model_dir: str | Path, backend: str = "emulator",
                 workdir: str | Path | None = None) -> None:
        from l1t.models.muon.nn import INPUT_TYPE, MuonPtModel

        self.model_dir = Path(model_dir)
        self.model = MuonPtModel.load(self.model_dir)
        self.workdir, self._tmp = _workdir(workdir)
        self.fw: FirmwareModel = from_keras(self.model.net, INPUT_TYPE,
                                            output_dir=str(self.workdir / "hls4ml_prj"))
        self.output_names = list(self.fw.outputs)
        self.output_types = list(self.fw.output_types)
        self.backend: Backend = get_backend(backend)
        self.backend.compile(self.fw, str(self.workdir / f"{backend}_prj"))

    def outputs(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Firmware y ``(M,)`` (float64 on the ``ap_fixed<16,1>`` grid) of M candidates' words."""
        from l1t.models.muon.nn import input_values

        x = input_values(features)
        if not len(x):
            return np.zeros(0)
        return np.asarray(self.backend.predict(x.astype(np.float64))[0], np.float64).reshape(-1)

    def words(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The L1Mu pT (GeV, a 9-bit word of 0.5 GeV, threshold-scaled) and charge of outputs y."""
        from l1t.datasets.detector.muons import pt_word
        from l1t.datasets.detector.objects import PT_LSB

        pt, charge = self.model.assign(y)
        return pt_word(pt) * PT_LSB, charge.astype(np.float64)

    def _evaluation(self, y: np.ndarray) -> Evaluation:
        pt, charge = self.words(y)
        return Evaluation({"pt": pt, "charge": charge}, [y.reshape(-1, 1)])

    def software(self, events) -> Evaluation:
        """The Keras net's assignment of every L1 muon of schema events (flat, events' order)."""
        return self._evaluation(self.model.outputs(muon_features(events)))

    def firmware(self, events) -> Evaluation:
        """The firmware's assignment of every L1 muon of schema events (flat, events' order)."""
        return self._evaluation(self.outputs(muon_features(events)))


def muon_features(events) -> dict[str, np.ndarray]:
    """The track-finder words (``tf*``) of every L1 muon of schema events, flat."""
    import awkward as ak

    from l1t.models.muon.nn import INPUTS

    mu = events.L1Mu
    missing = [n for n in INPUTS if n not in ak.fields(mu)]
    if missing:
        raise L1TInputError("L1Mu", "these events carry no track-finder words (from another "
                            f"detector?): {', '.join(missing)} missing", f"L1Mu.{missing[0]}")
    return {n: ak.to_numpy(ak.flatten(mu[n])) for n in INPUTS}


def deployed_anomaly_model(model_dir: str | Path, backend: str = "emulator") \
        -> DeployedAnomalyModel:
    """:class:`DeployedAnomalyModel`, converted once per process and model directory."""
    from .deployable import deployed

    model = deployed(model_dir, backend)
    if not isinstance(model, DeployedAnomalyModel):
        raise L1TInputError(model_dir, "not an anomaly model (l1t train vae)", "format")
    return model
