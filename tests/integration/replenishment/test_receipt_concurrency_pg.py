"""Receiving one purchase order twice at once never posts the goods twice.

PostgreSQL only (``ZHONGTAI_TEST_DATABASE_URL``): a real server (uvicorn, two worker processes)
and concurrent HTTP clients, each on its own connection, released together by a barrier.

* 8 clerks receive the full PO at once (distinct requests): exactly one 200, the others 409
  ``invalid_transition`` (the PO is received) or 422 ``over_receipt``; stock rose once.
* 6 clerks each receive 10 of a 30-unit PO at once: exactly three succeed, stock +30.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.factories import SYSTEM, key_headers, make_key
from tests.integration.replenishment.conftest import build_world
from zhongtai.db import Database
from zhongtai.inventory import service as inventory
from zhongtai.replenishment import service
from zhongtai.replenishment.schemas import POIn, POLineIn

pytestmark = pytest.mark.postgres
SERVER_POOL_SIZE = 20


def _sent_po(db: Database, quantity: int) -> str:
    with db.transaction() as s:
        po = service.create_purchase_order(
            s,
            SYSTEM,
            POIn(
                supplier_code="SUP-1", dest_location_code="RDC-1", lines=[POLineIn(sku_code="CASE", quantity=quantity)]
            ),
        )
        service.approve_purchase_order(s, SYSTEM, po.number)
        service.send_purchase_order(s, SYSTEM, po.number)
        return po.number


def _all_at_once(base: str, secret: str, path: str, bodies: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    parsed = urlsplit(base)
    barrier = threading.Barrier(len(bodies))
    answers: list[tuple[int, dict[str, Any]]] = [(0, {})] * len(bodies)
    headers = {**key_headers(secret), "Content-Type": "application/json"}

    def clerk(i: int) -> None:
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
        try:
            conn.connect()
            barrier.wait(timeout=60)
            conn.request("POST", path, body=json.dumps(bodies[i]), headers=headers)
            resp = conn.getresponse()
            answers[i] = (resp.status, json.loads(resp.read() or b"null"))
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as exc:
            answers[i] = (-1, {"error": repr(exc)})
        finally:
            conn.close()

    threads = [threading.Thread(target=clerk, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return answers


def _dc_case(db: Database) -> tuple[int, int]:
    """(on hand of CASE at the DC, receipt movements of CASE there)."""
    with db.transaction(write=False) as s:
        stock = inventory.location_stock(s, SYSTEM, "RDC-1").items
        moves = inventory.list_movements(s, SYSTEM, location_code="RDC-1", type="receipt", limit=500).items
        assert inventory.check_ledger(s) == []
    return next(b.on_hand for b in stock if b.sku_code == "CASE"), len(moves)


def test_eight_clerks_receiving_one_po_in_full_post_it_once(pg_db: Database, pg_server: str) -> None:
    build_world(pg_db)
    number = _sent_po(pg_db, 48)
    secret = make_key(pg_db, "ops", name="clerks")
    before = _dc_case(pg_db)

    answers = _all_at_once(
        pg_server,
        secret,
        f"/api/v1/replenishment/purchase-orders/{number}/receive",
        [{"lines": [{"sku_code": "CASE", "quantity": 48}], "note": f"clerk {i}"} for i in range(8)],
    )

    codes = Counter(code for code, _ in answers)
    assert codes[200] == 1, answers
    assert all(
        (code, out.get("code")) in {(409, "invalid_transition"), (422, "over_receipt")}
        for code, out in answers
        if code != 200
    ), answers
    assert _dc_case(pg_db) == (before[0] + 48, before[1] + 1)
    with pg_db.transaction(write=False) as s:
        po = service.get_purchase_order(s, SYSTEM, number)
    assert po.status == "received"
    assert po.received_units == 48
    assert len(po.receipts) == 1


def test_six_partial_receipts_at_once_never_exceed_the_order(pg_db: Database, pg_server: str) -> None:
    build_world(pg_db)
    number = _sent_po(pg_db, 30)
    secret = make_key(pg_db, "ops", name="clerks")
    before = _dc_case(pg_db)

    answers = _all_at_once(
        pg_server,
        secret,
        f"/api/v1/replenishment/purchase-orders/{number}/receive",
        [{"lines": [{"sku_code": "CASE", "quantity": 10}]} for _ in range(6)],
    )

    assert Counter(code for code, _ in answers) == {200: 3, 409: 3} or Counter(code for code, _ in answers)[200] == 3, (
        answers
    )
    assert _dc_case(pg_db) == (before[0] + 30, before[1] + 3)
    with pg_db.transaction(write=False) as s:
        po = service.get_purchase_order(s, SYSTEM, number)
    assert po.status == "received"
    assert po.received_units == 30
    assert len(po.receipts) == 3
