"""The firmware intermediate representation: what hls4ml will generate, layer by layer.

:func:`from_keras` converts a (Q)Keras model with a given input precision into hls4ml's
``ModelGraph`` (hls4ml 1.3.0, Vitis backend, ``io_parallel``, ``Strategy: Latency``, per-layer
configuration from ``hls4ml.utils.config_from_keras_model(model, granularity="name")``, the input
layer's ``result`` precision set to the given type) and reads back from the converted graph, per
layer, exactly what the generated C++ computes: the weights as the C++ holds them, every
``typedef`` (``weight_t``, ``bias_t``, ``accum_t``, ``result_t``) with its rounding and overflow
modes as spelt in ``firmware/defines.h``, the reuse factor. The result, :class:`FirmwareModel`,
is what every backend (:mod:`l1t.firmware.backend`) consumes.

Supported (anything else raises :class:`~l1t.core.errors.L1TInputError` naming the layer):

- the input layer (one input vector ``(n_in,)``);
- ``Dense`` / ``QDense`` (any bias, ``use_bias=False`` too) → ``nnet::dense`` (``dense_latency``);
- ``Activation`` / ``QActivation`` / ``ReLU()`` / a Dense's own activation, when ``relu``
  (``quantized_relu`` without slope) or ``linear`` (``quantized_bits`` as an activation):
  ``nnet::relu`` / ``nnet::linear``, i.e. a cast to the result type;
- ``Dropout`` (removed by hls4ml) and ``BatchNormalization`` where hls4ml folds it into the
  preceding Dense; several outputs (the VAE encoder's ``[μ, log σ²]``).

Refused, with the reason: ``SimpleRNN`` (hls4ml 1.3.0's Vivado/Vitis ``SimpleRNN`` gives
silently wrong output), ``LSTM``/``GRU`` (approximate), convolutions, lookup-table activations
(``softmax``, ``tanh``, ``sigmoid``, …: never bit-exact to float), ``ReLU`` with
``max_value``/``negative_slope``/``threshold`` (hls4ml maps it to a plain relu), binary/ternary/
power-of-two weights, any layer hls4ml leaves in the graph that is not one of the above.

hls4ml quirk handled here: hls4ml 1.3.0 drops a ``quantized_bits`` activation (``QActivation``
or a ``QDense``'s ``activation=``) that follows a Dense whose result precision is ``auto``: its
``merge_linear_activation`` pass looks for the attribute ``quantizer`` while the QKeras parser
stores ``activation_quantizer``, so the Dense keeps its wide accumulator type and the output is
not quantized at all (97% of outputs differ from Keras in our check). :func:`from_keras` sets
that Dense's result precision (and its implicit ``<name>_linear`` activation's) to the
quantizer's type, which is exactly the QKeras arithmetic, and checks afterwards that every
quantizing activation of the Keras model is present in the graph.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.models import fixedpoint
from l1t.models.fixedpoint import MAX_FLOAT_WIDTH, FixedType

BACKEND = "Vitis"
IO_TYPE = "io_parallel"
STRATEGY = "Latency"
DEFAULT_CLOCK_NS = 5.0   #: hls4ml's default ``ClockPeriod`` for Vivado/Vitis

# Keras classes refused before conversion, with the reason
_REFUSED = {
    "SimpleRNN": "hls4ml 1.3.0 converts SimpleRNN on the Vivado/Vitis backends to C++ that gives "
                 "silently wrong output",
    "QSimpleRNN": "hls4ml 1.3.0 converts SimpleRNN on the Vivado/Vitis backends to C++ that gives "
                  "silently wrong output",
    "LSTM": "hls4ml's LSTM uses lookup-table activations and is only approximate (not bit-exact)",
    "GRU": "hls4ml's GRU uses lookup-table activations and is only approximate (not bit-exact)",
    "QLSTM": "recurrent layers are not supported (approximate in hls4ml)",
    "QGRU": "recurrent layers are not supported (approximate in hls4ml)",
    "Bidirectional": "recurrent layers are not supported (approximate in hls4ml)",
    "Softmax": "hls4ml's softmax is a lookup table, never bit-exact to the float softmax",
}
_CONV = ("Conv", "Pooling", "UpSampling", "ZeroPadding", "Cropping")
_LUT_ACTIVATIONS = ("softmax", "tanh", "sigmoid", "hard_sigmoid", "elu", "selu", "softplus",
                    "softsign", "swish", "gelu", "exponential", "leaky_relu")
_PASSIVE = ("InputLayer", "Dropout", "BatchNormalization", "QBatchNormalization", "Flatten")


# -- the IR --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class InputLayer:
    """The input vector: ``n`` values of ``result_type`` (``input_t``)."""

    name: str
    n: int
    result_type: FixedType
    kind: str = "input"

    @property
    def n_out(self) -> int:
        return self.n


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """``nnet::dense`` (``dense_latency``): ``res[j] = (result_t) Σ_i (accum_t)(x[i] * w[i, j])``.

    ``weight`` ``(n_in, n_out)`` and ``bias`` ``(n_out,)`` are float64 values *as the C++ holds
    them* (the decimal text hls4ml writes into ``firmware/weights/*.h|txt``, read as a double and
    converted to ``weight_t``/``bias_t``); the codes of those values are :attr:`weight_codes` and
    :attr:`bias_codes`. The flat C++ array is ``weight.ravel()`` (index ``i * n_out + j``).
    """

    name: str
    input: str
    n_in: int
    n_out: int
    weight: np.ndarray
    bias: np.ndarray
    input_type: FixedType
    weight_type: FixedType
    bias_type: FixedType
    accum_type: FixedType
    result_type: FixedType
    reuse_factor: int = 1
    strategy: str = "latency"
    kind: str = "dense"

    def __post_init__(self) -> None:
        w = np.asarray(self.weight, dtype=np.float64)
        b = np.asarray(self.bias, dtype=np.float64)
        if w.shape != (self.n_in, self.n_out) or b.shape != (self.n_out,):
            raise L1TInputError(self.name, f"weight {w.shape} / bias {b.shape} do not match "
                                f"({self.n_in}, {self.n_out})", "weight")
        for what, values, t in (("weight", w, self.weight_type), ("bias", b, self.bias_type)):
            if not np.array_equal(fixedpoint.quantize(values, t), values):
                raise L1TInputError(self.name, f"{what} values are not all values of {t}", what)
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)

    @property
    def weight_codes(self) -> np.ndarray:
        """int64 ``(n_in, n_out)`` codes of :attr:`weight` in ``weight_type``."""
        return fixedpoint.to_int(self.weight, self.weight_type)

    @property
    def bias_codes(self) -> np.ndarray:
        """int64 ``(n_out,)`` codes of :attr:`bias` in ``bias_type``."""
        return fixedpoint.to_int(self.bias, self.bias_type)

    @property
    def n_zeros(self) -> int:
        return int(np.count_nonzero(self.weight == 0))

    @property
    def multiplier_limit(self) -> int:
        """hls4ml's ``multiplier_limit`` (``parameters.h``): multipliers left after zeros and RF."""
        r = self.reuse_factor
        return -(-self.n_in * self.n_out // r) - self.n_zeros // r


@dataclass(frozen=True, eq=False)
class ActivationLayer:
    """``nnet::relu`` or ``nnet::linear``: element-wise cast to ``result_type``.

    relu: ``res = x > 0 ? (result_t) x : 0``; linear: ``res = (result_t) x``.
    """

    name: str
    input: str
    n: int
    activation: str          # "relu" | "linear"
    input_type: FixedType
    result_type: FixedType
    kind: str = "activation"

    @property
    def n_out(self) -> int:
        return self.n


Layer = Union[InputLayer, DenseLayer, ActivationLayer]


@dataclass(eq=False)
class FirmwareModel:
    """A network as hls4ml will generate it: the layer list (topological order) and its outputs.

    ``layers[0]`` is the input; ``outputs`` names the layers whose results are the model's
    outputs, in hls4ml's (= Keras') order. ``hls_model`` is the converted ``ModelGraph`` (None
    for a hand-built IR), ``keras_model`` the source model, ``config`` the hls4ml configuration
    used. ``clock_ns`` is the *target* clock period given to HLS.
    """

    name: str
    layers: list[Layer]
    outputs: list[str]
    hls_model: Any = None
    keras_model: Any = None
    config: dict = field(default_factory=dict)
    clock_ns: float = DEFAULT_CLOCK_NS
    part: str | None = None

    def __post_init__(self) -> None:
        if not self.layers or not isinstance(self.layers[0], InputLayer):
            raise L1TInputError(self.name, "the first layer must be the input", "layers")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise L1TInputError(self.name, "layer names must be unique", "layers")
        known: set[str] = set()
        for layer in self.layers:
            if not isinstance(layer, InputLayer) and layer.input not in known:
                raise L1TInputError(layer.name, f"input {layer.input!r} is not an earlier layer",
                                    "input")
            known.add(layer.name)
        for out in self.outputs:
            if out not in known:
                raise L1TInputError(self.name, f"output {out!r} is not a layer", "outputs")
            t = self.layer(out).result_type
            if t.width > MAX_FLOAT_WIDTH:
                raise L1TInputError(out, f"output type {t} is wider than {MAX_FLOAT_WIDTH} bits: "
                                    "its values are not exact in float64", "result_t")

    # -- accessors ---------------------------------------------------------------------------
    @property
    def input(self) -> InputLayer:
        return self.layers[0]  # type: ignore[return-value]

    @property
    def input_type(self) -> FixedType:
        return self.input.result_type

    @property
    def n_in(self) -> int:
        return self.input.n

    @property
    def output_types(self) -> list[FixedType]:
        return [self.layer(name).result_type for name in self.outputs]

    @property
    def output_sizes(self) -> list[int]:
        return [self.layer(name).n_out for name in self.outputs]

    @property
    def reuse_factor(self) -> int:
        """Largest reuse factor of the Dense layers (the pipeline's target II), 1 if none."""
        return max([l.reuse_factor for l in self.layers if isinstance(l, DenseLayer)] or [1])

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    # -- inputs ------------------------------------------------------------------------------
    def quantize_inputs(self, x: np.ndarray) -> np.ndarray:
        """``x`` ``(N, n_in)`` converted to the input type exactly as ``input_t v = x;`` does.

        Returns float64 ``(N, n_in)`` on the input grid (rounding/overflow of ``input_t``; for
        ``ap_int`` inputs the Xilinx ``ap_int(double)`` quirk for small negatives is not
        reproduced, see :mod:`l1t.models.fixedpoint`).
        """
        x = self._shape(x)
        return fixedpoint.quantize(x, self.input_type)

    def input_codes(self, x: np.ndarray) -> np.ndarray:
        """int64 codes ``(N, n_in)`` of inputs that must already be on the input grid.

        Raises :class:`L1TInputError` for values off the grid or out of range (use
        :meth:`quantize_inputs` first): backends take fixed-point values, not floats.
        """
        x = self._shape(x)
        t = self.input_type
        scaled = np.ldexp(x, t.frac)                         # exact for on-grid values
        inside = (scaled >= t.min_code) & (scaled <= t.max_code)
        codes = np.where(inside, scaled, 0).astype(np.int64)
        bad = ~inside | (codes != scaled)
        if t.frac < 0:  # a negative shift may underflow: check the round trip too
            bad |= np.ldexp(codes.astype(np.float64), -t.frac) != x
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise L1TInputError(self.name, f"input [{i}, {j}] = {x[i, j]!r} is not a value of "
                                f"{self.input_type} (off the grid or out of range): quantize "
                                "the inputs first (FirmwareModel.quantize_inputs)", "x")
        return codes

    def _shape(self, x: np.ndarray, finite: bool = True) -> np.ndarray:
        """``x`` as float64 ``(N, n_in)`` (a single event may be 1-d); ``finite``: also reject
        NaN/inf here (the emulator's fused kernel checks them itself, in the same pass as the
        grid)."""
        x = np.asarray(x)
        if x.dtype.kind not in "fiu":
            raise L1TInputError(self.name, f"numeric inputs expected, got dtype {x.dtype}", "x")
        x = x.astype(np.float64, copy=False)
        if x.ndim == 1 and x.shape[0] == self.n_in:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise L1TInputError(self.name, f"inputs must be shaped (N, {self.n_in}), got "
                                f"{x.shape}", "x")
        if finite and not np.all(np.isfinite(x)):
            raise L1TInputError(self.name, "NaN or infinite input", "x")
        return x

    # -- description ---------------------------------------------------------------------------
    def summary(self) -> list[dict]:
        """One JSON-able dict per layer: name, kind, sizes, input and the C++ types (strings)."""
        rows = []
        for layer in self.layers:
            row: dict[str, Any] = {"name": layer.name, "kind": layer.kind, "n_out": layer.n_out}
            if isinstance(layer, DenseLayer):
                row.update(input=layer.input, n_in=layer.n_in, weight_t=str(layer.weight_type),
                           bias_t=str(layer.bias_type), accum_t=str(layer.accum_type),
                           result_t=str(layer.result_type), reuse_factor=layer.reuse_factor,
                           n_zeros=layer.n_zeros, multiplier_limit=layer.multiplier_limit)
            elif isinstance(layer, ActivationLayer):
                row.update(input=layer.input, activation=layer.activation,
                           result_t=str(layer.result_type))
            else:
                row.update(result_t=str(layer.result_type))
            rows.append(row)
        return rows


# -- conversion ----------------------------------------------------------------------------------
def hls_type(precision: Any, where: str, field_name: str) -> FixedType:
    """The :class:`FixedType` of an hls4ml precision, from its C++ spelling (``defines.h``)."""
    text = precision.definition_cpp() if hasattr(precision, "definition_cpp") else None
    if not text:
        raise L1TInputError(where, f"{field_name} has no fixed-point type ({precision})",
                            field_name)
    try:
        return FixedType.parse(text)
    except L1TInputError as err:
        raise L1TInputError(where, f"{field_name} = {text}: {err.problem}", field_name) from None


def _activation_name(act: Any) -> str | None:
    """'relu', 'linear', ... of a Keras activation (function, string or None)."""
    if act is None:
        return "linear"
    if isinstance(act, str):
        return act
    return getattr(act, "__name__", None)


def _check_quantizer(layer_name: str, quantizer: Any) -> str | None:
    """'relu' | 'linear' for a supported QKeras activation quantizer; raise otherwise.

    Returns None when ``quantizer`` is not a QKeras quantizer (a plain Keras activation).
    """
    from qkeras import quantized_bits, quantized_relu

    if isinstance(quantizer, quantized_relu):
        if quantizer.negative_slope or quantizer.use_sigmoid:
            raise L1TInputError(layer_name, "leaky or sigmoid quantized_relu is not supported "
                                "(only a plain relu is bit-exact)", "activation")
        if getattr(quantizer, "relu_upper_bound", None):
            raise L1TInputError(layer_name, "quantized_relu with relu_upper_bound is not "
                                "supported (hls4ml ignores the bound)", "activation")
        return "relu"
    if isinstance(quantizer, quantized_bits):
        alpha = quantizer.alpha
        if alpha is not None and (isinstance(alpha, str) or np.any(np.asarray(alpha) != 1)):
            raise L1TInputError(layer_name, f"quantized_bits activation with alpha={alpha!r} is "
                                "not supported (only alpha=1)", "activation")
        return "linear"
    if hasattr(quantizer, "bits") or type(quantizer).__module__.startswith("qkeras"):
        raise L1TInputError(layer_name, f"QKeras activation {quantizer!r} is not supported "
                            "(quantized_relu and quantized_bits only)", "activation")
    return None


def _check_keras_layers(model) -> dict[str, tuple[FixedType, str | None]]:
    """Refuse unsupported Keras layers before conversion (naming them).

    Returns the *quantizing linear* activations, ``{keras_layer: (type, input_layer)}``:
    ``QActivation(quantized_bits)`` (input: the layer feeding it) and ``QDense(activation=
    quantized_bits)`` (input: None, the quantizer sits on the Dense itself).
    """
    from l1t.models.qat import quantizer_type

    linear_q: dict[str, tuple[FixedType, str | None]] = {}
    for layer in model.layers:
        cls = type(layer).__name__
        name = layer.name
        if cls in _REFUSED:
            raise L1TInputError(name, f"{cls} is not supported: {_REFUSED[cls]}", "layer")
        if any(key in cls for key in _CONV):
            raise L1TInputError(name, f"{cls} is not supported: the firmware IR handles Dense "
                                "networks only (no convolutions)", "layer")
        if cls in _PASSIVE:
            continue
        if cls in ("Dense", "QDense"):
            act = layer.activation
            kind = _check_quantizer(name, act)
            if kind is None:
                aname = _activation_name(act)
                if aname not in ("relu", "linear"):
                    raise L1TInputError(name, f"activation {aname!r} is not supported: "
                                        + ("a lookup table in hls4ml, never bit-exact"
                                           if aname in _LUT_ACTIVATIONS else
                                           "only relu and linear"), "activation")
            elif kind == "linear":
                linear_q[name] = (quantizer_type(act, name), None)
            continue
        if cls == "QActivation":
            kind = _check_quantizer(name, layer.quantizer)
            if kind is None:
                aname = _activation_name(layer.activation)
                if aname not in ("relu", "linear"):
                    raise L1TInputError(name, f"QActivation {aname!r} is not supported (relu "
                                        "and linear only)", "activation")
            elif kind == "linear":
                inbound = layer.inbound_nodes[0].inbound_layers
                inbound = inbound[0] if isinstance(inbound, list) else inbound
                linear_q[name] = (quantizer_type(layer.quantizer, name), inbound.name)
            continue
        if cls == "Activation":
            aname = _activation_name(layer.activation)
            if aname not in ("relu", "linear"):
                raise L1TInputError(name, f"activation {aname!r} is not supported: "
                                    + ("a lookup table in hls4ml, never bit-exact"
                                       if aname in _LUT_ACTIVATIONS else "only relu and linear"),
                                    "activation")
            continue
        if cls == "ReLU":
            cfg = layer.get_config()
            if (cfg.get("max_value") is not None or cfg.get("negative_slope")
                    or cfg.get("threshold")):
                raise L1TInputError(name, "ReLU with max_value/negative_slope/threshold is not "
                                    "supported: hls4ml 1.3.0 maps it to a plain relu", "layer")
            continue
        raise L1TInputError(name, f"layer type {cls} is not supported (Dense/QDense, "
                            "Activation/QActivation relu or linear, ReLU, Dropout)", "layer")
    return linear_q


def _fix_linear_quantizers(config: dict, linear_q: dict[str, tuple[FixedType, str | None]],
                           model) -> None:
    """Work around hls4ml dropping ``quantized_bits`` activations (see the module docstring)."""
    names = config["LayerName"]
    for name, (t, source) in linear_q.items():
        spelled = _hls4ml_spelling(t)
        dense = name if source is None else source
        if dense not in names:
            continue
        if type(model.get_layer(dense)).__name__ not in ("Dense", "QDense"):
            continue  # after an activation hls4ml keeps the cast as a linear layer
        prec = names[dense].setdefault("Precision", {})
        if prec.get("result", "auto") == "auto":
            prec["result"] = spelled
            implicit = f"{dense}_linear"
            if implicit in names and names[implicit].get("Precision", {}).get("result") == "auto":
                names[implicit]["Precision"]["result"] = spelled


def _hls4ml_spelling(t: FixedType) -> str:
    """``fixed<W,I,RND_CONV,SAT>`` as hls4ml's configuration writes types."""
    kind = "fixed" if t.signed else "ufixed"
    return f"{kind}<{t.width},{t.integer},{t.rounding},{t.overflow}>"


def hls4ml_config(model, input_type: FixedType | str, reuse_factor: int = 1,
                  precision: dict[str, dict[str, str]] | None = None) -> dict:
    """The hls4ml configuration :func:`from_keras` converts with.

    ``config_from_keras_model(model, granularity="name")``, Strategy Latency, ``ReuseFactor``
    on the model and every layer, the input layer's result precision ``input_type``.
    ``precision``: ``{layer_name: {"result"|"accum"|"weight"|"bias": "ap_fixed<…>"}}``
    overrides (hls4ml layer names, e.g. ``"enc_dense0"``).
    """
    import hls4ml

    t = fixedpoint.as_type(input_type)
    if isinstance(reuse_factor, bool) or not isinstance(reuse_factor, (int, np.integer)) \
            or reuse_factor < 1:
        raise L1TInputError("hls4ml", f"reuse factor must be a positive integer, got "
                            f"{reuse_factor!r}", "reuse_factor")
    with _quiet():
        config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=BACKEND,
                                                      default_reuse_factor=int(reuse_factor))
    config["Model"]["Strategy"] = STRATEGY
    config["Model"]["ReuseFactor"] = int(reuse_factor)
    names = config["LayerName"]
    inputs = list(getattr(model, "input_names", None) or [])
    if len(inputs) != 1 or inputs[0] not in names:
        raise L1TInputError(getattr(model, "name", "model"), "the model must have exactly one "
                            "input layer", "inputs")
    names[inputs[0]].setdefault("Precision", {})["result"] = str(t)
    for layer_name, overrides in (precision or {}).items():
        if layer_name not in names:
            raise L1TInputError("hls4ml", f"no layer named {layer_name!r} in the hls4ml "
                                f"configuration ({', '.join(names)})", "precision")
        for key, value in overrides.items():
            names[layer_name].setdefault("Precision", {})[key] = str(fixedpoint.as_type(value))
    return config


def from_keras(model, input_type: FixedType | str, reuse_factor: int = 1, *,
               name: str = "myproject", output_dir: str | os.PathLike | None = None,
               clock_ns: float = DEFAULT_CLOCK_NS, part: str | None = None,
               precision: dict[str, dict[str, str]] | None = None) -> FirmwareModel:
    """Convert a (Q)Keras model into hls4ml's ModelGraph and the :class:`FirmwareModel` IR.

    ``input_type``: the input layer precision (``"ap_fixed<10,8>"``); ``reuse_factor``: hls4ml
    ``ReuseFactor`` of every layer (hls4ml may adjust an invalid one: the IR records the value
    it uses); ``name``: the HLS project/top-function name; ``output_dir``: where a backend will
    write the project (a fresh temporary directory name if None; nothing is written here);
    ``clock_ns``/``part``: HLS target clock period and FPGA part (hls4ml's defaults if None);
    ``precision``: per-layer type overrides (:func:`hls4ml_config`).

    Raises :class:`L1TInputError` naming the first unsupported layer.
    """
    import hls4ml

    t = fixedpoint.as_type(input_type)
    if t.width > MAX_FLOAT_WIDTH:
        raise L1TInputError(str(t), f"input types wider than {MAX_FLOAT_WIDTH} bits are not "
                            "supported (inputs are passed as float64)", "input_type")
    linear_q = _check_keras_layers(model)
    config = hls4ml_config(model, t, reuse_factor, precision)
    _fix_linear_quantizers(config, linear_q, model)
    out_dir = str(output_dir) if output_dir is not None else \
        os.path.join(tempfile.gettempdir(), f"l1t-hls4ml-{name}-{os.getpid()}-{id(model):x}")
    kwargs: dict[str, Any] = {"clock_period": clock_ns}
    if part is not None:
        kwargs["part"] = part
    try:
        with _quiet():
            hls_model = hls4ml.converters.convert_from_keras_model(
                model, hls_config=config, backend=BACKEND, io_type=IO_TYPE,
                output_dir=out_dir, project_name=name, **kwargs)
    except L1TInputError:
        raise
    except Exception as err:  # hls4ml raises bare Exceptions for unsupported layers
        raise L1TInputError(getattr(model, "name", "model"), f"hls4ml cannot convert the model: "
                            f"{str(err).splitlines()[0][:300]}", "layer") from None
    fw = from_graph(hls_model, keras_model=model, config=config)
    _check_linear_quantizers(fw, linear_q)
    return fw


def from_anomaly_model(anomaly_model, reuse_factor: int = 1, **kwargs) -> FirmwareModel:
    """:func:`from_keras` of an :class:`l1t.models.anomaly.vae.AnomalyModel`'s encoder at its input type."""
    return from_keras(anomaly_model.encoder, anomaly_model.scaling.input_type, reuse_factor,
                      **kwargs)


def _check_linear_quantizers(fw: FirmwareModel, linear_q: dict) -> None:
    """Every quantizing linear activation must be in the graph (see the module docstring)."""
    names = {layer.name: layer for layer in fw.layers}
    for name, (t, source) in linear_q.items():
        candidates = [name, f"{name}_quantized_bits", source or name]
        if not any(c in names and names[c].result_type == t for c in candidates):
            raise L1TInputError(name, f"hls4ml dropped this layer's quantized_bits activation "
                                f"({t}); set the preceding layer's result precision to it",
                                "activation")


def from_graph(hls_model, keras_model=None, config: dict | None = None) -> FirmwareModel:
    """Read a converted hls4ml ``ModelGraph`` into the IR (refusing what it cannot represent)."""
    io_type = hls_model.config.get_config_value("IOType")
    if io_type != IO_TYPE:
        raise L1TInputError("hls4ml", f"IOType {io_type!r} is not supported ({IO_TYPE} only)",
                            "IOType")
    backend = hls_model.config.backend
    producer: dict[str, str] = {}   # tensor name -> layer name
    layers: list[Layer] = []
    by_name: dict[str, Layer] = {}
    inputs = list(hls_model.inputs)
    if len(inputs) != 1:
        raise L1TInputError("hls4ml", f"exactly one input expected, got {inputs}", "inputs")

    for node in hls_model.get_layers():
        cls = node.class_name
        name = node.name
        for out in node.outputs:
            producer[out] = name
        if cls == "Input":
            shape = node.get_output_variable().shape
            if len(shape) != 1:
                raise L1TInputError(name, f"input shape {tuple(shape)} is not a vector", "shape")
            layer: Layer = InputLayer(name, int(shape[0]),
                                      hls_type(node.types["result_t"].precision, name, "result_t"))
        elif cls == "Dense":
            layer = _dense(node, producer, by_name, backend)
        elif cls == "Activation":
            act = str(node.get_attr("activation")).lower()
            if act not in ("relu", "linear"):
                raise L1TInputError(name, f"activation {act!r} is not supported (relu and linear "
                                    "only)", "activation")
            src = _source(node, producer, by_name)
            n = int(np.prod(node.get_output_variable().shape))
            if n != src.n_out:
                raise L1TInputError(name, f"size {n} differs from its input's {src.n_out}",
                                    "shape")
            layer = ActivationLayer(name, src.name, n, act, src.result_type,
                                    hls_type(node.types["result_t"].precision, name, "result_t"))
        else:
            reason = _REFUSED.get(cls, "only Input, Dense and relu/linear activations are "
                                  "supported" + (" (hls4ml did not fold this BatchNormalization "
                                                 "into a Dense)" if "BatchNorm" in cls else ""))
            raise L1TInputError(name, f"hls4ml layer {cls} is not supported: {reason}", "layer")
        layers.append(layer)
        by_name[name] = layer

    outputs = [producer.get(out, out) for out in hls_model.outputs]
    return FirmwareModel(
        name=hls_model.config.get_project_name(), layers=layers, outputs=outputs,
        hls_model=hls_model, keras_model=keras_model,
        config=config or dict(hls_model.config.config),
        clock_ns=float(hls_model.config.get_config_value("ClockPeriod") or DEFAULT_CLOCK_NS),
        part=hls_model.config.get_config_value("Part"))


def _source(node, producer: dict[str, str], by_name: dict[str, Layer]) -> Layer:
    if len(node.inputs) != 1:
        raise L1TInputError(node.name, f"exactly one input expected, got {node.inputs}", "inputs")
    src = producer.get(node.inputs[0])
    if src is None or src not in by_name:
        raise L1TInputError(node.name, f"input {node.inputs[0]!r} is not produced by an earlier "
                            "layer", "inputs")
    return by_name[src]


def _dense(node, producer: dict[str, str], by_name: dict[str, Layer], backend) -> DenseLayer:
    name = node.name
    src = _source(node, producer, by_name)
    strategy = str(node.get_attr("strategy", "latency")).lower()
    if strategy != "latency":
        raise L1TInputError(name, f"strategy {strategy!r} is not supported (Latency only)",
                            "strategy")
    n_in, n_out = int(node.get_attr("n_in")), int(node.get_attr("n_out"))
    if n_in != src.n_out:
        raise L1TInputError(name, f"n_in {n_in} differs from its input's size {src.n_out}",
                            "n_in")
    wprec = node.types["weight_t"].precision
    product = backend.product_type(node.get_input_variable().type.precision, wprec)
    if product != "mult":
        raise L1TInputError(name, f"hls4ml uses the {product!r} product (binary/ternary/po2 "
                            "weights): not supported", "weight_t")
    types = {key: hls_type(node.types[key].precision, name, key)
             for key in ("weight_t", "bias_t", "accum_t", "result_t")}
    weight = _written_values(node.weights["weight"])
    bias = _written_values(node.weights["bias"])
    if weight.shape != (n_in, n_out) or bias.shape != (n_out,):
        raise L1TInputError(name, f"unexpected weight/bias shapes {weight.shape}/{bias.shape}",
                            "weight")
    weight = fixedpoint.quantize(weight, types["weight_t"])
    bias = fixedpoint.quantize(bias, types["bias_t"])
    return DenseLayer(name=name, input=src.name, n_in=n_in, n_out=n_out, weight=weight, bias=bias,
                      input_type=src.result_type, weight_type=types["weight_t"],
                      bias_type=types["bias_t"], accum_type=types["accum_t"],
                      result_type=types["result_t"],
                      reuse_factor=int(node.get_attr("reuse_factor", 1)), strategy=strategy)


def _written_values(var) -> np.ndarray:
    """The weights as hls4ml writes them: its decimal strings, read back as float64.

    hls4ml prints each value with ``max(0, F)`` decimals (``WeightVariable.precision_fmt``); the
    C++ reads the text as a double (``istream >> double`` in C-sim, a literal in synthesis) and
    converts it to ``weight_t`` with that type's rounding. Exact for on-grid weights (QKeras);
    float weights are rounded twice (decimal text, then ``weight_t``), as in the C++.
    """
    text = list(iter(var))
    return np.array([float(s) for s in text], dtype=np.float64).reshape(var.data.shape)


@contextlib.contextmanager
def _quiet():
    """Silence hls4ml's prints (it reports every layer on stdout)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield
