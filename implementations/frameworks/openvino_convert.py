"""GRUs converted into OpenVINO, the converted model being the thing graded:

* ``OpenVinoOnnxGRU``: an ONNX ``GRU`` node (``onnx_gru.gru_model``,
  ``linear_before_reset=1``) read by OpenVINO's ONNX frontend (``Core.read_model``);
* ``TorchOnnxOpenVino``: ``torch.nn.GRU`` -> ``torch.onnx.export`` (the TorchScript-based
  exporter, ``dynamo=False``: the dynamo exporter fixes the sequence length) -> the ONNX
  frontend;
* ``TorchOpenVinoConvertModel``: ``torch.nn.GRU`` -> ``openvino.convert_model`` (the
  PyTorch frontend), given example inputs.

Each claim is the source's own: an ONNX GRU with ``linear_before_reset=1`` and an
``nn.GRU`` both compute the PyTorch equations, and a conversion must keep them. The
adapters convert nothing by hand but the ONNX node's weights (the same conversion
the ONNX lane grades); the torch paths load the canonical parameters into
``nn.GRU`` as its own state dict. The models are compiled with
``INFERENCE_PRECISION_HINT=f32``, so what is graded is the conversion, not the
CPU plugin's default bf16 (graded by ``openvino_gru``'s default-precision ids).
Weights are folded in as constants: one conversion per instance (1.5-3 s for
``convert_model``), with dynamic batch and sequence length.

The ONNX frontend accepts ``layout=1`` (batch-major) GRU nodes when reading and
compiling, but the compiled model fails on its first inference: batch-first is not
claimed for ``OpenVinoOnnxGRU`` (pinned in tests/passes_correct/test_frameworks.py).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from conformance import GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams
from conformance.implementations.frameworks._common import capabilities, numpy_of, quiet, require, tensor_of
from conformance.implementations.frameworks.openvino_gru import compile_model

ov = require("openvino", "openvino")
onnx = require("onnx", "openvino")
onnx_gru = require("conformance.implementations.frameworks.onnx_gru", "openvino")

_CORE = ov.Core()
_PRECISION = "f32"


def read_onnx(model_bytes: bytes) -> Any:
    """An ONNX model read by OpenVINO's ONNX frontend."""
    return _CORE.read_model(model_bytes, b"")


@dataclass
class ConvertedInstance:
    config: GRUConfig
    compiled: Any = None
    #: the input names of the converted model, in order
    inputs: list[str] = field(default_factory=list)


class _Converted(LayerAdapter):
    """Runs a compiled model taking (x[, h0]) and returning (output, h_n), nn.GRU's layout."""

    def build(self, config: GRUConfig) -> ConvertedInstance:
        return ConvertedInstance(config)

    def convert(self, config: GRUConfig, params: CanonicalParams) -> Any:
        """The converted ``openvino.Model`` of the GRU ``config`` holding ``params``."""
        raise NotImplementedError

    def load(self, instance: ConvertedInstance, params: CanonicalParams) -> None:
        with quiet():
            model = self.convert(instance.config, params)
        instance.compiled = compile_model(model, _PRECISION)
        instance.inputs = [port.get_any_name() for port in model.inputs]

    def feeds(self, instance: ConvertedInstance, x: torch.Tensor, h0: torch.Tensor | None) -> list[np.ndarray]:
        config = instance.config
        if h0 is None:
            # The converted models take the initial state as an input: h0 = None means zeros.
            batch = x.shape[0] if config.batch_first else x.shape[1]
            h0 = torch.zeros(config.num_layers * config.num_directions, batch, config.hidden_size, dtype=x.dtype)
        return [numpy_of(x), numpy_of(h0)]

    def run(self, instance: ConvertedInstance, x: torch.Tensor, h0: torch.Tensor | None):
        if instance.compiled is None:
            raise RuntimeError("nothing converted: load() was not called")
        values = self.feeds(instance, x, h0)
        if len(values) != len(instance.inputs):
            raise RuntimeError(f"the converted model takes inputs {instance.inputs}, given {len(values)} values")
        results = instance.compiled(dict(zip(instance.inputs, values, strict=True)))
        return self.outputs(instance, results[0], results[1])

    def outputs(self, instance: ConvertedInstance, first: np.ndarray, second: np.ndarray):
        return tensor_of(first), tensor_of(second)


class OpenVinoOnnxGRU(_Converted):
    """An ONNX GRU node (``linear_before_reset=1``, forward or bidirectional) through OpenVINO's ONNX frontend."""

    name = "ONNX GRU (linear_before_reset=1) read by OpenVINO's ONNX frontend"
    reset = "after"
    capabilities = capabilities(
        bidirectional=True, multi_layer=False, time_major=True, batch_first=False, h0=True,
        unbatched=False, dtypes=(torch.float32,),
    )

    def build(self, config: GRUConfig) -> ConvertedInstance:
        if config.num_layers != 1:
            raise ValueError(f"one ONNX GRU node is one layer, got num_layers={config.num_layers}")
        return ConvertedInstance(config)

    def convert(self, config: GRUConfig, params: CanonicalParams) -> Any:
        weights = onnx_gru.onnx_gru_weights(params, config.bidirectional, np.dtype(np.float32))
        model = onnx_gru.gru_model(config, weights, linear_before_reset=1,
                                   direction="bidirectional" if config.bidirectional else "forward",
                                   layout=1 if config.batch_first else 0)
        return read_onnx(model.SerializeToString())

    def outputs(self, instance: ConvertedInstance, y: np.ndarray, y_h: np.ndarray):
        # Y [T, D, B, H] -> nn.GRU's (T, B, D*H); Y_h [D, B, H] is nn.GRU's h_n.
        return tensor_of(y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)), tensor_of(y_h)


def torch_gru(config: GRUConfig, params: CanonicalParams) -> torch.nn.GRU:
    """``nn.GRU(config)`` holding the canonical parameters (its own state dict)."""
    gru = torch.nn.GRU(config.input_size, config.hidden_size, num_layers=config.num_layers, bias=config.bias,
                       batch_first=config.batch_first, bidirectional=config.bidirectional).eval()
    gru.load_state_dict(params.tensors(torch.float32))
    return gru


def example_inputs(config: GRUConfig, steps: int = 3, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (batch, steps, config.input_size) if config.batch_first else (steps, batch, config.input_size)
    return (torch.zeros(shape),
            torch.zeros(config.num_layers * config.num_directions, batch, config.hidden_size))


_TORCH_CAPS = capabilities(
    bidirectional=True, multi_layer=True, time_major=True, batch_first=True, h0=True,
    unbatched=False, dtypes=(torch.float32,),
)


class TorchOnnxOpenVino(_Converted):
    """``nn.GRU`` -> ``torch.onnx.export(dynamo=False)`` -> OpenVINO's ONNX frontend."""

    name = "torch.onnx.export(nn.GRU, dynamo=False) read by OpenVINO"
    reset = "after"
    capabilities = _TORCH_CAPS

    def convert(self, config: GRUConfig, params: CanonicalParams) -> Any:
        batch_axis, time_axis = (0, 1) if config.batch_first else (1, 0)
        axes = {"x": {time_axis: "steps", batch_axis: "batch"}, "h0": {1: "batch"},
                "output": {time_axis: "steps", batch_axis: "batch"}, "h_n": {1: "batch"}}
        buffer = io.BytesIO()
        torch.onnx.export(torch_gru(config, params), example_inputs(config), buffer, dynamo=False,
                          input_names=["x", "h0"], output_names=["output", "h_n"], dynamic_axes=axes)
        return read_onnx(buffer.getvalue())


class TorchOpenVinoConvertModel(_Converted):
    """``nn.GRU`` -> ``openvino.convert_model(module, example_input=(x, h0))``."""

    name = "openvino.convert_model(nn.GRU)"
    reset = "after"
    capabilities = _TORCH_CAPS

    def convert(self, config: GRUConfig, params: CanonicalParams) -> Any:
        return ov.convert_model(torch_gru(config, params), example_input=example_inputs(config))


_NOTES = f"openvino {ov.__version__}, CPU plugin, INFERENCE_PRECISION_HINT=f32; converted per instance"
OpenVinoOnnxGRU.notes = _NOTES + f"; onnx {onnx.__version__}, opset {onnx_gru.OPSET}, time-major (layout=0)"
TorchOnnxOpenVino.notes = _NOTES + f"; torch {torch.__version__}, the TorchScript-based exporter"
TorchOpenVinoConvertModel.notes = _NOTES + f"; torch {torch.__version__}, the PyTorch frontend"
