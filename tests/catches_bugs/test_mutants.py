"""The suite catches every mutant of ``tests/catches_bugs/mutants.py`` with the checks its catalogue
entry names, and every check of the catalogue catches at least one mutant: a check
no mutant fails is untested, and a mutant no check fails is a blind spot."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from conformance.model.contract import Capabilities, CellAdapter, LayerAdapter
from conformance.cases.generated import CaseSpec
from conformance.cases.catalogue import unmet_requirement
from conformance.checks import load_all
from conformance.grading.engine import grade
from conformance.grading.outcome import Outcome
from conformance.running.subject import Subject
from tests.catches_bugs.mutants import FORWARD_MUTANTS, MUTANTS, Mutant, grade_mutant, mutant_params

CHECKS = load_all()


def failed(check_id: str, outcome: Outcome) -> bool:
    """Status "fail" or "error"; for a warning-level check its failed state is "warn"."""
    if outcome.status in ("fail", "error"):
        return True
    return outcome.status == "warn" and CHECKS[check_id].severity == "warning"


#: Words a failure message of a check must contain: it names what the check's statement is
#: about. Looked up by check id, then by family; otherwise the message names output or h_n.
AREA_WORDS: dict[str, tuple[str, ...]] = {
    "contract.output-shape": ("shape",),
    "contract.dtype": ("dtype",),
    "contract.inputs-unchanged": ("modified",),
    "contract.unbatched": ("unbatched", "shape"),
    "bounds": ("[-1, 1]", "finite"),
    "gradients": ("grad", "Jacobian"),
    "process": ("process-wide state",),
}
DEFAULT_AREA_WORDS = ("output", "h_n")


def area_words(check_id: str) -> tuple[str, ...]:
    return AREA_WORDS.get(check_id) or AREA_WORDS.get(check_id.split(".", 1)[0]) or DEFAULT_AREA_WORDS


class ClaimsEverything(LayerAdapter):
    """Claims every capability (and loads, reads gradients, takes lengths): a check that
    still does not apply to it cannot run on this machine (a device it lacks)."""

    capabilities = Capabilities(**{
        f.name: (f.name != "h0_shared" if isinstance(f.default, bool) else
                 (torch.float32, torch.float64, torch.float16, torch.bfloat16) if f.name == "dtypes" else
                 ("cpu", "cuda", "mps") if f.name == "devices" else f.default)
        for f in dataclasses.fields(Capabilities)})

    def load(self, instance, params):
        raise NotImplementedError

    def grads(self, instance):
        raise NotImplementedError

    def run_lengths(self, gru, x, lengths, h0):
        raise NotImplementedError


def runnable_here() -> dict[str, str]:
    """Check ids that can run on this machine -> "" ; the others -> why not."""
    everything = Subject("claims-everything", ClaimsEverything())
    return {cid: unmet_requirement(meta, everything) or "" for cid, meta in CHECKS.items()}


def test_catalogue_is_well_formed():
    """At least 14 mutants with unique ids, each a white-box adapter with its bug, report,
    truth and a non-empty caught_by naming real checks."""
    assert len(MUTANTS) >= 14, f"got {len(MUTANTS)} mutants, but should be at least 14"
    ids = [m.id for m in MUTANTS]
    assert len(set(ids)) == len(ids), f"got duplicate mutant ids {sorted(i for i in ids if ids.count(i) > 1)}"
    for m in MUTANTS:
        assert issubclass(m.adapter, (CellAdapter, LayerAdapter)), \
            f"got {m.adapter!r} for {m.id}, but should be a CellAdapter or LayerAdapter subclass"
        assert m.adapter.is_white_box(), f"got a black-box adapter for {m.id}, but mutants load parameters"
        assert m.bug and m.source and m.truth, f"got an empty bug/source/truth for {m.id}"
        assert m.caught_by, f"got an empty caught_by for {m.id}, but every mutant must be caught"
        unknown = (m.caught_by | m.may_also_fail) - set(CHECKS)
        assert not unknown, f"got unknown check ids {sorted(unknown)} in {m.id}, but should name catalogue checks"


def test_every_check_is_caught_by_some_mutant():
    """Every check in the catalogue that can run on this machine is in some mutant's
    caught_by (test_mutant_is_caught then shows it really fails there). Checks for a device
    the machine lacks are not applicable to any implementation here, so none can fail them."""
    covered = set().union(*(m.caught_by for m in MUTANTS))
    runnable = runnable_here()
    uncaught = sorted(cid for cid, reason in runnable.items() if not reason and cid not in covered)
    assert not uncaught, (f"got checks that no mutant must fail: {uncaught}, but every check should be "
                          f"in some mutant's caught_by (add a mutant with the bug the check exists for)")
    unrunnable = {cid: reason for cid, reason in runnable.items() if reason}
    assert all("device" in reason for reason in unrunnable.values()), (
        f"got checks that apply to no implementation here for other reasons than a missing device: "
        f"{unrunnable}, but claims should be able to meet every other requirement")


def _summary(outcomes: dict[str, Outcome]) -> str:
    return "; ".join(f"{cid}={o.status}" for cid, o in outcomes.items())


@pytest.mark.parametrize("mutant", mutant_params(FORWARD_MUTANTS))
def test_mutant_is_caught(mutant: Mutant):
    """Graded (``grade_mutant``), the mutant fails (or errors on) every check of
    its caught_by; its failures read as failures of those checks, and the suite itself
    neither crashes nor fails contract checks the bug does not touch."""
    outcomes = grade_mutant(mutant)
    failing = {cid for cid, o in outcomes.items() if failed(cid, o)}

    missed = sorted(mutant.caught_by - failing)
    assert not missed, (f"got {', '.join(f'{c}={outcomes[c].status}' for c in missed)} on mutant {mutant.id} "
                        f"({mutant.truth}), but should be fail or error [grade: {_summary(outcomes)}]")

    internal = {cid: o.message for cid, o in outcomes.items() if "internal error in the suite" in o.message}
    assert not internal, f"got internal errors {internal} on mutant {mutant.id}, but should be none"

    stray = sorted(c for c in failing if CHECKS[c].family in ("contract", "process"))
    stray = [c for c in stray if c not in mutant.caught_by | mutant.may_also_fail]
    assert not stray, (f"got contract or process failures {stray} on mutant {mutant.id} ({mutant.truth}), but its bug "
                       f"should not break them: {[outcomes[c].message.splitlines()[0] for c in stray]}")

    for cid in sorted(failing):
        outcome = outcomes[cid]
        first = outcome.message.splitlines()[0] if outcome.message else ""
        words = area_words(cid)
        # An adapter that raises (a crash at some sizes) speaks for itself: its message is the
        # exception and the call, whichever check reached it.
        assert outcome.status == "error" or any(w in outcome.message for w in words), (
            f"got {cid} message {first!r} on mutant {mutant.id}, but should name one of {words}")
        if outcome.status == "error":  # the adapter raised or returned something unreadable: say where
            assert "[" in outcome.message, f"got {cid} error {first!r} on {mutant.id}, but should name the call"
        else:
            assert "should" in outcome.message, (
                f"got {cid} message {first!r} on mutant {mutant.id}, but should read 'got X, but should be Y'")
        if outcome.status != "error":
            assert outcome.counterexample is not None, (
                f"got no counterexample for {cid} on mutant {mutant.id}, but a failure should carry its "
                f"minimal case")


def test_reset_before_mutant_computes_the_reset_before_variant():
    """The reset-before mutant is the reset-before GRU (eq. 3'), exactly: what equations.step
    catches is the claim ("after") not matching, not some other slip."""
    mutant = next(m for m in MUTANTS if m.id == "reset-before")
    subject = Subject(mutant.id, mutant.adapter())
    for seed in range(5):
        spec = CaseSpec(steps=4, batch=3, input_size=2, hidden_size=3, num_layers=2, bidirectional=True,
                        dtype="float64", seed=seed)
        case = spec.materialize()
        got, want = subject.run_case(case), case.oracle("before")
        error = float(np.abs(got.output - want.output).max())
        assert error <= 1e-12, f"got the mutant off the reset-before oracle by {error:.3g}, but should equal it [{spec!r}]"


def test_stale_workspace_is_wrong_only_from_batch_three():
    """stale-workspace's bug needs B >= 3: two calls without h0 agree for B = 1, 2 and
    disagree for B = 3 (what the batch sizes drawn up to 4 are for)."""
    mutant = next(m for m in MUTANTS if m.id == "stale-workspace")
    subject = Subject(mutant.id, mutant.adapter())
    for batch, stale in ((1, False), (2, False), (3, True)):
        spec = CaseSpec(steps=3, batch=batch, input_size=2, hidden_size=2, dtype="float64", seed=11, with_h0=False)
        case = spec.materialize()
        instance = subject.instantiate(case)
        first, second = subject.call(instance, case.x, None), subject.call(instance, case.x, None)
        differs = not np.array_equal(first.output, second.output)
        assert differs == stale, (f"got repeated calls {'different' if differs else 'equal'} for B = {batch}, "
                                  f"but should be {'different' if stale else 'equal'} [{spec!r}]")


@pytest.mark.parametrize("mutant_id, check_id, axis, onset", [
    ("hidden-tail-tile", "equations.sizes", "hidden_size", 17),
    ("batch-tile-h0", "sequence.sizes", "batch", 7),
    ("chunk-state-dropped", "directions.sizes", "steps", 33),
])
@pytest.mark.slow
def test_size_sweep_shrinks_to_where_the_failure_starts(mutant_id: str, check_id: str, axis: str, onset: int):
    """A size-sweep failure is shrunk to the smallest size that shows it (one past the
    mutant's tile or chunk width), and its message says the failure starts there."""
    from tests.catches_bugs.mutants import MUTANTS_BY_ID

    mutant = MUTANTS_BY_ID[mutant_id]
    outcome = grade(Subject(mutant_id, mutant.adapter()), [check_id])[check_id]
    assert outcome.status == "fail", f"got {check_id}={outcome.status} on {mutant_id}, but should be fail"
    got = outcome.counterexample[axis]
    assert got == onset, f"got a counterexample with {axis}={got} on {mutant_id}, but should shrink to {onset}"
    assert f"the failure starts at {axis}" in outcome.message and f"= {onset}: with {onset - 1} it passes" in \
        outcome.message, f"got message {outcome.message!r}, but should say the failure starts at {axis} = {onset}"
