"""The report's plots: matplotlib figures written as inline SVG.

Deterministic (same numbers -> same bytes): no date in the metadata, a fixed
hash salt per figure, text kept as text (small, and no embedded fonts). Ids
inside each SVG get a per-figure prefix, so several plots in one page never
share an id. No adapter-supplied string is ever drawn into a figure: labels and
captions come from the page, where they are escaped.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator  # noqa: E402

#: Errors of exactly 0 cannot sit on a log axis: they are drawn at this floor.
FLOOR = 1e-18

_STYLE = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "path.simplify": True,
}


def _inline_svg(fig: "plt.Figure", prefix: str) -> str:
    """The figure as an ``<svg>`` element for inline use, ids prefixed with ``prefix``."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"gru-report-{prefix}"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{prefix}-{m.group(1)})", text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', text)
    # Coordinates to 0.01 pt: invisible on screen, a third of the bytes.
    text = re.sub(r"(\d+\.\d\d)\d+", r"\1", text)
    # Scale with the page instead of a fixed size in points.
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="plot" role="img"', text, count=1)
    return text.strip()


def _finite_floor(values: Sequence[float | str | None]) -> tuple[list[float], list[int]]:
    """Values for a log axis (0 at the floor) and the indices that are not finite."""
    shown, bad = [], []
    for i, v in enumerate(values):
        try:
            number = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            bad.append(i)
            shown.append(math.nan)
        else:
            shown.append(max(number, FLOOR))
    return shown, bad


def error_profile_svg(per_step: Sequence[float | str | None], tolerance: float | None, prefix: str) -> str:
    """Largest error per time step (log scale) with the tolerance as a dashed line;
    steps whose error is not finite are marked along the top."""
    shown, bad = _finite_floor(per_step)
    steps = list(range(len(shown)))
    with matplotlib.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 2.7), dpi=72)
        ax.semilogy(steps, shown, marker="o", markersize=3, linewidth=1.2, color="#1f4e9c",
                    label="largest |error| at step t")
        if tolerance:
            ax.axhline(tolerance, color="#b3261e", linestyle="--", linewidth=1,
                       label=f"tolerance (atol {tolerance:.0e})")
            top = max([v for v in shown if math.isfinite(v)] + [tolerance])
            ax.axhspan(tolerance, top * 10, color="#b3261e", alpha=0.06, linewidth=0)
        for i in bad:
            ax.annotate("not finite", (i, 1), xycoords=("data", "axes fraction"), ha="center",
                        va="top", color="#b3261e", fontsize=8)
        ax.set_xlabel("time step t")
        ax.set_ylabel("max |got - oracle|")
        if len(steps) > 1:
            ax.set_xlim(-0.5, len(steps) - 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        # Plain "1e-07" labels: mathtext exponents cost most of the drawing time.
        ax.yaxis.set_major_locator(LogLocator(base=10, numticks=6))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")))
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, fontsize=8, frameon=False,
                  borderaxespad=0.2)
        fig.subplots_adjust(left=0.13, right=0.98, bottom=0.17, top=0.86)
        return _inline_svg(fig, prefix)


def benchmark_ratio_svg(ratios: Sequence[float | None], efficiencies: Sequence[float | None], prefix: str) -> str:
    """Time relative to nn.GRU (log scale; 1 = as fast) for each row of a benchmark
    table, with the matmul efficiency beside it. Bars are labelled by row number:
    the implementation names, which adapters supply, stay in the escaped HTML table."""
    rows = list(range(1, len(ratios) + 1))
    with matplotlib.rc_context(_STYLE):
        fig, (ax, ax_eff) = plt.subplots(1, 2, figsize=(7.0, 0.8 + 0.24 * len(rows)), dpi=72,
                                         sharey=True, gridspec_kw={"width_ratios": [3, 2]})
        shown = [r if isinstance(r, (int, float)) and r > 0 and math.isfinite(r) else float("nan") for r in ratios]
        ax.barh(rows, shown, color=["#1f4e9c" if (r or 0) <= 1.0 else "#b36b00" for r in shown], height=0.6)
        ax.set_xscale("log")
        ax.axvline(1.0, color="#333333", linewidth=1, linestyle="--")
        ax.set_xlabel("time / nn.GRU time (log; 1 = as fast)")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        eff = [e if isinstance(e, (int, float)) and math.isfinite(e) else float("nan") for e in efficiencies]
        ax_eff.barh(rows, eff, color="#5b8c3a", height=0.6)
        ax_eff.set_xlabel("efficiency vs matmul")
        ax.set_yticks(rows, [f"#{i}" for i in rows])
        ax.invert_yaxis()
        fig.subplots_adjust(left=0.08, right=0.98, bottom=max(0.12, 0.45 / (0.8 + 0.24 * len(rows))), top=0.97,
                            wspace=0.08)
        return _inline_svg(fig, prefix)
