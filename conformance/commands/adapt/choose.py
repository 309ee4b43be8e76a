"""Choosing among the fits: exact before close, names kept, one module's tensors together.

Several hypotheses can fit exactly and be the same function: b_iz and b_hz only ever
appear summed, as do b_ir and b_hr (and b_in and b_hn in the reset-before GRU), so which
tensor is called which does not matter to the result. Among those the written adapter
takes the one whose names agree (``conformance.commands.adapt.gate_names``), whose Linear modules
keep weight and bias on one side and gate, and which lists b_i before b_h.

When every exact fit contradicts the names (the tensor named for z acts as r), the code
uses its gates swapped relative to its own names: the adapter follows the names (the
declared layout), so grading shows the swap, and says how to map by behaviour instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from conformance.commands.adapt.gate_names import tokens, trusted_gates
from conformance.commands.adapt.roles import Role
from conformance.commands.adapt.search import CONVENTIONS, Fit, exact
from conformance.commands.adapt.slots import Slot


@dataclass
class Choice:
    fit: Fit
    exact: bool
    #: Exact fits other than the one chosen that compute the same function.
    equivalents: int = 0
    #: Conventions other than the chosen one that fit as exactly (undetermined when any).
    other_conventions: list[tuple[str, str]] = field(default_factory=list)
    #: (slot index, declared gate, gate it acts as) where the names disagree with behaviour.
    conflicts: list[tuple[int, str, str]] = field(default_factory=list)
    #: The exact fit by behaviour, when the chosen one follows the names instead.
    behaviour: Fit | None = None
    #: The next best fit in another convention (how sure the convention is).
    runner_up: Fit | None = None


def trusted_names(slots: list[Slot], options: dict[int, list[Role]]) -> dict[int, str]:
    """Gates declared by the names of one-gate tensors, where the names form full sets."""
    groups: dict[tuple, list[tuple[int, str]]] = {}
    for i, roles in options.items():
        if roles and all(len(r.gates) == 1 for r in roles):
            groups.setdefault((roles[0].kind, slots[i].shape), []).append((i, slots[i].name))
    return trusted_gates(groups)


def _side(name: str) -> str | None:
    found = set()
    for token in tokens(name):
        if len(token) == 3 and token[0] in "wub" and token[1] in "xih" and token[2] in "rzn":
            found.add("h" if token[1] == "h" else "i")
        elif token in ("ih", "input", "x", "xh", "inp", "i2h", "x2h") or token.startswith(("ih", "input")):
            found.add("i")
        elif token in ("hh", "hidden", "recurrent", "rec", "h2h", "u") or token.startswith(("hh", "recurrent")):
            found.add("h")
    return found.pop() if len(found) == 1 else None


def _conflicts(fit: Fit, trusted: dict[int, str]) -> list[tuple[int, str, str]]:
    return [(i, trusted[i], role.gates[0]) for i, role in fit.roles.items()
            if i in trusted and len(role.gates) == 1 and role.gates[0] != trusted[i]]


def _penalty(fit: Fit, slots: list[Slot]) -> int:
    """What a layout usually is, to rank equivalent fits (and close ones): one gate order
    for the fused tensors, a module's weight and bias on one side and gate, the side names
    say kept."""
    penalty = 0
    by_owner: dict[str, list[Role]] = {}
    for i, role in fit.roles.items():
        if slots[i].owner:
            by_owner.setdefault(slots[i].owner, []).append(role)
        side = _side(slots[i].name)
        if side and role.kind == "bias" and role.source in "ih" and role.source != side:
            penalty += 1
    # Tensors holding all three gates keep one gate order (a layout has one).
    orders = {r.gates for r in fit.roles.values() if len(r.gates) == 3}
    penalty += max(0, len(orders) - 1)
    matching = {"i": "i", "h": "h", "xh": "f", "hx": "f"}
    for roles in by_owner.values():
        weights = [r for r in roles if r.kind == "weight"]
        biases = [r for r in roles if r.kind == "bias"]
        for w in weights:
            for b in biases:
                if b.gates != w.gates or matching[w.source] != b.source:
                    penalty += 1
    return penalty


def relabelled(fit: Fit, trusted: dict[int, str]) -> dict[int, Role] | None:
    """The fit's roles with every named tensor given the gate its name declares, or None
    when that does not give each block one tensor."""
    roles = {i: (replace(r, gates=(trusted[i],)) if i in trusted and len(r.gates) == 1 else r)
             for i, r in fit.roles.items()}
    held: list[str] = [b for r in roles.values() for b in r.blocks()]
    return roles if len(held) == len(set(held)) else None


def choose(fits: list[Fit], slots: list[Slot], trusted: dict[int, str], tolerance: float,
           form_rank: dict) -> Choice | None:
    if not fits:
        return None
    for fit in fits:
        fit.name_conflicts = len(_conflicts(fit, trusted))
        fit.penalty = _penalty(fit, slots)
    conv_rank = {c: n for n, c in enumerate(CONVENTIONS)}

    def key(f: Fit) -> tuple:
        return (f.name_conflicts, f.penalty, form_rank.get(f.form, 99), f.order, conv_rank[(f.reset, f.update)])

    exact_fits = [f for f in fits if exact(f, tolerance)]
    if exact_fits:
        best = min(exact_fits, key=key)
        same_roles = [f for f in exact_fits if f.roles == best.roles and f.form == best.form and f is not best]
        others = [(f.reset, f.update) for f in same_roles if (f.reset, f.update) != (best.reset, best.update)]
        choice = Choice(best, True, equivalents=len({tuple(sorted(f.roles.items(), key=lambda t: t[0]))
                                                      for f in exact_fits}) - 1,
                        other_conventions=list(dict.fromkeys(others)))
    else:
        # The weights' structure first (it decides reset placement and gate order), then
        # the whole error: a bias in the wrong place is a bug of a layout, not another layout.
        best = min(fits, key=lambda f: (f.weights_error > tolerance, f.penalty, f.error) + key(f))
        choice = Choice(best, False)
    rivals = [f for f in fits if f.roles == best.roles and f.form == best.form and
              (f.reset, f.update) != (best.reset, best.update)]
    choice.runner_up = min(rivals, key=lambda f: f.error) if rivals else None
    choice.conflicts = _conflicts(best, trusted)
    return choice
