"""PaddlePaddle's GRUs on the CPU: the fused ``paddle.nn.GRU``, ``paddle.nn.RNN(GRUCell)``
(``paddle.nn.BiRNN`` of two cells when bidirectional), and ``paddle.nn.GRUCell`` alone.

Paddle documents the PyTorch GRU (``paddle.nn.GRUCell``; gates r, z, c)::

    r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    c  = tanh(W_ic x + b_ic + r * (W_hc h + b_hc))
    h' = z * h + (1 - z) * c

with PyTorch's parameter names and layout: ``weight_ih_l{k}[_reverse]`` (3H, in) with
row blocks r, z, c, ``weight_hh`` (3H, H), ``bias_ih`` and ``bias_hh`` (3H,); a
``GRUCell``'s are ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``. (The API
page of ``GRUCell`` gives weight_ih's shape as [hidden_size, input_size]; it is
[3 * hidden_size, input_size], as ``nn.GRU``'s.) So the canonical parameters load
as they are, under the same names.

``nn.GRU`` and ``RNN`` are batch-major unless built with ``time_major=True``; both
take ``sequence_length`` (a variable-length batch) and initial states as PyTorch's
(``nn.GRU``: (L*D, B, H); ``RNN``: (B, H); ``BiRNN``: one (B, H) per direction).
float64 layers are built and called under ``paddle.set_default_dtype("float64")``, the
way Paddle makes float64 layers (``Layer.to(dtype="float64")`` fails on a GRU: "Tensor's
dimension is out of bound"). The default must still be float64 when the layer is
called: ``RNN`` creates missing initial states in the default dtype, so float64 cells
called under a float32 default raise (pinned in tests/passes_correct/test_frameworks.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from conformance import CellAdapter, GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams
from conformance.implementations.frameworks._common import capabilities, numpy_of, require, tensor_of

paddle = require("paddle", "paddle")
paddle.set_device("cpu")

_DTYPES = {torch.float32: "float32", torch.float64: "float64"}


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Paddle's default dtype inside (what layers are built and states created in)."""
    previous = paddle.get_default_dtype()
    # Inputs of another dtype (the wrong-dtype check) keep the float32 default.
    paddle.set_default_dtype(_DTYPES.get(dtype, "float32"))
    try:
        yield
    finally:
        paddle.set_default_dtype(previous)


def load_parameters(layer: Any, arrays: dict[str, np.ndarray]) -> None:
    """Set each of ``layer``'s parameters from ``arrays`` by name; names and shapes must match."""
    have = {name: tuple(p.shape) for name, p in layer.named_parameters()}
    filled = {name: a.shape for name, a in arrays.items()}
    if have != filled:
        raise ValueError(f"{type(layer).__name__} parameters are {have}, but the adapter fills {filled}")
    for name, parameter in layer.named_parameters():
        parameter.set_value(arrays[name])


def _numpy_dtype(layer: Any) -> np.dtype:
    first = next(iter(layer.parameters()))
    return np.dtype("float64" if first.dtype == paddle.float64 else "float32")


def cell_arrays(params: CanonicalParams, layer: int = 0, reverse: bool = False, prefix: str = "",
                dtype: np.dtype = np.dtype(np.float64)) -> dict[str, np.ndarray]:
    """One layer and direction's canonical parameters under a ``GRUCell``'s names
    (``weight_ih``, ...), prefixed (``cell_fw.``): the same arrays, the same layout."""
    return {f"{prefix}{kind}": params.get(kind, layer, reverse).astype(dtype)
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


_LAYER_CAPS = capabilities(
    bidirectional=True, multi_layer=True, time_major=True, batch_first=True, h0=True,
    unbatched=False, dtypes=(torch.float32, torch.float64), lengths=True,
)
_NOTES = f"paddlepaddle {paddle.__version__}, CPU"


class PaddleGRU(LayerAdapter):
    """``paddle.nn.GRU`` (the fused kernel): claims the PyTorch equations."""

    name = "paddle.nn.GRU"
    reset = "after"
    capabilities = _LAYER_CAPS
    notes = _NOTES + "; time_major=True for time-major input, direction='bidirect'"

    def build(self, config: GRUConfig) -> Any:
        with default_dtype(config.dtype):
            return paddle.nn.GRU(config.input_size, config.hidden_size, num_layers=config.num_layers,
                                 direction="bidirect" if config.bidirectional else "forward",
                                 time_major=not config.batch_first,
                                 bias_ih_attr=None if config.bias else False,
                                 bias_hh_attr=None if config.bias else False)

    def load(self, gru: Any, params: CanonicalParams) -> None:
        # Paddle's names and layout are PyTorch's: every canonical array loads as it is.
        dtype = _numpy_dtype(gru)
        load_parameters(gru, {name: array.astype(dtype) for name, array in params.items()})

    def run(self, gru: Any, x: torch.Tensor, h0: torch.Tensor | None):
        return self._run(gru, x, h0, None)

    def run_lengths(self, gru: Any, x: torch.Tensor, lengths: torch.Tensor, h0: torch.Tensor | None):
        return self._run(gru, x, h0, lengths)

    def _run(self, gru: Any, x: torch.Tensor, h0: torch.Tensor | None, lengths: torch.Tensor | None):
        states = None if h0 is None else paddle.to_tensor(numpy_of(h0))
        length = None if lengths is None else paddle.to_tensor(numpy_of(lengths).astype(np.int64))
        with default_dtype(x.dtype):
            output, h_n = gru(paddle.to_tensor(numpy_of(x)), initial_states=states, sequence_length=length)
        return tensor_of(output.numpy()), tensor_of(h_n.numpy())


class PaddleRNNGRUCell(LayerAdapter):
    """``paddle.nn.RNN(GRUCell)``, or ``paddle.nn.BiRNN(GRUCell, GRUCell)`` when
    bidirectional: Paddle's cell path. One layer."""

    name = "paddle.nn.RNN(GRUCell) / BiRNN(GRUCell, GRUCell)"
    reset = "after"
    capabilities = capabilities(
        bidirectional=True, multi_layer=False, time_major=True, batch_first=True, h0=True,
        unbatched=False, dtypes=(torch.float32, torch.float64), lengths=True,
    )
    notes = _NOTES + "; RNN(GRUCell) forward, BiRNN(GRUCell, GRUCell) bidirectional"

    def build(self, config: GRUConfig) -> Any:
        if config.num_layers != 1:
            raise ValueError(f"RNN(GRUCell) is one layer, got num_layers={config.num_layers}")
        time_major = not config.batch_first
        with default_dtype(config.dtype):
            cells = [paddle.nn.GRUCell(config.input_size, config.hidden_size)
                     for _ in range(config.num_directions)]
            if config.bidirectional:
                return paddle.nn.BiRNN(cells[0], cells[1], time_major=time_major)
            return paddle.nn.RNN(cells[0], time_major=time_major)

    def load(self, rnn: Any, params: CanonicalParams) -> None:
        dtype = _numpy_dtype(rnn)
        if isinstance(rnn, paddle.nn.BiRNN):
            arrays = {**cell_arrays(params, 0, False, "cell_fw.", dtype), **cell_arrays(params, 0, True, "cell_bw.", dtype)}
        else:
            arrays = cell_arrays(params, 0, False, "cell.", dtype)
        load_parameters(rnn, arrays)

    def run(self, rnn: Any, x: torch.Tensor, h0: torch.Tensor | None):
        return self._run(rnn, x, h0, None)

    def run_lengths(self, rnn: Any, x: torch.Tensor, lengths: torch.Tensor, h0: torch.Tensor | None):
        return self._run(rnn, x, h0, lengths)

    def _run(self, rnn: Any, x: torch.Tensor, h0: torch.Tensor | None, lengths: torch.Tensor | None):
        bidirectional = isinstance(rnn, paddle.nn.BiRNN)
        states = None
        if h0 is not None:
            # nn.GRU's h0 (D, B, H) -> RNN's (B, H), or BiRNN's (forward, backward) pair.
            per_direction = [paddle.to_tensor(numpy_of(h0[d])) for d in range(h0.shape[0])]
            states = tuple(per_direction) if bidirectional else per_direction[0]
        length = None if lengths is None else paddle.to_tensor(numpy_of(lengths).astype(np.int64))
        with default_dtype(x.dtype):
            output, finals = rnn(paddle.to_tensor(numpy_of(x)), initial_states=states, sequence_length=length)
        finals = finals if bidirectional else (finals,)
        return tensor_of(output.numpy()), torch.stack([tensor_of(f.numpy()) for f in finals])


class PaddleGRUCell(CellAdapter):
    """``paddle.nn.GRUCell`` alone, one step; the suite unrolls it."""

    name = "paddle.nn.GRUCell"
    reset = "after"
    capabilities = capabilities(bidirectional=True, multi_layer=True, h0=True,
                                dtypes=(torch.float32, torch.float64))
    notes = _NOTES

    def build(self, config: GRUConfig) -> Any:
        with default_dtype(config.dtype):
            return paddle.nn.GRUCell(config.input_size, config.hidden_size)

    def load(self, cell: Any, params: CanonicalParams) -> None:
        load_parameters(cell, cell_arrays(params, dtype=_numpy_dtype(cell)))

    def step(self, cell: Any, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        with default_dtype(x.dtype):
            new_h, _ = cell(paddle.to_tensor(numpy_of(x)), paddle.to_tensor(numpy_of(h)))
        return tensor_of(new_h.numpy())
