"""What the wheel installs: every package of the repository, under the suite's own name.

pyproject.toml lists the packages by hand (the registered implementations' folder,
``implementations/``, is installed as ``conformance.implementations``), so a new package
folder must be added there; these tests say which one is missing. That the built wheel
really installs and grades from outside the clone is ``tests/promises/test_wheel_install.py``.
"""

from __future__ import annotations

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
