"""The store-traffic dashboard (门店客流): visitors, conversion and dwell from the camera events.

Definitions (all per local day, over the stores of the filter or the principal's scope; the
channel and category filters do not apply):

* Visitors: distinct ``anonymous_id`` among a store's ``store_entry`` events of a day. Someone who
  enters the same store three times on a day is one visitor; the same person on two days, or at
  two stores, is two. Period figures add the store-days up.
* Entries / exits: counts of ``store_entry`` / ``store_exit`` events.
* Buyers: distinct paid POS orders placed at the store that day (sales lines of a channel whose
  kind is ``pos`` in the channels table — or the channel code ``pos`` — with ``store_location_id``
  the store, paid and not cancelled).
* Conversion = buyers ÷ visitors. Average dwell = the mean ``dwell_s`` of ``store_exit`` events.
  Sales per visitor = the stores' net POS sales ÷ visitors.
* Hour-of-day profile: visitors entering in each local hour, divided by the days of the period.
* Dwell distribution: ``store_exit`` events by dwell, in minutes: <5, 5–15, 15–30, 30–60, ≥60.
* Demographics: visitors (store-day) by the gender and age band the camera system reported.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import polars as pl

from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.funnel import Bind, rate
from zhongtai.analytics.lake import Lake
from zhongtai.analytics.schemas_members import (
    DemographicOut,
    DwellBucket,
    DwellBucketOut,
    StoreTrafficOut,
    TrafficDashboardOut,
    TrafficDayOut,
    TrafficFiguresOut,
    TrafficHourOut,
)

DWELL_BUCKETS: tuple[tuple[DwellBucket, int, int | None], ...] = (
    ("lt5", 0, 300),
    ("5_15", 300, 900),
    ("15_30", 900, 1800),
    ("30_60", 1800, 3600),
    ("gt60", 3600, None),
)
AGE_BANDS = ("0-17", "18-24", "25-34", "35-44", "45-54", "55+", "unknown")
GENDERS = ("female", "male", "unknown")
POS_ORDERS = "(channel_code = 'pos' OR channel_code IN (SELECT code FROM channels WHERE kind = 'pos'))"
FIGURES = ("visitors", "entries", "exits", "buyers", "dwell_sum", "dwell_n", "sales_fen")


def _store_condition(f: DashboardFilters, b: Bind, column: str) -> str:
    stores = f.store_ids()
    if stores is None:
        return f"{column} IS NOT NULL"
    return f"list_contains({b('stores', list(stores))}::INTEGER[], {column})"


def store_days(lake: Lake, f: DashboardFilters) -> pl.DataFrame:
    """One row per store and day with traffic or POS sales: ``location_id``, ``day`` and FIGURES."""
    b = Bind()
    span = f"day BETWEEN {b('start', f.start)} AND {b('end', f.end)}"
    at = _store_condition(f, b, "location_id")
    sold_at = _store_condition(f, b, "store_location_id")
    return lake.query(
        f"""
        WITH ev AS (
            SELECT location_id, day, type, anonymous_id, dwell_s FROM events
            WHERE type IN ('store_entry', 'store_exit') AND {span} AND {at}
        ),
        traffic AS (
            SELECT location_id, day,
                   COUNT(DISTINCT anonymous_id) FILTER (WHERE type = 'store_entry') AS visitors,
                   COUNT(*) FILTER (WHERE type = 'store_entry') AS entries,
                   COUNT(*) FILTER (WHERE type = 'store_exit') AS exits,
                   COALESCE(SUM(dwell_s) FILTER (WHERE type = 'store_exit'), 0) AS dwell_sum,
                   COUNT(dwell_s) FILTER (WHERE type = 'store_exit') AS dwell_n
            FROM ev GROUP BY location_id, day
        ),
        pos AS (
            SELECT store_location_id AS location_id, day,
                   COUNT(DISTINCT order_id) AS buyers, COALESCE(SUM(net_fen), 0) AS sales_fen
            FROM sales
            WHERE paid_at IS NOT NULL AND status <> 'cancelled' AND {POS_ORDERS} AND {span} AND {sold_at}
            GROUP BY store_location_id, day
        )
        SELECT COALESCE(t.location_id, p.location_id) AS location_id, COALESCE(t.day, p.day) AS day,
               COALESCE(t.visitors, 0) AS visitors, COALESCE(t.entries, 0) AS entries,
               COALESCE(t.exits, 0) AS exits, COALESCE(t.dwell_sum, 0) AS dwell_sum,
               COALESCE(t.dwell_n, 0) AS dwell_n, COALESCE(p.buyers, 0) AS buyers,
               COALESCE(p.sales_fen, 0) AS sales_fen
        FROM traffic t FULL OUTER JOIN pos p ON t.location_id = p.location_id AND t.day = p.day
        ORDER BY location_id, day
        """,
        b.params,
    )


def _sums(frame: pl.DataFrame) -> dict[str, int]:
    return {c: int(frame[c].sum()) if frame.height else 0 for c in FIGURES}


def _figures(s: dict[str, int]) -> TrafficFiguresOut:
    avg = None if not s["dwell_n"] else (Decimal(s["dwell_sum"]) / Decimal(s["dwell_n"])).quantize(Decimal("0.1"))
    return TrafficFiguresOut(
        visitors=s["visitors"],
        entries=s["entries"],
        exits=s["exits"],
        buyers=s["buyers"],
        conversion=rate(s["buyers"], s["visitors"]),
        avg_dwell_s=avg,
        pos_sales_fen=s["sales_fen"],
        sales_per_visitor_fen=round(s["sales_fen"] / s["visitors"]) if s["visitors"] else None,
    )


def _by_day(frame: pl.DataFrame, start: date, end: date) -> list[TrafficDayOut]:
    per_day: dict[date, tuple[int, int]] = {}
    if frame.height:
        grouped = frame.group_by("day").agg(pl.col("visitors").sum(), pl.col("buyers").sum())
        per_day = {d: (int(v), int(n)) for d, v, n in grouped.iter_rows()}
    out: list[TrafficDayOut] = []
    day = start
    while day <= end:
        visitors, buyers = per_day.get(day, (0, 0))
        out.append(TrafficDayOut(day=day, visitors=visitors, buyers=buyers, conversion=rate(buyers, visitors)))
        day += timedelta(days=1)
    return out


def _stores(lake: Lake, f: DashboardFilters, frame: pl.DataFrame) -> list[StoreTrafficOut]:
    b = Bind()
    where = "type = 'store'"
    stores = f.store_ids()
    if stores is not None:
        where += f" AND list_contains({b('stores', list(stores))}::INTEGER[], location_id)"
    names = {
        int(r["location_id"]): r
        for r in lake.query(
            f"SELECT location_id, code, name, name_en FROM locations WHERE {where}", b.params
        ).iter_rows(named=True)
    }
    ids = sorted(set(names) | {int(x) for x in frame["location_id"].unique().to_list()})
    out: list[StoreTrafficOut] = []
    for location_id in ids:
        sums = _sums(frame.filter(pl.col("location_id") == location_id))
        info = names.get(location_id, {})
        out.append(
            StoreTrafficOut(
                location_id=location_id,
                code=str(info.get("code") or location_id),
                name=str(info.get("name") or location_id),
                name_en=str(info.get("name_en") or ""),
                **_figures(sums).model_dump(),
            )
        )
    out.sort(key=lambda s: (s.conversion is None, -(s.conversion or 0), -s.visitors, s.code))
    return out


def _hours(lake: Lake, f: DashboardFilters) -> list[TrafficHourOut]:
    b = Bind()
    rows = lake.query(
        f"""
        SELECT hour, COUNT(*) AS n FROM (
            SELECT DISTINCT location_id, day, hour, anonymous_id FROM events
            WHERE type = 'store_entry' AND anonymous_id IS NOT NULL AND hour IS NOT NULL
              AND day BETWEEN {b("start", f.start)} AND {b("end", f.end)} AND {_store_condition(f, b, "location_id")}
        ) GROUP BY hour
        """,
        b.params,
    )
    counts = {int(h): int(n) for h, n in rows.iter_rows()}
    return [
        TrafficHourOut(
            hour=h,
            visitors=counts.get(h, 0),
            per_day=(Decimal(counts.get(h, 0)) / Decimal(f.days)).quantize(Decimal("0.01")),
        )
        for h in range(24)
    ]


def _dwell(lake: Lake, f: DashboardFilters) -> list[DwellBucketOut]:
    b = Bind()
    cases = " ".join(
        f"WHEN dwell_s >= {low}" + (f" AND dwell_s < {high}" if high is not None else "") + f" THEN '{key}'"
        for key, low, high in DWELL_BUCKETS
    )
    rows = lake.query(
        f"""
        SELECT CASE {cases} END AS bucket, COUNT(*) AS n FROM events
        WHERE type = 'store_exit' AND dwell_s IS NOT NULL AND dwell_s >= 0
          AND day BETWEEN {b("start", f.start)} AND {b("end", f.end)} AND {_store_condition(f, b, "location_id")}
        GROUP BY ALL
        """,
        b.params,
    )
    counts = {str(k): int(n) for k, n in rows.iter_rows()}
    return [DwellBucketOut(bucket=key, exits=counts.get(key, 0)) for key, _, _ in DWELL_BUCKETS]


def _demographics(lake: Lake, f: DashboardFilters) -> list[DemographicOut]:
    b = Bind()
    rows = lake.query(
        f"""
        SELECT age_band, gender, COUNT(*) AS n FROM (
            SELECT location_id, day, anonymous_id,
                   COALESCE(MAX(age_band), 'unknown') AS age_band, COALESCE(MAX(gender), 'unknown') AS gender
            FROM events
            WHERE type = 'store_entry' AND anonymous_id IS NOT NULL
              AND day BETWEEN {b("start", f.start)} AND {b("end", f.end)} AND {_store_condition(f, b, "location_id")}
            GROUP BY location_id, day, anonymous_id
        ) GROUP BY ALL
        """,
        b.params,
    )
    counts = {(str(a), str(g)): int(n) for a, g, n in rows.iter_rows()}
    bands = [*AGE_BANDS, *sorted({a for a, _ in counts} - set(AGE_BANDS))]
    genders = [*GENDERS, *sorted({g for _, g in counts} - set(GENDERS))]
    return [
        DemographicOut(age_band=a, gender=g, visitors=counts[(a, g)])
        for a in bands
        for g in genders
        if (a, g) in counts
    ]


def _has_traffic(lake: Lake) -> bool:
    if not lake.files("events"):
        return False
    n = lake.query("SELECT COUNT(*) AS n FROM events WHERE type IN ('store_entry', 'store_exit')")["n"][0]
    return bool(n)


def traffic_dashboard(lake: Lake, filters: DashboardFilters) -> TrafficDashboardOut:
    """Every figure of the store-traffic dashboard for these filters (see the module docstring)."""
    frame = store_days(lake, filters)
    previous = store_days(lake, filters.previous)
    return TrafficDashboardOut(
        start=filters.start,
        end=filters.end,
        lake_empty=not _has_traffic(lake),
        total=_figures(_sums(frame)),
        previous=_figures(_sums(previous)),
        by_day=_by_day(frame, filters.start, filters.end),
        by_hour=_hours(lake, filters),
        dwell=_dwell(lake, filters),
        demographics=_demographics(lake, filters),
        stores=_stores(lake, filters, frame),
    )
