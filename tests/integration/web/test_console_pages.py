"""Every console page renders with data made through the services; store scopes hold."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.factories import console_login, make_user
from tests.integration.web.seed import SYSTEM, Shop
from zhongtai.catalog import service as catalog
from zhongtai.db import Database

ADMIN_PAGES = [
    ("/", "库存金额"),
    ("/catalog", "X1-BLK-256"),
    ("/catalog?q=X1&category=phones&brand=yq&lifecycle=on_sale", "X1-BLK-256"),
    ("/catalog/skus/X1-BLK-256", "各仓店库存"),
    ("/catalog/skus/X1-BLK-256?near=S-SH01&radius_km=10", "附近有货"),
    ("/catalog/skus/X1-BLK-256?lat=31.23&lon=121.47&radius_km=50", "km"),
    ("/locations", "华中中央仓"),
    ("/locations?type=store", "上海南京东路店"),
    ("/locations/S-SH01", "营业时间"),
    ("/locations/S-SH02?low=1", "低于安全库存"),
    ("/stock/movements", "PO-DC-WH"),
    ("/stock/movements?sku=X1-CASE&location=S-SH01&type=receipt&since=2000-01-01&until=2999-12-31", "X1-CASE"),
    ("/imports", "商品导入"),
    ("/admin/users", "boss"),
    ("/admin/api-keys", "API 密钥"),
    ("/admin/audit", "stock.receive"),
    ("/admin/audit?entity_type=location&action=location.create", "S-SH01"),
]


@pytest.mark.parametrize(("path", "expected"), ADMIN_PAGES)
def test_admin_sees_every_page(client: TestClient, admin: dict[str, str], path: str, expected: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200, resp.text[-2000:]
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["cache-control"] == "no-store"
    assert expected in resp.text


def test_home_shows_the_figures_of_the_day(client: TestClient, admin: dict[str, str]) -> None:
    page = client.get("/").text
    # Stock value = on hand × standard cost: 136 phones × ¥3,200 + 272 cases × ¥20 = ¥440,640
    assert "¥44.06万" in page
    assert 'title="¥440,640.00"' in page
    # One SKU × location is below its safety stock, listed with a link to the SKU
    assert "/catalog/skus/X1-BLK-256" in page
    assert "上海淮海中路店" in page
    # Charts are inline SVG, no script, no CDN
    assert page.count('<svg class="chart') >= 3
    assert "cdn" not in page.lower()


def test_sku_page_shows_the_product_and_its_stock_everywhere(client: TestClient, admin: dict[str, str]) -> None:
    page = client.get("/catalog/skus/X1-BLK-256").text
    for text in (
        "云启 X1 曜石黑 256GB",
        "一亿像素主摄",
        "屏幕尺寸",
        "英寸",
        "京东旗舰店",
        "¥4,499.00",
        "X1 硅胶手机壳",
        "6900000000014",
        "在售",
    ):
        assert text in page, text
    table = page[page.index('id="stock-table"') :]
    for code in ("DC-WH", "S-SH01", "S-SH02", "S-BJ01"):
        assert code in table
    # each stock row links to that SKU x location's forecast chart
    assert "/forecasts/series?sku=X1-BLK-256&amp;location=S-SH01" in table
    assert 'class="chart map-chart' in page


def test_near_search_lists_nearest_first(client: TestClient, admin: dict[str, str]) -> None:
    page = client.get("/catalog/skus/X1-BLK-256?near=S-SH01&radius_km=10").text
    near = page[page.index("km 内共") :]
    # Both Shanghai stores are within 10 km of Nanjing Road; Beijing and Wuhan are not
    assert near.index("上海南京东路店") < near.index("上海淮海中路店")
    assert "北京西单店" not in near[: near.index("</table>")]


def test_english_switch(client: TestClient, admin: dict[str, str]) -> None:
    resp = client.get("/lang/en?next=/catalog", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/catalog"
    assert resp.headers["set-cookie"].startswith("lang=en")
    page = client.get("/catalog").text
    assert '<html lang="en">' in page
    assert "Catalog" in page
    assert "Sale price" in page
    assert "On sale" in page
    assert "商品中心" not in page
    client.get("/lang/zh-CN")
    assert "商品中心" in client.get("/catalog").text


def test_the_users_own_language_applies_without_the_switch(client: TestClient, db: Database, shop: Shop) -> None:
    from zhongtai.auth import service as auth_service

    with db.transaction() as s:
        auth_service.create_user(
            s, SYSTEM, username="zhou", display_name="Zhou", password="correct-horse-1", role="analyst", locale="en"
        )
    console_login(client, "zhou")
    assert "Dashboard" in client.get("/").text


def test_store_manager_sees_only_their_stores(client: TestClient, manager: dict[str, str]) -> None:
    # Their own store opens
    assert client.get("/locations/S-SH01").status_code == 200
    # Another store and the DC answer as if they did not exist
    for code in ("S-BJ01", "DC-WH"):
        resp = client.get(f"/locations/{code}")
        assert resp.status_code == 404, code
        assert "不在您的门店权限范围内" in resp.text
    # Lists and the SKU's stock table leave the other locations out
    assert "S-BJ01" not in client.get("/locations").text
    sku = client.get("/catalog/skus/X1-BLK-256").text
    assert "S-SH01" in sku
    assert "S-BJ01" not in sku
    assert "DC-WH" not in sku
    assert "S-BJ01" not in client.get("/stock/movements").text
    assert "PO-S-BJ01" not in client.get("/stock/movements?location=S-BJ01").text
    # The top bar names their stores
    assert "上海南京东路店" in client.get("/").text


def test_store_manager_cannot_open_admin_pages(client: TestClient, manager: dict[str, str]) -> None:
    for path in ("/admin/users", "/admin/api-keys", "/admin/audit"):
        assert client.get(path).status_code == 403, path
    nav = client.get("/").text
    assert "/admin/users" not in nav


def test_unknown_pages_render_the_friendly_error(client: TestClient, admin: dict[str, str]) -> None:
    resp = client.get("/no/such/page")
    assert resp.status_code == 404
    assert "页面或数据不存在" in resp.text
    assert re.search(r"请求编号: <code>[0-9a-f]{32}</code>", resp.text)
    assert "/admin/users" in resp.text  # inside the frame, with the admin's navigation
    assert client.get("/catalog/skus/NOPE").status_code == 404


def test_bad_filter_is_a_friendly_error(client: TestClient, admin: dict[str, str]) -> None:
    resp = client.get("/catalog?category=no-such-category")
    assert resp.status_code == 422
    assert "提交的内容有误" in resp.text
    assert "query.category" in resp.text


def _count_queries(db: Database) -> list[str]:
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    return statements


def test_catalog_list_queries_do_not_grow_with_the_page(
    client: TestClient, admin: dict[str, str], db: Database
) -> None:
    statements = _count_queries(db)
    client.get("/catalog")
    few = len(statements)
    # Given twelve more SKUs
    with db.transaction() as s:
        for i in range(12):
            catalog.create_sku(
                s,
                SYSTEM,
                spu_code="C-X1",
                code=f"CASE-{i}",
                name=f"手机壳 {i}",
                list_price_fen=1000,
                sale_price_fen=900,
                sale_attributes={"color": f"色{i}"},
            )
    statements.clear()
    client.get("/catalog")
    # Then the page costs the same number of queries
    assert len(statements) == few


def test_movement_ledger_queries_do_not_grow_with_the_page(
    client: TestClient, admin: dict[str, str], db: Database
) -> None:
    statements = _count_queries(db)
    client.get("/stock/movements")
    before = len(statements)
    from zhongtai.inventory import service as inventory
    from zhongtai.inventory.schemas import StockLineIn

    with db.transaction() as s:
        for _ in range(5):
            inventory.receive_stock(
                s, SYSTEM, location_code="S-SH01", lines=[StockLineIn(sku_code="X1-CASE", quantity=1)]
            )
    statements.clear()
    client.get("/stock/movements")
    assert len(statements) == before


def test_a_store_manager_user_page_lists_nothing_but_403(client: TestClient, db: Database, shop: Shop) -> None:
    make_user(db, "guide1", "guide", [shop.store_a])
    console_login(client, "guide1")
    # A guide may read the catalog and their store but has no imports
    assert client.get("/catalog").status_code == 200
    assert client.get("/imports").status_code == 403
