"""A float64 torch transcription of the oracle, for reference gradients.

The NumPy oracle (``conformance.model.oracle``) has no gradients. This module
computes the same equations with torch operations in float64, so autograd
gives the oracle's gradients with respect to the input, h0 and every canonical
parameter. The self-tests hold it to the oracle within 1e-12 (forward) and to
``torch.nn.GRU``'s float64 gradients (reset-after claims).

It also runs variable-length batches the way ``nn.GRU`` runs a
``PackedSequence``: sample b only sees its first ``lengths[b]`` steps, its
outputs past that are zero, its forward final state is its state at step
``lengths[b] - 1`` and its reverse direction starts at that step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from conformance.base.params import CanonicalParams, param_name

KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _cell(
    x_t: torch.Tensor,
    h: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
    reset: str,
) -> torch.Tensor:
    """Eq. (1)-(4) (eq. (3') for reset-before), as the oracle writes them."""
    gx_r, gx_z, gx_n = (x_t @ w_ih.T + b_ih).chunk(3, dim=-1)
    gh_r, gh_z, gh_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(gx_r + gh_r)
    z = torch.sigmoid(gx_z + gh_z)
    if reset == "after":
        n = torch.tanh(gx_n + r * gh_n)
    else:
        hidden = h.shape[-1]
        n = torch.tanh(gx_n + (r * h) @ w_hh[2 * hidden :].T + b_hh[2 * hidden :])
    return (1.0 - z) * n + z * h


def leaf_params(params: CanonicalParams) -> dict[str, torch.Tensor]:
    """Every canonical parameter as a float64 leaf tensor that requires grad
    (missing biases of a ``bias=False`` configuration as zeros that do not)."""
    leaves: dict[str, torch.Tensor] = {}
    for layer in range(params.num_layers):
        for reverse in (False, True)[: params.num_directions]:
            for kind in KINDS:
                name = param_name(kind, layer, reverse)
                value = torch.tensor(params.get(kind, layer, reverse), dtype=torch.float64)
                leaves[name] = value.requires_grad_(name in params)
    return leaves


def gru_forward_torch(
    x: torch.Tensor,
    weights: Mapping[str, torch.Tensor],
    h0: torch.Tensor | None,
    *,
    num_layers: int,
    bidirectional: bool,
    hidden_size: int,
    reset: str = "after",
    lengths: Sequence[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(output (T, B, D*H), h_n (L*D, B, H))`` for time-major ``x`` (T, B, I).

    With ``lengths``, sample b's steps t >= lengths[b] are padding: they leave
    its state unchanged and its outputs there are zero.
    """
    steps, batch = x.shape[0], x.shape[1]
    dirs = 2 if bidirectional else 1
    if h0 is None:
        h0 = torch.zeros(num_layers * dirs, batch, hidden_size, dtype=x.dtype)
    if lengths is None:
        valid = None
    else:
        length = torch.as_tensor(list(lengths))
        # valid[t, b] is True where step t is a real element of sample b.
        valid = (torch.arange(steps)[:, None] < length[None, :]).to(x.dtype)[..., None]
    layer_input = x
    finals: list[torch.Tensor] = []
    for layer in range(num_layers):
        halves = []
        for d in range(dirs):
            reverse = d == 1
            w = [weights[param_name(kind, layer, reverse)] for kind in KINDS]
            h = h0[layer * dirs + d]
            outs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
            for t in reversed(range(steps)) if reverse else range(steps):
                h_new = _cell(layer_input[t], h, *w, reset)
                if valid is not None:
                    # Padding steps keep the state: the reverse direction thus starts
                    # at each sample's last real element, the forward one stops there.
                    h_new = valid[t] * h_new + (1.0 - valid[t]) * h
                h = h_new
                outs[t] = h if valid is None else h * valid[t]
            halves.append(torch.stack(outs) if steps else torch.zeros(0, batch, hidden_size, dtype=x.dtype))
            finals.append(h)
        layer_input = torch.cat(halves, dim=-1)
    return layer_input, torch.stack(finals)


@dataclass
class LossWeights:
    """The generated loss ``sum(output * output_weights) + sum(h_n * h_n_weights)``:
    random weights so that every element of output and h_n matters, differently."""

    output: np.ndarray  # (T, B, D*H), time-major
    h_n: np.ndarray  # (L*D, B, H)

    @classmethod
    def for_case(cls, spec, seed_offset: int = 104729) -> "LossWeights":
        rng = np.random.default_rng(spec.seed + seed_offset)
        dirs = spec.num_directions
        output = rng.uniform(-1.0, 1.0, (spec.steps, spec.batch, dirs * spec.hidden_size))
        h_n = rng.uniform(-1.0, 1.0, (spec.num_layers * dirs, spec.batch, spec.hidden_size))
        return cls(output, h_n)

    def loss(self, output: torch.Tensor, h_n: torch.Tensor) -> torch.Tensor:
        """The loss of time-major ``output`` and ``h_n`` (computed in float64)."""
        go = torch.as_tensor(self.output, device=output.device)
        gh = torch.as_tensor(self.h_n, device=h_n.device)
        return (output.to(torch.float64) * go).sum() + (h_n.to(torch.float64) * gh).sum()


def reference_gradients(
    case,
    weights: LossWeights,
    *,
    reset: str = "after",
    with_h0: bool = True,
) -> dict[str, np.ndarray]:
    """Float64 gradients of ``weights.loss`` with respect to "x" (T, B, I),
    "h0" (L*D, B, H) (when ``with_h0``) and every canonical parameter name."""
    spec = case.spec
    leaves = leaf_params(case.params)
    x = torch.tensor(case.x, dtype=torch.float64, requires_grad=True)
    h0 = None
    if with_h0:
        h0_values = case.h0 if case.h0 is not None else np.zeros(
            (spec.num_layers * spec.num_directions, spec.batch, spec.hidden_size))
        h0 = torch.tensor(h0_values, dtype=torch.float64, requires_grad=True)
    output, h_n = gru_forward_torch(
        x, leaves, h0, num_layers=spec.num_layers, bidirectional=spec.bidirectional,
        hidden_size=spec.hidden_size, reset=reset,
    )
    weights.loss(output, h_n).backward()
    grads = {"x": x.grad.numpy().copy()}
    if h0 is not None:
        grads["h0"] = h0.grad.numpy().copy()
    for name, leaf in leaves.items():
        if name in case.params:
            grads[name] = leaf.grad.numpy().copy()
    return grads


def torch_gru_gradients(case, weights: LossWeights, *, with_h0: bool = True) -> dict[str, np.ndarray]:
    """The same gradients from ``torch.nn.GRU`` in float64 (reset-after only)."""
    from conformance.model.reference import torch_gru

    spec = case.spec
    gru = torch_gru(case.params)
    x = torch.tensor(case.x, dtype=torch.float64, requires_grad=True)
    h0 = None
    if with_h0:
        h0_values = case.h0 if case.h0 is not None else np.zeros(
            (spec.num_layers * spec.num_directions, spec.batch, spec.hidden_size))
        h0 = torch.tensor(h0_values, dtype=torch.float64, requires_grad=True)
    output, h_n = gru(x, h0)
    weights.loss(output, h_n).backward()
    grads = {"x": x.grad.numpy().copy()}
    if h0 is not None:
        grads["h0"] = h0.grad.numpy().copy()
    for name, p in gru.named_parameters():
        grads[name] = p.grad.numpy().copy()
    return grads
