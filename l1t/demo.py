"""``l1t demo``: the main job on a small embedded default.

1. Samples at ⟨μ⟩ = 200: zero-bias (min-bias) crossings, weighted hard-QCD crossings for the
   rate tails, and Z→ℓℓ as a signal; an L1 object summary of each.
2. A small VAE anomaly detector (6-bit QAT encoder) trained on the ADC2021-style background mix,
   or the one trained by an earlier run; its 5 kHz working point tuned on the zero-bias crossings.
3. The encoder converted to firmware: software vs bit-exact emulator vs hls4ml C simulation vs
   da4ml RTL in Verilator on a few thousand events, and the RTL latency in clocks.
4. The rate tables of the Phase-2 menu plus that anomaly seed and of the lecture menu on
   calorimeter objects, zero-bias stitched with the weighted QCD crossings.
5. The muon pT net: a muon-gun production, a net trained on it (or the one of an earlier run),
   its firmware check (Keras vs emulator vs C-sim vs RTL, latency within 240 ns), and the
   lookup table vs the net at equal efficiency: turn-on 90% points, single-muon rates on the
   zero-bias crossings and the rate reduction at 22 GeV.
6. The LAr energy reconstruction: a small recurrent net trained on sample streams with pileup
   from the zero-bias pool (or the one of an earlier run), its firmware check with the channels
   per device, and its resolution and bias beside the optimal filter's.
7. A few orbits of the 40 MHz stream through the Phase-2 preset pipeline, its anomaly, muon pT
   and LAr stages taking latency/II/clock from the RTL firmware reports, drawing the rate
   table's crossings (zero-bias + the weighted QCD tail) with Z→ℓℓ injected: accept rates,
   deadtime, the signal's efficiency after them, and the latency budget table.
8. The profile of both nets and of the smallest reference MLP, 1-D CNN and MLP-Mixer on every
   backend here (latency per call vs batch size, FPGA figures from RTL), and where to split each
   net between the FPGA and a CPU for a 16 Gb/s link.
9. The report: one HTML page of everything above, its path printed last.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from l1t.datasets.detector import DEFAULT
from l1t.datasets.inputs import expand_inputs, read_inputs
from l1t.datasets.production import MANIFEST, produce, read_manifest
from l1t.datasets.summary import format_summary, object_summary
from l1t.models.anomaly.train import make_default_data, train_vae, training_text
from l1t.models.anomaly.vae import VAEConfig
from l1t.models.lar.train import LArData, train_lar
from l1t.models.muon.nn import NetConfig
from l1t.models.muon.train import train_muon_pt
from l1t.trigger.anomaly import tune, write_menu
from l1t.trigger.job import RateJob, run
from l1t.trigger.menu import MENUS_DIR, load_menu
from l1t.trigger.muon_performance import muon_performance
from l1t.trigger.rates import summarize
from l1t.validation.firmware_check import check_table_text, firmware_check
from l1t.validation.lar_performance import lar_performance
from l1t.validation.lar_performance import table_text as lar_table_text
from l1t.validation.profile import profile, profile_table_text
from l1t.validation.report import report_text, write_report
from l1t.validation.split import split_table_text
from l1t.trigger.report import rate_table_text, write_rates
from l1t.trigger.stream.injection import signal_table_text
from l1t.trigger.stream.report import latency_table_text, stream_job, stream_table_text

#: pT-hat above which the weighted QCD sample replaces zero-bias crossings at μ = 200, where
#: P(≥ 1 interaction above it) is a few per cent (30 GeV would give 36%).
DEMO_STITCH_PTHAT = 60.0
DEMO_ANOMALY_RATE = 5.0  # kHz
#: the menu the demo's anomaly seed joins, whose rates and stream it shows: the Phase-2 one
PHASE2_MENU = MENUS_DIR / "phase2.yaml"
DEMO_FIRMWARE_EVENTS = 3000
DEMO_STREAM_ORBITS = 200      #: 0.7 million BX, 18 ms of beam
DEMO_SIGNAL_FRACTION = 0.002  #: of the colliding slots: about 1,100 Z->ll crossings injected
DEMO_MUON_GUN = 30000         #: gun muons for the demo's muon pT net (about a minute)
DEMO_MUON_THRESHOLD = 22.0    #: GeV, the single-muon seed of the menus
#: the demo's LAr net: streams of 128 channels x 2000 crossings (about a minute of training)
DEMO_LAR_DATA = LArData(channels=128, crossings=2000)
DEMO_LAR_CHANNELS = 32        #: channels (one orbit each) of the demo's LAr comparison
DEMO_PROFILE_BUDGET = 0.2     #: s of calls per (model, backend, batch size)
#: Crossings per sample for the demo's anomaly detector (about 1,800 background after the mix).
DEMO_ANOMALY_DATA = {"w_lnu": 2500, "qcd_pt15": 2800, "z_ll": 350, "ttbar": 50,
                     "a50_4l": 300, "lq80_btau": 300, "h60_tautau": 300, "hpm60_taunu": 300}


def _stale(production: Path) -> bool:
    """Whether ``production`` was made by another detector (an older l1t): the demo owns its
    directory and makes such a production again instead of refusing it."""
    if not (production / MANIFEST).exists():
        return False
    return read_manifest(production)["parameters"].get("detector") != DEFAULT.to_dict()


def run_demo(out_dir: str | Path = "demo-out", events: int = 10000, pileup: float = 200.0,
             seed: int = 1, progress: bool = True, echo=print) -> dict:
    """Run the demo into ``out_dir`` (resumes if rerun) and print what it made."""
    out = Path(out_dir)
    result = {}
    cache = out / ".cache"
    stale = [p for p in [out / s for s in ("minbias", "qcd", "z_ll", "muon-gun")]
             + sorted((out / "anomaly-data").glob("*")) if _stale(p)]
    if stale:
        echo(f"== made by another detector, generated again: {', '.join(map(str, stale))}")
        for p in stale:
            shutil.rmtree(p)
        if any(p.parent.name == "anomaly-data" for p in stale):
            shutil.rmtree(out / "vae", ignore_errors=True)   # trained on that data
        if out / "muon-gun" in stale:
            shutil.rmtree(out / "muon-pt", ignore_errors=True)
    for sample, n in (("minbias", events), ("qcd", max(events // 20, 50)),
                      ("z_ll", max(events // 40, 50))):
        t0 = time.perf_counter()
        manifest = produce(sample, n, out / sample, pileup=pileup, seed=seed,
                           chunk_size=max(min(n // 2, 5000), 25), pool_size=2000, progress=progress,
                           cache_dir=cache)
        dt = time.perf_counter() - t0
        events_ = read_inputs([out / sample])
        rows = object_summary(events_)
        echo(f"\n== {sample}: {len(events_)} crossings at <mu> = {pileup:g} "
             f"(sigma = {manifest['sigma_mb']:.4g} mb), {dt:.0f} s -> {out / sample}")
        echo(format_summary(rows))
        result[sample] = {"manifest": manifest, "summary": rows}

    model_dir = out / "vae"
    if not (model_dir / "model.json").exists():
        t0 = time.perf_counter()
        data = make_default_data(out / "anomaly-data", pileup=pileup, seed=seed + 10,
                                 sizes=DEMO_ANOMALY_DATA, progress=progress)
        model, meta = train_vae(data, model_dir, VAEConfig(bits=6, seed=seed))
        echo(f"\n== {training_text(model, meta)}\n-> {model_dir} "
             f"({time.perf_counter() - t0:.0f} s with the data)")
    else:
        echo(f"\n== VAE anomaly encoder: reusing {model_dir}")
    wps = tune(model_dir, expand_inputs([out / "minbias", out / "qcd"]), [DEMO_ANOMALY_RATE],
               stitch_pthat=DEMO_STITCH_PTHAT)
    menu_path = write_menu(wps, model_dir, out / "menu_with_axo.yaml", base_menu=PHASE2_MENU)
    w = wps[0]
    echo(f"{w['seed']}: score >= {w['threshold']:.4g} for {w['target_khz']:g} kHz "
         f"({w['rate_khz']:.2f} ± {w['rate_err_khz']:.2f} kHz, zero-bias + weighted QCD) "
         f"-> {menu_path}")

    check = _firmware_step(model_dir, out / "firmware", "the encoder", "events", echo)

    summary = None
    for name, path, rates_dir in (("the Phase-2 menu", menu_path, out / "rates"),
                                  ("the lecture menu on calorimeter objects", None,
                                   out / "rates-lecture")):
        menu = load_menu(path)
        groups = run(RateJob(menu, stitch_pthat=DEMO_STITCH_PTHAT),
                     expand_inputs([out / "minbias", out / "qcd"]))
        rates = summarize(groups, menu, targets_khz=(10.0,))
        paths = write_rates(rates, rates_dir)
        echo(f"\n== rates of {name} ({menu.name}"
             + (f" + {w['seed']}" if path else "") + f"): zero-bias + weighted QCD above pT-hat "
             f"{DEMO_STITCH_PTHAT:g} GeV (P(hard) = {rates['pileup'][0]['p_hard']:.3f}) "
             f"-> {paths['csv']}")
        echo(rate_table_text(rates))
        summary = summary or rates
    result["rates"] = summary

    muon_report = _muon_demo(out, seed, progress, echo, result)
    lar_report = _lar_demo(out, seed, echo, result)

    report = check.get("firmware_report")
    firmware = {k: v for k, v in (("anomaly", report), ("muon_pt", muon_report),
                                  ("lar", lar_report)) if v}
    stream, paths = stream_job(menu_path, [out / "minbias", out / "qcd"], out / "stream",
                               orbits=DEMO_STREAM_ORBITS, seed=seed, firmware=firmware or None,
                               stitch_pthat=DEMO_STITCH_PTHAT, signals=[out / "z_ll"],
                               signal_fraction=DEMO_SIGNAL_FRACTION, progress=progress)
    echo(f"\n== {DEMO_STREAM_ORBITS} orbits of the 40 MHz stream through the Phase-2 pipeline "
         f"(nominal 2808-bunch filling, the rate table's crossings: zero-bias + weighted QCD "
         f"above pT-hat {DEMO_STITCH_PTHAT:g} GeV at <mu> = {stream['mean_mu']:.0f}; Z->ll in "
         f"{DEMO_SIGNAL_FRACTION:g} of the colliding slots; model stages from "
         f"{', '.join(firmware.values()) or 'the preset'}) -> {paths['json']}")
    echo(stream_table_text(stream))
    echo("")
    echo(signal_table_text(stream["signals"]))
    echo("")
    echo(latency_table_text(stream))
    result["stream"] = stream

    prof = profile([out / "vae", out / "muon-pt", out / "lar-rnn"], out / "profile", sizes=("s",),
                   budget_s=DEMO_PROFILE_BUDGET, progress=progress)
    echo(f"\n== profile of the nets and the smallest reference nets on every backend here "
         f"-> {prof.paths['json']}")
    echo(profile_table_text(prof))
    for s in prof.splits:
        echo("")
        echo(split_table_text(s))
    result["profile"] = prof

    report = write_report(out, out / "report.html")
    echo(f"\n== {report_text(report)}")
    result["report"] = report.path
    return result


def _firmware_step(model_dir: Path, out: Path, what: str, unit: str, echo) -> dict:
    """A model's firmware check on every backend (Keras, emulator, C-sim, RTL), printed."""
    check = firmware_check(model_dir, None, DEMO_FIRMWARE_EVENTS, ["emulator", "hls4ml", "rtl"],
                           out)
    echo(f"\n== firmware check of {what} ({check['input_precision']} inputs, "
         f"{check['events']} {unit}) -> {out / 'check.json'}")
    echo(check_table_text(check))
    return check


def _muon_demo(out: Path, seed: int, progress: bool, echo, result: dict) -> str | None:
    """Step 5: the muon pT net against the lookup table; returns its firmware report's path."""
    gun = out / "muon-gun"
    produce("muon_gun", DEMO_MUON_GUN, gun, seed=seed + 20, chunk_size=DEMO_MUON_GUN // 6,
            progress=progress, cache_dir=out / ".cache")
    model_dir = out / "muon-pt"
    if not (model_dir / "model.json").exists():
        echo("\n== " + train_muon_pt(gun, model_dir, NetConfig(sparsity=0.5, seed=seed)).text())
    else:
        echo(f"\n== muon pT net: reusing {model_dir}")
    check = _firmware_step(model_dir, out / "muon-firmware", "the muon pT net", "candidates",
                           echo)
    perf = muon_performance(model_dir, [gun], [out / "minbias"], [DEMO_MUON_THRESHOLD],
                            out / "muon-performance")
    t = perf.thresholds[0]
    echo("\n== muon pT: lookup table vs net at equal efficiency (gun turn-ons, zero-bias rates)")
    echo(perf.text())
    if t.reduction is not None:
        echo(f"single muon at {t.threshold_gev:g} GeV: rate reduction LUT / net = "
             f"{t.reduction:.2f} ± {t.reduction_err:.2f} ({t.lut.crossings} vs {t.nn.crossings} "
             f"crossings)")
    else:
        echo(f"single muon at {t.threshold_gev:g} GeV: no crossing fires with the net "
             f"({t.lut.crossings} with the table): the reduction needs more crossings")
    result["muon"] = perf
    return check.get("firmware_report")


def _lar_demo(out: Path, seed: int, echo, result: dict) -> str | None:
    """Step 6: the LAr recurrent net against the optimal filter; returns its firmware report's
    path."""
    model_dir = out / "lar-rnn"
    if not (model_dir / "model.json").exists():
        echo("\n== " + train_lar("rnn", model_dir, data=DEMO_LAR_DATA, cache_dir=out / ".cache")
             .text())
    else:
        echo(f"\n== LAr recurrent net: reusing {model_dir}")
    check = _firmware_step(model_dir, out / "lar-firmware", "the LAr net's step", "steps", echo)
    perf = lar_performance([model_dir], out / "lar-performance", channels=DEMO_LAR_CHANNELS,
                           seed=seed + 30, cache_dir=out / ".cache")
    echo(f"\n== LAr: the net (firmware) beside the optimal filter, {DEMO_LAR_CHANNELS} channels "
         f"x one orbit -> {out / 'lar-performance'}")
    echo(lar_table_text(perf))
    result["lar"] = perf
    return check.get("firmware_report")
