from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from chatapp.dashboard.charts import HEIGHT, PAD_BOTTOM, PAD_TOP, Chart, Series, chart_svg

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    svg = svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    return ET.fromstring(svg)  # noqa: S314  # our own output, not untrusted input


def _text(node: ET.Element | None) -> str:
    assert node is not None
    return node.text or ""


def _num(node: ET.Element | None, attribute: str) -> float:
    assert node is not None
    return float(node.get(attribute) or "nan")


def _y(value: float, top: float) -> float:
    return PAD_TOP + (HEIGHT - PAD_TOP - PAD_BOTTOM) * (1 - value / top)


def test_a_line_chart_has_a_point_per_value_and_gaps_for_missing_ones():
    # given
    chart = Chart(
        slug="ttft",
        title="First token",
        description="Per day.",
        labels=["2026-03-02", "2026-03-03", "2026-03-04"],
        unit="ms",
        series=[
            Series("p50", [300.0, None, 800.0], "p50"),
            Series("p95", [480.0, None, 900.0], "p95"),
        ],
    )
    # when
    root = _parse(chart_svg(chart))
    # then: accessible name and description
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-ttft-title chart-ttft-desc"
    assert _text(root.find(f"{SVG}title")) == "First token"
    assert _text(root.find(f"{SVG}desc")) == "Per day."
    points = [
        (c.get("data-series"), c.get("data-x"), c.get("data-value"), _text(c.find(f"{SVG}title")))
        for c in root.iter(f"{SVG}circle")
    ]
    assert points == [
        ("p50", "2026-03-02", "300.0", "p50, 2026-03-02: 300 ms"),
        ("p50", "2026-03-04", "800.0", "p50, 2026-03-04: 800 ms"),
        ("p95", "2026-03-02", "480.0", "p95, 2026-03-02: 480 ms"),
        ("p95", "2026-03-04", "900.0", "p95, 2026-03-04: 900 ms"),
    ]
    # the axis tops at 1000 (a round number over 900); 900 sits 90% of the way up
    y = _num(root.find(f"{SVG}circle[@data-value='900.0']"), "cy")
    assert abs(y - _y(900, 1000)) < 0.1
    # a None splits each line: two single points draw no polyline
    assert list(root.iter(f"{SVG}polyline")) == []


def test_a_stacked_chart_stacks_bars_per_day():
    # given
    chart = Chart(
        slug="conversations",
        title="Conversations",
        description="Stacked.",
        labels=["2026-03-02", "2026-03-03"],
        kind="stacked",
        series=[Series("Bot", [2, 0], "bot"), Series("People", [1, 3], "people")],
    )
    # when
    root = _parse(chart_svg(chart))
    # then: zero-height bars are left out; the day's bars stack up to its total
    bars = {(r.get("data-series"), r.get("data-x")): r for r in root.iter(f"{SVG}rect")}
    assert sorted(bars) == [
        ("bot", "2026-03-02"),
        ("people", "2026-03-02"),
        ("people", "2026-03-03"),
    ]
    bot, people = bars[("bot", "2026-03-02")], bars[("people", "2026-03-02")]
    assert abs(_num(people, "y") + _num(people, "height") - _num(bot, "y")) < 0.2
    assert abs(_num(people, "y") - _y(3, 4)) < 0.1  # top 4: whole-number quarter lines


def test_text_in_a_chart_is_escaped():
    # given
    chart = Chart(
        slug="x",
        title="<script>alert(1)</script>",
        description="a & b",
        labels=["<b>"],
        series=[Series("s<", [1], "k")],
    )
    # when
    svg = chart_svg(chart)
    # then
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "a &amp; b" in svg
    _parse(svg)  # still well-formed XML


def test_percent_charts_show_percentages_in_the_table():
    # given
    chart = Chart(
        slug="rate",
        title="Rate",
        description="",
        labels=["2026-03-02", "2026-03-03"],
        percent=True,
        series=[Series("Hand-off rate", [0.5, None], "rate")],
    )
    # then
    assert chart.rows == [("2026-03-02", ["50%"]), ("2026-03-03", ["—"])]
    assert re.search(r'data-value="0.5"', chart_svg(chart))


def test_a_scale_chart_keeps_its_fixed_top_and_shows_decimals():
    # given: CSAT averages on a 1-5 scale
    chart = Chart(
        slug="csat",
        title="CSAT",
        description="",
        labels=["2026-03-02", "2026-03-03"],
        top=5.0,
        decimals=1,
        series=[Series("CSAT", [4.5, 2.25], "csat")],
    )
    # when
    root = _parse(chart_svg(chart))
    # then: 4.5 sits 90% of the way up a 0-5 axis (not a 0-8 one from the data), shown as 4.5
    y = _num(root.find(f"{SVG}circle[@data-value='4.5']"), "cy")
    assert abs(y - _y(4.5, 5.0)) < 0.1
    assert chart.rows == [("2026-03-02", ["4.5"]), ("2026-03-03", ["2.2"])]
