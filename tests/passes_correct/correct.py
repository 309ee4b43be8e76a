"""Correct implementations, written independently of one another, that must pass every
check that applies to them: if one fails, the suite (not the implementation) is wrong.

Each computes the PyTorch GRU (eq. 1-4) by another route:

* ``GRUCellLoopLayer``: a layer built from ``nn.GRUCell``s, with its own handling of
  layers, directions, batch_first, h0 and unbatched input;

Each also claims autograd and reads its parameter gradients back in canonical layout
(undoing its own conversion), so the gradient checks are held to them too.
* ``ZRNCell``: gates stored in z, r, n order (ONNX/Keras layout); its adapter reorders
  the canonical r, z, n rows on load;
* ``TanhIdentityCell``: one weight set per gate, ``einsum`` products,
  sigmoid(a) = (1 + tanh(a / 2)) / 2 and h' = n + z * (h - n);
* ``FullReferenceLayer`` / ``FullReferenceCell``: the unmutated reference of ``tests/catches_bugs/mutants.py``,
  claiming autograd, variable lengths and four dtypes;
* ``ComplementCell``: the complement polarity h' = (1 - u) * h + u * n; its adapter
  negates the update gate's weights and biases on load, since 1 - sigmoid(a) = sigmoid(-a).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from conformance import Capabilities, CellAdapter, GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams, param_name
from tests.catches_bugs.mutants import FullReferenceCell, FullReferenceLayer

FLOATS = (torch.float32, torch.float64)


def check_batch(x: torch.Tensor, h: torch.Tensor) -> None:
    """A cell's x (B, I) and h (B, H) must agree on B (nn.GRUCell raises otherwise)."""
    if x.dim() != 2 or h.dim() != 2 or h.shape[0] != x.shape[0]:
        raise ValueError(f"x {tuple(x.shape)} and h {tuple(h.shape)} must be (B, I) and (B, H)")


def _tensor(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(array), dtype=like.dtype)


# --------------------------------------------------------------------------- (a) nn.GRUCell stack


class GRUCellStack(nn.Module):
    """nn.GRU's interface, computed by one nn.GRUCell per layer and direction."""

    def __init__(self, config: GRUConfig) -> None:
        super().__init__()
        self.config = config
        cells = {}
        for layer in range(config.num_layers):
            in_size = config.input_size if layer == 0 else config.num_directions * config.hidden_size
            for d in range(config.num_directions):
                cells[self.key(layer, d)] = nn.GRUCell(in_size, config.hidden_size, bias=config.bias,
                                                       dtype=config.dtype)
        self.cells = nn.ModuleDict(cells)

    @staticmethod
    def key(layer: int, d: int) -> str:
        return f"l{layer}" + ("_reverse" if d else "")

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        cfg = self.config
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
            h0 = None if h0 is None else h0.unsqueeze(1)
        elif cfg.batch_first:
            x = x.transpose(0, 1)
        steps, batch = x.shape[0], x.shape[1]
        slots = cfg.num_layers * cfg.num_directions
        if h0 is not None and tuple(h0.shape) != (slots, batch, cfg.hidden_size):
            raise ValueError(f"h0 has shape {tuple(h0.shape)}, expected {(slots, batch, cfg.hidden_size)}")
        if h0 is None:
            h0 = x.new_zeros(cfg.num_layers * cfg.num_directions, batch, cfg.hidden_size)
        sequence, finals = x, []
        for layer in range(cfg.num_layers):
            halves = []
            for d in range(cfg.num_directions):
                cell = self.cells[self.key(layer, d)]
                h = h0[layer * cfg.num_directions + d]
                states = [None] * steps
                for t in (range(steps - 1, -1, -1) if d else range(steps)):
                    h = cell(sequence[t], h)
                    states[t] = h
                halves.append(torch.stack(states))
                finals.append(h)
            sequence = torch.cat(halves, dim=2)
        h_n = torch.stack(finals)
        if unbatched:
            return sequence[:, 0], h_n[:, 0]
        return (sequence.transpose(0, 1) if cfg.batch_first else sequence), h_n


class GRUCellLoopLayer(LayerAdapter):
    """A layer looping over ``nn.GRUCell`` (layers, directions, layout and h0 its own)."""

    name = "nn.GRUCell loop"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, time_major=True, batch_first=True,
                                h0=True, unbatched=True, dtypes=FLOATS, autograd=True)

    def build(self, config: GRUConfig) -> GRUCellStack:
        return GRUCellStack(config)

    def load(self, stack: GRUCellStack, params: CanonicalParams) -> None:
        with torch.no_grad():
            for layer in range(params.num_layers):
                for d in range(params.num_directions):
                    cell = stack.cells[stack.key(layer, d)]
                    for kind, target in (("weight_ih", cell.weight_ih), ("weight_hh", cell.weight_hh),
                                         ("bias_ih", cell.bias_ih), ("bias_hh", cell.bias_hh)):
                        target.copy_(_tensor(params.get(kind, layer, d == 1), target))

    def grads(self, stack: GRUCellStack) -> dict[str, torch.Tensor]:
        found = {}
        for layer in range(stack.config.num_layers):
            for d in range(stack.config.num_directions):
                cell = stack.cells[stack.key(layer, d)]
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    found[param_name(kind, layer, d == 1)] = getattr(cell, kind).grad
        return found

    def run(self, stack, x, h0):
        return stack(x, h0)


# --------------------------------------------------------------------------- (b) z, r, n storage


class ZRNGRUCell(nn.Module):
    """Parameters stored with row blocks z | r | n, as in ONNX and Keras."""

    def __init__(self, input_size: int, hidden_size: int, dtype: torch.dtype) -> None:
        super().__init__()
        k = 1.0 / math.sqrt(hidden_size)
        self.hidden_size = hidden_size
        self.W = nn.Parameter(torch.empty(3 * hidden_size, input_size, dtype=dtype).uniform_(-k, k))
        self.R = nn.Parameter(torch.empty(3 * hidden_size, hidden_size, dtype=dtype).uniform_(-k, k))
        self.Wb = nn.Parameter(torch.empty(3 * hidden_size, dtype=dtype).uniform_(-k, k))
        self.Rb = nn.Parameter(torch.empty(3 * hidden_size, dtype=dtype).uniform_(-k, k))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        check_batch(x, h)
        H = self.hidden_size
        xw = x @ self.W.T + self.Wb
        hr = h @ self.R.T + self.Rb
        z = torch.sigmoid(xw[:, :H] + hr[:, :H])
        r = torch.sigmoid(xw[:, H:2 * H] + hr[:, H:2 * H])
        n = torch.tanh(xw[:, 2 * H:] + r * hr[:, 2 * H:])
        return z * h + (1 - z) * n


def rzn_to_zrn(array: np.ndarray) -> np.ndarray:
    r, z, n = np.split(array, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


class ZRNCell(CellAdapter):
    """A cell storing its gates in z, r, n order; ``load`` reorders canonical r, z, n."""

    name = "z,r,n cell"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, dtypes=FLOATS, autograd=True)

    def build(self, config: GRUConfig) -> ZRNGRUCell:
        return ZRNGRUCell(config.input_size, config.hidden_size, config.dtype)

    def load(self, cell: ZRNGRUCell, params: CanonicalParams) -> None:
        with torch.no_grad():
            for target, kind in ((cell.W, "weight_ih"), (cell.R, "weight_hh"), (cell.Wb, "bias_ih"),
                                 (cell.Rb, "bias_hh")):
                target.copy_(_tensor(rzn_to_zrn(params.get(kind)), target))

    def grads(self, cell: ZRNGRUCell) -> dict[str, torch.Tensor]:
        def rzn(grad: torch.Tensor) -> torch.Tensor:  # z, r, n blocks back to canonical r, z, n
            z, r, n = grad.chunk(3, dim=0)
            return torch.cat([r, z, n])

        return {f"{kind}_l0": rzn(p.grad) for kind, p in (("weight_ih", cell.W), ("weight_hh", cell.R),
                                                           ("bias_ih", cell.Wb), ("bias_hh", cell.Rb))}

    def step(self, cell, x, h):
        return cell(x, h)


# --------------------------------------------------------------------------- (c) per-gate, tanh identity


class PerGateCell:
    """One (W_i, W_h, b_i, b_h) per gate; sigmoid through tanh; h' = n + z * (h - n)."""

    def __init__(self, input_size: int, hidden_size: int, dtype: torch.dtype) -> None:
        k = 1.0 / math.sqrt(hidden_size)

        def u(*shape: int) -> torch.Tensor:
            return torch.empty(*shape, dtype=dtype).uniform_(-k, k)

        self.gate = {g: {"W_i": u(hidden_size, input_size), "W_h": u(hidden_size, hidden_size),
                         "b_i": u(hidden_size), "b_h": u(hidden_size)} for g in "rzn"}

    @staticmethod
    def logistic(a: torch.Tensor) -> torch.Tensor:
        return 0.5 * (1.0 + torch.tanh(0.5 * a))

    def affine(self, g: str, part: str, v: torch.Tensor) -> torch.Tensor:
        p = self.gate[g]
        return torch.einsum("uk,bk->bu", p[f"W_{part}"], v) + p[f"b_{part}"]

    def __call__(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        check_batch(x, h)
        w = self.gate["r"]["W_i"]
        # einsum would broadcast a size-1 axis and promote dtypes: check as nn.GRUCell does.
        if x.shape[1] != w.shape[1] or h.shape[1] != w.shape[0] or x.dtype != w.dtype or h.dtype != w.dtype:
            raise ValueError(f"x {tuple(x.shape)} {x.dtype} and h {tuple(h.shape)} {h.dtype} do not fit "
                             f"the cell ({w.shape[1]} inputs, {w.shape[0]} units, {w.dtype})")
        r = self.logistic(self.affine("r", "i", x) + self.affine("r", "h", h))
        z = self.logistic(self.affine("z", "i", x) + self.affine("z", "h", h))
        n = torch.tanh(self.affine("n", "i", x) + r * self.affine("n", "h", h))
        return n + z * (h - n)


class TanhIdentityCell(CellAdapter):
    """Per-gate weights, ``einsum`` products, sigmoid(a) = (1 + tanh(a/2)) / 2."""

    name = "per-gate tanh-identity cell"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, dtypes=FLOATS, autograd=True)

    def build(self, config: GRUConfig) -> PerGateCell:
        return PerGateCell(config.input_size, config.hidden_size, config.dtype)

    def load(self, cell: PerGateCell, params: CanonicalParams) -> None:
        for g in "rzn":
            p = cell.gate[g]
            for name, kind in (("W_i", "weight_ih"), ("W_h", "weight_hh"), ("b_i", "bias_ih"), ("b_h", "bias_hh")):
                p[name] = _tensor(params.get(kind, gate=g), p[name]).requires_grad_(True)  # type: ignore[arg-type]

    def grads(self, cell: PerGateCell) -> dict[str, torch.Tensor]:
        return {f"{kind}_l0": torch.cat([cell.gate[g][name].grad for g in "rzn"])
                for name, kind in (("W_i", "weight_ih"), ("W_h", "weight_hh"), ("b_i", "bias_ih"), ("b_h", "bias_hh"))}

    def step(self, cell, x, h):
        return cell(x, h)


# --------------------------------------------------------------------------- (e) complement polarity


class ComplementGRUCell(nn.Module):
    """Chung et al. style update h' = (1 - u) * h + u * n (u the update gate)."""

    def __init__(self, input_size: int, hidden_size: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.x2h = nn.Linear(input_size, 3 * hidden_size, dtype=dtype)
        self.h2h = nn.Linear(hidden_size, 3 * hidden_size, dtype=dtype)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        check_batch(x, h)
        xr, xu, xn = self.x2h(x).chunk(3, dim=1)
        hr, hu, hn = self.h2h(h).chunk(3, dim=1)
        r = torch.sigmoid(xr + hr)
        u = torch.sigmoid(xu + hu)
        n = torch.tanh(xn + r * hn)
        return (1 - u) * h + u * n


class ComplementCell(CellAdapter):
    """The complement polarity, made the PyTorch GRU by negating the update gate on load:
    1 - sigmoid(a) = sigmoid(-a)."""

    name = "complement-polarity cell"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, dtypes=FLOATS, autograd=True)

    def build(self, config: GRUConfig) -> ComplementGRUCell:
        return ComplementGRUCell(config.input_size, config.hidden_size, config.dtype)

    def load(self, cell: ComplementGRUCell, params: CanonicalParams) -> None:
        hidden = params.hidden_size
        sign = np.ones((3 * hidden, 1))
        sign[hidden:2 * hidden] = -1.0  # the z rows
        with torch.no_grad():
            for linear, part in ((cell.x2h, "ih"), (cell.h2h, "hh")):
                linear.weight.copy_(_tensor(params.get(f"weight_{part}") * sign, linear.weight))
                linear.bias.copy_(_tensor(params.get(f"bias_{part}") * sign[:, 0], linear.bias))

    def grads(self, cell: ComplementGRUCell) -> dict[str, torch.Tensor]:
        # d/d(canonical) = sign * d/d(stored): the z rows were negated on load.
        hidden = cell.h2h.in_features
        sign = torch.ones(3 * hidden, dtype=cell.x2h.weight.dtype)
        sign[hidden:2 * hidden] = -1.0
        return {f"weight_{part}_l0": linear.weight.grad * sign[:, None] for linear, part in
                ((cell.x2h, "ih"), (cell.h2h, "hh"))} | {
                f"bias_{part}_l0": linear.bias.grad * sign for linear, part in ((cell.x2h, "ih"), (cell.h2h, "hh"))}

    def step(self, cell, x, h):
        return cell(x, h)


# --------------------------------------------------------------------------- claims of real code


class _TorchGRU(LayerAdapter):
    """nn.GRU, the base of the implementations below, each of which claims one thing real
    code does differently (no biases, one direction only, a shared initial state, one result)."""

    reset = "after"
    bias = True
    always_bidirectional = False
    capabilities = Capabilities(bidirectional=True, multi_layer=True, batch_first=True,
                                dtypes=FLOATS, autograd=True)

    def build(self, config: GRUConfig) -> nn.GRU:
        return nn.GRU(config.input_size, config.hidden_size, config.num_layers, bias=self.bias,
                      batch_first=config.batch_first,
                      bidirectional=config.bidirectional or self.always_bidirectional, dtype=config.dtype)

    def load(self, gru: nn.GRU, params: CanonicalParams) -> None:
        gru.load_state_dict(params.tensors(gru.weight_ih_l0.dtype))

    def run(self, gru, x, h0):
        return gru(x, h0)

    def grads(self, gru):
        return {name: p.grad for name, p in gru.named_parameters()}


class NoBiasGRU(_TorchGRU):
    """nn.GRU(bias=False): it has no biases at all."""

    bias = False
    capabilities = replace(_TorchGRU.capabilities, biases=False)


class BidirectionalOnlyGRU(_TorchGRU):
    """Always bidirectional (an encoder that never runs one direction)."""

    always_bidirectional = True
    capabilities = replace(_TorchGRU.capabilities, unidirectional=False)


class SharedH0GRU(_TorchGRU):
    """Takes one initial state (B, H) and starts every layer and direction from it."""

    capabilities = replace(_TorchGRU.capabilities, h0_shared=True)

    def run(self, gru, x, h0):
        if h0 is not None:
            h0 = h0.unsqueeze(0).expand(gru.num_layers * (2 if gru.bidirectional else 1), *h0.shape).contiguous()
        return gru(x, h0)


class OutputOnlyGRU(_TorchGRU):
    """Returns only the output sequence (a sequence-labelling encoder)."""

    capabilities = replace(_TorchGRU.capabilities, returns="output")

    def run(self, gru, x, h0):
        return gru(x, h0)[0]


class StateOnlyGRU(_TorchGRU):
    """Returns only the final state h_n (a classifier's encoder)."""

    capabilities = replace(_TorchGRU.capabilities, returns="state")

    def run(self, gru, x, h0):
        return gru(x, h0)[1]


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class Correct:
    """A correct implementation and how it differs from the others."""

    id: str
    #: A CellAdapter or LayerAdapter subclass (instantiate it to grade).
    adapter: type
    how: str


CORRECT: list[Correct] = [
    Correct("gru-cell-loop", GRUCellLoopLayer,
            "nn.GRUCell per layer and direction; own layers, directions, batch_first, h0, unbatched"),
    Correct("zrn-cell", ZRNCell, "gates stored z, r, n; the adapter reorders canonical r, z, n"),
    Correct("tanh-identity-cell", TanhIdentityCell,
            "per-gate weights, einsum, sigmoid via tanh, h' = n + z (h - n)"),
    Correct("reference-layer", FullReferenceLayer,
            "the unmutated reference of tests/catches_bugs/mutants.py as a layer, claiming everything it supports"),
    Correct("reference-cell", FullReferenceCell,
            "the unmutated reference of tests/catches_bugs/mutants.py as a cell, claiming everything it supports"),
    Correct("complement-cell", ComplementCell,
            "h' = (1 - u) h + u n with the update gate's weights and biases negated on load"),
    Correct("no-bias-gru", NoBiasGRU, "nn.GRU(bias=False), claiming no biases"),
    Correct("bidirectional-only-gru", BidirectionalOnlyGRU, "always bidirectional, claiming it"),
    Correct("shared-h0-gru", SharedH0GRU, "one (B, H) initial state for every layer and direction"),
    Correct("output-only-gru", OutputOnlyGRU, "returns only the output sequence"),
    Correct("state-only-gru", StateOnlyGRU, "returns only the final state"),
]

__all__ = ["CORRECT", "Correct"]
