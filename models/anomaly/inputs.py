"""Anomaly-model inputs as the firmware sees them: integer words and an integer scaling.

The 57 ADC2021 features (MET + 4 e + 4 μ + 10 jets, each pT, η, φ; ``l1t.datasets.adc``) become
integer words with fixed LSBs — pT 0.5 GeV (the L1 pT word), η 0.0435 (half a tower),
φ 2π/144 — and are scaled the way an FPGA can, per feature::

    code  = (word − offset) >> shift          (arithmetic shift: floor division by 2^shift)
    code  = saturate(code, width bits, signed)
    value = code / 2^frac                     (an ap_fixed<width, width − frac>)

``offset`` and ``shift`` are fitted on the training sample (offset: median word; shift: the
power of two bringing the spread to about 2^frac codes, one spread per object type and quantity by
default) and saved with the model, so software and firmware compute the same input bits.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import awkward as ak
import numpy as np

from l1t.datasets.adc import to_adc_features

N_FEATURES = 57
PT_LSB, ETA_LSB, PHI_LSB = 0.5, 0.0435, 2 * np.pi / 144
FEATURE_NAMES = [f"{obj}{i}_{q}" for obj, n in (("met", 1), ("e", 4), ("mu", 4), ("jet", 10))
                 for i in range(n) for q in ("pt", "eta", "phi")]


def words(features: np.ndarray) -> np.ndarray:
    """Integer words (int64) of physical ADC features ``(N, 57)`` (GeV, rad)."""
    x = np.asarray(features, np.float64)
    lsb = np.tile([PT_LSB, ETA_LSB, PHI_LSB], N_FEATURES // 3)
    return np.floor(x / lsb + 0.5).astype(np.int64)


def event_words(events: ak.Array, objects: str = "calo") -> np.ndarray:
    """Integer words of schema events (``l1t.datasets.schema``), ``(N, 57)``, from the
    calorimeter objects or the Phase-2 ones (``objects``: ``l1t.datasets.adc.OBJECT_SOURCES``)."""
    return words(to_adc_features(events, objects))


#: Feature columns of each object type (MET, e/γ, μ, jets), each ``(pT, η, φ)`` per object.
OBJECT_COLUMNS = {"met": range(0, 3), "e": range(3, 15), "mu": range(15, 27), "jet": range(27, 57)}
SPREADS = ("object", "feature")


@dataclass(frozen=True)
class InputScaling:
    """Per-feature ``(word − offset) >> shift``, saturated to ``width`` bits, ``frac`` of them
    fractional: the values are an ``ap_fixed<width, width − frac>``. ``spread`` records how the
    shifts were fitted (informational: ``offset``, ``shift``, ``width`` and ``frac`` define the
    bits)."""

    offset: tuple[int, ...]
    shift: tuple[int, ...]
    width: int = 10
    frac: int = 2
    spread: str = "object"

    @classmethod
    def fit(cls, w: np.ndarray, width: int = 10, frac: int = 2,
            spread: str = "object") -> "InputScaling":
        """Offsets (median word per feature) and shifts (spread → about 2^frac codes) from words
        ``(N, 57)``.

        ``spread="object"`` (default): one spread per object type and quantity (e.g. the pT of all
        ten jets), measured on the slots where the object is present (pT word ≠ 0), so every jet pT
        is in the same unit and sparse slots (the third muon) are not blown up by a spread that is
        mostly the zero padding. ``spread="feature"``: the standard deviation of each feature over
        all events (the first version; it gave a 2 GeV unit to a sub-leading e/γ pT and a 16 GeV
        one to the leading jet, so rare lepton slots dominated the reconstruction error).
        """
        w = np.asarray(w, np.int64)
        if spread not in SPREADS:
            raise ValueError(f"spread must be one of {SPREADS}, not {spread!r}")
        offset = np.median(w, axis=0).astype(np.int64)
        if spread == "feature":
            sd = w.std(axis=0)
        else:
            sd = np.ones(N_FEATURES)
            for cols in OBJECT_COLUMNS.values():
                cols = np.asarray(cols).reshape(-1, 3)            # (objects, (pT, η, φ))
                present = w[:, cols[:, 0]] != 0
                for q in range(3):
                    vals = w[:, cols[:, q]][present]
                    sd[cols[:, q]] = vals.std() if vals.size > 1 else 1.0
        sd = np.maximum(sd, 1.0)
        shift = np.clip(np.floor(np.log2(sd)) - frac, 0, 30).astype(np.int64)
        return cls(tuple(int(v) for v in offset), tuple(int(v) for v in shift), width, frac, spread)

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
        return cls(tuple(int(v) for v in d["offset"]), tuple(int(v) for v in d["shift"]),
                   int(d["width"]), int(d["frac"]), str(d.get("spread", "feature")))
