"""Charts drawn on the server as SVG, so they show without JavaScript.

Each chart carries a title and a description for screen readers (``role="img"`` with
``aria-labelledby``); the page shows the same figures as a table beside it, which is
the text alternative people can also copy from. Colours are the GOV.UK palette's and
every series is told apart by more than colour (a dashed target line, labelled bars).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from markupsafe import Markup

BLUE = "#1d70b8"
GREEN = "#00703c"
RED = "#d4351c"
GREY = "#505a5f"
LIGHT_GREY = "#b1b4b6"

WIDTH = 640
HEIGHT = 280
MARGIN_LEFT = 72
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 48


@dataclass(frozen=True)
class Point:
    day: dt.date
    value: Decimal


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    colour: str = BLUE


def _nice_ceiling(value: float) -> float:
    """A round number at or above ``value`` for the top of an axis (1, 2, 5 × 10ⁿ)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _money(value: float) -> str:
    if value >= 1_000_000:
        return f"£{value / 1_000_000:.1f}m"
    if value >= 1_000:
        return f"£{value / 1_000:.0f}k"
    return f"£{value:.0f}"


def _frame(chart_id: str, title: str, description: str, body: list[str]) -> Markup:
    svg = "\n".join(
        [
            f'<svg class="app-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
            'xmlns="http://www.w3.org/2000/svg" font-family="Arial, sans-serif" font-size="14">',
            f'<title id="{chart_id}-title">{escape(title)}</title>',
            f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
            *body,
            "</svg>",
        ]
    )
    # Safe: every text that came from data was escaped where the body was built.
    return Markup(svg)  # noqa: S704


def _y_axis(top: float, money: bool = False) -> list[str]:
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    parts = []
    for i in range(5):
        value = top * i / 4
        y = HEIGHT - MARGIN_BOTTOM - plot_h * i / 4
        text = _money(value) if money else f"{value:g}"
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{LIGHT_GREY}" stroke-width="1"/>'
            f'<text x="{MARGIN_LEFT - 8}" y="{y + 5:.1f}" text-anchor="end" fill="{GREY}">'
            f"{escape(text)}</text>"
        )
    return parts


def cumulative_savings_chart(
    chart_id: str, points: Sequence[Point], target_per_year: Decimal | None
) -> Markup:
    """Savings to date as a rising line, against a dashed straight-line target.

    Args:
        chart_id: a page-unique id for the accessible title and description.
        points: cumulative savings by day, in day order.
        target_per_year: the programme's yearly target; drawn pro rata from the first day.
    """
    if not points:
        return _frame(chart_id, "Cumulative savings", "No savings recorded yet.", [])
    first, last = points[0].day, points[-1].day
    span = max((last - first).days, 1)
    target_end = float(target_per_year) * span / 365 if target_per_year is not None else 0.0
    top = _nice_ceiling(max(float(points[-1].value), target_end))
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x(day: dt.date) -> float:
        return MARGIN_LEFT + plot_w * (day - first).days / span

    def y(value: float) -> float:
        return HEIGHT - MARGIN_BOTTOM - plot_h * value / top

    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(p.day):.1f},{y(float(p.value)):.1f}"
        for i, p in enumerate(points)
    )
    body = _y_axis(top, money=True)
    body.append(f'<path d="{path}" fill="none" stroke="{GREEN}" stroke-width="3"/>')
    if target_per_year is not None:
        body.append(
            f'<line x1="{x(first):.1f}" y1="{y(0):.1f}" '
            f'x2="{x(last):.1f}" y2="{y(target_end):.1f}" '
            f'stroke="{GREY}" stroke-width="2" stroke-dasharray="8 6"/>'
            f'<text x="{x(last) - 4:.1f}" y="{y(target_end) - 8:.1f}" text-anchor="end" '
            f'fill="{GREY}">target</text>'
        )
    body.append(
        f'<text x="{x(first):.1f}" y="{HEIGHT - 20}" fill="{GREY}">{first:%d %b %Y}</text>'
        f'<text x="{x(last):.1f}" y="{HEIGHT - 20}" text-anchor="end" fill="{GREY}">'
        f"{last:%d %b %Y}</text>"
    )
    total = float(points[-1].value)
    description = (
        f"Savings rose to {_money(total)} between {first:%d %B %Y} and {last:%d %B %Y}"
        + (
            f", against a target of {_money(target_end)} for that period."
            if target_per_year is not None
            else "."
        )
    )
    return _frame(chart_id, "Cumulative savings against target", description, body)


def bar_chart(chart_id: str, title: str, bars: Sequence[Bar], unit: str = "") -> Markup:
    """Vertical bars, each labelled with its value (so colour is never the only cue)."""
    if not bars:
        return _frame(chart_id, title, "Nothing to show yet.", [])
    top = _nice_ceiling(max(b.value for b in bars))
    if all(float(b.value).is_integer() for b in bars):
        top = max(4.0, float(-(-top // 4) * 4))  # counts: whole-number gridlines
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_w / len(bars)
    width = min(slot * 0.7, 64)
    body = _y_axis(top)
    for i, b in enumerate(bars):
        height = plot_h * b.value / top
        left = MARGIN_LEFT + slot * i + (slot - width) / 2
        bottom = HEIGHT - MARGIN_BOTTOM
        body.append(
            f'<rect x="{left:.1f}" y="{bottom - height:.1f}" width="{width:.1f}" '
            f'height="{height:.1f}" fill="{b.colour}"/>'
            f'<text x="{left + width / 2:.1f}" y="{bottom - height - 6:.1f}" '
            f'text-anchor="middle" fill="#0b0c0c">{b.value:g}{escape(unit)}</text>'
            f'<text x="{left + width / 2:.1f}" y="{bottom + 20}" text-anchor="middle" '
            f'fill="{GREY}" font-size="12">{escape(b.label)}</text>'
        )
    description = "; ".join(f"{b.label}: {b.value:g}{unit}" for b in bars)
    return _frame(chart_id, title, description, body)
