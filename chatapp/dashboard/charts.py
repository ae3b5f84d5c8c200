"""Server-rendered SVG charts: lines and stacked bars over days, with a table of the same data.

A ``Chart`` is data (x labels, named series); ``chart_svg`` draws it. The template shows the SVG
(``role="img"`` with ``<title>``/``<desc>``; each point or bar has its own ``<title>`` with its
value) and, for screen readers and copy-paste, the same numbers as a table. Adding a chart is
building one more ``Chart`` from a selector (see ``trends_charts``); no JavaScript draws anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 240
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 58, 12, 12, 28
Number = float | int


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Number | None]  # one per x label; None: no data (a gap in a line)
    key: str  # CSS class suffix: chart-<key> sets its colour (static/dashboard/charts.css)


@dataclass(frozen=True)
class Chart:
    slug: str  # element ids: chart-<slug>
    title: str
    description: str
    labels: Sequence[str]  # x axis, one per point
    series: Sequence[Series]
    kind: Literal["line", "stacked"] = "line"
    unit: str = ""  # shown after values, e.g. "ms" or "%"
    percent: bool = False  # values are 0..1 fractions, shown as percentages
    top: float | None = None  # a fixed axis top (a scale such as CSAT's 1-5); None: from the data
    decimals: int = 0  # digits shown after the point (an average of scores needs one)
    notes: Sequence[str] = field(default_factory=tuple)

    def display(self, value: Number | None) -> str:
        """A value as the table and the tooltips show it."""
        if value is None:
            return "—"
        if self.percent:
            return f"{value * 100:.0f}%"
        text = f"{value:.{self.decimals}f}" if isinstance(value, float) else str(value)
        return f"{text} {self.unit}".strip()

    @property
    def svg(self) -> SafeString:
        return chart_svg(self)

    @property
    def rows(self) -> list[tuple[str, list[str]]]:
        """The table fallback: one row per x label, one cell per series."""
        return [
            (label, [self.display(s.values[i]) for s in self.series])
            for i, label in enumerate(self.labels)
        ]


def day_labels(days: Sequence[date]) -> list[str]:
    return [d.isoformat() for d in days]


def _nice_max(value: float) -> float:
    """The axis top: 1, 2, 4 or 5 times a power of ten, at least ``value``.

    At least 4, so that the quarter gridlines of a small count fall on whole numbers.
    """
    if value <= 4:
        return 4.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _top(chart: Chart) -> float:
    if chart.top is not None:
        return chart.top
    if chart.percent:
        return 1.0
    if chart.kind == "stacked":
        sums = [
            sum(float(s.values[i] or 0) for s in chart.series) for i in range(len(chart.labels))
        ]
        return _nice_max(max(sums, default=0.0))
    values = [float(v) for s in chart.series for v in s.values if v is not None]
    return _nice_max(max(values, default=0.0))


def _x(i: int, n: int) -> float:
    inner = WIDTH - PAD_LEFT - PAD_RIGHT
    return PAD_LEFT + inner * (i + 0.5) / max(n, 1)


def _y(value: float, top: float) -> float:
    inner = HEIGHT - PAD_TOP - PAD_BOTTOM
    return PAD_TOP + inner * (1 - value / top)


def _axes(chart: Chart, top: float) -> list[str]:
    parts = []
    # Quarters, or fifths when they fall on whole numbers and quarters do not (a top of 5 or 10).
    steps = 5 if not chart.percent and top % 4 and not top % 5 else 4
    for k in range(steps + 1):
        value = top * k / steps
        y = _y(value, top)
        parts.append(
            f'<line class="chart-grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="chart-tick" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(chart.display(value) if chart.percent else _short(value))}</text>"
        )
    n = len(chart.labels)
    every = max(1, math.ceil(n / 7))  # at most ~7 dates under the axis
    for i, label in enumerate(chart.labels):
        if i % every == 0:
            parts.append(
                f'<text class="chart-tick" x="{_x(i, n):.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="middle">{escape(label[5:] if len(label) == 10 else label)}</text>'
            )
    return parts


def _short(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _lines(chart: Chart, top: float) -> list[str]:
    n = len(chart.labels)
    parts: list[str] = []
    for series in chart.series:
        css = f"chart-{escape(series.key)}"
        runs: list[list[str]] = [[]]  # a None splits the line
        dots = []
        for i, value in enumerate(series.values):
            if value is None:
                runs.append([])
                continue
            x, y = _x(i, n), _y(float(value), top)
            runs[-1].append(f"{x:.1f},{y:.1f}")
            dots.append(
                f'<circle class="chart-point {css}" cx="{x:.1f}" cy="{y:.1f}" r="3" '
                f'data-series="{escape(series.key)}" data-x="{escape(chart.labels[i])}" '
                f'data-value="{value}"><title>{escape(series.name)}, '
                f"{escape(chart.labels[i])}: {escape(chart.display(value))}</title></circle>"
            )
        parts.extend(
            f'<polyline class="chart-line {css}" points="{" ".join(run)}"/>'
            for run in runs
            if len(run) > 1
        )
        parts.extend(dots)
    return parts


def _bars(chart: Chart, top: float) -> list[str]:
    n = len(chart.labels)
    width = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(n, 1) * 0.7
    parts: list[str] = []
    for i, label in enumerate(chart.labels):
        base = 0.0
        for series in chart.series:
            value = float(series.values[i] or 0)
            if value <= 0:
                continue
            y0, y1 = _y(base, top), _y(base + value, top)
            left = _x(i, n) - width / 2
            parts.append(
                f'<rect class="chart-bar chart-{escape(series.key)}" x="{left:.1f}" '
                f'y="{y1:.1f}" width="{width:.1f}" height="{y0 - y1:.1f}" '
                f'data-series="{escape(series.key)}" data-x="{escape(label)}" '
                f'data-value="{series.values[i]}"><title>{escape(series.name)}, {escape(label)}: '
                f"{escape(chart.display(series.values[i]))}</title></rect>"
            )
            base += value
    return parts


def chart_svg(chart: Chart) -> SafeString:
    """The chart as an accessible inline SVG (every text escaped)."""
    top = _top(chart)
    body = _bars(chart, top) if chart.kind == "stacked" else _lines(chart, top)
    title_id, desc_id = f"chart-{chart.slug}-title", f"chart-{chart.slug}-desc"
    svg = (
        f'<svg class="chart" id="chart-{escape(chart.slug)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{title_id} {desc_id}" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{title_id}">{escape(chart.title)}</title>'
        f'<desc id="{desc_id}">{escape(chart.description)}</desc>'
        + "".join(_axes(chart, top))
        + "".join(body)
        + "</svg>"
    )
    return mark_safe(svg)  # noqa: S308  # built above from escaped text and numbers only
