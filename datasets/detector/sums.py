"""Energy sums (``L1EtSum``): etSumType 0 total ET and 2 MET from towers with |η| < 3, 8 MET from
all towers (with the forward calorimeter), 1 HT and 3 MHT from jets with pT > 30 GeV, |η| < 2.4.
"""
from __future__ import annotations

import numpy as np

from ..schema import ET_TOTAL, HT, MET, MET_HF, MHT
from .config import DetectorConfig
from .geometry import ETA_CENTERS, PHI_CENTERS
from .objects import PT_BITS, PT_LSB, phi_word, saturate


def compute(total_hw, jet_cross, jet_cols, n_cross: int, cfg: DetectorConfig):
    et = total_hw * cfg.tower_lsb
    cos, sin = np.cos(PHI_CENTERS), np.sin(PHI_CENTERS)
    central = np.abs(ETA_CENTERS) < cfg.met_max_eta
    et_c = et[:, central, :].sum(axis=1)  # (N, N_PHI)
    et_all = et.sum(axis=1)
    ex_c, ey_c = et_c @ cos, et_c @ sin
    ex_a, ey_a = et_all @ cos, et_all @ sin
    sel = (jet_cols["pt"] >= cfg.ht_jet_min_pt) & (np.abs(jet_cols["eta"]) < cfg.ht_jet_max_eta)
    jc, jpt, jphi = jet_cross[sel], jet_cols["pt"][sel], jet_cols["phi"][sel]
    ht = np.bincount(jc, weights=jpt, minlength=n_cross)
    hx = np.bincount(jc, weights=jpt * np.cos(jphi), minlength=n_cross)
    hy = np.bincount(jc, weights=jpt * np.sin(jphi), minlength=n_cross)
    values = {
        ET_TOTAL: (et_c.sum(axis=1), np.zeros(n_cross)),
        HT: (ht, np.zeros(n_cross)),
        MET: (np.hypot(ex_c, ey_c), np.arctan2(-ey_c, -ex_c)),
        MHT: (np.hypot(hx, hy), np.arctan2(-hy, -hx)),
        MET_HF: (np.hypot(ex_a, ey_a), np.arctan2(-ey_a, -ex_a)),
    }
    types = np.array(list(values), np.int32)
    pt = np.stack([v[0] for v in values.values()], axis=1).ravel()
    phi = np.stack([v[1] for v in values.values()], axis=1).ravel()
    hw = saturate(np.floor(pt / PT_LSB).astype(np.int64), PT_BITS["L1EtSum"])
    cross = np.repeat(np.arange(n_cross), len(types))
    cols = {"pt": (hw * PT_LSB).astype(np.float32), "phi": phi.astype(np.float32),
            "etSumType": np.tile(types, n_cross), "hwPt": hw, "hwPhi": phi_word(phi)}
    return cross, cols
