"""A ``torch.nn.GRU`` exported to ONNX by ``torch.onnx.export`` and run in ONNX Runtime.

The claim is nn.GRU's own: an exported GRU must compute what the module did
(the exporter has to emit ``linear_before_reset=1`` and reorder the gates
r, z, n -> z, r, h; the bug class "reset placement lost in conversion" is a
wrong ``linear_before_reset`` here). ``load`` puts the canonical parameters in
the module (they are nn.GRU's own state dict) and exports it; nothing is
converted by hand: the conversion under test is the exporter's.

Two exporters:

* ``dynamo=True``, torch's default: it takes seconds per export and fixes the
  sequence length, so the graph is exported once per configuration and length
  without optimization (the parameters stay
  initializers under nn.GRU's names, with the exporter's reordering as graph
  nodes), and each instance applies its weights with ``ONNXProgram.apply_weights``
  and then ``ONNXProgram.optimize()``: the same steps ``export(optimize=True)`` takes.
* ``dynamo=False``, the TorchScript-based exporter: fast enough to export each
  instance with its weights.

ONNX Runtime's CPU GRU takes float32 only and time-major input: batch_first
models get the exporter's own transposes around the node.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from conformance import GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams
from conformance.implementations.frameworks._common import capabilities, numpy_of, quiet, require, tensor_of

onnx = require("onnx", "onnx")
ort = require("onnxruntime", "onnx")


def _module(config: GRUConfig, params: CanonicalParams | None = None) -> torch.nn.GRU:
    gru = torch.nn.GRU(config.input_size, config.hidden_size, num_layers=config.num_layers,
                       bias=config.bias, batch_first=config.batch_first,
                       bidirectional=config.bidirectional, dtype=config.dtype).eval()
    if params is not None:
        gru.load_state_dict(params.tensors(config.dtype))
    return gru


def _sample(config: GRUConfig, with_h0: bool, steps: int = 3) -> tuple[torch.Tensor, ...]:
    """Example inputs for tracing, batch of 2."""
    batch = 2
    shape = (batch, steps, config.input_size) if config.batch_first else (steps, batch, config.input_size)
    x = torch.zeros(shape, dtype=config.dtype)
    if not with_h0:
        return (x,)
    h0 = torch.zeros(config.num_layers * config.num_directions, batch, config.hidden_size, dtype=config.dtype)
    return (x, h0)


def _session(model_bytes: bytes) -> Any:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


@dataclass
class ExportedInstance:
    config: GRUConfig
    params: CanonicalParams | None = None
    #: (with_h0, T) -> ONNX Runtime session of the exported model
    sessions: dict[tuple[bool, int], Any] = field(default_factory=dict)


class _TorchOnnxExport(LayerAdapter):
    reset = "after"
    capabilities = capabilities(
        bidirectional=True, multi_layer=True, time_major=True, batch_first=True, h0=True,
        unbatched=False, dtypes=(torch.float32,),
    )
    dynamo: ClassVar[bool] = True

    def build(self, config: GRUConfig) -> ExportedInstance:
        return ExportedInstance(config)

    def load(self, instance: ExportedInstance, params: CanonicalParams) -> None:
        instance.params = params
        instance.sessions.clear()

    #: The export depends on the sequence length (else one export serves every T).
    per_length: ClassVar[bool] = False

    def export(self, config: GRUConfig, params: CanonicalParams, with_h0: bool, steps: int) -> bytes:
        """The serialized ONNX model of nn.GRU(config) holding ``params``, for inputs of T = ``steps``."""
        raise NotImplementedError

    def run(self, instance: ExportedInstance, x: torch.Tensor, h0: torch.Tensor | None):
        if instance.params is None:
            raise RuntimeError("nothing exported: load() was not called")
        with_h0 = h0 is not None
        steps = x.shape[1] if instance.config.batch_first else x.shape[0]
        key = (with_h0, steps if self.per_length else 0)
        if key not in instance.sessions:
            instance.sessions[key] = _session(self.export(instance.config, instance.params, with_h0, steps))
        session = instance.sessions[key]
        names = [i.name for i in session.get_inputs()]
        values = [numpy_of(x)] + ([numpy_of(h0)] if with_h0 else [])
        if len(names) != len(values):
            raise RuntimeError(f"the exported model takes inputs {names}, given {len(values)} values")
        output, h_n = session.run(None, dict(zip(names, values, strict=True)))
        return tensor_of(output), tensor_of(h_n)


#: (configuration, T, with_h0) -> the unoptimized dynamo export, serialized.
_DYNAMO_EXPORTS: dict[tuple[Any, ...], bytes] = {}


class TorchOnnxExportDynamo(_TorchOnnxExport):
    """``torch.onnx.export(nn.GRU, dynamo=True)`` (torch's default exporter) in ONNX Runtime.

    ``torch.export`` specializes nn.GRU's sequence length to the traced one (it
    refuses a dynamic T: "You marked T as dynamic but your code specialized it"),
    so the model is exported for each T it is called with; the batch axis is dynamic.
    """

    name = "torch.onnx.export(nn.GRU, dynamo=True) in onnxruntime"
    dynamo = True
    per_length = True

    def _unoptimized(self, config: GRUConfig, steps: int, with_h0: bool) -> bytes:
        key = (config.input_size, config.hidden_size, config.num_layers, config.bidirectional,
               config.batch_first, config.bias, config.dtype, steps, with_h0)
        if key not in _DYNAMO_EXPORTS:
            sample = _sample(config, with_h0, steps)
            batch = torch.export.Dim("batch", min=1)
            shapes: list[dict[int, Any]] = [{0 if config.batch_first else 1: batch}]
            if with_h0:
                shapes.append({1: batch})
            with quiet():
                program = torch.onnx.export(
                    _module(config), sample, dynamo=True, optimize=False, dynamic_shapes=tuple(shapes),
                    input_names=["x", "h0"][: len(sample)], output_names=["output", "h_n"],
                )
            _DYNAMO_EXPORTS[key] = program.model_proto.SerializeToString()
        return _DYNAMO_EXPORTS[key]

    def export(self, config: GRUConfig, params: CanonicalParams, with_h0: bool, steps: int) -> bytes:
        ir = require("onnx_ir", "onnx")
        unoptimized = onnx.load_from_string(self._unoptimized(config, steps, with_h0))
        program = torch.onnx.ONNXProgram(ir.from_proto(unoptimized), None)
        with quiet():
            program.apply_weights(params.tensors(config.dtype))
            program.optimize()
        return program.model_proto.SerializeToString()


class TorchOnnxExportTorchScript(_TorchOnnxExport):
    """``torch.onnx.export(nn.GRU, dynamo=False)`` (the TorchScript-based exporter) in ONNX Runtime."""

    name = "torch.onnx.export(nn.GRU, dynamo=False) in onnxruntime"
    dynamo = False

    def export(self, config: GRUConfig, params: CanonicalParams, with_h0: bool, steps: int) -> bytes:
        sample = _sample(config, with_h0)
        batch_axis, time_axis = (0, 1) if config.batch_first else (1, 0)
        axes = {"x": {time_axis: "steps", batch_axis: "batch"}, "output": {time_axis: "steps", batch_axis: "batch"},
                "h_n": {1: "batch"}}
        if with_h0:
            axes["h0"] = {1: "batch"}
        buffer = io.BytesIO()
        with quiet():
            torch.onnx.export(_module(config, params), sample, buffer, dynamo=False,
                              input_names=["x", "h0"][: len(sample)], output_names=["output", "h_n"],
                              dynamic_axes=axes)
        return buffer.getvalue()


_NOTES = (f"torch {torch.__version__}, onnxruntime {ort.__version__} CPUExecutionProvider, "
          f"onnx {onnx.__version__}")
TorchOnnxExportDynamo.notes = (_NOTES + f", onnxscript {require('onnxscript', 'onnx').__version__}; "
                               "exported once per configuration and sequence length (optimize=False), then "
                               "ONNXProgram.apply_weights and ONNXProgram.optimize per instance")
TorchOnnxExportTorchScript.notes = _NOTES + "; exported per instance"
