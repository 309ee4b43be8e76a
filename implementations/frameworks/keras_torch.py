"""Keras 3 ``keras.layers.GRU`` on the torch backend, ``reset_after=True`` (the
default: the PyTorch equations) and ``reset_after=False`` (reset-before).

On this backend ``reset_after=True`` runs the backend's own GRU loop (torch.matmul,
exact in float64), while ``reset_after=False`` goes through ``keras.ops.matmul``,
which casts float64 to ``result_type(float64, float64)``: float32 on every backend
but TensorFlow (``keras/src/backend/common/dtypes.py``, BIT64_TO_BIT32_DTYPE).

Conversion and claims: ``implementations/frameworks/_keras_common.py``.
"""

from __future__ import annotations

from conformance.implementations.frameworks._keras_common import KerasGRU, keras_notes, load_keras

keras = load_keras("torch", "keras")


class KerasTorchGRUResetAfter(KerasGRU):
    """``keras.layers.GRU(reset_after=True)``, torch backend: claims the PyTorch equations."""

    name = "keras.layers.GRU (reset_after=True, torch backend)"
    keras, reset, reset_after = keras, "after", True
    notes = keras_notes(keras)


class KerasTorchGRUResetBefore(KerasGRU):
    """``keras.layers.GRU(reset_after=False)``, torch backend: claims reset-before."""

    name = "keras.layers.GRU (reset_after=False, torch backend)"
    keras, reset, reset_after = keras, "before", False
    notes = keras_notes(keras)
