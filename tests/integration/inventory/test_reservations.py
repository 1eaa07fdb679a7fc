"""The reservation contract: idempotency, all-or-nothing, serials, consume, release, expiry."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import SYSTEM, key_headers, make_key, receive
from tests.integration.inventory.conftest import Net, assert_ledger_balanced
from zhongtai.db import Database, utcnow
from zhongtai.inventory import service as inventory
from zhongtai.inventory.models import Reservation, SerialNumber, StockBalance
from zhongtai.inventory.schemas import ReserveLine
from zhongtai.inventory.tasks import RESERVATION_EXPIRY
from zhongtai.jobs import SCHEDULES

URL = "/api/v1/reservations"


def _line(sku: str, loc: str, qty: int, serials: list[str] | None = None) -> dict[str, object]:
    return {"sku_code": sku, "location_code": loc, "quantity": qty, "serials": serials or []}


def _balance(db: Database, net: Net, sku_code: str, location_id: int) -> tuple[int, int]:
    with db.transaction(write=False) as s:
        rows = s.execute(
            select(StockBalance.on_hand, StockBalance.reserved).where(StockBalance.location_id == location_id)
        ).all()
        from zhongtai.catalog.service import sku_refs_by_codes

        sku_id = sku_refs_by_codes(s, [sku_code])[sku_code].id
        row = s.execute(
            select(StockBalance.on_hand, StockBalance.reserved).where(
                StockBalance.location_id == location_id, StockBalance.sku_id == sku_id
            )
        ).one()
        assert rows
        return (row.on_hand, row.reserved)


def _reservations(db: Database) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(Reservation)) or 0


def test_reserve_is_idempotent_on_channel_and_reference(client: TestClient, db: Database, net: Net) -> None:
    receive(db, "S-A", "CASE", 10)
    h = key_headers(make_key(db, role="integrator", channel_code="web"))
    body = {"reference": "WEB-1", "lines": [_line("CASE", "S-A", 2)]}
    # When the same order is reserved twice (a retry)
    first = client.post(URL, json=body, headers=h)
    again = client.post(URL, json=body, headers=h)
    # Then it is one reservation, for the key's channel, holding 2 units once
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["channel_code"] == "web"
    assert _balance(db, net, "CASE", net.store_a) == (10, 2)
    # When the same reference comes with other lines, it is a conflict
    resp = client.post(URL, json={"reference": "WEB-1", "lines": [_line("CASE", "S-A", 3)]}, headers=h)
    assert resp.status_code == 409
    assert resp.json()["code"] == "reservation_exists"
    # And the same reference on another channel is another order
    admin = key_headers(make_key(db, role="admin"))
    other = client.post(URL, json={**body, "channel_code": "jd"}, headers=admin)
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]


def test_every_short_line_is_listed_and_nothing_is_held(client: TestClient, db: Database, net: Net) -> None:
    receive(db, "S-A", "CASE", 5)
    receive(db, "S-A", "TV", 1)
    receive(db, "S-A", "PHONE", 2, ["P-1", "P-2"])
    h = key_headers(make_key(db, role="admin"))
    # When one line fits and two do not (plus a serial that does not exist)
    body = {
        "reference": "O-9",
        "lines": [
            _line("CASE", "S-A", 5),
            _line("TV", "S-A", 2),
            _line("TV", "S-B", 1),
            _line("PHONE", "S-A", 1, ["P-404"]),
        ],
    }
    resp = client.post(URL, json=body, headers=h)
    # Then one 409 lists both short lines and the serial
    assert resp.status_code == 409
    problem = resp.json()
    assert problem["code"] == "insufficient_stock"
    assert {(s["sku_code"], s["location_code"], s["requested"], s["available"]) for s in problem["shortages"]} == {
        ("TV", "S-A", 2, 1),
        ("TV", "S-B", 1, 0),
    }
    assert problem["unavailable_serials"] == [
        {"sku_code": "PHONE", "location_code": "S-A", "serial": "P-404", "state": None}
    ]
    # And nothing was held, not even the line that fitted
    assert _balance(db, net, "CASE", net.store_a) == (5, 0)
    assert _reservations(db) == 0


def test_bad_request_lists_every_field(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="admin"))
    # Schema errors: all at once
    resp = client.post(URL, json={"lines": [{"sku_code": "CASE", "quantity": 0, "bin": 3}], "ttl_s": -5}, headers=h)
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {
        "body.reference",
        "body.lines.0.quantity",
        "body.lines.0.bin",
        "body.ttl_s",
    }
    # Semantic errors: all at once
    body = {
        "reference": "O-1",
        "channel_code": "nope",
        "lines": [
            {"sku_code": "GHOST", "location_code": "S-A", "quantity": 1},
            {"sku_code": "CASE", "quantity": 1},
            {"sku_code": "CASE", "location_code": "S-A", "quantity": 1, "serials": ["S1"]},
        ],
    }
    resp = client.post(URL, json=body, headers=h)
    assert resp.status_code == 422
    assert {(e["field"], e["code"]) for e in resp.json()["errors"]} == {
        ("body.lines.0.sku_code", "unknown_sku"),
        ("body.lines.1.location_id", "location_required"),
        ("body.lines.2.serials", "not_serial_tracked"),
        ("body.channel_code", "unknown_channel"),
    }
    assert _reservations(db) == 0


def test_a_channel_key_reserves_and_sees_only_its_channel(client: TestClient, db: Database, net: Net) -> None:
    receive(db, "S-A", "CASE", 5)
    jd = key_headers(make_key(db, role="integrator", channel_code="jd", name="jd"))
    web = key_headers(make_key(db, role="integrator", channel_code="web", name="web"))
    # A JD key may not reserve for the web shop
    resp = client.post(
        URL, json={"reference": "X", "channel_code": "web", "lines": [_line("CASE", "S-A", 1)]}, headers=jd
    )
    assert resp.status_code == 403
    # Nor see, consume or release a web reservation
    rid = client.post(URL, json={"reference": "X", "lines": [_line("CASE", "S-A", 1)]}, headers=web).json()["id"]
    assert client.get(f"{URL}/{rid}", headers=jd).status_code == 404
    assert client.post(f"{URL}/{rid}/consume", headers=jd).status_code == 404
    assert client.post(f"{URL}/{rid}/release", headers=jd).status_code == 404
    assert client.get(f"{URL}/{rid}", headers=web).status_code == 200


def test_serials_are_held_then_sold(client: TestClient, db: Database, net: Net) -> None:
    receive(db, "S-A", "PHONE", 3, ["P-1", "P-2", "P-3"])
    h = key_headers(make_key(db, role="admin"))
    # When two phones are reserved by serial
    res = client.post(
        URL, json={"reference": "O-1", "lines": [_line("PHONE", "S-A", 2, ["P-1", "P-3"])]}, headers=h
    ).json()
    assert [
        s["state"] for s in client.get("/api/v1/stock/PHONE/serials?state=reserved", headers=h).json()["items"]
    ] == [
        "reserved",
        "reserved",
    ]
    # Then another order cannot take P-3
    resp = client.post(URL, json={"reference": "O-2", "lines": [_line("PHONE", "S-A", 1, ["P-3"])]}, headers=h)
    assert resp.status_code == 409
    assert resp.json()["unavailable_serials"][0]["state"] == "reserved"
    # When P-1 ships (partial), then P-3
    part = client.post(
        f"{URL}/{res['id']}/consume",
        json={"lines": [_line("PHONE", "S-A", 1, ["P-1"])], "reference": "SHIP-1"},
        headers=h,
    )
    assert part.status_code == 200, part.text
    assert (part.json()["status"], part.json()["lines"][0]["open"]) == ("active", 1)
    done = client.post(f"{URL}/{res['id']}/consume", headers=h)
    assert done.json()["status"] == "consumed"
    # Then both are sold, with the ledger naming them
    with db.transaction(write=False) as s:
        states = dict(s.execute(select(SerialNumber.serial, SerialNumber.state)).all())
    assert states == {"P-1": "sold", "P-2": "in_stock", "P-3": "sold"}
    sales = client.get("/api/v1/stock/movements?type=sale", headers=h).json()["items"]
    assert sorted(s for m in sales for s in m["serials"]) == ["P-1", "P-3"]
    assert {m["reference_id"] for m in sales} == {"SHIP-1", "O-1"}
    # And consuming again is refused
    assert client.post(f"{URL}/{res['id']}/consume", headers=h).status_code == 409
    assert_ledger_balanced(db)


def test_serial_tracked_units_held_without_serials_are_named_at_consumption(
    client: TestClient, db: Database, net: Net
) -> None:
    receive(db, "S-A", "PHONE", 2, ["P-1", "P-2"])
    h = key_headers(make_key(db, role="admin"))
    rid = client.post(URL, json={"reference": "O-1", "lines": [_line("PHONE", "S-A", 1)]}, headers=h).json()["id"]
    resp = client.post(f"{URL}/{rid}/consume", headers=h)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["code"] == "serials_required"
    resp = client.post(f"{URL}/{rid}/consume", json={"lines": [_line("PHONE", "S-A", 1, ["P-2"])]}, headers=h)
    assert resp.status_code == 200
    assert client.get("/api/v1/serials/P-2", headers=h).json()[0]["state"] == "sold"
    assert_ledger_balanced(db)


def test_partial_consumption_and_release_return_the_rest(client: TestClient, db: Database, net: Net) -> None:
    receive(db, "S-A", "CASE", 10)
    h = key_headers(make_key(db, role="admin"))
    rid = client.post(URL, json={"reference": "O-1", "lines": [_line("CASE", "S-A", 4)]}, headers=h).json()["id"]
    # When 1 ships and then the order is cancelled
    over = client.post(f"{URL}/{rid}/consume", json={"lines": [_line("CASE", "S-A", 5)]}, headers=h)
    assert over.status_code == 422
    assert client.post(f"{URL}/{rid}/consume", json={"lines": [_line("CASE", "S-A", 1)]}, headers=h).status_code == 200
    released = client.post(f"{URL}/{rid}/release", json={"reason": "customer cancelled"}, headers=h)
    # Then 1 is sold, 3 are back
    assert released.json()["status"] == "released"
    assert _balance(db, net, "CASE", net.store_a) == (9, 0)
    assert client.post(f"{URL}/{rid}/release", headers=h).status_code == 409
    assert_ledger_balanced(db)


def test_expired_reservations_give_their_stock_back(client: TestClient, db: Database, net: Net) -> None:
    receive(db, "S-A", "CASE", 3)
    receive(db, "S-A", "PHONE", 1, ["P-1"])
    h = key_headers(make_key(db, role="admin"))
    # Given a 60-second hold and one without expiry
    short = client.post(
        URL,
        json={
            "reference": "CART-1",
            "ttl_s": 60,
            "lines": [_line("CASE", "S-A", 2), _line("PHONE", "S-A", 1, ["P-1"])],
        },
        headers=h,
    ).json()
    paid = client.post(
        URL, json={"reference": "PAID-1", "ttl_s": None, "lines": [_line("CASE", "S-A", 1)]}, headers=h
    ).json()
    assert paid["expires_at"] is None
    # When the expiry schedule runs before the minute is over, nothing happens
    assert inventory.expire_reservations(db, utcnow()) == 0
    # When it runs after
    assert inventory.expire_reservations(db, utcnow() + timedelta(seconds=61)) == 1
    # Then the cart's units and serial are back, the paid order still holds its unit
    assert client.get(f"{URL}/{short['id']}", headers=h).json()["status"] == "expired"
    assert _balance(db, net, "CASE", net.store_a) == (3, 1)
    assert client.get("/api/v1/serials/P-1", headers=h).json()[0]["state"] == "in_stock"
    # And an expired reservation can no longer be consumed
    assert client.post(f"{URL}/{short['id']}/consume", headers=h).status_code == 409
    assert RESERVATION_EXPIRY in SCHEDULES
    assert SCHEDULES[RESERVATION_EXPIRY].every_s == 30
    assert_ledger_balanced(db)


def test_reserve_in_a_callers_transaction_writes_nothing_on_shortage(db: Database, net: Net) -> None:
    receive(db, "S-A", "CASE", 1)
    # Given an order center that reserves inside its own transaction
    with db.transaction() as s:
        ok = inventory.reserve_stock(
            s,
            SYSTEM,
            reference="A",
            channel_code=None,
            lines=[ReserveLine(sku_id=1, location_id=net.store_a, quantity=1)],
            ttl_s=None,
        )
        with contextlib.suppress(inventory.InsufficientStock):
            inventory.reserve_stock(
                s,
                SYSTEM,
                reference="B",
                channel_code=None,
                lines=[ReserveLine(sku_code="CASE", location_id=net.store_a, quantity=1)],
                ttl_s=None,
            )
    # Then the first is kept and the failed one left no trace
    with db.transaction(write=False) as s:
        assert [r.reference for r in s.scalars(select(Reservation))] == ["A"]
        assert inventory.get_reservation(s, SYSTEM, ok.id).status == "active"
    assert_ledger_balanced(db)
