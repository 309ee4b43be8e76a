"""Process-wide state an implementation can change for every later computation,
snapshotted before each call into an adapter and restored after it.

torch keeps grad mode, inference mode, the default dtype and device, the random
generators' seeds, the thread count, anomaly detection, the deterministic-algorithms
flag, autocast and backend flags process-wide; NumPy keeps its error handling and
Python the working directory, environment variables, import path, warning filters
and signal handlers. Drawing random numbers from a global generator is ordinary
use (nn.Dropout does) and is not a change; reseeding torch's is. A GRU that
changes any of them (``torch.set_grad_enabled(False)`` in a forward, a reseed, a
replaced ``torch.tanh``) changes every later computation of the process. The
``StateGuard`` puts each back after every call and says what was changed, so
the implementation gets a finding of its own (``process.global-state``) and no
other call sees the change.

What cannot be put back in place (inference mode entered and never left,
torch function or dispatch modes left on the stack, threads or child processes
left running) is reported and marks the process for replacement ("recycle"):
the worker is restarted before the next check.

Only what can alter another computation's result is a finding. A new attribute that
replaces nothing (torch.compile's one-time mark on ``nn.Module``, the empty
``__annotations__`` Python 3.11 creates on a class when it is first read, a cache) is
a note: kept, and shown with the check's result; the record of warnings shown that Python
keeps in a module is nothing at all, and a SIGCHLD handler of torch's own (its DataLoader
watching its workers) a note. A thread or child process is judged by
what started it, never by how soon it ends: one a library started (its pool, a
telemetry sender) is the library's business and a note; one the implementation's own
code started is waited for (``GRACE`` seconds, far more than any helper that ends by
itself needs, even on a loaded machine) and counts if it is still running.
"""

from __future__ import annotations

import atexit
import functools
import os
import select
import signal
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import torch

_MISSING = object()

#: Modules and classes whose attributes a GRU might replace (monkeypatching):
#: module name -> attribute path inside it ("" for the module itself).
WATCHED = (
    ("torch", ""), ("torch", "Tensor"), ("torch", "_C.TensorBase"), ("torch.nn.functional", ""),
    ("torch.nn", ""), ("torch.nn", "Module"), ("torch.nn", "GRU"), ("torch.nn", "GRUCell"),
    ("torch.nn", "Linear"), ("torch.nn.init", ""), ("torch.linalg", ""), ("torch.autograd", ""),
    ("torch.nn.utils.rnn", ""), ("numpy", ""), ("numpy", "ndarray"), ("numpy.linalg", ""),
    ("builtins", ""),
)
#: The suite's own modules are watched too: replacing one is an attempt on the grading.
SUITE_PREFIX = "conformance"
#: ... but not the registered implementations installed with it: they are graded code.
GRADED_PREFIX = "conformance.implementations"
#: Seconds a thread or child process the implementation's own code started gets to end by
#: itself before it counts as left running: a bound on the wait, not what decides (a helper
#: that ends by itself takes milliseconds; one left running never ends).
GRACE = 10.0
SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGCHLD,
                            getattr(signal, "SIGUSR1", None)) if s is not None)


@dataclass
class Setting:
    """One piece of process-wide state: how to read it and how to put it back."""

    name: str
    read: Callable[[], Any]
    write: Callable[[Any], None] | None
    same: Callable[[Any, Any], bool] = lambda a, b: a == b
    show: Callable[[Any], str] = repr
    #: Compared only at a deep checkpoint (after each check), with the state at start-up:
    #: rarely changed and dearer to read than the per-request ones.
    deep: bool = False
    #: A change (old, new) that can alter no other computation's result: a note, and kept.
    harmless: Callable[[Any, Any], bool] = lambda old, new: False


def _tensor_same(a: Any, b: Any) -> bool:
    return a.shape == b.shape and bool(torch.equal(a, b))


def _autocast(device: str) -> Setting:
    return Setting(f"autocast ({device})", lambda: torch.is_autocast_enabled(device),
                   lambda v: torch.set_autocast_enabled(device, v))


def _default_device() -> str:
    try:
        return str(torch.get_default_device())
    except AttributeError:  # torch before 2.7, once set_default_device(None) has run: the default, the CPU
        return "cpu"


def _set_default_device(value: Any) -> None:
    torch.set_default_device(None if str(value) == "cpu" else value)


def _deterministic() -> Setting:
    def read() -> tuple[bool, bool]:
        return (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled())

    return Setting("deterministic algorithms (torch.use_deterministic_algorithms)", read,
                   lambda v: torch.use_deterministic_algorithms(v[0], warn_only=v[1]))


def _backend_flag(label: str, owner: Any, attr: str) -> Setting:
    return Setting(label, lambda: getattr(owner, attr), lambda v: setattr(owner, attr, v))


def _environ_read() -> dict[Any, Any]:
    data = getattr(os.environ, "_data", None)  # the encoded mapping: copying it costs no decoding
    return dict(data) if data is not None else dict(os.environ)


def _environ_write(value: dict[Any, Any]) -> None:
    decode = getattr(os.environ, "decodekey", None)
    decoded = {decode(k) if decode else k: os.environ.decodevalue(v) if decode else v  # type: ignore[attr-defined]
               for k, v in value.items()}
    for key in list(os.environ):
        if key not in decoded:
            del os.environ[key]
    for key, item in decoded.items():
        if os.environ.get(key) != item:
            os.environ[key] = item


def _environ_show(value: dict[str, str]) -> str:
    return f"{len(value)} variables"


def _sys_path_write(value: list[str]) -> None:
    sys.path[:] = value


def _warnings_write(value: list[Any]) -> None:
    warnings.filters[:] = value
    warnings._filters_mutated()  # type: ignore[attr-defined]


def _signals_read() -> tuple[Any, ...]:
    return tuple(signal.getsignal(s) for s in SIGNALS)


def _library_child_watch(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    """Only SIGCHLD's handler changed, to one of torch's or NumPy's own: a library watching its
    helper processes (torch's DataLoader installs one, once per process, when it first starts
    workers), which alters no result."""
    changed = [(sig, b) for sig, a, b in zip(SIGNALS, old, new) if not (a is b or a == b)]
    return bool(changed) and all(sig == signal.SIGCHLD and _library_code(b) for sig, b in changed)


def _signals_write(value: tuple[Any, ...]) -> None:
    for sig, handler in zip(SIGNALS, value):
        if handler is not None:
            signal.signal(sig, handler)


def settings() -> list[Setting]:
    """Everything restored after each call (cheap to read: about 0.1 ms in all)."""
    found = [
        Setting("grad mode (torch.set_grad_enabled)", torch.is_grad_enabled, torch.set_grad_enabled),
        Setting("default dtype (torch.set_default_dtype)", torch.get_default_dtype, torch.set_default_dtype),
        Setting("default device (torch.set_default_device)", _default_device, _set_default_device),
        # Drawing from the global generator is what it is for (nn.Dropout does); reseeding it
        # (torch.manual_seed in a forward) makes every later draw of the program repeat.
        Setting("torch random generator's seed (torch.manual_seed)",
                lambda: (torch.initial_seed(), torch.get_rng_state()), lambda v: torch.set_rng_state(v[1]),
                lambda a, b: a[0] == b[0], lambda v: f"seed {v[0]}"),
        Setting("number of torch threads (torch.set_num_threads)", torch.get_num_threads, torch.set_num_threads),
        Setting("anomaly detection (torch.autograd.set_detect_anomaly)",
                lambda: (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
                lambda v: torch.set_anomaly_enabled(v[0], v[1])),
        _deterministic(),
        Setting("float32 matmul precision (torch.set_float32_matmul_precision)",
                torch.get_float32_matmul_precision, torch.set_float32_matmul_precision),
        _autocast("cpu"),
        Setting("autocast dtype (cpu)", lambda: torch.get_autocast_dtype("cpu"),
                lambda v: torch.set_autocast_dtype("cpu", v)),
        _backend_flag("mkldnn enabled (torch.backends.mkldnn.enabled)", torch.backends.mkldnn, "enabled"),
        _backend_flag("cuDNN enabled (torch.backends.cudnn.enabled)", torch.backends.cudnn, "enabled"),
        _backend_flag("cuDNN benchmark (torch.backends.cudnn.benchmark)", torch.backends.cudnn, "benchmark"),
        _backend_flag("cuDNN deterministic (torch.backends.cudnn.deterministic)", torch.backends.cudnn,
                      "deterministic"),
        _backend_flag("cuDNN TF32 (torch.backends.cudnn.allow_tf32)", torch.backends.cudnn, "allow_tf32"),
        _backend_flag("CUDA matmul TF32 (torch.backends.cuda.matmul.allow_tf32)", torch.backends.cuda.matmul,
                      "allow_tf32"),
        Setting("NumPy floating-point error handling (numpy.seterr)", np.geterr, lambda v: np.seterr(**v)),
        Setting("working directory (os.chdir)", os.getcwd, os.chdir),
        Setting("environment variables (os.environ)", _environ_read, _environ_write, show=_environ_show),
        Setting("import path (sys.path)", lambda: list(sys.path), _sys_path_write, show=lambda v: f"{len(v)} entries",
                deep=True),
        # Raised, it only lets deeper recursion run: torch.compile's inductor raises it to 2000
        # on its first compile. Lowered, it can make another computation fail.
        Setting("recursion limit (sys.setrecursionlimit)", sys.getrecursionlimit, sys.setrecursionlimit, deep=True,
                harmless=lambda old, new: isinstance(old, int) and isinstance(new, int) and new > old),
        Setting("warning filters (warnings.filterwarnings)", lambda: list(warnings.filters), _warnings_write,
                lambda a, b: len(a) == len(b) and all(x is y or x == y for x, y in zip(a, b)),
                lambda v: f"{len(v)} filters", deep=True),
        Setting("signal handlers (signal.signal)", _signals_read, _signals_write,
                lambda a, b: all(x is y or x == y for x, y in zip(a, b)), lambda v: "handlers", deep=True,
                harmless=_library_child_watch),
    ]
    if torch.cuda.is_available():
        found.append(Setting("torch CUDA random generator's seed (torch.cuda.manual_seed)",
                             lambda: (torch.cuda.initial_seed(), torch.cuda.get_rng_state_all()),
                             lambda v: torch.cuda.set_rng_state_all(v[1]), lambda a, b: a[0] == b[0],
                             lambda v: f"seed {v[0]}"))
        found.append(_autocast("cuda"))
    return found


#: What cannot be written back: read only, a change recycles the process.
def _stuck_settings() -> list[Setting]:
    from torch.overrides import _get_current_function_mode_stack
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    return [
        Setting("inference mode (torch.inference_mode entered and not left)",
                torch.is_inference_mode_enabled, None),
        Setting("torch function modes (a TorchFunctionMode left on the stack)",
                lambda: len(_get_current_function_mode_stack()), None),
        Setting("torch dispatch modes (a TorchDispatchMode left on the stack)",
                lambda: len(_get_current_dispatch_mode_stack()), None),
    ]


def _resolve(module: str, path: str) -> Any:
    obj: Any = sys.modules.get(module)
    for part in filter(None, path.split(".")):
        obj = getattr(obj, part, None)
    return obj


def _namespaces() -> Iterator[tuple[str, Any]]:
    for module, path in WATCHED:
        obj = _resolve(module, path)
        if obj is not None:
            yield (f"{module}.{path}" if path else module), obj
    for name, module in list(sys.modules.items()):
        suite = name == SUITE_PREFIX or name.startswith(SUITE_PREFIX + ".")
        graded = name == GRADED_PREFIX or name.startswith(GRADED_PREFIX + ".")
        if suite and not graded and isinstance(module, ModuleType):
            yield name, module


def _children() -> set[int]:
    """This process's child processes that have not ended (Linux: /proc). Ended ones are
    left unreaped: whoever started them waits for them."""
    pids: set[int] = set()
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as handle:
                pids.update(int(p) for p in handle.read().split())
    except OSError:
        return set()
    return {pid for pid in pids if _running(pid)}


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _wait_for(pid: int, seconds: float) -> bool:
    """Wait on the process itself until it ends, at most ``seconds``; whether it ended."""
    deadline = time.monotonic() + seconds
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):
        handle = -1
    try:
        while _running(pid):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if handle >= 0:
                select.select([handle], [], [], left)  # readable when the process ends
            else:
                time.sleep(min(0.05, left))
        return True
    finally:
        if handle >= 0:
            os.close(handle)


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
    except OSError:
        return "?"


#: Every function registered with atexit since the first guard was made.
_EXIT_HANDLERS: list[Any] = []


def _watch_exit_handlers() -> None:
    """Note every function registered with atexit from now on (who registered it decides
    whether it is reported); installed once per process."""
    if hasattr(atexit.register, "__wrapped__"):
        return
    register = atexit.register

    def noting(func: Any, *args: Any, **kwargs: Any) -> Any:
        _EXIT_HANDLERS.append(func)
        return register(func, *args, **kwargs)

    noting.__wrapped__ = register  # type: ignore[attr-defined]
    atexit.register = noting  # type: ignore[assignment]


#: Who started each child process since the first guard was made: pid -> the file of the code
#: that asked for it, and whether that is the implementation's own code.
_SPAWNED: dict[int, tuple[str, bool]] = {}
#: The standard library's layers that start processes for their caller: the owner of a child
#: is the code that called them.
_STARTERS = ("os.py", "subprocess.py", "pty.py", "multiprocessing/context.py", "multiprocessing/process.py",
             "multiprocessing/popen_fork.py", "multiprocessing/popen_spawn_posix.py",
             "multiprocessing/popen_forkserver.py", "multiprocessing/util.py", "multiprocessing/pool.py",
             "multiprocessing/managers.py", "concurrent/futures/process.py")


def _starter(filename: str) -> bool:
    if filename == __file__:
        return True
    stdlib = os.path.dirname(os.__file__) + os.sep
    return filename.startswith(stdlib) and filename[len(stdlib):] in _STARTERS


def _spawner() -> tuple[str, bool]:
    """The code that asked for a process being started now: the first frame outside the
    standard library's process-starting layers. Native code (no such frame), a library, or
    the standard library's own helpers (multiprocessing's resource tracker) are not the
    implementation."""
    frame = sys._getframe(1)
    while frame is not None and _starter(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return "native code", False
    filename = frame.f_code.co_filename
    return filename, os.path.isabs(filename) and not os.path.realpath(filename).startswith(_TRUSTED_ROOTS)


def _noting_spawns(start: Callable[..., Any], pid_of: Callable[[Any], int]) -> Callable[..., Any]:
    @functools.wraps(start)
    def started(*args: Any, **kwargs: Any) -> Any:
        result = start(*args, **kwargs)
        pid = pid_of(result)
        if pid > 0:  # 0: the child's side of a fork
            _SPAWNED[pid] = _spawner()
        return result

    started.__wrapped__ = start  # type: ignore[attr-defined]
    return started


def _watch_spawns() -> None:
    """Note who starts each child process from now on (Python's every way to start one);
    installed once per process. A child started from native code is not seen here."""
    import _posixsubprocess
    import subprocess

    if hasattr(os.fork, "__wrapped__"):
        return
    for owner, name, pid_of in ((os, "fork", int), (os, "forkpty", lambda r: r[0]), (os, "posix_spawn", int),
                                (os, "posix_spawnp", int), (_posixsubprocess, "fork_exec", int)):
        if hasattr(owner, name):
            setattr(owner, name, _noting_spawns(getattr(owner, name), pid_of))
    execute = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    @functools.wraps(execute)
    def execute_child(self: Any, *args: Any, **kwargs: Any) -> Any:
        execute(self, *args, **kwargs)
        if getattr(self, "pid", None):
            _SPAWNED[self.pid] = _spawner()

    subprocess.Popen._execute_child = execute_child  # type: ignore[attr-defined]


@dataclass
class Change:
    """One change found after a call: what, and whether it was put back."""

    what: str
    restored: bool
    #: Not a change of another computation's result (a new attribute that replaces nothing, a
    #: library's helper): reported with the check, never failed.
    note: bool = False

    def text(self) -> str:
        return self.what + ("" if self.restored else " (could not be undone in place)")

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text(), "restored": self.restored, **({"note": True} if self.note else {})}


def _library_code(value: Any) -> bool:
    """A Python function defined in torch's or NumPy's own files: a library that patches
    itself when one of its modules is first imported (torch._dynamo does)."""
    code = getattr(value, "__code__", None) or getattr(getattr(value, "__func__", None), "__code__", None)
    filename = getattr(code, "co_filename", "")
    return bool(filename) and any(filename.startswith(root) for root in _LIBRARY_ROOTS)


def _code_file(value: Any) -> str:
    code = getattr(value, "__code__", None) or getattr(getattr(value, "__func__", None), "__code__", None)
    return getattr(code, "co_filename", "") or ""


def _defined_in(value: Any) -> str:
    """The file a function comes from: its module's (compiled extensions name a source file
    of their own build), else its code's."""
    module = sys.modules.get(getattr(value, "__module__", None) or "")
    return getattr(module, "__file__", None) or _code_file(value)


def _foreign_code(value: Any) -> bool:
    """A Python function defined neither in the suite nor in an installed library (the
    standard library and site-packages): the graded implementation's own code."""
    if not _code_file(value):
        return False  # not a Python function
    filename = _defined_in(value)
    # Relative or "<string>"-like names: compiled or generated code (Cython, hypothesis).
    return os.path.isabs(filename) and not os.path.realpath(filename).startswith(_TRUSTED_ROOTS)


def _library_thread(thread: threading.Thread) -> bool:
    """A thread running a library's or the standard library's Python code (a pool's
    worker, a timer's function): the library's machinery, which it keeps (OpenVINO's
    import starts a thread pool). A thread running the implementation's own code, or code
    that cannot be placed, counts. Not seen: the implementation's own tasks queued on a
    pool thread (the thread runs the pool's code)."""
    code: Any = getattr(thread, "_target", None) or getattr(thread, "function", None) or type(thread).run
    while isinstance(code, functools.partial):
        code = code.func
    return os.path.isabs(_code_file(code)) and not _foreign_code(code)


def _origin(value: Any) -> str:
    return f"defined in {os.path.basename(_defined_in(value))}"


def _place(filename: str) -> str:
    """A file named without the machine's folders: from its package on (site-packages), or
    its base name."""
    parts = filename.replace(os.sep, "/").split("/")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return "/".join(parts[parts.index(marker) + 1:])
    return parts[-1]


_LIBRARY_ROOTS = tuple(os.path.dirname(m.__file__) + os.sep for m in (torch, np) if getattr(m, "__file__", None))
_TRUSTED_ROOTS = tuple(dict.fromkeys(
    os.path.realpath(p) + os.sep
    for p in (os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
              sys.prefix, sys.base_prefix, sys.exec_prefix)))

#: Settings a library may change when one of its modules is first imported (torch's
#: lazily imported compiler stack sets environment variables, warning filters and
#: exit handlers): a change seen in a request that imported modules is taken as that.
_IMPORT_EFFECTS = ("environment variables", "warning filters", "import path", "signal handlers")


#: Names every class has of its own (Python looks them up on the class itself, never on a
#: base): a new one hides nothing.
_OWN_NAMES = frozenset(("__annotations__", "__doc__", "__module__", "__qualname__", "__dict__", "__weakref__",
                        "__slots__", "__abstractmethods__", "_abc_impl", "__parameters__", "__orig_bases__",
                        "__static_attributes__", "__firstlineno__", "__type_params__"))


#: What Python writes into a module itself as code runs: the warnings machinery's record of
#: the warnings it has shown, made in the module a warning is attributed to (Python 3.12
#: warns of fork() in a threaded process, which the spawn watch's wrapper calls). Neither
#: a patch nor anyone's doing: not a finding, not a note.
_PYTHON_BOOKKEEPING = frozenset(("__warningregistry__",))


def _hides(obj: Any, key: str) -> bool:
    """A new attribute of a class that a base class has too: lookups that found the base's
    (an inherited method, a special method) now find the new one."""
    if not isinstance(obj, type) or key in _OWN_NAMES:
        return False
    return any(key in vars(base) for base in obj.__mro__[1:])


def _hidden(obj: type, key: str) -> str:
    owner = next(base for base in obj.__mro__[1:] if key in vars(base))
    return f"{owner.__module__}.{owner.__qualname__}.{key}"


def _kind(value: Any) -> str:
    if isinstance(value, ModuleType):
        return "a module"
    if callable(value):
        return f"a function, {_origin(value)}" if _code_file(value) else "a callable"
    if isinstance(value, (dict, list, tuple, set)) and not value:
        return f"an empty {type(value).__name__}"
    return f"a {type(value).__name__}"


@dataclass
class StateGuard:
    """Snapshot before a request, compare and restore after it.

    Per request it compares the cheap settings with their values before the request;
    at a deep checkpoint (after each check) it also compares the rarely changed ones
    with their start-up values and every watched module's attributes by identity
    (about 0.3 ms). What a library does to itself while importing its own modules
    for the first time is not the implementation's doing and is taken as the new
    normal."""

    settings: list[Setting] = field(default_factory=settings)
    stuck: list[Setting] = field(default_factory=_stuck_settings)
    pristine: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Threads seen (weakly: a thread id is reused once its thread has ended).
    threads: weakref.WeakSet = field(default_factory=weakref.WeakSet)

    def __post_init__(self) -> None:
        self.pristine = {name: dict(vars(obj)) for name, obj in _namespaces()}
        self.threads = weakref.WeakSet(threading.enumerate())
        _watch_exit_handlers()
        _watch_spawns()
        self.exit_handlers_seen = len(_EXIT_HANDLERS)
        self.stuck_values = [s.read() for s in self.stuck]
        self.per_request = [s for s in self.settings if not s.deep]
        self.baseline = [(s, s.read()) for s in self.settings if s.deep]
        self.modules = len(sys.modules)
        self.children = _children()
        #: Modules were imported since the last deep checkpoint.
        self.imported = False

    def snapshot(self) -> list[Any]:
        self.modules = len(sys.modules)
        return [s.read() for s in self.per_request]

    @contextmanager
    def around(self, changes: list[Change], *, deep: bool = False) -> Iterator[None]:
        before = self.snapshot()
        try:
            yield
        finally:
            changes += self.restore(before, deep=deep)

    def _imports_explain(self, setting: Setting, imported: bool) -> bool:
        return imported and any(setting.name.startswith(name) for name in _IMPORT_EFFECTS)

    def restore(self, before: list[Any], *, deep: bool = False) -> list[Change]:
        """Compare with ``before`` (a ``snapshot``) and put back what changed; ``deep`` also
        compares the rarely changed settings with start-up and looks for replaced functions."""
        imported_now = len(sys.modules) != self.modules
        self.imported = self.imported or imported_now
        found: list[Change] = []
        for setting, old in zip(self.per_request, before):
            found += self._compare(setting, old, imported_now)
        if deep:
            baseline = []
            for setting, old in self.baseline:
                changes = self._compare(setting, old, self.imported)
                found += changes
                # A note is said once: what it kept is the state from now on.
                kept = bool(changes) and all(c.note for c in changes)
                baseline.append((setting, setting.read() if kept or (not changes and self.imported) else old))
            self.baseline = baseline
        for setting, old in zip(self.stuck, self.stuck_values):
            try:
                new = setting.read()
            except Exception:  # noqa: BLE001
                new = None
            if new != old:
                found.append(Change(f"changed the {setting.name}: {old!r} -> {new!r}", False))
        found += self._processes(deep)
        if deep:
            found += self.namespaces()
            self.imported = False
        return found

    def _compare(self, setting: Setting, old: Any, imported: bool) -> list[Change]:
        try:
            new = setting.read()
            same = setting.same(old, new)
        except Exception:  # noqa: BLE001 - a setting that cannot be read back was broken
            new, same = None, False
        if same or self._imports_explain(setting, imported):
            return []
        if new is not None and setting.harmless(old, new):
            return [Change(f"changed the {setting.name}: {setting.show(old)} -> {setting.show(new)}, which alters no "
                           f"other computation's result (kept)", True, note=True)]
        restored = True
        try:
            if setting.write is not None:
                setting.write(old)
        except Exception:  # noqa: BLE001
            restored = False
        shown = f": {setting.show(old)} -> {setting.show(new)}" if new is not None else ""
        return [Change(f"changed the {setting.name}{shown}", restored)]

    def _processes(self, deep: bool) -> list[Change]:
        found = self._threads()
        # Children started since the last checkpoint (a /proc scan costs: done after each check).
        for pid in sorted(_children() - self.children) if deep else []:
            found += self._child(pid)
        for handler in _EXIT_HANDLERS[self.exit_handlers_seen:]:
            # A library's own (torch registers some as it imports) is its business; the
            # implementation's would run after grading if the process ended normally.
            if _foreign_code(handler):
                found.append(Change(f"registered an exit handler ({getattr(handler, '__qualname__', handler)!r}, "
                                    f"{_origin(handler)}; atexit.register): workers end without running them",
                                    True))
        self.exit_handlers_seen = len(_EXIT_HANDLERS)
        return found

    def _threads(self) -> list[Change]:
        """New threads: a library's (the code it runs decides) are its machinery and stay;
        the implementation's own get ``GRACE`` seconds to end."""
        new_threads = [t for t in threading.enumerate() if t not in self.threads and t.is_alive()]
        for thread in new_threads:
            if _library_thread(thread):
                self.threads.add(thread)
        new_threads = [t for t in new_threads if t not in self.threads]
        deadline = time.monotonic() + GRACE
        for thread in new_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        found = []
        for thread in (t for t in new_threads if t.is_alive()):
            found.append(Change(f"left a thread running ({thread.name!r}, daemon={thread.daemon})", False))
            self.threads.add(thread)
        return found

    def _child(self, pid: int) -> list[Change]:
        """A new child process, judged by what started it: the implementation's own code (it
        gets ``GRACE`` seconds to end, then is killed), or a library or native code (its
        helper: left to it, noted)."""
        command = _command(pid)
        where, own = _SPAWNED.get(pid, ("native code", False))
        if not own:
            self.children.add(pid)
            return [Change(f"a library's helper process is running ({command}; started by "
                           f"{_place(where)}): left to the library", True, note=True)]
        if _wait_for(pid, GRACE):
            return []
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, os.WNOHANG)
        except OSError:
            pass
        return [Change(f"left a child process running (pid {pid}: {command}; started by {_place(where)}); "
                       f"it was killed", True)]

    def namespaces(self) -> list[Change]:
        """Attributes of watched modules and classes (torch, NumPy, the suite's own) that
        were replaced or deleted since the process started, or added where they hide a base
        class's: each is put back. A new attribute that hides nothing is a note, and stays."""
        found: list[Change] = []
        for name, obj in _namespaces():
            pristine = self.pristine.get(name)
            if pristine is None:
                # A suite module imported later: its first sight is its pristine state, but a
                # function of it that lives outside the suite and the libraries is a patch.
                self.pristine[name] = dict(vars(obj))
                found += [Change(f"replaced {name}.{key} with code of its own, {_origin(value)} "
                                 f"(monkeypatching)", False)
                          for key, value in vars(obj).items() if _foreign_code(value)]
                continue
            current = vars(obj)
            if len(current) == len(pristine) and all(current.get(k, _MISSING) is v for k, v in pristine.items()):
                continue
            for key in sorted(set(pristine) | set(current)):
                old, new = pristine.get(key, _MISSING), current.get(key, _MISSING)
                if old is new:
                    continue
                if key in _PYTHON_BOOKKEEPING:
                    if new is _MISSING:
                        pristine.pop(key, None)
                    else:
                        pristine[key] = new
                    continue
                if old is _MISSING and (isinstance(new, ModuleType) or _library_code(new)):
                    pristine[key] = new  # an import of a submodule, or the library's own addition
                    continue
                if new is not _MISSING and _library_code(new):
                    pristine[key] = new  # the library patching itself as it imports its modules
                    continue
                if old is _MISSING and not _hides(obj, key):
                    # A new name replaces nothing: what existing code looks up is unchanged
                    # (torch.compile's mark on nn.Module, pybind11's registry in builtins, the
                    # __annotations__ Python creates on a class when it is first read). Kept:
                    # removing it would break whoever added it.
                    pristine[key] = new
                    found.append(Change(f"added {name}.{key} ({_kind(new)}), which replaces nothing: kept", True,
                                        note=True))
                    continue
                if old is _MISSING:
                    what = f"added {name}.{key}, which hides {_hidden(obj, key)}"
                else:
                    what = f"{'deleted' if new is _MISSING else 'replaced'} {name}.{key}"
                restored = True
                try:
                    if old is _MISSING:
                        delattr(obj, key)
                    else:
                        setattr(obj, key, old)
                except (AttributeError, TypeError):
                    restored = False
                found.append(Change(f"{what} (monkeypatching)", restored))
        return found
