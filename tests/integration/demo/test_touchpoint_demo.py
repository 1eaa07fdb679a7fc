"""The small demo's touchpoints and their event history, loaded into a real database and the lake."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from sqlalchemy import text

from zhongtai.analytics.lake import Lake
from zhongtai.db import Database
from zhongtai.demo.loader import ACTOR, load_demo
from zhongtai.settings import Settings
from zhongtai.touchpoints import service as touchpoints_service
from zhongtai.touchpoints.schemas import TouchpointFilters

SEED = 7


def test_small_demo_has_touchpoints_and_events_in_the_lake(db: Database, settings: Settings, tmp_path: Path) -> None:
    # given an empty database, when the small demo is loaded with its history
    summary = load_demo(
        db,
        seed=SEED,
        scale="small",
        console=Console(file=io.StringIO(), width=120),
        settings=settings,
        credentials_path=tmp_path / "c.txt",
    )
    c = summary.counts

    # then the registry is there: planned, active and one paused touchpoint
    with db.transaction(write=False) as s:
        page = touchpoints_service.list_touchpoints(s, ACTOR, TouchpointFilters(), limit=500)
        by_code = {t.code: t for t in page.items}
        staged = s.execute(text("SELECT count(*) FROM touchpoint_events")).scalar_one()
        unknown_members = s.execute(
            text(
                "SELECT count(*) FROM touchpoint_events e WHERE e.member_id IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM members m WHERE m.id = e.member_id)"
            )
        ).scalar_one()
        beats = s.execute(text("SELECT count(*) FROM touchpoint_heartbeats")).scalar_one()
        rejected = s.execute(text("SELECT count(*) FROM touchpoint_event_rejections")).scalar_one()
    assert len(by_code) == c["touchpoints"] > 15
    statuses = [t.status for t in by_code.values()]
    assert statuses.count("planned") == c["touchpoints_planned"] == 2
    assert statuses.count("paused") == 1
    assert all(t.first_event_at is None for t in by_code.values() if t.status == "planned")
    assert by_code["TP-WEB-TRACK"].first_event_at is not None
    assert by_code["TP-WEB-TRACK"].last_heartbeat_at is not None
    # the history (plus the live orders' order events the consumer staged) went in whole
    assert staged == c["touchpoint_events"] + c["live_order_events"]
    assert c["touchpoint_events"] > 20_000
    assert c["live_order_events"] > 0
    assert beats == c["touchpoint_heartbeats"] > 10_000
    assert rejected == c["touchpoint_rejections"] > 0
    # every attributed event belongs to a member that exists
    assert unknown_members == 0
    assert 0 < c["touchpoint_member_events"] < c["touchpoint_identified_events"]

    # and the lake has them: the dashboards can read them right away
    lake = Lake.for_settings(settings)
    counted = lake.query("SELECT count(*) AS n, count(DISTINCT touchpoint_id) AS tps FROM events").row(0)
    assert counted[0] == staged
    assert counted[1] == sum(1 for t in by_code.values() if t.first_event_at is not None)
    entries = lake.query("SELECT count(*) AS n FROM events WHERE type = 'store_entry'").item()
    exits = lake.query("SELECT count(*) AS n FROM events WHERE type = 'store_exit'").item()
    assert entries == exits > 0
    assert lake.query("SELECT count(*) FROM touchpoints").item() == len(by_code)
    assert lake.query("SELECT count(*) FROM heartbeats").item() == beats

    # and a camera system's own key is in the credentials
    assert summary.touchpoint_key is not None
    assert summary.touchpoint_key_code is not None
    assert summary.touchpoint_key_code.startswith("TP-CAM-")
    assert f"ZHONGTAI_DEMO_TOUCHPOINT_KEY={summary.touchpoint_key}" in (tmp_path / "c.txt").read_text()
