"""Saved benchmark runs, and the change from one run to another with its uncertainty.

Every ``python -m conformance.reporting.bench run`` saves its section in ``.benchmarks/gru/``
(``NNNN_<commit>_<date>.json``, numbered like pytest-benchmark's storage) and,
before saving, compares itself with the latest saved run: the comparison goes into
the section (``comparison``) and so into the report. ``python -m conformance.reporting.bench
compare OLD NEW`` compares any two runs (files, or run numbers in the storage).

What is compared, row by row (implementation, configuration, mode):

* an implementation's ratio to ``nn.GRU``: the median of the new run's per-round
  ratios over the old run's, with a bootstrap interval (``bench_stats.change_interval``).
  Each run's ratios are measured against ``nn.GRU`` in the same rounds, so the
  machine's speed at the time cancels out; ``nn.GRU`` itself must be the same
  (the comparison names a torch version that differs);
* ``nn.GRU``'s own time, in seconds: it moves with the machine's load and with torch;
* peak memory (deterministic: the two byte counts).

A change whose interval holds 1 reads "no measurable change".
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
from pathlib import Path
from typing import Any

from conformance.base.bench_stats import Interval, change_interval
from conformance.grading.results import BENCHMARKS_SCHEMA

#: Where runs are saved (pytest-benchmark keeps its own in .benchmarks/ too).
STORAGE = Path(".benchmarks") / "gru"
_NUMBERED = re.compile(r"^(\d{4})_")


def saved_runs(storage: Path = STORAGE) -> list[Path]:
    """Saved runs, oldest first."""
    if not storage.is_dir():
        return []
    return sorted((p for p in storage.glob("*.json") if _NUMBERED.match(p.name)), key=lambda p: p.name)


def save(data: dict[str, Any], storage: Path = STORAGE) -> Path:
    """Save ``data`` as the next numbered run."""
    runs = saved_runs(storage)
    number = int(_NUMBERED.match(runs[-1].name).group(1)) + 1 if runs else 1  # type: ignore[union-attr]
    env = data.get("environment") or {}
    commit = re.sub(r"[^A-Za-z0-9.-]+", "-", str(env.get("commit") or "uncommitted"))[:40]
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    storage.mkdir(parents=True, exist_ok=True)
    path = storage / f"{number:04d}_{commit}_{stamp}.json"
    saved = {k: v for k, v in data.items() if k != "comparison"}
    path.write_text(json.dumps(saved, indent=1) + "\n")
    return path


def load(reference: str, storage: Path = STORAGE) -> tuple[str, dict[str, Any]]:
    """A run by file path, by number in ``storage`` ("3" or "0003") or "latest": its name and section."""
    path = Path(reference)
    if not path.is_file():
        runs = saved_runs(storage)
        if reference == "latest":
            matches = runs[-1:]
        else:
            matches = [p for p in runs if reference.isdigit() and p.name.startswith(f"{int(reference):04d}_")]
        if not matches:
            raise ValueError(f"no saved benchmark run {reference!r} in {storage} "
                             f"({len(runs)} saved: python -m conformance.reporting.bench run saves one per run)")
        path = matches[0]
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != BENCHMARKS_SCHEMA:
        raise ValueError(f"{path}: not a benchmarks run of schema {BENCHMARKS_SCHEMA!r}")
    return path.stem, data


def change_verdict(change: Interval) -> str:
    if change.contains(1.0):
        return "no measurable change"
    return "slower" if change.low > 1.0 else "faster"


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (str(row.get("impl")), str(row.get("config")), str(row.get("mode")))


def _samples(row: dict[str, Any]) -> tuple[str, list[float]]:
    """What a row's change is measured on: the ratio's rounds, or nn.GRU's own seconds."""
    samples = row.get("samples") or {}
    if row.get("role") == "reference":
        return "seconds", list(samples.get("seconds") or [])
    return "ratio", list(samples.get("ratio") or [])


def comparison(old_name: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Every row of ``new`` that ``old`` has too, with its change."""
    before = {_key(r): r for r in old.get("results") or [] if isinstance(r, dict)}
    changes = []
    for row in new.get("results") or []:
        earlier = before.get(_key(row))
        if earlier is None:
            continue
        what, now = _samples(row)
        _, then = _samples(earlier)
        entry: dict[str, Any] = {"impl": row["impl"], "config": row["config"], "mode": row["mode"], "what": what}
        if now and then:
            change = change_interval(then, now)
            entry.update(change=change.to_json(), verdict=change_verdict(change))
        old_memory, new_memory = (earlier.get("memory") or {}).get("total"), (row.get("memory") or {}).get("total")
        if old_memory is not None and new_memory is not None:
            entry["memory"] = {"old": old_memory, "new": new_memory}
        changes.append(entry)
    env_old, env_new = old.get("environment") or {}, new.get("environment") or {}
    differences = [f"{key} {env_old.get(key)} -> {env_new.get(key)}" for key in ("torch", "cpu", "torch_threads",
                                                                                  "platform")
                   if env_old.get(key) != env_new.get(key)]
    method_old, method_new = old.get("method") or {}, new.get("method") or {}
    differences += [f"{key} {method_old.get(key)} -> {method_new.get(key)}" for key in ("clock", "plan")
                    if method_old.get(key) != method_new.get(key)]
    return {"against": {"run": old_name, "date": env_old.get("date", ""), "commit": env_old.get("commit", ""),
                        "torch": env_old.get("torch", "")},
            "differences": differences, "changes": changes}


def table(compared: dict[str, Any]) -> str:
    lines = [f"compared with run {compared['against']['run']} ({compared['against'].get('commit') or 'no commit'}, "
             f"{compared['against'].get('date', '')})"]
    lines += [f"  differs: {d}" for d in compared["differences"]]
    for c in compared["changes"]:
        if "change" not in c:
            continue
        q = c["change"]
        what = "nn.GRU seconds" if c["what"] == "seconds" else "ratio"
        lines.append(f"  {c['config']:<22} {c['mode']:<17} {c['impl']:<24} {what:<15} x{q['median']:.3f} "
                     f"[{q['low']:.3f}, {q['high']:.3f}] {c['verdict']}")
    return "\n".join(lines)


# Command-line ------------------------------------------------------------------------------
def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", default=str(STORAGE), help="folder of saved runs (default: %(default)s)")
    parser.add_argument("--no-save", action="store_true", help="do not save this run")
    parser.add_argument("--compare", default="latest", metavar="RUN",
                        help="saved run to compare with: a number, a file or 'latest' (default); 'none' for no "
                             "comparison")


def add_compare_command(commands: Any) -> None:
    compare = commands.add_parser("compare", help="compare two saved runs (numbers in the storage, or files)")
    compare.add_argument("old", help="the earlier run: a number, a file or 'latest'")
    compare.add_argument("new", help="the later run: a number or a file")
    compare.add_argument("--storage", default=str(STORAGE), help="folder of saved runs (default: %(default)s)")
    compare.add_argument("-o", "--output", help="write the later run with the comparison to this file")


def compare_command(args: argparse.Namespace) -> int:
    storage = Path(args.storage)
    try:
        old_name, old = load(args.old, storage)
        _, new = load(args.new, storage)
    except ValueError as exc:
        print(f"bench compare: {exc}")
        return 2
    compared = comparison(old_name, old, new)
    print(table(compared))
    if args.output:
        Path(args.output).write_text(json.dumps({**new, "comparison": compared}, indent=1) + "\n")
    return 0


def compare_and_save(data: dict[str, Any], args: argparse.Namespace) -> str:
    """Compare ``data`` with the run ``--compare`` names (into ``data``), then save it
    unless ``--no-save``; what was done, to print."""
    storage = Path(args.storage)
    said = []
    if args.compare != "none":
        try:
            old_name, old = load(args.compare, storage)
        except ValueError as exc:
            said.append(f"no comparison: {exc}")
        else:
            data["comparison"] = comparison(old_name, old, data)
            said.append(table(data["comparison"]))
    if not args.no_save:
        said.append(f"saved as {save(data, storage)}")
    return "\n".join(said)
