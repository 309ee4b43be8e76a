"""GRU conformance suite: grade any GRU against the equations and torch.nn.GRU.

The public names (``__all__``): those adapters use (``Capabilities``, ``CellAdapter``,
``GRUConfig``, ``LayerAdapter``, ``CanonicalParams``, ``layouts``); the oracle for your own
tests (``gru``, ``GRUResult``: pure NumPy); one call in your own tests
(``run_conformance_test``, ``ConformanceResult``); and the cases for your own hypothesis
tests (``gru_cases``, ``size_sweep_cases``, ``GeneratedCase``). Each is imported on first
use, so that the grading command can start implementations' workers before it imports
torch, and importing the oracle imports no torch at all.
"""

import os
from typing import Any

# The oracle's matmuls are small and sequential (one per time step): OpenBLAS' thread pool
# buys nothing there, and on a machine whose cores are busy its threads wait for each other
# (measured on this project's 2-core machine under load: the oracle 6 to 10 times slower at
# H = 65-129). Set before NumPy is first imported; an explicit setting is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

__all__ = ["Capabilities", "CellAdapter", "GRUConfig", "LayerAdapter", "CanonicalParams", "layouts", "gru",
           "GRUResult", "run_conformance_test", "ConformanceResult", "gru_cases", "size_sweep_cases", "GeneratedCase",
           "__version__"]

_LAZY = {"Capabilities": "conformance.model.contract", "CellAdapter": "conformance.model.contract",
         "GRUConfig": "conformance.model.contract", "LayerAdapter": "conformance.model.contract",
         "CanonicalParams": "conformance.base.params",
         # The oracle for your own tests (pure NumPy: importing it imports no torch).
         "gru": "conformance.model.public_oracle", "GRUResult": "conformance.model.public_oracle",
         # One call in your own tests (grades in a process of its own).
         "run_conformance_test": "conformance.commands.testing", "ConformanceResult": "conformance.commands.testing",
         # Case strategies for your own hypothesis tests.
         "gru_cases": "conformance.cases.public_strategies", "size_sweep_cases": "conformance.cases.public_strategies",
         "GeneratedCase": "conformance.cases.public_strategies"}
_MODULES = {"layouts": "conformance.model.layouts"}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    raise AttributeError(f"module 'conformance' has no attribute {name!r}")
