"""Probes of input forms: the other batch layout, non-contiguous and unbatched input,
a padded batch with lengths. Each runs the implementation on a probe case and
compares it with the fitted convention."""

from __future__ import annotations

import itertools

import numpy as np

from conformance.diagnosis.call_probes import dtype_and_shapes
from conformance.diagnosis.context import Context, Observation, errors, fmt
from conformance.diagnosis.fitting import output_readings
from conformance.diagnosis.probe_registry import probe
from conformance.running.subject import AdapterError
from conformance.model.variants import LENGTH_SWITCHES, LENGTH_TEXT, lengths_forward, variant_forward


@probe("other-layout", title="the other batch layout gives the same result", requires=("layer",),
       after=("assembly",))
def other_layout(ctx: Context) -> None:
    for batch_first in ctx.subject.layouts()[1:]:
        # Several h_n slots (when claimed), so that an h_n with its axes swapped shows.
        known = ctx.assembly_known
        spec = ctx.spec(batch_first=batch_first, seed=ctx.probe.seed + 1,
                        num_layers=2 if known and ctx.caps.multi_layer else 1,
                        bidirectional=known and ctx.caps.bidirectional)
        case, params = ctx.materialize(spec)
        instance = ctx.subject.instantiate(case, params)
        h0 = ctx.h0_of(case)
        result, _ = ctx.call(instance, case.x, h0)
        want = variant_forward(case.x, params, h0, ctx.variant, ctx.assembly)
        label = f"with batch_first={batch_first}"
        if ctx.compare(result.output, want.output)[1] > 0:
            obs = Observation(spec, params, case.x, h0, result)
            for name, output in output_readings(ctx, obs):
                if ctx.compare(output, want.output)[1] <= 0:
                    ctx.finding("layout", f"{label}, output is {name}")
                    break
            else:
                ctx.finding("layout", f"{label}, output departs from the fitted convention (max error "
                            f"{fmt(float(ctx.compare(result.output, want.output)[0]))})")
        if ctx.compare(result.h_n, want.h_n)[1] > 0:
            raw = result.returned.h_n.values
            slots = want.h_n.shape[0]
            if raw is not None and raw.size == want.h_n.size and ctx.compare(
                    raw.reshape(spec.batch, slots, spec.hidden_size).transpose(1, 0, 2), want.h_n)[1] <= 0:
                ctx.finding("layout", f"{label}, h_n is returned (B, L*D, H) instead of (L*D, B, H): "
                            "batch_first is applied to h_n too")
            else:
                ctx.finding("layout", f"{label}, h_n departs from the fitted convention")
        dtype_and_shapes(ctx, result, spec.dtype)


@probe("non-contiguous", title="the same values as strided views give the same result", requires=("layer",))
def non_contiguous(ctx: Context) -> None:
    obs = ctx.main
    assert obs is not None
    instance = ctx.subject.instantiate(obs.spec.materialize(), obs.params)
    plain = ctx.subject.call(instance, obs.x, obs.h0)
    viewed = ctx.subject.call(instance, obs.x, obs.h0, strides="strided")
    error, excess = errors(viewed.output, plain.output, ctx.step_tol)
    if excess <= 0:
        return
    text = (f"a non-contiguous x or h0 (a strided view holding the same values) gives other results "
            f"(max difference {fmt(float(error))})")
    misread = ctx.subject.call(instance, obs.x, obs.h0, strides="misread")
    if errors(viewed.output, misread.output, ctx.step_tol)[1] <= 0:
        text += ": it reads the storage as if the tensor were contiguous"
    ctx.finding("input", text)


@probe("variable-length", title="a padded batch with lengths stops each sample at its length",
       requires=("layer", "lengths"))
def variable_lengths(ctx: Context) -> None:
    spec = ctx.spec(bidirectional=ctx.caps.bidirectional, seed=ctx.probe.seed + 5)
    case, params = ctx.materialize(spec)
    lengths = ([2, spec.steps, 3] + [spec.steps] * spec.batch)[: spec.batch]
    lengths = [min(n, spec.steps) for n in lengths]
    instance = ctx.subject.instantiate(case, params)
    h0 = ctx.h0_of(case)
    got = ctx.subject.call(instance, case.x, h0, lengths=lengths)
    fits = []
    for values in itertools.product((True, False), repeat=3):
        switches = dict(zip(LENGTH_SWITCHES, values))
        if not spec.bidirectional and not switches["reverse_masked"]:
            continue
        want = lengths_forward(case.x, params, lengths, h0, ctx.variant, **switches)
        e1, x1 = ctx.compare(got.output, want.output)
        e2, x2 = ctx.compare(got.h_n, want.h_n)
        fits.append((sum(not v for v in values), max(e1, e2), max(x1, x2), switches))
    matching = [f for f in fits if f[2] <= 0]
    if matching:
        _, _, _, switches = min(matching, key=lambda f: (f[0], f[1]))
        for name, value in switches.items():
            if not value:
                ctx.finding("lengths", f"with lengths {lengths}: {LENGTH_TEXT[name]}")
    else:
        _, error, _, _ = min(fits, key=lambda f: f[1])
        ctx.finding("lengths", f"with lengths {lengths} the output matches no known handling of a "
                    f"variable-length batch (closest: max error {fmt(error)})")


@probe("unbatched", title="unbatched (T, I) input is one sequence of T steps", requires=("layer", "unbatched"))
def unbatched(ctx: Context) -> None:
    obs = ctx.main
    assert obs is not None
    spec, variant = obs.spec, ctx.variant
    instance = ctx.subject.instantiate(spec.materialize(), obs.params)
    h0 = None if obs.h0 is None else obs.h0[:, :1]
    want = variant_forward(obs.x[:, :1], obs.params, h0, variant)
    try:
        result, _ = ctx.call(instance, obs.x, obs.h0, unbatched=True)
    except AdapterError as exc:
        result, problem = None, str(exc)
    else:
        if (ctx.compare(result.output, want.output[:, 0])[1] <= 0
                and ctx.compare(result.h_n, want.h_n[:, 0])[1] <= 0):
            return
        problem = "it departs from the batched result of the same sequence"
    # nn.GRU reads (T, I) as one sequence; a common slip reads it as one step of a batch of T.
    try:
        raw = ctx.subject.execute(instance, obs.x, obs.h0, unbatched=True).output.values
    except AdapterError:
        raw = None
    as_batch_h0 = None if h0 is None else np.repeat(h0, spec.steps, axis=1)
    one_step = variant_forward(obs.x[:, 0][None], obs.params, as_batch_h0, variant).output[0]
    if raw is not None and raw.size == one_step.size and ctx.compare(raw.reshape(one_step.shape), one_step)[1] <= 0:
        ctx.finding("unbatched", "unbatched (T, I) input is run as one step of a batch of T, not as "
                    f"one sequence of T steps ({problem})")
    else:
        ctx.finding("unbatched", f"unbatched (T, I) input: {problem}")
