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

The complement update is the canonical reset-before GRU after negating the update
gate's pre-activation, since 1 - sigmoid(u) = sigmoid(-u): with z_haiku = 1 - z,
(1 - z_haiku) h + z_haiku a = z h + (1 - z) a. So ``haiku_gru_params`` loads
-W_iz, -W_hz and -(b_iz + b_hz) into the z block, and the adapter claims reset
"before". That negation stands for a complement-polarity claim the suite does
not have yet; it lives in ``complement_update_gate`` alone, so the claim can
replace it.

JAX computes in float32 unless 64-bit mode is on; this module turns it on
(``jax_enable_x64``) so float64 can be graded too (float32 arrays stay float32).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from conformance import CellAdapter, GRUConfig
from conformance.params import CanonicalParams
from implementations.frameworks._common import capabilities, gates, np_dtype, numpy_of, require, tensor_of

jax = require("jax", "jax")
jax.config.update("jax_enable_x64", True)
jnp = require("jax.numpy", "jax")
hk = require("haiku", "jax")


def complement_update_gate(w_iz: np.ndarray, w_hz: np.ndarray, b_z: np.ndarray) -> tuple[np.ndarray, ...]:
    """The canonical update gate z as haiku's complement gate 1 - z: its weights and bias
    negated (1 - sigmoid(u) = sigmoid(-u)). Stands for the complement-polarity claim."""
    return -w_iz, -w_hz, -b_z


def haiku_gru_params(params: CanonicalParams, dtype: np.dtype) -> dict[str, dict[str, np.ndarray]]:
    """Canonical parameters of one cell -> ``hk.GRU``'s ``{"gru": {"w_i", "w_h", "b"}}``.

    w_i = [-W_iz; W_ir; W_in]^T (I, 3H), w_h = [-W_hz; W_hr; W_hn]^T (H, 3H),
    b = [-(b_iz + b_hz), b_ir + b_hr, b_in + b_hn]: one bias per gate, so each gate's
    two canonical biases are summed (exact for reset-before, where b_hn sits outside
    the reset product as in eq. (3')).
    """
    w_i, w_h = gates(params, "weight_ih"), gates(params, "weight_hh")
    b_i, b_h = gates(params, "bias_ih"), gates(params, "bias_hh")
    # The update gate, negated: haiku mixes (1 - z) h + z a.
    w_iz, w_hz, b_z = complement_update_gate(w_i["z"], w_h["z"], b_i["z"] + b_h["z"])
    # Blocks z, r, a as column blocks of x @ w (haiku multiplies on the right).
    w_input = np.concatenate([w_iz, w_i["r"], w_i["n"]]).T
    w_hidden = np.concatenate([w_hz, w_h["r"], w_h["n"]]).T
    bias = np.concatenate([b_z, b_i["r"] + b_h["r"], b_i["n"] + b_h["n"]])
    return {"gru": {"w_i": w_input.astype(dtype), "w_h": w_hidden.astype(dtype), "b": bias.astype(dtype)}}


@functools.lru_cache(maxsize=None)
def _apply(hidden_size: int) -> Any:
    """``hk.transform`` of one GRU step, jitted once per hidden size (shapes retrace)."""
    def step(x, h):
        return hk.GRU(hidden_size, name="gru")(x, h)[1]

    return jax.jit(hk.without_apply_rng(hk.transform(step)).apply)


class HaikuGRU(CellAdapter):
    """``hk.GRU``, the complement-update reset-before GRU, loaded with the update gate negated."""

    name = "haiku.GRU"
    reset = "before"
    capabilities = capabilities(bidirectional=True, multi_layer=True, h0=True,
                                dtypes=(torch.float32, torch.float64))
    notes = (f"dm-haiku {hk.__version__}, jax {jax.__version__} ({jax.default_backend()}), 64-bit mode on; "
             "haiku computes h' = (1 - z) h + z a: the adapter loads the update gate negated "
             "(1 - sigmoid(u) = sigmoid(-u)), standing for a complement-polarity claim")

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
