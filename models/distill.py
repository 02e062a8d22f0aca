"""Knowledge distillation: a small student regresses what a (big) teacher computes.

As CICADA distils its anomaly score: the teacher (e.g. an autoencoder, or a VAE encoder whose
score is ``Σ μ²``) is evaluated once on the training inputs, its output, or a score computed
from it by a callable, becomes the student's regression target, and the student is fitted with
a mean squared error. The teacher is never trained.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tensorflow import keras

from l1t.core.errors import L1TInputError

Target = str | Callable[[object], np.ndarray]


def squared_norm(z) -> np.ndarray:
    """``Σ_k z_k²`` over the last axis, shape ``(N,)`` — e.g. the latent-space anomaly score
    ``Σ μ²`` of a VAE encoder. A list/tuple of outputs (``[μ, log σ², z]``) uses the first."""
    if isinstance(z, (list, tuple)):
        z = z[0]
    z = np.asarray(z, np.float64)
    return np.sum(z.reshape(len(z), -1) ** 2, axis=1)


@dataclass
class DistillResult:
    """Outcome of :func:`distill`.

    ``target``: the teacher target ``(N, k)`` (float32); ``mse_before`` / ``mse_after``: the
    student's mean squared error against it before and after training (target units squared);
    ``history``: Keras history (``loss`` per epoch, ``val_loss`` if validation was used);
    ``student``: the trained student (the same object that was passed in).
    """

    student: object
    target: np.ndarray
    history: dict[str, list[float]]
    mse_before: float
    mse_after: float


def teacher_target(teacher, x: np.ndarray, target: Target = "output",
                   batch_size: int = 1024) -> np.ndarray:
    """The regression target: ``teacher(x)`` (``target="output"``) or ``target(teacher(x))``.

    The teacher's prediction is passed to the callable as Keras returns it (an array, or a list
    for multi-output models). The result is made 2-D ``(N, k)`` float32.
    """
    pred = teacher.predict(x, batch_size=batch_size, verbose=0)
    if callable(target):
        out = target(pred)
    elif target == "output":
        if isinstance(pred, (list, tuple)):
            raise L1TInputError("distill", "teacher has several outputs: pass a callable target",
                                "target")
        out = pred
    else:
        raise L1TInputError("distill", f"target must be 'output' or a callable, got {target!r}",
                            "target")
    out = np.asarray(out, np.float32)
    if out.ndim == 1:
        out = out[:, None]
    if out.shape[0] != len(x) or not np.all(np.isfinite(out)):
        raise L1TInputError("distill", f"target of shape {out.shape} for {len(x)} inputs, or "
                            "non-finite values", "target")
    return out.reshape(len(out), -1)


def _mse(student, x, target, batch_size) -> float:
    pred = np.asarray(student.predict(x, batch_size=batch_size, verbose=0), np.float64)
    return float(np.mean((pred.reshape(target.shape) - target) ** 2))


def distill(teacher, student, x: np.ndarray, target: Target = "output", *, epochs: int = 10,
            batch_size: int = 256, learning_rate: float = 1e-3, optimizer=None,
            validation_split: float = 0.0, verbose: int = 0, callbacks=(),
            **fit_kwargs) -> DistillResult:
    """Train ``student`` (in place) to reproduce the teacher's target on inputs ``x``.

    ``x``: student/teacher inputs ``(N, ...)``; ``target``: ``"output"`` or a callable on the
    teacher's prediction (e.g. :func:`squared_norm`). The student's output size must equal the
    target's ``k``. Loss: mean squared error, Adam at ``learning_rate`` unless ``optimizer``.
    Returns a :class:`DistillResult` with the MSE before and after training.
    """
    y = teacher_target(teacher, x, target)
    out_size = int(np.prod(student.output_shape[1:]))
    if out_size != y.shape[1]:
        raise L1TInputError("distill", f"student has {out_size} outputs, the target {y.shape[1]}",
                            "student")
    y_fit = y.reshape((len(y),) + tuple(student.output_shape[1:]))
    before = _mse(student, x, y, batch_size)
    opt = optimizer if optimizer is not None else keras.optimizers.Adam(learning_rate)
    student.compile(optimizer=opt, loss="mse")
    history = student.fit(x, y_fit, epochs=epochs, batch_size=batch_size, verbose=verbose,
                          validation_split=validation_split, callbacks=list(callbacks),
                          **fit_kwargs)
    after = _mse(student, x, y, batch_size)
    return DistillResult(student, y, {k: [float(v) for v in vals]
                                      for k, vals in history.history.items()}, before, after)
