"""Failures that do not mask each other: a check reports every distinct failure it
finds, a crash at some sizes does not hide a wrong value at others, and the report
shows a failure that several checks share once, with the checks it affects.

The two-bug mutants of ``tests/catches_bugs/mutants.py`` are graded as a user's implementation
would be: both of their bugs must be in the results and on the page."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.checks import load_all
from conformance.grading import engine, results
from conformance.cases.generated import CaseSpec
from conformance.cases.compare import CheckFailure
from conformance.grading.outcome import Outcome, classify, merge, root_cause
from conformance.reporting.report import build_view, render_page
from conformance.cases.strategies import case_specs, sizes_at_least
from conformance.running.subject import AdapterError, Subject
from tests.catches_bugs.mutants import MUTANTS_BY_ID

if sys.version_info < (3, 11):  # the groups hypothesis raises there: its dependency's
    from exceptiongroup import ExceptionGroup

# One worker grades the two mutants once for the whole module.
pytestmark = [pytest.mark.xdist_group("distinct-failures"), pytest.mark.slow]

TWO_BUGS = {
    # mutant id -> (words of its crash, the check that must also show the numeric bug)
    "crash-small-and-backward-state": ("run raised IndexError", "directions.backward-final-state"),
    "float32-zeros-and-backward-state": ("expected m1 and m2 to have the same dtype",
                                         "directions.backward-final-state"),
}


def _noted(exc: BaseException, spec: CaseSpec) -> BaseException:
    # As hypothesis notes the case it drew (Python 3.10 has no add_note: the same attribute).
    exc.__notes__ = [*getattr(exc, "__notes__", []), f"Draw 1 (case): {spec!r}"]
    return exc


# --------------------------------------------------------------------------- outcomes


def test_exception_group_becomes_every_distinct_failure():
    """A violated statement is the main failure, the crash the second; each keeps the case
    hypothesis drew for it, and the same crash found twice counts once."""
    small, large = CaseSpec(1, 1, 1, 1, with_h0=False), CaseSpec(3, 3, 2, 2, bidirectional=True)
    crash = _noted(AdapterError("run raised IndexError: too many indices", "m.run(x=(1x1x1) float32, h0=None)"), small)
    again = _noted(AdapterError("run raised IndexError: too many indices", "m.run(x=(2x1x1) float32, h0=None)"), small)
    wrong = _noted(CheckFailure("output[b=0]: got 0.1, but should be 0.2", case=large, max_error=0.1), large)
    outcome = classify(ExceptionGroup("two bugs", [crash, wrong, again]))
    assert outcome.status == "fail" and outcome.message.startswith("output[b=0]"), \
        f"got {outcome.status}: {outcome.message!r}, but the violated statement should be the main failure"
    assert [f["status"] for f in outcome.failures] == ["fail", "error"], \
        f"got {[f['status'] for f in outcome.failures]}, but should be one fail and one error (the crash once)"
    assert outcome.failures[1]["counterexample"] == small.to_json(), \
        f"got {outcome.failures[1]['counterexample']}, but the crash's case should be the one drawn for it"
    json.dumps(outcome.to_json(), allow_nan=False)


def test_single_failure_keeps_its_shape():
    """One failure: the outcome is what it always was, with no list of failures."""
    outcome = classify(_noted(AdapterError("run raised ValueError: no", "m.run(...)"), CaseSpec(1, 2, 1, 1)))
    assert (outcome.status, outcome.failures) == ("error", []), f"got {outcome}, but should be one error"
    assert outcome.counterexample == CaseSpec(1, 2, 1, 1).to_json(), f"got {outcome.counterexample}"


def test_root_cause_ignores_sizes_and_numbers():
    a = "run raised IndexError: too many indices for tensor of dimension 0 [m.run(x=(1x1x1) float32, h0=None)]"
    b = "run raised IndexError: too many indices for tensor of dimension 1 [m.run(x=(2x1x3) float64, h0=(1x1x2))]"
    c = "output[t=0, b=1, unit=2]: got 0.1, but should be 0.2 (the oracle's output); max abs error 0.1 > tolerance"
    d = "output[t=3, b=0, unit=0]: got -1.5, but should be 2e-05 (the oracle's output); max abs error 1.5 > tolerance"
    assert root_cause("error", a) == root_cause("error", b), "got two keys for one crash at two sizes"
    assert root_cause("fail", c) == root_cause("fail", d), "got two keys for one statement at two cases"
    assert root_cause("error", a) != root_cause("fail", c), "got one key for a crash and a wrong value"
    assert root_cause("error", "weight_ih_l0 is float32") != root_cause("error", "weight_ih_l1 is float16"), \
        "got names with digits merged, but only free-standing numbers are sizes"


def test_merge_adds_what_was_found_elsewhere():
    crash = Outcome("error", message="run raised IndexError [m.run(...)]", counterexample={"batch": 1})
    wrong = Outcome("fail", message="h_n[1]: got 1, but should be 2", counterexample={"batch": 3})
    merged = merge(crash, wrong, "with batch >= 2")
    assert merged.status == "fail" and [f["status"] for f in merged.failures] == ["fail", "error"], \
        f"got {merged.status} with {[f['status'] for f in merged.failures]}, but both should be kept, fail first"
    assert merged.elsewhere == "with batch >= 2: 1 more distinct failure", f"got {merged.elsewhere!r}"
    held = merge(crash, Outcome("pass"), "with batch >= 2")
    assert held.status == "error" and "the statement held" in held.elsewhere, \
        f"got {held.status}, {held.elsewhere!r}, but a clean search elsewhere should be said"


def test_size_floor_raises_the_drawn_sizes():
    """While a check searches away from a crash, every drawn size is at least the floor,
    except where the check itself asks for less (a batch of one stays a batch of one)."""
    subject = Subject("ref", MUTANTS_BY_ID["hn-wrong-end"].adapter())
    seen: list[CaseSpec] = []

    @given(st.data())
    def draw(data):
        seen.append(data.draw(case_specs(subject)))
        seen.append(data.draw(case_specs(subject, max_batch=1)))

    with sizes_at_least(steps=2, batch=2):
        draw()
    free = seen[0::2]
    assert all(s.steps >= 2 and s.batch >= 2 for s in free), \
        f"got {[(s.steps, s.batch) for s in free if s.steps < 2 or s.batch < 2][:3]}, but should be at least 2"
    assert all(s.batch == 1 for s in seen[1::2]), "got a batch above the check's own maximum of 1"


# --------------------------------------------------------------------------- two-bug mutants


# Session scope: a module-scoped fixture is rebuilt whenever a worker runs another module's test in between.
@pytest.fixture(scope="session")
def graded() -> dict[str, Any]:
    records = []
    for mutant_id in TWO_BUGS:
        mutant = MUTANTS_BY_ID[mutant_id]
        subject = Subject(mutant.id, mutant.adapter())
        outcomes = engine.grade(subject)
        records.append(results.implementation_record(subject.id, info=subject.info,
                                                     source=f"tests/catches_bugs/mutants.py:{mutant_id}",
                                                     checks=outcomes))
    data = results.build_results(records, load_all(), results.environment("grade"))
    return json.loads(json.dumps(data, default=str))


def _failures(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    return outcome.get("failures") or ([outcome] if outcome["status"] in ("fail", "error") else [])


@pytest.mark.parametrize("mutant_id", list(TWO_BUGS))
def test_both_bugs_are_reported(graded: dict[str, Any], mutant_id: str):
    """The crash (or dtype slip) and the wrong backward state are both in the results; the
    check that sees the wrong state reports it, whatever it met at the crashing sizes."""
    crash_words, numeric_check = TWO_BUGS[mutant_id]
    impl = next(i for i in graded["implementations"] if i["id"] == mutant_id)
    every = [f for o in impl["checks"].values() for f in _failures(o)]
    crashes = [f for f in every if f["status"] == "error" and crash_words in f["message"]]
    assert crashes, f"got no failure naming {crash_words!r} on {mutant_id}, but its first bug should be reported"
    numeric = impl["checks"][numeric_check]
    statuses = [f["status"] for f in _failures(numeric)]
    assert "fail" in statuses and "backward final state" in _failures(numeric)[0]["message"], \
        f"got {numeric_check} = {statuses}: {numeric['message'][:200]!r}, but it should fail on the backward state"
    assert numeric["status"] == "fail", f"got {numeric['status']}, but the violated statement should be the main failure"


@pytest.mark.parametrize("mutant_id", list(TWO_BUGS))
def test_report_shows_a_shared_crash_once(graded: dict[str, Any], mutant_id: str):
    """On the page the crash is one block naming every check it reached; the wrong backward
    state has a block of its own, before it; every scoreboard link lands on an element."""
    view = build_view(graded)
    impl = next(i for i in view["impls"] if i["id"] == mutant_id)
    crash_words, numeric_check = TWO_BUGS[mutant_id]
    shared = [g for g in impl["failures"] if crash_words in g["lead"]["message"]]
    assert len(shared) == 1 and shared[0]["shared"] and len(shared[0]["entries"]) >= 5, \
        f"got {[(g['lead']['message'][:60], len(g['entries'])) for g in shared]}, but the crash should be one group"
    own = [g for g in impl["failures"] if g["lead"]["col"]["id"] == numeric_check and g["status"] == "fail"]
    assert own and impl["failures"].index(own[0]) < impl["failures"].index(shared[0]), \
        "got the backward-state failure missing or after the shared crash, but it should stand out before it"
    page = render_page(graded)
    assert page.count("the same failure in") == len([g for i in view["impls"] for g in i["failures"] if g["shared"]]), \
        "got a shared failure drawn more than once"
    for cell in impl["cells"]:
        if cell["href"]:
            assert f'id="{cell["href"][1:]}"' in page, f"got a scoreboard link {cell['href']} to no element"
