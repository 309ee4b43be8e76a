"""A submission's own model code, imported by its adapter."""

from torch import nn


class Encoder(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        self.rnn = nn.GRU(input_size, hidden_size, num_layers, batch_first=True)

    def forward(self, x, h0=None):
        return self.rnn(x, h0)
