"""Document 001 ("Custom GRU implementation", seeds/001_22d3787a42d36932): two
cells, copied from the document unchanged.

``GRUCell`` (registered as ``doc001-cell``):

* reset before the recurrent matmul (``cat(x, r * h)`` through one Linear), one
  bias per gate;
* the state update is ``(1 - z) * h + z * n``: the complement polarity of eq. (4)
  (Chung et al. 2014). Its adapter claims both (``reset = "before"``,
  ``update = "complement"``): it is a correct GRU of that convention;
* it prints the input and hidden shapes on every call (silenced by the adapter)
  and returns ``(next_hidden, tanh(next_hidden))``; the document's classifier
  unpacks these as ``out, hn``, the other way round.

``GRU_cell_AI_SUMMER`` (registered as ``doc001-aisummer-cell``): separate Linear
layers per gate for x and h, reset applied after the recurrent matmul with its
bias inside, ``(1 - z) * n + z * h``: the PyTorch equations, under confusing names
(``linear_reset_w2``/``r2`` feed the update gate, ``linear_gate_w3``/``r3`` the candidate).
"""

from __future__ import annotations

import contextlib
import io

import torch
import torch.nn as nn

from conformance import Capabilities, CellAdapter, GRUConfig, layouts
from conformance.base.params import CanonicalParams


# --- from the document, unchanged -----------------------------------------------
class GRUCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super(GRUCell, self).__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.reset_gate = nn.Linear(input_size + hidden_size, hidden_size)
        self.update_gate = nn.Linear(input_size + hidden_size, hidden_size)
        self.hidden_transform = nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, input, hidden):
        print("Input Shape:", input.shape)
        print("Hidden Shape:", hidden.shape)
        combined = torch.cat((input, hidden), dim=1)
        reset_gate = torch.sigmoid(self.reset_gate(combined))
        update_gate = torch.sigmoid(self.update_gate(combined))
        combined = torch.cat((input, reset_gate * hidden), dim=1)
        hidden_transform = torch.tanh(self.hidden_transform(combined))
        next_hidden = (1 - update_gate) * hidden + update_gate * hidden_transform
        output = torch.tanh(next_hidden)
        return next_hidden, output


class GRU_cell_AI_SUMMER(torch.nn.Module):
    """
    A simple GRU cell network for educational purposes
    """

    def __init__(self, input_length=10, hidden_length=20):
        super(GRU_cell_AI_SUMMER, self).__init__()
        self.input_length = input_length
        self.hidden_length = hidden_length

        # reset gate components
        self.linear_reset_w1 = nn.Linear(self.input_length, self.hidden_length, bias=True)
        self.linear_reset_r1 = nn.Linear(self.hidden_length, self.hidden_length, bias=True)


        self.linear_reset_w2 = nn.Linear(self.input_length, self.hidden_length, bias=True)
        self.linear_reset_r2 = nn.Linear(self.hidden_length, self.hidden_length, bias=True)
        self.activation_1 = nn.Sigmoid()

        # update gate components
        self.linear_gate_w3 = nn.Linear(self.input_length, self.hidden_length, bias=True)
        self.linear_gate_r3 = nn.Linear(self.hidden_length, self.hidden_length, bias=True)
        self.activation_2 = nn.Sigmoid()

        self.activation_3 = nn.Tanh()

    def reset_gate(self, x, h):
        x_1 = self.linear_reset_w1(x)
        h_1 = self.linear_reset_r1(h)
        # gate update
        reset = self.activation_1(x_1 + h_1)
        return reset

    def update_gate(self, x, h):
        x_2 = self.linear_reset_w2(x)
        h_2 = self.linear_reset_r2(h)
        z = self.activation_2( h_2 + x_2)
        return z


    def update_component(self, x,h,r):
        x_3 = self.linear_gate_w3(x)
        h_3 = r * self.linear_gate_r3(h) 
        gate_update = self.activation_3(x_3+h_3)
        return gate_update


    def forward(self, x, h):
        # Equation 1. reset gate vector
        r = self.reset_gate(x, h)

        # Equation 2: the update gate - the shared update gate vector z
        z = self.update_gate(x, h)

        # Equation 3: The almost output component
        n = self.update_component(x,h,r)

        # Equation 4: the new hidden state
        h_new = (1-z) * n  + z * h

        return h_new
# --- end of the document's code ------------------------------------------------


def _copy(linear: nn.Linear, weight, bias) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(weight, dtype=linear.weight.dtype))
        linear.bias.copy_(torch.as_tensor(bias, dtype=linear.bias.dtype))


class Doc001Cell(CellAdapter):
    """Document 001's ``GRUCell``: see the module docstring for its quirks."""

    name = "doc001 GRUCell"
    reset = "before"
    update = "complement"  # (1 - z) * h + z * n
    capabilities = Capabilities(dtypes=(torch.float32, torch.float64),
                                autograd=True)
    notes = "update (1 - z) * h + z * n: complement polarity (claimed); prints shapes on every call"

    def build(self, config: GRUConfig) -> GRUCell:
        return GRUCell(config.input_size, config.hidden_size).to(config.dtype)

    def load(self, cell: GRUCell, params: CanonicalParams) -> None:
        # One Linear over cat(x, h) per gate (cat(x, r * h) for the candidate), one bias per
        # gate: exact for a reset-before GRU.
        for linear, gate in ((cell.reset_gate, "r"), (cell.update_gate, "z"), (cell.hidden_transform, "n")):
            _copy(linear, layouts.concat_xh(params, gate), layouts.folded_bias(params, gate, reset="before"))

    def step(self, cell, x, h):
        with contextlib.redirect_stdout(io.StringIO()):  # the cell prints shapes on every call
            next_hidden, _output = cell(x, h)
        return next_hidden

    def grads(self, cell: GRUCell) -> dict[str, torch.Tensor]:
        # The inverse of load: each Linear over cat(x, h) splits into W_i* | W_h*, and
        # its one bias (b_i* + b_h*) passes its gradient to both canonical biases.
        linears = (cell.reset_gate, cell.update_gate, cell.hidden_transform)
        inputs = cell.input_size
        bias = torch.cat([lin.bias.grad for lin in linears])
        return {
            "weight_ih_l0": torch.cat([lin.weight.grad[:, :inputs] for lin in linears]),
            "weight_hh_l0": torch.cat([lin.weight.grad[:, inputs:] for lin in linears]),
            "bias_ih_l0": bias,
            "bias_hh_l0": bias,
        }


class Doc001AISummerCell(CellAdapter):
    """Document 001's ``GRU_cell_AI_SUMMER``: the PyTorch equations."""

    name = "doc001 GRU_cell_AI_SUMMER"
    reset = "after"
    capabilities = Capabilities(dtypes=(torch.float32, torch.float64),
                                autograd=True)

    def build(self, config: GRUConfig) -> GRU_cell_AI_SUMMER:
        return GRU_cell_AI_SUMMER(config.input_size, config.hidden_size).to(config.dtype)

    def load(self, cell: GRU_cell_AI_SUMMER, params: CanonicalParams) -> None:
        for gate, (w_in, w_h) in {
            "r": (cell.linear_reset_w1, cell.linear_reset_r1),
            "z": (cell.linear_reset_w2, cell.linear_reset_r2),
            "n": (cell.linear_gate_w3, cell.linear_gate_r3),
        }.items():
            _copy(w_in, params.get("weight_ih", gate=gate), params.get("bias_ih", gate=gate))
            _copy(w_h, params.get("weight_hh", gate=gate), params.get("bias_hh", gate=gate))

    def step(self, cell, x, h):
        return cell(x, h)

    def grads(self, cell: GRU_cell_AI_SUMMER) -> dict[str, torch.Tensor]:
        pairs = ((cell.linear_reset_w1, cell.linear_reset_r1), (cell.linear_reset_w2, cell.linear_reset_r2),
                 (cell.linear_gate_w3, cell.linear_gate_r3))  # gates r, z, n (see load)
        return {
            "weight_ih_l0": torch.cat([w.weight.grad for w, _ in pairs]),
            "weight_hh_l0": torch.cat([r.weight.grad for _, r in pairs]),
            "bias_ih_l0": torch.cat([w.bias.grad for w, _ in pairs]),
            "bias_hh_l0": torch.cat([r.bias.grad for _, r in pairs]),
        }
