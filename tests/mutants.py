"""Mutants: deliberately wrong GRUs, one realistic bug each, that the suite must catch.

``ReferenceGRU`` is a small, clean, pure-torch GRU (loops over time; any number of
layers, both directions, batch_first, h0 or None, unbatched input, float32 and
float64). Its pieces are methods, so each mutant is a subclass that overrides one
of them with the bug seen in a real report (BRIEF section 3 names the classes).
``ReferenceLayer`` and ``ReferenceCell`` are the adapters; a mutant's adapter sets
``gru_class`` to its mutated subclass.

``MUTANTS`` is the catalogue: for each mutant, the bug class, the report it comes
from, what it really computes, and ``caught_by``, the checks that must fail
(status "fail" or "error") when it is graded. Every check of the catalogue is
in some mutant's ``caught_by``: a check no mutant fails would be untested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch

from conformance import Capabilities, CellAdapter, GRUConfig, LayerAdapter
from conformance.params import CanonicalParams, param_name

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
    loading canonical parameters is a plain copy.
    """

    def __init__(self, config: GRUConfig) -> None:
        self.config = config
        self.params: dict[str, torch.Tensor] = self.default_params()

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
                params[param_name(kind, layer, reverse)] = torch.empty(shape, dtype=self.param_dtype).uniform_(-k, k)
        return params

    def load(self, params: CanonicalParams) -> None:
        self.params = params.tensors(self.param_dtype)

    def weights(self, layer: int, reverse: bool) -> Weights:
        def get(kind: str) -> torch.Tensor:
            name = param_name(kind, layer, reverse)
            if name in self.params:
                return self.params[name]
            return torch.zeros(3 * self.config.hidden_size, dtype=self.param_dtype)  # bias=False

        return Weights(get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"))

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

    # A whole sequence -----------------------------------------------------------
    def add_batch_axis(self, x: torch.Tensor, h0: torch.Tensor | None):
        """Unbatched (T, I) and (L*D, H) -> a batch of one, time-major."""
        return x.unsqueeze(1), None if h0 is None else h0.unsqueeze(1)

    def initial_state(self, h0: torch.Tensor | None, layer: int, d: int, batch: int) -> torch.Tensor | None:
        if h0 is None:
            return torch.zeros(batch, self.config.hidden_size, dtype=self.param_dtype)
        return h0[layer * self.config.num_directions + d]

    def run_direction(self, x: torch.Tensor, h: torch.Tensor, w: Weights, reverse: bool):
        """States (T, B, H) of one direction in input time order, and its final state."""
        steps = x.shape[0]
        outs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
        for t in reversed(range(steps)) if reverse else range(steps):
            h = self.step(x[t], h, w)
            outs[t] = h
        return torch.stack(outs), h

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

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        unbatched = x.dim() == 2
        if unbatched:
            x, h0 = self.add_batch_axis(x, h0)
        elif self.config.batch_first:
            x = x.transpose(0, 1)
        steps, batch = x.shape[0], x.shape[1]
        if steps == 0:
            raise ValueError("empty sequence: T must be at least 1")
        layer_input, finals = x, []
        for layer in range(self.config.num_layers):
            halves = []
            for d in range(self.config.num_directions):
                reverse = d == 1
                h = self.initial_state(h0, layer, d, batch)
                outs, h_last = self.run_direction(layer_input, h, self.weights(layer, reverse), reverse)
                halves.append(outs)
                finals.append(self.final_state(outs, h_last, reverse))
            layer_input = torch.cat(halves, dim=-1)
            if layer < self.config.num_layers - 1:
                layer_input = self.between_layers(layer_input, layer)
        return self.arrange(layer_input, torch.stack(finals), unbatched)

    def __call__(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        return self.forward(x, h0)


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

    def run(self, gru: ReferenceGRU, x: torch.Tensor, h0: torch.Tensor | None):
        return gru(x, h0)


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

    def step(self, gru: ReferenceGRU, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return gru.step(x, h, gru.weights(0, False))


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

    def run_direction(self, x, h, w, reverse):
        outs = []
        for t in reversed(range(x.shape[0])) if reverse else range(x.shape[0]):
            h = self.step(x[t], h, w)
            outs.append(h)
        return torch.stack(outs), h


class ReverseNotReversedGRU(ReferenceGRU):
    """The reverse direction runs from t = 0 like the forward one (only its weights differ)."""

    def run_direction(self, x, h, w, reverse):
        return super().run_direction(x, h, w, False)


class H0WrongSlotGRU(ReferenceGRU):
    """h0 indexed by layer only, h0[layer]: the reverse direction (and deeper layers) start
    from another slot's state; nn.GRU's slot is h0[layer * D + d]."""

    def initial_state(self, h0, layer, d, batch):
        if h0 is None:
            return super().initial_state(h0, layer, d, batch)
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


class StaleWorkspaceGRU(ReferenceGRU):
    """For batches of 3 or more without h0, the initial state comes from a workspace kept on
    the instance and reused without zeroing: it still holds the previous call's final states."""

    workspace: torch.Tensor | None = None

    def initial_state(self, h0, layer, d, batch):
        if h0 is not None or batch < 3:
            return super().initial_state(h0, layer, d, batch)
        slots = self.config.num_layers * self.config.num_directions
        shape = (slots, batch, self.config.hidden_size)
        if self.workspace is None or tuple(self.workspace.shape) != shape:
            self.workspace = torch.zeros(shape, dtype=self.param_dtype)
        return self.workspace[layer * self.config.num_directions + d].clone()

    def forward(self, x, h0=None):
        output, h_n = super().forward(x, h0)
        if h0 is None and self.workspace is not None and self.workspace.shape == h_n.shape:
            self.workspace.copy_(h_n)  # the workspace is where the final states were written
        return output, h_n


class NoneSkipsBiasGRU(ReferenceGRU):
    """h0 = None takes a shortcut: with no state, the recurrent term is skipped at the first
    step (W_hh 0 = 0), and b_hh with it; h0 = zeros goes the normal way."""

    def initial_state(self, h0, layer, d, batch):
        return None if h0 is None else super().initial_state(h0, layer, d, batch)

    def step(self, x, h, w):
        if h is None:
            h = torch.zeros(x.shape[0], self.config.hidden_size, dtype=x.dtype)
            w = w._replace(b_hh=torch.zeros_like(w.b_hh))
        return super().step(x, h, w)


class H0IgnoredGRU(ReferenceGRU):
    """h0 accepted but ignored: every run starts from zeros."""

    def initial_state(self, h0, layer, d, batch):
        return super().initial_state(None, layer, d, batch)


class H0InPlaceGRU(ReferenceGRU):
    """The state is updated in place in the tensor it started as: the caller's h0 is overwritten."""

    def run_direction(self, x, h, w, reverse):
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

    def forward(self, x, h0=None):
        return super().forward(x.float(), None if h0 is None else h0.float())


class DropoutOnGRU(ReferenceGRU):
    """Built with dropout=0.5 and left in training mode: dropout between layers on every call."""

    def between_layers(self, y, layer):
        return torch.nn.functional.dropout(y, p=0.5, training=True)


class SortedBatchGRU(ReferenceGRU):
    """Batch rows sorted (largest input first, as for packing by length) and never unsorted."""

    def forward(self, x, h0=None):
        if x.dim() == 3:
            batch_axis = 0 if self.config.batch_first else 1
            other = [a for a in range(3) if a != batch_axis]
            order = x.abs().sum(dim=other).argsort(descending=True)
            x = x.index_select(batch_axis, order)
            h0 = None if h0 is None else h0.index_select(1, order)
        return super().forward(x, h0)


class UnbatchedAsBatchGRU(ReferenceGRU):
    """Unbatched (T, I) given its batch axis in front, (1, T, I): read time-major, that is one
    step of a batch of T."""

    def add_batch_axis(self, x, h0):
        return x.unsqueeze(0), None if h0 is None else h0.unsqueeze(1)

    def arrange(self, output, h_n, unbatched):
        if unbatched:
            return output.squeeze(0), h_n.squeeze(1)
        return super().arrange(output, h_n, unbatched)


# --------------------------------------------------------------------------- adapters


def _layer(gru: type[ReferenceGRU], label: str) -> type[ReferenceLayer]:
    return type(f"{gru.__name__}Layer", (ReferenceLayer,),
                {"gru_class": gru, "name": f"mutant {label}", "__doc__": gru.__doc__,
                 "__module__": __name__})


def _cell(gru: type[ReferenceGRU], label: str) -> type[ReferenceCell]:
    return type(f"{gru.__name__}Cell", (ReferenceCell,),
                {"gru_class": gru, "name": f"mutant {label}", "__doc__": gru.__doc__,
                 "__module__": __name__})


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class Mutant:
    """One deliberately wrong implementation and what the suite must say about it."""

    id: str
    #: A CellAdapter or LayerAdapter subclass (instantiate it to grade).
    adapter: type
    #: The bug class, in BRIEF section 3's words where it has one.
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
       {"contract.dtype", "equations.step"}),
    _m("dropout-on", _layer(DropoutOnGRU, "dropout on"),
       "dropout left on between layers (training mode at inference)",
       "nn.GRU documentation: dropout acts between layers in training only",
       "layer k > 0 reads its input with half the units zeroed (and the rest doubled), "
       "a new mask on every call",
       {"contract.deterministic", "equations.step"}, {"contract.stateless", "contract.unbatched"}),
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
]

MUTANTS_BY_ID: dict[str, Mutant] = {m.id: m for m in MUTANTS}

__all__ = ["MUTANTS", "MUTANTS_BY_ID", "Mutant", "ReferenceCell", "ReferenceGRU", "ReferenceLayer", "Weights"]


def describe(mutant: Mutant) -> dict[str, Any]:
    """A JSON-friendly row of the catalogue."""
    return {"id": mutant.id, "kind": mutant.adapter.kind, "bug": mutant.bug, "source": mutant.source,
            "truth": mutant.truth, "caught_by": sorted(mutant.caught_by)}
