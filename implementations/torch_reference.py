"""``torch.nn.GRU`` and ``torch.nn.GRUCell``: the reference implementations,
graded like any other (a suite that failed them would itself be broken)."""

from __future__ import annotations

import torch

from conformance import Capabilities, CellAdapter, GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams


class TorchGRU(LayerAdapter):
    """``torch.nn.GRU`` with every option it has."""

    name = "torch.nn.GRU"
    reset = "after"
    capabilities = Capabilities(
        bidirectional=True,
        multi_layer=True,
        time_major=True,
        batch_first=True,
        h0=True,
        unbatched=True,
        dtypes=(torch.float32, torch.float64, torch.float16, torch.bfloat16),
        autograd=True,
        lengths=True,
        devices=("cpu", "cuda", "mps"),
        bias_free=True,
    )

    def build(self, config: GRUConfig) -> torch.nn.GRU:
        return torch.nn.GRU(
            config.input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            bias=config.bias,
            batch_first=config.batch_first,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            dtype=config.dtype,
            device=config.device,
        ).eval()

    def load(self, gru: torch.nn.GRU, params: CanonicalParams) -> None:
        # Canonical parameters use nn.GRU's own names and layout.
        gru.load_state_dict(params.tensors(gru.weight_ih_l0.dtype, gru.weight_ih_l0.device))

    def run(self, gru, x, h0):
        return gru(x, h0)  # x may be a PackedSequence: nn.GRU takes one as it is

    def grads(self, gru: torch.nn.GRU) -> dict[str, torch.Tensor]:
        return {name: p.grad for name, p in gru.named_parameters()}


class TorchGRUCell(CellAdapter):
    """``torch.nn.GRUCell``, one step; the suite unrolls it into layers."""

    name = "torch.nn.GRUCell"
    reset = "after"
    capabilities = Capabilities(
        bidirectional=True,
        multi_layer=True,
        unbatched=True,  # x (I,) and h (H,)
        dtypes=(torch.float32, torch.float64, torch.float16, torch.bfloat16),
        autograd=True,
        devices=("cpu", "cuda", "mps"),
        bias_free=True,
    )

    def build(self, config: GRUConfig) -> torch.nn.GRUCell:
        return torch.nn.GRUCell(config.input_size, config.hidden_size, bias=config.bias,
                                dtype=config.dtype, device=config.device)

    def load(self, cell: torch.nn.GRUCell, params: CanonicalParams) -> None:
        tensors = params.tensors(cell.weight_ih.dtype, cell.weight_ih.device)
        cell.load_state_dict({name.removesuffix("_l0"): value for name, value in tensors.items()})

    def step(self, cell, x, h):
        return cell(x, h)

    def grads(self, cell: torch.nn.GRUCell) -> dict[str, torch.Tensor]:
        return {f"{name}_l0": p.grad for name, p in cell.named_parameters()}
