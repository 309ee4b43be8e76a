"""The pytest plugin: parametrizes the checks over implementations, turns each
run into an outcome, and writes the JSON results.

Options (``pytest conformance/checks --help``):

* ``--impl NAME``: grade this implementation (repeatable): a registry id, an
  entry-point name, ``module:Class`` or ``path/to/file.py:Class``. Default: all
  registered implementations.
* ``--results PATH``: where to write the JSON results (default ``reports/results.json``).
* ``--known-failures FILE``: lines ``<impl id>::<check id>  # reason``; listed failures
  become ``xfail`` (run without shrinking), listed passes are reported as ``xpass``,
  and entries that match nothing are reported as stale.
* ``--check-expectations``: grade registered implementations against what the
  registry says the suite must find; pytest fails only where the suite and the
  registry disagree (the JSON keeps the true statuses).
* ``--no-diagnosis``: skip the diagnosis (``conformance.diagnosis``) that is otherwise
  computed once per white-box implementation, in the process that grades it.
* ``--no-isolation``: run implementations inside this process (for a debugger); by
  default each runs in a worker process of its own (``conformance.running.isolation``), in
  the sandbox where one is available (``conformance.running.sandbox``), and this process
  never imports it.
* ``--check-timeout SECONDS`` and ``--memory-mb MB``: a worker's limits per check.
* ``--hide PATH``: also keep workers from seeing PATH (other submissions; repeatable).

The results file is rewritten after every check ("complete": false until the end),
so a grading process that is killed leaves what it graded in a valid file.
"""

from __future__ import annotations

import ast
import functools
import json
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import settings

from conformance.grading import loading
from conformance.base import profiles
from conformance.base.results_document import ImplementationResult, ResultsDocument
from conformance.running.sandbox import IN_PROCESS, Limits, Sandbox

# The grading machinery imports torch: loaded on first use, after the implementations'
# workers have been started, so that their start-up overlaps with this process's.
catalogue: Any = None
diagnosis: Any = None
engine: Any = None
load_all: Any = None
results: Any = None
Outcome: Any = None
Subject: Any = None


def _machinery() -> None:
    global catalogue, diagnosis, engine, load_all, results, Outcome, Subject
    if Subject is not None:
        return
    from conformance.cases import catalogue as _catalogue
    from conformance import diagnosis as _diagnosis
    from conformance.checks import load_all as _load_all
    from conformance.grading import engine as _engine
    from conformance.grading import results as _results
    from conformance.grading.outcome import Outcome as _Outcome
    from conformance.running.subject import Subject as _Subject

    catalogue, diagnosis, engine, load_all, results, Outcome, Subject = (
        _catalogue, _diagnosis, _engine, _load_all, _results, _Outcome, _Subject)

PROPERTY = "gru_conformance"
DIAGNOSIS_PROPERTY = "gru_conformance_diagnosis"
#: The implementation's declarations as graded, sent once with its first report.
SUBJECT_PROPERTY = "gru_conformance_subject"
OUTCOME = pytest.StashKey[Any]()
DIAGNOSIS = pytest.StashKey[Any]()


class ConformanceWarning(UserWarning):
    """A warning-level check's statement does not hold (status "warn")."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gru-conformance", "GRU conformance grading")
    group.addoption("--impl", action="append", default=[], metavar="NAME",
                    help="implementation to grade: registry id, entry-point name, module:Class "
                    "or path/to/file.py:Class (repeatable; default: every registered one)")
    group.addoption("--results", default="reports/results.json", metavar="PATH",
                    help="write JSON results here (default: reports/results.json)")
    group.addoption("--known-failures", default=None, metavar="FILE",
                    help="file of '<impl id>::<check id>  # reason' lines expected to fail")
    group.addoption("--check-expectations", action="store_true",
                    help="fail only where results differ from the registry's expected failures")
    group.addoption("--no-diagnosis", action="store_true",
                    help="do not diagnose which GRU convention white-box implementations compute")
    group.addoption("--no-isolation", action="store_true",
                    help="run implementations inside the grading process (debugging only: a crash ends "
                    "grading and the implementation could change its own verdict)")
    group.addoption("--check-timeout", type=float, default=None, metavar="SECONDS",
                    help="wall time one check may take before the implementation's worker is stopped "
                    f"(default {Limits().check_seconds:g}; 0 for none)")
    group.addoption("--memory-mb", type=int, default=None, metavar="MB",
                    help=f"memory limit (RLIMIT_DATA) of a worker process in MB (default {Limits().memory_mb}; 0 for none)")
    group.addoption("--scratch-mb", type=int, default=None, metavar="MB",
                    help=f"scratch space of a worker in MB: /tmp and /dev/shm each in the sandbox, its private "
                    f"temporary folder without it (default {Limits().scratch_mb}; 0 for none)")
    group.addoption("--time-limit", type=float, default=None, metavar="SECONDS",
                    help="wall time all of one implementation's checks may take: past it the check in progress "
                    "is stopped and the rest are not run, each an error (default: none)")
    group.addoption("--hide", action="append", default=[], metavar="PATH",
                    help="a path workers must not see (other submissions; repeatable)")
    group.addoption("--threads", type=int, default=None, metavar="N",
                    help="torch threads while grading, here and in each worker (default: 1 in workers, "
                    "torch's own choice here; 0 keeps torch's own choice)")


def pytest_configure(config: pytest.Config) -> None:
    profiles.register_profiles()
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile(profiles.DEFAULT_PROFILE)
    config.addinivalue_line("markers", "conformance_check: a check of the GRU conformance catalogue")
    config.pluginmanager.register(GradingSession(config), "gru-conformance-grading")


#: The checks' folder: its modules are named by family (``equations.py``), not like tests.
CHECKS_FOLDER = Path(__file__).resolve().parents[1] / "checks"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect the check modules (``conformance/checks/<family>.py``): they are the product,
    so they are not named ``test_*.py`` and pytest's own pattern would pass them by. A path
    given on the command line is collected by pytest itself."""
    if file_path.suffix != ".py" or file_path.name.startswith("_") or file_path.parent != CHECKS_FOLDER:
        return None
    if parent.session.isinitpath(file_path):
        return None
    return pytest.Module.from_parent(parent, path=file_path)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``: one implementation's checks go to one worker, in order, and
    tests marked ``xdist_group`` go to one worker per group.

    xdist's own loadgroup reads the group from a suffix it appends to node ids,
    which pytest >= 9.2 no longer lets it set (groups are silently ignored and
    dependencies end up in other workers). The group is read here instead: a check's
    parameter, the implementation id; for other tests, their ``xdist_group`` marks,
    read from the test module's source (the scheduler sees node ids only)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    root = config.rootpath

    class ByGroup(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            impl = implementation_of_nodeid(nodeid)
            if impl is not None:
                return f"gru-conformance:{impl}"
            group = declared_group(root, nodeid)
            return f"xdist-group:{group}" if group is not None else super()._split_scope(nodeid)

    return ByGroup(config, log)


def declared_group(root: Path, nodeid: str) -> str | None:
    """The ``xdist_group`` a test's source gives it: its function's decorator, else the
    module's ``pytestmark``."""
    path, _, name = nodeid.partition("::")
    module, functions = _declared_groups(root / path)
    return functions.get(name.partition("[")[0], module)


@functools.cache
def _declared_groups(path: Path) -> tuple[str | None, dict[str, str]]:
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError, ValueError):
        return None, {}

    def group_of(node: ast.expr) -> str | None:
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "xdist_group"
                and node.args and isinstance(node.args[0], ast.Constant)):
            return str(node.args[0].value)
        return None

    module = None
    functions: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets):
            marks = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            module = next((g for g in map(group_of, marks) if g is not None), None)
        elif isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if (group := group_of(decorator)) is not None:
                    functions[node.name] = group
    return module, functions


def implementation_of_nodeid(nodeid: str) -> str | None:
    """``conformance/checks/x.py::test_y[<impl id>]`` -> ``<impl id>`` (None for other tests)."""
    path, sep, name = nodeid.partition("::")
    if "]@" in name:  # pytest-xdist before 3.7 appends "@<xdist group>" under --dist loadgroup
        name = name[: name.rindex("]@") + 1]
    parts = path.replace("\\", "/").split("/")
    if not sep or len(parts) < 3 or parts[-3:-1] != ["conformance", "checks"] or not name.endswith("]"):
        return None
    start = name.find("[")
    return name[start + 1 : -1] if start > 0 else None


def parse_known_failures(path: str | None) -> dict[tuple[str, str], str]:
    if not path:
        return {}
    known: dict[tuple[str, str], str] = {}
    for number, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line, _, reason = raw.partition("#")
        line = line.strip()
        if not line:
            continue
        impl, sep, check_id = line.partition("::")
        if not sep:
            raise pytest.UsageError(f"{path}:{number}: expected '<impl id>::<check id>', got {line!r}")
        known[(impl.strip(), check_id.strip())] = reason.strip() or "listed in the known-failures file"
    return known


def config_uses_xdist(config: pytest.Config) -> bool:
    """Checks will run in pytest-xdist worker processes (``-n``)."""
    numprocesses = getattr(config.option, "numprocesses", None)
    return bool(numprocesses) and numprocesses != "0"


def sandbox_of(config: pytest.Config) -> Sandbox | None:
    """The isolation the options ask for (None: in this process)."""
    if config.getoption("no_isolation"):
        return None
    defaults = Limits()
    timeout = config.getoption("check_timeout")
    memory = config.getoption("memory_mb")
    scratch = config.getoption("scratch_mb")
    limits = Limits(check_seconds=defaults.check_seconds if timeout is None else timeout,
                    memory_mb=defaults.memory_mb if memory is None else memory,
                    scratch_mb=defaults.scratch_mb if scratch is None else scratch)
    results = Path(config.getoption("results")).resolve()
    hidden = [str(results.parent), str(results)]
    # Earlier gradings beside the results folder, unless that is the working directory's (reports/ in a project).
    cwd = Path.cwd().resolve()
    above = results.parent.parent
    if len(above.parts) > 2 and above != cwd and above not in cwd.parents:
        hidden.append(str(above))
    return Sandbox.detect(limits, hidden=(*hidden, *config.getoption("hide")))


class GradingSession:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.names: list[str] = config.getoption("impl")
        self.known = parse_known_failures(config.getoption("known_failures"))
        self.check_expectations: bool = config.getoption("check_expectations")
        self.sandbox = sandbox_of(config)
        #: Seconds all of one implementation's checks may take (--time-limit), and when each began.
        self.budget: float | None = config.getoption("time_limit")
        self.began: dict[str, float] = {}
        threads = config.getoption("threads")
        self.threads: int = 1 if threads is None else threads
        self.grader_threads: int | None = threads
        self.in_worker = hasattr(config, "workerinput")  # an xdist worker (not the controller)
        self._loaded: list[Any] | None = None
        #: (impl id, check id) -> outcome, filled from reports (works under xdist).
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.graded = False
        self.diagnose: bool = not config.getoption("no_diagnosis", False)
        #: impl id -> diagnosis, filled from reports like the outcomes.
        self.diagnoses: dict[str, dict[str, Any]] = {}
        #: impl id -> its declarations as graded ({"info", "load_error"}), filled from reports.
        self.declared: dict[str, dict[str, Any]] = {}
        #: Subjects diagnosed / announced in this process (under xdist, a worker's own).
        self._diagnosed: set[str] = set()
        self._announced: set[str] = set()
        self._started: set[str] = set()
        self.writer: Any = None
        self.total = 0
        #: Workers started at configure time (the first implementations), by name.
        self.backends: dict[str, Any] = {}
        if self.sandbox is not None and not self.in_worker:
            self._prestart()

    def _prestart(self) -> None:
        """Start the first implementations' workers now: each imports torch and its
        implementation while this process imports its own machinery and collects."""
        if config_uses_xdist(self.config):
            return
        names = self.names or [e.id for e in loading.registry()]
        others = loading.others_of(names)
        for name in names[:2]:
            try:
                target = loading.resolve(name)
            except loading.AdapterLoadError:
                continue
            backend = loading.worker_for(target, self.sandbox, others.get(name, ()))
            backend.threads = self.threads
            backend.start()
            self.backends[name] = backend

    def isolation(self) -> dict[str, Any]:
        return self.sandbox.describe() if self.sandbox is not None else dict(IN_PROCESS)

    @property
    def loaded(self) -> list[Any]:
        if self._loaded is None:
            _machinery()
            if self.grader_threads:
                import torch

                torch.set_num_threads(self.grader_threads)
            self._loaded = loading.load_subjects(self.names, isolation=self.sandbox, backends=self.backends)
            self._started.update(self.backends)
            for item in self._loaded:
                backend = getattr(item, "backend", None)
                if backend is not None and hasattr(backend, "threads"):
                    backend.threads = self.threads
        return self._loaded

    @property
    def subjects(self) -> list[Subject]:
        return [s for s in self.loaded if isinstance(s, Subject)]

    def _prefetch(self, subject: Subject) -> None:
        """Start this implementation's worker and the next one's, so that a worker's
        start-up (importing torch and the implementation) overlaps with grading."""
        if self.in_worker:
            return  # under xdist the next implementation may go to another process
        ids = [s.id for s in self.subjects]
        upcoming = self.subjects[ids.index(subject.id): ids.index(subject.id) + 2]
        for item in upcoming:
            if item.id not in self._started and hasattr(item.backend, "start"):
                self._started.add(item.id)
                item.backend.start()

    # Collection ---------------------------------------------------------------
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        _machinery()
        if "subject" not in metafunc.fixturenames or catalogue.check_of(metafunc.function) is None:
            return
        self.graded = True
        subjects = self.subjects
        metafunc.parametrize("subject", subjects, ids=[s.id for s in subjects])

    # tryfirst: xdist's worker reads the xdist_group markers in its own
    # modifyitems hook, so they must be on the items before it runs.
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        _machinery()
        order = {s.id: i for i, s in enumerate(self.subjects)}
        check_order = {cid: i for i, cid in enumerate(catalogue.ordered_ids())}

        def key(item: pytest.Item) -> tuple[int, int]:
            meta, subject = _meta(item)
            if meta is None:
                return (-1, -1)
            return (order[subject.id], check_order[meta.id])

        items.sort(key=key)
        for item in items:
            meta, subject = _meta(item)
            if meta is not None:
                item.add_marker(pytest.mark.conformance_check)
                # -k selects by check id too (``-k equations.step``, ``-k "not varlen.sizes"``):
                # pytest's own keyword filter runs after this hook and reads these names.
                item.extra_keyword_matches.add(meta.id)
                # With xdist --dist loadgroup, one implementation's checks stay in one
                # process, in order, so dependencies are known when a check starts.
                item.add_marker(pytest.mark.xdist_group(subject.id))

    # Running ------------------------------------------------------------------
    def _done(self, subject: Subject) -> dict[str, Outcome]:
        return {cid: o for (iid, cid), o in self.outcomes.items() if iid == subject.id}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        meta, subject = _meta(item)
        if meta is None:
            return
        self._prefetch(subject)
        if subject.load_error:
            pytest.skip(f"could not be graded: {subject.load_error.splitlines()[0][:300]}")
        preset = engine.skip_reason(meta.id, subject, self._done(subject)) or self._out_of_time(subject)
        if preset is not None:
            item.stash[OUTCOME] = preset
            pytest.skip(f"{preset.status.replace('_', ' ')}: {preset.message}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        meta, subject = _meta(pyfuncitem)
        if meta is None:
            return None
        known = self.known.get((subject.id, meta.id))
        outcome = engine.run_check(meta.id, subject, shrink=known is None, time_limit=self.time_limit(subject))
        expected = None
        if self.check_expectations and subject.entry is not None:
            expected = subject.entry.expected_failures.get(meta.id)
        if known is not None:
            outcome.status = {"fail": "xfail", "error": "xfail", "pass": "xpass"}.get(outcome.status, outcome.status)
        pyfuncitem.stash[OUTCOME] = outcome
        text = _failure_text(meta.id, outcome)
        if outcome.status == "xfail":
            pytest.xfail(f"known failure ({known}): {outcome.message.splitlines()[0]}")
        if outcome.status in ("fail", "error"):
            if expected is not None:
                pytest.xfail(f"expected by the registry ({expected})")
            pytest.fail(text, pytrace=False)
        if outcome.status == "blocked":  # found blocked while running (conformance.cases.compare.Blocked)
            pytest.skip(f"blocked: {outcome.message.splitlines()[0]}")
        if outcome.status == "warn":
            # A warning-level finding never fails the run; pytest lists it in its warnings summary.
            if expected is not None:
                pytest.xfail(f"expected by the registry ({expected})")
            warnings.warn(ConformanceWarning(f"{subject.id}: {text}"), stacklevel=1)
            return True
        if expected is not None:
            pytest.fail(f"{meta.id} passed, but the registry says the suite must find: {expected}",
                        pytrace=False)
        return True

    def time_limit(self, subject: Subject) -> float | None:
        """The seconds the next check of ``subject`` may take: the check's own limit, and
        what is left of the implementation's (--time-limit), which its worker is told of."""
        if self.sandbox is None:
            return None
        # The subject's own worker's limits: a toolchain that compiles per configuration
        # lifts them (conformance.grading.loading).
        limits = getattr(getattr(subject, "backend", None), "limits", None) or self.sandbox.limits
        limit = limits.check_seconds or None
        if self.budget:
            began = self.began.setdefault(subject.id, time.monotonic())
            if hasattr(subject.backend, "budget"):
                subject.backend.budget = (began + self.budget, self.budget)
            left = max(0.0, began + self.budget - time.monotonic())
            limit = left if limit is None else min(limit, left)
        return limit

    def _out_of_time(self, subject: Subject) -> Outcome | None:
        """A check not run: the implementation's time limit (--time-limit) ran out."""
        if not self.budget or self.sandbox is None or subject.id not in self.began:
            return None
        if time.monotonic() < self.began[subject.id] + self.budget:
            return None
        return Outcome("error", message=f"not run: the time limit of {self.budget:g} s for all of this "
                       f"implementation's checks (--time-limit) ran out")

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """After an implementation's first check, its diagnosis; after its last, end its
        worker (an idle one holds memory)."""
        meta, subject = _meta(item)
        if meta is None:
            return
        if self.diagnose and subject.id not in self._diagnosed and not subject.load_error and subject.white_box:
            self._diagnosed.add(subject.id)
            limit = self.time_limit(subject)
            if limit is None or limit > 0:
                found = diagnosis.diagnose_isolated(subject, limit)
                if found is not None:  # None: claims the probes cannot read; the record's note says which
                    item.stash[DIAGNOSIS] = found
        following = _meta(nextitem)[1] if nextitem is not None else None
        if following is not subject:
            subject.close()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):
        report = (yield).get_result()
        meta, subject = _meta(item)
        if meta is None:
            return
        if report.when == "setup" and subject.id not in self._announced:
            self._announced.add(subject.id)
            declared = {"impl": subject.id, "load_error": subject.load_error,
                        "info": None if subject.load_error else vars(subject.info)}
            report.user_properties.append((SUBJECT_PROPERTY, json.dumps(declared, default=str)))
        if report.when == "teardown" and DIAGNOSIS in item.stash:
            # Sent to the controlling process with the report (user_properties survive xdist).
            found = {"impl": subject.id, "diagnosis": item.stash[DIAGNOSIS]}
            report.user_properties.append((DIAGNOSIS_PROPERTY, json.dumps(found, default=str)))
        if OUTCOME not in item.stash:
            return
        if report.when == "call" or (report.when == "setup" and report.skipped):
            payload = {"impl": subject.id, "check": meta.id, "outcome": item.stash[OUTCOME].to_json()}
            report.user_properties.append((PROPERTY, json.dumps(payload, default=str)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        _machinery()
        changed = False
        for name, value in report.user_properties:
            if name == PROPERTY:
                payload = json.loads(value)
                self.outcomes[(payload["impl"], payload["check"])] = Outcome(**payload["outcome"])
                changed = True
            elif name == DIAGNOSIS_PROPERTY:
                payload = json.loads(value)
                self.diagnoses.setdefault(payload["impl"], payload["diagnosis"])
                changed = True
            elif name == SUBJECT_PROPERTY:
                payload = json.loads(value)
                self.declared.setdefault(payload["impl"], payload)
                changed = True
        if changed and not self.in_worker:
            self._write_progress(report)

    def _write_progress(self, report: pytest.TestReport) -> None:
        """Rewrite the results file with what is graded so far (not complete yet)."""
        impl = implementation_of_nodeid(report.nodeid)
        if impl is None:
            return
        if self.writer is None:
            head = results.results_document([], load_all(), self._environment(), complete=False)
            self.writer = results.ResultsWriter(self.config.getoption("results"), head)
            for record in self.records():
                self.writer.update(record.id, record)
        else:
            record = next((r for r in self.records([impl])), None)
            if record is not None:
                self.writer.update(impl, record)
        self.writer.write({"checks_done": len(self.outcomes), "checks_total": self.total})

    def _diagnosis_note(self, subject: Subject, info: Any) -> str:
        if info is not None and not info.white_box:
            return diagnosis.BLACK_BOX_NOTE
        claims = SimpleNamespace(**info.capabilities) if info is not None else None
        if claims is not None and diagnosis.unsupported_claims(claims):
            return diagnosis.unsupported_claims(claims)
        if not self.diagnose:
            return "not diagnosed: grading ran with --no-diagnosis"
        if self.budget and any(o.message.startswith("not run: the time limit") for (i, _), o in self.outcomes.items()
                               if i == subject.id):
            return "not diagnosed: its time limit (--time-limit) ran out"
        return "not diagnosed: none of its checks ran"

    # Results ------------------------------------------------------------------
    def _environment(self) -> dict[str, Any]:
        profile = self.config.getoption("hypothesis_profile", None) or profiles.DEFAULT_PROFILE
        return results.environment(profile, isolation=self.isolation())

    def records(self, only: list[str] | None = None) -> list[ImplementationResult]:
        """The ``ImplementationResult`` of each implementation loaded (of those in ``only``)."""
        load_all()
        records = []
        for item in self.loaded:
            if only is not None and item.id not in only:
                continue
            if not isinstance(item, Subject):
                records.append(results.implementation_result(item.id, load_error=item.error, source=item.id))
                continue
            declared = self.declared.get(item.id)
            if declared is None and not self.in_worker and item.id in self._announced:
                declared = {"info": vars(item.info), "load_error": item.load_error}
            info = None
            if declared is not None and declared.get("info"):
                info = SimpleNamespace(**declared["info"])
            load_error = (declared or {}).get("load_error") or ""
            checks = {cid: self.outcomes[(item.id, cid)] for cid in catalogue.ordered_ids()
                      if (item.id, cid) in self.outcomes}
            entry = item.entry
            records.append(results.implementation_result(
                item.id, info=info, source=item.source, checks={} if load_error else checks,
                document=entry.document if entry else "", description=entry.description if entry else "",
                load_error=load_error,
                diagnosis=self.diagnoses.get(item.id),
                diagnosis_note="" if self.diagnoses.get(item.id) else self._diagnosis_note(item, info),
            ))
        return records

    def stale_known_failures(self) -> list[str]:
        graded = {s.id for s in self.subjects}
        return [f"{i}::{c}" for (i, c) in self.known if i not in graded or c not in catalogue.CHECKS]

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        _machinery()
        self.total = sum(1 for item in session.items if _meta(item)[0] is not None)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Under ``-n`` the checks are collected in the grading workers (each collects them all,
        one item per check and implementation loaded): the count the progress is measured
        against."""
        self.total = max(self.total, sum(1 for nodeid in ids if implementation_of_nodeid(nodeid) is not None))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        _machinery()
        for subject in self.subjects if self._loaded is not None else []:
            subject.close()  # end the workers before anything is written
        # Under -n this process grades nothing itself: what its workers declared (an implementation
        # that could not start has no outcome) is graded too, and is written and said.
        if self.in_worker or not (self.graded or self.outcomes or self.declared):
            return
        complete = exitstatus != pytest.ExitCode.INTERRUPTED and len(self.outcomes) >= self.total
        document = results.results_document(self.records(), load_all(), self._environment(),
                                            complete=complete)
        if not complete:
            document.progress = {"checks_done": len(self.outcomes), "checks_total": self.total}
        document.stale_known_failures = self.stale_known_failures()
        self.written = results.write_results(document, self.config.getoption("results"))
        self.document = document
        if any(not isinstance(s, Subject) or not_graded(document, s.id) for s in self.loaded) \
                and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        document = getattr(self, "document", None)
        if document is None:
            return
        tr = terminalreporter
        tr.section("GRU conformance")
        for impl in document.implementations:
            score = impl.score
            tr.write_line(f"{impl.id:<28} {impl.verdict_text}  ({score.passed}/{score.applicable} checks passed)")
            if impl.load_error:
                tr.write_line(f"    error: {impl.load_error}", red=True)
            if impl.diagnosis:
                tr.write_line(f"    diagnosis: {impl.diagnosis['summary']}")
            for cid, o in impl.checks.items():
                if o.status in ("fail", "error", "xpass", "warn"):
                    first = o.message.splitlines()[0] if o.message else ""
                    tr.write_line(f"    {o.status:<6} {cid}: {first[:160]}")
        for stale in document.stale_known_failures or []:
            tr.write_line(f"stale known-failures entry (matches no graded check): {stale}", yellow=True)
        tr.write_line(f"results: {self.written}")


def not_graded(document: ResultsDocument, impl_id: str) -> bool:
    """The implementation could not be graded at all, or no check of it ran."""
    return any(i.id == impl_id and i.verdict in ("error", "none-run") for i in document.implementations)


def _meta(item: pytest.Item) -> tuple[Any, Any]:
    _machinery()
    fn = getattr(item, "function", None)
    meta = catalogue.check_of(fn)
    callspec = getattr(item, "callspec", None)
    if meta is None or callspec is None or not isinstance(callspec.params.get("subject"), Subject):
        return None, None  # not a check, or an empty parametrization (nothing loaded)
    return meta, callspec.params["subject"]


def _failure_text(check_id: str, outcome: Outcome) -> str:
    _machinery()
    meta = catalogue.CHECKS[check_id]
    lines = [f"{check_id}: {meta.statement}", "", outcome.message]
    for failure in (outcome.failures or [])[1:]:
        lines += ["", f"another distinct failure ({failure['status']}): {failure['message']}"]
    if outcome.elsewhere:
        lines += ["", outcome.elsewhere]
    if outcome.falsifying_example:
        lines += ["", outcome.falsifying_example]
    return "\n".join(lines)
