"""Every switch of a cell variant (``conformance.model.variants.CellVariant``), described once:
its name in the diagnosis, its title, the values the search tries, and how a change
is said in words and which quantity it acts on.

Adding a switch to the variant oracle means one entry here: the search
(``conformance.diagnosis.fitting``) tries its choices, the switch report says whether
the probes determine it, and the wording (``conformance.diagnosis.wording``) names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from conformance.model.variants import (
    B_HN,
    BIAS_BLOCKS,
    BIAS_FACTORS,
    GATE_ACTIVATIONS,
    GATE_NAMES,
    ORDERS,
    RESETS,
    UPDATES,
    CellVariant,
    order_text,
    toggled,
)

ORDER_FIELDS = ("order_w_ih", "order_w_hh", "order_b_ih", "order_b_hh")
TENSOR_NAMES = {"order_w_ih": "weight_ih", "order_w_hh": "weight_hh", "order_b_ih": "bias_ih", "order_b_hh": "bias_hh"}


@dataclass(frozen=True)
class Deviation:
    """One way a variant differs from a named convention, in words."""

    switch: str
    text: str
    #: The intermediate quantity the change acts on (r, z, n, h', a bias...).
    quantity: str


@dataclass(frozen=True)
class Switch:
    """One switch: ``field`` of CellVariant (gate_order: the four order fields)."""

    name: str
    title: str
    field: str
    #: Values the search tries; for a set-valued switch, the names it toggles one at a time.
    choices: tuple[Any, ...]
    #: Whether the value is a set of names (toggled one by one) rather than one of the choices.
    toggles: bool = False
    #: Whether the search tries it (the gate activation is looked for by the precision probe only).
    searched: bool = True
    #: What a change from ``base`` to ``v`` says, as deviations (none when it cannot act in ``v``).
    describe: Callable[[CellVariant, CellVariant], list[Deviation]] = lambda v, base: []

    def value(self, v: CellVariant) -> Any:
        if self.name == "gate_order":
            return tuple(getattr(v, f) for f in ORDER_FIELDS)
        return getattr(v, self.field)

    def shown(self, value: Any) -> Any:
        """The value as the JSON report shows it."""
        if self.name == "gate_order":
            return {TENSOR_NAMES[f]: order_text(o) for f, o in zip(ORDER_FIELDS, value)}
        if self.toggles:
            return list(value)
        return value

    def neighbours(self, v: CellVariant) -> list[CellVariant]:
        """Variants one change of this switch away from ``v``."""
        if not self.searched:
            return []
        if self.name == "gate_order":
            groups = [(f,) for f in ORDER_FIELDS] + [
                ("order_w_ih", "order_b_ih"), ("order_w_hh", "order_b_hh"),
                ("order_w_ih", "order_w_hh"), ("order_b_ih", "order_b_hh"), ORDER_FIELDS,
            ]
            return [replace(v, **{f: order for f in group}) for group in groups for order in ORDERS]
        if self.toggles:
            return [replace(v, **{self.field: toggled(getattr(v, self.field), name, self.choices)})
                    for name in self.choices]
        return [replace(v, **{self.field: value}) for value in self.choices]


# Wording of each switch -------------------------------------------------------------
def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


RESET_TEXT = {
    "after": "the reset gate is applied after the recurrent matmul, r * (W_hn h)",
    "before": "the reset gate is applied before the recurrent matmul, W_hn (r * h)",
    "none": "the candidate has no reset gate: n = tanh(W_in x + b_in + W_hn h + b_hn)",
}
B_HN_TEXT = {
    "inside": "b_hn is inside the reset product (r * b_hn)",
    "outside": "b_hn is outside the reset product",
    "dropped": "b_hn is dropped",
}
UPDATE_TEXT = {
    "complement": "the update has complement polarity, h' = (1 - z) * h + z * n (the same as "
    "negating z's weights and biases)",
    "slip": "the state update is h' = h - z + z * n (an operator-precedence slip: h * 1 - z + z * n "
    "written for h * (1 - z) + z * n)",
}


def _reset(v: CellVariant, base: CellVariant) -> list[Deviation]:
    if v.reset == base.reset or "n" in v.no_recurrent:
        return []
    return [Deviation("reset", RESET_TEXT[v.reset], "n" if v.reset != "none" else "n (no reset gate)")]


def _b_hn(v: CellVariant, base: CellVariant) -> list[Deviation]:
    if v.b_hn == base.b_hn or v.bias_hh == 0 or "n" in v.no_recurrent:
        return []
    if v.reset == "none" and {v.b_hn, base.b_hn} == {"inside", "outside"}:
        return []  # without r, inside and outside are the same
    return [Deviation("b_hn", B_HN_TEXT[v.b_hn], "n")]


def _update(v: CellVariant, base: CellVariant) -> list[Deviation]:
    if v.update == base.update:
        return []
    text = UPDATE_TEXT.get(v.update, f"the state update is {UPDATES[v.update][0]}")
    return [Deviation("update", text, "z (its polarity)" if v.update == "complement" else "h' (the update)")]


def _order_change(order: tuple[int, int, int]) -> str:
    moved = [GATE_NAMES[g] for g in range(3) if order[g] != g]
    if len(moved) == 2:
        return f"{moved[0]} and {moved[1]} swapped"
    return f"r, z, n rotated to {order_text(order)}"


def _moved_gates(order: tuple[int, int, int]) -> str:
    return _join([GATE_NAMES[g] for g in range(3) if order[g] != g])


def _gate_order(v: CellVariant, base: CellVariant) -> list[Deviation]:
    relevant = {
        "order_w_ih": True, "order_w_hh": True,
        "order_b_ih": v.bias_ih != 0, "order_b_hh": v.bias_hh != 0 or v.fold_b_hh,
    }
    orders = {f: getattr(v, f) for f in ORDER_FIELDS if relevant[f] and getattr(v, f) != getattr(base, f)}
    if not orders:
        return []
    if len(set(orders.values())) == 1 and len(orders) == sum(relevant.values()):
        order = next(iter(orders.values()))
        return [Deviation("gate_order", f"it reads the canonical gate blocks as {order_text(order)} "
                          f"({_order_change(order)})", _moved_gates(order))]
    found = []
    for order in dict.fromkeys(orders.values()):
        tensors = [TENSOR_NAMES[f] for f, o in orders.items() if o == order]
        found.append(Deviation("gate_order", f"{_join(tensors)} {'is' if len(tensors) == 1 else 'are'} "
                               f"read as {order_text(order)} ({_order_change(order)})", _moved_gates(order)))
    return found


def _bias_factor(name: str) -> Callable[[CellVariant, CellVariant], list[Deviation]]:
    def describe(v: CellVariant, base: CellVariant) -> list[Deviation]:
        factor = getattr(v, name)
        if factor == getattr(base, name):
            return []
        text = f"{name} is ignored" if factor == 0 else f"{name} is added {'twice' if factor == 2 else f'{factor} times'}"
        return [Deviation(name, text, f"the gates' pre-activations ({name})")]

    return describe


def _fold(v: CellVariant, base: CellVariant) -> list[Deviation]:
    if v.fold_b_hh == base.fold_b_hh:
        return []
    text = ("b_hh is counted twice: folded into the input bias (b_ih + b_hh) and added again in the "
            "recurrent projection (every gate gets 2 b_hh; b_hn sits both outside and inside the reset product)"
            if v.fold_b_hh else "b_hh is not folded into the input bias")
    return [Deviation("fold_b_hh", text, "the input projection (b_hh folded in)")]


def _gates(v: CellVariant, base: CellVariant) -> list[Deviation]:
    if v.gates == base.gates:
        return []
    text = ("r and z use a hard sigmoid, clip(0.2 a + 0.5, 0, 1), instead of the logistic sigmoid"
            if v.gates == "hard sigmoid" else "r and z use the logistic sigmoid")
    return [Deviation("gates", text, "r and z")]


def _terms(field: str, kind: str, term: Callable[[str], str]) -> Callable[[CellVariant, CellVariant], list[Deviation]]:
    def describe(v: CellVariant, base: CellVariant) -> list[Deviation]:
        missing = [g for g in getattr(v, field) if g not in getattr(base, field)]
        if not missing:
            return []
        verb = "has" if len(missing) == 1 else "have"
        text = f"{_join(missing)} {verb} no {kind} term ({_join([term(g) for g in missing])} missing)"
        if kind == "input":
            text += f": {_join(missing)} {'does' if len(missing) == 1 else 'do'} not depend on x"
        return [Deviation(field, text, _join(missing))]

    return describe


def _recurrent_term(gate: str) -> str:
    return "r * (W_hn h + b_hn)" if gate == "n" else f"W_h{gate} h + b_h{gate}"


def _no_bias(v: CellVariant, base: CellVariant) -> list[Deviation]:
    missing = [b for b in v.no_bias if b not in base.no_bias]
    if not missing:
        return []
    return [Deviation("no_bias", f"{_join(missing)} {'is' if len(missing) == 1 else 'are'} missing (no bias there)",
                      f"the bias {_join(missing)}")]


SWITCHES: tuple[Switch, ...] = (
    Switch("reset", "reset placement", "reset", RESETS, describe=_reset),
    Switch("b_hn", "position of b_hn", "b_hn", B_HN, describe=_b_hn),
    Switch("update", "state update", "update", tuple(UPDATES), describe=_update),
    Switch("gate_order", "gate order", "order_w_ih", ORDERS, describe=_gate_order),
    Switch("bias_ih", "bias_ih", "bias_ih", BIAS_FACTORS, describe=_bias_factor("bias_ih")),
    Switch("bias_hh", "bias_hh", "bias_hh", BIAS_FACTORS, describe=_bias_factor("bias_hh")),
    Switch("fold_b_hh", "b_hh folded into the input projection", "fold_b_hh", (False, True), describe=_fold),
    Switch("gates", "gate activation of r and z", "gates", GATE_ACTIVATIONS, searched=False, describe=_gates),
    Switch("no_input", "gates without an input term", "no_input", GATE_NAMES, toggles=True,
           describe=_terms("no_input", "input", lambda g: f"W_i{g} x + b_i{g}")),
    Switch("no_recurrent", "gates without a recurrent term", "no_recurrent", GATE_NAMES, toggles=True,
           describe=_terms("no_recurrent", "recurrent", _recurrent_term)),
    Switch("no_bias", "bias blocks left out", "no_bias", BIAS_BLOCKS, toggles=True, describe=_no_bias),
)
SWITCHES_BY_NAME = {s.name: s for s in SWITCHES}
#: The switches whose "undetermined" is worth a word in the summary.
CONVENTION_SWITCHES = ("reset", "b_hn", "update", "gate_order")


def deviations(v: CellVariant, base: CellVariant) -> list[Deviation]:
    """What ``v`` changes relative to ``base``, in words (switches that cannot act left out)."""
    return [d for switch in SWITCHES for d in switch.describe(v, base)]
