"""LAr energy reconstruction: channel-crossings per second of the nets' bit-exact emulator
against the optimal filter in numpy, side by side on the same streams.

Each net (recurrent, 1-D CNN, Dense; default architectures, trained for one epoch on small
streams: the speed does not depend on the weights) and the optimal filter reconstruct the same
streams of 256 channels × 3564 crossings (one orbit of the nominal filling scheme, ⟨μ⟩ = 200,
pileup from our own min-bias spectrum): the recurrent net one step per crossing over all
channels at once, the window nets and the filter once per channel and crossing. Each rate is
the best of three calls (the machine is shared), after a warm-up. Last line: one JSON object
(name, value, unit, baseline, baseline_value, ratio) for the recurrent net against the filter.
"""
from __future__ import annotations

import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from l1t.datasets.lar.spectrum import EM_ROWS, minbias_spectra  # noqa: E402
from l1t.firmware.backend import get_backend  # noqa: E402
from l1t.firmware.ir import from_keras  # noqa: E402
from l1t.models.lar.inputs import sample_values  # noqa: E402
from l1t.models.lar.model import NETS, LArModel  # noqa: E402
from l1t.models.lar.reconstruct import of_energies  # noqa: E402
from l1t.models.lar.train import LArData, reference_filter, streams  # noqa: E402
from l1t.trigger.stream.filling import nominal_25ns  # noqa: E402

CHANNELS = 256
REPEATS = 3


def _best(fn):
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    cache = os.environ.get("L1T_BENCH_CACHE", os.path.join(tempfile.gettempdir(), "l1t-bench"))
    filled = nominal_25ns().colliding.copy()
    data = LArData(channels=CHANNELS, crossings=len(filled), pool_size=1000, seed=3)
    spectra = minbias_spectra(EM_ROWS, data.pool_size, data.seed, cache)
    seq, _ = streams(data, spectra, 1, filled=filled)
    values = sample_values(seq)
    n = values.size
    of = reference_filter(seq)
    of_energies(seq, of)
    t_of = _best(lambda: of_energies(seq, of))
    small = LArData(channels=32, crossings=600, pool_size=1000, seed=3)
    train_seq, _ = streams(small, spectra, 0)
    rates = {}
    for kind, spec in NETS.items():
        cfg = spec.config(epochs=1)
        model = LArModel(kind, spec.train(sample_values(train_seq), train_seq.truth_et, cfg),
                         cfg)
        emu = get_backend("emulator")
        emu.compile(from_keras(model.net, model.input_type))
        model.energies(values[:, :50], emu.predict)                  # warm up (numba)
        rates[kind] = n / _best(lambda: model.energies(values, emu.predict))
        print(f"{kind:6s} emulator: {rates[kind]:,.0f} channel-crossings/s", flush=True)
    of_rate = n / t_of
    print(f"optimal filter (numpy): {of_rate:,.0f} channel-crossings/s "
          f"({CHANNELS} channels x {len(filled)} crossings, best of {REPEATS})")
    print(json.dumps({"name": "lar_rnn_emulator_vs_optimal_filter", "value": round(rates["rnn"]),
                      "unit": "channel-crossings/s",
                      "baseline": "optimal filter, 5 samples, numpy",
                      "baseline_value": round(of_rate), "ratio": round(rates["rnn"] / of_rate, 3)}))


if __name__ == "__main__":
    main()
