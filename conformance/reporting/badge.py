"""A status badge (SVG) written from the results: ``python -m conformance badge``.

    python -m conformance badge reports/results.json -o reports/badge.svg
    python -m conformance badge reports/results.json --impl MyGRU --label "my GRU"

One implementation: its verdict and score ("conformant (PyTorch) 45/45", "nonconformant 12/25",
"not graded"); several: how many conform ("3/4 conformant"). Green when every graded one
conforms, red when one does not, grey when one could not be graded or grading did not finish.
The text is XML-escaped: an implementation's id is never markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from conformance.base.conventions import PASSING, VERDICTS

COLOURS = {"pass": "#2da44e", "consistent": "#8c9a1f", "fail": "#cf222e", "error": "#6e7781"}
LABEL_COLOUR = "#555"
#: Verdana 11px: an average advance per character, as shields.io's badges are laid out.
CHAR_WIDTH, PADDING = 6.6, 10


def badge_text(data: dict[str, Any], impl: str | None = None) -> tuple[str, str]:
    """(message, colour) for the results ``data`` (one implementation ``impl``, or all)."""
    implementations = [i for i in data["implementations"] if impl is None or i["id"] == impl]
    if not implementations:
        raise ValueError(f"got no implementation {impl!r} in the results, but the badge needs one"
                         if impl else "got no implementation in the results, but the badge needs one")
    if not data.get("complete", True):
        return "incomplete", COLOURS["error"]
    if len(implementations) == 1:
        record = implementations[0]
        verdict = VERDICTS[record["verdict"]]
        score = record["score"]
        shown = verdict.short if record["verdict"] != "error" else "not graded"
        message = shown if record["verdict"] == "error" else f"{shown} {score['passed']}/{score['applicable']}"
        return message, COLOURS[verdict.kind]
    conforming = sum(1 for i in implementations if i["verdict"] in PASSING)
    kinds = {VERDICTS[i["verdict"]].kind for i in implementations}
    colour = COLOURS["error"] if "error" in kinds else COLOURS["fail"] if "fail" in kinds else COLOURS["pass"]
    return f"{conforming}/{len(implementations)} conformant", colour


def render_badge(label: str, message: str, colour: str) -> str:
    """A flat badge: the label on grey, the message on ``colour``."""
    left = round(len(label) * CHAR_WIDTH + 2 * PADDING)
    right = round(len(message) * CHAR_WIDTH + 2 * PADDING)
    width = left + right
    label_text, message_text = escape(label), escape(message)
    title = escape(f"{label}: {message}", {'"': "&quot;"})
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label="{title}">'
        f"<title>{title}</title>"
        f'<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        f'<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="20" fill="{LABEL_COLOUR}"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        f'<rect width="{width}" height="20" fill="url(#s)"/></g>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2:.1f}" y="14">{label_text}</text>'
        f'<text x="{left + right / 2:.1f}" y="14">{message_text}</text></g></svg>\n'
    )


def write_badge(results: str | Path, output: str | Path, *, impl: str | None = None,
                label: str = "GRU conformance") -> Path:
    from conformance.grading.results import read_results

    message, colour = badge_text(read_results(results), impl)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_badge(label, message, colour))
    return path
