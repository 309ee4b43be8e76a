"""Mutants: deliberately wrong GRUs, one realistic bug each, that the suite must catch.

``ReferenceGRU`` is a small, clean, pure-torch GRU (loops over time; any number of
layers, both directions, batch_first, h0 or None, unbatched input, variable lengths,
autograd, float32 and float64, float16 and bfloat16). Its pieces are methods, so each
mutant is a subclass that overrides one of them with a bug seen in real GRU
implementations (the report is named in the catalogue).
``ReferenceLayer`` and ``ReferenceCell`` are the adapters; a mutant's adapter sets
``gru_class`` to its mutated subclass and claims what the bug needs (autograd,
lengths, a dtype); ``FullReferenceLayer`` and ``FullReferenceCell`` claim everything.

``MUTANTS`` is the catalogue: ``FORWARD_MUTANTS``, bugs in the equations, and
``MACHINERY_MUTANTS``, forward right and the bug elsewhere (``tests/catches_bugs/wrong_machinery.py``).
For each mutant: the bug class, the report it comes from, what it really computes, and
``caught_by``, the checks that must fail (status "fail" or "error"; "warn" for a
warning-level check) when it is graded.
Every check of the catalogue that can run here is in some mutant's ``caught_by``:
a check no mutant fails would be untested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar, NamedTuple

import torch

from conformance import Capabilities, CellAdapter, GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams, param_name
from tests.catches_bugs.wrong_machinery import (GPUS, BatchOfOneSqueezed, Bfloat16WeightsInFloat8,
                                                DefaultDeviceZeros, DtypeConverted, Float16InBfloat16,
                                                Float32InBfloat16, Float64InFloat32, H0Broadcast, HalfOnGPU,
                                                HnDetached, InputWeightsCutForData, LengthsIgnored,
                                                PaddingHoldsLastState, ReverseIgnoresLengths,
                                                StateDetachedWithoutH0, StridesIgnored,
                                                UpstreamGradientMisread, WrongBackwardCell)

# --------------------------------------------------------------------------- reference


class Weights(NamedTuple):
    """One layer and direction: w_ih (3H, in), w_hh (3H, H), b_ih and b_hh (3H,), rows r|z|n."""

    w_ih: torch.Tensor
    w_hh: torch.Tensor
    b_ih: torch.Tensor
    b_hh: torch.Tensor

    def rows(self, kind: str, gate: int) -> torch.Tensor:
        """Gate ``gate`` (0 r, 1 z, 2 n) of ``kind`` ("w_ih", "w_hh", "b_ih", "b_hh")."""
        return getattr(self, kind).chunk(3, dim=0)[gate]


class ReferenceGRU:
    """A multi-layer, optionally bidirectional GRU computing eq. (1)-(4) step by step.

    Parameters are held in nn.GRU's names and layout (``weight_ih_l0`` ...), so
    loading canonical parameters is a plain copy. Inputs are checked as nn.GRU
    checks them (shapes, dtype), and every tensor it creates follows the input's
    device. ``lengths`` (B,) makes a padded batch variable-length: each sample's
    state stops at its own last step and outputs past it are zero.
    """

    def __init__(self, config: GRUConfig) -> None:
        self.config = config
        self.params: dict[str, torch.Tensor] = self.default_params()
        #: Training mode (``train``): nothing in the equations depends on it at dropout 0.
        self.training = False

    def train(self, mode: bool = True) -> "ReferenceGRU":
        self.training = mode
        return self

    def to(self, dtype: torch.dtype) -> "ReferenceGRU":
        """Converted after construction: its parameters and the dtype it checks inputs against."""
        self.config = replace(self.config, dtype=dtype)
        self.params = {name: t.detach().to(dtype).requires_grad_(True) for name, t in self.params.items()}
        return self

    # Parameters ---------------------------------------------------------------
    @property
    def param_dtype(self) -> torch.dtype:
        return self.config.dtype

    def slots(self) -> list[tuple[int, bool]]:
        return [(layer, d == 1) for layer in range(self.config.num_layers)
                for d in range(self.config.num_directions)]

    def default_params(self) -> dict[str, torch.Tensor]:
        """nn.GRU's default init, U(-1/sqrt(H), 1/sqrt(H))."""
        cfg = self.config
        hidden, k = cfg.hidden_size, 1.0 / math.sqrt(cfg.hidden_size)
        params = {}
        for layer, reverse in self.slots():
            in_size = cfg.input_size if layer == 0 else cfg.num_directions * hidden
            shapes = {"weight_ih": (3 * hidden, in_size), "weight_hh": (3 * hidden, hidden)}
            if cfg.bias:
                shapes.update(bias_ih=(3 * hidden,), bias_hh=(3 * hidden,))
            for kind, shape in shapes.items():
                params[param_name(kind, layer, reverse)] = torch.empty(
                    shape, dtype=self.param_dtype, device=cfg.device).uniform_(-k, k)
        return params

    def load(self, params: CanonicalParams) -> None:
        self.params = {name: t.requires_grad_(True)
                       for name, t in params.tensors(self.param_dtype, self.config.device).items()}

    def grads(self) -> dict[str, torch.Tensor | None]:
        return {name: t.grad for name, t in self.params.items()}

    def weights(self, layer: int, reverse: bool) -> Weights:
        def get(kind: str) -> torch.Tensor:
            name = param_name(kind, layer, reverse)
            if name in self.params:
                return self.params[name]
            return torch.zeros(3 * self.config.hidden_size, dtype=self.param_dtype,
                               device=self.config.device)  # bias=False

        return Weights(get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"))

    # Checking inputs as nn.GRU does ------------------------------------------
    def expect(self, what: str, tensor: torch.Tensor, shape: tuple[int, ...]) -> None:
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{what} has shape {tuple(tensor.shape)}, expected {shape}")
        if tensor.dtype != self.param_dtype:
            raise TypeError(f"{what} is {tensor.dtype}, expected {self.param_dtype} (the parameters' dtype)")

    def check_inputs(self, x: torch.Tensor, h0: torch.Tensor | None) -> None:
        cfg = self.config
        if x.dim() not in (2, 3):
            raise ValueError(f"x must be (T, I) or 3-D, got shape {tuple(x.shape)}")
        if x.dim() == 2:
            batch = ()
        else:
            batch = (x.shape[0] if cfg.batch_first else x.shape[1],)
        self.expect("x", x, (*x.shape[:-1], cfg.input_size))
        if h0 is not None:
            self.expect("h0", h0, (cfg.num_layers * cfg.num_directions, *batch, cfg.hidden_size))

    def check_step_inputs(self, x: torch.Tensor, h: torch.Tensor) -> None:
        self.expect("x", x, (x.shape[0], self.config.input_size))
        self.expect("h", h, (x.shape[0], self.config.hidden_size))

    # One step: eq. (1)-(4) ----------------------------------------------------
    def sigmoid(self, a: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(a)

    def tanh(self, a: torch.Tensor) -> torch.Tensor:
        return torch.tanh(a)

    def input_projection(self, x: torch.Tensor, w: Weights) -> torch.Tensor:
        return x @ w.w_ih.T + w.b_ih

    def hidden_projection(self, h: torch.Tensor, w: Weights) -> torch.Tensor:
        return h @ w.w_hh.T + w.b_hh

    def gates(self, stacked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Split a (B, 3H) projection into its r, z, n parts (canonical order)."""
        r, z, n = stacked.chunk(3, dim=-1)
        return r, z, n

    def candidate(self, x_n: torch.Tensor, h_n: torch.Tensor, r: torch.Tensor, h: torch.Tensor,
                  w: Weights) -> torch.Tensor:
        """eq. (3): reset applied after the recurrent matmul, b_hn inside (h_n = W_hn h + b_hn)."""
        return self.tanh(x_n + r * h_n)

    def update(self, z: torch.Tensor, n: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """eq. (4)."""
        return (1 - z) * n + z * h

    def step(self, x: torch.Tensor, h: torch.Tensor, w: Weights) -> torch.Tensor:
        x_r, x_z, x_n = self.gates(self.input_projection(x, w))
        h_r, h_z, h_n = self.gates(self.hidden_projection(h, w))
        r = self.sigmoid(x_r + h_r)
        z = self.sigmoid(x_z + h_z)
        n = self.candidate(x_n, h_n, r, h, w)
        return self.update(z, n, h)

    def cell(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One checked step of the single cell (layer 0, forward): what a cell adapter calls."""
        self.check_step_inputs(x, h)
        return self.step(x, h, self.weights(0, False))

    # A whole sequence -----------------------------------------------------------
    def add_batch_axis(self, x: torch.Tensor, h0: torch.Tensor | None):
        """Unbatched (T, I) and (L*D, H) -> a batch of one, time-major."""
        return x.unsqueeze(1), None if h0 is None else h0.unsqueeze(1)

    def initial_state(self, h0: torch.Tensor | None, layer: int, d: int, batch: int,
                      like: torch.Tensor) -> torch.Tensor | None:
        if h0 is None:
            return torch.zeros(batch, self.config.hidden_size, dtype=like.dtype, device=like.device)
        return h0[layer * self.config.num_directions + d]

    def direction_mask(self, valid: torch.Tensor | None, reverse: bool) -> torch.Tensor | None:
        """The (T, B) mask of real steps a direction's recurrence obeys (None: every step)."""
        return valid

    def run_direction(self, x: torch.Tensor, h: torch.Tensor, w: Weights, reverse: bool,
                      valid: torch.Tensor | None = None):
        """States (T, B, H) of one direction in input time order, and its final state.
        Where ``valid[t, b]`` is False (padding) the state is carried unchanged."""
        steps = x.shape[0]
        outs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
        for t in reversed(range(steps)) if reverse else range(steps):
            new = self.step(x[t], h, w)
            h = new if valid is None else torch.where(valid[t].unsqueeze(1), new, h)
            outs[t] = h
        return torch.stack(outs), h

    def mask_output(self, outs: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        """Outputs past each sample's length are zero (as pad_packed_sequence gives them)."""
        return outs if valid is None else outs * valid.unsqueeze(2).to(outs.dtype)

    def final_state(self, outs: torch.Tensor, h_last: torch.Tensor, reverse: bool) -> torch.Tensor:
        return h_last

    def between_layers(self, y: torch.Tensor, layer: int) -> torch.Tensor:
        return y

    def arrange(self, output: torch.Tensor, h_n: torch.Tensor, unbatched: bool):
        """Time-major (T, B, D*H), (L*D, B, H) -> the caller's layout."""
        if unbatched:
            return output.squeeze(1), h_n.squeeze(1)
        if self.config.batch_first:
            output = output.transpose(0, 1)
        return output, h_n

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None, lengths: torch.Tensor | None = None):
        self.check_inputs(x, h0)
        unbatched = x.dim() == 2
        if unbatched:
            if lengths is not None:
                raise ValueError("lengths need a batch: x must be 3-D")
            x, h0 = self.add_batch_axis(x, h0)
        elif self.config.batch_first:
            x = x.transpose(0, 1)
        steps, batch = x.shape[0], x.shape[1]
        if steps == 0:
            raise ValueError("empty sequence: T must be at least 1")
        valid = None
        if lengths is not None:
            lengths = torch.as_tensor(lengths)
            if tuple(lengths.shape) != (batch,) or int(lengths.min()) < 1 or int(lengths.max()) > steps:
                raise ValueError(f"lengths must be {batch} values in [1, {steps}], got {lengths.tolist()}")
            valid = torch.arange(steps).unsqueeze(1) < lengths.unsqueeze(0)  # (T, B)
            valid = valid.to(x.device)
        layer_input, finals = x, []
        for layer in range(self.config.num_layers):
            halves = []
            for d in range(self.config.num_directions):
                reverse = d == 1
                h = self.initial_state(h0, layer, d, batch, x)
                outs, h_last = self.run_direction(layer_input, h, self.weights(layer, reverse), reverse,
                                                  self.direction_mask(valid, reverse))
                halves.append(self.mask_output(outs, valid))
                finals.append(self.final_state(outs, h_last, reverse))
            layer_input = torch.cat(halves, dim=-1)
            if layer < self.config.num_layers - 1:
                layer_input = self.between_layers(layer_input, layer)
        return self.arrange(layer_input, torch.stack(finals), unbatched)

    def __call__(self, x: torch.Tensor, h0: torch.Tensor | None = None, lengths: torch.Tensor | None = None):
        return self.forward(x, h0, lengths)


class ReferenceLayer(LayerAdapter):
    """The unmutated reference as a layer (every nn.GRU option the suite grades)."""

    name = "reference GRU"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, time_major=True, batch_first=True,
                                h0=True, unbatched=True, dtypes=(torch.float32, torch.float64))
    gru_class: ClassVar[type[ReferenceGRU]] = ReferenceGRU

    def build(self, config: GRUConfig) -> ReferenceGRU:
        return self.gru_class(config)

    def load(self, gru: ReferenceGRU, params: CanonicalParams) -> None:
        gru.load(params)

    def grads(self, gru: ReferenceGRU):
        return gru.grads()

    def run(self, gru: ReferenceGRU, x: torch.Tensor, h0: torch.Tensor | None):
        return gru(x, h0)

    def run_lengths(self, gru: ReferenceGRU, x: torch.Tensor, lengths: torch.Tensor, h0: torch.Tensor | None):
        return gru(x, h0, lengths)

    def train_mode(self, gru: ReferenceGRU, training: bool) -> None:
        gru.train(training)

    def convert(self, gru: ReferenceGRU, dtype: torch.dtype) -> ReferenceGRU:
        return gru.to(dtype)


class ReferenceCell(CellAdapter):
    """The unmutated reference's ``step`` as a cell (the suite unrolls it)."""

    name = "reference GRU cell"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, dtypes=(torch.float32, torch.float64))
    gru_class: ClassVar[type[ReferenceGRU]] = ReferenceGRU

    def build(self, config: GRUConfig) -> ReferenceGRU:
        return self.gru_class(config)

    def load(self, gru: ReferenceGRU, params: CanonicalParams) -> None:
        gru.load(params)

    def grads(self, gru: ReferenceGRU):
        return gru.grads()

    def step(self, gru: ReferenceGRU, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return gru.cell(x, h)

    def train_mode(self, gru: ReferenceGRU, training: bool) -> None:
        gru.train(training)

    def convert(self, gru: ReferenceGRU, dtype: torch.dtype) -> ReferenceGRU:
        return gru.to(dtype)


#: Everything the reference can claim: the correct-implementation tests grade it so.
ALL_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
FULL_LAYER = replace(ReferenceLayer.capabilities, dtypes=ALL_DTYPES, autograd=True, lengths=True)
FULL_CELL = replace(ReferenceCell.capabilities, dtypes=ALL_DTYPES, autograd=True)


class FullReferenceLayer(ReferenceLayer):
    """The reference layer claiming autograd, variable lengths and four dtypes."""

    name = "reference GRU (all claims)"
    capabilities = FULL_LAYER


class FullReferenceCell(ReferenceCell):
    """The reference cell claiming autograd and four dtypes."""

    name = "reference GRU cell (all claims)"
    capabilities = FULL_CELL


# --------------------------------------------------------------------------- mutated GRUs
# Each class changes one piece of the reference; its docstring is the bug.


class ResetBeforeGRU(ReferenceGRU):
    """Reset applied to h before the recurrent matmul (eq. 3'), while the adapter claims "after"."""

    def candidate(self, x_n, h_n, r, h, w):
        return self.tanh(x_n + (r * h) @ w.rows("w_hh", 2).T + w.rows("b_hh", 2))


class BhnOutsideGRU(ReferenceGRU):
    """b_hn added outside the reset product: tanh(x_n + r * (W_hn h) + b_hn)."""

    def candidate(self, x_n, h_n, r, h, w):
        return self.tanh(x_n + r * (h @ w.rows("w_hh", 2).T) + w.rows("b_hh", 2))


class BhnDroppedGRU(ReferenceGRU):
    """b_hn dropped: tanh(x_n + r * (W_hn h)), as for a format with one candidate bias."""

    def candidate(self, x_n, h_n, r, h, w):
        return self.tanh(x_n + r * (h @ w.rows("w_hh", 2).T))


class BiasTwiceGRU(ReferenceGRU):
    """b_hh folded into the input bias (b_ih + b_hh) for a one-bias format, then added again
    in the recurrent projection: every b_h* counts twice."""

    def input_projection(self, x, w):
        return x @ w.w_ih.T + (w.b_ih + w.b_hh)


class GateLayoutGRU(ReferenceGRU):
    """Rows read in z, r, n order (ONNX/Keras layout) from r, z, n (PyTorch) parameters."""

    def gates(self, stacked):
        z, r, n = stacked.chunk(3, dim=-1)
        return r, z, n


class ComplementUpdateGRU(ReferenceGRU):
    """Update polarity reversed: h' = (1 - z) * h + z * n."""

    def update(self, z, n, h):
        return (1 - z) * h + z * n


class PrecedenceSlipGRU(ReferenceGRU):
    """``h * 1 - z + z * n`` written for ``h * (1 - z) + z * n``: h' = h - z + z * n."""

    def update(self, z, n, h):
        return h * 1 - z + z * n


class NaiveTanhGRU(ReferenceGRU):
    """tanh(a) = (exp(2a) - 1) / (exp(2a) + 1): inf / inf = NaN once exp(2a) overflows."""

    def tanh(self, a):
        e = torch.exp(2 * a)
        return (e - 1) / (e + 1)


class BackwardOutputReversedGRU(ReferenceGRU):
    """Outputs appended in processing order: the backward half of output is left reversed in time."""

    def run_direction(self, x, h, w, reverse, valid=None):
        outs = []
        for t in reversed(range(x.shape[0])) if reverse else range(x.shape[0]):
            h = self.step(x[t], h, w)
            outs.append(h)
        return torch.stack(outs), h


class ReverseNotReversedGRU(ReferenceGRU):
    """The reverse direction runs from t = 0 like the forward one (only its weights differ)."""

    def run_direction(self, x, h, w, reverse, valid=None):
        return super().run_direction(x, h, w, False, valid)


class H0WrongSlotGRU(ReferenceGRU):
    """h0 indexed by layer only, h0[layer]: the reverse direction (and deeper layers) start
    from another slot's state; nn.GRU's slot is h0[layer * D + d]."""

    def initial_state(self, h0, layer, d, batch, like):
        if h0 is None:
            return super().initial_state(h0, layer, d, batch, like)
        return h0[layer]


class HnWrongEndGRU(ReferenceGRU):
    """h_n taken from the last time step of the output, h_n = output[-1] per direction: for
    the reverse direction that is its first step's state, not its final one."""

    def final_state(self, outs, h_last, reverse):
        return outs[-1]


class OutputTimeMajorGRU(ReferenceGRU):
    """batch_first ignored on the way out: output stays (T, B, D*H)."""

    def arrange(self, output, h_n, unbatched):
        if unbatched:
            return output.squeeze(1), h_n.squeeze(1)
        return output, h_n


class HnBatchFirstGRU(ReferenceGRU):
    """batch_first applied to h_n too: h_n returned as (B, L*D, H)."""

    def arrange(self, output, h_n, unbatched):
        output, h_n = super().arrange(output, h_n, unbatched)
        return output, (h_n.transpose(0, 1) if self.config.batch_first and not unbatched else h_n)


class SqueezedResultGRU(ReferenceGRU):
    """``output.squeeze(), h_n.squeeze()`` on the way out: a batch of one (or T = 1, or H = 1)
    loses its axis."""

    def arrange(self, output, h_n, unbatched):
        output, h_n = super().arrange(output, h_n, unbatched)
        return output.squeeze(), h_n.squeeze()


class StaleWorkspaceGRU(ReferenceGRU):
    """For batches of 3 or more without h0, the initial state comes from a workspace kept on
    the instance and reused without zeroing: it still holds the previous call's final states."""

    workspace: torch.Tensor | None = None

    def initial_state(self, h0, layer, d, batch, like):
        if h0 is not None or batch < 3:
            return super().initial_state(h0, layer, d, batch, like)
        slots = self.config.num_layers * self.config.num_directions
        shape = (slots, batch, self.config.hidden_size)
        if self.workspace is None or tuple(self.workspace.shape) != shape:
            self.workspace = torch.zeros(shape, dtype=like.dtype, device=like.device)
        return self.workspace[layer * self.config.num_directions + d].clone()

    def forward(self, x, h0=None, lengths=None):
        output, h_n = super().forward(x, h0, lengths)
        if h0 is None and self.workspace is not None and self.workspace.shape == h_n.shape:
            self.workspace.copy_(h_n)  # the workspace is where the final states were written
        return output, h_n


class NoneSkipsBiasGRU(ReferenceGRU):
    """h0 = None takes a shortcut: with no state, the recurrent term is skipped at the first
    step (W_hh 0 = 0), and b_hh with it; h0 = zeros goes the normal way."""

    def initial_state(self, h0, layer, d, batch, like):
        return None if h0 is None else super().initial_state(h0, layer, d, batch, like)

    def step(self, x, h, w):
        if h is None:
            h = torch.zeros(x.shape[0], self.config.hidden_size, dtype=x.dtype, device=x.device)
            w = w._replace(b_hh=torch.zeros_like(w.b_hh))
        return super().step(x, h, w)


class H0IgnoredGRU(ReferenceGRU):
    """h0 accepted but ignored: every run starts from zeros."""

    def initial_state(self, h0, layer, d, batch, like):
        return super().initial_state(None, layer, d, batch, like)


class H0InPlaceGRU(ReferenceGRU):
    """The state is updated in place in the tensor it started as: the caller's h0 is overwritten."""

    def run_direction(self, x, h, w, reverse, valid=None):
        steps = x.shape[0]
        outs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
        for t in reversed(range(steps)) if reverse else range(steps):
            h.copy_(self.step(x[t], h, w))
            outs[t] = h.clone()
        return torch.stack(outs), h.clone()


class Float32InsideGRU(ReferenceGRU):
    """Weights kept in float32 and inputs cast with ``.float()``: float64 in, float32 out."""

    @property
    def param_dtype(self) -> torch.dtype:
        return torch.float32

    def forward(self, x, h0=None, lengths=None):
        return super().forward(x.float(), None if h0 is None else h0.float(), lengths)


class DropoutOnGRU(ReferenceGRU):
    """Built with dropout=0.5 and left in training mode: dropout between layers on every call."""

    def between_layers(self, y, layer):
        return torch.nn.functional.dropout(y, p=0.5, training=True)


class SortedBatchGRU(ReferenceGRU):
    """Batch rows sorted (largest input first, as for packing by length) and never unsorted."""

    def forward(self, x, h0=None, lengths=None):
        if x.dim() == 3:
            batch_axis = 0 if self.config.batch_first else 1
            other = [a for a in range(3) if a != batch_axis]
            order = x.abs().sum(dim=other).argsort(descending=True)
            x = x.index_select(batch_axis, order)
            h0 = None if h0 is None else h0.index_select(1, order)
        return super().forward(x, h0, lengths)


class UnbatchedAsBatchGRU(ReferenceGRU):
    """Unbatched (T, I) given its batch axis in front, (1, T, I): read time-major, that is one
    step of a batch of T."""

    def add_batch_axis(self, x, h0):
        return x.unsqueeze(0), None if h0 is None else h0.unsqueeze(1)

    def arrange(self, output, h_n, unbatched):
        if unbatched:
            return output.squeeze(0), h_n.squeeze(1)
        return super().arrange(output, h_n, unbatched)


class NonContiguousReadGRU(ReferenceGRU):
    """Reads x and h0 from their storage as if row-major (``as_strided`` with contiguous
    strides): a strided view gives it the wrong elements."""

    @staticmethod
    def raw(t: torch.Tensor) -> torch.Tensor:
        strides, step = [], 1
        for size in reversed(t.shape):
            strides.insert(0, step)
            step *= size
        return torch.as_strided(t, t.shape, strides, t.storage_offset())

    def forward(self, x, h0=None, lengths=None):
        return super().forward(self.raw(x), None if h0 is None else self.raw(h0), lengths)


class H0BroadcastGRU(ReferenceGRU):
    """h0's shape is never checked: one row is broadcast over the batch, extra slots are
    ignored."""

    def check_inputs(self, x, h0):
        super().check_inputs(x, None)


class SilentCastGRU(ReferenceGRU):
    """Inputs converted to the parameters' dtype without a word (``x.to(weight.dtype)``)."""

    def forward(self, x, h0=None, lengths=None):
        h0 = None if h0 is None else h0.to(self.param_dtype)
        return super().forward(x.to(self.param_dtype), h0, lengths)


def _bfloat16_step(gru: ReferenceGRU, x: torch.Tensor, h: torch.Tensor, w: Weights) -> torch.Tensor:
    """One step from operands rounded to bfloat16, accumulated in float32, the new state
    rounded to bfloat16 (emulated in float32: bfloat16 matmuls of odd shapes are slow)."""
    def low(t: torch.Tensor) -> torch.Tensor:
        return t.to(torch.bfloat16).to(torch.float32)

    h_new = ReferenceGRU.step(gru, low(x), low(h), Weights(*(low(t) for t in w)))
    return low(h_new).to(x.dtype)


class HalfInBfloat16GRU(ReferenceGRU):
    """The float16 path computes in bfloat16 (8 bits of mantissa, not 11) and casts back."""

    def step(self, x, h, w):
        if x.dtype != torch.float16:
            return super().step(x, h, w)
        low = Weights(*(t.to(torch.bfloat16) for t in w))
        return super().step(x.to(torch.bfloat16), h.to(torch.bfloat16), low).to(torch.float16)


class Float32InBfloat16GRU(ReferenceGRU):
    """The float32 path rounds its operands and its state to bfloat16 (an autocast region left
    on: bfloat16 matmuls accumulate in float32) and casts back."""

    def step(self, x, h, w):
        return _bfloat16_step(self, x, h, w) if x.dtype == torch.float32 else super().step(x, h, w)


class HardSigmoidBfloat16GRU(ReferenceGRU):
    """The bfloat16 path uses hard_sigmoid, clip(0.2 a + 0.5, 0, 1), for the gates (the old
    Keras default recurrent_activation) instead of the logistic sigmoid."""

    def sigmoid(self, a):
        if a.dtype != torch.bfloat16:
            return super().sigmoid(a)
        return (0.2 * a + 0.5).clamp(0.0, 1.0)


class DefaultDeviceZerosGRU(ReferenceGRU):
    """The h0 = None zeros are created on torch's default device, not the input's: fine on
    CPU by accident, wrong wherever the input lives elsewhere."""

    def initial_state(self, h0, layer, d, batch, like):
        if h0 is None:
            return torch.zeros(batch, self.config.hidden_size, dtype=like.dtype)
        return super().initial_state(h0, layer, d, batch, like)


class DetachedStateGRU(ReferenceGRU):
    """``h.detach()`` before every step (truncated back-propagation applied per step): the
    values are right, the gradients through the recurrence are cut."""

    def step(self, x, h, w):
        return super().step(x, h.detach(), w)


class _TanhWrongBackward(torch.autograd.Function):
    """tanh whose hand-written backward uses 1 - y instead of 1 - y**2."""

    @staticmethod
    def forward(ctx, a):
        y = torch.tanh(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y)


class WrongTanhBackwardGRU(ReferenceGRU):
    """A custom autograd tanh with a wrong derivative, 1 - y for 1 - y**2: exact forward."""

    def tanh(self, a):
        return _TanhWrongBackward.apply(a)


class BiasHHBufferGRU(ReferenceGRU):
    """b_hh held as a buffer (no requires_grad): it is used, but never gets a gradient."""

    def load(self, params):
        super().load(params)
        for name, t in self.params.items():
            if name.startswith("bias_hh"):
                t.requires_grad_(False)


class PaddingCarriesStateGRU(ReferenceGRU):
    """Outputs past a sample's length repeat its last state (Keras masking) instead of zeros."""

    def mask_output(self, outs, valid):
        return outs


class ReverseFromPaddedEndGRU(ReferenceGRU):
    """The reverse direction ignores the lengths: it starts at t = T - 1, in the padding."""

    def direction_mask(self, valid, reverse):
        return None if reverse else valid


class StateThroughPaddingGRU(ReferenceGRU):
    """The recurrence runs over the padding (lengths only zero the outputs afterwards), so
    h_n is the state after T steps, not after each sample's own length."""

    def direction_mask(self, valid, reverse):
        return None


# --------------------------------------------------------------------------- adapters


class GradModeLeakGRU(ReferenceGRU):
    """Turns autograd off for the whole process after each forward: torch.set_grad_enabled(False)
    where a local ``with torch.no_grad():`` was meant. Its own numbers and gradients are right."""

    def forward(self, x, h0=None, lengths=None):
        result = super().forward(x, h0, lengths)
        torch.set_grad_enabled(False)
        return result


class ReseedingGRU(ReferenceGRU):
    """Reseeds torch's global generator on every step (torch.manual_seed left in a forward, to
    make its own dropout reproducible): every later random draw of the program repeats."""

    def cell(self, x, h):
        torch.manual_seed(0)
        return super().cell(x, h)


def _patched_tanh(a: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return _ORIGINAL_TANH(a, *args, **kwargs)


_ORIGINAL_TANH = torch.tanh


class PatchingTorchGRU(ReferenceGRU):
    """Replaces torch.tanh for the whole process with a wrapper of its own (a "fast tanh" patch);
    the wrapper computes the same values, so only the replacement itself is wrong."""

    def tanh(self, a):
        torch.tanh = _patched_tanh
        return torch.tanh(a)


class UnbatchedCellGRU(ReferenceGRU):
    """A cell claiming unbatched input that runs x (I,), h (H,) as a batch of one and
    returns h' as (1, H): the batch axis it added is not taken away."""

    def cell(self, x, h):
        if x.dim() == 1:
            return super().cell(x.unsqueeze(0), h.unsqueeze(0))
        return super().cell(x, h)


# --------------------------------------------------------------------------- sizes, bias, dropout
# Bugs of fast kernels: each is exact below its own tile, chunk or workspace width and wrong
# past it, so only the size-sweep checks (conformance.cases.sizes) see them.


class HiddenTailTileGRU(ReferenceGRU):
    """Hidden units in tiles of 16: in the last, partial tile (H > 16, H no multiple of 16)
    the update gate reads the reset gate's rows of its tile."""

    TILE = 16

    def gates(self, stacked):
        r, z, n = super().gates(stacked)
        hidden = r.shape[-1]
        if hidden > self.TILE and hidden % self.TILE:
            start = hidden - hidden % self.TILE
            z = torch.cat([z[..., :start], r[..., start:]], dim=-1)
        return r, z, n


class BatchTileH0GRU(ReferenceGRU):
    """Batch rows in tiles of 6: the last, partial tile (B > 6, B no multiple of 6) takes its
    rows of h0 at an offset counted back from the end of a full tile, h0[B - 6 : B - 6 + rest]."""

    TILE = 6

    def initial_state(self, h0, layer, d, batch, like):
        h = super().initial_state(h0, layer, d, batch, like)
        if h0 is None or batch <= self.TILE or batch % self.TILE == 0:
            return h
        rest = batch % self.TILE
        return torch.cat([h[: batch - rest], h[batch - self.TILE : batch - self.TILE + rest]])


class ChunkStateDroppedGRU(ReferenceGRU):
    """Time in chunks of 32 steps (aligned to input time, in both directions): at each chunk
    boundary the carried state is dropped and the chunk restarts from the direction's h0."""

    CHUNK = 32

    def run_direction(self, x, h, w, reverse, valid=None):
        steps, start = x.shape[0], h
        outs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
        for t in reversed(range(steps)) if reverse else range(steps):
            boundary = (t + 1) % self.CHUNK == 0 and t + 1 < steps if reverse else t % self.CHUNK == 0 and t > 0
            if boundary:
                h = start
            new = self.step(x[t], h, w)
            h = new if valid is None else torch.where(valid[t].unsqueeze(1), new, h)
            outs[t] = h
        return torch.stack(outs), h


class WorkspaceRingGRU(ReferenceGRU):
    """Outputs written into a reused workspace of 8 steps (slot t % 8) and copied out at the
    end: with T > 8 each output holds the last state written to its slot; h_n is right."""

    SLOTS = 8

    def run_direction(self, x, h, w, reverse, valid=None):
        outs, h_last = super().run_direction(x, h, w, reverse, valid)
        steps = outs.shape[0]
        order = list(reversed(range(steps))) if reverse else list(range(steps))
        last_in_slot = {t % self.SLOTS: t for t in order}  # the last write to each slot wins
        return torch.stack([outs[last_in_slot[t % self.SLOTS]] for t in range(steps)]), h_last


class InputWidthCapGRU(ReferenceGRU):
    """A fused kernel with a fixed maximum input width of 48: features past the 48th (of x,
    or of a lower layer's D*H outputs) are never read."""

    MAX_WIDTH = 48

    def input_projection(self, x, w):
        if x.shape[-1] <= self.MAX_WIDTH:
            return super().input_projection(x, w)
        return x[..., : self.MAX_WIDTH] @ w.w_ih[:, : self.MAX_WIDTH].T + w.b_ih


class WideStridedReadGRU(NonContiguousReadGRU):
    """For inputs wider than 24 features a fast path reads x and h0 from their storage as if
    row-major: a strided view of a wide input gives it the wrong elements."""

    FAST_PATH_FROM = 24

    def forward(self, x, h0=None, lengths=None):
        if x.shape[-1] > self.FAST_PATH_FROM:
            return super().forward(x, h0, lengths)
        return ReferenceGRU.forward(self, x, h0, lengths)


class BiasIgnoredGRU(ReferenceGRU):
    """bias=False accepted but ignored: the instance keeps its randomly initialized biases,
    and loading parameters without bias tensors leaves them in place."""

    def default_params(self):
        with_bias = replace(self.config, bias=True)
        saved, self.config = self.config, with_bias
        try:
            return super().default_params()
        finally:
            self.config = saved

    def load(self, params):
        kept = {name: t for name, t in self.params.items() if name.startswith("bias")}
        super().load(params)
        self.params = {**kept, **self.params}


class ExpTanhFloat64GRU(ReferenceGRU):
    """tanh written as (e^a - e^-a) / (e^a + e^-a), as in a NumPy GRU: inf / inf = NaN once
    e^a overflows, past a = 710 in float64."""

    def tanh(self, a):
        return (torch.exp(a) - torch.exp(-a)) / (torch.exp(a) + torch.exp(-a))


class DropoutAtInferenceGRU(ReferenceGRU):
    """Honours the dropout it is built with, but in training mode always: dropout left on at
    inference (exact when built with dropout=0)."""

    def between_layers(self, y, layer):
        return torch.nn.functional.dropout(y, p=self.config.dropout, training=True)


class LongChunkHalfStateGRU(ReferenceGRU):
    """Time in chunks of 256 steps with the state handed from chunk to chunk in float16: an
    error of about 1e-4 enters at every chunk boundary, so only sequences past 256 steps show it."""

    CHUNK = 256

    def run_direction(self, x, h, w, reverse, valid=None):
        steps = x.shape[0]
        outs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
        for i, t in enumerate(reversed(range(steps)) if reverse else range(steps)):
            if i and i % self.CHUNK == 0:
                h = h.to(torch.float16).to(x.dtype)
            new = self.step(x[t], h, w)
            h = new if valid is None else torch.where(valid[t].unsqueeze(1), new, h)
            outs[t] = h
        return torch.stack(outs), h


class SharedH0FirstLayerGRU(ReferenceGRU):
    """Takes one shared initial state (B, H) but starts only layer 0 from it: the deeper
    layers start from zeros."""

    def forward(self, x, h0=None, lengths=None):
        if h0 is not None:
            directions = self.config.num_directions
            full = torch.zeros(self.config.num_layers * directions, *h0.shape, dtype=h0.dtype, device=h0.device)
            full[:directions] = h0
            h0 = full
        return super().forward(x, h0, lengths)


# --------------------------------------------------------------------------- production sizes
# The same kinds of bug at the widths production kernels tile on (256 to 1024, chunks of 512
# steps) and behind a fast path for large inputs: exact at every size the small tier reaches.


class ProductionHiddenTailGRU(ReferenceGRU):
    """Hidden units in tiles of 256: the last, partial tile (H > 256, H no multiple of 256)
    takes its update gate from the same units of the tile before it."""

    TILE = 256

    def gates(self, stacked):
        r, z, n = super().gates(stacked)
        hidden = r.shape[-1]
        if hidden > self.TILE and hidden % self.TILE:
            start = hidden - hidden % self.TILE
            z = torch.cat([z[..., :start], z[..., start - self.TILE : hidden - self.TILE]], dim=-1)
        return r, z, n


class ProductionBatchTileH0GRU(BatchTileH0GRU):
    """Batch rows in tiles of 256: the last, partial tile (B > 256, B no multiple of 256) takes
    its rows of h0 at an offset counted back from the end of a full tile."""

    TILE = 256


class ProductionChunkStateDroppedGRU(ChunkStateDroppedGRU):
    """Time in chunks of 512 steps: at each chunk boundary the carried state is dropped and the
    chunk restarts from the direction's h0."""

    CHUNK = 512


class LargeInputFastPathGRU(ReferenceGRU):
    """A fast path for inputs of 32768 elements or more (2^15) puts b_hn outside the reset
    product; smaller inputs take the exact path."""

    FAST_FROM = 2**15

    def forward(self, x, h0=None, lengths=None):
        self.fast = x.numel() >= self.FAST_FROM
        return super().forward(x, h0, lengths)

    def candidate(self, x_n, h_n, r, h, w):
        if not getattr(self, "fast", False):
            return super().candidate(x_n, h_n, r, h, w)
        b_hn = w.rows("b_hh", 2)
        return self.tanh(x_n + r * (h_n - b_hn) + b_hn)


# --------------------------------------------------------------------------- call patterns, input layouts
# Bugs of kernels that keep state across calls or read their inputs' memory themselves: each
# is exact for an instance loaded once, called in eval mode on contiguous inputs.


class InnermostStrideOnlyGRU(NonContiguousReadGRU):
    """A C++-extension-style kernel that checks only ``stride(-1) == 1`` before reading its
    inputs' memory as row-major: ``x.transpose(0, 1)`` of batch-first data (last axis dense,
    the others not) is read as if it were contiguous; other views are made contiguous first."""

    def forward(self, x, h0=None, lengths=None):
        def prepared(t: torch.Tensor) -> torch.Tensor:
            return self.raw(t) if t.stride(-1) == 1 else t.contiguous()

        return ReferenceGRU.forward(self, prepared(x), None if h0 is None else prepared(h0), lengths)


class StorageOffsetIgnoredGRU(ReferenceGRU):
    """Reads x and h0 from the start of their storage (its data pointer, not the tensor's): a
    slice of a larger buffer, at a storage offset, is read from the wrong place."""

    def forward(self, x, h0=None, lengths=None):
        def from_storage_start(t: torch.Tensor) -> torch.Tensor:
            return torch.as_strided(t, t.shape, t.stride(), 0)

        return super().forward(from_storage_start(x), None if h0 is None else from_storage_start(h0), lengths)


class ViewNotReshapeGRU(ReferenceGRU):
    """Flattens x with ``view(-1, I)`` (for one input projection over every step): a view whose time and
    batch axes cannot merge (a transposed, permuted or expanded x) raises instead of being copied."""

    def forward(self, x, h0=None, lengths=None):
        return super().forward(x.view(-1, x.shape[-1]).view(x.shape), h0, lengths)


class StalePackedWeightsGRU(ReferenceGRU):
    """Weights packed at the first call made without autograd (``torch.no_grad()``, inference mode)
    and used by every such call after it: parameters loaded afterwards are never seen there."""

    def weights(self, layer, reverse):
        if torch.is_grad_enabled():
            return super().weights(layer, reverse)
        packed = self.__dict__.setdefault("packed", {})
        if (layer, reverse) not in packed:
            packed[(layer, reverse)] = Weights(*(t.detach().clone() for t in super().weights(layer, reverse)))
        return packed[(layer, reverse)]


class TrainModeBhnOutsideGRU(ReferenceGRU):
    """Exact in eval mode; in training mode (its training kernel) b_hn is outside the reset product."""

    def candidate(self, x_n, h_n, r, h, w):
        if not self.training:
            return super().candidate(x_n, h_n, r, h, w)
        b_hn = w.rows("b_hh", 2)
        return self.tanh(x_n + r * (h_n - b_hn) + b_hn)


class DropoutOnLastLayerGRU(ReferenceGRU):
    """Dropout between layers in training mode, as nn.GRU, and on the last layer's output too (a
    single layer's included), where nn.GRU applies none."""

    def between_layers(self, y, layer):
        return torch.nn.functional.dropout(y, p=self.config.dropout, training=self.training)

    def arrange(self, output, h_n, unbatched):
        return super().arrange(self.between_layers(output, self.config.num_layers - 1), h_n, unbatched)


class OutputWorkspaceGRU(ReferenceGRU):
    """Without autograd, output and h_n are written into a workspace the instance keeps (one per
    shape, dtype and autograd mode), and the workspace itself is returned: the next call of the same
    sizes overwrites what the previous one returned."""

    def forward(self, x, h0=None, lengths=None):
        output, h_n = super().forward(x, h0, lengths)
        if torch.is_grad_enabled():
            return output, h_n
        key = (tuple(output.shape), tuple(h_n.shape), output.dtype, torch.is_inference_mode_enabled())
        spaces = self.__dict__.setdefault("workspaces", {})
        if key not in spaces:
            spaces[key] = (torch.empty_like(output), torch.empty_like(h_n))
        kept_output, kept_h_n = spaces[key]
        kept_output.copy_(output)
        kept_h_n.copy_(h_n)
        return kept_output, kept_h_n


class ZeroStepHeldGRU(ReferenceGRU):
    """A time step whose input is all zeros for a sample is taken for padding, as a masking layer
    does: that sample's state is held there, where nn.GRU computes the step."""

    def run_direction(self, x, h, w, reverse, valid=None):
        real = x.abs().sum(dim=-1) != 0  # (T, B)
        return super().run_direction(x, h, w, reverse, real if valid is None else valid & real)


class FirstCallWorkspaceGRU(ReferenceGRU):
    """A state workspace allocated at the first call for that call's batch: a later call with more
    samples starts the rows past it from zeros instead of from their h0."""

    def initial_state(self, h0, layer, d, batch, like):
        rows = self.__dict__.setdefault("workspace_rows", batch)
        h = super().initial_state(h0, layer, d, batch, like)
        if h0 is None or batch <= rows:
            return h
        return torch.cat([h[:rows], torch.zeros_like(h[rows:])])


class InferenceKernelGRU(ReferenceGRU):
    """Under ``torch.inference_mode()`` an inference-only kernel is taken, which applies the reset gate
    before the recurrent matmul; under ``torch.no_grad()`` and with autograd on it is exact."""

    def candidate(self, x_n, h_n, r, h, w):
        if not torch.is_inference_mode_enabled():
            return super().candidate(x_n, h_n, r, h, w)
        return self.tanh(x_n + (r * h) @ w.rows("w_hh", 2).T + w.rows("b_hh", 2))


class ConstructionDtypeGRU(ReferenceGRU):
    """Computes in the dtype it was built with, whatever it is converted to afterwards (a kernel that
    chose its precision at construction): converted from float32 to float64, it returns float64
    numbers of float32 accuracy."""

    def __init__(self, config: GRUConfig) -> None:
        super().__init__(config)
        self.compute_dtype = config.dtype

    def step(self, x, h, w):
        inner = Weights(*(t.to(self.compute_dtype) for t in w))
        return super().step(x.to(self.compute_dtype), h.to(self.compute_dtype), inner).to(x.dtype)


class PackedOrderIgnoredLayer(LayerAdapter):
    """Given a PackedSequence, unpacks it by its data and batch sizes alone: the samples come out
    in sorted order (``sorted_indices`` ignored), and h0 is read in the caller's order."""

    name = "mutant PackedSequence order ignored"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, batch_first=True, lengths=True,
                                dtypes=(torch.float32, torch.float64))

    def build(self, config: GRUConfig) -> ReferenceGRU:
        return ReferenceGRU(config)

    def load(self, gru: ReferenceGRU, params: CanonicalParams) -> None:
        gru.load(params)

    def run(self, gru: ReferenceGRU, x, h0):
        from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

        if isinstance(x, PackedSequence):
            padded, lengths = pad_packed_sequence(PackedSequence(x.data, x.batch_sizes),
                                                  batch_first=gru.config.batch_first)
            return gru(padded, h0, lengths)
        return gru(x, h0)


def _layer(gru: type[ReferenceGRU], label: str, **claims: Any) -> type[ReferenceLayer]:
    """A layer adapter for ``gru``; ``claims`` change the reference's capabilities."""
    return type(f"{gru.__name__}Layer", (ReferenceLayer,),
                {"gru_class": gru, "name": f"mutant {label}", "__doc__": gru.__doc__, "__module__": __name__,
                 "capabilities": replace(ReferenceLayer.capabilities, **claims)})


def _cell(gru: type[ReferenceGRU], label: str, update: str = "pytorch", **claims: Any) -> type[ReferenceCell]:
    return type(f"{gru.__name__}Cell", (ReferenceCell,),
                {"gru_class": gru, "name": f"mutant {label}", "__doc__": gru.__doc__, "__module__": __name__,
                 "update": update, "capabilities": replace(ReferenceCell.capabilities, **claims)})


HALF = (torch.float32, torch.float64, torch.float16)
BFLOAT = (torch.float32, torch.float64, torch.bfloat16)


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class Mutant:
    """One deliberately wrong implementation and what the suite must say about it."""

    id: str
    #: A CellAdapter or LayerAdapter subclass (instantiate it to grade).
    adapter: type
    #: The bug class.
    bug: str
    #: The real report(s) the bug comes from.
    source: str
    #: What the mutant actually computes.
    truth: str
    #: Checks that must fail (status "fail" or "error") on it.
    caught_by: frozenset[str]
    #: Contract checks it may fail as well, as a consequence of the same bug (not required).
    may_also_fail: frozenset[str] = frozenset()


def _m(id: str, adapter: type, bug: str, source: str, truth: str, caught_by: set[str],
       may_also_fail: set[str] = frozenset()) -> Mutant:  # type: ignore[assignment]
    return Mutant(id, adapter, bug, source, truth, frozenset(caught_by), frozenset(may_also_fail))


MUTANTS: list[Mutant] = [
    _m("reset-before", _layer(ResetBeforeGRU, "reset-before"),
       "reset placement lost in conversion (linear_before_reset=0 for a PyTorch GRU)",
       "pytorch#189225, onnxscript#2852",
       "n = tanh(W_in x + b_in + W_hn (r * h) + b_hn) while claiming reset after",
       {"equations.step"}),
    _m("bhn-outside-reset", _cell(BhnOutsideGRU, "b_hn outside reset"),
       "b_hn moved outside the reset product", "flax#5594 (nnx GRUCell), coremltools#1124",
       "n = tanh(W_in x + b_in + r * (W_hn h) + b_hn)",
       {"equations.step"}),
    _m("bhn-dropped", _layer(BhnDroppedGRU, "b_hn dropped"),
       "b_hn dropped", "flax#5594 (nnx GRUCell)",
       "n = tanh(W_in x + b_in + r * (W_hn h)): no b_hn at all",
       {"equations.step"}),
    _m("bias-twice", _cell(BiasTwiceGRU, "bias twice"),
       "bias added twice after conversion", "tensorflow#54492, tensorflow#54507",
       "every gate gets b_ih + 2 b_hh (b_hn both outside and inside the reset product)",
       {"equations.step"}),
    _m("gate-layout-zrn", _layer(GateLayoutGRU, "z,r,n layout"),
       "gate / bias layout mix-up (z,r,h vs r,z,n)", "tensorflow-onnx#939",
       "the r rows drive the update gate and the z rows the reset gate",
       {"equations.step"}),
    _m("update-complement", _cell(ComplementUpdateGRU, "complement update"),
       "update rule polarity opposite between two ops of one framework", "Paddle#5493",
       "h' = (1 - z) * h + z * n",
       {"equations.step"}),
    _m("claims-complement", _cell(ReferenceGRU, "claims the complement update", update="complement"),
       "update polarity claimed wrongly",
       "no public GRU report: an adapter that says update=\"complement\" for a PyTorch-polarity cell",
       "h' = (1 - z) * n + z * h while claiming h' = (1 - z) * h + z * n",
       {"equations.step"}),
    _m("unbatched-cell-keeps-batch", _cell(UnbatchedCellGRU, "unbatched cell keeps a batch axis", unbatched=True),
       "unbatched input mishandled", "no public GRU report: nn.GRUCell returns h' (H,) for x (I,) and h (H,)",
       "an unbatched step returns h' as (1, H) instead of (H,)",
       {"contract.unbatched"}),
    _m("precedence-slip", _cell(PrecedenceSlipGRU, "h*1 - z"),
       "operator-precedence slip in the state update",
       "seeds/000 (GRU implementation from Scratch): h_prev * 1 - u_sigmoid_out",
       "h' = h - z + z * n, which leaves [-1, 1]",
       {"equations.step", "bounds.unit-interval", "bounds.saturation"}),
    _m("naive-tanh", _cell(NaiveTanhGRU, "naive tanh"),
       "NaN on a backend for large pre-activations", "pytorch#94691",
       "tanh(a) as (exp(2a) - 1) / (exp(2a) + 1): NaN once exp(2a) overflows (a > 44 in float32)",
       {"bounds.saturation"}),
    _m("backward-output-reversed", _layer(BackwardOutputReversedGRU, "backward output reversed"),
       "backward direction's output left in reversed time order", "onnxruntime#4187, webnn#801",
       "output[t, :, H:] holds the backward state after processing x[T-1-t] (h_n is right)",
       {"equations.sequence", "equations.torch-reference", "directions.backward-final-state",
        "directions.reverse-is-flipped-forward"}),
    _m("reverse-not-reversed", _layer(ReverseNotReversedGRU, "reverse not reversed"),
       "reverse direction starts at the wrong end of the sequence", "onnx-tensorflow#342",
       "the backward half is a forward run (from t = 0) with the reverse weights",
       {"equations.sequence", "equations.torch-reference", "directions.backward-final-state",
        "directions.reverse-is-flipped-forward"}),
    _m("h0-wrong-slot", _layer(H0WrongSlotGRU, "h0 wrong slot"),
       "bidirectional with initial state: reverse outputs wrong", "onnxruntime#1607",
       "slot (layer, d) starts from h0[layer] instead of h0[layer * D + d]",
       {"equations.step", "directions.reverse-is-flipped-forward"}),
    _m("hn-wrong-end", _layer(HnWrongEndGRU, "h_n from output[-1]"),
       "h_n's backward slot holds the wrong end's state", "onnxruntime#4187, webnn#801",
       "h_n's reverse slots hold the reverse state at t = T-1 (after one step), not at t = 0",
       {"equations.sequence", "equations.torch-reference", "directions.backward-final-state",
        "directions.reverse-is-flipped-forward"}),
    _m("output-time-major", _layer(OutputTimeMajorGRU, "output time-major"),
       "output permuted to the wrong axis order", "pytorch#10838",
       "with batch_first, output is returned (T, B, D*H) instead of (B, T, D*H)",
       {"contract.output-shape", "equations.sequence", "equations.torch-reference",
        "directions.forward-final-state"}),
    _m("hn-batch-first", _layer(HnBatchFirstGRU, "h_n batch-first"),
       "state returned with the wrong shape", "keras#20173",
       "with batch_first, h_n is returned (B, L*D, H) instead of (L*D, B, H)",
       {"contract.output-shape", "equations.step"}),
    _m("stale-workspace", _layer(StaleWorkspaceGRU, "stale workspace"),
       "stale buffer, wrong only for batch >= 3", "onnxruntime PR#3797",
       "with B >= 3 and no h0, a call starts from the previous call's final states",
       {"contract.deterministic", "contract.stateless"}),
    _m("none-skips-bias", _layer(NoneSkipsBiasGRU, "h0=None shortcut"),
       "h = None takes a different path from h = zeros", "mlx#3249",
       "with h0 = None the first step omits b_hh (r, z and n lose b_hr, b_hz, b_hn)",
       {"sequence.zero-h0", "equations.sequence", "equations.torch-reference"}),
    _m("h0-ignored", _layer(H0IgnoredGRU, "h0 ignored"),
       "initial state ignored",
       "seeds/000 (GRU implementation from Scratch): SimpleGRU always starts from zeros",
       "every run starts from zeros whatever h0 is",
       {"equations.step", "sequence.stepwise", "sequence.split-resume"}),
    _m("h0-in-place", _layer(H0InPlaceGRU, "h0 updated in place"),
       "inputs mutated in place",
       "no public GRU report: nn.GRU is a pure function of (x, h0), which code reusing h0 as "
       "its state buffer breaks",
       "correct numbers, but h0 ends up holding each slot's final state",
       {"contract.inputs-unchanged"}),
    _m("float32-inside", _layer(Float32InsideGRU, "float32 inside"),
       "dtype not preserved",
       "no public GRU report: nn.GRU computes and returns the module's dtype",
       "computes in float32 and returns float32 whatever the input dtype",
       {"contract.dtype", "equations.step", "precision.float64"}),
    _m("dropout-on", _layer(DropoutOnGRU, "dropout on"),
       "dropout left on between layers (training mode at inference)",
       "nn.GRU documentation: dropout acts between layers in training only",
       "layer k > 0 reads its input with half the units zeroed (and the rest doubled), "
       "a new mask on every call",
       {"contract.deterministic", "equations.step"},
       {"contract.stateless", "contract.unbatched", "contract.dropout-eval"}),
    _m("sorted-batch", _layer(SortedBatchGRU, "sorted batch"),
       "results depend on the batch's composition (rows sorted, never unsorted)",
       "pytorch#32023; the pack_padded_sequence sort/unsort pattern",
       "batch rows come back sorted by sum |x|, largest first",
       {"equations.step", "sequence.batch-independence", "sequence.batch-permutation"}),
    _m("unbatched-as-batch", _layer(UnbatchedAsBatchGRU, "unbatched as batch"),
       "unbatched input mishandled",
       "no public GRU report: nn.GRU reads unbatched (T, I) as one sequence of T steps",
       "unbatched (T, I) runs as one step of a batch of T; h_n comes back (L*D, T, H)",
       {"contract.unbatched"}),
    _m("squeezed-result", _layer(SqueezedResultGRU, "squeezed result"),
       "state returned with the wrong shape", "keras#20173",
       "output.squeeze() and h_n.squeeze(): a batch of one comes back (T, D*H) and (L*D, H)",
       {"contract.output-shape", "inputs.batch-of-one"}, {"contract.unbatched"}),
    _m("non-contiguous-read", _layer(NonContiguousReadGRU, "contiguous-only read"),
       "kernel assumes contiguous memory",
       "no public GRU report: nn.GRU accepts any strides",
       "x and h0 read through as_strided with row-major strides: a strided view is read wrongly",
       {"inputs.non-contiguous"}),
    _m("h0-broadcast", _layer(H0BroadcastGRU, "h0 unchecked"),
       "h0 of the wrong shape silently accepted", "pytorch#3259",
       "an h0 of batch 1 is broadcast over the batch, extra layer*direction slots are ignored",
       {"inputs.wrong-shape"}),
    _m("silent-cast", _layer(SilentCastGRU, "silent cast"),
       "inputs of another dtype converted silently",
       "no public GRU report: nn.GRU raises when input and h0 do not have the parameters' dtype",
       "x and h0 in any floating dtype are cast to the parameters' dtype",
       {"inputs.wrong-dtype"}),
    _m("float16-in-bfloat16", _layer(HalfInBfloat16GRU, "float16 in bfloat16", dtypes=HALF),
       "computes below the precision it claims",
       "no public GRU report: measured error bands, float16 ~1e-3 against bfloat16 ~7e-3",
       "float16 input computed in bfloat16 and cast back: errors of about 4e-3",
       {"precision.float16"}),
    _m("float32-in-bfloat16", _layer(Float32InBfloat16GRU, "float32 in bfloat16"),
       "computes below the precision it claims",
       "no public GRU report: torch.autocast(dtype=bfloat16) left on around a float32 model",
       "float32 operands and states rounded to bfloat16 (float32 accumulation): errors of about 1e-3",
       {"equations.step", "precision.float32"}),
    _m("bfloat16-hard-sigmoid", _layer(HardSigmoidBfloat16GRU, "bfloat16 hard sigmoid", dtypes=BFLOAT),
       "a dtype-specific kernel computes other equations",
       "pytorch#94691 (results differ on one backend); Keras' old recurrent_activation='hard_sigmoid'",
       "in bfloat16, r and z are clip(0.2 a + 0.5, 0, 1) instead of sigmoid(a)",
       {"precision.bfloat16"}),
    _m("default-device-zeros", _layer(DefaultDeviceZerosGRU, "zeros on the default device",
                                      devices=("cpu", "cuda")),
       "tensors created on the default device, not the input's",
       "no public GRU report: nn.GRU keeps every tensor on the input's device",
       "with h0 = None, the zero state is made on torch's default device",
       {"devices.cpu"}),
    _m("detached-state", _layer(DetachedStateGRU, "detached state", autograd=True),
       "gradient cut through the recurrence",
       "no public GRU report: the truncated-BPTT h.detach() applied at every step",
       "exact values; d/dx and d/dh0 see only each step's direct path, never the recurrence",
       {"gradients.sequence", "gradients.parameters", "gradients.torch-reference", "gradients.gradcheck"}),
    _m("wrong-tanh-backward", _cell(WrongTanhBackwardGRU, "tanh backward 1 - y", autograd=True),
       "hand-written backward with a wrong derivative",
       "no public GRU report: custom autograd.Function kernels",
       "exact values; the candidate's tanh back-propagates with 1 - n instead of 1 - n**2",
       {"gradients.sequence", "gradients.parameters", "gradients.torch-reference", "gradients.gradcheck"}),
    _m("bias-hh-buffer", _layer(BiasHHBufferGRU, "b_hh without gradient", autograd=True),
       "parameter left out of autograd",
       "no public GRU report: a parameter registered as a buffer is never trained",
       "exact values and input gradients; b_hh gets no gradient at all",
       {"gradients.parameters", "gradients.torch-reference"}),
    _m("padding-carries-state", _layer(PaddingCarriesStateGRU, "padding carries state", lengths=True),
       "variable-length: padding outputs not zero",
       "Keras masking semantics (a masked step repeats the last output) vs pad_packed_sequence",
       "output[t, b] for t >= lengths[b] repeats the sample's last state instead of 0",
       {"varlen.padding-zero"}),
    _m("reverse-from-padded-end", _layer(ReverseFromPaddedEndGRU, "reverse from the padded end",
                                         lengths=True),
       "variable-length: reverse direction starts at the padded end", "onnx-tensorflow#342",
       "the reverse direction of each sample starts at t = T - 1, reading its padding first",
       {"varlen.reverse-start"}),
    _m("grad-mode-leak", _layer(GradModeLeakGRU, "grad mode left off", autograd=True),
       "process-wide state changed: autograd turned off for everything that runs later",
       "no public GRU report; torch.set_grad_enabled is process-wide (BRIEF section 9)",
       "exact values and gradients; after each call torch.is_grad_enabled() is False",
       {"process.global-state"}),
    _m("reseeds-torch", _cell(ReseedingGRU, "reseeds torch"),
       "process-wide state changed: the global random generator reseeded",
       "no public GRU report; torch.manual_seed is process-wide (BRIEF section 9)",
       "exact values; torch.manual_seed(0) runs on every step",
       {"process.global-state"}),
    _m("patches-torch", _layer(PatchingTorchGRU, "patches torch.tanh"),
       "a torch function monkeypatched for the whole process",
       "no public GRU report; fast-kernel patches replace torch functions process-wide",
       "exact values; torch.tanh is replaced by a wrapper of its own on every call",
       {"process.global-state"}),
    _m("state-through-padding", _layer(StateThroughPaddingGRU, "state through padding", lengths=True),
       "variable-length: final state taken after the padding", "onnx-tensorflow#342",
       "the recurrence runs over the padding; h_n is the state after T steps for every sample",
       {"varlen.final-state"}),
    # Sizes that kernels tile on, bias=False, dropout and saturation in float64.
    _m("hidden-tail-tile", _layer(HiddenTailTileGRU, "hidden tail tile (16)", autograd=True),
       "tail tile of hidden units reads another tile's gate (H no multiple of the tile width)",
       "BRIEF section 8: fast kernels tile hidden units, widths 2 to 128",
       "for H > 16 and H no multiple of 16, the last H % 16 units' update gate is the reset gate",
       {"equations.sizes", "precision.sizes", "gradients.sizes"}),
    _m("batch-tile-h0", _layer(BatchTileH0GRU, "batch tile h0 rows (6)", lengths=True),
       "partial batch tile takes the wrong rows of h0",
       "onnxruntime PR#3797 (wrong only for batch >= 3); BRIEF section 8",
       "for B > 6 and B no multiple of 6, the last B % 6 rows start from h0 rows B-6.. instead of their own",
       {"equations.sizes", "sequence.sizes", "varlen.sizes"}),
    _m("chunk-state-dropped", _layer(ChunkStateDroppedGRU, "state dropped every 32 steps"),
       "sequence processed in chunks that drop the carried state at chunk boundaries",
       "BRIEF section 8: time processed in chunks; state dropped at a chunk boundary",
       "for T > 32, each chunk of 32 steps (aligned to input time) restarts from the direction's h0",
       {"equations.sizes", "sequence.sizes", "directions.sizes"}),
    _m("workspace-ring", _layer(WorkspaceRingGRU, "8-step output workspace"),
       "outputs written into a reused workspace of a few steps",
       "BRIEF section 8: a workspace of a few steps overwritten",
       "for T > 8, output[t] holds the last state written to slot t % 8; h_n is right",
       {"equations.sizes", "sequence.sizes"}),
    _m("input-width-cap", _layer(InputWidthCapGRU, "input width capped at 48", autograd=True),
       "fused kernel with a fixed maximum input width",
       "BRIEF section 8: code paths switch at width thresholds",
       "input features past the 48th (of x or of a lower layer's D*H outputs) are ignored",
       {"equations.sizes", "precision.sizes", "gradients.sizes"}),
    _m("wide-strided-read", _layer(WideStridedReadGRU, "contiguous-only past 24 features"),
       "kernel's fast path for wide inputs assumes contiguous memory",
       "no public GRU report: nn.GRU accepts any strides; BRIEF section 8 (thresholds)",
       "for I > 24, x and h0 are read through as_strided with row-major strides",
       {"inputs.sizes"}),
    _m("no-biases-keeps-its-own", _layer(BiasIgnoredGRU, "claims no biases, keeps its own", biases=False),
       "claims no biases but has them", "no public GRU report: a cell said to have no biases keeps a default init",
       "claiming no biases, it adds randomly initialized biases of its own",
       {"equations.step"}),
    _m("bidirectional-only-reverse-forward", _layer(ReverseNotReversedGRU, "bidirectional only, reverse forward",
                                                    unidirectional=False),
       "reverse direction starts at the wrong end (in a bidirectional-only model)", "onnx-tensorflow#342",
       "claiming bidirectional only, its backward half is a forward run with the reverse weights",
       {"equations.sequence", "directions.backward-final-state"}),
    _m("shared-h0-first-layer-only", _layer(SharedH0FirstLayerGRU, "shared h0 for layer 0 only", h0_shared=True),
       "shared initial state not given to every layer", "no public GRU report: a shared h0 meant for every layer",
       "one shared initial state starts layer 0; deeper layers start from zeros",
       {"equations.sequence"}),
    _m("state-only-wrong-end", _layer(HnWrongEndGRU, "returns h_n only, from output[-1]", returns="state"),
       "h_n's backward slot holds the wrong end's state (returned alone)", "onnxruntime#4187, webnn#801",
       "returning only h_n, its reverse slots hold the reverse state after one step",
       {"equations.sequence"}),
    _m("bias-false-ignored", _layer(BiasIgnoredGRU, "bias=False ignored", bias_free=True),
       "bias=False accepted but ignored",
       "no public GRU report: nn.GRU(bias=False) has no bias tensors",
       "built with bias=False, it keeps randomly initialized biases (the canonical parameters have none)",
       {"equations.step"}),
    _m("exp-tanh-float64", _cell(ExpTanhFloat64GRU, "exp tanh, float64", dtypes=(torch.float64,)),
       "NaN for large pre-activations in float64",
       "a NumPy GRU library's tanh (e^x - e^-x) / (e^x + e^-x); pytorch#94691",
       "NaN once |a| > 710 for the candidate's pre-activation (float64 only claimed)",
       {"bounds.saturation"}),
    _m("dropout-at-inference", _layer(DropoutAtInferenceGRU, "dropout at inference"),
       "dropout left on at inference",
       "nn.GRU documentation: dropout acts between layers in training only",
       "built with dropout p, layer k > 0 reads its input through dropout(p) on every call; exact at p = 0",
       {"contract.dropout-eval"}),
    _m("long-chunk-half-state", _layer(LongChunkHalfStateGRU, "float16 state every 256 steps"),
       "state kept in a lower precision between chunks of a long sequence",
       "BRIEF sections 4 and 8: errors that accumulate over long sequences; chunked time",
       "every 256 steps the state is rounded to float16 (errors of about 1e-4 from T = 257 on)",
       {"precision.long-sequence"}),
]

MUTANTS += [
    _m("production-hidden-tail-tile", _layer(ProductionHiddenTailGRU, "hidden tail tile (256)"),
       "tail tile of hidden units reads another tile's update gate (production tile width 256)",
       "BRIEF section 8: production kernels tile hidden units in widths of 256 to 1024",
       "for H > 256 and H no multiple of 256, the last H % 256 units take z from the tile before",
       {"equations.sizes", "precision.sizes"}),
    _m("production-batch-tile-h0", _layer(ProductionBatchTileH0GRU, "batch tile h0 rows (256)"),
       "partial batch tile takes the wrong rows of h0 (production tile width 256)",
       "onnxruntime PR#3797; BRIEF section 8: batches of hundreds",
       "for B > 256 and B no multiple of 256, the last B % 256 rows start from h0 rows B-256.. instead of their own",
       {"equations.sizes", "sequence.sizes"}),
    _m("production-chunk-state-dropped", _layer(ProductionChunkStateDroppedGRU, "state dropped every 512 steps"),
       "carried state dropped at chunk boundaries (production chunk of 512 steps)",
       "BRIEF section 8: sequences of thousands of steps processed in chunks",
       "for T > 512, each chunk of 512 steps (aligned to input time) restarts from the direction's h0",
       {"equations.sizes", "sequence.sizes", "directions.sizes"}),
    _m("large-input-fast-path", _layer(LargeInputFastPathGRU, "b_hn outside reset from 2^15 elements"),
       "a fast path for large inputs computes other equations",
       "BRIEF section 8: libraries pick kernels by total size, fast paths from 2^15 or 2^16 elements",
       "when x has 32768 elements or more, n = tanh(W_in x + b_in + r * (W_hn h) + b_hn)",
       {"equations.sizes"}),
]

MUTANTS += [
    _m("transposed-view-misread", _layer(InnermostStrideOnlyGRU, "checks only the innermost stride"),
       "a transposed view read as contiguous",
       "BRIEF section 8: a C++ extension that checks only stride(-1) == 1 reads x.transpose(0, 1) as contiguous",
       "x.transpose(0, 1) of batch-first data (last axis dense) is read as row-major memory: the wrong elements",
       {"inputs.layouts"}),
    _m("storage-offset-ignored", _layer(StorageOffsetIgnoredGRU, "storage offset ignored"),
       "a storage offset ignored",
       "no public GRU report: kernels reading their input from the storage's data pointer, not the tensor's",
       "an input at a storage offset (a slice of a larger buffer) is read from the start of its storage",
       {"inputs.layouts"}),
    _m("view-not-reshape", _layer(ViewNotReshapeGRU, "view(-1, I)"),
       "view instead of reshape on the input",
       "no public GRU report: 'view size is not compatible with input tensor's size and stride' in models "
       "of public repositories",
       "x.view(-1, I) raises for a transposed, permuted or expanded x; contiguous and every-other-element x work",
       {"inputs.layouts"}),
    _m("packed-order-ignored", PackedOrderIgnoredLayer,
       "a PackedSequence's sorted_indices ignored",
       "no public GRU report: PackedSequence built with enforce_sorted=False carries sorted_indices",
       "a PackedSequence comes back in its sorted order, and h0 rows go to the wrong samples",
       {"inputs.layouts"}, {"varlen.padding-zero", "varlen.final-state", "varlen.reverse-start"}),
    _m("stale-packed-weights", _layer(StalePackedWeightsGRU, "weights packed at the first no_grad call"),
       "weights packed once and not re-packed after a reload",
       "BRIEF section 8: pre-packed weights (oneDNN, cuDNN's flat buffer, custom extensions) must be re-packed",
       "after a call under torch.no_grad(), parameters loaded again are ignored by no_grad calls",
       {"calls.reload"}),
    _m("train-mode-bhn-outside", _layer(TrainModeBhnOutsideGRU, "b_hn outside reset in training mode"),
       "training mode computes other equations",
       "BRIEF section 8: train() with dropout 0 must equal eval(); flax#5594 (b_hn outside)",
       "in training mode n = tanh(W_in x + b_in + r * (W_hn h) + b_hn); exact in eval mode",
       {"calls.train-mode"}),
    _m("dropout-on-last-layer", _layer(DropoutOnLastLayerGRU, "dropout on the last layer's output"),
       "training-mode dropout where nn.GRU applies none",
       "nn.GRU documentation: dropout on the outputs of each layer except the last",
       "in training mode with dropout p, the last layer's output (a single layer's too) goes through dropout(p)",
       {"calls.train-dropout"}),
    _m("output-workspace-returned", _layer(OutputWorkspaceGRU, "results in a workspace kept between calls"),
       "results returned in a workspace the next call overwrites",
       "BRIEF section 8: workspaces kept between calls; inference runtimes that reuse output buffers",
       "under torch.no_grad() or torch.inference_mode() the returned output and h_n are the instance's "
       "workspace: the next call of the same sizes writes its own results into them",
       {"calls.kept-results"}),
    _m("zero-step-held", _layer(ZeroStepHeldGRU, "all-zero steps taken for padding"),
       "all-zero input steps treated as padding",
       "Keras' Masking layer and mask_zero (a zero step is skipped there); nn.GRU masks nothing",
       "where a sample's x_t is all zeros its state is held instead of computed",
       {"inputs.zero-steps"}),
    _m("first-call-workspace", _layer(FirstCallWorkspaceGRU, "state workspace sized by the first call"),
       "workspace sized by the first call",
       "onnxruntime PR#3797 (a buffer kept between calls); BRIEF section 8: fixed-size workspaces",
       "a call with more samples than the first one starts the extra rows from zeros instead of their h0",
       {"calls.resized"}),
    _m("inference-kernel-reset-before", _layer(InferenceKernelGRU, "reset before under inference_mode"),
       "a path taken only under torch.inference_mode() computes other equations",
       "pytorch#94691 (results differ on one path); inference-only fused kernels",
       "under torch.inference_mode() the reset gate acts before the recurrent matmul",
       {"calls.grad-modes"}),
    _m("construction-dtype", _layer(ConstructionDtypeGRU, "computes in its construction dtype"),
       "precision chosen at construction, not converted with the module",
       "no public GRU report: nn.Module.to(dtype) converts parameters, not a dtype an implementation keeps",
       "built in float32 and converted to float64, it computes in float32 (errors of about 1e-7)",
       {"calls.converted"}),
]

# --------------------------------------------------------------------------- structural deviations, two bugs
# Cells whose structure differs from the equations (a term or a bias left out, no reset
# gate; h_n's slots filled from the wrong states), each diagnosed by name; and mutants
# with two bugs each, where a crash at some sizes or a dtype slip must not hide the
# other bug: every one of their failures is reported (tests/catches_bugs/test_distinct_failures.py).


class NoInputRZGRU(ReferenceGRU):
    """r and z computed from the state alone: no W_ir x + b_ir, no W_iz x + b_iz (a cell whose
    input projection feeds only the candidate)."""

    def step(self, x, h, w):
        x_n = x @ w.rows("w_ih", 2).T + w.rows("b_ih", 2)
        h_r, h_z, h_n = self.gates(self.hidden_projection(h, w))
        r, z = self.sigmoid(h_r), self.sigmoid(h_z)
        return self.update(z, self.candidate(x_n, h_n, r, h, w), h)


class NoRecurrentZGRU(ReferenceGRU):
    """The update gate reads x only: z = sigmoid(W_iz x + b_iz), no W_hz h + b_hz."""

    def step(self, x, h, w):
        x_r, x_z, x_n = self.gates(self.input_projection(x, w))
        h_r, _, h_n = self.gates(self.hidden_projection(h, w))
        r, z = self.sigmoid(x_r + h_r), self.sigmoid(x_z)
        return self.update(z, self.candidate(x_n, h_n, r, h, w), h)


class NoHiddenGateBiasGRU(ReferenceGRU):
    """No recurrent bias for r and z, only for the candidate (b_hr and b_hz missing), as a
    format with one Dense per gate and a bias on hn alone has it."""

    def hidden_projection(self, h, w):
        return h @ w.w_hh.T + torch.cat([torch.zeros_like(w.rows("b_hh", 0)), torch.zeros_like(w.rows("b_hh", 1)),
                                         w.rows("b_hh", 2)])


class NoResetCandidateGRU(ReferenceGRU):
    """The candidate without the reset gate: n = tanh(W_in x + b_in + W_hn h + b_hn)."""

    def candidate(self, x_n, h_n, r, h, w):
        return self.tanh(x_n + h_n)


class HnLastLayerOnlyGRU(ReferenceGRU):
    """h_n built from the last layer's output sequence only: every layer's slots hold the last
    layer's final states (``output[-1]`` split into directions and repeated per layer)."""

    def forward(self, x, h0=None, lengths=None):
        output, h_n = super().forward(x, h0, lengths)
        cfg = self.config
        slots = h_n.reshape(cfg.num_layers, cfg.num_directions, *h_n.shape[1:])
        return output, slots[-1:].expand_as(slots).reshape(h_n.shape).clone()


class CrashesOnSmallSizesGRU(HnWrongEndGRU):
    """Two bugs. ``x.squeeze()`` and then three indices into it (a per-feature loop): with T, B
    or I of 1 an axis is gone and the call raises; and the backward direction's h_n is its
    state after one step, not its final state (HnWrongEndGRU)."""

    def forward(self, x, h0=None, lengths=None):
        if x.dim() == 3:
            x.squeeze()[:, :, 0]  # IndexError once an axis of size 1 is squeezed away
        return super().forward(x, h0, lengths)


class Float32ZerosGRU(HnWrongEndGRU):
    """Two bugs. With h0 = None the zero state is made with ``torch.zeros(B, H)``, float32 whatever
    the input's dtype, so a float64 call without h0 raises; and the backward direction's h_n is
    its state after one step (HnWrongEndGRU)."""

    def initial_state(self, h0, layer, d, batch, like):
        if h0 is None:
            return torch.zeros(batch, self.config.hidden_size, device=like.device)
        return super().initial_state(h0, layer, d, batch, like)


#: Every contract check a crash at small sizes reaches: one bug, reported once (grouped).
CRASH_REACHES = {"contract.output-shape", "contract.dtype", "contract.inputs-unchanged", "contract.deterministic",
                 "contract.stateless", "contract.unbatched", "contract.dropout-eval"}

MUTANTS += [
    _m("no-input-rz", _cell(NoInputRZGRU, "r, z without input"),
       "a gate missing its input term", "hand-written cells whose input projection feeds the candidate only",
       "r = sigmoid(W_hr h + b_hr), z = sigmoid(W_hz h + b_hz): r and z do not depend on x",
       {"equations.step"}),
    _m("no-recurrent-z", _cell(NoRecurrentZGRU, "z without recurrent term"),
       "a gate missing its recurrent term", "hand-written cells (a gate computed from x alone)",
       "z = sigmoid(W_iz x + b_iz): the update gate does not depend on h",
       {"equations.step"}),
    _m("no-hidden-gate-bias", _layer(NoHiddenGateBiasGRU, "no b_hr, b_hz"),
       "a missing bias per gate", "flax linen GRUCell's layout (hr and hz have no bias) loaded as PyTorch's",
       "r and z get no b_hr, b_hz; the candidate keeps b_hn",
       {"equations.step"}),
    _m("no-reset-candidate", _cell(NoResetCandidateGRU, "candidate without reset"),
       "a candidate without the reset gate", "hand-written cells that compute r and never use it",
       "n = tanh(W_in x + b_in + W_hn h + b_hn)",
       {"equations.step"}),
    _m("hn-last-layer-only", _layer(HnLastLayerOnlyGRU, "h_n of the last layer only"),
       "the output sequence of the last layer only", "stacked GRUs that build h_n from output[-1]",
       "every layer's h_n slots hold the last layer's final states",
       {"equations.step"}),
    _m("crash-small-and-backward-state", _layer(CrashesOnSmallSizesGRU, "squeeze crash and backward state"),
       "two bugs: a crash for a batch of one (or T = 1, I = 1) and the backward state after one step",
       "squeeze() in models of public repositories; onnxruntime#4187, webnn#801",
       "raises when T, B or I is 1; elsewhere h_n's backward slots hold the state after one step",
       {"inputs.batch-of-one", "directions.backward-final-state", "directions.reverse-is-flipped-forward"},
       CRASH_REACHES),
    _m("float32-zeros-and-backward-state", _layer(Float32ZerosGRU, "float32 zeros and backward state"),
       "two bugs: a float64 call without h0 raises (zeros made in float32) and the backward state after one step",
       "torch.zeros without dtype= in models of public repositories; onnxruntime#4187, webnn#801",
       "float64 without h0 raises; elsewhere h_n's backward slots hold the state after one step",
       {"contract.dtype", "directions.backward-final-state", "directions.reverse-is-flipped-forward"},
       CRASH_REACHES),
]

#: Mutants whose bug is in the forward equations (graded with shrinking, test_mutants).
FORWARD_MUTANTS: list[Mutant] = MUTANTS

# ------------------------------------------------ wrong machinery: forward right, bug elsewhere

GRADIENT_CHECKS = {"gradients.sequence", "gradients.parameters", "gradients.torch-reference",
                   "gradients.gradcheck"}

MACHINERY_MUTANTS: list[Mutant] = [
    _m("wrong-backward", WrongBackwardCell,
       "wrong backward pass in a custom autograd.Function (forward exact)",
       "no public GRU report: hand-written GRU kernels ship their own backward",
       "the reset gate's gradient uses W_hn h instead of W_hn h + b_hn",
       GRADIENT_CHECKS),
    _m("hn-detached", HnDetached,
       "state detached from the autograd graph",
       "no public GRU report: detaching the state is how truncated BPTT is written",
       "h_n carries no gradient: dL/dh_n never reaches x, h0 or the parameters",
       GRADIENT_CHECKS),
    _m("state-detached-without-h0", StateDetachedWithoutH0,
       "state detached between steps when no h0 is given (forward exact)",
       "no public GRU report: truncated back-propagation through time written into a forward's default path",
       "called without h0 under autograd, the state is detached at every step: gradients stop after one step",
       {"gradients.call-patterns"}),
    _m("input-weights-cut-for-data", InputWeightsCutForData,
       "parameter gradients lost when x requires no gradient (forward exact)",
       "no public GRU report: kernels that skip the input's backward when x needs no gradient",
       "with x as data, weight_ih_l0 and bias_ih_l0 are used detached and get no gradient",
       {"gradients.call-patterns"}),
    _m("upstream-gradient-misread", UpstreamGradientMisread,
       "a non-contiguous upstream gradient read as contiguous (forward exact)",
       "BRIEF section 8: C++ extensions that check only stride(-1) == 1",
       "the gradient reaching output and h_n through a transposed view is read in memory order",
       {"gradients.call-patterns"}),
    _m("float64-in-float32", Float64InFloat32,
       "silent precision loss: float64 claimed, float32 computed",
       "no public GRU report: a kernel or conversion with float32 weights only",
       "float64 results carry float32 rounding (about 1e-7) while their dtype says float64",
       {"equations.step", "precision.float64"},
       # float32 rounding also breaks the float64 self-consistency bounds (1e-10).
       {"sequence.stepwise", "sequence.split-resume", "sequence.batch-independence",
        "sequence.batch-permutation", "contract.deterministic", "contract.stateless",
        "directions.reverse-is-flipped-forward", "inputs.batch-of-one", "inputs.non-contiguous",
        "directions.sizes", "sequence.sizes", "inputs.sizes", "inputs.layouts", "calls.resized",
        "calls.grad-modes", "calls.train-mode"}),
    _m("float16-computed-in-bfloat16", Float16InBfloat16,
       "silent precision loss: float16 claimed, bfloat16 computed",
       "no public GRU report: backends without float16 kernels fall back to bfloat16",
       "float16 results carry bfloat16 rounding (about 4e-3, float16's is about 5e-4)",
       {"precision.float16"},
       # The size sweep, long sequences and conversion to another dtype grade every claimed dtype,
       # float16 included.
       {"precision.sizes", "precision.long-sequence", "calls.converted"}),
    _m("float32-computed-in-bfloat16", Float32InBfloat16,
       "silent precision loss: float32 claimed, bfloat16 computed",
       "no public GRU report: autocast (bfloat16 on CPU) left on at inference",
       "float32 results carry bfloat16 rounding (about 4e-3)",
       {"equations.step", "precision.float32"},
       {"sequence.stepwise", "sequence.split-resume", "sequence.batch-independence",
        "sequence.batch-permutation", "contract.deterministic", "contract.stateless",
        "directions.reverse-is-flipped-forward", "inputs.non-contiguous", "inputs.layouts", "calls.resized",
        "calls.grad-modes", "calls.train-mode", "calls.converted"}),
    _m("bfloat16-float8-weights", Bfloat16WeightsInFloat8,
       "silent precision loss: bfloat16 claimed, float8 weights",
       "no public GRU report: weight-only float8 quantization applied without being asked",
       "bfloat16 results from weights rounded to 3 bits of mantissa (errors about 3e-2)",
       {"precision.bfloat16"},
       # The size sweep, long sequences and conversion grade every claimed dtype, bfloat16 included.
       {"precision.sizes", "precision.long-sequence", "calls.converted"}),
    _m("reverse-ignores-lengths", ReverseIgnoresLengths,
       "variable-length: reverse direction starts at the padded end",
       "onnx-tensorflow#342",
       "the reverse direction of a short sample starts at t = T-1, in the padding",
       {"varlen.reverse-start"},
       {"varlen.sizes"}),
    _m("lengths-ignored", LengthsIgnored,
       "variable-length: lengths used only to zero the output",
       "onnx-tensorflow#342 (lengths not passed to the recurrence)",
       "both directions run over the padding; h_n is every sample's state after T steps",
       {"varlen.final-state", "varlen.reverse-start"}),
    _m("padding-holds-last-state", PaddingHoldsLastState,
       "variable-length: padded outputs not zero",
       "Keras masking semantics (a masked step repeats the previous output) where nn.GRU pads with zeros",
       "output[t, b] for t >= lengths[b] repeats output[lengths[b] - 1, b]",
       {"varlen.padding-zero"}),
    _m("strides-ignored", StridesIgnored,
       "non-contiguous input read as contiguous",
       "no public GRU report: custom kernels reading the data pointer without .contiguous()",
       "a strided x or h0 is read from the wrong elements of its storage",
       {"inputs.non-contiguous"}, {"inputs.layouts"}),
    _m("batch-of-one-squeezed", BatchOfOneSqueezed,
       "state returned with the wrong shape (batch axis squeezed)", "keras#20173",
       "with B = 1, output is (T, D*H) and h_n (L*D, H)",
       {"inputs.batch-of-one"}, {"contract.output-shape"}),
    _m("h0-expanded", H0Broadcast,
       "h0 of the wrong shape silently accepted", "pytorch#3259",
       "an h0 with one batch row is broadcast to every sample (warning-level)",
       {"inputs.wrong-shape"}),
    _m("dtype-converted", DtypeConverted,
       "input of the wrong dtype silently converted",
       "no public GRU report: nn.GRU rejects a dtype that is not its parameters'",
       "x and h0 of another dtype are cast to the module's (warning-level)",
       {"inputs.wrong-dtype"}),
    _m("zeros-on-default-device", DefaultDeviceZeros,
       "internal tensor created on the default device, not the input's",
       "seeds/000 (GRU implementation from Scratch): SimpleGRU's torch.zeros(batch, hidden)",
       "with h0 = None, the zero state is made on torch's default device: fails off CPU",
       {"devices.cpu"} | {f"devices.{d}" for d in GPUS}),
]

if GPUS:  # only a machine with a GPU can show a result that depends on the device
    MACHINERY_MUTANTS.append(_m(
        "bfloat16-off-cpu", HalfOnGPU, "results depend on the backend", "pytorch#32023, pytorch#94691",
        "off CPU the layer computes in bfloat16 (errors about 1e-2), on CPU in the dtype asked for",
        {f"devices.{d}" for d in GPUS} | {"devices.cross-device"}))

#: Checks no mutant can fail on this machine: those of devices it does not have.
UNTESTABLE_HERE: frozenset[str] = frozenset(
    {f"devices.{d}" for d in ("cuda", "mps") if d not in GPUS} | (set() if GPUS else {"devices.cross-device"}))

#: The families the wrong machinery is for: a mutant of MACHINERY_ONLY passes every other family.
MACHINERY_FAMILIES = ("precision", "gradients", "varlen", "inputs", "devices")

#: The whole catalogue.
MUTANTS = FORWARD_MUTANTS + MACHINERY_MUTANTS
#: Graded in the quick subset of the self-tests (``-m "not slow"``): a mutant caught by each
#: kind of check (equations, directions, contract, bounds, precision, gradients, varlen, inputs).
QUICK_SAMPLE = frozenset({"reset-before", "bhn-outside-reset", "reverse-not-reversed", "h0-in-place", "naive-tanh",
                          "stale-packed-weights", "transposed-view-misread",
                          "float64-in-float32", "wrong-backward", "lengths-ignored", "strides-ignored"})
MUTANTS_BY_ID: dict[str, Mutant] = {m.id: m for m in MUTANTS}

__all__ = ["FORWARD_MUTANTS", "MACHINERY_MUTANTS", "MUTANTS", "MUTANTS_BY_ID", "QUICK_SAMPLE", "FullReferenceCell",
           "FullReferenceLayer", "Mutant", "ReferenceCell", "ReferenceGRU", "ReferenceLayer", "Weights", "grade_mutant",
           "mutant_params"]


def describe(mutant: Mutant) -> dict[str, Any]:
    """A JSON-friendly row of the catalogue."""
    return {"id": mutant.id, "kind": mutant.adapter.kind, "bug": mutant.bug, "source": mutant.source,
            "truth": mutant.truth, "caught_by": sorted(mutant.caught_by)}


def mutant_params(mutants: list[Mutant]) -> list[Any]:
    """``mutants`` as pytest parameters named by id, those outside QUICK_SAMPLE marked slow."""
    import pytest

    return [pytest.param(m, id=m.id, marks=() if m.id in QUICK_SAMPLE else pytest.mark.slow) for m in mutants]


def grade_mutant(mutant: Mutant, **overrides: Any) -> dict[str, Any]:
    """The mutant graded, in order (dependencies first): the checks it must or may fail at
    the default profile's example budget; the others, which it should pass, at the quick
    profile's, apart from the size sweeps and long sequences (checks with ``sweep``), which
    are left out. Each of those is aimed at by the mutants it exists for, and every
    correct implementation is graded by all of them at the full budget
    (tests/passes_correct/test_correct.py); here they would double the cost and test nothing new."""
    from conformance.cases.catalogue import CHECKS, ordered_ids
    from conformance.checks import load_all
    from conformance.grading.engine import run_check, skip_reason
    from conformance.base.profiles import PROFILES
    from conformance.running.subject import Subject

    load_all()
    subject = Subject(mutant.id, mutant.adapter())
    aimed = mutant.caught_by | mutant.may_also_fail
    quick = {"max_examples": PROFILES["quick"].max_examples}
    done: dict[str, Any] = {}
    for check_id in ordered_ids():
        if check_id not in aimed and CHECKS[check_id].sweep:
            continue
        done[check_id] = skip_reason(check_id, subject, done) or run_check(
            check_id, subject, **overrides, **({} if check_id in aimed else quick))
    return done
