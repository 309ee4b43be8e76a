"""Per-gate weights stacked along a leading axis, (3, H, I) and (3, H, H) in the order
update, reset, candidate, and biases (3, H) per side: the PyTorch equations."""
import torch
from torch import nn


class StackedGatesCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.w_x = nn.Parameter(torch.randn(3, hidden_size, input_size) * 0.3)
        self.w_h = nn.Parameter(torch.randn(3, hidden_size, hidden_size) * 0.3)
        self.b_x = nn.Parameter(torch.zeros(3, hidden_size))
        self.b_h = nn.Parameter(torch.zeros(3, hidden_size))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        gx = torch.einsum("ghi,bi->gbh", self.w_x, x) + self.b_x[:, None]
        gh = torch.einsum("ghk,bk->gbh", self.w_h, h) + self.b_h[:, None]
        z = torch.sigmoid(gx[0] + gh[0])
        r = torch.sigmoid(gx[1] + gh[1])
        n = torch.tanh(gx[2] + r * gh[2])
        return (1 - z) * n + z * h
