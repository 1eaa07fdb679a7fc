"""Points are never spent twice, whatever tills do at once.

PostgreSQL only (``ZHONGTAI_TEST_DATABASE_URL``): a real server (uvicorn, two worker processes) and
concurrent HTTP clients, each on its own connection, released together by a barrier.

* 20 tills redeem 100 points each (distinct references) from a member holding 1,000 in three lots:
  exactly 10 succeed, the others get 409 ``insufficient_points``; the balance ends at 0, equal to
  the ledger's sum, and no lot is negative.
* 10 retries of one redemption (the same reference) at once: one entry, every answer is it.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from tests.factories import SYSTEM, key_headers, make_key
from zhongtai.db import Database
from zhongtai.members import points
from zhongtai.members.models import Member, PointsEntry

pytestmark = pytest.mark.postgres

TILLS = 20
RETRIES = 10


def make_member(db: Database, n: int) -> int:
    """A member row, inserted directly, with 1,000 points in three lots (two expiry years)."""
    with db.transaction() as s:
        member = Member(code=f"M{n:010d}")
        s.add(member)
        s.flush()
        member_id = member.id
    for i, (paid, at) in enumerate(
        [(25_000, datetime(2025, 9, 1, tzinfo=UTC)), (35_000, datetime(2026, 2, 1, tzinfo=UTC)), (40_000, None)]
    ):
        with db.transaction() as s:
            points.earn_for_order(
                s,
                SYSTEM,
                member_id,
                order_number=f"ZT{n:04d}{i}",
                paid_fen=paid,
                channel_code="web",
                at=at or datetime.now(UTC),
            )
    return member_id


def _all_at_once(base: str, secret: str, bodies: list[tuple[str, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """POSTs every (path, body) from its own thread and connection, all released together."""
    parsed = urlsplit(base)
    barrier = threading.Barrier(len(bodies))
    answers: list[tuple[int, dict[str, Any]]] = [(0, {})] * len(bodies)
    headers = {**key_headers(secret), "Content-Type": "application/json"}

    def till(i: int) -> None:
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
        try:
            conn.connect()
            path, body = bodies[i]
            barrier.wait(timeout=60)
            conn.request("POST", path, body=json.dumps(body), headers=headers)
            resp = conn.getresponse()
            answers[i] = (resp.status, json.loads(resp.read() or b"null"))
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as exc:
            answers[i] = (-1, {"error": repr(exc)})
        finally:
            conn.close()

    threads = [threading.Thread(target=till, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return answers


def _ledger(db: Database, member_id: int) -> tuple[int, int, int, int, int]:
    """(cached balance, ledger sum, lots held, negative lots, redeem entries)."""
    with db.transaction(write=False) as s:
        m = s.get(Member, member_id)
        assert m is not None
        of_member = PointsEntry.member_id == member_id
        total = s.scalar(select(func.coalesce(func.sum(PointsEntry.points), 0)).where(of_member))
        held = s.scalar(select(func.coalesce(func.sum(PointsEntry.remaining), 0)).where(of_member))
        negative = s.scalar(select(func.count()).where(of_member, PointsEntry.remaining < 0))
        redeemed = s.scalar(select(func.count()).where(of_member, PointsEntry.kind == "redeem"))
        return m.points_balance, int(total or 0), int(held or 0), int(negative or 0), int(redeemed or 0)


def test_twenty_tills_spend_a_thousand_points_exactly_once(pg_db: Database, pg_server: str) -> None:
    member_id = make_member(pg_db, 1)
    assert _ledger(pg_db, member_id) == (1_000, 1_000, 1_000, 0, 0)
    secret = make_key(pg_db, "integrator", channel_code="pos", name="tills")
    path = "/api/v1/members/M0000000001/points/redeem"
    bodies = [(path, {"points": 100, "channel_code": "pos", "reference": f"TILL-{i:02d}"}) for i in range(TILLS)]

    answers = _all_at_once(pg_server, secret, bodies)

    outcome = Counter((code, out.get("code", "")) for code, out in answers)
    assert outcome == {(201, ""): 10, (409, "insufficient_points"): 10}, answers
    assert all(out["points"] == -100 for code, out in answers if code == 201)
    # The balances each success saw are 900, 800, ... 0: one after the other, none twice.
    assert sorted(out["balance_after"] for code, out in answers if code == 201) == list(range(0, 1_000, 100))
    balance, total, held, negative, redeemed = _ledger(pg_db, member_id)
    assert (balance, total, held, negative, redeemed) == (0, 0, 0, 0, 10)
    with pg_db.transaction(write=False) as s:
        taken: Counter[int] = Counter()
        for e in s.scalars(select(PointsEntry).where(PointsEntry.kind == "redeem")):
            for lot_id, n in e.consumed:
                taken[lot_id] += n
        lots = {e.id: e.points for e in s.scalars(select(PointsEntry).where(PointsEntry.kind == "earn"))}
    assert dict(taken) == lots  # every lot spent once, in full


def test_one_redemption_retried_ten_times_at_once_is_one_entry(pg_db: Database, pg_server: str) -> None:
    member_id = make_member(pg_db, 2)
    secret = make_key(pg_db, "integrator", channel_code="pos", name="till")
    path = "/api/v1/members/M0000000002/points/redeem"
    body = {"points": 100, "channel_code": "pos", "reference": "TILL-3-20261122-0042"}

    answers = _all_at_once(pg_server, secret, [(path, body)] * RETRIES)

    assert [code for code, _ in answers] == [201] * RETRIES, answers
    assert len({out["id"] for _, out in answers}) == 1
    assert _ledger(pg_db, member_id) == (900, 900, 900, 0, 1)
