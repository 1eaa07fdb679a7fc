"""The inventory dashboard: what stock is worth, how fast it turns, where it runs out, what does
not sell and how old it is. Everything is read from the lake.

Filters: the store filter limits ``location_id`` (of balances, movements, and the fulfilling
location of sales); the category filter applies; the channel filter does not (stock is not held
per channel). Stock is valued at the SKU's current unit cost.

* Stock now: Σ on_hand × unit cost of the balances snapshot (positive balances only).
* Daily stock per SKU × location is rebuilt from the ledger: the ``on_hand_after`` of the day's
  last movement, carried forward over days without one. Before a pair's first movement its stock
  is that movement's ``on_hand_after − on_hand_delta``; a pair without any movement has held its
  current balance all along.
* Turnover days = average daily stock value at cost ÷ average daily COGS, where COGS = Σ
  net_quantity × unit cost (the line's cost at sale, else the SKU's) of the period's sales
  fulfilled from the location (``fulfil_location_id``, else the order's store).
* Current stockouts: available ≤ 0 for a pair that sold in the 28 days ending ``end`` or has a
  safety stock. Stockout days: per day, the assorted pairs (safety stock > 0, or sales at the
  location between 28 days before ``start`` and ``end``, among pairs with a balance) whose
  end-of-day on_hand was ≤ 0.
* Slow movers: on_hand > 0 and fewer than 1 unit per 30 days sold at the location in the 90 days
  ending ``end`` (under 3 units), or more than 180 days of cover (on_hand ÷ daily sales of those
  90 days).
* Aged stock (FIFO): current on_hand is allocated to the pair's most recent receipts (positive
  ``receipt`` and ``transfer_in`` movements), newest first; each receipt's share is as old as its
  day. Units the ledger's receipts do not explain are dated at the pair's first movement (so their
  age is a lower bound) or, with no movement at all, counted in the oldest bucket.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.lake import Lake
from zhongtai.analytics.sales import (
    SALE_LINE,
    Row,
    Where,
    category_group,
    days_of,
    div_round,
    in_category,
    in_stores,
    rows,
    run,
)
from zhongtai.analytics.schemas_sales import (
    AgeBucketOut,
    AgedLocationOut,
    AgedStockOut,
    InventoryDashboard,
    SlowMoverOut,
    StockNowOut,
    StockoutDayOut,
    StockoutOut,
    TurnoverOut,
    TurnoverRowOut,
)

RECEIPT_TYPES = ("receipt", "transfer_in")
# (label, highest age in days; None: no limit)
AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("0-30", 30),
    ("31-60", 60),
    ("61-90", 90),
    ("91-180", 180),
    ("181+", None),
)
AGED_AFTER_DAYS = 90
STOCKOUT_WINDOW_DAYS = 28
SLOW_WINDOW_DAYS = 90
SLOW_MAX_COVER_DAYS = 180
LIST_LIMIT = 100
AGED_LIMIT = 50

PAIR_NAMES = """k.code AS sku_code, k.name AS sku_name, k.name_en AS sku_name_en,
    l.code AS location_code, l.name AS location_name, l.name_en AS location_name_en"""


def _pair(r: Row) -> dict[str, Any]:
    return {
        "sku_id": int(r["sku_id"]),
        "sku_code": r["sku_code"] or str(r["sku_id"]),
        "sku_name": r["sku_name"] or "",
        "sku_name_en": r["sku_name_en"] or "",
        "location_id": int(r["location_id"]),
        "location_code": r["location_code"] or str(r["location_id"]),
        "location_name": r["location_name"] or "",
        "location_name_en": r["location_name_en"] or "",
    }


def _bucket_sql(age: str) -> str:
    cases = " ".join(f"WHEN {age} <= {limit} THEN {i}" for i, (_, limit) in enumerate(AGE_BUCKETS) if limit is not None)
    return f"CASE WHEN {age} IS NULL THEN {len(AGE_BUCKETS) - 1} {cases} ELSE {len(AGE_BUCKETS) - 1} END"


def _as_of(con: duckdb.DuckDBPyConnection, tz: str, fallback: date) -> date:
    latest = rows(con, "SELECT max(snapshot_at) AS at FROM stock_balances")[0]["at"]
    if not isinstance(latest, datetime):
        return fallback
    if latest.tzinfo is None:
        latest = latest.replace(tzinfo=UTC)
    return latest.astimezone(ZoneInfo(tz)).date()


def _prepare(con: duckdb.DuckDBPyConnection, f: DashboardFilters, as_of: date) -> None:
    """Temporary tables every figure reads: the filtered balances (``bal``), ledger (``mv``),
    sales per pair (``sold``), the daily stock (``daily``) and the FIFO layers (``layers``)."""
    stores = f.store_ids()
    scope = in_category(in_stores(Where(), "x.location_id", stores), "x.sku_id", f.category_id)
    con.execute(f"CREATE TEMP TABLE bal AS SELECT * FROM stock_balances x WHERE {scope.sql}", scope.params)
    con.execute(f"CREATE TEMP TABLE mv AS SELECT * FROM stock_movements x WHERE {scope.sql}", scope.params)
    sale_scope = in_category(
        in_stores(Where().add(SALE_LINE), "coalesce(s.fulfil_location_id, s.store_location_id)", stores),
        "s.sku_id",
        f.category_id,
    )
    con.execute(
        f"""
        CREATE TEMP TABLE sold AS
        SELECT s.sku_id, coalesce(s.fulfil_location_id, s.store_location_id) AS location_id,
               coalesce(sum(s.net_quantity) FILTER (WHERE s.day > $end - {STOCKOUT_WINDOW_DAYS}), 0) AS sold_28d,
               coalesce(sum(s.net_quantity) FILTER (WHERE s.day > $end - {SLOW_WINDOW_DAYS}), 0) AS sold_90d,
               coalesce(sum(s.net_quantity) FILTER (WHERE s.day >= $start - {STOCKOUT_WINDOW_DAYS}), 0) AS sold_assort,
               coalesce(sum(s.net_quantity * coalesce(s.unit_cost_fen, k.unit_cost_fen, 0))
                        FILTER (WHERE s.day >= $start), 0) AS cogs_fen,
               max(s.day) FILTER (WHERE s.net_quantity > 0) AS last_sale_day
        FROM sales s LEFT JOIN skus k ON k.sku_id = s.sku_id
        WHERE {sale_scope.sql} AND s.day <= $end AND s.sku_id IS NOT NULL
          AND coalesce(s.fulfil_location_id, s.store_location_id) IS NOT NULL
        GROUP BY 1, 2
        """,
        sale_scope.params | {"start": f.start, "end": f.end},
    )
    con.execute(
        """
        CREATE TEMP TABLE daily AS
        WITH ranked AS (
            SELECT sku_id, location_id, day, on_hand_after, on_hand_delta,
                   row_number() OVER (
                       PARTITION BY sku_id, location_id, day ORDER BY occurred_at DESC, id DESC) AS last_rn,
                   row_number() OVER (PARTITION BY sku_id, location_id ORDER BY occurred_at, id) AS first_rn
            FROM mv
        ),
        eod AS (SELECT sku_id, location_id, day, on_hand_after AS on_hand FROM ranked WHERE last_rn = 1),
        opening AS (
            SELECT sku_id, location_id, on_hand_after - on_hand_delta AS on_hand FROM ranked WHERE first_rn = 1
        ),
        pairs AS (SELECT sku_id, location_id FROM bal UNION SELECT sku_id, location_id FROM mv),
        days AS (SELECT CAST(d AS DATE) AS day FROM range($start::DATE, $end::DATE + 1, INTERVAL 1 DAY) t(d)),
        grid AS (SELECT p.sku_id, p.location_id, d.day FROM pairs p CROSS JOIN days d)
        SELECT g.sku_id, g.location_id, g.day, coalesce(e.on_hand, o.on_hand, b.on_hand, 0) AS on_hand
        FROM grid g
        ASOF LEFT JOIN eod e ON e.sku_id = g.sku_id AND e.location_id = g.location_id AND g.day >= e.day
        LEFT JOIN opening o ON o.sku_id = g.sku_id AND o.location_id = g.location_id
        LEFT JOIN bal b ON b.sku_id = g.sku_id AND b.location_id = g.location_id
        """,
        {"start": f.start, "end": f.end},
    )
    receipt_types = ", ".join(f"'{t}'" for t in RECEIPT_TYPES)
    con.execute(
        f"""
        CREATE TEMP TABLE layers AS
        WITH receipts AS (
            SELECT sku_id, location_id, day, on_hand_delta AS qty,
                   coalesce(sum(on_hand_delta) OVER (
                       PARTITION BY sku_id, location_id ORDER BY occurred_at DESC, id DESC
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS newer
            FROM mv WHERE type IN ({receipt_types}) AND on_hand_delta > 0
        ),
        alloc AS (
            SELECT r.sku_id, r.location_id, r.day, greatest(0, least(r.qty, b.on_hand - r.newer)) AS units
            FROM receipts r JOIN bal b ON b.sku_id = r.sku_id AND b.location_id = r.location_id
            WHERE b.on_hand > 0
        ),
        first_day AS (SELECT sku_id, location_id, min(day) AS day FROM mv GROUP BY 1, 2),
        rest AS (
            SELECT b.sku_id, b.location_id, fd.day, b.on_hand - coalesce(sum(a.units), 0) AS units
            FROM bal b
            LEFT JOIN alloc a ON a.sku_id = b.sku_id AND a.location_id = b.location_id
            LEFT JOIN first_day fd ON fd.sku_id = b.sku_id AND fd.location_id = b.location_id
            WHERE b.on_hand > 0
            GROUP BY b.sku_id, b.location_id, fd.day, b.on_hand
        ),
        all_layers AS (
            SELECT * FROM alloc WHERE units > 0 UNION ALL SELECT * FROM rest WHERE units > 0
        )
        SELECT a.sku_id, a.location_id, a.units, $as_of::DATE - a.day AS age,
               {_bucket_sql("$as_of::DATE - a.day")} AS bucket,
               a.units * coalesce(k.unit_cost_fen, 0) AS value_fen
        FROM all_layers a LEFT JOIN skus k ON k.sku_id = a.sku_id
        """,
        {"as_of": as_of},
    )


def _stock_now(con: duckdb.DuckDBPyConnection) -> StockNowOut:
    r = rows(
        con,
        """
        SELECT coalesce(sum(b.on_hand * coalesce(k.unit_cost_fen, 0)), 0) AS value_fen,
               coalesce(sum(b.on_hand), 0) AS units, count(*) AS pairs,
               count(DISTINCT b.location_id) AS locations
        FROM bal b LEFT JOIN skus k ON k.sku_id = b.sku_id WHERE b.on_hand > 0
        """,
    )[0]
    return StockNowOut(
        value_fen=int(r["value_fen"]), units=int(r["units"]), pairs=int(r["pairs"]), locations=int(r["locations"])
    )


def days_ratio(numerator: int, denominator: int) -> Decimal | None:
    """Days with one decimal (rounded half up), None over zero."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _turnover_days(stock_days_fen: int, cogs: int) -> Decimal | None:
    """avg stock value ÷ (cogs ÷ days) = Σ daily stock value ÷ cogs (no rounding in between)."""
    return days_ratio(stock_days_fen, cogs)


def _turnover(con: duckdb.DuckDBPyConnection, days: int) -> TurnoverOut:
    r = rows(
        con,
        """
        SELECT (SELECT coalesce(sum(greatest(d.on_hand, 0) * coalesce(k.unit_cost_fen, 0)), 0)
                FROM daily d LEFT JOIN skus k ON k.sku_id = d.sku_id) AS stock_days_fen,
               (SELECT coalesce(sum(cogs_fen), 0) FROM sold) AS cogs_fen
        """,
    )[0]
    stock_days, cogs = int(r["stock_days_fen"]), int(r["cogs_fen"])
    return TurnoverOut(
        avg_stock_value_fen=div_round(stock_days, days) or 0,
        cogs_fen=cogs,
        days=days,
        turnover_days=_turnover_days(stock_days, cogs),
    )


def _turnover_rows(
    con: duckdb.DuckDBPyConnection, days: int, key: str, dim_join: str, params: dict[str, Any]
) -> list[TurnoverRowOut]:
    """Turnover per ``key`` (an SQL expression over ``k`` the SKU and ``x`` the pair's row)."""
    found = rows(
        con,
        f"""
        WITH stock AS (
            SELECT {key} AS key, sum(greatest(x.on_hand, 0) * coalesce(k.unit_cost_fen, 0)) AS stock_days_fen
            FROM daily x LEFT JOIN skus k ON k.sku_id = x.sku_id GROUP BY 1
        ),
        now AS (
            SELECT {key} AS key, sum(greatest(x.on_hand, 0) * coalesce(k.unit_cost_fen, 0)) AS value_fen
            FROM bal x LEFT JOIN skus k ON k.sku_id = x.sku_id GROUP BY 1
        ),
        cogs AS (
            SELECT {key} AS key, sum(x.cogs_fen) AS cogs_fen
            FROM sold x LEFT JOIN skus k ON k.sku_id = x.sku_id GROUP BY 1
        ),
        keys AS (SELECT key FROM stock UNION SELECT key FROM now UNION SELECT key FROM cogs)
        SELECT keys.key, coalesce(stock.stock_days_fen, 0) AS stock_days_fen, coalesce(now.value_fen, 0) AS value_fen,
               coalesce(cogs.cogs_fen, 0) AS cogs_fen, dim.code, dim.name, dim.name_en
        FROM keys
        LEFT JOIN stock ON stock.key IS NOT DISTINCT FROM keys.key
        LEFT JOIN now ON now.key IS NOT DISTINCT FROM keys.key
        LEFT JOIN cogs ON cogs.key IS NOT DISTINCT FROM keys.key
        {dim_join}
        ORDER BY value_fen DESC, keys.key NULLS LAST
        """,
        params,
    )
    out = []
    for r in found:
        stock_days, cogs = int(r["stock_days_fen"]), int(r["cogs_fen"])
        out.append(
            TurnoverRowOut(
                key=None if r["key"] is None else str(r["key"]),
                code=r["code"] or "",
                name=r["name"] or "",
                name_en=r["name_en"] or "",
                stock_value_fen=int(r["value_fen"]),
                avg_stock_value_fen=div_round(stock_days, days) or 0,
                cogs_fen=cogs,
                turnover_days=_turnover_days(stock_days, cogs),
            )
        )
    return out


def _stockouts(con: duckdb.DuckDBPyConnection) -> tuple[int, list[StockoutOut]]:
    condition = "b.available <= 0 AND (coalesce(s.sold_28d, 0) > 0 OR b.safety_stock > 0)"
    count = int(
        rows(
            con,
            f"""SELECT count(*) AS n FROM bal b
            LEFT JOIN sold s ON s.sku_id = b.sku_id AND s.location_id = b.location_id WHERE {condition}""",
        )[0]["n"]
    )
    found = rows(
        con,
        f"""
        SELECT b.sku_id, b.location_id, b.on_hand, b.available, b.safety_stock,
               coalesce(s.sold_28d, 0) AS sold_28d, s.last_sale_day, {PAIR_NAMES}
        FROM bal b
        LEFT JOIN sold s ON s.sku_id = b.sku_id AND s.location_id = b.location_id
        LEFT JOIN skus k ON k.sku_id = b.sku_id
        LEFT JOIN locations l ON l.location_id = b.location_id
        WHERE {condition}
        ORDER BY sold_28d DESC, b.safety_stock DESC, k.code, l.code LIMIT {LIST_LIMIT}
        """,
    )
    return count, [
        StockoutOut(
            **_pair(r),
            on_hand=int(r["on_hand"]),
            available=int(r["available"]),
            safety_stock=int(r["safety_stock"] or 0),
            sold_28d=int(r["sold_28d"]),
            last_sale_day=r["last_sale_day"],
        )
        for r in found
    ]


def _stockout_days(con: duckdb.DuckDBPyConnection, f: DashboardFilters) -> tuple[int, list[StockoutDayOut]]:
    assorted = """
        SELECT b.sku_id, b.location_id FROM bal b
        LEFT JOIN sold s ON s.sku_id = b.sku_id AND s.location_id = b.location_id
        WHERE b.safety_stock > 0 OR coalesce(s.sold_assort, 0) > 0
    """
    n = int(rows(con, f"SELECT count(*) AS n FROM ({assorted})")[0]["n"])
    found = rows(
        con,
        f"""
        SELECT d.day, count(*) AS pairs FROM daily d
        JOIN ({assorted}) a ON a.sku_id = d.sku_id AND a.location_id = d.location_id
        WHERE d.on_hand <= 0 GROUP BY d.day
        """,
    )
    by_day = {r["day"]: int(r["pairs"]) for r in found}
    return n, [StockoutDayOut(day=d, pairs=by_day.get(d, 0)) for d in days_of(f.start, f.end)]


def _slow_movers(con: duckdb.DuckDBPyConnection) -> tuple[int, int, list[SlowMoverOut]]:
    body = f"""
        FROM bal b
        LEFT JOIN sold s ON s.sku_id = b.sku_id AND s.location_id = b.location_id
        LEFT JOIN skus k ON k.sku_id = b.sku_id
        LEFT JOIN locations l ON l.location_id = b.location_id
        WHERE b.on_hand > 0 AND (
            coalesce(s.sold_90d, 0) * 30 < {SLOW_WINDOW_DAYS}
            OR b.on_hand * {SLOW_WINDOW_DAYS} > {SLOW_MAX_COVER_DAYS} * coalesce(s.sold_90d, 0)
        )
    """
    totals = rows(con, f"SELECT count(*) AS n, coalesce(sum(b.on_hand * coalesce(k.unit_cost_fen, 0)), 0) AS v {body}")
    found = rows(
        con,
        f"""
        SELECT b.sku_id, b.location_id, b.on_hand, b.on_hand * coalesce(k.unit_cost_fen, 0) AS value_fen,
               coalesce(s.sold_90d, 0) AS sold_90d, s.last_sale_day, {PAIR_NAMES}
        {body}
        ORDER BY value_fen DESC, k.code, l.code LIMIT {LIST_LIMIT}
        """,
    )
    return (
        int(totals[0]["n"]),
        int(totals[0]["v"]),
        [
            SlowMoverOut(
                **_pair(r),
                on_hand=int(r["on_hand"]),
                value_fen=int(r["value_fen"]),
                sold_90d=int(r["sold_90d"]),
                cover_days=days_ratio(int(r["on_hand"]) * SLOW_WINDOW_DAYS, int(r["sold_90d"])),
                last_sale_day=r["last_sale_day"],
            )
            for r in found
        ],
    )


def _aged(con: duckdb.DuckDBPyConnection) -> tuple[list[AgeBucketOut], list[AgedLocationOut], list[AgedStockOut]]:
    found = {
        int(r["bucket"]): r
        for r in rows(con, "SELECT bucket, sum(units) AS units, sum(value_fen) AS value_fen FROM layers GROUP BY 1")
    }
    buckets = [
        AgeBucketOut(
            bucket=label,
            units=int(found.get(i, {}).get("units", 0)),
            value_fen=int(found.get(i, {}).get("value_fen", 0)),
        )
        for i, (label, _) in enumerate(AGE_BUCKETS)
    ]
    per_location: dict[int, AgedLocationOut] = {}
    for r in rows(
        con,
        """
        SELECT a.location_id, a.bucket, sum(a.value_fen) AS value_fen,
               any_value(l.code) AS code, any_value(l.name) AS name, any_value(l.name_en) AS name_en
        FROM layers a LEFT JOIN locations l ON l.location_id = a.location_id GROUP BY 1, 2
        """,
    ):
        loc = int(r["location_id"])
        item = per_location.setdefault(
            loc,
            AgedLocationOut(
                location_id=loc,
                code=r["code"] or str(loc),
                name=r["name"] or "",
                name_en=r["name_en"] or "",
                value_fen=[0] * len(AGE_BUCKETS),
            ),
        )
        item.value_fen[int(r["bucket"])] = int(r["value_fen"])
    by_location = sorted(per_location.values(), key=lambda a: (-sum(a.value_fen), a.code))
    top = rows(
        con,
        f"""
        WITH p AS (
            SELECT sku_id, location_id, sum(units) AS on_hand, sum(value_fen) AS value_fen,
                   coalesce(sum(units) FILTER (WHERE age IS NULL OR age > {AGED_AFTER_DAYS}), 0) AS aged_units,
                   coalesce(sum(value_fen) FILTER (WHERE age IS NULL OR age > {AGED_AFTER_DAYS}), 0) AS aged_value_fen,
                   CASE WHEN bool_or(age IS NULL) THEN NULL ELSE max(age) END AS oldest_days
            FROM layers GROUP BY 1, 2
        )
        SELECT p.*, {PAIR_NAMES} FROM p
        LEFT JOIN skus k ON k.sku_id = p.sku_id
        LEFT JOIN locations l ON l.location_id = p.location_id
        WHERE p.aged_units > 0
        ORDER BY p.aged_value_fen DESC, p.oldest_days DESC, k.code, l.code LIMIT {AGED_LIMIT}
        """,
    )
    aged_top = [
        AgedStockOut(
            **_pair(r),
            on_hand=int(r["on_hand"]),
            value_fen=int(r["value_fen"]),
            aged_units=int(r["aged_units"]),
            aged_value_fen=int(r["aged_value_fen"]),
            oldest_days=None if r["oldest_days"] is None else int(r["oldest_days"]),
        )
        for r in top
    ]
    return buckets, by_location, aged_top


def inventory_dashboard(lake: Lake, filters: DashboardFilters, *, tz: str = "Asia/Shanghai") -> InventoryDashboard:
    """Every figure of the inventory page for ``filters`` (the channel filter is ignored)."""
    f = filters

    def build(con: duckdb.DuckDBPyConnection) -> InventoryDashboard:
        as_of = _as_of(con, tz, f.end)
        has_data = bool(rows(con, "SELECT count(*) > 0 AS any FROM stock_balances")[0]["any"])
        _prepare(con, f, as_of)
        currency_row = rows(
            con, "SELECT currency FROM sales WHERE currency IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
        group = category_group("k.category_path", f.category_id)
        cat_params = {"category": str(f.category_id)} if f.category_id is not None else {}
        stockout_count, stockouts = _stockouts(con)
        assorted, stockout_days = _stockout_days(con, f)
        slow_count, slow_value, slow = _slow_movers(con)
        buckets, aged_by_location, aged_top = _aged(con)
        return InventoryDashboard(
            start=f.start,
            end=f.end,
            as_of=as_of,
            currency=str(currency_row[0]["currency"]) if currency_row else "CNY",
            has_data=has_data,
            now=_stock_now(con),
            turnover=_turnover(con, f.days),
            by_category=_turnover_rows(
                con, f.days, group, "LEFT JOIN categories dim ON dim.category_id = keys.key", cat_params
            ),
            category_parent=f.category_id,
            by_location=_turnover_rows(
                con, f.days, "x.location_id", "LEFT JOIN locations dim ON dim.location_id = keys.key", {}
            ),
            stockout_count=stockout_count,
            stockouts=stockouts,
            assorted_pairs=assorted,
            stockout_pair_days=sum(d.pairs for d in stockout_days),
            stockout_days=stockout_days,
            slow_count=slow_count,
            slow_value_fen=slow_value,
            slow_movers=slow,
            age_buckets=buckets,
            aged_by_location=aged_by_location,
            aged_top=aged_top,
        )

    return run(lake, build)
