"""``l1t`` subcommands. Each one parses arguments, calls one public function and prints.

Bad input (``L1TInputError``) gives one line on stderr and exit status 2, with no partial output.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import warnings
from pathlib import Path

from l1t.core.errors import L1TInputError


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (``l1t rates: error: argument --bunches: ...``), exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind: type = float, minimum: float | None = None, maximum: float | None = None,
            above: float | None = None, below: float | None = None):
    """An argparse type: a finite ``kind`` (int or float) within the given bounds
    (``minimum``/``maximum`` inclusive, ``above``/``below`` exclusive)."""
    parts = ([f">= {minimum:g}"] if minimum is not None else []) \
        + ([f"> {above:g}"] if above is not None else []) \
        + ([f"<= {maximum:g}"] if maximum is not None else []) \
        + ([f"< {below:g}"] if below is not None else [])
    what = ("an integer" if kind is int else "a number") + (" " + " and ".join(parts)
                                                             if parts else "")

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        ok = math.isfinite(value) \
            and (minimum is None or value >= minimum) and (maximum is None or value <= maximum) \
            and (above is None or value > above) and (below is None or value < below)
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    parse.__name__ = "integer" if kind is int else "number"
    return parse


_positive_int = _number(int, minimum=1)
#: A master seed: an integer every file format stores exactly.
_seed = _number(int, minimum=0, maximum=2**63 - 1)
#: Mean pileup ⟨μ⟩ as in the productions (``MAX_PILEUP``).
_pileup = _number(float, minimum=0, maximum=300)
_fraction = _number(float, minimum=0, below=1)
#: A weight width (QKeras bits).
_bits = _number(int, minimum=1, maximum=32)


def cmd_samples(args) -> int:
    from l1t.datasets.samples import SAMPLES

    for s in SAMPLES.values():
        print(f"{s.name:13s} {'weighted ' if s.weighted else ''}{s.description}")
    return 0


def cmd_generate(args) -> int:
    from l1t.datasets.production import produce, production_text, sample_of

    lar = None
    if args.lar != "ideal":
        from l1t.firmware.lar import tower_reconstruction

        if not args.lar_model:
            raise L1TInputError("--lar-model", f"--lar {args.lar} reconstructs the EM towers "
                                "with a LAr model directory (l1t train lar) or, for of, a "
                                "coefficients.json: give --lar-model", "lar_model")
        lar = tower_reconstruction(args.lar, args.lar_model)
    m = produce(sample_of(args.sample, args.pythia_cmnd, args.hepmc), args.events, args.out,
                pileup=args.pileup, seed=args.seed, chunk_size=args.chunk_size,
                pool_size=args.pool_size, fmt=args.format, workers=args.workers,
                scheduler=args.scheduler, progress=not args.quiet, lar=lar)
    print(production_text(m, args.out))
    return 0


def cmd_summary(args) -> int:
    from l1t.datasets.inputs import read_inputs
    from l1t.datasets.summary import format_summary, format_vertex, object_summary, vertex_summary

    events = read_inputs(args.inputs, fmt=args.format, mapping=args.mapping)
    print(f"{len(events)} crossings")
    print(format_summary(object_summary(events)))
    vertex = format_vertex(vertex_summary(events))
    if vertex:
        print(vertex)
    return 0


def cmd_jet_response(args) -> int:
    from l1t.validation.jet_response import jet_response

    result = jet_response(args.inputs, args.out, min_gen_pt=args.min_gen_pt)
    print(result["table_text"])
    print(f"plot: {result['plot']}\ntable: {result['table']}")
    return 0


def _rate_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated kHz values, got {text!r}")
    if not values or any(not (v > 0 and math.isfinite(v)) for v in values):
        raise argparse.ArgumentTypeError(f"target rates must be positive kHz, got {text!r}")
    return values


def _gev_list(text: str) -> list[float]:
    """Comma-separated thresholds in GeV, each in (0, 255.5] (the 9-bit 0.5 GeV word)."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated GeV values, got {text!r}")
    if not values or any(not (0 < v <= 255.5) for v in values):
        raise argparse.ArgumentTypeError(f"thresholds must be in (0, 255.5] GeV, got {text!r}")
    return values


def _check_targets(targets: tuple[float, ...] | None, bunches: int, option: str) -> None:
    """A target rate cannot exceed the rate of colliding crossings."""
    from l1t.trigger.lhc import LHC_REVOLUTION_KHZ

    top = bunches * LHC_REVOLUTION_KHZ
    for t in targets or ():
        if t > top:
            raise L1TInputError(option, f"{t:g} kHz exceeds the crossing rate of {bunches} "
                                f"bunches ({top:.6g} kHz)")


def _backend_list(text: str) -> list[str]:
    names = [b.strip() for b in text.split(",") if b.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"give at least one backend, got {text!r}")
    return names


def _menu_of(args):
    """The menu of ``--menu`` with the models of ``--assign``."""
    from l1t.trigger.menu import load_menu

    menu = load_menu(args.menu)
    return menu.with_assign(args.assign) if args.assign else menu


def _signal_efficiencies(args, menu, signals):
    """The efficiency tables of the signals (:mod:`l1t.trigger.acceptance`), written into
    ``--out``; their text and the files."""
    from l1t.trigger.acceptance import (efficiency_table_text, signal_efficiency,
                                        write_efficiencies)

    results = signal_efficiency(menu, signals, args.step_size, args.format, args.mapping)
    return efficiency_table_text(results), write_efficiencies(results, menu, args.out)


def cmd_efficiency(args) -> int:
    from l1t.datasets.inputs import named_inputs

    text, paths = _signal_efficiencies(args, _menu_of(args), named_inputs(args.signal))
    print(text)
    print(f"-> {paths['csv']}, {paths['json']}")
    return 0


def cmd_rates(args) -> int:
    from l1t.datasets.inputs import expand_inputs, named_inputs
    from l1t.trigger.job import RateJob, run
    from l1t.trigger.rates import summarize
    from l1t.trigger.report import rate_table_text, write_rates

    _check_targets(args.target_rate, args.bunches, "--target-rate")
    menu = _menu_of(args)
    signals = named_inputs(args.signal) if args.signal else None
    job = RateJob(menu, fmt=args.format, mapping=args.mapping, step_size=args.step_size,
                  stitch_pthat=args.stitch_pthat, sigma_inel_mb=args.sigma_inel)
    groups = run(job, expand_inputs(args.input), scheduler=args.scheduler, workers=args.workers,
                 progress=not args.quiet)
    summary = summarize(groups, menu, bunches=args.bunches, targets_khz=args.target_rate or ())
    efficiencies = _signal_efficiencies(args, menu, signals) if signals else None
    paths = write_rates(summary, args.out)
    for model_dir in menu.assign:
        print(f"L1Mu pT and charge from {model_dir} (firmware emulator)")
    print(rate_table_text(summary))
    print(f"-> {paths['csv']}, {paths['json']}")
    if efficiencies:
        text, eff_paths = efficiencies
        print()
        print(text)
        print(f"-> {eff_paths['csv']}, {eff_paths['json']}")
    return 0


def cmd_muon_performance(args) -> int:
    from l1t.trigger.muon_performance import muon_performance

    print(muon_performance(args.model, args.gun, args.rate_sample, args.thresholds, args.out,
                           bunches=args.bunches).text())
    return 0


def cmd_turn_on(args) -> int:
    from l1t.datasets.inputs import expand_inputs, read_inputs
    from l1t.trigger.efficiency import turn_on_table_text, turn_ons, write_turn_ons
    from l1t.trigger.evaluate import has_electron_id

    menu = _menu_of(args)
    files = expand_inputs(args.input)
    events = read_inputs(files, fmt=args.format, mapping=args.mapping)
    if "GenPart" not in events.fields or "GenJet" not in events.fields:
        raise L1TInputError(files[0], "turn-ons need generator collections GenPart and GenJet",
                            "GenPart")
    results = turn_ons(events, menu, args.seeds, electron_id=has_electron_id(files[0]))
    paths = write_turn_ons(results, args.out)
    print(turn_on_table_text(results))
    print(f"-> {paths['plot']}, {paths['json']}")
    return 0


def _train_vae(args) -> None:
    from l1t.models.anomaly.train import make_default_data, train_vae, training_text
    from l1t.models.anomaly.vae import VAEConfig

    out = Path(args.out)
    data = Path(args.data) if args.data else make_default_data(out / "data", pileup=args.pileup,
                                                               progress=not args.quiet)
    cfg = VAEConfig(epochs=args.epochs or VAEConfig.epochs, seed=args.seed, bits=args.bits,
                    sparsity=args.sparsity, inputs=args.inputs)
    model, meta = train_vae(data, out, cfg, n_events=args.events)
    print(training_text(model, meta))
    print(f"-> {out}")


def _train_muon_lut(args) -> None:
    from l1t.models.muon.lut import train_lut_from

    if not args.data:
        raise L1TInputError("--data", "the muon lookup table trains on a muon_gun production: "
                            "give --data DIR (l1t generate muon_gun ...)")
    print(train_lut_from(args.data, args.out).text())


def _train_muon_pt(args) -> None:
    from l1t.models.muon.nn import NetConfig
    from l1t.models.muon.train import train_muon_pt

    if not args.data:
        raise L1TInputError("--data", "the muon pT net trains on a muon_gun production: "
                            "give --data DIR (l1t generate muon_gun ...)")
    cfg = NetConfig(bits=args.bits or NetConfig.bits, sparsity=args.sparsity,
                    epochs=args.epochs or NetConfig.epochs, seed=args.seed)
    print(train_muon_pt(args.data, args.out, cfg).text())


def _train_lar(args) -> None:
    from dataclasses import replace

    from l1t.models.lar.model import get_net
    from l1t.models.lar.train import LArData, train_lar

    cfg = get_net(args.kind).config(seed=args.seed)
    if args.bits:
        cfg = replace(cfg, bits=args.bits)
    if args.epochs:
        cfg = replace(cfg, epochs=args.epochs)
    data = LArData(pileup=args.pileup, channels=args.channels, crossings=args.crossings,
                   pool_size=args.pool_size, seed=args.seed)
    cache = Path(args.cache) if args.cache else Path(args.out) / ".cache"
    print(train_lar(args.kind, args.out, cfg, data, cache).text())


#: ``l1t train MODEL``: the trainer of each model, by name
_TRAINERS = {"vae": _train_vae, "muon-lut": _train_muon_lut, "muon-pt": _train_muon_pt,
             "lar": _train_lar}


def cmd_train(args) -> int:
    _TRAINERS[args.model](args)
    return 0


def cmd_scan(args) -> int:
    from l1t.models.anomaly.train import scan_table_text, scan_vae
    from l1t.models.anomaly.vae import VAEConfig

    result = scan_vae(args.data, args.out, VAEConfig(epochs=args.epochs, seed=args.seed),
                      bits=tuple(args.bits), sparsities=tuple(args.sparsity), fpr=args.fpr)
    print(scan_table_text(result))
    print("-> " + ", ".join(str(p) for pair in result["paths"].values() for p in pair))
    return 0


def cmd_evaluate_anomaly(args) -> int:
    from l1t.datasets.inputs import named_inputs
    from l1t.models.anomaly.train import efficiency_table, evaluate_saved

    signals = named_inputs(args.signal) if args.signal else None
    for path in args.model:
        model, rows, n_test = evaluate_saved(path, args.data, signals)
        bits = model.config.bits
        print(f"== {path} ({f'QAT {bits}-bit' if bits else 'float'}; {n_test} background test "
              "crossings, the model's own held-out split)")
        for score in args.scores:
            print(f"score {score}:")
            print(efficiency_table(rows, score))
    return 0


def cmd_tune_anomaly(args) -> int:
    from l1t.datasets.inputs import expand_inputs, named_inputs
    from l1t.trigger.anomaly import (pure_efficiency_table_text, tune_menu,
                                     working_points_table_text)

    _check_targets(args.target_rates, args.bunches, "--target-rates")
    inputs = expand_inputs(args.input)
    signals = named_inputs(args.signal) if args.signal else {}
    tuned = tune_menu(args.model, inputs, args.target_rates, args.out, args.score, args.menu,
                      args.bunches, args.stitch_pthat, signals)
    print(working_points_table_text(tuned.working_points))
    print(f"-> menu {tuned.path}")
    if signals:
        print()
        print(pure_efficiency_table_text(tuned.signals, tuned.working_points))
    return 0


def cmd_firmware_check(args) -> int:
    from l1t.validation.firmware_check import check_table_text, firmware_check

    s = firmware_check(args.model, args.input_precision, args.events, args.backends, args.out,
                       args.seed)
    print(check_table_text(s))
    print(f"-> {Path(args.out) / 'check.json'}"
          + (f", {s['firmware_report']}" if s["firmware_report"] else ""))
    return 0


def cmd_lar_optimal_filter(args) -> int:
    import numpy as np

    from l1t.datasets.lar.pulse import SAMPLE_NS, PulseShape, read_autocorrelation, read_pulse
    from l1t.models.lar.optimal_filter import optimal_filter

    pulse = PulseShape.analytic() if args.pulse == "analytic" else read_pulse(args.pulse)
    first = (args.first_sample_ns if args.first_sample_ns is not None
             else pulse.peak_ns - SAMPLE_NS)          # the rise, the peak, then the tail
    if args.autocorr == "white":
        r, source = np.eye(args.samples), "white noise"
    else:
        r, source = read_autocorrelation(args.autocorr, args.samples), args.autocorr
    of = optimal_filter(pulse, r, first, source=source)
    path = of.save(Path(args.out) / "coefficients.json")
    t = of.first_sample_ns + of.sample_ns * np.arange(len(of.a))
    print(f"optimal filter: {len(of.a)} samples from {of.first_sample_ns:g} ns "
          f"(pulse {pulse.source}, peak at {pulse.peak_ns:.1f} ns; {source})")
    print(f"{'t [ns]':>8s} {'g':>9s} {'a':>10s} {'b [ns]':>10s}")
    for ti, gi, ai, bi in zip(t, pulse.g(t), of.a, of.b):
        print(f"{ti:8.1f} {gi:9.4f} {ai:10.5f} {bi:10.4f}")
    print(f"noise on the amplitude: sqrt(a^T R a) = {of.meta['noise_factor']:.4f} x sigma")
    print(f"-> {path}")
    return 0


def cmd_lar_performance(args) -> int:
    from l1t.validation.lar_performance import lar_performance, table_text

    perf = lar_performance(args.model, args.out, args.pileup, tuple(args.pileup_scan),
                           args.channels, args.pool_size, args.seed, args.cache)
    print(table_text(perf))
    print(f"-> {Path(args.out) / 'performance.json'}, resolution.png, pileup.png, train.png, "
          "after_deposit.png")
    return 0


def cmd_validate(args) -> int:
    from l1t.validation.validate import validate, validate_table_text

    s = validate(args.menu, args.input, args.out, events=args.events, backends=args.backends,
                 seed=args.seed, step_size=args.step_size, bunches=args.bunches)
    print(validate_table_text(s))
    print(f"-> {Path(args.out) / 'validate.json'}, " + ", ".join(m["plot"] for m in s["models"]))
    return 0


def _stage_files(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        stage, sep, path = item.partition("=")
        if not sep or not stage or not path:
            raise L1TInputError("--firmware", f"{item!r} is not STAGE=REPORT.json", "firmware")
        out[stage] = path
    return out


def cmd_stream(args) -> int:
    from l1t.trigger.stream.injection import signal_table_text
    from l1t.trigger.stream.report import latency_table_text, stream_job, stream_table_text

    if args.signal and args.signal_fraction is None:
        raise L1TInputError("--signal-fraction", "give the fraction of colliding slots each "
                            "signal is injected into", "signal_fraction")
    summary, paths = stream_job(
        args.menu, args.input, args.out, pipeline_path=args.pipeline, seconds=args.seconds,
        orbits=args.orbits, filling_scheme=args.filling_scheme, mu=args.mu, seed=args.seed,
        firmware=_stage_files(args.firmware), cycle_level=args.cycle_level,
        signals=args.signal, signal_fraction=args.signal_fraction or 0.0,
        stitch_pthat=args.stitch_pthat, sigma_inel_mb=args.sigma_inel, resume=args.resume,
        checkpoint_seconds=args.checkpoint_seconds, progress=not args.quiet)
    print(stream_table_text(summary))
    if summary["signals"]:
        print()
        print(signal_table_text(summary["signals"]))
    print()
    print(latency_table_text(summary))
    print(f"-> {', '.join(str(p) for p in paths.values())}")
    return 0


def _name_list(text: str) -> list[str]:
    """Comma-separated names (``none`` or an empty text: none)."""
    return [] if text.strip() in ("", "none") else [x.strip() for x in text.split(",") if x.strip()]


def _batch_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated batch sizes, got {text!r}")
    if not values or any(not 1 <= v <= 1 << 20 for v in values):
        raise argparse.ArgumentTypeError(f"batch sizes must be integers in 1..{1 << 20}, "
                                         f"got {text!r}")
    return values


def cmd_profile(args) -> int:
    from l1t.validation.profile import profile, profile_table_text
    from l1t.validation.split import split_table_text

    p = profile(list(args.models) + list(args.models_opt), args.out, families=args.reference, sizes=args.sizes,
                backends=args.backends, batch_sizes=args.batch_sizes, budget_s=args.budget,
                split=not args.no_split, link_budget_gbps=args.link_gbps, seed=args.seed,
                event_rate_mhz=args.event_rate_mhz, cpu_cores=args.cpu_cores,
                runner_options={"rtl": {"simulate": args.rtl_simulate}},
                progress=not args.quiet)
    print(profile_table_text(p))
    for s in p.splits:
        print()
        print(split_table_text(s))
    print(f"-> {', '.join(p.paths.values())}")
    return 0


def cmd_report(args) -> int:
    from l1t.validation.report import report_text, write_report

    print(report_text(write_report(args.run_dir, args.out)))
    return 0


def cmd_export(args) -> int:
    from l1t.datasets.export import export

    result = export(args.run_dir, args.format, args.out, samples=args.samples)
    print(result.text())
    print(f"-> {Path(args.out) / 'datasheet.json'}, {Path(args.out) / 'DATASHEET.md'}")
    return 0


def cmd_demo(args) -> int:
    from l1t.demo import run_demo

    run_demo(args.out, events=args.events, pileup=args.pileup, seed=args.seed,
             progress=not args.quiet)
    return 0


def _add_assign(s: argparse.ArgumentParser) -> None:
    """``--assign DIR``: models replacing L1 fields, added to the menu's ``assign:``."""
    s.add_argument("--assign", action="append", default=None, metavar="DIR",
                   help="a model replacing an L1 field, e.g. a muon pT net (l1t train muon-pt) "
                        "for L1Mu.pt; added to the menu's assign: (default: the detector's "
                        "lookup table)")


def _add_signal(s: argparse.ArgumentParser, required: bool) -> None:
    """``--signal DIR...``: signal productions or files for the efficiency table."""
    s.add_argument("--signal", nargs="+", required=required, default=None, metavar="DIR",
                   help="signal productions or files: per seed and for the menu, the fraction "
                        "of their crossings accepted, and by each seed alone "
                        "(efficiency.csv, efficiency.json)")


def _add_input_format(s: argparse.ArgumentParser) -> None:
    """``--format`` and ``--mapping`` of every command that reads event files."""
    from l1t.datasets.formats import FORMATS

    s.add_argument("--format", default="auto", choices=FORMATS,
                   help="input format (default: detected from each file)")
    s.add_argument("--mapping", default=None, help="YAML branch-name mapping (NanoAOD inputs)")


def _add_bunches(s: argparse.ArgumentParser) -> None:
    """``--bunches``: colliding bunches that turn a per-crossing fraction into a rate."""
    from l1t.trigger.lhc import DEFAULT_BUNCHES

    from l1t.trigger.lhc import BX_PER_ORBIT

    s.add_argument("--bunches", type=_number(int, minimum=1, maximum=BX_PER_ORBIT),
                   default=DEFAULT_BUNCHES,
                   help=f"colliding bunches, 1..{BX_PER_ORBIT} (default {DEFAULT_BUNCHES})")


def _add_stitch_pthat(s: argparse.ArgumentParser) -> None:
    from l1t.trigger.job import DEFAULT_STITCH_PTHAT

    s.add_argument("--stitch-pthat", type=_number(minimum=0), default=DEFAULT_STITCH_PTHAT,
                   help="pT-hat (GeV) above which weighted qcd replaces zero-bias crossings "
                   f"(default {DEFAULT_STITCH_PTHAT:g})")


def _add_step_size(s: argparse.ArgumentParser) -> None:
    from l1t.trigger.job import DEFAULT_STEP

    s.add_argument("--step-size", type=_positive_int, default=DEFAULT_STEP,
                   help=f"crossings per chunk, the memory bound (default {DEFAULT_STEP})")


def _add_workers(s: argparse.ArgumentParser) -> None:
    """``--workers`` / ``--scheduler``: where the independent tasks run
    (:mod:`l1t.core.executor`)."""
    s.add_argument("--workers", type=_positive_int, default=None,
                   help="local worker processes (default: one per core; 1: this process)")
    s.add_argument("--scheduler", default=None,
                   help="dask.distributed scheduler address (instead of local processes)")


def _add_no_verify(s: argparse.ArgumentParser) -> None:
    """``--no-verify``: read productions without checking their chunks against the manifest."""
    s.add_argument("--no-verify", action="store_true",
                   help="read productions without checking each chunk's size, event count and "
                   "sha256 against its manifest (nor that the production is complete)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="l1t", description="Simulate a 40 MHz L1 trigger and take "
                                "its ML models to firmware.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("samples", help="list the Pythia8 samples")
    s.set_defaults(func=cmd_samples)

    s = sub.add_parser("generate", help="generate a PU-mixed sample with L1 objects: a built-in "
                       "sample, a Pythia command file or HepMC3 events")
    s.add_argument("sample", nargs="?", default=None,
                   help="sample name (see `l1t samples`); or give --pythia-cmnd or --hepmc")
    s.add_argument("--pythia-cmnd", default=None, metavar="FILE",
                   help="a Pythia8 command file: the sample, named after the file's stem "
                        "(14 TeV pp, Tune:pp 14 unless the file sets them)")
    s.add_argument("--hepmc", nargs="+", default=None, metavar="FILE",
                   help="HepMC3 ASCII event files (plain or .gz/.bz2/.xz/.zst): the hard "
                        "interactions, in order, named after the first file's stem")
    s.add_argument("--events", type=_positive_int, default=None,
                   help="number of crossings (default: a command file's Main:numberOfEvents; "
                        "every event of the HepMC files)")
    s.add_argument("--pileup", type=_pileup, default=0.0, help="mean pileup mu (0..300)")
    s.add_argument("--seed", type=_seed, default=1)
    s.add_argument("--out", required=True, help="output directory (chunks + manifest.json)")
    s.add_argument("--chunk-size", type=_positive_int, default=500)
    s.add_argument("--pool-size", type=_positive_int, default=2000,
                   help="min-bias events in the pileup pool (drawn with replacement)")
    s.add_argument("--format", choices=["parquet", "root"], default="parquet")
    s.add_argument("--lar", choices=["ideal", "of", "nn"], default="ideal",
                   help="EM tower ET: the ideal measurement (default), or reconstructed from "
                   "each tower's 40 MHz samples with out-of-time pileup by the optimal filter "
                   "(of) or a LAr net in firmware (nn)")
    s.add_argument("--lar-model", default=None, help="with --lar: a LAr model directory "
                   "(l1t train lar; of uses its optimal_filter.json) or a coefficients.json")
    _add_workers(s)
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_generate)

    s = sub.add_parser("summary", help="print an L1 object summary of files or productions")
    s.add_argument("inputs", nargs="+", help="files or production directories")
    _add_input_format(s)
    _add_no_verify(s)
    s.set_defaults(func=cmd_summary)

    s = sub.add_parser("jet-response", help="L1 jet response vs anti-kt 0.4 generator jets")
    s.add_argument("inputs", nargs="+", help="files or production directories")
    s.add_argument("--out", required=True, help="output directory (PNG + CSV)")
    s.add_argument("--min-gen-pt", type=_number(minimum=0), default=30.0,
                   help="generator-jet pT threshold, GeV (default 30)")
    _add_no_verify(s)
    s.set_defaults(func=cmd_jet_response)

    s = sub.add_parser("rates", help="rates of a menu: per seed, total, pure, overlaps, scans")
    s.add_argument("--menu", default=None, help="menu YAML (default: trigger/menus/lecture.yaml)")
    s.add_argument("--input", nargs="+", required=True,
                   help="zero-bias (minbias) files or productions, optionally weighted qcd ones")
    _add_input_format(s)
    _add_bunches(s)
    s.add_argument("--target-rate", type=_rate_list, default=None,
                   help="comma-separated kHz: thresholds giving these rates, per seed")
    _add_assign(s)
    _add_stitch_pthat(s)
    # the bound catches a unit slip (estimate: ~13x the 78.9 mb Pythia gives at 14 TeV, NOTES.md)
    s.add_argument("--sigma-inel", type=_number(above=0, maximum=1000), default=None,
                   help="inelastic cross section in mb (default: from the min-bias files)")
    _add_signal(s, required=False)
    _add_step_size(s)
    _add_workers(s)
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--quiet", action="store_true")
    _add_no_verify(s)
    s.set_defaults(func=cmd_rates)

    s = sub.add_parser("efficiency", help="signal efficiency of a menu: per seed, alone and for "
                       "the menu, with errors")
    s.add_argument("--menu", default=None, help="menu YAML (default: trigger/menus/lecture.yaml)")
    _add_signal(s, required=True)
    _add_input_format(s)
    _add_assign(s)
    _add_step_size(s)
    s.add_argument("--out", required=True, help="output directory (efficiency.csv, .json)")
    _add_no_verify(s)
    s.set_defaults(func=cmd_efficiency)

    s = sub.add_parser("muon-performance", help="muon pT: lookup table vs net at equal "
                       "efficiency (resolution, turn-ons, rates, reduction)")
    s.add_argument("--model", required=True, help="muon pT net directory (l1t train muon-pt)")
    s.add_argument("--gun", nargs="+", required=True, help="muon_gun productions (turn-ons)")
    s.add_argument("--rate-sample", nargs="+", required=True,
                   help="zero-bias (minbias) productions for the rates, e.g. at pileup 200")
    s.add_argument("--thresholds", type=_gev_list, default=[20.0, 22.0],
                   help="comma-separated single-muon thresholds in GeV (default 20,22)")
    _add_bunches(s)
    s.add_argument("--out", required=True, help="output directory (performance.json + PNGs)")
    _add_no_verify(s)
    s.set_defaults(func=cmd_muon_performance)

    s = sub.add_parser("turn-on", help="seed efficiency vs generator pT, with the 90%% point")
    s.add_argument("--menu", default=None, help="menu YAML (default: trigger/menus/lecture.yaml)")
    s.add_argument("--input", nargs="+", required=True, help="signal files or productions")
    s.add_argument("--seeds", nargs="+", default=None, help="seeds (default: all)")
    _add_assign(s)
    _add_input_format(s)
    s.add_argument("--out", required=True, help="output directory (PNG + JSON)")
    _add_no_verify(s)
    s.set_defaults(func=cmd_turn_on)

    s = sub.add_parser("train", help="train a deployable model (vae: the anomaly detector; "
                       "muon-lut: the muon pT lookup table; muon-pt: the muon pT net; lar: the "
                       "LAr energy net)")
    s.add_argument("model", choices=list(_TRAINERS))
    s.add_argument("--out", required=True,
                   help="model directory (vae: encoder.h5 + model.json; muon-lut: lut.npz; "
                   "muon-pt, lar: model.h5 + model.json)")
    s.add_argument("--data", default=None, help="vae: directory of productions named by sample "
                   "(default: generate a small set into OUT/data); muon-lut, muon-pt: a muon_gun "
                   "production")
    s.add_argument("--bits", type=_bits, default=None,
                   help="quantization-aware training with this weight width (default: vae "
                   "float, muon-pt 8, lar 8)")
    s.add_argument("--sparsity", type=_fraction, default=0.0,
                   help="pruning fraction of the kernels, 0 <= s < 1")
    s.add_argument("--epochs", type=_positive_int, default=None,
                   help="training epochs (default 30; lar: rnn 100, cnn and dense 20)")
    s.add_argument("--events", type=_positive_int, default=None,
                   help="background crossings in the mix (default: all the data allows)")
    s.add_argument("--pileup", type=_pileup, default=200.0, help="pileup of generated data")
    s.add_argument("--inputs", choices=["calo", "phase2"], default="calo",
                   help="vae: the 57 inputs from the calorimeter and standalone-muon objects "
                   "(default) or from the Phase-2 ones (PUPPI MET, TkElectron, TkMuon, PUPPI jets)")
    s.add_argument("--kind", choices=["rnn", "cnn", "dense"], default="rnn",
                   help="lar: the recurrent net (default), the 1-D CNN or the Dense net")
    s.add_argument("--channels", type=_positive_int, default=256,
                   help="lar: channels of the simulated streams (default 256)")
    s.add_argument("--crossings", type=_number(int, minimum=100, maximum=1_000_000),
                   default=3000, help="lar: crossings per channel (default 3000)")
    s.add_argument("--pool-size", type=_positive_int, default=2000,
                   help="lar: min-bias events the pileup spectrum is taken from (default 2000)")
    s.add_argument("--cache", default=None,
                   help="lar: cache of the min-bias pool (default OUT/.cache; a production's "
                   ".cache can be shared)")
    s.add_argument("--seed", type=_seed, default=1)
    s.add_argument("--quiet", action="store_true")
    _add_no_verify(s)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("scan", help="figure of merit vs bit width and vs sparsity")
    s.add_argument("model", choices=["vae"])
    s.add_argument("--data", required=True, help="directory of productions named by sample")
    s.add_argument("--out", required=True, help="output directory (CSV + PNG)")
    s.add_argument("--bits", type=_bits, nargs="+", default=[4, 6, 8, 10, 12])
    s.add_argument("--sparsity", type=_fraction, nargs="+", default=[0.0, 0.5, 0.75, 0.9])
    s.add_argument("--fpr", type=_number(above=0, below=1), default=1e-3,
                   help="background false-positive rate of the figure of merit")
    s.add_argument("--epochs", type=_positive_int, default=30)
    s.add_argument("--seed", type=_seed, default=1)
    _add_no_verify(s)
    s.set_defaults(func=cmd_scan)

    s = sub.add_parser("evaluate-anomaly", help="signal efficiency at background FPR")
    s.add_argument("--model", nargs="+", required=True, help="model directories")
    s.add_argument("--data", default=None, help="directory of productions named by sample "
                   "(default: the one each model was trained on)")
    s.add_argument("--scores", nargs="+", default=["axo"], choices=["axo", "rz", "kl"])
    s.add_argument("--signal", nargs="+", default=None, metavar="DIR",
                   help="signal productions or files (e.g. from a command file or HepMC "
                        "events), evaluated besides the data directory's built-in signals")
    _add_no_verify(s)
    s.set_defaults(func=cmd_evaluate_anomaly)

    s = sub.add_parser("tune-anomaly", help="anomaly-score thresholds at target rates -> menu")
    s.add_argument("--model", required=True, help="anomaly model directory")
    s.add_argument("--input", nargs="+", required=True,
                   help="zero-bias files or productions, optionally weighted qcd ones")
    s.add_argument("--target-rates", type=_rate_list, required=True, help="kHz, e.g. 1,5,10")
    _add_stitch_pthat(s)
    s.add_argument("--out", required=True, help="menu YAML to write (base menu + anomaly seeds)")
    s.add_argument("--menu", default=None, help="base menu (default: trigger/menus/lecture.yaml)")
    s.add_argument("--score", default="axo", choices=["axo", "rz", "kl"])
    _add_bunches(s)
    s.add_argument("--signal", nargs="+", default=None,
                   help="signal productions: print efficiency and pure efficiency per WP")
    _add_no_verify(s)
    s.set_defaults(func=cmd_tune_anomaly, out_kind="file")

    s = sub.add_parser("firmware", help="firmware checks (software vs emulator vs C-sim vs RTL)")
    fsub = s.add_subparsers(dest="firmware_command", required=True, metavar="ACTION")
    c = fsub.add_parser("check", help="compare implementations of a QKeras Dense model pairwise")
    c.add_argument("model", help="a .h5/.keras QKeras model, or an l1t model directory "
                                 "(l1t train vae, l1t train muon-pt)")
    c.add_argument("--input-precision", default=None,
                   help='input type, e.g. "ap_fixed<16,6>" (default: the model\'s own)')
    c.add_argument("--events", type=_positive_int, default=10_000)
    c.add_argument("--backends", type=_backend_list, default="emulator,hls4ml",
                   help="comma-separated: emulator, hls4ml, rtl")
    c.add_argument("--seed", type=_seed, default=1)
    c.add_argument("--out", required=True, help="output directory (check.json, projects)")
    c.set_defaults(func=cmd_firmware_check)

    s = sub.add_parser("lar", help="LAr calorimeter energy reconstruction")
    lsub = s.add_subparsers(dest="lar_command", required=True, metavar="ACTION")
    c = lsub.add_parser("optimal-filter", help="optimal-filter coefficients a, b from a pulse "
                        "shape and the noise autocorrelation")
    c.add_argument("--pulse", default="analytic",
                   help="CSV t_ns,g[,dg_dt], or 'analytic' (triangle through CR-(RC)^2; default)")
    c.add_argument("--autocorr", default="white",
                   help="CSV lag,r (lag in 25 ns samples), or 'white' (default)")
    c.add_argument("--samples", type=_number(int, minimum=2, maximum=32), default=5,
                   help="samples in the filter (default 5)")
    c.add_argument("--first-sample-ns", type=_number(minimum=-1000, maximum=1000), default=None,
                   help="time of the first sample after the deposit in ns (default: one sample "
                        "before the pulse's peak)")
    c.add_argument("--out", required=True, help="output directory (coefficients.json)")
    c.set_defaults(func=cmd_lar_optimal_filter)

    s = sub.add_parser("lar-performance", help="LAr nets vs the optimal filter: resolution and "
                       "bias vs ET, pileup, train position and after a large deposit")
    s.add_argument("--model", nargs="+", required=True, help="LAr model directories "
                   "(l1t train lar)")
    s.add_argument("--pileup", type=_pileup, default=200.0, help="main <mu> (default 200)")
    s.add_argument("--pileup-scan", type=_pileup, nargs="+", default=[140.0, 200.0, 250.0],
                   help="<mu> points of the pileup scan (default 140 200 250)")
    s.add_argument("--channels", type=_positive_int, default=128,
                   help="channels, one orbit each (default 128)")
    s.add_argument("--pool-size", type=_positive_int, default=2000,
                   help="min-bias events of the pileup spectrum (default 2000)")
    s.add_argument("--cache", default=None, help="cache of the min-bias pool (default "
                   "OUT/.cache)")
    s.add_argument("--seed", type=_seed, default=11)
    s.add_argument("--out", required=True, help="output directory (performance.json, PNGs)")
    s.set_defaults(func=cmd_lar_performance)

    s = sub.add_parser("validate", help="firmware vs software of every model a menu cuts on: "
                       "checks, decision flips and their rate impact")
    s.add_argument("--menu", required=True, help="menu YAML with cuts on deployable models")
    s.add_argument("--input", nargs="+", required=True, help="zero-bias files or productions")
    s.add_argument("--out", required=True, help="output directory (validate.json, PNGs, checks)")
    s.add_argument("--events", type=_positive_int, default=10_000,
                   help="grid inputs of each model's firmware check")
    s.add_argument("--backends", type=_backend_list, default="emulator,hls4ml,rtl",
                   help="comma-separated: emulator, hls4ml, rtl")
    s.add_argument("--seed", type=_seed, default=1, help="seed of the check's grid inputs")
    _add_bunches(s)
    _add_step_size(s)
    _add_no_verify(s)
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("stream", help="the 40 MHz crossing stream through a trigger pipeline")
    s.add_argument("--pipeline", default=None,
                   help="pipeline YAML, or a preset: phase2 (default), run3")
    s.add_argument("--menu", default=None, help="menu YAML (default: trigger/menus/lecture.yaml)")
    s.add_argument("--input", nargs="+", required=True,
                   help="zero-bias (minbias) files or productions, optionally weighted qcd ones "
                        "(stitched as l1t rates does)")
    _add_stitch_pthat(s)
    s.add_argument("--sigma-inel", type=_number(above=0, maximum=1000), default=None,
                   help="inelastic cross section in mb (default: from the min-bias files)")
    s.add_argument("--signal", nargs="+", default=None, metavar="DIR",
                   help="signal productions injected at random colliding slots: their "
                        "efficiency after prescales, pipeline, trigger rules and derandomizer")
    s.add_argument("--signal-fraction", type=_number(above=0, maximum=1), default=None,
                   help="fraction of the colliding slots each signal takes")
    t = s.add_mutually_exclusive_group()
    t.add_argument("--seconds", type=_number(above=0, maximum=86400), default=None,
                   help="beam time to simulate (s, up to a day)")
    t.add_argument("--orbits", type=_positive_int, default=None, help="orbits to simulate")
    s.add_argument("--filling-scheme", default=None,
                   help="file of colliding BX (default: nominal 2808 bunches)")
    s.add_argument("--mu", default=None,
                   help="<mu> (default: the inputs'), or a profile T:MU,T:MU,... (s:mu)")
    s.add_argument("--firmware", nargs="*", default=None, metavar="STAGE=REPORT",
                   help="take a model stage's latency/II/clock from a firmware report")
    s.add_argument("--cycle-level", choices=("auto", "all"), default="auto",
                   help="simulate the pipeline on every BX (all) or until it is periodic (auto)")
    s.add_argument("--seed", type=_seed, default=1)
    s.add_argument("--out", required=True)
    s.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint in --out (the same stream, up to a "
                        "longer --seconds/--orbits)")
    s.add_argument("--checkpoint-seconds", type=_number(minimum=0), default=None,
                   help="wall seconds between checkpoints, each after a complete chunk "
                        "(default 2)")
    s.add_argument("--quiet", action="store_true")
    _add_no_verify(s)
    s.set_defaults(func=cmd_stream)

    s = sub.add_parser("profile", help="latency vs batch size of the deployable models and "
                       "reference nets on every backend here; model splits FPGA | CPU")
    from l1t.models.reference import FAMILIES, SIZES
    from l1t.validation.profile import BATCH_SIZES, BUDGET_S, DEFAULT_BACKENDS
    from l1t.validation.split import BX_MHZ, DEFAULT_CPU_CORES, DEFAULT_LINK_GBPS

    s.add_argument("models", nargs="*", default=[],
                   help="run directories (searched for deployable models) or model directories")
    s.add_argument("--models", dest="models_opt", nargs="+", default=[], metavar="DIR",
                   help="more run or model directories")
    s.add_argument("--reference", type=_name_list, default=list(FAMILIES),
                   help=f"reference nets: comma-separated of {', '.join(FAMILIES)}, or none "
                        "(default: all)")
    s.add_argument("--sizes", type=_name_list, default=["s", "m"],
                   help=f"reference sizes: comma-separated of {', '.join(SIZES)} (default s,m)")
    s.add_argument("--backends", type=_name_list, default=list(DEFAULT_BACKENDS),
                   help=f"comma-separated: {', '.join(DEFAULT_BACKENDS)} (default: all; those "
                        "missing here are listed with the reason)")
    s.add_argument("--batch-sizes", type=_batch_list, default=list(BATCH_SIZES),
                   help="comma-separated (default " + ",".join(map(str, BATCH_SIZES)) + ")")
    s.add_argument("--budget", type=_number(float, above=0, maximum=60), default=BUDGET_S,
                   help=f"seconds of calls per point (default {BUDGET_S:g})")
    s.add_argument("--link-gbps", type=_number(float, above=0, maximum=1e5),
                   default=DEFAULT_LINK_GBPS,
                   help=f"link budget of the split analysis in Gb/s (default "
                        f"{DEFAULT_LINK_GBPS:g}, an estimate: one serial link)")
    s.add_argument("--event-rate-mhz", type=_number(float, above=0, maximum=BX_MHZ),
                   default=BX_MHZ, help=f"events per second (MHz) the split's link and CPU "
                   f"tail must carry (default {BX_MHZ:g}: every crossing; 0.75: the L1 accepts)")
    s.add_argument("--cpu-cores", type=_number(int, minimum=0, maximum=1 << 20),
                   default=DEFAULT_CPU_CORES,
                   help=f"CPU cores the split's tail may use (default {DEFAULT_CPU_CORES}, an "
                        "estimate: one dual-socket server)")
    s.add_argument("--no-split", action="store_true", help="skip the split analysis")
    s.add_argument("--rtl-simulate", action="store_true",
                   help="also build the RTL in Verilator and time its simulation (slow)")
    s.add_argument("--seed", type=_seed, default=1)
    s.add_argument("--out", required=True, help="output directory (profile.json, table, PNGs)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_profile)

    s = sub.add_parser("report", help="one self-contained HTML page of a run's outputs")
    s.add_argument("run_dir", help="the run directory (e.g. demo-out)")
    s.add_argument("--out", required=True, help="the HTML file to write")
    s.set_defaults(func=cmd_report, out_kind="file")

    s = sub.add_parser("export", help="a benchmark-ready dataset (ADC2021 h5, parquet, ROOT) "
                       "of a run's productions, with its datasheet")
    from l1t.datasets.export import EXPORT_FORMATS

    s.add_argument("run_dir", help="a run directory (its productions) or one production")
    s.add_argument("--format", required=True, choices=list(EXPORT_FORMATS))
    s.add_argument("--samples", nargs="+", default=None, help="only these samples")
    s.add_argument("--out", required=True, help="output directory (files, datasheet)")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("demo", help="the main job on a small embedded default")
    s.add_argument("--out", default="demo-out")
    s.add_argument("--events", type=_positive_int, default=10000, help="zero-bias crossings")
    s.add_argument("--pileup", type=_pileup, default=200.0)
    s.add_argument("--seed", type=_seed, default=1)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_demo)
    return p


def quiet_frameworks() -> None:
    """Keep TensorFlow, Keras, QKeras and hls4ml chatter out of the command's output: their
    C++ start-up log (cuDNN/cuFFT registration, no CUDA driver), Python-side warnings (legacy
    HDF5 saving, QKeras quantizers in ``keras.constraints.serialize``) and the ``tensorflow``
    logger below ERROR. ``TF_CPP_MIN_LOG_LEVEL`` set by the user wins."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for module in ("keras", "qkeras", "hls4ml", "tensorflow", "tensorflow_model_optimization"):
        warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


#: Options naming files or directories a command reads: its output may not overwrite them or
#: lie inside them.
_INPUT_OPTIONS = ("input", "inputs", "data", "model", "menu", "signal", "pipeline",
                  "filling_scheme", "mapping", "gun", "rate_sample", "assign", "pulse",
                  "autocorr", "pythia_cmnd", "hepmc")


def _inputs_of(args) -> list[str]:
    out: list[str] = []
    for name in _INPUT_OPTIONS:
        value = getattr(args, name, None)
        out += [value] if isinstance(value, str) else list(value or ())
    return out


def _check_arguments(args) -> None:
    """What can be checked before any work: the output path against the inputs, and that a
    given ``--mapping`` file is a mapping l1t reads."""
    from l1t.core.outputs import check_output

    if getattr(args, "out", None) is not None:
        check_output(args.out, _inputs_of(args), getattr(args, "out_kind", "dir"))
    if getattr(args, "mapping", None):
        from l1t.datasets.formats import load_mapping

        load_mapping(args.mapping)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_frameworks()
    try:
        _check_arguments(args)
        if getattr(args, "no_verify", False):
            from l1t.datasets.integrity import verification

            with verification(False):
                return args.func(args)
        return args.func(args)
    except L1TInputError as err:
        print(f"l1t: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (| head): what it wanted was printed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:   # the machine, not the input: disk full, a path vanishing meanwhile
        where = f"{err.filename}: " if err.filename else ""
        print(f"l1t: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
