"""Transfers (ship, receive with a discrepancy, cancel) and stock counts (sync and imported)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import key_headers, make_key, receive
from tests.integration.inventory.conftest import Net, assert_ledger_balanced
from zhongtai.db import Database
from zhongtai.inventory.models import StockMovement
from zhongtai.jobs import run_pending


def _stock(client: TestClient, h: dict[str, str], sku: str) -> dict[str, tuple[int, int, int]]:
    rows = client.get(f"/api/v1/stock/{sku}", headers=h).json()["locations"]
    return {r["location_code"]: (r["on_hand"], r["reserved"], r["in_transit"]) for r in rows}


def test_transfer_ship_and_short_receipt(client: TestClient, db: Database, net: Net) -> None:
    receive(db, "DC-SH", "CASE", 20)
    receive(db, "DC-SH", "PHONE", 3, ["P-1", "P-2", "P-3"])
    h = key_headers(make_key(db, role="ops"))
    # Given a draft transfer of 10 cases and 3 phones from the DC to store A
    body = {
        "source_location_code": "DC-SH",
        "dest_location_code": "S-A",
        "lines": [
            {"sku_code": "CASE", "quantity": 10},
            {"sku_code": "PHONE", "quantity": 3, "serials": ["P-1", "P-2", "P-3"]},
        ],
        "note": "weekly replenishment",
    }
    tr = client.post("/api/v1/transfers", json=body, headers=h)
    assert tr.status_code == 201, tr.text
    code = tr.json()["code"]
    assert _stock(client, h, "CASE") == {"DC-SH": (20, 0, 0)}  # a draft moves nothing
    # When it ships
    assert client.post(f"/api/v1/transfers/{code}/ship", headers=h).json()["status"] == "shipped"
    # Then the DC's on hand is down and store A has it in transit, phones too
    assert _stock(client, h, "CASE") == {"DC-SH": (10, 0, 0), "S-A": (0, 0, 10)}
    assert client.get("/api/v1/serials/P-2", headers=h).json()[0]["state"] == "in_transit"
    # When store A receives 8 cases and 2 phones
    recv = {
        "lines": [
            {"sku_code": "CASE", "received_quantity": 8},
            {"sku_code": "PHONE", "received_quantity": 2, "serials": ["P-1", "P-3"]},
        ],
        "note": "2 boxes crushed",
    }
    resp = client.post(f"/api/v1/transfers/{code}/receive", json=recv, headers=h)
    assert resp.status_code == 200, resp.text
    assert [(ln["sku_code"], ln["received_quantity"]) for ln in resp.json()["lines"]] == [("CASE", 8), ("PHONE", 2)]
    # Then 8 are on hand, nothing in transit, and the 2 missing are an adjustment naming the transfer
    assert _stock(client, h, "CASE") == {"DC-SH": (10, 0, 0), "S-A": (8, 0, 0)}
    adj = client.get(f"/api/v1/stock/movements?type=adjustment&reference={code}&sku=CASE", headers=h).json()["items"]
    assert len(adj) == 1
    assert (adj[0]["in_transit_delta"], adj[0]["on_hand_delta"]) == (-2, 0)
    assert "short receipt: 2 of 10 missing" in adj[0]["reason"]
    # And the missing phone is written off, the others are in stock at the store
    assert client.get("/api/v1/serials/P-2", headers=h).json()[0]["state"] == "scrapped"
    assert {
        (s["serial"], s["state"], s["location_code"])
        for s in client.get("/api/v1/stock/PHONE/serials?location=S-A&state=in_stock", headers=h).json()["items"]
    } == {
        ("P-1", "in_stock", "S-A"),
        ("P-3", "in_stock", "S-A"),
    }
    # And a received transfer can be neither received again nor cancelled
    assert client.post(f"/api/v1/transfers/{code}/receive", headers=h).status_code == 409
    assert client.post(f"/api/v1/transfers/{code}/cancel", headers=h).status_code == 409
    assert_ledger_balanced(db)


def test_shipping_more_than_is_free_fails_with_every_short_line(client: TestClient, db: Database, net: Net) -> None:
    receive(db, "DC-SH", "CASE", 2)
    h = key_headers(make_key(db, role="ops"))
    body = {
        "source_location_code": "DC-SH",
        "dest_location_code": "S-B",
        "lines": [{"sku_code": "CASE", "quantity": 5}, {"sku_code": "TV", "quantity": 1}],
    }
    code = client.post("/api/v1/transfers", json=body, headers=h).json()["code"]
    resp = client.post(f"/api/v1/transfers/{code}/ship", headers=h)
    assert resp.status_code == 409
    assert {(s["sku_code"], s["requested"], s["available"]) for s in resp.json()["shortages"]} == {
        ("CASE", 5, 2),
        ("TV", 1, 0),
    }
    assert client.get(f"/api/v1/transfers/{code}", headers=h).json()["status"] == "draft"
    # A draft can be cancelled
    assert (
        client.post(f"/api/v1/transfers/{code}/cancel", json={"reason": "wrong store"}, headers=h).json()["status"]
        == "cancelled"
    )
    assert client.post(f"/api/v1/transfers/{code}/ship", headers=h).status_code == 409
    assert_ledger_balanced(db)


def test_bad_transfer_lists_every_field(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="ops"))
    body = {
        "source_location_code": "S-A",
        "dest_location_code": "S-A",
        "lines": [{"sku_code": "GHOST", "quantity": 1}, {"sku_code": "PHONE", "quantity": 1}],
    }
    resp = client.post("/api/v1/transfers", json=body, headers=h)
    assert resp.status_code == 422
    assert {(e["field"], e["code"]) for e in resp.json()["errors"]} == {
        ("body.dest_location_code", "same_location"),
        ("body.lines.0.sku_code", "unknown_sku"),
        ("body.lines.1.serials", "serial_count"),
    }
    assert client.get("/api/v1/transfers", headers=h).json()["items"] == []


def test_transfers_are_scoped_to_the_stores_of_a_store_manager(
    client: TestClient, db: Database, net: Net, act_as
) -> None:  # type: ignore[no-untyped-def]
    receive(db, "DC-SH", "CASE", 10)
    receive(db, "S-B", "CASE", 10)
    h = key_headers(make_key(db, role="ops"))
    to_a = client.post(
        "/api/v1/transfers",
        json={
            "source_location_code": "DC-SH",
            "dest_location_code": "S-A",
            "lines": [{"sku_code": "CASE", "quantity": 2}],
        },
        headers=h,
    ).json()["code"]
    to_b = client.post(
        "/api/v1/transfers",
        json={
            "source_location_code": "DC-SH",
            "dest_location_code": "S-B",
            "lines": [{"sku_code": "CASE", "quantity": 2}],
        },
        headers=h,
    ).json()["code"]
    client.post(f"/api/v1/transfers/{to_a}/ship", headers=h)
    client.post(f"/api/v1/transfers/{to_b}/ship", headers=h)
    # Given store A's manager
    act_as("mgr_a", "store_manager", [net.store_a])
    # They see and receive their inbound transfer, not B's
    assert [t["code"] for t in client.get("/api/v1/transfers").json()["items"]] == [to_a]
    assert client.get(f"/api/v1/transfers/{to_b}").status_code == 404
    assert client.post(f"/api/v1/transfers/{to_b}/receive").status_code == 404
    assert client.post(f"/api/v1/transfers/{to_a}/receive").status_code == 200
    # They may not ship from store B
    body = {"source_location_code": "S-B", "dest_location_code": "S-A", "lines": [{"sku_code": "CASE", "quantity": 1}]}
    assert client.post("/api/v1/transfers", json=body).status_code == 403


def test_count_writes_the_differences_and_refuses_counts_below_reserved(
    client: TestClient, db: Database, net: Net
) -> None:
    receive(db, "S-A", "CASE", 10)
    receive(db, "S-A", "TV", 4)
    h = key_headers(make_key(db, role="ops"))
    client.post(
        "/api/v1/reservations",
        json={"reference": "O", "lines": [{"sku_code": "TV", "location_code": "S-A", "quantity": 3}]},
        headers=h,
    )
    before = client.get("/api/v1/stock/movements?type=count", headers=h).json()["items"]
    # When a count says 2 TVs while 3 are promised (and names an unknown SKU)
    body = {
        "location_code": "S-A",
        "lines": [
            {"sku_code": "CASE", "counted": 12},
            {"sku_code": "TV", "counted": 2},
            {"sku_code": "GHOST", "counted": 1},
        ],
    }
    resp = client.post("/api/v1/stock-counts", json=body, headers=h)
    # Then the whole count is refused, listing both bad lines
    assert resp.status_code == 422
    assert {(e["field"], e["code"]) for e in resp.json()["errors"]} == {
        ("body.lines.1.counted", "below_reserved"),
        ("body.lines.2.sku_code", "unknown_sku"),
    }
    assert client.get("/api/v1/stock/movements?type=count", headers=h).json()["items"] == before
    # When the count is right, the difference is one count movement worth 2 x standard cost
    body["lines"] = [{"sku_code": "CASE", "counted": 12}, {"sku_code": "TV", "counted": 4}]
    resp = client.post("/api/v1/stock-counts", json=body, headers=h)
    assert resp.status_code == 201, resp.text
    assert (resp.json()["lines"], resp.json()["differences"], resp.json()["value_delta_fen"]) == (2, 1, 500_000)
    counts = client.get("/api/v1/stock/movements?type=count", headers=h).json()["items"]
    assert [(m["sku_code"], m["on_hand_delta"], m["on_hand_after"]) for m in counts] == [("CASE", 2, 12)]
    assert_ledger_balanced(db)


def test_count_import_job_applies_good_rows_and_reports_bad_ones(client: TestClient, db: Database, net: Net) -> None:
    receive(db, "S-A", "CASE", 10)
    receive(db, "S-B", "TV", 5)
    h = key_headers(make_key(db, role="ops"))
    csv = (
        "location_code,sku_code,counted\n"
        "S-A,CASE,7\n"  # 3 missing
        "S-B,TV,6\n"  # 1 found
        "S-A,GHOST,1\n"  # unknown SKU
        "S-X,CASE,1\n"  # unknown location
        "S-A,TV,x\n"  # not a number
        "S-A,CASE,8\n"  # counted twice
    )
    # When the file is uploaded
    resp = client.post(
        "/api/v1/stock-counts/imports",
        files={"file": ("count.csv", csv.encode(), "text/csv")},
        data={"reason": "年中盘点"},
        headers=h,
    )
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    assert resp.headers["location"] == f"/api/v1/jobs/{job_id}"
    # And the worker runs it
    assert run_pending(db) == 1
    job = client.get(f"/api/v1/jobs/{job_id}", headers=key_headers(make_key(db, role="admin"))).json()
    # Then the two good rows are applied and each bad row is reported with its line number
    assert job["status"] == "succeeded", job
    assert (job["progress"], job["total"]) == (job["total"], 5)
    result = job["result"]
    assert (result["applied"], result["differences"]) == (2, 2)
    assert [(e["row"], e["code"]) for e in result["errors"]] == [
        (4, "unknown_sku"),
        (5, "unknown_location"),
        (6, "not_an_integer"),
        (7, "duplicate_row"),
    ]
    assert {
        r["location_code"]: (r["on_hand"]) for r in client.get("/api/v1/stock/CASE", headers=h).json()["locations"]
    } == {"S-A": 7}
    # When the same file is imported again, nothing changes (counts are absolute)
    client.post("/api/v1/stock-counts/imports", files={"file": ("count.csv", csv.encode(), "text/csv")}, headers=h)
    run_pending(db)
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(StockMovement).where(StockMovement.type == "count")) == 2
    assert_ledger_balanced(db)


def test_count_import_refuses_other_files(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="ops"))
    resp = client.post("/api/v1/stock-counts/imports", files={"file": ("count.pdf", b"", "application/pdf")}, headers=h)
    assert resp.status_code == 422
    assert {e["code"] for e in resp.json()["errors"]} == {"unsupported_type", "empty"}
