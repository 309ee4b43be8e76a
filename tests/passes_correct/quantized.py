"""A GRU deployed with int8 dynamic quantization (``torch.ao.nn.quantized.dynamic.GRU``):
int8 weights, activations quantized per call from their own range, float32 in and out.
About 1e-2 from the float64 GRU: claimed as float32 it is nonconformant, and its diagnosis
names the precision loss; claimed as ``precision="int8-dynamic"`` it is graded against
that precision's measured tolerances (``conformance/base/tolerances.py``, measured on these)."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from conformance import Capabilities, LayerAdapter


class Quantized:
    """The float GRU the canonical parameters are loaded into, and its quantized copy."""

    def __init__(self, gru: nn.GRU) -> None:
        self.float_gru = gru
        self.quantize()

    def quantize(self) -> None:
        self.float_gru.qconfig = torch.ao.quantization.default_dynamic_qconfig
        with warnings.catch_warnings():  # torch marks eager-mode quantization deprecated
            warnings.simplefilter("ignore")
            self.gru = torch.ao.nn.quantized.dynamic.GRU.from_float(self.float_gru)


class Int8DynamicGRU(LayerAdapter):
    """Claims float32's precision, which int8 weights do not give."""

    reset = "after"
    capabilities = Capabilities(multi_layer=True, bidirectional=True, batch_first=True, dtypes=(torch.float32,))

    def build(self, config):
        gru = nn.GRU(config.input_size, config.hidden_size, num_layers=config.num_layers, bias=config.bias,
                     batch_first=config.batch_first, bidirectional=config.bidirectional)
        return Quantized(gru.eval())

    def load(self, quantized, params):
        quantized.float_gru.load_state_dict(self.canonical(params).tensors(torch.float32))
        quantized.quantize()

    def canonical(self, params):
        return params

    def run(self, quantized, x, h0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return quantized.gru(x, h0)


class Int8DynamicGRUClaimed(Int8DynamicGRU):
    """The same, claiming the precision it gives."""

    capabilities = Capabilities(multi_layer=True, bidirectional=True, batch_first=True, dtypes=(torch.float32,),
                                precision="int8-dynamic")


class Int8DynamicSwappedGates(Int8DynamicGRUClaimed):
    """Claims int8 precision, with a bug beyond it: r and z swapped on load."""

    def canonical(self, params):
        hidden = params.hidden_size
        swapped = {}
        for name, value in params.items():
            value = value.copy()
            value[:hidden], value[hidden:2 * hidden] = params[name][hidden:2 * hidden], params[name][:hidden]
            swapped[name] = value
        return params.replace(swapped)
