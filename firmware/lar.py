"""The LAr energy nets on firmware: the deployed net over sample streams, and how many channels
one FPGA reconstructs.

:class:`DeployedLAr` runs a saved LAr net (``l1t train lar``) on a backend (the bit-exact emulator
by default) over sample streams ``(channels, crossings)``: the window nets once per crossing, the
recurrent net one step per crossing with its state carried (:mod:`l1t.models.lar.rnn`).

Channels per device (:func:`firmware_figures`): a net instance accepts a new input every II
clocks, so within one crossing (25 ns) it serves 25 ns / (II × clock) channels, time-multiplexed
(5 at 200 MHz, II 1). The recurrent step must also close its loop — state out, state back in —
within one crossing for each of its channels: its loop latency (the step without the read-out)
must be at most those 5 clocks. Resources per channel are the instance's divided by the channels
it serves; the device figure is how many such channels fit a stated share of a named FPGA.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from l1t.datasets.lar.pulse import SAMPLE_NS

from .backend import Backend, get_backend
from .deployable import Evaluation
from .deployed import _workdir
from .ir import FirmwareModel, from_keras

#: Xilinx Virtex UltraScale+ VU13P (the CMS Phase-2 trigger's FPGA): CLB LUTs and flip-flops
#: (Xilinx DS890, "Virtex UltraScale+ FPGAs" table)
DEVICE = "VU13P"
DEVICE_LUT = 1_728_000
DEVICE_FF = 3_456_000
#: share of the device given to the energy reconstruction (estimate: the rest is the links,
#: the readout and the trigger-primitive logic)
DEVICE_SHARE = 0.5
#: latency target of the reconstruction (ATLAS LAr Phase-2: 125 ns, arXiv:2302.07555)
TARGET_NS = 125.0
#: channels per FPGA of the ATLAS Phase-2 firmware (arXiv:2302.07555, Stratix 10)
ATLAS_CHANNELS = 384


class DeployedLAr:
    """A LAr net on a firmware backend (``model_dir``: written by ``l1t train lar``)."""

    def __init__(self, model_dir: str | Path, backend: str = "emulator",
                 workdir: str | Path | None = None) -> None:
        from l1t.models.lar.model import LArModel

        self.model_dir = Path(model_dir)
        self.model = LArModel.load(self.model_dir)
        self.workdir, self._tmp = _workdir(workdir)
        self.fw: FirmwareModel = from_keras(self.model.net, self.model.input_type,
                                            output_dir=str(self.workdir / "hls4ml_prj"))
        self.output_names = list(self.fw.outputs)
        self.output_types = list(self.fw.output_types)
        self.backend: Backend = get_backend(backend)
        self.backend.compile(self.fw, str(self.workdir / f"{backend}_prj"))

    def energies(self, values: np.ndarray) -> np.ndarray:
        """Firmware ET ``(channels, crossings)`` in GeV of sample streams ``values`` (the net
        inputs of :func:`l1t.models.lar.inputs.sample_values`)."""
        return self.model.energies(values, self.backend.predict)

    def software(self, values: np.ndarray) -> Evaluation:
        """The Keras net's ET of sample streams (GeV, ``(channels, crossings)``)."""
        return Evaluation({"et": self.model.energies(values)}, [])

    def firmware(self, values: np.ndarray) -> Evaluation:
        """The firmware's ET of sample streams (GeV, ``(channels, crossings)``)."""
        return Evaluation({"et": self.energies(values)}, [])


@dataclass(frozen=True)
class ChannelBudget:
    """How a LAr net's firmware fits the detector: latency, multiplexing and channels per
    device (module docstring)."""

    latency_ns: float
    target_ns: float
    channels_per_instance: int
    recurrence_cycles: int | None
    lut_per_channel: float
    ff_per_channel: float | None
    device: str
    device_share: float
    channels_per_device: int
    atlas_channels: int

    @property
    def fits(self) -> bool:
        loop_ok = self.recurrence_cycles is None or self.recurrence_cycles <= \
            self.channels_per_instance
        return self.latency_ns <= self.target_ns and loop_ok


def channel_budget(report: dict, recurrence_cycles: int | None = None) -> ChannelBudget:
    """The :class:`ChannelBudget` of a firmware report (``firmware.json``: latency, II, clock,
    LUT and FF estimates) and, for a recurrent net, the clocks of its loop."""
    clock, ii = float(report["clock_ns"]), int(report["initiation_interval"])
    per_instance = max(1, int(SAMPLE_NS // (ii * clock)))
    res = report.get("resources") or {}
    lut = float(res.get("LUT", 0)) / per_instance
    ff = float(res["FF"]) / per_instance if "FF" in res else None
    limits = [DEVICE_SHARE * DEVICE_LUT / lut] if lut else []
    if ff:
        limits.append(DEVICE_SHARE * DEVICE_FF / ff)
    per_device = int(min(limits)) if limits else 0
    return ChannelBudget(float(report["latency_cycles"]) * clock, TARGET_NS, per_instance,
                         recurrence_cycles, round(lut, 1), None if ff is None else round(ff, 1),
                         DEVICE, DEVICE_SHARE, per_device, ATLAS_CHANNELS)


def recurrence_cycles(model_dir: str | Path) -> int | None:
    """Clocks of a recurrent net's loop (the step [h, x] → h without the read-out, pipelined as
    the RTL backend does it); None for a window net."""
    from l1t.models.lar.model import LArModel

    from .rtl import pipeline_figures, trace

    model = LArModel.load(model_dir)
    if model.kind != "rnn":
        return None
    from tensorflow import keras

    loop = keras.Model(model.net.input, model.net.get_layer("state").output, name="lar_rnn_loop")
    fw = from_keras(loop, model.input_type)
    return int(pipeline_figures(trace(fw), fw.clock_ns)["latency_cycles"])


def firmware_figures(model_dir: str | Path, report: dict) -> dict:
    """The LAr figures added to a firmware report (``lar`` key of ``firmware.json``)."""
    budget = channel_budget(report, recurrence_cycles(model_dir))
    lar = {**asdict(budget), "fits": budget.fits}
    return {"lar": lar, "notes": [budget_text(lar)]}


def budget_text(b: dict) -> str:
    """One line for the firmware check table from a report's ``lar`` figures."""
    loop = ("" if b["recurrence_cycles"] is None else
            f"; recurrent loop {b['recurrence_cycles']} clocks (must be <= "
            f"{b['channels_per_instance']})")
    return (f"LAr: {b['latency_ns']:g} ns (target <= {b['target_ns']:g} ns){loop}; "
            f"{b['channels_per_instance']} channels per instance, "
            f"{b['lut_per_channel']:g} LUT per channel -> {b['channels_per_device']} channels in "
            f"{b['device_share']:.0%} of a {b['device']} (ATLAS: {b['atlas_channels']} per FPGA)"
            + ("" if b["fits"] else "  ** does not fit **"))



# --------------------------------------------------------------------------- EM towers

@dataclass(frozen=True)
class NetTowers:
    """The EM towers' ET from a LAr net in firmware (the bit-exact emulator): picklable (the
    model directory travels to worker processes; each loads and converts it once)."""

    model_dir: str

    def __call__(self, seq) -> np.ndarray:
        from l1t.models.lar.inputs import sample_values

        from .deployable import deployed

        return deployed(self.model_dir).energies(sample_values(seq))

    def describe(self) -> dict:
        from l1t.datasets.integrity import sha256_of

        d = Path(self.model_dir)
        return {"reconstruction": "nn", "model": str(d),
                "sha256": sha256_of(d / "model.h5"), "firmware": "emulator (bit-exact)"}


@dataclass(frozen=True)
class OptimalFilterTowers:
    """The EM towers' ET from the optimal filter of a ``coefficients.json`` (``l1t lar
    optimal-filter``, or a LAr model directory's ``optimal_filter.json``)."""

    coefficients: str

    def __call__(self, seq) -> np.ndarray:
        from l1t.models.lar.optimal_filter import OptimalFilter
        from l1t.models.lar.reconstruct import of_energies

        return of_energies(seq, OptimalFilter.load(self.coefficients))

    def describe(self) -> dict:
        from l1t.datasets.integrity import sha256_of

        return {"reconstruction": "of", "coefficients": self.coefficients,
                "sha256": sha256_of(Path(self.coefficients))}


def tower_reconstruction(kind: str, source: str | Path):
    """The EM tower reconstruction ``kind`` (``of``: the optimal filter of ``source``, a
    coefficients file or a LAr model directory; ``nn``: the LAr net of model directory
    ``source``), checked before any production starts."""
    from l1t.core.errors import L1TInputError
    from l1t.models.lar.optimal_filter import OptimalFilter

    from .deployable import kind_of

    src = Path(source)
    if kind == "of":
        path = src / "optimal_filter.json" if src.is_dir() else src
        OptimalFilter.load(path)                                  # refuses a bad file now
        return OptimalFilterTowers(str(path.resolve()))
    if kind == "nn":
        if kind_of(src).name != "lar":
            raise L1TInputError(src, "not a LAr net (l1t train lar)", "model")
        from l1t.models.lar.model import LArModel

        LArModel.load(src)
        return NetTowers(str(src.resolve()))
    raise L1TInputError("--lar", f"unknown EM reconstruction {kind!r} (ideal, of, nn)", "lar")
