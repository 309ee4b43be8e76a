"""The reproduction snippet of a failure, as the report shows it: copy-pasteable Python
that calls ``conformance.grading.repro.reproduce`` on the failing case from the repository root.
Text only: nothing here runs an implementation."""

from __future__ import annotations

import math
from typing import Any


def _literal(value: Any) -> str:
    """``value`` (from JSON) as a Python literal; anything else becomes a string literal."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(str(k))}: {_literal(v)}" for k, v in value.items()) + "}"
    return repr(str(value))


def snippet(impl: str, case: dict[str, Any], check_id: str | None = None) -> str:
    """Copy-pasteable Python that reproduces ``case`` for ``impl`` from the repository root.
    Every value is written as a Python literal, so nothing in a name or a message can
    break out of its string."""
    items = [f"{_literal(str(k))}: {_literal(v)}" for k, v in case.items()]
    lines, current = [], ""
    for item in items:
        if current and len(current) + len(item) > 72:
            lines.append(current.rstrip())
            current = ""
        current += item + ", "
    if current:
        lines.append(current.rstrip().rstrip(","))
    body = "\n".join(f"     {line}" for line in lines)
    call = ["from conformance.grading.repro import reproduce", "", "reproduce(", f"    {_literal(impl)},",
            "    {" + body.lstrip() + "},"]
    if check_id is not None:
        call.append(f"    check_id={_literal(check_id)},")
    call.append(")")
    return "\n".join(call) + "\n"
