"""Anomaly-model inputs as the firmware sees them: integer words and an integer scaling.

The 57 ADC2021 features (MET + 4 e + 4 μ + 10 jets, each pT, η, φ; ``datasets.adc``) become
integer words with fixed LSBs — pT 0.5 GeV (the L1 pT word), η 0.0435 (half a tower),
φ 2π/144 — and are scaled the way an FPGA can, per feature::

    code  = (word − offset) >> shift          (arithmetic shift: floor division by 2^shift)
    code  = saturate(code, width bits, signed)
    value = code / 2^frac                     (an ap_fixed<width, width − frac>)

``offset`` and ``shift`` are fitted on the training sample (offset: median word; shift: the
power of two bringing the standard deviation to about 2^frac codes) and saved with the model, so software and
firmware compute the same input bits.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import awkward as ak
import numpy as np

from datasets.adc import to_adc_features

N_FEATURES = 57
PT_LSB, ETA_LSB, PHI_LSB = 0.5, 0.0435, 2 * np.pi / 144
FEATURE_NAMES = [f"{obj}{i}_{q}" for obj, n in (("met", 1), ("e", 4), ("mu", 4), ("jet", 10))
                 for i in range(n) for q in ("pt", "eta", "phi")]


def words(features: np.ndarray) -> np.ndarray:
    """Integer words (int64) of physical ADC features ``(N, 57)`` (GeV, rad)."""
    x = np.asarray(features, np.float64)
    lsb = np.tile([PT_LSB, ETA_LSB, PHI_LSB], N_FEATURES // 3)
    return np.floor(x / lsb + 0.5).astype(np.int64)


def event_words(events: ak.Array) -> np.ndarray:
    """Integer words of schema events (``datasets.schema``), ``(N, 57)``."""
    return words(to_adc_features(events))


@dataclass(frozen=True)
class InputScaling:
    """Per-feature ``(word − offset) >> shift``, saturated to ``width`` bits, ``frac`` of them
    fractional: the values are an ``ap_fixed<width, width − frac>``."""

    offset: tuple[int, ...]
    shift: tuple[int, ...]
    width: int = 10
    frac: int = 2

    @classmethod
    def fit(cls, w: np.ndarray, width: int = 10, frac: int = 2) -> "InputScaling":
        """Offsets (median word) and shifts (spread → about 2^frac codes) from words ``(N, 57)``."""
        w = np.asarray(w, np.int64)
        offset = np.median(w, axis=0).astype(np.int64)
        spread = np.maximum(w.std(axis=0), 1.0)
        shift = np.clip(np.floor(np.log2(spread)) - frac, 0, 30).astype(np.int64)
        return cls(tuple(int(v) for v in offset), tuple(int(v) for v in shift), width, frac)

    @property
    def input_type(self) -> str:
        """The hls4ml / HLS spelling of the scaled inputs' type."""
        return f"ap_fixed<{self.width},{self.width - self.frac}>"

    def codes(self, w: np.ndarray) -> np.ndarray:
        """Saturated integer codes ``(N, 57)`` (what the firmware's input register holds)."""
        w = np.asarray(w, np.int64)
        code = (w - np.asarray(self.offset)) >> np.asarray(self.shift)
        lo, hi = -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1
        return np.clip(code, lo, hi)

    def values(self, w: np.ndarray) -> np.ndarray:
        """Network inputs (float32, exactly on the ap_fixed grid), ``(N, 57)``."""
        return (self.codes(w) / float(1 << self.frac)).astype(np.float32)

    def to_dict(self) -> dict:
        return {**asdict(self), "input_type": self.input_type,
                "word_lsb": {"pt_gev": PT_LSB, "eta": ETA_LSB, "phi_rad": PHI_LSB},
                "features": FEATURE_NAMES}

    @classmethod
    def from_dict(cls, d: dict) -> "InputScaling":
        return cls(tuple(d["offset"]), tuple(d["shift"]), int(d["width"]), int(d["frac"]))
