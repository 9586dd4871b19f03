"""Charts as server-side SVG: pure functions from numbers to markup.

No script and no style attribute: colours come from CSS classes (web/static/dashboard/
overview.css), sizes from SVG attributes, so the pages stay within a strict
Content-Security-Policy. Every text is escaped; every chart has a <title> and a <desc>
for screen readers, and each bar or point its own <title> (a tooltip in browsers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 44  # room for the axes' labels
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Series:
    """One named run of values, one per label; `css` names its colour class."""

    name: str
    css: str
    values: Sequence[int | float]


def stacked_bars(
    title: str, labels: Sequence[str], series: Sequence[Series], y_label: str = ""
) -> Markup:
    """A bar per label, its series stacked bottom-up in the order given."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = nice_ceiling(max(totals, default=0))
    slot = PLOT_W / max(len(labels), 1)
    parts = [_frame(title, _describe(labels, series, sum, "Totals"), top, y_label)]
    for index, label in enumerate(labels):
        base = 0.0
        for one in series:
            value = one.values[index]
            if value:
                parts.append(_bar(index, slot, base, value, top, one, label))
            base += value
    parts.append(_x_axis(labels, slot))
    parts.append(_legend(series))
    return _svg(parts)


def lines(title: str, labels: Sequence[str], series: Sequence[Series], y_label: str = "") -> Markup:
    """A line per series over the labels, with a dot (and its value) at each point."""
    top = nice_ceiling(max((max(s.values, default=0) for s in series), default=0))
    slot = PLOT_W / max(len(labels), 1)
    parts = [_frame(title, _describe(labels, series, _last, "Latest"), top, y_label)]
    for one in series:
        points = [(_x_mid(i, slot), _y(v, top)) for i, v in enumerate(one.values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline class="line {escape(one.css)}" points="{path}" fill="none"/>')
        for (x, y), label, value in zip(points, labels, one.values, strict=True):
            tip = f"{label}: {one.name} {_number(value)}"
            parts.append(
                f'<circle class="dot {escape(one.css)}" cx="{x:.1f}" cy="{y:.1f}" r="2.5">'
                f"<title>{escape(tip)}</title></circle>"
            )
    parts.append(_x_axis(labels, slot))
    parts.append(_legend(series))
    return _svg(parts)


def meter(title: str, rate: float | None, marks: Sequence[tuple[float, str]], css: str) -> Markup:
    """A horizontal bar for a rate (a fraction), on a scale that shows every mark (a
    threshold and its label) with room to spare."""
    width, height, bar_h = 240, 34, 12
    scale = max([rate or 0.0, *(value for value, _ in marks)]) * 1.25 or 1.0
    shown = "no mail went out" if rate is None else percent(rate)
    parts = [
        f'<svg class="chart meter" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}: {escape(shown)}">',
        f"<title>{escape(title)}: {escape(shown)}</title>",
        f'<rect class="track" x="0" y="4" width="{width}" height="{bar_h}"/>',
    ]
    if rate:
        filled = max(1.0, width * min(rate / scale, 1.0))
        parts.append(
            f'<rect class="fill {escape(css)}" x="0" y="4" width="{filled:.1f}" height="{bar_h}"/>'
        )
    for value, label in marks:
        x = width * value / scale
        parts.append(
            f'<line class="mark" x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{bar_h + 8}">'
            f"<title>{escape(label)}</title></line>"
            f'<text x="{x:.1f}" y="{height - 2}" text-anchor="middle">{escape(percent(value))}'
            "</text>"
        )
    return _svg(parts)


def _svg(parts: list[str]) -> Markup:
    # Safe to mark: every text and attribute value put into `parts` went through escape().
    return Markup("".join([*parts, "</svg>"]))  # noqa: S704


def percent(rate: float) -> str:
    """0.0012 -> "0.12%": two decimals below 10%, where thresholds live."""
    shown = rate * 100
    return f"{shown:.2f}%" if shown < 10 else f"{shown:.0f}%"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 1.0
    while power * 10 <= value:
        power *= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _frame(title: str, description: str, top: float, y_label: str) -> str:
    grid = []
    for fraction in (0.0, 0.5, 1.0):
        y = _y(top * fraction, top)
        grid.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_number(top * fraction))}</text>"
        )
    axis = (
        f'<text class="axis-label" x="12" y="{TOP + PLOT_H / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + PLOT_H / 2:.1f})">{escape(y_label)}</text>'
        if y_label
        else ""
    )
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>" + "".join(grid) + axis
    )


def _bar(
    index: int, slot: float, base: float, value: float, top: float, one: Series, label: str
) -> str:
    x = LEFT + index * slot + slot * 0.15
    y = _y(base + value, top)
    height = _y(base, top) - y
    tip = f"{label}: {one.name} {_number(value)}"
    return (
        f'<rect class="bar {escape(one.css)}" x="{x:.1f}" y="{y:.1f}" '
        f'width="{slot * 0.7:.1f}" height="{max(height, 0.5):.1f}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def _x_axis(labels: Sequence[str], slot: float) -> str:
    # At most about a dozen labels fit under the chart: every n-th, counted back from the
    # last (the latest day is the one most looked for).
    every = max(1, round(len(labels) / 12))
    last = len(labels) - 1
    texts = [
        f'<text x="{_x_mid(i, slot):.1f}" y="{TOP + PLOT_H + 16}" text-anchor="middle">'
        f"{escape(label)}</text>"
        for i, label in enumerate(labels)
        if (last - i) % every == 0
    ]
    return "".join(texts)


def _legend(series: Sequence[Series]) -> str:
    parts, x = [], LEFT
    y = HEIGHT - 8
    for one in series:
        parts.append(
            f'<rect class="key {escape(one.css)}" x="{x}" y="{y - 9}" width="10" height="10"/>'
            f'<text class="legend" x="{x + 14}" y="{y}">{escape(one.name)}</text>'
        )
        x += 24 + 7 * len(one.name)
    return "".join(parts)


def _describe(
    labels: Sequence[str],
    series: Sequence[Series],
    summary: Callable[[Sequence[int | float]], float],
    heading: str,
) -> str:
    if not labels:
        return "No data."
    figures = ", ".join(f"{one.name} {_number(summary(one.values))}" for one in series)
    return f"From {labels[0]} to {labels[-1]}. {heading}: {figures}."


def _last(values: Sequence[int | float]) -> float:
    return values[-1] if values else 0


def _x_mid(index: int, slot: float) -> float:
    return LEFT + index * slot + slot / 2


def _y(value: float, top: float) -> float:
    return TOP + PLOT_H - PLOT_H * (value / top if top else 0)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
