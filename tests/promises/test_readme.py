"""The README is the user's manual: its example adapter must work as printed and
its checks table must list the catalogue as it is."""

from __future__ import annotations

import re
from pathlib import Path

from conformance.commands.cli import checks_table
from conformance.grading.engine import grade
from conformance.grading.loading import load_subject
from conformance.grading.results import overall_verdict

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
EXAMPLE = ROOT / "examples" / "my_gru_adapter.py"


def test_checks_table_is_current():
    found = re.search(r"<!-- checks-table[^\n]*-->\n(.*?)\n<!-- end checks-table -->", README, re.S)
    assert found, "got no checks-table block in README.md, but it should hold one"
    assert found.group(1).strip() == checks_table().strip(), (
        "got a stale checks table in README.md, but it should equal `python -m conformance checks`"
    )


def test_example_adapter_is_the_one_in_the_readme():
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    example_code = EXAMPLE.read_text().split('"""', 2)[2].strip()
    assert any(block.strip() == example_code for block in blocks), (
        "got a README example adapter that differs from examples/my_gru_adapter.py, but they should be equal"
    )
    code_lines = [line for line in example_code.splitlines() if line.strip()]
    assert len(code_lines) <= 32, f"got an example adapter of {len(code_lines)} lines, but it should stay about 30"


def test_example_adapter_grades_conformant():
    subject = load_subject(f"{EXAMPLE}:MyGRU")
    outcomes = grade(subject)
    # Warnings (e.g. a broadcast h0 of batch 1) are shown but do not decide conformance.
    bad = {cid: o.status for cid, o in outcomes.items() if o.status in ("fail", "error", "blocked")}
    assert not bad, f"got {bad} for the README's example adapter, but it should pass every applicable check"
    verdict = overall_verdict(subject.reset, subject.white_box, outcomes)
    assert verdict == "conformant-pytorch", f"got verdict {verdict}, but should be conformant-pytorch"


#: Packages whose modules the layout does not list: they list their own (checks/: one module per
#: family, <family>.py; diagnosis/: the table in its docstring; adapt/: one concern a module).
SELF_DESCRIBED = {"checks", "diagnosis", "adapt"}


def test_layout_section_names_every_module():
    """The README's layout section is the map of the tree: every layer's folder and every module
    in it, the implementations' registries and every top-level folder appear in it."""
    layout = README.split("## Layout", 1)[1]
    block = re.search(r"```text\n(.*?)```", layout, re.S)
    assert block, "got no text block in the README's layout section, but it should draw the tree"
    words = set(re.findall(r"[\w.\-]+/?", block.group(1)))
    suite = ROOT / "conformance"
    wanted = {p.name for p in suite.glob("*.py")}
    for folder in (p for p in suite.iterdir() if p.is_dir() and p.name != "__pycache__"):
        wanted.add(f"{folder.name}/")
        if folder.name not in SELF_DESCRIBED:
            wanted |= {p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
            wanted |= {f"{p.name}/" for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__"}
    wanted |= {f"{p.name}/" for p in ROOT.iterdir()
               if p.is_dir() and not p.name.startswith((".", "_")) and p.name not in ("build", "dist")
               and not p.name.endswith(".egg-info")}
    missing = sorted(wanted - words)
    assert not missing, f"got {missing} missing from the README's layout section, but it should match the tree"


# The README's statements about the code, kept true ------------------------------------------
def section(title: str) -> str:
    """The README's section under the heading ``title``, up to the next heading of its level or above."""
    heading = re.search(rf"^(#+) {re.escape(title)}$", README, re.M)
    assert heading, f"got no section {title!r} in README.md"
    body = README[heading.end():]
    end = re.search(rf"^#{{1,{len(heading.group(1))}}} ", body, re.M)
    return body[:end.start()] if end else body


def test_subcommands_and_modules_named_exist():
    """Every ``python -m conformance <subcommand>`` the README names is one the CLI has (the
    Layout's list of them included), and every ``python -m <module>`` is a module there is."""
    import importlib.util

    from conformance.commands.cli import subcommands

    named = set(re.findall(r"python -m conformance ([a-z][a-z-]*)", README))
    layout = re.search(r"cli\.py\s+python -m conformance ([^\n]+)", README)
    assert layout, "got no cli.py line in the README's Layout section"
    named |= {w.strip(" .") for w in layout.group(1).split(",")}
    unknown = named - set(subcommands())
    assert not unknown, f"got {sorted(unknown)} named in README.md, but the CLI has only {subcommands()}"
    modules = set(re.findall(r"python -m ((?:conformance|implementations|tests)\.[\w.]+)", README))
    missing = sorted(m for m in modules if importlib.util.find_spec(m) is None)
    assert modules and not missing, f"got modules {missing} named in README.md that do not exist"


def test_options_named_exist():
    """Every ``--option`` the README names is an option of the suite's commands, its pytest
    plugin or its scripts (or of the tool the README says it belongs to)."""
    import argparse

    from conformance.commands.cli import build_parser

    options: set[str] = set()
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options.update(o for a in sub._actions for o in a.option_strings)
    for path in [*(ROOT / "conformance").rglob("*.py"), *(ROOT / "implementations").rglob("*.py"),
                 *(ROOT / "tests").rglob("*.py")]:
        options.update(re.findall(r"""(?:add_argument|addoption)\(\s*["'](--[a-z][\w-]*)""", path.read_text()))
    elsewhere = {"--notest": "tox", "--dist": "pytest-xdist", "--hypothesis-seed": "hypothesis' pytest plugin",
                 "--index-url": "pip", "--no-deps": "pip"}
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", README))
    unknown = sorted(named - options - set(elsewhere))
    assert not unknown, f"got options {unknown} named in README.md that no command, plugin or script has"


def test_tox_environments_named_exist():
    ini = (ROOT / "tox.ini").read_text()
    envs = set(re.findall(r"^\[testenv:([\w-]+)\]", ini, re.M))
    named = set(re.findall(r"tox -e ([\w-]+)(?![\w<-])", README))
    unknown = sorted(named - envs)
    assert named and not unknown, f"got tox environments {unknown} named in README.md, but tox.ini has {sorted(envs)}"


def test_every_verdict_and_convention_is_in_the_verdicts_section():
    from conformance.base.conventions import CONVENTIONS, VERDICTS

    verdicts = section("Verdicts")
    missing = [v.text for v in VERDICTS.values() if f"**{v.text}**" not in verdicts]
    assert not missing, f"got verdicts {missing} missing from the README's Verdicts section"
    conventions = section("Conventions: reset placement and update polarity")
    for convention in CONVENTIONS.values():
        row = rf'^\| `"{convention.reset}"`( \(default\))? \| `"{convention.update}"`( \(default\))? \|'
        assert re.search(row, conventions, re.M) and f"conformant to {convention.name}" in conventions, \
            f"got no row for reset {convention.reset!r}, update {convention.update!r} in the conventions table"


def test_claims_named_exist_and_every_claim_is_documented():
    """Each ``name=value`` claim the README shows builds a ``Capabilities`` (so a claim it
    lists exists, with that value), and each field of ``Capabilities`` is documented."""
    import dataclasses

    import torch  # noqa: F401 - claims such as dtypes=(torch.float32,) name it

    from conformance.model.contract import Capabilities

    fields = {f.name for f in dataclasses.fields(Capabilities)}
    shown = re.findall(r"`(\w+)=([^`=\n]+?)`", re.sub(r"```.*?```", "", README, flags=re.S))
    claims = [(name, value) for name, value in shown if name in fields]
    assert len(claims) >= 8, f"got only {claims} as claims in README.md"
    for name, value in claims:
        try:
            Capabilities(**{name: eval(value, {"torch": torch})})  # noqa: S307 - the README's own text
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"got README claim `{name}={value}`, which Capabilities refuses: {exc}") from None
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", README, flags=re.S))
    undocumented = sorted(f for f in fields if not any(re.search(rf"\b{f}\b", span) for span in spans))
    assert not undocumented, f"got Capabilities fields {undocumented} the README never names"


def test_tolerance_table_is_the_code():
    from conformance.base.tolerances import PRECISIONS, TOLERANCES

    def shown(value: float) -> str:
        text = f"{value:.1e}".replace(".0e", "e").replace("e-0", "e-")
        return "0" if value == 0 else text

    columns = ("step", "sequence", "self", "grad", "sizes", "grad-sizes")
    table = section("Tolerances")
    for name, kinds in {**TOLERANCES, **PRECISIONS}.items():
        row = re.search(rf"^\| {re.escape(name)}[^|]*\|(.*)\|$", table, re.M)
        assert row, f"got no row for {name} in the README's tolerance table"
        cells = [c.strip() for c in row.group(1).split("|")]
        want = [f"{shown(kinds[c].atol)} + {shown(kinds[c].rtol)}" if c in kinds else "-" for c in columns]
        assert cells == want, f"got {cells} for {name} in the README's tolerance table, but the code says {want}"


def test_no_claim_the_suite_has_is_said_to_be_missing():
    """A sentence saying the suite has no such claim (yet) must not be about one it has: the
    update polarities, the reset placements, the precisions and every Capabilities field."""
    import dataclasses

    from conformance.model.contract import Capabilities
    from conformance.base.conventions import RESETS, UPDATES
    from conformance.base.tolerances import PRECISIONS

    existing = {*RESETS, *UPDATES, *PRECISIONS, *(f.name for f in dataclasses.fields(Capabilities))}
    words = {w.replace("_", "-") for w in existing} | existing
    text = " ".join(README.split())
    for said in re.findall(r"(?:suite|it|adapter) has no ([^.;:()]+?) claim", text):
        named = {w for w in re.split(r"[\s/]+", said.lower()) for e in words if w.startswith(e)}
        assert not named, f"got README.md saying there is no {said!r} claim, but the suite has {sorted(named)}"


def test_tests_readme_names_every_test_module():
    """``tests/README.md`` says where a new test goes: a section per folder of ``tests/``
    (one purpose each) names every test module, helper catalogue and data folder in that
    folder, and nothing that is not there; no module lies in ``tests/`` outside a folder;
    the shared data folders of ``tests/`` are named in the section for them."""
    here = ROOT / "tests"
    guide = (here / "README.md").read_text()
    sections = dict(re.findall(r"^### `(\w+)/`[^\n]*\n(.*?)(?=^#|\Z)", guide, re.M | re.S))
    folders = sorted(p.name for p in here.iterdir() if (p / "__init__.py").is_file())
    loose = sorted(p.name for p in here.glob("*.py") if p.name not in ("__init__.py", "conftest.py"))
    assert not loose, f"got {loose} in tests/ itself, but each test module belongs in the folder of its purpose"
    unplaced, unknown = sorted(set(folders) - set(sections)), sorted(set(sections) - set(folders))
    assert not unplaced, f"got folders {unplaced} with no section in tests/README.md, but each should have one"
    assert not unknown, f"got sections for {unknown} in tests/README.md, but tests/ has no such folder"

    def listed(folder: Path, text: str, data: set[str]) -> None:
        modules = {p.name for p in folder.glob("*.py") if p.name not in ("__init__.py", "conftest.py")}
        modules |= {f"{p.name}/" for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__"} - data
        named = set(re.findall(r"`([\w]+\.py|[\w]+/)`", text))
        missing = sorted(modules - named)
        stale = sorted(n for n in named - modules - data if not (ROOT / n).exists() and not (here / n).exists())
        where = folder.relative_to(ROOT).as_posix()
        assert not missing, f"got {missing} in {where}/ that tests/README.md does not place there, but it should name each"
        assert not stale, f"got {stale} named under {where}/ in tests/README.md, but {where}/ has no such module"

    shared = re.search(r"^### Shared[^\n]*\n(.*?)(?=^#|\Z)", guide, re.M | re.S)
    assert shared, "got no 'Shared' section in tests/README.md, but it should name the data folders of tests/ itself"
    for name in folders:
        listed(here / name, sections[name], set())
    listed(here, shared.group(1), {f"{name}/" for name in folders})
