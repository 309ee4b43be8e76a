"""Document 002 ("Gated Recurrent Unit (GRU)", seeds/002_47312ef595e17aa1):
``GRUModel``, an embedding followed by ``nn.GRU``, run in four configurations:
1 or 2 layers, unidirectional or bidirectional. Copied from the document unchanged.

The graded part is the model's GRU (``model.gru``): the embedding turns token ids
into the GRU's input, so the adapter feeds generated inputs to ``model.gru``
directly. The model's ``forward`` never passes an initial state, so the
document only ever uses h0 = zeros; the adapter passes the generated h0 to the
same ``nn.GRU``. The document's own assertions (last output equals the forward
final state, first output's backward half equals the backward final state, via
``hidden.view(n_layers, 2, batch, hidden)``) are the suite's ``directions`` checks.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from conformance import Capabilities, GRUConfig, LayerAdapter
from conformance.base.params import CanonicalParams


# --- from the document, unchanged -----------------------------------------------
class GRUModel(nn.Module):
    def __init__(self, input_dim, embedding_dim, hidden_dim, n_layers, bidirectional):
        super().__init__()
        self.embedding = nn.Embedding(input_dim, embedding_dim)
        self.gru = nn.GRU(embedding_dim, hidden_dim, num_layers=n_layers, bidirectional=bidirectional)

    def forward(self, input):
        embed = self.embedding(input)
        output, hidden = self.gru(embed)
        return output, hidden
# --- end of the document's code ------------------------------------------------

#: The document's vocabulary: '' plus the letters of "Gated", "Recurrent", "Unit".
VOCAB_SIZE = 13


class Doc002GRU(LayerAdapter):
    """The GRU of document 002's ``GRUModel`` (1-2 layers, uni- or bidirectional)."""

    name = "doc002 GRUModel.gru"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, h0=True,
                                dtypes=(torch.float32, torch.float64), autograd=True)
    notes = "the document runs n_layers in {1, 2} x bidirectional in {False, True}, always from h0 = zeros"

    def build(self, config: GRUConfig) -> GRUModel:
        return GRUModel(VOCAB_SIZE, config.input_size, config.hidden_size, config.num_layers,
                        config.bidirectional).to(config.dtype).eval()

    def load(self, model: GRUModel, params: CanonicalParams) -> None:
        model.gru.load_state_dict(params.tensors(model.gru.weight_ih_l0.dtype))

    def run(self, model, x, h0):
        return model.gru(x, h0)

    def grads(self, model: GRUModel) -> dict[str, torch.Tensor]:
        return {name: p.grad for name, p in model.gru.named_parameters()}
