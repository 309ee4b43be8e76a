"""Modules with nn.GRU's or nn.GRUCell's constructor, parameter names and call form, graded
without an adapter: correct and buggy, subclassed, hand-written and TorchScript."""
from __future__ import annotations

import torch
from torch import nn


class SubclassedGRU(nn.GRU):
    """nn.GRU itself under another name (library layers often are)."""


def _uniform(*shape: int, hidden: int) -> nn.Parameter:
    k = hidden ** -0.5
    return nn.Parameter(torch.empty(*shape).uniform_(-k, k))


class LoopGRU(nn.Module):
    """nn.GRU written out: layers, directions, batch_first, bias and h0, one step at a time.
    No PackedSequence and no unbatched input."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__()
        self.hidden_size, self.num_layers, self.bias = hidden_size, num_layers, bias
        self.batch_first, self.directions = batch_first, 2 if bidirectional else 1
        for layer in range(num_layers):
            width = input_size if layer == 0 else self.directions * hidden_size
            for suffix in ("", "_reverse")[:self.directions]:
                setattr(self, f"weight_ih_l{layer}{suffix}", _uniform(3 * hidden_size, width, hidden=hidden_size))
                setattr(self, f"weight_hh_l{layer}{suffix}", _uniform(3 * hidden_size, hidden_size, hidden=hidden_size))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", _uniform(3 * hidden_size, hidden=hidden_size))
                    setattr(self, f"bias_hh_l{layer}{suffix}", _uniform(3 * hidden_size, hidden=hidden_size))

    def gates(self, gx: torch.Tensor, gh: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(r, z, i_n, h_n): the reset and update gates and the candidate's two terms."""
        xr, xz, xn = gx.chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        return torch.sigmoid(xr + hr), torch.sigmoid(xz + hz), xn, hn

    def step(self, x: torch.Tensor, h: torch.Tensor, name: str) -> torch.Tensor:
        gx = x @ getattr(self, f"weight_ih_{name}").T
        gh = h @ getattr(self, f"weight_hh_{name}").T
        if self.bias:
            gx, gh = gx + getattr(self, f"bias_ih_{name}"), gh + getattr(self, f"bias_hh_{name}")
        r, z, xn, hn = self.gates(gx, gh)
        return (1 - z) * torch.tanh(xn + r * hn) + z * h

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        if self.batch_first:
            x = x.transpose(0, 1)
        steps, batch = x.shape[0], x.shape[1]
        if h0 is None:
            h0 = x.new_zeros(self.num_layers * self.directions, batch, self.hidden_size)
        finals = []
        for layer in range(self.num_layers):
            halves = []
            for d, suffix in enumerate(("", "_reverse")[:self.directions]):
                h = h0[layer * self.directions + d]
                outputs: list[torch.Tensor] = [x.new_zeros(0)] * steps
                for t in (reversed(range(steps)) if d else range(steps)):
                    h = self.step(x[t], h, f"l{layer}{suffix}")
                    outputs[t] = h
                halves.append(torch.stack(outputs))
                finals.append(h)
            x = torch.cat(halves, dim=-1)
        return (x.transpose(0, 1) if self.batch_first else x), torch.stack(finals)


class SwappedLoopGRU(LoopGRU):
    """BUG: reads the gate blocks as z, r, n instead of r, z, n (tensorflow-onnx#939)."""

    def gates(self, gx: torch.Tensor, gh: torch.Tensor) -> tuple[torch.Tensor, ...]:
        xz, xr, xn = gx.chunk(3, dim=-1)
        hz, hr, hn = gh.chunk(3, dim=-1)
        return torch.sigmoid(xr + hr), torch.sigmoid(xz + hz), xn, hn


class LoopGRUCell(nn.Module):
    """nn.GRUCell written out (batched or unbatched, with or without bias)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.weight_ih = _uniform(3 * hidden_size, input_size, hidden=hidden_size)
        self.weight_hh = _uniform(3 * hidden_size, hidden_size, hidden=hidden_size)
        self.bias_ih = _uniform(3 * hidden_size, hidden=hidden_size) if bias else None
        self.bias_hh = _uniform(3 * hidden_size, hidden=hidden_size) if bias else None

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        gx, gh = x @ self.weight_ih.T, h @ self.weight_hh.T
        if self.bias_ih is not None:
            gx, gh = gx + self.bias_ih, gh + self.bias_hh
        xr, xz, xn = gx.chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        return (1 - z) * self.candidate(xn, r, hn, h) + z * h

    def candidate(self, xn: torch.Tensor, r: torch.Tensor, hn: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(xn + r * hn)


class ResetBeforeGRUCell(LoopGRUCell):
    """The reset gate before the matmul: W_hn (r * h) + b_hn. Conformant when it claims
    reset-before (``--reset before``), nonconformant as nn.GRUCell."""

    def candidate(self, xn: torch.Tensor, r: torch.Tensor, hn: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        w_hn = self.weight_hh.chunk(3)[2]
        b_hn = self.bias_hh.chunk(3)[2] if self.bias_hh is not None else 0.0
        return torch.tanh(xn + (r * h) @ w_hn.T + b_hn)


class ScriptedGRUCell(torch.jit.ScriptModule):
    """A TorchScript cell (``torch.jit.ScriptModule`` with a script method), nn.GRUCell's names."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.weight_ih = _uniform(3 * hidden_size, input_size, hidden=hidden_size)
        self.weight_hh = _uniform(3 * hidden_size, hidden_size, hidden=hidden_size)
        self.bias_ih = _uniform(3 * hidden_size, hidden=hidden_size)
        self.bias_hh = _uniform(3 * hidden_size, hidden=hidden_size)

    @torch.jit.script_method
    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xr, xz, xn = (x @ self.weight_ih.t() + self.bias_ih).chunk(3, -1)
        hr, hz, hn = (h @ self.weight_hh.t() + self.bias_hh).chunk(3, -1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        return (1 - z) * torch.tanh(xn + r * hn) + z * h


class NotAGRU(nn.Module):
    """Neither an adapter nor nn.GRU-like: a Linear per gate under its own names."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.gates = nn.Linear(input_size + hidden_size, 3 * hidden_size)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return h


class FoldedBiasGRUCell(nn.Module):
    """nn.GRUCell's weights, but Equinox's biases: ``bias`` holds b_ih + [b_hr, b_hz, 0] and
    ``bias_n`` holds b_hn. Correct, and not nn.GRUCell-like: its biases need an adapter."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.weight_ih = nn.Parameter(torch.randn(3 * hidden_size, input_size) * 0.3)
        self.weight_hh = nn.Parameter(torch.randn(3 * hidden_size, hidden_size) * 0.3)
        self.bias = nn.Parameter(torch.randn(3 * hidden_size) * 0.1)
        self.bias_n = nn.Parameter(torch.randn(hidden_size) * 0.1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xr, xz, xn = (x @ self.weight_ih.t() + self.bias).chunk(3, -1)
        hr, hz, hn = (h @ self.weight_hh.t()).chunk(3, -1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        return (1 - z) * torch.tanh(xn + r * (hn + self.bias_n)) + z * h


class CellStackGRU(nn.Module):
    """nn.GRU's constructor and call, made of nn.GRUCells (``cells.0``, ...): a layer whose
    parameters are nn.GRUCell's, one direction."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        self.cells = nn.ModuleList(nn.GRUCell(input_size if k == 0 else hidden_size, hidden_size)
                                   for k in range(num_layers))

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        layer_input, finals = x, []
        for k, cell in enumerate(self.cells):
            h = x.new_zeros(x.shape[1], cell.hidden_size) if h0 is None else h0[k]
            outputs = []
            for x_t in layer_input:
                h = cell(x_t, h)
                outputs.append(h)
            layer_input = torch.stack(outputs)
            finals.append(h)
        return layer_input, torch.stack(finals)


class NoDropoutLoopGRU(LoopGRU):
    """LoopGRU without a ``dropout`` argument, as many hand-written GRUs are: it has no dropout."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, bidirectional: bool = False) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, 0.0, bidirectional)
