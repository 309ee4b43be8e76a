"""Precisions (white-box): every dtype the implementation claims, against the
float64 oracle, with that dtype's tolerances (``conformance.base.tolerances``).

Each dtype is one check (``precision.float32``: one declaration over the dtype
axis, which the catalogue expands), so a report shows the measured error against
the tolerance per dtype and an implementation that computes below the precision
it claims (float64 cast to float32 inside, float16 computed in bfloat16) fails
the check of the dtype it claims. Two comparisons per case: one step at
a time from the oracle's own previous state (teacher forcing, the tight
"step" bound) and the whole sequence (the looser "sequence" bound, which
holds at the generated weight scale: error does not grow with T there).
"""

from __future__ import annotations

from hypothesis import given, target
from hypothesis import strategies as st

from conformance.cases.catalogue import check, check_over
from conformance.cases.compare import Blocked, CheckFailure, assert_close
from conformance.model.oracle import teacher_forced_steps
from conformance.cases.sizes import SWEEP_WORDS, draw_long, draw_sweep, run_sweep
from conformance.cases.strategies import draw_case, per_slot_states
from conformance.base.tolerances import tolerance


def _sequence_tolerance(subject, dtype: str):
    """The dtype's sequence bound, or that of the coarser precision claimed for float32."""
    return tolerance(dtype, "sequence", subject.capabilities.precision)


def _record(subject, dtype: str, step_error: float, sequence_error: float) -> None:
    subject.record_error(dtype, step_error)
    # The whole-sequence error is shown next to its own (looser) bound.
    per_dtype = subject.measured().setdefault("sequence_max_error", {})
    per_dtype[dtype] = max(per_dtype.get(dtype, 0.0), sequence_error)
    precision = subject.capabilities.precision
    subject.record("tolerances", {"step": tolerance(dtype, "step", precision).to_json(),
                                  "sequence": tolerance(dtype, "sequence", precision).to_json()})


#: Errors beyond what rounding to a lower precision gives: float64 computed in float32 errs
#: by about 1e-7 (float32's sequence bound is 6e-5 at |h| = 1), float32 computed in
#: bfloat16 by at most about 1.2e-2 (bfloat16's bound is 3.3e-2). Beyond that the
#: equations are wrong, which equations.step reports.
_CEILING_OF = {"float64": "float32", "float32": "bfloat16"}


def _ceiling(dtype: str) -> float:
    lower = tolerance(_CEILING_OF[dtype], "sequence")
    return lower.atol + lower.rtol


def _compare_dtype(subject, data, dtype: str) -> None:
    spec = draw_case(data, subject, dtypes=(dtype,), **per_slot_states(subject))
    case = spec.materialize()
    oracle = case.oracle(subject.reset)
    instance = subject.instantiate(case)
    step_tol = subject.tolerance(dtype)
    step_error = 0.0
    for t, h_prev, want_output, want_h_n in teacher_forced_steps(
            oracle, case.x, case.params, reset=subject.reset, takes_h0=subject.is_cell or subject.capabilities.h0):
        got = subject.call(instance, case.x[t : t + 1], h_prev)
        for what, g, w in (("output", got.output, want_output), ("h_n", got.h_n, want_h_n)):
            step_error = max(step_error, assert_close(
                g, w, step_tol, what=f"{what} (step t={t}, {dtype})", call=got.call, case=spec,
                should=f"the float64 oracle's step from its own state at t={t}"))
    whole = subject.call(instance, case.x, case.h0)
    seq_tol = _sequence_tolerance(subject, dtype)
    sequence_error = assert_close(whole.output, oracle.output, seq_tol, what=f"output ({dtype})",
                                  call=whole.call, case=spec, should="the float64 oracle's output")
    sequence_error = max(sequence_error, assert_close(
        whole.h_n, oracle.h_n, seq_tol, what=f"h_n ({dtype})", call=whole.call, case=spec,
        should="the float64 oracle's final states"))
    _record(subject, dtype, step_error, sequence_error)
    target(step_error, label=f"{dtype} step error")


STATEMENT = ("computed in {dtype}, each step (from the oracle's own previous state) is within "
             "the {dtype} step tolerance of the float64 oracle, and the whole sequence within "
             "the {dtype} sequence tolerance")

#: What each dtype's check states of its own; the rest is shared (``check_over`` below).
BY_DTYPE = {
    "float64": {
        "title": "float64 is float64-accurate",
        "statement": STATEMENT.format(dtype="float64") + "; an implementation computing float64 input "
        "in float32 inside errs by about 1e-7 and fails",
        "reference": "eq. (1)-(4); float64 unit roundoff 1.1e-16",
    },
    "float32": {
        "title": "float32 within its tolerance",
        "statement": STATEMENT.format(dtype="float32") + "; computing float32 input in bfloat16 "
        "(mixed precision left on) errs by about 4e-3 and fails",
        "reference": "eq. (1)-(4); measured float32 error about 2e-7 at the default init scale",
        # A float64 failure (wrong equations or lost precision) is the root: it blocks this one.
        "depends_on": ("precision.float64",),
    },
    "float16": {
        "title": "float16 within its tolerance",
        "statement": STATEMENT.format(dtype="float16") + "; computing float16 input in bfloat16 "
        "(8 bits of mantissa, not 11) errs by about 4e-3 and fails",
        "reference": "eq. (1)-(4); measured float16 error about 5e-4 (max 1.6e-3) at the default init scale",
        "depends_on": ("equations.sequence",),
    },
    "bfloat16": {
        "title": "bfloat16 within its tolerance",
        "statement": STATEMENT.format(dtype="bfloat16"),
        "reference": "eq. (1)-(4); measured bfloat16 error about 4e-3 (max 1.2e-2) at the default init scale",
        "depends_on": ("equations.sequence",),
    },
}


@check_over(
    "dtype",
    BY_DTYPE,
    id="precision.{dtype}",
    test="test_{dtype}_against_oracle",
    requires=("white_box", "{dtype}", "per_slot_h0"),
    tolerance="step",
)
def grade_in_dtype(subject, data, dtype: str) -> None:
    if dtype not in _CEILING_OF or (dtype == "float32" and subject.capabilities.precision):
        # No lower precision to put an error down to: a claimed coarser one is already the bound.
        _compare_dtype(subject, data, dtype)
        return
    # precision.float64 and precision.float32 do not depend on equations.step, so that a
    # computation in a lower precision fails them although equations.step (which draws both
    # dtypes) fails too; an error too large for any rounding is an equations failure and is
    # reported blocked.
    try:
        _compare_dtype(subject, data, dtype)
    except CheckFailure as exc:
        ceiling = _ceiling(dtype)
        if exc.max_error is not None and not exc.max_error <= ceiling:
            first = str(exc).splitlines()[0]
            raise Blocked(f"blocked by equations.step: the {dtype} error {exc.max_error:.3g} is beyond "
                          f"{_CEILING_OF[dtype]} rounding ({ceiling:.1e}), so the equations are wrong rather "
                          f"than the precision lost: {first}", case=exc.case) from None
        raise


# precision.float64 ... precision.bfloat16: one test function each, for pytest to collect.
globals().update(grade_in_dtype.tests)


ALL_DTYPES = ("float64", "float32", "float16", "bfloat16")


def _compare_whole(subject, spec) -> None:
    """The whole sequence of ``spec`` against the float64 oracle, within the check's tolerance."""
    case = spec.materialize()
    got, want = subject.run_case_beside(case, lambda: case.oracle(subject.reset))
    tol = subject.tolerance(spec.dtype)
    error = assert_close(got.output, want.output, tol, what=f"output ({spec.dtype}, T={spec.steps})",
                         call=got.call, case=spec, should="the float64 oracle's output")
    error = max(error, assert_close(got.h_n, want.h_n, tol, what=f"h_n ({spec.dtype}, T={spec.steps})",
                                    call=got.call, case=spec, should="the float64 oracle's final states"))
    subject.record_error(spec.dtype, error)


@check(
    "precision.sizes",
    title="Every dtype within its tolerance at tiled sizes",
    statement="in every dtype claimed (the four axis cases of an example take the claimed dtypes in "
    f"turn), {SWEEP_WORDS}, output and h_n are within that dtype's sequence tolerance of the float64 oracle",
    reference="eq. (1)-(4); error bands measured at these sizes (python -m conformance.grading.error_bands --sizes)",
    requires=("white_box",),
    depends_on=("equations.sequence",),
    tolerance="sizes",
    sweep=True,
)
@given(data=st.data())
def test_sizes_every_dtype(subject, data):
    sweep = draw_sweep(data, subject, dtypes=ALL_DTYPES, dtypes_in_turn=ALL_DTYPES)
    run_sweep(subject, sweep, lambda spec: _compare_whole(subject, spec))


@check(
    "precision.long-sequence",
    title="Every dtype within its tolerance over several hundred steps",
    statement="in every dtype claimed, a sequence of 200 to 320 steps (both directions) "
    "is within that dtype's sequence tolerance of the float64 oracle: errors that accumulate "
    "(a state kept in a lower precision, a drifting direction) show here",
    reference="eq. (1)-(4) over t; measured error does not grow with T at the default init scale "
    "(python -m conformance.grading.error_bands --steps 300)",
    requires=("white_box",),
    depends_on=("equations.sequence",),
    tolerance="sequence",
    sweep=True,
)
@given(data=st.data())
def test_long_sequence_every_dtype(subject, data):
    spec = draw_long(data, subject, dtypes=ALL_DTYPES)
    for dtype in subject.dtypes(ALL_DTYPES):
        one = spec.with_(dtype=dtype)
        subject.note_case(one)
        _compare_whole(subject, one)
