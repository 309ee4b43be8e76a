"""``python -m implementations.frameworks``: grade every framework GRU, then render
the HTML report with them beside the document implementations.

1. ``python -m conformance grade <framework ids> --check-expectations``; entries in
   ``SLOW_GRADING`` are graded in their own run with their options; all results are
   merged into ``reports/results-frameworks.json``. The exit status is non-zero when
   results differ from the registry's expected findings or an adapter cannot be loaded.
2. When ``reports/results.json`` (the document implementations) is absent, it is
   graded first (``--all``), unless ``--no-documents``.
3. ``python -m conformance report`` merges both into ``reports/index.html``.

Each grading run is its own process: pytest and hypothesis are set up once per process.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from implementations.frameworks.registry import FRAMEWORKS, SLOW_GRADING


def _run(argv: list[str]) -> int:
    print("+ python " + " ".join(argv), flush=True)
    return subprocess.call([sys.executable, *argv])


def _grade(ids: list[str], results: Path, options: list[str]) -> int:
    results.unlink(missing_ok=True)  # never merge an earlier run's results
    return _run(["-m", "conformance", "grade", *ids, "--results", str(results), "--no-html",
                 "--check-expectations", f"--junitxml={results.with_suffix('.xml')}", *options])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m implementations.frameworks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ids", nargs="*", help="framework ids (default: all of them)")
    parser.add_argument("--results", default="reports/results-frameworks.json", help="JSON results path")
    parser.add_argument("--documents", default="reports/results.json",
                        help="results of the document implementations, merged into the report")
    parser.add_argument("--no-documents", action="store_true",
                        help="do not grade the document implementations when their results are absent")
    parser.add_argument("--html", default="reports/index.html", help="HTML report path")
    parser.add_argument("--profile", choices=["quick", "grade", "thorough"],
                        help="hypothesis profile for the entries graded in full")
    parser.add_argument("-n", "--numprocesses", help="pytest-xdist workers")
    args = parser.parse_args(argv)

    from conformance.results import merge_results, read_results, write_results

    known = [entry.id for entry in FRAMEWORKS]
    unknown = [name for name in args.ids if name not in known]
    if unknown:
        parser.error(f"unknown framework ids {unknown}; known: {', '.join(known)}")
    ids = args.ids or known
    results = Path(args.results)
    common = (["--profile", args.profile] if args.profile else []) + (
        ["-n", args.numprocesses] if args.numprocesses else [])
    runs: list[tuple[list[str], Path, list[str]]] = []
    full = [i for i in ids if i not in SLOW_GRADING]
    if full:
        runs.append((full, results.with_name(f"{results.stem}-main.json"), common))
    for slow in (i for i in ids if i in SLOW_GRADING):
        runs.append(([slow], results.with_name(f"{results.stem}-{slow}.json"), SLOW_GRADING[slow]))
    codes = [_grade(run_ids, path, options) for run_ids, path, options in runs]
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
