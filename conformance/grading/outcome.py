"""Per-check outcomes: the status vocabulary and how an exception becomes one.

Statuses:

* ``pass``: the statement held on every generated case.
* ``fail``: a case violates it; carries hypothesis' minimal counterexample and the error.
* ``error``: the adapter raised or returned something unreadable (the message says which).
* ``not_applicable``: the implementation does not claim what the check needs (the reason says what).
* ``blocked``: a check this one depends on failed, so it was not run (the reason names it).
* ``xfail``: failed, and listed in the known-failures file.
* ``xpass``: listed in the known-failures file but passed: the entry is out of date.
* ``warn``: a warning-level check (``severity="warning"``) whose statement does not
  hold: shown, but it does not count against conformance.

A check can fail for more than one reason: grading asks hypothesis to report every
distinct failure it finds (``report_multiple_bugs``), so a crash at some sizes does
not hide a wrong value at others. The outcome's own fields describe the main failure
(a violated statement before a crash: the crash is usually shared with other checks);
``failures`` lists every distinct one, main first, when there are several.
``root_cause`` says when two failure messages are the same failure (the same text
up to sizes and numbers), which is how the report groups them.
"""

from __future__ import annotations

import ast
import re
import sys
import traceback
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from conformance.cases.generated import CaseSpec
from conformance.cases.compare import Blocked, CheckFailure
from conformance.running.subject import AdapterError

if sys.version_info < (3, 11):  # hypothesis raises the backport's groups there (its own dependency)
    from exceptiongroup import BaseExceptionGroup

#: Statuses that count against conformance.
FAILING = ("fail", "error", "xfail", "blocked")


@dataclass
class Outcome:
    status: str
    message: str = ""
    #: The minimal failing case (CaseSpec fields), when there is one.
    counterexample: dict[str, Any] | None = None
    #: Hypothesis' own account of the minimal example (its "Falsifying example" note).
    falsifying_example: str = ""
    max_error: float | None = None
    tolerance: dict[str, float] | None = None
    duration: float = 0.0
    #: What the check measured while passing (largest error per dtype, error profile).
    measurements: dict[str, Any] = field(default_factory=dict)
    #: What the implementation printed during the check: {"text" (the first KB), "bytes", "truncated"}.
    output: dict[str, Any] | None = None
    #: Every distinct failure (main first) when the check failed for more than one reason,
    #: each {"status", "message", "counterexample", "falsifying_example", "max_error",
    #: "tolerance"}; empty otherwise (the fields above are the only failure).
    failures: list[dict[str, Any]] = field(default_factory=list)
    #: What a second search found away from the sizes where the implementation crashed
    #: ("with batch >= 2, the statement held on every case drawn"); empty when there was none.
    elsewhere: str = ""
    #: The error is the suite's own (its code raised while grading): it says nothing about the
    #: implementation, so it decides no verdict (``conformance.grading.results.overall_verdict``).
    #: Written only when true.
    suite_fault: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.suite_fault:
            del data["suite_fault"]
        for record in [data, *data["failures"]]:
            if record["max_error"] is not None and record["max_error"] == float("inf"):
                record["max_error"] = "inf"
        return data

    def failure_json(self) -> dict[str, Any]:
        """This outcome as one entry of ``failures``."""
        found = {key: getattr(self, key) for key in FAILURE_FIELDS}
        return {**found, "suite_fault": True} if self.suite_fault else found


#: The fields that describe one failure.
FAILURE_FIELDS = ("status", "message", "counterexample", "falsifying_example", "max_error", "tolerance")


_HYPOTHESIS_NOISE = re.compile(r"^(You can reproduce this example|@reproduce_failure|Explanation:|Trying example)")


def _notes(exc: BaseException) -> str:
    notes = getattr(exc, "__notes__", None) or []
    kept = [n for n in notes if not _HYPOTHESIS_NOISE.match(n)]
    return "\n".join(kept).strip()


#: hypothesis' note naming a drawn case: "Draw 1 (case): CaseSpec(steps=2, ...)".
_DRAWN_CASE = re.compile(r"^Draw \d+ \(case\): (CaseSpec\(.*\))$")


def _case_from_notes(exc: BaseException) -> dict[str, Any] | None:
    """The case hypothesis printed for this failure, as CaseSpec fields. Each distinct
    failure has its own minimal example, and an adapter's exception carries no case,
    so this is where an error's counterexample comes from."""
    found = None
    for note in getattr(exc, "__notes__", None) or []:
        for line in str(note).splitlines():
            match = _DRAWN_CASE.match(line.strip())
            if match:
                found = match.group(1)
    if found is None:
        return None
    try:
        call = ast.parse(found, mode="eval").body
        assert isinstance(call, ast.Call) and not call.args
        return CaseSpec(**{k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}).to_json()
    except (SyntaxError, ValueError, TypeError, AssertionError):
        return None  # not a case this suite wrote: leave the counterexample to the caller


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def classify(exc: BaseException) -> Outcome:
    """Turn the exception a check raised into an outcome; an exception group (several
    distinct failures) into the main one, with every distinct one in ``failures``."""
    if not isinstance(exc, BaseExceptionGroup):
        return _classify_one(exc)
    return _combined([_classify_one(leaf) for leaf in _leaves(exc)])


def _combined(found: list[Outcome]) -> Outcome:
    """One outcome for several failures of one check: the distinct ones, main first."""
    # "blocked" says the cause is another check's failure: shown there, not here.
    found = [o for o in found if o.status != "blocked"] or found[:1]
    distinct: dict[str, Outcome] = {}
    for outcome in found:
        distinct.setdefault(root_cause(outcome.status, outcome.message), outcome)
    ordered = list(distinct.values())
    # A violated statement is the check's own finding; a crash is usually the same in
    # every check that reaches that size, so it goes second.
    ordered.sort(key=lambda o: o.status != "fail")
    main = replace(ordered[0], failures=[])
    if len(ordered) > 1:
        main.failures = [o.failure_json() for o in ordered]
    return main


def merge(first: Outcome, elsewhere: Outcome, where: str) -> Outcome:
    """A check searched twice: ``first`` as graded, then ``elsewhere`` at the sizes that
    ``where`` describes ("with batch >= 2"). Every distinct failure of both, main first;
    when the second search found nothing, the main message says so."""
    if elsewhere.status not in ("fail", "error"):
        return replace(first, elsewhere=f"{where}, the statement held on every case drawn")
    before = first.failures or [first.failure_json()]
    found = [Outcome(**f) for f in before]
    found += [Outcome(**f) for f in (elsewhere.failures or [elsewhere.failure_json()])]
    merged = _combined(found)
    new = len(merged.failures or [merged]) - len(before)
    merged.elsewhere = (f"{where}: {new} more distinct failure{'s' if new > 1 else ''}" if new > 0
                        else f"{where}: the same failure")
    return merged


def _classify_one(exc: BaseException) -> Outcome:
    outcome = _classify_exception(exc)
    if outcome.counterexample is None:
        outcome.counterexample = _case_from_notes(exc)
    return outcome


def _classify_exception(exc: BaseException) -> Outcome:
    notes = _notes(exc)
    if isinstance(exc, Blocked):
        return Outcome("blocked", message=str(exc),
                       counterexample=exc.case.to_json() if exc.case is not None else None)
    if isinstance(exc, CheckFailure):
        return Outcome(
            "fail",
            message=str(exc),
            counterexample=exc.case.to_json() if exc.case is not None else None,
            falsifying_example=notes,
            max_error=exc.max_error,
            tolerance=exc.tolerance.to_json() if exc.tolerance is not None else None,
        )
    if isinstance(exc, AdapterError):
        case = getattr(exc, "case", None)
        return Outcome("error", message=str(exc), falsifying_example=notes,
                       counterexample=case.to_json() if case is not None else None)
    if isinstance(exc, AssertionError):
        return Outcome("fail", message=str(exc) or repr(exc), falsifying_example=notes)
    return suite_fault(exc, falsifying_example=notes)


def suite_fault(exc: BaseException, **fields: Any) -> Outcome:
    """The outcome of a check during which the suite's own code raised ``exc``: an error that is
    the suite's, where it was raised, and that it says nothing about the implementation."""
    return Outcome("error", message=f"internal error in the suite: {type(exc).__name__}: {exc}{_raised_at(exc)}; "
                   "this says nothing about the implementation (a bug in the suite: please report it)",
                   suite_fault=True, **fields)


def _raised_at(exc: BaseException) -> str:
    """" (raised at conformance/<module>.py:<line>)": the innermost frame in the suite's own code."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = frame.filename.replace("\\", "/")
        if "/conformance/" in path:
            return f" (raised at conformance/{path.rpartition('/conformance/')[2]}:{frame.lineno})"
    return ""


# Root causes ----------------------------------------------------------------------
_SHAPE_LIKE = re.compile(r"\d+(?:x\d+)+")
_NUMBER = re.compile(r"(?<![A-Za-z_\d.])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?(?![A-Za-z_\d])")


def _without_call(line: str) -> str:
    """The line without its trailing "[the call]" (which names sizes, dtype and h0)."""
    line = line.rstrip()
    if not line.endswith("]"):
        return line
    depth = 0
    for i in range(len(line) - 1, -1, -1):
        depth += {"]": 1, "[": -1}.get(line[i], 0)
        if depth == 0:
            return line[:i].rstrip() if i > 0 and line[i - 1] == " " else line
    return line


def root_cause(status: str, message: str) -> str:
    """What two failures have in common when they are the same failure: the status and
    the message's first line without its call, with every number and shape replaced by
    "#" (the same crash at two sizes, or in two checks, gives the same key)."""
    lines = (message or "").strip().splitlines()
    first = _without_call(lines[0]) if lines else ""
    first = _NUMBER.sub("#", _SHAPE_LIKE.sub("#", first))
    return f"{status}: {' '.join(first.split())}"
