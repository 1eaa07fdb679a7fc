"""The member dashboard (会员看板): growth, buyers, RFM and the 4A funnel, read from the lake.

Which members: the active members of the ``members`` snapshot who joined on or before the end
date; a channel filter keeps those enrolled in the channel, a store filter (and a store manager's
scope) those enrolled at or preferring one of the stores.

* Growth: members who joined per day, or per week (Monday-based) when the period is longer than
  92 days, or per month beyond 366 days, by enrolment channel; the cumulative line counts every
  member in scope who joined on or before each bucket's last day (members from before the period
  included).
* Buyers and sales come from the sales lines of the period (paid, not cancelled, net of returns)
  with the channel, store and category filters: an active buyer is a member with at least one
  order whose lines still hold a unit; a repeat buyer has two or more such orders in the period;
  members' share of sales = net sales of orders with a member ÷ all net sales.
* RFM: segments and the recency × frequency grid come from the snapshot's scores (as of the last
  nightly scoring, not the period).
* The 4A funnel: see ``zhongtai.analytics.funnel``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.funnel import (
    DEFAULT_WINDOW_DAYS,
    Bind,
    funnel,
    member_scope_where,
    paid_sales_where,
    rate,
)
from zhongtai.analytics.lake import Lake
from zhongtai.analytics.schemas_members import (
    FunnelOut,
    FunnelStepOut,
    Granularity,
    GrowthBucketOut,
    MemberKpisOut,
    MembersDashboardOut,
    SegmentOut,
)

DAILY_UP_TO_DAYS = 92
WEEKLY_UP_TO_DAYS = 366


def granularity_for(days: int) -> Granularity:
    if days <= DAILY_UP_TO_DAYS:
        return "day"
    return "week" if days <= WEEKLY_UP_TO_DAYS else "month"


def bucket_of(day: date, granularity: Granularity) -> date:
    """The first day of the bucket holding ``day``."""
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def buckets(start: date, end: date, granularity: Granularity) -> list[date]:
    out: list[date] = []
    day = start
    while day <= end:
        key = bucket_of(day, granularity)
        if not out or out[-1] != key:
            out.append(key)
        day += timedelta(days=1)
    return out


def _members_where(f: DashboardFilters, b: Bind) -> str:
    conditions = ["(joined_day IS NULL OR joined_day <= " + b("end", f.end) + ")", *member_scope_where(f, b)]
    return " AND ".join(conditions)


@dataclass(frozen=True)
class _Buyers:
    buyers: int
    repeat: int
    member_fen: int
    all_fen: int


def _buyers(lake: Lake, f: DashboardFilters) -> _Buyers:
    b = Bind()
    where = " AND ".join([*paid_sales_where(f, b), f"day BETWEEN {b('start', f.start)} AND {b('end', f.end)}"])
    row = lake.query(
        f"""
        WITH lines AS (SELECT member_id, order_id, net_quantity, net_fen FROM sales WHERE {where}),
             orders AS (
                SELECT member_id, order_id FROM lines WHERE member_id IS NOT NULL
                GROUP BY member_id, order_id HAVING SUM(net_quantity) > 0
             ),
             per_member AS (SELECT member_id, COUNT(*) AS n FROM orders GROUP BY member_id)
        SELECT (SELECT COUNT(*) FROM per_member) AS buyers,
               (SELECT COUNT(*) FROM per_member WHERE n >= 2) AS repeat,
               (SELECT COALESCE(SUM(net_fen), 0) FROM lines WHERE member_id IS NOT NULL) AS member_fen,
               (SELECT COALESCE(SUM(net_fen), 0) FROM lines) AS all_fen
        """,
        b.params,
    ).row(0, named=True)
    return _Buyers(int(row["buyers"]), int(row["repeat"]), int(row["member_fen"]), int(row["all_fen"]))


def _new_members(lake: Lake, f: DashboardFilters, start: date, end: date) -> int:
    b = Bind()
    where = " AND ".join(["joined_day BETWEEN " + b("from", start) + " AND " + b("to", end), *member_scope_where(f, b)])
    return int(lake.query(f"SELECT COUNT(*) AS n FROM members WHERE {where}", b.params)["n"][0])


def _kpis(lake: Lake, f: DashboardFilters) -> MemberKpisOut:
    b = Bind()
    total = int(lake.query(f"SELECT COUNT(*) AS n FROM members WHERE {_members_where(f, b)}", b.params)["n"][0])
    prev = f.previous
    now_b, prev_b = _buyers(lake, f), _buyers(lake, prev)
    return MemberKpisOut(
        total_members=total,
        new_members=_new_members(lake, f, f.start, f.end),
        new_members_previous=_new_members(lake, f, prev.start, prev.end),
        active_buyers=now_b.buyers,
        active_buyers_previous=prev_b.buyers,
        repeat_buyers=now_b.repeat,
        repeat_rate=rate(now_b.repeat, now_b.buyers),
        repeat_rate_previous=rate(prev_b.repeat, prev_b.buyers),
        member_sales_fen=now_b.member_fen,
        sales_fen=now_b.all_fen,
        member_share=rate(now_b.member_fen, now_b.all_fen),
        member_share_previous=rate(prev_b.member_fen, prev_b.all_fen),
    )


def _growth(lake: Lake, f: DashboardFilters) -> tuple[Granularity, list[str], list[GrowthBucketOut]]:
    granularity = granularity_for(f.days)
    b = Bind()
    scope = " AND ".join(member_scope_where(f, b)) or "TRUE"
    joined = lake.query(
        f"""
        SELECT joined_day, COALESCE(enrolled_channel, '') AS channel, COUNT(*) AS n FROM members
        WHERE {scope} AND joined_day BETWEEN {b("start", f.start)} AND {b("end", f.end)}
        GROUP BY ALL
        """,
        b.params,
    )
    b = Bind()
    scope = " AND ".join(member_scope_where(f, b)) or "TRUE"
    before = int(
        lake.query(
            f"SELECT COUNT(*) AS n FROM members WHERE {scope} "
            f"AND (joined_day IS NULL OR joined_day < {b('start', f.start)})",
            b.params,
        )["n"][0]
    )
    keys = buckets(f.start, f.end, granularity)
    per_bucket: dict[date, dict[str, int]] = {k: {} for k in keys}
    channel_totals: dict[str, int] = {}
    for day, channel, n in joined.iter_rows():
        counts = per_bucket[bucket_of(day, granularity)]
        counts[channel] = counts.get(channel, 0) + int(n)
        channel_totals[channel] = channel_totals.get(channel, 0) + int(n)
    channels = sorted(channel_totals, key=lambda c: (-channel_totals[c], c))
    out: list[GrowthBucketOut] = []
    running = before
    for key in keys:
        counts = per_bucket[key]
        new = sum(counts.values())
        running += new
        out.append(
            GrowthBucketOut(
                start=key, new_by_channel={c: counts.get(c, 0) for c in channels}, new_members=new, cumulative=running
            )
        )
    return granularity, channels, out


def _rfm(lake: Lake, f: DashboardFilters) -> tuple[list[SegmentOut], list[list[int]], int]:
    b = Bind()
    where = _members_where(f, b)
    segments = lake.query(
        f"""
        SELECT COALESCE(segment, '') AS segment, COUNT(*) AS n, COALESCE(AVG(spend_fen), 0) AS avg_fen
        FROM members WHERE {where} GROUP BY ALL ORDER BY n DESC, segment
        """,
        b.params,
    )
    scored = [r for r in segments.iter_rows(named=True) if r["segment"]]
    scored_total = sum(int(r["n"]) for r in scored)
    unscored = sum(int(r["n"]) for r in segments.iter_rows(named=True) if not r["segment"])
    out = [
        SegmentOut(
            segment=r["segment"],
            members=int(r["n"]),
            share=rate(int(r["n"]), scored_total),
            avg_spend_fen=round(float(r["avg_fen"])),
        )
        for r in scored
    ]
    b = Bind()
    cells = lake.query(
        f"""
        SELECT r_score, f_score, COUNT(*) AS n FROM members
        WHERE {_members_where(f, b)} AND r_score BETWEEN 1 AND 5 AND f_score BETWEEN 1 AND 5
        GROUP BY ALL
        """,
        b.params,
    )
    grid = [[0] * 5 for _ in range(5)]
    for r, fr, n in cells.iter_rows():
        grid[int(r) - 1][int(fr) - 1] = int(n)
    return out, grid, unscored


def members_dashboard(
    lake: Lake, filters: DashboardFilters, *, window_days: int = DEFAULT_WINDOW_DAYS
) -> MembersDashboardOut:
    """Every figure of the member dashboard for these filters (see the module docstring)."""
    granularity, channels, growth = _growth(lake, filters)
    segments, grid, unscored = _rfm(lake, filters)
    result = funnel(lake, filters, window_days=window_days)
    return MembersDashboardOut(
        start=filters.start,
        end=filters.end,
        lake_empty=not lake.files("members") and not lake.files("sales"),
        kpis=_kpis(lake, filters),
        granularity=granularity,
        channels=channels,
        growth=growth,
        segments=segments,
        rfm_grid=grid,
        unscored=unscored,
        funnel=FunnelOut(
            window_days=result.window_days,
            start_day=result.start_day,
            end_day=result.end_day,
            population=result.population,
            steps=[
                FunnelStepOut(stage=s.stage, members=s.members, reached=s.reached, conversion=s.conversion)
                for s in result.steps
            ],
            matrix=result.matrix,
            moved_up=result.moved_up,
            stayed=result.stayed,
            moved_down=result.moved_down,
        ),
    )
