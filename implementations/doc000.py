"""Document 000 ("GRU implementation from Scratch", seeds/000_d0d326774708cbe5):
a hand-written ``GRUcell`` and a ``SimpleGRU`` that loops it over a batch-first
sequence. The classes below are copied from the document unchanged.

What is odd about them:

* The update line ``h_prev = h_prev * 1 - u_sigmoid_out`` is an operator-precedence
  slip: it computes ``h - z``, not ``h * (1 - z)``, so the state update is
  ``h' = h - z + z * n`` and states leave [-1, 1] (the document's own printout
  shows -1.8).
* Reset is applied before the recurrent matmul (``cat(x, r * h) @ W_c``) and the
  candidate has a single bias, so the closest claim is the reset-before variant;
  its ``z * n`` polarity is the complement of eq. (4) even without the slip.
* Weights are (in, out) matrices drawn from ``torch.randn`` (scale 1, not
  1/sqrt(H)); x and h share one matrix per gate: ``cat(x, h) @ W``.
* ``SimpleGRU`` takes no initial state (always zeros) and returns the final state
  as (B, H) instead of nn.GRU's (1, B, H).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from conformance import Capabilities, CellAdapter, GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams


# --- from the document, unchanged -----------------------------------------------
class GRUcell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super(GRUcell, self).__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size

        # weights for reset gate
        self.W_r = nn.Parameter(torch.randn(self.input_size+self.hidden_size, self.hidden_size))
        self.b_r = nn.Parameter(torch.zeros(self.hidden_size))

        # weights for update gate
        self.W_u = nn.Parameter(torch.randn(self.input_size+self.hidden_size, self.hidden_size))
        self.b_u = nn.Parameter(torch.zeros(self.hidden_size))

        # weights for candidate state
        self.W_c = nn.Parameter(torch.randn(self.input_size+self.hidden_size, self.hidden_size))
        self.b_c = nn.Parameter(torch.zeros(self.hidden_size))

    def forward(self, x, h_prev): #x -> batchsize, input_size
        # reset gate
        x_h = torch.cat((x, h_prev), axis=1) #batchsize X input_size+hidden_size
        r_sigmoid_out = torch.sigmoid( x_h @ self.W_r + self.b_r)
        reset_gate_out = h_prev * r_sigmoid_out

        # update gate
        u_sigmoid_out = torch.sigmoid( x_h @ self.W_u + self.b_u)
        h_prev = h_prev * 1 - u_sigmoid_out

        # candidate for hidden state
        x_h = torch.cat((x, reset_gate_out), axis=1)
        tanh_out = torch.tanh(x_h @ self.W_c + self.b_c)
        h_prev = h_prev + u_sigmoid_out * tanh_out
        return h_prev


class SimpleGRU(nn.Module):
    def __init__(self, input_size, hidden_size):
        super(SimpleGRU, self).__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size

        self.gru_cell = GRUcell(self.input_size, self.hidden_size)

    def forward(self, input_seq):
        # input_seq -> batch_size X sequence_length X input_size
        self.batch_size = input_seq.size(0)
        self.seq_length = input_seq.size(1)

        h_prev = torch.zeros(self.batch_size, self.hidden_size)
        outputs = []
        for seq_idx in range(self.seq_length):
            x = input_seq[:, seq_idx, :]
            h_prev = self.gru_cell(x, h_prev)
            outputs.append(h_prev.unsqueeze(1)) # batch_size X 1 X hidden_size

        return torch.cat(outputs, axis=1), h_prev
# --- end of the document's code ------------------------------------------------


def load_gru_cell(cell: GRUcell, params: CanonicalParams) -> None:
    """Canonical r, z, n -> the document's (I+H, H) matrices over cat(x, h).

    The candidate's single bias is b_in + b_hn: exact for the reset-before
    variant, where both biases sit outside the reset product."""
    def stacked(gate: str) -> torch.Tensor:
        w = torch.cat([torch.tensor(params.get("weight_ih", gate=gate)),
                       torch.tensor(params.get("weight_hh", gate=gate))], dim=1)  # (H, I+H)
        return w.T

    def bias(gate: str) -> torch.Tensor:
        return torch.tensor(params.get("bias_ih", gate=gate) + params.get("bias_hh", gate=gate))

    dtype = cell.W_r.dtype
    with torch.no_grad():
        for weight, b, gate in ((cell.W_r, cell.b_r, "r"), (cell.W_u, cell.b_u, "z"), (cell.W_c, cell.b_c, "n")):
            weight.copy_(stacked(gate).to(dtype))
            b.copy_(bias(gate).to(dtype))


def gru_cell_grads(cell: GRUcell) -> dict[str, torch.Tensor]:
    """The inverse of ``load_gru_cell`` for gradients: each (I+H, H) matrix's gradient
    split back into W_i* and W_h* rows; the single candidate bias b_in + b_hn (and
    each gate's b_i* + b_h*) passes its gradient to both canonical biases."""
    inputs = cell.input_size
    pairs = ((cell.W_r, cell.b_r), (cell.W_u, cell.b_u), (cell.W_c, cell.b_c))
    bias = torch.cat([b.grad for _, b in pairs])
    return {
        "weight_ih_l0": torch.cat([w.grad[:inputs].T for w, _ in pairs]),
        "weight_hh_l0": torch.cat([w.grad[inputs:].T for w, _ in pairs]),
        "bias_ih_l0": bias,
        "bias_hh_l0": bias,
    }


class Doc000Cell(CellAdapter):
    """Document 000's ``GRUcell``: see the module docstring for its quirks."""

    name = "doc000 GRUcell"
    reset = "before"
    capabilities = Capabilities(dtypes=(torch.float32, torch.float64),
                                autograd=True)
    notes = "h_prev * 1 - u_sigmoid_out: precedence slip gives h' = h - z + z*n"

    def build(self, config: GRUConfig) -> GRUcell:
        return GRUcell(config.input_size, config.hidden_size).to(config.dtype)

    def load(self, cell: GRUcell, params: CanonicalParams) -> None:
        load_gru_cell(cell, params)

    def step(self, cell, x, h):
        return cell(x, h)

    def grads(self, cell: GRUcell) -> dict[str, torch.Tensor]:
        return gru_cell_grads(cell)


class Doc000SimpleGRU(LayerAdapter):
    """Document 000's ``SimpleGRU``: batch-first, no h0, returns h_n as (B, H)."""

    name = "doc000 SimpleGRU"
    reset = "before"
    capabilities = Capabilities(time_major=False, batch_first=True, h0=False,
                                dtypes=(torch.float32, torch.float64), autograd=True)
    notes = "loops the document's GRUcell; always starts from zeros; h_n returned as (B, H)"

    def build(self, config: GRUConfig) -> SimpleGRU:
        return SimpleGRU(config.input_size, config.hidden_size).to(config.dtype)

    def load(self, gru: SimpleGRU, params: CanonicalParams) -> None:
        load_gru_cell(gru.gru_cell, params)

    def run(self, gru, x, h0):
        return gru(x)

    def grads(self, gru: SimpleGRU) -> dict[str, torch.Tensor]:
        return gru_cell_grads(gru.gru_cell)
