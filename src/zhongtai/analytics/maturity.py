"""The five touchpoint-maturity indicators (Alibaba's 覆盖与布局, 在线与连通, 数据与质量, 扩展与移植,
成本与收效), each 0–100, computed from the lake as of a day, with a monthly trend.

An evaluation "as of D" covers the calendar month of D up to D (month-to-date; a past month's
evaluation is as of its last day). "Active at D" means registry status ``active`` and
``connected_on`` ≤ D: the registry snapshot keeps no status history, so past months use today's
status and the connection date.

1. **Coverage & layout** = 100 × (½ × F ÷ 7 + ¼ × S ÷ N + ¼ × T ÷ 4): F the production factors
   (brand, goods, manufacturing, channel, marketing, retail, service) digitised by ≥ 1 active
   touchpoint, S the stores with ≥ 1 active offline touchpoint of N stores, T the touchpoint types
   (online, offline, commercial, social) present.
2. **Online & connectivity** = 100 × (0.7 × U + 0.3 × L): U the heartbeat uptime of the active
   touchpoints over the month's complete intervals (as on the health page), L the share of their
   heartbeats with latency ≤ 1000 ms, each touchpoint weighted by its expected intervals (a
   touchpoint without any timed heartbeat has L = 0).
3. **Data & quality** = 100 × mean(V, M, P) over the month's touchpoint events: V valid-event
   rate (accepted ÷ (accepted + rejected)), M identity match rate (attributed ÷ identified), P the
   share received within 5 minutes of occurring. A rate without a denominator counts 0: no data is
   no quality.
4. **Extensibility & portability** = 100 × (0.7 × clamp(1 − (d − 1) ÷ 29) + 0.3 × min(1, K ÷ 4)):
   d the median days from a touchpoint's registration (created_at) to its first event, over the
   touchpoints whose first event fell in the 12 months up to D; K the distinct kinds among them.
   One day or less scores full speed, 30 days or more none; four new kinds a year (one a quarter)
   is full portability. The blend refines the brief's speed-only score: a platform that connects
   one kind quickly, again and again, has not shown it can absorb new kinds of touchpoint.
5. **Cost & return** = 100 × min(1, R ÷ 10), R = attributed revenue ÷ cost. Attributed revenue
   is the net sales (paid, not cancelled, returns netted) of the month's orders whose member had
   an event at a touchpoint in the 7 days up to the order's placement; the last such touch gets
   the whole order. Cost = Σ ``cost_fen_month`` of the touchpoints active at D, pro rata to the
   days elapsed in a month-to-date evaluation. No cost and some revenue scores 100.

Overall = the mean of the five scores.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from zhongtai.analytics.health import (
    DEFAULT_TZ,
    TOUCHPOINT_TYPES,
    WINDOW_SCHEMA,
    expected_window,
    fetch,
    interval_uptime,
    local_midnight,
    ratio,
    retrying,
)
from zhongtai.analytics.lake import Lake

FACTORS = ("brand", "goods", "manufacturing", "channel", "marketing", "retail", "service")
INDICATORS = ("coverage", "connectivity", "quality", "extensibility", "cost_return")
FAST_MS = 1000
PROMPT_S = 300
ATTRIBUTION_DAYS = 7
ROI_TARGET = 10
KINDS_TARGET = 4
COMPARE_MONTHS = 6

# The formulas with the numbers filled in (English; the console has them in zh-CN and en).
FORMULAS_EN = {
    "coverage": "100 × (½ × {factors}/7 + ¼ × {stores}/{stores_total} + ¼ × {types}/4) = {score}",
    "connectivity": "100 × (0.7 × uptime {uptime} + 0.3 × fast heartbeats {fast}) = {score}",
    "quality": "100 × mean(valid {valid}, matched {matched}, within 5 min {prompt}) = {score}",
    "extensibility": ("100 × (0.7 × clamp(1 − ({median_days} − 1) ÷ 29) + 0.3 × min(1, {kinds} kinds ÷ 4)) = {score}"),
    "cost_return": "ROI = {revenue} ÷ {cost} = {roi}; 100 × min(1, ROI ÷ 10) = {score}",
}


@dataclass(frozen=True)
class Component:
    """One input of an indicator: ``kind`` says how to show ``value`` (rate 0–1, count, days,
    money in fen, ratio)."""

    key: str
    value: float | None
    kind: str = "rate"
    of: int | None = None  # the denominator of a count ("5 of 7")


@dataclass(frozen=True)
class Indicator:
    key: str
    score: float
    components: tuple[Component, ...]
    formula_args: Mapping[str, str]

    @property
    def formula(self) -> str:
        return FORMULAS_EN[self.key].format(**self.formula_args)

    def component(self, key: str) -> Component:
        return next(c for c in self.components if c.key == key)


@dataclass(frozen=True)
class Connection:
    """A touchpoint connected in the 12 months up to the evaluation day."""

    touchpoint_id: int
    code: str
    name: str
    name_en: str
    kind: str
    type: str
    created_at: datetime
    first_event_at: datetime
    days: float


@dataclass(frozen=True)
class TypeReturn:
    type: str
    touchpoints: int
    orders: int
    revenue_fen: int
    cost_fen: int
    roi: float | None


@dataclass(frozen=True)
class Snapshot:
    """The five indicators as of ``as_of`` (the month from ``start``)."""

    as_of: date
    start: date
    indicators: tuple[Indicator, ...]
    factors: tuple[str, ...] = ()
    connections: tuple[Connection, ...] = ()
    returns: tuple[TypeReturn, ...] = ()

    @property
    def overall(self) -> float:
        return sum(i.score for i in self.indicators) / len(self.indicators)

    def indicator(self, key: str) -> Indicator:
        return next(i for i in self.indicators if i.key == key)

    @property
    def month(self) -> str:
        return self.start.strftime("%Y-%m")


@dataclass(frozen=True)
class MaturityReport:
    as_of: date
    months: int
    current: Snapshot
    earlier: Snapshot  # COMPARE_MONTHS months before (the radar's second polygon)
    trend: tuple[Snapshot, ...] = field(default_factory=tuple)
    lake_empty: bool = False


# ------------------------------------------------------------------ months


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after (negative: before) ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def trend_points(as_of: date, months: int) -> list[date]:
    """The last ``months`` month-ends up to ``as_of`` (the current month's point is ``as_of``)."""
    points = [month_end(add_months(as_of, -k)) for k in range(months - 1, 0, -1)]
    return [*points, as_of]


# ------------------------------------------------------------------ formatting of the formulas


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


# ------------------------------------------------------------------ the indicators


def _active(tps: pl.DataFrame, day: date) -> pl.DataFrame:
    return tps.filter(
        (pl.col("status") == "active") & pl.col("connected_on").is_not_null() & (pl.col("connected_on") <= day)
    )


def _factors_of(raw: str | None) -> set[str]:
    return {f.strip() for f in (raw or "").split(",") if f.strip()}


def coverage(tps: pl.DataFrame, stores: Sequence[int], day: date) -> tuple[Indicator, tuple[str, ...]]:
    active = _active(tps, day)
    covered = set().union(*(_factors_of(r) for r in active["factors"].to_list())) & set(FACTORS)
    offline_at = set(
        active.filter((pl.col("type") == "offline") & pl.col("location_id").is_not_null())["location_id"].to_list()
    )
    stores_covered = len(offline_at & set(stores))
    types = set(active["type"].to_list()) & set(TOUCHPOINT_TYPES)
    store_share = ratio(stores_covered, len(stores)) or 0.0
    score = 100 * (0.5 * len(covered) / len(FACTORS) + 0.25 * store_share + 0.25 * len(types) / len(TOUCHPOINT_TYPES))
    return (
        Indicator(
            "coverage",
            score,
            (
                Component("factors", len(covered), "count", len(FACTORS)),
                Component("stores", stores_covered, "count", len(stores)),
                Component("types", len(types), "count", len(TOUCHPOINT_TYPES)),
            ),
            {
                "factors": str(len(covered)),
                "stores": str(stores_covered),
                "stores_total": str(len(stores)),
                "types": str(len(types)),
                "score": _num(score),
            },
        ),
        tuple(f for f in FACTORS if f in covered),
    )


def connectivity(windows: pl.DataFrame, beats: pl.DataFrame) -> Indicator:
    """``windows`` and ``beats`` of one point: expected intervals and their heartbeats."""
    counts = {r["touchpoint_id"]: r for r in beats.iter_rows(named=True)}
    expected = up = 0
    fast_weighted = 0.0
    for w in windows.iter_rows(named=True):
        n = int(w["expected"])
        c = counts.get(w["touchpoint_id"], {})
        expected += n
        up += int(c.get("up") or 0)
        fast_weighted += n * (ratio(int(c.get("fast") or 0), int(c.get("timed") or 0)) or 0.0)
    uptime = ratio(up, expected)
    fast = ratio(fast_weighted, expected)
    score = 100 * (0.7 * (uptime or 0.0) + 0.3 * (fast or 0.0))
    return Indicator(
        "connectivity",
        score,
        (
            Component("uptime", uptime),
            Component("fast", fast),
            Component("intervals", expected, "count"),
        ),
        {"uptime": _pct(uptime), "fast": _pct(fast), "score": _num(score)},
    )


def quality(counts: Mapping[str, Any]) -> Indicator:
    accepted, rejected = int(counts.get("accepted") or 0), int(counts.get("rejected") or 0)
    identified, attributed = int(counts.get("identified") or 0), int(counts.get("attributed") or 0)
    valid = ratio(accepted, accepted + rejected)
    matched = ratio(attributed, identified)
    prompt = ratio(int(counts.get("prompt") or 0), accepted)
    score = 100 * ((valid or 0.0) + (matched or 0.0) + (prompt or 0.0)) / 3
    return Indicator(
        "quality",
        score,
        (
            Component("valid", valid),
            Component("matched", matched),
            Component("prompt", prompt),
            Component("events", accepted, "count"),
            Component("rejected", rejected, "count"),
        ),
        {"valid": _pct(valid), "matched": _pct(matched), "prompt": _pct(prompt), "score": _num(score)},
    )


def connections(tps: pl.DataFrame, day: date, tz: str) -> tuple[Connection, ...]:
    """Touchpoints whose first event fell in the 12 months up to ``day`` (local), fastest first."""
    first_day = _year_before(day)
    lo, hi = local_midnight(first_day, tz), local_midnight(day + timedelta(days=1), tz)
    out = []
    for r in tps.iter_rows(named=True):
        first, created = r["first_event_at"], r["created_at"]
        if first is None or created is None or not (lo <= first < hi):
            continue
        days = max(0.0, (first - created).total_seconds() / 86400)
        out.append(
            Connection(
                r["touchpoint_id"],
                r["code"] or "",
                r["name"] or "",
                r["name_en"] or "",
                r["kind"] or "",
                r["type"] or "",
                created,
                first,
                days,
            )
        )
    return tuple(sorted(out, key=lambda c: (c.days, c.code)))


def _year_before(day: date) -> date:
    """The first day of the 12 months ending on ``day`` (2026-12-05 -> 2025-12-06)."""
    try:
        return day.replace(year=day.year - 1) + timedelta(days=1)
    except ValueError:  # 29 February
        return date(day.year - 1, 3, 1)


def extensibility(conns: Sequence[Connection]) -> Indicator:
    median = statistics.median(c.days for c in conns) if conns else None
    speed = _clamp(1 - (median - 1) / 29) if median is not None else 0.0
    kinds = len({c.kind for c in conns})
    score = 100 * (0.7 * speed + 0.3 * min(1.0, kinds / KINDS_TARGET))
    return Indicator(
        "extensibility",
        score,
        (
            Component("median_days", median, "days"),
            Component("speed", speed if median is not None else None),
            Component("kinds", kinds, "count"),
            Component("connected", len(conns), "count"),
        ),
        {"median_days": _num(median), "kinds": str(kinds), "score": _num(score)},
    )


def cost_return(
    tps: pl.DataFrame, day: date, start: date, attributed: pl.DataFrame, sales_fen: int
) -> tuple[Indicator, tuple[TypeReturn, ...]]:
    """``attributed``: (touchpoint_id, orders, revenue) of the point; cost pro rata to the days."""
    elapsed = (day - start).days + 1
    in_month = month_end(start).day
    active = _active(tps, day)
    types = dict(zip(tps["touchpoint_id"].to_list(), tps["type"].to_list(), strict=True))
    cost_by: dict[str, int] = {}
    count_by: dict[str, int] = {}
    for r in active.iter_rows(named=True):
        month_cost = int(r["cost_fen_month"] or 0)
        # pro rata, rounded half up in integer fen
        share = (month_cost * elapsed * 2 + in_month) // (2 * in_month)
        cost_by[r["type"] or ""] = cost_by.get(r["type"] or "", 0) + share
        count_by[r["type"] or ""] = count_by.get(r["type"] or "", 0) + 1
    revenue_by: dict[str, int] = {}
    orders_by: dict[str, int] = {}
    for r in attributed.iter_rows(named=True):
        t = types.get(r["touchpoint_id"], "") or ""
        revenue_by[t] = revenue_by.get(t, 0) + int(r["revenue"] or 0)
        orders_by[t] = orders_by.get(t, 0) + int(r["orders"] or 0)
    revenue, cost = sum(revenue_by.values()), sum(cost_by.values())
    roi = ratio(revenue, cost)
    # No cost at all: any attributed revenue is an unbounded return.
    no_cost_score = 100.0 if revenue > 0 else 0.0
    score = no_cost_score if roi is None else 100 * min(1.0, roi / ROI_TARGET)
    kinds = [t for t in TOUCHPOINT_TYPES if t in cost_by or t in revenue_by]
    kinds += sorted((set(cost_by) | set(revenue_by)) - set(TOUCHPOINT_TYPES))
    returns = tuple(
        TypeReturn(
            t,
            count_by.get(t, 0),
            orders_by.get(t, 0),
            revenue_by.get(t, 0),
            cost_by.get(t, 0),
            ratio(revenue_by.get(t, 0), cost_by.get(t, 0)),
        )
        for t in kinds
    )
    return (
        Indicator(
            "cost_return",
            score,
            (
                Component("revenue", revenue, "money"),
                Component("cost", cost, "money"),
                Component("roi", roi, "ratio"),
                Component("orders", sum(orders_by.values()), "count"),
                Component("sales_share", ratio(revenue, sales_fen)),
            ),
            {"revenue": _yuan(revenue), "cost": _yuan(cost), "roi": _num(roi, 2), "score": _num(score)},
        ),
        returns,
    )


# ------------------------------------------------------------------ the lake reads


def _points_frame(points: Sequence[date]) -> pl.DataFrame:
    return pl.DataFrame(
        {"point": list(range(len(points))), "d0": [month_start(p) for p in points], "d1": list(points)},
        schema={"point": pl.Int32(), "d0": pl.Date(), "d1": pl.Date()},
    )


def _windows(tps: pl.DataFrame, points: Sequence[date], now: datetime, tz: str) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for i, point in enumerate(points):
        m0 = local_midnight(month_start(point), tz)
        m1 = min(local_midnight(point + timedelta(days=1), tz), now)
        for r in _active(tps, point).iter_rows(named=True):
            iv = int(r["heartbeat_interval_s"] or 0)
            window = expected_window(max(m0, local_midnight(r["connected_on"], tz)), m1, iv)
            if window is not None:
                rows.append(
                    {
                        "point": i,
                        "touchpoint_id": r["touchpoint_id"],
                        "w_start": window[0],
                        "w_cut": window[1],
                        "iv": iv,
                        "expected": window[2],
                    }
                )
    return pl.DataFrame(rows, schema=WINDOW_SCHEMA)


def _quality_counts(con: duckdb.DuckDBPyConnection, pts: pl.DataFrame) -> dict[int, dict[str, Any]]:
    events = fetch(
        con,
        f"""
        SELECT p.point, count(*) AS accepted,
               count(*) FILTER (WHERE e.identified) AS identified,
               count(*) FILTER (WHERE e.identified AND e.member_id IS NOT NULL) AS attributed,
               count(*) FILTER (WHERE epoch(e.received_at - e.occurred_at) <= {PROMPT_S}) AS prompt
        FROM pts p JOIN events e ON e.day BETWEEN p.d0 AND p.d1
        WHERE e.touchpoint_id IS NOT NULL GROUP BY 1
        """,
        pts=pts,
    )
    rejected = fetch(
        con,
        """
        SELECT p.point, count(*) AS rejected FROM pts p JOIN rejections r ON r.day BETWEEN p.d0 AND p.d1
        WHERE r.touchpoint_id IS NOT NULL GROUP BY 1
        """,
        pts=pts,
    )
    out: dict[int, dict[str, Any]] = {r["point"]: dict(r) for r in events.iter_rows(named=True)}
    for r in rejected.iter_rows(named=True):
        out.setdefault(r["point"], {})["rejected"] = r["rejected"]
    return out


def _attribution(con: duckdb.DuckDBPyConnection, pts: pl.DataFrame) -> tuple[pl.DataFrame, dict[int, int]]:
    """Per point: (touchpoint_id, orders, revenue) by last touch; and every order's net sales."""
    orders_sql = """
        SELECT p.point, s.order_id, any_value(s.member_id) AS member_id, min(s.placed_at) AS placed_at,
               sum(s.net_fen) AS net_fen
        FROM pts p JOIN sales s ON s.day BETWEEN p.d0 AND p.d1
        WHERE s.paid_at IS NOT NULL AND s.status <> 'cancelled'
        GROUP BY 1, 2
    """
    attributed = fetch(
        con,
        f"""
        WITH orders AS ({orders_sql}),
        touches AS (
            SELECT o.point, o.order_id, o.net_fen, e.touchpoint_id,
                   row_number() OVER (PARTITION BY o.point, o.order_id
                                      ORDER BY e.occurred_at DESC, e.event_pk DESC) AS rn
            FROM orders o JOIN events e
              ON e.member_id = o.member_id AND e.touchpoint_id IS NOT NULL
             AND e.occurred_at <= o.placed_at
             AND e.occurred_at > o.placed_at - INTERVAL {ATTRIBUTION_DAYS} DAY
             AND e.day BETWEEN o.placed_at::DATE - {ATTRIBUTION_DAYS + 1} AND o.placed_at::DATE + 1
            WHERE o.member_id IS NOT NULL
        )
        SELECT point, touchpoint_id, count(*) AS orders, sum(net_fen) AS revenue
        FROM touches WHERE rn = 1 GROUP BY 1, 2
        """,
        pts=pts,
    )
    totals = fetch(con, f"SELECT point, sum(net_fen) AS net FROM ({orders_sql}) GROUP BY 1", pts=pts)
    return attributed, {int(r["point"]): int(r["net"] or 0) for r in totals.iter_rows(named=True)}


def _evaluate(lake: Lake, points: Sequence[date], now: datetime, tz: str) -> list[Snapshot]:
    pts = _points_frame(points)
    with lake.connect() as con:
        tps = fetch(con, "SELECT * FROM touchpoints ORDER BY code")
        stores = [
            int(s)
            for s in fetch(con, "SELECT location_id FROM locations WHERE type = 'store'")["location_id"].to_list()
        ]
        windows = _windows(tps, points, now, tz)
        beats = interval_uptime(con, windows)
        counts = _quality_counts(con, pts)
        attributed, sales = _attribution(con, pts)
    out = []
    for i, point in enumerate(points):
        cov, factors = coverage(tps, stores, point)
        conns = connections(tps, point, tz)
        cost, returns = cost_return(
            tps, point, month_start(point), attributed.filter(pl.col("point") == i), sales.get(i, 0)
        )
        indicators = (
            cov,
            connectivity(windows.filter(pl.col("point") == i), beats.filter(pl.col("point") == i)),
            quality(counts.get(i, {})),
            extensibility(conns),
            cost,
        )
        out.append(Snapshot(point, month_start(point), indicators, factors, conns, returns))
    return out


def maturity(
    lake: Lake, as_of: date, months: int = 12, *, now: datetime | None = None, tz: str = DEFAULT_TZ
) -> MaturityReport:
    """The indicators as of ``as_of``, ``COMPARE_MONTHS`` months earlier, and ``months`` month-ends."""
    now = now or datetime.now(UTC)
    assert now.tzinfo is not None
    assert months >= 1
    points = trend_points(as_of, months)
    earlier_day = month_end(add_months(as_of, -COMPARE_MONTHS))
    extra = [] if earlier_day in points else [earlier_day]
    snapshots = retrying(lambda: _evaluate(lake, [*points, *extra], now, tz))
    by_day = {s.as_of: s for s in snapshots}
    return MaturityReport(
        as_of=as_of,
        months=months,
        current=by_day[as_of],
        earlier=by_day[earlier_day],
        trend=tuple(snapshots[: len(points)]),
        lake_empty=not lake.files("touchpoints") and not lake.files("events"),
    )
