"""Concurrent sinks on PostgreSQL: the ``sink`` row lock lets one run copy at a time, so two
simultaneous runs (threads, separate connections) copy every staged event exactly once, also
while events keep arriving."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from zhongtai.analytics import service, sync
from zhongtai.analytics.lake import Lake
from zhongtai.db import Database
from zhongtai.touchpoints.models import TouchpointEvent

pytestmark = pytest.mark.postgres


def _stage(db: Database, start: int, n: int) -> None:
    with db.transaction() as s:
        s.add_all(
            TouchpointEvent(
                source="web-shop",
                event_id=f"e{i}",
                type="page_view",
                occurred_at=datetime(2026, 3, 1, 4, 0, tzinfo=UTC),
            )
            for i in range(start, start + n)
        )


def test_two_concurrent_syncs_copy_each_event_once(
    pg_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 3 000 staged events read in chunks of 37 (many parts, many watermark steps) and a
    # writer adding 10 batches of 100 while two sinks run
    monkeypatch.setattr(sync, "CHUNK", 37)
    lake = Lake(tmp_path / "lake")
    _stage(pg_db, 0, 3000)
    errors: list[BaseException] = []

    def sink() -> None:
        try:
            for _ in range(3):
                service.sync(pg_db, lake)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def writer() -> None:
        for b in range(10):
            _stage(pg_db, 3000 + b * 100, 100)

    # When they all run at once
    threads = [threading.Thread(target=sink), threading.Thread(target=sink), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    service.sync(pg_db, lake)

    # Then the lake holds the 4 000 events, each once
    assert lake.query("SELECT count(*), count(DISTINCT event_pk), count(DISTINCT event_id) FROM events").row(0) == (
        4000,
        4000,
        4000,
    )
    assert service.status(pg_db, lake).pending_events == 0


def test_the_watermark_waits_for_a_lower_id_still_in_flight(pg_db: Database, tmp_path: Path) -> None:
    # Given a transaction that drew event id 1 and has not committed, and a later one that
    # drew id 2 and committed
    lake = Lake(tmp_path / "lake")
    slow = pg_db.new_session()
    try:
        slow.add(TouchpointEvent(source="web-shop", event_id="slow", type="page_view", occurred_at=datetime.now(UTC)))
        slow.flush()
        _stage(pg_db, 0, 1)

        # When the sink runs meanwhile
        first = service.sync(pg_db, lake)

        # Then it copied nothing: id 2 waits behind the open transaction
        assert first.rows["events"] == 0
        slow.commit()
    finally:
        slow.close()

    # And once that transaction commits, both land, once each
    second = service.sync(pg_db, lake)
    assert second.rows["events"] == 2
    assert sorted(lake.query("SELECT event_id FROM events").to_series().to_list()) == ["e0", "slow"]
