"""``torch.nn.GRU`` as the second reference: the module built from canonical parameters.

The float64 NumPy oracle (``conformance.model.oracle``) is the first reference. ``torch.nn.GRU``
computes the reset-after variant and is the one most implementations are ported from, so
checks, reproductions, diagnoses and benchmarks also compare with it; all of them build it
here, from the same canonical parameters the implementation was given.
"""

from __future__ import annotations

import numpy as np
import torch

from conformance.base.params import CanonicalParams


def torch_gru(params: CanonicalParams, dtype: torch.dtype = torch.float64) -> torch.nn.GRU:
    """``torch.nn.GRU`` holding ``params`` (sizes, layers, directions and biases from them)."""
    gru = torch.nn.GRU(params.input_size, params.hidden_size, params.num_layers,
                       bidirectional=params.bidirectional, bias=params.bias, dtype=dtype)
    gru.load_state_dict(params.tensors(dtype))
    return gru


def torch_gru_run(
    params: CanonicalParams,
    x: np.ndarray,
    h0: np.ndarray | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """(output, h_n) of ``torch.nn.GRU`` in ``dtype`` on time-major ``x``, as float64 arrays."""
    gru = torch_gru(params, dtype)
    with torch.no_grad():
        output, h_n = gru(torch.tensor(x, dtype=dtype), None if h0 is None else torch.tensor(h0, dtype=dtype))
    return output.to(torch.float64).numpy(), h_n.to(torch.float64).numpy()


def torch_reference(case) -> tuple[np.ndarray, np.ndarray]:
    """``torch.nn.GRU`` in float64 on a materialized case's parameters, input and h0."""
    return torch_gru_run(case.params, case.x, case.h0)
