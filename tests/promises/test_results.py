"""The results file, typed (``conformance.base.results_document``): a document written and read
back is the same document, a results file read and written again is the same text (keys
the suite does not know, their order and the keys a file lacks included), and every
verdict comes from ``conformance.grading.results.judge``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.grading import results
from conformance.model.contract import AdapterInfo
from conformance.checks import load_all
from conformance.base.conventions import VERDICTS
from conformance.implementations.torch_reference import TorchGRU
from conformance.grading.outcome import Outcome, merge, suite_fault
from conformance.base.results_document import (SCHEMA, CheckResult, Coverage, Grading, ImplementationResult,
                                          ResultsDocument, Score)

ROOT = Path(__file__).resolve().parents[2]


def _outcomes() -> dict[str, Outcome]:
    """One outcome of each kind a file holds: a pass with measurements, a failure with two distinct
    failures and an infinite error, a crash that printed, a check not applicable."""
    wrong = Outcome("fail", message="got 1, but should be 0 [x]", counterexample={"steps": 2, "batch": 3},
                    max_error=float("inf"), tolerance={"atol": 1e-5, "rtol": 1e-4})
    crash = Outcome("error", message="RuntimeError: shape [y]", counterexample={"steps": 1, "batch": 2})
    wrong.failures = [wrong.failure_json(), crash.failure_json()]
    return {
        "contract.output-shape": Outcome("pass", duration=0.25, measurements={"max_error": {"float32": 1e-7}}),
        "equations.step": wrong,
        "equations.sequence": Outcome("error", message="RuntimeError: boom", elsewhere="with batch >= 2: the same failure",
                                      output={"text": "hello\n", "bytes": 6, "truncated": False}),
        "contract.unbatched": Outcome("not_applicable", message="does not claim unbatched input"),
    }


def _document() -> ResultsDocument:
    load_all()
    record = results.implementation_result("torch-gru", info=AdapterInfo.of(TorchGRU()), source="torch-gru",
                                           checks=_outcomes(), diagnosis={"summary": "matches nn.GRU"})
    record.grading = Grading(spec="torch-gru", exit_code=0, seconds=1.5, time_limit_s=300.0, log="torch-gru.log")
    record.extra["reviewed_by"] = {"name": "a later tool"}
    broken = results.implementation_result("broken", source="broken.py:Broken", load_error="ImportError: no module")
    document = results.results_document([record, broken], load_all(), {"hypothesis_profile": "quick"})
    document.stale_known_failures = ["gone::equations.step"]
    document.extra["annotations"] = ["kept"]
    return document


def test_a_document_read_back_from_its_json_is_the_same_document():
    document = _document()
    again = ResultsDocument.from_json(document.to_json())
    assert again == document, "got a different document from its own JSON, but it should be the same"
    saved = json.loads(json.dumps(document.to_json(), default=str))  # as a file holds it
    assert ResultsDocument.from_json(saved).to_json() == saved, "got different JSON after reading a saved document"
    check = again.implementations[0].checks["equations.step"]
    assert isinstance(check, CheckResult) and check.max_error == "inf" and len(check.failures) == 2, (
        f"got {check!r}, but should be the failure with its infinite error written as 'inf' and both failures")
    assert again.implementations[0].grading == document.implementations[0].grading


def test_the_json_keeps_the_schema_of_results_files():
    written = _document().to_json()
    assert list(written) == ["schema", "environment", "tolerances", "checks", "complete", "implementations",
                             "stale_known_failures", "annotations"], f"got top-level keys {list(written)}"
    assert written["schema"] == SCHEMA == results.SCHEMA
    record = written["implementations"][0]
    want = ["id", "source", "document", "description", "adapter", "claimed_variant", "verdict", "verdict_text",
            "graded", "score", "load_error", "checks", "diagnosis", "diagnosis_note", "grading", "reviewed_by"]
    assert list(record) == want, f"got record keys {list(record)}, but should be {want}"
    assert record["checks"]["equations.step"] == _outcomes()["equations.step"].to_json(), (
        "got a check written otherwise than Outcome.to_json writes it")
    assert "grading" not in written["implementations"][1], "got a grading key on a record graded by grade alone"
    assert written["implementations"][1]["adapter"] is None


def test_unknown_keys_their_order_and_missing_keys_survive_a_read_and_a_write():
    data = {"schema": SCHEMA, "progress": {"checks_done": 1, "checks_total": 2}, "complete": False,
            "from_the_future": {"x": 1}, "checks": {},
            "implementations": [{"id": "a", "verdict": "consistent", "future_field": [1, 2],
                                 "graded": {"checks": 1, "of": 2, "partial": True, "how": "-k"},
                                 "checks": {"equations.step": {"status": "pass", "seconds_on_gpu": 0.5}}}],
            "benchmarks": {"schema": "gru-conformance-benchmarks/2"}}
    text = json.dumps(data, indent=1)
    again = json.dumps(ResultsDocument.from_json(json.loads(text)).to_json(), indent=1)
    assert again == text, f"got\n{again}\nbut a file read and written again should be unchanged:\n{text}"
    document = ResultsDocument.from_json(data)
    record = document.implementations[0]
    assert (record.extra, record.graded.extra) == ({"future_field": [1, 2]}, {"how": "-k"}), (
        f"got extras {record.extra}, {record.graded.extra}, but the keys the suite does not know should be kept")
    assert record.checks["equations.step"].extra == {"seconds_on_gpu": 0.5}
    assert document.extra == {"from_the_future": {"x": 1}} and document.progress == {"checks_done": 1,
                                                                                       "checks_total": 2}


@pytest.mark.slow
def test_a_real_results_file_round_trips_unchanged(tmp_path: Path):
    """Every key of a results file written by grading is read into the document and written back as it was."""
    path = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "conformance", "grade", "torch-gru", "not-a-gru", "--profile", "quick",
                           "-k", "equations.step or contract.unbatched", "--results", str(path), "--no-html"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert path.is_file(), f"got no results file [{done.stdout[-1500:]}{done.stderr[-1500:]}]"
    text = path.read_text()
    document = results.read_document(path)
    again = tmp_path / "again.json"
    results.write_results(document, again)
    assert again.read_text() == text, "got a different file after reading and writing a results file"
    assert ResultsDocument.from_json(document.to_json()) == document
    graded, broken = document.implementations
    assert (graded.verdict, broken.verdict) == ("conformant-pytorch", "error"), (
        f"got verdicts {graded.verdict}, {broken.verdict}, but should be conformant-pytorch and error")
    assert graded.graded.partial and graded.checks["equations.step"].status == "pass"


# The verdict -----------------------------------------------------------------------------
def test_judge_decides_the_verdict_and_its_words():
    load_all()
    record = results.implementation_result("torch-gru", info=AdapterInfo.of(TorchGRU()),
                                           checks={"equations.step": Outcome("pass")})
    assert record.verdict == "conformant-pytorch" and "partial" in record.verdict_text, (
        f"got {record.verdict}: {record.verdict_text!r}, but a grade of one check should say it is partial")
    stopped = results.judge(record, load_error="the grading process was stopped")
    assert stopped is record and (record.verdict, record.verdict_text) == ("error", VERDICTS["error"].text), (
        f"got {record.verdict}: {record.verdict_text!r}, but a stopped grading should be an error")
    assert record.load_error == "the grading process was stopped" and "equations.step" in record.checks, (
        "got the checks graded before the stop lost, but they should be kept")


def _suite_fault() -> Outcome:
    try:
        results.overall_verdict("after", True, {"equations.step": None})  # type: ignore[dict-item]
    except AttributeError as exc:  # an error raised in the suite's own code
        return suite_fault(exc)
    raise AssertionError("got no error from the suite's code, but the test needs one")


def test_an_error_of_the_suite_decides_no_verdict():
    """The suite's own error says nothing about the implementation: alone it leaves the
    implementation ungraded (never conformant, never nonconformant); beside a real failure,
    the failure decides. Either way the other checks' results stay."""
    load_all()
    fault = _suite_fault()
    assert fault.suite_fault and fault.status == "error" and "raised at conformance/grading/results.py:" in \
        fault.message, f"got {fault}, but should be a suite fault saying where the suite raised"
    record = results.implementation_result("torch-gru", info=AdapterInfo.of(TorchGRU()),
                                           checks={"equations.step": Outcome("pass"), "equations.sequence": fault})
    assert record.verdict == "error" and "the suite's own code failed in equations.sequence" in record.verdict_text, (
        f"got {record.verdict}: {record.verdict_text!r}, but should be ungraded, naming the check where the suite failed")
    assert set(record.checks) == {"equations.step", "equations.sequence"}, \
        f"got {set(record.checks)}, but every check's result should be kept"
    wrong = Outcome("fail", message="got 1, but should be 0 [x]")
    found = results.implementation_result("torch-gru", info=AdapterInfo.of(TorchGRU()),
                                          checks={"equations.step": wrong, "equations.sequence": fault})
    assert found.verdict == "nonconformant", \
        f"got {found.verdict}, but another check's failure should still show the implementation nonconformant"


def test_a_check_where_the_suite_fails_is_kept_as_the_suites_error(monkeypatch: pytest.MonkeyPatch):
    """The suite's code failing while it judges what a check found (as reading hypothesis'
    exception groups did on Python 3.10) is that check's error, the suite's, and leaves the
    implementation ungraded: the check is neither lost nor counted as the implementation's."""
    from conformance.grading import engine
    from conformance.running.subject import Subject
    from tests.catches_bugs.mutants import MUTANTS_BY_ID

    def broken(exc: BaseException) -> Outcome:
        raise NameError("name 'BaseExceptionGroup' is not defined")

    monkeypatch.setattr(engine, "classify", broken)
    mutant = MUTANTS_BY_ID["bhn-dropped"]
    outcome = engine.run_check("equations.sequence", Subject(mutant.id, mutant.adapter()), shrink=False)
    assert outcome.status == "error" and outcome.suite_fault and "BaseExceptionGroup" in outcome.message, (
        f"got {outcome.status}: {outcome.message!r}, but should be the suite's own error")
    record = results.implementation_result(mutant.id, info=AdapterInfo.of(mutant.adapter()),
                                           checks={"equations.sequence": outcome})
    assert record.verdict == "error", f"got {record.verdict}, but the suite's failure should decide no verdict"


def test_a_suite_fault_is_written_only_where_there_is_one():
    load_all()
    fault, plain = CheckResult.of(_suite_fault()).to_json(), CheckResult.of(Outcome("error", message="x")).to_json()
    assert fault.get("suite_fault") is True and "suite_fault" not in plain, (
        f"got {fault.get('suite_fault')!r} and {plain.get('suite_fault')!r}, but the key should be written only "
        f"when true")
    grouped = merge(Outcome("error", message="RuntimeError: shape [y]"), _suite_fault(), "with batch >= 2")
    assert any(f.get("suite_fault") for f in grouped.failures) and not grouped.suite_fault, (
        f"got {grouped}, but the implementation's error should lead and the suite's be kept beside it")


def test_scores_and_coverage_are_typed():
    load_all()
    outcomes = _outcomes()
    assert results.score(outcomes) == Score(passed=1, applicable=3, warnings=0), f"got {results.score(outcomes)}"
    coverage = results.coverage(outcomes)
    assert isinstance(coverage, Coverage) and coverage.checks == 4 and coverage.partial, f"got {coverage}"
    assert ImplementationResult().verdict == "", "got a verdict on an empty record, but only judge sets one"


def test_the_file_written_while_grading_reads_as_an_unfinished_document(tmp_path: Path):
    document = _document()
    head = results.results_document([], load_all(), document.environment, complete=False)
    writer = results.ResultsWriter(tmp_path / "results.json", head)
    for record in document.implementations:
        writer.update(record.id, record)
    writer.write({"checks_done": 4, "checks_total": 9})
    pairs = json.loads((tmp_path / "results.json").read_text(), object_pairs_hook=lambda kv: kv)
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"got top-level keys {keys}, but each should appear once"
    partial = results.read_document(tmp_path / "results.json")
    assert (partial.complete, partial.progress) == (False, {"checks_done": 4, "checks_total": 9}), (
        f"got complete={partial.complete}, progress={partial.progress}")
    assert partial.implementations == document.implementations


def test_a_json_value_that_is_not_an_object_is_refused():
    with pytest.raises(ValueError, match="ResultsDocument is read from a JSON object"):
        ResultsDocument.from_json([1, 2])
