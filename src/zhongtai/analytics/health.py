"""Touchpoint health: is every touchpoint alive, and is what it sends worth keeping?

``touchpoint_health(lake, filters, now)`` reads only the lake (touchpoints, heartbeats, events,
rejections) and answers, per touchpoint and for all of them together:

* **uptime**: the share of expected heartbeat intervals that had at least one heartbeat reporting
  ``ok`` or ``degraded``. The intervals (``heartbeat_interval_s`` long) are laid from
  max(period start, ``connected_on``) and only *complete* intervals before min(period end, now)
  are expected: the interval in progress cannot be late yet. Only ``active`` touchpoints are
  expected to beat (a paused, planned or retired one has no uptime, shown as "—"), and overall
  uptime pools the intervals (a touchpoint beating every minute weighs more than one every hour).
* **latency** p50/p95 (ms, linear interpolation) of the period's heartbeats;
* **status now** from the last heartbeat at or before ``now``: healthy within 2 intervals, late
  within 6, down when older or when the touchpoint itself reported ``down``; never without one;
* **events** accepted (events of the period by their local ``day``), rejected (rejections by the
  local day they were received), valid-event rate = accepted ÷ (accepted + rejected), identity
  match rate = attributed (a member was found) ÷ identified (the event carried an identifier),
  freshness p95 = the 95th percentile of received_at − occurred_at in seconds, and events per day.

Filters: the period (local days), channels (the touchpoint's channel) and stores (the
touchpoint's location; a store-scoped principal sees only touchpoints at their stores). Ratios are
floats: they are statistics computed by DuckDB, never money.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.lake import Lake

T = TypeVar("T")
DEFAULT_TZ = "Asia/Shanghai"
UP_STATUSES = ("ok", "degraded")
HEALTHY_INTERVALS = 2
LATE_INTERVALS = 6
TOP_REASONS = 10
TOUCHPOINT_TYPES = ("online", "offline", "commercial", "social")
STATES = ("healthy", "late", "down", "never")

WINDOW_SCHEMA: dict[str, pl.DataType] = {
    "point": pl.Int32(),
    "touchpoint_id": pl.Int32(),
    "w_start": pl.Datetime("us", "UTC"),
    "w_cut": pl.Datetime("us", "UTC"),
    "iv": pl.Int32(),
    "expected": pl.Int64(),
}


def local_midnight(day: date, tz: str) -> datetime:
    """The UTC instant a local day starts."""
    return datetime.combine(day, time(), ZoneInfo(tz)).astimezone(UTC)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def retrying(compute: Callable[[], T]) -> T:
    """Runs a lake read once more when a file it listed was replaced meanwhile (the sink
    rewrites a month of sales, compaction merges parts), as ``Lake.query`` does."""
    try:
        return compute()
    except duckdb.IOException:
        return compute()


def fetch(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] | None = None,
    **frames: pl.DataFrame,
) -> pl.DataFrame:
    """Runs ``sql`` on ``con`` with ``frames`` registered as tables under their keyword names."""
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    try:
        out = pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
    finally:
        for name in frames:
            con.unregister(name)
    assert isinstance(out, pl.DataFrame)
    return out


def expected_window(start: datetime, end: datetime, interval_s: int) -> tuple[datetime, datetime, int] | None:
    """(start, cut, n): the ``n`` complete intervals from ``start`` before ``end`` end at ``cut``."""
    if interval_s <= 0 or end <= start:
        return None
    n = int((end - start).total_seconds() // interval_s)
    if n <= 0:
        return None
    return start, start + timedelta(seconds=n * interval_s), n


def interval_uptime(con: duckdb.DuckDBPyConnection, windows: pl.DataFrame) -> pl.DataFrame:
    """Per (point, touchpoint) window: intervals up, heartbeats with a latency, those ≤ 1000 ms.

    ``windows`` has WINDOW_SCHEMA's columns; an interval is up when it had a heartbeat whose
    status is ok or degraded.
    """
    if windows.is_empty():
        return pl.DataFrame(
            schema={
                "point": pl.Int32(),
                "touchpoint_id": pl.Int32(),
                "up": pl.Int64(),
                "timed": pl.Int64(),
                "fast": pl.Int64(),
            }
        )
    return fetch(
        con,
        """
        SELECT w.point, w.touchpoint_id,
               count(DISTINCT CAST(floor(epoch(h.at - w.w_start) / w.iv) AS BIGINT))
                   FILTER (WHERE h.status IN ('ok', 'degraded')) AS up,
               count(h.latency_ms) AS timed,
               count(*) FILTER (WHERE h.latency_ms <= 1000) AS fast
        FROM win w
        JOIN heartbeats h ON h.touchpoint_id = w.touchpoint_id AND h.at >= w.w_start AND h.at < w.w_cut
        GROUP BY 1, 2
        """,
        win=windows.cast(WINDOW_SCHEMA),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class TouchpointHealth:
    touchpoint_id: int
    code: str
    name: str
    name_en: str
    type: str
    kind: str
    channel_code: str | None
    location_id: int | None
    registry_status: str
    heartbeat_interval_s: int
    expected_intervals: int
    up_intervals: int
    uptime: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    last_heartbeat_at: datetime | None
    state: str
    accepted: int
    rejected: int
    valid_rate: float | None
    identified: int
    attributed: int
    match_rate: float | None
    freshness_p95_s: float | None
    daily: tuple[int, ...]


@dataclass(frozen=True)
class HealthReport:
    start: date
    end: date
    now: datetime
    days: tuple[date, ...]
    touchpoints: tuple[TouchpointHealth, ...]
    by_state: dict[str, int]
    expected_intervals: int
    up_intervals: int
    uptime: float | None
    accepted: int
    rejected: int
    valid_rate: float | None
    identified: int
    attributed: int
    match_rate: float | None
    freshness_p95_s: float | None
    # touchpoint type -> events per day of ``days``
    events_by_type: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # (code, rejections carrying it), most frequent first, at most TOP_REASONS
    rejection_reasons: tuple[tuple[str, int], ...] = ()
    previous_accepted: int = 0
    previous_valid_rate: float | None = None
    lake_empty: bool = False


def state_of(last_at: datetime | None, last_status: str | None, interval_s: int, now: datetime) -> str:
    """healthy | late | down | never, from the last heartbeat at or before ``now``."""
    if last_at is None:
        return "never"
    if last_status == "down":
        return "down"
    age = (now - last_at).total_seconds()
    if age <= HEALTHY_INTERVALS * interval_s:
        return "healthy"
    if age <= LATE_INTERVALS * interval_s:
        return "late"
    return "down"


def scoped_touchpoints(con: duckdb.DuckDBPyConnection, filters: DashboardFilters) -> pl.DataFrame:
    """The registry, limited to the filters' channels and stores (and the principal's scope)."""
    tps = fetch(con, "SELECT * FROM touchpoints ORDER BY code")
    if filters.channels:
        tps = tps.filter(pl.col("channel_code").is_in(list(filters.channels)))
    stores = filters.store_ids()
    if stores is not None:
        tps = tps.filter(pl.col("location_id").is_in(list(stores)))
    return tps


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def touchpoint_health(lake: Lake, filters: DashboardFilters, now: datetime, *, tz: str = DEFAULT_TZ) -> HealthReport:
    """Every figure of the health dashboard for the filters' period, as of ``now`` (UTC-aware)."""
    assert now.tzinfo is not None
    return retrying(lambda: _health(lake, filters, now, tz))


def _health(lake: Lake, filters: DashboardFilters, now: datetime, tz: str) -> HealthReport:
    p0 = local_midnight(filters.start, tz)
    p1 = local_midnight(filters.end + timedelta(days=1), tz)
    p_end = min(p1, now)
    days = tuple(filters.start + timedelta(days=i) for i in range(filters.days))
    lake_empty = not lake.files("touchpoints") and not lake.files("events")
    with lake.connect() as con:
        tps = scoped_touchpoints(con, filters)
        windows: list[dict[str, Any]] = []
        for row in tps.iter_rows(named=True):
            if row["status"] != "active" or row["connected_on"] is None:
                continue
            start = max(p0, local_midnight(row["connected_on"], tz))
            iv = int(row["heartbeat_interval_s"] or 0)
            window = expected_window(start, p_end, iv)
            if window is not None:
                windows.append(
                    {
                        "point": 0,
                        "touchpoint_id": row["touchpoint_id"],
                        "w_start": window[0],
                        "w_cut": window[1],
                        "iv": iv,
                        "expected": window[2],
                    }
                )
        win = pl.DataFrame(windows, schema=WINDOW_SCHEMA)
        up = {r["touchpoint_id"]: _int(r["up"]) for r in interval_uptime(con, win).iter_rows(named=True)}
        expected = {r["touchpoint_id"]: int(r["expected"]) for r in win.iter_rows(named=True)}
        scope = tps.select(pl.col("touchpoint_id").cast(pl.Int32))
        latency = fetch(
            con,
            """
            SELECT touchpoint_id, quantile_cont(latency_ms::DOUBLE, 0.5) AS p50,
                   quantile_cont(latency_ms::DOUBLE, 0.95) AS p95
            FROM heartbeats h JOIN scope USING (touchpoint_id)
            WHERE h.at >= $p0 AND h.at < $p1 AND latency_ms IS NOT NULL
            GROUP BY 1
            """,
            {"p0": p0, "p1": p_end},
            scope=scope,
        )
        last = fetch(
            con,
            """
            SELECT touchpoint_id, max(h.at) AS last_at, arg_max(h.status, h.at) AS last_status
            FROM heartbeats h JOIN scope USING (touchpoint_id) WHERE h.at <= $now GROUP BY 1
            """,
            {"now": now},
            scope=scope,
        )
        events = fetch(
            con,
            """
            SELECT touchpoint_id, count(*) AS accepted,
                   count(*) FILTER (WHERE identified) AS identified,
                   count(*) FILTER (WHERE identified AND member_id IS NOT NULL) AS attributed,
                   quantile_cont(epoch(received_at - occurred_at), 0.95) AS fresh_p95,
                   grouping(touchpoint_id) AS total
            FROM events JOIN scope USING (touchpoint_id)
            WHERE day BETWEEN $d0 AND $d1
            GROUP BY GROUPING SETS ((touchpoint_id), ())
            """,
            {"d0": filters.start, "d1": filters.end},
            scope=scope,
        )
        daily = fetch(
            con,
            """
            SELECT touchpoint_id, day, count(*) AS n FROM events JOIN scope USING (touchpoint_id)
            WHERE day BETWEEN $d0 AND $d1 GROUP BY 1, 2
            """,
            {"d0": filters.start, "d1": filters.end},
            scope=scope,
        )
        rejected = fetch(
            con,
            """
            SELECT touchpoint_id, count(*) AS n FROM rejections JOIN scope USING (touchpoint_id)
            WHERE day BETWEEN $d0 AND $d1 GROUP BY 1
            """,
            {"d0": filters.start, "d1": filters.end},
            scope=scope,
        )
        reasons = fetch(
            con,
            """
            SELECT code, count(*) AS n FROM (
                SELECT DISTINCT r.id, trim(c.code) AS code
                FROM rejections r JOIN scope USING (touchpoint_id),
                     unnest(string_split(coalesce(r.codes, ''), ',')) AS c(code)
                WHERE r.day BETWEEN $d0 AND $d1
            ) WHERE code <> '' GROUP BY 1 ORDER BY n DESC, code LIMIT $top
            """,
            {"d0": filters.start, "d1": filters.end, "top": TOP_REASONS},
            scope=scope,
        )
        prev = filters.previous
        previous = fetch(
            con,
            """
            SELECT (SELECT count(*) FROM events JOIN scope USING (touchpoint_id) WHERE day BETWEEN $d0 AND $d1)
                       AS accepted,
                   (SELECT count(*) FROM rejections JOIN scope USING (touchpoint_id)
                    WHERE day BETWEEN $d0 AND $d1) AS rejected
            """,
            {"d0": prev.start, "d1": prev.end},
            scope=scope,
        ).row(0, named=True)

    lat = {r["touchpoint_id"]: r for r in latency.iter_rows(named=True)}
    last_hb = {r["touchpoint_id"]: r for r in last.iter_rows(named=True)}
    ev = {r["touchpoint_id"]: r for r in events.iter_rows(named=True) if not r["total"]}
    ev_total = next((r for r in events.iter_rows(named=True) if r["total"]), None)
    rej = {r["touchpoint_id"]: _int(r["n"]) for r in rejected.iter_rows(named=True)}
    day_index = {d: i for i, d in enumerate(days)}
    per_day: dict[int, list[int]] = {}
    for r in daily.iter_rows(named=True):
        per_day.setdefault(r["touchpoint_id"], [0] * len(days))[day_index[r["day"]]] = int(r["n"])

    rows: list[TouchpointHealth] = []
    by_type: dict[str, list[int]] = {}
    for row in tps.iter_rows(named=True):
        tid = row["touchpoint_id"]
        iv = int(row["heartbeat_interval_s"] or 0)
        e = ev.get(tid, {})
        accepted, rejected_n = _int(e.get("accepted")), rej.get(tid, 0)
        identified, attributed = _int(e.get("identified")), _int(e.get("attributed"))
        exp = expected.get(tid, 0)
        ups = up.get(tid, 0)
        hb = last_hb.get(tid, {})
        series = tuple(per_day.get(tid, [0] * len(days)))
        totals = by_type.setdefault(row["type"] or "", [0] * len(days))
        for i, n in enumerate(series):
            totals[i] += n
        rows.append(
            TouchpointHealth(
                touchpoint_id=tid,
                code=row["code"] or "",
                name=row["name"] or "",
                name_en=row["name_en"] or "",
                type=row["type"] or "",
                kind=row["kind"] or "",
                channel_code=row["channel_code"],
                location_id=row["location_id"],
                registry_status=row["status"] or "",
                heartbeat_interval_s=iv,
                expected_intervals=exp,
                up_intervals=ups,
                uptime=ratio(ups, exp),
                latency_p50_ms=_float(lat.get(tid, {}).get("p50")),
                latency_p95_ms=_float(lat.get(tid, {}).get("p95")),
                last_heartbeat_at=hb.get("last_at"),
                state=state_of(hb.get("last_at"), hb.get("last_status"), iv, now),
                accepted=accepted,
                rejected=rejected_n,
                valid_rate=ratio(accepted, accepted + rejected_n),
                identified=identified,
                attributed=attributed,
                match_rate=ratio(attributed, identified),
                freshness_p95_s=_float(e.get("fresh_p95")),
                daily=series,
            )
        )
    accepted_all = sum(r.accepted for r in rows)
    rejected_all = sum(r.rejected for r in rows)
    identified_all = sum(r.identified for r in rows)
    attributed_all = sum(r.attributed for r in rows)
    expected_all = sum(r.expected_intervals for r in rows)
    up_all = sum(r.up_intervals for r in rows)
    prev_acc, prev_rej = _int(previous["accepted"]), _int(previous["rejected"])
    ordered_types = [t for t in TOUCHPOINT_TYPES if t in by_type] + sorted(set(by_type) - set(TOUCHPOINT_TYPES))
    return HealthReport(
        start=filters.start,
        end=filters.end,
        now=now,
        days=days,
        touchpoints=tuple(rows),
        by_state={s: sum(1 for r in rows if r.state == s) for s in STATES},
        expected_intervals=expected_all,
        up_intervals=up_all,
        uptime=ratio(up_all, expected_all),
        accepted=accepted_all,
        rejected=rejected_all,
        valid_rate=ratio(accepted_all, accepted_all + rejected_all),
        identified=identified_all,
        attributed=attributed_all,
        match_rate=ratio(attributed_all, identified_all),
        freshness_p95_s=_float(ev_total["fresh_p95"]) if ev_total else None,
        events_by_type={t: tuple(by_type[t]) for t in ordered_types},
        rejection_reasons=tuple((str(r["code"]), int(r["n"])) for r in reasons.iter_rows(named=True)),
        previous_accepted=prev_acc,
        previous_valid_rate=ratio(prev_acc, prev_acc + prev_rej),
        lake_empty=lake_empty,
    )
