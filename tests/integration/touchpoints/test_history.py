"""import_history bulk-loads already-valid history and widens the touchpoints' bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from sqlalchemy import func, select

from tests.factories import SYSTEM
from tests.integration.touchpoints.world import touchpoint_world
from zhongtai.auth.models import AuditEntry
from zhongtai.db import Database
from zhongtai.touchpoints import service
from zhongtai.touchpoints.models import EventRejection, TouchpointEvent, TouchpointHeartbeat

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def test_history_is_imported_once_and_sets_bounds(db: Database) -> None:
    touchpoint_world(db)
    n = 3_000
    events = pl.DataFrame(
        {
            "touchpoint": ["web-shop"] * n,
            "event_id": [f"h{i}" for i in range(n)],
            "type": ["search"] * n,
            "occurred_at": [T0 + timedelta(minutes=i) for i in range(n)],
            "data": [{"query": "x", "results": i % 5} for i in range(n)],
        }
    )
    with db.transaction(write=False) as s:
        cam_id = service.get_touchpoint(s, SYSTEM, "cam-sh02").id
    beats = pl.DataFrame(
        {
            "touchpoint_id": [cam_id, cam_id],
            "at": [T0, T0 + timedelta(hours=1)],
            "status": ["ok", "down"],
            "latency_ms": [20, 900],
        }
    )
    rejections = pl.DataFrame(
        {
            "touchpoint": ["web-shop"],
            "received_at": [T0],
            "event_id": ["bad"],
            "type": ["search"],
            "errors": [[{"field": "events[0].data.query", "code": "missing", "message": "Field required"}]],
            "payload": [{"id": "bad"}],
        }
    )
    with db.transaction() as s:
        counts = service.import_history(s, SYSTEM, events=events, heartbeats=beats, rejections=rejections)
    assert counts == {"events": n, "heartbeats": 2, "rejections": 1}
    with db.transaction() as s:
        again = service.import_history(
            s, SYSTEM, events=events, heartbeats=beats.clear(), rejections=rejections.clear()
        )
    assert again == {"events": 0, "heartbeats": 0, "rejections": 0}
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(TouchpointEvent)) == n
        assert s.scalar(select(func.count()).select_from(TouchpointHeartbeat)) == 2
        assert s.scalar(select(EventRejection.touchpoint_id)) is not None
        web = service.get_touchpoint(s, SYSTEM, "web-shop")
        cam = service.get_touchpoint(s, SYSTEM, "cam-sh02")
        audits = s.scalar(select(func.count()).where(AuditEntry.action == "touchpoint.import_history"))
    # received_at defaults to occurred_at: first T0, last T0 + 2,999 minutes
    assert (web.first_event_at, web.last_event_at) == (T0, T0 + timedelta(minutes=n - 1))
    assert (cam.last_heartbeat_at, cam.last_latency_ms) == (T0 + timedelta(hours=1), 900)
    assert audits == 2
