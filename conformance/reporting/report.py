"""The HTML report: one self-contained page rendered from the JSON results.

The JSON results (``conformance/grading/results.py``) are the only input, so rendering
a saved file gives the same page byte for byte: nothing here reads the clock,
the registry or the implementations. The page is built from Jinja2 templates
(``conformance/reporting/templates``) with autoescaping on, so every name, message and
repr that came from an adapter is shown as text; a Content-Security-Policy lets
the page load nothing from anywhere and run only its own sorting script.

    python -m conformance report reports/results.json -o reports/index.html
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from pathlib import Path
from typing import Any

import jinja2

from conformance.cases.catalogue import FAMILIES
from conformance.base.conventions import CONVENTIONS, VERDICTS
from conformance.grading.outcome import root_cause
from conformance.reporting.report_bench import benchmarks_view
from conformance.base.results_document import CheckResult, ImplementationResult, ResultsDocument
from conformance.reporting.snippets import snippet

#: status -> (symbol, short label for the scoreboard, css class, what it means)
STATUS: dict[str, tuple[str, str, str, str]] = {
    "pass": ("\u2713", "pass", "pass", "the statement held on every generated case"),
    "fail": ("\u2717", "fail", "fail", "a case violates the statement (minimal counterexample below)"),
    "error": ("!", "error", "error", "the adapter raised or returned something unreadable"),
    "blocked": ("\u2298", "blocked", "blocked", "not run: a check it depends on failed"),
    "xfail": ("\u2717", "xfail", "xfail", "expected failure: failed, and listed as a known failure"),
    "xpass": ("\u2713", "xpass", "xpass", "unexpected pass: listed as a known failure but passed"),
    "warn": ("\u26a0", "warn", "warn", "warning: a warning-level statement does not hold (does not decide conformance)"),
    "not_applicable": ("\u2013", "n/a", "na", "not applicable: the implementation does not claim what it needs"),
}
NOT_RUN = ("\u00b7", "not run", "missing", "not graded in this run")

#: Statuses explained in an implementation's detail section.
ATTENTION = ("fail", "error", "xfail", "xpass", "warn")

ENVIRONMENT_LABELS = {
    "suite_version": "suite version",
    "hypothesis_profile": "hypothesis profile",
    "hypothesis_seed": "hypothesis seed",
    "python": "Python",
    "torch": "torch",
    "numpy": "NumPy",
    "hypothesis": "hypothesis",
    "platform": "platform",
    "machine": "machine",
    "date": "date (UTC)",
    "command": "command",
}

_BLOCKED_BY = re.compile(r"blocked by ([\w.\-]*\w)")
#: Hypothesis' "explain" lines name source files of the machine that graded: not useful to a reader.
_EXPLAIN = re.compile(r"\n\s*These lines were always and only run by failing test cases:(\n\s+\S.*)*")


# Formatting -----------------------------------------------------------------------
def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def fmt_error(value: Any) -> str:
    """An error magnitude: ``3.50e-01``, ``0``, ``inf`` or an em dash when absent."""
    number = _number(value)
    if number is None:
        return "\u2014" if value is None else str(value)
    if number == 0:
        return "0"
    if not math.isfinite(number):
        return str(number)
    return f"{number:.2e}"


def fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if value is None:
        return "\u2014"
    return str(value)


def fmt_tolerance(tol: dict[str, Any] | None) -> str:
    if not tol:
        return "\u2014"
    return f"atol {fmt_error(tol.get('atol'))} + rtol {fmt_error(tol.get('rtol'))}\u00b7|want|"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


# The view model ------------------------------------------------------------------
def _columns(document: ResultsDocument) -> list[dict[str, Any]]:
    """Check columns: known families in catalogue order, unknown ones after, each
    check in the order the results list it; checks only some implementations ran
    are included too."""
    metas: dict[str, dict[str, Any]] = {}
    for cid, meta in (document.checks or {}).items():
        metas[cid] = dict(meta or {})
    for impl in document.implementations:
        for cid in impl.checks or {}:
            metas.setdefault(cid, {"id": cid})
    families = list(FAMILIES)
    for cid, meta in metas.items():
        meta.setdefault("family", cid.split(".", 1)[0])
        if meta["family"] not in families:
            families.append(meta["family"])
    appearance = list(metas)
    ordered = sorted(metas, key=lambda c: (families.index(metas[c]["family"]), appearance.index(c)))
    columns = []
    slugs: set[str] = set()
    for n, cid in enumerate(ordered):
        meta = metas[cid]
        family = meta["family"]
        slug = _slug(cid)
        if slug in slugs:  # ids that differ only in punctuation still get their own anchors
            slug = f"{slug}-{n}"
        slugs.add(slug)
        columns.append({
            "id": cid,
            "n": n,
            "slug": slug,
            "family": family,
            "label": cid.split(".", 1)[1] if "." in cid else cid,
            "title": meta.get("title") or cid,
            "statement": meta.get("statement", ""),
            "reference": meta.get("reference", ""),
            "requires": meta.get("requires") or [],
            "depends_on": meta.get("depends_on") or [],
            "tolerance": meta.get("tolerance"),
            "severity": meta.get("severity", "error"),
        })
    return columns


def _family_groups(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for col in columns:
        if not groups or groups[-1]["family"] != col["family"]:
            description = FAMILIES.get(col["family"], col["family"])
            groups.append({"family": col["family"], "name": description.split(":", 1)[0],
                           "description": description, "span": 0})
        groups[-1]["span"] += 1
    return groups


def _status(outcome: CheckResult | None) -> str | None:
    return outcome.status if outcome is not None else None


def _blocked_root(cid: str, checks: dict[str, CheckResult]) -> str | None:
    """The failing check at the root of a chain of blocked checks."""
    seen = set()
    while cid in checks and checks[cid].status == "blocked" and cid not in seen:
        seen.add(cid)
        match = _BLOCKED_BY.search(checks[cid].message or "")
        if not match:
            return None
        cid = match.group(1)
    return cid if cid not in seen else None


def _tolerance_for(col: dict[str, Any] | None, dtype: str | None, document: ResultsDocument,
                   record: ImplementationResult | None = None) -> dict[str, Any] | None:
    if col is None or not col.get("tolerance") or not dtype:
        return None
    return _tolerances_of(dtype, document, record).get(col["tolerance"])


def _tolerances_of(dtype: str | None, document: ResultsDocument, record: ImplementationResult | None
                   ) -> dict[str, Any]:
    """A dtype's tolerances, or those of the coarser precision an implementation claims for float32."""
    precision = record.capabilities.get("precision") if record is not None else None
    rows = document.tolerances or {}
    return (rows.get(precision) if precision and dtype == "float32" else None) or rows.get(dtype or "") or {}


def _ratio(error: Any, tol: dict[str, Any] | None) -> dict[str, Any] | None:
    """Error against the absolute tolerance, with a log-scale bar position (1e-6..1e2)."""
    err, atol = _number(error), _number((tol or {}).get("atol"))
    if err is None or not atol:
        return None
    ratio = err / atol
    if ratio <= 0:
        position = 0.0
    elif not math.isfinite(ratio):
        position = 100.0
    else:
        position = min(100.0, max(0.0, (math.log10(ratio) + 6) / 8 * 100))
    if ratio == 0:
        text = "0"
    elif not math.isfinite(ratio):
        text = "not finite"
    else:
        text = f"{ratio:.2g}\u00d7"
    return {"value": ratio, "text": text, "width": f"{position:.1f}", "over": not ratio <= 1}


def _clean_falsifying(text: str) -> str:
    return _EXPLAIN.sub("", text or "").strip()


def _profile(record: ImplementationResult, columns: list[dict[str, Any]], document: ResultsDocument,
             prefix: str) -> dict[str, Any] | None:
    from conformance.reporting.plots import error_profile_svg

    checks = record.checks or {}
    for col in columns:
        outcome = checks.get(col["id"])
        measured = (outcome.measurements if outcome is not None else None) or {}
        profile = measured.get("profile")
        if not isinstance(profile, dict):
            continue
        case = profile.get("case") or {}
        dtype = case.get("dtype")
        tol = _tolerances_of(dtype, document, record).get("sequence")
        view: dict[str, Any] = {"check": col["id"], "case": case, "dtype": dtype, "tolerance": tol,
                                "error": profile.get("error", "")}
        per_step = profile.get("max_error_per_step")
        if not per_step:
            return view
        numbers = [_number(v) for v in per_step]
        finite = [(t, v) for t, v in enumerate(numbers) if v is not None and math.isfinite(v)]
        atol = _number((tol or {}).get("atol"))
        view["svg"] = error_profile_svg(per_step, atol, prefix)
        view["steps"] = len(per_step)
        if finite:
            peak_t, peak = max(finite, key=lambda tv: tv[1])
            view["peak"] = {"t": peak_t, "error": peak}
        else:
            view["peak"] = None
        view["not_finite"] = [t for t, v in enumerate(numbers) if v is None or not math.isfinite(v)]
        above = [t for t, v in enumerate(numbers) if atol is not None and (v is None or not v <= atol)]
        view["first_above"] = above[0] if above else None
        view["growth"] = _growth([v for _, v in finite])
        view["rows"] = [{"t": t, "error": v} for t, v in enumerate(per_step)]
        return view
    return None


def _growth(values: list[float]) -> str:
    """Does the error grow along the sequence? Compares the means of the first and
    last quarters of the steps (a single step's rounding noise is no trend)."""
    if len(values) < 4:
        return ""
    quarter = max(1, len(values) // 4)
    first = sum(values[:quarter]) / quarter
    last = sum(values[-quarter:]) / quarter
    where = f"(mean of the first {quarter} steps {fmt_error(first)}, of the last {quarter} {fmt_error(last)})"
    if first == 0 and last == 0:
        return "is exactly zero at every step"
    if first == 0 or last / first > 3:
        return f"grows along the sequence {where}"
    if last / first < 1 / 3:
        return f"shrinks along the sequence {where}"
    return f"does not grow along the sequence {where}"


def _error_table(record: ImplementationResult, columns: list[dict[str, Any]], document: ResultsDocument
                 ) -> list[dict[str, Any]]:
    """Per check and dtype: the largest error measured against the stated tolerance."""
    rows = []
    checks = record.checks or {}
    for col in columns:
        outcome = checks.get(col["id"])
        if outcome is None:
            continue
        per_dtype = (outcome.measurements or {}).get("max_error")
        if isinstance(per_dtype, dict):
            for dtype, error in per_dtype.items():
                tol = _tolerance_for(col, dtype, document, record)
                rows.append({"check": col["id"], "dtype": dtype, "error": error, "tolerance": tol,
                             "ratio": _ratio(error, tol), "status": "pass", "kind": col.get("tolerance")})
        if outcome.status in ATTENTION and outcome.max_error is not None:
            dtype = (outcome.counterexample or {}).get("dtype")
            tol = outcome.tolerance or _tolerance_for(col, dtype, document, record)
            rows.append({"check": col["id"], "dtype": dtype or "\u2014", "error": outcome.max_error,
                         "tolerance": tol, "ratio": _ratio(outcome.max_error, tol),
                         "status": outcome.status, "kind": col.get("tolerance")})
    return rows


def _diagnosis(value: Any, note: Any = "") -> dict[str, Any] | None:
    """A diagnosis: a string, or a dict with a ``summary`` (and optionally ``status``
    and ``details``, a list of readable lines); other fields are shown as they are."""
    if value in (None, "", {}):
        return {"summary": str(note), "status": "", "lines": [], "extra": None, "note": True} if note else None
    if isinstance(value, str):
        return {"summary": value, "status": "", "lines": [], "extra": None, "note": False}
    if isinstance(value, dict):
        details = value.get("details")
        lines = [str(x) for x in details] if isinstance(details, list) else []
        skip = {"summary", "status"} | ({"details"} if lines else set())
        extra = {k: v for k, v in value.items() if k not in skip}
        return {"summary": str(value.get("summary", "")), "status": str(value.get("status", "")),
                "lines": lines, "extra": extra or None, "note": False}
    return {"summary": "", "status": "", "lines": [], "extra": value, "note": False}


#: Order of failure groups: violated statements first, then crashes, then the rest.
GROUP_ORDER = {"fail": 0, "xfail": 1, "error": 2, "warn": 3, "xpass": 4}


def _failure_entry(col: dict[str, Any], failure: CheckResult, outcome: CheckResult, record: ImplementationResult,
                   document: ResultsDocument) -> dict[str, Any]:
    """One distinct failure (``failure``) of one check (``outcome``), as the page explains it."""
    counterexample = failure.counterexample
    dtype = (counterexample or {}).get("dtype")
    tol = failure.tolerance or _tolerance_for(col, dtype, document, record)
    status = failure.status or outcome.status
    if outcome.status in ("xfail", "warn") and status in ("fail", "error"):
        status = outcome.status  # the check's verdict decides how each of its failures counts
    return {
        "col": col,
        "case_text": _case_text(counterexample),
        "status": status,
        "status_info": STATUS.get(status, STATUS["error"]),
        "message": failure.message or "",
        "counterexample": counterexample,
        "falsifying": _clean_falsifying(failure.falsifying_example or ""),
        "max_error": failure.max_error,
        "tolerance": tol,
        "tolerance_kind": col.get("tolerance"),
        "dtype": dtype,
        "ratio": _ratio(failure.max_error, tol),
        "snippet": snippet(record.source or record.id, counterexample, col["id"])
        if isinstance(counterexample, dict) and status != "xpass" else None,
    }


#: CaseSpec's defaults: a case is written with the fields that differ from them (and its sizes).
_CASE_DEFAULTS = {"num_layers": 1, "bidirectional": False, "batch_first": False, "dtype": "float32", "seed": 0,
                  "weight_scale": 1.0, "input_scale": 1.0, "with_h0": True, "device": "cpu"}


def _case_text(case: Any) -> str:
    if not isinstance(case, dict):
        return ""
    return ", ".join(f"{k}={fmt_value(v)}" for k, v in case.items()
                     if k not in _CASE_DEFAULTS or _CASE_DEFAULTS[k] != v)


def _failure_groups(record: ImplementationResult, anchor: str, columns: list[dict[str, Any]],
                    checks: dict[str, CheckResult], blocks: dict[str, list[str]], document: ResultsDocument
                    ) -> list[dict[str, Any]]:
    """Every distinct failure of every check, grouped by root cause (``outcome.root_cause``:
    the same message up to sizes and numbers): a crash that seventeen checks reach is
    one group naming the seventeen checks, and a check that failed for two reasons
    is in two groups. The anchor the scoreboard links to marks the check's main failure."""
    groups: dict[str, dict[str, Any]] = {}
    for col in columns:
        outcome = checks.get(col["id"])
        if outcome is None or outcome.status not in ATTENTION:
            continue
        # Each distinct failure has the fields of a check's main one (outcome.FAILURE_FIELDS).
        distinct = [CheckResult.from_json(f) for f in outcome.failures or [] if isinstance(f, dict)] or [outcome]
        for k, failure in enumerate(distinct):
            entry = _failure_entry(col, failure, outcome, record, document)
            main = k == 0
            entry.update(anchor=f"{anchor}-{col['slug']}" if main else f"{anchor}-{col['slug']}-{k + 1}",
                         blocks=blocks.get(col["id"], []) if main else [], nth=k + 1, of=len(distinct),
                         elsewhere=str(outcome.elsewhere or "") if main else "",
                         printed=_printed(outcome) if main else None)
            key = root_cause(entry["status"], entry["message"])
            group = groups.setdefault(key, {"status": entry["status"], "status_info": entry["status_info"],
                                            "entries": []})
            group["entries"].append(entry)
    ordered = sorted(groups.values(), key=lambda g: GROUP_ORDER.get(g["status"], 5))  # stable: check order within
    where: dict[str, list[tuple[int, str]]] = {}
    for n, group in enumerate(ordered):
        group["anchor"] = f"{anchor}-cause-{n + 1}"
        group["shared"] = len(group["entries"]) > 1
        group["lead"] = group["entries"][0]
        for entry in group["entries"]:
            shown_at = group["anchor"] if group["shared"] else entry["anchor"]
            where.setdefault(entry["col"]["id"], []).append((entry["nth"], shown_at))
    for group in ordered:
        for entry in group["entries"]:
            # Where the check's other distinct failures are explained, so each links to the rest.
            entry["others"] = [href for nth, href in sorted(where[entry["col"]["id"]]) if nth != entry["nth"]]
    return ordered


def _implementation(n: int, record: ImplementationResult, columns: list[dict[str, Any]], document: ResultsDocument
                    ) -> dict[str, Any]:
    anchor = f"impl-{n}"
    checks = record.checks or {}
    by_id = {c["id"]: c for c in columns}
    blocks: dict[str, list[str]] = {}
    orphan_blocked = []
    for cid, outcome in checks.items():
        if outcome.status == "blocked":
            root = _blocked_root(cid, checks)
            if root is not None and _status(checks.get(root)) in ATTENTION:
                blocks.setdefault(root, []).append(cid)
            else:
                orphan_blocked.append({"id": cid, "message": outcome.message})

    cells = []
    for col in columns:
        outcome = checks.get(col["id"])
        status = _status(outcome)
        symbol, label, css, meaning = STATUS.get(status, NOT_RUN) if status is not None else NOT_RUN
        if status is not None and status not in STATUS:
            symbol, label, css, meaning = "?", str(status), "unknown", "a status this report does not know"
        message = (outcome.message if outcome is not None else None) or ""
        first = message.strip().splitlines()[0] if message.strip() else meaning
        href = None
        if status in ATTENTION:
            href = f"#{anchor}-{col['slug']}"
        elif status == "blocked":
            root = _blocked_root(col["id"], checks)
            if root is not None and _status(checks.get(root)) in ATTENTION and root in by_id:
                href = f"#{anchor}-{by_id[root]['slug']}"
        cells.append({"symbol": symbol, "label": label, "css": css, "href": href,
                      "title": f"{col['id']}: {label} \u2014 {_clip(first, 160)}",
                      "rank": {"fail": 0, "error": 1, "blocked": 2, "xfail": 3, "xpass": 4, "warn": 5,
                               "pass": 6, "na": 7}.get(css, 8)})

    failures = _failure_groups(record, anchor, columns, checks, blocks, document)

    not_applicable: dict[str, list[str]] = {}
    for col in columns:
        outcome = checks.get(col["id"])
        if outcome is not None and outcome.status == "not_applicable":
            not_applicable.setdefault(outcome.message or "no reason given", []).append(col["id"])

    verdict = record.verdict
    known = VERDICTS.get(verdict)
    verdict_css, verdict_rank, verdict_short = ((known.kind, known.rank, known.short) if known else
                                                ("unknown", 1, record.verdict_text or verdict or "unknown"))
    graded = record.graded
    if graded.partial and verdict != "error":
        verdict_short += f", partial: {graded.checks} of {graded.of} checks"
    passed, applicable = record.score.passed, record.score.applicable
    adapter = record.adapter or None
    rows = []
    for col, cell in zip(columns, cells):
        outcome = checks.get(col["id"])
        if outcome is None:
            continue
        rows.append({"col": col, "cell": cell, "duration": outcome.duration,
                     "message": (outcome.message or "").strip(), "printed": _printed(outcome)})
    return {
        "n": n,
        "anchor": anchor,
        "variant_short": _claim_short(record),
        "id": str(record.id),
        "record": record,
        "adapter": adapter,
        "capabilities": record.capabilities,
        "verdict": verdict,
        "verdict_text": record.verdict_text or verdict,
        "verdict_css": verdict_css,
        "verdict_short": verdict_short,
        "verdict_rank": verdict_rank,
        "passed": passed,
        "applicable": applicable,
        "percent": round(100 * passed / applicable) if applicable else 0,
        "cells": cells,
        "failures": failures,
        "failure_count": sum(len(g["entries"]) for g in failures),
        "failing_checks": len({e["col"]["id"] for g in failures for e in g["entries"]}),
        "orphan_blocked": orphan_blocked,
        "not_applicable": not_applicable,
        "errors": _error_table(record, columns, document),
        "profile": _profile(record, columns, document, f"plot{n}"),
        "diagnosis": _diagnosis(record.diagnosis, record.diagnosis_note),
        "rows": rows,
        # Fields shown nowhere else on the page (grade-folder's "grading", say), as written.
        "extra": {k: v for k, v in record.to_json().items() if k not in SHOWN_IMPL_KEYS and v not in (None, "", [], {})},
    }


def fmt_seconds(value: Any) -> str:
    number = _number(value)
    if number is None:
        return "\u2014"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("\u00b5s", 1e-6)):
        if number >= scale:
            return f"{number / scale:.3g} {unit}"
    return f"{number * 1e9:.3g} ns"


#: An implementation's fields the page shows in their own places; the others are listed as they are.
SHOWN_IMPL_KEYS = {"id", "source", "document", "description", "adapter", "claimed_variant", "verdict",
                   "verdict_text", "score", "load_error", "checks", "diagnosis", "diagnosis_note"}


def _isolation(value: Any) -> dict[str, Any] | None:
    """Where the implementations ran, for the header (a warning unless sandboxed)."""
    if not isinstance(value, dict) or not value:
        return None
    mode = str(value.get("mode", ""))
    return {"mode": mode, "sandboxed": mode == "sandbox", "summary": str(value.get("summary", "")),
            "tool": str(value.get("tool", "")), "limits": value.get("limits") or {}}


def _incomplete(document: ResultsDocument) -> str:
    """Why these results are partial ("" when complete)."""
    if document.complete is not False:
        return ""
    progress = document.progress if isinstance(document.progress, dict) else {}
    done, total = progress.get("checks_done"), progress.get("checks_total")
    if isinstance(done, int) and isinstance(total, int):
        return (f"grading did not finish: {done} of {total} checks were graded before it stopped; "
                f"checks not graded show as not run")
    if isinstance(progress.get("incomplete_files"), int):
        return (f"{progress['incomplete_files']} of the merged results files come from grading that did not "
                f"finish; their checks not graded show as not run")
    return "grading did not finish: checks not graded show as not run"


def _claim_short(record: ImplementationResult) -> str:
    """The convention claimed, in a few words (the scoreboard's row)."""
    claimed = CONVENTIONS.get((record.reset, record.update))
    return claimed.short if claimed is not None else (record.claimed_variant or "\u2014")


def _printed(outcome: CheckResult | None) -> dict[str, Any] | None:
    """What the implementation printed during a check, as kept in the results."""
    output = outcome.output if outcome is not None else None
    if not isinstance(output, dict) or not output.get("bytes"):
        return None
    count = _number(output.get("bytes")) or 0
    return {"text": str(output.get("text", "")), "bytes": int(count), "truncated": bool(output.get("truncated"))}


def _document(data: ResultsDocument | dict[str, Any]) -> ResultsDocument:
    """The results to render, typed (a results file's JSON object is read as one)."""
    if isinstance(data, ResultsDocument):
        return data
    if not isinstance(data, dict) or not isinstance(data.get("implementations"), list):
        raise ValueError("not a results dict: it should have an 'implementations' list "
                         "(read it with conformance.grading.results.read_document)")
    return ResultsDocument.from_json(data)


def build_view(data: ResultsDocument | dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, computed from the results alone."""
    document = _document(data)
    columns = _columns(document)
    impls = [_implementation(n, record, columns, document) for n, record in enumerate(document.implementations)]
    counts: dict[str, int] = {}
    for view in impls:
        known = VERDICTS.get(view["verdict"])
        partial = view["record"].graded.partial and known is not None and known.id != "error"
        label = f"{known.text} (partial grades)" if partial else view["verdict_text"]
        counts[label] = counts.get(label, 0) + 1
    env = document.environment or {}
    stamp = [(label, env[key]) for key, label in ENVIRONMENT_LABELS.items() if key in env]
    stamp += [(key, value) for key, value in env.items() if key not in ENVIRONMENT_LABELS and key != "isolation"]
    tolerances = document.tolerances or {}
    return {
        "schema": document.schema,
        "stamp": stamp,
        "isolation": _isolation(env.get("isolation")),
        "incomplete": _incomplete(document),
        "columns": columns,
        "groups": _family_groups(columns),
        "impls": impls,
        "counts": sorted(counts.items(), key=lambda kv: -kv[1]),
        "tolerances": tolerances,
        "tolerance_kinds": sorted({k for kinds in tolerances.values() for k in kinds}),
        "stale": document.stale_known_failures or [],
        "benchmarks": document.benchmarks,
        "bench": benchmarks_view(document.benchmarks),
        "extra": document.extra,
        "status_legend": [(k, *v) for k, v in STATUS.items()] + [("not run", *NOT_RUN)],
    }


# Rendering -------------------------------------------------------------------------
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("conformance.reporting", "templates"),
        autoescape=True,  # every template, whatever its extension: adapter text is data, never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["error"] = fmt_error
    env.filters["value"] = fmt_value
    env.filters["tol"] = fmt_tolerance
    env.filters["seconds"] = fmt_seconds
    env.tests["table_of_mappings"] = lambda v: (
        isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v))
    env.globals["columns_of"] = lambda rows: list(dict.fromkeys(k for row in rows for k in row))
    return env


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def render_page(data: ResultsDocument | dict[str, Any]) -> str:
    """The report as one HTML string (deterministic: the same results give the same bytes)."""
    env = _environment()
    script = env.loader.get_source(env, "sort.js")[0]  # type: ignore[union-attr]
    template = env.get_template("report.html.j2")
    return template.render(view=build_view(data), script=script, script_hash=_script_hash(script))


def render_html(data: ResultsDocument | dict[str, Any], path: str | Path) -> Path:
    """Write the report for ``data`` (a results document, or its JSON object) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(data), encoding="utf-8")
    return path
