"""The implementation's side of the gradient checks, seen from the grader: run it
with autograd on, back-propagate the generated loss, and read the gradients with
respect to x, h0 and (when the adapter can say where they are) every canonical
parameter, as time-major float64 arrays that compare directly with
``conformance.model.reference_autograd``'s.

``finite_differences`` is the method of ``torch.autograd.gradcheck``'s fast mode
done from here: the implementation's backward pass gives v^T J u for random
directions u (inputs) and v (outputs), its own forward pass gives the same
number by central differences along u. Only float64 arrays cross between the
grader and the implementation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from conformance.cases.compare import NotReturned, fail
from conformance.model.reference_autograd import LossWeights
from conformance.running.subject import Instance, Subject

T = TypeVar("T")


def loss_weights(subject: Subject, spec: Any) -> LossWeights:
    """The generated loss's weights for ``spec``, without the term of a result the
    implementation does not return (``Capabilities.returns``): the reference gradients
    are then those of the loss it can be asked about."""
    weights = LossWeights.for_case(spec)
    returns = subject.capabilities.returns
    if returns == "output":
        return LossWeights(weights.output, np.zeros_like(weights.h_n))
    if returns == "state":
        return LossWeights(np.zeros_like(weights.output), weights.h_n)
    return weights


def as_claimed(subject: Subject, reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reference gradients as the implementation can give them: with one initial state
    shared by every slot (``h0_shared``) the gradient reaches that one state, the sum of
    the slots' gradients, and the worker hands it slot 0 (the other slots get none)."""
    if not subject.capabilities.h0_shared or "h0" not in reference:
        return reference
    shared = np.zeros_like(reference["h0"])
    shared[0] = reference["h0"].sum(axis=0)
    return {**reference, "h0": shared}


def initial_state(case: Any, with_h0: bool) -> np.ndarray | None:
    """The case's h0, or zeros when the case has none but the check wants an h0 gradient."""
    if not with_h0:
        return None
    spec = case.spec
    if case.h0 is not None:
        return case.h0
    return np.zeros((spec.num_layers * spec.num_directions, spec.batch, spec.hidden_size))


def implementation_gradients(
    subject: Subject,
    instance: Instance,
    case: Any,
    weights: LossWeights,
    *,
    with_h0: bool,
    parameters: bool = False,
) -> tuple[dict[str, np.ndarray], str]:
    """Gradients of ``weights.loss`` through the implementation: "x" (T, B, I), "h0"
    (L*D, B, H) when ``with_h0``, and the canonical parameter names when
    ``parameters`` (the adapter's ``grads``). Returns (gradients, call description)."""
    grads, call, _ = gradients_beside(subject, instance, case, weights, lambda: None, with_h0=with_h0,
                                      parameters=parameters)
    return grads, call


def gradients_beside(
    subject: Subject,
    instance: Instance,
    case: Any,
    weights: LossWeights,
    work: Callable[[], T],
    *,
    with_h0: bool,
    parameters: bool = False,
    x_requires_grad: bool = True,
    upstream: str = "contiguous",
) -> tuple[dict[str, np.ndarray], str, T]:
    """``implementation_gradients``, with ``work()`` (the reference gradients) done in this
    process during the implementation's forward pass; returns what ``work`` returned too.
    ``x_requires_grad`` False: x is data (``Subject.start``); ``upstream``: how the loss's
    gradients reach output and h_n (``Subject.backward``)."""
    spec = case.spec
    finish = subject.start(instance, case.x, initial_state(case, with_h0), grad=True,
                           x_requires_grad=x_requires_grad)
    try:
        value = work()
    except BaseException:
        with contextlib.suppress(Exception):
            finish()
        raise
    returned = finish()
    result = subject.read(instance, returned)  # raises AdapterError if unreadable
    read = " read through transpose(0, 1)" if upstream == "transposed" else ""
    call = f"{result.call}, then backward of the generated loss{read}"
    if not (returned.output.requires_grad or returned.h_n.requires_grad):
        fail("output and h_n do not require grad: the implementation cuts the autograd graph, "
             "but should let gradients flow back to x, h0 and the parameters", call=call, case=spec)
    grads = subject.backward(instance, returned, weights.output, weights.h_n, parameters=parameters,
                             upstream=upstream)
    return grads, call, value


@dataclass(frozen=True)
class Projection:
    """One comparison of finite differences with the backward pass: d(v . f) along u."""

    input: str
    output: str
    analytical: float
    numerical: float


def finite_differences(subject: Subject, instance: Instance, case: Any, *, with_h0: bool, eps: float,
                       seed: int) -> tuple[list[Projection], str]:
    """v^T J u by the backward pass and by central differences of the forward pass, for
    each input (x, h0) and output (output, h_n); random unit u and v, seeded."""
    rng = np.random.default_rng(seed)
    x = case.x
    h0 = initial_state(case, with_h0)
    inputs = {"x": x} if h0 is None else {"x": x, "h0": h0}
    directions = {}
    for name, value in inputs.items():
        u = rng.normal(size=value.shape)
        directions[name] = u / max(np.linalg.norm(u), 1e-300)
    first = subject.call(instance, x, h0)
    outputs = {k: v for k, v in (("output", first.output), ("h_n", first.h_n)) if not isinstance(v, NotReturned)}
    upstream = {}
    for name, value in outputs.items():
        v = rng.normal(size=value.shape)
        upstream[name] = v / max(np.linalg.norm(v), 1e-300)
    # Backward, once per output: v_o^T J_o,i for every input i.
    analytical: dict[tuple[str, str], float] = {}
    call = ""
    for out_name in outputs:
        returned = subject.execute(instance, x, h0, grad=True)
        result = subject.read(instance, returned)
        call = result.call
        for what, value in (("output", returned.output), ("h_n", returned.h_n)):
            if what in outputs and not value.requires_grad:
                fail(f"{what} does not require grad: it is detached from the autograd graph, but should "
                     f"carry gradients back to x and h0", call=call, case=case.spec)
        zeros = {k: np.zeros_like(v) for k, v in outputs.items()}
        weights = {**zeros, out_name: upstream[out_name]}
        grads = subject.backward(instance, returned, weights.get("output"), weights.get("h_n"))
        for in_name in inputs:
            analytical[(in_name, out_name)] = float(np.sum(grads[in_name] * directions[in_name]))
    # Central differences of the forward pass along u, once per input.
    found = []
    for in_name, u in directions.items():
        shifted = {}
        for sign in (1.0, -1.0):
            moved = dict(inputs)
            moved[in_name] = inputs[in_name] + sign * eps * u
            shifted[sign] = subject.call(instance, moved["x"], moved.get("h0"))
        for out_name in outputs:
            plus = getattr(shifted[1.0], out_name)
            minus = getattr(shifted[-1.0], out_name)
            numerical = float(np.sum((plus - minus) * upstream[out_name]) / (2 * eps))
            found.append(Projection(in_name, out_name, analytical[(in_name, out_name)], numerical))
    return found, call
