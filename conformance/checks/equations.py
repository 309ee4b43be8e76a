"""Equations (white-box): the implementation, loaded with generated canonical
parameters, against the float64 oracle and against ``torch.nn.GRU``."""

from __future__ import annotations

from hypothesis import given, target
from hypothesis import strategies as st

from conformance.cases.catalogue import check
from conformance.cases.compare import assert_close, max_abs_error
from conformance.model.oracle import teacher_forced_steps
from conformance.model.reference import torch_reference
from conformance.cases.sizes import SWEEP_WORDS, draw_sweep, run_sweep
from conformance.cases.strategies import draw_case, per_slot_states
from conformance.running.subject import AdapterError

#: The fixed case whose per-step error the report plots (error against time step).
PROFILE_STEPS = 24


@check(
    "equations.step",
    title="One step matches the equations",
    statement="h_t = GRU(x_t, h_{t-1}) for every t, layer and direction, with h_{t-1} "
    "taken from the oracle (teacher forcing), so errors cannot accumulate",
    reference="eq. (1)-(4); eq. (3') for reset-before claims",
    requires=("white_box", "per_slot_h0"),
    tolerance="step",
)
@given(data=st.data())
def test_step_matches_oracle(subject, data):
    # Recorded here too: when this check fails, equations.sequence is blocked, and the
    # report's error-per-step plot is most needed exactly then.
    _error_profile(subject, quiet=True)
    spec = draw_case(data, subject, **per_slot_states(subject))
    case = spec.materialize()
    oracle = case.oracle(subject.reset)
    instance = subject.instantiate(case)
    tol = subject.tolerance(spec.dtype)
    worst = 0.0
    for t, h_prev, want_output, want_h_n in teacher_forced_steps(
            oracle, case.x, case.params, reset=subject.reset, takes_h0=subject.is_cell or subject.capabilities.h0):
        got = subject.call(instance, case.x[t : t + 1], h_prev)
        worst = max(worst, assert_close(
            got.output, want_output, tol, what=f"output (step t={t})", call=got.call, case=spec,
            should=f"the oracle's step from its own state at t={t}",
        ))
        worst = max(worst, assert_close(
            got.h_n, want_h_n, tol, what=f"h_n (step t={t})", call=got.call, case=spec,
        ))
    subject.record_error(spec.dtype, worst)
    target(worst, label="step error")


def _error_profile(subject, *, quiet: bool = False) -> None:
    """Record the largest error at each time step of one fixed long case under the
    running check's measurements. ``quiet``: adapter trouble is recorded in the
    profile instead of raised (the calling check reports it its own way)."""
    if "profile" in subject.measured():
        return
    from conformance.cases.generated import CaseSpec

    dtypes = subject.dtypes()
    spec = CaseSpec(
        steps=PROFILE_STEPS, batch=3, input_size=3, hidden_size=4,
        batch_first=subject.layouts()[0], dtype=dtypes[0] if dtypes else "float32",
        seed=2024, with_h0=subject.is_cell or subject.capabilities.h0,
    )
    spec = subject.fitted(spec)
    if subject.capabilities.returns == "state":
        subject.record("profile", {"case": spec.to_json(),
                                   "error": "the implementation returns only its final state"})
        return
    case = spec.materialize()
    try:
        got = subject.run_case(case)
    except AdapterError as exc:
        if not quiet:
            raise
        subject.record("profile", {"case": spec.to_json(), "error": str(exc)})
        return
    want = case.oracle(subject.reset)
    per_step = [max_abs_error(got.output[t], want.output[t]) for t in range(spec.steps)]
    subject.record("profile", {"case": spec.to_json(), "max_error_per_step": per_step})


@check(
    "equations.sequence",
    title="Whole sequence matches the equations",
    statement="output and h_n of a whole sequence equal the oracle's, for every "
    "configuration claimed (layers, directions, layout, h0 or none)",
    reference="eq. (1)-(4) applied over t; h_n = (L*D, B, H), layer-major then direction",
    requires=("white_box",),
    depends_on=("equations.step",),
    tolerance="sequence",
)
@given(data=st.data())
def test_sequence_matches_oracle(subject, data):
    _error_profile(subject)
    spec = draw_case(data, subject)
    case = spec.materialize()
    got, want = subject.run_case_beside(case, lambda: case.oracle(subject.reset))
    tol = subject.tolerance(spec.dtype)
    error = assert_close(got.output, want.output, tol, what="output", call=got.call, case=spec,
                         should="the oracle's output")
    error = max(error, assert_close(got.h_n, want.h_n, tol, what="h_n", call=got.call, case=spec,
                                    should="the oracle's final states"))
    subject.record_error(spec.dtype, error)
    target(error, label="sequence error")


@check(
    "equations.torch-reference",
    title="Agrees with torch.nn.GRU",
    statement="output and h_n equal torch.nn.GRU's (float64) with the same parameters, "
    "inputs and h0",
    reference="torch.nn.GRU documentation equations; the same as eq. (1)-(4)",
    requires=("white_box", "reset_after"),
    depends_on=("equations.step",),
    tolerance="sequence",
)
@given(data=st.data())
def test_agrees_with_torch_gru(subject, data):
    spec = draw_case(data, subject)
    case = spec.materialize()
    got, (want_output, want_h_n) = subject.run_case_beside(case, lambda: torch_reference(case))
    tol = subject.tolerance(spec.dtype)
    error = assert_close(got.output, want_output, tol, what="output", call=got.call, case=spec,
                         should="torch.nn.GRU's output")
    error = max(error, assert_close(got.h_n, want_h_n, tol, what="h_n", call=got.call, case=spec,
                                    should="torch.nn.GRU's h_n"))
    subject.record_error(spec.dtype, error)


@check(
    "equations.sizes",
    title="Whole sequence matches the equations at tiled sizes",
    statement=f"output and h_n equal the oracle's {SWEEP_WORDS}, in every direction claimed: a tail "
    "tile, a partial batch tile, a chunk boundary, a workspace of a few steps or a fast path for large "
    "inputs shows here",
    reference="eq. (1)-(4) applied over t; kernels tile hidden units, batch rows and input "
    "features and chunk time, with widths from 2 to 1024 (chunks to 2048), and switch paths by input size",
    requires=("white_box",),
    depends_on=("equations.sequence",),
    tolerance="sizes",
    sweep=True,
)
@given(data=st.data())
def test_sizes_match_oracle(subject, data):
    def compare(spec) -> None:
        case = spec.materialize()
        got, want = subject.run_case_beside(case, lambda: case.oracle(subject.reset))
        tol = subject.tolerance(spec.dtype)
        error = assert_close(got.output, want.output, tol, what="output", call=got.call, case=spec,
                             should="the oracle's output")
        error = max(error, assert_close(got.h_n, want.h_n, tol, what="h_n", call=got.call, case=spec,
                                        should="the oracle's final states"))
        subject.record_error(spec.dtype, error)

    run_sweep(subject, draw_sweep(data, subject), compare)
