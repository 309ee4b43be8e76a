"""What every Keras GRU adapter shares: the weight conversion, the backend pick, and
one adapter class parametrized by the Keras module, ``reset_after`` and the call path.

Keras' documented equations (``keras.layers.GRUCell``, the same in Keras 2 /
tf-keras; kernel (I, 3H) and recurrent_kernel (H, 3H) with column blocks z, r, h;
``x @ kernel``)::

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

Keras 3 picks its backend once, when first imported, from ``KERAS_BACKEND``: each
backend's adapters live in their own module (``keras_<backend>.py``), which sets
it, and a process can grade one backend only (``python -m conformance.commands.frameworks_grade``
grades each in its own process).
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import torch

from conformance import GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams
from conformance.implementations.frameworks._common import capabilities, numpy_of, require, tensor_of

_DTYPES = {torch.float32: "float32", torch.float64: "float64"}


def load_keras(backend: str, extra: str) -> ModuleType:
    """Keras 3 on ``backend``: sets ``KERAS_BACKEND`` and imports it, or refuses when
    this process already runs Keras on another backend (it cannot switch)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        current = keras.backend.backend()
        if current != backend:
            raise ImportError(f"Keras already runs on the {current} backend in this process; "
                              f"grade the Keras {backend} ids in a process of their own")
        return keras
    os.environ["KERAS_BACKEND"] = backend
    return require("keras", extra)


def keras_gru_weights(params: CanonicalParams, reset_after: bool, reverse: bool = False) -> list[np.ndarray]:
    """Canonical parameters of one direction -> ``[kernel, recurrent_kernel, bias]``,
    the order of ``keras.layers.GRU.get_weights()``.

    kernel = [W_iz; W_ir; W_in]^T (I, 3H); recurrent_kernel = [W_hz; W_hr; W_hn]^T (H, 3H);
    bias = [[b_iz, b_ir, b_in], [b_hz, b_hr, b_hn]] (2, 3H) when reset_after, else
    [b_iz + b_hz, b_ir + b_hr, b_in + b_hn] (3H,).
    """
    def blocks(kind: str) -> list[np.ndarray]:
        # Keras' gate order is z, r, h (PyTorch's n).
        return [params.get(kind, 0, reverse, gate=g) for g in ("z", "r", "n")]

    # PyTorch stores (3H, in) and computes W x; Keras stores (in, 3H) and computes x W.
    kernel = np.concatenate(blocks("weight_ih"), axis=0).T
    recurrent = np.concatenate(blocks("weight_hh"), axis=0).T
    b_i, b_h = np.concatenate(blocks("bias_ih")), np.concatenate(blocks("bias_hh"))
    # reset_after keeps the input and recurrent biases as two rows; reset-before has one.
    bias = np.stack([b_i, b_h]) if reset_after else b_i + b_h
    return [kernel, recurrent, bias]


KERAS_CAPABILITIES = capabilities(
    bidirectional=True, multi_layer=False, time_major=False, batch_first=True, h0=True,
    unbatched=False, dtypes=(torch.float32, torch.float64),
)


class KerasGRU(LayerAdapter):
    """``keras.layers.GRU`` (optionally in ``Bidirectional``) of a given Keras module.

    Subclasses set ``keras`` (the imported Keras, 3 or tf-keras 2), ``reset`` and
    ``reset_after``; ``predict`` calls ``keras.Model.predict`` (the compiled path
    a user deploys) instead of calling the layer eagerly.
    """

    keras: ClassVar[Any] = None
    reset_after: ClassVar[bool] = True
    predict: ClassVar[bool] = False
    capabilities = KERAS_CAPABILITIES

    def build(self, config: GRUConfig) -> Any:
        if config.num_layers != 1:
            raise ValueError(f"keras.layers.GRU is one layer, got num_layers={config.num_layers}")
        if not config.batch_first:
            raise ValueError("keras.layers.GRU takes batch-major input (batch_first=True) only")
        keras, dtype = self.keras, _DTYPES[config.dtype]
        gru = keras.layers.GRU(config.hidden_size, reset_after=self.reset_after, use_bias=config.bias,
                               return_sequences=True, return_state=True, dtype=dtype)
        layer = keras.layers.Bidirectional(gru, merge_mode="concat", dtype=dtype) if config.bidirectional else gru
        layer.build((None, None, config.input_size))
        return {"layer": layer, "config": config, "models": {}}

    def load(self, built: dict[str, Any], params: CanonicalParams) -> None:
        layer = built["layer"]
        if isinstance(layer, self.keras.layers.Bidirectional):
            layer.forward_layer.set_weights(keras_gru_weights(params, self.reset_after, reverse=False))
            layer.backward_layer.set_weights(keras_gru_weights(params, self.reset_after, reverse=True))
        else:
            layer.set_weights(keras_gru_weights(params, self.reset_after))

    def run(self, built: dict[str, Any], x: torch.Tensor, h0: torch.Tensor | None):
        inputs = self.array(numpy_of(x))
        # nn.GRU's h0 (D, B, H) -> one (B, H) state per direction, forward first.
        states = None if h0 is None else [self.array(numpy_of(h0[d])) for d in range(h0.shape[0])]
        if self.predict:
            returned = self._predict(built, inputs, states)
        else:
            returned = built["layer"](inputs, initial_state=states)
        output, finals = returned[0], returned[1:]
        return self.to_torch(output), torch.stack([self.to_torch(s) for s in finals])

    def _predict(self, built: dict[str, Any], inputs: np.ndarray, states: list[np.ndarray] | None) -> list[Any]:
        """``Model.predict`` of a functional model around the layer, one per signature."""
        keras, config = self.keras, built["config"]
        key = states is not None and len(states)
        if key not in built["models"]:
            dtype = _DTYPES[config.dtype]
            x_in = keras.Input((None, config.input_size), dtype=dtype)
            h_in = [keras.Input((config.hidden_size,), dtype=dtype) for _ in range(key or 0)]
            outputs = built["layer"](x_in, initial_state=h_in or None)
            built["models"][key] = keras.Model([x_in, *h_in], outputs)
        model = built["models"][key]
        return model.predict([inputs, *(states or [])], verbose=0, batch_size=len(inputs))

    def array(self, value: np.ndarray) -> Any:
        """An input as the layer takes it (Keras 3 takes NumPy arrays)."""
        return value

    def to_torch(self, value: Any) -> torch.Tensor:
        """A Keras result as a torch tensor (the torch backend already returns one)."""
        if isinstance(value, torch.Tensor):
            return value.detach().cpu()
        return tensor_of(self.keras.ops.convert_to_numpy(value))


def keras_notes(keras: ModuleType, how: str = "") -> str:
    backend = keras.backend.backend()
    return (f"keras {keras.__version__}, {backend} backend; batch-major only; bidirectional through "
            "keras.layers.Bidirectional(merge_mode='concat')" + (f"; {how}" if how else ""))
