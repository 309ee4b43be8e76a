"""MLX ``mlx.nn.GRU``, the CPU build (``mlx[cpu]`` on Linux).

MLX's documented equations (``mlx.nn.GRU``; Wx (3H, I), Wh (3H, H) with row
blocks r, z, n, as PyTorch's; ``x @ W.T``)::

    r  = sigmoid(W_xr x + W_hr h + b_r)
    z  = sigmoid(W_xz x + W_hz h + b_z)
    n  = tanh(W_xn x + b_n + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h

the PyTorch GRU with one fused input-and-hidden bias b (3H) for r, z and the
candidate's input part, and b_hn apart, inside the reset product. So
b = [b_ir + b_hr, b_iz + b_hz, b_in] and bhn = b_hn.

The layer is one direction of one layer, batch-major: x (N, L, D) or unbatched
(L, D), hidden (N, H) or (H,) or None. It returns every step's state (N, L, H)
and nothing else: the adapter reads h_n as the last step's state, shaped (1, N, H)
as nn.GRU's. float64 arrays are supported on the CPU only, which is the device
used here. ``mx.array`` makes float32 of a float64 NumPy array unless given the
dtype, so the adapter always gives it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from conformance import GRUConfig, LayerAdapter, layouts
from conformance.base.params import CanonicalParams
from conformance.implementations.frameworks._common import capabilities, numpy_of, require, tensor_of

mx = require("mlx.core", "mlx")
nn = require("mlx.nn", "mlx")
mx.set_default_device(mx.cpu)

_DTYPES = {torch.float32: mx.float32, torch.float64: mx.float64}


def mlx_gru_arrays(params: CanonicalParams, dtype: np.dtype) -> dict[str, np.ndarray]:
    """Canonical parameters -> ``mlx.nn.GRU``'s Wx, Wh, b, bhn.

    Wx and Wh are PyTorch's weight_ih and weight_hh as they are (same rows r, z, n);
    b = [b_ir + b_hr, b_iz + b_hz, b_in]; bhn = b_hn.
    """
    # r and z: the input and hidden biases are only ever summed, so they fuse; the
    # candidate's hidden bias stays apart: it is multiplied by r.
    b, bhn = layouts.fused_bias(params)
    return {
        "Wx": params.get("weight_ih").astype(dtype),
        "Wh": params.get("weight_hh").astype(dtype),
        "b": b.astype(dtype),
        "bhn": bhn.astype(dtype),
    }


class MlxGRU(LayerAdapter):
    """``mlx.nn.GRU`` on the CPU: claims the PyTorch equations (its docstring)."""

    name = "mlx.nn.GRU"
    reset = "after"
    capabilities = capabilities(
        bidirectional=False, multi_layer=False, time_major=False, batch_first=True, h0=True,
        unbatched=True, dtypes=(torch.float32, torch.float64),
    )
    notes = (f"mlx {mx.__version__}, CPU device; one layer, one direction, batch-major; "
             "h_n read as the last step of the returned states")

    def build(self, config: GRUConfig) -> Any:
        if config.num_layers != 1 or config.bidirectional:
            raise ValueError("mlx.nn.GRU is one layer in one direction")
        if not config.batch_first:
            raise ValueError("mlx.nn.GRU takes batch-major input (batch_first=True) only")
        gru = nn.GRU(config.input_size, config.hidden_size, bias=config.bias)
        dtype = _DTYPES[config.dtype]
        gru.update({k: v.astype(dtype) for k, v in gru.parameters().items()})
        return gru

    def load(self, gru: Any, params: CanonicalParams) -> None:
        dtype = np.dtype(np.float64 if gru.Wx.dtype == mx.float64 else np.float32)
        arrays = mlx_gru_arrays(params, dtype)
        have = {k: tuple(v.shape) for k, v in gru.parameters().items()}
        filled = {k: v.shape for k, v in arrays.items() if k in have}
        if have != filled:
            raise ValueError(f"mlx.nn.GRU parameters are {have}, but the adapter fills {filled}")
        # mx.array turns a float64 NumPy array into float32 unless the dtype is given.
        gru.update({k: mx.array(v, dtype=gru.Wx.dtype) for k, v in arrays.items() if k in have})

    def run(self, gru: Any, x: torch.Tensor, h0: torch.Tensor | None):
        hidden = None
        if h0 is not None:
            # nn.GRU's h0 (1, B, H) or unbatched (1, H) -> MLX's (B, H) or (H,).
            if h0.shape[0] != 1:
                raise ValueError(f"h0 has shape {tuple(h0.shape)}, but one layer and direction take (1, ...)")
            hidden = mx.array(numpy_of(h0[0]), dtype=_DTYPES[h0.dtype])
        states = gru(mx.array(numpy_of(x), dtype=_DTYPES[x.dtype]), hidden)
        mx.eval(states)
        output = tensor_of(np.array(states))
        # The state after the last step: (B, H) or (H,), with nn.GRU's leading layer axis.
        h_n = output[..., -1, :].unsqueeze(0)
        return output, h_n
