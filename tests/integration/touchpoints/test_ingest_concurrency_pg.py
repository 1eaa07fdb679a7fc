"""Concurrent retries of overlapping batches store every event exactly once.

PostgreSQL only: a real server (uvicorn, two worker processes) and 8 HTTP clients, each on its own
connection, released together by a barrier. Client k posts ids k*50 .. k*50+199 of one touchpoint
(each id is in up to four batches, in a different order per client): no deadlock, no error, every
id stored once, and the accepted counts add up to the distinct ids.
"""

from __future__ import annotations

import http.client
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from tests.factories import SYSTEM, key_headers, make_key
from zhongtai.db import Database
from zhongtai.touchpoints import service
from zhongtai.touchpoints.models import TouchpointEvent
from zhongtai.touchpoints.schemas import TouchpointIn

pytestmark = pytest.mark.postgres

CLIENTS = 8
PER_BATCH = 200
STEP = 50


def _batch(k: int) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    ids = list(range(k * STEP, k * STEP + PER_BATCH))
    if k % 2:
        ids.reverse()
    events = [
        {"id": f"ev-{i:05d}", "type": "search", "at": at, "data": {"query": f"q{i}", "results": i % 7}} for i in ids
    ]
    return {"touchpoint": "web-app", "events": events}


def _all_at_once(base: str, secret: str, bodies: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    parsed = urlsplit(base)
    barrier = threading.Barrier(len(bodies))
    answers: list[tuple[int, dict[str, Any]]] = [(0, {})] * len(bodies)
    headers = {**key_headers(secret), "Content-Type": "application/json"}

    def post(i: int) -> None:
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
        try:
            conn.connect()
            barrier.wait(timeout=60)
            conn.request("POST", "/api/v1/events", body=json.dumps(bodies[i]), headers=headers)
            resp = conn.getresponse()
            answers[i] = (resp.status, json.loads(resp.read() or b"null"))
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as exc:
            answers[i] = (-1, {"error": repr(exc)})
        finally:
            conn.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_overlapping_concurrent_batches_store_each_id_once(pg_db: Database, pg_server: str) -> None:
    # given a web touchpoint and a touchpoint system's key
    with pg_db.transaction() as s:
        service.register_touchpoint(s, SYSTEM, TouchpointIn(code="web-app", name="App", type="online", kind="app"))
    secret = make_key(pg_db, role="touchpoint")
    # when 8 clients post overlapping batches at once
    answers = _all_at_once(pg_server, secret, [_batch(k) for k in range(CLIENTS)])
    # then every request succeeds and the ids are stored exactly once
    assert [status for status, _ in answers] == [200] * CLIENTS, answers
    distinct = (CLIENTS - 1) * STEP + PER_BATCH  # ids 0 .. 549
    assert sum(a["accepted"] for _, a in answers) == distinct
    assert sum(a["accepted"] + a["duplicates"] for _, a in answers) == CLIENTS * PER_BATCH
    with pg_db.transaction(write=False) as s:
        stored = s.scalar(select(func.count()).select_from(TouchpointEvent))
        unique = s.scalar(select(func.count(func.distinct(TouchpointEvent.event_id))))
        tp = service.get_touchpoint(s, SYSTEM, "web-app")
    assert stored == unique == distinct
    assert tp.status == "active"
    assert tp.first_event_at is not None
