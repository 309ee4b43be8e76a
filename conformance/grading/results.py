"""The JSON results file: the single source every report is rendered from; and the verdict.

The file is read and written as a typed ``ResultsDocument`` (``conformance.base.results_document``:
``read_document``, ``write_results``); ``read_results`` and ``build_results`` give its JSON
object, for callers that work on the JSON itself. A verdict is decided by ``judge`` only.

Schema ``gru-conformance-results/1`` (documented in the README)::

    {
      "schema": "gru-conformance-results/1",
      "environment": {...versions, platform, date, hypothesis profile...},
      "tolerances": {"float32": {"step": {"atol": .., "rtol": ..}, ...}, ...},
      "checks": {"<check id>": {id, family, title, statement, reference, requires,
                                depends_on, tolerance}},
      "complete": true, or false while grading runs or when it was stopped,
      "progress": {"checks_done", "checks_total"} when not complete
                  ({"incomplete_files"} in merged results),
      "implementations": [
        {"id", "source", "document", "description",
         "adapter": {kind, name, reset, white_box, capabilities, notes, ...} (AdapterInfo),
         "claimed_variant", "verdict", "verdict_text" (the verdict in words; a partial grade
         says so), "graded": {checks, of, partial} (checks graded of the catalogue's),
         "score": {passed, applicable, warnings},
         "load_error", "checks": {"<check id>": {status, message, counterexample,
                                  falsifying_example, max_error, tolerance, duration,
                                  measurements, output, failures (every distinct failure
                                  when there are several), elsewhere, suite_fault (only
                                  when true: the error is the suite's own)}},
         "diagnosis": null or {status, summary, claimed, convention, switches, structure,
                               evidence, findings, first_divergence, details, probes, scope,
                               duration}
                      (conformance.diagnosis; null for black-box adapters),
         "diagnosis_note": why there is no diagnosis (empty when there is one),
         "grading": {spec, exit_code, seconds, timed_out, time_limit_s, memory_limit_mb,
                     scratch_mb, log} (grade-folder's records only)}
      ],
      "stale_known_failures": [...] (grade's results), "benchmarks": {...} (when attached)
    }
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conformance.base.conventions import VERDICTS, convention
from conformance.grading.outcome import FAILING, Outcome
from conformance.base.results_document import (SCHEMA, CheckResult, Coverage, ImplementationResult, JsonRecord,
                                          ResultsDocument, Score, as_written)
from conformance.base.tolerances import tolerances_json

#: The benchmarks section's schema (``tox -e bench``, ``conformance.reporting.bench``).
BENCHMARKS_SCHEMA = "gru-conformance-benchmarks/2"

def overall_verdict(reset: str, white_box: bool, checks: Mapping[str, Any], load_error: str = "",
                    update: str = "pytorch") -> str:
    """The verdict's rule, from the claims and each check's ``status`` (``Outcome`` or ``CheckResult``).
    ``judge`` applies it to a record: nothing else sets a verdict."""
    if load_error:
        return "error"
    # An error of the suite's own says nothing about the implementation: another check's
    # finding still decides, and without one nothing can be said.
    if any(o.status in FAILING and not _suite_fault(o) for o in checks.values()):
        return "nonconformant"
    if any(_suite_fault(o) for o in checks.values()):
        return "error"
    if all(o.status == "not_applicable" for o in checks.values()):
        return "none-run"  # nothing was verified: a verdict of "no violation" would claim otherwise
    if not white_box:
        return "consistent"
    claimed = convention(reset, update)
    return claimed.verdict if claimed is not None else "nonconformant"


def judge(record: ImplementationResult, *, load_error: str | None = None) -> ImplementationResult:
    """Decide ``record``'s verdict and say it in words: the one place a verdict is set.

    ``load_error`` records why the implementation could not be graded, or why its grading was
    stopped (``grade-folder``): the verdict is then "error", whatever its checks say."""
    if load_error is not None:
        record.load_error = load_error
    record.verdict = overall_verdict(record.reset, record.white_box, record.checks, record.load_error,
                                     record.update)
    record.verdict_text = verdict_text(record.verdict, record.graded, record.graded_part)
    faults = [cid for cid, o in record.checks.items() if _suite_fault(o)]
    if record.verdict == "error" and not record.load_error and faults:
        record.verdict_text += (f": the suite's own code failed in {', '.join(faults)} (a bug in the suite, not a "
                                f"finding about the implementation; the other checks' results stand)")
    return record


def _suite_fault(outcome: Any) -> bool:
    return bool(getattr(outcome, "suite_fault", False))


def coverage(checks: Mapping[str, Any]) -> Coverage:
    """How much of the catalogue was graded: checks with an outcome (run, not applicable or
    blocked) against every check; ``partial`` when some were not run (a ``-k`` selection,
    the framework lanes' quick subsets, grading that did not finish)."""
    from conformance.cases.catalogue import CHECKS
    from conformance.checks import load_all

    load_all()
    graded = sum(1 for cid in checks if cid in CHECKS)
    return Coverage(checks=graded, of=len(CHECKS), partial=0 < graded < len(CHECKS))


def verdict_text(verdict: str, graded: Coverage, graded_part: str = "") -> str:
    """The verdict in words; a partial grade says how much it covered, and a grade of a part
    of what was named (a class's GRU submodule) which part, never a bare "conformant"."""
    text = VERDICTS[verdict].text
    if graded_part and verdict != "error":
        text += f", for {graded_part}"
    if graded.partial and verdict != "error":
        text += f", on {graded.checks} of {graded.of} checks (a partial grade: the others were not run)"
    return text


def score(checks: Mapping[str, Any]) -> Score:
    # Warning-level findings are counted apart: they do not decide conformance.
    warnings = [o for o in checks.values() if o.status == "warn"]
    applicable = [o for o in checks.values() if o.status not in ("not_applicable", "warn")]
    passed = [o for o in applicable if o.status in ("pass", "xpass")]
    return Score(passed=len(passed), applicable=len(applicable), warnings=len(warnings))


def environment(profile: str = "", seed: Any = None, isolation: dict[str, Any] | None = None) -> dict[str, Any]:
    import hypothesis
    import numpy
    import torch

    from conformance import __version__

    return {
        "suite_version": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "hypothesis": hypothesis.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hypothesis_profile": profile,
        "hypothesis_seed": "fixed per check" if seed is None else seed,
        "command": " ".join(sys.argv),
        # Where the implementations ran: conformance.running.sandbox.Sandbox.describe (or IN_PROCESS).
        "isolation": isolation or {},
    }


def implementation_result(
    impl_id: str,
    *,
    info: Any = None,
    source: str = "",
    document: str = "",
    description: str = "",
    checks: Mapping[str, Outcome] | None = None,
    load_error: str = "",
    diagnosis: dict[str, Any] | None = None,
    diagnosis_note: str = "",
) -> ImplementationResult:
    """The record of one graded implementation (``info``: its ``AdapterInfo``, or None when it
    could not be loaded), its verdict decided by ``judge``."""
    checks = checks or {}
    record = ImplementationResult(
        id=impl_id,
        source=source,
        document=document,
        description=description,
        adapter=as_written(vars(info)) if info is not None else None,
        claimed_variant=_claimed_variant(info),
        graded=coverage(checks),
        score=score(checks),
        checks={cid: CheckResult.of(o) for cid, o in checks.items()},
        diagnosis=as_written(diagnosis),
        diagnosis_note=diagnosis_note,
    )
    return judge(record, load_error=load_error)


def implementation_record(impl_id: str, **details: Any) -> dict[str, Any]:
    """``implementation_result`` as its JSON object."""
    return implementation_result(impl_id, **details).to_json()


def _claimed_variant(info: Any) -> str:
    """The convention claimed, in words, with the coarser precision claimed for float32 inputs."""
    claimed = convention(info.reset, info.update) if info is not None else convention("", "pytorch")
    if claimed is None:
        return ""
    precision = (info.capabilities or {}).get("precision") if info is not None else ""
    return f"{claimed.description}, at {precision} precision for float32 inputs" if precision else claimed.description


def results_document(implementations: list[ImplementationResult], checks: Mapping[str, Any], env: dict[str, Any],
                     *, complete: bool = True) -> ResultsDocument:
    """A results document (``checks``: the catalogue's checks, id -> ``catalogue.Check``)."""
    return ResultsDocument(
        environment=as_written(env),
        tolerances=as_written(tolerances_json()),
        checks=as_written({cid: meta.to_json() for cid, meta in checks.items()}),
        complete=complete,
        implementations=list(implementations),
    )


def build_results(implementations: list[dict[str, Any]] | list[ImplementationResult], checks: Mapping[str, Any],
                  env: dict[str, Any], *, complete: bool = True) -> dict[str, Any]:
    """``results_document`` as its JSON object; records are taken typed or as JSON objects."""
    records = [r if isinstance(r, ImplementationResult) else ImplementationResult.from_json(r)
               for r in implementations]
    return results_document(records, checks, env, complete=complete).to_json()


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    os.replace(partial, path)


def _json_object(value: JsonRecord | dict[str, Any]) -> dict[str, Any]:
    return value.to_json() if isinstance(value, JsonRecord) else value


def write_results(results: ResultsDocument | dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    _replace(path, json.dumps(_json_object(results), indent=1, sort_keys=False, default=str) + "\n")
    return path


class ResultsWriter:
    """Keeps a results file current while grading runs, so that whatever happens to the
    grading process, what was graded so far is in a valid results file ("complete":
    false, with "progress"). Each implementation's record is serialised once per
    change, so rewriting after every check costs about a millisecond."""

    def __init__(self, path: str | Path, head: ResultsDocument) -> None:
        self.path = Path(path)
        written = {k: v for k, v in head.to_json().items()
                   if k not in ("complete", "progress", "implementations")}  # written by ``write``
        self.head_text = json.dumps(written, indent=1, default=str)[:-2]  # without the closing brace
        self.records: dict[str, str] = {}

    def update(self, impl_id: str, record: ImplementationResult) -> None:
        self.records[impl_id] = json.dumps(record.to_json(), indent=1, default=str)

    def write(self, progress: dict[str, Any]) -> Path:
        text = (self.head_text + ',\n "complete": false,\n "progress": ' + json.dumps(progress)
                + ',\n "implementations": [\n' + ",\n".join(self.records.values()) + "\n ]\n}\n")
        _replace(self.path, text)
        return self.path


def read_results(path: str | Path) -> dict[str, Any]:
    """A results file's JSON object (``read_document`` reads it typed)."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        schema = data.get("schema") if isinstance(data, dict) else None
        raise ValueError(f"{path}: not a results file of schema {SCHEMA!r} (got {schema!r})")
    return data


def read_document(path: str | Path) -> ResultsDocument:
    """A results file, typed; ``ValueError`` when it is not one (``OSError`` when unreadable)."""
    return ResultsDocument.from_json(read_results(path))


def read_benchmarks(path: str | Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if data.get("schema") != BENCHMARKS_SCHEMA:
        raise ValueError(f"{path}: not a benchmarks file of schema {BENCHMARKS_SCHEMA!r} "
                         f"(got {data.get('schema')!r})")
    return data


def merge_documents(documents: list[ResultsDocument]) -> ResultsDocument:
    """One scoreboard from several results documents; a later one wins for a repeated id.
    The first one gives everything else (environment, tolerances, unknown keys)."""
    if not documents:
        raise ValueError("nothing to merge")
    checks: dict[str, Any] = {}
    by_id: dict[str, ImplementationResult] = {}
    for document in documents:
        checks.update(document.checks)
        for impl in document.implementations:
            by_id[impl.id] = impl
    unfinished = sum(1 for document in documents if not document.complete)
    return dataclasses.replace(documents[0], checks=checks, implementations=list(by_id.values()),
                               complete=not unfinished,
                               progress={"incomplete_files": unfinished} if unfinished else None)


def merge_results(files: list[dict[str, Any]]) -> dict[str, Any]:
    """``merge_documents`` of results files' JSON objects, as a JSON object."""
    if not files:
        raise ValueError("nothing to merge")
    return merge_documents([ResultsDocument.from_json(data) for data in files]).to_json()
