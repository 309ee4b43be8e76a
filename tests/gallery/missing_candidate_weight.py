"""A cell with a bug its tensors show: the recurrent Linear has only the reset and update
gates' rows, and the candidate reads r * h with no weight (W_hn and b_hn are missing), so
no tensor can hold every gate block. adapt writes the closest adapter with a TODO."""
import torch
from torch import nn


class MissingCandidateWeightCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_gates = nn.Linear(input_size, 3 * hidden_size)
        self.hidden_gates = nn.Linear(hidden_size, 2 * hidden_size)

    def forward(self, x, h):
        x_r, x_z, x_n = self.input_gates(x).chunk(3, 1)
        h_r, h_z = self.hidden_gates(h).chunk(2, 1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h)
        return (1 - z) * n + z * h
