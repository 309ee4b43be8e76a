"""Keras' layout: a kernel (I, 3H) and a recurrent kernel (H, 3H), gates z, r, h (the
candidate) in columns, both biases in one (2, 3H) tensor; reset after, PyTorch update."""
import torch
from torch import nn


class KerasLayoutCell(nn.Module):
    def __init__(self, input_dim: int, units: int) -> None:
        super().__init__()
        self.units = units
        self.kernel = nn.Parameter(torch.randn(input_dim, 3 * units) * 0.3)
        self.recurrent_kernel = nn.Parameter(torch.randn(units, 3 * units) * 0.3)
        self.bias = nn.Parameter(torch.randn(2, 3 * units) * 0.1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xz, xr, xh = (x @ self.kernel + self.bias[0]).split(self.units, dim=-1)
        hz, hr, hh = (h @ self.recurrent_kernel + self.bias[1]).split(self.units, dim=-1)
        z = torch.sigmoid(xz + hz)
        r = torch.sigmoid(xr + hr)
        candidate = torch.tanh(xh + r * hh)
        return z * h + (1 - z) * candidate
