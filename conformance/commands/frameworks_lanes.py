"""``python -m conformance.commands.frameworks_lanes`` (what ``tox -e frameworks`` runs): every
framework lane in its own tox environment, then one combined report.

For each lane (``registry.LANES``; optional lanes such as MindSpore only with
``--with-optional`` or when named in ``--lanes``):

1. ``tox -e frameworks-<lane> --notest`` creates (or reuses) the lane's environment,
   timed apart. If it fails (no wheel of the framework for this platform, say), the
   lane is reported "not installable here" with the installer's last lines: not a failure.
2. ``tox -e frameworks-<lane>`` grades the lane (``python -m conformance.commands.frameworks_grade
   --lane <lane>``), which writes ``reports/results-frameworks-<lane>.json``.

Then the lanes' results are merged into ``reports/results-frameworks.json`` (its ``lanes``
section lists every lane: status, versions, environment and grading times), rendered
into ``reports/index.html`` beside the document implementations (``reports/results.json``,
graded first when absent unless ``--no-documents``), and into the cross-framework
scoreboard ``reports/frameworks.html`` (``conformance.reporting.framework_scoreboard``).

The exit status is non-zero when a graded lane's results differ from the registry's
expected findings (or an adapter could not be loaded). ``python -m
conformance.implementations.frameworks.lanes`` (its earlier name) still runs it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conformance.base.profiles import PROFILES
from conformance.implementations.frameworks.registry import LANES, Lane

#: The project (a clone: its tox.ini names the lanes' environments).
ROOT = Path(__file__).resolve().parents[2]


def tox_environment() -> dict[str, str]:
    """This process's environment without what the enclosing tox run set for itself
    (``TOX_*`` would be read as options of the inner run; the enclosing virtualenv's
    ``bin`` would shadow each lane's own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOX_") and k != "VIRTUAL_ENV"}
    own_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != own_bin)
    return env


def _tox(args: list[str], log: Path | None) -> tuple[int, float, str]:
    """Run ``python -m tox <args>`` in the project: (exit status, seconds, output tail)."""
    command = [sys.executable, "-m", "tox", "-c", str(ROOT / "tox.ini"), *args]
    start = time.perf_counter()
    if log is None:
        print("+ " + " ".join(command[1:]), flush=True)
        completed = subprocess.run(command, env=tox_environment(), cwd=ROOT)
        tail = ""
    else:
        completed = subprocess.run(command, env=tox_environment(), cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        with log.open("a") as out:
            out.write(f"+ {' '.join(command[1:])}\n{completed.stdout}")
        tail = "\n".join(completed.stdout.strip().splitlines()[-5:])
    return completed.returncode, round(time.perf_counter() - start, 1), tail


def results_path(reports: Path, lane: Lane) -> Path:
    return reports / f"results-frameworks-{lane.name}.json"


def run_lane(lane: Lane, reports: Path, grade_args: list[str], quiet: bool) -> dict[str, Any]:
    """Create and grade one lane; its ``lane`` section (status, times, exit status)."""
    from conformance.grading.results import build_results, environment, read_results, write_results

    log = reports / "frameworks-logs" / f"{lane.name}.log" if quiet else None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.unlink(missing_ok=True)
    path = results_path(reports, lane)
    path.unlink(missing_ok=True)
    code, env_seconds, tail = _tox(["-e", lane.tox_env, "--notest"], log)
    if code != 0:
        section = {"name": lane.name, "description": lane.description, "tox_env": lane.tox_env,
                   "extra": lane.extra, "status": "not installable here", "reason": tail or
                   f"tox -e {lane.tox_env} --notest exited {code}", "env_seconds": env_seconds,
                   "grading_seconds": 0.0, "exit_code": 0, "ids": [], "versions": {}}
        data = build_results([], {}, environment())
        data["lanes"] = [section]
        write_results(data, path)
        print(f"frameworks: lane {lane.name}: not installable here", flush=True)
        return section
    code, seconds, tail = _tox(["-e", lane.tox_env, *(["--", *grade_args] if grade_args else [])], log)
    if not path.is_file():
        section = {"name": lane.name, "description": lane.description, "tox_env": lane.tox_env,
                   "extra": lane.extra, "status": "grading failed", "reason": tail, "ids": [], "versions": {},
                   "grading_seconds": 0.0}
        data = build_results([], {}, environment())
    else:
        data = read_results(path)
        section = (data.get("lanes") or [{}])[0]
        section.setdefault("name", lane.name)
    section.update(env_seconds=env_seconds, tox_seconds=seconds, exit_code=code)
    data["lanes"] = [section]
    write_results(data, path)
    print(f"frameworks: lane {lane.name}: {section.get('status')}; environment {env_seconds} s, "
          f"grading {section.get('grading_seconds')} s (tox run {seconds} s)", flush=True)
    return section


def combine(reports: Path, lanes: list[Lane], documents: Path | None) -> int:
    """Merge the lanes' results, render index.html and the scoreboard; 0 when both render."""
    from conformance.grading.results import merge_results, read_results, write_results

    files = [read_results(results_path(reports, lane)) for lane in lanes if results_path(reports, lane).is_file()]
    merged = merge_results(files)
    merged["lanes"] = [section for data in files for section in data.get("lanes", [])]
    combined = reports / "results-frameworks.json"
    write_results(merged, combined)
    print(f"frameworks: results {combined}", flush=True)
    inputs = [str(p) for p in (documents, combined) if p is not None and p.is_file()]
    code = subprocess.call([sys.executable, "-m", "conformance", "report", *inputs,
                            "-o", str(reports / "index.html")], cwd=ROOT)
    code |= subprocess.call([sys.executable, "-m", "conformance.reporting.framework_scoreboard", str(combined),
                             "-o", str(reports / "frameworks.html")], cwd=ROOT)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.commands.frameworks_lanes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lanes", help=f"comma-separated lanes (default: every non-optional lane of "
                        f"{', '.join(LANES)})")
    parser.add_argument("--with-optional", action="store_true", help="also the optional lanes (MindSpore)")
    parser.add_argument("-p", "--parallel", type=int, default=1,
                        help="lanes graded at once (default 1; with more, each lane's output goes to "
                        "reports/frameworks-logs/<lane>.log)")
    parser.add_argument("--profile", choices=list(PROFILES),
                        help="hypothesis profile for the entries graded in full")
    parser.add_argument("--reports", default="reports", help="reports folder (default reports)")
    parser.add_argument("--no-documents", action="store_true",
                        help="do not grade the document implementations when reports/results.json is absent")
    args = parser.parse_args(argv)

    names = args.lanes.split(",") if args.lanes else [n for n, lane in LANES.items()
                                                      if args.with_optional or not lane.optional]
    unknown = [n for n in names if n not in LANES]
    if unknown:
        parser.error(f"unknown lanes {unknown}; known: {', '.join(LANES)}")
    lanes = [LANES[n] for n in names]
    reports = Path(args.reports)
    reports.mkdir(parents=True, exist_ok=True)
    grade_args = ["--profile", args.profile] if args.profile else []
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        sections = list(pool.map(lambda lane: run_lane(lane, reports, grade_args, args.parallel > 1), lanes))

    documents = reports / "results.json"
    if not documents.is_file() and not args.no_documents:
        # Their verdicts go to the report; this command's status is the frameworks' own.
        subprocess.call([sys.executable, "-m", "conformance", "grade", "--all", "--check-expectations",
                         "--results", str(documents), "--no-html",
                         f"--junitxml={documents.with_suffix('.xml')}"], cwd=ROOT)
    if combine(reports, lanes, documents) != 0:
        print("frameworks: a report was not rendered (the JSON results are complete)", file=sys.stderr)
    print(f"frameworks: {len(lanes)} lanes in {time.perf_counter() - start:.0f} s", flush=True)
    for section in sections:
        print(f"  {section['name']:<11} {section.get('status', '?'):<34} environment "
              f"{section.get('env_seconds', 0):>6} s  grading {section.get('grading_seconds', 0):>6} s", flush=True)
    return max([int(section.get("exit_code") or 0) for section in sections] or [0])


if __name__ == "__main__":
    sys.exit(main())
