"""GRUs as libraries and toolchains hand them over, graded without an adapter: layers whose
constructor defaults differ from nn.GRU's, a scripted nn.GRU, a compiled one, one held as a
submodule of a model, and a dynamically quantized one."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BatchFirstByDefaultGRU(nn.RNNBase):
    """An nn.RNNBase subclass written in Python (a reinforcement-learning library's, say),
    batch-first by default, one direction only, 3-D input only."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None) -> None:
        if bidirectional:
            raise NotImplementedError("one direction only")
        super().__init__("GRU", input_size, hidden_size, num_layers=num_layers, bias=bias, batch_first=batch_first,
                         dropout=dropout, bidirectional=False, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        if x.dim() != 3:
            raise ValueError(f"expected a 3-D input, got {x.dim()}-D")
        steps = x.unbind(1 if self.batch_first else 0)
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, steps[0].shape[0], self.hidden_size)
        states = list(h0.unbind(0))
        outputs = []
        for x_t in steps:
            for layer in range(self.num_layers):
                w_ih, w_hh = getattr(self, f"weight_ih_l{layer}"), getattr(self, f"weight_hh_l{layer}")
                b_ih = getattr(self, f"bias_ih_l{layer}") if self.bias else None
                b_hh = getattr(self, f"bias_hh_l{layer}") if self.bias else None
                xr, xz, xn = F.linear(x_t, w_ih, b_ih).chunk(3, -1)
                hr, hz, hn = F.linear(states[layer], w_hh, b_hh).chunk(3, -1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                states[layer] = (1 - z) * torch.tanh(xn + r * hn) + z * states[layer]
                x_t = states[layer]
            outputs.append(x_t)
        return torch.stack(outputs, 1 if self.batch_first else 0), torch.stack(states)


class KeywordsGRU(nn.RNNBase):
    """An nn.RNNBase subclass taking everything through **kwargs, batch-first unless told
    otherwise: its signature shows no default. nn.GRU's own forward."""

    forward = nn.GRU.forward

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("batch_first", True)
        super().__init__("GRU", *args, **kwargs)


class ScriptedGRU(nn.Module):
    """Constructed, it is torch.jit.script(nn.GRU(...)): a ScriptModule whose forward is two
    TorchScript overloads (forward__0, forward__1)."""

    def __new__(cls, *args, **kwargs):
        return torch.jit.script(nn.GRU(*args, **kwargs))


class CompiledGRU(nn.Module):
    """Constructed, it is torch.compile(nn.GRU(...)): its parameters are named _orig_mod.*."""

    def __new__(cls, *args, **kwargs):
        return torch.compile(nn.GRU(*args, **kwargs))


class Encoder(nn.Module):
    """A model holding its GRU as a submodule, with a head after it: its own call returns
    the head's output, so its GRU is graded."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), 1)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.gru(x, h0)[0])


class Seq2SeqStep(nn.Module):
    """A model whose GRU is a submodule and whose call is the GRU's (output, h_n)."""

    def __init__(self, input_size: int, hidden_size: int, **options) -> None:
        super().__init__()
        self.rnn = nn.GRU(input_size, hidden_size, **options)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        return self.rnn(x, h0)


QuantizedGRU = torch.ao.nn.quantized.dynamic.GRU

#: nn.GRU itself, named from this file (toolchains that act on nn.GRU's exact type, such as
#: quantize_dynamic, leave subclasses alone).
TorchGRU = nn.GRU


class NeedsTokensGRU(nn.GRU):
    """nn.GRU's names, but its call wants token ids and raises on features: the class's own
    error is what grading reports."""

    def forward(self, tokens, h0=None):
        raise TypeError(f"expected integer token ids, got {tokens.dtype}")
