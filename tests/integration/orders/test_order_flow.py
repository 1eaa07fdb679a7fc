"""The order lifecycle through the service: capture, routing, picking, shipping, delivery,
cancellation, re-routing, POS, returns and refunds. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.factories import SYSTEM
from tests.integration.orders.world import BJ_POINT, CD_POINT, build, tmall_trade, web_order
from zhongtai.db import Database
from zhongtai.errors import InvalidTransition, ValidationFailed
from zhongtai.inventory import service as inventory
from zhongtai.inventory.errors import InsufficientStock
from zhongtai.orders import service
from zhongtai.orders.schemas import PickIn, PickLineIn, ReceiveLineIn, ReturnLineIn, ShipIn, StatusUpdateIn


def _intake(db: Database, channel: str, body: dict) -> service.IntakeResult:  # type: ignore[type-arg]
    with db.transaction() as s:
        return service.intake(s, SYSTEM, channel, body)


def _stock(db: Database, loc: str, sku: str) -> tuple[int, int]:
    with db.transaction(write=False) as s:
        out = inventory.sku_availability(s, SYSTEM, sku)
    for row in out.locations:
        if row.location_code == loc:
            return row.on_hand, row.reserved
    return 0, 0


def _ledger_ok(db: Database) -> None:
    with db.transaction(write=False) as s:
        assert inventory.check_ledger(s) == []


def test_capture_routes_to_one_store_and_holds_stock(db: Database) -> None:
    build(db)
    res = _intake(db, "web", web_order("W1", ("P1-BLK", 1)))
    assert res.created
    order = res.out.order
    assert order is not None
    assert order.status == "routed"
    assert order.payment_status == "paid"
    # The regional DC 85 km away is cheaper per parcel than a store 1 km away (store handling).
    assert [f.location_code for f in order.fulfilments] == ["RDC-EC"]
    assert _stock(db, "RDC-EC", "P1-BLK") == (20, 1)
    with db.transaction(write=False) as s:
        tl = service.timeline(s, SYSTEM, order.number)
        decisions = service.routing_decisions(s, SYSTEM, order.number)
    assert [e.to_status for e in tl if e.kind == "status"] == ["created", "reserved", "routed"]
    assert decisions[0].trigger == "capture"
    assert decisions[0].explanation["candidates"]
    _ledger_ok(db)


def test_duplicate_delivery_returns_the_original(db: Database) -> None:
    build(db)
    first = _intake(db, "web", web_order("W1", ("P1-BLK", 1)))
    again = _intake(db, "web", web_order("W1", ("P1-BLK", 1)))
    assert not again.created
    assert again.out.order
    assert first.out.order
    assert again.out.order.number == first.out.order.number
    assert _stock(db, "RDC-EC", "P1-BLK") == (20, 1)


def test_split_when_no_location_has_everything(db: Database) -> None:
    build(db)
    # P1-WHT only at RDC-EC (5) and S-BJ-01 (2); CASE-1 at DC-WH and S-SH-02.
    res = _intake(db, "web", web_order("W2", ("P1-WHT", 6), ("CASE-1", 1), address=CD_POINT))
    order = res.out.order
    assert order is not None
    assert order.status == "routed"
    shipped_from = sorted((f.location_code, ln.sku_code, ln.quantity) for f in order.fulfilments for ln in f.lines)
    assert sum(q for _, sku, q in shipped_from if sku == "P1-WHT") == 6
    assert len(order.fulfilments) >= 2


def test_backorder_opens_an_exception_and_retry_routes_it(db: Database) -> None:
    build(db)
    res = _intake(db, "web", web_order("W3", ("P1-WHT", 9)))
    order = res.out.order
    # 7 of 9 can go now (RDC-EC 5, S-BJ-01 2): those are held, the rest waits.
    assert order is not None
    assert order.on_hold
    assert order.status == "routed"
    assert sum(ln.quantity for f in order.fulfilments for ln in f.lines) == 7
    with db.transaction(write=False) as s:
        exc = service.list_exceptions(s, SYSTEM)
    assert [e.kind for e in exc.items] == ["no_stock"]
    from tests.factories import receive

    receive(db, "DC-WH", "P1-WHT", 10)
    with db.transaction() as s:
        assert service.retry_held(s) == 1
        again = service.get_order(s, SYSTEM, order.number)
    assert again.status == "routed"
    assert not again.on_hold
    assert sum(ln.quantity for f in again.fulfilments for ln in f.lines) == 9


def test_reject_if_short_refuses_and_writes_nothing(db: Database) -> None:
    build(db)
    with pytest.raises(InsufficientStock), db.transaction() as s:
        service.intake(s, SYSTEM, "web", web_order("W4", ("P1-WHT", 99), on_short="reject"))
    with db.transaction(write=False) as s:
        assert service.list_orders(s, SYSTEM).items == []


def test_bad_payload_lists_every_problem(db: Database) -> None:
    build(db)
    body = web_order("W5", ("NOPE", 1), ("P1-BLK", 1))
    body["lines"][1]["discount_fen"] = 10**9
    body["paid_fen"] = 1
    with pytest.raises(ValidationFailed) as err, db.transaction() as s:
        service.intake(s, SYSTEM, "web", body)
    fields = {p.field for p in err.value.errors}
    assert {"body.lines.0.sku_code", "body.lines.1.discount_fen", "body.paid_fen"} <= fields


def test_full_lifecycle_with_partial_shipment(db: Database) -> None:
    build(db)
    order = _intake(db, "web", web_order("W6", ("P1-BLK", 3))).out.order
    assert order is not None
    f = order.fulfilments[0]
    with db.transaction() as s:
        service.start_picking(s, SYSTEM, f.number, PickIn())
        service.pack(s, SYSTEM, f.number)
        out = service.ship(
            s, SYSTEM, f.number, ShipIn(carrier="SF", tracking_no="SF1", lines=[{"line_no": 1, "quantity": 1}])
        )  # type: ignore[list-item]
    assert out.status == "partially_shipped"
    assert _stock(db, f.location_code, "P1-BLK")[1] == 2
    with db.transaction() as s:
        out = service.ship(s, SYSTEM, f.number, ShipIn())
        assert out.status == "shipped"
        out = service.deliver(s, SYSTEM, f.number)
        assert out.status == "delivered"
        out = service.complete(s, SYSTEM, order.number)
    assert out.status == "completed"
    _ledger_ok(db)


def test_cancel_releases_stock_and_refunds(db: Database) -> None:
    build(db)
    order = _intake(db, "web", web_order("W7", ("P1-BLK", 1))).out.order
    assert order is not None
    with db.transaction() as s:
        out = service.cancel(s, SYSTEM, order.number, "buyer changed mind")
        refunds = service.order_refunds(s, SYSTEM, order.number)
    assert out.status == "cancelled"
    assert _stock(db, "RDC-EC", "P1-BLK") == (20, 0)
    assert [(r.amount_fen, r.status) for r in refunds] == [(399_900, "pending")]
    with db.transaction() as s, pytest.raises(InvalidTransition):
        service.cancel(s, SYSTEM, order.number, "again")


def test_store_rejects_and_order_reroutes_elsewhere(db: Database) -> None:
    build(db)
    order = _intake(db, "web", web_order("W8", ("P1-BLK", 1))).out.order
    assert order is not None
    f = order.fulfilments[0]
    with db.transaction() as s:
        out = service.reject(s, SYSTEM, f.number, "no staff today")
    live = [x for x in out.fulfilments if x.status == "routed"]
    assert len(live) == 1
    assert live[0].location_code != f.location_code
    assert _stock(db, f.location_code, "P1-BLK")[1] == 0


def test_same_city_only_from_stores_within_3_km(db: Database) -> None:
    build(db)
    order = _intake(db, "web", web_order("W9", ("P1-BLK", 1), mode="same_city")).out.order
    assert order is not None
    assert order.fulfilments[0].location_code == "S-SH-01"
    assert order.fulfilments[0].kind == "same_city"
    # Nothing within 3 km of Beijing's point has P1-BLK: falls back to express from elsewhere.
    far = _intake(db, "web", web_order("W10", ("P1-BLK", 1), mode="same_city", address=BJ_POINT)).out.order
    assert far is not None
    assert far.fulfilments[0].kind == "ship"


def test_click_and_collect_from_the_store(db: Database) -> None:
    build(db)
    order = _intake(db, "web", web_order("W11", ("CASE-1", 1), mode="click_collect", store_code="S-SH-02")).out.order
    assert order is not None
    assert [(f.location_code, f.kind) for f in order.fulfilments] == [("S-SH-02", "pickup")]


def test_marketplace_trade_and_status_words(db: Database) -> None:
    build(db)
    res = _intake(db, "tmall", tmall_trade("T1", "WAIT_BUYER_PAY", ("P1-WHT", 1, "3999.00")))
    order = res.out.order
    assert order is not None
    assert order.payment_status == "unpaid"
    assert order.total_fen == 399_900
    assert order.fulfilments[0].location_code == "S-BJ-01"
    paid = _intake(db, "tmall", tmall_trade("T1", "WAIT_SELLER_SEND_GOODS", ("P1-WHT", 1, "3999.00")))
    assert not paid.created
    assert paid.out.order
    assert paid.out.order.payment_status == "paid"
    closed = _intake(db, "tmall", tmall_trade("T1", "TRADE_CLOSED", ("P1-WHT", 1, "3999.00")))
    assert closed.out.order
    assert closed.out.order.status == "cancelled"
    assert closed.out.order.payment_status == "refunded"
    assert _stock(db, "S-BJ-01", "P1-WHT") == (2, 0)


def test_marketplace_bad_money_is_named(db: Database) -> None:
    build(db)
    body = tmall_trade("T2", "WAIT_SELLER_SEND_GOODS", ("P1-WHT", 1, "39.99"))
    body["status"] = "WHATEVER"
    body["orders"][0]["price"] = "39,99"
    with pytest.raises(ValidationFailed) as err, db.transaction() as s:
        service.intake(s, SYSTEM, "tmall", body)
    assert {"body.orders.0.price", "body.status"} <= {p.field for p in err.value.errors}


def test_status_before_order_is_parked_then_applied(db: Database) -> None:
    build(db)
    with db.transaction() as s:
        out = service.update_status(s, SYSTEM, "web", "W12", StatusUpdateIn(status="paid"))
    assert out.parked
    order = _intake(db, "web", web_order("W12", ("P1-BLK", 1), status="created")).out.order
    assert order is not None
    assert order.payment_status == "paid"


def test_cancel_after_shipment_goes_to_exception_queue(db: Database) -> None:
    build(db)
    order = _intake(db, "web", web_order("W13", ("P1-BLK", 1))).out.order
    assert order is not None
    with db.transaction() as s:
        service.ship(s, SYSTEM, order.fulfilments[0].number, ShipIn(carrier="SF"))
        out = service.update_status(s, SYSTEM, "web", "W13", StatusUpdateIn(status="cancelled"))
    assert out.order
    assert out.order.status == "shipped"
    assert out.order.on_hold
    with db.transaction(write=False) as s:
        assert [e.kind for e in service.list_exceptions(s, SYSTEM).items] == ["cancel_after_shipment"]


def test_pos_sale_with_serials_and_return_in_another_store(db: Database) -> None:
    build(db)
    body = web_order("POS-1", ("P1-SN", 1), mode="pos", store_code="S-SH-01")
    body["lines"][0]["serials"] = ["SN-A1"]
    body["lines"][0]["unit_price_fen"] = 599_900
    body["paid_fen"] = 599_900
    order = _intake(db, "pos", body).out.order
    assert order is not None
    assert order.status == "completed"
    assert order.fulfilments[0].lines[0].serials == ["SN-A1"]
    assert _stock(db, "S-SH-01", "P1-SN") == (1, 0)
    with db.transaction() as s:
        elig = service.return_eligibility(s, SYSTEM, order.number)
        assert elig.eligible
        ret = service.request_return(s, SYSTEM, order.number, [ReturnLineIn(line_no=1, quantity=1)], "不喜欢")
        service.decide_return(s, SYSTEM, ret.number, approve=True)
        got = service.receive_return(
            s,
            SYSTEM,
            ret.number,
            location_code="S-SH-02",
            lines=[ReceiveLineIn(line_no=1, quantity=1, disposition="restock", serials=["SN-A1"])],
        )
        refunds = service.order_refunds(s, SYSTEM, order.number)
        settled = service.settle_refund(s, SYSTEM, refunds[0].id, succeeded=True, external_ref="CASH")
        final = service.get_order(s, SYSTEM, order.number)
    assert got.status == "received"
    assert got.refund_fen == 599_900
    assert settled.status == "succeeded"
    assert final.payment_status == "refunded"
    assert _stock(db, "S-SH-02", "P1-SN") == (1, 0)
    _ledger_ok(db)


def test_serials_scanned_at_picking(db: Database) -> None:
    build(db)
    order = _intake(db, "web", web_order("W14", ("P1-SN", 1))).out.order
    assert order is not None
    f = order.fulfilments[0]
    with db.transaction() as s, pytest.raises(ValidationFailed):
        service.start_picking(s, SYSTEM, f.number, PickIn())
    with db.transaction() as s, pytest.raises(ValidationFailed):
        service.start_picking(s, SYSTEM, f.number, PickIn(lines=[PickLineIn(line_no=1, serials=["NOPE"])]))
    with db.transaction() as s:
        service.start_picking(s, SYSTEM, f.number, PickIn(lines=[PickLineIn(line_no=1, serials=["SN-A2"])]))
        out = service.ship(s, SYSTEM, f.number, ShipIn())
    assert out.fulfilments[0].lines[0].serials == ["SN-A2"]
    with db.transaction(write=False) as s:
        assert inventory.find_serial(s, SYSTEM, "SN-A2")[0].state == "sold"


def test_unpaid_orders_time_out(db: Database) -> None:
    from datetime import timedelta

    from zhongtai.db import utcnow

    build(db)
    order = _intake(db, "web", web_order("W15", ("P1-BLK", 1), status="created")).out.order
    assert order is not None
    assert order.pay_by is not None
    with db.transaction() as s:
        assert service.cancel_unpaid(s, utcnow() + timedelta(hours=1)) == 1
        out = service.get_order(s, SYSTEM, order.number)
    assert out.status == "cancelled"
    assert _stock(db, "RDC-EC", "P1-BLK") == (20, 0)
