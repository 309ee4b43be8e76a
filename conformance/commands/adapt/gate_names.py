"""The gate a parameter's name declares, when it declares one.

A per-gate parameter's name is its declared layout: ``W_ir``, ``x_to.r.weight``,
``update_gate.bias``, ``W_xz`` name their gate. Probing finds what each parameter does;
when that contradicts its name, the code uses the gates swapped relative to its own
names, which is reported (the written adapter follows the names, with a TODO).

Only unambiguous tokens count: a gate word (reset, update, candidate, new), a lone gate
letter (r, z, n), a side letter and a gate letter (``ir``, ``hz``, ``xn``; ``w``, ``u`` or
``b`` and a gate letter), or all three (``Wxr``, ``bhz``). ``h`` is never read as a gate
(Keras and d2l call the candidate h, PyTorch calls the hidden side h). And names are trusted only as a set: every
one-gate parameter of one shape must name a gate, and all three gates must be named,
so a stray ``proj_in`` does not read as "the input side of n".
"""

from __future__ import annotations

import re
from collections import Counter

GATE_WORDS = {"r": "r", "reset": "r", "resetgate": "r", "z": "z", "update": "z", "updategate": "z",
              "n": "n", "new": "n", "newgate": "n", "candidate": "n", "cand": "n", "candidategate": "n"}
SIDE_LETTERS = "ixhwub"


def tokens(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)  # camelCase -> camel_Case
    return [t.lower() for t in re.split(r"[^A-Za-z0-9]+", spaced) if t]


def declared_gate(name: str) -> str | None:
    gates = set()
    for token in tokens(name):
        if token in GATE_WORDS:
            gates.add(GATE_WORDS[token])
        elif len(token) == 2 and token[0] in SIDE_LETTERS and token[1] in "rzn":
            gates.add(token[1])
        elif len(token) == 3 and token[0] in "wub" and token[1] in "xih" and token[2] in "rzn":
            gates.add(token[2])  # Wxr, Whz, bxn: matrix or bias, side, gate
    return gates.pop() if len(gates) == 1 else None


def trusted_gates(groups: dict[tuple[int, ...], list[tuple[int, str]]]) -> dict[int, str]:
    """For each group of one-gate parameters of one shape ((slot index, name) pairs), the
    gates their names declare, kept only when each names a gate and all three are named."""
    trusted: dict[int, str] = {}
    for members in groups.values():
        declared = {index: declared_gate(name) for index, name in members}
        counts = Counter(declared.values())
        if None in counts or len(counts) != 3:
            continue
        trusted.update({i: g for i, g in declared.items() if g is not None})
    return trusted
