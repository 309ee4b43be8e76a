"""The public surface for users' own projects: ``conformance.__all__``, how
``run_conformance_test`` names a class and words a verdict, and the pytest plugin registered
by entry point, which must do nothing unless asked (it loads in every pytest run where the
suite is installed, this repository's own included). Grading through each of them, from a
wheel installed outside the clone, is ``tests/promises/test_wheel_install.py``."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import textwrap
import types
from pathlib import Path

import pytest

import conformance
from conformance.commands.testing import ConformanceResult, _result, name_of
from conformance.commands.user_plugin import _slug

PUBLIC = {
    # the adapter contract
    "Capabilities", "CellAdapter", "GRUConfig", "LayerAdapter", "CanonicalParams", "layouts",
    # the oracle for your own tests
    "gru", "GRUResult",
    # one call in your own tests
    "run_conformance_test", "ConformanceResult",
    # case strategies for your own hypothesis tests
    "gru_cases", "size_sweep_cases", "GeneratedCase",
    "__version__",
}


def test_the_public_surface_is_what_the_readme_documents():
    assert set(conformance.__all__) == PUBLIC, (
        f"got conformance.__all__ {sorted(conformance.__all__)}, but should be {sorted(PUBLIC)}")
    missing = [name for name in conformance.__all__ if getattr(conformance, name, None) is None]
    assert not missing, f"got {missing} in __all__ that do not resolve, but every name should"
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    undocumented = sorted(name for name in PUBLIC - {"__version__"} if f"`{name}" not in readme)
    assert not undocumented, f"got {undocumented} not in the README, but every public name should be documented"


class Importable:
    """A class of an importable module (this test module)."""


def test_a_class_is_named_as_the_grading_process_imports_it(tmp_path, monkeypatch):
    assert name_of(Importable) == "tests.promises.test_user_api:Importable", f"got {name_of(Importable)}"
    assert name_of("src/my_gru.py:MyGRU") == "src/my_gru.py:MyGRU"

    class Local:
        pass

    with pytest.raises(TypeError, match="defined inside a function"):
        name_of(Local)
    with pytest.raises(TypeError, match="got an instance of Importable, but grading takes the class"):
        name_of(Importable())
    script = types.ModuleType("__main__")  # a module run as a script
    script.__file__ = str(tmp_path / "my_script.py")
    monkeypatch.setitem(sys.modules, "__main__", script)
    as_script = type("Mine", (), {"__module__": "__main__"})
    want = f"{(tmp_path / 'my_script.py').resolve()}:Mine"
    assert name_of(as_script) == want, f"got {name_of(as_script)}, but should be {want} (by its file)"
    del script.__file__
    with pytest.raises(TypeError, match="has no file"):
        name_of(as_script)


def _record(verdict: str, checks: dict, **fields) -> dict:
    return {"id": "MyGRU", "verdict": verdict, "verdict_text": fields.pop("text", verdict),
            "score": {"passed": 3, "applicable": 5, "warnings": 0}, "load_error": "", "checks": checks,
            "diagnosis": None, **fields}


def test_the_assertion_message_is_the_verdict_and_the_first_divergence():
    checks = {
        "contract.output-shape": {"status": "pass", "message": ""},
        "equations.step": {"status": "fail", "message": "output[t=0]: got 0.24, but should be 0.12\n  case: CaseSpec()"},
        "equations.sequence": {"status": "error", "message": "raised ValueError"},
    }
    record = _record("nonconformant", checks, diagnosis={"summary": "r and z swapped"})
    result = _result(record, "", "quick", "equations")
    lines = result.summary.splitlines()
    assert lines[0] == "MyGRU: nonconformant (3 of 5 checks passed; profile quick, only checks matching 'equations')", (
        f"got first line {lines[0]!r}")
    assert lines[1] == "first failing check: equations.step (fail): output[t=0]: got 0.24, but should be 0.12", (
        f"got {lines[1]!r}, but the first failing check in catalogue order should follow the verdict")
    assert "diagnosis: r and z swapped" in lines, f"got {lines}, but the diagnosis should be said"
    assert not result.conformant
    failed = _result(_record("error", {}, load_error="no such file: x.py"), "", "grade", None)
    assert "could not be graded: no such file: x.py" in failed.summary, f"got {failed.summary!r}"
    passed = _result(_record("conformant-pytorch", {}, text="conformant to the PyTorch GRU"), "", "grade", None)
    assert isinstance(passed, ConformanceResult) and passed.conformant
    assert passed.summary == "MyGRU: conformant to the PyTorch GRU (3 of 5 checks passed; profile grade)", (
        f"got {passed.summary!r}")


def test_report_folders_are_named_after_the_implementation():
    for name, slug in (("src/my_gru.py:MyGRU", "my_gru-MyGRU"), ("pkg.my_gru:MyGRU", "my_gru-MyGRU"),
                       ("torch-gru", "torch-gru"), ("a b/c d.py:X#no-h0", "c-d-X-no-h0")):
        assert _slug(name) == slug, f"got {_slug(name)!r}, but should be {slug!r} [_slug({name!r})]"


def test_the_plugin_is_registered_by_entry_point():
    points = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert points.get("gru_conformance") == "conformance.commands.user_plugin", (
        f"got pytest11 entry points {points}, but gru_conformance should load conformance.commands.user_plugin")


USER_TESTS = textwrap.dedent("""
    def test_ordinary():
        assert 1 + 1 == 2
""")


def test_the_plugin_does_nothing_unless_asked(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    collected = pytester.runpytest_inprocess("--collect-only", "-q",
                                             "--gru-conformance", "my_gru.py:MyGRU",
                                             "--gru-conformance", "torch-gru")
    lines = [line for line in collected.outlines if "gru-conformance[" in line]
    assert lines == ["::gru-conformance[my_gru.py:MyGRU]", "::gru-conformance[torch-gru]"], (
        f"got collected {collected.outlines}, but --gru-conformance should add one item per name")
    helped = pytester.runpytest_inprocess("--help")
    options = [line.split()[0] for line in helped.outlines if line.strip().startswith("--gru-conformance")]
    assert options == ["--gru-conformance=NAME", "--gru-conformance-profile=PROFILE",
                       "--gru-conformance-checks=EXPR", "--gru-conformance-report=DIR"], f"got options {options}"


class _Options:
    """Records the option strings a plugin's pytest_addoption declares."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def getgroup(self, *args, **kwargs) -> "_Options":
        return self

    def addoption(self, *names: str, **kwargs) -> None:
        self.names += names


def test_the_plugins_options_do_not_collide_with_the_grading_plugins():
    from conformance.commands import grading_plugin, user_plugin

    grading, yours = _Options(), _Options()
    grading_plugin.pytest_addoption(grading)
    user_plugin.pytest_addoption(yours)
    assert yours.names and all(n.startswith("--gru-conformance") for n in yours.names), f"got {yours.names}"
    shared = sorted(set(grading.names) & set(yours.names))
    assert not shared, f"got options {shared} declared by both plugins, but they should be apart"


def test_a_grading_that_did_not_finish_is_no_verdict(tmp_path):
    """No results, or results marked incomplete (a grading process stopped midway), raise
    RuntimeError: what was graded of a GRU is not its verdict."""
    from conformance.grading.results import SCHEMA
    from conformance.commands.testing import _record

    path = tmp_path / "results.json"
    with pytest.raises(RuntimeError, match="grading wrote no results"):
        _record(path, ["grade", "x"], "last line of output")
    path.write_text(json.dumps({"schema": SCHEMA, "complete": False, "implementations": [_record_of("x")]}))
    with pytest.raises(RuntimeError, match="stopped before it finished"):
        _record(path, ["grade", "x"], "")
    path.write_text(json.dumps({"schema": SCHEMA, "complete": True, "implementations": [_record_of("x")]}))
    assert _record(path, ["grade", "x"], "")["id"] == "x"


def _record_of(impl_id: str) -> dict:
    return {"id": impl_id, "verdict": "conformant-pytorch", "verdict_text": "conformant to the PyTorch GRU",
            "score": {"passed": 1, "applicable": 1, "warnings": 0}, "load_error": "", "checks": {}}
