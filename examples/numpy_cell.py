"""A GRU cell in NumPy, with its parameters in a dict of one matrix per gate and input,
as tutorials write it: graded by the suite like any other cell.

    python -m conformance grade examples/numpy_cell.py:NumpyCell

Its ``step`` receives torch tensors and returns a NumPy array: the suite reads NumPy
arrays as it reads tensors. ``layouts.per_gate`` gives the canonical parameters in
the per-gate layout (``W_ir``, ``W_hr``, ``b_ir``, ...)."""

from __future__ import annotations

import numpy as np
import torch

from conformance import Capabilities, CanonicalParams, CellAdapter, GRUConfig, layouts


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # exp-free: no overflow for large |a|


class NumpyGRUCell:
    """h' = GRU(x, h) with ``params`` a dict of per-gate arrays (the PyTorch equations)."""

    def __init__(self, input_size: int, hidden_size: int, dtype: type = np.float32) -> None:
        rng = np.random.default_rng(0)
        bound = hidden_size ** -0.5
        shapes = {f"W_i{g}": (hidden_size, input_size) for g in "rzn"}
        shapes.update({f"W_h{g}": (hidden_size, hidden_size) for g in "rzn"})
        shapes.update({f"b_{k}{g}": (hidden_size,) for k in "ih" for g in "rzn"})
        self.params = {k: rng.uniform(-bound, bound, s).astype(dtype) for k, s in shapes.items()}

    def __call__(self, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        p = self.params
        r = sigmoid(x @ p["W_ir"].T + p["b_ir"] + h @ p["W_hr"].T + p["b_hr"])
        z = sigmoid(x @ p["W_iz"].T + p["b_iz"] + h @ p["W_hz"].T + p["b_hz"])
        n = np.tanh(x @ p["W_in"].T + p["b_in"] + r * (h @ p["W_hn"].T + p["b_hn"]))
        return (1 - z) * n + z * h


class NumpyCell(CellAdapter):
    name = "NumPy GRU cell (per-gate dict)"
    reset = "after"
    capabilities = Capabilities(dtypes=(torch.float32, torch.float64))

    def build(self, config: GRUConfig) -> NumpyGRUCell:
        return NumpyGRUCell(config.input_size, config.hidden_size, np.float64 if config.dtype == torch.float64
                            else np.float32)

    def load(self, cell: NumpyGRUCell, params: CanonicalParams) -> None:
        dtype = next(iter(cell.params.values())).dtype
        cell.params = {k: v.astype(dtype) for k, v in layouts.per_gate(params).items()}

    def step(self, cell: NumpyGRUCell, x: torch.Tensor, h: torch.Tensor) -> np.ndarray:
        return cell(x.numpy(), h.numpy())
