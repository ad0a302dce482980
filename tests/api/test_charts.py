"""The dashboard's SVG charts (api/pages/charts.py), as a parser and a screen reader see them:
well-formed XML, an image named by its <title> and described by its <desc>, one bar per value and
scaled to the largest, labels escaped, no `style` anywhere (the CSP forbids it), flagged bars in the
second colour and saying so in words, and "No data yet" when there is nothing to draw."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup, escape

from api.pages.charts import (
    PRIMARY,
    SECOND,
    bar_chart,
    grouped_bar_chart,
    histogram,
    hours,
    percent,
)

NS = "{http://www.w3.org/2000/svg}"


def parse(chart: Markup) -> ET.Element:
    assert isinstance(chart, Markup)
    root = ET.fromstring(str(chart))  # raises on anything not well-formed
    assert root.tag == f"{NS}svg"
    return root


def all_of(root: ET.Element, tag: str, cls: str | None = None) -> list[ET.Element]:
    found = root.iter(f"{NS}{tag}")
    return [e for e in found if cls is None or cls in e.get("class", "").split()]


def texts(root: ET.Element, cls: str | None = None) -> list[str]:
    return [e.text or "" for e in all_of(root, "text", cls)]


def desc(root: ET.Element) -> str:
    return "".join(all_of(root, "desc")[0].itertext())


def bars(root: ET.Element) -> list[ET.Element]:
    return all_of(root, "rect", "chart-bar")


def width(e: ET.Element, attr: str = "width") -> float:
    return float(e.get(attr, "nan"))


def luminance(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def every_chart() -> list[Markup]:
    return [
        bar_chart(
            "a", "Funnel", [("Applied", 10), ("R&D <x>", 3), ("Hired", None)], highlight=lambda _, v: v < 5
        ),
        bar_chart("b", "Empty", []),
        grouped_bar_chart(
            "c", "Time", ["Applied", "Review"], [("median", [3600, None]), ("p90", [7200, 9000])]
        ),
        grouped_bar_chart("d", "Time", [], []),
        histogram("e", "Scores", [("1", 2), ("2", 0), ("3", 7)]),
        histogram("f", "Scores", [("1", 0)]),
    ]


@pytest.mark.parametrize("chart", every_chart())
def test_every_chart_is_a_named_described_image(chart: Markup) -> None:
    root = parse(chart)
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert len((root.get("viewBox") or "").split()) == 4
    ids = (root.get("aria-labelledby") or "").split()
    assert len(ids) == 2
    by_id = {e.get("id"): e for e in root.iter() if e.get("id")}
    assert by_id[ids[0]].tag == f"{NS}title"
    assert by_id[ids[1]].tag == f"{NS}desc"
    assert (by_id[ids[0]].text or "").strip()
    assert (by_id[ids[1]].text or "").strip().endswith(".")


@pytest.mark.parametrize("chart", every_chart())
def test_nothing_a_strict_csp_would_block(chart: Markup) -> None:
    root = parse(chart)
    for e in root.iter():
        assert "style" not in e.attrib
        assert not any(name.startswith("on") for name in e.attrib)
        assert e.tag not in (f"{NS}style", f"{NS}script", f"{NS}foreignObject")
    assert "style=" not in str(chart)


@pytest.mark.parametrize("chart", every_chart())
def test_text_and_bars_contrast_with_white(chart: Markup) -> None:
    for e in parse(chart).iter():
        if e.tag in (f"{NS}text", f"{NS}rect") and e.get("fill"):
            assert 1.05 / (luminance(e.get("fill", "")) + 0.05) >= 4.5


def test_a_bar_per_value_scaled_to_the_largest() -> None:
    root = parse(
        bar_chart("load", "Reviewer load", [("Ann", 4), ("Bo", 8), ("Cy", None), ("Di", 2), ("Ed", 0)])
    )
    drawn = bars(root)
    assert len(drawn) == 4  # None draws no bar; zero draws an empty one
    w = [width(r) for r in drawn]
    assert max(w) == w[1] > 0
    assert w[0] == pytest.approx(w[1] / 2)
    assert w[2] == pytest.approx(w[1] / 4)
    assert w[3] == 0
    assert texts(root, "chart-label") == ["Ann", "Bo", "Cy", "Di", "Ed"]
    assert texts(root, "chart-value") == ["4", "8", "—", "2", "0"]
    assert "Cy: no value" in desc(root)
    assert "Bo: 8" in desc(root)


def test_values_are_formatted_with_their_unit() -> None:
    root = parse(bar_chart("t", "Time in stage", [("Review", 5400.0)], unit="per stage", value_format=hours))
    assert texts(root, "chart-value") == ["1.5 h per stage"]
    root = parse(bar_chart("s", "Answered", [("Q1", 0.425), ("Q2", 1.0)], value_format=percent))
    assert texts(root, "chart-value") == ["42.5%", "100%"]


def test_labels_are_escaped() -> None:
    chart = bar_chart("esc", "Teams & <things>", [("R&D <x>", 3.0)])
    assert "R&amp;D &lt;x&gt;" in chart
    assert "<x>" not in chart
    root = parse(chart)
    assert texts(root, "chart-label") == ["R&D <x>"]
    assert "R&D <x>: 3" in desc(root)
    assert all_of(root, "title")[0].text == "Teams & <things>"
    assert escape(chart) == chart  # Markup: a template puts it in as is, not escaped twice


def test_long_labels_are_cut_on_the_chart_but_whole_in_the_description() -> None:
    label = "How would you design a rate limiter for a distributed system?"
    root = parse(bar_chart("q", "Answered", [(label, 1.0)]))
    assert texts(root, "chart-label")[0].endswith("…")
    assert label in desc(root)


def test_flagged_bars_are_in_the_second_colour_and_say_so() -> None:
    rows = [("Group A", 1.0), ("Group B", 0.62), ("Group C", 0.8), ("Group D", None)]
    root = parse(bar_chart("impact", "Impact ratio", rows, highlight=lambda _, ratio: ratio < 0.8))
    drawn = bars(root)
    assert [r.get("fill") for r in drawn] == [PRIMARY, SECOND, PRIMARY]
    assert ["chart-bar-flagged" in (r.get("class") or "") for r in drawn] == [False, True, False]
    assert texts(root, "chart-value") == ["1", "0.62 (flagged)", "0.8", "—"]
    assert "Group B: 0.62 (flagged)" in desc(root)


@pytest.mark.parametrize(
    "chart",
    [
        bar_chart("e1", "Funnel", []),
        bar_chart("e2", "Funnel", [("Applied", 0), ("Hired", 0)]),
        bar_chart("e3", "Funnel", [("Applied", None)]),
        bar_chart("e4", "Funnel", [("Applied", float("nan"))]),
        grouped_bar_chart("e5", "Time", ["Applied"], []),
        grouped_bar_chart("e6", "Time", ["Applied"], [("median", [None]), ("p90", [0])]),
        histogram("e7", "Scores", []),
        histogram("e8", "Scores", [("1", 0), ("2", 0)]),
    ],
)
def test_no_data_yet(chart: Markup) -> None:
    root = parse(chart)
    assert "No data yet" in desc(root)
    assert texts(root, "chart-empty") == ["No data yet"]
    assert bars(root) == []


def test_grouped_bars_have_a_legend_and_name_their_series() -> None:
    h = 3600.0
    chart = grouped_bar_chart(
        "tis",
        "Time in stage",
        ["Applied", "R&D <review>"],
        [("median", [2 * h, 6 * h]), ("p90", [4 * h, None])],
        value_format=hours,
    )
    root = parse(chart)
    legend = all_of(root, "g", "chart-legend")
    assert [t.text for g in legend for t in g.iter(f"{NS}text")] == ["median", "p90"]
    swatches = all_of(root, "rect", "chart-swatch")
    assert [s.get("fill") for s in swatches] == [PRIMARY, SECOND]
    drawn = bars(root)
    assert [r.get("fill") for r in drawn] == [PRIMARY, SECOND, PRIMARY]
    w = [width(r) for r in drawn]
    assert max(w) == w[2]
    assert w[0] == pytest.approx(w[2] / 3)
    assert w[1] == pytest.approx(w[2] * 2 / 3)
    assert texts(root, "chart-value") == ["median: 2 h", "p90: 4 h", "median: 6 h", "p90: —"]
    assert texts(root, "chart-label") == ["Applied", "R&D <review>"]
    assert "R&D <review>: median: 6 h, p90: no value" in desc(root)


def test_histogram_columns_with_counts_above_and_labels_below() -> None:
    root = parse(histogram("scores", "Scores", [("1", 1), ("2", 4), ("3", 2), ("4", 0), ("5", 3)]))
    columns = bars(root)
    assert len(columns) == 5
    heights = [width(c, "height") for c in columns]
    assert max(heights) == heights[1]
    assert heights[0] == pytest.approx(heights[1] / 4)
    assert heights[3] == 0
    bottoms = {round(width(c, "y") + width(c, "height"), 2) for c in columns}
    assert len(bottoms) == 1  # all standing on the same baseline
    assert texts(root, "chart-value") == ["1", "4", "2", "0", "3"]
    assert texts(root, "chart-label") == ["1", "2", "3", "4", "5"]
    counts = all_of(root, "text", "chart-value")
    labels = all_of(root, "text", "chart-label")
    for column, count, label in zip(columns, counts, labels, strict=True):
        assert width(count, "y") < width(column, "y") <= width(label, "y")
    assert desc(root) == "Scores: 1: 1; 2: 4; 3: 2; 4: 0; 5: 3."


@pytest.mark.parametrize("bad", ["", "two words", '"><script>', "1st"])
def test_chart_ids_must_be_plain(bad: str) -> None:
    with pytest.raises(ValueError, match="chart id"):
        bar_chart(bad, "Funnel", [("Applied", 1)])


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0 min"),
        (25 * 60, "25 min"),
        (3.5 * 3600, "3.5 h"),
        (3 * 3600, "3 h"),
        (36 * 3600, "36 h"),
        (52 * 3600, "2 d 4 h"),
        (72 * 3600, "3 d"),
        (-5, "0 min"),
    ],
)
def test_hours(seconds: float, shown: str) -> None:
    assert hours(seconds) == shown


@pytest.mark.parametrize(
    ("share", "shown"),
    [
        (0, "0%"),
        (0.42, "42%"),
        (0.425, "42.5%"),
        (1 / 3, "33.3%"),
        (1, "100%"),
        (0.0001, "<0.1%"),
        (0.99999, ">99.9%"),
    ],
)
def test_percent(share: float, shown: str) -> None:
    assert percent(share) == shown
