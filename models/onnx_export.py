"""(Q)Keras models as ONNX graphs, for ONNX Runtime.

tf2onnx cannot be installed next to TensorFlow 2.14 here (it pins ``protobuf~=3.20``; the stack
uses protobuf 4.25), so :func:`to_onnx` converts the Keras graph itself with the ``onnx``
package, layer by layer, in float32 as Keras computes:

- ``Dense``/``QDense`` → ``MatMul`` + ``Add`` (any rank: the kernel acts on the last axis), with
  the QKeras-quantized kernel and bias (the values the QKeras layer multiplies with);
- ``Conv1D``/``QConv1D`` (valid padding, stride 1, no dilation) → ``Transpose``, ``Conv``,
  ``Transpose`` (Keras keeps channels last, ONNX first);
- activations: ``relu`` → ``Relu``, ``linear`` → ``Identity``; QKeras ``quantized_relu`` and
  ``quantized_bits`` (the quantizers :func:`l1t.models.qat.quantizer_type` maps to an
  ``ap_fixed`` type) → ``Mul``, ``Round`` (ties to even, as ``tf.round``), ``Clip``, ``Mul``;
- ``Reshape``, ``Flatten``, ``Permute`` → ``Reshape``, ``Flatten``, ``Transpose``; ``Add``;
  ``GlobalAveragePooling1D`` → ``ReduceMean``; ``Dropout`` → ``Identity``;
  ``BatchNormalization`` (inference) → ``Mul`` + ``Add``.

Anything else raises :class:`~l1t.core.errors.L1TInputError` naming the layer. Every node is
named ``<keras layer>/<op><k>``, so a profile of the graph adds up per Keras layer
(:func:`keras_layer_of`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from l1t.core.errors import L1TInputError
from l1t.models import fixedpoint

OPSET = 17


def keras_layer_of(node_name: str) -> str:
    """The Keras layer an ONNX node of :func:`to_onnx` belongs to."""
    return node_name.split("/", 1)[0]


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._count: dict[str, int] = {}

    def const(self, layer: str, what: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = f"{layer}/{what}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, layer: str, op: str, inputs: list[str], **attrs) -> str:
        from onnx import helper

        k = self._count.get(layer, 0)
        self._count[layer] = k + 1
        out = f"{layer}/{op}{k}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _quantize(g: _Graph, layer: str, x: str, quantizer: Any) -> str:
    """``x`` through a QKeras activation quantizer (or a plain Keras activation)."""
    from l1t.models.qat import quantizer_type

    if quantizer is None:
        return x
    if isinstance(quantizer, str) or callable(quantizer) and not hasattr(quantizer, "bits"):
        name = quantizer if isinstance(quantizer, str) else getattr(quantizer, "__name__", "")
        if name == "relu":
            return g.node(layer, "Relu", [x])
        if name == "linear":
            return x
        raise L1TInputError(layer, f"activation {name!r} has no ONNX conversion here (relu, "
                            "linear and the QKeras quantizers)", "activation")
    t = quantizer_type(quantizer, layer)
    scale = float(2.0 ** t.frac)
    lo = -t.max_code if t.overflow == "SAT_SYM" and t.signed else t.min_code
    y = g.node(layer, "Mul", [x, g.const(layer, "scale", np.float32(scale))])
    y = g.node(layer, "Round", [y])
    y = g.node(layer, "Clip", [y, g.const(layer, "lo", np.float32(lo)),
                               g.const(layer, "hi", np.float32(t.max_code))])
    return g.node(layer, "Mul", [y, g.const(layer, "inv", np.float32(1.0 / scale))])


def _kernel_bias(layer) -> tuple[np.ndarray, np.ndarray | None]:
    """Kernel and bias as the (Q)Keras layer multiplies with (quantized for QKeras layers)."""
    from l1t.models.qat import quantizer_type

    weights = layer.get_weights()
    kernel = np.asarray(weights[0], np.float64)
    bias = np.asarray(weights[1], np.float64) if getattr(layer, "use_bias", True) \
        and len(weights) > 1 else None
    for attr, index in (("kernel_quantizer_internal", 0), ("bias_quantizer_internal", 1)):
        q = getattr(layer, attr, None)
        t = quantizer_type(q, layer.name) if q is not None else None
        if t is None:
            continue
        if index == 0:
            kernel = fixedpoint.quantize(kernel, t)
        elif bias is not None:
            bias = fixedpoint.quantize(bias, t)
    return kernel.astype(np.float32), None if bias is None else bias.astype(np.float32)


def inbound_layers(layer) -> list:
    """The layers feeding ``layer`` (a layer called once), in call order."""
    nodes = layer.inbound_nodes
    if len(nodes) != 1:
        raise L1TInputError(layer.name, f"layer used {len(nodes)} times: shared layers have no "
                            "ONNX conversion here", "layer")
    inbound = nodes[0].inbound_layers
    return list(inbound) if isinstance(inbound, (list, tuple)) else [inbound]


def to_onnx(model) -> Any:
    """The ONNX ``ModelProto`` (opset 17, float32) of a functional or Sequential (Q)Keras model;
    its inputs and outputs are named after the Keras input and output layers."""
    import onnx
    from onnx import TensorProto, helper

    g = _Graph()
    values: dict[str, str] = {}
    inputs = []
    for layer in model.layers:
        cls = type(layer).__name__
        name = layer.name
        if cls == "InputLayer":
            shape = [None] + [int(d) for d in layer.output_shape[0][1:]] \
                if isinstance(layer.output_shape, list) else \
                [None] + [int(d) for d in layer.output_shape[1:]]
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
            values[name] = name
            continue
        src = [values[l.name] for l in inbound_layers(layer)]
        x = src[0]
        if cls in ("Dense", "QDense"):
            kernel, bias = _kernel_bias(layer)
            y = g.node(name, "MatMul", [x, g.const(name, "kernel", kernel)])
            if bias is not None:
                y = g.node(name, "Add", [y, g.const(name, "bias", bias)])
            y = _quantize(g, name, y, layer.activation)
        elif cls in ("Conv1D", "QConv1D"):
            cfg = layer.get_config()
            if cfg.get("padding") != "valid" or tuple(cfg.get("strides", (1,))) != (1,) \
                    or tuple(cfg.get("dilation_rate", (1,))) != (1,) or cfg.get("groups", 1) != 1:
                raise L1TInputError(name, "only valid-padded Conv1D with stride 1, no dilation "
                                    "and one group has an ONNX conversion here", "layer")
            kernel, bias = _kernel_bias(layer)                 # (K, C, F)
            t = g.node(name, "Transpose", [x], perm=[0, 2, 1])
            conv_in = [t, g.const(name, "kernel", np.ascontiguousarray(kernel.transpose(2, 1, 0)))]
            if bias is not None:
                conv_in.append(g.const(name, "bias", bias))
            y = g.node(name, "Conv", conv_in, kernel_shape=[int(kernel.shape[0])])
            y = g.node(name, "Transpose", [y], perm=[0, 2, 1])
            y = _quantize(g, name, y, layer.activation)
        elif cls in ("Activation", "QActivation"):
            q = getattr(layer, "quantizer", None) if cls == "QActivation" else layer.activation
            if cls == "QActivation" and not hasattr(q, "bits"):
                q = layer.activation
            y = _quantize(g, name, x, q)
            y = y if y != x else g.node(name, "Identity", [x])
        elif cls == "ReLU":
            cfg = layer.get_config()
            if cfg.get("max_value") is not None or cfg.get("negative_slope") or \
                    cfg.get("threshold"):
                raise L1TInputError(name, "ReLU with max_value/negative_slope/threshold has no "
                                    "ONNX conversion here", "layer")
            y = g.node(name, "Relu", [x])
        elif cls == "Reshape":
            target = np.array([-1, *layer.target_shape], np.int64)
            y = g.node(name, "Reshape", [x, g.const(name, "shape", target)])
        elif cls == "Flatten":
            y = g.node(name, "Flatten", [x], axis=1)
        elif cls == "Permute":
            y = g.node(name, "Transpose", [x], perm=[0, *layer.dims])
        elif cls == "Add":
            y = g.node(name, "Sum", src)
        elif cls == "GlobalAveragePooling1D":
            if layer.get_config().get("data_format", "channels_last") != "channels_last":
                raise L1TInputError(name, "only channels_last pooling has an ONNX conversion "
                                    "here", "layer")
            y = g.node(name, "ReduceMean", [x], axes=[1], keepdims=0)
        elif cls == "Dropout":
            y = g.node(name, "Identity", [x])
        elif cls in ("BatchNormalization", "QBatchNormalization"):
            gamma, beta, mean, var = (np.asarray(w, np.float64) for w in _bn_weights(layer))
            scale = gamma / np.sqrt(var + float(layer.epsilon))
            y = g.node(name, "Mul", [x, g.const(name, "scale", scale.astype(np.float32))])
            y = g.node(name, "Add", [y, g.const(name, "shift", (beta - mean * scale)
                                                .astype(np.float32))])
        else:
            raise L1TInputError(name, f"layer type {cls} has no ONNX conversion here", "layer")
        values[name] = y
    outputs = []
    for k, tensor in enumerate(model.outputs):
        layer_name = tensor.node.layer.name
        out_name = f"output{k}_{layer_name}"
        g.nodes.append(helper.make_node("Identity", [values[layer_name]], [out_name],
                                        name=f"{layer_name}/output{k}"))
        shape = [None] + [int(d) for d in tensor.shape[1:]]
        outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, shape))
    graph = helper.make_graph(g.nodes, model.name or "model", inputs, outputs, g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="l1t")
    onnx.checker.check_model(proto)
    return proto


def _bn_weights(layer) -> list[np.ndarray]:
    """gamma, beta, moving mean, moving variance (ones/zeros where the layer has none)."""
    cfg = layer.get_config()
    w = list(layer.get_weights())
    n = w[-1].shape[0]
    gamma = w.pop(0) if cfg.get("scale", True) else np.ones(n)
    beta = w.pop(0) if cfg.get("center", True) else np.zeros(n)
    return [gamma, beta, w[0], w[1]]
