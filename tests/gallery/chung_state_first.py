"""Chung et al. 2014 as d2l names its parameters (W_xz, W_hz, b_z ...), with the
complement update h' = (1 - z) h + z n, the reset before the matmul, and the state as
the first argument: forward(h, x)."""
import torch
from torch import nn


class ChungStateFirstCell(nn.Module):
    def __init__(self, num_inputs: int, num_hiddens: int) -> None:
        super().__init__()

        def normal(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.randn(*shape) * 0.1)

        self.W_xz, self.W_hz, self.b_z = normal(num_inputs, num_hiddens), normal(num_hiddens, num_hiddens), \
            normal(num_hiddens)
        self.W_xr, self.W_hr, self.b_r = normal(num_inputs, num_hiddens), normal(num_hiddens, num_hiddens), \
            normal(num_hiddens)
        self.W_xh, self.W_hh, self.b_h = normal(num_inputs, num_hiddens), normal(num_hiddens, num_hiddens), \
            normal(num_hiddens)

    def forward(self, H: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        Z = torch.sigmoid(X @ self.W_xz + H @ self.W_hz + self.b_z)
        R = torch.sigmoid(X @ self.W_xr + H @ self.W_hr + self.b_r)
        H_tilde = torch.tanh(X @ self.W_xh + (R * H) @ self.W_hh + self.b_h)
        return (1 - Z) * H + Z * H_tilde
