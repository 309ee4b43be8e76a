"""Keras 3 ``keras.layers.GRU`` on the tensorflow backend, ``reset_after=True`` (the
default: the PyTorch equations) and ``reset_after=False`` (reset-before).

TensorFlow is the one backend where Keras keeps float64 (``result_type(float64,
float64)`` is float64 there).

Conversion and claims: ``implementations/frameworks/_keras_common.py``.
"""

from __future__ import annotations

from conformance.implementations.frameworks._keras_common import KerasGRU, keras_notes, load_keras

keras = load_keras("tensorflow", "tensorflow")


class KerasTensorFlowGRUResetAfter(KerasGRU):
    """``keras.layers.GRU(reset_after=True)``, tensorflow backend: claims the PyTorch equations."""

    name = "keras.layers.GRU (reset_after=True, tensorflow backend)"
    keras, reset, reset_after = keras, "after", True
    notes = keras_notes(keras)


class KerasTensorFlowGRUResetBefore(KerasGRU):
    """``keras.layers.GRU(reset_after=False)``, tensorflow backend: claims reset-before."""

    name = "keras.layers.GRU (reset_after=False, tensorflow backend)"
    keras, reset, reset_after = keras, "before", False
    notes = keras_notes(keras)
