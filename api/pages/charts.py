"""Charts for the staff analytics dashboard, drawn on the server as inline SVG: readable without
JavaScript and allowed by a strict Content-Security-Policy (no `style` attributes, no <style>, no
scripts: presentation attributes only). Each chart is an image with an accessible name and a
description (`aria-labelledby` -> <title> and <desc>) that states the data in a sentence, writes
every value as text (colour is never the only carrier), scales to its largest value, and says
"No data yet" when there is nothing (or only zeros) to draw. Classes (`chart-*`) let a stylesheet
restyle them; the attributes alone already meet 4.5:1 contrast against white."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence

from markupsafe import Markup, escape

TEXT = "#1f2937"  # gray-800, 14.7:1 on white
PRIMARY = "#1d4ed8"  # blue-700, 6.7:1
SECOND = "#b45309"  # amber-700, 5.0:1: flagged bars and the second series
SERIES = (PRIMARY, SECOND, "#047857", "#6d28d9")  # green-700, violet-700: >= 4.5:1 too
AXIS = "#6b7280"
WIDTH = 640
LABEL_W = 220  # label column; bars start here
VALUE_ROOM = 150  # right of the longest bar, for its value text
BAR_MAX = WIDTH - LABEL_W - VALUE_ROOM
TOP = 36  # below the visible title
NO_DATA = "No data yet"
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def hours(seconds: float) -> str:
    """A duration for people: "25 min", "3.5 h", "36 h", then days and hours from 48 h on."""
    seconds = max(0.0, seconds)
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    h = seconds / 3600
    if h < 10:
        return f"{_trim(f'{h:.1f}')} h"
    if round(h) < 48:
        return f"{round(h)} h"
    days, rest = divmod(round(h), 24)
    return f"{days} d {rest} h" if rest else f"{days} d"


def percent(share: float) -> str:
    """A share (0..1) as a percentage: "42%", "42.5%"; never rounds a sliver to 0% or 100%."""
    pct = share * 100
    if 0 < pct < 0.05:
        return "<0.1%"
    if 99.95 <= pct < 100:
        return ">99.9%"
    return f"{_trim(f'{pct:.1f}')}%"


def bar_chart(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, float | None]],
    *,
    unit: str = "",
    value_format: Callable[[float], str] | None = None,
    highlight: Callable[[str, float], bool] | None = None,
) -> Markup:
    """Horizontal bars, one per row: label, bar, value. A None value is drawn as "—" with no bar;
    rows `highlight` picks are drawn in the second colour and their value reads "... (flagged)"."""
    fmt = _formatter(value_format, unit)
    clean = [(label, _clean(value)) for label, value in rows]
    top = _largest(value for _, value in clean)
    if top is None:
        return _empty(chart_id, title)
    body: list[str] = []
    facts: list[str] = []
    for i, (label, value) in enumerate(clean):
        y = TOP + i * 28
        body.append(_label(label, LABEL_W - 8, y + 18))
        if value is None:
            body.append(_value("—", LABEL_W + 6, y + 18))
            facts.append(f"{label}: no value")
            continue
        flagged = highlight is not None and highlight(label, value)
        text = fmt(value) + (" (flagged)" if flagged else "")
        width = _scale(value, top)
        cls = "chart-bar chart-bar-flagged" if flagged else "chart-bar"
        body.append(_rect(cls, LABEL_W, y + 5, width, 18, SECOND if flagged else PRIMARY))
        body.append(_value(text, LABEL_W + width + 6, y + 18))
        facts.append(f"{label}: {text}")
    height = TOP + len(clean) * 28 + 8
    body.append(_axis(TOP, height - 8))
    return _svg(chart_id, title, f"{title}: {'; '.join(facts)}.", height, body)


def grouped_bar_chart(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    unit: str = "",
    value_format: Callable[[float], str] | None = None,
) -> Markup:
    """For each category a group of horizontal bars, one per series (e.g. median and p90), with a
    legend; each value is written with its series' name, so colour is not needed to read it."""
    fmt = _formatter(value_format, unit)
    table = [
        [_clean(values[c]) if c < len(values) else None for c in range(len(categories))]
        for _, values in series
    ]
    top = _largest(value for column in table for value in column)
    if top is None or not series:
        return _empty(chart_id, title)
    body: list[str] = []
    x = LABEL_W
    for s, (name, _) in enumerate(series):  # the legend: a swatch and the series' name
        body.append(
            f'<g class="chart-legend">{_rect(f"chart-swatch chart-series-{s}", x, TOP, 12, 12, SERIES[s % 4])}'
        )
        body.append(
            f'<text x="{x + 16}" y="{TOP + 10}" font-size="12" fill="{TEXT}">{escape(name)}</text></g>'
        )
        x += 28 + 7 * len(name)
    y = TOP + 24
    facts: list[str] = []
    for c, category in enumerate(categories):
        group_h = len(series) * 18
        body.append(_label(category, LABEL_W - 8, y + group_h / 2 + 4))
        parts: list[str] = []
        for s, (name, _) in enumerate(series):
            value = table[s][c]
            text = f"{name}: {'—' if value is None else fmt(value)}"
            width = 0.0 if value is None else _scale(value, top)
            if value is not None:
                body.append(
                    _rect(f"chart-bar chart-series-{s}", LABEL_W, y + s * 18 + 2, width, 14, SERIES[s % 4])
                )
            body.append(_value(text, LABEL_W + width + 6, y + s * 18 + 13))
            parts.append(text if value is not None else f"{name}: no value")
        facts.append(f"{category}: {', '.join(parts)}")
        y += group_h + 12
    body.append(_axis(TOP + 24, y - 12))
    return _svg(chart_id, title, f"{title}: {'; '.join(facts)}.", round(y), body)


def histogram(chart_id: str, title: str, bins: Sequence[tuple[str, int]]) -> Markup:
    """Vertical columns, one per bin (e.g. scores 1..5), the count above each and the label below."""
    top = _largest(float(count) for _, count in bins)
    if top is None:
        return _empty(chart_id, title)
    pad, plot_top, bottom = 40, TOP + 20, TOP + 160
    slot = (WIDTH - 2 * pad) / len(bins)
    col_w = min(slot * 0.7, 80.0)
    chars = max(3, int(slot / 7))
    body: list[str] = []
    for i, (label, count) in enumerate(bins):
        h = _scale(float(count), top, bottom - plot_top)
        x = pad + i * slot + (slot - col_w) / 2
        mid = _n(x + col_w / 2)
        body.append(_rect("chart-bar chart-column", x, bottom - h, col_w, h, PRIMARY))
        body.append(
            f'<text class="chart-value" x="{mid}" y="{_n(bottom - h - 5)}" font-size="12" text-anchor="middle" fill="{TEXT}">{max(0, count)}</text>'
        )
        body.append(
            f'<text class="chart-label" x="{mid}" y="{bottom + 16}" font-size="12" text-anchor="middle" fill="{TEXT}">{escape(_cut(label, chars))}</text>'
        )
    body.append(
        f'<line class="chart-axis" x1="{pad}" y1="{bottom}" x2="{WIDTH - pad}" y2="{bottom}" stroke="{AXIS}" stroke-width="1"/>'
    )
    facts = "; ".join(f"{label}: {max(0, count)}" for label, count in bins)
    return _svg(chart_id, title, f"{title}: {facts}.", bottom + 28, body)


# ------------------------------------------------------------------------------------ drawing


def _svg(chart_id: str, title: str, desc: str, height: float, body: Sequence[str]) -> Markup:
    if not _ID.fullmatch(chart_id):
        raise ValueError(f"chart id {chart_id!r} is not a plain id (a letter, then letters, digits, - or _)")
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc"'
        f' viewBox="0 0 {WIDTH} {_n(height)}" width="100%" preserveAspectRatio="xMinYMin meet" font-family="system-ui, sans-serif">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>'
        f'<text class="chart-title" x="0" y="18" font-size="14" font-weight="600" fill="{TEXT}">{escape(title)}</text>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _empty(chart_id: str, title: str) -> Markup:
    text = f'<text class="chart-empty" x="{WIDTH / 2:g}" y="{TOP + 20}" font-size="13" text-anchor="middle" fill="{TEXT}">{NO_DATA}</text>'
    return _svg(chart_id, title, f"{title}: {NO_DATA}.", TOP + 36, [text])


def _rect(cls: str, x: float, y: float, width: float, height: float, fill: str) -> str:
    return f'<rect class="{cls}" x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" height="{_n(height)}" fill="{fill}"/>'


def _label(text: str, x: float, y: float) -> str:
    shown = escape(_cut(text, 32))
    return f'<text class="chart-label" x="{_n(x)}" y="{_n(y)}" font-size="12" text-anchor="end" fill="{TEXT}">{shown}</text>'


def _value(text: str, x: float, y: float) -> str:
    return f'<text class="chart-value" x="{_n(x)}" y="{_n(y)}" font-size="12" fill="{TEXT}">{escape(text)}</text>'


def _axis(y1: float, y2: float) -> str:
    return f'<line class="chart-axis" x1="{LABEL_W}" y1="{_n(y1)}" x2="{LABEL_W}" y2="{_n(y2)}" stroke="{AXIS}" stroke-width="1"/>'


# ------------------------------------------------------------------------------------ numbers


def _formatter(value_format: Callable[[float], str] | None, unit: str) -> Callable[[float], str]:
    base = value_format or (lambda v: _trim(f"{v:,.2f}"))
    return (lambda v: f"{base(v)} {unit}") if unit else base


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _largest(values: Iterable[float | None]) -> float | None:
    """The largest value, or None when there is nothing positive to draw (empty, all None or zero)."""
    present = [v for v in values if v is not None and v > 0]
    return max(present) if present else None


def _scale(value: float, top: float, room: float = BAR_MAX) -> float:
    return max(0.0, min(value, top)) / top * room


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _trim(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number


def _n(x: float) -> str:
    return _trim(f"{x:.2f}")
