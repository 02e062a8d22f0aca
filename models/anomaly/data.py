"""Training and evaluation samples for the anomaly detector, from l1t productions.

Background: the ADC2021 mix — W→ℓν 59.2%, QCD 33.8%, Z→ℓℓ 6.7%, tt̄ 0.3% — of crossings with at
least one L1 lepton (an L1 muon or an L1 e/γ with a matched track, pT ≥ ``lepton_min_pt``,
default 3 GeV, the ADC object threshold). ADC2021 asked for an offline lepton above 23 GeV; at L1
and μ = 200 that would leave the QCD share unreachable with the statistics we can generate, so the
L1-lepton requirement is used instead (recorded in the model's metadata). Signals: the four
ADC2021 signals, without selection.
"""
from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np

from l1t.core.errors import L1TInputError
from l1t.datasets.inputs import read_inputs

from .inputs import event_words

BACKGROUND_MIX = {"w_lnu": 0.592, "qcd_pt15": 0.338, "z_ll": 0.067, "ttbar": 0.003}
SIGNALS = ("a50_4l", "lq80_btau", "h60_tautau", "hpm60_taunu")


def has_lepton(events: ak.Array, min_pt: float = 3.0) -> np.ndarray:
    """At least one L1 muon or track-matched L1 e/γ with pT ≥ ``min_pt`` GeV, ``(N,)`` bool."""
    mu = ak.any(events.L1Mu.pt >= min_pt, axis=1)
    ele = ak.any((events.L1EG.pt >= min_pt) & events.L1EG.isEle, axis=1)
    return ak.to_numpy(mu | ele)


def _read(data_dir: Path, sample: str) -> ak.Array:
    path = Path(data_dir) / sample
    if not path.exists():
        raise L1TInputError(path, f"missing production of sample {sample!r} "
                            f"(make it with `l1t generate {sample} ... --out {path}`)", sample)
    return read_inputs([path])


def background(data_dir: str | Path, n_events: int | None = None, seed: int = 1,
               lepton_min_pt: float = 3.0, objects: str = "calo"
               ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Background words ``(N, 57)``, process labels ``(N,)`` and a summary of the mix.

    Each process contributes its ADC2021 share of ``n_events`` (default: as many as the scarcest
    process allows), drawn without replacement with a seeded generator. The crossings are the same
    whatever ``objects`` the words are made of (the L1-lepton selection uses the calorimeter and
    standalone-muon objects), so models on either kind of inputs compare on the same events.
    """
    rng = np.random.default_rng(seed)
    pools = {}
    for sample in BACKGROUND_MIX:
        ev = _read(Path(data_dir), sample)
        keep = has_lepton(ev, lepton_min_pt)
        pools[sample] = (event_words(ev[keep], objects), len(ev), int(keep.sum()))
    limit = min(pools[s][0].shape[0] / f for s, f in BACKGROUND_MIX.items())
    n = int(limit if n_events is None else min(n_events, limit))
    words, labels, summary = [], [], {}
    for i, (sample, frac) in enumerate(BACKGROUND_MIX.items()):
        w, generated, passed = pools[sample]
        k = max(int(round(frac * n)), 1)
        idx = rng.choice(len(w), size=k, replace=False)
        words.append(w[np.sort(idx)])
        labels.append(np.full(k, i, np.int8))
        summary[sample] = {"fraction": frac, "events": k, "generated": generated,
                           "lepton_acceptance": passed / max(generated, 1)}
    order = rng.permutation(sum(len(x) for x in words))
    return (np.concatenate(words)[order], np.concatenate(labels)[order],
            {"processes": summary, "lepton_min_pt": lepton_min_pt, "seed": seed,
             "objects": objects})


def signal(data_dir: str | Path, sample: str, objects: str = "calo") -> np.ndarray:
    """Words ``(N, 57)`` of a signal production."""
    return event_words(_read(Path(data_dir), sample), objects)


def signal_files(paths: list[Path], objects: str = "calo") -> np.ndarray:
    """Words ``(N, 57)`` of any signal's files (a user's production: a command file, HepMC
    events), without selection."""
    return event_words(read_inputs(paths), objects)
