"""The checks, one module per family (``equations.py``, ``precision.py``...): what the suite
is for. Each check is a function registered in the catalogue (``conformance.cases.catalogue``)
by its decorator; ``subject`` is the implementation under test, parametrized by the grading
plugin over every implementation being graded.

Importing this package imports nothing else: ``grade`` finds the checks' folder through it
before the implementations' workers start, and torch (which the checks import) is loaded
only after, so that the workers' start-up overlaps with this process's."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conformance.cases.catalogue import Check


def load_all() -> dict[str, Check]:
    """Import every check module (each registers its checks in the catalogue as it is
    imported) and return the catalogue, complete."""
    import importlib
    import pkgutil

    from conformance.cases.catalogue import CHECKS

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return CHECKS


__all__ = ["load_all"]
