"""The API: problem+json naming every bad field, planning permissions, store scope."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import key_headers, make_key, make_user
from tests.integration.replenishment.conftest import World, record_flat_forecast
from zhongtai.db import Database
from zhongtai.jobs import run_pending


def test_a_run_by_api_then_approve_order_send_receive(db: Database, client: TestClient, world: World) -> None:
    ops = key_headers(make_key(db, "ops", name="planner"))
    record_flat_forecast(db, world.first_day, {(world.sku_case, world.store_a): (6.0, 4.0, 8.0)})
    # When a run is started and the worker runs it
    started = client.post("/api/v1/replenishment/runs", headers=ops)
    assert started.status_code == 202, started.text
    assert run_pending(db) == 1
    job = client.get(f"/api/v1/jobs/{started.json()['job_id']}", headers=ops).json()
    assert job["status"] == "succeeded"
    assert job["result"]["suggestions"] == 2
    # Then the purchase suggestion can be approved and turned into a PO, sent and received
    items = client.get("/api/v1/replenishment/suggestions?kind=purchase", headers=ops).json()["items"]
    (sug,) = items
    assert (
        client.post(
            f"/api/v1/replenishment/suggestions/{sug['id']}/quantity", json={"quantity": 48}, headers=ops
        ).json()["final_quantity"]
        == 48
    )
    assert (
        client.post(f"/api/v1/replenishment/suggestions/{sug['id']}/approve", headers=ops).json()["status"]
        == "approved"
    )
    (po,) = client.post("/api/v1/replenishment/purchase-orders/from-suggestions", json={}, headers=ops).json()
    number = po["number"]
    assert client.post(f"/api/v1/replenishment/purchase-orders/{number}/approve", headers=ops).status_code == 200
    assert client.post(f"/api/v1/replenishment/purchase-orders/{number}/send", headers=ops).status_code == 200
    # an over-receipt and an unknown SKU in one request: both named, nothing written
    bad = client.post(
        f"/api/v1/replenishment/purchase-orders/{number}/receive",
        json={"lines": [{"sku_code": "CASE", "quantity": 49}, {"sku_code": "NOPE", "quantity": 1}]},
        headers=ops,
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert {(e["field"], e["code"]) for e in bad.json()["errors"]} == {
        ("body.lines.0.quantity", "over_receipt"),
        ("body.lines.1.sku_code", "not_on_order"),
    }
    ok = client.post(
        f"/api/v1/replenishment/purchase-orders/{number}/receive",
        json={"lines": [{"sku_code": "CASE", "quantity": 48}]},
        headers=ops,
    )
    assert ok.status_code == 200
    assert ok.json()["status"] == "received"
    # a second receipt of a received PO is a 409
    again = client.post(
        f"/api/v1/replenishment/purchase-orders/{number}/receive",
        json={"lines": [{"sku_code": "CASE", "quantity": 1}]},
        headers=ops,
    )
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"


def test_bad_terms_and_policies_name_every_field(db: Database, client: TestClient, world: World) -> None:
    ops = key_headers(make_key(db, "ops", name="planner"))
    r = client.put(
        "/api/v1/replenishment/supplier-terms",
        json={
            "supplier_code": "RDC-1",
            "sku_code": "NOPE",
            "lead_time_days": "3",
            "lead_time_sd_days": "5",
            "unit_cost_fen": 1,
        },
        headers=ops,
    )
    assert r.status_code == 422
    assert {(e["field"], e["code"]) for e in r.json()["errors"]} == {
        ("body.supplier_code", "not_a_supplier"),
        ("body.sku_code", "unknown_sku"),
        ("body.lead_time_sd_days", "sd_above_mean"),
    }
    p = client.put(
        "/api/v1/replenishment/policies",
        json={"sku_code": "NOPE", "location_code": "SUP-1", "service_level": "0.99"},
        headers=ops,
    )
    assert p.status_code == 422
    assert {(e["field"], e["code"]) for e in p.json()["errors"]} == {
        ("body.sku_code", "unknown_sku"),
        ("body.location_code", "not_replenished"),
    }
    v = client.put(
        "/api/v1/replenishment/policies", json={"location_type": "store", "service_level": "1.5"}, headers=ops
    )
    assert v.status_code == 422
    assert v.json()["errors"][0]["field"] == "body.service_level"


def test_readers_cannot_write_and_store_managers_see_only_their_stores(
    db: Database, client: TestClient, world: World
) -> None:
    record_flat_forecast(
        db,
        world.first_day,
        {(world.sku_case, world.store_a): (6.0, 4.0, 8.0), (world.sku_case, world.store_b): (6.0, 4.0, 8.0)},
    )
    from tests.factories import SYSTEM
    from zhongtai.replenishment import service

    with db.transaction() as s:
        service.run_suggestions(s, SYSTEM)
    analyst = key_headers(make_key(db, "analyst", name="analyst"))
    rows = client.get("/api/v1/replenishment/suggestions", headers=analyst).json()["items"]
    assert {r["location_code"] for r in rows} == {"S-A", "S-B", "RDC-1"}
    denied = client.post(f"/api/v1/replenishment/suggestions/{rows[0]['id']}/approve", headers=analyst)
    assert denied.status_code == 403
    # A store manager of S-B (console session) sees S-B's suggestion only; S-A's is a 404
    make_user(db, "mgr-b", "store_manager", store_ids=[world.store_b])
    from tests.factories import console_login

    console_login(client, "mgr-b")
    mine = client.get("/api/v1/replenishment/suggestions").json()["items"]
    assert [r["location_code"] for r in mine] == ["S-B"]
    other = next(r for r in rows if r["location_code"] == "S-A")
    assert client.get(f"/api/v1/replenishment/suggestions/{other['id']}").status_code == 404
    page = client.get("/replenishment/suggestions")
    assert page.status_code == 200
    assert "S-A" not in page.text
