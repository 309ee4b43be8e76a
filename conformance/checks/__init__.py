"""The checks, one module per family (``equations.py``, ``precision.py``...): what the suite
is for. Each check is a function registered in the catalogue (``conformance.cases.catalogue``)
by its decorator; ``subject`` is the implementation under test, parametrized by the grading
plugin over every implementation being graded."""

from __future__ import annotations

import importlib
import pkgutil

from conformance.cases.catalogue import CHECKS, Check


def load_all() -> dict[str, Check]:
    """Import every check module (each registers its checks in the catalogue as it is
    imported) and return the catalogue, complete."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return CHECKS


__all__ = ["load_all"]
