"""What the wheel installs: every package of the repository, under the suite's own name; and
the oldest Python it claims to run on.

pyproject.toml lists the packages by hand (the registered implementations' folder,
``implementations/``, is installed as ``conformance.implementations``), so a new package
folder must be added there; these tests say which one is missing. That the built wheel
really installs and grades from outside the clone is ``tests/promises/test_wheel_install.py``.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")


def setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def package_folders(config: dict) -> dict[str, Path]:
    """Package name -> the folder it is built from (package-dir, else the name's own path)."""
    mapping = config.get("package-dir", {})
    folders = {}
    for name in config["packages"]:
        base = next((b for b in sorted(mapping, key=len, reverse=True) if name == b or name.startswith(b + ".")), None)
        if base is None:
            folders[name] = ROOT.joinpath(*name.split("."))
        else:
            folders[name] = ROOT / mapping[base] / Path(*name[len(base):].lstrip(".").split(".") if name != base else ())
    return folders


def test_every_package_folder_is_in_the_wheel():
    config = setuptools_config()
    listed = {folder.resolve() for folder in package_folders(config).values()}
    present = {init.parent.resolve() for top in ("conformance", "implementations")
               for init in (ROOT / top).rglob("__init__.py") if "__pycache__" not in init.parts}
    missing = sorted(str(p.relative_to(ROOT)) for p in present - listed)
    absent = sorted(str(p.relative_to(ROOT)) for p in listed - present)
    assert not missing, f"got package folders {missing} not in pyproject.toml's packages, but the wheel needs each"
    assert not absent, f"got packages in pyproject.toml whose folders {absent} hold no __init__.py"


def test_the_wheel_puts_no_generic_name_at_the_top_level():
    """Only ``conformance`` at the top of site-packages: a top-level ``implementations``
    would shadow, or be shadowed by, a user's own package of that name."""
    tops = {name.split(".")[0] for name in setuptools_config()["packages"]}
    assert tops == {"conformance"}, f"got top-level packages {sorted(tops)}, but should be only ['conformance']"


def test_registered_implementations_import_under_the_suite_name():
    from conformance.grading.loading import registry

    adapters = [entry.adapter for entry in registry()]
    assert adapters and all(a.startswith("conformance.implementations.") for a in adapters), (
        f"got adapters {adapters}, but every registered one should be named conformance.implementations.<module>")
    assert "implementations" not in sys.modules or not hasattr(sys.modules["implementations"], "registry"), (
        "got a top-level implementations package loaded, but the registry should be conformance.implementations")


#: What Python gained after 3.10, with the version: a module that uses one without binding
#: it itself (``from exceptiongroup import ...`` below 3.11) fails on an older Python,
#: and only where it is reached (reading a check's exception group on 3.10 once cost a
#: buggy GRU its failing checks).
NEWER_BUILTINS = {"BaseExceptionGroup": (3, 11), "ExceptionGroup": (3, 11), "PythonFinalizationError": (3, 13)}
NEWER_METHODS = {"add_note": (3, 11)}


def _oldest_python() -> tuple[int, int]:
    claimed = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    found = re.fullmatch(r">=\s*(\d+)\.(\d+)", claimed.strip())
    assert found, f"got requires-python {claimed!r}, but this test reads only '>=X.Y'"
    return int(found.group(1)), int(found.group(2))


def _bound(tree: ast.Module) -> set[str]:
    """Names a module binds itself (imports, assignments, definitions), wherever it does."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _newer_than(path: Path, oldest: tuple[int, int]) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    bound = _bound(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and NEWER_BUILTINS.get(node.id, (0, 0)) > oldest and node.id not in bound:
            found.append(f"{node.id} (Python {'.'.join(map(str, NEWER_BUILTINS[node.id]))}) at line {node.lineno}")
        elif isinstance(node, ast.Attribute) and NEWER_METHODS.get(node.attr, (0, 0)) > oldest:
            found.append(f".{node.attr} (Python {'.'.join(map(str, NEWER_METHODS[node.attr]))}) at line {node.lineno}")
        elif type(node).__name__ == "TryStar" and oldest < (3, 11):
            found.append(f"except* (Python 3.11) at line {node.lineno}")
    return found


def test_nothing_needs_a_python_newer_than_the_package_claims():
    """The suite, its implementations and its tests run on the oldest Python that
    ``requires-python`` admits: nothing newer is used unguarded."""
    oldest = _oldest_python()
    files = [p for top in ("conformance", "implementations", "tests") for p in sorted((ROOT / top).rglob("*.py"))]
    found = {str(p.relative_to(ROOT)): uses for p in files if (uses := _newer_than(p, oldest))}
    assert not found, (f"got {found}, but requires-python admits Python {'.'.join(map(str, oldest))}: bind the "
                       f"name for it (exceptiongroup, a dependency of hypothesis there), or raise requires-python")


def test_the_oldest_environment_pins_every_lower_bound():
    """``tox -e oldest`` runs the self-tests at each dependency's lower bound in pyproject.toml:
    a bound raised or lowered there is raised or lowered there too, so no bound is claimed
    that was never run."""
    import configparser

    from packaging.requirements import Requirement

    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    pinned = {}
    lines = [line.strip() for line in tox["testenv:oldest"]["deps"].splitlines()]
    for line in (line for line in lines if line and not line.startswith("#")):
        requirement = Requirement(line)
        if not requirement.specifier:
            continue  # a package a dependency needs without requiring it (its comment says which)
        pinned[requirement.name] = (str(requirement.specifier), str(requirement.marker or ""))
    wanted = {}
    for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(line)
        bounds = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert len(bounds) == 1, f"got {line!r}, but each dependency should have one lower bound"
        wanted[requirement.name] = (f"=={bounds[0]}.*", str(requirement.marker or ""))
    assert pinned == wanted, f"got tox -e oldest pinning {pinned}, but pyproject.toml's lower bounds are {wanted}"
