"""The status badge: what it says and its colour for each verdict, one implementation or
several, XML that parses whatever the ids hold, and the command's errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from conformance.reporting.badge import COLOURS, badge_text, render_badge
from conformance.commands.cli import main
from conformance.grading.results import SCHEMA

SVG = "{http://www.w3.org/2000/svg}"


def record(impl_id: str, verdict: str, passed: int = 3, applicable: int = 4) -> dict:
    return {"id": impl_id, "verdict": verdict, "score": {"passed": passed, "applicable": applicable, "warnings": 0}}


def results(*records: dict, complete: bool = True) -> dict:
    return {"schema": SCHEMA, "complete": complete, "implementations": list(records)}


@pytest.mark.parametrize("verdict, message, colour", [
    ("conformant-pytorch", "conformant (PyTorch) 3/4", COLOURS["pass"]),
    ("conformant-reset-before", "conformant (reset-before) 3/4", COLOURS["pass"]),
    ("consistent", "consistent (black-box) 3/4", COLOURS["consistent"]),
    ("nonconformant", "nonconformant 3/4", COLOURS["fail"]),
    ("error", "not graded", COLOURS["error"]),
])
def test_one_implementation_shows_its_verdict_and_score(verdict, message, colour):
    got = badge_text(results(record("MyGRU", verdict)))
    assert got == (message, colour), f"got {got}, but should be {(message, colour)} [badge_text({verdict})]"


def test_several_implementations_show_how_many_conform():
    data = results(record("a", "conformant-pytorch"), record("b", "nonconformant"), record("c", "consistent"))
    assert badge_text(data) == ("2/3 conformant", COLOURS["fail"]), f"got {badge_text(data)}"
    assert badge_text(data, "a") == ("conformant (PyTorch) 3/4", COLOURS["pass"]), f"got {badge_text(data, 'a')}"
    passing = results(record("a", "conformant-pytorch"), record("b", "conformant-pytorch"))
    assert badge_text(passing) == ("2/2 conformant", COLOURS["pass"]), f"got {badge_text(passing)}"
    ungraded = results(record("a", "conformant-pytorch"), record("b", "error"))
    assert badge_text(ungraded)[1] == COLOURS["error"], f"got {badge_text(ungraded)}, but should be grey"
    assert badge_text(results(record("a", "conformant-pytorch"), complete=False)) == ("incomplete", COLOURS["error"])
    with pytest.raises(ValueError, match="got no implementation 'zzz'"):
        badge_text(data, "zzz")


def test_the_svg_parses_and_escapes_what_it_shows():
    hostile = 'x"/><script>alert(1)</script>&'
    svg = render_badge(hostile, "nonconformant 1/2", COLOURS["fail"])
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == [hostile, "nonconformant 1/2"], f"got texts {texts}, but should be the label and the message"
    assert not list(root.iter(f"{SVG}script")), "got a script element in the badge, but its text should be escaped"
    assert root.get("aria-label") == f"{hostile}: nonconformant 1/2", f"got aria-label {root.get('aria-label')!r}"
    fills = [r.get("fill") for r in root.iter(f"{SVG}rect")]
    assert COLOURS["fail"] in fills, f"got fills {fills}, but the message should be on {COLOURS['fail']}"


def test_the_command_writes_the_badge_and_names_bad_input(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results(record("MyGRU", "nonconformant", 12, 25))))
    out = tmp_path / "badge" / "status.svg"
    code = main(["badge", str(path), "-o", str(out)])
    assert code == 0 and out.is_file(), f"got exit {code}, but `badge` should write {out}"
    assert "nonconformant 12/25" in out.read_text(), "got a badge without the verdict and score"
    code = main(["badge", str(tmp_path / "none.json"), "-o", str(out)])
    assert code == 2 and "badge:" in capsys.readouterr().err, (
        f"got exit {code}, but a missing results file should be exit 2 with why")
