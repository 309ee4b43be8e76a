"""A GRU cell written in the Chung et al. 2014 form, h' = (1 - z) * h + z * n, with the
reset gate before the recurrent matmul: the complement update polarity. Its adapter
says so (``update = "complement"``), the suite hands it the update gate's weights and
biases negated, and it is graded conformant to that convention.

    python -m conformance grade examples/complement_cell.py:ComplementCell
"""

from __future__ import annotations

import torch
from torch import nn

from conformance import Capabilities, CanonicalParams, CellAdapter, GRUConfig, layouts


class ChungCell(nn.Module):
    """One Linear per gate and input, as the paper's equations read."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.x_to = nn.ModuleDict({g: nn.Linear(input_size, hidden_size) for g in "rzn"})
        self.h_to = nn.ModuleDict({g: nn.Linear(hidden_size, hidden_size) for g in "rzn"})

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        r = torch.sigmoid(self.x_to["r"](x) + self.h_to["r"](h))
        z = torch.sigmoid(self.x_to["z"](x) + self.h_to["z"](h))
        n = torch.tanh(self.x_to["n"](x) + self.h_to["n"](r * h))  # reset before the matmul
        return (1 - z) * h + z * n  # the complement update


class ComplementCell(CellAdapter):
    name = "Chung et al. 2014 cell"
    reset = "before"
    update = "complement"
    capabilities = Capabilities(dtypes=(torch.float32, torch.float64), autograd=True)

    def build(self, config: GRUConfig) -> ChungCell:
        return ChungCell(config.input_size, config.hidden_size).to(config.dtype)

    def load(self, cell: ChungCell, params: CanonicalParams) -> None:
        weights = layouts.per_gate(params)
        with torch.no_grad():
            for g in "rzn":
                for linear, side in ((cell.x_to[g], "i"), (cell.h_to[g], "h")):
                    linear.weight.copy_(layouts.tensor(weights[f"W_{side}{g}"], linear.weight))
                    linear.bias.copy_(layouts.tensor(weights[f"b_{side}{g}"], linear.bias))

    def step(self, cell: ChungCell, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return cell(x, h)
