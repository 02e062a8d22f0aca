"""LHC beam constants, defined once for rates, the stream and the pipeline.

Source: LHC Design Report vol. 1, CERN-2004-003 (ch. 2 and 12): revolution frequency 11.2455 kHz
(we use 11.2456 kHz, the value CMS rate tools use, e.g. L1MenuTools), 3564 bunch slots of the
40.079 MHz RF bucket grid per orbit, 2808 colliding bunches in the nominal 25 ns filling scheme.

Two bunch-crossing lengths, with two meanings:

- :data:`BUNCH_SPACING_NS` = 1 / (f_rev × 3564) = 24.95 ns is the beam's, used wherever beam time
  enters (seconds of beam, orbit length);
- :data:`NOMINAL_BX_NS` = 25 ns is the nominal period of the 40 MHz LHC clock that trigger and
  readout firmware run on. Firmware clocks are multiples of it (240, 360, 480 MHz are 6, 9, 12 ×
  "40 MHz"), so the cycle-level pipeline, the trigger rules and the derandomizer count in BX and
  quote nanoseconds as BX × 25 ns, as firmware latency budgets do (12.5 µs = 500 BX, CMS Phase-2
  L1 TDR, CERN-LHCC-2020-004).
"""
from __future__ import annotations

LHC_REVOLUTION_KHZ = 11.2456      #: orbits per ms
BX_PER_ORBIT = 3564               #: bunch slots per orbit
DEFAULT_BUNCHES = 2808            #: colliding bunches, nominal 25 ns scheme
BUNCH_SPACING_NS = 1.0e6 / (LHC_REVOLUTION_KHZ * BX_PER_ORBIT)   #: 24.95 ns between slots
ORBIT_US = 1.0e3 / LHC_REVOLUTION_KHZ                            #: 88.92 µs
NOMINAL_BX_NS = 25.0              #: the 40 MHz clock period firmware latencies are counted in
