"""The registry API: every field checked at once, store scope, status flow, audit; rejections
listed newest first; the order-event consumer maps an order's lifecycle once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import SYSTEM, key_headers, make_key
from tests.integration.orders.world import web_order
from tests.integration.touchpoints.world import search, touchpoint_world
from zhongtai.auth.models import AuditEntry
from zhongtai.auth.permissions import Role
from zhongtai.auth.principal import Principal
from zhongtai.db import Database
from zhongtai.touchpoints import order_events, service
from zhongtai.touchpoints.models import TouchpointEvent


def test_registering_names_every_bad_field(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    admin = key_headers(make_key(db, role="admin"))
    body = {
        "code": "web-shop",
        "name": "x",
        "type": "offline",
        "kind": "web_shop",
        "channel_code": "nope",
        "store_code": "DC-WH",
        "factors": ["goods", "vibes"],
        "cost_fen_month": -1,
    }
    r = client.post("/api/v1/touchpoints", json=body, headers=admin)
    assert r.status_code == 422
    assert {(e["field"], e["code"]) for e in r.json()["errors"]} == {
        ("body.kind", "invalid_kind"),
        ("body.channel_code", "unknown_channel"),
        ("body.store_code", "not_a_store"),
        ("body.factors", "invalid_factor"),
        ("body.cost_fen_month", "invalid_cost"),
        ("body.code", "duplicate"),
    }
    ok = client.post(
        "/api/v1/touchpoints",
        json={
            "code": "shelf-1",
            "name": "智能货架",
            "type": "offline",
            "kind": "smart_shelf",
            "store_code": "S-SH-01",
            "factors": ["retail", "goods"],
            "cost_fen_month": 50_000,
        },
        headers=admin,
    )
    assert ok.status_code == 201, ok.text
    # factors come back in the canonical order of the seven
    assert (ok.json()["store_code"], ok.json()["factors"], ok.json()["status"]) == (
        "S-SH-01",
        ["goods", "retail"],
        "planned",
    )
    # integrators push events but do not edit the registry
    integrator = key_headers(make_key(db, role="integrator"))
    assert client.post("/api/v1/touchpoints", json=body, headers=integrator).status_code == 403


def test_list_filters_and_store_scope(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    analyst = key_headers(make_key(db, role="analyst"))
    everything = client.get("/api/v1/touchpoints", headers=analyst).json()["items"]
    assert [t["code"] for t in everything] == ["cam-sh02", "jd-store", "web-shop"]
    online = client.get("/api/v1/touchpoints?type=online&q=shop", headers=analyst).json()["items"]
    assert [t["code"] for t in online] == ["web-shop"]
    in_store = client.get("/api/v1/touchpoints?store=S-SH-02", headers=analyst).json()["items"]
    assert [t["code"] for t in in_store] == ["cam-sh02"]
    paged = client.get("/api/v1/touchpoints?limit=2", headers=analyst).json()
    rest = client.get(f"/api/v1/touchpoints?limit=2&cursor={paged['next_cursor']}", headers=analyst).json()
    assert [t["code"] for t in paged["items"] + rest["items"]] == ["cam-sh02", "jd-store", "web-shop"]
    with db.transaction(write=False) as s:
        sh01 = service.list_touchpoints(s, SYSTEM).items[0].location_id  # cam-sh02's store is S-SH-02
        assert sh01 is not None
        beijing = Principal(kind="user", id=99, name="bj", role=Role.STORE_MANAGER, store_ids=frozenset({sh01 + 1}))
        seen = [t.code for t in service.list_touchpoints(s, beijing).items]
        mine = Principal(kind="user", id=98, name="sh", role=Role.STORE_MANAGER, store_ids=frozenset({sh01}))
        assert [t.code for t in service.list_touchpoints(s, mine).items] == ["cam-sh02", "jd-store", "web-shop"]
    # another store's manager sees the online touchpoints only
    assert seen == ["jd-store", "web-shop"]


def test_status_flow_and_audit(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    ops = key_headers(make_key(db, role="ops"))
    steps = [("active", 200), ("paused", 200), ("planned", 409), ("active", 200), ("retired", 200), ("active", 409)]
    for status, expected in steps:
        r = client.patch("/api/v1/touchpoints/jd-store", json={"status": status}, headers=ops)
        assert r.status_code == expected, (status, r.text)
    r = client.patch("/api/v1/touchpoints/web-shop", json={"kind": "camera", "cost_fen_month": 99}, headers=ops)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.kind"
    r = client.patch("/api/v1/touchpoints/web-shop", json={"owner": "电商部", "factors": ["service"]}, headers=ops)
    assert (r.json()["owner"], r.json()["factors"]) == ("电商部", ["service"])
    assert client.get("/api/v1/touchpoints/jd-store", headers=ops).json()["connected_on"] is not None
    assert client.get("/api/v1/touchpoints/none", headers=ops).status_code == 404
    with db.transaction(write=False) as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "touchpoint")))
    # three registrations, four accepted status changes, one edit
    assert sorted(actions) == sorted(["touchpoint.register"] * 3 + ["touchpoint.update"] * 5)


def test_rejections_are_listed_newest_first_with_counts(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    integrator = key_headers(make_key(db, role="integrator"))
    bad = [{"id": f"r{i}", "type": "search", "at": "2026-11-01T10:00:00+08:00", "data": {}} for i in range(3)]
    client.post("/api/v1/events", json={"touchpoint": "web-shop", "events": bad}, headers=integrator)
    client.post("/api/v1/events", json={"touchpoint": "web-shop", "events": [search("ok"), "x"]}, headers=integrator)
    ops = key_headers(make_key(db, role="ops"))
    page = client.get("/api/v1/touchpoints/web-shop/rejections?limit=3", headers=ops).json()
    assert [r["event_id"] for r in page["items"]] == ["", "r2", "r1"]
    rest = client.get(f"/api/v1/touchpoints/web-shop/rejections?cursor={page['next_cursor']}", headers=ops).json()
    assert [r["event_id"] for r in rest["items"]] == ["r0"]
    counts = client.get("/api/v1/touchpoints/web-shop/rejections/counts", headers=ops).json()
    # 3 events missing query and results (both "missing"), 1 not an object
    assert counts == {"total": 4, "last_24h": 4, "by_code": {"missing": 3, "not_an_object": 1}}
    assert client.get("/api/v1/touchpoints/web-shop/rejections", headers=integrator).status_code == 403


def test_order_lifecycle_becomes_events_once(client: TestClient, db: Database) -> None:
    touchpoint_world(db, stock=True)
    admin = key_headers(make_key(db, role="admin"))
    # a till sale (created and completed at once); a web order then cancelled
    till = web_order("T1", ("CASE-1", 2), mode="pos", store_code="S-SH-02")
    r = client.post("/api/v1/channels/pos/orders", json=till, headers=admin)
    assert r.status_code in (200, 201), r.text
    number = r.json()["order"]["number"]
    web = client.post(
        "/api/v1/channels/web/orders", json=web_order("W9", ("CASE-1", 1), status="created"), headers=admin
    )
    web_number = web.json()["order"]["number"]
    assert (
        client.post(f"/api/v1/orders/{web_number}/cancel", json={"reason": "changed mind"}, headers=admin).status_code
        == 200
    )
    first = order_events.consume(db)
    again = order_events.consume(db)
    with db.transaction(write=False) as s:
        rows = list(s.scalars(select(TouchpointEvent).order_by(TouchpointEvent.occurred_at, TouchpointEvent.id)))
        assert s.scalar(select(func.count()).select_from(TouchpointEvent)) == first
    assert again == 0
    till_types = [e.type for e in rows if e.data["order_number"] == number]
    # a till sale is captured already paid: the order center announces no separate payment
    assert till_types == ["order_placed", "order_completed"]
    web_types = [e.type for e in rows if e.data["order_number"] == web_number]
    assert web_types == ["order_placed", "order_cancelled"]
    placed = next(e for e in rows if e.data["order_number"] == number)
    # 2 cases x 9,900 fen
    assert (placed.source, placed.channel_code, placed.data["value_fen"]) == ("order-center", "pos", 19_800)
    assert placed.location_id is not None
    assert placed.event_id.startswith("outbox-")
