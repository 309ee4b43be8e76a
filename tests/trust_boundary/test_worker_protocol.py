"""The pieces of the trust boundary, one at a time: the wire (plain data only, every
size checked), the grader's reading of answers (nothing trusted), the state guard
(each piece of process-wide state restored and named) and the sandbox's view of the
file system."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conformance.running import wire
from conformance.cases.generated import CaseSpec
from conformance.running.isolation import WorkerLost, WorkerProcess
from conformance.running import process_state
from conformance.running.process_state import StateGuard
from conformance.running.sandbox import Limits, Sandbox, Scratch
from conformance.running.subject import AdapterError, Subject
from tests.passes_correct.correct import CORRECT

ROOT = Path(__file__).resolve().parents[2]


# The wire -----------------------------------------------------------------------------
def test_wire_round_trips_plain_data():
    message = {"op": "call", "x": np.arange(6.0).reshape(2, 3), "n": 3, "flags": [True, None, "text"],
               "nested": {"a": np.array([1, 2], dtype=np.int64)}, "inf": float("inf"), "nan": float("nan")}
    got = wire.decode(*wire.read_frames(_stream(wire.encode(message))))
    assert np.array_equal(got["x"], message["x"]) and got["x"].dtype == np.float64, f"got {got['x']!r}"
    assert got["nested"]["a"].tolist() == [1, 2] and got["flags"] == [True, None, "text"], f"got {got}"
    assert got["inf"] == float("inf") and got["nan"] != got["nan"], f"got {got['inf']}, {got['nan']}"


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, n: int) -> bytes:
        chunk = self.data[self.at:self.at + n]
        self.at += len(chunk)
        return chunk


def _stream(data: bytes) -> Any:
    return _Bytes(data)


def _frame(body: dict, buffers: list[bytes], declared: int | None = None) -> bytes:
    text = json.dumps(body).encode()
    total = sum(len(b) for b in buffers) if declared is None else declared
    parts = [wire.HEAD.pack(wire.MAGIC, len(text), len(buffers), total), text]
    for b in buffers:
        parts += [struct.pack("<Q", len(b)), b]
    return b"".join(parts)


@pytest.mark.parametrize("data, reason", [
    (b"PICK" + b"\0" * 8, "bad magic"),
    (_frame({"a": {"__array__": 0, "dtype": "object", "shape": [1]}}, [b"12345678"]), "object dtype"),
    (_frame({"a": {"__array__": 0, "dtype": "float64", "shape": [2]}}, [b"12345678"]), "byte count"),
    (_frame({"a": {"__array__": 1, "dtype": "float64", "shape": [1]}}, [b"12345678"]), "missing buffer"),
    (_frame({"a": {"__array__": 0, "dtype": "float64", "shape": [1]},
             "b": {"__array__": 0, "dtype": "float64", "shape": [1]}}, [b"12345678"]), "buffer used twice"),
    (_frame({"a": {"__array__": 0, "dtype": "float64", "shape": [-1]}}, [b""]), "negative shape"),
    (_frame({"a": {"__float__": "__import__('os')"}}, []), "bad float"),
    (wire.HEAD.pack(wire.MAGIC, 3, 0, 0) + b"[1]", "not an object"),
    (wire.HEAD.pack(wire.MAGIC, 10, 0, 0) + b"{", "truncated"),
    (_frame({"a": {"__array__": 0, "dtype": "float64", "shape": [1]}}, [b"12345678"], declared=16), "declared total"),
    (_frame({"a": {"__array__": 0, "dtype": "float64", "shape": [1]}}, [b"12345678"], declared=4), "over the total"),
])
def test_wire_rejects_malformed_messages(data: bytes, reason: str):
    with pytest.raises(wire.WireError):
        wire.decode(*wire.read_frames(_stream(data)))


def test_wire_refuses_a_message_too_large_from_its_head_alone():
    """The sizes are declared in the first bytes: a message over the reader's bound is
    refused having read only those, whatever follows."""
    stream = _stream(_frame({"a": {"__array__": 0, "dtype": "float64", "shape": [1 << 20]}}, [b"\0" * (8 << 20)]))
    with pytest.raises(wire.TooLarge) as raised:
        wire.read_frames(stream, max_bytes=1 << 20)
    assert stream.at == wire.HEAD.size, f"got {stream.at} bytes read, but should read only the {wire.HEAD.size}-byte head"
    assert raised.value.declared == 8 << 20, f"got {raised.value.declared} bytes declared, but should be {8 << 20}"


def test_wire_refuses_to_send_objects():
    with pytest.raises(wire.WireError, match="dtype object"):
        wire.encode({"x": np.array([object()], dtype=object)})


def test_the_grader_refuses_an_answer_over_its_bound_before_reading_it():
    """A worker declaring an 8 GB answer (and sending none of it) is refused from its head:
    were the grader to read on, it would wait until the check's time limit instead."""
    worker = WorkerProcess("declares-8-GB", sandbox=Sandbox(Limits(), tool=""))
    script = ("import struct, sys, time; out = sys.stdout.buffer; "
              "out.write(struct.pack('<4sIIQ', b'GRUW', 2, 1, 8 << 30) + b'{}'); out.flush(); time.sleep(600)")
    worker.proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   start_new_session=True)
    worker.hello = {"ok": True}
    worker.begin(300)
    try:
        with pytest.raises(WorkerLost) as raised:
            worker.request({"op": "call"}, answer_bytes=1 << 20)
    finally:
        worker.close()
    message = str(raised.value)
    assert "answered with 8.0 GB of arrays" in message and "refused unread" in message, \
        f"got {message!r}, but should refuse the 8 GB answer from its declared size"


# Reading answers ---------------------------------------------------------------------
class Scripted:
    """A backend whose answers are given: what a misbehaving worker could send."""

    generation = 0
    alive = True

    def __init__(self, info: Any, answers: list[dict]) -> None:
        self.info, self.answers = info, list(answers)

    def request(self, message: dict, answer_bytes: int | None = None) -> dict:
        if message["op"] == "describe":
            return {"ok": True, "info": self.info}
        if message["op"] == "checkpoint":
            return {"ok": True}
        answer = self.answers.pop(0)
        return {**answer, "built": True} if "build" in message else answer

    def begin(self, seconds):
        pass

    def end(self):
        return {"text": "", "bytes": 0, "truncated": False}

    def close(self):
        pass


INFO = {"kind": "layer", "name": "scripted", "reset": "after", "white_box": True, "notes": "",
        "capabilities": {"dtypes": ["float32"]}, "parameter_grads": False, "takes_lengths": False}


def _value(shape: tuple[int, ...], values: Any = None) -> dict:
    array = np.zeros(shape) if values is None else values
    return {"kind": "tensor", "dtype": "float32", "device": "cpu", "shape": list(shape), "requires_grad": False,
            "values": array}


@pytest.mark.parametrize("info, words", [
    ({**INFO, "kind": "function"}, "kind is 'function'"),
    ({**INFO, "reset": "sideways"}, "reset is 'sideways'"),
    ({**INFO, "capabilities": {"dtypes": ["complex128"]}}, "dtypes"),
    ({**INFO, "capabilities": {"teleport": True}}, "unknown capability"),
    ({**INFO, "white_box": "yes"}, "'white_box' is a str"),
    ("not a dict", "expected an object"),
])
def test_malformed_declarations_make_a_load_error(info: Any, words: str):
    subject = Subject("scripted", backend=Scripted(info, []))
    assert "malformed" in subject.load_error and words in subject.load_error, f"got {subject.load_error!r}"


@pytest.mark.parametrize("answer, words", [
    ({"ok": True, "output": _value((2, 3, 4), np.zeros((5,))), "h_n": _value((1, 3, 4))}, "malformed"),
    ({"ok": True, "output": {"kind": "tensor", "shape": "big"}, "h_n": _value((1, 3, 4))}, "malformed"),
    ({"ok": True, "output": {"kind": "Payload"}, "h_n": _value((1, 3, 4))}, "output is a Payload, not a tensor"),
    ({"ok": True, "output": _value((2, 3, 5)), "h_n": _value((1, 3, 4))}, "should have shape (2, 3, 4)"),
    ({"ok": False, "error": "run raised ValueError: nope"}, "run raised ValueError: nope"),
])
def test_malformed_answers_are_adapter_errors(answer: dict, words: str):
    subject = Subject("scripted", backend=Scripted(INFO, [answer]))
    case = CaseSpec(steps=2, batch=3, input_size=2, hidden_size=4).materialize()
    with pytest.raises(AdapterError) as raised:
        subject.call(subject.instantiate(case), case.x, case.h0)
    assert words in str(raised.value), f"got {raised.value}, but should say {words!r}"


# The state guard ----------------------------------------------------------------------
CHANGES = {
    "grad mode": lambda: torch.set_grad_enabled(False),
    "default dtype": lambda: torch.set_default_dtype(torch.float64),
    "torch random generator's seed": lambda: torch.manual_seed(7),
    "number of torch threads": lambda: torch.set_num_threads(torch.get_num_threads() + 1),
    "anomaly detection": lambda: torch.autograd.set_detect_anomaly(True),
    "deterministic algorithms": lambda: torch.use_deterministic_algorithms(True),
    "float32 matmul precision": lambda: torch.set_float32_matmul_precision("medium"),
    "autocast (cpu)": lambda: torch.set_autocast_enabled("cpu", True),
    "NumPy floating-point error handling": lambda: np.seterr(all="raise"),
    "working directory": lambda: os.chdir("/"),
    "environment variables": lambda: os.environ.__setitem__("GRU_CONFORMANCE_PROBE", "1"),
    "default device": lambda: torch.set_default_device("meta"),
}


@pytest.mark.parametrize("what", list(CHANGES))
def test_every_kind_of_state_change_is_restored_and_named(what: str):
    guard = StateGuard()
    cwd = os.getcwd()
    changes: list = []
    with guard.around(changes):
        CHANGES[what]()
    texts = [c.text() for c in changes]
    assert any(what in t for t in texts), f"got {texts}, but the change of the {what} should be named"
    after: list = []
    with guard.around(after):
        pass
    assert not after, f"got {[c.text() for c in after]} after restoring, but the {what} should be back"
    assert os.getcwd() == cwd and "GRU_CONFORMANCE_PROBE" not in os.environ


def test_a_raised_recursion_limit_is_a_note_and_a_lowered_one_fails():
    """Raised (torch.compile's inductor raises it to 2000), the limit alters no other
    computation's result: a note, said once, and kept. Lowered, it can make one fail."""
    start = sys.getrecursionlimit()
    guard = StateGuard()
    try:
        raised: list = []
        with guard.around(raised, deep=True):
            sys.setrecursionlimit(start + 1000)
        assert [c.note for c in raised] == [True] and "recursion limit" in raised[0].text(), \
            f"got {[c.to_json() for c in raised]}, but a raised recursion limit should be one note"
        assert sys.getrecursionlimit() == start + 1000, "got the raised limit put back, but a note keeps it"
        again: list = []
        with guard.around(again, deep=True):
            pass
        assert not again, f"got {[c.text() for c in again]}, but a note is said once"
        lowered: list = []
        with guard.around(lowered, deep=True):
            sys.setrecursionlimit(start - 100)
        assert [c.note for c in lowered] == [False], \
            f"got {[c.to_json() for c in lowered]}, but a lowered recursion limit should fail"
        assert sys.getrecursionlimit() == start + 1000, f"got {sys.getrecursionlimit()}, but it should be put back"
    finally:
        sys.setrecursionlimit(start)


def test_replaced_functions_are_found_at_the_deep_checkpoint_and_put_back():
    guard = StateGuard()
    original = torch.tanh
    changes: list = []
    with guard.around(changes, deep=True):
        torch.tanh = lambda a: a
    assert torch.tanh is original, "got torch.tanh still replaced after the checkpoint"
    assert any("replaced torch.tanh" in c.text() for c in changes), f"got {[c.text() for c in changes]}"


def test_warning_filters_are_compared_at_the_checkpoint():
    guard = StateGuard()
    changes: list = []
    with guard.around(changes, deep=True):
        warnings.simplefilter("ignore")
    assert any("warning filters" in c.text() for c in changes), f"got {[c.text() for c in changes]}"


def test_threads_left_running_are_the_implementations_own():
    """A thread of the implementation's own code that ends by itself within the grace
    period is not left running, nor is a library's machinery (an idle pool worker, as
    OpenVINO's import starts); one of its own code still running afterwards is named."""
    guard = StateGuard()
    stop = threading.Event()

    def brief() -> None:
        time.sleep(0.2)

    def linger() -> None:
        stop.wait()

    pool = concurrent.futures.ThreadPoolExecutor(1)
    quiet: list = []
    lasting: list = []
    try:
        with guard.around(quiet, deep=True):
            threading.Thread(target=brief).start()
            pool.submit(lambda: None).result()
        with guard.around(lasting, deep=True):
            threading.Thread(target=linger, name="lingers").start()
            timer = threading.Timer(60, linger)  # its own function, run by the standard library's Timer
            timer.name = "own-timer"
            timer.start()
    finally:
        stop.set()
        timer.cancel()
        pool.shutdown()
    assert not quiet, f"got {[c.text() for c in quiet]}, but neither thread was left running by the implementation"
    texts = [c.text() for c in lasting]
    for name in ("lingers", "own-timer"):
        assert any(f"left a thread running ('{name}'" in t for t in texts), f"got {texts}, but should name {name}"


def test_new_attributes_that_replace_nothing_are_notes_and_stay():
    """What a library or Python adds to its own modules and classes (pybind11's registry in
    builtins, torch.compile's mark on nn.Module, the empty __annotations__ Python 3.11
    creates on a class when it is first read) changes what no existing code looks up: a
    note, kept. A new class attribute that hides a base class's (an inherited method) is a
    patch: named and removed."""
    import builtins

    guard = StateGuard()
    changes: list = []
    added = {(builtins, "__pybind11_internals_probe__"): object(), (builtins, "gru_probe_function"): lambda: None,
             (torch.nn.Module, "___gru_probe_mark"): False,
             (torch.nn.GRU, "gru_probe_data"): property(lambda self: True)}
    try:
        with guard.around(changes, deep=True):
            for (owner, name), value in added.items():
                setattr(owner, name, value)
            torch.nn.GRUCell.__annotations__  # noqa: B018 - reading it creates it (Python 3.10+)
            torch.nn.GRU.zero_grad = lambda self, set_to_none=True: None  # hides nn.Module.zero_grad
        notes = [c.text() for c in changes if c.note]
        found = [c.text() for c in changes if not c.note]
        for owner, name in added:
            assert getattr(owner, name, None) is added[(owner, name)], f"got {name} removed, but it replaces nothing"
            assert any(f".{name} (" in t and "replaces nothing" in t for t in notes), f"got notes {notes}"
        assert found == ["added torch.nn.GRU.zero_grad, which hides torch.nn.modules.module.Module.zero_grad "
                         "(monkeypatching)"], f"got findings {found}"
        assert "zero_grad" not in vars(torch.nn.GRU), "got the hiding attribute left on nn.GRU"
        again: list = []
        with guard.around(again, deep=True):
            pass
        assert not again, f"got {[c.text() for c in again]}: a note is given once"
    finally:
        for owner, name in [*added, (torch.nn.GRU, "zero_grad")]:
            if name in vars(owner):
                delattr(owner, name)


def test_replaced_or_deleted_attributes_fail_and_are_put_back():
    guard = StateGuard()
    sigmoid, linear = torch.sigmoid, torch.nn.functional.linear
    changes: list = []
    try:
        with guard.around(changes, deep=True):
            torch.sigmoid = lambda a: a
            del torch.nn.functional.linear
    finally:
        torch.sigmoid, torch.nn.functional.linear = sigmoid, linear
    texts = sorted(c.text() for c in changes if not c.note)
    assert texts == ["deleted torch.nn.functional.linear (monkeypatching)", "replaced torch.sigmoid (monkeypatching)"], \
        f"got {texts}"


def _first(batch: list) -> object:
    return batch[0]


def test_child_processes_are_judged_by_what_started_them(monkeypatch: pytest.MonkeyPatch):
    """A child the implementation's own code started and that ends by itself is waited
    for; one still running is named and killed. A library's helper (torch's DataLoader
    workers, started by torch's code) is a note and is left to the library, whether or not
    it has ended when the check looks."""
    import subprocess
    import sys

    guard = StateGuard()
    brief, lasting, helpers = [], [], []
    with guard.around(brief, deep=True):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    monkeypatch.setattr(process_state, "GRACE", 0.5)  # it never ends: how long it is waited for decides nothing
    guard = StateGuard()  # (a guard sees a change to the suite's own module)
    with guard.around(lasting, deep=True):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    loader = torch.utils.data.DataLoader(list(range(8)), batch_size=1, num_workers=1, collate_fn=_first)
    batches = iter(loader)
    try:
        with guard.around(helpers, deep=True):
            next(batches)  # the worker stays until the iterator is gone
    finally:
        del batches
    assert not brief, f"got {[c.text() for c in brief]}, but a child that ends by itself is not left running"
    assert [c.text() for c in lasting if not c.note] and all(
        "left a child process running" in c.text() and "test_worker_protocol.py" in c.text() for c in lasting), \
        f"got {[c.text() for c in lasting]}, but should name the child left running and the code that started it"
    assert child.wait(timeout=10) == -signal.SIGKILL, "got the lasting child alive, but it should be killed"
    # (Where the DataLoader first starts workers in this process, torch's child watch is a note too.)
    helpers = [c for c in helpers if "signal handlers" not in c.text() or not c.note]
    assert helpers and all(c.note and "torch/utils/data/dataloader.py" in c.text() for c in helpers), \
        f"got {[(c.text(), c.note) for c in helpers]}, but the DataLoader's worker is torch's helper: a note"


def _handler_from(filename: str) -> Any:
    """A signal handler whose code comes from ``filename`` (as if that file defined it)."""
    namespace: dict[str, Any] = {}
    exec(compile("def handler(signum, frame):\n    pass\n", filename, "exec"), namespace)
    return namespace["handler"]


@pytest.mark.parametrize("signal_name, library, note", [
    ("SIGCHLD", True, True),  # torch's DataLoader watching its workers (torch/utils/data/_utils/signal_handling.py)
    ("SIGCHLD", False, False),  # the implementation's own
    ("SIGTERM", True, False),  # a library's code can still keep the worker from being stopped
])
def test_a_libraries_child_watch_is_a_note_and_any_other_handler_fails(signal_name: str, library: bool, note: bool):
    """A SIGCHLD handler of torch's own code (its DataLoader installs one when it first starts
    workers, in whatever check that happens) alters no result: a note, kept. Any other new
    handler is a finding, and is put back."""
    from conformance.running.process_state import StateGuard

    where = os.path.join(os.path.dirname(torch.__file__), "utils", "data", "_utils", "signal_handling.py")
    handler = _handler_from(where if library else __file__)
    sig = getattr(signal, signal_name)
    before = signal.getsignal(sig)
    guard, found = StateGuard(), []
    try:
        with guard.around(found, deep=True):
            signal.signal(sig, handler)
        kept = signal.getsignal(sig) is handler
    finally:
        signal.signal(sig, before)
    texts = [(c.text(), c.note) for c in found]
    assert len(found) == 1 and "signal handlers" in found[0].text() and found[0].note == note, (
        f"got {texts}, but should be {'a note' if note else 'a finding'} about the signal handlers")
    assert kept == note, f"got the handler {'kept' if kept else 'put back'}, but a {'note' if note else 'finding'} " \
                         f"should be {'kept' if note else 'put back'}"


def test_the_warnings_record_python_keeps_in_a_module_is_nobodys_change():
    """Python records the warnings it has shown in the module they are attributed to (on 3.12
    and later, the fork() warning lands in the guard's own module once a DataLoader starts
    its workers): not a patch, and nobody's doing, so neither a finding nor a note."""
    from conformance.running.process_state import StateGuard

    guard, found = StateGuard(), []
    module = vars(process_state)
    had = "__warningregistry__" in module
    try:
        with guard.around(found, deep=True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # recorded all the same, and kept out of the test's output
                warnings.warn_explicit("use of fork() may lead to deadlocks", DeprecationWarning, __file__, 1,
                                       registry=module.setdefault("__warningregistry__", {}))
    finally:
        if not had:
            module.pop("__warningregistry__", None)
    assert not found, f"got {[c.text() for c in found]}, but Python's own record of warnings is no change"


def test_a_correct_implementation_changes_nothing():
    """Building, loading, calling and back-propagating every correct implementation leaves
    no change: the guard does not blame implementations for the suite's own work."""
    for correct in CORRECT:
        subject = Subject(correct.id, correct.adapter())
        case = subject.fitted(CaseSpec(steps=3, batch=3, input_size=2, hidden_size=3, num_layers=2,
                                       bidirectional=True, dtype="float64")).materialize()
        subject.call(subject.instantiate(case), case.x, case.h0)
        subject.checkpoint()
        assert not subject.state_changes, f"got {subject.state_changes} for {correct.id}"


# The sandbox's view ----------------------------------------------------------------------
def _folder_of_submissions(root: Path) -> dict[str, Path]:
    subs = root / "subs"
    (subs / "__pycache__").mkdir(parents=True)
    paths = {name: subs / f"{name}.py" for name in ("mine", "other", "_helper")}
    for path in paths.values():
        path.write_text("")
    for name in ("mine", "other"):
        (subs / "__pycache__" / f"{name}.cpython-311.pyc").write_bytes(b"")
    (subs / "data.npy").write_bytes(b"")
    (subs / "to-other.py").symlink_to(paths["other"])
    paths["results"] = root / "grades" / "run2"
    paths["earlier"] = root / "grades" / "run1"
    for folder in (paths["results"], paths["earlier"]):
        folder.mkdir(parents=True)
        (folder / "other.json").write_text("{}")
    return paths


def test_the_view_shows_its_own_submission_and_nothing_of_the_others(tmp_path: Path):
    """A worker's view is built from what it needs: its own file and what is beside it
    (helpers, data, its own compiled code), but not another submission, a link to it, its
    compiled code or any results; the names of what is hidden appear in no mount."""
    paths = _folder_of_submissions(tmp_path)
    # As grade-folder runs it: the working directory hidden too.
    sandbox = Sandbox(Limits(), hidden=(str(paths["other"]), str(paths["results"]), os.getcwd()), tool="bwrap")
    mounts = [m.path for m in sandbox.view([str(paths["mine"])])]
    inside = {Path(m).relative_to(tmp_path).as_posix() for m in mounts if Path(m).is_relative_to(tmp_path)}
    assert inside == {"subs/mine.py", "subs/_helper.py", "subs/data.npy", "subs/__pycache__/mine.cpython-311.pyc"}, \
        f"got {sorted(inside)}, but should show its own file, its helper, its data and its own compiled code"
    command = sandbox.command(["python"], own=[str(paths["mine"])])
    assert not [word for word in command if "other" in word or "grades" in word], \
        f"got {[w for w in command if 'other' in w or 'grades' in w]}: a hidden path is named in the sandbox"
    assert command[-1] == "python" and "--unshare-all" in command, f"got {command}"
    assert command[command.index("--chdir") + 1] == str(paths["mine"].parent), "got another working folder"
    assert str(Path.cwd()) not in [m.path for m in sandbox.view([str(paths["mine"])])], "got the hidden working directory"
    grade = Sandbox(Limits(), hidden=(str(paths["other"]),), tool="bwrap")
    assert str(Path.cwd().resolve()) in [m.path for m in grade.view([str(paths["mine"])])] and \
        grade.workdir([str(paths["mine"])]) == str(Path.cwd().resolve()), \
        "got grade's worker without its working directory (an adapter may import the project's modules from it)"
    for place in ("/tmp", "/dev/shm"):
        at = command.index(place)
        assert command[at - 3:at] == ["--size", str(Limits().scratch_mb << 20), "--tmpfs"], \
            f"got {command[at - 3:at + 1]}"
    assert command[command.index("--remount-ro", command.index("/dev")) + 1:][:3] == ["/dev", "--remount-ro", "/"], \
        "got a writable root or /dev"


def test_a_bubblewrap_that_cannot_size_a_tmpfs_gets_a_watched_scratch_folder(tmp_path: Path):
    """bubblewrap before 0.7 has no --size: /tmp and /dev/shm are then a private folder of
    the grader's, whose size it watches, as without bubblewrap."""
    sandbox = Sandbox(Limits(scratch_mb=8), tool="bwrap", sized_tmpfs=False)
    scratch = sandbox.scratch()
    try:
        command = sandbox.command(["python"], own=[], scratch=scratch)
        binds = [command[i + 1:i + 3] for i, word in enumerate(command) if word == "--bind"]
        assert binds == [[str(scratch.path / "tmp"), "/tmp"], [str(scratch.path / "shm"), "/dev/shm"]], \
            f"got {binds}, but /tmp and /dev/shm should be the watched folder"
        assert "--size" not in command and "--tmpfs" not in command, f"got {command}"
    finally:
        scratch.remove()
    assert Sandbox(Limits(), tool="bwrap").scratch() is None, "got a scratch folder where the tmpfs is sized"


def test_what_the_worker_needs_is_shown_even_inside_a_hidden_folder(tmp_path: Path):
    """Hiding a whole folder (the working directory of a grading server, say) still shows
    the submission inside it, split from the rest, and the suite and Python wherever they are."""
    paths = _folder_of_submissions(tmp_path)
    sandbox = Sandbox(Limits(), hidden=(str(tmp_path), str(paths["other"])), tool="bwrap")
    mounts = [m.path for m in sandbox.view([str(paths["mine"])])]
    inside = {Path(m).relative_to(tmp_path).as_posix() for m in mounts if Path(m).is_relative_to(tmp_path)}
    assert "subs/mine.py" in inside and not any("other" in m or "grades" in m for m in inside), f"got {sorted(inside)}"
    conformance_folder = str(ROOT / "conformance")
    assert any(conformance_folder == m or conformance_folder.startswith(m + "/") for m in mounts), \
        f"got {mounts}, but the suite's package must be shown"


def test_a_hidden_path_named_through_a_link_is_hidden_where_it_leads(tmp_path: Path):
    paths = _folder_of_submissions(tmp_path)
    link = tmp_path / "other-link.py"
    link.symlink_to(paths["other"])
    sandbox = Sandbox(Limits(), hidden=(str(link),), tool="bwrap")
    inside = {Path(m.path).name for m in sandbox.view([str(paths["mine"])]) if Path(m.path).is_relative_to(tmp_path)}
    assert "other.py" not in inside and "mine.py" in inside, f"got {sorted(inside)}"


def test_a_scratch_folder_counts_what_is_written_and_goes_with_its_worker():
    """Without bubblewrap a worker's temporary folder is made for it: what is written there
    counts against its limit (nested folders too), and it is removed with the worker."""
    scratch = Scratch(limit_mb=1)
    try:
        (scratch.path / "nested").mkdir()
        (scratch.path / "nested" / "half.bin").write_bytes(b"\1" * (600 << 10))
        assert 600 << 10 <= scratch.used() < 1 << 20 and not scratch.over(), f"got {scratch.used()} bytes used"
        (scratch.path / "more.bin").write_bytes(b"\1" * (600 << 10))
        assert scratch.over(), f"got {scratch.used()} bytes, but 1.2 MB is over the 1 MB limit"
    finally:
        scratch.remove()
    assert not scratch.path.exists(), "got the scratch folder left behind"
    sandbox = Sandbox(Limits(scratch_mb=1), tool="")
    made = sandbox.scratch()
    env = sandbox.worker_environment(made)
    made.remove()
    assert env["TMPDIR"] == str(made.path) and not any(k.startswith("PYTEST_") for k in env), \
        f"got TMPDIR {env.get('TMPDIR')} and {[k for k in env if k.startswith('PYTEST_')]}: a worker's environment " \
        "names its own scratch folder and not pytest's current test (another implementation's id)"


def test_the_readme_states_the_limits_the_code_applies():
    """The isolation section's figures are the defaults in force: each worker's limits and
    grade-folder's, and the bound an answer is read under."""
    from conformance.commands import grade_folder
    from conformance.running import subject
    from conformance.running.isolation import SCRATCH_POLL_SECONDS, START_SECONDS

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Isolation and the trust boundary", 1)[1].split("\n## ", 1)[0]
    limits = Limits()
    stated = [f"`--memory-mb`, default {limits.memory_mb} MB", f"`--scratch-mb` (default {limits.scratch_mb} MB",
              f"size of a written file\n  ({limits.file_mb} MB", f"`--check-timeout` seconds (default {limits.check_seconds:g})",
              f"`grade-folder`: {grade_folder.DEFAULT_TIME_LIMIT:g})", f"{subject.ANSWER_SLACK} times over",
              f"plus {subject.ANSWER_ROOM >> 20} MB", f"every {SCRATCH_POLL_SECONDS:g} s", f"CPU time ({limits.cpu_seconds} s)",
              f"processes ({limits.processes}:"]
    missing = [words for words in stated if words not in section]
    grade_folder_line = f"(`--memory-mb` {limits.memory_mb}, `--scratch-mb` {limits.scratch_mb}, `--check-timeout` " \
                        f"{limits.check_seconds:g} by default)"
    missing += [grade_folder_line] if grade_folder_line not in readme else []
    assert not missing, f"got an isolation section without {missing}, but it should state the limits in force"
    verdicts = readme.split("## Verdicts", 1)[1].split("\n## ", 1)[0]
    for words in (f"{grade_folder.GRACE_SECONDS:g} s past", f"within {START_SECONDS:g} s"):
        assert words in verdicts, f"got a Verdicts section without {words!r}, but it should state the limits in force"


def test_registered_implementations_are_graded_code_not_the_suite(tmp_path):
    """Functions of a module named conformance.* that live outside the suite are a patch, but
    the registered implementations installed with it (conformance.implementations, built from
    the implementations/ folder) are graded code: importing one is no change."""
    import importlib.util

    source = tmp_path / "probe.py"
    source.write_text("def require(name):\n    return name\n")
    guard = StateGuard()
    found = {}
    for name in ("conformance.implementations.frameworks.probe_module", "conformance.probe_module"):
        spec = importlib.util.spec_from_file_location(name, source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        changes: list = []
        sys.modules[name] = module
        try:
            with guard.around(changes, deep=True):
                pass
        finally:
            del sys.modules[name]
        found[name] = [c.text() for c in changes]
    assert not found["conformance.implementations.frameworks.probe_module"], (
        f"got {found['conformance.implementations.frameworks.probe_module']}, but a registered implementation's "
        f"module is graded code, not the suite's")
    assert any("replaced conformance.probe_module.require" in t for t in found["conformance.probe_module"]), (
        f"got {found['conformance.probe_module']}, but a suite module's function from elsewhere should be a patch")


@pytest.mark.parametrize("line", ["MAPPING: dict[str, str] = {'pkg': '/src/pkg', 'pkg.extra': '/src/extra'}",
                                  "MAPPING = {'pkg': '/src/pkg', 'pkg.extra': '/src/extra'}"])
def test_the_view_follows_an_editable_install_to_every_folder_it_maps(tmp_path: Path, line: str):
    """setuptools' editable finder maps packages to folders (the suite's conformance.implementations
    to implementations/), written with an annotation by today's setuptools: unread, that folder was
    missing from the worker's view, and a registered implementation could not be imported unless the
    working directory was the clone."""
    from conformance.running.sandbox_view import _pth_paths

    (tmp_path / "__editable___pkg_0_1_finder.py").write_text(f"import sys\n{line}\nNAMESPACES = {{}}\n")
    found = {p.as_posix() for p in _pth_paths(tmp_path)}
    assert found == {"/src/pkg", "/src/extra"}, f"got {sorted(found)}, but should be every folder MAPPING names"
