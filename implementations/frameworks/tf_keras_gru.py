"""tf-keras (Keras 2) ``tf_keras.layers.GRU``, ``reset_after=True`` (its default since
TF 2.0: the PyTorch equations) and ``reset_after=False`` (reset-before), on TensorFlow.

Keras 2 documents the same GRU, weights and gate order as Keras 3 (z, r, h column
blocks; bias (2, 3H) with reset_after, (3H,) without), so the conversion is
``keras_gru_weights``. Layers take TensorFlow tensors (an initial state given as a
NumPy array is refused) and return them.

Conversion and claims: ``implementations/frameworks/_keras_common.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from conformance.implementations.frameworks._common import require, tensor_of
from conformance.implementations.frameworks._keras_common import KerasGRU, keras_notes

tf = require("tensorflow", "tensorflow")
tf_keras = require("tf_keras", "tensorflow")
_NOTES = keras_notes(tf_keras, f"tf-keras (Keras 2), tensorflow {tf.__version__}")


class _TfKerasGRU(KerasGRU):
    keras = tf_keras

    def array(self, value: np.ndarray) -> Any:
        # Keras 2 takes an initial state only as a tensor ("Expected a symbolic tensor" for arrays).
        return tf.convert_to_tensor(value)

    def to_torch(self, value: Any) -> torch.Tensor:
        return tensor_of(value)


class TfKerasGRUResetAfter(_TfKerasGRU):
    """``tf_keras.layers.GRU(reset_after=True)``: claims the PyTorch equations."""

    name = "tf_keras.layers.GRU (reset_after=True)"
    reset, reset_after = "after", True
    notes = _NOTES


class TfKerasGRUResetBefore(_TfKerasGRU):
    """``tf_keras.layers.GRU(reset_after=False)``: claims reset-before."""

    name = "tf_keras.layers.GRU (reset_after=False)"
    reset, reset_after = "before", False
    notes = _NOTES
