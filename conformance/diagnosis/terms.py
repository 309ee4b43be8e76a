"""Structural probes of the cell: which parameter blocks act on the output at all.

Each of the twelve gate blocks of the canonical parameters (W_ir ... W_hn, b_ir ...
b_hn) is zeroed in turn and the implementation run again on the main probe: a
block whose zeroing changes nothing is not read. That is evidence about the
implementation's own structure, whatever convention it follows: "W_ir, W_iz, b_ir
and b_iz have no effect: r and z do not depend on x". The fitting uses it to seed
its search with the matching structural deviations (a gate without its input or
recurrent term, a missing bias, a candidate without the reset gate), and an
implementation that matches nothing known is described by it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from conformance.diagnosis.context import Context, Observation, join
from conformance.base.params import GATES, param_name
from conformance.model.variants import BIAS_BLOCKS, CellVariant, canonical

#: The twelve blocks, as (parameter kind, gate) -> the name the report uses.
BLOCKS: dict[tuple[str, str], str] = {
    (kind, gate): f"{prefix}{gate}"
    for kind, prefix in (("weight_ih", "W_i"), ("weight_hh", "W_h"), ("bias_ih", "b_i"), ("bias_hh", "b_h"))
    for gate in GATES
}


def unused_blocks(ctx: Context, obs: Observation) -> list[str]:
    """The blocks whose zeroing leaves the implementation's output unchanged (within the
    step tolerance), in BLOCKS order. Blocks that the claimed convention does not read
    either are left out: their zeroing says nothing."""
    spec, params = obs.spec, obs.params
    hidden = spec.hidden_size
    base = obs.result.output
    unused = []
    for (kind, gate), name in BLOCKS.items():
        key = param_name(kind, 0, False)
        array = params[key].copy()
        i = GATES.index(gate)
        array[i * hidden:(i + 1) * hidden] = 0.0
        if np.all(params[key][i * hidden:(i + 1) * hidden] == 0.0):
            continue  # already zero in the probe (Probe(zero_b_hn=True)): nothing to learn
        changed = params.replace({key: array})
        result = ctx.run(spec.materialize(), changed, obs.h0)
        if ctx.matches(result.output, base):
            unused.append(name)
    return unused


def evidence_text(unused: list[str]) -> str:
    """What the unused blocks say, gate by gate: "r and z do not depend on x"."""
    if not unused:
        return "every parameter block acts: zeroing any of W_ir ... W_hn, b_ir ... b_hn changes the output"
    said = []
    for source, prefixes in (("x", ("W_i", "b_i")), ("h", ("W_h", "b_h"))):
        gates = [g for g in GATES if {f"{p}{g}" for p in prefixes} <= set(unused)]
        if gates:
            said.append(f"{join(gates)} {'does' if len(gates) == 1 else 'do'} not depend on {source}")
    text = f"zeroing {join(unused)} changes nothing: {'they have' if len(unused) > 1 else 'it has'} no effect"
    if said:
        text += f" ({'; '.join(said)})"
    return text


def seeds(unused: list[str], orders: list[tuple[int, int, int]], start: CellVariant) -> list[CellVariant]:
    """Variants with exactly the structural deviations the unused blocks point to, for
    each gate order in ``orders`` (a canonical block c read as the implementation's gate
    g where order[g] == c)."""
    found = []
    for order in orders:
        gate_of = {GATES[c]: GATES[g] for g, c in enumerate(order)}
        no_input, no_recurrent, no_bias = set(), set(), set()
        for block in unused:
            kind, gate = block[:3], gate_of[block[3]]
            if kind == "W_i":
                no_input.add(gate)
            elif kind == "W_h":
                no_recurrent.add(gate)
            else:
                no_bias.add(f"{kind}{gate}")
        v = start.with_order(order)
        reset = v.reset
        if "r" in no_input and "r" in no_recurrent:
            reset = "none"  # r reads nothing: the candidate has no reset gate
        v = replace(v, reset=reset, no_input=tuple(g for g in GATES if g in no_input),
                    no_recurrent=tuple(g for g in GATES if g in no_recurrent),
                    no_bias=tuple(b for b in BIAS_BLOCKS if b in no_bias))
        found.append(canonical(v))
    return list(dict.fromkeys(found))


def probe_terms(ctx: Context, obs: Observation) -> dict[str, Any]:
    """Run the probe on the main observation; the evidence for the diagnosis."""
    unused = unused_blocks(ctx, obs)
    return {"unused_blocks": unused, "text": evidence_text(unused)}
