"""The real HLS ``ap_fixed`` types, compiled with g++, as a reference for our own arithmetic.

hls4ml ships the Xilinx ``ap_types`` headers (``hls4ml/templates/vivado/ap_types``) that its C
simulation uses. :class:`ApHarness` compiles ``firmware/templates/ap_fixed_harness.cpp`` against
them for a given table of types and runs it: ``convert`` gives the codes of ``T v = (double)x;``
and ``cast`` those of ``D v = s;`` (a fixed-point to fixed-point assignment), exactly as the
generated firmware computes them. The tests compare :mod:`l1t.models.fixedpoint` and the emulator's
casts with it.

Every (type) and (source, target) pair is a template instantiation, so the table is chosen
up front (about 15 ms of g++ ``-O0`` each); the harness reads one command per line on stdin.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.models.fixedpoint import FixedType

HARNESS_SOURCE = Path(__file__).parent / "templates" / "ap_fixed_harness.cpp"


def ap_types_dir() -> Path:
    """The ``ap_types`` include directory shipped with hls4ml (``ap_fixed.h`` etc.)."""
    import hls4ml

    d = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    if not (d / "ap_fixed.h").is_file():
        raise L1TInputError(d, "hls4ml's ap_types headers (ap_fixed.h) not found", "ap_types")
    return d


def cxx_type(t: FixedType | str) -> str:
    """C++ spelling of a type: strings are kept as written (``ap_int<8>``), FixedTypes via str."""
    return t if isinstance(t, str) else str(t)


class ApHarness:
    """Compiled reference conversions for a fixed table of types.

    ``types``: C++ type strings (``"ap_fixed<8,3,AP_RND,AP_SAT>"``, ``"ap_uint<4>"``) or
    :class:`FixedType`; ``pairs``: ``(source index, target index)`` for :meth:`cast`;
    ``workdir``: where the generated type table and the binary go. ``cxx``/``flags``: compiler.
    """

    def __init__(self, types: Sequence[FixedType | str], pairs: Sequence[tuple[int, int]],
                 workdir: str | os.PathLike, cxx: str = "g++",
                 flags: Sequence[str] = ("-O0", "-std=c++14")) -> None:
        if shutil.which(cxx) is None:
            raise L1TInputError(cxx, "C++ compiler not found", "cxx")
        self.cpp_types = [cxx_type(t) for t in types]
        self.types = [FixedType.parse(t) for t in self.cpp_types]
        self.pairs = {(int(s), int(d)) for s, d in pairs}
        for s, d in self.pairs:
            if not (0 <= s < len(self.types) and 0 <= d < len(self.types)):
                raise L1TInputError("ApHarness", f"pair ({s}, {d}) outside the type table",
                                    "pairs")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        table = self.workdir / "harness_types.h"
        lines = [f"#define HARNESS_N_TYPES {len(self.types)}"]
        lines += [f"TYPE({i}, {t})" for i, t in enumerate(self.cpp_types)]
        lines += [f"PAIR({s}, {d})" for s, d in sorted(self.pairs)]
        table.write_text("\n".join(lines) + "\n")
        self.binary = self.workdir / "ap_fixed_harness"
        cmd = [cxx, *flags, f"-I{ap_types_dir()}", f"-I{self.workdir}",
               f'-DHARNESS_TYPES="{table.name}"', str(HARNESS_SOURCE), "-o", str(self.binary)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"compiling the ap_fixed harness failed:\n{proc.stderr[-4000:]}")

    def _run(self, lines: list[str]) -> np.ndarray:
        if not lines:
            return np.empty(0, dtype=np.int64)
        proc = subprocess.run([str(self.binary)], input="\n".join(lines) + "\n",
                              capture_output=True, text=True, check=True)
        out = proc.stdout.split()
        if len(out) != len(lines) or "error" in out:
            raise RuntimeError(f"harness answered {out[:5]}... to {lines[:5]}...")
        return np.array([int(v) for v in out], dtype=np.int64)

    def convert(self, values: np.ndarray, index: int) -> np.ndarray:
        """Codes (int64, shape of ``values``) of ``T v = (double)x;`` for type ``index``."""
        values = np.asarray(values, dtype=np.float64)
        lines = [f"d {index} {float(v).hex()}" for v in values.ravel()]
        return self._run(lines).reshape(values.shape)

    def cast(self, codes: np.ndarray, src: int, dst: int) -> np.ndarray:
        """Codes of ``D v = s;`` for codes of type ``src`` (table indices; a compiled pair)."""
        if (src, dst) not in self.pairs:
            raise L1TInputError("ApHarness", f"pair ({src}, {dst}) was not compiled", "pairs")
        codes = np.asarray(codes, dtype=np.int64)
        lines = [f"q {src} {dst} {int(c)}" for c in codes.ravel()]
        return self._run(lines).reshape(codes.shape)
