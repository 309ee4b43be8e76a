"""The cross-framework scoreboard: one self-contained page, frameworks as rows, the
conventions they claim and the check families as columns, rendered from the
results JSON that ``tox -e frameworks`` writes (``reports/results-frameworks.json``).

    python -m conformance.reporting.framework_scoreboard reports/results-frameworks.json -o reports/frameworks.html

Like the HTML report, the JSON is the only input (rendering a saved file gives the
same page byte for byte), the template escapes everything that came from an adapter,
and a Content-Security-Policy lets the page load nothing and run no script.

Each convention cell shows what the implementation claims (reset placement, layouts,
directions, layers, initial state, lengths, dtypes) coloured by the checks that test
that claim; each family cell shows checks passed / applicable, coloured by the worst
status. The ``lanes`` section of the JSON (written by ``conformance.implementations.frameworks``)
adds each lane's status, package versions and times; a lane that could not be
installed is listed as such, with no rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import jinja2

from conformance.cases.catalogue import FAMILIES
from conformance.base.conventions import VERDICTS

#: Status rank, worst first: a cell takes the worst status of its checks.
_RANK = ["error", "fail", "blocked", "xfail", "xpass", "warn", "pass", "not_applicable"]
_CSS = {"error": "error", "fail": "fail", "blocked": "blocked", "xfail": "fail", "xpass": "warn",
        "warn": "warn", "pass": "pass", "not_applicable": "na", None: "missing"}

#: Claim column -> (what the claim is read from, the checks that test it).
CLAIM_COLUMNS: list[tuple[str, str, tuple[str, ...]]] = [
    ("equations", "the variant claimed: reset applied after (PyTorch) or before the recurrent matmul",
     ("equations.step", "equations.sequence", "equations.torch-reference")),
    ("layout", "input layouts claimed: time-major (T, B, I), batch-first (B, T, I), unbatched (T, I)",
     ("contract.output-shape", "contract.unbatched")),
    ("directions", "bidirectional claimed (cells: unrolled by the suite)",
     ("directions.forward-final-state", "directions.backward-final-state", "directions.reverse-is-flipped-forward")),
    ("layers", "stacked layers claimed (cells: unrolled by the suite)", ("equations.sequence",)),
    ("h0", "an initial state is taken", ("sequence.zero-h0", "sequence.stepwise", "sequence.split-resume")),
    ("lengths", "variable-length batches claimed", ("varlen.padding-zero", "varlen.final-state", "varlen.reverse-start")),
    ("dtypes", "dtypes claimed, each graded against the float64 oracle with its own tolerance",
     ("precision.float64", "precision.float32", "precision.float16", "precision.bfloat16", "contract.dtype")),
]


def _verdict_css(verdict: str) -> str:
    kind = VERDICTS[verdict].kind if verdict in VERDICTS else "fail"
    return {"consistent": "warn"}.get(kind, kind)


def _worst(statuses: list[str]) -> str | None:
    ranked = [s for s in statuses if s in _RANK]
    return min(ranked, key=_RANK.index) if ranked else None


def _cell(text: str, checks: dict[str, Any], ids: tuple[str, ...]) -> dict[str, Any]:
    graded = {cid: checks[cid]["status"] for cid in ids if cid in checks}
    worst = _worst([s for s in graded.values() if s != "not_applicable"]) or _worst(list(graded.values()))
    title = "; ".join(f"{cid}: {status}" for cid, status in graded.items()) or "not graded in this run"
    return {"text": text, "css": _CSS.get(worst, "missing"), "title": title}


def _claims(impl: dict[str, Any]) -> dict[str, str]:
    adapter = impl.get("adapter") or {}
    caps = adapter.get("capabilities") or {}
    cell = adapter.get("kind") == "cell"
    layouts = [name for name, key in (("time-major", "time_major"), ("batch-first", "batch_first"),
                                      ("unbatched", "unbatched")) if caps.get(key)]
    return {
        "equations": {"after": "reset after", "before": "reset before"}.get(adapter.get("reset", ""), "?"),
        "layout": ", ".join(layouts) or "-",
        "directions": "suite" if cell else ("both" if caps.get("bidirectional") else "forward"),
        "layers": "suite" if cell else ("stacked" if caps.get("multi_layer") else "one"),
        "h0": "yes" if caps.get("h0") else "no",
        "lengths": "yes" if caps.get("lengths") else "no",
        "dtypes": ", ".join(d.replace("float", "f").replace("bf16", "bf16") for d in caps.get("dtypes", [])) or "-",
    }


def _family(checks: dict[str, Any], catalogue: dict[str, Any], family: str) -> dict[str, Any]:
    ids = [cid for cid, meta in catalogue.items() if meta.get("family") == family]
    graded = {cid: checks[cid]["status"] for cid in ids if cid in checks}
    applicable = {cid: s for cid, s in graded.items() if s not in ("not_applicable", "warn")}
    passed = [cid for cid, s in applicable.items() if s in ("pass", "xpass")]
    if not graded:
        return {"text": "not run", "css": "missing", "title": "no check of this family was run"}
    if not applicable:
        warned = [cid for cid, s in graded.items() if s == "warn"]
        return {"text": "warn" if warned else "n/a", "css": "warn" if warned else "na",
                "title": "; ".join(f"{cid}: {s}" for cid, s in graded.items())}
    worst = _worst(list(applicable.values()) + [s for s in graded.values() if s == "warn"])
    not_run = len(ids) - len(graded)
    return {"text": f"{len(passed)}/{len(applicable)}" + (f" (+{not_run} not run)" if not_run else ""),
            "css": _CSS.get(worst, "missing"),
            "title": "; ".join(f"{cid}: {s}" for cid, s in graded.items())}


def _findings(impl: dict[str, Any]) -> list[dict[str, str]]:
    found = []
    for cid, outcome in impl.get("checks", {}).items():
        if outcome["status"] in ("fail", "error", "xfail", "xpass"):
            message = (outcome.get("message") or "").strip().splitlines()
            found.append({"check": cid, "status": outcome["status"], "message": message[0] if message else ""})
    return found


def scoreboard_view(data: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, computed from the results JSON alone."""
    catalogue = data.get("checks", {})
    families = [f for f in FAMILIES if any(meta.get("family") == f for meta in catalogue.values())]
    lanes = data.get("lanes") or []
    lane_of = {impl_id: lane["name"] for lane in lanes for impl_id in lane.get("ids", [])}
    rows = []
    for impl in data.get("implementations", []):
        checks = impl.get("checks", {})
        claims = _claims(impl)
        rows.append({
            "id": impl["id"],
            "lane": lane_of.get(impl["id"], ""),
            "name": (impl.get("adapter") or {}).get("name", ""),
            "document": impl.get("document", ""),
            "notes": (impl.get("adapter") or {}).get("notes", ""),
            "verdict": impl.get("verdict_text", impl.get("verdict", "")),
            "verdict_css": _verdict_css(impl.get("verdict", "")),
            "score": impl.get("score", {}),
            "conventions": [_cell(claims[name], checks, ids) for name, _, ids in CLAIM_COLUMNS],
            "families": [_family(checks, catalogue, f) for f in families],
            "findings": _findings(impl),
            "load_error": impl.get("load_error", ""),
        })
    order = {lane["name"]: i for i, lane in enumerate(lanes)}
    rows.sort(key=lambda r: (order.get(r["lane"], len(order)), r["id"]))
    env = data.get("environment", {})
    return {
        "rows": rows,
        "conventions": [(name, what) for name, what, _ in CLAIM_COLUMNS],
        "families": [(f, FAMILIES[f]) for f in families],
        "lanes": lanes,
        "stamp": [(k, env.get(k, "")) for k in ("python", "torch", "numpy", "hypothesis", "platform", "date")],
        "conformant": sum(1 for r in rows if r["verdict_css"] == "pass"),
    }


def render_scoreboard(data: dict[str, Any], path: str | Path) -> Path:
    templates = Path(__file__).with_name("templates")
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), autoescape=True,
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    html = environment.get_template("framework_scoreboard.html.j2").render(view=scoreboard_view(data))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html)
    return path


def main(argv: list[str] | None = None) -> int:
    from conformance.grading.results import merge_results, read_results

    parser = argparse.ArgumentParser(prog="python -m conformance.reporting.framework_scoreboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="results JSON files (merged; their lanes sections joined)")
    parser.add_argument("-o", "--output", default="reports/frameworks.html", help="HTML path")
    args = parser.parse_args(argv)
    try:
        files = [read_results(p) for p in args.results]
    except (OSError, ValueError) as exc:
        print(f"scoreboard: {exc}", file=sys.stderr)
        return 2
    data = merge_results(files)
    data["lanes"] = [lane for f in files for lane in f.get("lanes", [])]
    print(f"scoreboard: {render_scoreboard(data, args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
