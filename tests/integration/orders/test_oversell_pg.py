"""The last units of a scarce SKU are never promised twice, whatever 32 channels do at once.

PostgreSQL only (``ZHONGTAI_TEST_DATABASE_URL``). A real server (uvicorn, two worker processes)
takes 200 paid web orders of 1-2 units of ``HOT`` (some with a second line of an ample SKU) from
32 concurrent HTTP clients; 25 units of HOT lie at three locations. Half of the orders say
``on_short: reject`` (web checkout: refuse with 409 when stock is short), half ``backorder`` (keep
the order, hold what there is, queue the rest). Meanwhile an ops client ships routed fulfilments
(their held units become sales), and a monitor samples the balances and the fulfilments.

At every sample and at the end: units held + units sold never exceed the stock (in total and per
location), no balance goes negative or below what it holds, the ledger balances, every hold
belongs to an open fulfilment, a refused order wrote nothing, an accepted "reject" order is
fully held, a backorder order is held as far as stock went and on hold for the rest.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from tests.factories import (
    key_headers,
    make_catalog_basics,
    make_catalog_sku,
    make_catalog_spu,
    make_key,
    make_location,
    receive,
)
from zhongtai.auth.models import AuditEntry
from zhongtai.db import Database
from zhongtai.inventory import service as inventory
from zhongtai.inventory.models import Reservation, StockBalance
from zhongtai.orders.models import Fulfilment, FulfilmentLine, Order, OrderException, OrderLine
from zhongtai.outbox import OutboxEvent

pytestmark = pytest.mark.postgres
SERVER_POOL_SIZE = 40

CLIENTS = 32
ORDERS = 200
# HOT: 25 units over three locations; CASE: plenty, at the central DC only.
HOT_STOCK = {"DC-WH": 10, "RDC-EC": 8, "S-SH-01": 7}
PRICES = {"HOT": 399_900, "CASE": 9_900}
SH_POINT = {
    "province": "上海市",
    "city": "上海市",
    "address": "人民大道 200 号",
    "latitude": 31.2304,
    "longitude": 121.4737,
}
SHIP_AT_MOST = 12
OPEN = ("routed", "picking", "packed")
LIVE = (*OPEN, "shipped", "delivered")


def _seed(db: Database) -> None:
    make_catalog_basics(db)
    make_catalog_spu(db, "P1")
    make_catalog_sku(db, "HOT", lifecycle="on_sale")
    make_catalog_sku(db, "CASE", lifecycle="on_sale", sale_price_fen=9_900)
    make_location(db, "DC-WH", "central_dc", province="湖北省", city="武汉市", latitude=30.5928, longitude=114.3055)
    make_location(db, "RDC-EC", "regional_dc", province="江苏省", city="苏州市", latitude=31.2989, longitude=120.5853)
    make_location(db, "S-SH-01", "store", province="上海市", city="上海市", latitude=31.2352, longitude=121.4811)
    for loc, units in HOT_STOCK.items():
        receive(db, loc, "HOT", units)
    receive(db, "DC-WH", "CASE", 10_000)


def _order(i: int, rnd: random.Random) -> dict[str, Any]:
    lines = [("HOT", rnd.randint(1, 2))]
    if rnd.random() < 0.3:
        lines.append(("CASE", 1))
    return {
        "external_id": f"O{i:04d}",
        "status": "paid",
        "delivery_mode": "express",
        "on_short": "reject" if i % 2 == 0 else "backorder",
        "lines": [{"sku_code": s, "quantity": q, "unit_price_fen": PRICES[s]} for s, q in lines],
        "buyer": {"phone": "13800138000", "name": "张三"},
        "address": {"name": "张三", "phone": "13800138000", **SH_POINT},
        "paid_fen": sum(PRICES[s] * q for s, q in lines),
    }


def _snapshot(db: Database) -> list[str]:
    """What must hold at any instant: returns the violations seen in one read transaction."""
    bad: list[str] = []
    with db.transaction(write=False) as s:
        rows = s.execute(
            select(FulfilmentLine.sku_id, Fulfilment.location_id, func.sum(FulfilmentLine.quantity))
            .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
            .where(Fulfilment.status.in_(LIVE))
            .group_by(FulfilmentLine.sku_id, Fulfilment.location_id)
        ).all()
        balances = list(s.scalars(select(StockBalance)))
    codes = _location_codes(db)
    hot = _sku_id(db, "HOT")
    taken = {codes[int(loc)]: int(q) for sku, loc, q in rows if sku == hot}
    if sum(taken.values()) > sum(HOT_STOCK.values()):
        bad.append(f"{sum(taken.values())} units of HOT promised, {sum(HOT_STOCK.values())} exist: {taken}")
    for loc, q in taken.items():
        if q > HOT_STOCK[loc]:
            bad.append(f"{q} units of HOT promised at {loc}, which had {HOT_STOCK[loc]}")
    for b in balances:
        if b.on_hand < 0 or b.reserved < 0 or b.reserved > b.on_hand:
            bad.append(f"balance sku {b.sku_id} at {codes[b.location_id]}: on_hand {b.on_hand} reserved {b.reserved}")
    return bad


_CACHE: dict[str, Any] = {}


def _location_codes(db: Database) -> dict[int, str]:
    if "locs" not in _CACHE:
        with db.transaction(write=False) as s:
            _CACHE["locs"] = {loc.id: loc.code for loc in inventory.fulfilment_locations(s)}
    return dict(_CACHE["locs"])


def _sku_id(db: Database, code: str) -> int:
    from zhongtai.catalog.service import sku_refs_by_codes

    if code not in _CACHE:
        with db.transaction(write=False) as s:
            _CACHE[code] = sku_refs_by_codes(s, [code])[code].id
    return int(_CACHE[code])


def test_32_clients_never_promise_more_than_the_stock(pg_db: Database, pg_server: str) -> None:
    _CACHE.clear()
    _seed(pg_db)
    web = make_key(pg_db, "integrator", channel_code="web", name="web shop")
    ops = make_key(pg_db, "ops", name="warehouse")
    rnd = random.Random(7)
    bodies = [_order(i, rnd) for i in range(ORDERS)]
    parsed = urlsplit(pg_server)
    lock = threading.Lock()
    answers: dict[str, tuple[int, dict[str, Any]]] = {}
    unexpected: list[str] = []
    shipped: list[str] = []
    violations: list[str] = []
    next_order = iter(range(ORDERS))
    done = threading.Event()

    def post(conn: http.client.HTTPConnection, path: str, body: dict[str, Any], secret: str) -> tuple[int, Any]:
        headers = {**key_headers(secret), "Content-Type": "application/json"}
        conn.request("POST", path, body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")

    def client() -> None:
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
        try:
            while True:
                with lock:
                    i = next(next_order, None)
                if i is None:
                    return
                body = bodies[i]
                try:
                    code, out = post(conn, "/api/v1/channels/web/orders", body, web)
                except (OSError, http.client.HTTPException) as exc:
                    code, out = -1, {"error": repr(exc)}
                refused = code == 409 and out.get("code") == "insufficient_stock"
                with lock:
                    answers[body["external_id"]] = (code, out)
                    if not (code == 201 or (refused and body["on_short"] == "reject")):
                        unexpected.append(f"{body['external_id']} ({body['on_short']}): {code} {json.dumps(out)[:300]}")
                        conn.close()
                        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
        finally:
            conn.close()

    def shipper() -> None:
        # Ships what is routed, a few at a time: held units become sales while orders pour in.
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
        try:
            while not done.is_set() and len(shipped) < SHIP_AT_MOST:
                with pg_db.transaction(write=False) as s:
                    numbers = list(s.scalars(select(Fulfilment.number).where(Fulfilment.status == "routed").limit(3)))
                for number in numbers:
                    code, out = post(conn, f"/api/v1/fulfilments/{number}/ship", {"carrier": "SF"}, ops)
                    with lock:
                        if code == 200:
                            shipped.append(number)
                        else:
                            unexpected.append(f"ship {number}: {code} {json.dumps(out)[:300]}")
                time.sleep(0.05)
        finally:
            conn.close()

    def monitor() -> None:
        while not done.is_set():
            found = _snapshot(pg_db)
            with lock:
                violations.extend(found)
            time.sleep(0.02)

    _location_codes(pg_db)
    _sku_id(pg_db, "HOT")
    side = [threading.Thread(target=shipper), threading.Thread(target=monitor)]
    clients = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.monotonic()
    for t in side + clients:
        t.start()
    for t in clients:
        t.join(timeout=600)
    done.set()
    for t in side:
        t.join(timeout=60)
    elapsed = time.monotonic() - started
    violations += _snapshot(pg_db)
    print(f"{ORDERS} orders from {CLIENTS} clients in {elapsed:.1f}s; {len(shipped)} fulfilments shipped")

    # Never more promised than there is, at any sampled instant and at the end.
    assert violations == [], violations[:10]
    assert len(answers) == ORDERS
    accepted = {ext for ext, (code, _) in answers.items() if code == 201}
    refused = {ext for ext, (code, _) in answers.items() if code == 409}
    assert refused, "no order was refused: the stock was not scarce"
    assert shipped, "nothing shipped during the run"

    hot = _sku_id(pg_db, "HOT")
    codes = _location_codes(pg_db)
    by_ext = {b["external_id"]: b for b in bodies}
    with pg_db.transaction(write=False) as s:
        orders = {o.external_id: o for o in s.scalars(select(Order))}
        # A refused order wrote nothing: no order, no hold, no event; the accepted ones exist once.
        assert set(orders) == accepted
        fulfilments = defaultdict(list)
        for f in s.scalars(select(Fulfilment)):
            fulfilments[f.order_id].append(f)
        f_lines = defaultdict(list)
        for fl in s.scalars(select(FulfilmentLine)):
            f_lines[fl.fulfilment_id].append(fl)
        lines = defaultdict(list)
        for ln in s.scalars(select(OrderLine)):
            lines[ln.order_id].append(ln)
        open_exc = Counter(s.scalars(select(OrderException.order_id).where(OrderException.status == "open")))
        reservations = {r.reference: r for r in s.scalars(select(Reservation))}
        numbers = {f.number for fs in fulfilments.values() for f in fs}
        assert set(reservations) == numbers, "a hold without a fulfilment (a refused order's?)"
        created_audits = s.scalar(select(func.count()).where(AuditEntry.action == "reservation.create"))
        assert created_audits == len(reservations)
        assert s.scalar(select(func.count()).where(OutboxEvent.topic == "order.created")) == len(accepted)

        promised: Counter[str] = Counter()
        wrong: list[str] = []
        for ext, o in orders.items():
            body = by_ext[ext]
            assigned: Counter[int] = Counter()
            for f in fulfilments[o.id]:
                if f.status not in LIVE:
                    continue
                res = reservations[f.number]
                want = "consumed" if f.status == "shipped" else "active"
                if res.status != want:
                    wrong.append(f"{ext}: {f.number} is {f.status} but its hold is {res.status}")
                for fl in f_lines[f.id]:
                    assigned[fl.order_line_id] += fl.quantity
                    if fl.sku_id == hot:
                        promised[codes[f.location_id]] += fl.quantity
            missing = sum(ln.quantity - assigned[ln.id] for ln in lines[o.id])
            if any(assigned[ln.id] > ln.quantity for ln in lines[o.id]):
                wrong.append(f"{ext}: more assigned than ordered")
            if body["on_short"] == "reject" and (missing or o.on_hold):
                wrong.append(f"{ext}: accepted 'reject' order is short by {missing} (hold={o.on_hold})")
            if bool(missing) != o.on_hold or bool(missing) != bool(open_exc[o.id]):
                wrong.append(f"{ext}: short by {missing}, hold={o.on_hold}, open exceptions {open_exc[o.id]}")
            if o.payment_status != "paid" or o.status not in ("routed", "shipped", "partially_shipped", "created"):
                wrong.append(f"{ext}: {o.status} / {o.payment_status}")
        assert wrong == [], wrong[:10]

        # Held + sold per location never above the stock; and all of it is taken (nothing leaked).
        assert all(promised[loc] <= units for loc, units in HOT_STOCK.items()), promised
        assert sum(promised.values()) == sum(HOT_STOCK.values()), promised
        balances = {codes[b.location_id]: b for b in s.scalars(select(StockBalance).where(StockBalance.sku_id == hot))}
        sold = Counter()
        for fs in fulfilments.values():
            for f in fs:
                if f.status == "shipped":
                    sold[codes[f.location_id]] += sum(fl.quantity for fl in f_lines[f.id] if fl.sku_id == hot)
        for loc, units in HOT_STOCK.items():
            b = balances[loc]
            assert b.on_hand == units - sold[loc], (loc, b.on_hand, sold[loc])
            assert b.reserved == promised[loc] - sold[loc], (loc, b.reserved, promised[loc], sold[loc])
            assert 0 <= b.reserved <= b.on_hand
        assert inventory.check_ledger(s) == []

    # Every answer was the contract's: 201, or 409 insufficient_stock for a "reject" order. A
    # backorder order is never refused, and nothing fails with a 5xx.
    assert unexpected == [], f"{len(unexpected)}: {unexpected[:10]}"
