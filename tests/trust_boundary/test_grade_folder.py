"""Grading many implementations: discovery, isolation (a crash, a hang, a memory
hog each end as one "error" verdict and nothing else is lost) and the merge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.commands import grade_folder
from conformance.reporting import merging
from conformance.checks import load_all
from conformance.grading.outcome import Outcome
from conformance.grading.results import SCHEMA, build_results, environment, implementation_record, read_results

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "submissions"

ADAPTER = '''
import torch
from conformance import Capabilities, CellAdapter

class {name}(CellAdapter):
    capabilities = Capabilities(bidirectional=True, multi_layer=True)

    def build(self, config):
        return torch.nn.GRUCell(config.input_size, config.hidden_size)

    def step(self, cell, x, h):
        {body}
'''


def write_adapter(path: Path, name: str = "Sub", body: str = "return cell(x, h)") -> Path:
    path.write_text(ADAPTER.format(name=name, body=body))
    return path


# Discovery -----------------------------------------------------------------------
def test_collect_reads_a_folder_without_importing_it():
    """Every name.py and name/adapter.py of the example folder is a submission whose
    adapter class is found in its source; nothing is imported (crashes.py would end us)."""
    subs = {s.id: s for s in grade_folder.collect([str(EXAMPLES)])}
    expected = {"crashes", "greedy", "hangs", "pytorch_cell", "swapped_gates", "wrapped_gru"}
    assert set(subs) == expected, f"got {sorted(subs)}, but should be {sorted(expected)}"
    assert subs["pytorch_cell"].spec.endswith("pytorch_cell.py:Adapter"), f"got {subs['pytorch_cell'].spec}"
    assert subs["swapped_gates"].spec.endswith("swapped_gates.py:SwappedGates"), f"got {subs['swapped_gates'].spec}"
    assert subs["wrapped_gru"].spec.endswith(str(Path("wrapped_gru", "adapter.py")) + ":Adapter"), \
        f"got {subs['wrapped_gru'].spec}"
    assert not any(s.problem for s in subs.values()), f"got problems {[s.problem for s in subs.values() if s.problem]}"
    assert "crashes" not in " ".join(sys.modules), "got a submission imported by discovery, but it should only be read"


def test_collect_reports_unusable_submissions_as_problems(tmp_path):
    (tmp_path / "broken.py").write_text("class X(CellAdapter:\n")
    (tmp_path / "plain.py").write_text("class Helper:\n    pass\n")
    two = write_adapter(tmp_path / "two.py", "First")
    two.write_text(two.read_text() + "\n\nclass Second(conformance.LayerAdapter):\n    pass\n")
    write_adapter(tmp_path / "ok.py")
    (tmp_path / "_private.py").write_text("raise SystemExit")
    subs = {s.id: s for s in grade_folder.collect([str(tmp_path)])}
    assert set(subs) == {"broken", "plain", "two", "ok"}, f"got {sorted(subs)}, but should skip _private.py"
    assert "does not parse" in subs["broken"].problem, f"got {subs['broken'].problem!r}"
    assert "no class deriving from CellAdapter or LayerAdapter" in subs["plain"].problem, f"got {subs['plain'].problem!r}"
    assert "several adapter classes (First, Second)" in subs["two"].problem, f"got {subs['two'].problem!r}"
    assert subs["ok"].problem == "" and subs["ok"].spec.endswith("ok.py:Sub"), f"got {subs['ok']}"


def test_collect_finds_adapters_deriving_from_other_adapter_classes(tmp_path):
    """An adapter class may derive from another: of the same file, of a module beside it
    (followed through ``from module import Base``), or, when named ``Adapter``, from one
    defined anywhere; the message says how to name a class that cannot be found."""
    write_adapter(tmp_path / "_base.py", "SharedBase")
    (tmp_path / "same_file.py").write_text(
        (tmp_path / "_base.py").read_text() + "\n\nclass Derived(SharedBase):\n    pass\n")
    (tmp_path / "beside.py").write_text("from _base import SharedBase as Base\n\n\nclass MyGRU(Base):\n    pass\n")
    (tmp_path / "elsewhere.py").write_text("from somewhere import Base\n\n\nclass Adapter(Base):\n    pass\n")
    (tmp_path / "unknown.py").write_text("from somewhere import Base\n\n\nclass MyGRU(Base):\n    pass\n")
    subs = {s.id: s for s in grade_folder.collect([str(tmp_path)])}
    assert subs["same_file"].problem and "several adapter classes (SharedBase, Derived)" in subs["same_file"].problem
    assert subs["beside"].spec.endswith("beside.py:MyGRU"), f"got {subs['beside']}"
    assert subs["elsewhere"].spec.endswith("elsewhere.py:Adapter"), f"got {subs['elsewhere']}"
    assert "name its adapter class 'Adapter', or pass" in subs["unknown"].problem, f"got {subs['unknown'].problem!r}"


def test_collect_names_ids_and_keeps_them_unique(tmp_path):
    write_adapter(tmp_path / "alice.py")
    subs = grade_folder.collect(["torch-gru", "torch-gru", f"bob={tmp_path / 'alice.py'}", str(tmp_path / "alice.py"),
                          "conformance.implementations.torch_reference:TorchGRU"])
    ids = [s.id for s in subs]
    assert ids == ["torch-gru", "torch-gru-2", "bob", "alice", "torch_reference-TorchGRU"], f"got {ids}"
    assert subs[0].spec == "torch-gru", f"got {subs[0].spec}, but a registry id should be passed on as is"
    (tmp_path / "empty").mkdir()
    with pytest.raises(grade_folder.SubmissionError, match="no submissions"):
        grade_folder.collect([str(tmp_path / "empty")])
    with pytest.raises(grade_folder.SubmissionError, match="not a folder"):
        grade_folder.collect([str(tmp_path / "missing" / "thing.txt")])


# Merging -----------------------------------------------------------------------------
def results_file(path: Path, impl_id: str, status: str = "pass", **extra) -> Path:
    checks = {"equations.step": Outcome(status, message="" if status == "pass" else "got 1, but should be 0 [x]")}
    data = build_results([implementation_record(impl_id, checks=checks)], load_all(), environment("grade"))
    data.update(extra)
    path.write_text(json.dumps(data))
    return path


def test_merge_takes_files_folders_and_globs(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    results_file(folder / "a.json", "a")
    results_file(folder / "b.json", "b", "fail")
    (folder / "notes.json").write_text('{"something": "else"}')
    (folder / "b.log").write_text("log")
    single = results_file(tmp_path / "c.json", "c")
    again = results_file(tmp_path / "a-again.json", "a", "fail")
    merged, _ = merging.merge([str(folder), str(single), str(tmp_path / "a-*.json")], json_out=tmp_path / "merged.json")
    ids = [impl.id for impl in merged.implementations]
    assert ids == ["a", "b", "c"], f"got {ids}, but should be one row per id in input order"
    verdicts = {impl.id: impl.verdict for impl in merged.implementations}
    assert verdicts["a"] == "nonconformant", f"got {verdicts['a']}, but the later file for a repeated id should win"
    assert read_results(tmp_path / "merged.json")["schema"] == SCHEMA
    assert again.exists()


def test_merge_reports_bad_inputs(tmp_path):
    with pytest.raises(merging.MergeError, match="no such file"):
        merging.results_paths([str(tmp_path / "nope.json")])
    with pytest.raises(merging.MergeError, match="matches no file"):
        merging.results_paths([str(tmp_path / "*.json")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(merging.MergeError, match="no results files"):
        merging.results_paths([str(tmp_path / "empty")])


def test_report_command_merges_a_folder_and_attaches_benchmarks(tmp_path):
    from conformance.reporting import bench
    from conformance.commands import cli

    results_file(tmp_path / "a.json", "a")
    results_file(tmp_path / "b.json", "b")
    section = {"schema": bench.SCHEMA, "reference": bench.REFERENCE, "configs": {}, "results": [], "skipped": []}
    bench_path = tmp_path / "bench" / "benchmarks.json"
    bench_path.parent.mkdir()
    bench_path.write_text(json.dumps(section))
    code = cli.main(["report", str(tmp_path), "-o", str(tmp_path / "out" / "index.html"),
                     "--json", str(tmp_path / "out" / "merged.json"), "--benchmarks", str(bench_path)])
    merged = read_results(tmp_path / "out" / "merged.json")
    assert [i["id"] for i in merged["implementations"]] == ["a", "b"], f"got {merged['implementations']}"
    assert merged["benchmarks"] == section, f"got {merged.get('benchmarks')}, but should be the benchmarks file"
    assert code == 0 and (tmp_path / "out" / "index.html").is_file(), f"got exit code {code}, but should be 0"
    assert cli.main(["report", str(tmp_path / "nothing-here")]) == 2


# Isolation ------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_process_that_exits_cleanly_without_results_is_an_error(tmp_path):
    """A grading process that exits with code 0 and no results (os._exit(0), here from a
    submission graded without isolation) gets an error verdict, and a results file left by
    an earlier run does not pass for this one."""
    path = write_adapter(tmp_path / "quits.py", body="import os; os._exit(0)")
    sub = grade_folder.collect([str(path)])[0]
    out = tmp_path / "out"
    out.mkdir()
    results_file(out / "quits.json", "quits")  # stale, and passing
    graded = grade_folder.grade_one(sub, out, time_limit=120, memory_mb=grade_folder.DEFAULT_MEMORY_MB, profile="quick",
                             extra=["--no-isolation"])
    data = read_results(graded.results)
    impl = data["implementations"][0]
    assert (graded.exit_code, impl["verdict"]) == (0, "error"), f"got exit {graded.exit_code}, verdict {impl['verdict']}"
    assert "exited with code 0 before it finished grading" in impl["load_error"], f"got {impl['load_error']!r}"
    assert data["complete"] is False, "got complete results from a grading process that ended early"
    assert impl["grading"]["spec"] == sub.spec and impl["id"] == "quits", f"got {impl['id']}, {impl['grading']}"


@pytest.mark.slow
def test_a_bad_pytest_option_is_not_blamed_on_the_submission(tmp_path):
    graded = grade_folder.grade_one(grade_folder.Submission("ref", "torch-gru"), tmp_path, time_limit=300,
                             extra=["--no-such-option"])
    assert graded.verdict == "error" and graded.exit_code == 4, f"got {graded.verdict}, exit {graded.exit_code}"
    assert "pytest could not run" in graded.message and "unrecognized arguments" in graded.message, \
        f"got {graded.message!r}, but should name pytest's usage error"


def test_a_submission_that_cannot_be_read_is_not_launched(tmp_path):
    (tmp_path / "empty.py").write_text("x = 1\n")
    sub = grade_folder.collect([str(tmp_path / "empty.py")])[0]
    graded = grade_folder.grade_one(sub, tmp_path / "out", time_limit=300)
    impl = read_results(graded.results)["implementations"][0]
    assert graded.exit_code is None and impl["verdict"] == "error", f"got exit {graded.exit_code}, {impl['verdict']}"
    assert "defines no class deriving from CellAdapter or LayerAdapter" in impl["load_error"], f"got {impl['load_error']!r}"


# Session scope, one worker: a module-scoped fixture is rebuilt whenever a worker runs another module's test in between.
@pytest.fixture(scope="session")
def example_run(tmp_path_factory):
    """The documented example: grade the example folder, two at a time, with limits."""
    work = tmp_path_factory.mktemp("fleet")
    out = work / "out"
    cmd = [sys.executable, "-m", "conformance", "grade-folder", str(EXAMPLES), "--out", str(out),
           "-j", "2", "--time-limit", "300", "--check-timeout", "10", "--memory-mb", "2048", "--profile", "quick"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    return proc, out


@pytest.mark.slow
@pytest.mark.xdist_group("example-folder")
def test_example_folder_grades_every_submission(example_run):
    proc, out = example_run
    assert proc.returncode == 1, (f"got exit code {proc.returncode}, but should be 1 (some submissions fail) "
                                  f"[{proc.stdout[-2000:]}{proc.stderr[-2000:]}]")
    merged = read_results(out / "results.json")
    verdicts = {impl["id"]: impl["verdict"] for impl in merged["implementations"]}
    expected = {"crashes": "nonconformant", "greedy": "nonconformant", "hangs": "nonconformant",
                "pytorch_cell": "conformant-pytorch", "swapped_gates": "nonconformant", "wrapped_gru": "consistent"}
    assert verdicts == expected, f"got {verdicts}, but should be {expected} [{proc.stdout}]"
    for sub_id in expected:
        data = read_results(out / "submissions" / f"{sub_id}.json")
        assert [i["id"] for i in data["implementations"]] == [sub_id], f"got {data['implementations']}"
    swapped = next(i for i in merged["implementations"] if i["id"] == "swapped_gates")
    assert swapped["checks"]["equations.step"]["status"] == "fail", f"got {swapped['checks']['equations.step']}"


@pytest.mark.slow
@pytest.mark.xdist_group("example-folder")
def test_crash_hang_and_memory_hog_each_get_a_clear_error(example_run):
    _, out = example_run
    impls = {i["id"]: i for i in read_results(out / "results.json")["implementations"]}
    crash, hang, greedy = impls["crashes"], impls["hangs"], impls["greedy"]
    # The crash happens in the submission's worker: its grading process goes on, and each
    # check says what became of the worker (the first three; the rest would repeat it).
    messages = [o["message"] for o in crash["checks"].values() if o["status"] == "error"]
    assert messages and all("exited with code 3" in m for m in messages), f"got {messages[:4]}"
    assert any(m.startswith("not run: the implementation's worker process was lost") for m in messages), \
        f"got {messages[:5]}, but after three lost workers the remaining checks should not be run"
    assert crash["grading"]["exit_code"] == 1 and not crash["grading"]["timed_out"], f"got {crash['grading']}"
    # The hang and the memory hog are errors of their checks, as grade reports them: the hang
    # is stopped at the check's time limit (three times, then the rest are not run); each
    # allocation fails.
    hung = [o["message"] for o in hang["checks"].values() if o["status"] == "error"]
    assert hung and "did not answer within the time limit of 10 s" in hung[0], f"got {hung[:3]}"
    assert any(m.startswith("not run: the implementation's worker process was lost") for m in hung), f"got {hung[:5]}"
    assert not hang["grading"]["timed_out"] and not hang.get("load_error"), \
        f"got {hang['grading']}, {hang.get('load_error')!r}: the grading process should end by itself"
    hog = [o["message"] for o in greedy["checks"].values() if o["status"] == "error"]
    assert hog and all("[the worker's memory limit is 2048 MB]" in m for m in hog), f"got {hog[:3]}"
    assert not greedy.get("load_error"), f"got {greedy['load_error']!r}, but it was graded"


@pytest.mark.slow
@pytest.mark.xdist_group("example-folder")
def test_the_merge_command_rebuilds_the_same_scoreboard(example_run, tmp_path):
    _, out = example_run
    code = subprocess.run([sys.executable, "-m", "conformance", "report", str(out / "submissions"),
                           "-o", str(tmp_path / "index.html"), "--json", str(tmp_path / "results.json")],
                          cwd=ROOT, capture_output=True, text=True).returncode
    assert code == 0 and (tmp_path / "index.html").is_file(), f"got exit code {code}, but should be 0"
    again = {i["id"]: i["verdict"] for i in read_results(tmp_path / "results.json")["implementations"]}
    first = {i["id"]: i["verdict"] for i in read_results(out / "results.json")["implementations"]}
    assert again == first, f"got {again}, but should be {first}"


def test_example_folder_is_self_contained():
    """The documented example needs nothing outside the repository (a fresh clone runs it)."""
    for path in EXAMPLES.rglob("*.py"):
        text = path.read_text()
        assert "/tmp/" not in text and "/work/" not in text, f"got a machine path in {path}"


# One machine: pytest-xdist ---------------------------------------------------------------
def test_grade_passes_scale_out_options_to_pytest(monkeypatch, tmp_path):
    """-n and -k are the grade command's own options, so their values are never read as
    implementation names; -n brings --dist loadgroup (one implementation per worker)."""
    import pytest as pytest_module

    from conformance.commands import cli

    seen: list[list[str]] = []
    monkeypatch.setattr(pytest_module, "main", lambda argv, **_: seen.append(list(argv)) or 0)
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    code = cli.main(["grade", "--all", "-n", "2", "-k", "equations", "--no-html",
                     "--results", str(tmp_path / "r.json")])
    argv = seen[0]
    assert code == 0 and "--impl" not in argv, f"got {argv}, but '2' and 'equations' are no implementation names"
    pairs = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i] in ("-n", "--dist", "-k", "--threads")}
    assert pairs == {"-n": "2", "--dist": "loadgroup", "-k": "equations", "--threads": "1"}, f"got {pairs} in {argv}"
    import os

    assert os.environ["OMP_NUM_THREADS"] == "1", "got xdist workers without the one-thread setting"
    assert cli.main(["grade", "torch-gru", "--threads", "-1"]) == 2


def test_grade_of_several_implementations_uses_a_grading_process_per_core(monkeypatch, tmp_path):
    """Without -n, grading several implementations in isolation takes one grading process per
    core, at most one per implementation: ``--all`` counts the registry; one implementation,
    --no-isolation and -n 0 keep one process."""
    import pytest as pytest_module

    from conformance.commands import cli

    seen: list[list[str]] = []
    monkeypatch.setattr(pytest_module, "main", lambda argv, **_: seen.append(list(argv)) or 0)
    monkeypatch.setattr(cli, "usable_cores", lambda: 2)
    results = ["--no-html", "--results", str(tmp_path / "r.json")]

    def workers(*args: str) -> str | None:
        seen.clear()
        assert cli.main(["grade", *args, *results]) == 0
        argv = seen[0]
        return argv[argv.index("-n") + 1] if "-n" in argv else None

    assert workers("--all") == "2", "got --all graded in one process, but should take one per core"
    assert workers("torch-gru", "doc000-cell") == "2"
    assert workers("torch-gru") is None, "got -n for one implementation, but one process is all it can use"
    assert workers("--all", "-n", "0") == "0"
    assert workers("--all", "--no-isolation") is None


def test_implementation_of_nodeid_reads_the_check_parameter():
    from conformance.commands.grading_plugin import implementation_of_nodeid

    got = implementation_of_nodeid("conformance/checks/contract.py::test_dtype_preserved[doc000-cell]")
    assert got == "doc000-cell", f"got {got!r}, but should be 'doc000-cell'"
    odd = implementation_of_nodeid("conformance/checks/contract.py::test_dtype_preserved[a[1]-b]")
    assert odd == "a[1]-b", f"got {odd!r}, but should be the whole parameter"
    grouped = implementation_of_nodeid("conformance/checks/contract.py::test_dtype_preserved[doc000-cell]@doc000-cell")
    assert grouped == "doc000-cell", f"got {grouped!r}, but pytest-xdist before 3.7 appends the group to the id"
    for other in ("tests/test_fleet.py::test_x[a]", "conformance/checks/contract.py::test_dtype_preserved",
                  "conformance/checks/contract.py"):
        assert implementation_of_nodeid(other) is None, f"got an implementation for {other!r}, but should be None"


def test_declared_groups_are_read_from_the_source(tmp_path):
    """The scheduler's groups for other tests: a function's xdist_group decorator wins over
    its module's pytestmark (a single mark or a list); unmarked tests and unreadable
    files have none."""
    from conformance.commands.grading_plugin import declared_group

    (tmp_path / "test_a.py").write_text(
        "import pytest\n"
        "pytestmark = [pytest.mark.slow, pytest.mark.xdist_group('module-group')]\n"
        "def test_plain(): pass\n"
        "@pytest.mark.xdist_group('own')\n@pytest.mark.parametrize('x', [1])\ndef test_own(x): pass\n")
    (tmp_path / "test_b.py").write_text("def test_plain(): pass\n")
    cases = {"test_a.py::test_plain": "module-group", "test_a.py::test_own[1]": "own",
             "test_b.py::test_plain": None, "missing.py::test_x": None}
    for nodeid, want in cases.items():
        got = declared_group(tmp_path, nodeid)
        assert got == want, f"got group {got!r} for {nodeid}, but should be {want!r}"


@pytest.mark.slow
def test_xdist_keeps_each_implementation_in_one_worker_in_order(tmp_path):
    """With -n 2 no check runs after one it depends on failed: each is reported blocked, as
    in one process, because an implementation's checks run in one worker, in order."""
    from conformance.grading.outcome import FAILING

    results = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "conformance", "grade", "doc000-cell", "-n", "2",
                           "--profile", "quick", "--no-html", "--results", str(results)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert results.exists(), f"got no results [{proc.stdout[-1500:]}{proc.stderr[-1500:]}]"
    data = read_results(results)
    checks = data["implementations"][0]["checks"]
    ran_anyway = [f"{cid} ({o['status']}) after {dep} ({checks[dep]['status']})"
                  for cid, o in checks.items() if o["status"] not in ("blocked", "not_applicable")
                  for dep in data["checks"][cid]["depends_on"] if checks.get(dep, {}).get("status") in FAILING]
    assert not ran_anyway, f"got {ran_anyway} under -n 2, but each should be blocked by its failed dependency"
    assert checks["equations.step"]["status"] == "fail", f"got {checks['equations.step']['status']}"
