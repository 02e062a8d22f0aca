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
too rarely takes the word of a coarser address, so the table is complete and a candidate's pT
follows from its stored features alone. Memory:
2²⁰ × 9 bits = 9.4 Mbit (1.18 MB).

A table file (``lut.npz``) holds the words and the table's threshold scale
(:class:`~l1t.datasets.muon.scaling.ThresholdScale`); :func:`packaged` is the one shipped with
l1t for the muon system ``stations-v1``, which the detector uses for ``L1Mu.pt``. It was made by
``make muon-lut`` (a 300 000-muon gun production, seed 13, at pileup 0, then
``l1t train muon-lut``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.core.files import atomic_write

from .scaling import ThresholdScale

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


#: the shipped tables, per muon system
PACKAGED = {"stations-v1": Path(__file__).with_name("data") / "lut-stations-v1.npz"}


@dataclass(frozen=True)
class MuonLUT:
    """The table: ``words[address]`` (uint16 holding 9-bit pT words, 0 = not trained), and the
    threshold scale of its assignment (None until fitted)."""

    words: np.ndarray
    scale: ThresholdScale | None = None

    @property
    def memory_bits(self) -> int:
        return (1 << ADDRESS_BITS) * WORD_BITS

    def pt(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """The table's pT (GeV) of each candidate (0 at an address no gun muon reached)."""
        return self.words[addresses(features)] * PT_LSB

    def assign(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """The table's pT (GeV) with its threshold scale: what ``L1Mu.pt`` holds."""
        pt = self.pt(features)
        return self.scale.apply(pt) if self.scale is not None else pt

    def save(self, path: str | Path) -> Path:
        scale = {} if self.scale is None else {
            "thresholds_gev": np.asarray(self.scale.thresholds_gev),
            "factors": np.asarray(self.scale.factors)}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, words=self.words, **scale)
        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> "MuonLUT":
        try:
            with np.load(path) as z:
                words = z["words"]
                scale = (ThresholdScale.from_dict({k: z[k] for k in ("thresholds_gev", "factors")},
                                                  str(path)) if "factors" in z else None)
        except (OSError, KeyError, ValueError, EOFError) as err:
            raise L1TInputError(path, f"not a muon pT lookup table ({err})") from None
        if words.shape != (1 << ADDRESS_BITS,) or words.max(initial=0) >= 1 << WORD_BITS:
            raise L1TInputError(path, f"a table of {1 << ADDRESS_BITS} {WORD_BITS}-bit words is "
                                f"expected, got shape {words.shape}", "words")
        return cls(words.astype(np.uint16), scale)


@lru_cache(maxsize=None)
def packaged(muon_system: str) -> MuonLUT:
    """The table shipped for ``muon_system`` (read once per process)."""
    if muon_system not in PACKAGED:
        raise L1TInputError("detector", f"no packaged muon pT table for the muon system "
                            f"{muon_system!r}; known: {', '.join(PACKAGED)}", "muon_system")
    return MuonLUT.load(PACKAGED[muon_system])
