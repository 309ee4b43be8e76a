"""Where an implementation's worker runs: a sandbox from the operating system.

With bubblewrap (Debian's ``bubblewrap`` package, ``bwrap``) the worker gets:

* a read-only view of the file system, with a private, empty ``/tmp`` (its only
  writable place) and the results folder and every other submission hidden
  (an empty tmpfs, or /dev/null for a file, mounted over each);
* no network (a network namespace with only loopback), its own process, IPC,
  UTS and cgroup namespaces, no capabilities, a new session (no terminal
  injection), and death with the grader (``--die-with-parent``).

Resource limits come from the kernel on every platform that has them:
memory (``RLIMIT_DATA``: heap and private writable mappings, what allocations use;
not the address space, of which runtimes such as OpenVINO's reserve gigabytes they never
use), CPU time (``RLIMIT_CPU``), size of any file
written (``RLIMIT_FSIZE``), no core files, and the number of processes
(``RLIMIT_NPROC``; for root, which that limit does not bind, a ``pids`` cgroup
where one can be created).

Without bubblewrap the worker is still a separate process with those limits,
in a process group of its own that dies with the grader, but it sees the file
system and the network as the grader's user does. That is said in the results
(``environment.isolation``) and in the report's header.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

#: Environment variable: set to 0 to run workers without bubblewrap even where it exists.
SANDBOX_ENV = "GRU_CONFORMANCE_SANDBOX"
CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))


@dataclass(frozen=True)
class Limits:
    """Limits of one worker process (0 or None: no limit)."""

    #: Wall time one check (or the diagnosis) may take before the worker is stopped.
    check_seconds: float = 120.0
    memory_mb: int = 4096
    cpu_seconds: int = 3600
    processes: int = 256
    file_mb: int = 64
    #: Output (stdout and stderr) kept per check; the rest is counted, not kept.
    output_bytes: int = 4096


@dataclass
class Sandbox:
    """How workers are started: the tool, the paths they must not see, the limits."""

    limits: Limits = field(default_factory=Limits)
    #: Folders and files hidden from every worker (results, other submissions).
    hidden: tuple[str, ...] = ()
    #: "bwrap" (found and working), or "" for plain process isolation.
    tool: str = ""
    #: Why the tool is not used, when it is not.
    reason: str = ""

    @classmethod
    def detect(cls, limits: Limits | None = None, hidden: tuple[str, ...] = ()) -> "Sandbox":
        limits = limits or Limits()
        if os.environ.get(SANDBOX_ENV, "1") == "0":
            return cls(limits, hidden, "", f"turned off ({SANDBOX_ENV}=0)")
        if not sys.platform.startswith("linux"):
            return cls(limits, hidden, "", f"bubblewrap needs Linux; this is {sys.platform}")
        tool = shutil.which("bwrap")
        if tool is None:
            return cls(limits, hidden, "", "bubblewrap (bwrap) is not installed: install Debian's bubblewrap "
                       "package (scripts/ensure-sandbox does)")
        problem = _bwrap_works(tool)
        if problem:
            return cls(limits, hidden, "", f"bubblewrap cannot create namespaces here: {problem}")
        return cls(limits, hidden, tool, "")

    def with_hidden(self, hidden: tuple[str, ...]) -> "Sandbox":
        return replace(self, hidden=tuple(dict.fromkeys(hidden)))

    # What the worker sees -------------------------------------------------------------
    @staticmethod
    def needed(own: list[str]) -> list[Path]:
        """What a worker must see: its submission (a file's folder, for its neighbours), the
        suite, Python and the working directory."""
        paths = []
        for item in own:
            path = Path(item).resolve()
            paths.append(path.parent if path.is_file() else path)
        paths += [Path(__file__).resolve().parents[1], Path(sys.prefix).resolve(),
                  Path(sys.base_prefix).resolve(), Path.cwd().resolve()]
        paths += [Path(p).resolve() for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        return list(dict.fromkeys(paths))

    def hidden_for(self, own: list[str]) -> list[tuple[str, str]]:
        """(kind, path) pairs to mount over: "dir" gets an empty tmpfs, "file" /dev/null.
        A hidden folder that holds what the worker needs (its own submission, the suite,
        Python, the working directory or the import path) is left visible: the files in
        it that must not be seen are named in ``hidden`` themselves (the results file)."""
        mine = [Path(p).resolve() for p in own]
        needed = self.needed(own) + mine
        mounts: list[tuple[str, str]] = []
        for raw in self.hidden:
            path = Path(raw)
            if not path.exists():
                continue
            path = path.resolve()  # a link is hidden where it leads
            if any(path == p or path in p.parents or p in path.parents for p in mine):
                continue  # its own files, and what holds or is inside them, are never hidden from it
            if any(path == p or path in p.parents for p in needed):
                continue
            mounts.append(("dir" if path.is_dir() else "file", str(path)))
        return mounts

    def command(self, argv: list[str], *, own: list[str] = ()) -> list[str]:  # type: ignore[assignment]
        """``argv`` (the worker) wrapped in the sandbox tool, when there is one."""
        if not self.tool:
            return list(argv)
        cmd = [self.tool, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
               "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
               "--setenv", "TMPDIR", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib"]
        # What the worker needs from under /tmp (a submission written there, say) is bound
        # back, read-only, over its private /tmp; then everything it must not see is covered.
        for path in self.needed(list(own)):
            if path == Path("/tmp") or Path("/tmp") in path.parents:
                cmd += ["--ro-bind", str(path), str(path)]
        for kind, path in self.hidden_for(list(own)):
            cmd += ["--tmpfs", path] if kind == "dir" else ["--ro-bind", "/dev/null", path]
        cmd += ["--chdir", str(Path.cwd()), "--"]
        return cmd + list(argv)

    # What is said about it ------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """For the results' environment and the report's header."""
        limits = {k: v for k, v in asdict(self.limits).items()}
        process_limit = _process_limit_means()
        if self.tool:
            return {
                "mode": "sandbox",
                "tool": f"bubblewrap {_bwrap_version(self.tool)}",
                "summary": "each implementation runs in its own worker process, sandboxed with bubblewrap: "
                           "read-only file system, private /tmp, results folder and other submissions hidden, "
                           "no network, own PID/IPC namespaces, no capabilities; limits on memory, CPU time, "
                           f"file size and processes ({process_limit})",
                "limits": limits,
            }
        return {
            "mode": "process",
            "tool": "",
            "summary": "each implementation runs in its own worker process with limits on memory, CPU time, "
                       f"file size and processes ({process_limit}), but NOT sandboxed ({self.reason}): it can read "
                       "and write what the grading user can, and reach the network",
            "limits": limits,
        }


#: What ``python -m conformance grade --no-isolation`` records instead.
IN_PROCESS = {
    "mode": "none",
    "tool": "",
    "summary": "isolation turned off (--no-isolation): implementations ran inside the grading process, "
               "so a crash ends grading and the implementation could change its own verdict; "
               "use it for debugging only",
    "limits": {},
}


def _bwrap_works(tool: str) -> str:
    try:
        done = subprocess.run([tool, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
                               "--die-with-parent", "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return "" if done.returncode == 0 else (done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}")


def _bwrap_version(tool: str) -> str:
    try:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.strip().removeprefix("bubblewrap").strip()


def _process_limit_means() -> str:
    if os.geteuid() != 0:
        return "RLIMIT_NPROC"
    return "a pids cgroup" if cgroup_root() is not None else "not limited: root is exempt from RLIMIT_NPROC and no pids cgroup can be made"


def cgroup_root() -> Path | None:
    """A writable ``pids`` cgroup hierarchy (v1 or v2), or None."""
    if os.geteuid() != 0:
        return None
    v1, v2 = CGROUP_ROOTS
    if (v1 / "cgroup.procs").exists() and os.access(v1, os.W_OK):
        return v1
    controllers = v2 / "cgroup.controllers"
    if controllers.exists() and "pids" in controllers.read_text().split() and os.access(v2, os.W_OK):
        return v2
    return None


def new_cgroup(processes: int) -> Path | None:
    """A fresh pids cgroup limited to ``processes``, or None where none can be made."""
    root = cgroup_root()
    if root is None or not processes:
        return None
    path = root / f"gru-conformance-{uuid.uuid4().hex[:12]}"
    try:
        path.mkdir()
        (path / "pids.max").write_text(str(processes))
    except OSError:
        remove_cgroup(path)
        return None
    return path


def remove_cgroup(path: Path | None) -> None:
    if path is None:
        return
    try:
        path.rmdir()
    except OSError:
        pass


#: Sets the limits, joins the cgroup, asks to die with the grader, then becomes the worker
#: (exec keeps the pid, so the grader's process-group kill still reaches it).
LAUNCHER = """\
import ctypes, os, resource, signal, sys
memory, cpu, files, procs, cgroup = sys.argv[1:6]
def limit(kind, value):
    value = int(value)
    hard = resource.getrlimit(kind)[1]
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard) if value > 0 else hard  # a limit set from outside still holds
    if value > 0:
        resource.setrlimit(kind, (value, value))
limit(resource.RLIMIT_DATA, int(memory) << 20)
limit(resource.RLIMIT_CPU, cpu)
limit(resource.RLIMIT_FSIZE, int(files) << 20)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if os.geteuid() != 0:
    limit(resource.RLIMIT_NPROC, procs)
if cgroup != "-":
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as handle:
        handle.write(str(os.getpid()))
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
os.execv(sys.argv[6], sys.argv[6:])
"""


def launcher(argv: list[str], limits: Limits, cgroup: Path | None) -> list[str]:
    """``argv`` started under ``limits`` (and in ``cgroup``)."""
    if sys.platform == "win32":
        return list(argv)
    return [sys.executable, "-c", LAUNCHER, str(limits.memory_mb or 0), str(limits.cpu_seconds or 0),
            str(limits.file_mb or 0), str(limits.processes or 0), str(cgroup) if cgroup else "-", *argv]
