"""Correct implementations pass: every independently written correct GRU of
``tests/passes_correct/correct.py`` and the torch references get no failure on any applicable check
and the verdict "conformant-pytorch". A failure here is a false alarm of the suite."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conformance.grading.engine import grade
from conformance.grading.loading import load_subject
from conformance.base.params import CanonicalParams
from conformance.grading.results import overall_verdict
from conformance.running.subject import Subject
from tests.passes_correct.correct import CORRECT, ComplementCell, ComplementGRUCell, ZRNCell, ZRNGRUCell, _tensor

#: Registry references graded alongside.
REFERENCES = ["torch-gru", "torch-grucell"]


def subjects() -> list:
    """Every correct implementation; the quick subset (``-m "not slow"``) grades torch-gru."""
    names = [c.id for c in CORRECT] + list(REFERENCES)
    return [pytest.param(n, id=n, marks=() if n == "torch-gru" else pytest.mark.slow) for n in names]


def make_subject(name: str) -> Subject:
    by_id = {c.id: c for c in CORRECT}
    if name in by_id:
        return Subject(name, by_id[name].adapter())
    return load_subject(name)


@pytest.mark.parametrize("name", subjects())
def test_correct_implementation_conforms(name: str):
    """No check fails, errors or is blocked; the white-box equation checks really ran
    (pass, not "not applicable"); the verdict is conformant-pytorch."""
    subject = make_subject(name)
    outcomes = grade(subject)
    bad = {cid: f"{o.status}: {o.message.splitlines()[0] if o.message else ''}"
           for cid, o in outcomes.items() if o.status in ("fail", "error", "blocked", "warn")}
    assert not bad, f"got {bad} on the correct implementation {name}, but should pass every applicable check"
    for cid in ("equations.step", "equations.sequence", "equations.torch-reference"):
        assert outcomes[cid].status == "pass", f"got {cid}={outcomes[cid].status} on {name}, but should be pass"
    verdict = overall_verdict(subject.reset, subject.white_box, outcomes)
    assert verdict == "conformant-pytorch", f"got verdict {verdict!r} for {name}, but should be 'conformant-pytorch'"


class ComplementCellAsIs(ComplementCell):
    """The complement cell loaded without negating the update gate."""

    def load(self, cell: ComplementGRUCell, params: CanonicalParams) -> None:
        with torch.no_grad():
            for linear, part in ((cell.x2h, "ih"), (cell.h2h, "hh")):
                linear.weight.copy_(_tensor(params.get(f"weight_{part}"), linear.weight))
                linear.bias.copy_(_tensor(params.get(f"bias_{part}"), linear.bias))


class ZRNCellUnordered(ZRNCell):
    """The z, r, n cell loaded with canonical r, z, n rows as they are."""

    def load(self, cell: ZRNGRUCell, params: CanonicalParams) -> None:
        with torch.no_grad():
            for target, kind in ((cell.W, "weight_ih"), (cell.R, "weight_hh"), (cell.Wb, "bias_ih"),
                                 (cell.Rb, "bias_hh")):
                target.copy_(_tensor(np.asarray(params.get(kind)), target))


@pytest.mark.parametrize("adapter", [ComplementCellAsIs, ZRNCellUnordered], ids=lambda a: a.__name__)
def test_conversion_on_load_is_what_makes_it_correct(adapter):
    """Without its conversion (negated update gate, reordered gates) the same cell fails
    equations.step: the correct implementations above pass because of the conversion,
    and the check sees the difference."""
    outcome = grade(Subject(adapter.__name__, adapter()), ["equations.step"], shrink=False)["equations.step"]
    assert outcome.status == "fail", f"got equations.step={outcome.status} for {adapter.__name__}, but should be fail"
