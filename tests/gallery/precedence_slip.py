"""BUG: an operator-precedence slip in the state update, h * 1 - z + z * n (h - z + z n,
the graded doc000 cell's bug); a Linear(I, 3H) and a Linear(H, 3H), r, z, n."""
import torch
from torch import nn


class PrecedenceSlipCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.ih = nn.Linear(input_size, 3 * hidden_size)
        self.hh = nn.Linear(hidden_size, 3 * hidden_size)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xr, xz, xn = self.ih(x).chunk(3, dim=1)
        hr, hz, hn = self.hh(h).chunk(3, dim=1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return h * 1 - z + z * n  # the bug: meant h * (1 - z) ... no: (1 - z) * n + z * h
