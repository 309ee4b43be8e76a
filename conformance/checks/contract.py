"""Contract: what any call must honour, whatever the numbers inside."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.cases.catalogue import check
from conformance.cases.compare import assert_close, fail
from conformance.cases.strategies import draw_case


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
    for what, dtype in (("output", result.output_dtype), ("h_n", result.h_n_dtype)):
        if dtype and dtype != spec.dtype:  # "": not returned (Capabilities.returns)
            fail(f"{what}.dtype: got torch.{dtype}, but should be torch.{spec.dtype}", call=result.call, case=spec)


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
    returned = subject.execute(instance, case.x, case.h0, keep_inputs=True)
    result = subject.read(instance, returned)
    for what in ("x", "h0"):
        if f"{what}_before" in returned.inputs:
            _assert_unchanged(what, returned.inputs[f"{what}_after"], returned.inputs[f"{what}_before"],
                              result.call, spec)


def _assert_unchanged(what: str, after: np.ndarray, before: np.ndarray, call: str, spec) -> None:
    if after.shape == before.shape and np.array_equal(after, before, equal_nan=True):
        return
    if after.shape != before.shape:
        fail(f"{what} has shape {after.shape} after the call, but should keep its shape {before.shape}",
             call=call, case=spec)
    changed = ~((after == before) | (np.isnan(after) & np.isnan(before)))
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(changed)), changed.shape))
    fail(f"{what}{list(index)}: got {after[index]:.6g} after the call, but should be "
         f"{before[index]:.6g}, its value before the call (the call modified its input)",
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
    tol = subject.tolerance(spec.dtype)
    assert_close(second.output, first.output, tol, what="output (second call)", call=second.call,
                 case=spec, should="the first call's output")
    assert_close(second.h_n, first.h_n, tol, what="h_n (second call)", call=second.call, case=spec,
                 should="the first call's h_n")


#: The dropout probability an instance is built with for contract.dropout-eval.
DROPOUT = 0.5


@check(
    "contract.dropout-eval",
    title="Dropout is off at inference",
    statement=f"an instance built with dropout p = {DROPOUT} (nn.GRU's dropout between layers) and "
    "graded in eval mode gives the same output and h_n as the same parameters built with p = 0",
    reference="nn.GRU: dropout acts on the outputs of each layer but the last, in training mode only",
    requires=("layer", "multi_layer", "dropout"),
    tolerance="self",
)
@given(data=st.data())
def test_dropout_off_at_inference(subject, data):
    layers = data.draw(st.integers(2, 3), label="num_layers")
    spec = draw_case(data, subject, num_layers=layers)
    case = spec.materialize()
    without = subject.call(subject.instantiate(case), case.x, case.h0, seed=spec.seed)
    with_dropout = spec.with_(dropout=DROPOUT)
    dropped = subject.call(subject.instantiate(with_dropout.materialize()), case.x, case.h0, seed=spec.seed)
    tol = subject.tolerance(spec.dtype)
    assert_close(dropped.output, without.output, tol, what=f"output (built with dropout={DROPOUT})",
                 call=dropped.call, case=with_dropout, should="the output of the same parameters built with dropout=0")
    assert_close(dropped.h_n, without.h_n, tol, what=f"h_n (built with dropout={DROPOUT})",
                 call=dropped.call, case=with_dropout, should="h_n of the same parameters built with dropout=0")


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
    tol = subject.tolerance(spec.dtype)
    assert_close(got.output, fresh.output, tol, what="output after an earlier call", call=got.call,
                 case=spec, should="a fresh instance's output")
    assert_close(got.h_n, fresh.h_n, tol, what="h_n after an earlier call", call=got.call, case=spec,
                 should="a fresh instance's h_n")


@check(
    "contract.unbatched",
    title="Unbatched input",
    statement="unbatched x (T, I) with h0 (L*D, H) gives output (T, D*H) and h_n (L*D, H) (a cell: x (I,) "
    "and h (H,) give h' (H,)), equal to the same sample as a batch of one",
    reference="nn.GRU and nn.GRUCell: unbatched input is accepted (a cell gets x_t (I,) and h (H,))",
    requires=("unbatched",),
    tolerance="self",
)
@given(data=st.data())
def test_unbatched_input(subject, data):
    spec = draw_case(data, subject, min_batch=1, max_batch=1,
                     with_h0=subject.is_cell or subject.capabilities.h0)
    case = spec.materialize()
    instance = subject.instantiate(case)
    batched = subject.call(instance, case.x, case.h0)
    single = subject.call(instance, case.x, case.h0, unbatched=True)
    if single.shape_problems:
        fail("; ".join(single.shape_problems), case=spec)
    tol = subject.tolerance(spec.dtype)
    assert_close(single.output, batched.output[:, 0], tol, what="output (unbatched)", call=single.call,
                 case=spec, should="the batch-of-one output")
    assert_close(single.h_n, batched.h_n[:, 0], tol, what="h_n (unbatched)", call=single.call,
                 case=spec, should="the batch-of-one h_n")
