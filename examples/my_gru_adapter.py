"""Example adapter: a hand-written GRU cell, graded with
``tox -e grade -- examples/my_gru_adapter.py:MyGRU``."""
import torch
from conformance import Capabilities, CellAdapter


class MyCell(torch.nn.Module):  # stands for your own implementation
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.ih = torch.nn.Linear(input_size, 3 * hidden_size)
        self.hh = torch.nn.Linear(hidden_size, 3 * hidden_size)

    def forward(self, x, h):
        r, z, n = self.ih(x).chunk(3, 1)
        hr, hz, hn = self.hh(h).chunk(3, 1)
        r, z = torch.sigmoid(r + hr), torch.sigmoid(z + hz)
        return (1 - z) * torch.tanh(n + r * hn) + z * h


class MyGRU(CellAdapter):
    reset = "after"  # claims the PyTorch equations
    capabilities = Capabilities(dtypes=(torch.float32, torch.float64))

    def build(self, config):
        return MyCell(config.input_size, config.hidden_size).to(config.dtype)

    def load(self, cell, params):  # optional: enables the white-box checks
        t = params.tensors(cell.ih.weight.dtype)  # nn.GRU names, gate order r, z, n
        cell.ih.weight.data, cell.ih.bias.data = t["weight_ih_l0"], t["bias_ih_l0"]
        cell.hh.weight.data, cell.hh.bias.data = t["weight_hh_l0"], t["bias_hh_l0"]

    def step(self, cell, x, h):
        return cell(x, h)
