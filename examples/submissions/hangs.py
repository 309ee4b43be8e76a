"""Never returns from a step (it waits for an event nobody sets, as a deadlock does): the
time limit stops the check in progress, an error, and the rest are not run: nonconformant."""

from __future__ import annotations

import threading

import torch

from conformance import Capabilities, CellAdapter, GRUConfig


class Hangs(CellAdapter):
    capabilities = Capabilities(bidirectional=True, multi_layer=True)

    def build(self, config: GRUConfig) -> torch.nn.GRUCell:
        return torch.nn.GRUCell(config.input_size, config.hidden_size)

    def step(self, cell, x, h):
        threading.Event().wait()
