"""``process.global-state`` fails only what can alter another computation's result, and
judges the same on a loaded machine as on a quiet one: graded as a user runs it (a
``grade`` subprocess, sandboxed workers) on a core that busy loops keep busy.

The benign submissions (``tests/passes_correct/benign``) are correct GRUs whose libraries do things to
the process that change no result (a library's helper process, new attributes that
replace nothing): conformant, with notes. Beside them, the hostile ones that change the
process (``tests/trust_boundary/hostile``) still fail, each naming what it did.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENIGN = ROOT / "tests" / "passes_correct" / "benign"
LAYERS = ROOT / "tests" / "gallery" / "library_layers.py"
HOSTILE = ROOT / "tests" / "trust_boundary" / "hostile"

pytestmark = [pytest.mark.xdist_group("isolation"), pytest.mark.slow]

#: Hostile submissions whose finding waits on a process (the others do not depend on timing:
#: tests/trust_boundary/test_isolation.py), and what their failure must say.
CHANGERS = {
    "leaves_child": "left a child process running",
}
#: Benign submissions (file:class) and the words of their note: a library's helper process;
#: a recursion limit raised as inductor raises it; torch.compile's mark on nn.Module; the
#: __annotations__ Python creates on nn.GRU when torch.jit.script reads them.
BENIGN_NOTES = {
    f"{BENIGN}/library_helper.py:HelperGRU": "a library's helper process is running",
    f"{BENIGN}/raises_recursion_limit.py:RecursionLimitGRU": "recursion limit",
    f"{LAYERS}:TorchGRU#toolchain=compile": "added torch.nn.Module.___needs_generation_tag_patch",
    f"{LAYERS}:TorchGRU#toolchain=script": "added torch.nn.GRU.__annotations__",
}


#: Busy loops sharing the grading's core: it runs at about a third of its speed.
BURNERS = 2


@contextlib.contextmanager
def busy_core() -> Iterator[int]:
    """A core kept busy by ``BURNERS`` busy loops, as other work on the machine would: grading
    pinned to it (its workers inherit the pinning) runs loaded, and the test's neighbours on
    the other cores are left alone (their own time limits are not this test's business)."""
    core = max(os.sched_getaffinity(0))
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BURNERS)]
    try:
        for burner in burners:
            os.sched_setaffinity(burner.pid, {core})
        yield core
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def test_verdicts_hold_on_a_loaded_machine(tmp_path: Path):
    results = tmp_path / "results.json"
    names = list(BENIGN_NOTES) + [f"{HOSTILE / name}.py:Adapter" for name in CHANGERS]
    argv = [sys.executable, "-m", "conformance", "grade", *names, "-k", "process_state", "--profile", "quick",
            "--results", str(results), "--no-html"]
    with busy_core() as core:
        grading = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   preexec_fn=lambda: os.sched_setaffinity(0, {core}))  # its workers inherit it
        output, _ = grading.communicate(timeout=900)
    run = subprocess.CompletedProcess(argv, grading.returncode, output, "")
    assert results.is_file(), f"got no results: {run.stdout[-2000:]}{run.stderr[-2000:]}"
    records = {r["source"]: r for r in json.loads(results.read_text())["implementations"]}
    records.update({r["id"]: r for r in records.values()})
    for name, words in BENIGN_NOTES.items():
        record = records[name]
        state = record["checks"]["process.global-state"]
        assert record["verdict"] == "conformant-pytorch" and state["status"] == "pass", \
            f"got {name} {record['verdict']} ({state['status']}: {state['message'][:400]}), but it is correct and " \
            f"changes nothing another computation sees"
        assert words in state["message"], f"got the note {state['message'][:400]!r}, but should say {words!r}"
    for name, words in CHANGERS.items():
        state = records[name]["checks"]["process.global-state"]
        assert state["status"] == "fail" and words in state["message"], \
            f"got {name} process.global-state {state['status']}: {state['message'][:400]!r}, but should fail " \
            f"saying {words!r}"
