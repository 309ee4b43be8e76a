"""Where an implementation's worker runs: a sandbox from the operating system.

With bubblewrap (Debian's ``bubblewrap`` package, ``bwrap``) the worker gets:

* a file system built from what it needs, read-only (``conformance.running.sandbox_view``):
  the system's programs and libraries, the Python installation, the suite's
  packages and its own submission; the results, other submissions and earlier
  gradings are not there at all (not listed, not in the mount table);
* scratch space of a bounded size: ``/tmp`` and ``/dev/shm`` are each a tmpfs of
  ``Limits.scratch_mb``, the only writable places;
* no network (a network namespace with only loopback), its own process, IPC,
  UTS and cgroup namespaces, no capabilities, a new session (no terminal
  injection), and death with the grader (``--die-with-parent``).

Without bubblewrap (missing, or unable to create namespaces) the worker is a plain
process with a private scratch folder (``TMPDIR``), whose size the grader watches;
where the kernel has Landlock (``conformance.running.landlock``), it may write nowhere else
but ``/dev/shm``, open no TCP connection and signal no other process; it reads what
the grading user can. That is said in the results (``environment.isolation``) and in
the report's header.

Resource limits come from the kernel in every mode: memory (``RLIMIT_DATA``: heap
and private writable mappings, what allocations use; not the address space, of which
runtimes such as OpenVINO's reserve gigabytes they never use), CPU time
(``RLIMIT_CPU``), size of any file written (``RLIMIT_FSIZE``), no core files, and
the number of processes (``RLIMIT_NPROC``; for root, which that limit does not bind,
a ``pids`` cgroup where one can be created).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from conformance.running import landlock, sandbox_view

#: Environment variable: 0 runs workers as plain processes, "landlock" without bubblewrap
#: but with Landlock where the kernel has it (the fallback's own mode, for testing it).
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
    #: The largest file a worker may write: as large as its scratch space (torch.compile's
    #: inductor writes a 150 MB precompiled header; a smaller limit fails a correct GRU).
    file_mb: int = 1024
    #: Scratch space: /tmp and /dev/shm, each, in the sandbox; the private TMPDIR without it.
    scratch_mb: int = 1024
    #: Output (stdout and stderr) kept per check; the rest is counted, not kept.
    output_bytes: int = 4096


@dataclass
class Sandbox:
    """How workers are started: the tool, the paths they must not see, the limits."""

    limits: Limits = field(default_factory=Limits)
    #: Folders and files hidden from every worker (results, other submissions).
    hidden: tuple[str, ...] = ()
    #: "bwrap" (found and working), or "" for a plain process.
    tool: str = ""
    #: Why the tool is not used, when it is not.
    reason: str = ""
    #: Without the tool: the Landlock ABI the worker is restricted with (0: none).
    landlock: int = 0
    #: The tool sizes a tmpfs (bubblewrap 0.7 and later); else /tmp and /dev/shm are a watched folder.
    sized_tmpfs: bool = True

    @classmethod
    def detect(cls, limits: Limits | None = None, hidden: tuple[str, ...] = ()) -> "Sandbox":
        limits = limits or Limits()
        setting = os.environ.get(SANDBOX_ENV, "1")
        if setting == "0":
            return cls(limits, hidden, "", f"turned off ({SANDBOX_ENV}=0)")
        plain = cls(limits, hidden, "", "", landlock.abi())
        if setting == "landlock":
            return replace(plain, reason=f"bubblewrap not used: {SANDBOX_ENV}=landlock")
        if not sys.platform.startswith("linux"):
            return replace(plain, reason=f"bubblewrap needs Linux; this is {sys.platform}")
        tool = shutil.which("bwrap")
        if tool is None:
            return replace(plain, reason="bubblewrap (bwrap) is not installed: install Debian's bubblewrap package "
                           "(scripts/ensure-sandbox does)")
        problem = _bwrap_works(tool)
        if problem:
            return replace(plain, reason=f"bubblewrap cannot create namespaces here: {problem}")
        return cls(limits, hidden, tool, "", sized_tmpfs=_bwrap_sizes_tmpfs(tool))

    def with_hidden(self, hidden: tuple[str, ...]) -> "Sandbox":
        return replace(self, hidden=tuple(dict.fromkeys(hidden)))

    # What the worker sees -------------------------------------------------------------
    def view(self, own: list[str]) -> list[sandbox_view.Mount]:
        """The read-only mounts of a worker whose submission is ``own`` (files or folders):
        the system, Python, the suite and its own, and the working directory unless it is
        hidden (``grade-folder`` hides it), less the hidden paths inside them."""
        required = [*sandbox_view.python_paths(), *sandbox_view.suite_paths(), *sandbox_view.own_paths(own)]
        optional = [Path.cwd(), *sandbox_view.environment_paths("PYTHONPATH"),
                    *sandbox_view.environment_paths("LD_LIBRARY_PATH")]
        mounts = sandbox_view.plan([p for p in required if len(p.parts) > 1],
                                   [p for p in optional if len(p.parts) > 1], self._hidden(own))
        return sandbox_view.system_mounts() + mounts

    def _hidden(self, own: list[str]) -> list[Path]:
        mine = {Path(p).resolve() for p in own}
        return [Path(h) for h in self.hidden if Path(h).resolve() not in mine]

    def workdir(self, own: list[str]) -> str:
        """Where the worker starts: the working directory when it is shown, else its
        submission's folder (or /)."""
        cwd = Path.cwd().resolve()
        hidden = {h.resolve() for h in self._hidden(own)}
        if len(cwd.parts) > 1 and not any(p in hidden for p in (cwd, *cwd.parents)):
            return str(cwd)
        for item in own:
            path = Path(item).resolve()
            return str(path if path.is_dir() else path.parent)
        return "/"

    def command(self, argv: list[str], *, own: list[str] = (), scratch: "Scratch | None" = None) -> list[str]:  # type: ignore[assignment]
        """``argv`` (the worker) wrapped in the sandbox tool, when there is one; ``scratch``
        becomes its /tmp and /dev/shm where the tool cannot size a tmpfs."""
        if not self.tool:
            return list(argv)
        cmd = [self.tool, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
               "--proc", "/proc", "--dev", "/dev"]
        if scratch is not None:
            for place, folder in (("/tmp", "tmp"), ("/dev/shm", "shm")):
                (scratch.path / folder).mkdir(exist_ok=True)
                cmd += ["--bind", str(scratch.path / folder), place]
        else:
            size = ["--size", str(self.limits.scratch_mb << 20)] if self.limits.scratch_mb else []
            cmd += [*size, "--tmpfs", "/tmp", *size, "--tmpfs", "/dev/shm"]
        for mount in self.view(list(own)):
            cmd += ["--symlink", mount.target, mount.path] if mount.target else ["--ro-bind", mount.path, mount.path]
        # Nothing else is writable: the root the mounts hang from and /dev are made read-only
        # (/tmp and /dev/shm are mounts of their own, and stay writable).
        cmd += ["--remount-ro", "/dev", "--remount-ro", "/",
                "--setenv", "TMPDIR", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
                "--chdir", self.workdir(list(own)), "--"]
        return cmd + list(argv)

    def worker_command(self, argv: list[str], *, own: list[str], cgroup: Path | None = None,
                       scratch: "Scratch | None" = None) -> list[str]:
        """The whole command of a worker: the launcher (limits, Landlock) starting the
        sandbox tool (when there is one) starting ``argv``."""
        writable = [str(scratch.path), "/dev/shm"] if scratch is not None and self.landlock and not self.tool else None
        return launcher(self.command(argv, own=own, scratch=scratch), self.limits, cgroup, writable)

    def worker_environment(self, scratch: "Scratch | None" = None) -> dict[str, str]:
        """The worker's environment: the grader's, less what names the grading in progress
        (pytest's current test names another implementation), with the suite on the import
        path and, without the tool, ``scratch`` as its temporary folder."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        suite = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([suite, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
        env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
        if scratch is not None and not self.tool:
            env.update(TMPDIR=str(scratch.path), TMP=str(scratch.path), TEMP=str(scratch.path),
                       MPLCONFIGDIR=str(scratch.path / "matplotlib"))
        return env

    def scratch(self) -> "Scratch | None":
        """A private scratch folder, watched by the grader, for a worker whose scratch space
        the kernel does not bound: without the tool, or with one that cannot size a tmpfs."""
        if self.tool and self.sized_tmpfs:
            return None
        return Scratch(self.limits.scratch_mb)

    # What is said about it ------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """For the results' environment and the report's header."""
        limits = {k: v for k, v in asdict(self.limits).items()}
        process_limit = _process_limit_means()
        scratch = f"{self.limits.scratch_mb} MB" if self.limits.scratch_mb else "unlimited"
        if self.tool:
            cwd = "" if self.workdir([]) == "/" else " (and the working directory)"
            space = (f"scratch space /tmp and /dev/shm of {scratch} each" if self.sized_tmpfs else
                     f"scratch space /tmp and /dev/shm of {scratch} together (a folder the grader watches: this "
                     "bubblewrap cannot size a tmpfs)")
            return {
                "mode": "sandbox",
                "tool": f"bubblewrap {_bwrap_version(self.tool)}",
                "summary": "each implementation runs in its own worker process, sandboxed with bubblewrap: it sees "
                           f"the system, Python, the suite and its own submission{cwd}, read-only, and nothing of "
                           f"other submissions or of results; {space}; no "
                           "network, own PID/IPC namespaces, no capabilities; limits on memory, CPU time, file size "
                           f"and processes ({process_limit})",
                "limits": limits,
            }
        held = landlock.what_holds(self.landlock)
        restricted = (f"restricted with Landlock (ABI {self.landlock}): {held}; it can read what the grading user "
                      "can" if held else "it can read and write what the grading user can, and reach the network")
        return {
            "mode": "process",
            "tool": f"Landlock ABI {self.landlock}" if held else "",
            "summary": "each implementation runs in its own worker process with limits on memory, CPU time, "
                       f"file size and processes ({process_limit}) and a private scratch folder of {scratch} "
                       f"(watched), but NOT sandboxed ({self.reason}): {restricted}",
            "limits": limits,
        }


class Scratch:
    """A worker's private temporary folder when it runs without bubblewrap: made for it,
    its size watched by the grader (``over``), removed with it."""

    #: Files counted at most: past this many, the folder counts as over its limit.
    MAX_FILES = 20000

    def __init__(self, limit_mb: int) -> None:
        self.limit = limit_mb << 20
        self.path = Path(tempfile.mkdtemp(prefix="gru-conformance-scratch-"))

    def used(self) -> int:
        """Bytes its files take on disk (a folder of more than ``MAX_FILES`` files: more than any limit)."""
        total, files, stack = 0, 0, [self.path]
        while stack:
            try:
                entries = list(os.scandir(stack.pop()))
            except OSError:
                continue
            for entry in entries:
                files += 1
                if files > self.MAX_FILES:
                    return 1 << 62
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    else:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
                except OSError:
                    continue
        return total

    def over(self) -> bool:
        return bool(self.limit) and self.used() > self.limit

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


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
        done = subprocess.run([tool, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                               "--unshare-all", "--die-with-parent", "--remount-ro", "/", "true"],
                              capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return "" if done.returncode == 0 else (done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}")


def _bwrap_sizes_tmpfs(tool: str) -> bool:
    """bubblewrap has ``--size`` (0.7 and later)."""
    try:
        usage = subprocess.run([tool, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in usage


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
memory, cpu, files, procs, cgroup, writable = sys.argv[1:7]
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
if writable != "-":
    from conformance.running.landlock import restrict
    restrict(writable.split(os.pathsep))
os.execv(sys.argv[7], sys.argv[7:])
"""


def launcher(argv: list[str], limits: Limits, cgroup: Path | None, writable: list[str] | None = None) -> list[str]:
    """``argv`` started under ``limits`` (and in ``cgroup``); with ``writable``, restricted
    with Landlock to writing beneath those paths."""
    if sys.platform == "win32":
        return list(argv)
    return [sys.executable, "-c", LAUNCHER, str(limits.memory_mb or 0), str(limits.cpu_seconds or 0),
            str(limits.file_mb or 0), str(limits.processes or 0), str(cgroup) if cgroup else "-",
            os.pathsep.join(writable) if writable else "-", *argv]
