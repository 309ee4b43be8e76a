"""Unusual inputs: ``inputs``.

Non-contiguous tensors and every memory layout a user produces (transposed,
permuted, offset and expanded views), all-zero time steps (a batch padded
without packing), a batch of one, and inputs of the wrong
shape or dtype. What to reject is nn.GRU's own decision, so the last two are
warning-level checks: a failure is reported (status "warn") but does not make
the implementation nonconformant.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.cases.catalogue import check
from conformance.cases.compare import assert_close, assert_results_close, fail
from conformance.cases.sizes import draw_sweep, run_sweep
from conformance.cases.strategies import draw_case
from conformance.model.oracle import gru_forward
from conformance.running.subject import AdapterError


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
    contiguous = subject.call(subject.instantiate(case), case.x, case.h0, seed=spec.seed)
    strided = subject.call(subject.instantiate(case), case.x, case.h0, seed=spec.seed, strides="strided")
    call = strided.call.replace("(x=", "(x=non-contiguous ").replace("h0=(", "h0=non-contiguous (")
    tol = subject.tolerance(spec.dtype)
    assert_close(strided.output, contiguous.output, tol, what="output (non-contiguous inputs)", call=call,
                 case=spec, should="the output for contiguous inputs")
    assert_close(strided.h_n, contiguous.h_n, tol, what="h_n (non-contiguous inputs)", call=call,
                 case=spec, should="h_n for contiguous inputs")


#: The views of inputs.layouts, each holding the contiguous tensor's values (conformance.running.input_views).
VIEWS = ("transposed", "permuted", "offset")
LAYOUT_WORDS = {
    "transposed": "stored in the other axis order and transposed back (x.transpose(0, 1) of batch-first data)",
    "permuted": "stored in reversed axis order and permuted back (no axis of stride 1)",
    "offset": "at a storage offset inside a larger buffer",
    "expanded": "expanded with stride 0 (one input repeated over time, one initial state for every sample)",
    "packed": "a PackedSequence of full-length samples whose sorted_indices is not the identity",
}


@check(
    "inputs.layouts",
    title="Every input layout",
    statement="x and h0 given as transposed or permuted views, at a storage offset, or expanded (stride 0: one "
    "input repeated over time, one initial state for every sample), and for variable-length claims a "
    "PackedSequence whose samples are not in sorted order (enforce_sorted=False), give the same output and "
    "h_n as contiguous tensors with the same values",
    reference="nn.GRU accepts any strides and storage offset, and reorders a PackedSequence by its "
    "sorted_indices; a kernel that checks only stride(-1) == 1 reads x.transpose(0, 1) as contiguous",
    # One instance for every call: state kept between calls is contract.stateless' finding.
    depends_on=("contract.stateless",),
    tolerance="self",
)
@given(data=st.data())
def test_every_input_layout(subject, data):
    spec = draw_case(data, subject, min_batch=2, min_steps=2)
    case = spec.materialize()
    instance = subject.instantiate(case)
    tol = subject.tolerance(spec.dtype)

    def same(layout: str, x, h0, **options) -> None:
        want = subject.call(instance, x, h0, seed=spec.seed)
        got = subject.call(instance, x, h0, seed=spec.seed, **options)
        call = f"{got.call} with x and h0 {LAYOUT_WORDS[layout]}"
        assert_close(got.output, want.output, tol, what=f"output ({layout} inputs)", call=call, case=spec,
                     should="the output for contiguous inputs")
        assert_close(got.h_n, want.h_n, tol, what=f"h_n ({layout} inputs)", call=call, case=spec,
                     should="h_n for contiguous inputs")

    for layout in VIEWS:
        same(layout, case.x, case.h0, strides=layout)
    # Equal values along the expanded axis: x's first step at every step, h0's first row for every sample.
    x_repeated = np.broadcast_to(case.x[:1], case.x.shape).copy()
    h0_shared = None if case.h0 is None else np.broadcast_to(case.h0[:, :1], case.h0.shape).copy()
    same("expanded", x_repeated, h0_shared, strides="expanded")
    if not subject.is_cell and subject.capabilities.lengths:
        order = data.draw(st.permutations(range(spec.batch)).filter(lambda p: list(p) != sorted(p)),
                          label="packing order")
        same("packed", case.x, case.h0, lengths=[spec.steps] * spec.batch, packed_order=list(order))


@check(
    "inputs.zero-steps",
    title="All-zero time steps are steps",
    statement="time steps whose input is all zeros (the tail of a sample in a batch padded with zeros, not "
    "packed) are computed like any other: output and h_n equal the float64 oracle's, whose state moves "
    "through them (the biases and the recurrent term still act)",
    reference="eq. (1)-(4) at every t; nn.GRU masks nothing: variable lengths are given as a PackedSequence",
    requires=("white_box",),
    depends_on=("equations.sequence",),
    tolerance="sequence",
)
@given(data=st.data())
def test_all_zero_steps_are_computed(subject, data):
    spec = draw_case(data, subject, min_steps=2)
    case = spec.materialize()
    zeroed = data.draw(st.lists(st.integers(0, spec.steps - 1), min_size=spec.batch, max_size=spec.batch),
                       label="zero steps at the end of each sample")
    zeroed[0] = max(zeroed[0], 1)  # at least one zero step
    x = case.x.copy()
    for b, count in enumerate(zeroed):
        x[spec.steps - count:, b] = 0.0
    got, want = subject.call_beside(subject.instantiate(case), x, case.h0,
                                    lambda: gru_forward(x, case.params, case.h0, reset=subject.reset))
    error = assert_results_close(got, want, subject.tolerance(spec.dtype),
                                 what=f"x all zero in each sample's last n steps, n = {zeroed}", case=spec,
                                 should="the float64 oracle's: a zero step is a step")
    subject.record_error(spec.dtype, error)


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
    two = subject.execute(instance, case.x, case.h0)
    one = subject.execute(instance, case.x[:, :1], None if case.h0 is None else case.h0[:, :1])
    for what, got, larger in (("output", one.output, two.output), ("h_n", one.h_n, two.h_n)):
        if len(got.shape) != len(larger.shape):
            fail(f"{what} has shape {got.shape} for a batch of one, but should keep the batch axis, as "
                 f"{larger.shape} for a batch of two does", call=one.call, case=spec)


def _accepted(subject, instance, x: np.ndarray, h0: np.ndarray | None, **options) -> str | None:
    """None if the implementation rejected the call (raised); the call and what it
    returned otherwise."""
    try:
        returned = subject.execute(instance, x, h0, **options)
    except AdapterError:
        return None
    shapes = [v.shape if v.kind == "tensor" else v.kind for v in (returned.output, returned.h_n)]
    return f"[{returned.call}] returned output {shapes[0]} and h_n {shapes[1]}"


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
    x, h0 = case.x, case.h0  # time-major: the call hands them over in the instance's layout
    wide_x = np.concatenate([x, x[..., :1]], axis=-1)
    attempts = [(f"x with {spec.input_size + 1} features (the instance takes {spec.input_size})", wide_x, h0)]
    if h0 is not None:
        attempts.append((f"h0 with batch 1 for a batch of {spec.batch}", x, h0[:, :1]))
        attempts.append((f"h0 with hidden size {spec.hidden_size + 1} (the instance has {spec.hidden_size})",
                         x, np.concatenate([h0, h0[..., :1]], axis=-1)))
        # A cell never sees h0 whole (the suite's unroller indexes it), nor does an
        # implementation taking one shared state (it is handed slot 0).
        if not subject.is_cell and not subject.capabilities.h0_shared:
            attempts.append((f"h0 with {h0.shape[0] + 1} layer*direction slots (should be {h0.shape[0]})",
                             x, np.concatenate([h0, h0[:1]], axis=0)))
    accepted = []
    for what, bad_x, bad_h0 in attempts:
        returned = _accepted(subject, instance, bad_x, bad_h0)
        if returned is not None:
            accepted.append(f"{what} {returned}")
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
    other = "float64" if spec.dtype != "float64" else "float32"
    attempts = [(f"x in torch.{other} for a torch.{spec.dtype} instance", {"x_dtype": other})]
    if case.h0 is not None:
        attempts.append((f"h0 in torch.{other} for a torch.{spec.dtype} instance", {"h0_dtype": other}))
    accepted = []
    for what, options in attempts:
        returned = _accepted(subject, instance, case.x, case.h0, **options)
        if returned is not None:
            accepted.append(f"{what} {returned}")
    _report_accepted(accepted, spec)



@check(
    "inputs.sizes",
    title="Non-contiguous inputs at tiled sizes",
    statement="when T, B, I or H crosses the tile widths of fast kernels (each in turn up to 131), B, I or H those "
    "of production kernels (past 256, 512 and 1024) or several are large at once (x of up to 2^20 elements), x and "
    "h0 given as non-contiguous views (strided, and transposed: x.transpose(0, 1) of data in the other axis "
    "order) give the same output and h_n as "
    "contiguous tensors with the same values",
    reference="nn.GRU accepts any strides; a kernel's fast path for wide inputs may assume contiguous memory",
    # One instance for every call (a third of the building): state kept between calls is
    # contract.stateless' finding, which blocks this check rather than being reported here.
    depends_on=("inputs.non-contiguous", "contract.stateless"),
    tolerance="self",
    sweep=True,
)
@given(data=st.data())
def test_sizes_non_contiguous(subject, data):
    def compare(spec) -> None:
        case = spec.materialize()
        instance = subject.instantiate(case)
        contiguous = subject.call(instance, case.x, case.h0, seed=spec.seed)
        tol = subject.tolerance(spec.dtype)
        for layout in ("strided", "transposed"):
            viewed = subject.call(instance, case.x, case.h0, seed=spec.seed, strides=layout)
            call = viewed.call.replace("(x=", f"(x={layout} ").replace("h0=(", f"h0={layout} (")
            assert_close(viewed.output, contiguous.output, tol, what=f"output ({layout} inputs)", call=call,
                         case=spec, should="the output for contiguous inputs")
            assert_close(viewed.h_n, contiguous.h_n, tol, what=f"h_n ({layout} inputs)", call=call,
                         case=spec, should="h_n for contiguous inputs")

    # Memory layouts matter with width (B, I, H), not with the number of steps: no production T.
    run_sweep(subject, draw_sweep(data, subject, production_axes=("batch", "input_size", "hidden_size")), compare)
