"""Pruning of Dense/QDense Keras models: unstructured, structured rows, and N:M sparsity.

Every technique returns a :class:`PruningSetup`: the model to train, the callbacks to pass to
``fit``, and ``strip()`` to get the final plain model. :func:`fine_tune` does compile + fit +
strip in one call. The input model is never modified.

* :func:`prune_magnitude` — unstructured magnitude pruning with tfmot's
  ``prune_low_magnitude`` and a ``PolynomialDecay`` schedule (sparsity rising from
  ``initial_sparsity`` at ``begin_step`` to ``final_sparsity`` at ``end_step`` as
  ``s_f + (s_i - s_f) (1 - t)**power``); ``strip()`` is tfmot's ``strip_pruning``.
* :func:`prune_rows` — structured pruning of output neurons: in each chosen layer the fraction of
  neurons with the smallest L1 or L2 norm of their incoming weight vector (kernel column) get
  their kernel column and bias set to zero, so they are removable in firmware. A
  :class:`MaskCallback` re-applies the masks after every training batch.
* :func:`prune_n_m` — N:M sparsity (default 2:4): at most ``n`` non-zero weights in every group
  of ``m`` consecutive kernel entries along the input axis. ``backend="tfmot"`` uses
  ``prune_low_magnitude(sparsity_m_by_n=(m - n, m))`` (mask chosen at the first training step,
  then fixed), ``backend="mask"`` our own mask + :class:`MaskCallback` (chosen at once).

All three work on QKeras models too: QDense implements tfmot's ``PrunableLayer`` (its kernel is
pruned) and the mask callback works on any layer with a ``kernel``. Pruned float weights are 0,
and QKeras quantizers map 0 to 0, so the zeros survive quantization (the quantized kernel may
have *more* zeros than :func:`sparsity`, which counts the float kernel).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import tensorflow_model_optimization as tfmot
from tensorflow import keras

from l1t.core.errors import L1TInputError
from l1t.models.ptq import clone_with_weights, keras_objects, kernel_layers


# -- masks (numpy) -----------------------------------------------------------------------------
def row_mask(kernel: np.ndarray, fraction: float, norm: str = "l1") -> np.ndarray:
    """Mask of kept output neurons (bool, shape ``(n_out,)``) of a kernel ``(n_in, n_out)``.

    Drops ``round(fraction * n_out)`` neurons (at most ``n_out - 1``) with the smallest L1
    (``norm="l1"``) or L2 norm of their column; ties go to the lower index.
    """
    kernel = np.asarray(kernel, np.float64)
    if norm not in ("l1", "l2"):
        raise L1TInputError("prune_rows", f"norm must be 'l1' or 'l2', got {norm!r}", "norm")
    if not 0.0 <= fraction < 1.0:
        raise L1TInputError("prune_rows", f"fraction must be in [0, 1), got {fraction}", "fraction")
    flat = kernel.reshape(-1, kernel.shape[-1])
    norms = np.abs(flat).sum(axis=0) if norm == "l1" else np.sqrt((flat**2).sum(axis=0))
    n_out = norms.size
    n_drop = min(int(round(fraction * n_out)), n_out - 1)
    keep = np.ones(n_out, dtype=bool)
    keep[np.argsort(norms, kind="stable")[:n_drop]] = False
    return keep


def _groups(weights: np.ndarray, m: int, axis: int) -> tuple[np.ndarray, int]:
    """``weights`` with ``axis`` moved last, zero-padded to a multiple of ``m`` and split into
    groups: shape ``(..., n_groups, m)``; also the original length along ``axis``."""
    w = np.moveaxis(np.asarray(weights), axis, -1)
    length = w.shape[-1]
    pad = (-length) % m
    if pad:
        w = np.concatenate([w, np.zeros(w.shape[:-1] + (pad,), w.dtype)], axis=-1)
    return w.reshape(w.shape[:-1] + (w.shape[-1] // m, m)), length


def n_m_mask(weights: np.ndarray, n: int = 2, m: int = 4, axis: int = 0) -> np.ndarray:
    """Mask (bool, shape of ``weights``) keeping the ``n`` largest ``|w|`` in every group of ``m``
    consecutive entries along ``axis`` (axis 0 = the input axis of a Dense kernel ``(n_in,
    n_out)``). A last partial group is treated as zero-padded. Ties go to the lower index.
    """
    if not 0 < n < m:
        raise L1TInputError("n_m", f"need 0 < n < m, got n={n}, m={m}", "n")
    groups, length = _groups(np.abs(np.asarray(weights, np.float64)), m, axis)
    rank = np.argsort(np.argsort(-groups, axis=-1, kind="stable"), axis=-1, kind="stable")
    keep = (rank < n).reshape(groups.shape[:-2] + (-1,))[..., :length]
    return np.moveaxis(keep, -1, axis)


def check_n_m(weights: np.ndarray, n: int = 2, m: int = 4, axis: int = 0) -> bool:
    """True if every group of ``m`` consecutive entries along ``axis`` has at most ``n`` non-zeros
    (a last partial group counts as zero-padded)."""
    groups, _ = _groups(np.asarray(weights) != 0, m, axis)
    return bool(np.all(groups.sum(axis=-1) <= n))


# -- measuring ---------------------------------------------------------------------------------
def _inner(layer):
    """The layer inside a tfmot pruning wrapper (or the layer itself)."""
    return getattr(layer, "layer", layer)


def sparsity(model) -> dict[str, float]:
    """Fraction of exactly-zero kernel entries per kernel layer ``{layer_name: fraction}``.

    Works on plain, QKeras and tfmot-wrapped models (the wrapped layer's name is used).
    Biases are not counted.
    """
    out: dict[str, float] = {}
    for layer in model.layers:
        inner = _inner(layer)
        kernel = getattr(inner, "kernel", None)
        if kernel is not None:
            out[inner.name] = float(np.mean(np.asarray(kernel.numpy()) == 0))
    return out


def overall_sparsity(model) -> float:
    """Fraction of exactly-zero entries over all kernels of ``model``."""
    zeros = total = 0
    for layer in model.layers:
        kernel = getattr(_inner(layer), "kernel", None)
        if kernel is not None:
            k = np.asarray(kernel.numpy())
            zeros += int(np.count_nonzero(k == 0))
            total += k.size
    return zeros / total if total else 0.0


# -- the setup object and the mask callback --------------------------------------------------------
class MaskCallback(keras.callbacks.Callback):
    """Keep pruned weights exactly zero during training.

    Multiplies kernels (and biases) of ``target_model`` by fixed 0/1 masks at the start of
    training, after every training batch and at the end of every epoch. ``masks``:
    ``{layer_name: (kernel_mask, bias_mask or None)}``, bool arrays of the weight shapes.
    Works for any layer with ``kernel``/``bias`` variables (Dense, QDense, ...).
    """

    def __init__(self, target_model, masks: Mapping[str, tuple[np.ndarray, np.ndarray | None]]):
        super().__init__()
        self.target_model = target_model
        self.masks = dict(masks)

    def apply(self) -> None:
        """Multiply the weights by the masks now."""
        for name, (kmask, bmask) in self.masks.items():
            layer = self.target_model.get_layer(name)
            layer.kernel.assign(layer.kernel * kmask.astype(layer.kernel.dtype.as_numpy_dtype))
            if bmask is not None and getattr(layer, "bias", None) is not None:
                layer.bias.assign(layer.bias * bmask.astype(layer.bias.dtype.as_numpy_dtype))

    def on_train_begin(self, logs=None):
        self.apply()

    def on_train_batch_end(self, batch, logs=None):
        self.apply()

    def on_epoch_end(self, epoch, logs=None):
        self.apply()


@dataclass
class PruningSetup:
    """A model prepared for pruning-aware training.

    ``model``: compile and fit this one, passing ``callbacks``; ``strip()`` then gives the final
    plain model (tfmot wrappers removed, masks applied). ``masks``: for the mask backend,
    ``{layer_name: (kernel_mask, bias_mask | None)}`` (bool); empty for tfmot. ``kind``:
    ``"unstructured"``, ``"structured"`` or ``"n:m"``; ``strip_fn``: how to strip (tfmot).
    """

    model: object
    callbacks: list = field(default_factory=list)
    masks: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    kind: str = ""
    strip_fn: Callable[[object], object] | None = None

    def strip(self):
        """The trained model without pruning machinery (a new model for tfmot; masks re-applied)."""
        if self.strip_fn is not None:
            return self.strip_fn(self.model)
        for cb in self.callbacks:
            if hasattr(cb, "apply"):
                cb.apply()
        return self.model


def _select(model, layers: Iterable[str] | None, default: Sequence[str]) -> list[str]:
    names = [layer.name for layer in kernel_layers(model)]
    if layers is None:
        return list(default)
    chosen = list(layers)
    missing = [n for n in chosen if n not in names]
    if missing:
        raise L1TInputError("pruning", f"no kernel layers named {missing}; have {names}", "layers")
    return chosen


def _output_kernel_layers(model) -> set[str]:
    """Kernel layers whose outputs reach a model output through kernel-free layers only."""
    found: set[str] = set()
    stack = [t._keras_history.layer for t in model.outputs]
    seen: set[int] = set()
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if getattr(layer, "kernel", None) is not None:
            found.add(layer.name)
            continue
        for node in layer._inbound_nodes:
            inbound = node.inbound_layers
            stack.extend(inbound if isinstance(inbound, (list, tuple)) else [inbound])
    return found


def _wrap_tfmot(model, names: Sequence[str], **params):
    clone = clone_with_weights(model)
    chosen = set(names)

    def wrap(layer):
        if isinstance(layer, keras.layers.InputLayer):
            return layer.__class__.from_config(layer.get_config())
        if layer.name in chosen:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, **params)
        return layer

    with keras_objects():
        wrapped = keras.models.clone_model(clone, clone_function=wrap)

    def strip(m):
        with keras_objects():
            return tfmot.sparsity.keras.strip_pruning(m)

    return wrapped, [tfmot.sparsity.keras.UpdatePruningStep()], strip


# -- the three techniques ----------------------------------------------------------------------
def training_steps(n_samples: int, batch_size: int, epochs: int) -> int:
    """Optimizer steps of ``fit`` over ``n_samples`` for ``epochs``: ``epochs * ceil(n / batch)``."""
    return epochs * -(-n_samples // batch_size)


def prune_magnitude(model, final_sparsity: float, end_step: int, *, initial_sparsity: float = 0.0,
                    begin_step: int = 0, frequency: int = 10, power: int = 3,
                    layers: Iterable[str] | None = None) -> PruningSetup:
    """Unstructured magnitude pruning (tfmot ``PolynomialDecay`` schedule) of the kernels.

    ``layers``: names of the kernel layers to prune (default: all, output layer included).
    Masks are updated every ``frequency`` steps from ``begin_step`` to ``end_step`` (use
    :func:`training_steps`); ``end_step - begin_step`` must be a multiple of ``frequency`` so
    that the last update reaches ``final_sparsity``, and training must run at least ``end_step``
    steps.
    """
    if not 0.0 <= initial_sparsity <= final_sparsity < 1.0:
        raise L1TInputError("prune_magnitude", "need 0 <= initial_sparsity <= final_sparsity < 1",
                            "final_sparsity")
    if end_step <= begin_step or (end_step - begin_step) % frequency:
        raise L1TInputError("prune_magnitude", f"end_step - begin_step ({end_step - begin_step}) "
                            f"must be a positive multiple of frequency ({frequency})", "end_step")
    names = _select(model, layers, [layer.name for layer in kernel_layers(model)])
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=initial_sparsity, final_sparsity=final_sparsity, begin_step=begin_step,
        end_step=end_step, power=power, frequency=frequency)
    wrapped, callbacks, strip = _wrap_tfmot(model, names, pruning_schedule=schedule)
    return PruningSetup(wrapped, callbacks, {}, "unstructured", strip)


def prune_rows(model, fraction: float, norm: str = "l1",
               layers: Iterable[str] | None = None) -> PruningSetup:
    """Structured pruning: zero the weakest ``fraction`` of output neurons of each layer.

    ``layers``: names of kernel layers (default: all but those producing model outputs, whose
    neurons are the outputs). The masks are computed once, from the current weights, applied
    at once and kept by a :class:`MaskCallback`.
    """
    clone = clone_with_weights(model)
    outputs = _output_kernel_layers(clone)
    names = _select(clone, layers, [l.name for l in kernel_layers(clone) if l.name not in outputs])
    masks: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for name in names:
        layer = clone.get_layer(name)
        keep = row_mask(layer.kernel.numpy(), fraction, norm)
        kmask = np.broadcast_to(keep, layer.kernel.shape).copy()
        masks[name] = (kmask, keep if getattr(layer, "bias", None) is not None else None)
    callback = MaskCallback(clone, masks)
    callback.apply()
    return PruningSetup(clone, [callback], masks, "structured")


def prune_n_m(model, n: int = 2, m: int = 4, layers: Iterable[str] | None = None,
              backend: str = "tfmot") -> PruningSetup:
    """N:M sparsity of the kernels along the input axis (at most ``n`` non-zeros per ``m``).

    ``layers``: names of kernel layers (default: all). ``backend="tfmot"``:
    ``prune_low_magnitude(sparsity_m_by_n=(m - n, m))`` (2-D kernels; works in this stack with
    Dense and QDense); ``backend="mask"``: :func:`n_m_mask` + :class:`MaskCallback`.
    """
    if not 0 < n < m:
        raise L1TInputError("prune_n_m", f"need 0 < n < m, got n={n}, m={m}", "n")
    names = _select(model, layers, [layer.name for layer in kernel_layers(model)])
    if backend == "tfmot":
        wrapped, callbacks, strip = _wrap_tfmot(model, names, sparsity_m_by_n=(m - n, m))
        return PruningSetup(wrapped, callbacks, {}, f"{n}:{m}", strip)
    if backend != "mask":
        raise L1TInputError("prune_n_m", f"backend must be 'tfmot' or 'mask', got {backend!r}",
                            "backend")
    clone = clone_with_weights(model)
    masks = {name: (n_m_mask(clone.get_layer(name).kernel.numpy(), n, m, axis=0), None)
             for name in names}
    callback = MaskCallback(clone, masks)
    callback.apply()
    return PruningSetup(clone, [callback], masks, f"{n}:{m}")


def fine_tune(setup: PruningSetup, x, y, *, epochs: int, batch_size: int = 32, loss="mse",
              optimizer=None, learning_rate: float = 1e-3, verbose: int = 0,
              callbacks: Sequence = (), **fit_kwargs) -> tuple[object, dict[str, list[float]]]:
    """Compile ``setup.model`` (Adam at ``learning_rate`` unless ``optimizer``), fit it on
    ``(x, y)`` with the pruning callbacks, and return ``(setup.strip(), history)``."""
    opt = optimizer if optimizer is not None else keras.optimizers.Adam(learning_rate)
    setup.model.compile(optimizer=opt, loss=loss)
    history = setup.model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=verbose,
                              callbacks=[*setup.callbacks, *callbacks], **fit_kwargs)
    return setup.strip(), {k: [float(v) for v in vals] for k, vals in history.history.items()}
