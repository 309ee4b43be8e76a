"""The report's Benchmarks section: what the template shows, from the ``benchmarks``
section of the results (``conformance.reporting.bench``, schema ``gru-conformance-benchmarks/2``).

Everything read here came from a results file, so nothing is trusted: numbers are
read with ``_number`` (anything else shows as a dash), strings are escaped by the
template, and the plots are labelled by row number or role, never with a name an
adapter supplied.
"""

from __future__ import annotations

import math
from typing import Any

from conformance.grading.results import BENCHMARKS_SCHEMA

DASH = "\u2014"
AXIS_LABELS = {"steps": "T (steps)", "batch": "B (batch)", "hidden_size": "H (hidden size)"}
AXIS_SHORT = {"steps": "T", "batch": "B", "hidden_size": "H"}
SIZE_FIELDS = ("steps", "batch", "input_size", "hidden_size", "num_layers", "bidirectional", "dtype", "device")


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def fmt_seconds(value: Any) -> str:
    number = _number(value)
    if number is None:
        return DASH
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("\u00b5s", 1e-6)):
        if number >= scale:
            return f"{number / scale:.3g} {unit}"
    return f"{number * 1e9:.3g} ns"


def fmt_bytes(value: Any) -> str:
    number = _number(value)
    if number is None:
        return DASH
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if number >= scale:
            return f"{number / scale:.3g} {unit}"
    return f"{number:.0f} B"


def interval_of(value: Any) -> tuple[float, float, float] | None:
    """(median, low, high) of an interval entry, or None when it is not one."""
    entry = _dict(value)
    numbers = tuple(_number(entry.get(k)) for k in ("median", "low", "high"))
    if any(n is None for n in numbers):
        return None
    return numbers  # type: ignore[return-value]


def ratio_text(row: dict[str, Any]) -> str:
    """"1.23× [1.18, 1.30]", or "no measurable difference (0.97–1.04)"."""
    interval = interval_of(row.get("ratio"))
    if interval is None:
        return DASH
    median, low, high = interval
    if low <= 1.0 <= high:
        return f"no measurable difference ({low:.2f}\u2013{high:.2f})"
    return f"{median:.2f}\u00d7 [{low:.2f}, {high:.2f}]"


def _fixed(value: Any, pattern: str) -> str:
    number = _number(value)
    return DASH if number is None else pattern.format(number)


def _percent_text(value: Any) -> str:
    """A share as a percentage with two significant digits: 43%, 8.1%, 0.54%."""
    number = _number(value)
    return DASH if number is None else f"{number * 100:.2g}%"


def _percent(change: float) -> str:
    return f"{(change - 1) * 100:+.0f}%"


def change_text(entry: dict[str, Any] | None) -> str:
    """A row's change since the compared run: "+12% [+5%, +19%] slower" or "no measurable change"."""
    if not entry:
        return DASH
    interval = interval_of(entry.get("change"))
    if interval is None:
        return DASH
    median, low, high = interval
    what = "nn.GRU's seconds " if entry.get("what") == "seconds" else ""
    if low <= 1.0 <= high:
        return f"{what}no measurable change ({_percent(low)}\u2026{_percent(high)})"
    word = "slower" if low > 1.0 else "faster"
    return f"{what}{_percent(median)} [{_percent(low)}, {_percent(high)}] {word}"


def memory_change_text(entry: dict[str, Any] | None) -> str:
    memory = _dict((entry or {}).get("memory"))
    old, new = _number(memory.get("old")), _number(memory.get("new"))
    if old is None or new is None:
        return ""
    if old == new:
        return "memory the same"
    return f"memory {fmt_bytes(old)} \u2192 {fmt_bytes(new)}"


def _verdict(row: dict[str, Any]) -> str:
    interval = interval_of(row.get("ratio"))
    if interval is None:
        return ""
    return "no measurable difference" if interval[1] <= 1.0 <= interval[2] else (
        "slower" if interval[1] > 1.0 else "faster")


def _row_view(row: dict[str, Any], changes: dict[tuple[str, str, str], dict[str, Any]]) -> dict[str, Any]:
    key = (str(row.get("impl", "")), str(row.get("config", "")), str(row.get("mode", "")))
    reference = row.get("role") == "reference"
    memory = _dict(row.get("memory"))
    memory_ratio = _number(row.get("memory_ratio"))
    return {
        "impl": key[0], "mode": key[2], "reference": reference,
        "seconds": fmt_seconds(row.get("seconds")),
        "reference_seconds": "" if reference else fmt_seconds(row.get("reference_seconds")),
        "ratio": "reference" if reference else ratio_text(row),
        "verdict": "" if reference else _verdict(row),
        "interval": None if reference else interval_of(row.get("ratio")),
        "rounds": _number(row.get("rounds")),
        "memory": fmt_bytes(memory.get("total")),
        "memory_ratio": f"{memory_ratio:.2f}\u00d7" if memory_ratio is not None else ("1\u00d7" if reference else DASH),
        "gflops": _number(row.get("gflops")),
        "gflops_text": _fixed(row.get("gflops"), "{:.3g}"),
        "efficiency": _number(row.get("efficiency")),
        "efficiency_text": _percent_text(row.get("efficiency")),
        "change": change_text(changes.get(key)),
        "memory_change": memory_change_text(changes.get(key)),
    }


def _configs(section: dict[str, Any], changes: dict[tuple[str, str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    from conformance.reporting.plots import benchmark_ratio_svg

    results = [r for r in _list(section.get("results")) if isinstance(r, dict)]
    shown = []
    for index, (name, config) in enumerate(_dict(section.get("configs")).items()):
        config = _dict(config)
        sizes = ", ".join(f"{k}={config[k]}" for k in SIZE_FIELDS if k in config)
        rows = [_row_view(r, changes) for r in results if r.get("config") == name]
        chart = ""
        if rows:
            chart = benchmark_ratio_svg([r["interval"] for r in rows], [r["verdict"] for r in rows],
                                        [r["efficiency"] for r in rows], f"bench{index}")
        matmul = _dict(config.get("matmul"))
        gflops = _number(matmul.get("gflops"))
        shape = "\u00d7".join(str(int(v)) for v in _list(matmul.get("shape")) if _number(v) is not None)
        shown.append({"name": str(name), "sizes": sizes, "rows": rows, "chart": chart,
                      "matmul": f"{shape} matmul at {gflops:.1f} GFLOP/s" if gflops is not None else ""})
    return shown


def _exponent(value: Any) -> str:
    number = _number(value)
    return DASH if number is None else f"{number:.2f}"


def _points(values: list[Any], costs: Any) -> list[tuple[float, float]]:
    return [(x, y) for x, y in zip((_number(v) for v in values), (_number(c) for c in _list(costs)))
            if x is not None and y is not None]


def _growth(section: dict[str, Any]) -> dict[str, Any] | None:
    from conformance.reporting.plots import growth_svg

    growth = _dict(section.get("growth"))
    entries = [e for e in _list(growth.get("implementations")) if isinstance(e, dict)]
    if not entries:
        return None
    reference = _dict(_dict(growth.get("reference")).get("axes"))
    axes = [a for a in AXIS_LABELS if any(a in _dict(e.get("axes")) for e in entries)]
    rows, panels = [], []
    for axis in axes:
        series: dict[str, list[list[tuple[float, float]]]] = {"time": [], "memory forward": [],
                                                             "memory forward+backward": []}
        for entry in entries:
            curve = _dict(_dict(entry.get("axes")).get(axis))
            values = _list(curve.get("values"))
            series["time"].append(_points(values, curve.get("seconds")))
            for mode in ("forward", "forward+backward"):
                series[f"memory {mode}"].append(_points(values, _dict(curve.get("memory")).get(mode)))
        first = _dict(_dict(entries[0].get("axes")).get(axis))
        ref_curve = _dict(reference.get(axis))
        panel_reference = {"time": _points(_list(first.get("values")), first.get("reference_seconds"))}
        for mode in ("forward", "forward+backward"):
            panel_reference[f"memory {mode}"] = _points(_list(ref_curve.get("values")),
                                                        _dict(ref_curve.get("memory")).get(mode))
        panels.append({"label": AXIS_LABELS[axis], "series": series, "reference": panel_reference})
    for entry in entries:
        curves = _dict(entry.get("axes"))
        cells = []
        for axis in axes:
            exponents = _dict(_dict(curves.get(axis)).get("exponents"))
            ref_exponents = _dict(_dict(reference.get(axis)).get("exponents"))
            cells.append({"time": _exponent(exponents.get("time")),
                          "reference": _exponent(exponents.get("reference time")),
                          "memory": _exponent(exponents.get("memory forward+backward", exponents.get("memory forward"))),
                          "reference_memory": _exponent(ref_exponents.get("memory forward+backward",
                                                                          ref_exponents.get("memory forward")))})
        rows.append({"impl": str(entry.get("impl", "")), "cells": cells})
    base = _dict(growth.get("base"))
    return {"axes": [{"key": a, "short": AXIS_SHORT[a],
                      "points": ", ".join(str(v) for v in _list(_dict(growth.get("axes")).get(a)))} for a in axes],
            "base": ", ".join(f"{k}={base[k]}" for k in SIZE_FIELDS if k in base),
            "memory_modes": ", ".join(str(m) for m in _list(growth.get("memory_modes"))),
            "reference_measured_in": str(_dict(growth.get("reference")).get("measured_in", "")),
            "time_reference_from": str(entries[0].get("impl", "")),
            "rows": rows, "figure": growth_svg(panels, "growth")}


def _control(section: dict[str, Any]) -> dict[str, Any] | None:
    control = _dict(section.get("control"))
    rows = [r for r in _list(control.get("rows")) if isinstance(r, dict)]
    if not rows:
        return None
    shown = []
    for r in rows:
        numbers = [_number(r.get(k)) for k in ("median", "low", "high")]
        text = DASH if None in numbers else f"{numbers[0]:.3f} [{numbers[1]:.3f}, {numbers[2]:.3f}]"
        shown.append({"config": str(r.get("config", "")), "mode": str(r.get("mode", "")), "text": text,
                      "ok": r.get("ok") is True})
    return {"impl": str(control.get("impl", "")), "ok": control.get("ok") is True,
            "criterion": str(control.get("criterion", "")), "rows": shown}


def _boundary(section: dict[str, Any]) -> dict[str, Any] | None:
    boundary = _dict(section.get("boundary"))
    if not boundary:
        return None
    interval = interval_of(boundary.get("ratio"))
    return {"config": str(boundary.get("config", "")), "clock": str(boundary.get("clock", "")),
            "worker": fmt_seconds(boundary.get("worker_seconds")),
            "in_process": fmt_seconds(boundary.get("in_process_seconds")),
            "ratio": DASH if interval is None else f"{interval[0]:.3f} [{interval[1]:.3f}, {interval[2]:.3f}]",
            "worker_wall": fmt_seconds(boundary.get("worker_wall_seconds")),
            "round_trip": fmt_seconds(boundary.get("round_trip_wall_seconds"))}


def _comparison(section: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[tuple[str, str, str], dict[str, Any]]]:
    compared = _dict(section.get("comparison"))
    if not compared:
        return None, {}
    changes = {(str(c.get("impl", "")), str(c.get("config", "")), str(c.get("mode", ""))): c
               for c in _list(compared.get("changes")) if isinstance(c, dict)}
    against = _dict(compared.get("against"))
    return {"run": str(against.get("run", "")), "commit": str(against.get("commit", "")),
            "date": str(against.get("date", "")), "torch": str(against.get("torch", "")),
            "differences": [str(d) for d in _list(compared.get("differences"))]}, changes


def benchmarks_view(section: Any) -> dict[str, Any] | None:
    """The section's view, when it has the known schema (anything else is shown as it is)."""
    if not isinstance(section, dict) or section.get("schema") != BENCHMARKS_SCHEMA:
        return None
    comparison, changes = _comparison(section)
    method = _dict(section.get("method"))
    environment = _dict(section.get("environment"))
    rounds = _dict(method.get("rounds"))
    return {
        "reference": str(section.get("reference", "")),
        "clock": str(method.get("clock", "")),
        "threads": method.get("threads"),
        "confidence": _number(method.get("confidence")),
        "rounds": f"{rounds.get('min_rounds', DASH)} to {rounds.get('max_rounds', DASH)}",
        "where": str(_dict(environment.get("isolation")).get("summary", "")),
        "load": _dict(environment.get("load_average")),
        "memory_method": str(method.get("memory", "")),
        "control": _control(section),
        "boundary": _boundary(section),
        "comparison": comparison,
        "configs": _configs(section, changes),
        "growth": _growth(section),
        "environment": environment,
        "skipped": [s for s in _list(section.get("skipped")) if isinstance(s, dict)],
    }
