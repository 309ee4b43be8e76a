"""Equinox ``eqx.nn.GRUCell`` on JAX's CPU build: one step of one sample, vmapped
over the batch; the suite unrolls it into layers and directions.

What the cell computes (``equinox/nn/_rnn.py``, ``GRUCell.__call__``; weight_ih
(3H, I) and weight_hh (3H, H) with row blocks r, z, n, as PyTorch's)::

    igates = weight_ih @ x + bias            # bias (3H,)
    hgates = weight_hh @ h                   # no hidden bias
    r  = sigmoid(igates_r + hgates_r)
    z  = sigmoid(igates_z + hgates_z)
    n  = tanh(igates_n + r * (hgates_n + bias_n))   # bias_n (H,) inside the reset product
    h' = n + z * (h - n)                     # = (1 - z) n + z h

the PyTorch GRU with bias = b_ih + [b_hr, b_hz, 0] (each r and z pair is only
ever summed) and bias_n = b_hn.

JAX computes in float32 unless 64-bit mode is on; this module turns it on
(``jax_enable_x64``) so float64 can be graded too (float32 arrays stay float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from conformance import CellAdapter, GRUConfig, layouts
from conformance.base.params import CanonicalParams
from conformance.implementations.frameworks._common import capabilities, numpy_of, require, tensor_of

jax = require("jax", "jax")
jax.config.update("jax_enable_x64", True)
jnp = require("jax.numpy", "jax")
eqx = require("equinox", "jax")


def equinox_gru_arrays(params: CanonicalParams, dtype: np.dtype) -> dict[str, np.ndarray]:
    """Canonical parameters of one cell -> ``GRUCell``'s four arrays.

    weight_ih and weight_hh are PyTorch's as they are; bias = b_ih + [b_hr, b_hz, 0];
    bias_n = b_hn.
    """
    # The r and z hidden biases fold into the input bias; the candidate's stays apart.
    bias, b_hn = layouts.fused_bias(params)
    return {
        # Same (3H, in) layout and r, z, n row order as PyTorch: taken as is.
        "weight_ih": params.get("weight_ih").astype(dtype),
        "weight_hh": params.get("weight_hh").astype(dtype),
        "bias": bias.astype(dtype),
        "bias_n": b_hn.astype(dtype),
    }


@jax.jit
def _batched_step(cell: Any, x: Any, h: Any) -> Any:
    # GRUCell takes one sample: (I,), (H,) -> (H,); vmap maps it over the batch.
    return jax.vmap(cell)(x, h)


class EquinoxGRUCell(CellAdapter):
    """``eqx.nn.GRUCell``: claims the PyTorch equations."""

    name = "equinox.nn.GRUCell"
    reset = "after"
    capabilities = capabilities(bidirectional=True, multi_layer=True, h0=True,
                                dtypes=(torch.float32, torch.float64))
    notes = (f"equinox {eqx.__version__}, jax {jax.__version__} ({jax.default_backend()}), 64-bit mode on; "
             "one sample per call, vmapped over the batch")

    def build(self, config: GRUConfig) -> dict[str, Any]:
        dtype = {torch.float32: jnp.float32, torch.float64: jnp.float64}[config.dtype]
        # Equinox modules are immutable: the instance is a holder whose cell load replaces.
        return {"cell": eqx.nn.GRUCell(config.input_size, config.hidden_size, dtype=dtype,
                                       key=jax.random.key(0))}

    def load(self, built: dict[str, Any], params: CanonicalParams) -> None:
        cell = built["cell"]
        arrays = equinox_gru_arrays(params, np.dtype(cell.weight_ih.dtype))
        for name, value in arrays.items():
            have = tuple(getattr(cell, name).shape)
            if have != value.shape:
                raise ValueError(f"GRUCell.{name} has shape {have}, but the adapter fills {value.shape}")
        # tree_at returns a copy of the cell with these four arrays replaced.
        names = tuple(arrays)
        built["cell"] = eqx.tree_at(lambda c: tuple(getattr(c, n) for n in names), cell,
                           tuple(jnp.asarray(arrays[n]) for n in names))

    def step(self, built: dict[str, Any], x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return tensor_of(_batched_step(built["cell"], jnp.asarray(numpy_of(x)), jnp.asarray(numpy_of(h))))
