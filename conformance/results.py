"""The JSON results file: the single source every report is rendered from.

Schema ``gru-conformance-results/1`` (documented in the README)::

    {
      "schema": "gru-conformance-results/1",
      "environment": {...versions, platform, date, hypothesis profile...},
      "tolerances": {"float32": {"step": {"atol": .., "rtol": ..}, ...}, ...},
      "checks": {"<check id>": {id, family, title, statement, reference, requires,
                                depends_on, tolerance}},
      "complete": true, or false while grading runs or when it was stopped,
      "progress": {"checks_done", "checks_total"} when not complete,
      "implementations": [
        {"id", "source", "adapter": {kind, name, reset, white_box, capabilities, notes},
         "document", "claimed_variant", "verdict", "verdict_text" (the verdict in words; a partial grade
         says so), "graded": {checks, of, partial} (checks graded of the catalogue's),
         "score": {passed, applicable, warnings},
         "load_error", "checks": {"<check id>": {status, message, counterexample,
                                  falsifying_example, max_error, tolerance, duration,
                                  measurements, output, failures (every distinct failure
                                  when there are several), elsewhere}},
         "diagnosis": null or {status, summary, claimed, convention, switches, structure,
                               evidence, findings, first_divergence, details, probes, scope,
                               duration}
                      (conformance.diagnosis; null for black-box adapters),
         "diagnosis_note": why there is no diagnosis (empty when there is one)}
      ]
    }
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from conformance.conventions import VERDICTS, convention
from conformance.outcome import FAILING, Outcome
from conformance.tolerances import tolerances_json

SCHEMA = "gru-conformance-results/1"
#: The benchmarks section's schema (``tox -e bench``, ``conformance.bench``).
BENCHMARKS_SCHEMA = "gru-conformance-benchmarks/2"

def overall_verdict(reset: str, white_box: bool, checks: dict[str, Outcome], load_error: str = "",
                    update: str = "pytorch") -> str:
    if load_error:
        return "error"
    if any(o.status in FAILING for o in checks.values()):
        return "nonconformant"
    if all(o.status == "not_applicable" for o in checks.values()):
        return "none-run"  # nothing was verified: a verdict of "no violation" would claim otherwise
    if not white_box:
        return "consistent"
    claimed = convention(reset, update)
    return claimed.verdict if claimed is not None else "nonconformant"


def coverage(checks: dict[str, Outcome]) -> dict[str, Any]:
    """How much of the catalogue was graded: checks with an outcome (run, not applicable or
    blocked) against every check; ``partial`` when some were not run (a ``-k`` selection,
    the framework lanes' quick subsets, grading that did not finish)."""
    from conformance.catalogue import CHECKS, load_all

    load_all()
    graded = sum(1 for cid in checks if cid in CHECKS)
    return {"checks": graded, "of": len(CHECKS), "partial": 0 < graded < len(CHECKS)}


def verdict_text(verdict: str, graded: dict[str, Any], graded_part: str = "") -> str:
    """The verdict in words; a partial grade says how much it covered, and a grade of a part
    of what was named (a class's GRU submodule) which part, never a bare "conformant"."""
    text = VERDICTS[verdict].text
    if graded_part and verdict != "error":
        text += f", for {graded_part}"
    if graded.get("partial") and verdict != "error":
        text += f", on {graded['checks']} of {graded['of']} checks (a partial grade: the others were not run)"
    return text


def score(checks: dict[str, Outcome]) -> dict[str, int]:
    # Warning-level findings are counted apart: they do not decide conformance.
    warnings = [o for o in checks.values() if o.status == "warn"]
    applicable = [o for o in checks.values() if o.status not in ("not_applicable", "warn")]
    passed = [o for o in applicable if o.status in ("pass", "xpass")]
    return {"passed": len(passed), "applicable": len(applicable), "warnings": len(warnings)}


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
        # Where the implementations ran: conformance.sandbox.Sandbox.describe (or IN_PROCESS).
        "isolation": isolation or {},
    }


def implementation_record(
    impl_id: str,
    *,
    info: Any = None,
    source: str = "",
    document: str = "",
    description: str = "",
    checks: dict[str, Outcome] | None = None,
    load_error: str = "",
    diagnosis: dict[str, Any] | None = None,
    diagnosis_note: str = "",
) -> dict[str, Any]:
    checks = checks or {}
    reset = info.reset if info is not None else ""
    update = info.update if info is not None else "pytorch"
    white_box = bool(info and info.white_box)
    verdict = overall_verdict(reset, white_box, checks, load_error, update)
    claimed = convention(reset, update)
    graded = coverage(checks)
    return {
        "id": impl_id,
        "source": source,
        "document": document,
        "description": description,
        "adapter": vars(info) if info is not None else None,
        "claimed_variant": _claimed_variant(claimed, info),
        "verdict": verdict,
        "verdict_text": verdict_text(verdict, graded, getattr(info, "graded_part", "") if info is not None else ""),
        "graded": graded,
        "score": score(checks),
        "load_error": load_error,
        "checks": {cid: o.to_json() for cid, o in checks.items()},
        "diagnosis": diagnosis,
        "diagnosis_note": diagnosis_note,
    }


def _claimed_variant(claimed: Any, info: Any) -> str:
    """The convention claimed, in words, with the coarser precision claimed for float32 inputs."""
    if claimed is None:
        return ""
    precision = (info.capabilities or {}).get("precision") if info is not None else ""
    return f"{claimed.description}, at {precision} precision for float32 inputs" if precision else claimed.description


def build_results(implementations: list[dict[str, Any]], checks: dict[str, Any], env: dict[str, Any],
                  *, complete: bool = True) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "environment": env,
        "tolerances": tolerances_json(),
        "checks": {cid: meta.to_json() for cid, meta in checks.items()},
        "complete": complete,
        "implementations": implementations,
    }


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    os.replace(partial, path)


def write_results(results: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    _replace(path, json.dumps(results, indent=1, sort_keys=False, default=str) + "\n")
    return path


class ResultsWriter:
    """Keeps a results file current while grading runs, so that whatever happens to the
    grading process, what was graded so far is in a valid results file ("complete":
    false, with "progress"). Each implementation's record is serialised once per
    change, so rewriting after every check costs about a millisecond."""

    def __init__(self, path: str | Path, head: dict[str, Any]) -> None:
        self.path = Path(path)
        self.head = {k: v for k, v in head.items() if k != "implementations"}
        self.head_text = json.dumps(self.head, indent=1, default=str)[:-2]  # without the closing brace
        self.records: dict[str, str] = {}

    def update(self, impl_id: str, record: dict[str, Any]) -> None:
        self.records[impl_id] = json.dumps(record, indent=1, default=str)

    def write(self, progress: dict[str, Any]) -> Path:
        text = (self.head_text + ',\n "complete": false,\n "progress": ' + json.dumps(progress)
                + ',\n "implementations": [\n' + ",\n".join(self.records.values()) + "\n ]\n}\n")
        _replace(self.path, text)
        return self.path


def read_results(path: str | Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a results file of schema {SCHEMA!r} (got {data.get('schema')!r})")
    return data


def read_benchmarks(path: str | Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if data.get("schema") != BENCHMARKS_SCHEMA:
        raise ValueError(f"{path}: not a benchmarks file of schema {BENCHMARKS_SCHEMA!r} "
                         f"(got {data.get('schema')!r})")
    return data


def merge_results(files: list[dict[str, Any]]) -> dict[str, Any]:
    """One scoreboard from several results files; a later file wins for a repeated id."""
    if not files:
        raise ValueError("nothing to merge")
    merged = dict(files[0])
    checks: dict[str, Any] = {}
    by_id: dict[str, dict[str, Any]] = {}
    for data in files:
        checks.update(data["checks"])
        for impl in data["implementations"]:
            by_id[impl["id"]] = impl
    merged["checks"] = checks
    merged["implementations"] = list(by_id.values())
    merged["complete"] = all(data.get("complete", True) for data in files)
    if not merged["complete"]:
        merged["progress"] = {"incomplete_files": sum(1 for data in files if not data.get("complete", True))}
    else:
        merged.pop("progress", None)
    return merged
