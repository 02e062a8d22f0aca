"""``l1t validate``: every deployable model of a menu, firmware against software, at the menu's
working thresholds.

For each deployable model a menu reads (the VAE anomaly encoders of ``anomaly:`` cuts, the muon
pT nets of its ``assign:``):

1. the firmware check (:func:`l1t.validation.firmware_check.firmware_check`: Keras vs emulator vs
   hls4ml C-sim vs RTL on grid inputs) into ``DIR/<model>/check.json``, and the firmware report
   (latency, II, clock, resources; :mod:`l1t.firmware.report`) into ``DIR/<model>/firmware.json``
   when a backend gives the figures (RTL does);
2. on the real zero-bias crossings, streamed chunk by chunk: the software outputs (Keras) and the
   firmware outputs (bit-exact emulator), and per seed that cuts on the model the crossings that
   fire in software only / firmware only, at the menu's thresholds;
3. ``DIR/<model>.png``: histograms of the decision-output differences (firmware − software) and
   of the network-output differences in LSB of each output's fixed-point type.

The whole menu is also evaluated with every model in software and with every model in firmware
(prescales applied, as ``l1t rates`` does): total rate and its change. Everything goes to
``DIR/validate.json``.

Rates (kHz), from N zero-bias crossings with ``scale = n_bunches × 11.2456 kHz``:
``rate = k / N × scale`` with error ``√k / N × scale``; flips ``k_sw`` (software only) and
``k_fw`` (firmware only); impact ``rate_fw − rate_sw = (k_fw − k_sw) / N × scale`` with error
``√(k_fw + k_sw) / N × scale`` (only crossings that flip change the difference).

Every kind registered in :mod:`l1t.firmware.deployable` is validated alike: a kind with scores
through the menu's cuts on them, a kind that replaces a field (the muon pT net, ``L1Mu.pt``)
through every leg on its collection when the menu assigns it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import JsonContract, atomic_write
from l1t.datasets.inputs import expand_inputs
from l1t.firmware.compare import compare
from l1t.firmware.deployable import (DeployableKind, Evaluation, Scores, deployable_kinds,
                                     deployed, get_deployable, kind_of, replace_fields)
from l1t.firmware.report import read_report
from l1t.trigger import prescale
from l1t.trigger.evaluate import Evaluator
from l1t.trigger.inputs import TriggerInputs, objects_of
from l1t.trigger.job import input_kind
from l1t.trigger.menu import Condition, Menu, load_menu
from l1t.trigger.lhc import DEFAULT_BUNCHES, LHC_REVOLUTION_KHZ

from .firmware_check import firmware_check

DEFAULT_BACKENDS = ("emulator", "hls4ml", "rtl")
DEFAULT_CHECK_EVENTS = 10_000
DEFAULT_STEP = 20_000
HIST_BINS = 64            # bins per side of zero in the difference histograms


# --------------------------------------------------------------------------- deployable kinds

@dataclass
class Outputs:
    """One chunk of N crossings through a deployed model, software and firmware.

    ``software``/``firmware``: the quantities the menu reads (anomaly: ``axo``, ``rz``, ``kl``
    per crossing; muon pT: ``pt`` and ``charge`` per L1 muon), float64 each;
    ``raw_software``/``raw_firmware``: the network outputs, one float64 ``(rows, n_k)`` per
    output (firmware values lie on the output types' grids).
    """

    software: dict[str, np.ndarray]
    firmware: dict[str, np.ndarray]
    raw_software: list[np.ndarray]
    raw_firmware: list[np.ndarray]


class _Deployed:
    """A deployable model of any registered kind: Keras and the bit-exact emulator on the same
    crossings."""

    def __init__(self, model_dir: str) -> None:
        self.model = deployed(model_dir)
        self.output_names = list(self.model.output_names)
        self.output_types = list(self.model.output_types)

    def outputs(self, events) -> Outputs:
        sw, fw = self.model.software(events), self.model.firmware(events)
        return Outputs(sw.values, fw.values, sw.raw, fw.raw)


def _cuts(kind: DeployableKind, menu: Menu, cond: Condition) -> list[tuple[str, str, float]]:
    """``(model_dir, output, threshold)`` of each cut of this node (not its children) that reads
    a model of ``kind``: its score cuts, or, for a model the menu assigns, every leg on the
    collection it replaces (``pt`` at the leg's threshold)."""
    if isinstance(kind.output, Scores):
        return [(a.model, a.score, a.min) for a in cond.models if a.kind == kind.name]
    dirs = [d for d in menu.assign if kind_of(d).name == kind.name]
    return [(d, "pt", leg.pt) for d in dirs for leg in cond.legs
            if leg.object == kind.output.leg_object]


def _inject(kind: DeployableKind, inputs: TriggerInputs, events, model_dir: str,
            values: dict[str, np.ndarray]) -> None:
    """Put a model's ``values`` (software or firmware) where the menu evaluation reads them."""
    if isinstance(kind.output, Scores):
        for score, v in values.items():
            inputs.scores[(model_dir, score)] = v
        return
    coll = kind.output.collection
    new = replace_fields(events, kind.output, Evaluation(values, []))
    inputs.objects[coll] = objects_of(new[coll])


#: ``validate.json``: per model its check, flips and rate impact, and the menu totals.
VALIDATE_CONTRACT = JsonContract("l1t-validate", 1)


def deployable_models(menu: Menu) -> dict[tuple[str, str], dict[int, list[tuple[str, float]]]]:
    """``(kind, model_dir)`` → ``{seed index: [(output, threshold), …]}`` for every model the
    menu cuts on (in menu order)."""
    out: dict[tuple[str, str], dict[int, list[tuple[str, float]]]] = {}
    for j, seed in enumerate(menu.seeds):
        for cond in seed.condition.walk():
            for kind in deployable_kinds().values():
                for model_dir, output, threshold in _cuts(kind, menu, cond):
                    out.setdefault((kind.name, model_dir), {}).setdefault(j, []).append(
                        (output, float(threshold)))
    return out


# --------------------------------------------------------------------------- histograms

class DiffHistogram:
    """A histogram of differences around zero that widens as it streams: ``HIST_BINS`` bins of
    width ``w`` (a power of two) on each side of 0; a value beyond the range doubles ``w``
    (adjacent bins merge, nothing is lost). Exact zeros are counted apart."""

    def __init__(self) -> None:
        self.width: float | None = None
        self.counts = np.zeros(2 * HIST_BINS, np.int64)     # [-H w, H w)
        self.zeros = 0
        self.n = 0

    def add(self, d: np.ndarray) -> None:
        d = np.asarray(d, np.float64).ravel()
        d = d[np.isfinite(d)]
        self.n += len(d)
        nonzero = d[d != 0]
        self.zeros += len(d) - len(nonzero)
        if not len(nonzero):
            return
        top = float(np.abs(nonzero).max())
        if self.width is None:
            self.width = 2.0 ** math.ceil(math.log2(top / HIST_BINS * (1 + 1e-12)))
        while top >= HIST_BINS * self.width:
            neg, pos = self.counts[:HIST_BINS], self.counts[HIST_BINS:]
            neg = neg.reshape(-1, 2).sum(axis=1)
            pos = pos.reshape(-1, 2).sum(axis=1)
            pad = np.zeros(HIST_BINS // 2, np.int64)
            self.counts = np.concatenate([pad, neg, pos, pad])
            self.width *= 2.0
        idx = np.floor(nonzero / self.width).astype(np.int64) + HIST_BINS
        self.counts += np.bincount(np.clip(idx, 0, 2 * HIST_BINS - 1), minlength=2 * HIST_BINS)

    @property
    def edges(self) -> np.ndarray:
        w = self.width or 1.0
        return np.arange(-HIST_BINS, HIST_BINS + 1) * w


# --------------------------------------------------------------------------- accumulation

@dataclass
class _Counts:
    """Per-seed firing counts in software, in firmware, and the flips ``(S,)`` each."""

    software: np.ndarray
    firmware: np.ndarray
    software_only: np.ndarray
    firmware_only: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> "_Counts":
        return cls(*(np.zeros(n, np.int64) for _ in range(4)))

    def add(self, sw: np.ndarray, fw: np.ndarray) -> None:
        self.software += sw.sum(axis=0)
        self.firmware += fw.sum(axis=0)
        self.software_only += (sw & ~fw).sum(axis=0)
        self.firmware_only += (fw & ~sw).sum(axis=0)


def rate_entry(sw: int, fw: int, sw_only: int, fw_only: int, n: int, scale: float) -> dict:
    """Rates (kHz) of one decision in software and firmware, its flips and the impact, with
    statistical errors (see the module docstring)."""
    def r(k):
        return k / n * scale if n else 0.0

    def e(k):
        return math.sqrt(k) / n * scale if n else 0.0
    return {"software_fired": int(sw), "firmware_fired": int(fw),
            "software_only": int(sw_only), "firmware_only": int(fw_only),
            "software_rate_khz": r(sw), "software_rate_err_khz": e(sw),
            "firmware_rate_khz": r(fw), "firmware_rate_err_khz": e(fw),
            "software_only_khz": r(sw_only), "software_only_err_khz": e(sw_only),
            "firmware_only_khz": r(fw_only), "firmware_only_err_khz": e(fw_only),
            "flip_rate_khz": r(sw_only + fw_only), "flip_rate_err_khz": e(sw_only + fw_only),
            "impact_khz": r(fw_only) - r(sw_only), "impact_err_khz": e(sw_only + fw_only)}


class _ModelRun:
    """What one deployable model accumulates over the crossings."""

    def __init__(self, kind: DeployableKind, model_dir: str, name: str,
                 seeds: dict[int, list[tuple[str, float]]], menu: Menu) -> None:
        self.kind, self.model_dir, self.name = kind, model_dir, name
        self.seed_index = sorted(seeds)
        self.cuts = seeds
        self.evaluator = Evaluator(menu.with_seeds([menu.seeds[j] for j in self.seed_index]))
        self.deployed = _Deployed(model_dir)
        self.counts = _Counts.zeros(len(self.seed_index))
        self.hists: dict[str, DiffHistogram] = {}
        self.value_diff: dict[str, dict] = {}
        self.raw_diff = {n: {"crossings_differing": 0, "max_abs_diff_lsb": 0.0}
                         for n in self.deployed.output_names}

    def add_differences(self, out: Outputs) -> None:
        for name in out.software:
            d = out.firmware[name] - out.software[name]
            self.hists.setdefault(name, DiffHistogram()).add(d)
            v = self.value_diff.setdefault(name, {"crossings_differing": 0, "max_abs_diff": 0.0})
            v["crossings_differing"] += int(np.count_nonzero(d))
            v["max_abs_diff"] = max(v["max_abs_diff"], float(np.abs(d).max(initial=0.0)))
        names, types = self.deployed.output_names, self.deployed.output_types
        c = compare(out.raw_firmware, out.raw_software, types, names)
        for name, sw, fw, t in zip(names, out.raw_software, out.raw_firmware, types):
            self.hists.setdefault(f"{name} [LSB]", DiffHistogram()).add((fw - sw) / t.lsb)
            r = self.raw_diff[name]
            r["crossings_differing"] += c[name]["mismatched_events"]
            r["max_abs_diff_lsb"] = max(r["max_abs_diff_lsb"], c[name]["max_abs_diff_lsb"])


def _model_names(keys: Sequence[str]) -> dict[str, str]:
    """A distinct directory name per model (its own name, ``-2``, ``-3`` … on a clash)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for key in keys:
        base = Path(key).name or "model"
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base}-{k}"
        used.add(name)
        out[key] = name
    return out


def _check_inputs(paths: list[str | Path]) -> list[Path]:
    files = expand_inputs(paths)
    for f in files:
        kind, meta = input_kind(f)          # reads the metadata: an unreadable file fails here
        if kind != "zero_bias" or meta.get("sample") not in (None, "minbias"):
            # flips are counted crossing by crossing: a weighted (muon-enriched) sample would
            # need weighted counts
            raise L1TInputError(f, f"validate needs plain zero-bias (minbias) crossings, this is "
                                f"{meta.get('sample')!r}", "sample")
    return files


# --------------------------------------------------------------------------- the function

def validate(menu_path: str | Path, inputs: list[str | Path], out_dir: str | Path,
             events: int = DEFAULT_CHECK_EVENTS, backends: Sequence[str] = DEFAULT_BACKENDS,
             seed: int = 1, step_size: int = DEFAULT_STEP,
             bunches: int = DEFAULT_BUNCHES) -> dict:
    """Validate every deployable model of the menu at ``menu_path`` (see the module docstring).

    ``inputs``: zero-bias files or productions; ``events``: grid inputs of each firmware check;
    ``backends``: those of the firmware check (a backend that refuses a model is skipped and
    named in its check); ``seed``: of the check's grid inputs; ``step_size``: crossings per chunk
    (memory bound); ``bunches``: colliding bunches for the rates. Returns what
    ``DIR/validate.json`` holds; bad input raises :class:`L1TInputError` before anything is
    written.
    """
    menu = load_menu(menu_path)
    models = deployable_models(menu)
    if not models:
        raise L1TInputError(menu_path, "no seed reads a deployable model (an `anomaly:` cut "
                            "naming a model directory, or a muon leg with a model under "
                            "`assign:`)", "anomaly")
    files = _check_inputs(inputs)
    if isinstance(events, bool) or not isinstance(events, int) or events < 1:
        raise L1TInputError("validate", f"events must be a positive integer, got {events!r}",
                            "events")
    names = _model_names([d for _, d in models])
    runs = [_ModelRun(get_deployable(k), d, names[d], seeds, menu)
            for (k, d), seeds in models.items()]
    out = Path(out_dir)
    checks = {r.name: firmware_check(r.model_dir, None, events, list(backends), out / r.name,
                                     seed, skip_unsupported=True) for r in runs}

    scale = bunches * LHC_REVOLUTION_KHZ
    ev = Evaluator(menu)
    counters_sw, counters_fw = prescale.PrescaleCounters.of(menu), prescale.PrescaleCounters.of(menu)
    seeds_total = _Counts.zeros(len(menu.seeds))
    any_total = _Counts.zeros(1)
    n = 0
    for c in ev.chunks(files, step_size, assign=False):
        chunk, trig = c.events, c.inputs
        outs = [r.deployed.outputs(chunk) for r in runs]
        for r, o in zip(runs, outs):
            r.add_differences(o)
            _inject(r.kind, trig, chunk, r.model_dir, o.software)
        fired_sw = ev.margins(trig) >= 1.0
        # One model at a time in firmware (the others in software): its own flips.
        for r, o in zip(runs, outs):
            sw = fired_sw[:, r.seed_index]
            _inject(r.kind, trig, chunk, r.model_dir, o.firmware)
            r.counts.add(sw, r.evaluator.margins(trig) >= 1.0)
            _inject(r.kind, trig, chunk, r.model_dir, o.software)
        for r, o in zip(runs, outs):
            _inject(r.kind, trig, chunk, r.model_dir, o.firmware)
        fired_fw = ev.margins(trig) >= 1.0
        seeds_total.add(fired_sw, fired_fw)
        kept_sw, kept_fw = counters_sw.apply(fired_sw), counters_fw.apply(fired_fw)
        any_total.add(kept_sw.any(axis=1, keepdims=True), kept_fw.any(axis=1, keepdims=True))
        n += trig.n
    if n == 0:
        raise L1TInputError(", ".join(map(str, files)), "no crossings in the inputs")

    summary_models = []
    for r in runs:
        c, check = r.counts, checks[r.name]
        seeds = []
        for i, j in enumerate(r.seed_index):
            s = menu.seeds[j]
            seeds.append({"seed": s.name, "prescale": s.prescale,
                          "cuts": [{"output": o, "min": t} for o, t in r.cuts[j]],
                          **rate_entry(c.software[i], c.firmware[i], c.software_only[i],
                                       c.firmware_only[i], n, scale)})
        summary_models.append({
            "name": r.name, "kind": r.kind.name, "model_dir": r.model_dir,
            "check": str(out / r.name / "check.json"),
            "check_pairs": {p: {k: v[k] for k in ("events", "mismatched_events",
                                                   "max_abs_diff_lsb")}
                            for p, v in check["pairs"].items()},
            "check_skipped": check["skipped"],
            "firmware_report": check["firmware_report"],
            "firmware_report_missing": check.get("firmware_report_missing"),
            "hardware": _hardware(check),
            "outputs": {name: {"type": str(t), **r.raw_diff[name]}
                        for name, t in zip(r.deployed.output_names, r.deployed.output_types)},
            "values": r.value_diff,
            "histograms": {k: {"edges": h.edges.tolist(), "counts": h.counts.tolist(),
                               "zeros": h.zeros, "entries": h.n} for k, h in r.hists.items()},
            "plot": str(_plot(r, out / f"{r.name}.png")),
            "seeds": seeds})
    a = any_total
    summary = {
        "menu": str(menu_path), "menu_name": menu.name, "inputs": [str(f) for f in files],
        "zero_bias_crossings": n, "bunches": bunches, "revolution_khz": LHC_REVOLUTION_KHZ,
        "backends": list(backends), "check_events": events, "seed": seed,
        "models": summary_models,
        "menu_total": rate_entry(a.software[0], a.firmware[0], a.software_only[0],
                                 a.firmware_only[0], n, scale),
        "menu_seeds": [{"seed": s.name, "prescale": s.prescale,
                        **rate_entry(seeds_total.software[j], seeds_total.firmware[j],
                                     seeds_total.software_only[j], seeds_total.firmware_only[j],
                                     n, scale)}
                       for j, s in enumerate(menu.seeds)
                       if seeds_total.software[j] or seeds_total.firmware[j]],
    }
    summary = VALIDATE_CONTRACT.tag(summary)
    VALIDATE_CONTRACT.write(out / "validate.json", summary)
    return summary


def read_validate(path: str | Path) -> dict:
    """Read a ``validate.json`` written by :func:`validate` (format and version checked)."""
    return VALIDATE_CONTRACT.read(path)


def _hardware(check: dict) -> dict | None:
    path = check.get("firmware_report")
    if not path:
        return None
    rep = read_report(path)
    return {k: rep.get(k) for k in ("backend", "latency_cycles", "clock_ns", "latency_ns",
                                    "initiation_interval", "resources")}


def _plot(r: _ModelRun, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(r.hists)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        h = r.hists[key]
        counts = h.counts.astype(float)
        mid = HIST_BINS                       # the bin [0, w) also shows the exact zeros
        counts[mid] += h.zeros
        ax.stairs(counts, h.edges, fill=True, alpha=0.7)
        ax.set_yscale("log")
        label = key if key.endswith("[LSB]") else f"{key} score"
        ax.set_xlabel(f"firmware − software: {label}")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
        ax.set_title(f"{h.n - h.zeros} of {h.n} values differ", fontsize=9)
    axes[0][0].set_ylabel("entries")
    fig.suptitle(f"{r.name}: firmware (emulator) − software (Keras)", fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=90))
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- text

def validate_table_text(summary: dict) -> str:
    """The printed table: per model its check, then per seed rates, flips and impact (kHz)."""
    lines = []
    hdr = (f"{'seed':24s} {'software [kHz]':>17s} {'firmware [kHz]':>17s} {'sw only':>7s} "
           f"{'fw only':>7s} {'impact [kHz]':>18s}")

    def row(name, e):
        return (f"{name:24s} {e['software_rate_khz']:8.2f} ± {e['software_rate_err_khz']:6.2f} "
                f"{e['firmware_rate_khz']:8.2f} ± {e['firmware_rate_err_khz']:6.2f} "
                f"{e['software_only']:7d} {e['firmware_only']:7d} "
                f"{e['impact_khz']:+8.2f} ± {e['impact_err_khz']:7.2f}")
    for m in summary["models"]:
        lines.append(f"== {m['name']} ({m['kind']}, {m['model_dir']})")
        for pair, p in m["check_pairs"].items():
            lines.append(f"  check {pair:24s} {p['mismatched_events']:7d} of {p['events']} "
                         f"events differ, max {p['max_abs_diff_lsb']:g} LSB")
        for b, why in m["check_skipped"].items():
            lines.append(f"  check {b}: skipped ({why})")
        hw = m["hardware"]
        lines.append(f"  firmware: latency {hw['latency_cycles']} clocks × {hw['clock_ns']:g} ns, "
                     f"II {hw['initiation_interval']} ({hw['backend']}) -> {m['firmware_report']}"
                     if hw else f"  firmware report: none ({m['firmware_report_missing']})")
        for name, o in m["outputs"].items():
            lines.append(f"  {name} ({o['type']}): {o['crossings_differing']} crossings differ, "
                         f"max {o['max_abs_diff_lsb']:g} LSB")
        lines.append("  " + hdr)
        for s in m["seeds"]:
            lines.append("  " + row(s["seed"], s))
    lines.append(f"== menu {summary['menu_name']} ({summary['zero_bias_crossings']} zero-bias "
                 f"crossings, {summary['bunches']} bunches; every model in software vs firmware)")
    lines.append("  " + hdr)
    lines.append("  " + row("TOTAL (prescaled)", summary["menu_total"]))
    return "\n".join(lines)
