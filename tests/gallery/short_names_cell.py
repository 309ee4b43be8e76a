"""A character-RNN style cell with one-letter sizes (i, h, o): a GRU step and an output
projection, returning (h', y). The PyTorch equations."""
import torch
from torch import nn


class CharGRUCell(nn.Module):
    def __init__(self, i, h, o):
        super().__init__()
        self.i2h = nn.Linear(i, 3 * h)
        self.h2h = nn.Linear(h, 3 * h)
        self.h2o = nn.Linear(h, o)

    def forward(self, x, hidden):
        i_r, i_z, i_n = self.i2h(x).chunk(3, 1)
        h_r, h_z, h_n = self.h2h(hidden).chunk(3, 1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        hidden = (1 - z) * torch.tanh(i_n + r * h_n) + z * hidden
        return hidden, self.h2o(hidden)
