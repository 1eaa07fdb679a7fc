"""Real concurrent clients against PostgreSQL: the last units are never sold twice.

These need ``ZHONGTAI_TEST_DATABASE_URL``. The first test starts a real server (uvicorn, two
worker processes) on a free loopback port and drives it with 50 HTTP clients; the second uses 50
threads, each with its own session and connection.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select

from tests.factories import (
    SYSTEM,
    key_headers,
    make_catalog_basics,
    make_catalog_sku,
    make_catalog_spu,
    make_key,
    make_location,
    receive,
)
from zhongtai.db import Database
from zhongtai.errors import InvalidTransition
from zhongtai.inventory import service as inventory
from zhongtai.inventory.errors import InsufficientStock
from zhongtai.inventory.models import Reservation, ReservationLine, SerialNumber, StockBalance, StockMovement
from zhongtai.inventory.schemas import ReserveLine

pytestmark = pytest.mark.postgres

CLIENTS = 50
ATTEMPTS = 5_000
UNITS = 100


def _seed(db: Database, sku: str, serial_tracked: bool) -> None:
    make_catalog_basics(db)
    make_catalog_spu(db, "P1")
    make_catalog_sku(db, sku, lifecycle="on_sale", serial_tracked=serial_tracked)
    make_location(db, "S-A", "store", city="上海")


def _assert_invariants(db: Database, sku_code: str, *, reserved: int, on_hand: int) -> None:
    with db.transaction(write=False) as s:
        assert inventory.check_ledger(s) == []
        bal = s.execute(select(StockBalance.on_hand, StockBalance.reserved)).one()
        assert (bal.on_hand, bal.reserved) == (on_hand, reserved)
        held = s.scalar(
            select(func.coalesce(func.sum(ReservationLine.quantity - ReservationLine.consumed), 0))
            .join(Reservation, Reservation.id == ReservationLine.reservation_id)
            .where(Reservation.status == "active")
        )
        assert held == reserved


def _warm_up(pg_server: str, headers: dict[str, str]) -> None:
    """One reserve + release: the key's first write records its last use (a row lock on the key
    that the platform takes inside the request), so the timed clients do not all queue on it."""
    with httpx.Client(base_url=pg_server, headers=headers, timeout=30) as http:
        line = {"sku_code": "CASE", "location_code": "S-A", "quantity": 1}
        resp = http.post("/api/v1/reservations", json={"reference": "WARM-UP", "lines": [line]})
        assert resp.status_code == 201, resp.text
        assert http.post(f"/api/v1/reservations/{resp.json()['id']}/release").status_code == 200


def test_50_http_clients_take_exactly_the_last_100_units(pg_db: Database, pg_server: str) -> None:
    # Given 100 units of one SKU at one store and a channel integrator's key
    _seed(pg_db, "CASE", serial_tracked=False)
    receive(pg_db, "S-A", "CASE", UNITS)
    headers = key_headers(make_key(pg_db, role="integrator", channel_code="web"))
    _warm_up(pg_server, headers)
    outcomes: Counter[int] = Counter()
    unexpected: list[str] = []
    lock = threading.Lock()

    def client(worker: int) -> None:
        with httpx.Client(base_url=pg_server, headers=headers, timeout=30) as http:
            for i in range(ATTEMPTS // CLIENTS):
                body = {
                    "reference": f"ORD-{worker}-{i}",
                    "lines": [{"sku_code": "CASE", "location_code": "S-A", "quantity": 1}],
                }
                resp = http.post("/api/v1/reservations", json=body)
                with lock:
                    outcomes[resp.status_code] += 1
                    refused = resp.status_code == 409 and resp.json()["code"] == "insufficient_stock"
                    if resp.status_code != 201 and not refused:
                        unexpected.append(resp.text)

    # When 50 clients make 5,000 reservation attempts of 1 unit at the same time
    threads = [threading.Thread(target=client, args=(w,)) for w in range(CLIENTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    # Then exactly 100 succeed, the others are told "insufficient_stock", available ends at 0
    assert unexpected == []
    assert outcomes[201] == UNITS, (outcomes, elapsed)
    assert outcomes[409] == ATTEMPTS - UNITS
    _assert_invariants(pg_db, "CASE", reserved=UNITS, on_hand=UNITS)


def test_50_sessions_contend_for_100_serials_each_reserved_and_sold_once(pg_db: Database) -> None:
    # Given 100 serial-numbered phones at one store
    _seed(pg_db, "PHONE", serial_tracked=True)
    serials = [f"IMEI{n:05d}" for n in range(UNITS)]
    receive(pg_db, "S-A", "PHONE", UNITS, serials)
    db = Database(pg_db.url, pool_size=CLIENTS + 5, max_overflow=5)
    won: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    attempts = 2_000

    def reserver(worker: int) -> None:
        rnd = random.Random(worker)
        for i in range(attempts // CLIENTS):
            serial = rnd.choice(serials)
            try:
                with db.transaction() as s:
                    out = inventory.reserve_stock(
                        s,
                        SYSTEM,
                        reference=f"R-{worker}-{i}",
                        channel_code=None,
                        lines=[ReserveLine(sku_code="PHONE", location_code="S-A", quantity=1, serials=[serial])],
                        ttl_s=None,
                    )
                with lock:
                    won.append((serial, out.id))
            except InsufficientStock:
                pass
            except BaseException as exc:
                errors.append(exc)

    try:
        # When 50 clients try to reserve random serials at the same time
        threads = [threading.Thread(target=reserver, args=(w,)) for w in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Then no serial is reserved twice
        assert errors == []
        by_serial = Counter(s for s, _ in won)
        assert max(by_serial.values()) == 1
        with pg_db.transaction(write=False) as s:
            states = Counter(s.scalars(select(SerialNumber.state)))
        assert states["reserved"] == len(won)
        _assert_invariants(pg_db, "PHONE", reserved=len(won), on_hand=UNITS)

        # When two clients race to consume each reservation
        consumed: list[int] = []

        def consumer(ids: list[int]) -> None:
            for rid in ids:
                try:
                    with db.transaction() as s:
                        inventory.consume_reservation(s, SYSTEM, rid, reference=f"SHIP-{rid}")
                    with lock:
                        consumed.append(rid)
                except InvalidTransition:
                    pass
                except BaseException as exc:
                    errors.append(exc)

        ids = [rid for _, rid in won]
        halves = [ids[i::25] for i in range(25)]
        threads = [threading.Thread(target=consumer, args=(h,)) for h in halves + halves]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Then each is consumed once: every won serial is sold exactly once
        assert errors == []
        assert sorted(consumed) == sorted(ids)
        with pg_db.transaction(write=False) as s:
            sold = s.scalar(select(func.count()).select_from(SerialNumber).where(SerialNumber.state == "sold"))
            sales = s.scalar(select(func.count()).select_from(StockMovement).where(StockMovement.type == "sale"))
        assert sold == sales == len(won)
        _assert_invariants(pg_db, "PHONE", reserved=0, on_hand=UNITS - len(won))
    finally:
        db.dispose()
