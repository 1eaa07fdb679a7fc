"""The member and store-traffic dashboards on the HTTP API: figures from a hand-built lake (see
``tests/unit/analytics/test_funnel.py`` and ``test_traffic.py`` for the arithmetic), the
filters' 422s, a store manager's scope and the XLSX files."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.factories import console_login, key_headers, make_key, make_user
from tests.integration.web.seed import Shop, seed_shop
from tests.unit.analytics.test_funnel import build_member_lake
from tests.unit.analytics.test_traffic import build_traffic_lake
from zhongtai.db import Database
from zhongtai.settings import Settings

NOV = {"start": "2026-11-01", "end": "2026-11-30", "window": "30"}
TRAFFIC = {"start": "2026-11-02", "end": "2026-11-03"}


@pytest.fixture
def shop(db: Database) -> Shop:
    return seed_shop(db)


@pytest.fixture
def analyst(db: Database) -> dict[str, str]:
    return key_headers(make_key(db, role="analyst", name="bi"))


def _stores(shop: Shop) -> tuple[int, int, int]:
    return shop.store_a, shop.store_b, shop.store_c


def _problems(resp: Any) -> set[tuple[str, str]]:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return {(e["field"], e["code"]) for e in resp.json()["errors"]}


def test_members_dashboard_json(client: TestClient, settings: Settings, shop: Shop, analyst: dict[str, str]) -> None:
    assert settings.analytics_dir is not None
    build_member_lake(settings.analytics_dir, _stores(shop))

    resp = client.get("/api/v1/analytics/members", params=NOV, headers=analyst)

    assert resp.status_code == 200, resp.text
    body = resp.json()
    kpis = body["kpis"]
    assert (kpis["total_members"], kpis["new_members"], kpis["active_buyers"], kpis["repeat_buyers"]) == (12, 3, 3, 1)
    assert kpis["member_share"] == "0.7368"
    assert [s["members"] for s in body["funnel"]["steps"]] == [4, 3, 2, 1, 2]
    assert (body["funnel"]["moved_up"], body["funnel"]["stayed"], body["funnel"]["moved_down"]) == (4, 5, 3)
    assert body["funnel"]["matrix"][4][0] == 1  # M5: advocate -> none
    assert body["rfm_grid"][4][4] == 2
    assert not body["lake_empty"]


def test_members_store_filter(client: TestClient, settings: Settings, shop: Shop, analyst: dict[str, str]) -> None:
    assert settings.analytics_dir is not None
    build_member_lake(settings.analytics_dir, _stores(shop))

    resp = client.get("/api/v1/analytics/members", params=NOV | {"store": str(shop.store_b)}, headers=analyst)

    assert resp.status_code == 200, resp.text
    assert resp.json()["kpis"]["total_members"] == 3  # M3, M6, M11
    assert resp.json()["funnel"]["population"] == 4


def test_bad_filters_are_a_422_naming_each(client: TestClient, settings: Settings, analyst: dict[str, str]) -> None:
    assert settings.analytics_dir is not None
    build_member_lake(settings.analytics_dir)

    resp = client.get(
        "/api/v1/analytics/members",
        params={"start": "2026-13-01", "channel": "nope", "store": "x", "category": "y"},
        headers=analyst,
    )

    assert _problems(resp) == {
        ("start", "date_parsing"),
        ("channel", "unknown_channel"),
        ("store", "int_parsing"),
        ("category", "int_parsing"),
    }
    assert client.get("/api/v1/analytics/traffic", params={"end": "x"}, headers=analyst).status_code == 422
    window = client.get("/api/v1/analytics/members", params={"window": "3"}, headers=analyst)
    assert window.status_code == 422
    assert window.headers["content-type"].startswith("application/problem+json")


def test_reading_needs_analytics_read(client: TestClient, db: Database) -> None:
    assert client.get("/api/v1/analytics/members").status_code == 401
    integrator = key_headers(make_key(db, role="integrator"))
    assert client.get("/api/v1/analytics/traffic", headers=integrator).status_code == 403


def test_traffic_json(client: TestClient, settings: Settings, shop: Shop, analyst: dict[str, str]) -> None:
    assert settings.analytics_dir is not None
    build_traffic_lake(settings.analytics_dir, _stores(shop))

    resp = client.get("/api/v1/analytics/traffic", params=TRAFFIC, headers=analyst)

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["total"]["visitors"], body["total"]["buyers"], body["total"]["conversion"]) == (9, 4, "0.4444")
    assert body["total"]["avg_dwell_s"] == "1285.6"
    assert [s["code"] for s in body["stores"]] == ["S-SH01", "S-SH02", "S-BJ01"]
    assert [d["visitors"] for d in body["by_day"]] == [6, 3]


def test_a_store_manager_sees_only_their_stores(
    client: TestClient, db: Database, settings: Settings, shop: Shop
) -> None:
    assert settings.analytics_dir is not None
    build_traffic_lake(settings.analytics_dir, _stores(shop))
    make_user(db, "li.na", "store_manager", [shop.store_a, shop.store_b])
    console_login(client, "li.na")

    resp = client.get("/api/v1/analytics/traffic", params=TRAFFIC)

    assert resp.status_code == 200, resp.text
    # Stores A and B only: 5 + 3 visitors, 3 + 1 buyers.
    assert (resp.json()["total"]["visitors"], resp.json()["total"]["buyers"]) == (8, 4)
    assert {s["code"] for s in resp.json()["stores"]} == {"S-SH01", "S-SH02"}
    outside = client.get("/api/v1/analytics/traffic", params=TRAFFIC | {"store": str(shop.store_c)})
    assert _problems(outside) == {("store", "out_of_scope")}


def _sheet(data: bytes, title: str) -> list[tuple[Any, ...]]:
    book = load_workbook(io.BytesIO(data), read_only=True)
    return [tuple(r) for r in book[title].iter_rows(values_only=True)]


def test_traffic_xlsx_round_trip(client: TestClient, settings: Settings, shop: Shop, analyst: dict[str, str]) -> None:
    assert settings.analytics_dir is not None
    build_traffic_lake(settings.analytics_dir, _stores(shop))

    resp = client.get("/api/v1/analytics/traffic.xlsx", params=TRAFFIC, headers=analyst)

    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "traffic-2026-11-02-2026-11-03.xlsx" in resp.headers["content-disposition"]
    filters = dict(_sheet(resp.content, "filters"))
    assert (filters["start"], filters["end"]) == ("2026-11-02", "2026-11-03")
    summary = _sheet(resp.content, "summary")
    assert summary[0][:5] == ("period", "start", "end", "visitors", "entries")
    current = dict(zip(summary[0], summary[1], strict=True))
    # 12500 fen -> 125.00 yuan; 8999 / 7 s = 1285.6 s -> 21.43 min
    assert (current["visitors"], current["buyers"], current["pos_sales"]) == (9, 4, 125.0)
    assert current["conversion"] == pytest.approx(0.4444)
    assert current["avg_dwell_min"] == pytest.approx(21.43)
    previous = dict(zip(summary[0], summary[2], strict=True))
    assert previous["start"].date() == date(2026, 10, 31)
    assert previous["visitors"] == 1
    stores = _sheet(resp.content, "stores")
    assert [r[0] for r in stores[1:]] == ["S-SH01", "S-SH02", "S-BJ01"]
    dwell = _sheet(resp.content, "dwell")
    assert dwell[1:] == [("lt5", 2), ("5_15", 1), ("15_30", 2), ("30_60", 1), ("gt60", 1)]


def test_members_xlsx_round_trip(client: TestClient, settings: Settings, shop: Shop, analyst: dict[str, str]) -> None:
    assert settings.analytics_dir is not None
    build_member_lake(settings.analytics_dir, _stores(shop))

    resp = client.get("/api/v1/analytics/members.xlsx", params=NOV, headers=analyst)

    assert resp.status_code == 200
    assert dict(_sheet(resp.content, "filters"))["window"] == "30"
    kpis = _sheet(resp.content, "kpis")
    row = dict(zip(kpis[0], kpis[1], strict=True))
    assert (row["total_members"], row["new_members"], row["member_sales"], row["sales"]) == (12, 3, 140.0, 190.0)
    funnel = _sheet(resp.content, "funnel")
    assert [(r[0], r[1], r[2]) for r in funnel[1:]] == [
        ("none", 4, 12),
        ("aware", 3, 8),
        ("appeal", 2, 5),
        ("act", 1, 3),
        ("advocate", 2, 2),
    ]
    transitions = _sheet(resp.content, "transitions")
    assert transitions[0] == ("start_stage", "none", "aware", "appeal", "act", "advocate")
    assert transitions[5] == ("advocate", 1, 0, 0, 0, 1)  # M5 -> none, M6 stayed
    growth = _sheet(resp.content, "growth")
    assert growth[0] == ("bucket_start", "pos", "miniapp", "new_members", "cumulative")
    assert len(growth) == 31
    rfm = _sheet(resp.content, "rfm")
    assert rfm[1] == (5, 0, 0, 0, 1, 2)  # R5: M1 at F4, M3 and M6 at F5
