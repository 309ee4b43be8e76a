"""MindSpore ``mindspore.nn.GRU`` on the CPU, in PyNative (eager) mode. Optional heavy lane
(about 2.5 GB installed, numpy < 2): ``tox -e frameworks-mindspore``.

MindSpore documents the PyTorch GRU (``mindspore.nn.GRU``)::

    r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h

with PyTorch's parameter names and layout (``weight_ih_l{k}[_reverse]`` (3H, in), row
blocks r, z, n; ``bias_ih``, ``bias_hh``), so the canonical parameters load as they
are. Input x (T, B, I), or (B, T, I) with ``batch_first=True``; hx (L*D, B, H);
``seq_length`` (B,) for a variable-length batch. Its documented input dtypes are
float32 and float16.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from conformance import GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams
from conformance.implementations.frameworks._common import capabilities, numpy_of, require, tensor_of

os.environ.setdefault("GLOG_v", "3")  # MindSpore logs warnings on every call otherwise
ms = require("mindspore", "mindspore")
ms.set_context(mode=ms.PYNATIVE_MODE)
ms.set_device("CPU")

_DTYPES = {torch.float32: (ms.float32, np.float32), torch.float16: (ms.float16, np.float16)}


class MindSporeGRU(LayerAdapter):
    """``mindspore.nn.GRU``: claims the PyTorch equations."""

    name = "mindspore.nn.GRU"
    reset = "after"
    capabilities = capabilities(
        bidirectional=True, multi_layer=True, time_major=True, batch_first=True, h0=True,
        unbatched=False, dtypes=(torch.float32, torch.float16), lengths=True,
    )
    notes = f"mindspore {ms.__version__}, CPU, PyNative mode"

    def build(self, config: GRUConfig) -> Any:
        return ms.nn.GRU(config.input_size, config.hidden_size, num_layers=config.num_layers,
                         has_bias=config.bias, batch_first=config.batch_first,
                         bidirectional=config.bidirectional, dtype=_DTYPES[config.dtype][0])

    def load(self, gru: Any, params: CanonicalParams) -> None:
        # MindSpore's names and layout are PyTorch's: every canonical array loads as it is.
        have = {p.name: tuple(p.shape) for p in gru.get_parameters()}
        filled = {name: array.shape for name, array in params.items()}
        if have != filled:
            raise ValueError(f"mindspore.nn.GRU parameters are {have}, but the adapter fills {filled}")
        for parameter in gru.get_parameters():
            dtype = np.float16 if parameter.dtype == ms.float16 else np.float32
            parameter.set_data(ms.Tensor(params[parameter.name].astype(dtype)))

    def run(self, gru: Any, x: torch.Tensor, h0: torch.Tensor | None):
        return self._run(gru, x, h0, None)

    def run_lengths(self, gru: Any, x: torch.Tensor, lengths: torch.Tensor, h0: torch.Tensor | None):
        return self._run(gru, x, h0, lengths)

    def _run(self, gru: Any, x: torch.Tensor, h0: torch.Tensor | None, lengths: torch.Tensor | None):
        hx = None if h0 is None else ms.Tensor(numpy_of(h0))
        seq_length = None if lengths is None else ms.Tensor(numpy_of(lengths).astype(np.int32))
        output, h_n = gru(ms.Tensor(numpy_of(x)), hx, seq_length)
        return tensor_of(output.asnumpy()), tensor_of(h_n.asnumpy())
