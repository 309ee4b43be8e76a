"""dm-haiku ``hk.GRU`` on JAX's CPU build: one step; the suite unrolls it into layers
and directions.

What haiku computes (``haiku/_src/recurrent.py``, ``GRU.__call__``; w_i (I, 3H),
w_h (H, 3H) and b (3H,) with blocks z, r, a; ``x @ w``)::

    z  = sigmoid(x w_iz + h w_hz + b_z)
    r  = sigmoid(x w_ir + h w_hr + b_r)
    a  = tanh(x w_ia + (r * h) w_ha + b_a)     # reset before the matmul, one bias
    h' = (1 - z) * h + z * a                   # the complement update

Its docstring gives these equations but then calls z and r "reset and update
gates", in that order: the names are swapped (z, the first block, is the update
gate: it mixes h and a; r, the second, multiplies h).

The adapter claims what haiku computes: reset "before" and the complement update
(``update = "complement"``); the suite then hands ``load`` the update gate's weights
and biases negated (1 - sigmoid(u) = sigmoid(-u)), which haiku's z block takes as
they are.

JAX computes in float32 unless 64-bit mode is on; this module turns it on
(``jax_enable_x64``) so float64 can be graded too (float32 arrays stay float32).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from conformance import CellAdapter, GRUConfig, layouts
from conformance.base.params import CanonicalParams
from conformance.implementations.frameworks._common import capabilities, np_dtype, numpy_of, require, tensor_of

jax = require("jax", "jax")
jax.config.update("jax_enable_x64", True)
jnp = require("jax.numpy", "jax")
hk = require("haiku", "jax")


def haiku_gru_params(params: CanonicalParams, dtype: np.dtype) -> dict[str, dict[str, np.ndarray]]:
    """Canonical parameters of one cell -> ``hk.GRU``'s ``{"gru": {"w_i", "w_h", "b"}}``.

    w_i = [W_iz; W_ir; W_in]^T (I, 3H), w_h = [W_hz; W_hr; W_hn]^T (H, 3H) and
    b = [b_iz + b_hz, b_ir + b_hr, b_in + b_hn]: gate order z, r, a, kernels transposed
    (haiku multiplies on the right), one bias per gate (exact for reset-before, where
    b_hn sits outside the reset product as in eq. (3')). The z rows arrive negated (the
    complement claim), as haiku's update gate wants them.
    """
    w_input = layouts.kernel(params, "weight_ih", order="zrn", transposed=True)
    w_hidden = layouts.kernel(params, "weight_hh", order="zrn", transposed=True)
    bias = layouts.folded_bias(params, reset="before", order="zrn")
    return {"gru": {"w_i": w_input.astype(dtype), "w_h": w_hidden.astype(dtype), "b": bias.astype(dtype)}}


@functools.lru_cache(maxsize=None)
def _apply(hidden_size: int) -> Any:
    """``hk.transform`` of one GRU step, jitted once per hidden size (shapes retrace)."""
    def step(x, h):
        return hk.GRU(hidden_size, name="gru")(x, h)[1]

    return jax.jit(hk.without_apply_rng(hk.transform(step)).apply)


class HaikuGRU(CellAdapter):
    """``hk.GRU``: the reset-before GRU with the complement update, claimed as such."""

    name = "haiku.GRU"
    reset = "before"
    update = "complement"
    capabilities = capabilities(bidirectional=True, multi_layer=True, h0=True,
                                dtypes=(torch.float32, torch.float64))
    notes = (f"dm-haiku {hk.__version__}, jax {jax.__version__} ({jax.default_backend()}), 64-bit mode on; "
             "haiku computes h' = (1 - z) h + z a: claimed as the complement update")

    def build(self, config: GRUConfig) -> dict[str, Any]:
        return {"apply": _apply(config.hidden_size), "dtype": np_dtype(config.dtype), "params": None,
                "config": config}

    def load(self, built: dict[str, Any], params: CanonicalParams) -> None:
        config: GRUConfig = built["config"]
        new = haiku_gru_params(params, built["dtype"])
        # The shapes haiku itself creates for this cell, traced abstractly.
        init = hk.transform(lambda x, h: hk.GRU(config.hidden_size, name="gru")(x, h)).init
        x = jax.ShapeDtypeStruct((1, config.input_size), built["dtype"])
        h = jax.ShapeDtypeStruct((1, config.hidden_size), built["dtype"])
        have = jax.tree_util.tree_map(np.shape, jax.eval_shape(init, jax.random.key(0), x, h))
        filled = jax.tree_util.tree_map(np.shape, new)
        if have != filled:
            raise ValueError(f"hk.GRU parameters are {have}, but the adapter fills {filled}")
        built["params"] = jax.tree_util.tree_map(jnp.asarray, new)

    def step(self, built: dict[str, Any], x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if built["params"] is None:
            raise RuntimeError("hk.GRU has no parameters: load() was not called")
        return tensor_of(built["apply"](built["params"], jnp.asarray(numpy_of(x)), jnp.asarray(numpy_of(h))))
