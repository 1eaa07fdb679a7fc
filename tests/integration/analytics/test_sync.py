"""The sink, end to end on SQLite and PostgreSQL: every table's export equals its source rows,
a refund rewrites its month, staged events land once with local day/hour, a crash between a part
and its watermark does not double rows, and a lake of another database is wiped."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from sqlalchemy import func, select

from tests.factories import SYSTEM
from tests.integration.orders.world import build, web_order
from zhongtai.analytics import repository as analytics_repo
from zhongtai.analytics import service, sync
from zhongtai.analytics.lake import Lake
from zhongtai.catalog.models import Category, Sku, Spu
from zhongtai.db import Database
from zhongtai.inventory.models import StockBalance, StockMovement
from zhongtai.orders import service as orders
from zhongtai.orders.schemas import ReceiveLineIn, ReturnLineIn
from zhongtai.touchpoints.models import EventRejection, Touchpoint, TouchpointEvent, TouchpointHeartbeat

TZ = ZoneInfo("Asia/Shanghai")


def _lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def _stage(db: Database, n: int, *, start: int = 0, occurred_at: datetime | None = None, **data: Any) -> None:
    with db.transaction() as s:
        for i in range(start, start + n):
            s.add(
                TouchpointEvent(
                    source="web-shop",
                    event_id=f"e{i}",
                    type="search",
                    occurred_at=occurred_at or datetime(2026, 3, 1, 17, 30, tzinfo=UTC),
                    anonymous_id=f"a{i}",
                    data={"query": "手机", "results": 3, **data},
                )
            )


def _lake_events(lake: Lake) -> pl.DataFrame:
    return lake.query("SELECT * FROM events ORDER BY event_pk")


def _pos_sale_with_return(db: Database) -> str:
    """A POS sale of 2 x P1-BLK at 3 999.00 in S-SH-01; one unit comes back and is refunded."""
    body = web_order("POS-1", ("P1-BLK", 2), mode="pos", store_code="S-SH-01")
    with db.transaction() as s:
        order = orders.intake(s, SYSTEM, "pos", body).out.order
    assert order is not None
    return order.number


def _return_one(db: Database, number: str) -> None:
    with db.transaction() as s:
        ret = orders.request_return(s, SYSTEM, number, [ReturnLineIn(line_no=1, quantity=1)], "不喜欢")
        orders.decide_return(s, SYSTEM, ret.number, approve=True)
        orders.receive_return(
            s,
            SYSTEM,
            ret.number,
            location_code="S-SH-01",
            lines=[ReceiveLineIn(line_no=1, quantity=1, disposition="restock")],
        )
        refund = orders.order_refunds(s, SYSTEM, number)[0]
        orders.settle_refund(s, SYSTEM, refund.id, succeeded=True, external_ref="CASH")


def test_full_sync_exports_every_table_as_the_source_rows(db: Database, tmp_path: Path) -> None:
    # Given the orders world, a POS sale in S-SH-01 and a same-city order a Shanghai store ships
    world = build(db)
    number = _pos_sale_with_return(db)
    with db.transaction() as s:
        city = orders.intake(s, SYSTEM, "web", web_order("W3", ("CASE-1", 1), mode="same_city")).out.order
    assert city is not None
    shipper = city.fulfilments[0].location_code
    lake = _lake(tmp_path)

    # When the sink runs for the first time
    report = service.sync(db, lake)

    # Then it built the lake from scratch and every table holds its source rows
    assert report.wiped
    assert report.full
    with db.transaction(write=False) as s:
        movements = s.scalar(select(func.count()).select_from(StockMovement))
        balances = {(b.sku_id, b.location_id): b for b in s.scalars(select(StockBalance))}
        sku_paths = dict(
            s.execute(
                select(Sku.id, Category.path)
                .join(Spu, Spu.id == Sku.spu_id)
                .join(Category, Category.id == Spu.category_id)
            ).all()
        )
    assert report.rows["stock_movements"] == movements
    lake_moves = lake.query("SELECT count(*) AS n, count(DISTINCT id) AS d FROM stock_movements")
    assert lake_moves.row(0) == (movements, movements)

    bal = lake.query("SELECT sku_id, location_id, on_hand, reserved, available, safety_stock FROM stock_balances")
    assert bal.height == len(balances)
    for sku_id, loc_id, on_hand, reserved, available, safety in bal.iter_rows():
        src = balances[(sku_id, loc_id)]
        assert (on_hand, reserved, safety) == (src.on_hand, src.reserved, src.safety_stock)
        assert available == src.on_hand - src.reserved

    got_paths = dict(lake.query("SELECT sku_id, category_path FROM skus").iter_rows())
    assert got_paths == sku_paths
    # P1's category is 3c > phones: the path names the root first, then the category itself.
    assert all(p.startswith("/") and p.endswith("/") for p in got_paths.values())
    assert lake.query("SELECT count(*) FROM locations").item() == len(world.locations)
    assert sorted(lake.query("SELECT code FROM channels").to_series().to_list()) == ["jd", "pos", "tmall", "web"]

    sales = lake.query("SELECT * FROM sales ORDER BY line_id")
    pos = sales.filter(pl.col("order_number") == number).row(0, named=True)
    # 2 x 399 900 fen, nothing returned yet
    assert (pos["quantity"], pos["net_quantity"], pos["total_fen"], pos["net_fen"]) == (2, 2, 799_800, 799_800)
    assert pos["store_location_id"] == world.locations["S-SH-01"]
    assert pos["channel_code"] == "pos"
    local = pos["placed_at"].astimezone(TZ)
    assert (pos["day"], pos["hour"], pos["month"]) == (local.date(), local.hour, local.strftime("%Y-%m"))
    ship = sales.filter(pl.col("order_number") == city.number).row(0, named=True)
    # a same-city order names no store; the store that fulfils it owns the sale
    assert ship["fulfil_location_id"] == world.locations[shipper]
    assert ship["store_location_id"] == world.locations[shipper]


def test_a_refund_rewrites_its_month_without_doubling(db: Database, tmp_path: Path) -> None:
    # Given a synced lake with a POS sale of 2 units
    build(db)
    number = _pos_sale_with_return(db)
    lake = _lake(tmp_path)
    service.sync(db, lake)
    before = lake.query("SELECT count(*) FROM sales").item()

    # When one unit comes back and is refunded, and the sink runs again (not full)
    _return_one(db, number)
    report = service.sync(db, lake)

    # Then the order's month was rewritten: returned 1, net 1 unit = 799 800 * 1 / 2 = 399 900 fen
    assert not report.full
    assert report.months
    row = lake.query("SELECT returned, net_quantity, net_fen FROM sales WHERE order_number = ?", [number]).row(0)
    assert row == (1, 1, 399_900)
    assert lake.query("SELECT count(*) FROM sales").item() == before
    # and the restock movement was appended once
    with db.transaction(write=False) as s:
        movements = s.scalar(select(func.count()).select_from(StockMovement))
    assert lake.query("SELECT count(DISTINCT id), count(*) FROM stock_movements").row(0) == (movements, movements)


def test_staged_events_land_once_with_local_day_and_hour(db: Database, tmp_path: Path) -> None:
    # Given three searches at 17:30 UTC on 1 March = 01:30 on 2 March in Shanghai, with an extra key
    _stage(db, 3, extra="kept")
    lake = _lake(tmp_path)

    # When the sink runs twice
    first = service.sync(db, lake)
    second = service.sync(db, lake)

    # Then each event is in the lake once, flattened, on its local day and hour
    assert first.rows["events"] == 3
    assert second.rows["events"] == 0
    events = _lake_events(lake)
    assert events["event_id"].to_list() == ["e0", "e1", "e2"]
    row = events.row(0, named=True)
    assert (row["day"], row["hour"]) == (date(2026, 3, 2), 1)
    assert (row["query"], row["results"], row["type"], row["source"]) == ("手机", 3, "search", "web-shop")
    assert json.loads(row["data"]) == {"extra": "kept"}
    assert second.pending == 0
    assert service.event_counts(lake).by_type == {"search": 3}
    assert service.event_counts(lake, touchpoint="other").total == 0
    assert service.event_counts(lake, start=date(2026, 3, 3)).total == 0


def test_rejections_heartbeats_and_registry(db: Database, tmp_path: Path) -> None:
    # Given a touchpoint with a heartbeat and a rejected event
    with db.transaction() as s:
        tp = Touchpoint(code="cam-1", name="客流相机", type="offline", kind="camera", factors=["retail", "goods"])
        s.add(tp)
        s.flush()
        s.add(TouchpointHeartbeat(touchpoint_id=tp.id, status="ok", latency_ms=40))
        s.add(
            EventRejection(
                touchpoint_id=tp.id,
                source="cam-1",
                event_id="x1",
                type="dwell",
                errors=[{"field": "data.dwell_s", "code": "missing", "message": "required"}],
            )
        )
    lake = _lake(tmp_path)

    # When the sink runs
    service.sync(db, lake)

    # Then each is in its table
    assert lake.query("SELECT code, factors FROM touchpoints").row(0) == ("cam-1", "retail,goods")
    assert lake.query("SELECT status, latency_ms FROM heartbeats").row(0) == ("ok", 40)
    assert lake.query("SELECT codes, event_id FROM rejections").row(0) == ("missing", "x1")


def test_chunks_compact_and_stay_exact(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given 17 events of one day read 1 per chunk (a part each; COMPACT_AT = 16)
    monkeypatch.setattr(sync, "CHUNK", 1)
    _stage(db, 17)
    lake = _lake(tmp_path)

    # When the sink runs
    report = service.sync(db, lake)

    # Then the 16th part merged parts 1..16 into one file (in id order: 9 before 10), the 17th
    # stands alone, and every event is there once
    assert report.rows["events"] == 17
    assert [f.name for f in lake.files("events")] == ["part-1-16.c.parquet", "part-17-17.parquet"]
    assert lake.query("SELECT count(*), count(DISTINCT event_pk) FROM events").row(0) == (17, 17)


def test_a_crash_between_part_and_watermark_copies_exactly_once(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two staged events and a watermark write that fails once (the process "dies")
    _stage(db, 2)
    lake = _lake(tmp_path)
    real = analytics_repo.set_state
    calls = {"n": 0}

    def crashing(session: Any, name: str, **kw: Any) -> Any:
        if name == "wm:events" and calls["n"] == 0:
            calls["n"] += 1
            raise RuntimeError("killed after the part was written")
        return real(session, name, **kw)

    monkeypatch.setattr(analytics_repo, "set_state", crashing)
    with pytest.raises(RuntimeError):
        service.sync(db, lake)
    assert lake.query("SELECT count(*) FROM events").item() == 2  # the part is there, the watermark is not

    # When a third event arrives and the sink runs again
    _stage(db, 1, start=2)
    report = service.sync(db, lake)

    # Then the retry rewrote the part from the same first id: three events, each once
    assert report.rows["events"] == 3
    events = _lake_events(lake)
    assert events["event_id"].to_list() == ["e0", "e1", "e2"]
    assert [f.name for f in lake.files("events")] == ["part-1-3.parquet"]


def test_a_lake_of_another_database_is_wiped(db: Database, tmp_path: Path) -> None:
    # Given a lake another database filled (its marker names another id) with a stray event part
    lake = _lake(tmp_path)
    _stage(db, 1)
    service.sync(db, lake)
    (lake.root / "_lake.json").write_text(json.dumps({"lake_id": "someone-else"}))
    stray = pl.DataFrame({"event_pk": [99], "event_id": ["stray"], "day": [date(2026, 1, 1)]})
    lake.append("events", stray, "99-99")

    # When the sink runs
    report = service.sync(db, lake)

    # Then the lake was emptied and filled again from this database only
    assert report.wiped
    assert _lake_events(lake)["event_id"].to_list() == ["e0"]
    with db.transaction(write=False) as s:
        lake_id = analytics_repo.get(s, "lake_id")
    assert lake_id is not None
    assert json.loads((lake.root / "_lake.json").read_text())["lake_id"] == lake_id.value


def test_rebuild_refills_and_status_reports(db: Database, tmp_path: Path) -> None:
    # Given a synced lake and one event staged after it
    _stage(db, 2)
    lake = _lake(tmp_path)
    service.sync(db, lake)
    _stage(db, 1, start=2)

    # Then status shows the pending event and the rows per table
    st = service.status(db, lake)
    by_name = {t.name: t for t in st.tables}
    assert (by_name["events"].rows, by_name["events"].watermark, st.pending_events) == (2, 2, 1)
    assert st.lag_s >= 0
    assert st.synced_at is not None

    # When the lake is rebuilt
    report = service.rebuild(db, lake)

    # Then it holds every staged event once
    assert report.wiped
    assert report.rows["events"] == 3
    assert service.status(db, lake).pending_events == 0


def test_purge_deletes_only_copied_old_staged_events(db: Database, tmp_path: Path) -> None:
    # Given two events received long ago, synced
    _stage(db, 2)
    with db.transaction() as s:
        for ev in s.scalars(select(TouchpointEvent)):
            ev.received_at = datetime(2026, 1, 1, tzinfo=UTC)
    lake = _lake(tmp_path)
    service.sync(db, lake)
    _stage(db, 1, start=2)

    # When a run purges staged events older than 7 days (at 1 March 2026)
    report = service.sync(db, lake, now=datetime(2026, 3, 1, tzinfo=UTC), purge_staged_days=7)

    # Then the two old copied events left staging; the fresh one (now in the lake too) stayed
    assert report.purged == 2
    with db.transaction(write=False) as s:
        left = list(s.scalars(select(TouchpointEvent.event_id)))
    assert left == ["e2"]
    assert lake.query("SELECT count(*) FROM events").item() == 3


def test_the_schedule_syncs_the_registered_lake_once_per_interval(db: Database, tmp_path: Path) -> None:
    # Given a lake registered for this database with a 1-hour interval
    from zhongtai.analytics import tasks
    from zhongtai.settings import Settings

    lake = _lake(tmp_path)
    tasks.register_lake(db, lake, Settings(env="test", database_url=db.url, analytics_sync_s=3600))
    _stage(db, 1)

    # When the schedule fires twice in a row
    first = tasks.sync_due(db)
    second = tasks.sync_due(db)

    # Then the first run copied the event into that lake and the second waited for the interval
    assert first is not None
    assert first.rows["events"] == 1
    assert second is None
    assert tasks.registered_lake(db) is lake
    assert lake.query("SELECT count(*) FROM events").item() == 1
