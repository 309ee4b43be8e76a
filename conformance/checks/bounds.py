"""Bounds (black-box): a GRU step is a convex mix of h and a tanh, so states
started in [-1, 1] stay there, and nothing overflows for large inputs."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.cases.catalogue import check
from conformance.cases.compare import NotReturned, fail
from conformance.cases.strategies import draw_case


def _assert_bounded(result, spec, bound: float, regime: str) -> None:
    for what, values in (("output", result.output), ("h_n", result.h_n)):
        if isinstance(values, NotReturned):
            continue  # not returned (Capabilities.returns)
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
    _assert_bounded(result, spec, 1.0 + subject.tolerance(spec.dtype).atol, "ordinary inputs")


#: Where a hand-written exp-based tanh or sigmoid overflows: exp(a) is inf past log(max) of
#: the dtype, so (e^a - e^-a) / (e^a + e^-a) is inf / inf = NaN there (exp(2a) forms at half).
OVERFLOW_AT = {"float64": 709.8, "float32": 88.7, "bfloat16": 88.7, "float16": 11.1}
#: How far past that the saturating cases drive the largest first-layer pre-activation.
PAST_OVERFLOW = 3.0
#: Inputs stay well inside each dtype's range (float16's largest value is 65504).
MAX_INPUT = {"float64": 1e6, "float32": 1e5, "bfloat16": 1e5, "float16": 2e3}
ALL_DTYPES = ("float64", "float32", "float16", "bfloat16")


def _first_layer_reach(case) -> float:
    """The largest |W_ih x + b_ih| of the first layer over the case (every direction)."""
    reach = 0.0
    for reverse in (False, True)[: case.spec.num_directions]:
        w, b = case.params.get("weight_ih", 0, reverse), case.params.get("bias_ih", 0, reverse)
        reach = max(reach, float(np.abs(case.x @ w.T + b).max()))
    return reach


def saturating_spec(spec):
    """``spec`` with its inputs scaled so that the largest first-layer pre-activation is
    PAST_OVERFLOW times the dtype's exp overflow point (x scales linearly with input_scale)."""
    base = spec.with_(weight_scale=3.0, input_scale=1.0)
    case = base.materialize()
    limit = OVERFLOW_AT[spec.dtype]
    factor = PAST_OVERFLOW * limit / max(_first_layer_reach(case), 1e-12)
    largest = float(np.abs(case.x).max()) or 1.0
    factor = min(factor, MAX_INPUT[spec.dtype] / largest)
    return base.with_(input_scale=float(f"{factor:.3g}"))


@check(
    "bounds.saturation",
    title="Finite when saturated",
    statement="with pre-activations driven past the point where exp overflows in the dtype graded "
    "(first-layer |W_ih x + b_ih| up to 3x 710 in float64, 89 in float32 and bfloat16, 11 in "
    "float16; weights x3), outputs stay finite and in [-1, 1], in every dtype claimed",
    reference="eq. (1)-(4): sigmoid and tanh saturate, they do not overflow; "
    "(e^a - e^-a) / (e^a + e^-a) is NaN past a = log(max) of the dtype",
    tolerance="step",
)
@given(data=st.data())
def test_finite_when_saturated(subject, data):
    spec = saturating_spec(draw_case(data, subject, dtypes=ALL_DTYPES))
    subject.note_case(spec)
    case = spec.materialize()
    reach = _first_layer_reach(case)
    reached = subject.measured().setdefault("pre_activation", {})
    reached[spec.dtype] = max(reached.get(spec.dtype, 0.0), reach)
    result = subject.run_case(case)
    _assert_bounded(result, spec, 1.0 + subject.tolerance(spec.dtype).atol,
                    f"saturating inputs: pre-activations up to {reach:.4g}, past {spec.dtype}'s exp "
                    f"overflow at {OVERFLOW_AT[spec.dtype]}")
