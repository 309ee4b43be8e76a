"""OpenVINO's ``GRUSequence`` and ``GRUCell`` operations, built with ``openvino.opset13``
and run by the CPU plugin.

The operations' documented equations (OpenVINO operation specs GRUSequence-5 and
GRUCell-3, after ONNX's GRU; gate order z, r, h; ``f`` = sigmoid, ``g`` = tanh)::

    z  = f(X W_z^T + H R_z^T + Wb_z + Rb_z)
    r  = f(X W_r^T + H R_r^T + Wb_r + Rb_r)
    h~ = g(X W_h^T + (r * H) R_h^T + Wb_h + Rb_h)        # linear_before_reset = false
    h~ = g(X W_h^T + r * (H R_h^T + Rb_h) + Wb_h)        # linear_before_reset = true
    H' = (1 - z) * h~ + z * H

so ``linear_before_reset=true`` is the PyTorch GRU and ``false`` the reset-before
variant. Layouts: GRUSequence X [batch, seq, input] (batch-major), initial state
[batch, num_directions, hidden], sequence_lengths [batch] (both required inputs),
W [D, 3H, input], R [D, 3H, hidden], B [D, 4H] = [Wb_z + Rb_z, Wb_r + Rb_r, Wb_h, Rb_h]
when linear_before_reset (else [D, 3H], each gate's two biases summed); outputs
Y [batch, D, seq, hidden] and Ho [batch, D, hidden]. GRUCell: X [batch, input],
H [batch, hidden], W [3H, input], R [3H, hidden], B [4H] or [3H], output H'.

Precision: the CPU plugin's default ``INFERENCE_PRECISION_HINT`` is bf16 on CPUs
with native bf16 (AVX512_BF16, AMX), f32 elsewhere, whatever the model's element
type says. Each operation is graded twice: with the default (the ``openvino-*``
ids) and with the hint set to f32 (``-f32``), the setting for full float32 accuracy.
float64 models are accepted and return float64 arrays, computed in float32 or bf16
(the CPU plugin converts f64 to f32): float64 is not claimed, and the finding is
pinned in tests/passes_correct/test_frameworks.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from conformance import CellAdapter, GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams
from conformance.implementations.frameworks._common import capabilities, numpy_of, require, tensor_of

ov = require("openvino", "openvino")
ops = require("openvino.opset13", "openvino")

_CORE = ov.Core()


def openvino_gru_weights(params: CanonicalParams, directions: int, linear_before_reset: bool,
                         dtype: np.dtype) -> dict[str, np.ndarray]:
    """Canonical parameters -> GRUSequence's W [D, 3H, I], R [D, 3H, H] and B.

    W[d] = [W_iz; W_ir; W_in], R[d] = [W_hz; W_hr; W_hn]; B[d] = [b_iz + b_hz, b_ir + b_hr,
    b_in, b_hn] (4H) when linear_before_reset, else [b_iz + b_hz, b_ir + b_hr, b_in + b_hn].
    """
    w, r, b = [], [], []
    for reverse in (False, True)[:directions]:
        def block(kind: str, gate: str) -> np.ndarray:
            return params.get(kind, 0, reverse, gate=gate)

        # OpenVINO's gate order is z, r, h (PyTorch's r, z, n reordered); rows stay (3H, in).
        w.append(np.concatenate([block("weight_ih", g) for g in ("z", "r", "n")]))
        r.append(np.concatenate([block("weight_hh", g) for g in ("z", "r", "n")]))
        # z and r: the input and hidden biases are only ever summed, so the op takes the sum.
        folded = [block("bias_ih", g) + block("bias_hh", g) for g in ("z", "r")]
        if linear_before_reset:
            # The candidate keeps Rb_h apart: it sits inside the reset product.
            b.append(np.concatenate([*folded, block("bias_ih", "n"), block("bias_hh", "n")]))
        else:
            # Reset-before: Rb_h sits outside the product, so it folds into Wb_h too.
            b.append(np.concatenate([*folded, block("bias_ih", "n") + block("bias_hh", "n")]))
    return {"W": np.stack(w).astype(dtype), "R": np.stack(r).astype(dtype), "B": np.stack(b).astype(dtype)}


def compile_model(model: Any, precision_hint: str | None) -> Any:
    """The model compiled for the CPU, with the plugin's default inference precision
    (``precision_hint=None``) or the hint given ("f32")."""
    config = {} if precision_hint is None else {"INFERENCE_PRECISION_HINT": precision_hint}
    return _CORE.compile_model(model, "CPU", config)


def default_inference_precision() -> str:
    """The CPU plugin's default ``INFERENCE_PRECISION_HINT`` on this machine ("bf16" or "f32")."""
    return str(_CORE.get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name())


def _element(dtype: torch.dtype) -> Any:
    return {torch.float32: np.float32, torch.float64: np.float64}[dtype]


def gru_sequence_model(config: GRUConfig, weights: dict[str, np.ndarray], linear_before_reset: bool) -> Any:
    """``GRUSequence(X, H0, sequence_lengths, W, R, B)`` with W, R, B constants and
    dynamic batch and sequence length."""
    element, directions = _element(config.dtype), config.num_directions
    x = ops.parameter([-1, -1, config.input_size], element, name="X")
    h0 = ops.parameter([-1, directions, config.hidden_size], element, name="H0")
    lengths = ops.parameter([-1], np.int32, name="sequence_lengths")
    node = ops.gru_sequence(x, h0, lengths, ops.constant(weights["W"]), ops.constant(weights["R"]),
                            ops.constant(weights["B"]), config.hidden_size,
                            "bidirectional" if config.bidirectional else "forward",
                            linear_before_reset=linear_before_reset)
    return ov.Model([node.output(0), node.output(1)], [x, h0, lengths], "gru_sequence")


@dataclass
class OpenVinoInstance:
    config: GRUConfig
    compiled: Any = None


class _OpenVinoGRUSequence(LayerAdapter):
    """One GRUSequence node; subclasses fix ``linear_before_reset`` and the precision hint."""

    linear_before_reset: ClassVar[bool] = True
    precision_hint: ClassVar[str | None] = None
    capabilities = capabilities(
        bidirectional=True, multi_layer=False, time_major=False, batch_first=True, h0=True,
        unbatched=False, dtypes=(torch.float32,), lengths=True,
    )

    def build(self, config: GRUConfig) -> OpenVinoInstance:
        if config.num_layers != 1:
            raise ValueError(f"one GRUSequence is one layer, got num_layers={config.num_layers}")
        if not config.batch_first:
            raise ValueError("GRUSequence takes batch-major X [batch, seq, input] only")
        return OpenVinoInstance(config)

    def load(self, instance: OpenVinoInstance, params: CanonicalParams) -> None:
        config = instance.config
        weights = openvino_gru_weights(params, config.num_directions, self.linear_before_reset,
                                       np.dtype(_element(config.dtype)))
        instance.compiled = compile_model(gru_sequence_model(config, weights, self.linear_before_reset),
                                          self.precision_hint)

    def run(self, instance: OpenVinoInstance, x: torch.Tensor, h0: torch.Tensor | None):
        if x.dim() != 3:
            raise ValueError(f"x has shape {tuple(x.shape)}, but GRUSequence takes [batch, seq, input]")
        return self._run(instance, x, np.full(x.shape[0], x.shape[1], np.int32), h0)

    def run_lengths(self, instance: OpenVinoInstance, x: torch.Tensor, lengths: torch.Tensor,
                    h0: torch.Tensor | None):
        return self._run(instance, x, numpy_of(lengths).astype(np.int32), h0)

    def _run(self, instance: OpenVinoInstance, x: torch.Tensor, lengths: np.ndarray, h0: torch.Tensor | None):
        if instance.compiled is None:
            raise RuntimeError("nothing compiled: load() was not called")
        config = instance.config
        # The initial state is a required input: nn.GRU's h0 = None means zeros.
        state = (np.zeros((config.num_directions, x.shape[0], config.hidden_size), _element(config.dtype))
                 if h0 is None else numpy_of(h0))
        # nn.GRU's h0 (D, B, H) -> OpenVINO's [B, D, H].
        results = instance.compiled({"X": numpy_of(x), "H0": state.transpose(1, 0, 2).copy(),
                                     "sequence_lengths": lengths})
        y, h_n = results[0], results[1]
        # Y [B, D, T, H] -> nn.GRU's batch-first (B, T, D*H); Ho [B, D, H] -> (D, B, H).
        output = y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)
        return tensor_of(output), tensor_of(h_n.transpose(1, 0, 2))


class _OpenVinoGRUCell(CellAdapter):
    """One GRUCell node, one step; the suite unrolls it into layers and directions."""

    linear_before_reset: ClassVar[bool] = True
    precision_hint: ClassVar[str | None] = None
    capabilities = capabilities(bidirectional=True, multi_layer=True, h0=True, dtypes=(torch.float32,))

    def build(self, config: GRUConfig) -> OpenVinoInstance:
        return OpenVinoInstance(config)

    def load(self, instance: OpenVinoInstance, params: CanonicalParams) -> None:
        config = instance.config
        element = _element(config.dtype)
        # The cell's W, R, B are the sequence's for one direction, without the D axis.
        weights = {k: v[0] for k, v in openvino_gru_weights(params, 1, self.linear_before_reset,
                                                            np.dtype(element)).items()}
        x = ops.parameter([-1, config.input_size], element, name="X")
        h = ops.parameter([-1, config.hidden_size], element, name="H")
        node = ops.gru_cell(x, h, ops.constant(weights["W"]), ops.constant(weights["R"]),
                            ops.constant(weights["B"]), config.hidden_size,
                            linear_before_reset=self.linear_before_reset)
        instance.compiled = compile_model(ov.Model([node.output(0)], [x, h], "gru_cell"), self.precision_hint)

    def step(self, instance: OpenVinoInstance, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if instance.compiled is None:
            raise RuntimeError("nothing compiled: load() was not called")
        return tensor_of(instance.compiled({"X": numpy_of(x), "H": numpy_of(h)})[0])


def _notes(hint: str | None) -> str:
    precision = ("INFERENCE_PRECISION_HINT=f32" if hint else
                 f"the CPU plugin's default inference precision ({default_inference_precision()} here)")
    return f"openvino {ov.__version__}, CPU plugin, opset13; {precision}"


class OpenVinoGRUSequence(_OpenVinoGRUSequence):
    name = "OpenVINO GRUSequence (linear_before_reset=true), default precision"
    reset, linear_before_reset, precision_hint = "after", True, None
    notes = _notes(None)


class OpenVinoGRUSequenceF32(_OpenVinoGRUSequence):
    name = "OpenVINO GRUSequence (linear_before_reset=true), INFERENCE_PRECISION_HINT=f32"
    reset, linear_before_reset, precision_hint = "after", True, "f32"
    notes = _notes("f32")


class OpenVinoGRUSequenceResetBeforeF32(_OpenVinoGRUSequence):
    name = "OpenVINO GRUSequence (linear_before_reset=false), INFERENCE_PRECISION_HINT=f32"
    reset, linear_before_reset, precision_hint = "before", False, "f32"
    notes = _notes("f32")


class OpenVinoGRUCell(_OpenVinoGRUCell):
    name = "OpenVINO GRUCell (linear_before_reset=true), default precision"
    reset, linear_before_reset, precision_hint = "after", True, None
    notes = _notes(None)


class OpenVinoGRUCellF32(_OpenVinoGRUCell):
    name = "OpenVINO GRUCell (linear_before_reset=true), INFERENCE_PRECISION_HINT=f32"
    reset, linear_before_reset, precision_hint = "after", True, "f32"
    notes = _notes("f32")
