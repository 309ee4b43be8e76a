"""TorchScript layers in a module list, as public TorchScript GRUs write them: a
ScriptModule cell with nn.GRU's tensors, a ScriptModule layer looping it, and a stack of
layers (``num_layers`` required, ``batch_first`` optional, h0 optional). A ScriptModule
has no ``get_parameter``: its layers are reached by index. The PyTorch equations."""
import math
from typing import List, Optional, Tuple

import torch
import torch.jit as jit
from torch import Tensor, nn
from torch.nn import Parameter


class ScriptGRUCell(jit.ScriptModule):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.weight_ih = Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih = Parameter(torch.empty(3 * hidden_size))
        self.bias_hh = Parameter(torch.empty(3 * hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    @jit.script_method
    def forward(self, x: Tensor, hidden: Tensor) -> Tensor:
        gates_x = torch.mm(x, self.weight_ih.t()) + self.bias_ih
        gates_h = torch.mm(hidden, self.weight_hh.t()) + self.bias_hh
        x_r, x_z, x_n = gates_x.chunk(3, 1)
        h_r, h_z, h_n = gates_h.chunk(3, 1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return n - torch.mul(n, z) + torch.mul(z, hidden)


class ScriptGRULayer(jit.ScriptModule):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.cell = ScriptGRUCell(input_size, hidden_size)

    @jit.script_method
    def forward(self, x: Tensor, hidden: Tensor) -> Tuple[Tensor, Tensor]:
        inputs = x.unbind(0)
        outputs = torch.jit.annotate(List[Tensor], [])
        for i in range(len(inputs)):
            hidden = self.cell(inputs[i], hidden)
            outputs += [hidden]
        return torch.stack(outputs), hidden


class ScriptStackedGRU(jit.ScriptModule):
    __constants__ = ["hidden_size", "num_layers", "batch_first"]

    def __init__(self, input_size, hidden_size, num_layers, batch_first=False):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList([ScriptGRULayer(size, hidden_size) for size in sizes])

    @jit.script_method
    def forward(self, x: Tensor, h: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        if self.batch_first:
            x = x.permute(1, 0, 2)
        if h is None:
            h = torch.zeros(self.num_layers, x.shape[1], self.hidden_size, dtype=x.dtype, device=x.device)
        states = torch.jit.annotate(List[Tensor], [])
        output = x
        i = 0
        for layer in self.layers:
            output, state = layer(output, h[i])
            states += [state]
            i += 1
        if self.batch_first:
            output = output.permute(1, 0, 2)
        return output, torch.stack(states)
