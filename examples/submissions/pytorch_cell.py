"""A GRU cell written out from the PyTorch equations (conformant)."""

from __future__ import annotations

import torch

from _cell import Cell  # a helper beside it (not a submission: its name starts with "_")
from conformance import Capabilities, CanonicalParams, CellAdapter, GRUConfig


class Adapter(CellAdapter):
    name = "hand-written PyTorch-equations cell"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True,
                                dtypes=(torch.float32, torch.float64), autograd=True)

    def build(self, config: GRUConfig) -> Cell:
        return Cell(config.input_size, config.hidden_size, config.dtype)

    def load(self, cell: Cell, params: CanonicalParams) -> None:
        t = params.tensors(cell.w_ih.dtype)
        with torch.no_grad():
            cell.w_ih.copy_(t["weight_ih_l0"])
            cell.w_hh.copy_(t["weight_hh_l0"])
            cell.b_ih.copy_(t["bias_ih_l0"])
            cell.b_hh.copy_(t["bias_hh_l0"])

    def step(self, cell: Cell, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return cell(x, h)
