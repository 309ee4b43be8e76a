"""The import graph of ``conformance/`` and ``implementations/`` (installed, and imported, as
``conformance.implementations``): no cycles, and no module
importing one of a layer above its own. Data flows one way (adapter -> generated case ->
implementation and oracle -> outcome -> verdict -> JSON -> HTML), and so do imports.

Every import statement counts, those inside functions too (they are imported all the same,
only later). ``python -m tests.promises.test_architecture`` prints the layers and every arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Folder -> the package name it is imported as (pyproject.toml's package-dir).
PACKAGES = {"conformance": "conformance", "implementations": "conformance.implementations"}

#: Layers, bottom first. A module imports modules of its own layer or below.
LAYERS: dict[str, tuple[str, ...]] = {
    # Plain data and facts; no GRU in them. The packages' __init__ export lazily.
    "base": ("conformance", "conformance.bench_stats", "conformance.checks", "conformance.conventions",
             "conformance.devices", "conformance.entry", "conformance.landlock", "conformance.params",
             "conformance.process_state", "conformance.profiles", "conformance.report_plots",
             "conformance.results_document", "conformance.sandbox",
             "conformance.sandbox_view", "conformance.snippets", "conformance.tolerances",
             "conformance.wire", "conformance.implementations", "conformance.implementations.frameworks"),
    # The equations, the references and the adapter contract; the implementations (adapters).
    "model": ("conformance.adapter", "conformance.autowrap", "conformance.gru_like", "conformance.layouts",
              # the grammar of implementation names and of the narrowing of claims (no argparse: claim_options)
              "conformance.naming", "conformance.oracle", "conformance.oracle_grads", "conformance.public_oracle", "conformance.reference",
              "conformance.reference_autograd", "conformance.toolchains", "conformance.variants",
              "conformance.implementations.*"),
    # Generated cases, comparisons, the checks' metadata.
    "cases": ("conformance.bench_plan", "conformance.cases", "conformance.catalogue", "conformance.compare",
              "conformance.strategies"),
    # Running an implementation: in a worker or in this process.
    "running": ("conformance.executor", "conformance.isolation", "conformance.subject", "conformance.timing",
                "conformance.views"),
    # The checks, the diagnosis and what they share.
    "checks": ("conformance.checks.*", "conformance.diagnosis", "conformance.diagnosis.*", "conformance.grads",
               "conformance.outcome", "conformance.sizes",
               # users' strategies: the cases and the size sweep (conformance.sizes) of the checks
               "conformance.public_strategies"),
    # Grading: running checks, loading implementations, results JSON, reproductions.
    "grading": ("conformance.engine", "conformance.error_bands", "conformance.loading", "conformance.repro",
                "conformance.results"),
    # HTML, merged results, benchmarks.
    "reporting": ("conformance.badge", "conformance.bench", "conformance.bench_history", "conformance.bench_measure",
                  "conformance.framework_scoreboard",
                  "conformance.merging", "conformance.report", "conformance.report_bench"),
    # Entry points: commands, the pytest plugin, the worker process.
    "commands": ("conformance.__main__", "conformance.adapting", "conformance.adapting.*", "conformance.claim_options",
                 "conformance.cli", "conformance.frameworks_grade", "conformance.frameworks_lanes",
                 "conformance.grade_folder", "conformance.plugin", "conformance.testing", "conformance.user_plugin",
                 "conformance.worker",
                 # the frameworks' commands' earlier names, kept as shims (frameworks_grade, frameworks_lanes)
                 "conformance.implementations.frameworks.__main__", "conformance.implementations.frameworks.lanes"),
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


def imports() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports."""
    known = modules()
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
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in known else _owner(base, known))
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def layer_of(module: str) -> str | None:
    for layer, members in LAYERS.items():
        for member in members:
            if module == member or (member.endswith(".*") and module.startswith(member[:-1])):
                exact = [m for lay in LAYERS.values() for m in lay if m == module]
                if exact and member.endswith(".*"):
                    continue  # named exactly elsewhere
                return layer
    return None


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
    assert not missing, f"got modules in no layer: {missing}, but each should be placed in LAYERS"


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
FINDERS = {"conformance.loading"}


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


def test_the_rules_catch_what_they_forbid():
    """A cycle and an upward arrow, drawn by hand, are both seen."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    found = upward({"conformance.params": {"conformance.cli"}, "conformance.cli": {"conformance.params"}})
    assert found == ["conformance.params (base) -> conformance.cli (commands)"], f"got {found}"
    assert layer_of("conformance.implementations.doc000") == "model" and layer_of("conformance.checks") == "base"
    assert layer_of("conformance.implementations.frameworks.lanes") == "commands"
    assert graded_imports({"conformance.autowrap": {"conformance.implementations.torch_reference"}}) == [
        "conformance.autowrap -> conformance.implementations.torch_reference"]


def main() -> None:
    graph = imports()
    for layer in LAYERS:
        print(f"[{layer}]")
        for module in sorted(m for m in graph if layer_of(m) == layer):
            print(f"  {module} -> {', '.join(sorted(graph[module])) or '-'}")
    print(f"cycles: {cycles(graph) or 'none'}")


if __name__ == "__main__":
    main()
