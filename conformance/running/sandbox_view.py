"""What a sandboxed worker sees of the file system: only what it needs, read-only.

The view is built up from an empty root rather than carved out of the whole file
system: the system's programs and libraries, the Python installation and its
site-packages, the suite's own packages, the submission's file or folder and
(for ``grade``) the working directory. A path to hide that lies inside one of these
(another submission beside this one, the results folder) is left out by binding
that folder's other entries one by one, so the hidden path is neither readable nor
listed, and the mount table names only what is visible.

``plan`` turns the paths into bubblewrap mounts; nothing here starts a process.
"""

from __future__ import annotations

import ast
import functools
import os
import site
import sys
from dataclasses import dataclass
from pathlib import Path

#: The system's programs, libraries and configuration (a link, as /bin -> usr/bin is, stays a link).
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")


@dataclass(frozen=True)
class Mount:
    """One read-only bind (``target`` empty) or one symbolic link to ``target``, at ``path``."""

    path: str
    target: str = ""


def _existing(paths: list[Path]) -> list[Path]:
    found = []
    for path in paths:
        try:
            if path.exists():
                found.append(path.resolve())
        except OSError:
            continue
    return list(dict.fromkeys(found))


def _pth_paths(folder: Path) -> list[Path]:
    """Folders a site folder's ``.pth`` files add to the import path, and those an
    editable install's finder maps packages to (``__editable__.*_finder.py``)."""
    found: list[Path] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return found
    for entry in entries:
        try:
            if entry.suffix == ".pth":
                for line in entry.read_text(errors="replace").splitlines():
                    line = line.strip()
                    if line and not line.startswith(("#", "import ", "import\t")):
                        found.append(folder / line)
            elif entry.name.startswith("__editable__") and entry.name.endswith("_finder.py"):
                found += _finder_mapping(entry)
        except OSError:
            continue
    return found


def _finder_mapping(path: Path) -> list[Path]:
    """The folders of setuptools' editable finder's ``MAPPING = {name: folder}``, read
    from its source (it is not imported)."""
    try:
        tree = ast.parse(path.read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return []
    for node in tree.body:
        # setuptools writes ``MAPPING: dict[str, str] = {...}`` (annotated); older ones had no annotation.
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, ast.AnnAssign) else [])
        if getattr(node, "value", None) is not None and any(isinstance(t, ast.Name) and t.id == "MAPPING"
                                                            for t in targets):
            try:
                mapping = ast.literal_eval(node.value)
            except ValueError:
                return []
            return [Path(v) for v in mapping.values() if isinstance(v, str)] if isinstance(mapping, dict) else []
    return []


@functools.lru_cache(maxsize=1)
def python_paths() -> tuple[Path, ...]:
    """The Python installation the worker runs: prefixes, the interpreter's folder,
    site-packages and what their ``.pth`` files and editable finders point at."""
    folders = [Path(p) for p in site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        folders.append(Path(site.getusersitepackages()))
    paths = [Path(sys.prefix), Path(sys.exec_prefix), Path(sys.base_prefix), Path(sys.base_exec_prefix),
             Path(os.path.realpath(sys.executable)).parent, *folders]
    for folder in folders:
        paths += _pth_paths(folder)
    return tuple(_existing(paths))


@functools.lru_cache(maxsize=1)
def suite_paths() -> tuple[Path, ...]:
    """The suite's packages: ``conformance`` and the registered ``implementations`` (found
    without importing them)."""
    import importlib.util

    here = Path(__file__).resolve().parents[1]
    paths = [here]
    try:
        spec = importlib.util.find_spec("implementations")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        paths += [Path(p) for p in spec.submodule_search_locations]
    return tuple(_existing(paths))


def environment_paths(variable: str) -> list[Path]:
    """The folders an environment variable lists (``PYTHONPATH``, ``LD_LIBRARY_PATH``)."""
    return _existing([Path(p) for p in os.environ.get(variable, "").split(os.pathsep) if p])


def own_paths(own: list[str]) -> list[Path]:
    """A submission's file (with its folder, for the modules beside it) or folder."""
    paths: list[Path] = []
    for item in own:
        path = Path(item).resolve()
        paths += [path.parent, path] if path.is_file() else [path]
    return _existing(paths)


def plan(required: list[Path], optional: list[Path], hidden: list[Path]) -> list[Mount]:
    """The mounts that show ``required`` (always, even inside a hidden folder) and
    ``optional`` (unless hidden) without showing anything ``hidden``, parents first."""
    hidden_set = set(_existing(hidden))
    roots = _existing(required) + [p for p in _existing(optional) if not _hidden(p, hidden_set)]
    roots = list(dict.fromkeys(roots))
    mounts: list[Mount] = []
    for root in sorted(roots, key=lambda p: len(p.parts)):
        if any(_covered(root, other, hidden_set) for other in roots if other != root):
            continue
        mounts += _split(root, {h for h in hidden_set if root in h.parents}, hidden_set)
    return mounts


def _hidden(path: Path, hidden: set[Path]) -> bool:
    """``path`` is hidden or lies inside a hidden folder."""
    return path in hidden or any(parent in hidden for parent in path.parents)


def _covered(path: Path, root: Path, hidden: set[Path]) -> bool:
    """``root``'s mounts show ``path``: it lies inside, and no hidden path is on the way."""
    if root not in path.parents:
        return False
    return not any(p in hidden for p in [path, *path.parents] if root in p.parents)


def _split(path: Path, hidden: set[Path], every: set[Path]) -> list[Mount]:
    """``path`` whole when nothing ``hidden`` is inside, else its entries one by one (a
    link whose target is among ``every`` hidden path is left out: it would name it)."""
    if not hidden:
        return [_mount(path)]
    stems = {h.stem for h in hidden if h.parent == path and h.suffix == ".py"}
    mounts: list[Mount] = []
    for entry in _entries(path):
        if entry in hidden:
            continue
        if entry.is_symlink():
            try:
                target = entry.resolve()
            except (OSError, RuntimeError):
                continue
            if not _hidden(target, every):
                mounts.append(_mount(entry))
            continue
        inner = {h for h in hidden if entry in h.parents}
        if entry.name == "__pycache__" and stems:  # the hidden modules' compiled code
            inner |= {e for e in _entries(entry) if e.name.split(".")[0] in stems}
        mounts += _split(entry, inner, every) if inner else [_mount(entry)]
    return mounts


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _mount(path: Path) -> Mount:
    """A link stays a link (what it points at is shown only if it is visible itself)."""
    if path.is_symlink():
        return Mount(str(path), os.readlink(path))
    return Mount(str(path))


def system_mounts() -> list[Mount]:
    return [_mount(Path(p)) for p in SYSTEM if os.path.lexists(p)]
