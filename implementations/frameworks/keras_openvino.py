"""Keras 3 ``keras.layers.GRU`` on the openvino backend (inference only), ``reset_after=True``
and ``reset_after=False``, called two ways:

* eagerly, ``layer(x)`` (``keras-openvino-*`` ids): the backend builds an OpenVINO graph
  and ``convert_to_numpy`` compiles it with ``INFERENCE_PRECISION_HINT=f32``
  (``keras/src/backend/openvino/core.py``);
* ``keras.Model.predict`` (``keras-openvino-predict-*``), the backend's deployment path:
  its trainer compiles the model with the CPU plugin's default inference precision
  (``keras/src/backend/openvino/trainer.py``), which is bf16 on CPUs with native bf16.

Conversion and claims: ``implementations/frameworks/_keras_common.py``.
"""

from __future__ import annotations

from conformance.implementations.frameworks._keras_common import KerasGRU, keras_notes, load_keras

keras = load_keras("openvino", "openvino")
_EAGER = keras_notes(keras, "called eagerly: convert_to_numpy compiles with INFERENCE_PRECISION_HINT=f32")
_PREDICT = keras_notes(keras, "keras.Model.predict: compiled with the CPU plugin's default inference precision")


class KerasOpenVinoGRUResetAfter(KerasGRU):
    """``keras.layers.GRU(reset_after=True)``, openvino backend, eager: claims the PyTorch equations."""

    name = "keras.layers.GRU (reset_after=True, openvino backend, eager)"
    keras, reset, reset_after = keras, "after", True
    notes = _EAGER


class KerasOpenVinoGRUResetBefore(KerasGRU):
    """``keras.layers.GRU(reset_after=False)``, openvino backend, eager: claims reset-before."""

    name = "keras.layers.GRU (reset_after=False, openvino backend, eager)"
    keras, reset, reset_after = keras, "before", False
    notes = _EAGER


class KerasOpenVinoPredictGRUResetAfter(KerasGRU):
    """``keras.layers.GRU(reset_after=True)`` in ``Model.predict``, openvino backend."""

    name = "keras.layers.GRU (reset_after=True, openvino backend, Model.predict)"
    keras, reset, reset_after, predict = keras, "after", True, True
    notes = _PREDICT


class KerasOpenVinoPredictGRUResetBefore(KerasGRU):
    """``keras.layers.GRU(reset_after=False)`` in ``Model.predict``, openvino backend."""

    name = "keras.layers.GRU (reset_after=False, openvino backend, Model.predict)"
    keras, reset, reset_after, predict = keras, "before", False, True
    notes = _PREDICT
