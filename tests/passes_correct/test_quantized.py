"""A quantized deployment (int8 dynamic quantization, ``tests/passes_correct/quantized.py``): claimed as
float32 it is nonconformant and its diagnosis says precision loss, with its size, not a
layout bug; claiming the precision it gives (``precision="int8-dynamic"``) it is graded
against that precision's measured tolerances and conforms, and a real bug still fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.model.contract import Capabilities
from conformance.diagnosis import diagnose
from conformance.grading.engine import grade
from conformance.grading.loading import load_subject
from conformance.grading.results import implementation_record, overall_verdict

QUANTIZED = Path(__file__).resolve().parent / "quantized.py"
#: The comparisons the claim changes (step, sequence, against itself, sizes).
CHECKS = ["equations.step", "equations.sequence", "sequence.batch-independence", "sequence.stepwise",
          "precision.float32", "precision.sizes"]


def graded(name: str) -> tuple[str, dict]:
    subject = load_subject(f"{QUANTIZED}:{name}")
    # Statuses are what is asserted: no shrinking, few examples (each fails at its first).
    outcomes = grade(subject, CHECKS, max_examples=4, deadline=None, shrink=False)
    return overall_verdict(subject.reset, subject.white_box, outcomes), outcomes


def test_float32_claim_is_diagnosed_as_a_precision_loss_with_its_size():
    diagnosis = diagnose(load_subject(f"{QUANTIZED}:Int8DynamicGRU"))
    summary = diagnosis["summary"]
    assert summary.startswith("precision loss: its float32 results are off by up to "), \
        f"got {summary!r}, but it should lead with the precision loss"
    size = float(re.search(r"off by up to ([0-9.e+-]+)", summary).group(1))
    assert 1e-3 <= size <= 5e-2, f"got a loss of {size}, but int8 weights give about 1e-2 ({summary!r})"
    assert "int8 quantization" in summary and 'precision="int8-dynamic"' in summary, \
        f"got {summary!r}, but it should name int8 quantization and the claim that grades it"
    for misleading in ("explained by", "batch_first", "matches none"):
        assert misleading not in summary, f"got {summary!r}, which sends the user after {misleading!r}"
    assert diagnosis["status"] == "identified", f"got status {diagnosis['status']!r}"


@pytest.mark.parametrize("name, verdict, failing", [
    ("Int8DynamicGRU", "nonconformant", {"equations.step", "precision.float32"}),
    ("Int8DynamicGRUClaimed", "conformant-pytorch", set()),
    ("Int8DynamicSwappedGates", "nonconformant", {"equations.step"}),
])
def test_the_int8_claim_is_graded_against_its_tolerances(name: str, verdict: str, failing: set):
    got, outcomes = graded(name)
    statuses = {cid: o.status for cid, o in outcomes.items()}
    assert got == verdict, f"got {got} ({statuses}) for {name}, but should be {verdict}"
    failed = {cid for cid, status in statuses.items() if status == "fail"}
    assert failing <= failed, f"got failures {failed} for {name}, but {failing} must fail"


def test_the_claim_is_stated_and_checked():
    subject = load_subject(f"{QUANTIZED}:Int8DynamicGRUClaimed")
    record = implementation_record("q", info=subject.info, checks={})
    assert record["claimed_variant"].endswith("at int8-dynamic precision for float32 inputs"), \
        f"got {record['claimed_variant']!r}, but the record should state the precision claimed"
    assert "conforms" in diagnose(subject)["summary"], "claimed, the quantized GRU's diagnosis finds nothing"
    with pytest.raises(ValueError, match="precision='int4'"):
        Capabilities(precision="int4")
