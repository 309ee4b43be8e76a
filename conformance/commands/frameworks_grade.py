"""``python -m conformance.commands.frameworks_grade``: grade framework GRUs in this environment.

* ``--lane NAME`` grades one lane's ids (``implementations/frameworks/registry.py``,
  ``LANES``) and writes ``reports/results-frameworks-<lane>.json``, with a ``lane``
  section: the lane's package versions, its grading time and status. A lane whose
  framework is not installed here (no wheel for this platform, say) is reported
  "not installed here" and exits 0: there is nothing to grade, which is not a failure.
  ``tox -e frameworks-<lane>`` runs this; ``tox -e frameworks`` runs every lane and
  renders the combined report (``conformance.commands.frameworks_lanes``).
* Without ``--lane``: the ids given (default: every id whose lane is installed here),
  written to ``reports/results-frameworks.json`` and rendered into ``reports/index.html``
  beside the document implementations (graded first when their results are absent,
  unless ``--no-documents``).

Each grading run is its own ``python -m conformance grade ... --check-expectations``
process (pytest and hypothesis are set up once per process): Keras modules run one
per adapter module (Keras picks its backend once per process), entries in ``SLOW_GRADING``
with their own options; ``--jobs`` of them at once (default 2). The exit status is non-zero when results
differ from the registry's expected findings or an adapter cannot be loaded.

A command, so it lives among the commands; ``python -m conformance.implementations.frameworks``
(its earlier name, inside the frameworks' adapters) still runs it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conformance.base.profiles import PROFILES
from conformance.implementations.frameworks.registry import FRAMEWORKS, LANES, MODULE_LANE, SLOW_GRADING, Lane


def _run(argv: list[str], log: Path | None = None) -> int:
    print("+ python " + " ".join(argv), flush=True)
    if log is None:
        return subprocess.call([sys.executable, *argv])
    # Run beside other grading processes: output to a log, then its verdict summary here.
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        code = subprocess.call([sys.executable, *argv], stdout=out, stderr=subprocess.STDOUT)
    lines = log.read_text(errors="replace").splitlines()
    start = next((i for i, line in enumerate(lines) if "GRU conformance" in line), len(lines))
    summary = [line for line in lines[start:] if line and not line.startswith(" " * 6)]
    print("\n".join(summary[:60]) + f"\n(full output: {log})", flush=True)
    return code


def _grade(ids: list[str], results: Path, options: list[str], log: Path | None = None) -> int:
    results.unlink(missing_ok=True)  # never merge an earlier run's results
    return _run(["-m", "conformance", "grade", *ids, "--results", str(results), "--no-html",
                 "--check-expectations", f"--junitxml={results.with_suffix('.xml')}", *options], log)


def module_of(impl_id: str) -> str:
    entry = next(e for e in FRAMEWORKS if e.id == impl_id)
    return entry.adapter.partition(":")[0]


def missing_imports(lane: Lane) -> list[str]:
    """The lane's framework packages that cannot be imported here."""
    missing = []
    for name in lane.imports:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def versions(lane: Lane) -> dict[str, str]:
    """Installed versions of the lane's distributions (and of torch and numpy)."""
    found = {}
    for name in ("torch", "numpy", *lane.distributions):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def grading_runs(ids: list[str], results: Path, common: list[str]) -> list[tuple[list[str], Path, list[str]]]:
    """The grading processes for ``ids``: (ids, results path, options) each. One process
    per adapter module and options (``SLOW_GRADING``): Keras picks its backend once per
    process and JAX's 64-bit mode is process-wide, and separate processes let a lane grade
    two at once."""
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for impl_id in ids:
        name = module_of(impl_id).rpartition(".")[2]
        options = tuple(SLOW_GRADING.get(impl_id, common))
        if impl_id in SLOW_GRADING:
            name += "-slow"
        groups.setdefault((name, options), []).append(impl_id)
    return [(group, results.with_name(f"{results.stem}-{name}.json"), list(options))
            for (name, options), group in groups.items()]


def grade_runs(runs: list[tuple[list[str], Path, list[str]]], jobs: int) -> list[int]:
    """Each run in its own process, ``jobs`` at a time (their output then goes to logs
    beside the results, ``<results>.log``, with each run's summary printed here)."""
    parallel = jobs > 1 and len(runs) > 1
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda run: _grade(*run, log=run[1].with_suffix(".log") if parallel else None), runs))


def lane_results(lane: Lane, args: argparse.Namespace) -> int:
    """Grade one lane into ``reports/results-frameworks-<lane>.json`` with its ``lane`` section."""
    from conformance.grading.results import build_results, environment, merge_results, read_results, write_results

    results = Path(args.results or f"reports/results-frameworks-{lane.name}.json")
    ids = [e.id for e in FRAMEWORKS if MODULE_LANE[module_of(e.id)] == lane.name]
    section: dict[str, Any] = {"name": lane.name, "description": lane.description, "tox_env": lane.tox_env,
                               "extra": lane.extra, "ids": ids, "versions": versions(lane)}
    missing = missing_imports(lane)
    if missing:
        section.update(status="not installed here", reason=f"cannot import {', '.join(missing)}",
                       grading_seconds=0.0, exit_code=0)
        print(f"frameworks: lane {lane.name}: not installed here (cannot import {', '.join(missing)}); "
              "nothing graded", flush=True)
        data = build_results([], {}, environment())
        data["lanes"] = [section]
        write_results(data, results)
        return 0
    start = time.perf_counter()
    runs = grading_runs(ids, results, _common(args))
    codes = grade_runs(runs, args.jobs)
    parts = [read_results(path) for _, path, _ in runs if path.is_file()]
    code = max(codes) if parts else (max(codes) or 1)
    section.update(status="graded" if code == 0 else "results differ from the registry",
                   grading_seconds=round(time.perf_counter() - start, 1), exit_code=code)
    data = merge_results(parts) if parts else build_results([], {}, environment())
    data["lanes"] = [section]
    write_results(data, results)
    print(f"frameworks: lane {lane.name}: {section['status']} in {section['grading_seconds']} s; results {results}",
          flush=True)
    return code


def _common(args: argparse.Namespace) -> list[str]:
    return (["--profile", args.profile] if args.profile else []) + (
        ["-n", args.numprocesses] if args.numprocesses else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.commands.frameworks_grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ids", nargs="*", help="framework ids (default: every id whose lane is installed here)")
    parser.add_argument("--lane", choices=sorted(LANES), help="grade this lane's ids")
    parser.add_argument("--results", help="JSON results path (default reports/results-frameworks[-<lane>].json)")
    parser.add_argument("--documents", default="reports/results.json",
                        help="results of the document implementations, merged into the report")
    parser.add_argument("--no-documents", action="store_true",
                        help="do not grade the document implementations when their results are absent")
    parser.add_argument("--html", default="reports/index.html", help="HTML report path (not with --lane)")
    parser.add_argument("--profile", choices=list(PROFILES),
                        help="hypothesis profile for the entries graded in full")
    parser.add_argument("-n", "--numprocesses", help="pytest-xdist workers of each grading process")
    parser.add_argument("-j", "--jobs", type=int, default=2,
                        help="grading processes run at once (default 2: this project's machines have 2 cores, "
                        "and each grading process computes on one thread)")
    args = parser.parse_args(argv)

    if args.lane:
        if args.ids:
            parser.error("give either --lane or ids")
        return lane_results(LANES[args.lane], args)

    from conformance.grading.results import merge_results, read_results, write_results

    known = [entry.id for entry in FRAMEWORKS]
    unknown = [name for name in args.ids if name not in known]
    if unknown:
        parser.error(f"unknown framework ids {unknown}; known: {', '.join(known)}")
    installed = {name for name, lane in LANES.items() if not missing_imports(lane)}
    ids = args.ids or [i for i in known if MODULE_LANE[module_of(i)] in installed]
    if not ids:
        print("frameworks: no framework lane is installed here", file=sys.stderr)
        return 1
    results = Path(args.results or "reports/results-frameworks.json")
    runs = grading_runs(ids, results, _common(args))
    codes = grade_runs(runs, args.jobs)
    parts = [read_results(path) for _, path, _ in runs if path.is_file()]
    if not parts:
        print(f"frameworks: no results written for {ids}", file=sys.stderr)
        return max(codes) or 1
    write_results(merge_results(parts), results)
    print(f"frameworks: results {results}", flush=True)

    documents = Path(args.documents)
    if not documents.is_file() and not args.no_documents:
        # Their verdicts go to the report; this command's status is the frameworks' own.
        _run(["-m", "conformance", "grade", "--all", "--check-expectations", "--results", str(documents),
              "--no-html", f"--junitxml={documents.with_suffix('.xml')}"])
    merged = [str(path) for path in (documents, results) if path.is_file()]
    if _run(["-m", "conformance", "report", *merged, "-o", args.html]) != 0:
        print("frameworks: the HTML report was not rendered (the JSON results are complete)", file=sys.stderr)
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
