"""Finding adapters: registry ids, entry points, ``module:Class`` and ``file.py:Class``.

Every way of naming an implementation ends here, and every way it can go
wrong (no such file, module, class, or not an adapter) gives one clear
``AdapterLoadError`` instead of a traceback.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.adapter import CellAdapter, LayerAdapter
from conformance.subject import Subject

#: Installed packages register adapters under this entry-point group.
ENTRY_POINT_GROUP = "gru_conformance.adapters"


class AdapterLoadError(Exception):
    """An implementation could not be found or is not a usable adapter."""


@dataclass(frozen=True)
class Entry:
    """One registered implementation (``implementations/registry.py``).

    ``expected_failures`` says what the suite must find, check id -> why: the
    self-tests hold the suite to it, and ``--check-expectations`` grades against it.
    """

    id: str
    adapter: str
    description: str
    document: str = ""
    expected_failures: dict[str, str] = field(default_factory=dict)
    #: Checks expected not applicable are not listed: applicability follows from the claims.


def registry() -> list[Entry]:
    from implementations.registry import REGISTRY

    return list(REGISTRY)


def framework_registry() -> list[Entry]:
    """Other frameworks' GRUs (``implementations/frameworks/registry.py``): named by id
    like registered ones, but not in ``registry()`` (``--all``), since each needs an
    optional extra installed."""
    try:
        from implementations.frameworks.registry import FRAMEWORKS
    except ImportError:
        return []
    return list(FRAMEWORKS)


def registry_by_id() -> dict[str, Entry]:
    return {e.id: e for e in [*registry(), *framework_registry()]}


def _import_file(path: Path) -> Any:
    module_name = f"_conformance_adapter_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AdapterLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.parent))  # let the adapter import its neighbours
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def resolve_object(target: str) -> Any:
    """``pkg.mod:Class`` or ``path/to/file.py:Class`` -> the object."""
    if ":" not in target:
        raise AdapterLoadError(
            f"{target!r} is neither a registered id nor 'module:Class' / 'path/to/file.py:Class'"
        )
    where, _, attr = target.rpartition(":")
    try:
        if where.endswith(".py") or "/" in where or "\\" in where:
            path = Path(where)
            if not path.is_file():
                raise AdapterLoadError(f"adapter file not found: {where}")
            module = _import_file(path)
        else:
            module = importlib.import_module(where)
    except AdapterLoadError:
        raise
    except ModuleNotFoundError as exc:
        raise AdapterLoadError(f"cannot import module {where!r}: {exc}") from exc
    except Exception as exc:
        raise AdapterLoadError(f"importing {where!r} raised {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AdapterLoadError(f"{where!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _instantiate(obj: Any, target: str) -> CellAdapter | LayerAdapter:
    if isinstance(obj, type):
        if not issubclass(obj, (CellAdapter, LayerAdapter)):
            raise AdapterLoadError(
                f"{target} is a class but not a conformance.CellAdapter or conformance.LayerAdapter subclass"
            )
        try:
            return obj()
        except Exception as exc:
            raise AdapterLoadError(f"{target}() raised {type(exc).__name__}: {exc}") from exc
    if isinstance(obj, (CellAdapter, LayerAdapter)):
        return obj
    raise AdapterLoadError(f"{target} is a {type(obj).__name__}, not an adapter class")


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def load_subject(name: str) -> Subject:
    """A registry id, an entry-point name, ``module:Class`` or ``file.py:Class``."""
    entries = registry_by_id()
    if name in entries:
        entry = entries[name]
        return Subject(entry.id, _instantiate(resolve_object(entry.adapter), entry.adapter),
                       source=entry.adapter, entry=entry)
    points = _entry_points()
    if name in points:
        return Subject(name, _instantiate(resolve_object(points[name]), points[name]), source=points[name])
    adapter = _instantiate(resolve_object(name), name)
    impl_id = getattr(adapter, "id", None) or type(adapter).__name__
    return Subject(str(impl_id), adapter, source=name)


@dataclass
class LoadFailure:
    """A name that did not give an adapter; graded as one "error" row."""

    id: str
    error: str


def load_subjects(names: list[str]) -> list[Subject | LoadFailure]:
    """Load every name; one bad name does not stop the others. Ids are made unique."""
    loaded: list[Subject | LoadFailure] = []
    seen: set[str] = set()
    for name in names or [e.id for e in registry()]:
        try:
            item: Subject | LoadFailure = load_subject(name)
        except AdapterLoadError as exc:
            item = LoadFailure(name, str(exc))
        base, n = item.id, 2
        while item.id in seen:
            item.id = f"{base}-{n}"
            n += 1
        seen.add(item.id)
        loaded.append(item)
    return loaded
