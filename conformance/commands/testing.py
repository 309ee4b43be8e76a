"""One call in your own tests: ``conformance.run_conformance_test(MyGRU)``.

It grades one implementation as ``python -m conformance grade`` does, in a grading process of
its own, where the implementation runs in a sandboxed worker (the trust boundary is the same:
your test process never runs the checks, and the grading process never imports your GRU),
and raises ``AssertionError`` whose message is the verdict and the first divergence::

    from conformance import run_conformance_test

    def test_my_gru_conforms():
        run_conformance_test(MyGRU)                                  # a class: nn.GRU-like, nn.GRUCell-like or an adapter
        run_conformance_test("src/my_gru.py:MyGRU", profile="quick")  # or its name
        run_conformance_test(MyCell, options=["--reset", "before"], html="reports/my_cell.html")

The class must be importable by a fresh process: defined at a module's top level (the
grading process reaches it by ``module:Class``, with this process's import path, or, for a
module that name cannot import, by its file).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.base.conventions import PASSING
from conformance.base.profiles import DEFAULT_PROFILE, PROFILES

__all__ = ["ConformanceResult", "run_conformance_test", "name_of"]

#: Lines of a failing check's message kept in the assertion message.
MESSAGE_LINES = 12


@dataclass
class ConformanceResult:
    """One implementation's verdict, as the results JSON records it."""

    id: str
    verdict: str
    verdict_text: str
    passed: int
    applicable: int
    #: The verdict in a line, then (when it is not conformant) the first divergence.
    summary: str
    #: The implementation's record in the results JSON (checks, diagnosis...).
    record: dict[str, Any] = field(repr=False)
    #: Files written where asked (None otherwise).
    results: Path | None = None
    html: Path | None = None
    junit: Path | None = None
    #: What the grading process printed (its pytest summary).
    output: str = field(default="", repr=False)

    @property
    def conformant(self) -> bool:
        """Conformant to the convention claimed, or black-box consistent: nothing failed."""
        return self.verdict in PASSING


def name_of(implementation: Any) -> str:
    """The name the grading process imports ``implementation`` by: a string as it is; a class
    as ``module:Class`` when that module is importable by its name, else ``file.py:Class``."""
    if isinstance(implementation, (str, os.PathLike)):
        return os.fspath(implementation)
    if not isinstance(implementation, type):
        raise TypeError(f"got an instance of {type(implementation).__qualname__}, but grading takes the class (it "
                        f"builds its own instance for every case) or its name")
    cls = implementation
    qualname, module = cls.__qualname__, cls.__module__
    if "<locals>" in qualname:
        raise TypeError(f"got {qualname}, a class defined inside a function, but the grading process imports the "
                        f"class by name: define it at the top level of a module")
    if module != "__main__" and _importable(module, sys.modules.get(module)):
        return f"{module}:{qualname}"
    path = getattr(sys.modules.get(module), "__file__", None)
    if not path:
        raise TypeError(f"got {cls!r}, whose module {module!r} has no file, but the grading process imports the class "
                        f"from its module or file: name it as 'module:Class' or 'path/to/file.py:Class'")
    return f"{Path(path).resolve()}:{qualname}"


def _importable(module: str, loaded: Any) -> bool:
    """A fresh process with this one's import path would import the same file by this name."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    here = getattr(loaded, "__file__", None)
    return spec is not None and (here is None or spec.origin is None
                                 or Path(spec.origin).resolve() == Path(here).resolve())


def run_conformance_test(
    implementation: Any,
    *,
    profile: str = DEFAULT_PROFILE,
    checks: str | None = None,
    options: Sequence[str] = (),
    results: str | os.PathLike[str] | None = None,
    html: str | os.PathLike[str] | None = None,
    junit: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> ConformanceResult:
    """Grade ``implementation`` and raise ``AssertionError`` unless it conforms.

    - ``implementation``: a class (nn.GRU-like, nn.GRUCell-like, or an adapter) or its name:
      ``"path/to/file.py:Class"``, ``"module:Class"`` or a registered id.
    - ``profile``: "quick", "grade" (default) or "thorough" (the example budget per check).
    - ``checks``: only the checks matching this pytest ``-k`` expression over check ids
      (``"equations or contract"``); the verdict is then about those checks, and says so.
    - ``options``: more options of ``python -m conformance grade``, e.g. ``["--no-bidirectional"]``,
      ``["--dtypes", "float32"]``, ``["--reset", "before"]``.
    - ``results``, ``html``, ``junit``: write the results JSON, the HTML report and JUnit XML
      there (nothing is kept otherwise).
    - ``timeout``: seconds the whole grading may take (default: none; each check has its
      own limit, ``--check-timeout``).

    Returns the ``ConformanceResult`` when the implementation conforms (warnings do not
    fail it). Raises ``RuntimeError`` when grading itself could not run."""
    if profile not in PROFILES:
        raise ValueError(f"got profile {profile!r}, but it is one of {sorted(PROFILES)}")
    name = name_of(implementation)
    with tempfile.TemporaryDirectory(prefix="gru-conformance-") as scratch:
        json_path = Path(results) if results is not None else Path(scratch) / "results.json"
        json_path.unlink(missing_ok=True)  # an earlier run's file must not stand for this one's
        argv = [sys.executable, "-m", "conformance", "grade", name, "--profile", profile,
                "--results", str(json_path.resolve())]
        argv += ["--html", str(Path(html).resolve())] if html is not None else ["--no-html"]
        argv += ["-k", checks] if checks else []
        argv += list(options)
        output = _grade(argv, timeout)
        record = _record(json_path, argv, output)
        written_junit = None
        if junit is not None:
            written_junit = Path(junit)
            graded = json_path.resolve().with_name("junit.xml")
            if graded != written_junit.resolve():
                written_junit.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(graded, written_junit)
        result = _result(record, output, profile, checks,
                         results=json_path if results is not None else None,
                         html=Path(html) if html is not None else None, junit=written_junit)
    if not result.conformant:
        print(output)  # the grading's own summary: pytest shows it with the failing test
        raise AssertionError(result.summary)
    return result


def _grade(argv: list[str], timeout: float | None) -> str:
    """Run the grading process from this working directory, with this process's import path
    (so that ``module:Class`` names the module this process imported)."""
    env = dict(os.environ)
    paths = [p for p in [*sys.path, *env.get("PYTHONPATH", "").split(os.pathsep)] if p and Path(p).exists()]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the grading process and its workers
        process.communicate()
        raise RuntimeError(f"grading took longer than {timeout} s and was stopped: {' '.join(argv)}") from None
    return output.strip()


def _record(json_path: Path, argv: list[str], output: str) -> dict[str, Any]:
    from conformance.grading.results import read_results

    try:
        data = read_results(json_path)
    except (OSError, ValueError) as exc:
        tail = "\n".join(output.splitlines()[-20:])
        raise RuntimeError(f"grading wrote no results ({exc}): {' '.join(argv)}\n{tail}") from None
    if not data.get("complete", True):
        tail = "\n".join(output.splitlines()[-20:])
        raise RuntimeError(f"grading stopped before it finished (the results are incomplete): {' '.join(argv)}"
                           f"\n{tail}")
    if len(data["implementations"]) != 1:
        raise RuntimeError(f"got {len(data['implementations'])} implementations graded, but should be 1: "
                           f"{' '.join(argv)}")
    return data["implementations"][0]


def _result(record: dict[str, Any], output: str, profile: str, checks: str | None, **paths: Path | None
            ) -> ConformanceResult:
    score = record["score"]
    scope = f"profile {profile}" + (f", only checks matching {checks!r}" if checks else "")
    lines = [f"{record['id']}: {record['verdict_text']} ({score['passed']} of {score['applicable']} checks "
             f"passed; {scope})"]
    if record["verdict"] not in PASSING:
        lines += first_divergence(record)
    if paths.get("html") is not None:
        lines.append(f"report: {paths['html']}")
    return ConformanceResult(record["id"], record["verdict"], record["verdict_text"], score["passed"],
                             score["applicable"], "\n".join(lines), record, output=output, **paths)


def first_divergence(record: dict[str, Any]) -> list[str]:
    """Where the implementation first departs: the load error, or the first failing check in
    the catalogue's order (dependencies first) with its message, and the diagnosis."""
    if record.get("load_error"):
        return [f"could not be graded: {record['load_error']}"]
    lines = []
    for check_id, outcome in record["checks"].items():
        if outcome["status"] in ("fail", "error"):
            message = outcome["message"].splitlines()[:MESSAGE_LINES]
            lines.append(f"first failing check: {check_id} ({outcome['status']}): " + "\n  ".join(message))
            break
    diagnosis = record.get("diagnosis") or {}
    if diagnosis.get("summary"):
        lines.append(f"diagnosis: {diagnosis['summary']}")
    return lines
