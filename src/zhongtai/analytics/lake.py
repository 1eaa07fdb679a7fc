"""The columnar store: Parquet files under one directory, queried with DuckDB.

Each table has a fixed schema (``TABLES``) and one of three write modes:

* ``append`` (events, rejections, heartbeats, the stock ledger): new rows go into a new part
  file in their local-day partition, ``<table>/day=2026-12-05/part-<first id>-<last id>.parquet``;
  many small parts of one day are merged by ``compact``.
* ``partition`` (sales lines): a whole month, ``<table>/month=2026-12/data.parquet``, is rewritten
  when any of its orders changed (a refund, a cancellation), so a line is never counted twice.
* ``snapshot`` (the catalog, locations, channels, members, balances, the touchpoint registry):
  ``<table>/data.parquet`` is replaced as a whole.

Every file is written to a temporary name and renamed into place: a reader sees the old file or
the new one, never half of one. The partition column is also stored inside the files, so queries
read plain columns. ``query`` opens an in-memory DuckDB connection with one view per table over
the files present at that moment (an empty typed table when there are none).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl

from zhongtai.settings import PROJECT_ROOT, Settings

UTC_TS = pl.Datetime("us", "UTC")
Mode = Literal["append", "partition", "snapshot"]


@dataclass(frozen=True)
class Table:
    name: str
    mode: Mode
    schema: Mapping[str, pl.DataType]
    # The partition column ("day": a local date, "month": "YYYY-MM"); None for snapshots.
    partition: str | None = None


def _schema(**columns: pl.DataType) -> dict[str, pl.DataType]:
    return dict(columns)


S, I8, I32, I64, B, D = pl.Utf8(), pl.Int8(), pl.Int32(), pl.Int64(), pl.Boolean(), pl.Date()

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        # One row per accepted event. ``day`` and ``hour`` are local (Asia/Shanghai) to occurred_at.
        Table(
            "events",
            "append",
            _schema(
                event_pk=I64,
                event_id=S,
                source=S,
                touchpoint_id=I32,
                type=S,
                occurred_at=UTC_TS,
                received_at=UTC_TS,
                day=D,
                hour=I8,
                channel_code=S,
                location_id=I32,
                member_id=I64,
                identified=B,
                anonymous_id=S,
                session_id=S,
                sku_id=I32,
                quantity=I32,
                value_fen=I64,
                query=S,
                results=I32,
                dwell_s=I32,
                gender=S,
                age_band=S,
                coupon=S,
                order_number=S,
                data=S,
            ),
            "day",
        ),
        Table(
            "rejections",
            "append",
            _schema(
                id=I64,
                received_at=UTC_TS,
                day=D,
                touchpoint_id=I32,
                source=S,
                event_id=S,
                type=S,
                codes=S,
                errors=S,
            ),
            "day",
        ),
        Table(
            "heartbeats",
            "append",
            _schema(id=I64, touchpoint_id=I32, at=UTC_TS, day=D, status=S, latency_ms=I32),
            "day",
        ),
        Table(
            "stock_movements",
            "append",
            _schema(
                id=I64,
                occurred_at=UTC_TS,
                day=D,
                type=S,
                sku_id=I32,
                location_id=I32,
                on_hand_delta=I32,
                on_hand_after=I32,
                reference_type=S,
            ),
            "day",
        ),
        # One row per order line; day/hour local to placed_at. net_quantity = quantity - cancelled
        # - returned; net_fen is total_fen pro rata to net_quantity (fen, rounded half up).
        Table(
            "sales",
            "partition",
            _schema(
                line_id=I64,
                order_id=I64,
                order_number=S,
                channel_code=S,
                store_location_id=I32,
                fulfil_location_id=I32,
                member_id=I64,
                placed_at=UTC_TS,
                paid_at=UTC_TS,
                day=D,
                month=S,
                hour=I8,
                status=S,
                sku_id=I32,
                quantity=I32,
                cancelled=I32,
                returned=I32,
                net_quantity=I32,
                unit_price_fen=I64,
                total_fen=I64,
                net_fen=I64,
                unit_cost_fen=I64,
                currency=S,
            ),
            "month",
        ),
        Table(
            "stock_balances",
            "snapshot",
            _schema(
                sku_id=I32,
                location_id=I32,
                on_hand=I32,
                reserved=I32,
                in_transit=I32,
                available=I32,
                safety_stock=I32,
                snapshot_at=UTC_TS,
            ),
        ),
        # category_path: "/<root id>/.../<category id>/", the ids of the category and its ancestors.
        Table(
            "skus",
            "snapshot",
            _schema(
                sku_id=I32,
                code=S,
                name=S,
                name_en=S,
                spu_id=I32,
                category_id=I32,
                category_path=S,
                brand=S,
                list_price_fen=I64,
                sale_price_fen=I64,
                unit_cost_fen=I64,
                lifecycle=S,
                created_at=UTC_TS,
            ),
        ),
        Table(
            "categories",
            "snapshot",
            _schema(category_id=I32, parent_id=I32, code=S, name=S, name_en=S, path=S, depth=I32),
        ),
        Table(
            "locations",
            "snapshot",
            _schema(location_id=I32, code=S, name=S, name_en=S, type=S, region=S, province=S, city=S),
        ),
        Table("channels", "snapshot", _schema(code=S, name=S, name_en=S, kind=S, platform=S)),
        # Active members only (merged and erased ones are left out). joined_at: enrolment, or first
        # seen for members the order center created. No personal data.
        Table(
            "members",
            "snapshot",
            _schema(
                member_id=I64,
                code=S,
                joined_at=UTC_TS,
                joined_day=D,
                enrolled_channel=S,
                enrolled_location_id=I32,
                preferred_location_id=I32,
                tier=S,
                gender=S,
                has_guide=B,
                orders_count=I32,
                spend_fen=I64,
                first_order_at=UTC_TS,
                last_order_at=UTC_TS,
                r_score=I8,
                f_score=I8,
                m_score=I8,
                segment=S,
            ),
        ),
        # factors: the production factors, comma-joined ("goods,retail").
        Table(
            "touchpoints",
            "snapshot",
            _schema(
                touchpoint_id=I32,
                code=S,
                name=S,
                name_en=S,
                type=S,
                kind=S,
                channel_code=S,
                location_id=I32,
                owner=S,
                factors=S,
                cost_fen_month=I64,
                currency=S,
                status=S,
                created_at=UTC_TS,
                connected_on=D,
                first_event_at=UTC_TS,
                heartbeat_interval_s=I32,
            ),
        ),
    )
}


def lake_dir(settings: Settings) -> Path:
    """Where the lake of this deployment lives (see ``Settings.analytics_dir``)."""
    if settings.analytics_dir is not None:
        return Path(settings.analytics_dir)
    url = settings.database_url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        db_file = Path(url.removeprefix("sqlite:///"))
        return db_file.with_name(f"{db_file.stem}-analytics")
    name = url.rsplit("/", 1)[-1].split("?", 1)[0] or "default"
    return PROJECT_ROOT / "var" / "analytics" / name


class UnknownColumns(ValueError):
    pass


def conform(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with exactly the table's columns, in order and type (missing ones null)."""
    spec = TABLES[table]
    extra = sorted(set(frame.columns) - set(spec.schema))
    if extra:
        raise UnknownColumns(f"{table}: unknown columns {extra}")
    return frame.select(
        [
            (pl.col(c) if c in frame.columns else pl.lit(None)).cast(dtype, strict=False).alias(c)
            for c, dtype in spec.schema.items()
        ]
    )


def empty(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(TABLES[table].schema))


def _part_order(path: Path) -> tuple[int, str]:
    """Parts in id order ("part-9-9" before "part-10-10"); named parts (history) after."""
    first = path.name.removeprefix("part-").split("-")[0]
    return (int(first), "") if first.isdigit() else (1 << 62, path.name)


class Lake:
    """One lake directory. Writers are the sink (one at a time) and the demo; readers are many."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def for_settings(cls, settings: Settings) -> Lake:
        return cls(lake_dir(settings))

    # ------------------------------------------------------------------ layout

    def table_dir(self, table: str) -> Path:
        return self.root / TABLES[table].name

    def files(self, table: str) -> list[Path]:
        base = self.table_dir(table)
        if not base.exists():
            return []
        return sorted(base.rglob("*.parquet"))

    def partitions(self, table: str) -> list[str]:
        spec = TABLES[table]
        base = self.table_dir(table)
        if spec.partition is None or not base.exists():
            return []
        prefix = f"{spec.partition}="
        return sorted(p.name.removeprefix(prefix) for p in base.iterdir() if p.is_dir() and p.name.startswith(prefix))

    def _write(self, frame: pl.DataFrame, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, path)
        return path

    # ------------------------------------------------------------------ writes

    def append(self, table: str, frame: pl.DataFrame, part: str) -> list[Path]:
        """Writes the rows as part ``part`` of each partition they fall in (same part: replaced)."""
        spec = TABLES[table]
        assert spec.mode == "append"
        assert spec.partition is not None
        frame = conform(table, frame)
        written: list[Path] = []
        if frame.is_empty():
            return written
        for (value,), rows in frame.partition_by(spec.partition, as_dict=True, maintain_order=True).items():
            folder = self.table_dir(table) / f"{spec.partition}={value}"
            written.append(self._write(rows, folder / f"part-{part}.parquet"))
        return written

    def replace_partition(self, table: str, value: str, frame: pl.DataFrame) -> Path | None:
        """Replaces one partition with these rows (none: the partition is removed)."""
        spec = TABLES[table]
        assert spec.partition is not None
        folder = self.table_dir(table) / f"{spec.partition}={value}"
        frame = conform(table, frame)
        if frame.is_empty():
            shutil.rmtree(folder, ignore_errors=True)
            return None
        path = self._write(frame, folder / "data.parquet")
        for stale in folder.glob("*.parquet"):
            if stale != path:
                stale.unlink(missing_ok=True)
        return path

    def replace(self, table: str, frame: pl.DataFrame) -> Path:
        """Replaces a snapshot table."""
        assert TABLES[table].mode == "snapshot"
        return self._write(conform(table, frame), self.table_dir(table) / "data.parquet")

    def compact(self, table: str, value: str, *, min_parts: int = 16) -> bool:
        """Merges an append partition's parts into one file when it has ``min_parts`` or more."""
        spec = TABLES[table]
        folder = self.table_dir(table) / f"{spec.partition}={value}"
        parts = sorted(folder.glob("part-*.parquet"), key=_part_order) if folder.exists() else []
        if len(parts) < min_parts:
            return False
        merged = pl.concat([pl.read_parquet(p) for p in parts], how="vertical_relaxed")
        first = parts[0].stem.removeprefix("part-").split("-")[0]
        last = parts[-1].stem.removeprefix("part-").split("-")[-1]
        target = self._write(conform(table, merged), folder / f"part-{first}-{last}.c.parquet")
        for p in parts:
            if p != target:
                p.unlink(missing_ok=True)
        return True

    def wipe(self) -> None:
        for spec in TABLES.values():
            shutil.rmtree(self.table_dir(spec.name), ignore_errors=True)

    # ------------------------------------------------------------------ reads

    @contextmanager
    def connect(self, tables: Sequence[str] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory DuckDB connection with a view per table over its current files."""
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET TimeZone = 'UTC'")
            for name in tables or TABLES:
                files = self.files(name)
                if files:
                    listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
                    con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{listing}], union_by_name = true)")
                else:
                    con.register(f"_{name}_empty", empty(name).to_arrow())
                    con.execute(f"CREATE VIEW {name} AS SELECT * FROM _{name}_empty")
            yield con
        finally:
            con.close()

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Runs one query over the lake; retried once when a file it listed was replaced meanwhile."""
        for attempt in (1, 2):
            try:
                with self.connect() as con:
                    frame = pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
                    assert isinstance(frame, pl.DataFrame)
                    return frame
            except duckdb.IOException:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
