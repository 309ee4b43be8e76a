"""A sequence encoder that returns only its final state and takes no initial state, as
classifiers' encoders are written: graded on what it returns (``returns = "state"``,
``h0=False``). Checks that need the output sequence or an h0 are not applicable, with
the reason; every comparison of h_n is made.

    python -m conformance grade examples/final_state_model.py:EncoderAdapter
"""

from __future__ import annotations

import torch
from torch import nn

from conformance import Capabilities, CanonicalParams, GRUConfig, LayerAdapter


class Encoder(nn.Module):
    """x (B, T, I) -> h_n (L*D, B, H): the summary a classifier head reads."""

    def __init__(self, input_size: int, hidden_size: int, layers: int, bidirectional: bool) -> None:
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, layers, batch_first=True, bidirectional=bidirectional)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h_n = self.gru(x)
        return h_n


class EncoderAdapter(LayerAdapter):
    name = "final-state encoder"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, time_major=False, batch_first=True,
                                h0=False, returns="state", dtypes=(torch.float32, torch.float64))

    def build(self, config: GRUConfig) -> Encoder:
        return Encoder(config.input_size, config.hidden_size, config.num_layers,
                       config.bidirectional).to(config.dtype)

    def load(self, encoder: Encoder, params: CanonicalParams) -> None:
        encoder.gru.load_state_dict(params.tensors(encoder.gru.weight_ih_l0.dtype))

    def run(self, encoder: Encoder, x: torch.Tensor, h0: None) -> torch.Tensor:
        return encoder(x)
