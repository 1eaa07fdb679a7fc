"""The sink: copies the staged event stream and the business facts into the lake.

One run (``run_sync``) does, in order:

1. **Identity.** The lake directory carries ``_lake.json`` with the id of the database that filled
   it (the ``lake_id`` row of ``analytics_state``). A missing or different file means the lake was
   left by another database (or wiped by hand): it is emptied and filled again from scratch.
2. **Append tables** (events, rejections, heartbeats, the stock ledger) in id order after their
   watermark, in chunks of at most ``CHUNK`` rows: a chunk is written as part ``<first>-<last>``
   of each day it touches, *then* the watermark advances. A crash in between leaves a part the
   retry writes again under the same first id (any earlier part with that first id is dropped
   first), so every row lands exactly once. Days with ``COMPACT_AT`` parts or more are merged.
3. **Sales**: the months with an order changed since the last run are rewritten whole (every
   month on a full run): a refund or a cancellation changes the month's net figures in place.
4. **Snapshots** (balances, members, the registry, the catalog, locations, channels): replaced
   on a full run, otherwise when older than ``SNAPSHOT_EVERY``.

Only one run at a time: a process-wide lock, and on PostgreSQL a session advisory lock held for
the run (a second process waits, then finds nothing left to copy).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import text
from sqlalchemy.orm import Session

from zhongtai.analytics import repository as repo
from zhongtai.analytics.lake import TABLES, Lake
from zhongtai.catalog import service as catalog
from zhongtai.channels import service as channels
from zhongtai.db import Database, utcnow
from zhongtai.inventory import service as inventory
from zhongtai.members import service as members
from zhongtai.orders import service as orders
from zhongtai.touchpoints import export as touchpoints

log = logging.getLogger("zhongtai.analytics")

CHUNK = 50_000
COMPACT_AT = 16
SNAPSHOT_EVERY = timedelta(seconds=60)
# Orders changed a little before the last run's start may have committed after it read: the
# months of that margin are looked at again (rewriting a month twice is harmless).
SALES_OVERLAP = timedelta(minutes=2)
DEFAULT_TZ = "Asia/Shanghai"
LAKE_FILE = "_lake.json"
SYNC_FILE = "_sync.json"
WM = "wm:"
SALES_WM = "wm:sales"
SNAPSHOT_WM = "wm:snapshots"

_RUN_LOCK = threading.Lock()
SINK_LOCK = "zhongtai:analytics-sink"


@dataclass(frozen=True)
class AppendSource:
    """An append table: how to read rows after an id, which column is the id and which time
    gives the local ``day`` (and ``hour``)."""

    table: str
    id_column: str
    time_column: str
    read: Callable[[Session, int, int], pl.DataFrame]
    hour: bool = False


APPEND_SOURCES = (
    AppendSource("events", "event_pk", "occurred_at", touchpoints.events_after, hour=True),
    AppendSource("rejections", "id", "received_at", touchpoints.rejections_after),
    AppendSource("heartbeats", "id", "at", touchpoints.heartbeats_after),
    AppendSource("stock_movements", "id", "occurred_at", inventory.export_movements_after),
)
SNAPSHOT_TABLES = ("stock_balances", "members", "touchpoints", "skus", "categories", "locations", "channels")


@dataclass
class SyncReport:
    """What one run copied: rows per table (append tables: new rows; sales: rows of the months
    rewritten; snapshots: their size), how long it took and how far the lake is behind."""

    rows: dict[str, int] = field(default_factory=dict)
    months: list[str] = field(default_factory=list)
    full: bool = False
    wiped: bool = False
    snapshots: bool = False
    purged: int = 0
    seconds: float = 0.0
    # Staged events not yet in the lake after the run, and the age of the oldest of them.
    pending: int = 0
    lag_s: float = 0.0
    synced_at: datetime = field(default_factory=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": dict(self.rows),
            "months": list(self.months),
            "full": self.full,
            "wiped": self.wiped,
            "snapshots": self.snapshots,
            "purged": self.purged,
            "seconds": round(self.seconds, 3),
            "pending": self.pending,
            "lag_s": round(self.lag_s, 3),
            "synced_at": self.synced_at.isoformat(),
        }


# ---------------------------------------------------------------------- calendar


def with_calendar(
    frame: pl.DataFrame, column: str, tz: str, *, day: str = "day", hour: str | None = None, month: str | None = None
) -> pl.DataFrame:
    """Adds the local (``tz``) date, and optionally hour and "YYYY-MM" month, of a UTC column."""
    local = pl.col(column).dt.convert_time_zone(tz)
    extra = [local.dt.date().alias(day)]
    if hour is not None:
        extra.append(local.dt.hour().cast(pl.Int8).alias(hour))
    if month is not None:
        extra.append(local.dt.strftime("%Y-%m").alias(month))
    return frame.with_columns(extra)


def month_of(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m")


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of a local month, in UTC."""
    year, mon = (int(p) for p in month.split("-"))
    zone = ZoneInfo(tz)
    start = datetime(year, mon, 1, tzinfo=zone)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def months_between(first: datetime, last: datetime, tz: str) -> list[str]:
    start, stop = month_of(first, tz), month_of(last, tz)
    year, mon = (int(p) for p in start.split("-"))
    out: list[str] = []
    while f"{year:04d}-{mon:02d}" <= stop:
        out.append(f"{year:04d}-{mon:02d}")
        year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return out


# ---------------------------------------------------------------------- lock and identity


@contextmanager
def sink_lock(db: Database) -> Iterator[None]:
    """Held for a whole run: one sync at a time in this process, and across processes on
    PostgreSQL (a session advisory lock on a connection of its own: it holds no transaction id,
    so it does not hold back the rows the run may read)."""
    with _RUN_LOCK:
        if db.is_sqlite:
            yield
            return
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"), {"k": SINK_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), {"k": SINK_LOCK})
                conn.commit()


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def reset_lake(db: Database, lake: Lake, lake_id: str) -> None:
    """Empties the lake and forgets every watermark; the marker file is written last, so a crash
    half-way is noticed (and the reset repeated) by the next run."""
    with db.transaction() as session:
        repo.reset_watermarks(session)
    (lake.root / LAKE_FILE).unlink(missing_ok=True)
    lake.wipe()
    _write_json(lake.root / LAKE_FILE, {"lake_id": lake_id, "created_at": utcnow().isoformat()})


def ensure_identity(db: Database, lake: Lake) -> bool:
    """Makes sure the lake belongs to this database; returns True when it had to be reset."""
    with db.transaction() as session:
        row = repo.get(session, repo.LAKE_ID)
        if row is None or not row.value:
            lake_id = uuid.uuid4().hex
            repo.set_state(session, repo.LAKE_ID, value=lake_id)
        else:
            lake_id = row.value
    found = read_json(lake.root / LAKE_FILE).get("lake_id")
    if found == lake_id:
        return False
    if found:
        log.warning("analytics lake %s belongs to another database: rebuilding it", lake.root)
    else:
        log.info("analytics lake %s is new: filling it", lake.root)
    reset_lake(db, lake, lake_id)
    return True


# ---------------------------------------------------------------------- append tables


def _drop_parts_from(lake: Lake, table: str, first: int) -> None:
    """Removes parts an interrupted run wrote from the same first id (they may end elsewhere)."""
    base = lake.table_dir(table)
    if base.exists():
        for stale in base.glob(f"*/part-{first}-*.parquet"):
            stale.unlink(missing_ok=True)


def copy_append(db: Database, lake: Lake, source: AppendSource, tz: str, *, chunk: int = CHUNK) -> int:
    """Copies the rows after the table's watermark, chunk by chunk; returns how many."""
    name = WM + source.table
    spec = TABLES[source.table]
    assert spec.partition is not None
    copied = 0
    while True:
        with db.transaction(write=False) as session:
            state = repo.get(session, name)
            after = state.last_id if state is not None else 0
            frame = source.read(session, after, chunk)
        if frame.is_empty():
            break
        frame = with_calendar(frame, source.time_column, tz, hour="hour" if source.hour else None)
        first, last = int(frame[source.id_column].min()), int(frame[source.id_column].max())  # type: ignore[arg-type]
        _drop_parts_from(lake, source.table, first)
        lake.append(source.table, frame, f"{first}-{last}")
        with db.transaction() as session:
            repo.set_state(session, name, last_id=last, last_at=utcnow())
        copied += frame.height
        for day in frame[spec.partition].unique().to_list():
            lake.compact(source.table, str(day), min_parts=COMPACT_AT)
        if frame.height < chunk:
            break
    return copied


# ---------------------------------------------------------------------- sales


def sales_frame(session: Session, month: str, tz: str, locations: pl.DataFrame, skus: pl.DataFrame) -> pl.DataFrame:
    """The lake's ``sales`` rows of one local month. A ship-from-store line belongs to the store
    that fulfilled it when the order names no store of its own; unit cost is the SKU's standard
    cost now."""
    since, until = month_bounds(month, tz)
    lines = orders.export_sales_lines(session, since, until)
    stores = locations.filter(pl.col("type") == "store").select(
        pl.col("location_id").alias("fulfil_location_id"), pl.lit(True).alias("_store")
    )
    costs = skus.select("sku_id", "unit_cost_fen")
    return (
        with_calendar(lines, "placed_at", tz, hour="hour", month="month")
        .join(stores, on="fulfil_location_id", how="left")
        .with_columns(
            pl.coalesce(
                pl.col("store_location_id"),
                pl.when(pl.col("_store")).then(pl.col("fulfil_location_id")),
            ).alias("store_location_id")
        )
        .drop("_store")
        .join(costs, on="sku_id", how="left")
    )


def sync_sales(db: Database, lake: Lake, tz: str, *, full: bool, started: datetime) -> tuple[list[str], int]:
    """Rewrites the months whose orders changed since the last run (all of them when ``full`` or
    on the first run); returns (months, rows written)."""
    with db.transaction(write=False) as session:
        state = repo.get(session, SALES_WM)
        since = state.last_at if state is not None and not full else None
        if since is None:
            first, last = orders.placed_range(session)
            months = set(months_between(first, last, tz)) if first and last else set()
            months |= set(lake.partitions("sales"))
        else:
            months = {month_of(at, tz) for at in orders.placed_at_of_changed_orders(session, since - SALES_OVERLAP)}
        rows = 0
        if months:
            locations = inventory.export_locations(session)
            skus = catalog.export_skus(session)
            for month in sorted(months):
                frame = sales_frame(session, month, tz, locations, skus)
                lake.replace_partition("sales", month, frame)
                rows += frame.height
    with db.transaction() as session:
        repo.set_state(session, SALES_WM, last_at=started)
    return sorted(months), rows


# ---------------------------------------------------------------------- snapshots


def snapshot_frames(session: Session, tz: str, now: datetime) -> dict[str, pl.DataFrame]:
    return {
        "stock_balances": inventory.export_balances(session, now),
        "members": with_calendar(members.export_members(session), "joined_at", tz, day="joined_day"),
        "touchpoints": touchpoints.export_touchpoints(session),
        "skus": catalog.export_skus(session),
        "categories": catalog.export_categories(session),
        "locations": inventory.export_locations(session),
        "channels": channels.export_channels(session),
    }


def sync_snapshots(db: Database, lake: Lake, tz: str, *, full: bool, now: datetime) -> dict[str, int] | None:
    """Replaces every snapshot table when ``full`` or when the last ones are older than
    ``SNAPSHOT_EVERY``; None when they were fresh enough."""
    with db.transaction(write=False) as session:
        state = repo.get(session, SNAPSHOT_WM)
        last = state.last_at if state is not None else None
        if not full and last is not None and now - last < SNAPSHOT_EVERY:
            return None
        frames = snapshot_frames(session, tz, now)
    for table, frame in frames.items():
        lake.replace(table, frame)
    with db.transaction() as session:
        repo.set_state(session, SNAPSHOT_WM, last_at=now)
    return {t: f.height for t, f in frames.items()}


# ---------------------------------------------------------------------- one run


def run_sync(
    db: Database,
    lake: Lake,
    *,
    full: bool = False,
    now: datetime | None = None,
    tz: str = DEFAULT_TZ,
    purge_staged_days: int = 0,
    reset: bool = False,
) -> SyncReport:
    """One run of the sink (see the module docstring); ``reset`` empties the lake first (rebuild)."""
    clock = time.perf_counter()
    with sink_lock(db):
        started = now or utcnow()
        report = SyncReport(synced_at=started)
        report.wiped = ensure_identity(db, lake)
        if reset and not report.wiped:
            reset_lake(db, lake, read_json(lake.root / LAKE_FILE)["lake_id"])
            report.wiped = True
        report.full = full or report.wiped
        for source in APPEND_SOURCES:
            report.rows[source.table] = copy_append(db, lake, source, tz, chunk=CHUNK)
        report.months, report.rows["sales"] = sync_sales(db, lake, tz, full=report.full, started=started)
        sizes = sync_snapshots(db, lake, tz, full=report.full, now=started)
        if sizes is not None:
            report.snapshots = True
            report.rows.update(sizes)
        with db.transaction() as session:
            state = repo.get(session, WM + "events")
            copied = state.last_id if state is not None else 0
            if purge_staged_days > 0:
                report.purged = touchpoints.purge_staged(session, copied, started - timedelta(days=purge_staged_days))
            report.pending, oldest, _newest = touchpoints.staged_backlog(session, copied)
        report.lag_s = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
        report.seconds = time.perf_counter() - clock
        _write_json(lake.root / SYNC_FILE, report.as_dict())
    return report
