"""Order buyers become members (the outbox consumer), points on completion; PIPL export and erasure."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.factories import SYSTEM, key_headers, make_key
from tests.integration.orders.world import build, web_order
from zhongtai.auth.models import AuditEntry
from zhongtai.db import Database
from zhongtai.members import consumer, identity
from zhongtai.members.identifiers import IdentifierIn, IdKind
from zhongtai.members.models import Identifier, Member, PointsEntry
from zhongtai.orders.models import Order
from zhongtai.outbox import OutboxEvent


def _orders(client: TestClient, db: Database) -> dict[str, str]:
    build(db)
    headers = key_headers(make_key(db, role="admin"))
    numbers = {}
    for ext, phone in (("W1", "13800138000"), ("W2", "138 0013 8000"), ("W3", "13900000000")):
        buyer = {"phone": phone, "name": "张三", "email": f"{ext.lower()}@example.com"}
        # W1 is a till sale in a Shanghai store (completed at once), the others web orders.
        pos = {"mode": "pos", "store_code": "S-SH-02"} if ext == "W1" else {}
        body = web_order(ext, ("CASE-1", 1), buyer=buyer, **pos)  # type: ignore[arg-type]
        channel = "pos" if ext == "W1" else "web"
        r = client.post(f"/api/v1/channels/{channel}/orders", json=body, headers=headers)
        assert r.status_code in (200, 201), r.text
        numbers[ext] = r.json()["order"]["number"]
    return numbers


def test_order_buyers_become_members_and_completed_orders_earn_points(client: TestClient, db: Database) -> None:
    numbers = _orders(client, db)
    assert consumer.consume(db) >= 3
    with db.transaction(write=False) as s:
        by_number = {o.number: o.member_id for o in s.scalars(select(Order))}
    # W1 and W2: the same phone in two spellings, one member (and W2's e-mail joined it).
    assert by_number[numbers["W1"]] == by_number[numbers["W2"]] is not None
    assert by_number[numbers["W3"]] not in (None, by_number[numbers["W1"]])
    consumer.consume(db)
    consumer.consume(db)  # a second pass (the look-back) changes nothing
    with db.transaction(write=False) as s:
        entries = list(s.scalars(select(PointsEntry).where(PointsEntry.order_number == numbers["W1"])))
        assert len(entries) == 1
        assert entries[0].points == 99
        member = s.get(Member, by_number[numbers["W1"]])
        assert member is not None
        assert member.points_balance == 99


def test_export_needs_pii_and_is_audited(client: TestClient, db: Database) -> None:
    numbers = _orders(client, db)
    consumer.consume(db)
    with db.transaction(write=False) as s:
        member_id = s.scalar(select(Order.member_id).where(Order.number == numbers["W1"]))
    ops = key_headers(make_key(db, role="ops"))  # members:manage without pii:read
    assert client.get(f"/api/v1/members/{member_id}/export", headers=ops).status_code == 403
    admin = key_headers(make_key(db, role="admin"))
    data = client.get(f"/api/v1/members/{member_id}/export", headers=admin).json()
    assert {i["value"] for i in data["identifiers"]} >= {"+8613800138000", "w1@example.com"}
    assert {o["number"] for o in data["orders"]} == {numbers["W1"], numbers["W2"]}
    with db.transaction(write=False) as s:
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "member.export")) is not None


def test_erasure_pseudonymises_the_member_and_keeps_anonymous_order_history(client: TestClient, db: Database) -> None:
    numbers = _orders(client, db)
    consumer.consume(db)
    with db.transaction(write=False) as s:
        member_id = s.scalar(select(Order.member_id).where(Order.number == numbers["W1"]))
    admin = key_headers(make_key(db, role="admin"))
    bad = client.post(f"/api/v1/members/{member_id}/erase", json={}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.reason"
    r = client.post(f"/api/v1/members/{member_id}/erase", json={"reason": "customer request 2026-11"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "erased"
    assert r.json()["name"].startswith("erased-")
    with db.transaction(write=False) as s:
        assert s.scalar(select(Identifier).where(Identifier.member_id == member_id)) is None
        for number in (numbers["W1"], numbers["W2"]):
            order = s.scalar(select(Order).where(Order.number == number))
            assert order is not None
            assert order.member_id == member_id
            assert order.buyer_phone == ""
            assert order.ship_phone == ""
            assert order.ship_address == ""
            assert order.buyer_name.startswith("erased-")
            assert order.total_fen > 0
            for event in s.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_id == number)):
                assert "13800138000" not in str(event.payload)
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "member.erase")) is not None
    assert client.post(f"/api/v1/members/{member_id}/erase", json={"reason": "again"}, headers=admin).status_code == 409
    # The same phone seen again is a new person to Zhongtai.
    with db.transaction() as s:
        again = identity.observe(
            s, SYSTEM, source="event", source_ref="after", identifiers=[IdentifierIn(IdKind.PHONE, "+8613800138000")]
        )
        assert again.id != member_id
