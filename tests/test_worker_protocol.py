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
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conformance import wire
from conformance.cases import CaseSpec
from conformance import process_state
from conformance.process_state import StateGuard
from conformance.sandbox import Limits, Sandbox
from conformance.subject import AdapterError, Subject
from tests.correct import CORRECT

ROOT = Path(__file__).resolve().parents[1]


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


def _frame(body: dict, buffers: list[bytes]) -> bytes:
    text = json.dumps(body).encode()
    parts = [struct.pack("<4sII", wire.MAGIC, len(text), len(buffers)), text]
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
    (struct.pack("<4sII", wire.MAGIC, 3, 0) + b"[1]", "not an object"),
    (struct.pack("<4sII", wire.MAGIC, 10, 0) + b"{", "truncated"),
])
def test_wire_rejects_malformed_messages(data: bytes, reason: str):
    with pytest.raises(wire.WireError):
        wire.decode(*wire.read_frames(_stream(data)))


def test_wire_refuses_to_send_objects():
    with pytest.raises(wire.WireError, match="dtype object"):
        wire.encode({"x": np.array([object()], dtype=object)})


# Reading answers ---------------------------------------------------------------------
class Scripted:
    """A backend whose answers are given: what a misbehaving worker could send."""

    generation = 0
    alive = True

    def __init__(self, info: Any, answers: list[dict]) -> None:
        self.info, self.answers = info, list(answers)

    def request(self, message: dict) -> dict:
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
    assert helpers and all(c.note and "torch/utils/data/dataloader.py" in c.text() for c in helpers), \
        f"got {[(c.text(), c.note) for c in helpers]}, but the DataLoader's worker is torch's helper: a note"


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
def test_hidden_paths_cover_results_and_other_submissions_but_not_its_own(tmp_path: Path):
    folder = tmp_path / "subs"
    folder.mkdir()
    mine, other = folder / "mine.py", folder / "other.py"
    mine.write_text("")
    other.write_text("")
    results = tmp_path / "reports"
    results.mkdir()
    sandbox = Sandbox(Limits(), hidden=(str(results), str(other), str(mine)), tool="bwrap")
    mounts = dict((path, kind) for kind, path in sandbox.hidden_for([str(mine)]))
    assert mounts.get(str(results)) == "dir" and mounts.get(str(other)) == "file", f"got {mounts}"
    assert str(mine) not in mounts, f"got {mounts}: a worker must see its own submission"
    command = sandbox.command(["python"], own=[str(mine)])
    assert "--unshare-all" in command and command[-1] == "python", f"got {command}"
    assert ["--tmpfs", str(results)] == command[command.index(str(results)) - 1:][:2], f"got {command}"
    # A submission or results folder named through a link is hidden where the link leads.
    link_other, link_results = tmp_path / "other-link.py", tmp_path / "reports-link"
    link_other.symlink_to(other)
    link_results.symlink_to(results)
    linked = Sandbox(Limits(), hidden=(str(link_other), str(link_results)), tool="bwrap")
    mounts = dict((path, kind) for kind, path in linked.hidden_for([str(mine)]))
    assert mounts.get(str(results)) == "dir" and mounts.get(str(other)) == "file", f"got {mounts}"
