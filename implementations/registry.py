"""The registry of graded implementations (one entry each, declared in one place).

``expected_failures`` records what the suite must find in each implementation,
with the reason: the self-tests fail if grading disagrees, in either direction.
"""

from conformance.loading import Entry

REGISTRY: list[Entry] = [
    Entry(
        id="torch-gru",
        adapter="implementations.torch_reference:TorchGRU",
        description="torch.nn.GRU, the reference layer",
    ),
    Entry(
        id="torch-grucell",
        adapter="implementations.torch_reference:TorchGRUCell",
        description="torch.nn.GRUCell, unrolled by the suite",
    ),
]
