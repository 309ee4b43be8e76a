"""Ends its own process on the first step (as a stray os._exit or a segfault would):
the submission gets an "error" verdict, the others are graded as usual."""

from __future__ import annotations

import os

import torch

from conformance import Capabilities, CellAdapter, GRUConfig


class Crashes(CellAdapter):
    capabilities = Capabilities(bidirectional=True, multi_layer=True)

    def build(self, config: GRUConfig) -> torch.nn.GRUCell:
        return torch.nn.GRUCell(config.input_size, config.hidden_size)

    def step(self, cell, x, h):
        os._exit(3)
