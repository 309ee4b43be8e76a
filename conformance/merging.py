"""One scoreboard from many results files: the merge step of ``grade-folder``, of runs on
many machines, and of ``python -m conformance report``; and rendering it to HTML."""

from __future__ import annotations

import glob
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class MergeError(Exception):
    """A name that gives no results file."""


def results_paths(inputs: Iterable[str]) -> list[Path]:
    """Files, folders (their ``*.json`` results files, sorted) and glob patterns -> results files.

    JSON files of another kind inside a folder (benchmarks, say) are left out;
    a file named explicitly must be a results file."""
    from conformance.results import SCHEMA

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
          benchmarks: str | Path | None = None) -> tuple[dict[str, Any], Path | None]:
    """One scoreboard from many results files (and optionally a benchmarks file)."""
    from conformance.results import merge_results, read_benchmarks, read_results, write_results

    files = [read_results(p) for p in results_paths(inputs)]
    data = merge_results(files)
    if benchmarks is not None:
        data["benchmarks"] = read_benchmarks(benchmarks)
    else:  # a section one of the inputs carries (the last wins, like repeated ids)
        sections = [f["benchmarks"] for f in files if f.get("benchmarks")]
        data.pop("benchmarks", None)
        if sections:
            data["benchmarks"] = sections[-1]
    if json_out is not None:
        write_results(data, json_out)
    rendered = render(data, Path(html)) if html is not None else None
    return data, rendered


def render(data: dict[str, Any], html: Path) -> Path | None:
    try:
        from conformance.report import render_html
    except ImportError:  # the HTML report is optional
        return None
    return render_html(data, html)
