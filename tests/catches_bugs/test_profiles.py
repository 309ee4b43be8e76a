"""The hypothesis profiles: what each promises, that the default one catches every
mutant (and after how many examples), and that known failures are not shrunk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import Phase

from conformance.grading import engine
from conformance.cases.catalogue import CHECK_FUNCTIONS
from conformance.checks import load_all
from conformance.base.profiles import DEFAULT_PROFILE, PROFILES
from conformance.running.subject import Subject
from tests.catches_bugs.catch_counts import counting, examples_to_catch
from tests.catches_bugs.mutants import MUTANTS, MUTANTS_BY_ID, Mutant, mutant_params


ROOT = Path(__file__).resolve().parents[2]
CHECKS_DIR = ROOT / "conformance" / "checks"


def test_profiles_promise_reproducible_grading():
    """quick < grade < thorough; all derandomized, with no example database and no
    per-example deadline; grade is the default."""
    budgets = [PROFILES[name].max_examples for name in ("quick", "grade", "thorough")]
    assert budgets == sorted(budgets) and len(set(budgets)) == 3, f"got max_examples {budgets}, but should increase"
    assert DEFAULT_PROFILE == "grade", f"got default profile {DEFAULT_PROFILE!r}, but should be 'grade'"
    for name, profile in PROFILES.items():
        got = (profile.derandomize, profile.database, profile.deadline)
        assert got == (True, None, None), f"got (derandomize, database, deadline) = {got} in {name}, but should be (True, None, None)"
        assert Phase.shrink in profile.phases, f"got phases {profile.phases} in {name}, but failures should be shrunk"
    for name in ("quick", "grade"):
        # The explain phase re-runs a failing check ~100-400 times to annotate the report: seconds per failure.
        assert Phase.explain not in PROFILES[name].phases, f"got the explain phase in {name}, but it should be off"


@pytest.mark.slow
def test_profile_option_reaches_hypothesis(tmp_path):
    """--profile quick is registered before hypothesis' own plugin loads it, and is recorded."""
    results = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "conformance", "grade", "torch-gru", "--profile", "quick",
                           "--no-html", "--results", str(results), "-k", "test_dtype_preserved"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"got exit code {proc.returncode}, but should be 0 [{proc.stdout[-1500:]}{proc.stderr[-1500:]}]"
    profile = json.loads(results.read_text())["environment"]["hypothesis_profile"]
    assert profile == "quick", f"got profile {profile!r} in the results, but should be 'quick'"


@pytest.mark.parametrize("mutant", mutant_params(MUTANTS))
def test_default_profile_catches_each_mutant(mutant: Mutant, record_property):
    """Every check of a mutant's caught_by fails within the default profile's example
    budget; the number of examples each needed is recorded (JUnit property
    ``examples_to_catch``; ``python -m tests.catches_bugs.catch_counts`` prints them all). Checks
    that do not apply on this machine (a device it lacks) are left out."""
    budget = PROFILES[DEFAULT_PROFILE].max_examples
    counts = [examples_to_catch(mutant, check_id, budget) for check_id in sorted(mutant.caught_by)]
    counts = [c for c in counts if c.status != "not_applicable"]
    if not counts:
        pytest.skip(f"none of {sorted(mutant.caught_by)} applies on this machine")
    record_property("examples_to_catch", json.dumps({c.check: c.examples for c in counts}))
    missed = [f"{c.check} ({c.status} after {c.generated} examples)" for c in counts if c.examples is None]
    assert not missed, (f"got {', '.join(missed)} on mutant {mutant.id}, but each should fail within "
                        f"{budget} examples (the {DEFAULT_PROFILE} profile's max_examples)")
    for c in counts:
        assert c.examples <= budget, f"got {c.examples} examples for {c.check} on {mutant.id}, but should be <= {budget}"


class RecordingSubject(Subject):
    """Keeps every case a check draws, in order."""

    def note_case(self, spec):
        super().note_case(spec)
        if spec is not None:
            self.drawn.append(spec)


def _drawn(mutant: Mutant, check_id: str, budget: int, *, counted: bool) -> tuple[list, dict | None]:
    subject = RecordingSubject.__new__(RecordingSubject)
    subject.drawn = []
    Subject.__init__(subject, mutant.id, mutant.adapter())
    run = lambda: engine.run_check(check_id, subject, shrink=False, max_examples=budget,  # noqa: E731
                                   derandomize=True, database=None)
    if not counted:
        return (run(), subject.drawn), None
    with counting(CHECK_FUNCTIONS[check_id]) as tally:
        outcome = run()
    return (outcome, subject.drawn), tally


def test_counting_sees_the_examples_grading_sees():
    """The counter keeps the derandomized seed: the same cases are drawn with and without
    it, and the failure comes at the counted example."""
    mutant, check_id = MUTANTS_BY_ID["output-time-major"], "equations.sequence"
    budget = PROFILES[DEFAULT_PROFILE].max_examples
    (plain, plain_drawn), _ = _drawn(mutant, check_id, budget, counted=False)
    (outcome, drawn), tally = _drawn(mutant, check_id, budget, counted=True)
    assert drawn == plain_drawn, f"got cases {drawn[:3]}..., but should be grading's own {plain_drawn[:3]}..."
    assert plain.status == outcome.status == "fail", f"got {plain.status} and {outcome.status}, but should fail"
    assert tally["first"] is not None and tally["first"] > 1, f"got first failure at {tally['first']}, but should need several"
    # The failing case is the last one drawn before hypothesis replays it.
    assert drawn[tally["first"] - 1] == drawn[-1], (
        f"got {drawn[tally['first'] - 1]} at the counted example, but the failing (replayed) case is {drawn[-1]}")


def _known_failure_run(pytester: pytest.Pytester, known: bool) -> tuple[dict, dict]:
    load_all()
    fn = CHECK_FUNCTIONS["bounds.unit-interval"]
    args = [str(CHECKS_DIR), "-p", "conformance.commands.grading_plugin", "--impl", "doc000-cell", "-k",
            "test_states_stay_in_unit_interval", "--results", str(pytester.path / "results.json")]
    if known:
        listing = pytester.path / "known.txt"
        listing.write_text("doc000-cell::bounds.unit-interval  # h - z + z*n leaves [-1, 1]\n")
        args += ["--known-failures", str(listing)]
    with counting(fn) as tally:
        pytester.runpytest_inprocess(*args)
    results = json.loads((pytester.path / "results.json").read_text())
    return tally, results["implementations"][0]["checks"]["bounds.unit-interval"]


@pytest.mark.slow
def test_known_failures_are_not_shrunk(pytester: pytest.Pytester):
    """A check listed in --known-failures stops at its first failing example (plus
    hypothesis' one replay of it); unlisted, the same failure is shrunk."""
    known, known_outcome = _known_failure_run(pytester, known=True)
    shrunk, shrunk_outcome = _known_failure_run(pytester, known=False)
    assert known_outcome["status"] == "xfail", f"got {known_outcome['status']}, but a listed failure should be xfail"
    assert shrunk_outcome["status"] == "fail", f"got {shrunk_outcome['status']}, but should be fail"
    assert known["first"] is not None and known["calls"] <= known["first"] + 1, (
        f"got {known['calls']} runs of the check after its first failure at example {known['first']}, "
        f"but a known failure should not be shrunk (at most one replay)")
    assert shrunk["calls"] > known["calls"], (
        f"got {shrunk['calls']} runs unlisted and {known['calls']} listed, but shrinking should take more")


def test_each_check_draws_from_a_seed_of_its_own():
    """A check's cases come from a seed fixed by its id, not by its source code (refactoring
    a check does not change what it draws); ``--hypothesis-seed`` changes every seed."""
    from hypothesis import core

    seeds = {check_id: engine.check_seed(check_id) for check_id in ("equations.step", "equations.sequence")}
    assert len(set(seeds.values())) == 2, f"got seeds {seeds}, but two checks should draw from two seeds"
    assert engine.check_seed("equations.step") == seeds["equations.step"], "got another seed for the same check"
    saved, core.global_force_seed = core.global_force_seed, 12345
    try:
        given = engine.check_seed("equations.step")
    finally:
        core.global_force_seed = saved
    assert given != seeds["equations.step"], f"got seed {given} with --hypothesis-seed 12345, but should be another"
