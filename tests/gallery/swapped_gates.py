"""BUG: gates swapped relative to the code's own names. Each gate has its parameters
named W_ir, W_hr, b_r ... (r: reset, z: update), but forward computes the update gate
from the r parameters and the reset gate from the z ones (tensorflow-onnx#939)."""
import torch
from torch import nn


class SwappedGatesCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        for g in "rzn":
            setattr(self, f"W_i{g}", nn.Parameter(torch.randn(hidden_size, input_size) * 0.3))
            setattr(self, f"W_h{g}", nn.Parameter(torch.randn(hidden_size, hidden_size) * 0.3))
            setattr(self, f"b_{g}", nn.Parameter(torch.zeros(hidden_size)))
        self.b_hn = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        z = torch.sigmoid(x @ self.W_ir.T + h @ self.W_hr.T + self.b_r)  # the bug: r's parameters
        r = torch.sigmoid(x @ self.W_iz.T + h @ self.W_hz.T + self.b_z)  # the bug: z's parameters
        n = torch.tanh(x @ self.W_in.T + self.b_n + r * (h @ self.W_hn.T + self.b_hn))
        return (1 - z) * n + z * h
