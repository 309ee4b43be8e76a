"""The oracle's gradients: back-propagation through time of eq. (1)-(4), in float64 NumPy.

For the generated loss ``sum(output * G) + sum(h_n * G')`` (``LossWeights``) this gives the
gradients with respect to x, h0 and every canonical parameter, as the oracle's own
derivative: each direction runs forward once keeping its gates, then backward, one step at
a time for the state and in one matmul over every step for the parameters. It is what the
gradient checks compare with; the self-tests hold it to torch autograd of the same
equations (``conformance.model.reference_autograd``) within 1e-12. Autograd records a graph of
a dozen nodes per step, ten times the cost at thousands of steps.

Per step, with a = pre-activation and dh the gradient reaching h' = (1 - z) n + z h::

    dz = dh (h - n)        dn = dh (1 - z)        dh_prev = dh z + ...
    da_n = dn (1 - n^2)    da_z = dz z (1 - z)    da_r = dr r (1 - r)
    reset after:  dr = da_n (W_hn h + b_hn),  d(W_hn h + b_hn) = da_n r
    reset before: d(r h) = W_hn^T da_n,       dr = d(r h) h,   dh_prev += d(r h) r
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.model.oracle import Reset, input_projection, sigmoid
from conformance.base.params import CanonicalParams, param_name


@dataclass
class _Forward:
    """One direction's forward pass, with what its backward pass needs (processing order
    is input time order reversed for the reverse direction; arrays are in input time order)."""

    states: np.ndarray  # (T, B, H): h_t after step t
    h_prev: np.ndarray  # (T, B, H): the state step t started from
    r: np.ndarray
    z: np.ndarray
    n: np.ndarray
    gh_n: np.ndarray  # W_hn h_prev + b_hn (reset after) or W_hn (r h_prev) + b_hn (reset before)


def _forward(gx: np.ndarray, h0: np.ndarray, w_hh: np.ndarray, b_hh: np.ndarray, reverse: bool,
             reset: Reset) -> _Forward:
    steps, hidden = gx.shape[0], h0.shape[-1]
    keep = {name: np.empty((steps, *h0.shape)) for name in ("states", "h_prev", "r", "z", "n", "gh_n")}
    w_hh_t = w_hh.T
    h = h0
    for t in reversed(range(steps)) if reverse else range(steps):
        keep["h_prev"][t] = h
        gh = h @ w_hh_t + b_hh
        rz = sigmoid(gx[t, :, : 2 * hidden] + gh[:, : 2 * hidden])
        r, z = rz[:, :hidden], rz[:, hidden:]
        gh_n = gh[:, 2 * hidden:] if reset == "after" else (r * h) @ w_hh_t[:, 2 * hidden:] + b_hh[2 * hidden:]
        n = np.tanh(gx[t, :, 2 * hidden:] + (r * gh_n if reset == "after" else gh_n))
        h = n + z * (h - n)
        keep["states"][t], keep["r"][t], keep["z"][t], keep["n"][t], keep["gh_n"][t] = h, r, z, n, gh_n
    return _Forward(**keep)


def _backward(fw: _Forward, d_states: np.ndarray, d_final: np.ndarray, w_hh: np.ndarray, reverse: bool,
              reset: Reset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d pre-activations of the input projection (T, B, 3H), d of the recurrent projection
    (T, B, 3H), d h0) from the gradients reaching each state and the final one."""
    steps, hidden = d_states.shape[0], d_final.shape[-1]
    d_gx = np.empty((steps, d_final.shape[0], 3 * hidden))
    d_gh = np.empty_like(d_gx)
    w_hn = w_hh[2 * hidden:]
    dh = d_final
    for t in range(steps) if reverse else reversed(range(steps)):
        dh = dh + d_states[t]
        r, z, n, h_prev = fw.r[t], fw.z[t], fw.n[t], fw.h_prev[t]
        da_n = dh * (1.0 - z) * (1.0 - n * n)
        da_z = dh * (h_prev - n) * z * (1.0 - z)
        dh_prev = dh * z
        if reset == "after":
            da_r = da_n * fw.gh_n[t] * r * (1.0 - r)
            d_gh[t, :, 2 * hidden:] = da_n * r
        else:
            d_rh = da_n @ w_hn
            da_r = d_rh * h_prev * r * (1.0 - r)
            dh_prev = dh_prev + d_rh * r
            d_gh[t, :, 2 * hidden:] = da_n  # the gradient of W_hn (r h) + b_hn
        d_gx[t, :, :hidden], d_gx[t, :, hidden:2 * hidden], d_gx[t, :, 2 * hidden:] = da_r, da_z, da_n
        d_gh[t, :, : 2 * hidden] = d_gx[t, :, : 2 * hidden]
        rows = slice(None) if reset == "after" else slice(0, 2 * hidden)
        dh = dh_prev + d_gh[t, :, rows] @ w_hh[rows]
    return d_gx, d_gh, dh


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, a.shape[-1])


def oracle_gradients(
    x: np.ndarray,
    params: CanonicalParams,
    h0: np.ndarray | None,
    output_weights: np.ndarray,
    h_n_weights: np.ndarray,
    *,
    reset: Reset = "after",
) -> dict[str, np.ndarray]:
    """Gradients of ``sum(output * output_weights) + sum(h_n * h_n_weights)`` for time-major
    ``x`` (T, B, I): "x", "h0" (zeros given when ``h0`` is None) and every canonical parameter
    the parameters hold."""
    steps, batch, _ = x.shape
    hidden, dirs, layers = params.hidden_size, params.num_directions, params.num_layers
    h0 = np.zeros((layers * dirs, batch, hidden)) if h0 is None else np.asarray(h0, dtype=np.float64)
    inputs, forwards = [np.asarray(x, dtype=np.float64)], []
    for layer in range(layers):
        passes = []
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = (params.get(kind, layer, d == 1)
                                      for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            gx = input_projection(inputs[-1], w_ih, b_ih)
            passes.append(_forward(gx, h0[layer * dirs + d], w_hh, b_hh, d == 1, reset))
        forwards.append(passes)
        inputs.append(np.concatenate([f.states for f in passes], axis=-1))
    grads: dict[str, np.ndarray] = {"h0": np.zeros_like(h0)}
    d_output = np.asarray(output_weights, dtype=np.float64)  # d loss / d (this layer's output)
    for layer in reversed(range(layers)):
        d_input = np.zeros_like(inputs[layer])
        for d in range(dirs):
            reverse = d == 1
            slot = layer * dirs + d
            fw = forwards[layer][d]
            w_ih, w_hh = params.get("weight_ih", layer, reverse), params.get("weight_hh", layer, reverse)
            d_gx, d_gh, grads["h0"][slot] = _backward(fw, d_output[..., d * hidden:(d + 1) * hidden],
                                                       h_n_weights[slot], w_hh, reverse, reset)
            d_input += (_flat(d_gx) @ w_ih).reshape(d_input.shape)
            # Parameters: one matmul over every step and sample.
            found = {"weight_ih": _flat(d_gx).T @ _flat(inputs[layer]), "bias_ih": d_gx.sum(axis=(0, 1)),
                     "weight_hh": _hh_gradient(d_gh, fw, reset, hidden), "bias_hh": d_gh.sum(axis=(0, 1))}
            for kind, value in found.items():
                name = param_name(kind, layer, reverse)
                if name in params:
                    grads[name] = value
        d_output = d_input
    grads["x"] = d_output
    return grads


def _hh_gradient(d_gh: np.ndarray, fw: _Forward, reset: Reset, hidden: int) -> np.ndarray:
    """d W_hh: each gate block's gradient times what the block multiplies: h_prev, and for
    reset-before's candidate block r * h_prev."""
    if reset == "after":
        return _flat(d_gh).T @ _flat(fw.h_prev)
    rz = _flat(d_gh[..., : 2 * hidden]).T @ _flat(fw.h_prev)
    n = _flat(d_gh[..., 2 * hidden:]).T @ _flat(fw.r * fw.h_prev)
    return np.concatenate([rz, n])


def case_gradients(case, weights, *, reset: Reset = "after", with_h0: bool = True) -> dict[str, np.ndarray]:
    """``oracle_gradients`` of a generated case for the loss ``weights`` (``LossWeights``): "x",
    "h0" and every canonical parameter the case has, as
    ``conformance.model.reference_autograd.reference_gradients`` gives them: without ``with_h0``
    (an implementation that takes no initial state) the run starts from zeros and there is
    no "h0" gradient."""
    h0 = case.h0 if with_h0 else None
    grads = oracle_gradients(case.x, case.params, h0, weights.output, weights.h_n, reset=reset)
    if not with_h0:
        grads.pop("h0")
    return grads
