"""The emulator's batch-1 latency vs TensorFlow's on the VAE anomaly encoder, side by side.

The encoder is the deployable 6-bit QAT one (57 → 28 → 15 → μ, log σ², ap_fixed<10,8>
inputs); both runners are those of ``l1t profile`` (:mod:`l1t.validation.profile`): the
bit-exact emulator and the Keras net in a ``tf.function`` on the CPU, one event per call,
median wall time per call over a few seconds of calls each (the machine is shared: medians,
interleaved rounds, the best round's median kept). ONNX Runtime is printed for reference.
Last line: one JSON object (name, value, unit, baseline, baseline_value, ratio): value the
emulator's median in µs, baseline TensorFlow's; ratio = TensorFlow / emulator (> 1: the
emulator is faster per call).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from l1t.cli import quiet_frameworks  # noqa: E402
from l1t.models.anomaly.vae import VAEConfig, build  # noqa: E402
from l1t.validation.profile import RUNNERS, Target, grid_batch, time_calls  # noqa: E402

ROUNDS, SECONDS = 3, 1.0


def main() -> None:
    quiet_frameworks()
    _, encoder = build(VAEConfig(bits=6, seed=3))
    from l1t.firmware import ir

    target = Target("vae-encoder", "anomaly", "mlp", encoder, "ap_fixed<10,8>")
    fw = ir.from_keras(encoder, target.input_type)
    x = grid_batch(target.input_type, 64, 57, seed=1)
    work = Path(tempfile.mkdtemp(prefix="l1t-bench-profile-"))
    calls = {name: RUNNERS[name]().prepare(target, fw, work / name).call
             for name in ("emulator", "tensorflow-cpu", "onnxruntime")}
    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            p = time_calls(call, x, 1, SECONDS, max_repeats=100_000)
            best[name] = min(best.get(name, float("inf")), p.p50_s)
    for name, t in best.items():
        print(f"{name:15s} batch 1: {t * 1e6:8.1f} us per call (median, best of {ROUNDS} rounds)")
    emu, tf = best["emulator"] * 1e6, best["tensorflow-cpu"] * 1e6
    print(json.dumps({"name": "vae_encoder_batch1_latency_emulator_vs_tensorflow",
                      "value": round(emu, 2), "unit": "us", "baseline": "tensorflow-cpu",
                      "baseline_value": round(tf, 2), "ratio": round(tf / emu, 2)}))


if __name__ == "__main__":
    main()
