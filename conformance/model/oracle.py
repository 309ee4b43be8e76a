"""The float64 NumPy oracle: the GRU equations, independent of torch.

Equations (PyTorch ``nn.GRU``; README "The equations", eq. 1-4)::

    r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)                  (1)
    z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)                  (2)
    n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))               (3, reset after)
    n  = tanh(W_in x + b_in + W_hn (r * h) + b_hn)               (3', reset before)
    h' = (1 - z) * n + z * h                                     (4)

Layer k > 0 reads the concatenated outputs of layer k-1 (forward half first).
The reverse direction reads the sequence from its end; its outputs are stored
in input time order. ``h_n`` is (L*D, B, H), layer-major then direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from conformance.base.params import CanonicalParams

Reset = Literal["after", "before"]


def sigmoid(a: np.ndarray) -> np.ndarray:
    # 1/2 + tanh(a/2)/2 never overflows, unlike 1 / (1 + exp(-a)), and costs one tanh
    # (exp(-logaddexp(0, -a)) costs an exp, a log and a log1p: a third of the oracle's time
    # at T = 131). Its absolute error is below 1.2e-16; the suite's comparisons are absolute.
    return 0.5 + 0.5 * np.tanh(0.5 * a)


def gru_cell_step(
    gx: np.ndarray,
    h: np.ndarray,
    w_hh: np.ndarray,
    b_hh: np.ndarray,
    reset: Reset = "after",
) -> np.ndarray:
    """One step from the precomputed input projection ``gx = W_ih x + b_ih`` (B, 3H)."""
    return _step(gx, h, w_hh.T, b_hh, reset)


def _step(gx: np.ndarray, h: np.ndarray, w_hh_t: np.ndarray, b_hh: np.ndarray, reset: Reset) -> np.ndarray:
    """``gru_cell_step`` with W_hh given transposed: a view (BLAS reads it as it is; a
    transposed copy of a 1031 x 3093 matrix costs more than the steps that use it)."""
    hidden = h.shape[-1]
    gh = h @ w_hh_t + b_hh
    # r and z in one call: one sigmoid over the (B, 2H) block.
    rz = sigmoid(gx[..., : 2 * hidden] + gh[..., : 2 * hidden])
    r, z = rz[..., :hidden], rz[..., hidden:]
    if reset == "after":
        n = np.tanh(gx[..., 2 * hidden :] + r * gh[..., 2 * hidden :])
    else:
        n = np.tanh(gx[..., 2 * hidden :] + (r * h) @ w_hh_t[:, 2 * hidden :] + b_hh[2 * hidden :])
    return n + z * (h - n)  # (1 - z) * n + z * h, one multiply fewer


def input_projection(x: np.ndarray, w_ih: np.ndarray, b_ih: np.ndarray) -> np.ndarray:
    """W_ih x_t + b_ih for every step at once: (T, B, 3H), as one 2-D matmul (a stacked
    3-D one is several times slower)."""
    steps, batch, width = x.shape
    return (x.reshape(steps * batch, width) @ w_ih.T + b_ih).reshape(steps, batch, w_ih.shape[0])


def gru_direction(
    x: np.ndarray,
    h0: np.ndarray,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
    *,
    reverse: bool = False,
    reset: Reset = "after",
) -> np.ndarray:
    """States (T, B, H) of one layer and direction, in input time order."""
    gx = input_projection(x, w_ih, b_ih)
    steps = x.shape[0]
    states = np.empty((steps, *h0.shape))
    w_hh_t = w_hh.T
    h = h0
    for t in reversed(range(steps)) if reverse else range(steps):
        h = _step(gx[t], h, w_hh_t, b_hh, reset)
        states[t] = h
    return states


@dataclass
class OracleRun:
    """Everything the oracle computed for one input."""

    output: np.ndarray  # (T, B, D*H)
    h_n: np.ndarray  # (L*D, B, H)
    #: states[layer][direction] is (T, B, H) in input time order.
    states: list[list[np.ndarray]] = field(repr=False)
    h0: np.ndarray = field(repr=False)

    def step_initial_state(self, t: int) -> np.ndarray:
        """The h0 (L*D, B, H) that makes a length-1 run at time t reproduce step t:
        forward directions start from their state at t-1, reverse ones from t+1."""
        steps = self.output.shape[0]
        rows = []
        for layer, directions in enumerate(self.states):
            for d, states in enumerate(directions):
                index = layer * len(directions) + d
                neighbour = t - 1 if d == 0 else t + 1
                rows.append(states[neighbour] if 0 <= neighbour < steps else self.h0[index])
        return np.stack(rows)

    def step_state(self, t: int) -> np.ndarray:
        """All layers' and directions' states at time t, shaped like h_n."""
        return np.stack([states[t] for directions in self.states for states in directions])

    def teacher_forced(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step t on its own, from the oracle's own previous states (teacher forcing): the h0
        to give a length-1 run on ``x[t:t+1]``, and the output (1, B, D*H) and h_n (L*D, B, H)
        it should return. Errors of earlier steps cannot accumulate into it."""
        return self.step_initial_state(t), self.output[t : t + 1], self.step_state(t)


def gru_forward(
    x: np.ndarray,
    params: CanonicalParams,
    h0: np.ndarray | None = None,
    *,
    reset: Reset = "after",
) -> OracleRun:
    """Run the full GRU (all layers and directions) on time-major ``x`` (T, B, I)."""
    x = np.asarray(x, dtype=np.float64)
    steps, batch, _ = x.shape
    hidden = params.hidden_size
    num_dirs = params.num_directions
    if h0 is None:
        h0 = np.zeros((params.num_layers * num_dirs, batch, hidden))
    h0 = np.asarray(h0, dtype=np.float64)
    layer_input = x
    all_states: list[list[np.ndarray]] = []
    for layer in range(params.num_layers):
        directions = []
        for d in range(num_dirs):
            reverse = d == 1
            directions.append(
                gru_direction(
                    layer_input,
                    h0[layer * num_dirs + d],
                    params.get("weight_ih", layer, reverse),
                    params.get("weight_hh", layer, reverse),
                    params.get("bias_ih", layer, reverse),
                    params.get("bias_hh", layer, reverse),
                    reverse=reverse,
                    reset=reset,
                )
            )
        all_states.append(directions)
        layer_input = np.concatenate(directions, axis=-1)
    h_n = np.stack(
        [
            states[-1] if d == 0 else states[0]
            for directions in all_states
            for d, states in enumerate(directions)
        ]
    ) if steps else h0.copy()
    return OracleRun(output=layer_input, h_n=h_n, states=all_states, h0=h0)


def teacher_forced_steps(
    run: OracleRun, x: np.ndarray, params: CanonicalParams, *, reset: Reset = "after", takes_h0: bool = True,
) -> list[tuple[int, np.ndarray | None, np.ndarray, np.ndarray]]:
    """The single steps a step-by-step comparison makes, as (t, h0 to give, output, h_n it
    should return): every t from the oracle's own previous states, or, for an implementation
    that takes no h0 (``takes_h0`` False), x[0:1] alone from zeros, the only state it can be given."""
    if takes_h0:
        return [(t, *run.teacher_forced(t)) for t in range(run.output.shape[0])]
    alone = gru_forward(x[:1], params, None, reset=reset)
    return [(0, None, alone.output, alone.h_n)]

