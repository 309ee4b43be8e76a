"""The implementation's side of the gradient checks: run it with autograd on,
take the generated loss, and read the gradients with respect to x, h0 and
(when the adapter can say where they are) every canonical parameter.

Everything is read back as time-major float64 arrays, like ``Subject.read``
does for values, so gradients compare directly with
``conformance.reference_autograd``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from conformance.compare import fail
from conformance.reference_autograd import LossWeights
from conformance.subject import AdapterError, Instance, Subject, _as_tensor, describe_call


def canonical_tensors(
    subject: Subject, instance: Instance, returned: tuple[Any, Any, list[str]], steps: int, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """What the implementation returned, as time-major (T, B, D*H) and (L*D, B, H)
    tensors still attached to the autograd graph (shapes already checked by ``read``)."""
    config = instance.config
    call = f"{subject.name}.run"
    output = _as_tensor(returned[0], "output", call)
    h_n = _as_tensor(returned[1], "h_n", call)
    width = config.num_directions * config.hidden_size
    if config.batch_first and not subject.is_cell:
        output = output.reshape(batch, steps, width).transpose(0, 1)
    else:
        output = output.reshape(steps, batch, width)
    h_n = h_n.reshape(config.num_layers * config.num_directions, batch, config.hidden_size)
    return output, h_n


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
    spec = case.spec
    x, h0 = subject.prepare(instance, case.x, initial_state(case, with_h0))
    x = x.detach().requires_grad_(True)
    h0 = None if h0 is None else h0.detach().requires_grad_(True)
    returned = subject.invoke(instance, x, h0, grad=True)
    result = subject.read(instance, returned, x, h0)  # raises AdapterError if unreadable
    call = f"{result.call}, then backward of the generated loss"
    output, h_n = canonical_tensors(subject, instance, returned, spec.steps, spec.batch)
    if not (output.requires_grad or h_n.requires_grad):
        fail("output and h_n do not require grad: the implementation cuts the autograd graph, "
             "but should let gradients flow back to x, h0 and the parameters", call=call, case=spec)
    loss = weights.loss(output, h_n)
    try:
        loss.backward()
    except Exception as exc:  # noqa: BLE001 - a backward that raises is the adapter's error
        raise AdapterError(f"backward raised {type(exc).__name__}: {exc}", call) from exc
    grads = {"x": _grad_of(x, instance.config.batch_first and not subject.is_cell)}
    if h0 is not None:
        grads["h0"] = _grad_of(h0, False)
    if parameters:
        grads.update(subject.parameter_grads(instance) or {})
    return grads, call


def _grad_of(leaf: torch.Tensor, batch_first: bool) -> np.ndarray:
    """A leaf's gradient as a time-major float64 array; no gradient reads as zeros
    (the output does not depend on it, which the comparison then shows)."""
    grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
    array = grad.detach().to("cpu", torch.float64).numpy().copy()
    return array.transpose(1, 0, 2) if batch_first else array


def gradcheck_function(subject: Subject, instance: Instance, steps: int, batch: int
                       ) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """``(x, h0) -> (output, h_n)`` through the implementation, for ``torch.autograd.gradcheck``."""

    def run(x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        returned = subject.invoke(instance, x, h0, grad=True)
        subject.read(instance, returned, x, h0)
        return canonical_tensors(subject, instance, returned, steps, batch)

    return run


def describe_gradcheck(subject: Subject, x: torch.Tensor, h0: torch.Tensor | None) -> str:
    name = f"{subject.name}.{'step' if subject.is_cell else 'run'}"
    return f"torch.autograd.gradcheck({describe_call(name, x, h0)})"
