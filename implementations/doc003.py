"""Document 003 ("Pytorch - simple GRU experiment", seeds/003_826d5d28e6905e56):
``SimpleGRU`` wraps ``nn.GRU(batch_first=True)`` and the document checks that
feeding one time step at a time gives the whole-sequence output (the suite's
``sequence.stepwise`` check). Copied from the document unchanged.

What is odd: it only takes batch-first input, and its ``forward`` requires a
hidden state argument. ``init_weights`` sets every weight to 0.5 and every bias
to 0 (the constant-weight blind spot, where swapped gates are invisible), but
the document never applies it: the printed outputs differ per unit.
"""

from __future__ import annotations

import torch
from torch import nn

from conformance import Capabilities, GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams


# --- from the document, unchanged -----------------------------------------------
class SimpleGRU(nn.Module):
    
    def __init__(self, input_size, num_hiddens, num_layers=1):
        
        super(SimpleGRU, self).__init__()
        self.rnn = nn.GRU(input_size, num_hiddens, num_layers, batch_first=True)
        self.num_hiddens = num_hiddens
        
    def forward(self, X, hidden_state):
        # Input X: (`batch_size`, `num_steps`, `input_size`)
        # hidden state : (`num_layers`, `batch_size`, `num_hiddens`)  
        output, state = self.rnn(X, hidden_state)      
        # `output` shape: (`batch_size`, `num_steps`, `num_hiddens`)
        # `state` shape:  (`num_layers`, `batch_size`, `num_hiddens`)
        return output, state
    
    
def init_weights(m):
    #initialize biases and weights
    for name, param in m.named_parameters():
        if 'bias' in name:
            nn.init.constant(param, 0.0)
        elif 'weight' in name:
            nn.init.constant(m._parameters[name],0.5)
# --- end of the document's code ------------------------------------------------


class Doc003GRU(LayerAdapter):
    """Document 003's ``SimpleGRU``: batch-first nn.GRU, any number of layers."""

    name = "doc003 SimpleGRU"
    reset = "after"
    capabilities = Capabilities(multi_layer=True, time_major=False, batch_first=True, h0=True,
                                dtypes=(torch.float32, torch.float64), autograd=True)
    notes = "batch-first only; forward(X, hidden_state) requires the state argument"

    def build(self, config: GRUConfig) -> SimpleGRU:
        return SimpleGRU(config.input_size, config.hidden_size, config.num_layers).to(config.dtype).eval()

    def load(self, model: SimpleGRU, params: CanonicalParams) -> None:
        model.rnn.load_state_dict(params.tensors(model.rnn.weight_ih_l0.dtype))

    def run(self, model, x, h0):
        return model(x, h0)

    def grads(self, model: SimpleGRU) -> dict[str, torch.Tensor]:
        return {name: p.grad for name, p in model.rnn.named_parameters()}
