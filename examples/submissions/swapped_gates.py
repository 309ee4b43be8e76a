"""The same cell, but it reads the stacked weights as z|r|n instead of r|z|n
(the gate-layout mix-up of converters): nonconformant."""

from __future__ import annotations

import torch

from conformance import Capabilities, CanonicalParams, CellAdapter, GRUConfig
from _cell import Cell  # the helper beside it (another submission would be hidden from it)


def swap_r_z(t: torch.Tensor) -> torch.Tensor:
    r, z, n = t.chunk(3, dim=0)
    return torch.cat([z, r, n], dim=0)


class SwappedGates(CellAdapter):
    name = "cell with r and z swapped"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, dtypes=(torch.float32, torch.float64))

    def build(self, config: GRUConfig) -> Cell:
        return Cell(config.input_size, config.hidden_size, config.dtype)

    def load(self, cell: Cell, params: CanonicalParams) -> None:
        t = params.tensors(cell.w_ih.dtype)
        with torch.no_grad():
            for mine, theirs in ((cell.w_ih, "weight_ih_l0"), (cell.w_hh, "weight_hh_l0"),
                                 (cell.b_ih, "bias_ih_l0"), (cell.b_hh, "bias_hh_l0")):
                mine.copy_(swap_r_z(t[theirs]))

    def step(self, cell: Cell, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return cell(x, h)
