"""Where the muon stations and the iron are, and the magnetic field in each region.

Lengths in m, fields in T. The layout follows CMS's (the CMS detector paper, JINST 3 (2008)
S08004, §1 and §7), rounded: the figures are approximations of that layout, good to ~10 cm.

- Barrel (|η| < ``ETA_BARREL``): four stations at radii ``BARREL_R`` (MB1–MB4, 4.0–7.0 m); three
  iron yoke layers between them (``BARREL_IRON``: 0.30, 0.63, 0.63 m thick) within |z| < 6.6 m.
- Endcap (``ETA_BARREL`` ≤ |η| ≤ ``ETA_MAX``): four stations at |z| ``ENDCAP_Z`` (ME1–ME4,
  6.0–10.4 m), three iron disks between them (``ENDCAP_IRON``: 0.60, 0.60, 0.25 m).
- The solenoid: an axial 3.8 T inside r < 2.95 m, |z| < 6.0 m; its flux returns through the yoke,
  an axial field of −1.8 T in the iron (an estimate: CMS quotes about 2 T in the yoke; the real
  map varies) and none in the air between layers.
- Before the first station the muon crosses the calorimeters and the coil: an iron-equivalent
  thickness of ``PRE_IRON_M`` = 1.9 m at η = 0 (an estimate: ≈ 11 interaction lengths of ECAL,
  HCAL and coil, CMS), spread over r 1.29–2.95 m in the barrel and |z| 3.15–5.6 m (r < 2.95 m)
  in the endcap.
"""
from __future__ import annotations

import numpy as np

N_STATIONS = 4
ETA_BARREL = 1.0          # barrel stations below, endcap stations above (CMS overlap: 0.9-1.2)
ETA_MAX = 2.4             # muon system acceptance (CMS: |eta| < 2.4)

B_SOLENOID_T = 3.8
R_SOLENOID_M = 2.95
Z_SOLENOID_M = 6.0
B_RETURN_T = -1.8         # estimate, see the module doc

BARREL_R = np.array([4.0, 4.9, 5.9, 7.0])
BARREL_IRON = np.array([[4.25, 4.55], [5.10, 5.73], [6.15, 6.78]])   # (r_in, r_out)
BARREL_HALF_Z = 6.6
ENDCAP_Z = np.array([6.0, 8.3, 9.4, 10.4])
ENDCAP_IRON = np.array([[7.2, 7.8], [8.6, 9.2], [9.8, 10.05]])      # (|z|_in, |z|_out)
ENDCAP_MAX_R = 7.0

CALO_R_M, CALO_Z_M = 1.29, 3.15          # calorimeter face (as datasets/detector/digitize.py)
PRE_IRON_M = 1.9
_PRE_BARREL = (CALO_R_M, R_SOLENOID_M)
_PRE_ENDCAP = (CALO_Z_M, 5.6)


def is_endcap(eta: np.ndarray) -> np.ndarray:
    """Whether a muon of pseudorapidity η is measured by the endcap stations."""
    return np.abs(eta) >= ETA_BARREL


def field_t(r: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Axial field B_z (T) at radius ``r`` and ``z`` (m)."""
    az = np.abs(z)
    inside = (r < R_SOLENOID_M) & (az < Z_SOLENOID_M)
    iron = iron_density(r, z) > 0
    return np.where(inside, B_SOLENOID_T, np.where(iron, B_RETURN_T, 0.0))


def iron_density(r: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Material as a fraction of iron's density (iron yoke 1; calorimeters and coil their
    iron-equivalent ``PRE_IRON_M`` spread over their depth; air 0)."""
    az = np.abs(z)
    out = np.zeros(np.broadcast(r, z).shape)
    barrel_zone = az < BARREL_HALF_Z
    for lo, hi in BARREL_IRON:
        out = np.where(barrel_zone & (r >= lo) & (r < hi), 1.0, out)
    endcap_zone = r < ENDCAP_MAX_R
    for lo, hi in ENDCAP_IRON:
        out = np.where(endcap_zone & (az >= lo) & (az < hi), 1.0, out)
    pre_b = PRE_IRON_M / (_PRE_BARREL[1] - _PRE_BARREL[0])
    pre_e = PRE_IRON_M / (_PRE_ENDCAP[1] - _PRE_ENDCAP[0])
    in_barrel_calo = (r >= _PRE_BARREL[0]) & (r < _PRE_BARREL[1]) & (az < _PRE_ENDCAP[0])
    in_endcap_calo = (az >= _PRE_ENDCAP[0]) & (az < _PRE_ENDCAP[1]) & (r < R_SOLENOID_M)
    out = np.where(in_barrel_calo, pre_b, out)
    return np.where(in_endcap_calo, pre_e, out)
