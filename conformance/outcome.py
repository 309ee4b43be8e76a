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
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from conformance.compare import Blocked, CheckFailure
from conformance.subject import AdapterError

STATUSES = ("pass", "fail", "error", "not_applicable", "blocked", "xfail", "xpass", "warn")
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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if data["max_error"] is not None and data["max_error"] == float("inf"):
            data["max_error"] = "inf"
        return data


_HYPOTHESIS_NOISE = re.compile(r"^(You can reproduce this example|@reproduce_failure|Explanation:|Trying example)")


def _notes(exc: BaseException) -> str:
    notes = getattr(exc, "__notes__", None) or []
    kept = [n for n in notes if not _HYPOTHESIS_NOISE.match(n)]
    return "\n".join(kept).strip()


def classify(exc: BaseException) -> Outcome:
    """Turn the exception a check raised into an outcome."""
    if isinstance(exc, BaseExceptionGroup):
        # With report_multiple_bugs off this is rare; the first failure is the one to show.
        return classify(exc.exceptions[0])
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
    return Outcome(
        "error",
        message=f"internal error in the suite: {type(exc).__name__}: {exc}",
        falsifying_example=notes,
    )
