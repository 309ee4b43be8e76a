"""The registry's expectations hold: grading each registered implementation finds
exactly the failures its entry says the suite must find, no more and no fewer; the
document implementations are graded in the configurations their documents use."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from conformance.cases.generated import CaseSpec
from conformance.grading.engine import grade
from conformance.grading.loading import registry, resolve_object, load_subject
from conformance.base.conventions import VERDICTS
from conformance.grading.results import overall_verdict, score
from conformance.base.tolerances import tolerance

ENTRIES = registry()


def failing_checks(outcomes) -> set[str]:
    return {cid for cid, o in outcomes.items() if o.status in ("fail", "error")}


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_failures_match_expected_failures(entry):
    """The checks that fail or error on the implementation are exactly the keys of its
    Entry.expected_failures: an unexpected failure is a bug in the suite or a wrong
    entry, a missing one is a bug the suite stopped finding."""
    outcomes = grade(load_subject(entry.id))
    failing = failing_checks(outcomes)
    expected = set(entry.expected_failures)
    unexpected = {c: outcomes[c].message.splitlines()[0] for c in sorted(failing - expected)}
    missing = {c: outcomes[c].status for c in sorted(expected - failing) if c in outcomes}
    unknown = sorted(expected - set(outcomes))
    assert not unexpected and not missing and not unknown, (
        f"got failing checks {sorted(failing)} for {entry.id}, but should be exactly {sorted(expected)}: "
        f"unexpected {unexpected}; expected but {missing}; expected but not in the catalogue {unknown}")
    _readme_row_states(entry.id, outcomes)


def _readme_row_states(impl_id: str, outcomes) -> None:
    """The README's registered-implementations table says what grading found: the verdict,
    the score and each failing or warning check (held here, where grading is done anyway)."""
    subject = load_subject(impl_id)
    verdict = VERDICTS[overall_verdict(subject.reset, subject.white_box, outcomes, update=subject.update)].text
    tally = score(outcomes)
    row = next((line for line in REGISTERED_TABLE if f"`{impl_id}`" in line), None)
    assert row is not None, f"got no row for {impl_id} in the README's registered table, but each entry needs one"
    said = row.split(" | ")[-1]
    assert verdict in said, f"got README verdict {said!r} for {impl_id}, but grading says {verdict!r}"
    assert f"{tally.passed}/{tally.applicable}" in said, (
        f"got README score {said!r} for {impl_id}, but grading scores {tally.passed}/{tally.applicable}")
    named = sorted(c for c, o in outcomes.items() if o.status in ("fail", "error", "warn"))
    unnamed = [c for c in named if f"`{c}`" not in row]
    assert not unnamed, f"got {unnamed} failing or warning on {impl_id} but not named in its README row {said!r}"


README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
REGISTERED_TABLE = README.split("## Registered implementations", 1)[1].split("\n## ", 1)[0].splitlines()


#: Document 002 runs its GRUModel with n_layers in {1, 2} and bidirectional in {False, True}.
DOC002_CONFIGURATIONS = [(layers, bidirectional) for layers in (1, 2) for bidirectional in (False, True)]


@pytest.mark.parametrize("layers,bidirectional", DOC002_CONFIGURATIONS,
                         ids=[f"{n}-layer-{'bi' if b else 'uni'}" for n, b in DOC002_CONFIGURATIONS])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_doc002_matches_the_oracle_in_its_configurations(layers, bidirectional, dtype):
    """doc002-gru's output and h_n equal the oracle's in each of the document's four
    configurations, from h0 = zeros as the document runs it and from a random h0."""
    subject = load_subject("doc002-gru")
    tol = tolerance(dtype, "sequence")
    for with_h0 in (False, True):
        spec = CaseSpec(steps=7, batch=3, input_size=4, hidden_size=5, num_layers=layers,
                        bidirectional=bidirectional, dtype=dtype, seed=2002 + 10 * layers + bidirectional,
                        with_h0=with_h0)
        case = spec.materialize()
        got = subject.run_case(case)
        want = case.oracle("after")
        for what, g, w in (("output", got.output, want.output), ("h_n", got.h_n, want.h_n)):
            assert g.shape == w.shape, f"got {what} shape {g.shape}, but should be {w.shape} [{got.call}] {spec!r}"
            error = float(np.abs(g - w).max())
            assert np.all(np.abs(g - w) <= tol.bound(w)), (
                f"got {what} off the oracle by {error:.3g}, but should be within {tol} [{got.call}] {spec!r}")


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_adapter_docstring_names_its_document(entry):
    """An adapter for a graded document says which document it is ("document 002" for
    seeds/002_...); one without a document says what it wraps."""
    adapter = resolve_object(entry.adapter)
    doc = adapter.__doc__ or ""
    if entry.document:
        number = re.search(r"(\d{3})_", entry.document)
        assert number, f"got document {entry.document!r} for {entry.id}, but should name seeds/NNN_..."
        assert re.search(rf"\bdocument {number.group(1)}\b", doc, re.IGNORECASE), (
            f"got docstring {doc!r} for {entry.adapter}, but should name document {number.group(1)}")
    else:
        assert doc.strip(), f"got no docstring for {entry.adapter}, but should say what it wraps"
