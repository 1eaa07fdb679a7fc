"""Receipts, adjustments, the ledger, balances, safety stock and availability queries."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import key_headers, make_key, receive
from tests.integration.inventory.conftest import Net, QueryCounter, assert_ledger_balanced
from zhongtai.db import Database
from zhongtai.inventory.models import SerialNumber, StockMovement


def _movements(db: Database) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(StockMovement)) or 0


def test_receipt_creates_balance_ledger_rows_and_serials(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="ops"))
    # When a delivery of plain and serial-tracked goods is received at the DC
    body = {
        "location_code": "DC-SH",
        "reference": "PO-1001",
        "reason": "supplier delivery",
        "lines": [
            {"sku_code": "CASE", "quantity": 40},
            {"sku_code": "PHONE", "quantity": 2, "serials": ["IMEI-1", "IMEI-2"]},
        ],
    }
    resp = client.post("/api/v1/stock/receipts", json=body, headers=h)
    # Then two receipt movements are written and balances follow
    assert resp.status_code == 201, resp.text
    assert [(m["sku_code"], m["on_hand_delta"], m["on_hand_after"]) for m in resp.json()["movements"]] == [
        ("CASE", 40, 40),
        ("PHONE", 2, 2),
    ]
    stock = client.get("/api/v1/stock/PHONE", headers=h).json()
    assert stock["totals"]["on_hand"] == 2
    # And the serials are in stock at the DC, found by serial
    found = client.get("/api/v1/serials/IMEI-2", headers=h).json()
    assert [(f["sku_code"], f["state"], f["location_code"]) for f in found] == [("PHONE", "in_stock", "DC-SH")]
    assert_ledger_balanced(db)


def test_bad_receipt_lists_every_problem_and_writes_nothing(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="ops"))
    receive(db, "DC-SH", "PHONE", 1, ["IMEI-1"])
    before = _movements(db)
    body = {
        "location_code": "NOWHERE",
        "lines": [
            {"sku_code": "GHOST", "quantity": 1},
            {"sku_code": "PHONE", "quantity": 2, "serials": ["IMEI-9"]},
            {"sku_code": "CASE", "quantity": 1, "serials": ["X"]},
        ],
    }
    resp = client.post("/api/v1/stock/receipts", json=body, headers=h)
    assert resp.status_code == 422
    assert {(e["field"], e["code"]) for e in resp.json()["errors"]} == {
        ("body.location_code", "unknown_location"),
        ("body.lines.0.sku_code", "unknown_sku"),
        ("body.lines.1.serials", "serial_count"),
        ("body.lines.2.serials", "not_serial_tracked"),
    }
    # A serial already known for the SKU is a conflict, and nothing of the receipt is kept
    body = {
        "location_code": "DC-SH",
        "lines": [{"sku_code": "CASE", "quantity": 5}, {"sku_code": "PHONE", "quantity": 1, "serials": ["IMEI-1"]}],
    }
    resp = client.post("/api/v1/stock/receipts", json=body, headers=h)
    assert resp.status_code == 409
    assert resp.json()["code"] == "serial_exists"
    assert _movements(db) == before
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(SerialNumber)) == 1


def test_adjustment_needs_a_reason_and_never_goes_below_reserved(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="ops"))
    receive(db, "S-A", "CASE", 5)
    # Given 3 of the 5 units reserved
    r = client.post(
        "/api/v1/reservations",
        json={"reference": "O-1", "lines": [{"sku_code": "CASE", "location_code": "S-A", "quantity": 3}]},
        headers=h,
    )
    assert r.status_code == 201
    # When 3 units are written off (only 2 are free)
    body = {"location_code": "S-A", "reason": "damaged", "lines": [{"sku_code": "CASE", "delta": -3}]}
    resp = client.post("/api/v1/stock/adjustments", json=body, headers=h)
    # Then it is refused: on hand may not drop below what is promised
    assert resp.status_code == 409
    assert resp.json()["shortages"] == [
        {
            "sku_code": "CASE",
            "sku_id": resp.json()["shortages"][0]["sku_id"],
            "location_code": "S-A",
            "location_id": net.store_a,
            "requested": 3,
            "available": 2,
        }
    ]
    # And a reasonless or zero adjustment is a 422 naming both fields
    resp = client.post(
        "/api/v1/stock/adjustments",
        json={**body, "reason": " ", "lines": [{"sku_code": "CASE", "delta": 0}]},
        headers=h,
    )
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"body.reason", "body.lines.0.delta"}
    # When 2 are written off, it works
    body["lines"] = [{"sku_code": "CASE", "delta": -2}]
    assert client.post("/api/v1/stock/adjustments", json=body, headers=h).status_code == 201
    stock = client.get("/api/v1/locations/S-A/stock", headers=h).json()["items"][0]
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (3, 3, 0)
    assert_ledger_balanced(db)


def test_movement_ledger_filters_and_pages(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="ops"))
    for _ in range(3):
        receive(db, "S-A", "CASE", 1)
    receive(db, "S-B", "CASE", 2)
    receive(db, "S-A", "TV", 1)
    # Filters combine
    items = client.get("/api/v1/stock/movements?sku=CASE&location=S-A&type=receipt", headers=h).json()["items"]
    assert len(items) == 3
    assert client.get("/api/v1/stock/movements?type=sale", headers=h).json()["items"] == []
    # Pages are stable and newest first
    first = client.get("/api/v1/stock/movements?limit=2", headers=h).json()
    second = client.get(f"/api/v1/stock/movements?limit=2&cursor={first['next_cursor']}", headers=h).json()
    ids = [m["id"] for m in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 4
    # A date range in the future is empty; a naive date is a 422
    assert client.get("/api/v1/stock/movements?since=2999-01-01T00:00:00%2B08:00", headers=h).json()["items"] == []
    assert client.get("/api/v1/stock/movements?since=2024-01-01T00:00:00", headers=h).status_code == 422
    # And the list's query count does not depend on the page size
    with QueryCounter(db) as few:
        client.get("/api/v1/stock/movements?limit=1", headers=h)
    with QueryCounter(db) as many:
        client.get("/api/v1/stock/movements?limit=5", headers=h)
    assert few.count == many.count


def test_channel_safety_stock_limits_what_a_channel_may_sell(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="ops"))
    receive(db, "S-A", "CASE", 10)
    receive(db, "S-B", "CASE", 10)
    # Given JD keeps 4 units at every SKU of store A, overridden to 8 for CASE at store B
    for body in (
        {"location_code": "S-A", "channel_code": "jd", "quantity": 4},
        {"location_code": "S-B", "channel_code": "jd", "quantity": 1},
        {"location_code": "S-B", "channel_code": "jd", "sku_code": "CASE", "quantity": 8},
    ):
        assert client.put("/api/v1/channel-safety-stock", json=body, headers=h).status_code == 200
    # When JD asks what it may sell
    stock = client.get("/api/v1/stock/CASE?channel=jd", headers=h).json()
    # Then store A sells 6, store B 2; the web shop still sees all 20
    assert {r["location_code"]: r["sellable"] for r in stock["locations"]} == {"S-A": 6, "S-B": 2}
    assert stock["totals"]["sellable"] == 8
    assert client.get("/api/v1/stock/CASE?channel=web", headers=h).json()["totals"]["sellable"] == 20
    # And a JD reservation of 3 at store B is short, listing what JD may sell there
    resp = client.post(
        "/api/v1/reservations",
        json={
            "reference": "JD-1",
            "channel_code": "jd",
            "lines": [{"sku_code": "CASE", "location_code": "S-B", "quantity": 3}],
        },
        headers=h,
    )
    assert resp.status_code == 409
    assert resp.json()["shortages"][0]["available"] == 2
    # An unknown channel is a 422
    assert client.get("/api/v1/stock/CASE?channel=nope", headers=h).status_code == 422
    bad = {"location_code": "S-A", "channel_code": "nope", "sku_code": "GHOST", "quantity": -1}
    resp = client.put("/api/v1/channel-safety-stock", json=bad, headers=h)
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"body.quantity"}


def test_stock_near_a_point_nearest_first(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="ops"))
    for code in ("S-A", "S-B", "DC-SH"):
        receive(db, code, "TV", 3)
    # When asking for stock within 3 km of People's Square
    stock = client.get("/api/v1/stock/TV?near=31.2310,121.4740&radius_km=3", headers=h).json()
    # Then the two city stores come back nearest first, and the suburban DC does not
    assert [r["location_code"] for r in stock["locations"]] == ["S-A", "S-B"]
    assert stock["locations"][0]["distance_km"] < stock["locations"][1]["distance_km"] < 3
    # A wider radius includes the DC
    wide = client.get("/api/v1/stock/TV?near=31.2310,121.4740&radius_km=50", headers=h).json()
    assert [r["location_code"] for r in wide["locations"]][-1] == "DC-SH"
    assert client.get("/api/v1/stock/TV?near=north&radius_km=3", headers=h).status_code == 422


def test_safety_stock_and_summary_figures(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="ops"))
    receive(db, "S-A", "CASE", 2)
    receive(db, "DC-SH", "TV", 10)
    # Given store A should hold at least 5 cases
    resp = client.put("/api/v1/locations/S-A/stock/CASE/safety-stock", json={"quantity": 5}, headers=h)
    assert resp.status_code == 200
    assert resp.json()["below_safety"] is True
    low = client.get("/api/v1/locations/S-A/stock?below_safety=true", headers=h).json()["items"]
    assert [i["sku_code"] for i in low] == ["CASE"]
    # When the console asks for the summary
    summary = client.get("/api/v1/inventory/summary", headers=h).json()
    # Then value is on hand x standard cost (250,000 fen each in the test catalog)
    assert summary["stock_value_fen"] == 12 * 250_000
    assert summary["below_safety_count"] == 1
    assert summary["locations_by_type"] == {"central_dc": 1, "store": 2}
    assert {g["key"]: g["on_hand"] for g in summary["stock_by_location_type"]} == {"central_dc": 10, "store": 2}
    assert summary["stock_by_city"] == [{"key": "上海", "on_hand": 12, "value_fen": 3_000_000}]


def test_store_manager_a_can_neither_read_nor_change_store_b(
    client: TestClient, db: Database, net: Net, act_as
) -> None:  # type: ignore[no-untyped-def]
    receive(db, "S-A", "CASE", 5)
    receive(db, "S-B", "CASE", 7)
    receive(db, "S-B", "PHONE", 1, ["IMEI-B"])
    before = _movements(db)
    # Given a store manager of store A
    act_as("mgr_a", "store_manager", [net.store_a])
    # Reads: B's stock and serials are "not found", network views show A only
    assert client.get("/api/v1/locations/S-B/stock").status_code == 404
    assert client.get("/api/v1/serials/IMEI-B").status_code == 404
    assert [r["location_code"] for r in client.get("/api/v1/stock/CASE").json()["locations"]] == ["S-A"]
    assert {m["location_code"] for m in client.get("/api/v1/stock/movements").json()["items"]} == {"S-A"}
    assert client.get("/api/v1/stock/PHONE/serials").json()["items"] == []
    assert client.get("/api/v1/inventory/summary").json()["on_hand_units"] == 5
    # Writes to B are forbidden and write nothing
    body = {"location_code": "S-B", "lines": [{"sku_code": "CASE", "quantity": 1}]}
    assert client.post("/api/v1/stock/receipts", json=body).status_code == 403
    adj = {"location_code": "S-B", "reason": "x", "lines": [{"sku_code": "CASE", "delta": -1}]}
    assert client.post("/api/v1/stock/adjustments", json=adj).status_code == 403
    res = {"reference": "M-1", "lines": [{"sku_code": "CASE", "location_code": "S-B", "quantity": 1}]}
    assert client.post("/api/v1/reservations", json=res).status_code == 403
    assert client.put("/api/v1/locations/S-B/stock/CASE/safety-stock", json={"quantity": 1}).status_code == 403
    assert _movements(db) == before
    # While their own store works
    assert client.post("/api/v1/stock/receipts", json={**body, "location_code": "S-A"}).status_code == 201
