"""Running checks in-process, outside pytest's collection: the same check
functions, the same outcome rules. The pytest plugin uses ``run_check`` for
each item; the self-tests use ``grade`` to grade mutants and references."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from typing import Any

from hypothesis import Phase, settings

from conformance.catalogue import CHECK_FUNCTIONS, CHECKS, load_all, ordered_ids, unmet_requirement
from conformance.outcome import FAILING, Outcome, classify
from conformance.subject import Subject

NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


@contextlib.contextmanager
def hypothesis_overrides(fn: Any, **changes: Any) -> Iterator[None]:
    """Temporarily change one @given test's settings (e.g. no shrinking for known failures)."""
    if not changes or not hasattr(fn, "_hypothesis_internal_use_settings"):
        yield  # nothing to change, or a check that draws no examples
        return
    attr = "_hypothesis_internal_use_settings"
    original = getattr(fn, attr)
    setattr(fn, attr, settings(original, **changes))
    try:
        yield
    finally:
        setattr(fn, attr, original)


def skip_reason(check_id: str, subject: Subject, done: dict[str, Outcome]) -> Outcome | None:
    """Not applicable or blocked, decided before running anything."""
    meta = CHECKS[check_id]
    reason = unmet_requirement(meta, subject)
    if reason:
        return Outcome("not_applicable", message=reason)
    for dep in meta.depends_on:
        if dep in done and done[dep].status in FAILING:
            return Outcome("blocked", message=f"blocked by {dep} ({done[dep].status})")
    return None


def run_check(check_id: str, subject: Subject, *, shrink: bool = True, time_limit: float | None = None,
              **overrides: Any) -> Outcome:
    """Run one check on one subject and return its outcome (never raises for adapter trouble).

    ``time_limit`` (seconds) bounds the check where the implementation runs in a worker
    (default: the sandbox's limit): past it the worker is stopped and the check is an error.
    Whatever the implementation printed during the check is kept with the outcome."""
    from conformance.isolation import WorkerLost

    fn = CHECK_FUNCTIONS[check_id]
    subject.measurements.pop(check_id, None)
    subject.current_spec = None
    if not shrink:
        overrides["phases"] = NO_SHRINK
    if CHECKS[check_id].sweep:
        from conformance.sizes import sweep_examples

        overrides["max_examples"] = sweep_examples(overrides.get("max_examples", settings.default.max_examples))
    start = time.perf_counter()
    subject.begin_check(check_id, time_limit)
    try:
        with hypothesis_overrides(fn, **overrides):
            fn(subject=subject)
    except WorkerLost as exc:
        # The process died or hung: no shrinking (each try would start a process), the
        # case in progress is the counterexample.
        outcome = Outcome("error", message=str(exc))
        if subject.current_spec is not None:
            outcome.counterexample = subject.current_spec.to_json()
    except (KeyboardInterrupt, SystemExit):
        subject.end_check()
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure becomes an outcome
        outcome = classify(exc)
        if outcome.counterexample is None and subject.current_spec is not None:
            outcome.counterexample = subject.current_spec.to_json()
    else:
        outcome = Outcome("pass")
    printed = subject.end_check()
    if printed["bytes"]:
        outcome.output = printed
    if outcome.status == "fail" and CHECKS[check_id].severity == "warning":
        outcome.status = "warn"
    outcome.duration = round(time.perf_counter() - start, 4)
    outcome.measurements = subject.measurements.pop(check_id, {})
    return outcome


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
