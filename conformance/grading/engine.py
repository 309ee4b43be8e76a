"""Running checks in-process, outside pytest's collection: the same check
functions, the same outcome rules. The pytest plugin uses ``run_check`` for
each item; the self-tests use ``grade`` to grade mutants and references."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis import Phase, given, is_hypothesis_test, seed, settings
from hypothesis import strategies as st

from conformance.cases.catalogue import CHECK_FUNCTIONS, CHECKS, ordered_ids, unmet_requirement
from conformance.checks import load_all
from conformance.cases.compare import NotApplicable
from conformance.grading.outcome import FAILING, Outcome, classify, merge, suite_fault
from conformance.cases.strategies import SIZE_FIELDS, sizes_at_least
from conformance.running.subject import CheckRecord, Subject

NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


def check_seed(check_id: str) -> int:
    """The seed a check draws its cases from: fixed by the check's id, so that editing a
    check's code (hypothesis' own derandomized seed hashes the source) does not change
    which cases it draws; ``--hypothesis-seed`` varies it."""
    from hypothesis import core

    forced = core.global_force_seed
    return zlib.crc32(check_id.encode() if forced is None else f"{check_id}:{forced}".encode())


def seeded_run(fn: Callable[..., Any], check_id: str, **changes: Any) -> Callable[..., Any]:
    """The check ``fn`` as a hypothesis test of its own for one run: the same body, drawing
    ``data`` from its own seed (``check_seed``), with the profile's settings and ``changes``
    (e.g. no shrinking for known failures).

    Made through hypothesis' public API each time (``given``, ``settings``, ``seed``): a
    test's settings can be given only once, and the registered check stays untouched. The
    body is read as ``fn.hypothesis.inner_test`` when the run starts, so a wrapper put there
    (the self-tests count examples so) is the one run. A seed takes precedence over the
    profile's ``derandomize``, which would otherwise seed the run from the body's source."""
    if not is_hypothesis_test(fn):
        return fn  # a check that draws no examples
    run = given(data=st.data())(fn.hypothesis.inner_test)
    if changes:
        run = settings(**changes)(run)
    return seed(check_seed(check_id))(run)


#: After this many checks in a row that each lost the implementation's process (it died
#: or hung every time), the remaining checks are not run: they would only repeat it.
LOST_IN_A_ROW = 3


def skip_reason(check_id: str, subject: Subject, done: dict[str, Outcome]) -> Outcome | None:
    """Not applicable, blocked, or not worth running, decided before running anything."""
    meta = CHECKS[check_id]
    reason = unmet_requirement(meta, subject)
    if reason:
        return Outcome("not_applicable", message=reason)
    for dep in meta.depends_on:
        if dep in done and done[dep].status in FAILING:
            return Outcome("blocked", message=f"blocked by {dep} ({done[dep].status})")
    if subject.lost_in_a_row >= LOST_IN_A_ROW:
        return Outcome("error", message=f"not run: the implementation's worker process was lost in each of the "
                       f"last {subject.lost_in_a_row} checks, so the remaining ones would only repeat it; "
                       f"the last time: {subject.last_loss}")
    return None


def run_check(check_id: str, subject: Subject, *, shrink: bool = True, time_limit: float | None = None,
              **overrides: Any) -> Outcome:
    """Run one check on one subject and return its outcome (never raises for adapter trouble).

    ``time_limit`` (seconds) bounds the check where the implementation runs in a worker
    (default: the sandbox's limit): past it the worker is stopped and the check is an error.
    Whatever the implementation printed during the check is kept with the outcome."""
    fn = CHECK_FUNCTIONS[check_id]
    record = CheckRecord(check_id, CHECKS[check_id])  # what this check notes while it runs
    if not shrink:
        overrides["phases"] = NO_SHRINK
    if CHECKS[check_id].sweep:
        from conformance.cases.sizes import sweep_examples

        overrides["max_examples"] = sweep_examples(overrides.get("max_examples", settings.default.max_examples))
    start = time.perf_counter()
    subject.begin_check(record, time_limit)
    try:
        outcome, lost = _attempt(fn, check_id, subject, record, overrides)
        # Known failures (no shrinking) stop at their first failure; a lost worker would only be lost again.
        floors = _crash_sizes(outcome) if shrink and not lost else None
        if floors:
            with sizes_at_least(**floors):
                elsewhere, lost = _attempt(fn, check_id, subject, record, overrides)  # a worker lost there counts too
            outcome = merge(outcome, elsewhere, "with " + _join(sorted(floors, key=SIZE_FIELDS.index)) + " >= 2")
    except (KeyboardInterrupt, SystemExit):
        subject.end_check()
        raise
    except Exception as exc:  # noqa: BLE001 - the suite's own code failed judging what the check found
        outcome, lost = suite_fault(exc), False
    if lost:
        subject.lost_in_a_row += 1
        subject.last_loss = outcome.message.splitlines()[0]
    else:
        subject.lost_in_a_row = 0
    printed = subject.end_check()
    if printed["bytes"]:
        outcome.output = printed
    if outcome.status == "fail" and CHECKS[check_id].severity == "warning":
        outcome.status = "warn"
    outcome.duration = round(time.perf_counter() - start, 4)
    outcome.measurements = record.measurements
    if outcome.status == "pass" and not outcome.message:
        outcome.message = str(outcome.measurements.get("note", ""))  # what a pass still wants said
    return outcome


def _attempt(fn: Any, check_id: str, subject: Subject, record: CheckRecord,
             overrides: dict[str, Any]) -> tuple[Outcome, bool]:
    """One hypothesis run of a check: its outcome, whatever it raised, and whether the
    implementation's worker process was lost."""
    from conformance.running.isolation import WorkerLost

    try:
        seeded_run(fn, check_id, **overrides)(subject=subject)
    except WorkerLost as exc:
        # The process died or hung: no shrinking (each try would start a process), the
        # case in progress is the counterexample.
        outcome = Outcome("error", message=str(exc))
        if record.spec is not None:
            outcome.counterexample = record.spec.to_json()
        return outcome, True
    except NotApplicable as exc:
        return Outcome("not_applicable", message=str(exc)), False
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure becomes an outcome
        outcome = classify(exc)
        if outcome.counterexample is None and record.spec is not None:
            outcome.counterexample = record.spec.to_json()
        return outcome, False
    return Outcome("pass"), False


def _crash_sizes(outcome: Outcome) -> dict[str, int] | None:
    """When the only failures are adapter errors at the smallest sizes (a crash for a batch
    of one, T = 1 or I = 1), the sizes to search next: every size that was 1 in the crash's
    minimal case, at least 2. Hypothesis already keeps looking after a first failure, but
    a few draws at the other sizes can miss a bug there; this second run looks only there."""
    failures = outcome.failures or [outcome.failure_json()]
    if outcome.status != "error" or any(f["status"] != "error" for f in failures):
        return None
    floors: dict[str, int] = {}
    for failure in failures:
        case = failure.get("counterexample") or {}
        floors.update({name: 2 for name in SIZE_FIELDS if case.get(name) == 1})
    return floors or None


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def grade(subject: Subject, check_ids: Iterable[str] | None = None, **overrides: Any) -> dict[str, Outcome]:
    """Every applicable check on one subject, dependencies first (nothing when the
    implementation could not be loaded: ``subject.load_error`` says why)."""
    load_all()
    if subject.load_error:
        return {}
    wanted = set(check_ids) if check_ids is not None else None
    done: dict[str, Outcome] = {}
    for check_id in ordered_ids():
        if wanted is not None and check_id not in wanted:
            continue
        done[check_id] = skip_reason(check_id, subject, done) or run_check(check_id, subject, **overrides)
    return done
