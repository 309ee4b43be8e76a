"""Grading many implementations: one isolated process per submission, then one merge.

Each submission is graded by the ordinary command, in a process of its own::

    python -m conformance grade <spec> --results <out>/submissions/<id>.json --no-html --time-limit T

with the same limits ``grade`` applies (memory, scratch space, a check's time, and
``--time-limit`` for all of its checks), so a fault gets the same verdict from both
commands: whatever the submission does in a check is an error of that check. A pool
of ``jobs`` launchers runs them in parallel. The grading process itself runs none of
the submission's code; should it still not end (``GRACE_SECONDS`` past the time
limit) or end without finishing, the parent writes a results file whose only
implementation has the verdict ``error`` ("could not be graded") and a message
saying what happened, keeping what was graded. Nothing else is lost: every other
submission is graded as usual. ``merge`` then renders one scoreboard from every
results file.

Sources (``collect``) are:

* a folder of submissions: every ``name.py`` (an adapter module) and every
  ``name/`` holding ``adapter.py`` (a module that may import its neighbours);
  the adapter class is found by reading the source (never by importing it in
  the parent): the one top-level class deriving from ``CellAdapter`` or
  ``LayerAdapter``, or the one named ``Adapter`` if there are several;
* a single such file or folder;
* anything ``grade`` accepts (registry id, ``module:Class``, ``path.py:Class``),
  optionally prefixed by ``ID=`` to choose the submission id.

For many machines the two steps are the building blocks: grade each submission
anywhere (``grade-folder SOURCE --out DIR --no-merge``, one per array task,
CI matrix job or GNU parallel slot), gather the ``DIR/submissions/*.json`` files
in one place, and run ``python -m conformance report DIR/submissions -o
DIR/index.html --json DIR/results.json``.

Each implementation record of a fleet run carries a ``grading`` object::

    {"spec", "exit_code", "seconds", "timed_out", "time_limit_s", "memory_limit_mb", "scratch_mb", "log"}
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.running.isolation import describe_exit
from conformance.base.profiles import PROFILES
from conformance.base.results_document import Grading, ResultsDocument, Score
from conformance.running.sandbox import Limits

ADAPTER_BASES = ("CellAdapter", "LayerAdapter")
DEFAULT_TIME_LIMIT = 300.0
#: The same limits as ``grade``'s, so that a fault gets one verdict whatever the command.
DEFAULT_MEMORY_MB = Limits().memory_mb
#: Seconds a grading process gets past its time limit to stop its check and write its
#: results, before the parent stops it.
GRACE_SECONDS = 60.0


class SubmissionError(Exception):
    """A source that names no submission, or a bad option."""


@dataclass
class Submission:
    """One implementation to grade in its own process."""

    id: str
    #: What ``python -m conformance grade`` is given (registry id, module:Class, path.py:Class).
    spec: str
    #: Why it cannot be graded at all (found before launching anything), or "".
    problem: str = ""
    #: Its file or folder: hidden from the other submissions' workers.
    paths: tuple[str, ...] = ()


@dataclass
class Graded:
    """What became of one submission."""

    submission: Submission
    results: Path
    verdict: str
    seconds: float
    exit_code: int | None = None
    timed_out: bool = False
    message: str = ""
    score: Score | None = None


# Discovery ---------------------------------------------------------------------
def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=str(path))
    except SyntaxError as exc:
        raise SubmissionError(f"{path} does not parse: {exc.msg} (line {exc.lineno})") from exc


def adapter_classes(path: Path, _seen: frozenset[Path] = frozenset()) -> list[str]:
    """The top-level classes of ``path`` that derive from ``CellAdapter`` or ``LayerAdapter``,
    directly or through other classes, of the same file or of a module beside it
    (``from helpers import MyBase``), read from the source: nothing is imported."""
    path = path.resolve()
    tree = _parse(path)
    adapters = set(ADAPTER_BASES)
    for node in tree.body:  # classes imported from a neighbouring module that are adapters there
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and "." not in node.module:
            neighbour = path.with_name(f"{node.module}.py")
            if neighbour.is_file() and neighbour not in _seen:
                try:
                    theirs = set(adapter_classes(neighbour, _seen | {path}))
                except SubmissionError:
                    continue
                adapters |= {alias.asname or alias.name for alias in node.names if alias.name in theirs}
    found = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(_base_name(b) in adapters for b in node.bases):
            adapters.add(node.name)
            found.append(node.name)
    return found


def find_adapter_class(path: Path) -> str:
    """The adapter class a submission file defines, read from its source.

    Raises ``SubmissionError`` with the reason when there is none or the choice is ambiguous."""
    classes = adapter_classes(path)
    if len(classes) == 1:
        return classes[0]
    if "Adapter" in classes:
        return "Adapter"
    if not classes:
        if any(isinstance(n, ast.ClassDef) and n.name == "Adapter" for n in _parse(path).body):
            return "Adapter"  # derives from a class defined elsewhere: the conventional name decides
        raise SubmissionError(f"{path} defines no class deriving from CellAdapter or LayerAdapter (directly, or "
                         f"through a class of its own or of a module beside it): name its adapter class "
                         f"'Adapter', or pass '{path}:Class'")
    raise SubmissionError(f"{path} defines several adapter classes ({', '.join(classes)}): name one "
                     f"'Adapter', or pass '{path}:Class'")


def _submission_of_path(path: Path, sub_id: str) -> Submission:
    module = path / "adapter.py" if path.is_dir() else path
    paths = (str(path.resolve()),)
    try:
        return Submission(sub_id, f"{module.resolve()}:{find_adapter_class(module)}", paths=paths)
    except SubmissionError as exc:
        return Submission(sub_id, str(module.resolve()), problem=str(exc), paths=paths)


def _is_submission_dir(path: Path) -> bool:
    return path.is_dir() and (path / "adapter.py").is_file()


def collect(sources: Iterable[str]) -> list[Submission]:
    """Submissions named by ``sources`` (see the module docstring), with unique ids."""
    found: list[Submission] = []
    for source in sources:
        sub_id, sep, rest = source.partition("=")
        if sep and sub_id and "/" not in sub_id and ":" not in sub_id:
            explicit, source = sub_id, rest
        else:
            explicit = ""
        path = Path(source)
        if path.is_dir() and not _is_submission_dir(path):
            entries = sorted(p for p in path.iterdir() if not p.name.startswith(("_", ".")))
            members = [p for p in entries if (p.suffix == ".py" and p.is_file()) or _is_submission_dir(p)]
            if not members:
                raise SubmissionError(f"{source}: no submissions (no name.py files, no name/adapter.py folders)")
            found += [_submission_of_path(p, p.stem if p.is_file() else p.name) for p in members]
        elif _is_submission_dir(path) or (path.suffix == ".py" and path.is_file()):
            found.append(_submission_of_path(path, explicit or (path.name if path.is_dir() else path.stem)))
        elif ":" in source or ("/" not in source and not path.suffix):
            # A registry id, entry point or module:Class / file.py:Class: grade resolves it.
            where = source.rpartition(":")[0]
            spec = f"{Path(where).resolve()}:{source.rpartition(':')[2]}" if where.endswith(".py") else source
            paths = (str(Path(where).resolve()),) if where.endswith(".py") else ()
            found.append(Submission(explicit or _id_of_spec(source), spec, paths=paths))
        else:
            raise SubmissionError(f"{source}: not a folder, a .py file or an implementation name")
    seen: set[str] = set()
    for sub in found:
        base, n = sub.id, 2
        while sub.id in seen:
            sub.id = f"{base}-{n}"
            n += 1
        seen.add(sub.id)
    return found


def _id_of_spec(spec: str) -> str:
    where, sep, attr = spec.rpartition(":")
    if not sep:
        return spec
    name = Path(where).stem if where.endswith(".py") else where.rpartition(".")[2]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{name}-{attr}")


# Running one submission ----------------------------------------------------------
def submission_command(sub: Submission, results: Path, *, profile: str | None = None,
                  extra: Sequence[str] = (), hide: Sequence[str] = ()) -> list[str]:
    """The per-submission command (also what a job runner on another machine runs).
    ``hide``: paths its worker must not see (the other submissions, the output folder)."""
    cmd = [sys.executable, "-m", "conformance", "grade", sub.spec, "--results", str(results),
           "--no-html", "--junitxml", str(results.with_suffix(".junit.xml"))]
    if profile:
        cmd += ["--profile", profile]
    for path in hide:
        cmd += ["--hide", path]
    return cmd + list(extra)


def limit_options(*, time_limit: float, memory_mb: int | None, scratch_mb: int | None = None,
                  check_timeout: float | None = None) -> list[str]:
    """``grade``'s options for the limits a submission is graded under."""
    options = ["--time-limit", f"{time_limit:g}", "--memory-mb", str(memory_mb or 0)]
    if scratch_mb is not None:
        options += ["--scratch-mb", str(scratch_mb)]
    if check_timeout is not None:
        options += ["--check-timeout", f"{check_timeout:g}"]
    return options


def _child_env() -> dict[str, str]:
    # Threads: grade runs torch with one (its --threads), so N children use N cores.
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()


def _tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def error_results(sub: Submission, message: str, *, profile: str | None = None) -> ResultsDocument:
    """A results document for a submission that could not be graded."""
    from conformance.checks import load_all
    from conformance.base import profiles
    from conformance.grading import results

    record = results.implementation_result(sub.id, source=sub.spec, load_error=message)
    env = results.environment(profile or profiles.DEFAULT_PROFILE)
    return results.results_document([record], load_all(), env)


def _graded_so_far(results: Path) -> tuple[ResultsDocument | None, str]:
    """What a grading process wrote (it writes as grading goes), and why nothing usable when not."""
    from conformance.grading.results import read_document

    try:
        document = read_document(results)
        if not document.implementations:
            raise ValueError("not a results file")
    except FileNotFoundError:
        return None, ""
    except (OSError, ValueError) as exc:
        return None, f" (its results file is unreadable: {exc})"
    return document, ""


def grade_one(sub: Submission, out: Path, *, time_limit: float = DEFAULT_TIME_LIMIT,
              memory_mb: int | None = DEFAULT_MEMORY_MB, scratch_mb: int | None = None,
              check_timeout: float | None = None, profile: str | None = None,
              extra: Sequence[str] = (), hide: Sequence[str] = ()) -> Graded:
    """Grade one submission in its own process; always leaves ``out/<id>.json``."""
    from conformance.grading.results import judge, write_results

    out.mkdir(parents=True, exist_ok=True)
    results = out / f"{sub.id}.json"
    log = out / f"{sub.id}.log"
    for stale in (results, results.with_suffix(".junit.xml")):
        stale.unlink(missing_ok=True)  # a file left by an earlier run must not pass for this one
    start = time.monotonic()
    code: int | None = None
    timed_out = False
    message = sub.problem
    if not message:
        with open(log, "wb") as sink:
            options = limit_options(time_limit=time_limit, memory_mb=memory_mb, scratch_mb=scratch_mb,
                                    check_timeout=check_timeout)
            proc = subprocess.Popen(
                submission_command(sub, results, profile=profile, hide=hide, extra=[*options, *extra]),
                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                env=_child_env(), start_new_session=True,
            )
            try:
                code = proc.wait(timeout=time_limit + GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
                code = proc.wait()
            finally:
                if proc.poll() is None:  # interrupted while waiting: leave no child behind
                    _kill_group(proc)
                    proc.wait()
    seconds = round(time.monotonic() - start, 2)
    # Written as grading goes: a process stopped or ended early leaves what it graded.
    document, unreadable = _graded_so_far(results) if not message else (None, "")
    if not message and timed_out:
        message = (f"the grading process did not end within {time_limit + GRACE_SECONDS:g} s (the time limit of "
                   f"{time_limit:g} s and {GRACE_SECONDS:g} s to stop and write its results) and was stopped")
    elif not message and (document is None or not document.complete):
        tail = _tail(log, 400)
        # pytest's own "could not even start" (a bad option, say) is not the submission's doing.
        cause = ("pytest could not run (usage or internal error: see the log)"
                 if re.search(r"^(INTERNALERROR>|ERROR: usage:)", tail, re.MULTILINE)
                 else "the submission crashed it or ended it (e.g. os._exit)")
        tail = "\n".join(tail.splitlines()[-6:])
        what = "writing its results" if document is None else "it finished grading"
        message = (f"the grading process {describe_exit(code or 0)} before {what}{unreadable}: "
                   f"{cause}" + (f"; last output:\n{tail}" if tail else ""))
    if document is None:
        document = error_results(sub, message, profile=profile)
    elif message:  # partial results: what was graded is kept, the verdict says it did not finish
        document.complete = False
        for impl in document.implementations:
            judge(impl, load_error=message)
    grading = Grading(spec=sub.spec, exit_code=code, seconds=seconds, timed_out=timed_out,
                      time_limit_s=time_limit, memory_limit_mb=memory_mb, scratch_mb=scratch_mb,
                      log=log.name if log.exists() else "")
    for impl in document.implementations:
        impl.id = sub.id if len(document.implementations) == 1 else f"{sub.id}/{impl.id}"
        impl.source = impl.source or sub.spec
        impl.grading = grading
    write_results(document, results)
    first = document.implementations[0]
    return Graded(sub, results, first.verdict, seconds, code, timed_out, first.load_error or message, first.score)


def grade_all(subs: Sequence[Submission], out: Path, *, jobs: int = 2,
              progress: Callable[[Graded, int, int], None] | None = None, **options: Any) -> list[Graded]:
    """Grade every submission, ``jobs`` processes at a time; results keep the input order."""
    done: dict[str, Graded] = {}
    lock = threading.Lock()
    # Each submission's worker sees neither the others, nor the results being written, nor the
    # working directory (earlier gradings, whatever else is kept there).
    hide = {s.id: [p for other in subs if other is not s for p in other.paths]
            + [str(out.resolve().parent), os.getcwd()] for s in subs}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_one, s, out, hide=hide[s.id], **options): s for s in subs}
        for future in as_completed(futures):
            graded = future.result()
            with lock:
                done[graded.submission.id] = graded
                if progress is not None:
                    progress(graded, len(done), len(subs))
    return [done[s.id] for s in subs]


# Command line ----------------------------------------------------------------------
def add_arguments(parser: Any) -> None:
    parser.add_argument("sources", nargs="*", help="folders of submissions, submission files or folders, "
                        "or names grade accepts; ID=SOURCE sets the submission id")
    parser.add_argument("--all", action="store_true", help="also every registered implementation, one process each")
    parser.add_argument("--out", default="reports/fleet", help="output folder: submissions/<id>.json "
                        "(+ .log, .junit.xml), results.json and index.html (default: reports/fleet)")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                        help="submissions graded at once (default: the number of cores)")
    parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT,
                        help="seconds all of a submission's checks may take: past it the check in progress is "
                        f"stopped and the rest are not run, each an error (default {DEFAULT_TIME_LIMIT:g})")
    parser.add_argument("--check-timeout", type=float, default=None, metavar="SECONDS",
                        help=f"seconds one check may take (default {Limits().check_seconds:g}, as grade's)")
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                        help=f"memory limit (RLIMIT_DATA) of each submission's worker in MB, 0 for none "
                        f"(default {DEFAULT_MEMORY_MB}, as grade's)")
    parser.add_argument("--scratch-mb", type=int, default=None, metavar="MB",
                        help=f"scratch space of each submission's worker in MB (default {Limits().scratch_mb}, "
                        "as grade's)")
    parser.add_argument("--profile", choices=list(PROFILES), help="hypothesis profile (default: grade)")
    parser.add_argument("--no-merge", action="store_true",
                        help="grade only; merge later with: python -m conformance report OUT/submissions")


def run(args: Any, extra: Sequence[str] = ()) -> int:
    """``python -m conformance grade-folder``: 0 when every submission conforms, 1 otherwise, 2 on bad input."""
    sources = list(args.sources)
    if args.all:
        from conformance.grading.loading import registry

        sources += [entry.id for entry in registry()]
    if not sources:
        print("grade-folder: name a folder of submissions (or files, or implementations), or --all",
              file=sys.stderr)
        return 2
    try:
        subs = collect(sources)
    except SubmissionError as exc:
        print(f"grade-folder: {exc}", file=sys.stderr)
        return 2
    if args.jobs < 1 or args.time_limit <= 0 or args.memory_mb < 0:
        print("grade-folder: --jobs must be >= 1, --time-limit > 0 and --memory-mb >= 0", file=sys.stderr)
        return 2
    out = Path(args.out)
    folder = out / "submissions"
    width = max(len(s.id) for s in subs)

    def progress(g: Graded, n: int, total: int) -> None:
        score = f"{g.score.passed}/{g.score.applicable}" if g.score else ""
        line = f"[{n}/{total}] {g.submission.id:<{width}}  {g.verdict:<24} {score:>6}  {g.seconds:6.1f} s"
        if g.verdict == "error":
            line += f"\n      {g.message.splitlines()[0][:200]}"
        print(line, flush=True)

    graded = grade_all(subs, folder, jobs=args.jobs, progress=progress, time_limit=args.time_limit,
                       memory_mb=args.memory_mb, scratch_mb=args.scratch_mb, check_timeout=args.check_timeout,
                       profile=args.profile, extra=list(extra))
    if not args.no_merge:
        from conformance.reporting.merging import merge

        _, html = merge([str(g.results) for g in graded], json_out=out / "results.json", html=out / "index.html")
        print(f"results: {out / 'results.json'}" + (f"\nreport: {html}" if html else ""))
    from conformance.base.conventions import PASSING

    return 0 if all(g.verdict in PASSING for g in graded) else 1
