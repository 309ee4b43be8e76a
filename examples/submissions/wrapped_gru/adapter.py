"""A folder submission: adapter.py imports the model from its neighbour model.py.
No load method, so only the black-box checks apply (verdict "consistent")."""

from __future__ import annotations

import torch
from model import Encoder

from conformance import Capabilities, GRUConfig, LayerAdapter


class Adapter(LayerAdapter):
    name = "Encoder (nn.GRU, batch-first)"
    capabilities = Capabilities(multi_layer=True, time_major=False, batch_first=True, h0=True)

    def build(self, config: GRUConfig) -> Encoder:
        torch.manual_seed(0)
        return Encoder(config.input_size, config.hidden_size, config.num_layers).to(config.dtype).eval()

    def run(self, model, x, h0):
        return model(x, h0)
