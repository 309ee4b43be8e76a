"""The documented examples (``examples/``) are graded and held to their verdicts: a NumPy
cell with per-gate parameters, a function of a parameter list, a cell in the complement
update polarity, an encoder that returns only its final state. Each uses ``conformance.layouts`` for its parameter layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.grading.engine import grade
from conformance.grading.loading import load_subject
from conformance.grading.results import overall_verdict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: example spec -> the verdict it must get.
EXPECTED = {
    "numpy_cell.py:NumpyCell": "conformant-pytorch",
    "function_gru.py:FunctionGRU": "conformant-reset-before",
    "complement_cell.py:ComplementCell": "conformant-reset-before-complement",
    "final_state_model.py:EncoderAdapter": "conformant-pytorch",
}


@pytest.mark.slow
@pytest.mark.parametrize("spec", list(EXPECTED))
def test_example_gets_its_verdict(spec: str):
    subject = load_subject(f"{EXAMPLES / spec}")
    outcomes = grade(subject, max_examples=8)
    bad = {cid: f"{o.status}: {o.message[:200]}" for cid, o in outcomes.items()
           if o.status in ("fail", "error", "blocked")}
    verdict = overall_verdict(subject.reset, subject.white_box, outcomes, update=subject.update)
    assert verdict == EXPECTED[spec], f"got {verdict} for examples/{spec} ({bad}), but should be {EXPECTED[spec]}"
