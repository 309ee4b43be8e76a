"""An encoder that returns only its final state (B, H) and takes no initial state:
forward(x (T, B, I)) -> h_T. Fused kernels (I, 3H) in z, r, n order; reset after."""
import torch
from torch import nn


class FinalStateEncoder(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.kernel = nn.Parameter(torch.randn(input_size, 3 * hidden_size) * 0.3)
        self.recurrent = nn.Parameter(torch.randn(hidden_size, 3 * hidden_size) * 0.3)
        self.input_bias = nn.Parameter(torch.zeros(3 * hidden_size))
        self.recurrent_bias = nn.Parameter(torch.zeros(3 * hidden_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[1], self.hidden_size)
        for x_t in x:
            xz, xr, xn = (x_t @ self.kernel + self.input_bias).chunk(3, dim=-1)
            hz, hr, hn = (h @ self.recurrent + self.recurrent_bias).chunk(3, dim=-1)
            z, r = torch.sigmoid(xz + hz), torch.sigmoid(xr + hr)
            h = z * h + (1 - z) * torch.tanh(xn + r * hn)
        return h
