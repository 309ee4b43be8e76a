"""pytester drives the grading plugin in test_plugin.py; ``--dist loadgroup`` keeps the
``xdist_group`` marks of these tests; ``-m "not slow"`` is the quick subset (README)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def declared_groups(path: str) -> tuple[str | None, dict[str, str]]:
    """A test module's ``xdist_group`` marks, read from its source: the module's
    (``pytestmark = pytest.mark.xdist_group("name")``) and each function's decorator."""
    try:
        tree = ast.parse((ROOT / path).read_text())
    except (OSError, SyntaxError):
        return None, {}

    def group_of(node: ast.expr) -> str | None:
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "xdist_group"
                and node.args and isinstance(node.args[0], ast.Constant)):
            return str(node.args[0].value)
        return None

    module = None
    functions: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets):
            marks = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            module = next((g for g in map(group_of, marks) if g is not None), None)
        elif isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if (group := group_of(decorator)) is not None:
                    functions[node.name] = group
    return module, functions


def group_of_nodeid(nodeid: str) -> str | None:
    path, _, name = nodeid.partition("::")
    module, functions = declared_groups(path)
    return functions.get(name.partition("[")[0], module)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist reads a test's group from a suffix it appends to the node id, which this
    pytest no longer lets it set, so groups would be ignored: expensive session
    fixtures would be built in both workers, and tests that must not overlap would."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class BySourceGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            group = group_of_nodeid(nodeid)
            return f"group:{group}" if group is not None else nodeid

    return BySourceGroups(config, log)
