"""The dashboard's SVG charts: escaped, labelled for screen readers, styled only by class."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from web.dashboard import charts
from web.dashboard.charts import Series

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    # The charts are inline SVG in HTML, without a namespace: add one to parse as XML.
    text = str(markup).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1)
    return ET.fromstring(text)  # noqa: S314 - markup of our own making


def bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if "bar" in rect.get("class", "").split()]


def test_stacked_bars_stack_each_days_series_in_order() -> None:
    markup = charts.stacked_bars(
        "Letters per day",
        ["1 May", "2 May"],
        [Series("Delivered", "delivered", [30, 10]), Series("Bounced", "bounced", [10, 0])],
        "letters",
    )
    root = parse(markup)
    first_delivered, first_bounced, second_delivered = bars(root)
    # 40 is the tallest day: the scale's top is 50 (a round number above it).
    assert float(first_delivered.get("height")) == pytest.approx(180 * 30 / 50)
    assert float(first_bounced.get("height")) == pytest.approx(180 * 10 / 50)
    # The bounced part sits right on top of the delivered part of the same day.
    top_of_delivered = float(first_delivered.get("y"))
    bottom_of_bounced = float(first_bounced.get("y")) + float(first_bounced.get("height"))
    assert bottom_of_bounced == pytest.approx(top_of_delivered)
    assert float(second_delivered.get("height")) == pytest.approx(180 * 10 / 50)
    assert [rect.find(f"{SVG}title").text for rect in bars(root)] == [
        "1 May: Delivered 30",
        "1 May: Bounced 10",
        "2 May: Delivered 10",
    ]


def test_a_chart_has_a_title_a_description_and_an_accessible_name() -> None:
    markup = charts.lines("Readers", ["1 May", "2 May"], [Series("Active", "active", [5, 7])])
    root = parse(markup)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Readers"
    assert root.find(f"{SVG}title").text == "Readers"
    assert root.find(f"{SVG}desc").text == "From 1 May to 2 May. Latest: Active 7."
    assert [c.find(f"{SVG}title").text for c in root.iter(f"{SVG}circle")] == [
        "1 May: Active 5",
        "2 May: Active 7",
    ]


def test_every_text_is_escaped() -> None:
    hostile = '<script>alert("x")</script>&'
    markup = charts.stacked_bars(hostile, [hostile], [Series(hostile, '"><x', [1])], hostile)
    assert "<script>" not in markup
    assert '"><x' not in markup
    root = parse(markup)  # still well-formed XML
    assert root.find(f"{SVG}title").text == hostile


def test_charts_use_classes_never_style_attributes_or_scripts() -> None:
    markups = [
        charts.stacked_bars("a", ["x"], [Series("s", "sent", [3])]),
        charts.lines("b", ["x", "y"], [Series("s", "active", [1, 2])]),
        charts.meter("c", 0.002, [(0.001, "warn"), (0.003, "alarm")], "warn"),
    ]
    for markup in markups:
        assert "style=" not in markup
        assert "<script" not in markup
        assert re.search(r"\son[a-z]+=", markup) is None


def test_an_empty_chart_still_renders_with_a_scale() -> None:
    root = parse(charts.stacked_bars("Nothing", [], []))
    assert bars(root) == []
    assert root.find(f"{SVG}desc").text == "No data."


def test_the_meter_marks_its_thresholds_and_fills_to_the_rate() -> None:
    root = parse(charts.meter("Complaints", 0.002, [(0.001, "warn"), (0.003, "alarm")], "warn"))
    assert root.find(f"{SVG}title").text == "Complaints: 0.20%"
    marks = [line.find(f"{SVG}title").text for line in root.iter(f"{SVG}line")]
    assert marks == ["warn", "alarm"]
    fill = next(r for r in root.iter(f"{SVG}rect") if "fill" in r.get("class", ""))
    assert fill.get("class") == "fill warn"
    # The scale is 1.25 times the largest of rate and marks: 0.003 -> 0.00375, 240 wide.
    assert float(fill.get("width")) == pytest.approx(240 * 0.002 / 0.00375, abs=0.1)


def test_a_meter_without_mail_says_so() -> None:
    root = parse(charts.meter("Bounced", None, [], "muted"))
    assert root.find(f"{SVG}title").text == "Bounced: no mail went out"


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (7, 10), (40, 50), (101, 200), (1_000_001, 2_000_000)]
)
def test_the_scale_ends_at_a_round_number(value: float, ceiling: float) -> None:
    assert charts.nice_ceiling(value) == ceiling


def test_percentages_keep_two_decimals_where_thresholds_live() -> None:
    assert charts.percent(0.001) == "0.10%"
    assert charts.percent(0.0349) == "3.49%"
    assert charts.percent(0.5) == "50%"
