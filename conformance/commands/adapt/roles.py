"""What one tensor of an implementation can hold: a role, and the code that fills it.

A role says which canonical gate blocks (W_ir ... W_hn, b_ir ... b_hn) a tensor holds and
how they are laid out: the weights of one, two or three gates stacked by rows, by
columns (a transposed kernel, Keras and JAX style) or along a leading axis; from x
(``i``), from h (``h``) or from the concatenation [x, h] (``xh``, a Linear(I + H, H) per
gate) or [h, x] (``hx``); biases of one side, or folded (b_i + b_h, one bias per gate),
or both sides in one tensor (Keras' (2, 3H)). The candidates for a tensor follow from
its shape alone (``candidates``); probing decides among them.

Each role renders as the expression the written adapter uses, through
``conformance.layouts`` where a helper fits; probing evaluates that same expression, so
what was verified is what is written.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.base.params import GATES

GATE_WORDS = {"r": "reset", "z": "update", "n": "candidate"}
WEIGHT_BLOCKS = tuple(f"W_{side}{g}" for side in "ih" for g in GATES)
BIAS_BLOCKS = tuple(f"b_{side}{g}" for side in "ih" for g in GATES)


@dataclass(frozen=True)
class Role:
    """``kind``: "weight", "bias" or "biases" (b_ih and b_hh in one tensor);
    ``source``: weight "i", "h", "xh", "hx"; bias "i", "h", "f" (folded); biases "ih";
    ``gates``: the gate blocks in the order the tensor holds them;
    ``arrangement``: weight "rows" (kH, in), "cols" (in, kH), "stack" (k, H, in),
    "stack_t" (k, in, H); bias "cat" (kH,), "stack" (k, H); biases "cat" (6H,), "stack" (2, 3H);
    ``shape``: the tensor's own shape (singleton axes kept)."""

    kind: str
    source: str
    gates: tuple[str, ...]
    arrangement: str
    shape: tuple[int, ...]

    # What it covers ----------------------------------------------------------------------
    def blocks(self) -> frozenset[str]:
        if self.kind == "biases":
            return frozenset(BIAS_BLOCKS)
        sides = {"i": "i", "h": "h", "xh": "ih", "hx": "ih", "f": "ih"}[self.source]
        prefix = "W" if self.kind == "weight" else "b"
        return frozenset(f"{prefix}_{side}{g}" for side in sides for g in self.gates)

    def folded(self) -> bool:
        return self.kind == "bias" and self.source == "f"

    # The expression ----------------------------------------------------------------------
    def expression(self, reset: str) -> str:
        """Code computing this tensor's values from ``params`` (canonical) and ``w``
        (``layouts.per_gate(params)``), as float64 NumPy."""
        if self.kind == "weight":
            text = self._weight()
        elif self.kind == "bias":
            text = self._bias(reset)
        else:
            order = "".join(self.gates)
            parts = [f'layouts.kernel(params, "bias_{side}", order="{order}")' for side in ("ih", "hh")]
            text = f"np.{'concatenate' if self.arrangement == 'cat' else 'stack'}([{', '.join(parts)}])"
        singletons = tuple(axis for axis, d in enumerate(self.shape) if d == 1)
        if not singletons:
            return text
        if len(self.shape) == 2:  # a (1, H) or (H, 1) tensor: the readable indexing
            return f"{text}[None, :]" if singletons == (0,) else f"{text}[:, None]"
        return f"np.expand_dims({text}, axis={singletons})"

    def _weight(self) -> str:
        order = "".join(self.gates)
        if len(self.gates) == 3 and self.source in ("i", "h") and self.arrangement in ("rows", "cols"):
            kind = "weight_ih" if self.source == "i" else "weight_hh"
            transposed = ", transposed=True" if self.arrangement == "cols" else ""
            return f'layouts.kernel(params, "{kind}", order="{order}"{transposed})'
        pieces = [self._weight_piece(g) for g in self.gates]
        if self.arrangement == "stack":
            return f"np.stack([{', '.join(pieces)}])"
        if self.arrangement == "stack_t":
            return f"np.stack([{', '.join(p + '.T' for p in pieces)}])"
        stacked = pieces[0] if len(pieces) == 1 else f"np.concatenate([{', '.join(pieces)}])"
        return stacked + ".T" if self.arrangement == "cols" else stacked

    def _weight_piece(self, gate: str) -> str:
        if self.source == "i":
            return f'w["W_i{gate}"]'
        if self.source == "h":
            return f'w["W_h{gate}"]'
        if self.source == "xh":
            return f'layouts.concat_xh(params, "{gate}")'
        return f'np.concatenate([w["W_h{gate}"], w["W_i{gate}"]], axis=1)'

    def _bias(self, reset: str) -> str:
        order = "".join(self.gates)
        if len(self.gates) == 3 and self.arrangement == "cat":
            if self.source == "f":
                return f'layouts.folded_bias(params, order="{order}", reset="{reset}")'
            kind = "bias_ih" if self.source == "i" else "bias_hh"
            return f'layouts.kernel(params, "{kind}", order="{order}")'
        if self.source == "f":
            pieces = [f'layouts.folded_bias(params, "{g}", reset="{reset}")' for g in self.gates]
        else:
            pieces = [f'w["b_{self.source}{g}"]' for g in self.gates]
        if len(pieces) == 1:
            return pieces[0]
        return f"np.{'stack' if self.arrangement == 'stack' else 'concatenate'}([{', '.join(pieces)}])"

    def value(self, params: Any, w: dict[str, np.ndarray], reset: str) -> np.ndarray:
        """The tensor's values for canonical ``params`` (raises ``layouts.LayoutError`` for a
        folded candidate bias with a non-zero b_hn in the reset-after GRU)."""
        from conformance.model import layouts

        return np.asarray(eval(self.expression(reset), {"np": np, "layouts": layouts},  # noqa: S307
                               {"params": params, "w": w}), dtype=np.float64)

    # In words ----------------------------------------------------------------------------
    def describe(self) -> str:
        gates = ", ".join(self.gates)
        if self.kind == "biases":
            return f"b_ih and b_hh ({'concatenated' if self.arrangement == 'cat' else 'stacked'}), gate order {gates}"
        if self.kind == "bias":
            if self.source == "f":
                body = " | ".join(f"b_{g}" for g in self.gates) + " (one bias per gate: b_i + b_h)"
            else:
                body = " | ".join(f"b_{self.source}{g}" for g in self.gates)
            joined = "stacked" if self.arrangement == "stack" else "concatenated"
            return body if len(self.gates) == 1 else f"{body}, {joined}"
        what = {"i": "W_i", "h": "W_h", "xh": "[W_i | W_h]", "hx": "[W_h | W_i]"}[self.source]
        if self.source in ("xh", "hx"):
            names = ", ".join(f"{GATE_WORDS[g]} gate" for g in self.gates)
            body = f"{what} of the {names}, applied to cat({'x, h' if self.source == 'xh' else 'h, x'})"
        else:
            body = " | ".join(f"{what}{g}" for g in self.gates)
        layout = {"rows": "stacked by rows", "cols": "transposed (in, out)", "stack": "along a leading axis",
                  "stack_t": "along a leading axis, each transposed"}[self.arrangement]
        return body if len(self.gates) == 1 and self.arrangement == "rows" else f"{body}, {layout}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "gates": list(self.gates),
                "arrangement": self.arrangement, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Role":
        return cls(data["kind"], data["source"], tuple(data["gates"]), data["arrangement"], tuple(data["shape"]))


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def candidates(shape: tuple[int, ...], input_size: int, hidden_size: int) -> list[Role]:
    """Every role a tensor of ``shape`` can have (at the probe's sizes, where I, H, 2H, 3H
    and I + H all differ), in order of preference among equivalent ones."""
    found: list[Role] = []
    dims = _squeezed(tuple(int(d) for d in shape))
    shape = tuple(int(d) for d in shape)
    hidden = hidden_size
    widths = {"i": input_size, "h": hidden, "xh": input_size + hidden, "hx": input_size + hidden}
    for k in (3, 2, 1):
        for gates in itertools.permutations(GATES, k):
            for source, width in widths.items():
                if dims == (k * hidden, width):
                    found.append(Role("weight", source, gates, "rows", shape))
                if dims == (width, k * hidden):
                    found.append(Role("weight", source, gates, "cols", shape))
                if k > 1 and dims == (k, hidden, width):
                    found.append(Role("weight", source, gates, "stack", shape))
                if k > 1 and dims == (k, width, hidden):
                    found.append(Role("weight", source, gates, "stack_t", shape))
            for source in ("i", "h", "f"):
                if dims == (k * hidden,):
                    found.append(Role("bias", source, gates, "cat", shape))
                if k > 1 and dims == (k, hidden):
                    found.append(Role("bias", source, gates, "stack", shape))
    for gates in itertools.permutations(GATES, 3):
        if dims == (6 * hidden,):
            found.append(Role("biases", "ih", gates, "cat", shape))
        if dims == (2, 3 * hidden):
            found.append(Role("biases", "ih", gates, "stack", shape))
    return found
