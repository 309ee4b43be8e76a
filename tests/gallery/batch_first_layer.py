"""A whole layer, batch-first: forward(x (B, T, I), h0 (B, H) or None) -> (output (B, T, H),
h_n (B, H)), parameters as nn.GRUCell's under other names; the PyTorch equations."""
import torch
from torch import nn


class BatchFirstGRU(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        k = hidden_size ** -0.5
        self.Wi = nn.Parameter(torch.empty(3 * hidden_size, input_size).uniform_(-k, k))
        self.Wh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size).uniform_(-k, k))
        self.bi = nn.Parameter(torch.empty(3 * hidden_size).uniform_(-k, k))
        self.bh = nn.Parameter(torch.empty(3 * hidden_size).uniform_(-k, k))

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        h = x.new_zeros(x.shape[0], self.hidden_size) if h0 is None else h0
        gx = x @ self.Wi.T + self.bi  # (B, T, 3H)
        outputs = []
        for t in range(x.shape[1]):
            xr, xz, xn = gx[:, t].chunk(3, dim=-1)
            hr, hz, hn = (h @ self.Wh.T + self.bh).chunk(3, dim=-1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            h = (1 - z) * torch.tanh(xn + r * hn) + z * h
            outputs.append(h)
        return torch.stack(outputs, dim=1), h
