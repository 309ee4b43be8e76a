"""The pytest plugin for your own project (entry point ``pytest11``, name ``gru_conformance``):
installed with the suite, it loads in every pytest run and does nothing unless asked.

From the command line of your pytest run, each ``--gru-conformance NAME`` adds one test,
``gru-conformance[NAME]``, that grades NAME (``path/to/file.py:Class``, ``module:Class`` or a
registered id) as ``conformance.run_conformance_test`` does, and fails with the verdict and
the first divergence::

    pytest --gru-conformance src/my_gru.py:MyGRU
    pytest --gru-conformance src/my_gru.py:MyGRU --gru-conformance-profile quick --gru-conformance-report reports

From your own test function, the ``gru_conformance`` fixture is ``run_conformance_test`` with
the profile, checks and report folder of the command line::

    def test_my_gru(gru_conformance):
        gru_conformance(MyGRU)

Its options are all named ``--gru-conformance*``, apart from those of the suite's own grading
plugin (``conformance.commands.grading_plugin``: ``--impl``, ``--results`` ...), which runs inside the grading
process and is not this one. ``-p no:gru_conformance`` turns it off.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

#: The profiles' names, repeated here so that loading the plugin imports nothing of the suite.
PROFILE_NAMES = ("quick", "grade", "thorough")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gru-conformance-project", "GRU conformance of your own GRU (conformance.commands.user_plugin)")
    group.addoption("--gru-conformance", action="append", default=[], metavar="NAME", dest="gru_conformance_names",
                    help="grade this GRU as a test of this run: path/to/file.py:Class, module:Class or a registered "
                    "id (repeatable)")
    group.addoption("--gru-conformance-profile", default=None, choices=PROFILE_NAMES, metavar="PROFILE",
                    dest="gru_conformance_profile", help="example budget: quick, grade (default) or thorough")
    group.addoption("--gru-conformance-checks", default=None, metavar="EXPR", dest="gru_conformance_checks",
                    help="only the checks whose ids match this -k expression")
    group.addoption("--gru-conformance-report", default=None, metavar="DIR", dest="gru_conformance_report",
                    help="write results.json, junit.xml and index.html of each graded GRU to DIR/<name>/")


def _slug(name: str) -> str:
    """A folder name for an implementation's name: ``src/my_gru.py:MyGRU`` and ``pkg.my_gru:MyGRU``
    give ``my_gru-MyGRU``, a registered id itself."""
    where, _, cls = name.rpartition(":")
    module = Path(where).stem if where.endswith(".py") else where.rpartition(".")[2]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{module}-{cls}" if where else cls).strip("-")


def _report_paths(config: pytest.Config, name: str) -> dict[str, Path]:
    folder = config.getoption("gru_conformance_report")
    if not folder:
        return {}
    where = Path(folder) / _slug(name)
    return {"results": where / "results.json", "html": where / "index.html", "junit": where / "junit.xml"}


def _grader(config: pytest.Config) -> Callable[..., Any]:
    """``run_conformance_test`` with this run's options as defaults."""

    def grade(implementation: Any, **options: Any) -> Any:
        from conformance.commands.testing import name_of, run_conformance_test

        defaults: dict[str, Any] = {"checks": config.getoption("gru_conformance_checks")}
        if config.getoption("gru_conformance_profile"):
            defaults["profile"] = config.getoption("gru_conformance_profile")
        defaults.update(_report_paths(config, name_of(implementation)))
        return run_conformance_test(implementation, **{**defaults, **options})

    return grade


@pytest.fixture
def gru_conformance(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """``gru_conformance(MyGRU, **options)``: ``conformance.run_conformance_test`` with the
    profile, checks and report folder given on the command line (``--gru-conformance-*``)."""
    return _grader(pytestconfig)


class ConformanceItem(pytest.Item):
    """One ``--gru-conformance NAME``: grades NAME when run."""

    def __init__(self, *, implementation: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.implementation = implementation

    def runtest(self) -> None:
        _grader(self.config)(self.implementation)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (AssertionError, RuntimeError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"gru-conformance: {self.implementation}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Before -k and -m select items, so that ``-k gru-conformance`` runs these alone."""
    for name in config.getoption("gru_conformance_names"):
        items.append(ConformanceItem.from_parent(session, name=f"gru-conformance[{name}]", implementation=name))
