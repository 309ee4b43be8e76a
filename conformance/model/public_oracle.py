"""The float64 GRU oracle as a public function, for your own unit tests: ``conformance.gru``.

It is the suite's oracle (``conformance.model.oracle``, equal to ``torch.nn.GRU`` within 1e-12
in float64 in the self-tests), pure NumPy (importing it does not import torch), with the
call forms real code uses around it::

    from conformance import gru, layouts

    out, h_n = gru(x, params)                                    # nn.GRU's: x (T, B, I), h_n (L*D, B, H)
    out, h_n = gru(x, params, h0, batch_first=True)              # x (B, T, I), output (B, T, D*H)
    out, h_n = gru(x, params, lengths=[5, 3])                    # a padded batch, as a PackedSequence
    out, h_n = gru(x, params, mask=mask, masked_output="hold")   # a Keras mask (B, T) with batch_first
    out, h_n = gru(x, layouts.from_onnx(W, R, B), reset="before", reverse=True)  # ONNX, direction="reverse"
    out, h_n = gru(x, params, update="complement")               # h' = (1 - z) h + z n (Chung et al. 2014)

``params`` is a ``CanonicalParams`` or anything ``CanonicalParams.from_arrays`` reads (an
``nn.GRU`` state dict, a dict of arrays); layers and directions come from its names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from conformance.base.conventions import RESETS, UPDATES, complement_params
from conformance.model.oracle import gru_cell_step, gru_forward
from conformance.base.params import CanonicalParams

__all__ = ["GRUResult", "gru"]


class GRUResult(NamedTuple):
    """``(output, h_n)`` as ``nn.GRU`` returns them, float64."""

    output: np.ndarray
    h_n: np.ndarray


def gru(
    x: Any,
    params: CanonicalParams | Mapping[str, Any],
    h0: Any = None,
    *,
    reset: Literal["after", "before"] = "after",
    update: Literal["pytorch", "complement"] = "pytorch",
    batch_first: bool = False,
    reverse: bool = False,
    lengths: Sequence[int] | None = None,
    mask: Any = None,
    masked_output: Literal["zero", "hold"] = "zero",
) -> GRUResult:
    """The GRU's ``(output, h_n)`` in float64, every layer and direction of ``params``.

    - ``x``: (T, B, I), (B, T, I) with ``batch_first``, or unbatched (T, I) (then ``h0`` is
      (L*D, H) and the results have no batch axis). ``h0``: (L*D, B, H) or None (zeros).
    - ``reset``: "after" (PyTorch, Keras ``reset_after=True``, ONNX ``linear_before_reset=1``)
      or "before" (Keras ``reset_after=False``, ONNX's default, TF1 ``GRUCell``, Cho et al.).
    - ``update``: "pytorch", h' = (1 - z) n + z h (PyTorch, Keras, ONNX, TF), or
      "complement", h' = (1 - z) h + z n (Chung et al. 2014, dm-haiku).
    - ``reverse``: a unidirectional GRU that reads the sequence from its end (ONNX
      ``direction="reverse"``, Keras ``go_backwards``); its output stays in input time order
      (Keras ``go_backwards`` returns it in reading order: ``output[:, ::-1]``).
    - ``lengths`` (B,) or ``mask`` (T, B), (B, T) with ``batch_first``: steps that are masked
      (t >= lengths[b]) leave the state as it was, in every layer and direction (a reverse
      direction starts at each sample's last step); their output is 0 (``masked_output="zero"``:
      ``nn.GRU`` on a PackedSequence, Keras ``zero_output_for_mask=True``) or the previous
      output (``"hold"``: Keras' default; 0 before the first step). ``h_n`` holds each
      sample's state after its last unmasked step.

    Output: (T, B, D*H), forward half first, the backward half in input time order; (B, T,
    D*H) with ``batch_first``. ``h_n``: (L*D, B, H), layer-major then direction, whatever
    the layout (as ``nn.GRU``)."""
    if reset not in RESETS or update not in UPDATES:
        raise ValueError(f"got reset={reset!r}, update={update!r}, but reset is one of {RESETS} and update one "
                         f"of {UPDATES}")
    if masked_output not in ("zero", "hold"):
        raise ValueError(f"got masked_output={masked_output!r}, but it is 'zero' or 'hold'")
    params = params if isinstance(params, CanonicalParams) else CanonicalParams.from_arrays(params)
    if reverse and params.bidirectional:
        raise ValueError("got reverse=True with bidirectional parameters, but reverse runs a unidirectional GRU "
                         "from the end (a bidirectional one already has its reverse direction)")
    if update == "complement":
        params = complement_params(params)  # 1 - sigmoid(a) = sigmoid(-a): the same GRU, relabelled
    x = np.asarray(x, dtype=np.float64)
    unbatched = x.ndim == 2
    if unbatched:
        x = x[:, None, :] if not batch_first else x[None, :, :]
        h0 = None if h0 is None else np.asarray(h0, dtype=np.float64)[:, None, :]
    if x.ndim != 3 or x.shape[-1] != params.input_size:
        raise ValueError(f"got x of shape {x.shape}, but should be ({'B, T' if batch_first else 'T, B'}, "
                         f"{params.input_size}) or unbatched (T, {params.input_size})")
    time_major = x.swapaxes(0, 1) if batch_first else x
    steps, batch = time_major.shape[:2]
    h0 = _initial_state(h0, params, batch)
    keep = _steps_kept(lengths, mask, steps, batch, batch_first)
    if keep is None and masked_output == "hold":
        masked_output = "zero"  # nothing is masked: the two agree
    if keep is None and not reverse:
        run = gru_forward(time_major, params, h0, reset=reset)
        output, h_n = run.output, run.h_n
    else:
        output, h_n = _masked_forward(time_major, params, h0, keep, reset=reset, reverse=reverse,
                                      hold=masked_output == "hold")
    output = output.swapaxes(0, 1) if batch_first else output
    if unbatched:
        output, h_n = (output[:, 0] if not batch_first else output[0]), h_n[:, 0]
    return GRUResult(np.ascontiguousarray(output), np.ascontiguousarray(h_n))


def _initial_state(h0: Any, params: CanonicalParams, batch: int) -> np.ndarray:
    shape = (params.num_layers * params.num_directions, batch, params.hidden_size)
    if h0 is None:
        return np.zeros(shape)
    h0 = np.asarray(h0, dtype=np.float64)
    if h0.shape != shape:
        raise ValueError(f"got h0 of shape {h0.shape}, but should be {shape} (L*D, B, H)")
    return h0


def _steps_kept(lengths: Sequence[int] | None, mask: Any, steps: int, batch: int,
                batch_first: bool) -> np.ndarray | None:
    """(T, B) booleans: which steps each sample takes (None: all of them)."""
    if lengths is not None and mask is not None:
        raise ValueError("got both lengths and mask, but give one of them")
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.shape != (batch,) or np.any(lengths < 0) or np.any(lengths > steps):
            raise ValueError(f"got lengths {lengths.tolist()}, but should be {batch} integers in [0, {steps}]")
        return np.arange(steps)[:, None] < lengths[None, :]
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    mask = mask.T if batch_first else mask
    if mask.shape != (steps, batch):
        raise ValueError(f"got mask of shape {mask.T.shape if batch_first else mask.shape}, but should be "
                         f"{(batch, steps) if batch_first else (steps, batch)} (like x without its features)")
    return mask


def _masked_forward(x: np.ndarray, params: CanonicalParams, h0: np.ndarray, keep: np.ndarray | None, *,
                    reset: str, reverse: bool, hold: bool) -> tuple[np.ndarray, np.ndarray]:
    """Every layer and direction, one step at a time, masked steps keeping the state."""
    steps, batch = x.shape[:2]
    keep = np.ones((steps, batch), dtype=bool) if keep is None else keep
    layer_input, finals = x, []
    for layer in range(params.num_layers):
        halves = []
        for d in range(params.num_directions):
            backwards = d == 1 or reverse
            index = layer * params.num_directions + d
            states, final = _direction(layer_input, params, layer, d == 1, h0[index], keep,
                                       backwards=backwards, reset=reset, hold=hold)
            halves.append(states)
            finals.append(final)
        layer_input = np.concatenate(halves, axis=-1)
    return layer_input, np.stack(finals)


def _direction(x: np.ndarray, params: CanonicalParams, layer: int, reverse_params: bool, h0: np.ndarray,
               keep: np.ndarray, *, backwards: bool, reset: str, hold: bool) -> tuple[np.ndarray, np.ndarray]:
    """Outputs (T, B, H) in input time order and the final state of one layer and direction."""
    get = lambda kind: params.get(kind, layer, reverse_params)  # noqa: E731 - four reads
    gx = x @ get("weight_ih").T + get("bias_ih")
    w_hh, b_hh = get("weight_hh"), get("bias_hh")
    outputs = np.zeros((x.shape[0], *h0.shape))
    h, last_output = h0, np.zeros_like(h0)
    order = range(x.shape[0] - 1, -1, -1) if backwards else range(x.shape[0])
    for t in order:
        kept = keep[t][:, None]
        h = np.where(kept, gru_cell_step(gx[t], h, w_hh, b_hh, reset), h)  # type: ignore[arg-type]
        outputs[t] = np.where(kept, h, last_output if hold else 0.0)
        last_output = outputs[t] if hold else last_output
    return outputs, h

