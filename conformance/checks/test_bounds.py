"""Bounds (black-box): a GRU step is a convex mix of h and a tanh, so states
started in [-1, 1] stay there, and nothing overflows for large inputs."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.catalogue import check
from conformance.compare import fail
from conformance.strategies import draw_case
from conformance.tolerances import tolerance


def _assert_bounded(result, spec, bound: float, regime: str) -> None:
    for what, values in (("output", result.output), ("h_n", result.h_n)):
        if not np.all(np.isfinite(values)):
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(~np.isfinite(values))), values.shape))
            fail(f"{what}{list(index)}: got {values[index]}, but should be finite ({regime})",
                 call=result.call, case=spec)
        worst = float(np.abs(values).max()) if values.size else 0.0
        if worst > bound:
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(values))), values.shape))
            fail(f"{what}{list(index)}: got {values[index]:.6g}, but should be in [-1, 1] "
                 f"(|h_t| <= 1 when |h0| <= 1; {regime})", call=result.call, case=spec,
                 max_error=worst - 1.0)


@check(
    "bounds.unit-interval",
    title="States stay in [-1, 1]",
    statement="with |h0| <= 1, every |h_t| <= 1 (h_t is a convex mix of h_{t-1} and a tanh)",
    reference="eq. (4): h' = (1 - z) * n + z * h with z in (0, 1), |n| < 1",
    tolerance="step",
)
@given(data=st.data())
def test_states_stay_in_unit_interval(subject, data):
    spec = draw_case(data, subject)
    case = spec.materialize()
    result = subject.run_case(case)
    _assert_bounded(result, spec, 1.0 + tolerance(spec.dtype, "step").atol, "ordinary inputs")


@check(
    "bounds.saturation",
    title="Finite when saturated",
    statement="with large pre-activations (inputs x40, weights x3) outputs stay finite and in [-1, 1]",
    reference="eq. (1)-(4): sigmoid and tanh saturate, they do not overflow",
    tolerance="step",
)
@given(data=st.data())
def test_finite_when_saturated(subject, data):
    spec = draw_case(data, subject, weight_scale=3.0, input_scale=40.0)
    case = spec.materialize()
    result = subject.run_case(case)
    _assert_bounded(result, spec, 1.0 + tolerance(spec.dtype, "step").atol, "saturating inputs")
