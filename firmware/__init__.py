"""firmware: the trained models as the FPGA computes them, behind one backend interface.

- :mod:`l1t.firmware.ir` — (Q)Keras → hls4ml ModelGraph → :class:`~l1t.firmware.ir.FirmwareModel`, the
  per-layer types and weights hls4ml generates;
- :mod:`l1t.firmware.backend` — the :class:`~l1t.firmware.backend.Backend` interface and the registry
  (:func:`~l1t.firmware.backend.get_backend`: ``"emulator"``, ``"hls4ml"``);
- :mod:`l1t.firmware.emulator` — bit-exact numpy emulation of that fixed-point arithmetic;
- :mod:`l1t.firmware.hls` — the hls4ml project and its C simulation, reuse-factor scans;
- :mod:`l1t.firmware.compare` — bit-for-bit comparison of two backends' outputs;
- :mod:`l1t.firmware.aptypes` — the real ``ap_fixed`` headers compiled as a reference (tests).

Nothing heavy is imported here: TensorFlow/hls4ml load when a conversion or backend needs them.
See docs/firmware.md.
"""
