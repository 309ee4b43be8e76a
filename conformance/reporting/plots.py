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

import matplotlib.lines  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullLocator  # noqa: E402

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


#: Colours of a ratio by what its interval says.
_VERDICT_COLOURS = {"faster": "#1f4e9c", "slower": "#b36b00", "no measurable difference": "#777777"}


def _finite_positive(value: float | None) -> float:
    return value if isinstance(value, (int, float)) and value > 0 and math.isfinite(value) else float("nan")


def benchmark_ratio_svg(intervals: Sequence[tuple[float, float, float] | None], verdicts: Sequence[str],
                        efficiencies: Sequence[float | None], prefix: str) -> str:
    """Time relative to nn.GRU (log scale; 1 = as fast) for each row of a benchmark table:
    the median of the per-round ratios with its interval as a bar, grey where the interval
    holds 1; the matmul efficiency beside it. Rows are labelled by number: the
    implementation names, which adapters supply, stay in the escaped HTML table."""
    rows = list(range(1, len(intervals) + 1))
    with matplotlib.rc_context(_STYLE):
        fig, (ax, ax_eff) = plt.subplots(1, 2, figsize=(7.0, 0.8 + 0.24 * len(rows)), dpi=72,
                                         sharey=True, gridspec_kw={"width_ratios": [3, 2]})
        for row, interval, verdict in zip(rows, intervals, verdicts):
            if interval is None:
                continue
            median, low, high = (_finite_positive(v) for v in interval)
            colour = _VERDICT_COLOURS.get(verdict, "#777777")
            ax.plot([low, high], [row, row], color=colour, linewidth=2.5, solid_capstyle="butt")
            ax.plot([median], [row], marker="o", markersize=4, color=colour)
        ax.set_xscale("log")
        ax.axvline(1.0, color="#333333", linewidth=1, linestyle="--")
        ax.set_xlabel("time / nn.GRU time, 95% interval (log; 1 = as fast)")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        eff = [_finite_positive(e) for e in efficiencies]
        ax_eff.barh(rows, eff, color="#5b8c3a", height=0.6)
        ax_eff.set_xlabel("efficiency vs matmul")
        ax_eff.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
        ax.set_yticks(rows, [f"#{i}" for i in rows])
        ax.set_ylim(len(rows) + 0.6, 0.4)
        fig.subplots_adjust(left=0.08, right=0.98, bottom=max(0.12, 0.45 / (0.8 + 0.24 * len(rows))), top=0.97,
                            wspace=0.08)
        return _inline_svg(fig, prefix)


def _tick(value: float, _: object = None) -> str:
    """A tick as short text: two significant digits, in e-notation below 0.1 (the SVG keeps
    only two decimals of any number it holds)."""
    if value >= 0.1:
        return f"{value:.4g}"
    text = f"{value:.1e}".replace(".0e", "e")
    return text.replace("e-0", "e-")


def _log_axes(ax: "plt.Axes", sizes: Sequence[float]) -> None:
    """Log-log, ticks at the measured sizes along x and at 1, 2, 5 per decade along y."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sorted(set(sizes))))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=8))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(_tick))


#: Colours of the implementations' lines (by row number), nn.GRU's is black.
_PALETTE = ("#1f4e9c", "#b36b00", "#2e7d32", "#b3261e", "#6a3d9a", "#00838f", "#8d6e63", "#c2185b", "#7c7c00")
GROWTH_ROWS = {"time": "ms per call", "memory forward": "peak MB, forward",
               "memory forward+backward": "peak MB, fwd+bwd"}


def growth_svg(panels: Sequence[dict], prefix: str) -> str:
    """How time and memory grow along each axis (one column per axis, log-log): each
    implementation's line, labelled by its row number in the page's table, beside nn.GRU's
    (black, dashed). ``panels``: {"label", "series": {row: [[(size, value), ...] per
    implementation]}, "reference": {row: [(size, value), ...]}}; rows are ``GROWTH_ROWS``
    (memory in bytes). Lines carry row numbers only, never adapter text."""
    rows = [r for r in GROWTH_ROWS if any(panel.get("series", {}).get(r) for panel in panels)]
    with matplotlib.rc_context(_STYLE):
        fig, grid = plt.subplots(max(1, len(rows)), max(1, len(panels)), figsize=(7.4, 1.0 + 1.75 * len(rows)),
                                 dpi=72, squeeze=False)
        count = 0
        for column, panel in enumerate(panels):
            for row_index, row in enumerate(rows):
                ax = grid[row_index][column]
                scale = 1e-6 if row.startswith("memory") else 1e3  # bytes -> MB, seconds -> ms
                for i, points in enumerate(panel.get("series", {}).get(row) or []):
                    shown = [(x, _finite_positive(y * scale)) for x, y in points if x]
                    if shown:
                        ax.plot(*zip(*shown), marker="o", markersize=2.5, linewidth=1,
                                color=_PALETTE[i % len(_PALETTE)])
                    count = max(count, i + 1)
                reference = [(x, _finite_positive(y * scale)) for x, y in
                             (panel.get("reference", {}).get(row) or []) if x]
                if reference:
                    ax.plot(*zip(*reference), color="#000000", linestyle="--", linewidth=1.6)
                _log_axes(ax, [x for points in panel.get("series", {}).get(row) or [] for x, _ in points])
                if column == 0:
                    ax.set_ylabel(GROWTH_ROWS[row], fontsize=8)
                if row_index == len(rows) - 1:
                    ax.set_xlabel(str(panel.get("label", "")))
        handles = [matplotlib.lines.Line2D([], [], color="#000000", linestyle="--", linewidth=1.6, label="nn.GRU")]
        handles += [matplotlib.lines.Line2D([], [], color=_PALETTE[i % len(_PALETTE)], marker="o", markersize=2.5,
                                            label=f"#{i + 1}") for i in range(count)]
        fig.legend(handles=handles, loc="upper center", ncol=min(10, len(handles)), fontsize=8, frameon=False)
        fig.subplots_adjust(left=0.1, right=0.98, bottom=0.1, top=1 - 0.45 / (1.0 + 1.75 * len(rows)),
                            wspace=0.32, hspace=0.3)
        return _inline_svg(fig, prefix)
