"""The touchpoint health and maturity console pages in zh-CN and en, their XLSX downloads, the
empty-lake notice, bad parameters listed on the page, and the store manager's scope."""

from __future__ import annotations

import io
import re
from pathlib import Path

import polars as pl
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.integration.web.seed import Shop
from tests.unit.analytics import test_health, test_maturity
from zhongtai.settings import Settings

HEALTH = "/analytics/touchpoints?start=2026-12-01&end=2026-12-01"
MATURITY = "/analytics/maturity?as_of=2026-11-30&months=3"


def lake_root(settings: Settings) -> Path:
    assert settings.analytics_dir is not None
    return Path(settings.analytics_dir)


def test_health_page_in_both_languages(client: TestClient, admin: dict[str, str], settings: Settings) -> None:
    test_health.build(lake_root(settings))
    page = client.get(HEALTH)
    assert page.status_code == 200
    html = page.text
    assert "触点健康" in html
    assert "有效事件率" in html
    assert 'id="lake-empty"' not in html
    for chart in ("chart-events", "chart-uptime", "chart-reasons"):
        assert f'id="{chart}"' in html
    assert html.count("<tr data-code=") == 4
    # now is days after the beats: every beating touchpoint is down; worst uptime first over the
    # whole day: CAM 3 of 288 intervals, WEB 4 of 144, SHELF (no uptime), then GROUP (never)
    order = re.findall(r'<tr data-code="(\w+)"', html)
    assert order == ["CAM", "WEB", "SHELF", "GROUP"]
    assert "66.7%" in html  # valid-event rate 6 / 9
    assert 'data-kpi="events"' in html
    assert ">6<" in html

    client.get("/lang/en?next=/")
    en = client.get(HEALTH).text
    assert "Touchpoint health" in en
    assert "Valid-event rate" in en
    assert "Top 10 rejection reasons" in en
    assert "触点健康" not in en


def test_health_xlsx_has_translated_headers(client: TestClient, admin: dict[str, str], settings: Settings) -> None:
    test_health.build(lake_root(settings))
    resp = client.get(HEALTH.replace("/touchpoints?", "/touchpoints.xlsx?"))
    assert resp.status_code == 200
    book = load_workbook(io.BytesIO(resp.content))
    header = next(book["touchpoints"].iter_rows(values_only=True))
    assert header[:3] == ("编码", "触点", "类型")
    about = {str(row[0]): row[1] for row in book["filters"].iter_rows(values_only=True)}
    assert about["开始日期"] == "2026-12-01"
    assert any(row[0] == "WEB" for row in book["touchpoints"].iter_rows(values_only=True))


def test_maturity_page_in_both_languages(client: TestClient, admin: dict[str, str], settings: Settings) -> None:
    test_maturity.build(lake_root(settings))
    page = client.get(MATURITY)
    assert page.status_code == 200
    html = page.text
    for name in ("覆盖与布局", "在线与连通", "数据与质量", "扩展与移植", "成本与收效"):
        assert name in html
    assert 'class="chart radar-chart"' in html
    # the filled-in formula of November's coverage and cost & return
    assert "100 ×（½ × 4/7 + ¼ × 1/3 + ¼ × 2/4）= 49.4" in html
    assert "投入产出比 = ¥2,500.00 ÷ ¥1,500.00 = 1.67" in html
    assert 'id="connections-table"' in html
    assert 'data-type="online"' in html
    # factors covered in November: goods, marketing, retail, service
    chips = re.findall(r'<span class="mat-chip( on)?">([^<]+)</span>', html)
    assert [name for on, name in chips if on] == ["商品", "营销", "零售", "服务"]

    client.get("/lang/en?next=/")
    en = client.get(MATURITY).text
    assert "Coverage &amp; layout" in en
    assert "Cost &amp; return" in en
    assert "100 × (½ × 4/7 + ¼ × 1/3 + ¼ × 2/4) = 49.4" in en


def test_maturity_xlsx_and_bad_parameters(client: TestClient, admin: dict[str, str], settings: Settings) -> None:
    test_maturity.build(lake_root(settings))
    resp = client.get(MATURITY.replace("/maturity?", "/maturity.xlsx?"))
    assert resp.status_code == 200
    book = load_workbook(io.BytesIO(resp.content))
    rows = list(book["indicators"].iter_rows(values_only=True))
    assert rows[0] == ("指标", "得分", "6 个月前", "公式")
    assert rows[1][0] == "覆盖与布局"
    assert str(rows[1][3]).startswith("100 ×（½ × 4/7")
    bad = client.get("/analytics/maturity?as_of=someday&months=0")
    assert bad.status_code == 200  # the page renders with defaults and lists the problems
    assert "评估日期" in bad.text
    assert "应在 1 到 36 之间" in bad.text


def test_empty_lake_is_announced(client: TestClient, admin: dict[str, str]) -> None:
    for url in (HEALTH, MATURITY):
        page = client.get(url)
        assert page.status_code == 200
        assert 'id="lake-empty"' in page.text


def test_store_manager_sees_only_their_stores_touchpoints(
    client: TestClient, manager: dict[str, str], shop: Shop, settings: Settings
) -> None:
    lake = test_health.build(lake_root(settings))
    # move the camera to the manager's first store
    frame = lake.query("SELECT * FROM touchpoints")
    lake.replace(
        "touchpoints",
        frame.with_columns(
            pl.when(pl.col("code") == "CAM").then(shop.store_a).otherwise(pl.col("location_id")).alias("location_id")
        ),
    )
    html = client.get(HEALTH).text
    assert re.findall(r'<tr data-code="(\w+)"', html) == ["CAM"]
