"""Training the lookup-table pT assignment (:mod:`l1t.datasets.muon.lut`) from gun muons."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.datasets.muon.lut import ADDRESS_BITS, PT_LSB, WORD_BITS, MuonLUT, addresses
from l1t.datasets.muon.scaling import ThresholdScale

from .data import gun_candidates, scale_points

#: an address needs this many gun candidates to be trained from its own muons
MIN_ENTRIES = 3
#: the coarser addresses an address with fewer muons takes its word from, in order: low bits
#: dropped (the third Δφ, then the second too), then θ dropped as well
_LEVELS = ((0, False), (2, False), (6, False), (6, True))
_THETA_SHIFT, _THETA_BITS = 12, 4


def _coarse(address: np.ndarray, drop_low: int, drop_theta: bool) -> np.ndarray:
    key = address >> drop_low
    if drop_theta:
        low = key & ((1 << (_THETA_SHIFT - drop_low)) - 1)
        key = ((key >> (_THETA_SHIFT - drop_low + _THETA_BITS)) << (_THETA_SHIFT - drop_low)) | low
    return key


def _medians(key: np.ndarray, inv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct key: the key, the median of ``inv`` and the number of entries."""
    order = np.lexsort((inv, key))
    key, inv = key[order], inv[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, len(key)])
    return key[starts], inv[starts + sizes // 2], sizes


def _fill_along_bend(median: np.ndarray, every: np.ndarray, keys: np.ndarray,
                     cell_median: np.ndarray, first: np.ndarray, inv: np.ndarray) -> None:
    """Fill the addresses still empty from the (mode, first bend) cells ``keys`` that have a
    median: linear interpolation of 1/pT in the bend's 5-bit magnitude code, per mode and sign;
    a mode too rare for any cell takes the medians per first-bend code of all muons (``first``,
    ``inv``)."""
    cell = _coarse(every, 6, True)                    # mode << 6 | first
    table = np.full(1 << 10, np.nan)
    table[keys] = cell_median
    table = table.reshape(16, 2, 32)
    codes, med, sizes = _medians(first, inv)
    any_mode = np.full(64, np.nan)
    any_mode[codes[sizes >= MIN_ENTRIES]] = med[sizes >= MIN_ENTRIES]
    any_mode = any_mode.reshape(2, 32)
    mag = np.arange(32)
    for mode in range(16):
        for sign in range(2):
            row = table[mode, sign]
            if not np.isfinite(row).any():
                row = any_mode[sign]
            ok = np.isfinite(row)
            if ok.any():
                table[mode, sign] = np.interp(mag, mag[ok], row[ok])
    todo = np.isnan(median)
    median[todo] = table.reshape(-1)[cell[todo]]


def train_lut(features: dict[str, np.ndarray], true_pt: np.ndarray,
              scale_points: tuple[float, ...] | None = None) -> MuonLUT:
    """The table from gun candidates (``true_pt``: GeV of their muons): per address the median of
    1/pT of its muons.

    Every address is filled, as a BDT evaluated on every address fills it: one seen fewer than
    :data:`MIN_ENTRIES` times takes the median of the first coarser address (:data:`_LEVELS`)
    that has enough muons; where even its mode and first bend were never seen, the value is
    interpolated along the first bend's code within the mode and sign (for a mode too rare even
    for that, the codes of all modes). With ``scale_points`` (GeV) the table's threshold scale is fitted on the same
    candidates.
    """
    a = addresses(features)
    inv = 1.0 / np.asarray(true_pt, np.float64)
    every = np.arange(1 << ADDRESS_BITS, dtype=np.int64)
    median = np.full(len(every), np.nan)
    for drop_low, drop_theta in _LEVELS:
        keys, med, sizes = _medians(_coarse(a, drop_low, drop_theta), inv)
        keys, med = keys[sizes >= MIN_ENTRIES], med[sizes >= MIN_ENTRIES]
        todo = np.flatnonzero(np.isnan(median))
        if not len(keys):
            continue
        want = _coarse(every[todo], drop_low, drop_theta)
        at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        hit = keys[at] == want
        median[todo[hit]] = med[at[hit]]
    _fill_along_bend(median, every, keys, med, (a >> 6) & 63, inv)
    words = np.zeros(len(every), np.uint16)
    ok = np.isfinite(median)
    words[ok] = np.clip(np.floor(1.0 / median[ok] / PT_LSB), 1, (1 << WORD_BITS) - 1)
    lut = MuonLUT(words)
    if scale_points:
        lut = MuonLUT(words, ThresholdScale.fit(true_pt, lut.pt(features), scale_points))
    return lut


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


def train_lut_from(data: str | Path, out_dir: str | Path) -> LutTraining:
    """Train the table on a muon-gun production ``data``; writes ``out_dir/lut.npz``."""
    from l1t.datasets.inputs import expand_inputs

    feats, pt, _ = gun_candidates(expand_inputs([data]))
    if not len(pt):
        raise L1TInputError(data, "no L1 muons to train on", "L1Mu")
    if not np.any(feats["tfMode"]):
        raise L1TInputError(data, "the L1 muons carry no track-finder features (tfMode 0): "
                            "files from another detector cannot train this table", "L1Mu.tfMode")
    lut = train_lut(feats, pt, scale_points(pt))
    path = lut.save(Path(out_dir) / "lut.npz")
    return LutTraining(path, len(pt), int((lut.words > 0).sum()), lut.memory_bits)
