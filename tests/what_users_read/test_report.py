"""The HTML report, rendered from results produced by really grading.

torch-gru (conformant) and doc000-cell (the buggy document cell) are graded
in-process with the engine; a hostile adapter whose name, notes and messages
are markup and template syntax is graded the same way. The page must tell the
true verdicts, explain the failure (counterexample, snippet, plot), show
blocked checks once, stay self-contained and deterministic, and escape
everything that came from an adapter.
"""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conformance.checks import load_all
from conformance.grading import engine, loading, results
from conformance.reporting.report import render_html, render_page
from conformance.grading.repro import reproduce
from conformance.reporting.snippets import snippet

# One worker grades once for the whole module (pytest-xdist --dist loadgroup).
pytestmark = pytest.mark.xdist_group("report")

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "<script>alert(1)</script>"
HOSTILE_ID = HOSTILE + "\"'{{ 7*7 }}"

HOSTILE_ADAPTER = '''
import torch
from conformance import Capabilities, LayerAdapter

NAME = {name!r}


class Hostile(LayerAdapter):
    name = NAME
    notes = "notes: " + NAME + " <img src=x onerror=alert(2)> {{% if 1 %}}"
    capabilities = Capabilities(unbatched=True, dtypes=(torch.float32,))

    def build(self, config):
        return torch.nn.GRU(config.input_size, config.hidden_size, dtype=config.dtype)

    def load(self, gru, params):
        gru.load_state_dict(params.tensors(torch.float32))

    def run(self, gru, x, h0):
        if x.dim() == 2:
            raise ValueError("unbatched: " + NAME)
        output, h_n = gru(x, h0)
        return output * 1.01, h_n * 1.01  # a scaling bug: fails the equation checks
'''


# Grading ----------------------------------------------------------------------------
def grade_records(names: list[str], check_ids: list[str] | None = None, **overrides: Any) -> list[dict[str, Any]]:
    """Grade in-process (the engine's rules, few examples) into results records."""
    overrides.setdefault("max_examples", 8)
    records = []
    for name in names:
        subject = loading.load_subject(name)
        outcomes = engine.grade(subject, check_ids, **overrides)
        entry = subject.entry
        records.append(results.implementation_record(
            subject.id, info=subject.info, source=subject.source, checks=outcomes,
            document=getattr(entry, "document", ""), description=getattr(entry, "description", ""),
        ))
    return records


def build(records: list[dict[str, Any]]) -> dict[str, Any]:
    data = results.build_results(records, load_all(), results.environment("quick"))
    return json.loads(json.dumps(data, default=str))  # exactly what a saved file holds


def hostile_results(tmp_path: Path) -> dict[str, Any]:
    """Results of grading an adapter whose every string is hostile markup."""
    path = tmp_path / "hostile_adapter.py"
    path.write_text(HOSTILE_ADAPTER.format(name=HOSTILE_ID))
    records = grade_records([f"{path}:Hostile"], ["contract.unbatched", "equations.step", "equations.sequence"])
    records[0]["id"] = HOSTILE_ID  # ids come from file and class names; a results file may hold any
    records[0]["diagnosis"] = {"summary": "diagnosis " + HOSTILE_ID, HOSTILE: [HOSTILE_ID]}
    data = build(records)
    data["benchmarks"] = {"schema": results.BENCHMARKS_SCHEMA, "reference": HOSTILE,
                          "configs": {HOSTILE: {"steps": 1}},
                          "results": [{"impl": HOSTILE_ID, "config": HOSTILE, "mode": HOSTILE, "seconds": 0.001,
                                       "ratio": {"median": 1.5, "low": 1.4, "high": 1.6}}]}
    data[HOSTILE] = {HOSTILE: HOSTILE_ID}
    return data


# Session scope: a module-scoped fixture is rebuilt whenever a worker runs another module's test in between.
@pytest.fixture(scope="session")
def graded() -> dict[str, Any]:
    return build(grade_records(["torch-gru", "doc000-cell"]))


@pytest.fixture(scope="session")
def page(graded: dict[str, Any]) -> str:
    return render_page(graded)


# Reading the page ------------------------------------------------------------------
class Element:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: "Element | None") -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element] = []
        #: Text and child elements in document order.
        self.parts: list[str | Element] = []

    @property
    def text(self) -> str:
        """All text inside the element, as a browser's textContent."""
        return "".join(p if isinstance(p, str) else p.text for p in self.parts)

    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list["Element"]:
        found = []
        for child in self.children:
            if ((tag is None or child.tag == tag) and (cls is None or cls in child.classes())
                    and all(child.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())):
                found.append(child)
            found += child.find_all(tag, cls, **attrs)
        return found

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> "Element":
        found = self.find_all(tag, cls, **attrs)
        assert found, f"got no <{tag} class={cls} {attrs}>, but the page should have one"
        return found[0]


class Tree(HTMLParser):
    """A small DOM from the standard library's parser (text is each element's full text)."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "col", "source", "wbr", "area", "base"}

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, None)
        self.current = self.root
        self.tags: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), self.current)
        self.current.children.append(element)
        self.current.parts.append(element)
        self.tags.append(tag)
        if tag not in self.VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), self.current)
        self.current.children.append(element)
        self.current.parts.append(element)
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent  # type: ignore[assignment]
        if node is not self.root:
            self.current = node.parent  # type: ignore[assignment]

    def handle_data(self, data: str) -> None:
        self.current.parts.append(data)


def impl_section(tree: Tree, data: dict[str, Any], impl_id: str) -> Element:
    n = [i["id"] for i in data["implementations"]].index(impl_id)
    return tree.root.find("section", id=f"impl-{n}")


# The page --------------------------------------------------------------------------
def test_scoreboard_tells_the_true_verdicts(graded: dict[str, Any], page: str) -> None:
    tree = Tree(page)
    rows = tree.root.find("table", id="scoreboard-table").find("tbody").find_all("tr")
    got = [(r.attrs.get("data-impl"), r.find("td", cls="impl").attrs.get("data-verdict")) for r in rows]
    want = [("torch-gru", "conformant-pytorch"), ("doc000-cell", "nonconformant")]
    assert got == want, f"got rows {got}, but should be {want} [render_page]"
    assert [i["verdict"] for i in graded["implementations"]] == [v for _, v in want], (
        "the graded verdicts changed: torch-gru should conform and doc000-cell should not")
    # One cell per check, each with a text label, not colour alone.
    labels = [c.text.strip() for c in rows[1].find_all(cls="cell")]
    assert len(labels) == len(graded["checks"]), f"got {len(labels)} cells, but should be one per check"
    assert all(any(ch.isalpha() for ch in label) for label in labels), f"got labels {labels}: all need text"


def test_failure_is_explained_with_counterexample_snippet_and_plot(graded: dict[str, Any], page: str) -> None:
    doc = next(i for i in graded["implementations"] if i["id"] == "doc000-cell")
    step = doc["checks"]["equations.step"]
    assert step["status"] == "fail", f"got {step['status']}, but doc000-cell should fail equations.step"
    section = impl_section(Tree(page), graded, "doc000-cell")
    failure = section.find(id=f"{section.attrs['id']}-equations-step")
    text = failure.text
    statement = graded["checks"]["equations.step"]["statement"]
    for want in (statement, "atol 1.00e-05", f"{step['max_error']:.2e}", "minimal counterexample",
                 f"steps={step['counterexample']['steps']}"):
        assert want in text, f"got no {want!r} in the equations.step explanation, but it should be there"
    assert failure.find("pre", cls="snippet").text.startswith("from conformance.grading.repro import reproduce")
    svg = section.find("svg", cls="plot")
    assert svg.find_all("path"), "got an empty error plot, but it should draw the per-step error"
    assert "t=0" in section.find("figure").text, "the plot's caption should say where the error appears"


def test_blocked_checks_are_shown_under_their_cause(graded: dict[str, Any], page: str) -> None:
    doc = next(i for i in graded["implementations"] if i["id"] == "doc000-cell")
    assert doc["checks"]["equations.sequence"]["status"] == "blocked"
    section = impl_section(Tree(page), graded, "doc000-cell")
    anchor = section.attrs["id"]
    explained = [f.attrs["id"] for f in section.find_all("div", cls="failure")]
    assert f"{anchor}-equations-sequence" not in explained, (
        f"got a separate explanation for the blocked equations.sequence in {explained}, but it should "
        "appear once, under equations.step")
    blocks = section.find(id=f"{anchor}-equations-step").find("p", cls="blocks").text
    assert "equations.sequence" in blocks, f"got {blocks!r}, but it should name the blocked check"
    cell = next(a for a in section.parent.parent.find_all("a", cls="s-blocked")
                if a.attrs.get("href") == f"#{anchor}-equations-step")
    assert "blocked" in cell.text


def test_blocked_chains_lead_to_their_root(graded: dict[str, Any]) -> None:
    """A check blocked by a blocked check is listed under the failure at the root,
    whatever words follow the blocker's id."""
    data = copy.deepcopy(graded)
    data["checks"]["later.check"] = {"id": "later.check", "family": "later", "title": "Later"}
    doc = data["implementations"][1]
    doc["checks"]["equations.sequence"]["message"] = "blocked by equations.step: its error is beyond rounding"
    doc["checks"]["later.check"] = {"status": "blocked", "message": "blocked by equations.sequence (blocked)"}
    tree = Tree(render_page(data))
    section = impl_section(tree, data, "doc000-cell")
    blocks = section.find(id=f"{section.attrs['id']}-equations-step").find("p", cls="blocks").text
    assert "equations.sequence" in blocks and "later.check" in blocks, (
        f"got {blocks!r}, but both checks blocked (directly and through another) should be listed")


def test_page_is_self_contained(page: str) -> None:
    tree = Tree(page)
    external = []

    def walk(node: Element) -> None:
        for name, value in node.attrs.items():
            value = value or ""
            if name in ("src", "srcset", "data", "action", "poster") or (
                    name in ("href", "xlink:href") and not value.startswith("#")):
                external.append(f"<{node.tag} {name}={value!r}>")
        for child in node.children:
            walk(child)

    walk(tree.root)
    assert not external, f"got references {external}, but the page should load nothing"
    assert "@import" not in page and "url(http" not in page, "the styles should load nothing"
    assert set(tree.tags).isdisjoint({"link", "img", "iframe", "object", "embed"}), (
        f"got tags {sorted(set(tree.tags) & {'link', 'img', 'iframe', 'object', 'embed'})}, but should have none")
    policy = tree.root.find("meta", http_equiv="Content-Security-Policy").attrs["content"]
    assert "default-src 'none'" in policy, f"got policy {policy!r}, but it should forbid loading anything"
    assert len(page.encode()) < 2_000_000, f"got {len(page.encode())} bytes, but should be under 2 MB"


@pytest.mark.slow
def test_one_and_fifty_implementations(graded: dict[str, Any]) -> None:
    """The page works for a single implementation and for many: a row each, and
    every element id (anchors, and the ids inside each inline plot) unique."""
    for count in (1, 50):
        data = copy.deepcopy(graded)
        data["implementations"] = [dict(copy.deepcopy(graded["implementations"][k % 2]), id=f"impl-{k}")
                                   for k in range(count)]
        tree = Tree(render_page(data))
        rows = tree.root.find("table", id="scoreboard-table").find("tbody").find_all("tr")
        assert [r.attrs["data-impl"] for r in rows] == [f"impl-{k}" for k in range(count)], (
            f"got {len(rows)} rows, but should be {count}")
        ids: list[str] = []

        def walk(node: Element) -> None:
            if "id" in node.attrs:
                ids.append(node.attrs["id"] or "")
            for child in node.children:
                walk(child)

        walk(tree.root)
        repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
        assert not repeated, f"got repeated element ids {repeated[:5]} with {count} implementations, but ids must be unique"
        links = {a.attrs["href"][1:] for a in tree.root.find_all("a") if (a.attrs.get("href") or "").startswith("#")}
        assert links <= set(ids), f"got links to missing anchors {sorted(links - set(ids))[:5]}"


def test_rendering_a_saved_file_gives_the_same_page(graded: dict[str, Any], page: str, tmp_path: Path) -> None:
    saved = results.write_results(graded, tmp_path / "results.json")
    again = render_html(results.read_results(saved), tmp_path / "index.html").read_bytes()
    assert again == page.encode("utf-8"), "got a different page from the saved JSON, but it should be byte-identical"
    assert render_page(copy.deepcopy(graded)) == page, "got a different page on a second render"


@pytest.mark.slow
def test_snippet_reproduces_the_failure_from_the_repository_root(graded: dict[str, Any], page: str) -> None:
    doc = next(i for i in graded["implementations"] if i["id"] == "doc000-cell")
    step = doc["checks"]["equations.step"]
    section = impl_section(Tree(page), graded, "doc000-cell")
    code = section.find(id=f"{section.attrs['id']}-equations-step").find("pre", cls="snippet").text
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"got exit code {done.returncode}, but the snippet should run\n{done.stderr}"
    out = done.stdout
    assert "first divergence: output[t=" in out, f"got {out!r}, but it should say where the result diverges"
    assert f"{step['max_error']:.3e}" in out, (
        f"got {out!r}, but it should reproduce the reported error {step['max_error']:.3e}")
    assert "torch.nn.GRU" in out


# Hostile input ---------------------------------------------------------------------
def test_hostile_adapter_text_is_escaped(tmp_path: Path) -> None:
    data = hostile_results(tmp_path)
    impl = data["implementations"][0]
    assert impl["id"] == HOSTILE_ID
    statuses = {cid: o["status"] for cid, o in impl["checks"].items()}
    assert statuses == {"contract.unbatched": "error", "equations.step": "fail", "equations.sequence": "blocked"}, (
        f"got {statuses}: the hostile adapter should produce an error, a failure and a blocked check")
    assert HOSTILE in impl["checks"]["contract.unbatched"]["message"], "the error message should carry the name"
    html = render_page(data)
    tree = Tree(html)
    scripts = tree.root.find_all("script")
    assert len(scripts) == 1 and "alert" not in scripts[0].text, (
        f"got {len(scripts)} script elements, but should be only the report's own")
    assert not {"img", "iframe", "object", "embed"} & set(tree.tags), f"got injected tags in {set(tree.tags)}"
    assert HOSTILE not in html, "got the raw hostile markup in the page, but it should be escaped"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html and "{% if 1 %}" in html, "template syntax from an adapter should show verbatim"
    row = tree.root.find("table", id="scoreboard-table").find("tbody").find("tr")
    assert row.attrs["data-impl"] == HOSTILE_ID, f"got {row.attrs['data-impl']!r}, but should be the id as text"
    texts = tree.root.text
    for want in ("notes: " + HOSTILE_ID, "unbatched: " + HOSTILE_ID, "diagnosis " + HOSTILE_ID):
        assert want in texts, f"got no {want!r} in the page's text, but it should show as text"
    # The snippet stays one call with literal arguments: nothing breaks out of its strings.
    code = tree.root.find("pre", cls="snippet").text
    call = ast.parse(code).body[-1].value  # type: ignore[attr-defined]
    assert isinstance(call, ast.Call) and all(isinstance(a, (ast.Constant, ast.Dict)) for a in call.args), (
        f"got {ast.dump(call)}, but the snippet should call reproduce with literal arguments")
    assert ast.literal_eval(call.args[0]) == impl["source"]


# Fields the report does not know yet -------------------------------------------------
def test_unknown_families_statuses_and_sections_render(graded: dict[str, Any]) -> None:
    data = copy.deepcopy(graded)
    data["checks"]["quantum.entangled"] = {"id": "quantum.entangled", "family": "quantum", "title": "Entangled",
                                           "statement": "a statement from a future family"}
    doc = data["implementations"][1]
    doc["checks"]["quantum.entangled"] = {"status": "mystery", "message": "a status from the future"}
    doc["diagnosis"] = {"summary": "the update computes h - z + z*n", "evidence": [{"t": 0, "error": 0.35}]}
    data["implementations"][0]["diagnosis"] = "matches nn.GRU"
    data["benchmarks"] = {"schema": results.BENCHMARKS_SCHEMA, "reference": "torch.nn.GRU",
                          "statistic": "median", "configs": {"small": {"steps": 8, "batch": 4}},
                          "results": [{"impl": "torch-gru", "config": "small", "mode": "forward",
                                       "seconds": 2.5e-4, "ratio": 1.0, "gflops": 1.5, "efficiency": 0.1}],
                          "skipped": [{"impl": "doc000-cell", "config": "small", "mode": "forward+backward",
                                       "reason": "no autograd claimed"}]}
    tree = Tree(render_page(data))
    header = tree.root.find("table", id="scoreboard-table").find("thead").text
    assert "quantum" in header and "entangled" in header, "a new family should get its own columns"
    text = tree.root.text
    for want in ("the update computes h - z + z*n", "matches nn.GRU", "mystery", "250 \u00b5s",
                 "no autograd claimed"):
        assert want in text, f"got no {want!r} in the page, but it should be shown"
    assert tree.root.find("section", id="benchmarks")


def test_bad_input_gets_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="implementations"):
        render_html({"schema": "something else"}, tmp_path / "x.html")


# Reproduction --------------------------------------------------------------------------
def test_reproduce_finds_the_bug_and_clears_the_reference() -> None:
    case = {"steps": 3, "batch": 2, "input_size": 2, "hidden_size": 3}
    clean = reproduce("torch-gru", case, show=False)
    assert clean.first_divergence is None and clean.error_vs_oracle < 1e-6 and clean.error_vs_torch < 1e-6, (
        f"got {clean}, but torch-gru should match the oracle and nn.GRU")
    buggy = reproduce("doc000-cell", case, "equations.step", show=False)
    assert buggy.first_divergence is not None and buggy.first_divergence.index["t"] == 0, (
        f"got {buggy.first_divergence}, but doc000-cell should diverge at t=0")
    assert buggy.error_vs_oracle > 0.01 and len(buggy.step_errors) == 3
    with pytest.raises(ValueError, match="unknown fields"):
        reproduce("torch-gru", dict(case, colour="blue"), show=False)


def test_snippet_writes_literals_only() -> None:
    code = snippet("x.py:A')\nimport os  #", {"steps": 1, "weight_scale": float("inf"), "dtype": "float32"}, "a.b")
    call = ast.parse(code).body[-1].value  # type: ignore[attr-defined]
    assert ast.literal_eval(call.args[0]) == "x.py:A')\nimport os  #"
    assert [type(n).__name__ for n in ast.parse(code).body] == ["ImportFrom", "Expr"], (
        f"got statements {ast.dump(ast.parse(code))}, but should be one import and one call")


def test_benchmark_section_has_a_chart_without_adapter_text():
    """Benchmarks are charted (ratio to nn.GRU with its interval, matmul efficiency); rows are
    labelled by number, so no adapter-supplied name is drawn into the SVG."""
    from conformance.reporting.report_bench import benchmarks_view

    section = {
        "schema": results.BENCHMARKS_SCHEMA, "reference": "torch.nn.GRU", "statistic": "median",
        "configs": {"small": {"steps": 8, "batch": 4}},
        "results": [
            {"impl": "torch.nn.GRU", "role": "reference", "config": "small", "mode": "forward", "seconds": 1e-4,
             "efficiency": 0.03},
            {"impl": "<script>alert(1)</script>", "config": "small", "mode": "forward", "seconds": 3e-4,
             "ratio": {"median": 3.0, "low": 2.9, "high": 3.1}, "efficiency": 0.01},
        ],
    }
    chart = benchmarks_view(section)["configs"][0]["chart"]
    assert chart.startswith("<svg"), f"got {chart[:40]!r}, but should be an inline SVG chart"
    assert "script" not in chart, "got adapter-supplied text inside the chart, but bars should be labelled by row"
    assert "#2" in chart, "got no row labels in the chart, but each bar should name its table row"