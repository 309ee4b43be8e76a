"""Contract: what any call must honour, whatever the numbers inside."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from conformance.catalogue import check
from conformance.compare import assert_close, fail
from conformance.strategies import draw_case
from conformance.tolerances import tolerance


@check(
    "contract.output-shape",
    title="Output and state shapes",
    statement="output is (T, B, D*H) ((B, T, D*H) when batch_first) and h_n is (L*D, B, H) "
    "whatever batch_first is; a cell returns h' as (B, H)",
    reference="nn.GRU shapes: output (T, B, D*H), h_n (L*D, B, H)",
)
@given(data=st.data())
def test_output_shapes(subject, data):
    spec = draw_case(data, subject)
    result = subject.run_case(spec.materialize())
    if result.shape_problems:
        fail("; ".join(result.shape_problems), case=spec)


@check(
    "contract.dtype",
    title="Dtype preserved",
    statement="output and h_n have the dtype of the input, for every dtype claimed",
    reference="nn.GRU: the module's dtype is the computation's and the result's dtype",
)
@given(data=st.data())
def test_dtype_preserved(subject, data):
    spec = draw_case(data, subject, max_steps=3)
    result = subject.run_case(spec.materialize())
    for what, tensor in (("output", result.output_tensor), ("h_n", result.h_n_tensor)):
        if tensor.dtype != spec.torch_dtype:
            fail(f"{what}.dtype: got {tensor.dtype}, but should be {spec.torch_dtype}",
                 call=result.call, case=spec)


@check(
    "contract.inputs-unchanged",
    title="Inputs not mutated",
    statement="x and h0 hold the same values after the call as before it",
    reference="nn.GRU is a pure function of (x, h0) and its parameters",
)
@given(data=st.data())
def test_inputs_not_mutated(subject, data):
    spec = draw_case(data, subject, with_h0=True if (subject.is_cell or subject.capabilities.h0) else None)
    case = spec.materialize()
    instance = subject.instantiate(case)
    x, h0 = subject.prepare(instance, case.x, case.h0)
    x_before = x.clone()
    h0_before = None if h0 is None else h0.clone()
    returned = subject.invoke(instance, x, h0)
    result = subject.read(instance, returned, x_before, h0_before)
    _assert_unchanged("x", x, x_before, result.call, spec)
    if h0 is not None:
        _assert_unchanged("h0", h0, h0_before, result.call, spec)


def _assert_unchanged(what: str, after: torch.Tensor, before: torch.Tensor, call: str, spec) -> None:
    if torch.equal(after, before):
        return
    changed = ~(after == before)
    index = tuple(int(i) for i in np.unravel_index(int(changed.reshape(-1).to(torch.uint8).argmax()), changed.shape))
    fail(f"{what}{list(index)}: got {after[index].item():.6g} after the call, but should be "
         f"{before[index].item():.6g}, its value before the call (the call modified its input)",
         call=call, case=spec)


@check(
    "contract.deterministic",
    title="Repeated calls agree",
    statement="calling the same instance twice on the same input gives the same output and h_n",
    reference="nn.GRU in eval mode: no dropout, no randomness",
    tolerance="self",
)
@given(data=st.data())
def test_repeated_calls_agree(subject, data):
    spec = draw_case(data, subject)
    case = spec.materialize()
    instance = subject.instantiate(case)
    first = subject.call(instance, case.x, case.h0)
    second = subject.call(instance, case.x, case.h0)
    tol = tolerance(spec.dtype, "self")
    assert_close(second.output, first.output, tol, what="output (second call)", call=second.call,
                 case=spec, should="the first call's output")
    assert_close(second.h_n, first.h_n, tol, what="h_n (second call)", call=second.call, case=spec,
                 should="the first call's h_n")


@check(
    "contract.stateless",
    title="No state carried between calls",
    statement="a call's result does not depend on earlier calls on the same instance",
    reference="nn.GRU keeps no state between calls: h0 (or zeros) is the only initial state",
    tolerance="self",
)
@given(data=st.data())
def test_no_state_between_calls(subject, data):
    spec = draw_case(data, subject)
    earlier = spec.with_(seed=spec.seed + 1).materialize()
    case = spec.materialize()
    used = subject.instantiate(case)
    subject.call(used, earlier.x, earlier.h0)  # same parameters, other inputs
    got = subject.call(used, case.x, case.h0)
    fresh = subject.call(subject.instantiate(case), case.x, case.h0)
    tol = tolerance(spec.dtype, "self")
    assert_close(got.output, fresh.output, tol, what="output after an earlier call", call=got.call,
                 case=spec, should="a fresh instance's output")
    assert_close(got.h_n, fresh.h_n, tol, what="h_n after an earlier call", call=got.call, case=spec,
                 should="a fresh instance's h_n")


@check(
    "contract.unbatched",
    title="Unbatched input",
    statement="unbatched x (T, I) with h0 (L*D, H) gives output (T, D*H) and h_n (L*D, H), "
    "equal to the same sample as a batch of one",
    reference="nn.GRU: unbatched input is accepted",
    requires=("layer", "unbatched"),
    tolerance="self",
)
@given(data=st.data())
def test_unbatched_input(subject, data):
    spec = draw_case(data, subject, min_batch=1, max_batch=1, with_h0=subject.capabilities.h0)
    case = spec.materialize()
    instance = subject.instantiate(case)
    batched = subject.call(instance, case.x, case.h0)
    single = subject.call(instance, case.x, case.h0, unbatched=True)
    if single.shape_problems:
        fail("; ".join(single.shape_problems), case=spec)
    tol = tolerance(spec.dtype, "self")
    assert_close(single.output, batched.output[:, 0], tol, what="output (unbatched)", call=single.call,
                 case=spec, should="the batch-of-one output")
    assert_close(single.h_n, batched.h_n[:, 0], tol, what="h_n (unbatched)", call=single.call,
                 case=spec, should="the batch-of-one h_n")
