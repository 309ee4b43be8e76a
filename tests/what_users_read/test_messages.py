"""Messages a new user meets first: what a failure that is not the implementation's fault
says to do about it."""

from __future__ import annotations

from pathlib import Path

from conformance.grading.engine import grade
from conformance.grading.loading import load_subject

GALLERY = Path(__file__).resolve().parents[1] / "gallery"
VARLEN = ["varlen.padding-zero", "varlen.final-state", "varlen.reverse-start", "varlen.sizes"]


def test_a_module_without_packed_sequences_is_told_about_no_lengths():
    """LoopGRU (nn.GRU-like, graded without an adapter) indexes its input as a tensor: every
    variable-length check errs on the PackedSequence (the size sweep is blocked by them), and
    each says it was given one and names --no-lengths."""
    subject = load_subject(f"{GALLERY / 'gru_like.py'}:LoopGRU")
    outcomes = grade(subject, VARLEN, max_examples=3, deadline=None)
    assert outcomes["varlen.sizes"].status == "blocked", f"got {outcomes['varlen.sizes']}"
    for check_id in VARLEN[:-1]:
        outcome = outcomes[check_id]
        assert outcome.status == "error", f"got {outcome.status} for {check_id}, but LoopGRU takes no PackedSequence"
        assert "given a PackedSequence" in outcome.message and "--no-lengths" in outcome.message, \
            f"got {outcome.message!r} for {check_id}, but it should say a PackedSequence was given and name " \
            f"--no-lengths"
