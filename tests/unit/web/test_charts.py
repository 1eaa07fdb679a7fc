"""The SVG charts: well-formed, labelled, scaled and escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from zhongtai.web import charts
from zhongtai.web.charts import Datum, MapFocus, MapPoint

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def test_nice_ticks_cover_the_maximum_with_round_steps() -> None:
    assert charts.nice_ticks(38) == [0, 10, 20, 30, 40]
    assert charts.nice_ticks(440_640) == [0, 200_000, 400_000, 600_000]
    assert charts.nice_ticks(0) == [0.0, 1.0]
    assert charts.nice_ticks(7)[-1] >= 7


def test_bar_heights_are_proportional_and_labelled() -> None:
    svg = charts.bar_chart([Datum("上海", 30), Datum("北京", 15), Datum("武汉", 0)], title="库存")
    root = parse(svg)
    bars = [r for r in root.iter(f"{NS}rect")]
    heights = [float(r.get("height", 0)) for r in bars]
    assert heights[0] == 2 * heights[1] or abs(heights[0] - 2 * heights[1]) < 0.2
    assert heights[2] <= 0.5  # zero shows as a hairline, not a missing bar
    labels = texts(root)
    assert {"上海", "北京", "武汉", "30", "15", "0"} <= set(labels)
    assert root.find(f"{NS}title").text == "库存"  # type: ignore[union-attr]


def test_long_labels_rotate_and_truncate() -> None:
    data = [Datum(f"云启某某某某某某某旗舰店第{i}家", i + 1) for i in range(12)]
    svg = charts.bar_chart(data, title="t", width=400)
    assert "rotate(-35" in svg
    assert "…" in svg


def test_hbar_widths_scale_to_the_largest() -> None:
    root = parse(charts.hbar_chart([Datum("a", 100), Datum("b", 50)], title="t"))
    widths = [float(r.get("width", 0)) for r in root.iter(f"{NS}rect")]
    assert abs(widths[0] - 2 * widths[1]) < 0.2


def test_donut_shares_add_up_and_fold_small_slices() -> None:
    data = [Datum(f"c{i}", v) for i, v in enumerate([50, 20, 10, 8, 5, 4, 2, 1])]
    root = parse(charts.donut_chart(data, title="t", max_slices=4, other_label="其他"))
    labels = texts(root)
    assert "其他" in labels
    pcts = [float(x.rstrip("%")) for x in labels if x.endswith("%")]
    assert len(pcts) == 4
    assert abs(sum(pcts) - 100) < 0.3
    assert "100" in labels  # the centre shows the total


def test_donut_with_one_share_is_a_whole_ring() -> None:
    root = parse(charts.donut_chart([Datum("only", 5)], title="t"))
    assert root.find(f".//{NS}circle") is not None
    assert "100.0%" in texts(root)


def test_empty_charts_say_so() -> None:
    for svg in (
        charts.bar_chart([], title="t", empty_message="无数据"),
        charts.hbar_chart([], title="t", empty_message="无数据"),
        charts.donut_chart([Datum("a", 0)], title="t", empty_message="无数据"),
        charts.location_map([], title="t", empty_message="无数据"),
    ):
        assert "无数据" in texts(parse(svg))


def test_text_is_escaped() -> None:
    svg = charts.bar_chart([Datum("<script>alert(1)</script>", 1, href='/x?a=1&b="2"')], title="a & b")
    assert "<script>" not in svg
    parse(svg)  # still well-formed


def _dots(root: ET.Element) -> list[tuple[float, float, float]]:
    out = []
    for g in root.iter(f"{NS}g"):
        if g.get("class") == "dot":
            c = g.find(f"{NS}circle")
            assert c is not None
            out.append((float(c.get("cx", 0)), float(c.get("cy", 0)), float(c.get("r", 0))))
    return out


def test_map_places_dots_by_longitude_and_latitude_with_area_by_stock() -> None:
    points = [
        MapPoint("上海", 31.23, 121.47, 400, "store"),
        MapPoint("北京", 39.91, 116.37, 100, "store"),
        MapPoint("武汉", 30.67, 114.13, 0, "central_dc"),
    ]
    root = parse(
        charts.location_map(
            points, title="t", group_labels={"store": "门店", "central_dc": "中央仓"}, size_label="可用"
        )
    )
    # Drawn biggest first: Shanghai, Beijing, Wuhan
    (sx, sy, sr), (bx, by, br), (wx, wy, wr) = _dots(root)
    assert sx > bx > wx  # east is right
    assert by < sy
    assert by < wy
    assert sr > br > wr  # ... and an empty location is the smallest (a hollow ring)
    labels = texts(root)
    assert {"门店", "中央仓", "可用"} <= set(labels)
    assert any(re.fullmatch(r"\d+°E", x) for x in labels)
    assert any(re.fullmatch(r"\d+°N", x) for x in labels)


def test_map_draws_the_search_radius() -> None:
    svg = charts.location_map(
        [MapPoint("a", 31.2, 121.4, 5, "store")], title="t", focus=MapFocus(31.23, 121.47, 10, "人民广场")
    )
    root = parse(svg)
    assert root.find(f".//{NS}ellipse") is not None
    assert "人民广场" in svg


def test_haversine_shanghai_to_beijing() -> None:
    assert 1060 < charts.haversine_km(31.23, 121.47, 39.90, 116.40) < 1080
