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
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from conformance import catalogue, diagnosis, engine, loading, profiles, results
from conformance.outcome import Outcome
from conformance.subject import Subject

PROPERTY = "gru_conformance"
DIAGNOSIS_PROPERTY = "gru_conformance_diagnosis"
OUTCOME = pytest.StashKey[Outcome]()


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


def pytest_configure(config: pytest.Config) -> None:
    profiles.register_profiles()
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile(profiles.DEFAULT_PROFILE)
    config.addinivalue_line("markers", "conformance_check: a check of the GRU conformance catalogue")
    config.pluginmanager.register(GradingSession(config), "gru-conformance-grading")


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``: one implementation's checks go to one worker, in order.

    xdist's own loadgroup reads the group from a suffix it appends to node ids,
    which pytest >= 9.2 no longer lets it set (groups are silently ignored and
    dependencies end up in other workers); the group is read here from the
    check's parameter, the implementation id, and anything else keeps xdist's rule."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ByImplementation(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            impl = implementation_of_nodeid(nodeid)
            return f"gru-conformance:{impl}" if impl is not None else super()._split_scope(nodeid)

    return ByImplementation(config, log)


def implementation_of_nodeid(nodeid: str) -> str | None:
    """``conformance/checks/test_x.py::test_y[<impl id>]`` -> ``<impl id>`` (None for other tests)."""
    path, sep, name = nodeid.partition("::")
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


class GradingSession:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.names: list[str] = config.getoption("impl")
        self.known = parse_known_failures(config.getoption("known_failures"))
        self.check_expectations: bool = config.getoption("check_expectations")
        self._loaded: list[Any] | None = None
        #: (impl id, check id) -> outcome, filled from reports (works under xdist).
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.graded = False
        self.diagnose: bool = not config.getoption("no_diagnosis", False)
        #: impl id -> diagnosis, filled from reports like the outcomes.
        self.diagnoses: dict[str, dict[str, Any]] = {}
        #: Subjects diagnosed in this process (under xdist, a worker's own).
        self._diagnosed: set[str] = set()

    @property
    def loaded(self) -> list[Any]:
        if self._loaded is None:
            self._loaded = loading.load_subjects(self.names)
        return self._loaded

    @property
    def subjects(self) -> list[Subject]:
        return [s for s in self.loaded if isinstance(s, Subject)]

    # Collection ---------------------------------------------------------------
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "subject" not in metafunc.fixturenames or catalogue.check_of(metafunc.function) is None:
            return
        self.graded = True
        subjects = self.subjects
        metafunc.parametrize("subject", subjects, ids=[s.id for s in subjects])

    # tryfirst: xdist's worker reads the xdist_group markers in its own
    # modifyitems hook, so they must be on the items before it runs.
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
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
        preset = engine.skip_reason(meta.id, subject, self._done(subject))
        if preset is not None:
            item.stash[OUTCOME] = preset
            pytest.skip(f"{preset.status.replace('_', ' ')}: {preset.message}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        meta, subject = _meta(pyfuncitem)
        if meta is None:
            return None
        known = self.known.get((subject.id, meta.id))
        outcome = engine.run_check(meta.id, subject, shrink=known is None)
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
        if outcome.status == "blocked":  # found blocked while running (conformance.compare.Blocked)
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

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):
        report = (yield).get_result()
        meta, subject = _meta(item)
        if report.when == "teardown" and meta is not None:
            self._attach_diagnosis(subject, report)
        if meta is None or OUTCOME not in item.stash:
            return
        if report.when == "call" or (report.when == "setup" and report.skipped):
            payload = {"impl": subject.id, "check": meta.id, "outcome": item.stash[OUTCOME].to_json()}
            report.user_properties.append((PROPERTY, json.dumps(payload, default=str)))

    def _attach_diagnosis(self, subject: Subject, report: pytest.TestReport) -> None:
        """Diagnose a white-box subject once, after its first check, and send the result
        to the controlling process with the report (user_properties survive xdist)."""
        if not self.diagnose or not subject.white_box or subject.id in self._diagnosed:
            return
        self._diagnosed.add(subject.id)
        found = diagnosis.diagnose(subject)
        report.user_properties.append(
            (DIAGNOSIS_PROPERTY, json.dumps({"impl": subject.id, "diagnosis": found}, default=str)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == PROPERTY:
                payload = json.loads(value)
                self.outcomes[(payload["impl"], payload["check"])] = Outcome(**payload["outcome"])
            elif name == DIAGNOSIS_PROPERTY:
                payload = json.loads(value)
                self.diagnoses.setdefault(payload["impl"], payload["diagnosis"])

    def _diagnosis_note(self, subject: Subject) -> str:
        if not subject.white_box:
            return diagnosis.BLACK_BOX_NOTE
        if subject.id in self.diagnoses:
            return ""
        if not self.diagnose:
            return "not diagnosed: grading ran with --no-diagnosis"
        return "not diagnosed: none of its checks ran"

    # Results ------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        catalogue.load_all()
        records = []
        for item in self.loaded:
            if not isinstance(item, Subject):
                records.append(results.implementation_record(item.id, load_error=item.error, source=item.id))
                continue
            checks = {cid: self.outcomes[(item.id, cid)] for cid in catalogue.ordered_ids()
                      if (item.id, cid) in self.outcomes}
            entry = item.entry
            records.append(results.implementation_record(
                item.id, info=item.info, source=item.source, checks=checks,
                document=getattr(entry, "document", ""), description=getattr(entry, "description", ""),
                diagnosis=self.diagnoses.get(item.id), diagnosis_note=self._diagnosis_note(item),
            ))
        return records

    def stale_known_failures(self) -> list[str]:
        graded = {s.id for s in self.subjects}
        return [f"{i}::{c}" for (i, c) in self.known if i not in graded or c not in catalogue.CHECKS]

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput") or not (self.graded or self.outcomes):
            return
        profile = self.config.getoption("hypothesis_profile", None) or profiles.DEFAULT_PROFILE
        data = results.build_results(self.records(), catalogue.load_all(), results.environment(profile))
        data["stale_known_failures"] = self.stale_known_failures()
        self.written = results.write_results(data, self.config.getoption("results"))
        self.data = data
        if any(not isinstance(s, Subject) for s in self.loaded) and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        data = getattr(self, "data", None)
        if data is None:
            return
        tr = terminalreporter
        tr.section("GRU conformance")
        for impl in data["implementations"]:
            score = impl["score"]
            tr.write_line(f"{impl['id']:<28} {impl['verdict_text']}  ({score['passed']}/{score['applicable']} checks passed)")
            if impl["load_error"]:
                tr.write_line(f"    error: {impl['load_error']}", red=True)
            if impl.get("diagnosis"):
                tr.write_line(f"    diagnosis: {impl['diagnosis']['summary']}")
            for cid, o in impl["checks"].items():
                if o["status"] in ("fail", "error", "xpass", "warn"):
                    first = o["message"].splitlines()[0] if o["message"] else ""
                    tr.write_line(f"    {o['status']:<6} {cid}: {first[:160]}")
        for stale in data.get("stale_known_failures", []):
            tr.write_line(f"stale known-failures entry (matches no graded check): {stale}", yellow=True)
        tr.write_line(f"results: {self.written}")


def _meta(item: pytest.Item) -> tuple[Any, Any]:
    fn = getattr(item, "function", None)
    meta = catalogue.check_of(fn)
    callspec = getattr(item, "callspec", None)
    if meta is None or callspec is None or not isinstance(callspec.params.get("subject"), Subject):
        return None, None  # not a check, or an empty parametrization (nothing loaded)
    return meta, callspec.params["subject"]


def _failure_text(check_id: str, outcome: Outcome) -> str:
    meta = catalogue.CHECKS[check_id]
    lines = [f"{check_id}: {meta.statement}", "", outcome.message]
    if outcome.falsifying_example:
        lines += ["", outcome.falsifying_example]
    return "\n".join(lines)
