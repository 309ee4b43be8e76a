"""A GRU cell written out from the PyTorch equations, shared by the example submissions
(a file whose name starts with "_" is a helper, not a submission: every submission's
worker can import it, while the submissions themselves are hidden from each other)."""

from __future__ import annotations

import torch
from torch import nn


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
