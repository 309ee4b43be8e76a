"""Variable-length batches and unusual inputs.

``varlen`` (layer adapters that claim ``lengths``): a padded batch with
per-sample lengths, given as a ``PackedSequence`` (or through the adapter's
``run_lengths``). The padding holds random values, not zeros, so an
implementation that reads it shows. Each sample is compared with a run of the
same implementation on that sample alone, cut to its length: black-box, so it
grades implementations without weight access too.

``inputs``: non-contiguous tensors, a batch of one, and inputs of the wrong
shape or dtype. What to reject is nn.GRU's own decision, so the last two are
warning-level checks: a failure is reported (status "warn") but does not make
the implementation nonconformant.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from conformance.catalogue import check
from conformance.compare import assert_close, fail
from conformance.strategies import draw_case, sequence_lengths
from conformance.subject import AdapterError, describe_call
from conformance.tolerances import tolerance


def _draw_varlen(data, subject, **constraints):
    spec = draw_case(data, subject, min_steps=2, **constraints)
    lengths = data.draw(sequence_lengths(spec.steps, spec.batch), label="lengths")
    return spec, lengths


def _compare_with_truncated(subject, spec, lengths, halves: str) -> None:
    """Each sample's valid outputs and its h_n against a run on it alone, cut to its length."""
    case = spec.materialize()
    instance = subject.instantiate(case)
    packed = subject.call(instance, case.x, case.h0, lengths=lengths)
    tol = tolerance(spec.dtype, "self")
    for b, length in enumerate(lengths):
        h0 = None if case.h0 is None else case.h0[:, b : b + 1]
        alone = subject.call(instance, case.x[:length, b : b + 1], h0)
        assert_close(packed.output[:length, b], alone.output[:, 0], tol,
                     what=f"output[:{length}, {b}] (lengths={lengths})", call=packed.call, case=spec,
                     should=f"sample {b} run alone on its {length} real steps ({halves})")
        assert_close(packed.h_n[:, b], alone.h_n[:, 0], tol, what=f"h_n[:, {b}] (lengths={lengths})",
                     call=packed.call, case=spec,
                     should=f"sample {b}'s state after its own last step t={length - 1}, run alone")


@check(
    "varlen.padding-zero",
    title="Outputs past each length are zero",
    statement="in a padded batch with per-sample lengths, output[t, b] is zero for every "
    "t >= lengths[b], whatever the padding holds",
    reference="nn.GRU on a PackedSequence; pad_packed_sequence pads with zeros",
    requires=("layer", "lengths"),
)
@given(data=st.data())
def test_outputs_past_length_are_zero(subject, data):
    spec, lengths = _draw_varlen(data, subject)
    case = spec.materialize()
    result = subject.call(subject.instantiate(case), case.x, case.h0, lengths=lengths)
    for b, length in enumerate(lengths):
        padding = result.output[length:, b]
        if padding.size and np.any(padding != 0):
            t, unit = (int(i) for i in np.unravel_index(int(np.argmax(padding != 0)), padding.shape))
            fail(f"output[t={length + t}, b={b}, unit={unit}]: got {padding[t, unit]:.6g}, but should be 0 "
                 f"(t >= lengths[{b}] = {length} is padding; lengths={lengths})",
                 call=result.call, case=spec)


@check(
    "varlen.final-state",
    title="Each sample stops at its own length",
    statement="with per-sample lengths, sample b's outputs for t < lengths[b] and its h_n equal "
    "a run on that sample alone, cut to its length: h_n holds the state at its own last step",
    reference="nn.GRU on a PackedSequence: h_n is each sequence's state after its last element",
    requires=("layer", "lengths"),
    tolerance="self",
)
@given(data=st.data())
def test_each_sample_stops_at_its_length(subject, data):
    spec, lengths = _draw_varlen(data, subject, bidirectional=False)
    _compare_with_truncated(subject, spec, lengths, "forward direction")


@check(
    "varlen.reverse-start",
    title="Reverse direction starts at each sample's last element",
    statement="bidirectional, with per-sample lengths: the backward half of sample b's outputs "
    "and its reverse h_n equal a run on the sample alone, cut to its length: the reverse "
    "direction starts at t = lengths[b] - 1, not at the padded end",
    reference="nn.GRU on a PackedSequence; onnx-tensorflow#342 (reverse started at the padding)",
    requires=("layer", "lengths", "bidirectional"),
    tolerance="self",
)
@given(data=st.data())
def test_reverse_starts_at_last_real_element(subject, data):
    spec, lengths = _draw_varlen(data, subject, bidirectional=True)
    _compare_with_truncated(subject, spec, lengths, "both directions")


# --------------------------------------------------------------------------- inputs


def _non_contiguous(t: torch.Tensor | None) -> torch.Tensor | None:
    """The same values in a strided view: every other element of a tensor twice as wide
    (non-contiguous whenever it has more than one element)."""
    if t is None:
        return None
    wide = torch.zeros(*t.shape, 2, dtype=t.dtype, device=t.device)
    wide[..., 0] = t
    return wide[..., 0]


@check(
    "inputs.non-contiguous",
    title="Non-contiguous inputs",
    statement="x and h0 given as non-contiguous (strided) tensors give the same output and h_n "
    "as contiguous tensors with the same values",
    reference="nn.GRU accepts any strides; kernels that assume contiguous memory read the wrong elements",
    tolerance="self",
)
@given(data=st.data())
def test_non_contiguous_inputs(subject, data):
    spec = draw_case(data, subject)
    case = spec.materialize()
    # Fresh instances and the same random state for both calls: only the strides differ.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        contiguous = subject.call(subject.instantiate(case), case.x, case.h0)
    instance = subject.instantiate(case)
    x, h0 = subject.prepare(instance, case.x, case.h0)
    x, h0 = x.contiguous(), None if h0 is None else h0.contiguous()
    x_nc, h0_nc = _non_contiguous(x), _non_contiguous(h0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        strided = subject.read(instance, subject.invoke(instance, x_nc, h0_nc), x_nc, h0_nc)
    call = strided.call.replace("(x=", "(x=non-contiguous ").replace("h0=(", "h0=non-contiguous (")
    tol = tolerance(spec.dtype, "self")
    assert_close(strided.output, contiguous.output, tol, what="output (non-contiguous inputs)", call=call,
                 case=spec, should="the output for contiguous inputs")
    assert_close(strided.h_n, contiguous.h_n, tol, what="h_n (non-contiguous inputs)", call=call,
                 case=spec, should="h_n for contiguous inputs")


@check(
    "inputs.batch-of-one",
    title="Batch of one keeps its batch axis",
    statement="a batch of one (B = 1, T = 1 included) gives output and h_n with as many dimensions "
    "as a larger batch does: the batch axis is not squeezed away",
    reference="nn.GRU shapes: output (T, B, D*H), h_n (L*D, B, H) for every B",
    requires=("layer",),
)
@given(data=st.data())
def test_batch_of_one(subject, data):
    spec = draw_case(data, subject, min_batch=2, max_batch=2, max_steps=3)
    case = spec.materialize()
    instance = subject.instantiate(case)
    x, h0 = subject.prepare(instance, case.x, case.h0)
    two = subject.invoke(instance, x, h0)
    x1, h1 = subject.prepare(instance, case.x[:, :1], None if case.h0 is None else case.h0[:, :1])
    one = subject.invoke(instance, x1, h1)
    call = describe_call(f"{subject.name}.run", x1, h1)
    for what, got, larger in (("output", one[0], two[0]), ("h_n", one[1], two[1])):
        got_shape, larger_shape = tuple(getattr(got, "shape", ())), tuple(getattr(larger, "shape", ()))
        if len(got_shape) != len(larger_shape):
            fail(f"{what} has shape {got_shape} for a batch of one, but should keep the batch axis, as "
                 f"{larger_shape} for a batch of two does", call=call, case=spec)


def _accepted(subject, instance, x: torch.Tensor, h0: torch.Tensor | None) -> str | None:
    """None if the implementation rejected the call (raised); what it returned otherwise."""
    try:
        output, h_n, _ = subject.invoke(instance, x, h0)
    except AdapterError:
        return None
    shapes = [tuple(t.shape) if hasattr(t, "shape") else type(t).__name__ for t in (output, h_n)]
    return f"returned output {shapes[0]} and h_n {shapes[1]}"


def _report_accepted(accepted: list[str], spec) -> None:
    if accepted:
        fail("accepted silently: " + "; ".join(accepted) + ", but should raise an error "
             "(nn.GRU rejects each of these)", case=spec)


@check(
    "inputs.wrong-shape",
    title="Wrong shapes are rejected",
    statement="x with the wrong number of features, and h0 with the wrong batch size (one row "
    "for a larger batch), hidden size or number of layers*directions, raise an error instead of "
    "being broadcast or truncated",
    reference="nn.GRU raises for each; pytorch#3259 (h0 of the wrong shape silently accepted)",
    severity="warning",
)
@given(data=st.data())
def test_wrong_shapes_rejected(subject, data):
    spec = draw_case(data, subject, min_batch=2, max_steps=3,
                     with_h0=True if (subject.is_cell or subject.capabilities.h0) else False)
    case = spec.materialize()
    instance = subject.instantiate(case)
    x, h0 = subject.prepare(instance, case.x, case.h0)
    feature_axis = x.dim() - 1
    wide_x = torch.cat([x, x.narrow(feature_axis, 0, 1)], dim=feature_axis)
    attempts = [(f"x with {spec.input_size + 1} features (the instance takes {spec.input_size})", wide_x, h0)]
    if h0 is not None:
        attempts.append((f"h0 with batch 1 for a batch of {spec.batch}", x, h0[:, :1]))
        attempts.append((f"h0 with hidden size {spec.hidden_size + 1} (the instance has {spec.hidden_size})",
                         x, torch.cat([h0, h0[..., :1]], dim=-1)))
        if not subject.is_cell:  # a cell never sees h0 whole: the suite's unroller indexes it
            attempts.append((f"h0 with {h0.shape[0] + 1} layer*direction slots (should be {h0.shape[0]})",
                             x, torch.cat([h0, h0[:1]], dim=0)))
    accepted = []
    for what, bad_x, bad_h0 in attempts:
        returned = _accepted(subject, instance, bad_x, bad_h0)
        if returned is not None:
            accepted.append(f"{what} [{describe_call(subject.name, bad_x, bad_h0)}] {returned}")
    _report_accepted(accepted, spec)


@check(
    "inputs.wrong-dtype",
    title="Wrong dtypes are rejected",
    statement="x or h0 in another floating dtype than the instance's (float64 for a float32 "
    "instance, float32 otherwise) raise an error instead of being converted silently",
    reference="nn.GRU raises: input and h0 must have the parameters' dtype",
    severity="warning",
)
@given(data=st.data())
def test_wrong_dtypes_rejected(subject, data):
    spec = draw_case(data, subject, max_steps=3,
                     with_h0=True if (subject.is_cell or subject.capabilities.h0) else False)
    case = spec.materialize()
    instance = subject.instantiate(case)
    x, h0 = subject.prepare(instance, case.x, case.h0)
    other = torch.float64 if x.dtype != torch.float64 else torch.float32
    attempts = [(f"x in {other} for a {x.dtype} instance", x.to(other), h0)]
    if h0 is not None:
        attempts.append((f"h0 in {other} for a {x.dtype} instance", x, h0.to(other)))
    accepted = []
    for what, bad_x, bad_h0 in attempts:
        returned = _accepted(subject, instance, bad_x, bad_h0)
        if returned is not None:
            accepted.append(f"{what} [{describe_call(subject.name, bad_x, bad_h0)}] {returned}")
    _report_accepted(accepted, spec)
