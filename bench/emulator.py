"""Emulator vs hls4ml C simulation on the VAE anomaly encoder, side by side, both bit-exact.

The encoder is the deployable 6-bit QAT one (57 → 28 → 15 → μ, log σ², ap_fixed<10,8> inputs);
inputs are random codes on its input grid. Both backends run the same inputs; the run fails if
a single output bit differs. Each rate is the best of a few repeats (the machine is shared), the
emulator's after a warm-up call (numba compilation or cache load). Last line: one JSON object
(name, value, unit, baseline, baseline_value, ratio). Goal: ratio ≥ 100.
"""
from __future__ import annotations

import json
import os
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from l1t.firmware import ir  # noqa: E402
from l1t.firmware.backend import get_backend  # noqa: E402
from l1t.firmware.compare import compare  # noqa: E402
from l1t.models.fixedpoint import FixedType  # noqa: E402
from l1t.models.anomaly.vae import VAEConfig, build  # noqa: E402

N_EMU, N_CSIM = 1_000_000, 50_000
REPEATS_EMU, REPEATS_CSIM = 3, 2


def _best_rate(fn, n: int, repeats: int):
    """(events/s of the fastest of ``repeats`` calls of ``fn``, its result)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return n / best, out


def main() -> None:
    _, encoder = build(VAEConfig(bits=6, seed=3))
    t_in = FixedType.parse("ap_fixed<10,8>")
    fw = ir.from_keras(encoder, t_in, output_dir=tempfile.mkdtemp(prefix="l1t-bench-hls-"))
    rng = np.random.default_rng(1)
    x = rng.integers(t_in.min_code, t_in.max_code + 1, (N_EMU, 57)) * t_in.lsb

    emu = get_backend("emulator")
    emu.compile(fw)
    emu.predict(x[:1000])  # warm up
    emu_rate, out_emu = _best_rate(lambda: emu.predict(x), N_EMU, REPEATS_EMU)

    csim = get_backend("hls4ml")
    t0 = time.perf_counter()
    csim.compile(fw, fw.hls_model.config.get_output_dir())
    compile_s = time.perf_counter() - t0
    csim_rate, out_csim = _best_rate(lambda: csim.predict(x[:N_CSIM]), N_CSIM, REPEATS_CSIM)

    check = compare([o[:N_CSIM] for o in out_emu], out_csim, fw.output_types)
    mismatched = check["overall"]["mismatched_events"]
    print(f"emulator: {emu_rate:,.0f} events/s ({N_EMU:,} events, "
          f"{'fused kernel' if emu.fused else 'layer by layer'}, best of {REPEATS_EMU})")
    print(f"hls4ml C-sim: {csim_rate:,.0f} events/s ({N_CSIM:,} events, best of {REPEATS_CSIM}; "
          f"write + compile {compile_s:.1f} s)")
    print(f"emulator vs C-sim on {N_CSIM:,} events: {mismatched} mismatched events, "
          f"max |diff| {check['overall']['max_abs_diff_lsb']} LSB")
    if mismatched:
        raise SystemExit("emulator and C simulation differ: the benchmark is void")
    print(json.dumps({"name": "emulator_vs_csim_vae_encoder", "value": round(emu_rate, 1),
                      "unit": "events/s", "baseline": "hls4ml C simulation",
                      "baseline_value": round(csim_rate, 1), "ratio": round(emu_rate / csim_rate, 2)}))


if __name__ == "__main__":
    main()
