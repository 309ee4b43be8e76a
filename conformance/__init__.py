"""GRU conformance suite: grade any GRU against the equations and torch.nn.GRU.

The names adapters use (``Capabilities``, ``CellAdapter``, ``GRUConfig``,
``LayerAdapter``, ``CanonicalParams``) are imported on first use, so that the
grading command can start implementations' workers before it imports torch.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["Capabilities", "CellAdapter", "GRUConfig", "LayerAdapter", "CanonicalParams", "layouts", "__version__"]

_LAZY = {"Capabilities": "conformance.adapter", "CellAdapter": "conformance.adapter",
         "GRUConfig": "conformance.adapter", "LayerAdapter": "conformance.adapter",
         "CanonicalParams": "conformance.params"}
_MODULES = {"layouts": "conformance.layouts"}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    raise AttributeError(f"module 'conformance' has no attribute {name!r}")
