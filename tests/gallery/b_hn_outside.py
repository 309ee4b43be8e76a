"""BUG: b_hn added outside the reset product, n = tanh(W_in x + b_in + r * (W_hn h) + b_hn)
(flax#5594, coremltools#1124); otherwise nn.GRUCell's layout with other names."""
import torch
from torch import nn


class BhnOutsideCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        k = hidden_size ** -0.5
        self.w_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size).uniform_(-k, k))
        self.w_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size).uniform_(-k, k))
        self.b_ih = nn.Parameter(torch.empty(3 * hidden_size).uniform_(-k, k))
        self.b_hh = nn.Parameter(torch.empty(3 * hidden_size).uniform_(-k, k))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xr, xz, xn = (x @ self.w_ih.T + self.b_ih).chunk(3, dim=1)
        hr, hz, hn = (h @ self.w_hh.T).chunk(3, dim=1)
        br, bz, bn = self.b_hh.chunk(3)
        r = torch.sigmoid(xr + hr + br)
        z = torch.sigmoid(xz + hz + bz)
        n = torch.tanh(xn + r * hn + bn)  # the bug: bn outside r * (...)
        return (1 - z) * n + z * h
