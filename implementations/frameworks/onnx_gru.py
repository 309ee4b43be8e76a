"""The ONNX ``GRU`` operator, run by ``onnx.reference`` and by ONNX Runtime, and
a ``torch.nn.GRU`` exported to ONNX by ``torch.onnx.export`` and run in ONNX Runtime.

The operator's documented equations (ONNX Operators, GRU; ``f`` = sigmoid,
``g`` = tanh, ``(.)`` elementwise)::

    zt = f(Xt*(Wz^T) + Ht-1*(Rz^T) + Wbz + Rbz)
    rt = f(Xt*(Wr^T) + Ht-1*(Rr^T) + Wbr + Rbr)
    ht = g(Xt*(Wh^T) + (rt (.) Ht-1)*(Rh^T) + Rbh + Wbh)      # linear_before_reset = 0
    ht = g(Xt*(Wh^T) + (rt (.) (Ht-1*(Rh^T) + Rbh)) + Wbh)    # linear_before_reset != 0
    Ht = (1 - zt) (.) ht + zt (.) Ht-1

``linear_before_reset=1`` is therefore the PyTorch GRU (reset applied after the
recurrent matmul, Rbh inside the product) and ``linear_before_reset=0`` the
reset-before variant with Rbh outside. Layout of the inputs: ``W`` [D, 3H, I]
and ``R`` [D, 3H, H] with row blocks z, r, h; ``B`` [D, 6H] = [Wb_z, Wb_r, Wb_h,
Rb_z, Rb_r, Rb_h]; ``initial_h`` [D, B, H]; outputs ``Y`` [T, D, B, H] and
``Y_h`` [D, B, H] (``layout=1``: ``X`` [B, T, I], ``initial_h`` [B, D, H],
``Y`` [B, T, D, H], ``Y_h`` [B, D, H]). One layer per node: multi-layer GRUs
are not claimed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from conformance import GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams
from conformance.implementations.frameworks._common import capabilities, numpy_of, require, tensor_of

onnx = require("onnx", "onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

#: The opset the operator is graded at (GRU-22: the semantics of GRU-14, the
#: last version that changed them, plus bfloat16).
OPSET = 22
#: IR version of the models built here; ONNX Runtime reads IR 10.
IR_VERSION = 10

_TENSOR_TYPE = {torch.float32: TensorProto.FLOAT, torch.float64: TensorProto.DOUBLE}


def onnx_gru_weights(params: CanonicalParams, bidirectional: bool, dtype: np.dtype) -> dict[str, np.ndarray]:
    """Canonical parameters (rows r, z, n; separate b_ih, b_hh) -> ONNX W, R, B.

    W[d] = [W_iz; W_ir; W_in], R[d] = [W_hz; W_hr; W_hn],
    B[d] = [b_iz, b_ir, b_in, b_hz, b_hr, b_hn]; d = 0 forward, d = 1 reverse.
    """
    def rows(kind: str, reverse: bool) -> list[np.ndarray]:
        return [params.get(kind, 0, reverse, gate=g) for g in ("z", "r", "n")]

    w, r, b = [], [], []
    for reverse in (False, True)[: 2 if bidirectional else 1]:
        w.append(np.concatenate(rows("weight_ih", reverse), axis=0))
        r.append(np.concatenate(rows("weight_hh", reverse), axis=0))
        b.append(np.concatenate(rows("bias_ih", reverse) + rows("bias_hh", reverse)))
    return {"W": np.stack(w).astype(dtype), "R": np.stack(r).astype(dtype), "B": np.stack(b).astype(dtype)}


def gru_model(
    config: GRUConfig,
    weights: dict[str, np.ndarray],
    *,
    linear_before_reset: int,
    direction: str,
    layout: int = 0,
    with_h0: bool = True,
    with_sequence_lens: bool = False,
) -> Any:
    """A one-node ONNX model: ``GRU(X, W, R, B, [sequence_lens], [initial_h]) -> Y, Y_h``,
    with W, R, B as initializers. Omitted optional inputs are named "" (ONNX's way)."""
    elem = _TENSOR_TYPE[config.dtype]
    inputs = [helper.make_tensor_value_info("X", elem, ["d0", "d1", config.input_size])]
    node_inputs = ["X", "W", "R", "B", "", ""]
    if with_sequence_lens:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["batch"]))
        node_inputs[4] = "sequence_lens"
    if with_h0:
        inputs.append(helper.make_tensor_value_info("initial_h", elem, ["h0", "h1", config.hidden_size]))
        node_inputs[5] = "initial_h"
    while node_inputs[-1] == "":
        node_inputs.pop()
    node = helper.make_node(
        "GRU", node_inputs, ["Y", "Y_h"], hidden_size=config.hidden_size,
        linear_before_reset=linear_before_reset, direction=direction, layout=layout,
    )
    outputs = [
        helper.make_tensor_value_info("Y", elem, ["y0", "y1", "y2", config.hidden_size]),
        helper.make_tensor_value_info("Y_h", elem, ["s0", "s1", config.hidden_size]),
    ]
    initializers = [numpy_helper.from_array(weights[k], k) for k in ("W", "R", "B")]
    graph = helper.make_graph([node], "gru", inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    return model


@dataclass
class OnnxInstance:
    """A built GRU: its configuration and, once loaded, one session per input signature."""

    config: GRUConfig
    weights: dict[str, np.ndarray] | None = None
    #: (initial_h given, direction of a one-direction node or None) -> session
    sessions: dict[tuple[bool, int | None], Any] = field(default_factory=dict)


class _OnnxGRU(LayerAdapter):
    """One ONNX GRU node; subclasses fix the runtime and the attributes."""

    linear_before_reset: ClassVar[int] = 1
    #: "reference" (onnx.reference.ReferenceEvaluator) or "onnxruntime".
    runtime: ClassVar[str] = "reference"
    #: Build the node with its ``sequence_lens`` input: ``run`` feeds T for every
    #: sample, ``run_lengths`` the per-sample lengths of a variable-length batch.
    sequence_lens: ClassVar[bool] = False
    #: Run each direction by a one-direction node of the opposite ``direction`` on
    #: the time-flipped input (grades ``direction="reverse"`` on every case).
    mirrored: ClassVar[bool] = False

    def _session(self, model: Any) -> Any:
        if self.runtime == "reference":
            from onnx.reference import ReferenceEvaluator

            return ReferenceEvaluator(model)
        ort = require("onnxruntime", "onnx")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors reach the suite as exceptions, not as log lines
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def build(self, config: GRUConfig) -> OnnxInstance:
        if config.num_layers != 1:
            raise ValueError(f"one ONNX GRU node is one layer, got num_layers={config.num_layers}")
        return OnnxInstance(config)

    def load(self, instance: OnnxInstance, params: CanonicalParams) -> None:
        dtype = np.dtype(np.float64 if instance.config.dtype == torch.float64 else np.float32)
        instance.weights = onnx_gru_weights(params, instance.config.bidirectional, dtype)
        instance.sessions.clear()

    def _get_session(self, instance: OnnxInstance, with_h0: bool, direction: int | None = None) -> Any:
        """The session for one input signature; ``direction`` d builds a one-direction
        node holding only direction d's weights, with the opposite ``direction``
        attribute (the mirrored adapters)."""
        if instance.weights is None:
            raise RuntimeError("the ONNX GRU has no weights: load() was not called")
        key = (with_h0, direction)
        if key not in instance.sessions:
            config = instance.config
            if direction is None:
                weights = instance.weights
                attribute = "bidirectional" if config.bidirectional else "forward"
            else:
                weights = {k: v[direction : direction + 1] for k, v in instance.weights.items()}
                attribute = "reverse" if direction == 0 else "forward"
                config = GRUConfig(config.input_size, config.hidden_size, dtype=config.dtype)
            model = gru_model(
                config, weights, linear_before_reset=self.linear_before_reset, direction=attribute,
                layout=1 if config.batch_first else 0, with_h0=with_h0,
                with_sequence_lens=self.sequence_lens,
            )
            instance.sessions[key] = self._session(model)
        return instance.sessions[key]

    def _feeds(self, x: np.ndarray, h0: np.ndarray | None, batch_first: bool,
               lengths: np.ndarray | None = None) -> dict[str, np.ndarray]:
        feeds = {"X": x}
        if self.sequence_lens:
            steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
            feeds["sequence_lens"] = (np.full(batch, steps, dtype=np.int32) if lengths is None
                                      else lengths.astype(np.int32))
        if h0 is not None:
            # nn.GRU's h0 is (D, B, H); layout=1 takes initial_h as [B, D, H].
            feeds["initial_h"] = h0.transpose(1, 0, 2) if batch_first else h0
        return feeds

    def _run_node(self, session: Any, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        with warnings.catch_warnings():
            # the reference sigmoid 1 / (1 + exp(-x)) overflows to its limit 0, with a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            y, y_h = session.run(None, feeds)
        return y, y_h

    def run(self, instance: OnnxInstance, x: torch.Tensor, h0: torch.Tensor | None):
        if self.mirrored:
            return self._run_mirrored(instance, x, h0)
        return self._run(instance, x, h0, None)

    def _run(self, instance: OnnxInstance, x: torch.Tensor, h0: torch.Tensor | None,
             lengths: np.ndarray | None):
        batch_first = instance.config.batch_first
        feeds = self._feeds(numpy_of(x), None if h0 is None else numpy_of(h0), batch_first, lengths)
        y, y_h = self._run_node(self._get_session(instance, h0 is not None), feeds)
        # Y [T, D, B, H] -> nn.GRU's (T, B, D*H); layout=1: Y [B, T, D, H] -> (B, T, D*H).
        if batch_first:
            output = y.reshape(y.shape[0], y.shape[1], -1)
            h_n = y_h.transpose(1, 0, 2)  # [B, D, H] -> (D, B, H)
        else:
            output = y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)
            h_n = y_h
        return tensor_of(output), tensor_of(h_n)

    def _run_mirrored(self, instance: OnnxInstance, x: torch.Tensor, h0: torch.Tensor | None):
        """Each direction d by a one-direction node of the opposite direction on the
        time-flipped input, its Y flipped back: a ``direction="reverse"`` node run on
        x[::-1] is the forward GRU on x, and a forward node on x[::-1] is the backward one."""
        directions = instance.config.num_directions
        if h0 is not None and (h0.dim() != 3 or h0.shape[0] != directions):
            # What one node would reject: initial_h must be [num_directions, batch, hidden].
            raise ValueError(f"initial_h has shape {tuple(h0.shape)}, but should be "
                             f"[{directions}, batch, {instance.config.hidden_size}]")
        flipped = numpy_of(x)[::-1].copy()  # time-major only (capabilities)
        halves, finals = [], []
        for d in range(directions):
            h0_d = None if h0 is None else numpy_of(h0)[d : d + 1]
            y, y_h = self._run_node(self._get_session(instance, h0 is not None, d),
                                    self._feeds(flipped, h0_d, False))
            halves.append(y[::-1, 0])  # [T, 1, B, H] -> (T, B, H) in x's time order
            finals.append(y_h[0])
        return tensor_of(np.concatenate(halves, axis=-1)), tensor_of(np.stack(finals))


class _OnnxGRUSequenceLens(_OnnxGRU):
    """Adds ``run_lengths``: a variable-length batch through the ``sequence_lens`` input.
    ONNX: sample b's outputs past ``sequence_lens[b]`` are 0 (as nn.GRU's padded ones),
    ``Y_h`` holds its state after its last valid step, and the reverse direction
    starts at that step."""

    sequence_lens = True

    def run_lengths(self, instance: OnnxInstance, x: torch.Tensor, lengths: torch.Tensor,
                    h0: torch.Tensor | None):
        return self._run(instance, x, h0, numpy_of(lengths))


def _version(name: str) -> str:
    """An installed distribution's version, without importing it (the OpenVINO lane
    builds ONNX models here with no ONNX Runtime installed)."""
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


_REFERENCE_CAPS = capabilities(
    bidirectional=True, multi_layer=False, time_major=True, batch_first=True, h0=True,
    unbatched=False, dtypes=(torch.float32, torch.float64),
)
# ONNX Runtime's CPU GRU kernel takes float only ("GRU operator does not support
# double yet") and layout 0 only ("Batchwise recurrent operations (layout == 1)
# are not supported"): neither is claimed.
_ORT_CAPS = capabilities(
    bidirectional=True, multi_layer=False, time_major=True, batch_first=False, h0=True,
    unbatched=False, dtypes=(torch.float32,),
)
#: Mirrored adapters flip the time axis themselves: time-major only.
_MIRRORED_REFERENCE_CAPS = capabilities(
    bidirectional=True, multi_layer=False, time_major=True, batch_first=False, h0=True,
    unbatched=False, dtypes=(torch.float32, torch.float64),
)
_REFERENCE_NOTES = f"onnx {_version('onnx')} onnx.reference.ReferenceEvaluator, opset {OPSET}"
_ORT_NOTES = f"onnxruntime {_version('onnxruntime')} CPUExecutionProvider, onnx {_version('onnx')}, opset {OPSET}"
_MIRRORED = ("; each direction is a one-direction node of the opposite direction run on the "
             "time-flipped input, its Y flipped back")
_SEQUENCE_LENS = "; sequence_lens fed on every call (T for every sample unless lengths are given)"


class OnnxReferenceGRU(_OnnxGRU):
    name = "onnx.reference GRU (linear_before_reset=1)"
    reset, linear_before_reset, runtime = "after", 1, "reference"
    capabilities = _REFERENCE_CAPS
    notes = _REFERENCE_NOTES + "; batch_first through layout=1"


class OnnxReferenceGRUResetBefore(_OnnxGRU):
    name = "onnx.reference GRU (linear_before_reset=0)"
    reset, linear_before_reset, runtime = "before", 0, "reference"
    capabilities = _REFERENCE_CAPS
    notes = _REFERENCE_NOTES + "; batch_first through layout=1"


class OnnxReferenceGRUReverse(_OnnxGRU):
    name = "onnx.reference GRU (linear_before_reset=1, direction=reverse)"
    reset, linear_before_reset, runtime, mirrored = "after", 1, "reference", True
    capabilities = _MIRRORED_REFERENCE_CAPS
    notes = _REFERENCE_NOTES + _MIRRORED


class OnnxReferenceGRUSequenceLens(_OnnxGRUSequenceLens):
    name = "onnx.reference GRU (linear_before_reset=1, sequence_lens)"
    reset, linear_before_reset, runtime = "after", 1, "reference"
    capabilities = capabilities(
        bidirectional=True, multi_layer=False, time_major=True, batch_first=False, h0=True,
        dtypes=(torch.float32, torch.float64), lengths=True,
    )
    notes = _REFERENCE_NOTES + _SEQUENCE_LENS


class OnnxRuntimeGRU(_OnnxGRU):
    name = "onnxruntime GRU (linear_before_reset=1)"
    reset, linear_before_reset, runtime = "after", 1, "onnxruntime"
    capabilities = _ORT_CAPS
    notes = _ORT_NOTES


class OnnxRuntimeGRUResetBefore(_OnnxGRU):
    name = "onnxruntime GRU (linear_before_reset=0)"
    reset, linear_before_reset, runtime = "before", 0, "onnxruntime"
    capabilities = _ORT_CAPS
    notes = _ORT_NOTES


class OnnxRuntimeGRUReverse(_OnnxGRU):
    name = "onnxruntime GRU (linear_before_reset=1, direction=reverse)"
    reset, linear_before_reset, runtime, mirrored = "after", 1, "onnxruntime", True
    capabilities = _ORT_CAPS
    notes = _ORT_NOTES + _MIRRORED


class OnnxRuntimeGRUResetBeforeReverse(_OnnxGRU):
    name = "onnxruntime GRU (linear_before_reset=0, direction=reverse)"
    reset, linear_before_reset, runtime, mirrored = "before", 0, "onnxruntime", True
    capabilities = _ORT_CAPS
    notes = _ORT_NOTES + _MIRRORED


_ORT_LENGTHS_CAPS = capabilities(
    bidirectional=True, multi_layer=False, time_major=True, batch_first=False, h0=True,
    dtypes=(torch.float32,), lengths=True,
)


class OnnxRuntimeGRUSequenceLens(_OnnxGRUSequenceLens):
    name = "onnxruntime GRU (linear_before_reset=1, sequence_lens)"
    reset, linear_before_reset, runtime = "after", 1, "onnxruntime"
    capabilities = _ORT_LENGTHS_CAPS
    notes = _ORT_NOTES + _SEQUENCE_LENS


class OnnxRuntimeGRUResetBeforeSequenceLens(_OnnxGRUSequenceLens):
    name = "onnxruntime GRU (linear_before_reset=0, sequence_lens)"
    reset, linear_before_reset, runtime = "before", 0, "onnxruntime"
    capabilities = _ORT_LENGTHS_CAPS
    notes = _ORT_NOTES + _SEQUENCE_LENS
