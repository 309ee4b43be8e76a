"""Messages a new user meets first: what a failure that is not the implementation's fault
says to do about it."""

from __future__ import annotations

from pathlib import Path

import pytest

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


# Every command's --help --------------------------------------------------------------------
def _commands() -> list[tuple[str, list[str]]]:
    """(module with a main, argv) for every command and subcommand the README names."""
    from conformance.commands.cli import subcommands

    found = [("conformance.commands.cli", [name, "--help"]) for name in subcommands()]
    found += [("conformance.commands.cli", ["--help"])]
    found += [("conformance.reporting.bench", [*sub, "--help"]) for sub in ([], ["run"], ["check"], ["compare"])]
    found += [(module, ["--help"]) for module in ("conformance.grading.error_bands", "conformance.commands.frameworks_grade",
                                                   "conformance.commands.frameworks_lanes")]
    return found


@pytest.mark.parametrize("module, argv", _commands(), ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_every_command_prints_its_help(module, argv, capsys):
    """``--help`` of every command prints its usage and exits 0 (a help text is formatted by
    argparse, where a bare % in it is an error the user would meet before anything else)."""
    import importlib

    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main(argv)
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "usage:" in out, (
        f"got exit {exit_.value.code} and {out[:200]!r}, but should be 0 and a usage text [{module} {' '.join(argv)}]")
