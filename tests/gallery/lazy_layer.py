"""A library-style layer that takes only its number of units and reads its input size
from its first input (Keras style, through nn.LazyLinear): batch-first input, an optional
initial state (B, H), (output, final state) returned. The PyTorch equations."""
import torch
from torch import nn


class LazyGRU(nn.Module):
    def __init__(self, units):
        super().__init__()
        self.units = units
        self.kernel = nn.LazyLinear(3 * units)
        self.recurrent_kernel = nn.Linear(units, 3 * units)

    def forward(self, inputs, initial_state=None):
        batch, steps = inputs.shape[0], inputs.shape[1]
        state = inputs.new_zeros(batch, self.units) if initial_state is None else initial_state
        projected = self.kernel(inputs)
        outputs = []
        for t in range(steps):
            x_r, x_z, x_n = projected[:, t].chunk(3, -1)
            h_r, h_z, h_n = self.recurrent_kernel(state).chunk(3, -1)
            r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
            state = (1 - z) * torch.tanh(x_n + r * h_n) + z * state
            outputs.append(state)
        return torch.stack(outputs, dim=1), state
