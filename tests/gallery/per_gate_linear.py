"""A Linear per gate and input, in ModuleDicts keyed by gate: the PyTorch GRU."""
import torch
from torch import nn


class PerGateLinearCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.x_to = nn.ModuleDict({g: nn.Linear(input_size, hidden_size) for g in "rzn"})
        self.h_to = nn.ModuleDict({g: nn.Linear(hidden_size, hidden_size) for g in "rzn"})

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        r = torch.sigmoid(self.x_to["r"](x) + self.h_to["r"](h))
        z = torch.sigmoid(self.x_to["z"](x) + self.h_to["z"](h))
        n = torch.tanh(self.x_to["n"](x) + r * self.h_to["n"](h))
        return (1 - z) * n + z * h
