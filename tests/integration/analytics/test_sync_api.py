"""GET /api/v1/analytics/status and /analytics/events/summary over the app's lake."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.factories import key_headers, make_key
from zhongtai.analytics import service
from zhongtai.db import Database
from zhongtai.touchpoints.models import TouchpointEvent


def _stage(db: Database) -> None:
    # two page views from web-shop on 2 March local (1 March 20:00 UTC = 04:00 on the 2nd), one
    # search from another touchpoint on 3 March local
    with db.transaction() as s:
        for i, (src, typ, at) in enumerate(
            [
                ("web-shop", "page_view", datetime(2026, 3, 1, 20, 0, tzinfo=UTC)),
                ("web-shop", "page_view", datetime(2026, 3, 1, 21, 0, tzinfo=UTC)),
                ("mini", "search", datetime(2026, 3, 3, 2, 0, tzinfo=UTC)),
            ]
        ):
            s.add(TouchpointEvent(source=src, event_id=f"e{i}", type=typ, occurred_at=at, data={"query": "x"}))


def test_status_and_event_summary(client: TestClient, db: Database) -> None:
    # Given three staged events, synced into the app's lake
    _stage(db)
    lake = client.app.state.lake  # type: ignore[attr-defined]
    service.sync(db, lake)
    headers = key_headers(make_key(db, role="analyst"))

    # When the status is asked for
    resp = client.get("/api/v1/analytics/status", headers=headers)

    # Then it lists every table with its rows and the events' watermark
    assert resp.status_code == 200, resp.text
    body = resp.json()
    events = next(t for t in body["tables"] if t["name"] == "events")
    assert (events["rows"], events["watermark"], body["pending_events"]) == (3, 3, 0)
    assert body["synced_at"] is not None

    # And the summary counts the lake's events per type, by touchpoint and local day
    all_ = client.get("/api/v1/analytics/events/summary", headers=headers).json()
    assert (all_["by_type"], all_["total"]) == ({"page_view": 2, "search": 1}, 3)
    web = client.get(
        "/api/v1/analytics/events/summary",
        params={"touchpoint": "web-shop", "start": "2026-03-02", "end": "2026-03-02"},
        headers=headers,
    ).json()
    assert (web["by_type"], web["total"]) == ({"page_view": 2}, 2)
    late = client.get("/api/v1/analytics/events/summary", params={"start": "2026-03-03"}, headers=headers).json()
    assert late["by_type"] == {"search": 1}


def test_summary_rejects_a_reversed_period_and_needs_analytics_read(client: TestClient, db: Database) -> None:
    headers = key_headers(make_key(db, role="analyst"))
    resp = client.get(
        "/api/v1/analytics/events/summary", params={"start": "2026-03-05", "end": "2026-03-01"}, headers=headers
    )
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["errors"][0]["field"] == "end"
    assert (
        client.get("/api/v1/analytics/status", headers=key_headers(make_key(db, role="integrator"))).status_code == 403
    )
