"""The import graph of ``conformance/`` and ``implementations/`` (installed, and imported, as
``conformance.implementations``): no cycles, and no module importing one of a layer above its
own. Data flows one way (adapter -> generated case -> implementation and oracle -> outcome ->
verdict -> JSON -> HTML), and so do imports.

The layers are the folders: a module's layer is the folder it is in (``conformance/running/``
is the running layer), so its path says what it may import, and a new module is placed by
where it is put. The few modules outside a layer's folder are named in ``PLACED``, each with
its reason; a module anywhere else (a new one at the root of ``conformance/``, say) fails.

Every import statement counts, those inside functions too (they are imported all the same,
only later). ``python -m tests.promises.test_architecture`` prints the layers, every arrow and the counts.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Folder -> the package name it is imported as (pyproject.toml's package-dir).
PACKAGES = {"conformance": "conformance", "implementations": "conformance.implementations"}

#: Layers, bottom first, each with its folders (from the checkout's root). A module imports
#: modules of its own layer or below.
LAYERS: dict[str, tuple[str, ...]] = {
    # Plain data and facts; no GRU in them.
    "base": ("conformance/base",),
    # The equations, the references and the adapter contract; the implementations (adapters).
    "model": ("conformance/model", "implementations"),
    # Generated cases, comparisons, strategies, the checks' catalogue.
    "cases": ("conformance/cases",),
    # Running an implementation: in a worker or in this process; the sandbox.
    "running": ("conformance/running",),
    # The checks (the product), and the diagnosis.
    "checks": ("conformance/checks", "conformance/diagnosis"),
    # Grading: running checks, loading implementations, outcomes, results JSON, reproductions.
    "grading": ("conformance/grading",),
    # HTML, merged results, benchmarks.
    "reporting": ("conformance/reporting",),
    # Entry points: commands, the pytest plugins, the worker process, adapt.
    "commands": ("conformance/commands",),
}
#: Modules placed in another layer than their folder's (or outside every layer's folder):
#: module -> (layer, why it is where it is).
PLACED: dict[str, tuple[str, str]] = {
    "conformance": ("base", "the package itself: __version__, and the public names, imported lazily by name"),
    "conformance.__main__": ("commands", "python -m conformance runs the package's own __main__"),
    "conformance.implementations.frameworks.__main__": (
        "commands", "the earlier name of python -m conformance.commands.frameworks_grade, kept so that it still runs"),
    "conformance.implementations.frameworks.lanes": (
        "commands", "the earlier name of python -m conformance.commands.frameworks_lanes, kept so that it still runs"),
}
#: Arrows allowed upward, each with its reason.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = (package, *path.relative_to(ROOT / folder).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _owner(name: str, known: dict[str, Path]) -> str | None:
    """The module of ours that ``import name`` loads (``a.b.c`` -> ``a.b`` if c is a name)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def public_modules() -> dict[str, str]:
    """The modules the package names publicly (its lazy ``_MODULES``): ``from conformance import
    layouts`` imports ``conformance.model.layouts``."""
    tree = ast.parse((ROOT / "conformance" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_MODULES" for t in node.targets):
            return {f"conformance.{name}": module for name, module in ast.literal_eval(node.value).items()}
    return {}


def imports() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports."""
    known = modules()
    public = public_modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(_owner(alias.name, known) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                for alias in node.names:
                    full = public.get(f"{base}.{alias.name}", f"{base}.{alias.name}")
                    targets.add(full if full in known else _owner(base, known))
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def path_of(module: str) -> str:
    """The module's path from the checkout's root, without .py (``conformance.implementations.x``
    -> ``implementations/x``)."""
    for folder, package in sorted(PACKAGES.items(), key=lambda item: len(item[1]), reverse=True):
        if module == package or module.startswith(package + "."):
            return "/".join([folder, *module[len(package):].lstrip(".").split(".")]).rstrip("/")
    return module.replace(".", "/")


def layer_of(module: str) -> str | None:
    """The layer of the folder the module is in (its entry in PLACED first); None outside every one."""
    if module in PLACED:
        return PLACED[module][0]
    path = path_of(module)
    found = [(len(folder), layer) for layer, folders in LAYERS.items() for folder in folders
             if path == folder or path.startswith(folder + "/")]
    return max(found)[1] if found else None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer():
    missing = sorted(m for m in modules() if layer_of(m) is None)
    assert not missing, (f"got modules in no layer's folder: {missing}, but each should be in the folder of its "
                         "layer (LAYERS), or placed with its reason (PLACED)")


def test_the_floor_plan_names_what_exists():
    """Every folder LAYERS names exists, and so does every module PLACED names."""
    absent = sorted(f for folders in LAYERS.values() for f in folders if not (ROOT / f).is_dir())
    assert not absent, f"got layer folders {absent} that do not exist"
    stale = sorted(set(PLACED) - set(modules()))
    assert not stale, f"got {stale} in PLACED, but there is no such module"


def test_the_root_of_the_suite_holds_only_its_entry_points():
    """conformance/ holds the layers' folders and, besides them, only __init__.py and __main__.py."""
    root = sorted(p.name for p in (ROOT / "conformance").glob("*.py"))
    assert root == ["__init__.py", "__main__.py"], (
        f"got {root} at the root of conformance/, but a module belongs in the folder of its layer")


def test_no_import_cycles():
    found = cycles(imports())
    assert not found, f"got import cycles {found}, but the graph should have none"


def upward(graph: dict[str, set[str]]) -> list[str]:
    """Every arrow from a module to one of a higher layer (not allowed by ALLOWED_UPWARD)."""
    order = list(LAYERS)
    found = []
    for module, targets in sorted(graph.items()):
        mine = layer_of(module)
        for target in sorted(targets):
            theirs = layer_of(target)
            if mine and theirs and order.index(theirs) > order.index(mine) \
                    and (module, target) not in ALLOWED_UPWARD:
                found.append(f"{module} ({mine}) -> {target} ({theirs})")
    return found


def test_no_module_imports_a_layer_above_its_own():
    found = upward(imports())
    assert not found, "got imports pointing up a layer:\n  " + "\n  ".join(found) + "\nbut there should be none"


#: The suite's modules that may import the registered implementations: finding one by name is
#: their job (the registries are data). No other suite module imports graded code.
FINDERS = {"conformance.grading.loading"}


def graded_imports(graph: dict[str, set[str]]) -> list[str]:
    """Arrows from a suite module (not an implementation, not a finder) into graded code,
    except the registries, which only name the implementations."""
    graded = "conformance.implementations"
    found = []
    for module, targets in sorted(graph.items()):
        if module.startswith(graded) or module in FINDERS:
            continue
        for target in sorted(targets):
            if target.startswith(graded + ".") and not target.endswith(".registry") and \
                    target != "conformance.implementations.frameworks":
                found.append(f"{module} -> {target}")
    return found


def test_no_suite_module_imports_a_graded_implementation():
    found = graded_imports(imports())
    assert not found, "got suite modules importing graded code:\n  " + "\n  ".join(found) + \
        "\nbut what the suite states it states itself (a graded implementation is graded like any other)"


#: Imported before grading starts the implementations' workers: none of them may import torch,
#: so that the workers' start-up (each imports torch) overlaps with this process's.
BEFORE_THE_WORKERS = ("conformance.commands.cli", "conformance.commands.grading_plugin", "conformance.checks")


def test_the_command_line_imports_no_torch_before_the_workers_start():
    import subprocess
    import sys

    code = f"import sys; import {', '.join(BEFORE_THE_WORKERS)}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, f"got {out.stderr[-500:]}"
    assert out.stdout.strip() == "False", (
        f"got torch imported by {BEFORE_THE_WORKERS}, but it should load only once the workers "
        "have started (grading's machinery is imported on first use)")


def test_the_rules_catch_what_they_forbid():
    """A cycle, an upward arrow and a module outside every layer's folder, drawn by hand, are all seen."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    found = upward({"conformance.base.params": {"conformance.commands.cli"},
                    "conformance.commands.cli": {"conformance.base.params"}})
    assert found == ["conformance.base.params (base) -> conformance.commands.cli (commands)"], f"got {found}"
    assert layer_of("conformance.implementations.doc000") == "model" and layer_of("conformance.checks") == "checks"
    assert layer_of("conformance.diagnosis.pipeline") == "checks" and layer_of("conformance.running") == "running"
    assert layer_of("conformance.implementations.frameworks.lanes") == "commands"
    assert layer_of("conformance.stray") is None and layer_of("conformance.elsewhere.stray") is None
    assert graded_imports({"conformance.model.gru_like_adapter": {"conformance.implementations.torch_reference"}}) \
        == ["conformance.model.gru_like_adapter -> conformance.implementations.torch_reference"]


def main() -> None:
    graph = imports()
    for layer, folders in LAYERS.items():
        print(f"[{layer}] {', '.join(f + '/' for f in folders)}")
        for module in sorted(m for m in graph if layer_of(m) == layer):
            print(f"  {module} -> {', '.join(sorted(graph[module])) or '-'}")
    arrows = [(m, t) for m in graph for t in graph[m]]
    between = Counter((layer_of(m), layer_of(t)) for m, t in arrows if layer_of(m) != layer_of(t))
    print("arrows between layers:")
    for (mine, theirs), count in sorted(between.items(), key=lambda item: (list(LAYERS).index(item[0][0]),
                                                                            list(LAYERS).index(item[0][1]))):
        print(f"  {mine} -> {theirs}: {count}")
    up = [(m, t) for m, t in arrows if list(LAYERS).index(layer_of(t)) > list(LAYERS).index(layer_of(m))]
    print(f"{len(graph)} modules, {len(LAYERS)} layers, {len(arrows)} arrows, {len(up)} up "
          f"({len(set(up) & set(ALLOWED_UPWARD))} allowed), cycles: {cycles(graph) or 'none'}")


if __name__ == "__main__":
    main()
