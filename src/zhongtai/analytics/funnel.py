"""The JD 4A funnel (京东 4A 模型): which stage of the customer relationship each member is in.

A member's stage at a local day D, over a lookback window of W days (D-W+1 .. D, both included):

* **Advocate (拥护)**: at least 2 paid orders in the 365 days up to D (D-364 .. D), the latest
  one within the window: they came back and bought again.
* **Act (行动)**: at least 1 paid order within the window.
* **Appeal (吸引)**: within the window any event that shows interest in goods: product_view,
  add_to_cart, search, coupon_received, chat, shelf_interaction or scan.
* **Aware (认知)**: within the window any other event (page_view, store_entry, dwell, coupon_used,
  order events without a paid order, ...).
* **none (未触达)**: nothing in the window.

The highest stage that applies wins. A paid order is an order with ``paid_at`` set, not
cancelled, whose lines still hold at least one unit after returns (``SUM(net_quantity) > 0``);
its day is the sales ``day`` (local day it was placed).

Who is counted (the population): every active member in the lake's ``members`` snapshot who
joined on or before the end date. With a channel or store filter, the population is the members
attached to it (enrolled in one of the channels; enrolled at or preferring one of the stores) plus
the members with any event or paid order in those channels/stores during the lookback; and only
those events and orders count towards a stage. Category filters do not apply to the funnel.

Transitions compare each member's stage at the start of the period (as of the day before
``filters.start``) with their stage at ``filters.end``: a 5×5 matrix, and moved up / stayed /
moved down totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.lake import Lake
from zhongtai.analytics.schemas_members import Stage

STAGES: tuple[Stage, ...] = ("none", "aware", "appeal", "act", "advocate")
APPEAL_TYPES: tuple[str, ...] = (
    "product_view",
    "add_to_cart",
    "search",
    "coupon_received",
    "chat",
    "shelf_interaction",
    "scan",
)
DEFAULT_WINDOW_DAYS = 90
ADVOCATE_LOOKBACK_DAYS = 365
MIN_WINDOW_DAYS, MAX_WINDOW_DAYS = 7, 365


def rate(numerator: float | int, denominator: float | int) -> Decimal | None:
    """numerator ÷ denominator to 4 decimals (0.1234 = 12.34 %); None when there is nothing to divide by."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"))


class Bind:
    """Named DuckDB parameters, collected as the SQL is written: DuckDB refuses a parameter the
    statement does not use, so only what is placed in the text is passed."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def __call__(self, name: str, value: Any) -> str:
        self.params[name] = value
        return f"${name}"


def paid_sales_where(f: DashboardFilters, b: Bind, *, category: bool = True, alias: str = "") -> list[str]:
    """Conditions selecting the sales lines that count: paid, not cancelled, in the filters'
    channels, stores (and category, when asked). Dates are left to the caller."""
    a = f"{alias}." if alias else ""
    out = [f"{a}paid_at IS NOT NULL", f"{a}status <> 'cancelled'"]
    if f.channels:
        out.append(f"list_contains({b('channels', list(f.channels))}, {a}channel_code)")
    stores = f.store_ids()
    if stores is not None:
        out.append(f"list_contains({b('stores', list(stores))}::INTEGER[], {a}store_location_id)")
    if category and f.category_id is not None:
        out.append(
            f"{a}sku_id IN (SELECT sku_id FROM skus WHERE category_path LIKE "
            f"'%/' || {b('category', str(f.category_id))} || '/%')"
        )
    return out


def member_scope_where(f: DashboardFilters, b: Bind, *, alias: str = "") -> list[str]:
    """Members attached to the filters: enrolled in one of the channels; enrolled at or preferring
    one of the stores."""
    a = f"{alias}." if alias else ""
    out: list[str] = []
    if f.channels:
        out.append(f"list_contains({b('channels', list(f.channels))}, {a}enrolled_channel)")
    stores = f.store_ids()
    if stores is not None:
        s = b("stores", list(stores))
        out.append(
            f"(list_contains({s}::INTEGER[], {a}enrolled_location_id) "
            f"OR list_contains({s}::INTEGER[], {a}preferred_location_id))"
        )
    return out


def _event_where(f: DashboardFilters, b: Bind) -> list[str]:
    out = ["member_id IS NOT NULL"]
    if f.channels:
        out.append(f"list_contains({b('channels', list(f.channels))}, channel_code)")
    stores = f.store_ids()
    if stores is not None:
        out.append(f"list_contains({b('stores', list(stores))}::INTEGER[], location_id)")
    return out


def _filtered(f: DashboardFilters) -> bool:
    return bool(f.channels) or f.store_ids() is not None


def _population_sql(f: DashboardFilters, b: Bind, end: date, lookback_start: date) -> str:
    member_where = ["joined_day <= " + b("pop_end", end)]
    if not _filtered(f):
        return "SELECT member_id FROM members WHERE " + " AND ".join(member_where)
    attached = " AND ".join(member_scope_where(f, b)) or "TRUE"
    span = f"BETWEEN {b('pop_from', lookback_start)} AND {b('pop_end', end)}"
    events = " AND ".join([*_event_where(f, b), f"day {span}"])
    sales = " AND ".join([*paid_sales_where(f, b, category=False), "member_id IS NOT NULL", f"day {span}"])
    return (
        f"SELECT member_id FROM members WHERE {' AND '.join(member_where)} AND ("
        f"({attached}) OR member_id IN (SELECT member_id FROM events WHERE {events}) "
        f"OR member_id IN (SELECT member_id FROM sales WHERE {sales}))"
    )


def _stage_sql(f: DashboardFilters, b: Bind, key: str, day: date, window_days: int) -> str:
    """member_id, stage (0..4) of the population at ``day``."""
    w0 = b(f"{key}_w0", day - timedelta(days=window_days - 1))
    d = b(f"{key}_d", day)
    y0 = b(f"{key}_y0", day - timedelta(days=ADVOCATE_LOOKBACK_DAYS - 1))
    sales = " AND ".join(
        [*paid_sales_where(f, b, category=False), "member_id IS NOT NULL", f"day BETWEEN {y0} AND {d}"]
    )
    events = " AND ".join([*_event_where(f, b), f"day BETWEEN {w0} AND {d}"])
    appeal = b("appeal_types", list(APPEAL_TYPES))
    return f"""
        SELECT pop.member_id,
               CASE WHEN o.orders >= 2 AND o.last_day >= {w0} THEN 4
                    WHEN o.last_day >= {w0} THEN 3
                    ELSE COALESCE(e.level, 0) END AS stage
        FROM pop
        LEFT JOIN (
            SELECT member_id, COUNT(*) AS orders, MAX(day) AS last_day FROM (
                SELECT member_id, order_id, MAX(day) AS day FROM sales WHERE {sales}
                GROUP BY member_id, order_id HAVING SUM(net_quantity) > 0
            ) GROUP BY member_id
        ) o ON o.member_id = pop.member_id
        LEFT JOIN (
            SELECT member_id, MAX(CASE WHEN list_contains({appeal}, type) THEN 2 ELSE 1 END) AS level
            FROM events WHERE {events} GROUP BY member_id
        ) e ON e.member_id = pop.member_id
    """


def member_stages(
    lake: Lake, f: DashboardFilters, *, window_days: int = DEFAULT_WINDOW_DAYS, start_day: date | None = None
) -> pl.DataFrame:
    """One row per member of the population: ``member_id``, ``start`` and ``end`` stage (0..4).

    ``start`` is the stage as of ``start_day`` (default: the day before ``filters.start``)."""
    b = Bind()
    at_start = start_day or f.start - timedelta(days=1)
    lookback = min(at_start, f.end) - timedelta(days=max(ADVOCATE_LOOKBACK_DAYS, window_days) - 1)
    sql = f"""
        WITH pop AS ({_population_sql(f, b, f.end, lookback)}),
             s AS ({_stage_sql(f, b, "s", at_start, window_days)}),
             e AS ({_stage_sql(f, b, "e", f.end, window_days)})
        SELECT pop.member_id, s.stage AS start, e.stage AS "end"
        FROM pop JOIN s ON s.member_id = pop.member_id JOIN e ON e.member_id = pop.member_id
        ORDER BY pop.member_id
    """
    return lake.query(sql, b.params)


@dataclass(frozen=True)
class FunnelStep:
    stage: Stage
    # Members whose highest stage is this one.
    members: int
    # Members at this stage or a higher one (the funnel's width here).
    reached: int
    # reached here ÷ reached at the stage before (Aware: ÷ the population; None when zero or for none).
    conversion: Decimal | None


@dataclass
class FunnelResult:
    window_days: int
    start_day: date
    end_day: date
    population: int
    steps: list[FunnelStep]
    # matrix[i][j]: members at stage i at the start and stage j at the end (STAGES order).
    matrix: list[list[int]] = field(default_factory=list)
    moved_up: int = 0
    stayed: int = 0
    moved_down: int = 0


def summarise(stages: pl.DataFrame, *, window_days: int, start_day: date, end_day: date) -> FunnelResult:
    """The funnel at the end and the start → end transition matrix, from ``member_stages``."""
    n = len(STAGES)
    matrix = [[0] * n for _ in range(n)]
    for s, e in stages.select("start", "end").iter_rows():
        matrix[int(s)][int(e)] += 1
    at_end = [sum(matrix[i][j] for i in range(n)) for j in range(n)]
    steps: list[FunnelStep] = []
    # Aware's conversion is the reach: reached ÷ the whole population.
    previous_reached = stages.height
    for j in range(1, n):
        reached = sum(at_end[j:])
        conversion = None if not previous_reached else rate(reached, previous_reached)
        steps.append(FunnelStep(STAGES[j], at_end[j], reached, conversion))
        previous_reached = reached
    steps.insert(0, FunnelStep("none", at_end[0], stages.height, None))
    return FunnelResult(
        window_days=window_days,
        start_day=start_day,
        end_day=end_day,
        population=stages.height,
        steps=steps,
        matrix=matrix,
        moved_up=sum(matrix[i][j] for i in range(n) for j in range(n) if j > i),
        stayed=sum(matrix[i][i] for i in range(n)),
        moved_down=sum(matrix[i][j] for i in range(n) for j in range(n) if j < i),
    )


def funnel(lake: Lake, f: DashboardFilters, *, window_days: int = DEFAULT_WINDOW_DAYS) -> FunnelResult:
    """The 4A funnel at ``f.end`` and the transitions since the start of the period."""
    start_day = f.start - timedelta(days=1)
    stages = member_stages(lake, f, window_days=window_days, start_day=start_day)
    return summarise(stages, window_days=window_days, start_day=start_day, end_day=f.end)
