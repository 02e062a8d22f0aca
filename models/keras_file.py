"""Saved (Q)Keras models read without running code from the file.

A legacy ``.h5`` model stores its architecture as JSON (the ``model_config`` attribute); a
``.keras`` file stores it as ``config.json`` in a zip. Keras rebuilds the model from that JSON, and
a ``Lambda`` layer's JSON carries marshalled Python bytecode that runs while the model is built.
:func:`load_keras_model` therefore reads the architecture first and refuses any layer outside
:data:`LOADABLE_LAYERS` (built-in layers whose configuration is data only) *before* Keras sees the
file; only then does Keras load it, with QKeras's objects and ``safe_mode``.

Whether the firmware can map a loadable layer is a separate question answered by the firmware IR.
"""
from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from l1t.core.errors import L1TInputError

#: Layer classes a saved model may hold: built-in Keras and QKeras layers whose saved
#: configuration is numbers and names only (no code). ``Functional``/``Sequential`` are nested
#: models, checked layer by layer.
LOADABLE_LAYERS = frozenset({
    "Functional", "Sequential", "InputLayer",
    "Dense", "QDense", "Activation", "QActivation", "ReLU", "LeakyReLU", "Softmax",
    "Dropout", "BatchNormalization", "QBatchNormalization", "Flatten", "Reshape", "Permute",
    "Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
    "SimpleRNN", "LSTM", "GRU", "QSimpleRNN", "QLSTM", "QGRU", "Bidirectional",
    "Conv1D", "Conv2D", "QConv1D", "QConv2D", "DepthwiseConv2D", "QDepthwiseConv2D",
    "SeparableConv1D", "SeparableConv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
    "AveragePooling2D", "QAveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "UpSampling1D", "UpSampling2D",
    "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D",
    # tensorflow_model_optimization's pruning wrapper around a layer (checked inside)
    "PruneLowMagnitude",
})


def _layers(config: Any, where: str) -> Iterator[tuple[str, str, str]]:
    """``(field, name, class_name)`` of every layer of a serialised model, nested models and
    wrapped layers included."""
    if not isinstance(config, dict):
        return
    cfg = config.get("config")
    cfg = cfg if isinstance(cfg, dict) else {}
    layers = cfg.get("layers")
    if isinstance(layers, list):
        for layer in layers:
            if not isinstance(layer, dict):
                yield f"{where}.layers", "?", repr(type(layer).__name__)
                continue
            name = str(layer.get("name") or (layer.get("config") or {}).get("name", "?"))
            field = f"{where}.layers.{name}".lstrip(".")
            yield field, name, str(layer.get("class_name"))
            yield from _layers(layer, field)
    inner = cfg.get("layer")
    if isinstance(inner, dict):
        name = str((inner.get("config") or {}).get("name", "?"))
        field = f"{where}.layer.{name}".lstrip(".")
        yield field, name, str(inner.get("class_name"))
        yield from _layers(inner, field)


def saved_architecture(path: str | Path) -> dict:
    """The architecture JSON of a saved ``.h5`` or ``.keras`` model, read without Keras."""
    p = Path(path)
    try:
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as z:
                text = z.read("config.json").decode()
        else:
            import h5py

            with h5py.File(p, "r") as f:
                raw = f.attrs.get("model_config")
                if raw is None:
                    raise L1TInputError(p, "the HDF5 file holds no Keras model (no model_config "
                                        "attribute; weights only?)", "model_config")
                text = raw.decode() if isinstance(raw, bytes) else str(raw)
        config = json.loads(text)
    except L1TInputError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise L1TInputError(p, f"not a readable Keras model file ({reason})") from None
    if not isinstance(config, dict) or config.get("class_name") not in ("Functional",
                                                                         "Sequential"):
        kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise L1TInputError(p, f"model class {kind!r} cannot be loaded: only Functional and "
                            "Sequential models are (a subclassed model's code is not in the file)",
                            "class_name")
    return config


def check_loadable(path: str | Path) -> dict:
    """Refuse a saved model with a layer outside :data:`LOADABLE_LAYERS` (e.g. ``Lambda``,
    whose saved bytecode would run on loading); returns the architecture."""
    config = saved_architecture(path)
    for field, name, cls in _layers(config, ""):
        if cls not in LOADABLE_LAYERS:
            raise L1TInputError(path, f"layer {name!r} of type {cls} cannot be loaded: "
                                + ("its saved configuration carries Python code, which l1t "
                                   "never runs" if "Lambda" in cls else
                                   "l1t loads built-in Keras/QKeras layers only"), field)
    return config


def load_keras_model(path: str | Path):
    """Load a saved (Q)Keras model after :func:`check_loadable`; an unreadable model is an
    :class:`L1TInputError` naming the file."""
    p = Path(path)
    if not p.is_file():
        raise L1TInputError(p, "no such model file" if not p.exists() else
                            "a model file is expected here, not a directory")
    check_loadable(p)
    from qkeras.utils import _add_supported_quantized_objects
    from tensorflow import keras

    objects: dict = {}
    _add_supported_quantized_objects(objects)
    try:
        return keras.models.load_model(str(p), custom_objects=objects, compile=False,
                                       safe_mode=True)
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise L1TInputError(p, f"cannot load the model ({str(err).splitlines()[0][:200]})") \
            from None
