"""Gradients: the backward pass, for implementations that claim autograd.

A generated loss, ``sum(output * G) + sum(h_n * G')`` with random weights G, G',
is back-propagated through a whole sequence (every layer and direction the
implementation claims) and its gradients with respect to x, h0 and every
canonical parameter are compared with the float64 oracle's, which come from an
autograd run of ``conformance.model.reference_autograd`` (held to the oracle within
1e-12 by the self-tests), and with ``torch.nn.GRU``'s. The finite-difference check
(``torch.autograd.gradcheck``'s method) compares the implementation's backward with
its own forward, so it grades black-box implementations too. A forward pass that is
exact with a wrong backward (a custom ``autograd.Function``, a detached state)
passes every other family and fails these.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, target
from hypothesis import strategies as st

from conformance.cases.catalogue import check
from conformance.cases.compare import CheckFailure, max_abs_error
from conformance.running.grads import as_claimed, finite_differences, gradients_beside, loss_weights
from conformance.model.oracle_grads import case_gradients
from conformance.model.reference_autograd import torch_gru_gradients
from conformance.cases.sizes import MAX_WORK, SWEEP_WORDS, draw_sweep, run_sweep
from conformance.cases.strategies import draw_case
from conformance.base.tolerances import Tolerance

#: Gradients are graded in the dtypes autograd is ordinarily used in.
GRAD_DTYPES = ("float32", "float64")
#: gradcheck's defaults (fast mode).
GRADCHECK_EPS, GRADCHECK_ATOL, GRADCHECK_RTOL = 1e-6, 1e-5, 1e-3


def _index_names(name: str, ndim: int) -> tuple[str, ...]:
    if name == "x":
        return ("t", "b", "i")
    if name == "h0":
        return ("layer*dir", "b", "unit")
    if name.startswith("weight"):
        return ("row", "col")
    return ("row",)[:ndim]


def _where(name: str, index: tuple[int, ...], hidden: int) -> str:
    if name in ("x", "h0"):
        return ", ".join(f"{n}={i}" for n, i in zip(_index_names(name, len(index)), index))
    gate = "rzn"[index[0] // hidden]
    parts = [f"gate {gate}", f"unit {index[0] % hidden}"] + ([f"col {index[1]}"] if len(index) > 1 else [])
    return ", ".join(parts)


def _label(name: str) -> str:
    return f"d loss(output, h_n) / d {name}"


def assert_grads_close(got: dict[str, np.ndarray], want: dict[str, np.ndarray], tol: Tolerance, *,
                       hidden: int, call: str, case, should: str) -> float:
    """Every gradient in ``want`` within ``tol``; the message names the worst element
    (for parameters: the gate, unit and column in canonical layout)."""
    worst = 0.0
    for name, w in want.items():
        if name not in got:
            raise CheckFailure(f"{_label(name)}: got no gradient, but should get {should} [{call}]",
                               case=case)
        g = np.asarray(got[name], dtype=np.float64)
        if g.shape != w.shape:
            raise CheckFailure(f"{_label(name)} has shape {g.shape}, but should have shape {w.shape} "
                               f"[{call}]", case=case)
        error = max_abs_error(g, w)
        worst = max(worst, error)
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(g - w) <= tol.bound(w))
        if bad.any():
            excess = np.where(bad, np.nan_to_num(np.abs(g - w), nan=np.inf) - tol.bound(w), -np.inf)
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), g.shape))
            raise CheckFailure(
                f"{_label(name)}[{_where(name, index, hidden)}]: got {g[index]:.6g}, but should be "
                f"{w[index]:.6g} ({should}); max abs error {error:.3g} > tolerance {tol} [{call}]",
                case=case, max_error=error, tolerance=tol)
    return worst


def _takes_h0(subject) -> bool:
    return subject.is_cell or subject.capabilities.h0


def _draw(data, subject):
    # At least two steps: the gradient must flow back through the recurrence.
    return draw_case(data, subject, dtypes=GRAD_DTYPES, min_steps=2,
                     with_h0=True if _takes_h0(subject) else False)


@check(
    "gradients.sequence",
    title="Input and h0 gradients match the oracle's",
    statement="the gradients of a generated loss on output and h_n with respect to x and h0, "
    "back-propagated through the whole sequence (every layer and direction claimed), equal "
    "the float64 oracle's",
    reference="back-propagation through eq. (1)-(4) over t (conformance.model.oracle_grads, held to autograd of the oracle's equations)",
    requires=("autograd", "white_box"),
    depends_on=("equations.sequence",),
    tolerance="grad",
)
@given(data=st.data())
def test_input_gradients_match_oracle(subject, data):
    spec = _draw(data, subject)
    case = spec.materialize()
    weights = loss_weights(subject, spec)
    with_h0 = _takes_h0(subject)
    got, call, want = gradients_beside(
        subject, subject.instantiate(case), case, weights,
        lambda: as_claimed(subject, case_gradients(case, weights, reset=subject.reset, with_h0=with_h0)),
        with_h0=with_h0)
    wanted = {k: want[k] for k in ("x", "h0") if k in want}
    error = assert_grads_close(got, wanted, subject.tolerance(spec.dtype), hidden=spec.hidden_size,
                               call=call, case=spec, should="the float64 oracle's gradient")
    subject.record_error(spec.dtype, error)
    target(error, label="gradient error")


@check(
    "gradients.parameters",
    title="Parameter gradients match the oracle's",
    statement="the gradients of the generated loss with respect to every canonical parameter "
    "(weight_ih, weight_hh, bias_ih, bias_hh of every layer and direction), read through the "
    "adapter's grads method, equal the float64 oracle's",
    reference="back-propagation through eq. (1)-(4) over t (conformance.model.oracle_grads)",
    requires=("autograd", "white_box", "parameter_grads"),
    depends_on=("equations.sequence",),
    tolerance="grad",
)
@given(data=st.data())
def test_parameter_gradients_match_oracle(subject, data):
    spec = _draw(data, subject)
    case = spec.materialize()
    weights = loss_weights(subject, spec)
    with_h0 = _takes_h0(subject)
    got, call, want = gradients_beside(
        subject, subject.instantiate(case), case, weights,
        lambda: as_claimed(subject, case_gradients(case, weights, reset=subject.reset, with_h0=with_h0)),
        with_h0=with_h0, parameters=True)
    wanted = {k: v for k, v in want.items() if k not in ("x", "h0")}
    error = assert_grads_close(got, wanted, subject.tolerance(spec.dtype), hidden=spec.hidden_size,
                               call=call, case=spec, should="the float64 oracle's gradient")
    subject.record_error(spec.dtype, error)
    target(error, label="gradient error")


@check(
    "gradients.torch-reference",
    title="Gradients agree with torch.nn.GRU's",
    statement="the gradients of the generated loss with respect to x, h0 and (when the adapter "
    "reads them) every canonical parameter equal torch.nn.GRU's in float64",
    reference="torch.nn.GRU's autograd, float64",
    requires=("autograd", "white_box", "reset_after"),
    depends_on=("equations.sequence",),
    tolerance="grad",
)
@given(data=st.data())
def test_gradients_agree_with_torch_gru(subject, data):
    spec = _draw(data, subject)
    case = spec.materialize()
    weights = loss_weights(subject, spec)
    with_h0 = _takes_h0(subject)
    parameters = subject.has_grads
    got, call, want = gradients_beside(subject, subject.instantiate(case), case, weights,
                                       lambda: as_claimed(subject, torch_gru_gradients(case, weights, with_h0=with_h0)),
                                       with_h0=with_h0, parameters=parameters)
    if not parameters:
        want = {k: v for k, v in want.items() if k in ("x", "h0")}
    error = assert_grads_close(got, want, subject.tolerance(spec.dtype), hidden=spec.hidden_size,
                               call=call, case=spec, should="torch.nn.GRU's gradient")
    subject.record_error(spec.dtype, error)


#: How training asks for gradients beyond the other checks' call (h0 given, x a leaf, the loss on the
#: results as returned), each a path a kernel can take on its own: no h0 (the state starts from zeros),
#: x as data (a training batch requires no gradient), and a loss on transposed views (the gradients
#: reaching output and h_n are non-contiguous, innermost stride 1).
GRAD_CALL_PATTERNS = ("h0 omitted", "x is data", "loss on transposed views")


@check(
    "gradients.call-patterns",
    title="Gradients under the calls training makes",
    statement="the gradients of the generated loss equal the float64 oracle's when the call gives no h0, when "
    "x is data that requires no gradient (only h0 and the parameters do), and when the loss reads output "
    "and h_n through transpose(0, 1), so that the gradients reaching them are non-contiguous",
    reference="back-propagation through eq. (1)-(4) over t (conformance.model.oracle_grads); nn.GRU's "
    "gradients do not depend on which inputs require one or on the upstream gradient's strides",
    requires=("autograd", "white_box"),
    depends_on=("gradients.sequence",),
    tolerance="grad",
)
@given(data=st.data())
def test_gradients_under_training_call_patterns(subject, data):
    patterns = [p for p in GRAD_CALL_PATTERNS
                if (p != "h0 omitted" or _takes_h0(subject)) and (p != "x is data" or subject.has_grads)]
    pattern = data.draw(st.sampled_from(patterns), label="call pattern")
    with_h0 = _takes_h0(subject) and pattern != "h0 omitted"
    spec = draw_case(data, subject, dtypes=GRAD_DTYPES, min_steps=2, with_h0=with_h0)
    case = spec.materialize()
    weights = loss_weights(subject, spec)
    got, call, want = gradients_beside(
        subject, subject.instantiate(case), case, weights,
        lambda: as_claimed(subject, case_gradients(case, weights, reset=subject.reset, with_h0=with_h0)),
        with_h0=with_h0, parameters=subject.has_grads, x_requires_grad=pattern != "x is data",
        upstream="transposed" if pattern == "loss on transposed views" else "contiguous")
    asked = {"h0"} | ({"x"} if pattern != "x is data" else set())
    want = {k: v for k, v in want.items() if k in asked or (subject.has_grads and k not in ("x", "h0"))}
    error = assert_grads_close(got, want, subject.tolerance(spec.dtype), hidden=spec.hidden_size,
                               call=call, case=spec, should=f"the float64 oracle's gradient ({pattern})")
    subject.record_error(spec.dtype, error)


@check(
    "gradients.gradcheck",
    title="Backward agrees with finite differences",
    statement="in float64 on small cases, v^T J u given by the implementation's backward pass equals "
    "the central finite difference of its own forward pass along u, for random unit directions u "
    "(of x and of h0) and v (of output and of h_n): its backward is the derivative of its forward",
    reference="the method of torch.autograd.gradcheck's fast mode (eps 1e-6, atol 1e-5, rtol 1e-3)",
    requires=("autograd", "float64"),
)
@given(data=st.data())
def test_backward_matches_finite_differences(subject, data):
    spec = draw_case(data, subject, dtypes=("float64",), min_steps=2, max_steps=3, max_batch=2,
                     max_size=3, max_layers=2, with_h0=True if _takes_h0(subject) else False)
    case = spec.materialize()
    instance = subject.instantiate(case)
    projections, call = finite_differences(subject, instance, case, with_h0=_takes_h0(subject),
                                           eps=GRADCHECK_EPS, seed=spec.seed)
    for p in projections:
        if not abs(p.analytical - p.numerical) <= GRADCHECK_ATOL + GRADCHECK_RTOL * abs(p.numerical):
            raise CheckFailure(
                f"v^T J u (a projection of the Jacobian) for d {p.output} / d {p.input}: got {p.analytical:.8g} "
                f"from the backward pass, but "
                f"should be {p.numerical:.8g}, the finite difference of the forward pass (tolerance atol "
                f"{GRADCHECK_ATOL:g} + rtol {GRADCHECK_RTOL:g}): the backward pass is not the derivative of "
                f"the forward pass [{call}, then backward]", case=spec)


@check(
    "gradients.sizes",
    title="Input and h0 gradients match the oracle's at tiled sizes",
    statement=f"{SWEEP_WORDS[0].upper()}{SWEEP_WORDS[1:]} (one layer), the gradients of the generated loss with respect to x and "
    "h0 equal the float64 oracle's",
    reference="back-propagation through eq. (1)-(4) over t (conformance.model.oracle_grads, held to autograd of the oracle's equations)",
    requires=("autograd", "white_box"),
    depends_on=("gradients.sequence",),
    tolerance="grad-sizes",
    sweep=True,
)
@given(data=st.data())
def test_sizes_input_gradients(subject, data):
    with_h0 = _takes_h0(subject)

    def compare(spec) -> None:
        case = spec.materialize()
        weights = loss_weights(subject, spec)
        got, call, want = gradients_beside(
            subject, subject.instantiate(case), case, weights,
            lambda: as_claimed(subject, case_gradients(case, weights, reset=subject.reset, with_h0=with_h0)),
            with_h0=with_h0)
        wanted = {k: want[k] for k in ("x", "h0") if k in want}
        error = assert_grads_close(got, wanted, subject.tolerance(spec.dtype), hidden=spec.hidden_size,
                                   call=call, case=spec, should="the float64 oracle's gradient")
        subject.record_error(spec.dtype, error)

    # One layer: back-propagating through T = 131 steps of two layers costs the reference and a
    # cell implementation twice as much, and layer chaining is graded by gradients.sequence.
    # The shape case at a quarter of the forward checks' work: a backward pass costs two forward ones.
    run_sweep(subject, draw_sweep(data, subject, dtypes=GRAD_DTYPES, with_h0=with_h0, num_layers=1,
                                  max_work=MAX_WORK // 4), compare)
