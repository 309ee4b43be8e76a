"""How many generated examples each mutant needs before each of its checks catches it.

For every mutant of the catalogue (``tests/catches_bugs/mutants.py``)
and every check of its ``caught_by``,
the check runs as grading runs it (same derandomized generation) but without
shrinking, and a counter around the check's body records at which example the
first failure came. Generation is deterministic, so the figure is exactly what
grading needs: a mutant is caught by a profile iff its figure is at most the
profile's ``max_examples``. The figure is measured under each profile's own
budget, because hypothesis plans its search (how many small examples first)
from ``max_examples``. ``test_profiles.py`` asserts that every pair is caught
under the default profile; ``python -m tests.catches_bugs.catch_counts`` prints the table::

    python -m tests.catches_bugs.catch_counts [--profile quick --profile grade ...]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import settings
from hypothesis.errors import UnsatisfiedAssumption

from conformance.grading import engine
from conformance.cases.catalogue import CHECK_FUNCTIONS, CHECKS, unmet_requirement
from conformance.checks import load_all
from conformance.base.profiles import DEFAULT_PROFILE, PROFILES
from conformance.running.subject import Subject
from tests.catches_bugs.mutants import MUTANTS, Mutant


@dataclass
class CatchCount:
    mutant: str
    check: str
    #: 1-based index of the first failing example; None if none failed within ``budget``.
    examples: int | None
    #: Examples generated in all (``examples`` when caught, up to ``budget`` otherwise).
    generated: int
    budget: int
    status: str
    message: str = ""


@contextlib.contextmanager
def counting(fn: Any) -> Iterator[dict[str, Any]]:
    """Count calls of a @given check's body and note the first that raised. A check that
    draws no examples (process.global-state) is counted by the engine's outcome instead."""
    tally: dict[str, Any] = {"calls": 0, "first": None}
    if not hasattr(fn, "hypothesis"):  # a check that draws no examples runs once
        tally["calls"] = 1
        yield tally
        return
    inner = fn.hypothesis.inner_test

    # wraps() keeps the body's signature visible to hypothesis; the engine's seed per
    # check id keeps the generated examples grading's own.
    @functools.wraps(inner)
    def counted(*args: Any, **kwargs: Any) -> Any:
        tally["calls"] += 1
        try:
            return inner(*args, **kwargs)
        except UnsatisfiedAssumption:
            raise  # a rejected draw, not a failure
        except Exception:
            if tally["first"] is None:
                tally["first"] = tally["calls"]
            raise

    fn.hypothesis.inner_test = counted
    try:
        yield tally
    finally:
        fn.hypothesis.inner_test = inner


def examples_to_catch(mutant: Mutant, check_id: str, max_examples: int) -> CatchCount:
    """Run ``check_id`` on ``mutant`` as grading does, without shrinking, and count."""
    load_all()
    subject = Subject(mutant.id, mutant.adapter())
    reason = unmet_requirement(CHECKS[check_id], subject)
    if reason:
        return CatchCount(mutant.id, check_id, None, 0, max_examples, "not_applicable", reason)
    with counting(CHECK_FUNCTIONS[check_id]) as tally:
        # The settings that decide which examples are generated are pinned, whatever
        # profile was loaded when the check module was imported.
        outcome = engine.run_check(check_id, subject, shrink=False, max_examples=max_examples,
                                   derandomize=True, database=None)
    first = tally["first"]
    if first is None and outcome.status in ("fail", "error", "warn"):
        first = 1  # raised outside the check's body (building the case), or a check without examples
    return CatchCount(mutant.id, check_id, first, first or tally["calls"], max_examples, outcome.status,
                      outcome.message.splitlines()[0] if outcome.message else "")


def all_counts(profile: str, mutants: list[Mutant] | None = None) -> list[CatchCount]:
    """Every (mutant, caught_by check) pair under one profile's example budget."""
    budget = PROFILES[profile].max_examples
    return [examples_to_catch(m, check_id, budget)
            for m in (MUTANTS if mutants is None else mutants) for check_id in sorted(m.caught_by)]


def _cell(c: CatchCount) -> str:
    if c.examples is not None:
        return str(c.examples)
    return "n/a here" if c.status == "not_applicable" else "missed"


def table(by_profile: dict[str, list[CatchCount]]) -> str:
    """One row per (mutant, check): examples to the first failure under each profile."""
    names = list(by_profile)
    heads = "".join(f" {f'{n} ({by_profile[n][0].budget})' if by_profile[n] else n:>15}" for n in names)
    lines = [f"{'mutant':<26} {'check':<38}{heads}"]
    rows = zip(*(by_profile[n] for n in names))
    for row in rows:
        cells = "".join(f" {_cell(c):>15}" for c in row)
        lines.append(f"{row[0].mutant:<26} {row[0].check:<38}{cells}")
    for name in names:
        found = sorted(c.examples for c in by_profile[name] if c.examples is not None)
        missed = sum(c.examples is None and c.status != "not_applicable" for c in by_profile[name])
        if found:
            lines.append(f"{name}: {len(by_profile[name])} pairs, caught {len(found)} (max {found[-1]} examples, "
                         f"median {found[len(found) // 2]}), missed {missed}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.catches_bugs.catch_counts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", action="append", choices=list(PROFILES),
                        help="profile(s) to measure (default: all)")
    args = parser.parse_args(argv)
    settings.load_profile(DEFAULT_PROFILE)  # the settings each run starts from (engine.seeded_run)
    print(table({name: all_counts(name) for name in args.profile or PROFILES}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
