"""Keras 3 ``keras.layers.GRU`` on the jax backend, ``reset_after=True`` (the
default: the PyTorch equations) and ``reset_after=False`` (reset-before), with
JAX as it comes: 64-bit mode off.

With 64-bit mode off a float64 layer holds and returns float32 arrays.
``keras_jax_x64`` grades the same layer with 64-bit mode on, the setting JAX needs
for float64. JAX's mode is process-wide: these ids are graded in a process of
their own.

Conversion and claims: ``implementations/frameworks/_keras_common.py``.
"""

from __future__ import annotations

from conformance.implementations.frameworks._common import require
from conformance.implementations.frameworks._keras_common import KerasGRU, keras_notes, load_keras

jax = require("jax", "jax")
if jax.config.jax_enable_x64:
    raise ImportError("JAX runs in 64-bit mode in this process; grade the Keras jax ids "
                      "(64-bit mode off) in a process of their own")
keras = load_keras("jax", "jax")
_NOTES = keras_notes(keras, "JAX 64-bit mode off (its default)")


class KerasJaxGRUResetAfter(KerasGRU):
    """``keras.layers.GRU(reset_after=True)``, jax backend: claims the PyTorch equations."""

    name = "keras.layers.GRU (reset_after=True, jax backend, 64-bit mode off)"
    keras, reset, reset_after = keras, "after", True
    notes = _NOTES


class KerasJaxGRUResetBefore(KerasGRU):
    """``keras.layers.GRU(reset_after=False)``, jax backend: claims reset-before."""

    name = "keras.layers.GRU (reset_after=False, jax backend, 64-bit mode off)"
    keras, reset, reset_after = keras, "before", False
    notes = _NOTES
