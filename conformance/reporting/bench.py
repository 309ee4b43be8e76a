"""Benchmarks of GRU implementations against ``torch.nn.GRU``: paired ratios with their
uncertainty, peak memory, and how time and memory grow with T, B and H.

``python -m conformance.reporting.bench run`` (``tox -e bench``; ``tox -e bench-quick`` for the
inner loop) measures every registered implementation, or those named with
``--impl``, and always the control: ``torch-gru``, which is ``nn.GRU`` itself
reached through the same path as any implementation, so its ratio to ``nn.GRU``
must read 1.00. Each implementation runs the way grading runs it: in its own
worker process (sandboxed where the sandbox works), where the timing loop runs
too (``conformance.running.timing``): only the figures come back, so the process boundary
is outside every timed region.

For each configuration and mode (forward; forward+backward where autograd is
claimed) the implementation and ``nn.GRU`` with the same canonical parameters take
turns in rounds on the same inputs; the ratio is the median of the per-round ratios
with its 95% confidence interval (``conformance.base.bench_stats``); a ratio whose
interval holds 1 reads "no measurable difference". Peak memory per call is measured
next to ``nn.GRU``'s, a plain matmul of each size gives the efficiency. Growth: time
(forward, paired with ``nn.GRU``) and memory over a sweep of T, B and H from a base
configuration, with the fitted exponent per axis (``conformance.reporting.bench_plan`` says
what is measured, ``conformance.reporting.bench_measure`` measures it).

``python -m conformance.reporting.bench check FILE`` exits with status 3 when the control
missed: a control ratio more than 5% from 1.00, or an interval without 1.00, means
the run's figures cannot be trusted at that level on this machine now. Runs are
saved and compared with the previous one (``conformance.reporting.bench_history``).

The ``benchmarks`` section (top level of the results JSON, and
``reports/benchmarks.json``) is described in the README (schema
``gru-conformance-benchmarks/2``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from conformance.reporting.bench_measure import (Measurer, Run, failure_text, measure_boundary, measure_configs,
                                                 measure_growth, measure_matmuls, measurement_failures, median)
from conformance.reporting.bench_plan import CONFIG_FIELDS, MODES, PLANS, BenchConfig, Plan
from conformance.base.bench_stats import CONFIDENCE, median_interval
from conformance.grading.results import BENCHMARKS_SCHEMA as SCHEMA

REFERENCE = "torch.nn.GRU"
#: The implementation measured in every run: nn.GRU through an implementation's path.
CONTROL = "torch-gru"
#: How far the control's median may be from 1.00 (its interval must also hold 1.00).
CONTROL_TOLERANCE = 0.05
#: Exit status of ``check`` when the control missed.
CONTROL_MISSED = 3


# The control ------------------------------------------------------------------------------
def control_check(rows: list[dict[str, Any]], control: str = CONTROL,
                  tolerance: float = CONTROL_TOLERANCE) -> dict[str, Any]:
    """Whether every control row reads 1.00: its median within ``tolerance`` and its interval
    holding 1. The intervals are family-wise: with k rows each is taken at confidence
    1 - (1 - CONFIDENCE) / k (Bonferroni), so that a perfect control passes every row
    together with probability CONFIDENCE; at CONFIDENCE each, six rows would all hold 1
    only 74% of the time."""
    own = [row for row in rows if row.get("impl") == control]
    each = 1 - (1 - CONFIDENCE) / max(1, len(own))
    checked = []
    for row in own:
        samples = (row.get("samples") or {}).get("ratio")
        r = median_interval(samples, each).to_json() if samples else row["ratio"]
        ok = abs(r["median"] - 1.0) <= tolerance and r["low"] <= 1.0 <= r["high"]
        checked.append({"config": row["config"], "mode": row["mode"], "median": r["median"], "low": r["low"],
                        "high": r["high"], "ok": ok})
    return {"impl": control, "tolerance": tolerance, "confidence_each": each, "rows": checked,
            "ok": bool(checked) and all(c["ok"] for c in checked),
            "criterion": f"every row's median within {tolerance:.0%} of 1.00 and its interval holding 1.00, "
                         f"the intervals {CONFIDENCE:.0%} for all rows together ({each:.1%} each)"}


# The section ------------------------------------------------------------------------------
def reference_rows(rows: list[dict[str, Any]], configs: dict[str, BenchConfig],
                   matmul: dict[str, list[float]]) -> list[dict[str, Any]]:
    """nn.GRU's own time per configuration and mode, pooled over every implementation's
    rounds; then each row's efficiency against the matmul of the same size."""
    pooled: list[dict[str, Any]] = []
    matmul_gflops: dict[str, float] = {}
    for name, config in configs.items():
        if matmul.get(name):
            matmul_gflops[name] = config.describe()["matmul"]["flops"] / median(matmul[name]) / 1e9
        for mode in MODES:
            ref = [s for r in rows if r["config"] == name and r["mode"] == mode
                   for s in r["samples"]["reference_seconds"]]
            if not ref:
                continue
            seconds = median(ref)
            memory = next(r["reference_memory"] for r in rows if r["config"] == name and r["mode"] == mode)
            pooled.append({"impl": REFERENCE, "role": "reference", "config": name, "mode": mode,
                           "seconds": seconds, "gflops": config.flops(mode) / seconds / 1e9, "rounds": len(ref),
                           "memory": memory, "samples": {"seconds": ref}})
    for row in [*pooled, *rows]:
        peak = matmul_gflops.get(row["config"])
        row["efficiency"] = row["gflops"] / peak if peak else None
    return pooled


def environment(plan: Plan, isolation: dict[str, Any], load_before: tuple[float, ...], jobs: int = 1) -> dict[str, Any]:
    import numpy
    import torch

    return {
        "torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "machine": platform.machine(), "cpu": _cpu_name(),
        "cores": os.cpu_count(), "torch_threads": plan.threads, "jobs": jobs, "commit": _commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "load_average": {"start": list(load_before), "end": list(_load())}, "isolation": isolation,
    }


def _load() -> tuple[float, ...]:
    try:
        return tuple(round(v, 2) for v in os.getloadavg())
    except OSError:
        return ()


def _commit() -> str:
    import subprocess

    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              timeout=10, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def section(run: Run, environment_info: dict[str, Any]) -> dict[str, Any]:
    """The ``benchmarks`` section of the results JSON."""
    configs = run.plan.configs
    pooled = reference_rows(run.rows, configs, run.matmul)
    order = {name: i for i, name in enumerate(configs)}
    rows = sorted([*pooled, *run.rows], key=lambda r: (order.get(r["config"], len(order)), MODES.index(r["mode"]),
                                                        r.get("role") != "reference"))
    base = run.plan.growth_base
    return {
        "schema": SCHEMA, "reference": REFERENCE, "statistic": "median",
        "method": {**run.plan.describe(),
                   "interval": "order statistics of the per-round ratios (distribution-free)",
                   "memory": "peak bytes one call allocates beyond what existed before it: torch's allocator "
                             "(profiler memory events; CUDA: its peak statistics) plus Python and NumPy "
                             "(tracemalloc)"},
        "environment": {**environment_info, "worker_start_seconds": run.workers,
                        "seconds_per_implementation": run.seconds, "worker_cpu_seconds": run.cpu_seconds},
        "configs": {name: {**config.describe(), "matmul": _matmul_entry(config, run.matmul.get(name))}
                    for name, config in configs.items()},
        "results": rows,
        "control": control_check(run.rows),
        "growth": {"mode": "forward", "memory_modes": list(run.plan.growth_memory_modes),
                   "base": {k: getattr(base, k) for k in CONFIG_FIELDS},
                   "axes": {axis: list(values) for axis, values in run.plan.growth_axes.items()},
                   "implementations": run.growth, "reference": run.reference_growth},
        "boundary": run.boundary,
        "skipped": run.skipped,
    }


def _matmul_entry(config: BenchConfig, seconds: list[float] | None) -> dict[str, Any]:
    entry = dict(config.describe()["matmul"])
    if seconds:
        entry.update(seconds=median(seconds), gflops=entry["flops"] / median(seconds) / 1e9)
    return entry


def table(data: dict[str, Any]) -> str:
    """Plain-text table of a benchmarks section (printed by the command)."""
    lines = [f"{'config':<22} {'mode':<17} {'implementation':<24} {'time':>10} {'x nn.GRU [95% interval]':<34}"
             f" {'peak MB':>8}"]
    for r in data["results"]:
        if r.get("role") == "reference":
            ratio = "(reference)"
        else:
            q = r["ratio"]
            ratio = f"{q['median']:.3f} [{q['low']:.3f}, {q['high']:.3f}]"
            if r["verdict"] == "no measurable difference":
                ratio += " ~ same"
        memory = f"{r['memory']['total'] / 1e6:.2f}" if r.get("memory") else "-"
        lines.append(f"{r['config']:<22} {r['mode']:<17} {r['impl']:<24} {r['seconds'] * 1e3:>8.3f}ms "
                     f"{ratio:<34} {memory:>8}")
    return "\n".join(lines)


# The command ------------------------------------------------------------------------------
def open_subjects(names: list[str], threads: int, isolated: bool) -> tuple[list[Any], dict[str, Any]]:
    """The implementations, each with a worker of its own (in the sandbox when it works)."""
    from conformance.grading import loading
    from conformance.running.sandbox import IN_PROCESS, Limits, Sandbox

    if not isolated:
        return loading.load_subjects(names), IN_PROCESS
    # No CPU-time limit (RLIMIT_CPU): while one is set, Linux advances a process's CPU clock
    # only at scheduler ticks, milliseconds apart. The wall-time limit per request stays.
    sandbox = Sandbox.detect(Limits(cpu_seconds=0))
    others = loading.others_of(names)
    backends = {}
    for name in names:
        try:
            worker = loading.worker_for(loading.resolve(name), sandbox, others.get(name, ()))
        except loading.AdapterLoadError:
            continue
        worker.threads = threads
        backends[name] = worker
    described = sandbox.describe()
    described["summary"] = (f"{described.get('summary', '')}; for the benchmarks without the CPU-time limit, "
                            f"which would make the CPU clock advance only at scheduler ticks")
    return loading.load_subjects(names, isolation=sandbox, backends=backends), described


def measure_subject(run: Run, subject: Any, *, control: bool, growth: bool) -> None:
    """Everything the plan measures of one implementation, into ``run``; its worker is
    closed at the end. The control also measures the matmuls, the boundary and nn.GRU's
    own memory growth."""
    from conformance.running.subject import Subject

    if not isinstance(subject, Subject):
        run.skip(subject.id, "all", "-", f"could not be loaded: {subject.error}")
        return
    started = time.perf_counter()
    try:
        if subject.load_error:
            run.skip(subject.id, "all", "-", f"could not be loaded: {subject.load_error}")
            return
        run.workers[subject.id] = round(time.perf_counter() - started, 3)
        measurer = Measurer(subject, run.plan)
        measure_configs(run, measurer)
        if control:
            measure_matmuls(run, measurer)
            try:
                run.boundary = measure_boundary(measurer, next(iter(run.plan.configs)), run.plan.boundary_pairs)
            except measurement_failures() as exc:
                run.skip(subject.id, "boundary", "forward", failure_text(exc))
        if growth:
            measure_growth(run, measurer, with_reference_memory=control)
        cpu = measurer.cpu_seconds()
        if cpu is not None:
            run.cpu_seconds[subject.id] = round(cpu, 1)
    finally:
        subject.close()
    run.seconds[subject.id] = round(time.perf_counter() - started, 1)
    print(f"  {subject.id}: {run.seconds[subject.id]} s ({run.cpu_seconds.get(subject.id, '?')} s of CPU in its "
          f"worker)", flush=True)


def run_plan(plan: Plan, names: list[str], *, isolated: bool = True, growth: bool = True,
             jobs: int = 1) -> dict[str, Any]:
    """Measure ``names`` (and the control) with ``plan``, ``jobs`` implementations at a time
    (each in its own worker; the rounds pair every implementation with nn.GRU in its own
    process, so a neighbour slows both alike); the benchmarks section."""
    load_before = _load()
    names = [CONTROL, *[n for n in names if n != CONTROL]]
    subjects, isolation = open_subjects(names, plan.threads, isolated)
    runs = [Run(plan) for _ in subjects]

    def measure(index: int) -> None:
        measure_subject(runs[index], subjects[index], control=subjects[index].id == CONTROL, growth=growth)

    if jobs > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(measure, range(len(subjects))))
    else:
        for index in range(len(subjects)):
            measure(index)
    return section(Run.merged(plan, runs), environment(plan, isolation, load_before, jobs))


def attach(data: dict[str, Any], results: Path, html: Path) -> str:
    """Add the section to ``results`` and re-render the report; without graded results,
    the report shows the benchmarks alone (grading later writes its own)."""
    from conformance.reporting.merging import render
    from conformance.grading.results import read_document, write_results

    if results.is_file():
        graded = read_document(results)
        graded.benchmarks = data
        write_results(graded, results)
        page = render(graded, html)
        return f"attached to {results}" + (f"; report: {page}" if page else "")
    from conformance.checks import load_all
    from conformance.grading.results import environment as results_environment
    from conformance.grading.results import results_document

    alone = results_document([], load_all(), results_environment())
    alone.benchmarks = data
    page = render(alone, html)
    return (f"no {results} yet: report {page} shows the benchmarks alone; after grading, "
            f"python -m conformance report {results} --benchmarks <benchmarks JSON> adds them")


def main(argv: list[str] | None = None) -> int:
    from conformance.reporting import bench_history

    parser = argparse.ArgumentParser(prog="python -m conformance.reporting.bench",
                                     description="Benchmarks against nn.GRU: paired ratios, memory, growth.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="measure implementations (default: every registered one)")
    run_cmd.add_argument("--impl", action="append", default=[], help="registry id, module:Class or file.py:Class")
    run_cmd.add_argument("--quick", action="store_true", help="one configuration, a smaller sweep, fewer rounds")
    run_cmd.add_argument("--no-growth", action="store_true", help="leave out the growth sweeps")
    run_cmd.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                         help="cpu: the worker's CPU time (default); wall: elapsed time")
    run_cmd.add_argument("--no-isolation", action="store_true", help="run implementations in this process")
    run_cmd.add_argument("--jobs", type=int, default=1, metavar="N",
                         help="implementations measured at a time, each in its own worker (default 1)")
    run_cmd.add_argument("-o", "--output", default="reports/benchmarks.json", help="benchmarks JSON to write")
    run_cmd.add_argument("--results", default="reports/results.json",
                         help="results JSON to attach the section to, if it exists (then the HTML is re-rendered)")
    run_cmd.add_argument("--html", default="reports/index.html", help="HTML report path")
    bench_history.add_options(run_cmd)
    bench_history.add_compare_command(commands)
    check_cmd = commands.add_parser("check", help="exit 3 unless the control of a run read 1.00 "
                                                  f"(within {CONTROL_TOLERANCE:.0%}%, its interval holding 1.00)")
    check_cmd.add_argument("benchmarks", help="benchmarks JSON written by run")
    args = parser.parse_args(argv)
    if args.command == "compare":
        return bench_history.compare_command(args)
    if args.command == "check":
        try:
            return control_status(bench_history.load(args.benchmarks)[1])
        except ValueError as exc:
            print(f"bench check: {exc}", file=sys.stderr)
            return 2

    from conformance.grading.loading import registry

    threads = int(os.environ.get("GRU_BENCH_THREADS", "1"))
    plan = replace(PLANS["quick" if args.quick else "full"], clock=args.clock, threads=threads)
    import torch

    torch.set_num_threads(threads)
    names = args.impl or [e.id for e in registry()]
    started = time.perf_counter()
    data = run_plan(plan, names, isolated=not args.no_isolation, growth=not args.no_growth,
                    jobs=1 if args.no_isolation else max(1, args.jobs))
    data["environment"]["run_seconds"] = round(time.perf_counter() - started, 1)
    print(bench_history.compare_and_save(data, args))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(table(data))
    print(f"benchmarks: {out} ({data['environment']['run_seconds']} s)")
    print(attach(data, Path(args.results), Path(args.html)))
    control_status(data)  # said here; "check" gives it as the exit status
    return 0


def control_status(data: dict[str, Any]) -> int:
    """0 when the control held; CONTROL_MISSED (with the reason on stderr) when not."""
    control = data.get("control") or {}
    if control.get("ok"):
        shown = ", ".join(f"{c['config']} {c['mode']} {c['median']:.3f} [{c['low']:.3f}, {c['high']:.3f}]"
                          for c in control["rows"])
        print(f"control ({control['impl']} against nn.GRU) held: {shown}")
        return 0
    missed = [c for c in control.get("rows", []) if not c["ok"]]
    why = ("the control was not measured" if not control.get("rows") else
           "; ".join(f"{c['config']} {c['mode']}: got {c['median']:.3f} [{c['low']:.3f}, {c['high']:.3f}]"
                     for c in missed))
    print(f"bench: the control missed ({why}), but should read 1.00 ({control.get('criterion', '')}): "
          f"this run's ratios cannot be trusted at that level; the machine is too busy or too noisy now",
          file=sys.stderr)
    return CONTROL_MISSED


if __name__ == "__main__":
    raise SystemExit(main())
