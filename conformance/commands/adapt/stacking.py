"""Several layers, both directions, the other layout: what a layer class's constructor can
be asked for beyond one layer and one direction.

A layer whose constructor takes the number of layers or the directions (``num_layers``,
``bidirectional`` and their usual other names, ``conformance.commands.adapt.construct``) is built
with two layers and both directions. Its tensors are matched by name to the tensors of the
one-layer, one-direction instance probing mapped: the same name once a layer index is read
as that index and a direction word (``reverse``, ``backward``, ``bwd``...) as the reverse
direction. Each gets its layer-0 counterpart's role, filled from its own layer's and
direction's canonical parameters (``CanonicalParams.cell``); the code that reaches it is run
on the instance to make sure it does; and the whole is compared with the float64 oracle at
two layers and both directions. Only a claim that passes this is made. A ``batch_first``
argument is tried the same way, with the other layout.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.commands.adapt.call_forms import CallForm, Runner
from conformance.commands.adapt.roles import Role
from conformance.commands.adapt.slots import Slot, Writer, find_slots

#: Words that mark the reverse direction in a parameter's name, and the forward one.
#: (Not "b" and "f": a bias is b_ir.)
REVERSE_WORDS = {"reverse", "reversed", "backward", "backwards", "bwd", "bw", "back", "rev", "bkw"}
FORWARD_WORDS = {"forward", "forwards", "fwd", "fw"}
TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


@dataclass
class Stack:
    """What building the thing with more than one layer or direction, or in the other layout, found."""

    multi_layer: bool = False
    bidirectional: bool = False
    #: The other layout works too (batch-first and time-major both claimed).
    both_layouts: bool = False
    #: Slot index (layer 0, forward) -> access code for the forward and reverse directions,
    #: with ``{layer}`` where the layer index goes.
    templates: dict[int, dict[str, str]] = field(default_factory=dict)
    #: The largest error against the oracle in the verifying run.
    error: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"multi_layer": self.multi_layer, "bidirectional": self.bidirectional,
                "both_layouts": self.both_layouts, "templates": {str(k): v for k, v in self.templates.items()},
                "error": self.error, "notes": self.notes}


def stackable(form: CallForm) -> str:
    """Why layers and directions cannot be claimed for this call form ("" when they can)."""
    if form.kind != "layer":
        return "a cell: the suite runs it over layers and directions itself"
    if form.h0 == "2d":
        return "it takes h0 as (B, H): one state, not one per layer and direction"
    if form.h0 == "3d" and not form.h0_optional:
        return "its h0 is required, and the adapter cannot know how many layers and directions to give zeros for"
    if form.returns != "output" and not form.hn_3d:
        return "it returns h_n as (B, H): one state, not one per layer and direction"
    return ""


# Matching names -------------------------------------------------------------------------------
def _parts(name: str) -> tuple[tuple[str, ...], list[int], bool | None]:
    """A name's tokens with digits as "#" and direction words left out, its numbers, and
    its direction (None when no word says)."""
    tokens = TOKEN.findall(name)
    words = [t.lower() for t in tokens]
    direction = True if REVERSE_WORDS & set(words) else False if FORWARD_WORDS & set(words) else None
    key = tuple("#" if t.isdigit() else t for t, w in zip(tokens, words)
                if w not in REVERSE_WORDS | FORWARD_WORDS)
    return key, [int(t) for t in tokens if t.isdigit()], direction


def match(base: list[Slot], roles: dict[int, Role], stacked: list[Slot], layers: int,
          directions: int) -> dict[tuple[int, bool, int], int] | None:
    """(layer, reverse, base slot index) -> stacked slot index, covering every mapped base
    slot once in every layer and direction; None when the names do not say."""
    base_keys = {i: _parts(base[i].name) for i in roles}
    for read_index in ("layer", "layer*directions+direction"):
        found: dict[tuple[int, bool, int], int] = {}
        for j, slot in enumerate(stacked):
            key, numbers, direction = _parts(slot.name)
            owners = [i for i, (k, nums, _) in base_keys.items() if k == key and len(nums) == len(numbers)]
            if len(owners) != 1:
                continue
            i = owners[0]
            differ = [n for n, m in zip(numbers, base_keys[i][1]) if n != m]
            if len(differ) > 1:
                break
            index = differ[0] if differ else 0
            if read_index == "layer":
                layer, reverse = index, bool(direction)
            elif direction is None:
                layer, reverse = divmod(index, directions)
                reverse = bool(reverse)
            else:
                break
            if (layer, reverse, i) in found or layer >= layers or (reverse and directions == 1):
                break
            found[(layer, reverse, i)] = j
        else:
            wanted = {(k, bool(d), i) for k in range(layers) for d in range(directions) for i in roles}
            if set(found) == wanted:
                return found
    return None


# Writing the access code -------------------------------------------------------------------------
def template(access: str, layer: int, layers: int) -> str | None:
    """The access code with the layer index as ``{layer}`` (the number that equals ``layer``,
    checked on the names of another layer by the caller); unchanged for one layer."""
    if layers == 1:
        return access
    numbers = [m for m in re.finditer(r"\d+", access) if int(m.group()) == layer]
    if len(numbers) != 1:
        return None
    m = numbers[0]
    return access[:m.start()] + "{layer}" + access[m.end():]


def code(instance: str, access: str) -> str:
    """Python reaching the tensor from ``instance`` for a template: ``[{layer}]`` indexes with
    ``layer``; a name holding ``{layer}`` is read with ``getattr`` and an f-string."""
    out = instance
    for part in re.findall(r'\.__getattr__\("[^"]*"\)|\.[A-Za-z_{}][\w{}]*|\[[^\]]*\]', access):
        if part.startswith(".__getattr__("):
            name = part[len('.__getattr__("'):-2]
            out = f'getattr({out}, f"{name}")' if "{layer}" in name else f"{out}{part}"
        elif part.startswith(".") and "{layer}" in part:
            out = f'getattr({out}, f"{part[1:]}")'
        elif part == "[{layer}]":
            out += "[layer]"
        elif part.startswith('["') and "{layer}" in part:
            out += f"[f{part[1:-1]}]"
        else:
            out += part
    return out


def reaches_all(obj: Any, templates: dict[int, dict[str, str]], found: dict[tuple[int, bool, int], int],
                slots: list[Slot]) -> bool:
    """The code written for every layer and direction, run on the instance, gives its tensor."""
    for (layer, reverse, i), j in found.items():
        text = code("instance", templates[i]["reverse" if reverse else "forward"])
        try:
            if eval(text, {}, {"instance": obj, "layer": layer}) is not slots[j].ref:  # noqa: S307
                return False
        except Exception:  # noqa: BLE001
            return False
    return True


# Probing ----------------------------------------------------------------------------------------
def verify(runner: Runner, form: CallForm, slots: list[Slot], found: dict[tuple[int, bool, int], int],
           roles: dict[int, Role], reset: str, update: str, layers: int, directions: int,
           hidden: int, inputs: int, rng: np.random.Generator) -> float:
    """Load random canonical parameters through the matched roles and compare the run with
    the oracle's (largest error; inf when it raises)."""
    from conformance.model import layouts
    from conformance.base.conventions import complement_params
    from conformance.model.oracle import gru_forward
    from conformance.base.params import random_params

    worst = 0.0
    writer = Writer(slots)
    biased = any(r.kind != "weight" for r in roles.values())
    for _ in range(2):
        params = random_params(rng, inputs, hidden, num_layers=layers, bidirectional=directions == 2,
                               bias=biased, scale=2.0)
        if any(r.folded() for r in roles.values()) and reset == "after":
            params = params.without_b_hn()
        loaded = complement_params(params) if update == "complement" else params
        values = {}
        for (layer, reverse, i), j in found.items():
            one = loaded.cell(layer, reverse)
            values[j] = roles[i].value(one, layouts.per_gate(one), reset)
        writer.write(values, set(values))
        x = rng.normal(size=(3, 4, inputs))
        takes_h0 = form.h0 != "none"
        h0 = rng.uniform(-1, 1, (layers * directions, 4, hidden)) if takes_h0 else None
        try:
            output, h_n = runner.run_stack(form, x, h0)
        except Exception:  # noqa: BLE001
            return float("inf")
        want = gru_forward(x, params, h0, reset=reset)
        for got, expected in ((output, want.output), (h_n, want.h_n)):
            if got is None:
                continue
            if got.shape != expected.shape:
                return float("inf")
            worst = max(worst, float(np.max(np.abs(got - expected))))
    return worst if np.isfinite(worst) else float("inf")


def probe_stack(build: Any, base: list[Slot], form: CallForm, roles: dict[int, Role], reset: str, update: str,
                options: dict[str, str], sizes: dict[str, int], tolerance: float, runner_of: Any) -> Stack:
    """Build with two layers and both directions (what the constructor allows), match the
    tensors to layer 0's, verify; then the other layout. ``build(**config)`` makes an
    instance, ``runner_of(obj)`` a runner for it."""
    stack = Stack()
    why = stackable(form)
    asked = [f for f in ("num_layers", "bidirectional") if f in options]
    if why and asked:
        stack.notes.append(f"several layers and directions not claimed: {why}")
    if not why and asked:
        layers = 2 if "num_layers" in asked else 1
        directions = 2 if "bidirectional" in asked else 1
        _stacked(stack, build, base, form, roles, reset, update, layers, directions, sizes, tolerance, runner_of)
    if "batch_first" in options and form.kind == "layer" and not why:
        other = dataclasses.replace(form, batch_first=not form.batch_first)
        try:
            obj = build(batch_first=other.batch_first)
            slots = find_slots(obj)
            found = match(base, roles, slots, 1, 1)
            error = float("inf") if found is None else verify(
                runner_of(obj), other, slots, found, roles, reset, update, 1, 1, sizes["hidden_size"],
                sizes["input_size"], np.random.default_rng(21))
        except Exception as exc:  # noqa: BLE001 - the other layout is not claimed
            stack.notes.append(f"built with {options['batch_first']}={other.batch_first} it raised "
                               f"{type(exc).__name__}: {str(exc)[:160]} (that layout is not claimed)")
        else:
            stack.both_layouts = error <= tolerance
            if not stack.both_layouts:
                stack.notes.append(f"built with {options['batch_first']}={other.batch_first} it does not compute "
                                   f"the same GRU in that layout (error {error:.2g}): not claimed")
    return stack


def _stacked(stack: Stack, build: Any, base: list[Slot], form: CallForm, roles: dict[int, Role], reset: str,
             update: str, layers: int, directions: int, sizes: dict[str, int], tolerance: float,
             runner_of: Any) -> None:
    what = " and ".join(w for w, on in (("two layers", layers == 2), ("both directions", directions == 2)) if on)
    try:
        obj = build(num_layers=layers, bidirectional=directions == 2)
        slots = find_slots(obj)
    except Exception as exc:  # noqa: BLE001 - not claimed, and said why
        stack.notes.append(f"built with {what} it raised {type(exc).__name__}: {str(exc)[:160]} (not claimed)")
        return
    found = match(base, roles, slots, layers, directions)
    if found is None:
        stack.notes.append(f"built with {what}, its tensors' names do not tell which layer and direction each "
                           f"belongs to (not claimed): {', '.join(s.name for s in slots[:12])}")
        return
    templates: dict[int, dict[str, str]] = {}
    for i in roles:
        pair = {}
        for reverse in (False, True)[:directions]:
            j = found[(layers - 1, reverse, i)]
            text = template(slots[j].access, layers - 1, layers)
            if text is None:
                stack.notes.append(f"built with {what}, the code reaching {slots[j].name} does not show its layer "
                                   f"index once (not claimed)")
                return
            pair["reverse" if reverse else "forward"] = text
        pair.setdefault("reverse", pair["forward"])
        templates[i] = pair
    if not reaches_all(obj, templates, found, slots):
        stack.notes.append(f"built with {what}, the code written for each layer and direction does not reach its "
                           f"tensors (not claimed)")
        return
    error = verify(runner_of(obj), form, slots, found, roles, reset, update, layers, directions,
                   sizes["hidden_size"], sizes["input_size"], np.random.default_rng(20))
    stack.error = error if np.isfinite(error) else None
    if error <= tolerance:
        stack.multi_layer, stack.bidirectional = layers == 2, directions == 2
        stack.templates = templates
    else:
        shown = f"{error:.2g}" if np.isfinite(error) else "a failure"
        stack.notes.append(f"built with {what} and loaded layer by layer it departs from the GRU equations "
                           f"(error {shown}): not claimed")
