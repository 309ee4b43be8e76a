"""A Keras 3 GRU converted to TFLite (``tf.lite.TFLiteConverter``) and run by
``tf.lite.Interpreter``: the converted model is the thing graded.

The claim is the Keras layer's own (``reset_after=True``: the PyTorch equations;
``False``: reset-before): a conversion must compute what the layer did. ``load``
puts the canonical parameters in a Keras GRU (``keras_gru_weights``, the Keras
conversion graded in the tensorflow lane) and converts it; nothing else is
converted by hand: the conversion under test is the TFLite converter's.

Two forms of the layer are converted: ``unroll=True``, one cell per step in the
graph, and ``unroll=False`` (Keras' default), a ``tf.while_loop`` that the
converter turns into TFLite's builtin ``WHILE`` op. Each model is converted with
fixed batch size and sequence length and the weights folded in as constants: one
conversion per instance and input shape (0.4-1.4 s each), so ``tox -e frameworks``
grades these ids on the oracle, shape and direction checks only. TFLite's builtin
kernels compute in float32, the one dtype claimed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from conformance import GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams
from conformance.implementations.frameworks._common import capabilities, numpy_of, quiet, require, tensor_of
from conformance.implementations.frameworks._keras_common import keras_gru_weights, load_keras

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the converter logs every conversion
tf = require("tensorflow", "tensorflow")
keras = load_keras("tensorflow", "tensorflow")


def keras_gru_layer(config: GRUConfig, params: CanonicalParams, reset_after: bool, unroll: bool) -> Any:
    """A Keras 3 GRU (in ``Bidirectional`` when bidirectional) holding ``params``."""
    gru = keras.layers.GRU(config.hidden_size, reset_after=reset_after, use_bias=config.bias,
                           return_sequences=True, return_state=True, unroll=unroll)
    layer = keras.layers.Bidirectional(gru, merge_mode="concat") if config.bidirectional else gru
    layer.build((None, None, config.input_size))
    if config.bidirectional:
        layer.forward_layer.set_weights(keras_gru_weights(params, reset_after, reverse=False))
        layer.backward_layer.set_weights(keras_gru_weights(params, reset_after, reverse=True))
    else:
        layer.set_weights(keras_gru_weights(params, reset_after))
    return layer


def convert(layer: Any, batch: int, steps: int, input_size: int, hidden_size: int, directions: int | None,
            *, select_tf_ops: bool = False) -> bytes:
    """The TFLite flatbuffer of a Keras model around ``layer``, for inputs ``x``
    (batch, steps, input_size) and, when ``directions`` is given, ``h0_<d>`` (batch,
    hidden_size) for each direction; outputs the sequence and the stacked final states."""
    x_in = keras.Input((steps, input_size), batch_size=batch, name="x")
    h_in = [keras.Input((hidden_size,), batch_size=batch, name=f"h0_{d}") for d in range(directions or 0)]
    returned = layer(x_in, initial_state=h_in or None)
    model = keras.Model([x_in, *h_in], [returned[0], keras.ops.stack(returned[1:])])
    with quiet(stderr=True):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if select_tf_ops:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        return converter.convert()


def interpreter(flatbuffer: bytes) -> Any:
    runner = tf.lite.Interpreter(model_content=flatbuffer)
    runner.allocate_tensors()
    return runner


@dataclass
class TfliteInstance:
    config: GRUConfig
    params: CanonicalParams | None = None
    #: (batch, steps, with_h0) -> interpreter of the converted model
    runners: dict[tuple[int, int, bool], Any] = field(default_factory=dict)


class _TfliteKerasGRU(LayerAdapter):
    reset_after: ClassVar[bool] = True
    unroll: ClassVar[bool] = True
    capabilities = capabilities(
        bidirectional=True, multi_layer=False, time_major=False, batch_first=True, h0=True,
        unbatched=False, dtypes=(torch.float32,),
    )

    def build(self, config: GRUConfig) -> TfliteInstance:
        if config.num_layers != 1:
            raise ValueError(f"keras.layers.GRU is one layer, got num_layers={config.num_layers}")
        if not config.batch_first:
            raise ValueError("keras.layers.GRU takes batch-major input (batch_first=True) only")
        return TfliteInstance(config)

    def load(self, instance: TfliteInstance, params: CanonicalParams) -> None:
        instance.params = params
        instance.runners.clear()

    def run(self, instance: TfliteInstance, x: torch.Tensor, h0: torch.Tensor | None):
        if instance.params is None:
            raise RuntimeError("nothing converted: load() was not called")
        config = instance.config
        if x.dim() != 3:
            raise ValueError(f"x has shape {tuple(x.shape)}, but the converted model takes (batch, steps, input)")
        batch, steps = x.shape[0], x.shape[1]
        key = (batch, steps, h0 is not None)
        if key not in instance.runners:
            layer = keras_gru_layer(config, instance.params, self.reset_after, unroll=self.unroll)
            flatbuffer = convert(layer, batch, steps, config.input_size, config.hidden_size,
                                 config.num_directions if h0 is not None else None)
            instance.runners[key] = interpreter(flatbuffer)
        runner = instance.runners[key]
        # Inputs are named after the signature's arguments: x, then h0_0, h0_1 (one per direction).
        by_name = {detail["name"]: detail["index"] for detail in runner.get_input_details()}
        values = {"x": numpy_of(x)}
        if h0 is not None:
            values.update({f"h0_{d}": numpy_of(h0[d]) for d in range(h0.shape[0])})
        if len(by_name) != len(values):
            raise ValueError(f"the converted model takes inputs {sorted(by_name)}, given {sorted(values)}")
        for name, value in values.items():
            index = by_name.get(f"serving_default_{name}:0")
            if index is None:
                raise ValueError(f"the converted model has no input {name!r}: {sorted(by_name)}")
            runner.set_tensor(index, value.astype(np.float32))
        runner.invoke()
        # Outputs keep the model's order in their names (...:0 the sequence, ...:1 the states).
        outputs = sorted(runner.get_output_details(), key=lambda d: d["name"])
        output, h_n = (runner.get_tensor(d["index"]) for d in outputs)
        return tensor_of(output), tensor_of(h_n)


_NOTES = (f"tensorflow {tf.__version__} (tf.lite.TFLiteConverter.from_keras_model, "
          f"tf.lite.Interpreter), keras {keras.__version__}; converted per instance and input shape")


class TfliteKerasGRUResetAfter(_TfliteKerasGRU):
    name = "keras.layers.GRU(reset_after=True, unroll=True) converted to TFLite"
    reset, reset_after = "after", True
    notes = _NOTES + "; unroll=True"


class TfliteKerasGRUResetBefore(_TfliteKerasGRU):
    name = "keras.layers.GRU(reset_after=False, unroll=True) converted to TFLite"
    reset, reset_after = "before", False
    notes = _NOTES + "; unroll=True"


class TfliteKerasGRULoop(_TfliteKerasGRU):
    name = "keras.layers.GRU(reset_after=True, unroll=False) converted to TFLite"
    reset, reset_after, unroll = "after", True, False
    notes = _NOTES + "; the time loop is TFLite's WHILE op"
