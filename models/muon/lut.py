"""Training the lookup-table pT assignment (:mod:`l1t.datasets.muon.lut`) from gun muons."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.datasets.muon.lut import ADDRESS_BITS, PT_LSB, WORD_BITS, MuonLUT, addresses
from l1t.datasets.muon.trackfinder import FEATURES

#: an address needs this many gun candidates to be trained (else it keeps the bend assignment)
MIN_ENTRIES = 3


def train_lut(features: dict[str, np.ndarray], true_pt: np.ndarray) -> MuonLUT:
    """Median of 1/pT per address of gun candidates (``true_pt``: GeV of their muons)."""
    a = addresses(features)
    inv = 1.0 / np.asarray(true_pt, np.float64)
    order = np.lexsort((inv, a))
    a, inv = a[order], inv[order]
    starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    sizes = np.diff(np.r_[starts, len(a)])
    median = inv[starts + sizes // 2]
    words = np.zeros(1 << ADDRESS_BITS, np.uint16)
    ok = sizes >= MIN_ENTRIES
    code = np.clip(np.floor(1.0 / median[ok] / PT_LSB), 1, (1 << WORD_BITS) - 1)
    words[a[starts][ok]] = code.astype(np.uint16)
    return MuonLUT(words)


@dataclass(frozen=True)
class LutTraining:
    """What :func:`train_lut_from` made: the table's file, the candidates it was trained on and
    the addresses it fills."""

    path: Path
    candidates: int
    filled: int
    memory_bits: int

    def text(self) -> str:
        return (f"muon pT lookup table: {self.candidates} gun candidates fill {self.filled} of "
                f"{1 << ADDRESS_BITS} addresses; {self.memory_bits} bits "
                f"({self.memory_bits / 8 / 2**20:.2f} MiB) -> {self.path}")


def gun_candidates(paths: list[Path]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The track-finder features of every L1 muon in muon-gun events, with the pT (GeV) of the
    event's gun muon (``GenPart``, one per event) as the truth."""
    import awkward as ak

    from l1t.datasets.formats import iter_events

    feats: dict[str, list] = {name: [] for name in FEATURES}
    truth = []
    for chunk in iter_events(paths):
        gen = chunk.GenPart[abs(chunk.GenPart.pdgId) == 13]
        if ak.any(ak.num(gen) != 1):
            raise L1TInputError(paths[0], "muon-gun events hold exactly one generator muon",
                                "GenPart")
        mu = chunk.L1Mu
        for name in FEATURES:
            feats[name].append(ak.to_numpy(ak.flatten(mu[name])))
        truth.append(np.repeat(ak.to_numpy(gen.pt[:, 0]), ak.to_numpy(ak.num(mu))))
    return {k: np.concatenate(v) for k, v in feats.items()}, np.concatenate(truth)


def train_lut_from(data: str | Path, out_dir: str | Path) -> LutTraining:
    """Train the table on a muon-gun production ``data``; writes ``out_dir/lut.npz``."""
    from l1t.datasets.inputs import expand_inputs

    feats, pt = gun_candidates(expand_inputs([data]))
    if not len(pt):
        raise L1TInputError(data, "no L1 muons to train on", "L1Mu")
    if not np.any(feats["tfMode"]):
        raise L1TInputError(data, "the L1 muons carry no track-finder features (tfMode 0): "
                            "files from another detector cannot train this table", "L1Mu.tfMode")
    lut = train_lut(feats, pt)
    path = lut.save(Path(out_dir) / "lut.npz")
    return LutTraining(path, len(pt), int((lut.words > 0).sum()), lut.memory_bits)
