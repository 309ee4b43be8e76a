"""Sequence properties (black-box): identities every GRU layer satisfies,
whatever its weights, so they grade implementations without weight access."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.cases.catalogue import check
from conformance.cases.compare import assert_close
from conformance.cases.sizes import SWEEP_WORDS, draw_sweep, run_sweep
from conformance.cases.strategies import draw_case


@check(
    "sequence.stepwise",
    title="Stepwise equals whole sequence",
    statement="running one time step at a time, feeding h_n back as h0, gives the same "
    "outputs and final state as the whole sequence",
    reference="recurrence h_t = f(x_t, h_{t-1}), eq. (4)",
    requires=("layer", "h0", "h0_full", "unidirectional", "output", "h_n"),
    tolerance="self",
)
@given(data=st.data())
def test_stepwise_equals_whole(subject, data):
    spec = draw_case(data, subject, min_steps=2, bidirectional=False)
    case = spec.materialize()
    instance = subject.instantiate(case)
    whole = subject.call(instance, case.x, case.h0)
    h = case.h0
    outputs = []
    for t in range(spec.steps):
        step = subject.call(instance, case.x[t : t + 1], h)
        outputs.append(step.output[0])
        h = step.h_n
    tol = subject.tolerance(spec.dtype)
    assert_close(np.stack(outputs), whole.output, tol, what="output (stepwise)", call=step.call,
                 case=spec, should="the whole-sequence output")
    assert_close(h, whole.h_n, tol, what="h_n (stepwise)", call=step.call, case=spec,
                 should="the whole-sequence h_n")


@check(
    "sequence.split-resume",
    title="Split and resume",
    statement="running x[:k] then x[k:] from the state h_k gives the same outputs and "
    "final state as the whole sequence, for any k",
    reference="recurrence h_t = f(x_t, h_{t-1}), eq. (4)",
    requires=("layer", "h0", "h0_full", "unidirectional", "output", "h_n"),
    tolerance="self",
)
@given(data=st.data())
def test_split_and_resume(subject, data):
    spec = draw_case(data, subject, min_steps=2, bidirectional=False)
    k = data.draw(st.integers(1, spec.steps - 1), label="k")
    case = spec.materialize()
    instance = subject.instantiate(case)
    whole = subject.call(instance, case.x, case.h0)
    first = subject.call(instance, case.x[:k], case.h0)
    second = subject.call(instance, case.x[k:], first.h_n)
    tol = subject.tolerance(spec.dtype)
    assert_close(np.concatenate([first.output, second.output]), whole.output, tol,
                 what=f"output (split at k={k})", call=second.call, case=spec,
                 should="the whole-sequence output")
    assert_close(second.h_n, whole.h_n, tol, what=f"h_n (split at k={k})", call=second.call,
                 case=spec, should="the whole-sequence h_n")


@check(
    "sequence.zero-h0",
    title="Zero h0 equals no h0",
    statement="h0 = zeros gives the same result as omitting h0",
    reference="nn.GRU: h0 defaults to zeros",
    requires=("layer", "h0"),
    tolerance="self",
)
@given(data=st.data())
def test_zero_h0_equals_no_h0(subject, data):
    spec = draw_case(data, subject, with_h0=False)
    case = spec.materialize()
    instance = subject.instantiate(case)
    zeros = np.zeros((spec.num_layers * spec.num_directions, spec.batch, spec.hidden_size))
    omitted = subject.call(instance, case.x, None)
    given_zeros = subject.call(instance, case.x, zeros)
    tol = subject.tolerance(spec.dtype)
    assert_close(omitted.output, given_zeros.output, tol, what="output (h0 omitted)", call=omitted.call,
                 case=spec, should="the output with h0 = zeros")
    assert_close(omitted.h_n, given_zeros.h_n, tol, what="h_n (h0 omitted)", call=omitted.call,
                 case=spec, should="h_n with h0 = zeros")


@check(
    "sequence.batch-independence",
    title="Batch elements are independent",
    statement="a sample run alone gives the same output and h_n as the same sample inside a batch",
    reference="eq. (1)-(4) act on each batch element separately",
    tolerance="self",
)
@given(data=st.data())
def test_sample_alone_equals_sample_in_batch(subject, data):
    spec = draw_case(data, subject, min_batch=2)
    b = data.draw(st.integers(0, spec.batch - 1), label="b")
    case = spec.materialize()
    instance = subject.instantiate(case)
    batch = subject.call(instance, case.x, case.h0)
    alone = subject.call(instance, case.x[:, b : b + 1], None if case.h0 is None else case.h0[:, b : b + 1])
    tol = subject.tolerance(spec.dtype)
    assert_close(alone.output[:, 0], batch.output[:, b], tol, what=f"output (sample {b} alone)",
                 call=alone.call, case=spec, should=f"sample {b}'s output inside the batch")
    assert_close(alone.h_n[:, 0], batch.h_n[:, b], tol, what=f"h_n (sample {b} alone)",
                 call=alone.call, case=spec, should=f"sample {b}'s h_n inside the batch")


@check(
    "sequence.batch-permutation",
    title="Permuting the batch permutes the results",
    statement="running the batch in another order gives the same outputs and h_n in that order",
    reference="eq. (1)-(4) act on each batch element separately",
    tolerance="self",
)
@given(data=st.data())
def test_batch_permutation(subject, data):
    spec = draw_case(data, subject, min_batch=2)
    order = np.array(data.draw(st.permutations(range(spec.batch)), label="order"))
    case = spec.materialize()
    instance = subject.instantiate(case)
    batch = subject.call(instance, case.x, case.h0)
    permuted = subject.call(instance, case.x[:, order], None if case.h0 is None else case.h0[:, order])
    tol = subject.tolerance(spec.dtype)
    assert_close(permuted.output, batch.output[:, order], tol, what=f"output (batch order {order.tolist()})",
                 call=permuted.call, case=spec, should="the original outputs in that order")
    assert_close(permuted.h_n, batch.h_n[:, order], tol, what=f"h_n (batch order {order.tolist()})",
                 call=permuted.call, case=spec, should="the original h_n in that order")


@check(
    "sequence.sizes",
    title="Split, resume and batch rows at tiled sizes",
    statement=f"{SWEEP_WORDS[0].upper()}{SWEEP_WORDS[1:]}: x[:k] then x[k:] from h_k (k = T // 2) gives the whole sequence's outputs and "
    "h_n, and the batch's last sample run alone gives its row of the batch",
    reference="recurrence h_t = f(x_t, h_{t-1}), eq. (4); eq. (1)-(4) act on each batch element separately",
    requires=("layer", "h0", "h0_full", "unidirectional", "output", "h_n"),
    depends_on=("sequence.split-resume", "sequence.batch-independence"),
    tolerance="self",
    sweep=True,
)
@given(data=st.data())
def test_sizes_split_and_batch_rows(subject, data):
    def compare(spec) -> None:
        case = spec.materialize()
        instance = subject.instantiate(case)
        whole = subject.call(instance, case.x, case.h0)
        tol = subject.tolerance(spec.dtype)
        if spec.steps >= 2:
            k = spec.steps // 2
            first = subject.call(instance, case.x[:k], case.h0)
            second = subject.call(instance, case.x[k:], first.h_n)
            assert_close(np.concatenate([first.output, second.output]), whole.output, tol,
                         what=f"output (split at k={k})", call=second.call, case=spec,
                         should="the whole-sequence output")
            assert_close(second.h_n, whole.h_n, tol, what=f"h_n (split at k={k})", call=second.call,
                         case=spec, should="the whole-sequence h_n")
        b = spec.batch - 1  # the last row: in the partial tile when B is no multiple of the tile
        alone = subject.call(instance, case.x[:, b : b + 1], case.h0[:, b : b + 1])
        assert_close(alone.output[:, 0], whole.output[:, b], tol, what=f"output (sample {b} alone)",
                     call=alone.call, case=spec, should=f"sample {b}'s output inside the batch")
        assert_close(alone.h_n[:, 0], whole.h_n[:, b], tol, what=f"h_n (sample {b} alone)",
                     call=alone.call, case=spec, should=f"sample {b}'s h_n inside the batch")

    run_sweep(subject, draw_sweep(data, subject, bidirectional=False, with_h0=True), compare)
