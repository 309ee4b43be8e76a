"""The registry of graded implementations (one entry each, declared in one place).

``expected_failures`` records what the suite must find in each implementation,
with the reason: the self-tests fail if grading disagrees, in either direction.
"""

from conformance.base.registry_entry import Entry

REGISTRY: list[Entry] = [
    Entry(
        id="doc000-cell",
        adapter="conformance.implementations.doc000:Doc000Cell",
        document="seeds/000_d0d326774708cbe5 (GRU implementation from Scratch)",
        description="hand-written GRUcell with an operator-precedence slip in the update",
        expected_failures={
            "equations.step": "h_prev * 1 - u_sigmoid_out computes h - z: h' = h - z + z*n",
            "bounds.unit-interval": "h - z + z*n leaves [-1, 1]",
            "bounds.saturation": "h - z + z*n leaves [-1, 1]",
        },
    ),
    Entry(
        id="doc000-simplegru",
        adapter="conformance.implementations.doc000:Doc000SimpleGRU",
        document="seeds/000_d0d326774708cbe5 (GRU implementation from Scratch)",
        description="SimpleGRU: the GRUcell above looped over a batch-first sequence",
        expected_failures={
            "contract.output-shape": "h_n is returned as (B, H), not (1, B, H)",
            "equations.step": "h_prev * 1 - u_sigmoid_out computes h - z: h' = h - z + z*n",
            "bounds.unit-interval": "h - z + z*n leaves [-1, 1]",
            "bounds.saturation": "h - z + z*n leaves [-1, 1]",
        },
    ),
    Entry(
        id="doc001-cell",
        adapter="conformance.implementations.doc001:Doc001Cell",
        document="seeds/001_22d3787a42d36932 (Custom GRU implementation)",
        description="GRUCell over cat(x, h): reset before, update (1 - z) * h + z * n (claimed: the "
        "Chung et al. 2014 form)",
    ),
    Entry(
        id="doc001-aisummer-cell",
        adapter="conformance.implementations.doc001:Doc001AISummerCell",
        document="seeds/001_22d3787a42d36932 (Custom GRU implementation)",
        description="GRU_cell_AI_SUMMER: the PyTorch equations under confusing names",
    ),
    Entry(
        id="doc002-gru",
        adapter="conformance.implementations.doc002:Doc002GRU",
        document="seeds/002_47312ef595e17aa1 (Gated Recurrent Unit (GRU))",
        description="the nn.GRU of an embedding model, 1-2 layers, uni- or bidirectional",
    ),
    Entry(
        id="doc003-gru",
        adapter="conformance.implementations.doc003:Doc003GRU",
        document="seeds/003_826d5d28e6905e56 (Pytorch - simple GRU experiment)",
        description="SimpleGRU: a batch-first nn.GRU wrapper",
    ),
    Entry(
        id="doc004-cell",
        adapter="conformance.implementations.doc004:Doc004Cell",
        document="seeds/004_c4890de4cb472f52 (GRU)",
        description="d2l-style cell whose code is reset-after, as nn.GRU",
    ),
    Entry(
        id="torch-gru",
        adapter="conformance.implementations.torch_reference:TorchGRU",
        description="torch.nn.GRU, the reference layer",
    ),
    Entry(
        id="torch-grucell",
        adapter="conformance.implementations.torch_reference:TorchGRUCell",
        description="torch.nn.GRUCell, unrolled by the suite",
    ),
]
