"""The grader's handle on an implementation's worker process.

``WorkerProcess`` starts ``python -m conformance.commands.worker SPEC`` (in the sandbox of
``conformance.running.sandbox``, under its limits), sends requests and reads answers
(``conformance.running.wire``), and keeps the process's output (stdout and stderr, one
pipe) per check, bounded. Whatever the process does, the grader stays in
charge:

* an answer that does not come within the check's time limit gets the process
  killed (its whole process group) and raises ``WorkerLost``;
* a process that dies (``os._exit``, a segfault, an abort, the kernel's
  out-of-memory killer) raises ``WorkerLost`` with its exit code or signal and
  the last lines it printed;
* a malformed message is a ``WorkerLost`` too: nothing from the worker is
  unpickled or trusted.

``WorkerLost`` derives from ``BaseException`` so that hypothesis does not try to
shrink it (each example would start a new process): the check in progress ends
at once with status "error". The next request starts a fresh process.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from conformance.running import wire
from conformance.running.sandbox import Limits, Sandbox, Scratch, new_cgroup, remove_cgroup

#: How long a worker may take to start and import its implementation (torch alone takes seconds).
START_SECONDS = 180.0
#: What a failed allocation says: Python, torch's CPU allocator, C++ runtimes.
MEMORY_EXHAUSTED = re.compile(
    r"MemoryError|can't allocate memory|DefaultCPUAllocator|bad_alloc|out of memory|Cannot allocate memory",
    re.IGNORECASE)
#: What a full scratch space says (ENOSPC, EDQUOT), and a file past the file size limit (EFBIG).
SCRATCH_EXHAUSTED = re.compile(r"No space left on device|Errno 28\b|ENOSPC|Disk quota exceeded", re.IGNORECASE)
FILE_TOO_LARGE = re.compile(r"File too large|Errno 27\b|EFBIG", re.IGNORECASE)
#: How often the grader looks at a scratch folder's size while it waits (without bubblewrap).
SCRATCH_POLL_SECONDS = 0.5


#: The arrays an answer may hold when the request names no bound (hello, checkpoint).
SMALL_ANSWER_BYTES = 1 << 20
#: The capacity asked for the protocol's pipes (Linux's default is 64 KB; 1 MB is what an
#: unprivileged process may set): a production-size case's parameters (tens of MB) then
#: cross in a few dozen writes instead of a thousand, each of which waits for the reader.
PIPE_BYTES = 1 << 20


class WorkerLost(BaseException):
    """The implementation's process died, hung past its time limit or broke the protocol."""


class LoadFailed(Exception):
    """The implementation could not be loaded in its worker (import error, not an adapter...)."""


def describe_exit(code: int | None, *, sandboxed: bool = False) -> str:
    """How a worker ended. bubblewrap reports its child killed by signal N as exit status
    128 + N, so in the sandbox such a status is read as that signal."""
    if code is None:
        return "stopped answering"
    if sandboxed and 128 < code < 128 + 65:
        return describe_exit(128 - code) + f" (exit status {code})"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hints = {signal.SIGKILL: " (out of memory, or killed)", signal.SIGXCPU: " (its CPU time limit)",
                 signal.SIGXFSZ: " (its file size limit)", signal.SIGSEGV: " (a segmentation fault)",
                 signal.SIGABRT: " (an abort)",
                 signal.SIGBUS: " (a bus error: e.g. a memory-mapped file in /tmp or /dev/shm past the scratch "
                                "space limit)"}
        return f"was killed by {name}{hints.get(-code, '')}"
    return f"exited with code {code}"


class Capture:
    """Drains the worker's output pipe on a thread: keeps the first ``limit`` bytes since
    the last ``take`` and the last 2 KB (for crash messages), counts everything."""

    TAIL = 2048

    def __init__(self, fd: int, limit: int) -> None:
        self.fd, self.limit = fd, limit
        self.lock = threading.Lock()
        self.head = bytearray()
        self.tail = bytearray()
        self.count = 0
        os.set_blocking(fd, False)
        self.thread = threading.Thread(target=self._drain, name="gru-conformance-capture", daemon=True)
        self.thread.start()

    def _read_available(self) -> bool:
        """Read what is in the pipe now; False at end of file."""
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.count += len(chunk)
            room = self.limit - len(self.head)
            if room > 0:
                self.head += chunk[:room]
            self.tail = (self.tail + chunk)[-self.TAIL:]

    def _drain(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 1.0)
            except (OSError, ValueError):
                return
            if ready:
                with self.lock:
                    if not self._read_available():
                        return

    def take(self) -> dict[str, Any]:
        """What was printed since the last take: {"text", "bytes", "truncated"}."""
        with self.lock:
            self._read_available()
            text = self.head.decode("utf-8", errors="replace")
            taken = {"text": text, "bytes": self.count, "truncated": self.count > len(self.head)}
            self.head, self.count = bytearray(), 0
        return taken

    def last_lines(self, lines: int = 8) -> str:
        with self.lock:
            self._read_available()
            text = self.tail.decode("utf-8", errors="replace")
        return "\n".join(text.strip().splitlines()[-lines:])

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


def _widen(pipe: Any) -> None:
    """Ask for a pipe of ``PIPE_BYTES`` (Linux); elsewhere, or past the system's limit, the
    pipe keeps its size and only the number of writes changes."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        return
    setter = getattr(fcntl, "F_SETPIPE_SZ", None)
    if pipe is None or setter is None:
        return
    try:
        fcntl.fcntl(pipe.fileno(), setter, PIPE_BYTES)
    except OSError:
        pass


class WorkerProcess:
    """One implementation's worker: started on demand, restarted after it is lost."""

    def __init__(self, spec: str, *, sandbox: Sandbox, own: list[str] | None = None, threads: int = 1,
                 label: str = "") -> None:
        self.spec = spec
        self.sandbox = sandbox
        self.own = list(own or [])
        self.threads = threads
        self.label = label or spec
        self.limits: Limits = sandbox.limits
        self.generation = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.capture: Capture | None = None
        self.cgroup = None
        #: Without the sandbox tool: the private scratch folder whose size is watched.
        self.scratch: Scratch | None = None
        self.hello: dict[str, Any] | None = None
        self.buffer = bytearray()
        #: Absolute time (time.monotonic) by which the current check must be done.
        self.deadline: float | None = None
        self.limit_seconds = self.limits.check_seconds
        #: (absolute deadline, seconds): the time limit of all of this implementation's checks.
        self.budget: tuple[float, float] | None = None
        self.recycle = False
        self.stats = {"starts": 0, "requests": 0, "start_seconds": 0.0}
        self._started_at = 0.0
        self._lost_output: dict[str, Any] | None = None
        #: The deadline and kind of the request ``send`` wrote, whose answer ``receive`` reads.
        self._awaited: tuple[float | None, str, int] = (None, "", SMALL_ANSWER_BYTES)

    # Life ----------------------------------------------------------------------------
    def start(self) -> None:
        """Launch the process (without waiting for it: the hello is read on first use)."""
        if self.proc is not None:
            return
        argv = [sys.executable, "-m", "conformance.commands.worker", self.spec, "--threads", str(self.threads)]
        self.cgroup = new_cgroup(self.limits.processes)
        self.scratch = self.sandbox.scratch()
        cmd = self.sandbox.worker_command(argv, own=self.own, cgroup=self.cgroup, scratch=self.scratch)
        read_end, write_end = os.pipe()
        env = self.sandbox.worker_environment(self.scratch)
        if self.threads:
            env["OMP_NUM_THREADS"] = str(self.threads)
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=write_end,
                                         start_new_session=True, bufsize=0, env=env, close_fds=True)
        finally:
            os.close(write_end)
        for pipe in (self.proc.stdin, self.proc.stdout):
            _widen(pipe)
        self.capture = Capture(read_end, self.limits.output_bytes or (1 << 62))
        self.buffer = bytearray()
        self.hello = None
        self.generation += 1
        self.stats["starts"] += 1
        self._started_at = time.monotonic()

    def _ensure(self) -> dict[str, Any]:
        """The running process's hello (starting the process if needed)."""
        if self.proc is None:
            self.start()
        if self.hello is None:
            waiting = time.monotonic()
            deadline = waiting + max(START_SECONDS, self.limit_seconds)
            if self.budget is not None:
                deadline = min(deadline, max(self.budget[0], waiting))
            self.hello = self._read(deadline, "starting (importing the implementation)",
                                    max_bytes=SMALL_ANSWER_BYTES)
            self.stats["start_seconds"] += time.monotonic() - self._started_at
            if self.deadline is not None:  # a check's time limit counts its calls, not a worker's start
                self.deadline += time.monotonic() - waiting
                if self.budget is not None:
                    self.deadline = min(self.deadline, self.budget[0])
        if self.hello.get("ok") is not True:
            raise LoadFailed(str(self.hello.get("load_error") or "the worker could not load the adapter")[:4000])
        return self.hello

    def close(self) -> None:
        """End the process: close its input (it exits), then kill what is left of its group."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._kill_group(proc)
        if self.capture is not None:
            self.capture.close()
            self.capture = None
        remove_cgroup(self.cgroup)
        self.cgroup = None
        if self.scratch is not None:
            self.scratch.remove()
            self.scratch = None
        self.recycle = False

    @staticmethod
    def _kill_group(proc: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def _lose(self, message: str) -> WorkerLost:
        """Kill the process; the exception to raise, with its last output."""
        proc = self.proc
        tail = self.capture.last_lines() if self.capture is not None else ""
        if self.capture is not None:
            self._lost_output = self.capture.take()
        if proc is not None:
            self._kill_group(proc)
        self.proc = None
        self.close()
        return WorkerLost(message + (f"; its last output:\n{tail}" if tail else ""))

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and bool(self.hello and self.hello.get("ok"))

    # Checks -----------------------------------------------------------------------------
    def begin(self, seconds: float | None) -> None:
        """A check starts: it has ``seconds`` (None: the default limit) before the worker is stopped."""
        self.limit_seconds = self.limits.check_seconds if seconds is None else seconds
        self.deadline = time.monotonic() + self.limit_seconds if self.limit_seconds else None

    def end(self) -> dict[str, Any]:
        """A check ended: its output; a process asking to be replaced is closed here."""
        self.deadline = None
        taken = self.capture.take() if self.capture is not None else {"text": "", "bytes": 0, "truncated": False}
        if self._lost_output is not None:
            lost, self._lost_output = self._lost_output, None
            taken = {"text": lost["text"] + taken["text"], "bytes": lost["bytes"] + taken["bytes"],
                     "truncated": lost["truncated"] or taken["truncated"]}
        if self.recycle:
            self.close()
        return taken

    # Requests ---------------------------------------------------------------------------
    def request(self, message: dict[str, Any], answer_bytes: int | None = None) -> dict[str, Any]:
        """Send ``message``; the answer, whose arrays may hold at most ``answer_bytes``
        (default: ``SMALL_ANSWER_BYTES``): a larger one is refused before it is read."""
        hello = self._ensure()
        if message.get("op") == "describe":
            return hello
        self.send(message, answer_bytes)
        return self.receive()

    def send(self, message: dict[str, Any], answer_bytes: int | None = None) -> None:
        """The first half of a request: the message is written, and ``receive`` reads the
        answer (as ``request``), so the grader can work while the implementation does (on
        another core)."""
        self._ensure()
        deadline = self.deadline or (time.monotonic() + self.limits.check_seconds if self.limits.check_seconds
                                     else None)
        what = str(message.get("op"))
        self.stats["requests"] += 1
        self._write(wire.encode_parts(message), deadline, what)
        self._awaited = (deadline, what, answer_bytes or SMALL_ANSWER_BYTES)

    def receive(self) -> dict[str, Any]:
        """The answer to the message ``send`` wrote."""
        deadline, what, max_bytes = self._awaited
        answer = self._read(deadline, what, max_bytes=max_bytes)
        if any(not c.get("restored", True) for c in answer.get("state", []) if isinstance(c, dict)):
            self.recycle = True
        if self.scratch is not None and self.scratch.over():
            raise self._lose(self._scratch_message())
        error = answer.get("error")
        if answer.get("ok") is not True and isinstance(error, str):
            answer["error"] = error + self._limit_note(error)
        return answer

    def _limit_note(self, error: str) -> str:
        """What an error that a limit explains says about that limit."""
        if MEMORY_EXHAUSTED.search(error) and self.limits.memory_mb:
            return f" [the worker's memory limit is {self.limits.memory_mb} MB]"
        if SCRATCH_EXHAUSTED.search(error) and self.limits.scratch_mb:
            where = "/tmp and /dev/shm are" if self.sandbox.tool else "its scratch folder (TMPDIR) is"
            return f" [the worker's scratch space is limited: {where} {self.limits.scratch_mb} MB (--scratch-mb)]"
        if FILE_TOO_LARGE.search(error) and self.limits.file_mb:
            return f" [the worker may write no file larger than {self.limits.file_mb} MB]"
        return ""

    def _scratch_message(self) -> str:
        where = "/tmp and /dev/shm" if self.sandbox.tool else "TMPDIR"
        return (f"the implementation wrote more than {self.limits.scratch_mb} MB to its scratch folder ({where}, its "
                f"limit: --scratch-mb), so its worker process was stopped")

    def _timeout_message(self, what: str) -> str:
        if self.budget is not None and time.monotonic() >= self.budget[0]:
            return (f"the time limit of {self.budget[1]:g} s for all of this implementation's checks "
                    f"(--time-limit) ran out during this one ({what}), so its worker process was stopped")
        return (f"the implementation did not answer within the time limit of {self.limit_seconds:g} s "
                f"({what}), so its worker process was stopped: it hangs, or is too slow for the limit "
                f"(--check-timeout)")

    def _write(self, parts: list[bytes | memoryview], deadline: float | None, what: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        fd = self.proc.stdin.fileno()
        for part in parts:
            view = memoryview(part)
            while view:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                _, ready, _ = select.select([], [fd], [], wait)
                if not ready:
                    raise self._lose(self._timeout_message(f"while being sent a {what} request"))
                try:
                    written = os.write(fd, view[:PIPE_BYTES])
                except (BrokenPipeError, OSError):
                    raise self._lost_during(what) from None
                view = view[written:]

    def _fill(self, n: int, deadline: float | None, what: str) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while len(self.buffer) < n:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if self.scratch is not None:
                wait = SCRATCH_POLL_SECONDS if wait is None else min(wait, SCRATCH_POLL_SECONDS)
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                if self.scratch is not None and self.scratch.over():
                    raise self._lose(self._scratch_message())
                if deadline is None or time.monotonic() < deadline:
                    continue
                raise self._lose(self._timeout_message(what))
            try:
                chunk = os.read(fd, max(PIPE_BYTES, n - len(self.buffer)))
            except OSError:
                chunk = b""
            if not chunk:
                raise self._lost_during(what)
            self.buffer += chunk

    def _take(self, n: int) -> bytes:
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def _take_into(self, n: int, deadline: float | None, what: str) -> bytearray:
        """``n`` bytes of an array in a buffer of their own: what was read ahead first, the
        rest read straight into it (an answer's arrays are not copied on the way)."""
        out = bytearray(n)
        got = min(n, len(self.buffer))
        out[:got] = self.buffer[:got]
        del self.buffer[:got]
        view = memoryview(out)
        while got < n:
            self._fill(min(n - got, PIPE_BYTES), deadline, what)
            chunk = min(n - got, len(self.buffer))
            view[got:got + chunk] = self.buffer[:chunk]
            del self.buffer[:chunk]
            got += chunk
        return out

    def _read(self, deadline: float | None, what: str, *, max_bytes: int = wire.MAX_MESSAGE_BYTES) -> dict[str, Any]:
        try:
            self._fill(wire.HEAD.size, deadline, what)
            json_len, count, total = wire.check_head(self._take(wire.HEAD.size), max_bytes=max_bytes)
            self._fill(json_len, deadline, what)
            body = self._take(json_len)
            buffers, left = [], total
            for _ in range(count):
                self._fill(wire.SIZE.size, deadline, what)
                (size,) = wire.SIZE.unpack(self._take(wire.SIZE.size))
                if size > left:
                    raise wire.WireError(f"its arrays hold more bytes than the {total} it declared")
                left -= size
                buffers.append(self._take_into(size, deadline, what))
            wire.check_sizes([len(b) for b in buffers], total)
            return wire.decode(body, buffers)
        except wire.TooLarge as exc:
            raise self._lose(f"{exc.answer(what)}, so the answer was refused unread and its worker process "
                             f"stopped") from None
        except wire.WireError as exc:
            raise self._lose(f"the implementation's worker process sent a malformed message ({what}): {exc}") \
                from None

    def _lost_during(self, what: str) -> WorkerLost:
        proc = self.proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
        return self._lose(f"the implementation's worker process "
                          f"{describe_exit(code, sandboxed=bool(self.sandbox.tool))} ({what})")
