"""Variant oracles: the float64 GRU equations with every known deviation as a switch.

``conformance.model.oracle`` computes the equations the suite grades against; this
module computes what an implementation computes *instead* when it places the
reset elsewhere, drops b_hn, flips the update polarity, reads the canonical
gate blocks in another order, ignores or doubles a bias vector, or mishandles
directions, layers and h0. With every switch at its default, ``variant_forward``
is the PyTorch GRU (``conformance.model.oracle.gru_forward``) up to rounding.

Cell switches (``CellVariant``), for one step from x and h, with the blocks of
the canonical parameters read as the implementation reads them::

    r    = g(gx_r + gh_r)                  gx = W_ih x + f_ih * b_ih,  gh = W_hh h + f_hh * b_hh
    z    = g(gx_z + gh_z)                  g: sigmoid, or hard sigmoid clip(0.2 a + 0.5, 0, 1)
    core = r * (W_hn h)     reset "after"  |  W_hn (r * h)   reset "before"  |  W_hn h   reset "none"
    (with ``fold_b_hh``, gx also holds b_hh, as when b_hh is folded into b_ih and kept)
    n    = tanh(gx_n + core + b)    b = r * b_hn "inside" | b_hn "outside" | 0 "dropped"
    h'   = one of UPDATES (standard: (1 - z) * n + z * h)

and the structural deviations of hand-written cells: a gate with no input term
(``no_input``: its W_i x + b_i is missing), no recurrent term (``no_recurrent``:
W_h h + b_h missing; for n the whole reset product), or no bias in one block
(``no_bias``: "b_ir" ... "b_hn").

Structure switches (``Structure``) say how the cells are assembled into a
bidirectional, multi-layer run: whether the reverse direction really reads the
sequence from its end, whether its outputs are put back in input time order,
which direction and layer each h0 and h_n slot belongs to, and how layer k > 0
reads the halves of layer k - 1.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from conformance.model.oracle import sigmoid
from conformance.base.params import CanonicalParams

Order = tuple[int, int, int]
IDENTITY: Order = (0, 1, 2)
GATE_NAMES = ("r", "z", "n")

#: State updates h' = a n + b z n + c h + d z h + e z: formula text and (a, b, c, d, e).
UPDATES: dict[str, tuple[str, tuple[float, float, float, float, float]]] = {
    "standard": ("h' = (1 - z) * n + z * h", (1, -1, 0, 1, 0)),
    "complement": ("h' = (1 - z) * h + z * n", (0, 1, 1, -1, 0)),
    # ``h * 1 - z + z * n``: the multiplication binds first, so (1 - z) never forms.
    "slip": ("h' = h - z + z * n", (0, 1, 1, 0, -1)),
    "slip-standard": ("h' = n - z + z * h", (1, 0, 0, 1, -1)),
    "no-candidate-gate": ("h' = n + z * h", (1, 0, 0, 1, 0)),
    "no-state-gate": ("h' = (1 - z) * n + h", (1, -1, 1, 0, 0)),
}


def apply_update(update: str, z: np.ndarray, n: np.ndarray, h: np.ndarray) -> np.ndarray:
    a, b, c, d, e = UPDATES[update][1]
    with np.errstate(over="ignore", invalid="ignore"):
        return a * n + b * z * n + c * h + d * z * h + e * z


#: Where the reset gate acts in the candidate: after the recurrent matmul, before it, or
#: not at all ("none": a candidate without the reset gate, n = tanh(W_in x + b_in + W_hn h + b_hn)).
RESETS = ("after", "before", "none")
#: The bias blocks a cell can leave out one by one.
BIAS_BLOCKS = ("b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn")
#: Gate activations of r and z.
GATE_ACTIVATIONS = ("sigmoid", "hard sigmoid")
B_HN = ("inside", "outside", "dropped")
BIAS_FACTORS = (1, 0, 2)
ORDERS: tuple[Order, ...] = tuple(itertools.permutations(range(3)))  # type: ignore[arg-type]


def order_text(order: Order) -> str:
    """(1, 0, 2) -> "z, r, n": the canonical blocks read as the implementation's r, z, n."""
    return ", ".join(GATE_NAMES[i] for i in order)


@dataclass(frozen=True)
class CellVariant:
    """How one step reads the canonical parameters and what it computes."""

    reset: str = "after"
    b_hn: str = "inside"
    update: str = "standard"
    #: order[g] is the canonical block the implementation uses as its gate g (r, z, n).
    order_w_ih: Order = IDENTITY
    order_w_hh: Order = IDENTITY
    order_b_ih: Order = IDENTITY
    order_b_hh: Order = IDENTITY
    #: How many times each bias vector is added (0: ignored, 2: counted twice).
    bias_ih: int = 1
    bias_hh: int = 1
    #: b_hh also added to the input projection (folded into b_ih for a one-bias format,
    #: and still added in the recurrent projection).
    fold_b_hh: bool = False
    #: r and z through the logistic sigmoid, or the hard sigmoid (old Keras default).
    gates: str = "sigmoid"
    #: Gates ("r", "z", "n") whose input term W_i x + b_i is missing.
    no_input: tuple[str, ...] = ()
    #: Gates whose recurrent term W_h h + b_h is missing (for n: the whole reset product).
    no_recurrent: tuple[str, ...] = ()
    #: Bias blocks (of BIAS_BLOCKS) that are left out.
    no_bias: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.reset not in RESETS:
            raise ValueError(f"reset is {self.reset!r}, but should be one of {RESETS}")
        if self.b_hn not in B_HN:
            raise ValueError(f"b_hn is {self.b_hn!r}, but should be one of {B_HN}")
        if self.gates not in GATE_ACTIVATIONS:
            raise ValueError(f"gates is {self.gates!r}, but should be one of {GATE_ACTIVATIONS}")
        if self.update not in UPDATES:
            raise ValueError(f"update is {self.update!r}, but should be one of {tuple(UPDATES)}")
        for name in ("order_w_ih", "order_w_hh", "order_b_ih", "order_b_hh"):
            if getattr(self, name) not in ORDERS:
                raise ValueError(f"{name} is {getattr(self, name)!r}, but should be a permutation of (0, 1, 2)")
        for name, allowed in (("no_input", GATE_NAMES), ("no_recurrent", GATE_NAMES), ("no_bias", BIAS_BLOCKS)):
            value = getattr(self, name)
            if value == ():
                continue
            if not isinstance(value, tuple) or not set(value) <= set(allowed) or value != _in_order(value, allowed):
                raise ValueError(f"{name} is {value!r}, but should be a tuple of distinct names from {allowed}, "
                                 "in that order")

    def with_order(self, order: Order) -> "CellVariant":
        """All four tensors read in the same block order."""
        return replace(self, order_w_ih=order, order_w_hh=order, order_b_ih=order, order_b_hh=order)

    @property
    def orders(self) -> tuple[Order, Order, Order, Order]:
        return (self.order_w_ih, self.order_w_hh, self.order_b_ih, self.order_b_hh)

    def differences(self, other: "CellVariant") -> list[str]:
        """Names of the switches that differ (orders count once per tensor)."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    def to_json(self) -> dict[str, Any]:
        return {
            "reset": self.reset,
            "b_hn": self.b_hn,
            "update": self.update,
            "update_formula": UPDATES[self.update][0],
            "gate_order": {
                "weight_ih": order_text(self.order_w_ih),
                "weight_hh": order_text(self.order_w_hh),
                "bias_ih": order_text(self.order_b_ih),
                "bias_hh": order_text(self.order_b_hh),
            },
            "bias_ih_times": self.bias_ih,
            "bias_hh_times": self.bias_hh,
            "b_hh_folded_into_input": self.fold_b_hh,
            "gates": self.gates,
            "no_input_term": list(self.no_input),
            "no_recurrent_term": list(self.no_recurrent),
            "no_bias": list(self.no_bias),
        }


def _in_order(names: tuple[str, ...] | list[str] | set[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for n in allowed if n in set(names))


def toggled(names: tuple[str, ...], name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` with ``name`` added, or removed when it is there (kept in ``allowed``'s order)."""
    return _in_order(set(names) ^ {name}, allowed)


def canonical(v: CellVariant) -> CellVariant:
    """The simplest spelling of the function ``v`` computes, so that variants equal for
    all parameters count once: switches that cannot act are reset (b_hn's position when
    no b_hh is added in the recurrent projection; the block order of an ignored bias;
    the terms of a gate nothing reads), and b_hh moved entirely into the input projection
    is b_hn outside the reset product. A dropped b_hn is spelled ``b_hn="dropped"``, a
    whole bias vector left out ``bias_ih=0`` / ``bias_hh=0``."""
    # One pass can enable another rule (a bias left out block by block becomes bias_ih=0,
    # whose block order then no longer counts): repeat until nothing changes.
    for _ in range(4):
        simpler = _canonical_pass(v)
        if simpler == v:
            return v
        v = simpler
    return v


def _canonical_pass(v: CellVariant) -> CellVariant:
    # The search spells thousands of variants: work on plain values, build one variant at the end.
    reset, b_hn, bias_ih, bias_hh, fold = v.reset, v.b_hn, v.bias_ih, v.bias_hh, v.fold_b_hh
    no_input, no_recurrent, no_bias = v.no_input, v.no_recurrent, v.no_bias
    if fold and bias_hh == 0 and not (no_input or no_recurrent):
        fold, bias_hh, b_hn = False, 1, "outside"
    if no_input or no_recurrent or no_bias or reset == "none":
        kept = set(no_bias)
        if "b_hn" in kept and not fold:  # folded, b_hn also reaches the input side: not just "dropped"
            kept.discard("b_hn")
            b_hn = "dropped"
        if "n" in no_recurrent:
            reset, b_hn = "after", "inside"  # no recurrent term in n: neither r nor b_hn reaches anything
        if reset == "none" and b_hn == "inside":
            b_hn = "outside"  # no r to multiply: b_hn is added as it is
        inputs, recurrents = set(no_input), set(no_recurrent)
        if reset == "none" or "n" in recurrents:
            inputs.discard("r"), recurrents.discard("r"), kept.difference_update({"b_ir", "b_hr"})
        kept.difference_update({f"b_i{g}" for g in inputs})
        if not fold:  # folded, b_h* also reaches the input side, which the recurrent term does not hold
            kept.difference_update({f"b_h{g}" for g in recurrents})
        if {"b_ir", "b_iz", "b_in"} <= kept and not fold:
            bias_ih = 0
        if bias_ih == 0:
            kept.difference_update({"b_ir", "b_iz", "b_in"})
        if b_hn == "dropped" and {"b_hr", "b_hz"} <= kept and not fold:
            bias_hh = 0
        if bias_hh == 0 and not fold:
            kept.difference_update({"b_hr", "b_hz"})
        no_input, no_recurrent = _in_order(inputs, GATE_NAMES), _in_order(recurrents, GATE_NAMES)
        no_bias = _in_order(kept, BIAS_BLOCKS)
    order_w_ih, order_w_hh, order_b_ih, order_b_hh = v.order_w_ih, v.order_w_hh, v.order_b_ih, v.order_b_hh
    if bias_hh == 0:
        b_hn = "inside"
    if no_input or no_recurrent or no_bias or reset == "none" or (b_hn == "dropped" and bias_hh and not fold):
        # A gate that reads no block of a tensor leaves that block to whichever gate: the
        # blocks nobody reads are given out in their own order.
        unread_r = {"r"} if reset == "none" else set()
        order_w_ih = _free_order(order_w_ih, set(no_input) | unread_r)
        order_w_hh = _free_order(order_w_hh, set(no_recurrent) | unread_r)
        if bias_ih:
            order_b_ih = _free_order(order_b_ih, set(no_input) | unread_r | {b[3] for b in no_bias if b[:3] == "b_i"})
        if bias_hh and not fold:
            dropped = {"n"} if b_hn == "dropped" else set()
            order_b_hh = _free_order(order_b_hh, set(no_recurrent) | unread_r | dropped
                                     | {b[3] for b in no_bias if b[:3] == "b_h"})
    # An ignored bias vector reads no block: spelled in its weight's order.
    if bias_hh == 0 and not fold:  # folded, b_hh still reaches the input side in its own block order
        order_b_hh = order_w_hh
    if bias_ih == 0:
        order_b_ih = order_w_ih
    changed = (reset, b_hn, bias_ih, bias_hh, fold, no_input, no_recurrent, no_bias,
               order_w_ih, order_w_hh, order_b_ih, order_b_hh) != (
        v.reset, v.b_hn, v.bias_ih, v.bias_hh, v.fold_b_hh, v.no_input, v.no_recurrent, v.no_bias,
        v.order_w_ih, v.order_w_hh, v.order_b_ih, v.order_b_hh)
    if not changed:
        return v
    return replace(v, reset=reset, b_hn=b_hn, bias_ih=bias_ih, bias_hh=bias_hh, fold_b_hh=fold, no_input=no_input,
                   no_recurrent=no_recurrent, no_bias=no_bias, order_w_ih=order_w_ih, order_w_hh=order_w_hh,
                   order_b_ih=order_b_ih, order_b_hh=order_b_hh)


def _free_order(order: Order, unread: set[str]) -> Order:
    """``order`` with the gates in ``unread`` given the blocks the others leave, in ascending order."""
    if not unread:
        return order
    kept = {g: order[g] for g in range(3) if GATE_NAMES[g] not in unread}
    spare = iter(sorted(set(range(3)) - set(kept.values())))
    return tuple(kept[g] if g in kept else next(spare) for g in range(3))  # type: ignore[return-value]


#: The PyTorch GRU (eq. 1-4): reset after the matmul, b_hn inside, standard update.
PYTORCH = CellVariant()
#: The reset-before GRU (eq. 3'): d2l, Keras reset_after=False, ONNX linear_before_reset=0.
RESET_BEFORE = CellVariant(reset="before", b_hn="outside")
#: The conventions an implementation can claim, by the adapter's ``reset`` value.
CLAIMED = {"after": PYTORCH, "before": RESET_BEFORE}


@dataclass(frozen=True)
class CellBlocks:
    """One layer and direction's parameters split into per-gate blocks."""

    w_ih: np.ndarray  # (3, H, in)
    w_hh: np.ndarray  # (3, H, H)
    b_ih: np.ndarray  # (3, H)
    b_hh: np.ndarray  # (3, H)

    @classmethod
    def of(cls, params: CanonicalParams, layer: int = 0, reverse: bool = False) -> "CellBlocks":
        hidden = params.hidden_size

        def split(a: np.ndarray) -> np.ndarray:
            return a.reshape(3, hidden, *a.shape[1:])

        return cls(
            split(params.get("weight_ih", layer, reverse)),
            split(params.get("weight_hh", layer, reverse)),
            split(params.get("bias_ih", layer, reverse)),
            split(params.get("bias_hh", layer, reverse)),
        )


@dataclass
class StepParts:
    """A step's intermediate quantities (each (B, H)) and the gates' pre-activations."""

    r: np.ndarray
    z: np.ndarray
    n: np.ndarray
    h: np.ndarray
    pre_r: np.ndarray
    pre_z: np.ndarray
    pre_n: np.ndarray


def _keep(names: tuple[str, ...], prefix: str = "") -> np.ndarray:
    """(3, 1) factors: 0 for the gates named (as "r" or, with a prefix, "b_ir"), 1 otherwise."""
    return np.asarray([[0.0 if prefix + g in names else 1.0] for g in GATE_NAMES])


def _prepared(v: CellVariant, blocks: CellBlocks) -> tuple[np.ndarray, ...]:
    """The blocks in the variant's order with its bias factors and missing terms applied."""
    b_hh = blocks.b_hh[list(v.order_b_hh)] * _keep(v.no_bias, "b_h")
    b_ih = blocks.b_ih[list(v.order_b_ih)] * v.bias_ih * _keep(v.no_bias, "b_i")
    w_ih, w_hh = blocks.w_ih[list(v.order_w_ih)], blocks.w_hh[list(v.order_w_hh)]
    b_in = b_ih + b_hh if v.fold_b_hh else b_ih
    b_re = b_hh * v.bias_hh
    if v.no_input:
        keep = _keep(v.no_input)
        w_ih, b_in = w_ih * keep[:, :, None], b_in * keep
    if v.no_recurrent:
        keep = _keep(v.no_recurrent)
        w_hh, b_re = w_hh * keep[:, :, None], b_re * keep
    return w_ih, w_hh, b_in, b_re


def gate_activation(v: CellVariant, a: np.ndarray) -> np.ndarray:
    return sigmoid(a) if v.gates == "sigmoid" else np.clip(0.2 * a + 0.5, 0.0, 1.0)


def _step(v: CellVariant, xw: np.ndarray, h: np.ndarray, wh: np.ndarray, bh: np.ndarray) -> StepParts:
    """One step from the input projections ``xw`` (3, B, H), which already hold f_ih * b_ih."""
    pre_r = xw[0] + h @ wh[0].T + bh[0]
    pre_z = xw[1] + h @ wh[1].T + bh[1]
    r, z = gate_activation(v, pre_r), gate_activation(v, pre_z)
    if v.reset == "after":
        core = r * (h @ wh[2].T)
    elif v.reset == "before":
        core = (r * h) @ wh[2].T
    else:
        core = h @ wh[2].T
    if v.b_hn == "inside":
        core = core + (bh[2] if v.reset == "none" else r * bh[2])
    elif v.b_hn == "outside":
        core = core + bh[2]
    pre_n = xw[2] + core
    n = np.tanh(pre_n)
    return StepParts(r, z, n, apply_update(v.update, z, n, h), pre_r, pre_z, pre_n)


def variant_step(v: CellVariant, x: np.ndarray, h: np.ndarray, blocks: CellBlocks) -> StepParts:
    """One step of variant ``v`` from x (B, in) and h (B, H), with its r, z and n."""
    wi, wh, bi, bh = _prepared(v, blocks)
    xw = np.einsum("bi,ghi->gbh", x, wi) + bi[:, None, :]
    return _step(v, xw, np.asarray(h, dtype=np.float64), wh, bh)


def variant_direction(
    v: CellVariant, x: np.ndarray, h0: np.ndarray, blocks: CellBlocks, *, backwards: bool = False
) -> np.ndarray:
    """States (T, B, H) of one direction, indexed by input time."""
    steps = x.shape[0]
    wi, wh, bi, bh = _prepared(v, blocks)
    # The input projections of every step at once: they do not depend on the state.
    xw = np.einsum("tbi,ghi->tgbh", x, wi) + bi[None, :, None, :]
    states = np.empty((steps, *h0.shape))
    h = h0
    for t in reversed(range(steps)) if backwards else range(steps):
        h = _step(v, xw[t], h, wh, bh).h
        states[t] = h
    return states


#: The switches of the candidate formula, vectorized by ``formula_states`` (without the reset
#: gate, b_hn "inside" and "outside" are the same formula: one of them is enough).
FORMULAS: tuple[tuple[str, str, str], ...] = tuple(
    f for f in itertools.product(RESETS, B_HN, UPDATES) if not (f[0] == "none" and f[1] == "inside"))


def formula_states(
    v: CellVariant, x: np.ndarray, h0: np.ndarray, blocks: CellBlocks,
    formulas: tuple[tuple[str, str, str], ...] = FORMULAS,
) -> np.ndarray:
    """States (F, T, B, H) of one forward direction for every (reset, b_hn, update) in
    ``formulas`` at once, with v's gate orders and biases: the same numbers as
    ``variant_direction`` on ``replace(v, reset=, b_hn=, update=)``, up to rounding."""
    wi, wh, bi, bh = _prepared(v, blocks)
    xw = np.einsum("tbi,ghi->tgbh", x, wi) + bi[None, :, None, :]

    def column(values: list[float]) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)[:, None, None]

    after = np.asarray([f[0] == "after" for f in formulas])[:, None, None]
    without = column([f[0] == "none" for f in formulas])
    inside = column([f[1] == "inside" and f[0] != "none" for f in formulas])
    outside = column([f[1] == "outside" or (f[1] == "inside" and f[0] == "none") for f in formulas])
    a, b, c, d, e = (column(list(k)) for k in zip(*(UPDATES[f[2]][1] for f in formulas)))
    steps = x.shape[0]
    h = np.broadcast_to(h0, (len(formulas), *h0.shape)).copy()
    states = np.empty((len(formulas), steps, *h0.shape))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            r = gate_activation(v, xw[t, 0] + h @ wh[0].T + bh[0])
            z = gate_activation(v, xw[t, 1] + h @ wh[1].T + bh[1])
            plain = h @ wh[2].T
            core = np.where(after, r * plain, (r * h) @ wh[2].T)
            core = core + without * (plain - core)
            n = np.tanh(xw[t, 2] + core + inside * r * bh[2] + outside * bh[2])
            h = a * n + b * z * n + c * h + d * z * h + e * z
            states[:, t] = h
    return states


STRUCTURE_CHOICES: dict[str, tuple[str, ...]] = {
    #: Does the reverse direction read the sequence from its end?
    "reverse": ("reversed", "not reversed"),
    #: The backward half of output: in input time order, or left in processing order.
    "backward_output": ("input order", "processing order"),
    #: Which state lands in each h_n slot.
    "h_n": ("layer-major", "directions swapped", "direction-major", "backward after one step",
            "last layer only"),
    #: Which h0 slot each layer and direction starts from.
    "h0": ("used", "ignored", "directions swapped", "direction-major", "indexed by layer only"),
    #: What layer k > 0 reads: the halves of layer k - 1 forward first, or swapped.
    "chaining": ("forward half first", "backward half first"),
}

STRUCTURE_TEXT: dict[tuple[str, str], str] = {
    ("reverse", "not reversed"): "the reverse direction reads the sequence in forward order",
    ("backward_output", "processing order"): "the backward half of output is left in processing "
    "(reversed) time order instead of input time order",
    ("h_n", "directions swapped"): "h_n holds the directions swapped (backward state in the forward slot)",
    ("h_n", "direction-major"): "h_n is ordered direction-major (D, L) instead of layer-major (L, D)",
    ("h_n", "backward after one step"): "h_n's backward slot holds the reverse direction's state after "
    "one step (at t = T-1, where output[-1] has it), not its final state (at t = 0)",
    ("h_n", "last layer only"): "h_n is read from the last layer's output sequence only: every layer's "
    "slots hold the last layer's final states",
    ("h0", "ignored"): "h0 is ignored: every run starts from zeros",
    ("h0", "directions swapped"): "h0's direction slots are swapped (the reverse direction starts "
    "from the forward direction's h0)",
    ("h0", "direction-major"): "h0 is read direction-major (D, L) instead of layer-major (L, D)",
    ("h0", "indexed by layer only"): "h0 is indexed by layer only, h0[layer] instead of "
    "h0[layer * D + d]: the reverse direction (and deeper layers) start from another slot's state",
    ("chaining", "backward half first"): "layer k > 0 reads the previous layer's halves in the "
    "wrong order (backward half first)",
}


@dataclass(frozen=True)
class Structure:
    """How cells are assembled into layers and directions."""

    reverse: str = "reversed"
    backward_output: str = "input order"
    h_n: str = "layer-major"
    h0: str = "used"
    chaining: str = "forward half first"

    def __post_init__(self) -> None:
        for name, choices in STRUCTURE_CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} is {getattr(self, name)!r}, but should be one of {choices}")

    def differences(self, other: "Structure | None" = None) -> list[str]:
        other = other or Structure()
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    def deviations_text(self) -> list[str]:
        return [STRUCTURE_TEXT[(name, getattr(self, name))] for name in self.differences()]

    def to_json(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


STANDARD = Structure()


def _slot(layer: int, d: int, num_layers: int, num_dirs: int, how: str) -> int:
    if how == "indexed by layer only":
        return layer
    if how == "directions swapped" and num_dirs == 2:
        d = 1 - d
    if how == "direction-major":
        return d * num_layers + layer
    return layer * num_dirs + d


@dataclass
class VariantRun:
    output: np.ndarray  # (T, B, D*H)
    h_n: np.ndarray  # (L*D, B, H)
    #: states[layer][direction] (T, B, H), indexed by input time.
    states: list[list[np.ndarray]]


def variant_forward(
    x: np.ndarray,
    params: CanonicalParams,
    h0: np.ndarray | None = None,
    cell: CellVariant = PYTORCH,
    structure: Structure = STANDARD,
    cache: dict[Any, np.ndarray] | None = None,
) -> VariantRun:
    """The whole GRU (all layers and directions) under the given switches.

    ``cache`` (a dict kept by the caller for one x, params and cell) reuses the
    directions that several structures share."""
    x = np.asarray(x, dtype=np.float64)
    steps, batch, _ = x.shape
    hidden, num_layers, num_dirs = params.hidden_size, params.num_layers, params.num_directions
    zeros = np.zeros((batch, hidden))
    layer_input = x
    all_states: list[list[np.ndarray]] = []
    finals: dict[tuple[int, int], np.ndarray] = {}
    for layer in range(num_layers):
        directions, halves = [], []
        for d in range(num_dirs):
            if h0 is None or structure.h0 == "ignored":
                start = zeros
            else:
                start = np.asarray(h0, dtype=np.float64)[_slot(layer, d, num_layers, num_dirs, structure.h0)]
            backwards = d == 1 and structure.reverse == "reversed"
            key = (layer, d, backwards, layer_input.tobytes(), start.tobytes()) if cache is not None else None
            if key is not None and key in cache:
                states = cache[key]
            else:
                states = variant_direction(cell, layer_input, start, CellBlocks.of(params, layer, d == 1),
                                           backwards=backwards)
                if key is not None:
                    cache[key] = states
            directions.append(states)
            leave_reversed = backwards and structure.backward_output == "processing order"
            half = states[::-1] if leave_reversed else states
            halves.append(half)
            if steps == 0:
                finals[(layer, d)] = start
            elif structure.h_n == "backward after one step":
                finals[(layer, d)] = states[-1]
            else:
                finals[(layer, d)] = states[0] if backwards else states[-1]
        all_states.append(directions)
        if structure.chaining == "backward half first" and layer + 1 < num_layers:
            layer_input = np.concatenate(halves[::-1], axis=-1)
        else:
            layer_input = np.concatenate(halves, axis=-1)
        if layer + 1 == num_layers:
            output = np.concatenate(halves, axis=-1)
    h_n = np.empty((num_layers * num_dirs, batch, hidden))
    how = structure.h_n if structure.h_n in ("directions swapped", "direction-major") else "layer-major"
    for (layer, d), state in finals.items():
        if structure.h_n == "last layer only":
            state = finals[(num_layers - 1, d)]
        h_n[_slot(layer, d, num_layers, num_dirs, how)] = state
    return VariantRun(output=output, h_n=h_n, states=all_states)


def structures(*, bidirectional: bool, multi_layer: bool, h0: bool) -> list[Structure]:
    """The structure variants that can differ from the standard one for a run of this shape."""
    choices: dict[str, tuple[str, ...]] = {name: (values[0],) for name, values in STRUCTURE_CHOICES.items()}
    if bidirectional:
        choices["reverse"] = STRUCTURE_CHOICES["reverse"]
        choices["backward_output"] = STRUCTURE_CHOICES["backward_output"]
        choices["h_n"] = ("layer-major", "directions swapped", "backward after one step")
    if multi_layer:
        choices["h_n"] = choices["h_n"] + ("last layer only",)
    if bidirectional and multi_layer:
        choices["h_n"] = STRUCTURE_CHOICES["h_n"]
        choices["chaining"] = STRUCTURE_CHOICES["chaining"]
    if h0:
        choices["h0"] = ("used", "ignored")
        if bidirectional:
            choices["h0"] = ("used", "ignored", "directions swapped", "indexed by layer only")
        if bidirectional and multi_layer:
            choices["h0"] = STRUCTURE_CHOICES["h0"]
    names = list(choices)
    found = []
    for values in itertools.product(*(choices[n] for n in names)):
        s = Structure(**dict(zip(names, values)))
        # Leaving the outputs in processing order only means something when the direction is
        # reversed; and the backward state after one step is its final state when it is not.
        if s.reverse == "not reversed" and (s.backward_output != "input order" or s.h_n == "backward after one step"):
            continue
        found.append(s)
    return found


#: Variable-length batches (a padded batch with lengths, as nn.GRU runs a PackedSequence):
#: which recurrences stop at each sample's length, and whether outputs past it are zero.
LENGTH_SWITCHES = ("forward_masked", "reverse_masked", "output_zeroed")
LENGTH_TEXT = {
    "forward_masked": "the forward recurrence runs over the padding, so h_n is the state after T steps, "
    "not after the sample's length",
    "reverse_masked": "the reverse direction ignores the lengths: it starts at t = T - 1, in the padding",
    "output_zeroed": "outputs past a sample's length are not zero: they repeat its state",
}


def lengths_forward(
    x: np.ndarray,
    params: CanonicalParams,
    lengths: list[int],
    h0: np.ndarray | None = None,
    cell: CellVariant = PYTORCH,
    *,
    forward_masked: bool = True,
    reverse_masked: bool = True,
    output_zeroed: bool = True,
) -> VariantRun:
    """One layer (either direction count) on a padded batch: where a recurrence is masked,
    the state is carried unchanged over a sample's padding; with every switch True this is
    nn.GRU on a PackedSequence (outputs past each length zero, h_n at each length)."""
    if params.num_layers != 1:
        raise ValueError(f"lengths_forward runs one layer, but params have {params.num_layers}")
    x = np.asarray(x, dtype=np.float64)
    steps, batch, _ = x.shape
    valid = (np.arange(steps)[:, None] < np.asarray(lengths)[None, :])[:, :, None]  # (T, B, 1)
    halves, finals, states_all = [], [], []
    for d in range(params.num_directions):
        blocks = CellBlocks.of(params, 0, d == 1)
        h = np.zeros((batch, params.hidden_size)) if h0 is None else np.asarray(h0, dtype=np.float64)[d]
        masked = forward_masked if d == 0 else reverse_masked
        states = np.empty((steps, batch, params.hidden_size))
        for t in reversed(range(steps)) if d == 1 else range(steps):
            new = variant_step(cell, x[t], h, blocks).h
            h = np.where(valid[t], new, h) if masked else new
            states[t] = h
        states_all.append(states)
        halves.append(np.where(valid, states, 0.0) if output_zeroed else states)
        finals.append(h)
    return VariantRun(output=np.concatenate(halves, axis=-1), h_n=np.stack(finals), states=[states_all])
