"""Flax ``linen.GRUCell`` and ``nnx.GRUCell`` on JAX's CPU build: one step each;
the suite unrolls them into layers and directions.

Both document the same equations (their docstrings)::

    r  = sigmoid(W_ir x + b_ir + W_hr h)
    z  = sigmoid(W_iz x + b_iz + W_hz h)
    n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h

the PyTorch GRU with b_hr and b_hz folded into b_ir and b_iz, which is exact
(each pair is only ever summed). So each adapter loads b_ir + b_hr and
b_iz + b_hz as the input biases, b_in as the candidate's input bias and b_hn as
the candidate's hidden bias, inside the reset product, where the framework has one.

* linen: one ``Dense`` per gate and side, ``x @ kernel + bias`` with kernel (in, H):
  ``ir``, ``iz``, ``in`` with biases, ``hr``, ``hz`` without, ``hn`` with a bias.
* nnx: ``dense_i`` (I, 3H) with a bias and ``dense_h`` (H, 3H) without, column
  blocks r, z, n. ``dense_h`` has no bias at all, so b_hn has nowhere to go:
  the adapter loads every parameter the cell has and leaves b_hn out, and the
  checks show what the cell computes against its documented equation.

JAX computes in float32 unless 64-bit mode is on; this module turns it on
(``jax_enable_x64``) so float64 can be graded too (float32 arrays stay float32).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from conformance import Capabilities, CellAdapter, GRUConfig, layouts
from conformance.base.params import CanonicalParams
from conformance.implementations.frameworks._common import gates, np_dtype, numpy_of, require, tensor_of

jax = require("jax", "flax")
jax.config.update("jax_enable_x64", True)
jnp = require("jax.numpy", "flax")
flax = require("flax", "flax")
linen = require("flax.linen", "flax")
nnx = require("flax.nnx", "flax")

_CAPS = Capabilities(bidirectional=True, multi_layer=True, h0=True,
                     dtypes=(torch.float32, torch.float64))
_VERSIONS = f"flax {flax.__version__}, jax {jax.__version__} ({jax.default_backend()}), 64-bit mode on"


def _jnp_dtype(dtype: torch.dtype) -> Any:
    return {torch.float32: jnp.float32, torch.float64: jnp.float64}[dtype]


# ``load`` overwrites every parameter, so the cells are built with zeros: the
# default initializers (orthogonal: a QR per new shape) would only cost time.
_ZEROS = dict(kernel_init=linen.initializers.zeros_init(),
              recurrent_kernel_init=linen.initializers.zeros_init())


@functools.lru_cache(maxsize=None)
def _linen_apply(features: int, dtype: Any) -> Any:
    """A jitted ``GRUCell.apply`` per cell configuration, shared by all instances
    (``apply`` unjitted re-binds the module on every step: about 30 ms a step)."""
    cell = linen.GRUCell(features=features, dtype=dtype, param_dtype=dtype, **_ZEROS)
    return cell, jax.jit(cell.apply)


def linen_gru_params(params: CanonicalParams, dtype: np.dtype) -> dict[str, Any]:
    """Canonical parameters of one cell -> ``linen.GRUCell``'s ``{"params": ...}``.

    Dense ``g`` of the input side has kernel W_ig^T (I, H); of the hidden side W_hg^T (H, H).
    """
    w_i, w_h = gates(params, "weight_ih"), gates(params, "weight_hh")
    b_i, b_h = gates(params, "bias_ih"), gates(params, "bias_hh")

    def dense(w: np.ndarray, b: np.ndarray | None = None) -> dict[str, Any]:
        layer = {"kernel": jnp.asarray(w.T.astype(dtype))}
        if b is not None:
            layer["bias"] = jnp.asarray(b.astype(dtype))
        return layer

    return {"params": {
        "ir": dense(w_i["r"], b_i["r"] + b_h["r"]),
        "iz": dense(w_i["z"], b_i["z"] + b_h["z"]),
        "in": dense(w_i["n"], b_i["n"]),
        "hr": dense(w_h["r"]),
        "hz": dense(w_h["z"]),
        "hn": dense(w_h["n"], b_h["n"]),
    }}


class FlaxLinenGRUCell(CellAdapter):
    """``flax.linen.GRUCell``: claims the PyTorch equations (its docstring)."""

    name = "flax.linen.GRUCell"
    reset = "after"
    capabilities = _CAPS
    notes = _VERSIONS

    def build(self, config: GRUConfig) -> dict[str, Any]:
        dtype = _jnp_dtype(config.dtype)
        cell, apply = _linen_apply(config.hidden_size, dtype)
        carry = jax.ShapeDtypeStruct((1, config.hidden_size), dtype)
        inputs = jax.ShapeDtypeStruct((1, config.input_size), dtype)
        # The cell's own parameter tree, traced abstractly (nothing compiled), filled with zeros.
        shapes = jax.eval_shape(cell.init, jax.random.key(0), carry, inputs)
        variables = jax.tree_util.tree_map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes)
        return {"apply": apply, "variables": variables, "dtype": np_dtype(config.dtype)}

    def load(self, built: dict[str, Any], params: CanonicalParams) -> None:
        new = linen_gru_params(params, built["dtype"])
        # The cell's own parameter tree must be exactly the one we fill: same names, same shapes.
        have = jax.tree_util.tree_map(np.shape, built["variables"])
        filled = jax.tree_util.tree_map(np.shape, new)
        if filled != have:
            raise ValueError(f"linen.GRUCell parameters are {have}, but the adapter fills {filled}")
        built["variables"] = new

    def step(self, built: dict[str, Any], x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        new_h, _ = built["apply"](built["variables"], jnp.asarray(numpy_of(h)), jnp.asarray(numpy_of(x)))
        return tensor_of(new_h)


def nnx_gru_arrays(params: CanonicalParams, dtype: np.dtype) -> dict[str, np.ndarray]:
    """Canonical parameters of one cell -> ``nnx.GRUCell``'s arrays.

    dense_i.kernel = [W_ir; W_iz; W_in]^T (I, 3H), dense_i.bias = [b_ir + b_hr, b_iz + b_hz, b_in],
    dense_h.kernel = [W_hr; W_hz; W_hn]^T (H, 3H). b_hn: no such parameter.
    """
    w_i, w_h = gates(params, "weight_ih"), gates(params, "weight_hh")
    bias, _b_hn = layouts.fused_bias(params)  # nnx.GRUCell has nowhere to put b_hn
    return {
        "dense_i.kernel": np.concatenate([w_i["r"], w_i["z"], w_i["n"]]).T.astype(dtype),
        "dense_i.bias": bias.astype(dtype),
        "dense_h.kernel": np.concatenate([w_h["r"], w_h["z"], w_h["n"]]).T.astype(dtype),
    }


class FlaxNNXGRUCell(CellAdapter):
    """``flax.nnx.GRUCell``: claims the PyTorch equations (its docstring, b_hn inside r * (.))."""

    name = "flax.nnx.GRUCell"
    reset = "after"
    capabilities = _CAPS
    notes = _VERSIONS + "; the cell has no b_hn parameter, so the adapter cannot load b_hn"

    def build(self, config: GRUConfig) -> Any:
        dtype = _jnp_dtype(config.dtype)
        return nnx.GRUCell(config.input_size, config.hidden_size, dtype=dtype, param_dtype=dtype,
                           rngs=nnx.Rngs(0), **_ZEROS)

    def load(self, cell: Any, params: CanonicalParams) -> None:
        dtype = np.dtype(cell.dense_i.kernel[...].dtype)
        arrays = nnx_gru_arrays(params, dtype)
        if cell.dense_h.bias is not None:
            raise ValueError("nnx.GRUCell.dense_h has a bias now: load b_hn into it (adapter out of date)")
        for path, value in arrays.items():
            layer, attr = path.split(".")
            variable = getattr(getattr(cell, layer), attr)
            if tuple(variable[...].shape) != value.shape:
                raise ValueError(f"{path} has shape {tuple(variable[...].shape)}, the adapter fills {value.shape}")
            variable[...] = jnp.asarray(value)

    def step(self, cell: Any, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        new_h, _ = cell(jnp.asarray(numpy_of(h)), jnp.asarray(numpy_of(x)))
        return tensor_of(new_h)
