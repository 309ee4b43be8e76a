"""Finding implementations: registry ids, entry points, ``module:Class`` and ``file.py:Class``
(the grammar of these names, and of the narrowing a class's name may carry, is
``conformance.model.naming``).

Naming and importing are kept apart. The grader only *names* an implementation
(``resolve``: a registry id or entry point gives its ``module:Class``; a file
path is checked to exist), and never imports it when grading is isolated: the
import happens in the implementation's worker process (``load_adapter``, called
by ``conformance.commands.worker``). With isolation off, both happen here.

Every way it can go wrong (no such file, module, class, or not an adapter)
gives one clear ``AdapterLoadError`` message instead of a traceback.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.model import naming
from conformance.base.registry_entry import Entry

#: Installed packages register adapters under this entry-point group.
ENTRY_POINT_GROUP = "gru_conformance.adapters"


class AdapterLoadError(Exception):
    """An implementation could not be found or is not a usable adapter."""


def registry() -> list[Entry]:
    from conformance.implementations.registry import REGISTRY

    return list(REGISTRY)


def framework_registry() -> list[Entry]:
    """Other frameworks' GRUs (``implementations/frameworks/registry.py``): named by id
    like registered ones, but not in ``registry()`` (``--all``), since each needs an
    optional extra installed."""
    try:
        from conformance.implementations.frameworks.registry import FRAMEWORKS
    except ImportError:
        return []
    return list(FRAMEWORKS)


def registry_by_id() -> dict[str, Entry]:
    return {e.id: e for e in [*registry(), *framework_registry()]}


def adapter_names() -> set[str]:
    """Names that load an adapter: registered ids and installed entry points."""
    return set(registry_by_id()) | set(_entry_points())


# Naming (the grader's side: nothing is imported) ------------------------------------
@dataclass(frozen=True)
class Target:
    """An implementation by name: its id, the ``module:Class`` or ``file.py:Class`` to
    import, its registry entry, and the files it lives in (for the sandbox)."""

    id: str
    spec: str
    source: str
    entry: Entry | None = None
    files: tuple[str, ...] = ()
    #: Named as ``module:Class``, found on the import path (the working directory's, say).
    module: bool = False

    @property
    def seen(self) -> tuple[str, ...]:
        """What its worker sees of it besides the suite: its file or folder, or for a
        module, the working directory it may be imported from."""
        return self.files or ((os.getcwd(),) if self.module else ())


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def split_spec(target: str) -> tuple[str, str, bool]:
    """``where:attr`` -> (where, attr, is a file path) (``conformance.model.naming``), or the
    reason it is not one as an ``AdapterLoadError``."""
    try:
        return naming.split_spec(target)
    except ValueError as exc:
        raise AdapterLoadError(str(exc)) from None


def resolve(name: str) -> Target:
    """A registry id, an entry-point name, ``module:Class`` or ``file.py:Class``, named.
    A class's name may carry the narrowing of its claims (``file.py:MyGRU#no-bidirectional``,
    ``conformance.model.naming``), which goes to the worker with it."""
    source = name
    name, narrowing = naming.split_narrowing(name)
    entries = registry_by_id()
    points = _entry_points()
    if narrowing and (name in entries or name in points):
        raise AdapterLoadError(f"{source!r}: claims are narrowed only for classes graded without an adapter "
                               f"(named as module:Class or path/to/file.py:Class); {name} is a registered adapter")
    if name in entries:
        entry = entries[name]
        return Target(entry.id, entry.adapter, entry.adapter, entry)
    if name in points:
        return Target(name, points[name], points[name])
    try:
        naming.parse_narrowing(narrowing)
    except ValueError as exc:
        raise AdapterLoadError(f"{source!r}: {exc}") from None
    suffix = f"{naming.NARROWING_MARK}{narrowing}" if narrowing else ""
    where, attr, is_file = split_spec(name)
    if is_file:
        path = Path(where)
        if not path.is_file():
            raise AdapterLoadError(f"adapter file not found: {where}")
        resolved = path.resolve()
        # A submission folder (name/adapter.py with its neighbours) is the folder; else the file.
        files = (str(resolved.parent),) if resolved.name == "adapter.py" else (str(resolved),)
        where_name = resolved.parent.name if resolved.name == "adapter.py" else resolved.stem
        return Target(_id_of(attr, where_name), f"{resolved}:{attr}{suffix}", source, None, files)
    return Target(_id_of(attr, where.rpartition(".")[2]), f"{name}{suffix}", source, module=True)


def _id_of(attr: str, where: str) -> str:
    """An implementation's id: its class name, or where it lives when the class has the
    generic name ``Adapter`` (one adapter per file)."""
    cls = attr.rpartition(".")[2]
    return where if cls == "Adapter" and where else cls


# Importing (the implementation's side) ------------------------------------------------
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
        if str(path.parent) in sys.path:
            sys.path.remove(str(path.parent))
    return module


def resolve_object(target: str) -> Any:
    """``pkg.mod:Class`` or ``path/to/file.py:Class`` -> the object (imports it)."""
    where, attr, is_file = split_spec(target)
    try:
        if is_file:
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
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a module's top level too
        raise AdapterLoadError(f"importing {where!r} raised {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AdapterLoadError(f"{where!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _instantiate(obj: Any, target: str) -> Any:
    from conformance.model.contract import CellAdapter, LayerAdapter

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


def load_adapter(spec: str) -> Any:
    """Import ``spec`` (``module:Class`` or ``file.py:Class``) and make its adapter; a class
    that is not an adapter is wrapped when it is nn.GRU-like or nn.GRUCell-like
    (``conformance.model.gru_like_adapter``, which also reads the narrowing a spec may carry)."""
    from conformance.model import gru_like_adapter

    spec, narrowing = naming.split_narrowing(spec)
    obj = resolve_object(spec)
    if gru_like_adapter.is_adapter(obj):
        if narrowing:
            raise AdapterLoadError(f"{spec} is an adapter: its claims are its own (narrowing {narrowing!r} applies "
                                   f"to classes graded without an adapter); grade it in a command of its own")
        return _instantiate(obj, spec)
    try:
        return gru_like_adapter.wrap(obj, spec, narrowing)
    except (gru_like_adapter.NotGRULike, ValueError) as exc:
        raise AdapterLoadError(str(exc)) from None


# Subjects -----------------------------------------------------------------------------
def worker_for(target: Target, isolation: Any, others: tuple[str, ...] = ()) -> Any:
    """A (not yet started) worker process for ``target`` in the sandbox ``isolation``,
    kept from seeing ``others`` (paths of other submissions). Imports no torch."""
    from conformance.running.isolation import WorkerProcess

    hidden = tuple(isolation.hidden) + tuple(p for p in others if p not in target.files)
    return WorkerProcess(target.spec, sandbox=_for_toolchain(isolation, target.spec).with_hidden(hidden),
                         own=list(target.seen), label=target.id)


def _for_toolchain(isolation: Any, spec: str) -> Any:
    """A class passed through a toolchain that compiles per configuration and shape: a check
    can compile many times (an inductor compile takes tens of seconds), so its time limit
    and the worker's CPU time are lifted (``conformance.model.toolchains.HEAVY_CHECK_SECONDS``)."""
    import dataclasses

    from conformance.model import toolchains

    try:
        claims = naming.parse_narrowing(naming.split_narrowing(spec)[1])
        chain = toolchains.TOOLCHAINS.get(claims.get("toolchain", ""))
    except ValueError:
        chain = None
    limits = isolation.limits
    if chain is None or not chain.heavy or not limits.check_seconds:
        return isolation
    lifted = dataclasses.replace(limits, check_seconds=max(limits.check_seconds, toolchains.HEAVY_CHECK_SECONDS),
                                 cpu_seconds=max(limits.cpu_seconds or 0, toolchains.HEAVY_CPU_SECONDS))
    return dataclasses.replace(isolation, limits=lifted)


def load_subject(name: str, *, isolation: Any = None, others: tuple[str, ...] = (), backend: Any = None) -> Any:
    """The implementation ``name`` as a ``Subject``.

    ``isolation`` (a ``conformance.running.sandbox.Sandbox``) runs it in a worker process of
    its own, where it is imported (``backend``: one made beforehand by ``worker_for``);
    ``others`` are paths of other submissions the worker must not see. Without it, it
    is imported and run in this process."""
    from conformance.running.subject import Subject

    target = resolve(name)
    if isolation is None and backend is None:
        return Subject(target.id, load_adapter(target.spec), source=target.source, entry=target.entry)
    backend = backend or worker_for(target, isolation, others)
    return Subject(target.id, backend=backend, source=target.source, entry=target.entry)


def others_of(names: list[str]) -> dict[str, tuple[str, ...]]:
    """For each name, the files of the other named implementations (hidden from its worker)."""
    files: dict[str, tuple[str, ...]] = {}
    for name in names:
        try:
            files[name] = resolve(name).files
        except AdapterLoadError:
            files[name] = ()
    return {name: tuple(p for other, paths in files.items() if other != name for p in paths) for name in names}


@dataclass
class LoadFailure:
    """A name that did not give an implementation; graded as one "error" row."""

    id: str
    error: str


def load_subjects(names: list[str], *, isolation: Any = None, backends: dict[str, Any] | None = None) -> list[Any]:
    """Load every name; one bad name does not stop the others. Ids are made unique.
    ``backends``: workers already started, by name."""
    loaded: list[Any] = []
    seen: set[str] = set()
    names = names or [e.id for e in registry()]
    others = others_of(names) if isolation is not None else {}
    for name in names:
        try:
            item: Any = load_subject(name, isolation=isolation, others=others.get(name, ()),
                                     backend=(backends or {}).get(name))
        except AdapterLoadError as exc:
            item = LoadFailure(name, str(exc))
        base, n = item.id, 2
        while item.id in seen:
            item.id = f"{base}-{n}"
            n += 1
        seen.add(item.id)
        loaded.append(item)
    return loaded
