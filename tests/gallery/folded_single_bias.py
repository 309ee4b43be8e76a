"""Fused weights stored z, r, n by rows and one bias per gate (b_i + b_h folded), the
reset gate before the candidate's matmul: the reset-before GRU (haiku keeps one bias
per gate the same way)."""
import torch
from torch import nn


class FoldedBiasCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.W = nn.Parameter(torch.randn(3 * hidden_size, input_size) * 0.2)
        self.U = nn.Parameter(torch.randn(3 * hidden_size, hidden_size) * 0.2)
        self.b = nn.Parameter(torch.zeros(3 * hidden_size))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        H = self.hidden_size
        gx = x @ self.W.T + self.b
        z = torch.sigmoid(gx[:, :H] + h @ self.U[:H].T)
        r = torch.sigmoid(gx[:, H:2 * H] + h @ self.U[H:2 * H].T)
        n = torch.tanh(gx[:, 2 * H:] + (r * h) @ self.U[2 * H:].T)
        return (1 - z) * n + z * h
