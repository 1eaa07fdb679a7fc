"""The order center over HTTP: channel keys, problem+json, PII masking, store scopes."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import key_headers, make_key
from tests.integration.orders.world import build, tmall_trade, web_order
from zhongtai.db import Database
from zhongtai.orders.models import Order, OrderLine

PUSH = "/api/v1/channels/{}/orders"


def _count(db: Database, model: type) -> int:  # type: ignore[type-arg]
    with db.transaction(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_channel_key_pushes_its_own_orders_only(client: TestClient, db: Database) -> None:
    build(db)
    web = key_headers(make_key(db, "integrator", channel_code="web"))
    first = client.post(PUSH.format("web"), json=web_order("A1", ("P1-BLK", 1)), headers=web)
    assert first.status_code == 201, first.text
    again = client.post(PUSH.format("web"), json=web_order("A1", ("P1-BLK", 1)), headers=web)
    assert again.status_code == 200
    assert again.json()["order"]["number"] == first.json()["order"]["number"]
    assert again.json()["created"] is False
    other = client.post(
        PUSH.format("tmall"), json=tmall_trade("T1", "WAIT_SELLER_SEND_GOODS", ("P1-WHT", 1, "3999.00")), headers=web
    )
    assert other.status_code == 403
    assert other.headers["content-type"].startswith("application/problem+json")
    # The key sees its channel's orders, not another's.
    tmall = key_headers(make_key(db, "integrator", channel_code="tmall", name="tmall key"))
    number = first.json()["order"]["number"]
    assert client.get(f"/api/v1/orders/{number}", headers=web).status_code == 200
    assert client.get(f"/api/v1/orders/{number}", headers=tmall).status_code == 404
    assert client.get("/api/v1/channels/web/orders/A1", headers=web).json()["number"] == number


def test_bad_payload_is_problem_json_naming_every_field_and_writes_nothing(client: TestClient, db: Database) -> None:
    build(db)
    h = key_headers(make_key(db, "integrator", channel_code="web"))
    body = web_order("A2", ("NOPE", 1), ("P1-BLK", 0))
    body["delivery_mode"] = "teleport"
    r = client.post(PUSH.format("web"), json=body, headers=h)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"body.lines.1.quantity", "body.delivery_mode"} <= fields
    body = web_order("A2", ("NOPE", 1))
    body["address"]["latitude"] = 31.2
    del body["address"]["longitude"]
    r = client.post(PUSH.format("web"), json=body, headers=h)
    assert r.status_code == 422
    assert {"body.lines.0.sku_code", "body.address.latitude"} <= {e["field"] for e in r.json()["errors"]}
    r = client.post(PUSH.format("web"), content=b"[1, 2]", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert _count(db, Order) == 0
    assert _count(db, OrderLine) == 0


def test_marketplace_trade_over_http_and_parked_status(client: TestClient, db: Database) -> None:
    build(db)
    h = key_headers(make_key(db, "integrator", channel_code="tmall"))
    parked = client.post(
        "/api/v1/channels/tmall/orders/T9/status", json={"status": "WAIT_SELLER_SEND_GOODS"}, headers=h
    )
    assert parked.status_code == 202
    assert parked.json()["parked"] is True
    r = client.post(PUSH.format("tmall"), json=tmall_trade("T9", "WAIT_BUYER_PAY", ("P1-WHT", 1, "3999.00")), headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["order"]["payment_status"] == "paid"
    bad = client.post("/api/v1/channels/tmall/orders/T9/status", json={"status": "NOT_A_STATUS"}, headers=h)
    assert bad.status_code == 422


def test_pii_is_masked_without_pii_read(client: TestClient, db: Database) -> None:
    build(db)
    h = key_headers(make_key(db, "integrator", channel_code="web"))
    number = client.post(PUSH.format("web"), json=web_order("A3", ("P1-BLK", 1)), headers=h).json()["order"]["number"]
    analyst = key_headers(make_key(db, "analyst", name="analyst"))
    agent = key_headers(make_key(db, "cs_agent", name="agent"))
    masked = client.get(f"/api/v1/orders/{number}", headers=analyst).json()
    assert masked["buyer"]["phone"] == "138****8000"
    assert masked["buyer"]["name"] == "张*"
    assert masked["address"]["address"].endswith("****")
    clear = client.get(f"/api/v1/orders/{number}", headers=agent).json()
    assert clear["buyer"]["phone"] == "13800138000"
    found = client.get("/api/v1/orders", params={"phone": "13800138000"}, headers=agent).json()
    assert [o["number"] for o in found["items"]] == [number]
    assert (
        client.get("/api/v1/orders", params={"phone": "13800138000"}, headers=analyst).json()["items"][0]["buyer_phone"]
        == "138****8000"
    )


def test_store_manager_fulfils_only_their_store(client: TestClient, db: Database) -> None:
    from tests.factories import console_login, make_user

    w = build(db)
    h = key_headers(make_key(db, "integrator", channel_code="web"))
    # 1-hour delivery in Shanghai goes to S-SH-01.
    order = client.post(PUSH.format("web"), json=web_order("A4", ("P1-BLK", 1), mode="same_city"), headers=h).json()[
        "order"
    ]
    f = order["fulfilments"][0]["number"]
    make_user(db, "sh01", "store_manager", [w.locations["S-SH-01"]])
    make_user(db, "bj01", "store_manager", [w.locations["S-BJ-01"]])
    csrf = console_login(client, "bj01")
    assert client.get(f"/api/v1/orders/{order['number']}", headers=csrf).status_code == 404
    assert client.post(f"/api/v1/fulfilments/{f}/pick", json={}, headers=csrf).status_code == 404
    client.post("/logout", headers=csrf)
    csrf = console_login(client, "sh01")
    queue = client.get("/api/v1/locations/S-SH-01/fulfilment-queue", headers=csrf).json()
    assert [q["fulfilment"]["number"] for q in queue["items"]] == [f]
    for step, body in (("pick", {}), ("pack", None), ("ship", {"carrier": "闪送"}), ("deliver", None)):
        r = client.post(f"/api/v1/fulfilments/{f}/{step}", json=body, headers=csrf)
        assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered"
    timeline = client.get(f"/api/v1/orders/{order['number']}/timeline", headers=csrf).json()
    assert any(e["actor_name"] == "sh01" and e["to_status"] == "delivered" for e in timeline)


def test_idempotency_key_replays_the_answer(client: TestClient, db: Database) -> None:
    build(db)
    h = {**key_headers(make_key(db, "integrator", channel_code="web")), "Idempotency-Key": "k-1"}
    a = client.post(PUSH.format("web"), json=web_order("A5", ("P1-BLK", 1)), headers=h)
    b = client.post(PUSH.format("web"), json=web_order("A5", ("P1-BLK", 1)), headers=h)
    assert a.status_code == b.status_code == 201
    assert b.headers.get("Idempotent-Replayed") == "true"
    assert _count(db, Order) == 1


def test_timeline_keeps_no_buyer_identifiers(client: TestClient, db: Database) -> None:
    build(db)
    h = key_headers(make_key(db, "integrator", channel_code="web"))
    number = client.post(PUSH.format("web"), json=web_order("A6", ("P1-BLK", 1)), headers=h).json()["order"]["number"]
    ops = key_headers(make_key(db, "ops", name="ops"))
    timeline = client.get(f"/api/v1/orders/{number}/timeline", headers=ops)
    assert timeline.status_code == 200
    assert "13800138000" not in timeline.text


def test_another_store_may_receive_a_return_but_not_decide_it(client: TestClient, db: Database) -> None:
    from tests.factories import SYSTEM, console_login, make_user
    from zhongtai.orders import service
    from zhongtai.orders.schemas import ReturnLineIn, ShipIn

    w = build(db)
    with db.transaction() as s:
        order = service.intake(s, SYSTEM, "web", web_order("A7", ("P1-BLK", 1), mode="same_city")).out.order
        assert order is not None
        service.ship(s, SYSTEM, order.fulfilments[0].number, ShipIn())
        service.deliver(s, SYSTEM, order.fulfilments[0].number)
        ret = service.request_return(s, SYSTEM, order.number, [ReturnLineIn(line_no=1, quantity=1)], "wrong colour")
    make_user(db, "bj01", "store_manager", [w.locations["S-BJ-01"]])
    csrf = console_login(client, "bj01")
    assert client.post(f"/api/v1/returns/{ret.number}/approve", headers=csrf).status_code == 404
    got = client.post(f"/api/v1/returns/{ret.number}/receive", json={"location_code": "S-BJ-01"}, headers=csrf)
    assert got.status_code == 200, got.text
    assert got.json()["status"] == "received"
    assert got.json()["location_code"] == "S-BJ-01"
