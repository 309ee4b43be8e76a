"""Keras 3 ``keras.layers.GRU``, with ``reset_after=True`` (the default) and
``reset_after=False``, on the torch backend unless ``KERAS_BACKEND`` says otherwise.

Keras' documented equations (``keras.layers.GRUCell``; kernel (I, 3H) and
recurrent_kernel (H, 3H) with column blocks z, r, h; ``x @ kernel``)::

    z  = sigmoid(x W_z + b_z + h U_z + c_z)
    r  = sigmoid(x W_r + b_r + h U_r + c_r)
    hh = tanh(x W_h + b_h + r * (h U_h + c_h))     # reset_after=True, bias (2, 3H): rows b, c
    hh = tanh(x W_h + b_h + (r * h) U_h)           # reset_after=False, bias (3H,): b only
    h' = z * h + (1 - z) * hh

``reset_after=True`` is the PyTorch GRU after taking W = W_i^T per gate, b = b_i,
c = b_h. ``reset_after=False`` is the reset-before variant with its one bias:
the canonical b_i + b_h summed per gate, which is exact there (b_hn sits
outside the reset product in eq. (3')).

Keras is batch-major: x (B, T, I), and ``return_state`` gives each direction's
final state as (B, H); the adapter stacks them into nn.GRU's (D, B, H).
Bidirectional is ``keras.layers.Bidirectional(gru, merge_mode="concat")``,
whose backward layer is the same GRU with ``go_backwards=True`` and whose
backward outputs Keras puts back in input time order. Keras has no stacked
GRU layer: multi-layer is not claimed.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
import torch

from conformance import Capabilities, GRUConfig, LayerAdapter
from conformance.params import CanonicalParams
from implementations.frameworks._common import numpy_of, require

# Keras picks its backend once, on first import: the torch backend shares our torch.
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = require("keras", "keras")

BACKEND = keras.backend.backend()
_DTYPES = {torch.float32: "float32", torch.float64: "float64"}


def keras_gru_weights(params: CanonicalParams, reset_after: bool, reverse: bool = False) -> list[np.ndarray]:
    """Canonical parameters of one direction -> ``[kernel, recurrent_kernel, bias]``,
    the order of ``keras.layers.GRU.get_weights()``.

    kernel = [W_iz; W_ir; W_in]^T (I, 3H); recurrent_kernel = [W_hz; W_hr; W_hn]^T (H, 3H);
    bias = [[b_iz, b_ir, b_in], [b_hz, b_hr, b_hn]] (2, 3H) when reset_after, else
    [b_iz + b_hz, b_ir + b_hr, b_in + b_hn] (3H,).
    """
    def blocks(kind: str) -> list[np.ndarray]:
        return [params.get(kind, 0, reverse, gate=g) for g in ("z", "r", "n")]

    kernel = np.concatenate(blocks("weight_ih"), axis=0).T
    recurrent = np.concatenate(blocks("weight_hh"), axis=0).T
    b_i, b_h = np.concatenate(blocks("bias_ih")), np.concatenate(blocks("bias_hh"))
    bias = np.stack([b_i, b_h]) if reset_after else b_i + b_h
    return [kernel, recurrent, bias]


class _KerasGRU(LayerAdapter):
    reset_after: ClassVar[bool] = True
    capabilities = Capabilities(
        bidirectional=True, multi_layer=False, time_major=False, batch_first=True, h0=True,
        unbatched=False, dtypes=(torch.float32, torch.float64),
    )

    def build(self, config: GRUConfig) -> Any:
        if config.num_layers != 1:
            raise ValueError(f"keras.layers.GRU is one layer, got num_layers={config.num_layers}")
        if not config.batch_first:
            raise ValueError("keras.layers.GRU takes batch-major input (batch_first=True) only")
        dtype = _DTYPES[config.dtype]
        gru = keras.layers.GRU(config.hidden_size, reset_after=self.reset_after, use_bias=config.bias,
                               return_sequences=True, return_state=True, dtype=dtype)
        layer = keras.layers.Bidirectional(gru, merge_mode="concat", dtype=dtype) if config.bidirectional else gru
        layer.build((None, None, config.input_size))
        return layer

    def load(self, layer: Any, params: CanonicalParams) -> None:
        if isinstance(layer, keras.layers.Bidirectional):
            layer.forward_layer.set_weights(keras_gru_weights(params, self.reset_after, reverse=False))
            layer.backward_layer.set_weights(keras_gru_weights(params, self.reset_after, reverse=True))
        else:
            layer.set_weights(keras_gru_weights(params, self.reset_after))

    def run(self, layer: Any, x: torch.Tensor, h0: torch.Tensor | None):
        inputs = numpy_of(x)
        initial_state = None
        if h0 is not None:
            # nn.GRU's h0 (D, B, H) -> one (B, H) state per direction, forward first.
            initial_state = [numpy_of(h0[d]) for d in range(h0.shape[0])]
        returned = layer(inputs, initial_state=initial_state)
        output, states = returned[0], returned[1:]
        return _to_torch(output), torch.stack([_to_torch(s) for s in states])


def _to_torch(value: Any) -> torch.Tensor:
    """A Keras result as a torch tensor (the torch backend already returns one)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    return torch.from_numpy(np.array(keras.ops.convert_to_numpy(value)))


_NOTES = (f"keras {keras.__version__}, {BACKEND} backend; batch-major only; bidirectional through "
          "keras.layers.Bidirectional(merge_mode='concat')")


class KerasGRUResetAfter(_KerasGRU):
    """``keras.layers.GRU(reset_after=True)``: claims the PyTorch equations."""

    name = "keras.layers.GRU (reset_after=True)"
    reset = "after"
    reset_after = True
    notes = _NOTES


class KerasGRUResetBefore(_KerasGRU):
    """``keras.layers.GRU(reset_after=False)``: claims the reset-before equations."""

    name = "keras.layers.GRU (reset_after=False)"
    reset = "before"
    reset_after = False
    notes = _NOTES
