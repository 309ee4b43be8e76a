"""Probes of what calls leave and return: repeated calls, h0 = None against zeros,
the final state, and the dtype and shape of what comes back."""

from __future__ import annotations

import numpy as np

from conformance.diagnosis.context import Context, fmt
from conformance.diagnosis.probe_registry import probe
from conformance.running.subject import Result
from conformance.model.variants import variant_forward


@probe("repeat", title="two identical calls on one instance give the same result")
def repeat(ctx: Context) -> None:
    assert ctx.main is not None and ctx.main_instance is not None
    obs = ctx.main
    first = ctx.main_none
    h0 = None if first is not None else obs.h0
    if first is None:
        first = obs.result  # a call without h0 failed: repeat the call with h0 instead
    second, _ = ctx.call(ctx.main_instance, obs.x, h0)
    if ctx.matches(first.output, second.output):
        return
    ctx.repeat_runs = (obs.spec.materialize(), obs.params, first, second, h0)
    ctx.finding("repeat", "two identical calls on one instance give different results (max difference "
                f"{fmt(float(np.abs(first.output - second.output).max()))})")


@probe("h0-none", title="h0 = None gives what h0 = zeros gives", requires=("layer", "h0"))
def none_against_zeros(ctx: Context) -> None:
    assert ctx.main is not None and ctx.main_instance is not None
    none = ctx.main_none
    if none is None:
        return  # the call without h0 failed: the pipeline said so
    obs = ctx.main
    zeros, _ = ctx.call(ctx.main_instance, obs.x, np.zeros((1, obs.spec.batch, obs.spec.hidden_size)))
    if ctx.matches(none.output, zeros.output):
        return
    ctx.finding("h0", "h0 = None and h0 = zeros give different results (max difference "
                f"{fmt(float(np.abs(none.output - zeros.output).max()))})")
    ctx.none_run = (obs.spec.materialize(), obs.params, none)


@probe("h_n", title="h_n holds the final state of the main probe")
def final_state(ctx: Context) -> None:
    obs = ctx.main
    assert obs is not None
    want = variant_forward(obs.x, obs.params, obs.h0, ctx.variant)
    if ctx.compare(obs.result.h_n, want.h_n)[1] <= 0:
        return
    if ctx.compare(obs.result.output, want.output)[1] > 0:
        return  # the output does not fit either: nothing to say about h_n alone
    ctx.finding("h_n", "h_n is not the final state of the run (max error "
                f"{fmt(float(ctx.compare(obs.result.h_n, want.h_n)[0]))})")


def dtype_and_shapes(ctx: Context, result: Result, dtype: str) -> None:
    """Findings about what a call returned, whatever its values: dtype and readable shape slips."""
    if result.output_dtype != dtype:
        ctx.finding("dtype", f"a {dtype} call returns {result.output_dtype}")
    for problem in result.shape_problems:
        ctx.finding("shape", f"read by position: {problem}")
