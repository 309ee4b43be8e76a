"""Structural probes of a layer: how cells are assembled into directions and layers.

A two-layer bidirectional run (what the implementation claims of it) is compared
with every arrangement of ``conformance.model.variants.structures``: the reverse direction
reversed or not, the backward output order, which state each h0 and h_n slot holds
(the backward state after one step, the last layer's states only...), how layer
k > 0 reads the halves of layer k - 1."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.cases.generated import CaseSpec
from conformance.diagnosis.context import Context, fmt
from conformance.diagnosis.probe_registry import probe
from conformance.model.variants import structures, variant_forward

STANDARD_ASSEMBLY = ("the reverse direction reads the sequence from its end and its output is in input time "
                     "order, h0 and h_n slots are layer-major, layer k > 0 reads the forward half first")
CELL_NOTE = ("cell adapter: directions, layer chaining and h0 slots are assembled by the suite's unroller, "
             "not by the implementation")


def assembly_spec(ctx: Context) -> CaseSpec:
    """Two layers and both directions where claimed (cells: always, the suite unrolls them)."""
    cell = ctx.subject.is_cell
    return ctx.spec(num_layers=2 if cell or ctx.caps.multi_layer else 1,
                    bidirectional=cell or ctx.caps.bidirectional, seed=ctx.probe.seed + 2)


@probe("assembly", title="directions and layers are assembled as nn.GRU assembles them", requires=("layer",))
def assembly(ctx: Context) -> None:
    bidirectional, multi = ctx.caps.bidirectional, ctx.caps.multi_layer
    if not (bidirectional or multi):
        ctx.structure_info = {"note": "one layer, one direction: nothing to assemble"}
        return
    spec = assembly_spec(ctx)
    case, params = ctx.materialize(spec)
    instance = ctx.subject.instantiate(case, params)
    h0 = ctx.h0_of(case)
    first, _ = ctx.call(instance, case.x, h0)
    second, _ = ctx.call(instance, case.x, h0)
    ctx.local_run = (case, params, first)
    if not (ctx.matches(first.h_n, second.h_n) and ctx.matches(first.output, second.output)):
        same = [ctx.matches(first.h_n[s], second.h_n[s]) for s in range(first.h_n.shape[0])]
        dirs = spec.num_directions
        layers = [all(same[k * dirs:(k + 1) * dirs]) for k in range(spec.num_layers)]
        if layers[0] and not all(layers):
            ctx.finding("repeat", f"identical calls differ from layer {layers.index(False)} on while layer 0 "
                        "repeats exactly: something random acts between layers (dropout left in training mode?)")
        else:
            ctx.finding("repeat", "identical multi-layer or bidirectional calls give different results")
        ctx.structure_info = {"note": "not determined: the implementation is not repeatable"}
        return
    fits = []
    cache: dict[Any, np.ndarray] = {}
    for s in structures(bidirectional=bidirectional, multi_layer=multi, h0=h0 is not None):
        want = variant_forward(case.x, params, h0, ctx.variant, s, cache)
        e1, x1 = ctx.compare(first.output, want.output)
        e2, x2 = ctx.compare(first.h_n, want.h_n)
        fits.append((s, max(e1, e2), max(x1, x2)))
    matching = [f for f in fits if f[2] <= 0]
    s, error, excess = (min(matching, key=lambda f: (len(f[0].differences()), f[1])) if matching
                        else min(fits, key=lambda f: f[1]))
    info: dict[str, Any] = {"found": s.to_json(), "matches": excess <= 0, "max_error": error, "probe": repr(spec),
                            "note": ("standard: " + STANDARD_ASSEMBLY) if excess <= 0 and not s.differences()
                            else "; ".join(s.deviations_text())}
    undetermined = {}
    for name in s.to_json():
        values = sorted({getattr(f[0], name) for f in matching if getattr(f[0], name) != getattr(s, name)})
        if values:
            undetermined[name] = values
    if undetermined:
        info["undetermined"] = undetermined
    ctx.structure_info = info
    if excess <= 0:
        ctx.assembly, ctx.assembly_known = s, True
        for text in s.deviations_text():
            ctx.finding("structure", text)
    elif ctx.fit is not None and ctx.fit.matches:
        ctx.finding("structure", "the multi-layer/bidirectional run matches no known arrangement "
                    f"(closest: {', '.join(s.deviations_text()) or 'the standard one'}, max error {fmt(error)})")
