"""firmware: the trained models as the FPGA computes them, behind one backend interface.

- :mod:`firmware.ir` — (Q)Keras → hls4ml ModelGraph → :class:`~firmware.ir.FirmwareModel`, the
  per-layer types and weights hls4ml generates;
- :mod:`firmware.backend` — the :class:`~firmware.backend.Backend` interface and the registry
  (:func:`~firmware.backend.get_backend`: ``"emulator"``, ``"hls4ml"``);
- :mod:`firmware.emulator` — bit-exact numpy emulation of that fixed-point arithmetic;
- :mod:`firmware.hls` — the hls4ml project and its C simulation, reuse-factor scans;
- :mod:`firmware.compare` — bit-for-bit comparison of two backends' outputs;
- :mod:`firmware.aptypes` — the real ``ap_fixed`` headers compiled as a reference (tests).

Nothing heavy is imported here: TensorFlow/hls4ml load when a conversion or backend needs them.
See docs/firmware.md.
"""
