"""What the hostile submissions are built on: a correct ``nn.GRU`` layer adapter
(``HonestGRU``) and the same with the r and z gates swapped (``SwappedGRU``, a wrong
GRU). Each submission in this folder changes one thing about how it behaves as a
program, not (unless it says so) what it computes."""

from __future__ import annotations

import torch

from conformance import Capabilities, CanonicalParams, GRUConfig, LayerAdapter


class HonestGRU(LayerAdapter):
    name = "nn.GRU"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, time_major=True, batch_first=True,
                                h0=True, unbatched=True, dtypes=(torch.float32, torch.float64), autograd=True)

    def build(self, config: GRUConfig) -> torch.nn.GRU:
        return torch.nn.GRU(config.input_size, config.hidden_size, num_layers=config.num_layers,
                            bidirectional=config.bidirectional, batch_first=config.batch_first,
                            dtype=config.dtype)

    def load(self, gru: torch.nn.GRU, params: CanonicalParams) -> None:
        gru.load_state_dict(self.layout(params.tensors(gru.weight_ih_l0.dtype)))

    def layout(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return tensors

    def run(self, gru, x, h0):
        return gru(x, h0)

    def grads(self, gru):
        return {name: p.grad for name, p in gru.named_parameters()}


def swap_r_z(t: torch.Tensor) -> torch.Tensor:
    r, z, n = t.chunk(3, dim=0)
    return torch.cat([z, r, n], dim=0)


class SwappedGRU(HonestGRU):
    """Reads the canonical gate blocks as z, r, n: a wrong GRU (the converter's layout mix-up)."""

    name = "nn.GRU with r and z swapped"

    def layout(self, tensors):
        return {name: swap_r_z(t) for name, t in tensors.items()}
