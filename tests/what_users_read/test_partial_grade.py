"""A verdict says how much was graded: a grade that ran only some of the checks (a ``-k``
selection, the framework lanes' quick subsets) says so in its verdict text, on the
terminal and in the report, never a bare "conformant"."""

from __future__ import annotations

from conformance.model.contract import AdapterInfo
from conformance.cases.catalogue import CHECKS
from conformance.checks import load_all
from conformance.grading.outcome import Outcome
from conformance.reporting.report import build_view, render_page
from conformance.grading.results import build_results, environment, implementation_record
from conformance.implementations.torch_reference import TorchGRU


def _record(check_ids: list[str]) -> dict:
    info = AdapterInfo.of(TorchGRU())
    return implementation_record("torch-gru", info=info, checks={cid: Outcome("pass") for cid in check_ids})


def test_a_grade_of_some_checks_says_how_many():
    load_all()
    some = ["contract.output-shape", "equations.step", "equations.sequence"]
    record = _record(some)
    assert record["verdict"] == "conformant-pytorch", f"got {record['verdict']}"
    assert record["graded"] == {"checks": 3, "of": len(CHECKS), "partial": True}, f"got {record['graded']}"
    want = f"conformant to the PyTorch GRU, on 3 of {len(CHECKS)} checks"
    assert record["verdict_text"].startswith(want) and "partial" in record["verdict_text"], \
        f"got {record['verdict_text']!r}, but should start {want!r} and say it is partial"
    view = build_view(build_results([record], CHECKS, environment("grade")))
    short = view["impls"][0]["verdict_short"]
    assert short.startswith("conformant (PyTorch)") and f"partial: 3 of {len(CHECKS)}" in short, f"got {short!r}"
    page = render_page(build_results([record], CHECKS, environment("grade")))
    assert want in page, "got a report that does not say the grade was partial"


def test_a_full_grade_is_a_bare_verdict():
    load_all()
    record = _record(list(CHECKS))
    assert record["verdict_text"] == "conformant to the PyTorch GRU", f"got {record['verdict_text']!r}"
    assert record["graded"]["partial"] is False, f"got {record['graded']}"
    assert "partial" not in build_view(build_results([record], CHECKS, environment("grade")))["impls"][0][
        "verdict_short"]
