"""The order of a diagnosis: observe, fit, run the registered probes, localize, word.

1. The main probe: one call from a random h0 (and, for a layer that takes h0, one
   without), the dtype and readable shape slips of what came back, whether the
   caller's h0 was overwritten and whether h0 is honoured at all.
2. The fit (``conformance.diagnosis.fitting``), and for each switch whether the
   probes determine it.
3. Every registered probe (``conformance.diagnosis.probe_registry``) the implementation's
   claims allow, in order; an adapter error in one is a finding.
4. Unless everything conforms, the localization of the first departure
   (``conformance.diagnosis.localization``).
5. The record and its summary (``conformance.diagnosis.wording``).
"""

from __future__ import annotations

import time
from typing import Any

from conformance.diagnosis.call_probes import dtype_and_shapes
from conformance.diagnosis.context import Context, Observation, Probe
from conformance.diagnosis.fitting import fit_cell
from conformance.diagnosis.localization import localize
from conformance.diagnosis.probe_registry import applicable, ordered
from conformance.diagnosis.structure import CELL_NOTE
from conformance.diagnosis.wording import assemble
from conformance.running.subject import AdapterError, Subject


def run(subject: Subject, probe: Probe) -> dict[str, Any]:
    start = time.perf_counter()
    ctx = Context(subject, probe)
    ctx.main = observe(ctx)
    fit, search = fit_cell(ctx)
    ctx.fit = fit
    switches = search.switch_report(fit, ctx)
    ctx.structure_info = {"note": CELL_NOTE} if subject.is_cell else {"note": "not probed"}
    for registered in ordered():
        if applicable(registered, subject):
            ctx.guarded(registered.id.replace("-", " "), registered.run, ctx)
    conforming = fit.matches and fit.variant == ctx.claimed and not ctx.findings and not ctx.precision_note
    divergence = None if conforming else ctx.guarded("localization", localize, ctx)
    return assemble(ctx, fit, search, switches, divergence, conforming, time.perf_counter() - start)


def observe(ctx: Context) -> Observation:
    """The main probe (one layer, one direction), from a random h0 where one is taken."""
    spec = ctx.spec()
    case, params = ctx.materialize(spec)
    instance = ctx.subject.instantiate(case, params)
    h0 = case.h0 if ctx.h0_capable else None
    first, mutated = ctx.call(instance, case.x, h0)
    if mutated:
        holds = _h0_holds_h_n(ctx, instance, case.x, h0, first)
        ctx.finding("h0", "the call overwrites the caller's h0 tensor in place"
                    + (" (afterwards it holds h_n)" if holds else ""))
    dtype_and_shapes(ctx, first, spec.dtype)
    ctx.main_instance = instance
    try:
        ctx.main_none, _ = ctx.call(instance, case.x, None)
    except AdapterError as exc:
        # A path of its own that fails (a zero state made in the wrong dtype, say): a finding,
        # and the rest of the diagnosis is made from calls with h0.
        ctx.finding("h0", f"a call without h0 fails: {exc}")
    if not ctx.subject.is_cell and ctx.caps.h0 and ctx.main_none is not None:
        if ctx.matches(first.output, ctx.main_none.output):
            ctx.h0_honoured = False
            ctx.finding("h0", "h0 is ignored: a run from a random h0 gives what a run from zeros gives")
    return Observation(spec, params, case.x, h0 if ctx.h0_honoured else None, first)


def _h0_holds_h_n(ctx: Context, instance: Any, x: Any, h0: Any, result: Any) -> bool:
    import numpy as np

    returned = ctx.subject.execute(instance, x, h0, keep_inputs=True)
    after = returned.inputs.get("h0_after")
    return after is not None and after.shape == result.h_n.shape and bool(np.allclose(after, result.h_n, atol=1e-6))
