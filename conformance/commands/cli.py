"""Command line: ``python -m conformance grade ...`` and ``python -m conformance report ...``.

``grade`` runs the checks under pytest (so ``-n``, ``-k``, ``--junitxml`` and every
other pytest option work) and then renders the HTML report from the JSON results;
``report`` re-renders or merges saved JSON results without grading anything.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import conformance.checks as checks_package
from conformance.base.profiles import PROFILES
from conformance.running.sandbox import Limits

#: pytest's configuration for every grading run (``grade_command``), shipped with the package.
GRADING_CONFIG = Path(__file__).with_name("grading.ini")


def grade_command(args: argparse.Namespace, extra: list[str]) -> int:
    import pytest

    if not args.names and not args.all:
        print("grade: name at least one implementation (registry id, module:Class or "
              "path/to/file.py:Class), or --all for every registered one", file=sys.stderr)
        return 2
    results = Path(args.results)
    checks_dir = Path(checks_package.__file__).parent
    argv = [str(checks_dir), "-p", "conformance.commands.grading_plugin",
            # The grading run's own configuration, wherever it runs: pytest would otherwise take
            # the first pytest configuration above the installed suite, which is a user's own when
            # their environment is inside their project (.venv), and a user's
            # ``filterwarnings = ["error"]`` turns a warning-level finding into a failure.
            "-c", str(GRADING_CONFIG), "--rootdir", str(checks_dir.parent.parent),
            "-p", "no:cacheprovider", "--results", str(results),
            "--junitxml", str(results.with_name("junit.xml")), "-q",
            # The checks have no bare asserts, so assertion rewriting (of them and of
            # every module of hypothesis, a pytest plugin) only slows each start; so does
            # the unraisable-exception plugin's final gc.collect() of torch's heap.
            "--assert=plain", "-p", "no:unraisableexception"]
    from conformance.commands.claim_options import narrow_names, narrowing_from_arguments
    from conformance.grading.loading import adapter_names

    try:
        names = narrow_names(list(args.names), narrowing_from_arguments(args), adapter_names())
    except ValueError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    graded = names  # what this grade covers: with --all, every registered implementation too
    if args.all:
        from conformance.grading.loading import registry

        registered = [e.id for e in registry()]
        graded = registered + [n for n in names if n not in registered]
        if names:  # named ones beside the registry: each passed on (none named: the plugin takes the registry)
            names = graded
    for name in names:
        argv += ["--impl", name]
    if args.profile:
        argv += ["--hypothesis-profile", args.profile]
    if args.known_failures:
        argv += ["--known-failures", args.known_failures]
    if args.check_expectations:
        argv.append("--check-expectations")
    if args.keyword:
        argv += ["-k", args.keyword]
    workers = args.numprocesses or default_workers(graded, isolated=not args.no_isolation)
    if workers:
        # loadgroup keeps one implementation's checks in one worker, in order, so a
        # check knows whether its dependencies failed (blocked) when it starts.
        argv += ["-n", workers, "--dist", args.dist or "loadgroup"]
    if args.threads < 0:
        print(f"grade: --threads must be 0 or more, got {args.threads}", file=sys.stderr)
        return 2
    if args.no_isolation:
        argv.append("--no-isolation")
        print("grade: --no-isolation: implementations run inside this process (debugging only: a crash "
              "ends grading, and an implementation could change its own verdict)", file=sys.stderr)
    if args.check_timeout is not None:
        argv += ["--check-timeout", str(args.check_timeout)]
    if args.memory_mb is not None:
        argv += ["--memory-mb", str(args.memory_mb)]
    if args.scratch_mb is not None:
        argv += ["--scratch-mb", str(args.scratch_mb)]
    if args.time_limit is not None:
        argv += ["--time-limit", str(args.time_limit)]
    for path in args.hide:
        argv += ["--hide", path]
    # Generated cases are tiny: threads buy nothing there, and on a machine whose cores
    # are busy an OpenMP pool waits for them. The plugin sets torch's thread count here
    # once torch is imported, and in every worker; the environment carries it to xdist.
    argv += ["--threads", str(args.threads)]
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    # Nor a user's PYTEST_ADDOPTS (set for their own test suite, say -x): grade passes pytest
    # options itself (unknown options go to pytest).
    addopts = os.environ.pop("PYTEST_ADDOPTS", None)
    try:
        plugins = [] if args.no_html or args.no_isolation else [RendererWarmUp()]
        code = int(pytest.main(argv + extra, plugins=plugins))
    finally:
        if addopts is not None:
            os.environ["PYTEST_ADDOPTS"] = addopts
    from conformance.reporting.merging import render
    from conformance.grading.results import read_document

    if results.is_file() and not args.no_html:
        html = render(read_document(results), Path(args.html))
        if html is not None:
            print(f"report: {html}")
    return code


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the system says)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers(names: list[str], *, isolated: bool) -> str | None:
    """Grading processes (pytest-xdist ``-n``) when none are asked for: with several
    implementations graded in isolation, one per core, at most one per implementation. A
    grading process and its implementation's worker take turns (each waits while the other
    computes), so one pair keeps about one core busy, and a second pair fills the time the
    first leaves (``grade --all``: 46 s against 66 s on 2 cores). In-process grading
    (``--no-isolation``) stays in one process, for a debugger."""
    workers = min(usable_cores(), len(names))
    return str(workers) if isolated and workers >= 2 else None


class RendererWarmUp:
    """Imports the report's renderer (matplotlib, Jinja2: about a second) on a thread once the
    checks start. The grading process mostly waits for the implementations' workers then, so
    the import costs no wall time, and the report is rendered at once when grading ends."""

    def pytest_collection_finish(self, session: object) -> None:
        import threading

        threading.Thread(target=_import_renderer, name="gru-conformance-renderer-import", daemon=True).start()


def _import_renderer() -> None:
    try:
        import conformance.reporting.merging  # noqa: F401
        import conformance.reporting.plots  # noqa: F401
    except Exception:  # noqa: BLE001 - rendering imports it again and reports what fails
        pass


def report(args: argparse.Namespace) -> int:
    from conformance.reporting.merging import MergeError, merge

    # Files, folders of results files and glob patterns: this is also the merge
    # step of a fleet (``grade-folder``) run on one or many machines.
    try:
        _, html = merge(args.results, json_out=args.json, html=Path(args.output), benchmarks=args.benchmarks)
    except (MergeError, OSError, ValueError) as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    if html is None:
        print("report: the HTML renderer is not available", file=sys.stderr)
        return 1
    print(f"report: {html}")
    return 0


def badge(args: argparse.Namespace, extra: list[str], parser: argparse.ArgumentParser) -> int:
    from conformance.reporting.badge import write_badge

    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        path = write_badge(args.results, args.output, impl=args.impl, label=args.label)
    except (OSError, ValueError, KeyError) as exc:
        print(f"badge: {exc}", file=sys.stderr)
        return 2
    print(f"badge: {path}")
    return 0


def checks_table() -> str:
    """The catalogue as a Markdown table (the README embeds it; a self-test keeps it current)."""
    from conformance.cases.catalogue import FAMILIES, ordered_ids
    from conformance.checks import load_all

    catalogue = load_all()
    lines = ["| check | statement | reference | needs |", "|---|---|---|---|"]
    family = None
    for check_id in ordered_ids():
        meta = catalogue[check_id]
        if meta.family != family:
            family = meta.family
            lines.append(f"| **{family}** | {FAMILIES[family]} | | |")
        cells = [f"`{check_id}`", meta.statement, meta.reference, ", ".join(meta.requires) or "-"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """``python -m conformance``'s parser: one subcommand each (the README names them)."""
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="grade implementations and write JSON, JUnit XML and HTML",
                       description="Unknown options are passed to pytest (e.g. -n 2, -k equations).")
    g.add_argument("names", nargs="*", help="registry id, entry-point name, module:Class or path/to/file.py:Class")
    g.add_argument("--all", action="store_true", help="grade every registered implementation (and any named)")
    g.add_argument("--profile", choices=list(PROFILES), help="hypothesis profile (default: grade)")
    g.add_argument("--results", default="reports/results.json", help="JSON results path")
    g.add_argument("--html", default="reports/index.html", help="HTML report path")
    g.add_argument("--no-html", action="store_true", help="write JSON and JUnit XML only")
    g.add_argument("--known-failures", help="file of '<impl id>::<check id>  # reason' lines")
    # Declared rather than passed through: an unknown option's value would be read as a name.
    g.add_argument("-n", "--numprocesses", metavar="N",
                   help="grading processes (pytest-xdist workers: a number or auto; 0 for one). Default: one "
                   "per core when several implementations are graded, at most one per implementation")
    g.add_argument("--dist", help="pytest-xdist distribution with -n (default loadgroup: one "
                   "implementation's checks in one worker)")
    g.add_argument("-k", dest="keyword", metavar="EXPR", help="pytest -k: only checks matching EXPR")
    g.add_argument("--threads", type=int, default=1,
                   help="torch threads while grading (default 1; 0 keeps torch's own choice)")
    g.add_argument("--check-expectations", action="store_true",
                   help="exit 0 when results match the registry's expected failures")
    g.add_argument("--no-isolation", action="store_true",
                   help="run implementations inside the grading process, e.g. to use a debugger (by "
                   "default each runs in a sandboxed worker process of its own)")
    g.add_argument("--check-timeout", type=float, metavar="SECONDS",
                   help="wall time one check may take before the implementation's worker is stopped "
                   f"and the check is an error (default {Limits().check_seconds:g})")
    g.add_argument("--memory-mb", type=int, metavar="MB",
                   help=f"memory limit (RLIMIT_DATA) of each worker process in MB (default {Limits().memory_mb}; 0 for none)")
    g.add_argument("--scratch-mb", type=int, metavar="MB",
                   help="scratch space of each worker in MB: /tmp and /dev/shm, each, in the sandbox; its private "
                   f"temporary folder without it (default {Limits().scratch_mb}; 0 for none)")
    g.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="wall time all of one implementation's checks may take: past it the check in progress is "
                   "stopped and the rest are not run, each an error (default: none)")
    g.add_argument("--hide", action="append", default=[], metavar="PATH",
                   help="a path the implementations' workers must not see (repeatable)")
    from conformance.commands import adapt, claim_options

    claim_options.add_narrowing_arguments(g)

    a = sub.add_parser("adapt", help="probe a GRU that keeps its parameters in its own layout, write an adapter "
                       "for it and grade it", description=adapt.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    adapt.add_arguments(a)

    r = sub.add_parser("report", help="render (and merge) saved JSON results into one HTML report")
    r.add_argument("results", nargs="+", help="results.json files, folders of them, or glob patterns")
    r.add_argument("-o", "--output", default="reports/index.html", help="HTML path")
    r.add_argument("--json", help="also write the merged JSON here")
    r.add_argument("--benchmarks", help="benchmarks JSON (tox -e bench) to show in the report")

    from conformance.commands import grade_folder

    f = sub.add_parser("grade-folder", help="grade many implementations, each in its own process with "
                       "time and memory limits, then merge one scoreboard",
                       description=grade_folder.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    grade_folder.add_arguments(f)

    sub.add_parser("checks", help="list the checks (id, statement, reference) as a Markdown table")

    b = sub.add_parser("badge", help="write a status badge (SVG) from a results file")
    b.add_argument("results", help="a results.json written by grade")
    b.add_argument("-o", "--output", default="reports/badge.svg", help="SVG path (default reports/badge.svg)")
    b.add_argument("--impl", help="the badge of this implementation id (default: all of them)")
    b.add_argument("--label", default="GRU conformance", help="the badge's left-hand text")
    return parser


def subcommands() -> list[str]:
    """The names ``python -m conformance`` takes."""
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return list(actions[0].choices)


def main(argv: list[str] | None = None) -> int:
    from conformance.commands import adapt, grade_folder

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "checks":
        print(checks_table())
        return 0
    if args.command == "badge":
        return badge(args, extra, parser)
    if args.command == "grade":
        return grade_command(args, extra)
    if args.command == "adapt":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return adapt.run(args)
    if args.command == "grade-folder":
        return grade_folder.run(args, extra)  # unknown options go to each grading process's pytest
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return report(args)
