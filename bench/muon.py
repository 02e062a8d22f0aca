"""The muon pT net: the bit-exact emulator vs Keras predict on real candidates, side by side.

A net of the default architecture (21 → 64 → 32 → 1, 8-bit weights, QAT) is trained for two
epochs on muons carried through the muon system in this process, then both run the same
track-finder words of 500 000 candidates (Keras with a large batch, the emulator with its
default chunking); the run fails if a single output differs. Each rate is the best of three
calls (the machine is shared), the emulator's after a warm-up. Last line: one JSON object
(name, value, unit, baseline, baseline_value, ratio).
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from l1t.datasets.muon.single import single_muons  # noqa: E402
from l1t.firmware import ir  # noqa: E402
from l1t.firmware.backend import get_backend  # noqa: E402
from l1t.models.muon import nn  # noqa: E402

N_TRAIN, N = 40_000, 500_000
REPEATS = 3


def _best(fn):
    best, out = float("inf"), None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    feats, pt, q = single_muons(N_TRAIN, 1)[:3]
    x, y = nn.input_values(feats), nn.target(pt, q)
    n = len(y) * 9 // 10
    net, _ = nn.train(x[:n], y[:n], x[n:], y[n:], nn.NetConfig(epochs=2))
    fw = ir.from_keras(net, nn.INPUT_TYPE)
    big = single_muons(N, 2)[0]
    xs = nn.input_values(big)
    m = len(xs)

    emu = get_backend("emulator")
    emu.compile(fw)
    emu.predict(xs[:1000].astype(np.float64))             # warm up (numba)
    t_emu, out_emu = _best(lambda: emu.predict(xs.astype(np.float64))[0])
    net.predict(xs[:1000], verbose=0)
    t_keras, out_keras = _best(lambda: net.predict(xs, batch_size=16384, verbose=0))
    mismatched = int(np.sum(np.asarray(out_emu, np.float64).reshape(-1)
                            != np.asarray(out_keras, np.float64).reshape(-1)))
    emu_rate, keras_rate = m / t_emu, m / t_keras
    print(f"emulator: {emu_rate:,.0f} candidates/s; Keras predict: {keras_rate:,.0f} "
          f"candidates/s ({m:,} candidates, best of {REPEATS})")
    print(f"emulator vs Keras: {mismatched} of {m:,} outputs differ")
    if mismatched:
        raise SystemExit("emulator and Keras differ: the benchmark is void")
    print(json.dumps({"name": "muon_pt_emulator_vs_keras", "value": round(emu_rate, 1),
                      "unit": "candidates/s", "baseline": "Keras predict (QKeras, batch 16384)",
                      "baseline_value": round(keras_rate, 1),
                      "ratio": round(emu_rate / keras_rate, 2)}))


if __name__ == "__main__":
    main()
