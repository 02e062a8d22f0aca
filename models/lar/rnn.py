"""The recurrent LAr energy net: one cell stepped once per bunch crossing over the channel's
continuous sample stream, its state carried from crossing to crossing.

Each crossing t the cell takes the new sample x_t and its state h_{t−1}:

    h_t = relu(U h_{t−1} + W x_t + b)            (H units, quantized_relu(16, 4))
    y_t = V h_t + c                               (ET / 128 GeV of crossing t − delay)

so the ET of the deposit at crossing k is read ``delay`` (default :data:`DELAY` = 3) samples
later, when the cell has seen the rise (k + 1), the peak (k + 2) and the sample after it, and
the whole past before them (the undershoots of earlier deposits, the mean pileup). Reading
later (k + 5, the optimal filter's last sample) gave a worse resolution (2.4 vs 1.0 GeV at
25–60 GeV): the state has to hold the peak for longer. Trained quantization-aware (QKeras
quantizers on the cell's weights and state) on stretches of the stream whose first
``burn_in`` steps the loss ignores, so the net learns the steady state rather than the start
from h = 0.

Firmware: hls4ml's ``SimpleRNN`` is silently wrong on Vivado/Vitis and its LSTM/GRU approximate
(../shared/NOTES.md), and a window unrolled into ten dependent steps takes 45 clocks (225 ns at
200 MHz). The deployed form is the step itself (:func:`step_net`): a QDense network
[h_{t−1}, x_t] → [h_t, y_t] that every backend computes bit for bit, the recurrence closed in the
stream. The loop h_{t−1} → h_t must fit one crossing (25 ns, 5 clocks at 200 MHz); the ET comes
out one step plus the read-out after the last sample it needs. :func:`run` steps any
implementation of the step (Keras, the emulator, the C simulation, the RTL) over sequences, so
two implementations that agree on every step agree on the whole stream.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from l1t.core.errors import L1TInputError

from .inputs import INPUT_SHIFT, OUTPUT_BITS, target

DELAY = 3                     #: default crossings between a deposit and the step reading its ET
STATE_BITS, STATE_INTEGER = 16, 4
#: the step's input [h, x]: the state (ap_ufixed<16,4>) and the sample (ap_fixed<13,1>) share
#: 12 fractional bits, so both lie exactly on this grid
STEP_INPUT_TYPE = f"ap_fixed<{STATE_BITS + 1},{STATE_INTEGER + 1}>"
assert STATE_BITS - STATE_INTEGER == INPUT_SHIFT


@dataclass
class RNNConfig:
    hidden: int = 8               # the step's loop closes in 4 clocks (one crossing: 5 at 200 MHz)
    delay: int = DELAY            # the ET of crossing k is read at step k + delay
    bits: int = 8                 # weights: quantized_bits(bits, 1) (range ±2)
    epochs: int = 100             # float epochs, then epochs // 2 quantization-aware
    seq_len: int = 64             # training stretches of the stream …
    burn_in: int = 24             # … whose first steps the loss ignores (≥ the undershoot, 18)
    batch_size: int = 128
    learning_rate: float = 3e-3
    seed: int = 1

    def check(self) -> "RNNConfig":
        if not 1 <= self.hidden <= 64:
            raise L1TInputError("lar rnn", f"hidden units must be 1..64, got {self.hidden}",
                                "hidden")
        if not 2 <= self.bits <= 8:
            raise L1TInputError("lar rnn", f"weight bits must be 2..8 (wider accumulators exceed "
                                f"what the RTL backend computes exactly), got {self.bits}",
                                "bits")
        if not 1 <= self.delay <= 10:
            raise L1TInputError("lar rnn", f"delay must be 1..10 crossings, got {self.delay}",
                                "delay")
        if not 0 <= self.burn_in < self.seq_len:
            raise L1TInputError("lar rnn", "burn_in must be below seq_len", "burn_in")
        return self


def _quantizers(bits: int):
    from qkeras import quantized_bits, quantized_relu

    return (quantized_bits(bits, 1, alpha=1), quantized_relu(STATE_BITS, STATE_INTEGER),
            quantized_bits(OUTPUT_BITS, 0, alpha=1))


def stretches(values: np.ndarray, et: np.ndarray, cfg: RNNConfig):
    """Training stretches of the streams ``values`` (channels, crossings): inputs
    ``(N, seq_len, 1)``, targets ``(N, seq_len, 1)`` (step t: the ET / 128 GeV of crossing
    t − delay) and loss weights ``(N, seq_len)`` (0 in the burn-in). Stretches overlap by
    ``burn_in`` so every crossing is learnt once."""
    values = np.asarray(values, np.float32)
    y = np.zeros(values.shape, np.float32)
    y[:, cfg.delay:] = target(et)[:, :-cfg.delay]
    stride = cfg.seq_len - cfg.burn_in
    starts = np.arange(0, values.shape[1] - cfg.seq_len + 1, stride)
    idx = starts[:, None] + np.arange(cfg.seq_len)
    x = values[:, idx].reshape(-1, cfg.seq_len, 1)
    t = y[:, idx].reshape(-1, cfg.seq_len, 1)
    w = np.zeros((len(x), cfg.seq_len), np.float32)
    w[:, cfg.burn_in:] = 1.0
    return x, t, w


def _quantized_cell(cfg: RNNConfig):
    """A SimpleRNN cell whose weights, biases and state go through the QKeras quantizers
    (straight-through gradients). QKeras's own ``QSimpleRNN`` calls ``nest.is_sequence``, which
    TensorFlow 2.14 no longer has."""
    import tensorflow as tf
    from tensorflow import keras

    qw, qh, _ = _quantizers(cfg.bits)

    class QuantizedReluCell(keras.layers.AbstractRNNCell):
        @property
        def state_size(self):
            return cfg.hidden

        def build(self, input_shape):
            self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], cfg.hidden))
            self.recurrent_kernel = self.add_weight(name="recurrent_kernel",
                                                    shape=(cfg.hidden, cfg.hidden))
            self.bias = self.add_weight(name="bias", shape=(cfg.hidden,), initializer="zeros")
            self.built = True

        def call(self, inputs, states):
            h = states[0] if isinstance(states, (list, tuple)) else states
            z = (tf.matmul(inputs, qw(self.kernel)) + tf.matmul(h, qw(self.recurrent_kernel))
                 + qw(self.bias))
            h = qh(z)
            return h, [h]

    return QuantizedReluCell()


def _training_net(cfg: RNNConfig, quantized: bool):
    from tensorflow import keras

    inp = keras.Input((None, 1), name="samples")
    if quantized:
        from qkeras import QActivation, QDense

        qw, _, qy = _quantizers(cfg.bits)
        h = keras.layers.RNN(_quantized_cell(cfg), return_sequences=True, name="cell")(inp)
        y = QActivation(qy, name="et_q")(QDense(1, kernel_quantizer=qw, bias_quantizer=qw,
                                                name="et")(h))
    else:
        h = keras.layers.SimpleRNN(cfg.hidden, activation="relu", return_sequences=True,
                                   name="cell")(inp)
        y = keras.layers.Dense(1, name="et")(h)
    return keras.Model(inp, y, name="lar_rnn")


def train(values: np.ndarray, et: np.ndarray, cfg: RNNConfig = RNNConfig()):
    """The quantization-aware cell + read-out (a Keras model over ``(N, T, 1)`` sample streams)
    trained on streams ``values`` (channels, crossings) with truth ``et`` (GeV)."""
    cfg.check()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from tensorflow import keras

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(cfg.seed)
    x, y, w = stretches(values, et, cfg)
    if not len(x):
        raise L1TInputError("lar rnn", f"the sequences are shorter than one training stretch "
                            f"({cfg.seq_len} crossings)", "crossings")

    def fit(model, lr, epochs):
        steps = epochs * -(-len(x) // cfg.batch_size)
        lr = keras.optimizers.schedules.CosineDecay(lr, steps)
        model.compile(optimizer=keras.optimizers.Adam(lr, clipnorm=1.0), loss="mse")
        model.fit(x, y, sample_weight=w, epochs=epochs, batch_size=cfg.batch_size,
                  shuffle=True, verbose=0)

    net = _training_net(cfg, quantized=False)
    fit(net, cfg.learning_rate, cfg.epochs)
    qnet = _training_net(cfg, quantized=True)
    qnet.set_weights(net.get_weights())
    fit(qnet, cfg.learning_rate / 4, max(1, cfg.epochs // 2))
    return qnet


def step_net(trained, bits: int):
    """The deployable step: a QDense network ``[h_{t−1} (H), x_t] → [state h_t (H), et y_t]``
    holding the trained cell's quantized weights (module docstring)."""
    from qkeras import QActivation, QDense
    from tensorflow import keras

    qw, qh, qy = _quantizers(bits)
    w, u, b = (np.asarray(qw(v)) for v in trained.get_layer("cell").get_weights())
    v, c = (np.asarray(qw(p)) for p in trained.get_layer("et").get_weights())
    hidden = u.shape[0]
    inp = keras.Input((hidden + 1,), name="state_sample")
    cell = QDense(hidden, kernel_quantizer=qw, bias_quantizer=qw, name="cell")
    h = QActivation(qh, name="state")(cell(inp))
    read = QDense(1, kernel_quantizer=qw, bias_quantizer=qw, name="readout")
    y = QActivation(qy, name="et")(read(h))
    net = keras.Model(inp, [h, y], name="lar_rnn_step")
    cell.set_weights([np.vstack([u, w]).astype(np.float32), b.astype(np.float32)])
    read.set_weights([v.astype(np.float32), c.astype(np.float32)])
    return net


def hidden_of(step) -> int:
    """H of a step net (its input is [h, x])."""
    return int(step.input_shape[-1]) - 1


def run(step, values: np.ndarray, hidden: int, delay: int = DELAY,
        h0: np.ndarray | None = None):
    """ET ``(channels, crossings)`` in GeV of the streams ``values`` stepped through ``step``
    (``step(X (C, H + 1)) → (h (C, H), y (C, 1))``: Keras or a firmware backend) from the
    state ``h0`` (default 0); the ET of crossing k comes from step k + ``delay``, so the last
    ``delay`` crossings stay 0. Returns ``(et, h_last)``."""
    from .inputs import et_of

    values = np.asarray(values, np.float64)
    n_ch, n_bx = values.shape
    h = np.zeros((n_ch, hidden)) if h0 is None else np.asarray(h0, np.float64)
    et = np.zeros((n_ch, n_bx))
    x = np.empty((n_ch, hidden + 1))
    for t in range(n_bx):            # the recurrence: one vectorised step per crossing
        x[:, :hidden] = h
        x[:, hidden] = values[:, t]
        h, y = step(x)
        h = np.asarray(h, np.float64)
        if t >= delay:
            et[:, t - delay] = et_of(y)
    return et, h


def keras_step(step_model):
    """``step`` for :func:`run` from the Keras step net (float64 outputs)."""
    def step(x):
        h, y = step_model(x.astype(np.float32), training=False)
        return np.asarray(h, np.float64), np.asarray(y, np.float64)
    return step
