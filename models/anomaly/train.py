"""``l1t train vae``: data, training, evaluation and the saved artifact in one call."""
from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from . import data as anomaly_data
from .evaluation import evaluate
from .vae import AnomalyModel, VAEConfig, train

#: Events per sample of the default (small) training data at μ = 200.
DEFAULT_DATA = {"w_lnu": 5000, "qcd_pt15": 5500, "z_ll": 700, "ttbar": 100,
                "a50_4l": 500, "lq80_btau": 500, "h60_tautau": 500, "hpm60_taunu": 500}


def make_default_data(data_dir: str | Path, pileup: float = 200.0, seed: int = 11,
                      sizes: dict[str, int] | None = None, progress: bool = False) -> Path:
    """Generate (or resume) the productions the VAE trains and is evaluated on."""
    from l1t.datasets.production import produce

    data = Path(data_dir)
    for sample, n in (sizes or DEFAULT_DATA).items():
        produce(sample, n, data / sample, pileup=pileup, seed=seed, chunk_size=max(n // 2, 30),
                pool_size=2000, progress=progress, cache_dir=data / ".cache")
    return data


def train_vae(data_dir: str | Path, out_dir: str | Path, cfg: VAEConfig,
              n_events: int | None = None, echo=print) -> tuple[AnomalyModel, dict]:
    """Train on the background mix of ``data_dir``, evaluate on held-out background and on every
    signal found there, and save model + metadata into ``out_dir``."""
    t0 = time.perf_counter()
    words, labels, mix = anomaly_data.background(data_dir, n_events, seed=cfg.seed,
                                                 objects=cfg.inputs)
    half = len(words) // 2
    train_w, test_w = words[:half], words[half:]
    n_val = max(len(train_w) // 10, 1)
    model, history = train(train_w[n_val:], cfg, val_words=train_w[:n_val])
    bkg_scores = model.scores(test_w)
    signals = {}
    for name in anomaly_data.SIGNALS:
        if (Path(data_dir) / name).exists():
            signals[name] = model.scores(anomaly_data.signal(data_dir, name, cfg.inputs))
    rows = evaluate(bkg_scores, signals)
    meta = {"training": {"data": str(data_dir), "requested_events": n_events,
                         "background_mix": mix,
                         "train_events": int(len(train_w) - n_val), "validation_events": n_val,
                         "test_events": int(len(test_w)), "seed": cfg.seed,
                         "history": history, "seconds": round(time.perf_counter() - t0, 1)},
            "evaluation": rows}
    model.save(out_dir, extra=meta)
    return model, meta


def efficiency_table(rows: list[dict], score: str = "axo", fprs=(1e-5, 1e-4, 1e-3, 1e-2)) -> str:
    lines = [f"{'signal':14s} {'AUC':>6s} " + " ".join(f"{'eff@' + format(f, 'g'):>16s}" for f in fprs)]
    for r in rows:
        if r["score"] != score:
            continue
        cells = []
        for f in fprs:
            e = r[f"eff_at_{f:g}"]
            flag = "" if e["resolved"] else "†"
            cells.append(f"{100 * e['efficiency']:7.3f}% ±{100 * e['efficiency_err']:5.3f}{flag}")
        lines.append(f"{r['signal']:14s} {r['auc']:6.3f} " + " ".join(f"{c:>16s}" for c in cells))
    lines.append("(† FPR below 1/N_background: threshold = the highest background score)")
    return "\n".join(lines)


def scan_vae(data_dir: str | Path, out_dir: str | Path, base: VAEConfig,
             bits: tuple[int, ...] = (4, 6, 8, 10, 12), sparsities: tuple[float, ...] = (0.0, 0.5, 0.75, 0.9),
             fpr: float = 1e-3, n_events: int | None = None) -> dict:
    """Figure of merit (mean signal efficiency at background ``fpr``, ``axo`` score) of the VAE
    encoder vs weight bit width (QAT) and vs encoder sparsity (float); CSV + PNG into ``out_dir``."""
    from dataclasses import replace

    from .evaluation import efficiency_at_fpr
    from ..scan import scan_bits, scan_sparsity, write_scan

    words, _, _ = anomaly_data.background(data_dir, n_events, seed=base.seed,
                                          objects=base.inputs)
    half = len(words) // 2
    train_w, test_w = words[:half], words[half:]
    signals = {n: anomaly_data.signal(data_dir, n, base.inputs) for n in anomaly_data.SIGNALS
               if (Path(data_dir) / n).exists()}
    def fom(model: AnomalyModel) -> float:
        b = model.scores(test_w)["axo"]
        return float(np.mean([efficiency_at_fpr(b, model.scores(w)["axo"], fpr)["efficiency"]
                              for w in signals.values()]))

    def by_bits(b: int) -> AnomalyModel:
        return train(train_w, replace(base, bits=b))[0]

    rows_bits = scan_bits(by_bits, fom, bits)
    float_model, _ = train(train_w, replace(base, bits=None))
    float_fom = fom(float_model)
    for r in rows_bits:
        r["float_value"] = float_fom
    sparsity_models: dict[float, AnomalyModel] = {}

    def build_sparse(s: float):
        sparsity_models[s], _ = train(train_w, replace(base, bits=None, sparsity=s))
        return sparsity_models[s].encoder

    def eval_sparse(encoder) -> float:
        model = next(m for m in sparsity_models.values() if m.encoder is encoder)
        return fom(model)

    rows_sparse = scan_sparsity(build_sparse, eval_sparse, sparsities)
    out = Path(out_dir)
    label = f"mean signal efficiency at FPR {fpr:g}"
    paths = {"bits": write_scan(rows_bits, out / "scan_bits.csv", out / "scan_bits.png",
                                "encoder weight bits (QAT)", label),
             "sparsity": write_scan(rows_sparse, out / "scan_sparsity.csv",
                                    out / "scan_sparsity.png", "encoder sparsity", label)}
    return {"bits": rows_bits, "sparsity": rows_sparse, "paths": paths, "fpr": fpr,
            "test_events": int(len(test_w))}


def training_text(model: AnomalyModel, meta: dict) -> str:
    """One line on a model :func:`train_vae` trained (encoder precision and sparsity, background
    crossings, seconds), then its efficiency table."""
    cfg = model.config
    kind = f"QAT {cfg.bits}-bit" if cfg.bits else "float"
    if cfg.sparsity:
        kind += f", sparsity {cfg.sparsity:g}"
    t = meta["training"]
    return (f"VAE anomaly encoder ({kind}) trained on {t['train_events']} background crossings "
            f"in {t['seconds']:.0f} s\n" + efficiency_table(meta["evaluation"]))


def scan_table_text(result: dict) -> str:
    """:func:`scan_vae` as two tables: the figure of merit vs weight bits (QAT and its float
    reference) and vs encoder sparsity (asked, measured)."""
    lines = [f"figure of merit: mean signal efficiency at background FPR {result['fpr']:g} "
             f"({result['test_events']} background test crossings)",
             f"{'bits':>6s} {'QAT':>8s} {'float':>8s}"]
    for r in result["bits"]:
        lines.append(f"{r['bits']:6d} {100 * r['value']:7.2f}% {100 * r['float_value']:7.2f}%")
    lines.append(f"{'sparsity':>8s} {'measured':>9s} {'value':>8s}")
    for r in result["sparsity"]:
        lines.append(f"{r['sparsity']:8.2f} {r['measured_sparsity']:9.3f} {100 * r['value']:7.2f}%")
    return "\n".join(lines)


def held_out_background(model: AnomalyModel, source: str | Path,
                        data_dir: str | Path | None = None) -> np.ndarray:
    """The background test crossings ``(N, 57)`` a saved model was evaluated on when trained:
    the mix rebuilt from its record (data directory, requested events, seed) and its second half.
    ``source`` names the model in errors; ``data_dir`` replaces the recorded directory (the same
    productions moved elsewhere). Data that no longer give the recorded split are an
    :class:`L1TInputError`."""
    from l1t.core.errors import L1TInputError

    t = model.meta.get("training")
    if not isinstance(t, dict) or "seed" not in t or "test_events" not in t:
        raise L1TInputError(source, "the model's record has no training split (train it with "
                            "l1t train)", "training")
    data = Path(data_dir) if data_dir is not None else Path(t["data"])
    words, _, _ = anomaly_data.background(data, t.get("requested_events"), seed=t["seed"],
                                          objects=model.config.inputs)
    test = words[len(words) // 2:]
    if len(test) != t["test_events"]:
        raise L1TInputError(data, f"gives {len(test)} background test crossings, the model "
                            f"{source} was evaluated on {t['test_events']}: not the data it was "
                            "trained on", "training.test_events")
    return test


def evaluate_saved(model_dir: str | Path, data_dir: str | Path | None = None,
                   signals: Mapping[str, list[Path]] | None = None
                   ) -> tuple[AnomalyModel, list[dict], int]:
    """A saved model, its efficiency rows (:func:`evaluate`) on its own held-out background and
    on every signal production of the data directory (default: the one it was trained on) and
    of ``signals`` (name → files, e.g. :func:`l1t.datasets.inputs.named_inputs`), and the
    number of background test crossings."""
    model = AnomalyModel.load(model_dir)
    test = held_out_background(model, model_dir, data_dir)
    data = Path(data_dir) if data_dir is not None else Path(model.meta["training"]["data"])
    scores = {n: model.scores(anomaly_data.signal(data, n, model.config.inputs))
              for n in anomaly_data.SIGNALS if (data / n).exists()}
    for name, files in (signals or {}).items():
        scores[name] = model.scores(anomaly_data.signal_files(files, model.config.inputs))
    return model, evaluate(model.scores(test), scores), len(test)
