"""Keras 3 ``keras.layers.GRU`` on the jax backend with JAX's 64-bit mode on
(``jax_enable_x64``, the setting JAX needs for float64), ``reset_after=True`` and
``reset_after=False``.

float64 arrays come back, but Keras' generic RNN path computes them through
``keras.ops.matmul``, which casts float64 to ``result_type(float64, float64)``:
float32 on every backend but TensorFlow (``keras/src/backend/common/dtypes.py``,
BIT64_TO_BIT32_DTYPE). No Keras setting changes that cast.

Conversion and claims: ``implementations/frameworks/_keras_common.py``.
"""

from __future__ import annotations

from conformance.implementations.frameworks._common import require
from conformance.implementations.frameworks._keras_common import KerasGRU, keras_notes, load_keras

jax = require("jax", "jax")
jax.config.update("jax_enable_x64", True)  # before Keras creates any array
keras = load_keras("jax", "jax")
_NOTES = keras_notes(keras, "JAX 64-bit mode on (jax_enable_x64)")


class KerasJaxX64GRUResetAfter(KerasGRU):
    """``keras.layers.GRU(reset_after=True)``, jax backend, 64-bit mode: claims the PyTorch equations."""

    name = "keras.layers.GRU (reset_after=True, jax backend, 64-bit mode on)"
    keras, reset, reset_after = keras, "after", True
    notes = _NOTES


class KerasJaxX64GRUResetBefore(KerasGRU):
    """``keras.layers.GRU(reset_after=False)``, jax backend, 64-bit mode: claims reset-before."""

    name = "keras.layers.GRU (reset_after=False, jax backend, 64-bit mode on)"
    keras, reset, reset_after = keras, "before", False
    notes = _NOTES
