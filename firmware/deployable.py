"""Deployable models, registered by kind: what each reads, what it gives the trigger, its firmware
and its pipeline stage.

A kind's output is one of three things:

- :class:`Scores`, which the menu cuts on: a condition key named after the kind
  (``anomaly: [{model: DIR, score: axo, min: 150}]``);
- :class:`Replaces`, a field of an L1 collection the model computes instead of the detector
  (the muon pT net: ``L1Mu.pt`` and ``L1Mu.charge``). A menu names such models under its top-level
  ``assign:``; every leg on that collection then reads the model's firmware value;
- :class:`Energies`, what a subsystem measures before any object is built (the LAr nets: the EM
  tower ET of the calorimeter trigger); a production takes them when it is generated.

A model directory says its kind through the ``format`` of its ``model.json``
(:func:`kind_of`). :func:`deployed` gives the model on a firmware backend (the bit-exact
emulator by default), converted once per process; its :meth:`Deployed.software` and
:meth:`Deployed.firmware` return the same :class:`Evaluation` for Keras and for the firmware, so
``l1t rates``, ``l1t validate`` and the stream treat every kind alike. A new kind is one
:func:`register_deployable` call below plus its model module and its deployed class.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.models.fixedpoint import FixedType

from .ir import FirmwareModel


@dataclass(frozen=True)
class Scores:
    """Per-crossing scores the menu cuts on: their names, the default one."""

    names: tuple[str, ...]
    default: str


@dataclass(frozen=True)
class Replaces:
    """Fields of an L1 collection the model's output replaces; ``leg_object`` is the menu object
    whose legs read them (``muon`` for ``L1Mu``)."""

    collection: str
    fields: tuple[str, ...]
    leg_object: str


@dataclass(frozen=True)
class Energies:
    """Energies per channel and crossing (GeV) that a subsystem reads instead of its ideal
    measurement: the LAr nets give the calorimeter trigger its EM tower ET. Nothing in a menu
    cuts on or assigns them; a production takes them (``l1t generate --lar``)."""

    subsystem: str
    unit: str = "GeV"


@dataclass
class Evaluation:
    """A chunk of N crossings through a deployed model, in software or in firmware.

    ``values``: what the trigger reads, float64 each: per crossing ``(N,)`` for :class:`Scores`,
    per object of the collection ``(M,)`` (flat, in the events' order) for :class:`Replaces`;
    ``raw``: the network outputs, one ``(rows, n_k)`` float64 array per output (firmware values
    lie on the output types' grids).
    """

    values: dict[str, np.ndarray]
    raw: list[np.ndarray]


class Deployed(Protocol):
    """A model of some kind on a firmware backend."""

    fw: FirmwareModel
    output_names: list[str]
    output_types: list[FixedType]

    def software(self, events) -> Evaluation: ...

    def firmware(self, events) -> Evaluation: ...


@dataclass(frozen=True)
class DeployableKind:
    """One kind of deployable model.

    ``model_format``: the ``format`` of its ``model.json``; ``inputs``: what it reads (for
    messages and docs); ``stage``: the pipeline stage its ``firmware.json`` feeds;
    ``net(model_dir)``: its Keras net and input type (what ``l1t firmware check`` converts);
    ``deploy(model_dir, backend)``: a :class:`Deployed`; ``figures(model_dir, report)``
    (optional): hardware figures of the kind beyond latency and resources, added to its
    firmware report (the LAr nets: the recurrent loop, channels per device).
    """

    name: str
    model_format: str
    inputs: str
    output: Scores | Replaces | Energies
    stage: str
    net: Callable[[Path], tuple[Any, str]]
    deploy: Callable[[Path, str], Deployed]
    figures: Callable[[Path, dict], dict] | None = None


_KINDS: dict[str, DeployableKind] = {}


def register_deployable(kind: DeployableKind, *, replace: bool = False) -> None:
    """Register ``kind`` under its name (a name taken is refused unless ``replace``)."""
    if kind.name in _KINDS and not replace:
        raise ValueError(f"deployable kind {kind.name!r} is already registered")
    _KINDS[kind.name] = kind


def deployable_kinds() -> dict[str, DeployableKind]:
    """The registered kinds by name."""
    return dict(_KINDS)


def score_kinds() -> list[str]:
    """The kinds a menu condition can cut on (their names are the condition keys)."""
    return [k.name for k in _KINDS.values() if isinstance(k.output, Scores)]


def get_deployable(name: str) -> DeployableKind:
    if name not in _KINDS:
        raise L1TInputError("model", f"unknown deployable kind {name!r} (known: "
                            f"{', '.join(_KINDS)})", "kind")
    return _KINDS[name]


def kind_of(model_dir: str | Path) -> DeployableKind:
    """The kind of a model directory, from the ``format`` of its ``model.json``."""
    path = Path(model_dir) / "model.json"
    try:
        fmt = json.loads(path.read_text()).get("format")
    except FileNotFoundError:
        raise L1TInputError(model_dir, "no model.json: not an l1t model directory",
                            "model") from None
    except (OSError, ValueError, AttributeError) as err:
        raise L1TInputError(path, f"unreadable model description ({err})", "format") from None
    for kind in _KINDS.values():
        if kind.model_format == fmt:
            return kind
    raise L1TInputError(path, f"format {fmt!r} is no deployable model (known: "
                        f"{', '.join(k.model_format for k in _KINDS.values())})", "format")


def replace_fields(events, replaces: Replaces, evaluation: Evaluation):
    """Schema events whose ``replaces.collection`` takes the fields of ``evaluation.values``
    (flat, in the events' order); a replaced ``pt`` (GeV) sets its hardware word ``hwPt``
    (0.5 GeV) too. Objects keep their order: the trigger inputs re-sort them by pT."""
    import awkward as ak

    from l1t.datasets.hwunits import hw_pt

    coll = events[replaces.collection]
    counts = ak.num(coll)
    have = set(ak.fields(coll))
    values = dict(evaluation.values)
    if "pt" in values and "hwPt" in have:
        values["hwPt"] = hw_pt(np.asarray(values["pt"]))
    for name in replaces.fields + (("hwPt",) if "hwPt" in values else ()):
        dtype = ak.to_numpy(ak.flatten(coll[name])).dtype if name in have else np.float64
        coll = ak.with_field(coll, ak.unflatten(np.asarray(values[name]).astype(dtype), counts),
                             name)
    return ak.with_field(events, coll, replaces.collection)


_CACHE: dict[tuple[str, str], Deployed] = {}


def deployed(model_dir: str | Path, backend: str = "emulator") -> Deployed:
    """The model of ``model_dir`` on ``backend``, converted and compiled once per process."""
    key = (str(Path(model_dir).resolve()), backend)
    if key not in _CACHE:
        _CACHE[key] = kind_of(model_dir).deploy(Path(key[0]), backend)
    return _CACHE[key]


# --------------------------------------------------------------------------- the kinds

def _anomaly_net(model_dir: Path):
    from l1t.models.anomaly.vae import AnomalyModel

    m = AnomalyModel.load(model_dir)
    return m.encoder, m.scaling.input_type


def _anomaly_deploy(model_dir: Path, backend: str):
    from .deployed import DeployedAnomalyModel

    return DeployedAnomalyModel(model_dir, backend)


def _muon_net(model_dir: Path):
    from l1t.models.muon.nn import INPUT_TYPE, MuonPtModel

    return MuonPtModel.load(model_dir).net, INPUT_TYPE


def _muon_deploy(model_dir: Path, backend: str):
    from .deployed import DeployedMuonPt

    return DeployedMuonPt(model_dir, backend)


def _lar_net(model_dir: Path):
    from l1t.models.lar.model import LArModel

    m = LArModel.load(model_dir)
    return m.net, m.input_type


def _lar_deploy(model_dir: Path, backend: str):
    from .lar import DeployedLAr

    return DeployedLAr(model_dir, backend)


def _lar_figures(model_dir: Path, report: dict) -> dict:
    from .lar import firmware_figures

    return firmware_figures(model_dir, report)


register_deployable(DeployableKind(
    "anomaly", "l1t-vae-anomaly", "the 57 global-trigger input words of a crossing",
    Scores(("axo", "rz", "kl"), "axo"), "anomaly", _anomaly_net, _anomaly_deploy))
register_deployable(DeployableKind(
    "muon-pt", "l1t-muon-pt", "the track-finder words (tf*) of each L1Mu candidate",
    Replaces("L1Mu", ("pt", "charge"), "muon"), "muon_pt", _muon_net, _muon_deploy))
register_deployable(DeployableKind(
    "lar", "l1t-lar", "the 40 MHz ADC samples of each LAr channel (EM part of a trigger tower)",
    Energies("calorimeter trigger EM towers"), "lar", _lar_net, _lar_deploy, _lar_figures))
