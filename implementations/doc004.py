"""Document 004 ("GRU", seeds/004_c4890de4cb472f52): a ``GRU`` class that is
one cell, with a Linear layer per gate for x and for h. Copied from the
document unchanged.

What is odd:

* The document shows two sets of equations: its "Step 2" is d2l's reset-before
  candidate ``tanh(X W_xh + (R * H) W_hh + b_h)``, its "GRU Equations" the
  reset-after ``tanh(W_xh X + R * (W_hh H))``. The code follows the second, with
  every Linear's bias, so it claims (and computes) the PyTorch equations.
* ``forward`` returns ``(hidden_state, hidden_state[-1])``: the second value is the
  last batch row, not a layer's state.
* ``init_hidden`` reads a global ``hidden_size`` and is unused here.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from conformance import Capabilities, CellAdapter, GRUConfig
from conformance.base.params import CanonicalParams


# --- from the document, unchanged -----------------------------------------------
class GRU(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.w_xr = nn.Linear(input_size, hidden_size)
        self.w_hr = nn.Linear(hidden_size, hidden_size)
        
        self.w_xz = nn.Linear(input_size, hidden_size)
        self.w_hz = nn.Linear(hidden_size, hidden_size)
        
        self.w_xh = nn.Linear(input_size, hidden_size)
        self.w_hh = nn.Linear(hidden_size, hidden_size)
        
    def init_hidden(self):
        #initializing hidden state as a tensor of zeros
        # shape -> num_layers, batch_size, hidden_size
        hidden = torch.zeros((1,1,hidden_size), dtype=torch.float32)
        return hidden
        
    def forward(self, x, hidden):   
        reset_gate = torch.sigmoid(self.w_xr(x) + self.w_hr(hidden))
        
        update_gate = torch.sigmoid(self.w_xz(x) + self.w_hz(hidden))
        
        candidate = torch.tanh(self.w_xh(x) + torch.mul(reset_gate, self.w_hh(hidden)) )
        
        hidden_state = torch.mul(update_gate, hidden) + torch.mul((1-update_gate), candidate)
        
        return hidden_state, hidden_state[-1]
# --- end of the document's code ------------------------------------------------


class Doc004Cell(CellAdapter):
    """Document 004's ``GRU`` (a cell): see the module docstring."""

    name = "doc004 GRU"
    reset = "after"
    capabilities = Capabilities(dtypes=(torch.float32, torch.float64),
                                autograd=True)
    notes = "equations section contradicts its Step 2 (reset-before); the code is reset-after"

    def build(self, config: GRUConfig) -> GRU:
        return GRU(config.input_size, config.hidden_size).to(config.dtype)

    def load(self, cell: GRU, params: CanonicalParams) -> None:
        pairs = {"r": (cell.w_xr, cell.w_hr), "z": (cell.w_xz, cell.w_hz), "n": (cell.w_xh, cell.w_hh)}
        with torch.no_grad():
            for gate, (w_x, w_h) in pairs.items():
                for linear, kind in ((w_x, "ih"), (w_h, "hh")):
                    linear.weight.copy_(torch.as_tensor(params.get(f"weight_{kind}", gate=gate), dtype=linear.weight.dtype))
                    linear.bias.copy_(torch.as_tensor(params.get(f"bias_{kind}", gate=gate), dtype=linear.bias.dtype))

    def step(self, cell, x, h):
        hidden_state, _last_row = cell(x, h)
        return hidden_state

    def grads(self, cell: GRU) -> dict[str, torch.Tensor]:
        pairs = ((cell.w_xr, cell.w_hr), (cell.w_xz, cell.w_hz), (cell.w_xh, cell.w_hh))  # gates r, z, n
        return {
            "weight_ih_l0": torch.cat([x.weight.grad for x, _ in pairs]),
            "weight_hh_l0": torch.cat([h.weight.grad for _, h in pairs]),
            "bias_ih_l0": torch.cat([x.bias.grad for x, _ in pairs]),
            "bias_hh_l0": torch.cat([h.bias.grad for _, h in pairs]),
        }
