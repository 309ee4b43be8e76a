"""``python -m conformance adapt``: probe (in the sandbox), ask, write, tell, grade."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conformance.commands.adapt import construct
from conformance.commands.adapt.writer import (capabilities_code, missing_capabilities, render, shape_text,
                                               stacked_fields)
from conformance.commands.adapt.roles import Role


def probe_in_sandbox(spec: str, given: dict[str, str], own: list[str], timeout: float) -> dict[str, Any]:
    """Run the probe in a process of its own, in the sandbox the workers use."""
    from conformance.running.sandbox import Limits, Sandbox

    argv = [sys.executable, "-m", "conformance.commands.adapt.probe", spec]
    for name, value in given.items():
        argv += ["--arg", f"{name}={value}"]
    limits = Limits(check_seconds=timeout)
    sandbox = Sandbox.detect(limits)
    scratch = sandbox.scratch()
    command = sandbox.worker_command(argv, own=own, scratch=scratch)
    env = {**sandbox.worker_environment(scratch), "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, env=env, start_new_session=True)
    except subprocess.TimeoutExpired:
        return {"status": "error", "message": f"probing took longer than {timeout:.0f} s (--timeout)"}
    finally:
        if scratch is not None:
            scratch.remove()
    try:
        return json.loads(done.stdout.decode("utf-8", "replace"))
    except json.JSONDecodeError:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-8:]
        return {"status": "error", "message": f"the probing process ended with status {done.returncode} without "
                f"findings: " + "\n".join(tail)}


def probe(spec: str, given: dict[str, str], args: argparse.Namespace, own: list[str]) -> dict[str, Any]:
    if args.no_isolation:
        from conformance.commands.adapt.probe import findings

        return findings(spec, given)
    return probe_in_sandbox(spec, given, own, args.timeout)


def ask(missing: list[list[str]], class_name: str, given: dict[str, str]) -> None:
    """Ask for each missing constructor argument at the terminal."""
    for name, note in missing:
        if name.startswith("?"):
            size = name[1:].replace("_", " ")
            answer = input(f"Which argument of {class_name}'s constructor is the {size}? ({note}): ").strip()
            given[answer] = name[1:]
        else:
            hint = f" ({note})" if note else ""
            answer = input(f"{class_name}'s constructor needs {name}{hint}: input_size, hidden_size or a Python "
                           f"literal: ").strip()
            given[name] = construct.literal_text(answer)


def default_output(spec: str, class_name: str) -> Path:
    where = spec.rpartition(":")[0]
    if where.endswith(".py") or "/" in where:
        path = Path(where)
        return path.with_name(f"{path.stem}_adapter.py")
    return Path(f"{class_name.lower()}_adapter.py")


def summary(findings: dict[str, Any], out: Path, adapter_class: str, seconds: float) -> list[str]:
    lines = [f"adapt: {findings['class_name']} ({findings['spec'].rpartition(':')[0]}), probed in "
             f"{findings['probed_dtype']} in {seconds:.1f} s ({findings['probe']['calls']} calls)"]
    from conformance.commands.adapt.construct import Constructor

    built = Constructor.from_json(findings["constructor"]).configured(stacked_fields(findings))
    lines.append(f"  built as    {built.code(findings['class_name'])}")
    forms = findings["probe"]["forms"]
    chosen = f" (chosen by values among {len(forms)} that fit by shape)" if len(forms) > 1 else ""
    lines.append(f"  call form   {findings['form_text']}{chosen}")
    error = findings["error"]
    runner = findings.get("runner_up")
    if findings["exact"]:
        sure = f"exact: max error {error:.2g} in {findings['probed_dtype']} over 2 random cases"
        if runner:
            rival = f"{runner['error']:.2g}" if runner["error"] is not None else "a failure"
            sure += f"; the next best convention (reset {runner['reset']}, update {runner['update']}) errs by {rival}"
    else:
        sure = f"NOT exact: the closest fit errs by {error:.3g}" if error is not None else "NOT exact: it fails"
    lines.append(f"  convention  reset {findings['reset']}, update {findings['update']}: {sure}")
    for n, slot in enumerate(findings["slots"]):
        role = Role.from_json(slot["role"]) if slot["role"] else None
        what = slot["describe"] if role else "left as built (no GRU role fits)"
        lines.append(f"  {'layout' if n == 0 else '':<11} {slot['name']} {shape_text(slot['shape'], role)}: {what}")
    if findings["equivalents"]:
        lines.append(f"              ({findings['equivalents']} other mapping(s) fit as exactly and compute the same "
                     f"function: b_i and b_h of a gate act only summed)")
    stack = findings.get("stack") or {}
    verified = [what for what, on in (("several layers", stack.get("multi_layer")),
                                      ("both directions", stack.get("bidirectional"))) if on]
    if verified:
        lines.append(f"  layers      {' and '.join(verified)}: built with them and loaded layer by layer, exact "
                     f"(max error {stack['error']:.2g})")
    if stack.get("both_layouts"):
        lines.append("  layouts     batch-first and time-major: built with the other, exact")
    claims = f'reset="{findings["reset"]}", update="{findings["update"]}", {capabilities_code(findings)}'
    lines.append(f"  claims      {claims}")
    problems = unsure(findings)
    for note in findings["notes"]:
        lines.append(f"  note        {note}")
    if problems:
        lines.append("")
        lines.append("  COULD NOT DETERMINE (the adapter has a TODO for each):")
        lines += [f"    - {p}" for p in problems]
    lines.append(f"  wrote       {out}  ({adapter_class})")
    return lines


def unsure(findings: dict[str, Any]) -> list[str]:
    """What probing could not decide (each has a TODO in the adapter)."""
    return findings["undetermined"] + [
        f"{c['slot']} is named for gate {c['declared']} but acts as gate {c['acts_as']}: the adapter maps it by its "
        f"name (TODO in the file)" for c in findings.get("conflicts", [])]


#: What the written adapter must pass, in its worker, before adapt calls it certain.
CERTAIN_CHECKS = ("equations.step", "equations.sequence")


def grade(out: Path, adapter_class: str, args: argparse.Namespace, class_name: str) -> tuple[int, dict[str, Any]]:
    """Grade the written adapter as any other; the exit code and its results record."""
    results = Path(args.results) if args.results else Path("reports") / "adapt" / f"{class_name}.json"
    command = [sys.executable, "-m", "conformance", "grade", f"{out}:{adapter_class}", "--profile", args.profile,
               "--results", str(results), "--html", str(results.with_suffix(".html"))]
    print(f"grading: python {' '.join(command[1:])}", flush=True)
    code = subprocess.run(command).returncode
    try:
        record = json.loads(results.read_text())["implementations"][0]
    except (OSError, ValueError, KeyError, IndexError) as exc:
        record = {"load_error": f"grading wrote no results ({type(exc).__name__}: {exc})", "checks": {}}
    return code, record


def check_written(out: Path, adapter_class: str, timeout: float) -> dict[str, Any]:
    """Without grading: the written adapter loaded in a worker (the sandbox grading uses) and
    compared with the float64 oracle on a few cases of ``CERTAIN_CHECKS``."""
    from conformance.grading.engine import grade as grade_checks
    from conformance.grading.loading import AdapterLoadError, load_subject
    from conformance.running.sandbox import Limits, Sandbox

    try:
        subject = load_subject(f"{out}:{adapter_class}", isolation=Sandbox.detect(Limits(check_seconds=timeout)))
    except AdapterLoadError as exc:
        return {"load_error": str(exc), "checks": {}}
    try:
        outcomes = grade_checks(subject, CERTAIN_CHECKS, max_examples=3, deadline=None, shrink=False)
    finally:
        subject.close()
    return {"load_error": subject.load_error,
            "checks": {cid: {"status": o.status, "message": o.message} for cid, o in outcomes.items()}}


def sureness(findings: dict[str, Any], record: dict[str, Any]) -> tuple[bool, str]:
    """Certain only when probing decided everything by exact fits and the adapter written
    loads in its worker and matches the equations there."""
    if unsure(findings) or not findings["exact"]:
        return False, "NOT certain: the adapter has a TODO for what probing could not decide (above)"
    if record.get("load_error"):
        return False, (f"NOT certain: probing fitted exactly, but the adapter written does not load in its worker: "
                       f"{record['load_error'].splitlines()[0]}")
    checks = record.get("checks") or {}
    ran = {cid: checks[cid] for cid in CERTAIN_CHECKS if cid in checks and checks[cid]["status"] != "not_applicable"}
    failed = {cid: c for cid, c in ran.items() if c["status"] != "pass"}
    if failed:
        cid, c = next(iter(failed.items()))
        first = (c.get("message") or "").splitlines()[0] if c.get("message") else ""
        return False, (f"NOT certain: probing fitted exactly, but the adapter written {c['status']}s {cid} in its "
                       f"worker: {first[:300]} (a mistake of adapt's, or state probing did not see)")
    if not ran:
        return False, f"NOT certain: none of {', '.join(CERTAIN_CHECKS)} could run on the adapter written"
    passed = ", ".join(ran)
    return True, (f"certain: every tensor's role and the convention are decided by exact fits, and the adapter "
                  f"written loads in its worker and matches the equations there ({passed}: pass)")


def run(args: argparse.Namespace) -> int:
    from conformance.model.naming import NARROWING_MARK
    from conformance.grading.loading import AdapterLoadError, resolve

    start = time.perf_counter()
    try:
        if NARROWING_MARK in args.target:
            raise ValueError(f"{args.target!r}: narrowing the claims ({NARROWING_MARK}...) is for `grade`; adapt "
                             f"writes the claims it finds into the adapter, where you can change them")
        given = construct.parse_given(args.arg)
        target = resolve(args.target)
    except (ValueError, AdapterLoadError) as exc:
        print(f"adapt: {exc}", file=sys.stderr)
        return 2
    spec = target.spec
    while True:
        findings = probe(spec, given, args, list(target.seen))
        if findings.get("status") != "missing":
            break
        missing = findings["missing"]
        names = ", ".join(m[0].lstrip("?") if not m[0].startswith("?") else f"which argument is the {m[0][1:]}"
                          for m in missing)
        if args.no_input or not sys.stdin.isatty():
            print(f"adapt: cannot build {args.target}: its constructor needs {names}. Give them with --arg NAME=VALUE "
                  f"(VALUE: input_size, hidden_size or a Python literal), e.g. --arg {missing[0][0].lstrip('?')}=...",
                  file=sys.stderr)
            return 2
        ask(missing, args.target.rpartition(":")[2], given)
        print("adapt: next time: " + " ".join(f"--arg {k}={v}" for k, v in given.items()))
    if findings.get("status") != "ok":
        print(f"adapt: {findings.get('message', findings)}", file=sys.stderr)
        return 2
    out = Path(args.output) if args.output else default_output(args.target, findings["class_name"])
    text, adapter_class = render(findings, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print("\n".join(summary(findings, out, adapter_class, time.perf_counter() - start)), flush=True)
    lacking = missing_capabilities(findings)
    if lacking:
        print(f"adapt: not graded: the adapter claims {', '.join(lacking)}, which this version of the suite does "
              f"not have (Capabilities has no {', '.join(lacking)})", file=sys.stderr)
        return 1
    if args.no_grade:
        code, record = 0, check_written(out, adapter_class, args.timeout)
    else:
        code, record = grade(out, adapter_class, args, findings["class_name"])
    certain, text = sureness(findings, record)
    print(f"adapt: {text}")
    print(f"adapt: done in {time.perf_counter() - start:.1f} s")
    return 0 if certain and not code else 1
