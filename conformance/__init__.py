"""GRU conformance suite: grade any GRU against the equations and torch.nn.GRU."""

from conformance.adapter import Capabilities, CellAdapter, GRUConfig, LayerAdapter
from conformance.params import CanonicalParams

__version__ = "0.1.0"

__all__ = ["Capabilities", "CellAdapter", "GRUConfig", "LayerAdapter", "CanonicalParams", "__version__"]
