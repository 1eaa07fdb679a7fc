"""The sales dashboard: headline figures against the previous equal period and the breakdowns
an operations director reads (day, channel, store, category, SKU, hour of day).

Everything is read from the lake. A sales line counts when it is paid and its status is not
``cancelled``; its figures are net of cancelled and returned units (``net_quantity``,
``net_fen``), so a refund lowers the day the order was placed, not the day of the refund.
Filters: local days (``day``), channel (``channel_code``), store (``store_location_id``: the store
the order belongs to), category (the SKU's ``category_path`` contains it).

Definitions (also printed on the page):

* net sales = Σ net_fen; units = Σ net_quantity
* orders = distinct order_id with a line of net_quantity > 0; average order value = net / orders
* buyers = distinct member_id with a line of net_quantity > 0; members' share = their net / net
* refund rate = Σ(total_fen − net_fen) / Σ total_fen (cancelled and returned value over ordered)
* margin of a SKU = net − Σ net_quantity × unit cost (the line's cost at sale, else the SKU's)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

import duckdb

from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.lake import Lake
from zhongtai.analytics.schemas_sales import (
    BreakdownRowOut,
    HourOut,
    SalesDashboard,
    SalesDayOut,
    SalesTotalsOut,
    SkuSalesOut,
)

T = TypeVar("T")
Row = dict[str, Any]

TOP_STORES = 15
TOP_SKUS = 20
SALE_LINE = "s.paid_at IS NOT NULL AND s.status <> 'cancelled'"
OTHERS = "others"


# ================================================================ shared query plumbing


def run(lake: Lake, build: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    """Runs ``build`` on one lake connection (a consistent set of files for every query of a
    dashboard); retried once when a file it listed was replaced meanwhile (the sink rewrote it)."""
    for attempt in (1, 2):
        try:
            with lake.connect() as con:
                return build(con)
        except duckdb.IOException:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
    cursor = con.execute(sql, params or {})
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def one(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> Row:
    found = rows(con, sql, params)
    assert len(found) == 1
    return found[0]


@dataclass
class Where:
    """SQL conditions with their named parameters (``$name``), built only from the filters."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, clause: str, **params: Any) -> Where:
        self.clauses.append(clause)
        self.params.update(params)
        return self

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) or "TRUE"


def in_stores(where: Where, column: str, stores: Sequence[int] | None, name: str = "stores") -> Where:
    """Limits ``column`` to ``stores`` (None: no limit; empty: nothing, a scope without stores)."""
    if stores is None:
        return where
    return where.add(f"list_contains(CAST(${name} AS INTEGER[]), {column})", **{name: list(stores)})


def in_category(where: Where, sku_column: str, category_id: int | None) -> Where:
    if category_id is None:
        return where
    return where.add(
        f"{sku_column} IN (SELECT sku_id FROM skus WHERE category_path LIKE '%/' || $category || '/%')",
        category=str(category_id),
    )


def category_group(path_column: str, parent: int | None) -> str:
    """SQL for the category a SKU is counted under: its top-level category, or (below a selected
    category) the selected category's child on its path; the selected category itself when the
    SKU sits directly in it. Uses ``$category`` when ``parent`` is set."""
    parts = f"string_split(trim({path_column}, '/'), '/')"
    if parent is None:
        return f"TRY_CAST({parts}[1] AS INTEGER)"
    return f"TRY_CAST(coalesce({parts}[list_position({parts}, $category) + 1], $category) AS INTEGER)"


def sales_where(f: DashboardFilters, start: date, end: date) -> Where:
    where = Where().add(SALE_LINE).add("s.day BETWEEN $start AND $end", start=start, end=end)
    if f.channels:
        where.add("list_contains(CAST($channels AS VARCHAR[]), s.channel_code)", channels=list(f.channels))
    in_stores(where, "s.store_location_id", f.store_ids())
    return in_category(where, "s.sku_id", f.category_id)


def rate(numerator: int | float, denominator: int | float) -> Decimal | None:
    """A fraction with four decimals, None over zero."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def div_round(numerator: int, denominator: int) -> int | None:
    """Integer division rounded half up (money stays integer fen)."""
    if not denominator:
        return None
    return int((Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def days_of(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# ================================================================ the dashboard


def _totals(con: duckdb.DuckDBPyConnection, where: Where) -> SalesTotalsOut:
    r = one(
        con,
        f"""
        SELECT coalesce(sum(s.net_fen), 0) AS net_fen,
               coalesce(sum(s.total_fen), 0) AS gross_fen,
               coalesce(sum(s.net_quantity), 0) AS units,
               count(DISTINCT s.order_id) FILTER (WHERE s.net_quantity > 0) AS orders,
               count(DISTINCT s.member_id) FILTER (WHERE s.net_quantity > 0) AS buyers,
               coalesce(sum(s.net_fen) FILTER (WHERE s.member_id IS NOT NULL), 0) AS member_net_fen
        FROM sales s WHERE {where.sql}
        """,
        where.params,
    )
    net, gross, orders = int(r["net_fen"]), int(r["gross_fen"]), int(r["orders"])
    return SalesTotalsOut(
        net_fen=net,
        gross_fen=gross,
        units=int(r["units"]),
        orders=orders,
        buyers=int(r["buyers"]),
        member_net_fen=int(r["member_net_fen"]),
        aov_fen=div_round(net, orders),
        member_share=rate(int(r["member_net_fen"]), net),
        refund_rate=rate(gross - net, gross),
    )


def _daily(con: duckdb.DuckDBPyConnection, where: Where) -> dict[date, Row]:
    found = rows(
        con,
        f"""
        SELECT s.day, coalesce(sum(s.net_fen), 0) AS net_fen, coalesce(sum(s.net_quantity), 0) AS units,
               count(DISTINCT s.order_id) FILTER (WHERE s.net_quantity > 0) AS orders
        FROM sales s WHERE {where.sql} GROUP BY s.day
        """,
        where.params,
    )
    return {r["day"]: r for r in found}


def _by_day(con: duckdb.DuckDBPyConnection, f: DashboardFilters, where: Where, previous: Where) -> list[SalesDayOut]:
    now, before = _daily(con, where), _daily(con, previous)
    p = f.previous
    out = []
    for day, previous_day in zip(days_of(f.start, f.end), days_of(p.start, p.end), strict=True):
        cur, old = now.get(day, {}), before.get(previous_day, {})
        out.append(
            SalesDayOut(
                day=day,
                net_fen=int(cur.get("net_fen", 0)),
                orders=int(cur.get("orders", 0)),
                units=int(cur.get("units", 0)),
                previous_day=previous_day,
                previous_net_fen=int(old.get("net_fen", 0)),
                previous_orders=int(old.get("orders", 0)),
            )
        )
    return out


def _breakdown(
    con: duckdb.DuckDBPyConnection, where: Where, key_sql: str, join: str, names: str, total: int
) -> list[BreakdownRowOut]:
    """Net sales, orders, units per ``key_sql``, largest first, with the dimension's names."""
    found = rows(
        con,
        f"""
        WITH g AS (
            SELECT {key_sql} AS key, coalesce(sum(s.net_fen), 0) AS net_fen,
                   coalesce(sum(s.net_quantity), 0) AS units,
                   count(DISTINCT s.order_id) FILTER (WHERE s.net_quantity > 0) AS orders
            FROM sales s LEFT JOIN skus k ON k.sku_id = s.sku_id
            WHERE {where.sql} GROUP BY 1
        )
        SELECT g.*, {names} FROM g {join}
        ORDER BY g.net_fen DESC, g.key NULLS LAST
        """,
        where.params,
    )
    return [
        BreakdownRowOut(
            key=None if r["key"] is None else str(r["key"]),
            code=r["code"] or "",
            name=r["name"] or "",
            name_en=r["name_en"] or "",
            net_fen=int(r["net_fen"]),
            orders=int(r["orders"]),
            units=int(r["units"]),
            share=rate(int(r["net_fen"]), total),
        )
        for r in found
    ]


def fold_others(items: list[BreakdownRowOut], keep: int, total: int) -> list[BreakdownRowOut]:
    """The ``keep`` largest rows and one "others" row summing the rest (orders summed: an order
    belongs to one store)."""
    if len(items) <= keep:
        return items
    rest = items[keep:]
    net = sum(r.net_fen for r in rest)
    others = BreakdownRowOut(
        key=OTHERS,
        net_fen=net,
        orders=sum(r.orders for r in rest),
        units=sum(r.units for r in rest),
        share=rate(net, total),
        merged=len(rest),
    )
    return [*items[:keep], others]


def _top_skus(con: duckdb.DuckDBPyConnection, where: Where) -> list[SkuSalesOut]:
    found = rows(
        con,
        f"""
        SELECT s.sku_id, any_value(k.code) AS code, any_value(k.name) AS name, any_value(k.name_en) AS name_en,
               coalesce(sum(s.net_quantity), 0) AS units, coalesce(sum(s.net_fen), 0) AS net_fen,
               coalesce(sum(s.net_quantity * coalesce(s.unit_cost_fen, k.unit_cost_fen, 0)), 0) AS cost_fen
        FROM sales s LEFT JOIN skus k ON k.sku_id = s.sku_id
        WHERE {where.sql} GROUP BY s.sku_id
        HAVING sum(s.net_quantity) > 0
        ORDER BY net_fen DESC, units DESC, s.sku_id LIMIT {TOP_SKUS}
        """,
        where.params,
    )
    out = []
    for r in found:
        net, cost = int(r["net_fen"]), int(r["cost_fen"])
        out.append(
            SkuSalesOut(
                sku_id=int(r["sku_id"]),
                code=r["code"] or str(r["sku_id"]),
                name=r["name"] or "",
                name_en=r["name_en"] or "",
                units=int(r["units"]),
                net_fen=net,
                cost_fen=cost,
                margin_fen=net - cost,
                margin_rate=rate(net - cost, net),
            )
        )
    return out


def _by_hour(con: duckdb.DuckDBPyConnection, where: Where) -> list[HourOut]:
    found = rows(
        con,
        f"""
        SELECT s.hour, coalesce(sum(s.net_fen), 0) AS net_fen,
               count(DISTINCT s.order_id) FILTER (WHERE s.net_quantity > 0) AS orders
        FROM sales s WHERE {where.sql} AND s.hour IS NOT NULL GROUP BY s.hour
        """,
        where.params,
    )
    by = {int(r["hour"]): r for r in found}
    return [
        HourOut(hour=h, net_fen=int(by.get(h, {}).get("net_fen", 0)), orders=int(by.get(h, {}).get("orders", 0)))
        for h in range(24)
    ]


def _currency(con: duckdb.DuckDBPyConnection) -> str:
    found = rows(con, "SELECT currency FROM sales WHERE currency IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    return str(found[0]["currency"]) if found else "CNY"


def sales_dashboard(lake: Lake, filters: DashboardFilters) -> SalesDashboard:
    """Every figure of the sales page for ``filters`` (and its previous equal period)."""
    f = filters
    p = f.previous

    def build(con: duckdb.DuckDBPyConnection) -> SalesDashboard:
        where = sales_where(f, f.start, f.end)
        previous = sales_where(f, p.start, p.end)
        current = _totals(con, where)
        total = current.net_fen
        has_data = bool(one(con, "SELECT count(*) > 0 AS any FROM sales")["any"])
        by_channel = _breakdown(
            con,
            where,
            "s.channel_code",
            "LEFT JOIN channels c ON c.code = g.key",
            "g.key AS code, c.name, c.name_en",
            total,
        )
        by_store = _breakdown(
            con,
            where,
            "s.store_location_id",
            "LEFT JOIN locations l ON l.location_id = g.key",
            "l.code, l.name, l.name_en",
            total,
        )
        # category_group's $category is the category filter's own parameter.
        by_category = _breakdown(
            con,
            where,
            category_group("k.category_path", f.category_id),
            "LEFT JOIN categories c ON c.category_id = g.key",
            "c.code, c.name, c.name_en",
            total,
        )
        return SalesDashboard(
            start=f.start,
            end=f.end,
            previous_start=p.start,
            previous_end=p.end,
            currency=_currency(con),
            has_data=has_data,
            current=current,
            previous=_totals(con, previous),
            by_day=_by_day(con, f, where, previous),
            by_channel=by_channel,
            by_store=fold_others(by_store, TOP_STORES, total),
            category_parent=f.category_id,
            by_category=by_category,
            top_skus=_top_skus(con, where),
            by_hour=_by_hour(con, where),
        )

    return run(lake, build)
