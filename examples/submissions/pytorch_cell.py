"""A GRU cell written out from the PyTorch equations (conformant)."""

from __future__ import annotations

import torch
from torch import nn

from conformance import Capabilities, CanonicalParams, CellAdapter, GRUConfig


class Cell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        bound = hidden_size ** -0.5
        def uniform(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(*shape, dtype=dtype).uniform_(-bound, bound))
        self.w_ih = uniform(3 * hidden_size, input_size)
        self.w_hh = uniform(3 * hidden_size, hidden_size)
        self.b_ih = uniform(3 * hidden_size)
        self.b_hh = uniform(3 * hidden_size)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        i_r, i_z, i_n = (x @ self.w_ih.T + self.b_ih).chunk(3, dim=1)
        h_r, h_z, h_n = (h @ self.w_hh.T + self.b_hh).chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h


class Adapter(CellAdapter):
    name = "hand-written PyTorch-equations cell"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True,
                                dtypes=(torch.float32, torch.float64), autograd=True)

    def build(self, config: GRUConfig) -> Cell:
        return Cell(config.input_size, config.hidden_size, config.dtype)

    def load(self, cell: Cell, params: CanonicalParams) -> None:
        t = params.tensors(cell.w_ih.dtype)
        with torch.no_grad():
            cell.w_ih.copy_(t["weight_ih_l0"])
            cell.w_hh.copy_(t["weight_hh_l0"])
            cell.b_ih.copy_(t["bias_ih_l0"])
            cell.b_hh.copy_(t["bias_hh_l0"])

    def step(self, cell: Cell, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return cell(x, h)
