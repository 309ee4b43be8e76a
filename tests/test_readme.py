"""The README is the user's manual: its example adapter must work as printed and
its checks table must list the catalogue as it is."""

from __future__ import annotations

import re
from pathlib import Path

from conformance.cli import checks_table
from conformance.engine import grade
from conformance.loading import load_subject
from conformance.results import overall_verdict

ROOT = Path(__file__).resolve().parent.parent
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


def test_layout_section_names_every_module():
    """The README's layout section is the map of the tree: every module of the suite, the
    implementations' registries and every top-level folder appear in it."""
    layout = README.split("## Layout", 1)[1]
    block = re.search(r"```text\n(.*?)```", layout, re.S)
    assert block, "got no text block in the README's layout section, but it should draw the tree"
    words = set(re.findall(r"[\w.\-]+/?", block.group(1)))
    wanted = {p.name for p in (ROOT / "conformance").glob("*.py") if p.name != "__init__.py"}
    wanted |= {f"{p.name}/" for p in (ROOT / "conformance").iterdir() if p.is_dir() and p.name != "__pycache__"}
    wanted |= {f"{p.name}/" for p in ROOT.iterdir()
               if p.is_dir() and not p.name.startswith((".", "_")) and p.name not in ("build", "dist")
               and not p.name.endswith(".egg-info")}
    missing = sorted(wanted - words)
    assert not missing, f"got {missing} missing from the README's layout section, but it should match the tree"
