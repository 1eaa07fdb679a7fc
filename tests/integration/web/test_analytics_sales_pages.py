"""The sales and inventory dashboard pages in zh-CN and en, their XLSX downloads, store scope and
an empty lake. Figures come from the hand-built lake of ``tests.unit.analytics.test_sales_lake``."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.factories import console_login, make_user
from tests.integration.web.seed import Shop
from tests.unit.analytics.test_sales_lake import DC, S1, S2, build_lake
from zhongtai.db import Database
from zhongtai.settings import Settings

PERIOD = {"start": "2026-03-01", "end": "2026-03-07"}


@pytest.fixture
def lake_dir(settings: Settings) -> Path:
    assert settings.analytics_dir is not None
    return Path(settings.analytics_dir)


@pytest.fixture
def filled(lake_dir: Path, shop: Shop) -> Shop:
    build_lake(lake_dir, {S1: shop.store_a, S2: shop.store_b, DC: shop.dc})
    return shop


def kpi(html: str, key: str) -> str:
    found = re.search(rf'data-kpi="{key}">\s*<div class="label">[^<]*</div>\s*<div class="value">([^<]*)</div>', html)
    assert found, key
    return found.group(1)


def test_sales_page_in_chinese(client: TestClient, admin: dict[str, str], filled: Shop) -> None:
    resp = client.get("/analytics/sales", params=PERIOD)
    assert resp.status_code == 200, resp.text
    html = resp.text
    assert "<h1>销售看板</h1>" in html
    assert "对比上一周期 2026-02-22 至 2026-02-28" in html
    assert kpi(html, "net_sales") == "¥62.50"
    assert kpi(html, "orders") == "7"
    assert kpi(html, "aov") == "¥8.93"
    assert kpi(html, "member_share") == "80.0%"
    assert kpi(html, "refund_rate") == "5.3%"
    # 6250 against 3300: +89.4 %
    assert "+89.4%" in html
    for chart in ("daily", "channel-share", "stores", "categories", "hours", "channels"):
        assert re.search(rf'id="{chart}".*?<svg class="chart', html, re.S), chart
    assert "线上（不归属门店）" in html
    assert "上海一店" in html
    assert "云启手机" in html
    assert "指标口径" in html
    assert "an_sales." not in html  # every key translated
    assert "lake-empty" not in html


def test_sales_page_in_english(client: TestClient, admin: dict[str, str], filled: Shop) -> None:
    client.cookies.set("lang", "en")
    html = client.get("/analytics/sales", params=PERIOD).text
    assert "<h1>Sales dashboard</h1>" in html
    assert "Net sales" in html
    assert "Online (no store)" in html
    assert "Shanghai One" in html
    assert "Yunqi phone" in html
    assert "Mini program" in html
    assert "an_sales." not in html


def test_a_category_drills_down(client: TestClient, admin: dict[str, str], filled: Shop) -> None:
    html = client.get("/analytics/sales", params=PERIOD | {"category": "10"}).text
    assert "“手机”的子品类" in html
    assert "智能手机" in html
    assert kpi(html, "net_sales") == "¥55.00"


def test_inventory_page(client: TestClient, admin: dict[str, str], filled: Shop) -> None:
    resp = client.get("/analytics/inventory", params=PERIOD)
    assert resp.status_code == 200, resp.text
    html = resp.text
    assert "<h1>库存看板</h1>" in html
    assert "库存截至 2026-03-07" in html
    assert kpi(html, "stock_value") == "¥74.00"
    assert kpi(html, "turnover_days") == "14.8 天"
    assert kpi(html, "stockouts") == "3"
    assert kpi(html, "stockout_days") == "5"
    assert kpi(html, "slow_movers") == "4"
    # (101, S2) 1800 + (102, S1) 300 + (104, S1) 1200 older than 90 days
    assert kpi(html, "aged") == "¥33.00"
    assert 'id="channel-note"' in html
    assert 'id="f-channel"' not in html  # the channel filter does not apply here
    for chart in ("stockout-days", "ages", "ages-by-location", "turnover-categories"):
        assert re.search(rf'id="{chart}".*?<svg class="chart', html, re.S), chart
    assert "早于台账" in html  # (104, S1) has no ledger
    assert "an_inv." not in html
    client.cookies.set("lang", "en")
    english = client.get("/analytics/inventory", params=PERIOD).text
    assert "<h1>Inventory dashboard</h1>" in english
    assert "14.8 days" in english
    assert "Before the ledger" in english
    assert "an_inv." not in english


def test_console_xlsx_in_the_page_language(client: TestClient, admin: dict[str, str], filled: Shop) -> None:
    resp = client.get("/analytics/sales.xlsx", params=PERIOD)
    assert resp.status_code == 200
    book = load_workbook(io.BytesIO(resp.content), read_only=True)
    assert book.sheetnames[:3] == ["filters", "核心指标", "每日"]
    rows = list(book["核心指标"].iter_rows(values_only=True))
    assert rows[0][:4] == ("周期", "开始日期", "结束日期", "净销售额（元）")
    assert rows[1][3] == 62.5
    filters = {r[0]: r[1] for r in book["filters"].iter_rows(values_only=True)}
    assert filters["开始日期"] == "2026-03-01"
    inventory = load_workbook(
        io.BytesIO(client.get("/analytics/inventory.xlsx", params=PERIOD).content), read_only=True
    )
    summary = list(inventory["库存概况"].iter_rows(values_only=True))
    assert summary[1][1] == 74.0


def test_a_store_manager_sees_their_store(client: TestClient, db: Database, filled: Shop) -> None:
    make_user(db, "s1.manager", "store_manager", [filled.store_a])
    console_login(client, "s1.manager")
    html = client.get("/analytics/sales", params=PERIOD).text
    # S1: O1 1200 + O5 500 + O10 2000
    assert kpi(html, "net_sales") == "¥37.00"
    assert "仅显示您负责的门店" in html
    assert "上海二店" not in html
    inventory = client.get("/analytics/inventory", params=PERIOD).text
    assert kpi(inventory, "stock_value") == "¥17.00"
    outside = client.get("/analytics/sales", params=PERIOD | {"store": str(filled.store_b)})
    assert outside.status_code == 200
    assert "不在您的门店范围内" in outside.text


def test_bad_filters_are_listed_not_a_500(client: TestClient, admin: dict[str, str], filled: Shop) -> None:
    resp = client.get("/analytics/inventory", params={"start": "soon", "category": "x"})
    assert resp.status_code == 200
    assert 'class="alert alert-bad"' in resp.text


def test_an_empty_lake_says_so(client: TestClient, admin: dict[str, str], shop: Shop) -> None:
    for path in ("/analytics/sales", "/analytics/inventory"):
        html = client.get(path).text
        assert 'id="lake-empty"' in html
        assert "还没有数据" in html or "no data yet" in html
