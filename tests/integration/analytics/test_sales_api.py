"""The sales and inventory dashboards over HTTP: JSON, XLSX, filters, 422s and store scope.

The lake is the hand-built one of ``tests.unit.analytics.test_sales_lake`` (every figure is
computed there by hand), written where the app reads it (``settings.analytics_dir``)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.factories import console_login, key_headers, make_key, make_user
from tests.integration.web.seed import Shop, seed_shop
from tests.unit.analytics.test_sales_lake import DC, S1, S2, build_lake
from zhongtai.db import Database
from zhongtai.settings import Settings

PERIOD = {"start": "2026-03-01", "end": "2026-03-07"}


@pytest.fixture
def shop(db: Database, settings: Settings) -> Shop:
    """A seeded database whose stores the lake's S1, S2 and DC are renumbered to."""
    shop = seed_shop(db)
    assert settings.analytics_dir is not None
    build_lake(Path(settings.analytics_dir), {S1: shop.store_a, S2: shop.store_b, DC: shop.dc})
    return shop


@pytest.fixture
def analyst(db: Database, shop: Shop) -> dict[str, str]:
    return key_headers(make_key(db, role="analyst", name="bi"))


def test_sales_json(client: TestClient, analyst: dict[str, str], shop: Shop) -> None:
    resp = client.get("/api/v1/analytics/sales", params=PERIOD, headers=analyst)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    # net 6250 over 7 orders; members 5000 / 6250; refund (6600 - 6250) / 6600
    assert body["current"]["net_fen"] == 6250
    assert body["current"]["orders"] == 7
    assert body["current"]["aov_fen"] == 893
    assert body["current"]["member_share"] == "0.8000"
    assert body["current"]["refund_rate"] == "0.0530"
    assert body["previous"]["net_fen"] == 3300
    assert [(r["key"], r["net_fen"]) for r in body["by_channel"]] == [("pos", 3300), ("mini", 1650), ("tmall", 1300)]
    assert [(r["key"], r["net_fen"]) for r in body["by_store"]] == [
        (str(shop.store_a), 3700),
        (None, 1300),
        (str(shop.store_b), 1250),
    ]
    assert [s["sku_id"] for s in body["top_skus"]] == [101, 104, 103, 102]


def test_filters_on_the_api(client: TestClient, analyst: dict[str, str], shop: Shop) -> None:
    def net(**params: str) -> int:
        resp = client.get("/api/v1/analytics/sales", params=PERIOD | params, headers=analyst)
        assert resp.status_code == 200, resp.text
        return int(resp.json()["current"]["net_fen"])

    assert net(channel="pos") == 3300
    assert net(channel="pos,tmall") == 3300 + 1300
    assert net(store=str(shop.store_b)) == 1250
    assert net(category="20") == 750
    assert net(end="2026-03-02") == 1200 + 100 + 1000


def test_inventory_json(client: TestClient, analyst: dict[str, str], shop: Shop) -> None:
    resp = client.get("/api/v1/analytics/inventory", params=PERIOD, headers=analyst)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["now"]["value_fen"] == 7400
    # 55400 stock-days / 3750 COGS
    assert body["turnover"]["turnover_days"] == "14.8"
    assert body["stockout_count"] == 3
    assert body["slow_count"] == 4
    assert [b["value_fen"] for b in body["age_buckets"]] == [1400, 2700, 0, 2100, 1200]
    only_s1 = client.get("/api/v1/analytics/inventory", params=PERIOD | {"store": str(shop.store_a)}, headers=analyst)
    assert only_s1.json()["now"]["value_fen"] == 1700


def test_bad_filters_are_a_422_naming_each(client: TestClient, analyst: dict[str, str], shop: Shop) -> None:
    for path in ("/api/v1/analytics/sales", "/api/v1/analytics/inventory.xlsx"):
        resp = client.get(
            path,
            params={"start": "yesterday", "channel": "nope", "store": "abc", "category": "phones"},
            headers=analyst,
        )
        assert resp.status_code == 422
        assert resp.headers["content-type"].startswith("application/problem+json")
        fields = {(e["field"], e["code"]) for e in resp.json()["errors"]}
        assert fields == {
            ("start", "date_parsing"),
            ("channel", "unknown_channel"),
            ("store", "int_parsing"),
            ("category", "int_parsing"),
        }
    backwards = client.get(
        "/api/v1/analytics/sales", params={"start": "2026-03-07", "end": "2026-03-01"}, headers=analyst
    )
    assert [(e["field"], e["code"]) for e in backwards.json()["errors"]] == [("end", "before_start")]


def test_sales_xlsx_holds_the_same_figures(client: TestClient, analyst: dict[str, str], shop: Shop) -> None:
    resp = client.get("/api/v1/analytics/sales.xlsx", params=PERIOD, headers=analyst)
    assert resp.status_code == 200
    assert "sales-2026-03-01-2026-03-07.xlsx" in resp.headers["content-disposition"]
    book = load_workbook(io.BytesIO(resp.content), read_only=True)
    assert book.sheetnames == [
        "filters",
        "sheet_kpis",
        "sheet_days",
        "sheet_channels",
        "sheet_stores",
        "sheet_categories",
        "sheet_skus",
        "sheet_hours",
    ]
    kpis = list(book["sheet_kpis"].iter_rows(values_only=True))
    head = kpis[0]
    current = dict(zip(head, kpis[1], strict=True))
    previous = dict(zip(head, kpis[2], strict=True))
    # money in yuan: 6250 fen = 62.50; 893 fen = 8.93
    assert (current["net_sales"], current["orders"], current["aov"]) == (62.5, 7, 8.93)
    assert current["refund_rate"] == pytest.approx(0.053)
    assert previous["net_sales"] == 33.0
    skus = list(book["sheet_skus"].iter_rows(values_only=True))
    assert skus[1][:6] == ("SKU-101", "云启手机", 5, 50.0, 30.0, 20.0)
    stores = list(book["sheet_stores"].iter_rows(values_only=True))
    assert [r[2] for r in stores[1:]] == [37.0, 13.0, 12.5]
    assert stores[2][1] == "no_store"


def test_inventory_xlsx(client: TestClient, analyst: dict[str, str], shop: Shop) -> None:
    resp = client.get("/api/v1/analytics/inventory.xlsx", params=PERIOD, headers=analyst)
    assert resp.status_code == 200
    book = load_workbook(io.BytesIO(resp.content), read_only=True)
    summary = list(book["sheet_summary"].iter_rows(values_only=True))
    row = dict(zip(summary[0], summary[1], strict=True))
    assert (row["stock_value"], row["cogs"], row["turnover_days"], row["stockouts"]) == (74.0, 37.5, 14.8, 3)
    ages = list(book["sheet_ages"].iter_rows(values_only=True))
    assert ages[1:] == [
        ("0-30", 6, 14.0),
        ("31-60", 12, 27.0),
        ("61-90", 0, 0.0),
        ("91-180", 9, 21.0),
        ("181+", 4, 12.0),
    ]


def test_a_store_manager_sees_only_their_stores(client: TestClient, db: Database, shop: Shop) -> None:
    make_user(db, "s1.manager", "store_manager", [shop.store_a])
    console_login(client, "s1.manager")  # the API accepts the console session for reads
    sales = client.get("/api/v1/analytics/sales", params=PERIOD)
    assert sales.status_code == 200, sales.text
    assert sales.json()["current"]["net_fen"] == 3700
    assert [r["key"] for r in sales.json()["by_store"]] == [str(shop.store_a)]
    inventory = client.get("/api/v1/analytics/inventory", params=PERIOD)
    assert inventory.json()["now"]["value_fen"] == 1700
    outside = client.get("/api/v1/analytics/sales", params=PERIOD | {"store": str(shop.store_b)})
    assert outside.status_code == 422
    assert [(e["field"], e["code"]) for e in outside.json()["errors"]] == [("store", "out_of_scope")]


def test_who_may_read(client: TestClient, db: Database, shop: Shop) -> None:
    assert client.get("/api/v1/analytics/sales").status_code == 401
    integrator = key_headers(make_key(db, role="integrator"))
    assert client.get("/api/v1/analytics/inventory", headers=integrator).status_code == 403
