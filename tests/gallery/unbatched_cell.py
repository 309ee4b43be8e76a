"""A cell written for one sample at a time, as from-scratch tutorials write it: W @ x on
vectors x (I,) and h (H,). A batch (B, I) does not fit its matmuls. The PyTorch equations."""
import torch
from torch import nn


class VectorGRUCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        scale = hidden_size ** -0.5
        self.W_xr, self.W_xz, self.W_xn = (nn.Parameter(torch.randn(hidden_size, input_size) * scale) for _ in range(3))
        self.W_hr, self.W_hz, self.W_hn = (nn.Parameter(torch.randn(hidden_size, hidden_size) * scale) for _ in range(3))
        self.b_xr, self.b_xz, self.b_xn = (nn.Parameter(torch.zeros(hidden_size)) for _ in range(3))
        self.b_hr, self.b_hz, self.b_hn = (nn.Parameter(torch.zeros(hidden_size)) for _ in range(3))

    def forward(self, x, h):
        r = torch.sigmoid(torch.mv(self.W_xr, x) + self.b_xr + torch.mv(self.W_hr, h) + self.b_hr)
        z = torch.sigmoid(torch.mv(self.W_xz, x) + self.b_xz + torch.mv(self.W_hz, h) + self.b_hz)
        n = torch.tanh(torch.mv(self.W_xn, x) + self.b_xn + r * (torch.mv(self.W_hn, h) + self.b_hn))
        return (1 - z) * n + z * h
