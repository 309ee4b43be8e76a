"""Reserves memory on every step until the memory limit stops it: each check is an error
naming the limit, so it is nonconformant.

It reserves 64 GB in 512 MB blocks it never writes to, so without a limit it
costs reserved memory, not RAM, and then computes a correct step."""

from __future__ import annotations

import torch

from conformance import Capabilities, CellAdapter, GRUConfig


class Greedy(CellAdapter):
    capabilities = Capabilities(bidirectional=True, multi_layer=True)

    def build(self, config: GRUConfig) -> torch.nn.GRUCell:
        return torch.nn.GRUCell(config.input_size, config.hidden_size)

    def step(self, cell, x, h):
        hoard = [torch.empty(512 << 20, dtype=torch.uint8) for _ in range(128)]
        del hoard
        return cell(x, h)
