"""Grading survives anything an implementation does: each hostile submission of
``tests/trust_boundary/hostile`` is graded in one ``python -m conformance grade`` run beside two correct
GRUs, as a user runs it (a subprocess, isolation on by default). Each hostile one gets
its own true verdict, the correct ones stay conformant, and the results file and the
report are complete.

Each run grades a few checks only (``-k``), the ones that trigger the behaviour under
test and a few that must pass regardless, at the quick profile.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.running.sandbox import SANDBOX_ENV, Sandbox

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "trust_boundary" / "hostile"
SANDBOXED = bool(Sandbox.detect().tool)

pytestmark = [pytest.mark.xdist_group("isolation"), pytest.mark.slow]


def spec(name: str) -> str:
    return f"{HOSTILE / name}.py:Adapter"


def grade(tmp_path: Path, names: list[str], *options: str, timeout: float = 900,
          env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    results = tmp_path / "out" / "results.json"
    argv = [sys.executable, "-m", "conformance", "grade", *[spec(n) for n in names], "--profile", "quick",
            "--results", str(results), "--html", str(tmp_path / "out" / "index.html"), *options]
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    assert results.is_file(), f"got no results file, but grading should always write one:\n{run.stdout[-3000:]}" \
                              f"\n{run.stderr[-3000:]}"
    return run, json.loads(results.read_text())


def records(data: dict) -> dict[str, dict]:
    return {r["id"]: r for r in data["implementations"]}


def assert_conformant(record: dict) -> None:
    bad = {c: o["status"] for c, o in record["checks"].items() if o["status"] not in ("pass", "not_applicable")}
    assert record["verdict"] == "conformant-pytorch", (
        f"got {record['id']} {record['verdict']} ({bad}), but a correct GRU graded beside hostile ones "
        f"should stay conformant")


def assert_only(record: dict, failing: dict[str, str]) -> None:
    """``record`` fails exactly the checks of ``failing`` (check id -> a word its message has)."""
    bad = {c: o for c, o in record["checks"].items() if o["status"] not in ("pass", "not_applicable", "warn")}
    assert set(bad) == set(failing), (
        f"got {record['id']} failing {sorted(bad)}, but should fail exactly {sorted(failing)}: "
        + "; ".join(f"{c}: {o['message'][:200]}" for c, o in bad.items()))
    for check_id, word in failing.items():
        message = bad[check_id]["message"]
        assert word in message, f"got {record['id']} {check_id} message {message[:300]!r}, but should say {word!r}"
    assert record["verdict"] == "nonconformant", f"got {record['id']} {record['verdict']}, but should be nonconformant"


STATE_CHECKS = "test_output_shapes or test_step_matches_oracle or test_input_gradients_match_oracle or process_state"


def test_global_state_changes_are_restored_and_reported(tmp_path: Path):
    """Each state changer fails process.global-state, naming what it changed, and nothing
    else: the gradient checks of the one that turns grad mode off still pass (the mode is
    restored after each call); the correct GRUs beside them are untouched."""
    names = ["honest_a", "grad_mode_off", "default_dtype", "reseeds", "patches_torch", "leaves_thread",
             "leaves_child", "floods_output", "honest_b"]
    run, data = grade(tmp_path, names, "-k", STATE_CHECKS)
    got = records(data)
    assert data["complete"] is True, f"got complete={data['complete']}, but grading finished"
    assert_conformant(got["honest_a"])
    assert_conformant(got["honest_b"])
    expected = {
        "grad_mode_off": "grad mode (torch.set_grad_enabled): True -> False",
        "default_dtype": "default dtype (torch.set_default_dtype): torch.float32 -> torch.float64",
        "reseeds": "torch.manual_seed",
        "patches_torch": "replaced torch.sigmoid (monkeypatching)",
        "leaves_thread": "left a thread running ('prefetcher'",
        "leaves_child": "left a child process running",
    }
    for name, words in expected.items():
        assert_only(got[name], {"process.global-state": words})
    grads = got["grad_mode_off"]["checks"]["gradients.sequence"]
    assert grads["status"] == "pass", f"got gradients.sequence {grads['status']} for grad_mode_off, but grad " \
                                      f"mode is restored after each call: {grads['message'][:300]}"


def test_output_is_captured_per_check_and_bounded(tmp_path: Path):
    """What an implementation prints is kept with each check (the first 4 KB), counted,
    shown in the report, and never reaches the terminal."""
    run, data = grade(tmp_path, ["floods_output", "honest_a"], "-k", "test_output_shapes or test_dtype_preserved")
    flood = records(data)["floods_output"]
    assert_conformant(flood)
    assert flood["checks"], "got no checks of floods_output, but two were graded"
    for check_id, outcome in flood["checks"].items():
        printed = outcome.get("output")
        assert printed and printed["bytes"] > 20_000 and printed["truncated"], (
            f"got output {printed and {k: v for k, v in printed.items() if k != 'text'}} for {check_id}, but "
            f"every call prints 20 KB: it should be counted and truncated")
        assert len(printed["text"]) <= 4096 and "FLOOD" in printed["text"], \
            f"got {len(printed['text'])} characters kept, but should keep the first 4096, with what was printed"
    assert "FLOOD" not in run.stdout and "FLOOD" not in run.stderr, \
        "got the implementation's output on the terminal, but it should be captured per check"
    assert records(data)["honest_a"]["checks"]["contract.output-shape"].get("output") is None, \
        "got output recorded for a GRU that prints nothing"
    page = (tmp_path / "out" / "index.html").read_text()
    assert "what it printed" in page or "printed 1" in page, "got a report that does not show the captured output"


CRASH_CHECKS = ("test_output_shapes or test_step_matches_oracle or test_non_contiguous_inputs or "
                "test_unbatched_input or test_wrong_dtypes_rejected or process_state")
#: The limits the fault tests grade under: small, so that filling them is cheap on a shared machine.
FAULT_LIMITS = ("--check-timeout", "8", "--scratch-mb", "16", "--no-diagnosis")
#: What each fault costs: the check it happens in (check id -> a word of its message).
FAULTS = {
    "crashes_midway": {"inputs.non-contiguous": "exited with code 3"},
    "segfaults": {"inputs.wrong-dtype": "SIGSEGV"},
    "aborts": {"contract.unbatched": "SIGABRT"},
    "hangs": {"inputs.non-contiguous": "time limit of 8 s"},
    "exhausts_memory": {"inputs.non-contiguous": "memory limit"},
    # /dev/shm is limited in the sandbox only (the README says so).
    "fills_scratch": {"inputs.non-contiguous": "scratch", **({"contract.unbatched": "scratch space is limited"}
                                                              if SANDBOXED else {})},
    "answers_too_much": {"contract.unbatched": "refused unread"},
}


def assert_faults_cost_one_check_each(got: dict[str, dict], names: list[str]) -> None:
    for name in names:
        failing = FAULTS[name]
        assert_only(got[name], failing)
        statuses = {c: o["status"] for c, o in got[name]["checks"].items()}
        for check_id in failing:
            assert statuses[check_id] == "error", f"got {name} {check_id} {statuses[check_id]}, but should be error"
        later = [c for c in statuses if c.startswith("process.")]
        assert later and all(statuses[c] == "pass" for c in later), \
            f"got {name} statuses {statuses}: the checks after the fault should still be graded"


def test_crashes_hangs_and_memory_cost_one_check_each(tmp_path: Path):
    """A process that dies (exit code, segfault, abort), hangs past the check's time limit,
    runs out of memory or of scratch space, or answers far more than the case can need
    makes the check it happened in an error with the cause; the implementation's other
    checks are graded, and so is everything beside it."""
    names = ["honest_a", *FAULTS, "honest_b"]
    run, data = grade(tmp_path, names, "-k", CRASH_CHECKS, *FAULT_LIMITS)
    got = records(data)
    assert data["complete"] is True, f"got complete={data['complete']}, but grading finished"
    assert_conformant(got["honest_a"])
    assert_conformant(got["honest_b"])
    assert_faults_cost_one_check_each(got, list(FAULTS))
    refused = got["answers_too_much"]["checks"]["contract.unbatched"]["message"]
    assert "answered with 64.0 MB of arrays" in refused, f"got {refused[:300]!r}, but should give the declared size"
    assert "index.html" in run.stdout or (tmp_path / "out" / "index.html").is_file()


def test_grade_folder_gives_each_fault_the_verdict_grade_gives(tmp_path: Path):
    """``grade-folder`` grades each submission under ``grade``'s limits, passed on: a crash,
    a hang, memory, scratch space or an answer too large cost the check they happen in, as
    through ``grade`` (above), never "could not be graded"; the honest one beside them
    stays conformant."""
    names = ["honest_a", "hangs", "exhausts_memory", "fills_scratch", "answers_too_much"]
    out = tmp_path / "fleet"
    argv = [sys.executable, "-m", "conformance", "grade-folder", *[str(HOSTILE / f"{n}.py") for n in names],
            "--out", str(out), "-j", "2", "--profile", "quick", "-k", CRASH_CHECKS, "--time-limit", "600",
            *FAULT_LIMITS, "--no-merge"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    got = {}
    for name in names:
        path = out / "submissions" / f"{name}.json"
        assert path.is_file(), f"got no results for {name}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        got[name] = json.loads(path.read_text())["implementations"][0]
    assert_conformant(got["honest_a"])
    assert_faults_cost_one_check_each(got, names[1:])


def test_the_time_limit_of_all_checks_stops_the_check_in_progress(tmp_path: Path):
    """``--time-limit`` bounds all of an implementation's checks: the check in progress when
    it runs out is stopped, an error saying so, and the ones after it are not run, errors
    too; the results are complete (the grading process ends by itself)."""
    run, data = grade(tmp_path, ["hangs"], "-k", "test_output_shapes or test_non_contiguous_inputs or process_state",
                      "--time-limit", "30", "--check-timeout", "600", "--no-diagnosis")
    assert data["complete"] is True, f"got complete={data['complete']}, but grading ended by itself"
    record = records(data)["hangs"]
    messages = [(c, o["status"], o["message"]) for c, o in record["checks"].items()]
    stopped = [i for i, (_, _, m) in enumerate(messages) if "(--time-limit) ran out during this one" in m]
    assert len(stopped) == 1, f"got {messages}, but one check should be stopped by the time limit"
    after = messages[stopped[0] + 1:]
    assert after and all(s == "error" and m.startswith("not run: the time limit of 30 s") for _, s, m in after), \
        f"got {after}, but every check after it should be not run"
    assert record["verdict"] == "nonconformant", f"got {record['verdict']}"


def test_without_bubblewrap_the_scratch_folder_is_watched(tmp_path: Path):
    """Without bubblewrap (chosen here with GRU_CONFORMANCE_SANDBOX=landlock) a worker's
    temporary folder is its own, and past --scratch-mb the grader stops it: the check in
    progress is an error saying so."""
    env = {**os.environ, SANDBOX_ENV: "landlock"}
    run, data = grade(tmp_path, ["honest_a", "fills_scratch"], "-k", "test_output_shapes or test_non_contiguous_inputs",
                      *FAULT_LIMITS, env=env)
    got = records(data)
    assert data["environment"]["isolation"]["mode"] == "process", f"got {data['environment']['isolation']}"
    assert_conformant(got["honest_a"])
    assert_only(got["fills_scratch"], {"inputs.non-contiguous": "wrote more than 16 MB to its scratch folder"})


def test_killed_grader_leaves_valid_partial_results(tmp_path: Path):
    """Results are written as they are produced: a grading process killed in the middle
    leaves a valid results file marked incomplete, the report renders from it, and no
    worker outlives it."""
    results = tmp_path / "out" / "results.json"
    argv = [sys.executable, "-m", "conformance", "grade", spec("honest_a"), spec("hangs"), "--profile", "quick",
            "--results", str(results), "--no-html", "--check-timeout", "600", "--no-diagnosis"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                data = json.loads(results.read_text())
            except (OSError, ValueError):
                continue
            hung = records(data).get("hangs", {}).get("checks", {})
            if "inputs.batch-of-one" in hung or "inputs.non-contiguous" in hung or len(hung) > 20:
                break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    data = json.loads(results.read_text())
    assert data["complete"] is False, "got complete=true, but the grader was killed before the end"
    assert data["progress"]["checks_done"] < data["progress"]["checks_total"], f"got progress {data['progress']}"
    assert records(data)["honest_a"]["checks"], "got no outcomes for the implementation graded before the kill"
    html = tmp_path / "partial.html"
    subprocess.run([sys.executable, "-m", "conformance", "report", str(results), "-o", str(html)], cwd=ROOT,
                   check=True, capture_output=True, timeout=300)
    assert "Incomplete results" in html.read_text(), "got a report of partial results without saying so"
    time.sleep(1)
    leftover = subprocess.run(["pgrep", "-f", f"conformance.commands.worker {spec('hangs')}"], capture_output=True, text=True)
    assert not leftover.stdout.strip(), f"got worker processes left running: {leftover.stdout}"


def test_implementations_that_cannot_start_are_ungraded_in_several_grading_processes(tmp_path: Path):
    """Every named implementation failing to start, graded in two grading processes (the
    default for several): each is "could not be graded" with its reason, the results say so,
    and the exit status is not success (it was 0, with nothing written or said)."""
    (tmp_path / "raises.py").write_text('raise ImportError("no module named fast_gru_kernel")\n')
    (tmp_path / "missing.py").write_text("import fast_gru_kernel_that_is_not_installed\n")
    results = tmp_path / "out" / "results.json"
    argv = [sys.executable, "-m", "conformance", "grade", f"{tmp_path / 'raises.py'}:GRU",
            f"{tmp_path / 'missing.py'}:GRU", "-n", "2", "--profile", "quick", "-k", "equations",
            "--results", str(results), "--no-html"]
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode != 0, f"got exit status 0, but nothing could be graded:\n{run.stdout[-2000:]}"
    verdicts = {r["id"]: (r["verdict"], r["load_error"]) for r in json.loads(results.read_text())["implementations"]}
    assert [v for v, _ in verdicts.values()] == ["error", "error"] and \
        "fast_gru_kernel" in verdicts["GRU"][1] and "fast_gru_kernel_that_is_not_installed" in verdicts["GRU-2"][1], (
            f"got {verdicts}, but each should be ungraded with the reason its worker gave")
    assert run.stdout.count("could not be graded") == 2, f"got the summary {run.stdout[-1500:]!r}, but should say so"


def test_isolation_can_be_turned_off_and_says_so(tmp_path: Path):
    """``--no-isolation`` grades in the grading process (for a debugger) and the results
    and report say so."""
    run, data = grade(tmp_path, ["honest_a"], "-k", "test_output_shapes", "--no-isolation")
    assert data["environment"]["isolation"]["mode"] == "none", f"got {data['environment']['isolation']}"
    assert "--no-isolation" in run.stderr, "got no word on the terminal that isolation is off"
    assert "isolation turned off" in (tmp_path / "out" / "index.html").read_text()


def test_results_say_where_implementations_ran(tmp_path: Path):
    """The results and the report's header say what isolated the implementations: the
    sandbox where bubblewrap works, plain processes (and why) where it does not."""
    run, data = grade(tmp_path, ["honest_a"], "-k", "test_output_shapes")
    isolation = data["environment"]["isolation"]
    assert isolation["mode"] == ("sandbox" if SANDBOXED else "process"), f"got {isolation}"
    assert isolation["limits"]["memory_mb"] and isolation["limits"]["check_seconds"], f"got {isolation}"
    page = (tmp_path / "out" / "index.html").read_text()
    assert "Isolation" in page and ("bubblewrap" in page or "NOT sandboxed" in page), \
        "got a report header that does not say where implementations ran"
