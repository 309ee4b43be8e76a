"""Verdicts no submission can forge: the grader never imports or runs the implementation,
which runs in a sandboxed worker and answers with plain numbers. Each cheating
submission of ``tests/trust_boundary/hostile`` (a wrong GRU, r and z swapped, that patches the suite's
writer, comparisons, oracle or verdict, rewrites results at exit, reads another
submission, reaches the network, leaves a process behind or returns objects that are not
arrays) is graded beside honest ones, through ``grade`` (also with the registry and
``--check-expectations``, as ``tox -e report`` runs it) and ``grade-folder``: each gets the
verdict for what it computes, the attempt is shown where it can be seen, and the honest
ones are graded as before.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.running import landlock
from conformance.running.sandbox import SANDBOX_ENV, Sandbox

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "trust_boundary" / "hostile"
SANDBOXED = bool(Sandbox.detect().tool)
#: The checks each run grades: enough to tell a wrong GRU and to see process-state attempts.
CHECKS = "test_output_shapes or test_step_matches_oracle or process_state"

FORGERS = ["forges_writer", "forges_comparisons", "forges_oracle", "forges_verdict"]
#: What the results must say each attempt did (check id -> words of its message).
ATTEMPTS = {
    "forges_writer": "replaced conformance.grading.results.write_results",
    "forges_comparisons": "replaced conformance.cases.compare.assert_close",
    "forges_oracle": "replaced conformance.model.oracle.gru_forward",
    "forges_verdict": "replaced conformance.grading.results.overall_verdict",
    "rewrites_results_at_exit": "exit handler",
    "leaves_child": "left a child process running",
}
WRONG = ["forges_writer", "forges_comparisons", "forges_oracle", "forges_verdict", "rewrites_results_at_exit",
         "reads_neighbour", "opens_network", "returns_objects"]

pytestmark = [pytest.mark.xdist_group("isolation"), pytest.mark.slow]


def spec(name: str) -> str:
    return f"{HOSTILE / name}.py:Adapter"


def run(argv: list[str], timeout: float = 1200, cwd: Path = ROOT,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def by_id(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in json.loads(path.read_text())["implementations"]}


def assert_true_verdicts(records: dict[str, dict], names: list[str], honest: tuple[str, ...] = ()) -> None:
    for name in honest:
        assert name in records, f"got no record of {name} among {sorted(records)}, but it was graded"
        assert records[name]["verdict"] == "conformant-pytorch", \
            f"got {name} {records[name]['verdict']}, but an honest GRU beside cheaters stays conformant"
    for name in names:
        record = records[name]
        assert record["verdict"] == "nonconformant", \
            f"got {name} {record['verdict']!r}, but it computes a wrong GRU or changes the process: nonconformant"
        if name in WRONG:
            step = record["checks"].get("equations.step", {})
            assert step.get("status") in ("fail", "error"), \
                f"got {name} equations.step {step.get('status')}, but r and z are swapped"
        if name in ATTEMPTS:
            state = record["checks"]["process.global-state"]
            assert state["status"] == "fail" and ATTEMPTS[name] in state["message"], \
                f"got {name} process.global-state {state['status']}: {state['message'][:300]!r}, but should " \
                f"name the attempt ({ATTEMPTS[name]!r})"


def test_cheaters_get_true_verdicts_through_grade(tmp_path: Path):
    names = [*FORGERS, "rewrites_results_at_exit", "leaves_child", "returns_objects"]
    results = tmp_path / "reports" / "results.json"
    done = run(["grade", spec("honest_a"), *[spec(n) for n in names], spec("honest_b"), "--profile", "quick",
                "-k", CHECKS, "--results", str(results), "--html", str(tmp_path / "reports" / "index.html")])
    records = by_id(results)
    assert_true_verdicts(records, names, honest=("honest_a", "honest_b"))
    assert not Path("/tmp/pwned").exists(), "got code run from a returned object: nothing may be unpickled"
    objects = records["returns_objects"]["checks"]["contract.output-shape"]
    assert objects["status"] == "error" and "output is a Payload, not a tensor" in objects["message"], \
        f"got {objects['status']}: {objects['message'][:300]!r}, but a non-array result is an error saying so"
    page = (tmp_path / "reports" / "index.html").read_text()
    assert "conformance.grading.results.write_results" in page, "got a report that does not show the forging attempt"
    assert "nonconformant" in done.stdout and "forges_writer" in done.stdout


@pytest.mark.skipif(not SANDBOXED, reason="bubblewrap is not available here: without the sandbox a worker can "
                    "read other submissions and reach the network (the results say so)")
def test_sandbox_hides_other_submissions_and_the_network(tmp_path: Path):
    """Inside the sandbox a submission cannot read the one beside it (it gets an empty file)
    nor open a connection; what it printed about it is in the results."""
    results = tmp_path / "results.json"
    run(["grade", spec("reads_neighbour"), spec("opens_network"), spec("honest_a"), "--profile", "quick",
         "-k", CHECKS, "--results", str(results), "--no-html"])
    records = by_id(results)
    assert_true_verdicts(records, ["reads_neighbour", "opens_network"], honest=("honest_a",))
    printed = json.dumps(records["reads_neighbour"]["checks"]) + json.dumps(records["reads_neighbour"])
    network = json.dumps(records["opens_network"])
    assert "read 0 characters of honest_a.py" in printed or "could not read" in printed, \
        "got no sign that the neighbour was hidden"
    assert "network: no connection" in network, "got no sign that the network was unreachable"


def test_cheaters_beside_the_registry_with_expectations(tmp_path: Path):
    """The ``tox -e report`` path (registered implementations, ``--check-expectations``) with
    cheaters added: the registered ones keep exactly their expected verdicts."""
    results = tmp_path / "results.json"
    done = run(["grade", "torch-gru", "doc000-cell", spec("forges_verdict"), spec("forges_writer"),
                "--check-expectations", "--profile", "quick", "-k", CHECKS, "--results", str(results), "--no-html"])
    records = by_id(results)
    assert records["torch-gru"]["verdict"] == "conformant-pytorch", f"got {records['torch-gru']['verdict']}"
    assert records["doc000-cell"]["verdict"] == "nonconformant", f"got {records['doc000-cell']['verdict']}"
    assert_true_verdicts(records, ["forges_verdict", "forges_writer"])
    assert "torch-gru" in done.stdout


def test_cheaters_get_true_verdicts_through_grade_folder(tmp_path: Path):
    """``grade-folder`` runs each submission in its own grading process, whose worker sees
    neither the other submissions nor the output folder: its summary and merged results
    show the true verdicts."""
    names = ["forges_writer", "rewrites_results_at_exit", "forges_verdict"]
    out = tmp_path / "fleet"
    done = run(["grade-folder", str(HOSTILE / "honest_a.py"), *[str(HOSTILE / f"{n}.py") for n in names],
                "--out", str(out), "--profile", "quick", "-k", CHECKS, "--time-limit", "600"])
    records = by_id(out / "results.json")
    assert_true_verdicts(records, names, honest=("honest_a",))
    for name in names:
        line = next((ln for ln in done.stdout.splitlines() if f" {name} " in ln), "")
        assert "nonconformant" in line, f"got summary line {line!r}, but {name} is nonconformant"
    files = sorted((out / "submissions").glob("*.json"))
    assert len(files) == len(names) + 1, f"got {[f.name for f in files]}, but one results file per submission"
    for path in files:
        data = json.loads(path.read_text())
        assert all(i["verdict"] != "conformant-pytorch" or i["id"] == "honest_a" for i in data["implementations"]), \
            f"got a rewritten results file {path.name}"


@pytest.mark.skipif(not SANDBOXED, reason="bubblewrap is not available here: without the sandbox a worker reads "
                    "what the grading user can (the results say so)")
def test_nothing_of_the_others_is_visible_on_a_grading_server(tmp_path: Path):
    """A course's grading server: submissions in one folder, each day's grading in a folder
    of its own beside the earlier ones, grade-folder run from the folder holding both. The
    submission that looks around sees its own file, its helper and the suite, and no name
    of another submission, of this grading's results or of an earlier one: not in its own
    folder, not above it, not in the mount table. The honest one beside it keeps its verdict."""
    course = tmp_path / "course"
    folder = course / "submissions"
    folder.mkdir(parents=True)
    for name in ("_gru", "looks_around", "honest_a"):
        shutil.copy(HOSTILE / f"{name}.py", folder / f"{name}.py")
    shutil.copy(HOSTILE / "honest_b.py", folder / "classmate.py")
    earlier = course / "grades" / "monday" / "submissions"
    earlier.mkdir(parents=True)
    (earlier / "classmate.json").write_text(json.dumps({"implementations": [{"id": "classmate"}]}))
    today = course / "grades" / "tuesday"
    done = run(["grade-folder", "submissions", "--out", str(today.relative_to(course)), "--profile", "quick",
                "-k", "test_output_shapes", "--no-merge", "-j", "2"], cwd=course)
    records = {p.stem: json.loads(p.read_text())["implementations"][0] for p in (today / "submissions").glob("*.json")}
    assert sorted(records) == ["classmate", "honest_a", "looks_around"], f"got {sorted(records)}:\n{done.stdout}"
    for name, record in records.items():
        assert record["verdict"] == "conformant-pytorch", f"got {name} {record['verdict']}, but it is a correct GRU"
    printed = json.dumps(records["looks_around"]["checks"])
    assert "LOOKED AROUND" in printed and "looks_around.py" in printed and "_gru.py" in printed, \
        f"got {printed[:600]}, but it should have printed what it saw, itself and its helper included"
    for secret in ("classmate", "honest_a", "grades", "monday", "tuesday"):
        assert secret not in printed, f"got {secret!r} in what the submission saw: {printed[:1500]}"


@pytest.mark.parametrize("mode", ["sandbox", "landlock"])
def test_a_worker_cannot_rewrite_results(tmp_path: Path, mode: str):
    """Whether in the sandbox or, without bubblewrap, under Landlock, a submission cannot
    rewrite results files, its own grading's nor another's (named to it here through an
    environment variable; in the sandbox it cannot even see them): it gets its true verdict
    and the other results file is untouched."""
    if mode == "sandbox" and not SANDBOXED:
        pytest.skip("bubblewrap is not available here")
    if mode == "landlock" and not landlock.abi():
        pytest.skip("this kernel has no Landlock: without bubblewrap a worker writes what the grading user can")
    other = tmp_path / "monday" / "results.json"
    run(["grade", spec("opens_network"), "--profile", "quick", "-k", CHECKS, "--results", str(other), "--no-html"])
    before = other.read_text()
    assert by_id(other)["opens_network"]["verdict"] == "nonconformant", "got a wrong GRU graded conformant"
    env = {**os.environ, "GRU_HOSTILE_TARGET": str(other), SANDBOX_ENV: "1" if mode == "sandbox" else "landlock"}
    results = tmp_path / "tuesday" / "results.json"
    run(["grade", spec("rewrites_results"), spec("honest_a"), "--profile", "quick", "-k", CHECKS,
         "--results", str(results), "--no-html"], env=env)
    records = by_id(results)
    assert records["rewrites_results"]["verdict"] == "nonconformant", \
        f"got {records['rewrites_results']['verdict']}, but r and z are swapped"
    assert records["honest_a"]["verdict"] == "conformant-pytorch", f"got {records['honest_a']['verdict']}"
    assert other.read_text() == before, "got the other grading's results file rewritten by a submission"
    isolation = json.loads(results.read_text())["environment"]["isolation"]
    assert isolation["mode"] == ("sandbox" if mode == "sandbox" else "process"), f"got {isolation}"
    printed = json.dumps(records["rewrites_results"]["checks"])
    assert "could not rewrite" in printed and "rewrote" not in printed, f"got {printed[:1000]}"
