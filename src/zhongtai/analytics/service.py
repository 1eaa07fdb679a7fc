"""The analytics context's public verbs: fill the lake (``sync``, ``rebuild``, ``load_history``)
and say how full and how fresh it is (``status``, ``event_counts``).

The sink copies; it changes no business state, so these verbs take no acting principal: they are
called by the ``analytics.sync`` schedule, the ``zhongtai analytics`` command and the demo loader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl

from zhongtai.analytics import repository as repo
from zhongtai.analytics import sync as sink
from zhongtai.analytics.lake import TABLES, Lake, conform
from zhongtai.analytics.sync import SyncReport
from zhongtai.db import Database, utcnow
from zhongtai.touchpoints import export as touchpoints

__all__ = [
    "EventCounts",
    "LakeStatus",
    "SyncReport",
    "TableStatus",
    "event_counts",
    "load_history",
    "rebuild",
    "status",
    "sync",
]


def sync(
    db: Database,
    lake: Lake,
    *,
    full: bool = False,
    now: datetime | None = None,
    tz: str = sink.DEFAULT_TZ,
    purge_staged_days: int = 0,
) -> SyncReport:
    """Copies what is new into the lake: events and the ledger after their watermarks, the sales
    months with changed orders, stale snapshots. ``full`` rewrites every sales month and snapshot
    (append tables are exact already). ``purge_staged_days`` > 0 deletes staged events already in
    the lake and older than that many days (``rebuild`` can no longer restore them)."""
    return sink.run_sync(db, lake, full=full, now=now, tz=tz, purge_staged_days=purge_staged_days)


def rebuild(db: Database, lake: Lake, *, tz: str = sink.DEFAULT_TZ) -> SyncReport:
    """Empties the lake and fills it again from the operational database (the staged events are
    the source of truth for the event tables)."""
    return sink.run_sync(db, lake, full=True, tz=tz, reset=True)


def load_history(lake: Lake, table: str, frame: pl.DataFrame) -> list[str]:
    """Writes history that lives only in the lake (the demo's years of camera and web traffic):
    append tables get parts ``h<first>-<last>`` per day (by the id column), sales whole months,
    snapshots the whole table. Returns the written files. A ``rebuild`` does not keep these rows."""
    spec = TABLES[table]
    frame = conform(table, frame)
    if frame.is_empty():
        return []
    if spec.mode == "snapshot":
        return [str(lake.replace(table, frame))]
    if spec.mode == "partition":
        assert spec.partition is not None
        written: list[str] = []
        for (value,), rows in frame.partition_by(spec.partition, as_dict=True, maintain_order=True).items():
            path = lake.replace_partition(table, str(value), rows)
            if path is not None:
                written.append(str(path))
        return written
    id_column = next(iter(spec.schema))
    first, last = int(frame[id_column].min()), int(frame[id_column].max())  # type: ignore[arg-type]
    return [str(p) for p in lake.append(table, frame, f"h{first}-{last}")]


# ---------------------------------------------------------------------- status


@dataclass(frozen=True)
class TableStatus:
    name: str
    mode: str
    rows: int
    files: int
    partitions: int
    # Append tables: the last source id copied; sales and snapshots: when they were last written.
    watermark: int | None
    synced_at: datetime | None


@dataclass(frozen=True)
class LakeStatus:
    root: str
    lake_id: str
    tables: list[TableStatus]
    synced_at: datetime | None
    last_run: dict[str, Any]
    # Staged events not yet in the lake, the age of the oldest, the newest staged id.
    pending_events: int
    lag_s: float
    newest_staged_id: int


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def table_rows(lake: Lake) -> dict[str, int]:
    """Rows per lake table (DuckDB reads the counts from the Parquet footers)."""
    sql = " UNION ALL ".join(f"SELECT '{name}' AS t, count(*)::BIGINT AS n FROM {name}" for name in TABLES)
    return {str(t): int(n) for t, n in lake.query(sql).iter_rows()}


def status(db: Database, lake: Lake) -> LakeStatus:
    """Rows and files per table, watermarks, the last run and the lag of the staged events."""
    with db.transaction(write=False) as session:
        states = repo.all_states(session)
        events = states.get(sink.WM + "events")
        pending, oldest, newest = touchpoints.staged_backlog(session, events.last_id if events else 0)
    rows = table_rows(lake)
    tables: list[TableStatus] = []
    for name, spec in TABLES.items():
        if spec.mode == "append":
            state = states.get(sink.WM + name)
            watermark: int | None = state.last_id if state is not None else 0
        else:
            state = states.get(sink.SALES_WM if spec.mode == "partition" else sink.SNAPSHOT_WM)
            watermark = None
        tables.append(
            TableStatus(
                name=name,
                mode=spec.mode,
                rows=rows.get(name, 0),
                files=len(lake.files(name)),
                partitions=len(lake.partitions(name)),
                watermark=watermark,
                synced_at=state.last_at if state is not None else None,
            )
        )
    last_run = sink.read_json(lake.root / sink.SYNC_FILE)
    identity = states.get(repo.LAKE_ID)
    return LakeStatus(
        root=str(lake.root),
        lake_id=identity.value if identity is not None else "",
        tables=tables,
        synced_at=_parse_ts(last_run.get("synced_at")),
        last_run=last_run,
        pending_events=pending,
        lag_s=max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0,
        newest_staged_id=newest,
    )


# ---------------------------------------------------------------------- near-real-time counts


@dataclass(frozen=True)
class EventCounts:
    by_type: dict[str, int]
    total: int
    # When the sink last finished a run (the counts are as fresh as that).
    synced_at: datetime | None


def event_counts(
    lake: Lake,
    *,
    touchpoint: str | None = None,
    start: date | None = None,
    end: date | None = None,
    location_ids: Sequence[int] | None = None,
) -> EventCounts:
    """Events in the lake by type, for one touchpoint (its code, the events' ``source``), local
    days [start, end] and stores (a store-scoped caller's) when given. Read from the lake only:
    the near-real-time aggregate a dashboard or a benchmark polls."""
    where: list[str] = []
    params: list[Any] = []
    if location_ids is not None:
        where.append("list_contains(?, location_id)")
        params.append([int(i) for i in location_ids])
    if touchpoint is not None:
        where.append("source = ?")
        params.append(touchpoint)
    if start is not None:
        where.append("day >= ?")
        params.append(start)
    if end is not None:
        where.append("day <= ?")
        params.append(end)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    frame = lake.query(f"SELECT type, count(*)::BIGINT AS n FROM events {clause} GROUP BY type ORDER BY type", params)
    by_type = {str(t): int(n) for t, n in frame.iter_rows()}
    synced = _parse_ts(sink.read_json(lake.root / sink.SYNC_FILE).get("synced_at"))
    return EventCounts(by_type=by_type, total=sum(by_type.values()), synced_at=synced)
