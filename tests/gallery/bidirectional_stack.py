"""A stacked bidirectional GRU written by hand: a cell of two Linears (x2h, h2h) per layer
and direction, forward cells and backward cells in two module lists, h0 (L*D, B, H)
optional, (output, h_n) returned as nn.GRU returns them. The PyTorch equations."""
import torch
from torch import nn


class GRUCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.x2h = nn.Linear(input_size, 3 * hidden_size)
        self.h2h = nn.Linear(hidden_size, 3 * hidden_size)

    def forward(self, x, h):
        x_r, x_z, x_n = self.x2h(x).chunk(3, -1)
        h_r, h_z, h_n = self.h2h(h).chunk(3, -1)
        reset = torch.sigmoid(x_r + h_r)
        update = torch.sigmoid(x_z + h_z)
        new = torch.tanh(x_n + reset * h_n)
        return update * h + (1 - update) * new


class BiGRU(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.directions = 2 if bidirectional else 1
        sizes = [input_size] + [self.directions * hidden_size] * (num_layers - 1)
        self.fw_cells = nn.ModuleList([GRUCell(s, hidden_size) for s in sizes])
        self.bw_cells = nn.ModuleList([GRUCell(s, hidden_size) for s in sizes]) if bidirectional else None

    def forward(self, x, h0=None):
        steps, batch = x.shape[0], x.shape[1]
        if h0 is None:
            h0 = x.new_zeros(self.num_layers * self.directions, batch, self.hidden_size)
        finals = []
        for layer in range(self.num_layers):
            h = h0[layer * self.directions]
            forward = []
            for t in range(steps):
                h = self.fw_cells[layer](x[t], h)
                forward.append(h)
            finals.append(h)
            outputs = torch.stack(forward)
            if self.bw_cells is not None:
                h = h0[layer * self.directions + 1]
                backward = [None] * steps
                for t in reversed(range(steps)):
                    h = self.bw_cells[layer](x[t], h)
                    backward[t] = h
                finals.append(h)
                outputs = torch.cat([outputs, torch.stack(backward)], dim=-1)
            x = outputs
        return x, torch.stack(finals)
