"""The parameter layouts GRU code is written in, each one call on the canonical
parameters (PyTorch's names and layout, gate order r, z, n), so an adapter's ``load``
needs no hand-written slicing, and the inverse of each for ``grads``.

    from conformance import layouts

    layouts.kernel(params, "weight_ih", order="zrn", transposed=True)   # Keras / JAX: (I, 3H), z|r|n
    layouts.per_gate(params)["W_hn"]                                     # one matrix per gate and input
    layouts.concat_xh(params, "z")                                       # Linear(I + H, H) on cat(x, h)
    layouts.folded_bias(params, reset="before")                          # one bias per gate: b_i + b_h
    layouts.fused_bias(params)                                           # r, z folded; b_hn apart (Flax)

and, the other way, whole parameter sets of other frameworks as canonical parameters:

    layouts.from_onnx(W, R, B)                                           # ONNX GRU inputs, any direction
    layouts.from_keras(kernel, recurrent_kernel, bias)                   # a Keras GRU layer's weights

Every function takes ``layer`` and ``reverse`` for multi-layer and bidirectional
parameters (a cell adapter's ``params`` are already its own layer and direction) and
returns float64 NumPy arrays; ``tensor(array, like)`` makes a torch tensor of another
tensor's dtype and device.

Folding b_ih and b_hh into one bias per gate is exact for r and z, and for the
candidate only when the reset gate acts before the recurrent matmul: in the PyTorch
(reset-after) GRU b_hn sits inside ``r * (W_hn h + b_hn)``, where a single bias cannot
stand for it, so ``folded_bias`` refuses (``LayoutError``) instead of moving it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.base.params import GATES, CanonicalParams, gate_rows, param_name

#: Names other code gives the candidate block: Keras and ONNX "h", Paddle "c", Haiku "a".
_CANDIDATE_ALIASES = {"h": "n", "c": "n", "a": "n"}
KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class LayoutError(ValueError):
    """The canonical parameters cannot be written in the asked layout."""


def _order(order: str) -> tuple[str, str, str]:
    gates = tuple(_CANDIDATE_ALIASES.get(g, g) for g in order.lower())
    if sorted(gates) != sorted(GATES):
        raise LayoutError(f"gate order {order!r} is not an order of r, z and n (the candidate may be "
                          f"called h, c or a)")
    return gates  # type: ignore[return-value]


def _gate(name: str) -> str:
    gate = _CANDIDATE_ALIASES.get(name.lower(), name.lower())
    if gate not in GATES:
        raise LayoutError(f"gate {name!r} is not r, z or n (the candidate may be called h, c or a)")
    return gate


def _array(params: Mapping[str, Any], kind: str, layer: int, reverse: bool) -> np.ndarray:
    if isinstance(params, CanonicalParams):
        return np.asarray(params.get(kind, layer, reverse), dtype=np.float64)
    name = param_name(kind, layer, reverse)
    if name not in params:
        raise LayoutError(f"no {name} among the parameters ({', '.join(params)})")
    return np.asarray(params[name], dtype=np.float64)


def reorder(array: np.ndarray, order: str) -> np.ndarray:
    """Gate blocks of a stacked (3H, ...) weight or (3H,) bias from r, z, n into ``order``."""
    blocks = {g: gate_rows(np.asarray(array), g) for g in GATES}  # type: ignore[arg-type]
    return np.concatenate([blocks[g] for g in _order(order)])


def canonical_order(array: np.ndarray, order: str) -> np.ndarray:
    """The inverse of ``reorder``: blocks stacked in ``order`` back into r, z, n."""
    gates = _order(order)
    hidden = np.asarray(array).shape[0] // 3
    blocks = {g: np.asarray(array)[i * hidden:(i + 1) * hidden] for i, g in enumerate(gates)}
    return np.concatenate([blocks[g] for g in GATES])


def kernel(params: Mapping[str, Any], kind: str = "weight_ih", *, layer: int = 0, reverse: bool = False,
           order: str = "rzn", transposed: bool = False) -> np.ndarray:
    """A stacked weight (``weight_ih`` (3H, in), ``weight_hh`` (3H, H)) or bias (3H,), its gate
    blocks in ``order``; ``transposed``: (in, 3H), the kernel layout of Keras and JAX."""
    if kind not in KINDS:
        raise LayoutError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    stacked = reorder(_array(params, kind, layer, reverse), order)
    return stacked.T.copy() if transposed and stacked.ndim == 2 else stacked


def from_kernel(array: np.ndarray, *, order: str = "rzn", transposed: bool = False) -> np.ndarray:
    """The inverse of ``kernel``: a stacked weight or bias in ``order`` (transposed or not)
    back into the canonical (3H, in) or (3H,), e.g. for an adapter's ``grads``."""
    array = np.asarray(array)
    return canonical_order(array.T if transposed and array.ndim == 2 else array, order)


def per_gate(params: Mapping[str, Any], *, layer: int = 0, reverse: bool = False) -> dict[str, np.ndarray]:
    """One array per gate and input: ``W_ir W_iz W_in`` (H, in), ``W_hr W_hz W_hn`` (H, H),
    ``b_ir b_iz b_in b_hr b_hz b_hn`` (H,): code with a Linear (or a matrix) per gate."""
    out: dict[str, np.ndarray] = {}
    for kind, prefix in (("weight_ih", "W_i"), ("weight_hh", "W_h"), ("bias_ih", "b_i"), ("bias_hh", "b_h")):
        stacked = _array(params, kind, layer, reverse)
        for g in GATES:
            out[f"{prefix}{g}"] = gate_rows(stacked, g).copy()  # type: ignore[arg-type]
    return out


def concat_xh(params: Mapping[str, Any], gate: str, *, layer: int = 0, reverse: bool = False) -> np.ndarray:
    """The weight (H, in + H) of a ``Linear(in + H, H)`` applied to ``cat(x, h)`` for one
    gate: ``[W_ig | W_hg]``. For the candidate of a reset-before GRU, the same matrix
    applied to ``cat(x, r * h)``. Its bias is ``folded_bias(params, gate, reset=...)``."""
    g = _gate(gate)
    w_i = gate_rows(_array(params, "weight_ih", layer, reverse), g)  # type: ignore[arg-type]
    w_h = gate_rows(_array(params, "weight_hh", layer, reverse), g)  # type: ignore[arg-type]
    return np.concatenate([w_i, w_h], axis=1)


def from_concat_xh(weights: Mapping[str, np.ndarray], input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of ``concat_xh`` for all three gates ({"r": ..., "z": ..., "n": ...}):
    the canonical ``weight_ih`` (3H, in) and ``weight_hh`` (3H, H)."""
    w_ih = np.concatenate([np.asarray(weights[g])[:, :input_size] for g in GATES])
    w_hh = np.concatenate([np.asarray(weights[g])[:, input_size:] for g in GATES])
    return w_ih, w_hh


def folded_bias(params: Mapping[str, Any], gate: str | None = None, *, reset: str, layer: int = 0,
                reverse: bool = False, order: str = "rzn") -> np.ndarray:
    """One bias per gate, ``b_ig + b_hg`` ((H,) for ``gate``, else (3H,) in ``order``).

    Exact for r and z; for the candidate only with ``reset="before"``. With
    ``reset="after"`` b_hn sits inside the reset product and cannot be folded: this
    raises ``LayoutError`` rather than compute another GRU (unless b_hn is zero)."""
    if reset not in ("before", "after"):
        raise LayoutError(f"reset is {reset!r}: say 'before' or 'after' (where the reset gate acts)")
    b_ih = _array(params, "bias_ih", layer, reverse)
    b_hh = _array(params, "bias_hh", layer, reverse)
    gates = [_gate(gate)] if gate is not None else list(_order(order))
    if reset == "after" and "n" in gates and np.any(gate_rows(b_hh, "n") != 0):
        raise LayoutError(
            "one bias per gate cannot hold the reset-after GRU's b_hn: it sits inside r * (W_hn h + b_hn), "
            "and folding it into the candidate's bias would move it outside the reset product (another GRU). "
            "Keep b_hn apart (a bias on the recurrent candidate term), or claim reset='before' if the code "
            "applies r before the matmul")
    return np.concatenate([gate_rows(b_ih, g) + gate_rows(b_hh, g) for g in gates])  # type: ignore[arg-type]


def fused_bias(params: Mapping[str, Any], *, layer: int = 0, reverse: bool = False,
               order: str = "rzn") -> tuple[np.ndarray, np.ndarray]:
    """The reset-after GRU's biases in two (Flax, Equinox, MLX): ``(bias, b_hn)``, where
    bias (3H,) in ``order`` holds b_ir + b_hr, b_iz + b_hz and b_in, and b_hn (H,) stays
    apart, inside the reset product. Exact for both reset placements."""
    b_ih = _array(params, "bias_ih", layer, reverse)
    b_hh = _array(params, "bias_hh", layer, reverse)
    fused = {g: gate_rows(b_ih, g) + (gate_rows(b_hh, g) if g != "n" else 0.0) for g in GATES}
    return np.concatenate([fused[g] for g in _order(order)]), gate_rows(b_hh, "n")


def from_onnx(W: Any, R: Any, B: Any = None) -> CanonicalParams:
    """Canonical parameters from an ONNX GRU's inputs: ``W`` [D, 3H, I] and ``R`` [D, 3H, H]
    with gate blocks z, r, h, and ``B`` [D, 6H] (Wb then Rb, each z, r, h), or none (zeros).
    D = 2 is ``direction="bidirectional"`` (forward then reverse). The convention is
    ``linear_before_reset``'s: 1 is reset="after", 0 (ONNX's default) reset="before"."""
    W, R = np.asarray(W, dtype=np.float64), np.asarray(R, dtype=np.float64)
    if W.ndim != 3 or R.ndim != 3 or W.shape[0] != R.shape[0] or W.shape[0] not in (1, 2):
        raise LayoutError(f"got W {W.shape} and R {R.shape}, but ONNX's are [D, 3H, I] and [D, 3H, H], D 1 or 2")
    hidden = R.shape[-1]
    arrays: dict[str, np.ndarray] = {}
    for d in range(W.shape[0]):
        reverse = d == 1
        arrays[param_name("weight_ih", 0, reverse)] = from_kernel(W[d], order="zrn")
        arrays[param_name("weight_hh", 0, reverse)] = from_kernel(R[d], order="zrn")
        if B is not None:
            b = np.asarray(B, dtype=np.float64)[d]
            arrays[param_name("bias_ih", 0, reverse)] = from_kernel(b[: 3 * hidden], order="zrn")
            arrays[param_name("bias_hh", 0, reverse)] = from_kernel(b[3 * hidden:], order="zrn")
    return CanonicalParams.from_arrays(arrays)


def from_keras(kernel: Any, recurrent_kernel: Any, bias: Any = None) -> CanonicalParams:
    """Canonical parameters from a Keras ``GRU`` layer's weights: ``kernel`` (I, 3H) and
    ``recurrent_kernel`` (H, 3H), gate blocks z, r, h along the columns, and ``bias``:
    (2, 3H) (input bias, recurrent bias) with ``reset_after=True`` (the default, reset="after"),
    (3H,) with ``reset_after=False`` (reset="before": one bias, on the input side), or none
    (``use_bias=False``)."""
    arrays = {"weight_ih_l0": from_kernel(kernel, order="zrn", transposed=True),
              "weight_hh_l0": from_kernel(recurrent_kernel, order="zrn", transposed=True)}
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)
        if bias.ndim == 2:
            arrays["bias_ih_l0"], arrays["bias_hh_l0"] = from_kernel(bias[0], order="zrn"), from_kernel(bias[1], order="zrn")
        else:
            arrays["bias_ih_l0"], arrays["bias_hh_l0"] = from_kernel(bias, order="zrn"), np.zeros_like(bias)
    return CanonicalParams.from_arrays(arrays)


def tensor(array: np.ndarray, like: Any) -> Any:
    """``array`` as a torch tensor with the dtype and device of the tensor ``like``."""
    import torch

    return torch.tensor(np.ascontiguousarray(array), dtype=like.dtype, device=like.device)
