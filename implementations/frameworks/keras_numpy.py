"""Keras 3 ``keras.layers.GRU`` on the numpy backend, ``reset_after=True`` (the
default: the PyTorch equations) and ``reset_after=False`` (reset-before).

The numpy backend runs Keras' generic RNN loop over ``keras.ops``, whose matmul
casts float64 to float32 off TensorFlow (``BIT64_TO_BIT32_DTYPE``). The
backend imports jax (``keras/src/backend/numpy/math.py``), so it is graded in the jax lane.

Conversion and claims: ``implementations/frameworks/_keras_common.py``.
"""

from __future__ import annotations

from conformance.implementations.frameworks._keras_common import KerasGRU, keras_notes, load_keras

keras = load_keras("numpy", "jax")  # keras' numpy backend imports jax (for its fft)


class KerasNumpyGRUResetAfter(KerasGRU):
    """``keras.layers.GRU(reset_after=True)``, numpy backend: claims the PyTorch equations."""

    name = "keras.layers.GRU (reset_after=True, numpy backend)"
    keras, reset, reset_after = keras, "after", True
    notes = keras_notes(keras)


class KerasNumpyGRUResetBefore(KerasGRU):
    """``keras.layers.GRU(reset_after=False)``, numpy backend: claims reset-before."""

    name = "keras.layers.GRU (reset_after=False, numpy backend)"
    keras, reset, reset_after = keras, "before", False
    notes = keras_notes(keras)
