"""The lookup-table pT assignment: the way the Run-2 endcap track finder deployed its BDT (a BDT
trained offline, evaluated on every address and stored in memory: ~25 variables packed into a
30-bit address, a 9-bit pT word; ../shared/NOTES.md, "Muon pT assignment references").

Here the address is :data:`ADDRESS_BITS` = 20 bits of the track finder's features:

=========  ====  ==================================================================
field      bits  what
=========  ====  ==================================================================
mode       4     the hit pattern (tfMode)
θ          4     tfTheta >> 3 (16 bins over 0…π/2)
Δφ first   6     the bend between the first two stations hit: sign + 5-bit log code
Δφ second  4     the next pair along the chain: sign relative to the first + 3-bit log
Δφ third   2     the last pair (four-station modes): relative sign + 1-bit log
=========  ====  ==================================================================

The pairs follow the chain of stations hit (mode 15: 12, 23, 34; mode 7: 23, 34; …). A log code
is ⌊k·log₂(1 + |Δφ| / 2 LSB)⌋ saturated, fine at small bends where high pT lives. Each address
holds a 9-bit word, pT in 0.5 GeV (0 … 255.5 GeV), trained (``l1t.models.muon.lut``) as the
median of 1/pT of the gun muons that land there (the BDT regressed 1/pT too); an address seen
fewer than ``MIN_ENTRIES`` times holds 0 and the candidate keeps the bend-based assignment. Memory:
2²⁰ × 9 bits = 9.4 Mbit (1.18 MB).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import atomic_write

ADDRESS_BITS = 20
WORD_BITS = 9
PT_LSB = 0.5
_FIELDS = (("mode", 4), ("theta", 4), ("first", 6), ("second", 4), ("third", 2))
#: the station pairs along the chain of hits, per mode (station 1 = bit 3)
_CHAINS: dict[int, tuple[str, ...]] = {}
for _mode in range(16):
    _st = [s for s in range(4) if (_mode >> (3 - s)) & 1]
    _CHAINS[_mode] = tuple(f"{a + 1}{b + 1}" for a, b in zip(_st, _st[1:]))

def _log_code(d: np.ndarray, magnitude_bits: int, k: float) -> np.ndarray:
    code = np.floor(k * np.log2(1.0 + np.abs(d) / 2.0))
    return np.minimum(code, (1 << magnitude_bits) - 1).astype(np.int64)


def addresses(features: dict[str, np.ndarray]) -> np.ndarray:
    """The 20-bit address of each candidate from its track-finder words (``tf*``)."""
    mode = np.asarray(features["tfMode"], np.int64)
    n = len(mode)
    d = np.zeros((3, n))
    for m, chain in _CHAINS.items():
        sel = mode == m
        for k, pair in enumerate(chain[:3]):
            d[k, sel] = np.asarray(features[f"tfDPhi{pair}"])[sel]
    sign1 = (d[0] < 0).astype(np.int64)
    first = (sign1 << 5) | _log_code(d[0], 5, 4.0)
    rel2 = ((d[1] < 0) != (d[0] < 0)).astype(np.int64)
    second = (rel2 << 3) | _log_code(d[1], 3, 1.0)
    rel3 = ((d[2] < 0) != (d[1] < 0)).astype(np.int64)
    third = (rel3 << 1) | _log_code(d[2], 1, 0.25)
    theta = np.asarray(features["tfTheta"], np.int64) >> 3
    address = np.zeros(n, np.int64)
    for (name, bits), value in zip(_FIELDS, (mode, theta, first, second, third)):
        address = (address << bits) | (value & ((1 << bits) - 1))
    return address


@dataclass(frozen=True)
class MuonLUT:
    """The table: ``words[address]`` (uint16 holding 9-bit pT words, 0 = not trained)."""

    words: np.ndarray

    @property
    def memory_bits(self) -> int:
        return (1 << ADDRESS_BITS) * WORD_BITS

    def pt(self, features: dict[str, np.ndarray], fallback_pt: np.ndarray) -> np.ndarray:
        """The table's pT (GeV) of each candidate; ``fallback_pt`` where the address is empty."""
        w = self.words[addresses(features)]
        return np.where(w > 0, w * PT_LSB, np.asarray(fallback_pt, np.float64))

    def save(self, path: str | Path) -> Path:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, words=self.words)
        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> "MuonLUT":
        try:
            with np.load(path) as z:
                words = z["words"]
        except (OSError, KeyError, ValueError) as err:
            raise L1TInputError(path, f"not a muon pT lookup table ({err})") from None
        if words.shape != (1 << ADDRESS_BITS,) or words.max(initial=0) >= 1 << WORD_BITS:
            raise L1TInputError(path, f"a table of {1 << ADDRESS_BITS} {WORD_BITS}-bit words is "
                                f"expected, got shape {words.shape}", "words")
        return cls(words.astype(np.uint16))
