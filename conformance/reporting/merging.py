"""One scoreboard from many results files: the merge step of ``grade-folder``, of runs on
many machines, and of ``python -m conformance report``; and rendering it to HTML."""

from __future__ import annotations

import glob
import json
from collections.abc import Iterable
from pathlib import Path

from conformance.base.results_document import SCHEMA, ResultsDocument


class MergeError(Exception):
    """A name that gives no results file."""


def results_paths(inputs: Iterable[str]) -> list[Path]:
    """Files, folders (their ``*.json`` results files, sorted) and glob patterns -> results files.

    JSON files of another kind inside a folder (benchmarks, say) are left out;
    a file named explicitly must be a results file."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for candidate in sorted(path.glob("*.json")):
                try:
                    if json.loads(candidate.read_text()).get("schema") == SCHEMA:
                        paths.append(candidate)
                except (OSError, ValueError, AttributeError):
                    continue
        elif any(ch in item for ch in "*?["):
            matched = sorted(glob.glob(item))
            if not matched:
                raise MergeError(f"{item}: matches no file")
            paths += [Path(m) for m in matched]
        elif path.is_file():
            paths.append(path)
        else:
            raise MergeError(f"{item}: no such file or folder")
    if not paths:
        raise MergeError(f"no results files in {', '.join(inputs)}")
    return paths


def merge(inputs: Iterable[str], *, json_out: str | Path | None = None, html: str | Path | None = None,
          benchmarks: str | Path | None = None) -> tuple[ResultsDocument, Path | None]:
    """One scoreboard from many results files (and optionally a benchmarks file)."""
    from conformance.grading.results import merge_documents, read_benchmarks, read_document, write_results

    documents = [read_document(p) for p in results_paths(inputs)]
    merged = merge_documents(documents)
    if benchmarks is not None:
        merged.benchmarks = read_benchmarks(benchmarks)
    else:  # a section one of the inputs carries (the last wins, like repeated ids)
        sections = [d.benchmarks for d in documents if d.benchmarks]
        merged.benchmarks = sections[-1] if sections else None
    if json_out is not None:
        write_results(merged, json_out)
    rendered = render(merged, Path(html)) if html is not None else None
    return merged, rendered


def render(document: ResultsDocument, html: Path) -> Path | None:
    try:
        from conformance.reporting.report import render_html
    except ImportError:  # the HTML report is optional
        return None
    return render_html(document, html)
