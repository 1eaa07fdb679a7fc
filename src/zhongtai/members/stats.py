"""Member statistics and RFM (会员统计与 RFM 分层).

``MemberStats`` keeps each member's order aggregates: kept up to date one order at a time by the
member center's order consumer (``record_order``, ``record_refund``), rebuilt from the order center
after a merge or a split (``recompute``), and scored nightly (``score_rfm``, the ``members.rfm``
schedule).

* Orders count unless cancelled; spend is what was paid, ``refunded_fen`` what went back. The
  monetary value of RFM and the tag fields ``spend_fen`` / ``spend_12m_fen`` are net of refunds.
* ``spend_12m_fen``: paid minus refunded in the current and the 11 previous calendar months
  (Asia/Shanghai), summed from ``spend_by_month`` so the nightly job lets it decay without reading
  the orders again.
* RFM: recency (days since the last order), frequency (orders) and monetary (net spend) each
  scored 1..5 by quintile over every active member with orders (ties share a score), then the
  classic eight segments by whether each score is above its mean over the same members
  (``SEGMENTS``).
* Preferred store: the store with the most POS and click & collect orders (ties: the most recent).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from zhongtai.db import utcnow
from zhongtai.errors import not_found
from zhongtai.members import repository as repo
from zhongtai.members.models import Member, MemberStats
from zhongtai.members.schemas_engagement import StatsOut
from zhongtai.orders import service as orders

TZ = ZoneInfo("Asia/Shanghai")
STORE_MODES = frozenset({"pos", "click_collect"})
# Months kept in spend_by_month: the 12-month window plus the month before it.
MONTHS_KEPT = 13
RECENT_ORDERS_KEPT = 20


@dataclass(frozen=True, slots=True)
class Segment:
    code: str
    name_zh: str
    name_en: str
    # Whether recency, frequency and monetary are above their mean.
    r_high: bool
    f_high: bool
    m_high: bool


# The classic RFM eight: 重要 (important) when monetary is above the mean, 一般 (general) when not.
SEGMENTS: dict[str, Segment] = {
    s.code: s
    for s in (
        Segment("champions", "重要价值客户", "Champions", True, True, True),
        Segment("potential", "重要发展客户", "High-value potential", True, False, True),
        Segment("at_risk", "重要保持客户", "High-value at risk", False, True, True),
        Segment("cant_lose", "重要挽留客户", "Can't lose them", False, False, True),
        Segment("loyal", "一般价值客户", "Loyal, low spend", True, True, False),
        Segment("newcomers", "一般发展客户", "New or occasional", True, False, False),
        Segment("hibernating", "一般保持客户", "Hibernating", False, True, False),
        Segment("lost", "一般挽留客户", "Lost", False, False, False),
    )
}
_BY_FLAGS = {(s.r_high, s.f_high, s.m_high): s.code for s in SEGMENTS.values()}


def segment_of(r_high: bool, f_high: bool, m_high: bool) -> str:
    return _BY_FLAGS[(r_high, f_high, m_high)]


# ---------------------------------------------------------------- pure parts


def month_key(at: datetime) -> str:
    return at.astimezone(TZ).strftime("%Y-%m")


def _month_index(key: str) -> int:
    year, month = key.split("-")
    return int(year) * 12 + int(month) - 1


def spend_12m(by_month: dict[str, Any], now: datetime) -> int:
    """Net spend of the current and the 11 previous calendar months (Asia/Shanghai)."""
    first = _month_index(month_key(now)) - 11
    return max(0, sum(int(v) for k, v in by_month.items() if _month_index(k) >= first))


def _pruned(by_month: dict[str, int]) -> dict[str, int]:
    return {k: by_month[k] for k in sorted(by_month)[-MONTHS_KEPT:]}


def preferred_store(store_orders: dict[str, Any], last_at: dict[str, datetime] | None = None) -> int | None:
    """The store with the most store orders; ties go to the most recent (when known), then the
    lowest id, so reruns agree."""
    if not store_orders:
        return None
    last_at = last_at or {}
    floor = datetime.min.replace(tzinfo=TZ)

    def rank(key: str) -> tuple[int, datetime, int]:
        return (int(store_orders[key]), last_at.get(key, floor), -int(key))

    return int(max(store_orders, key=rank))


def _still_preferred(store_orders: dict[str, Any], current: int | None) -> int | None:
    """The preferred store without order dates (the nightly job): the current one while it is
    among the stores with the most orders (the tie was broken by recency when it was set)."""
    if not store_orders:
        return None
    top = max(int(v) for v in store_orders.values())
    if current is not None and int(store_orders.get(str(current), 0)) == top:
        return current
    return preferred_store(store_orders)


def _quintile(column: str, *, descending: bool = False) -> pl.Expr:
    """1..5 by rank: the top fifth scores 5. Ties share the average rank, so a population where
    everyone is alike scores 3 throughout."""
    ranked = (-pl.col(column) if descending else pl.col(column)).rank("average")
    return (ranked * 5 / pl.len()).ceil().clip(1, 5).cast(pl.Int32)


def score_frame(frame: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """RFM scores and segments.

    In: ``member_id``, ``last_order_at`` (UTC), ``orders_count``, ``monetary_fen``, one row per
    member with orders. Out: ``member_id``, ``recency_days``, ``r_score``, ``f_score``,
    ``m_score``, ``segment``.
    """
    if frame.is_empty():
        return pl.DataFrame(
            schema={
                "member_id": pl.Int64,
                "recency_days": pl.Int64,
                "r_score": pl.Int32,
                "f_score": pl.Int32,
                "m_score": pl.Int32,
                "segment": pl.Utf8,
            }
        )
    now_utc = now.astimezone(UTC)
    scored = frame.with_columns(
        recency_days=(pl.lit(now_utc, dtype=pl.Datetime("us", "UTC")) - pl.col("last_order_at"))
        .dt.total_days()
        .clip(lower_bound=0)
        .cast(pl.Int64)
    ).with_columns(
        r_score=_quintile("recency_days", descending=True),
        f_score=_quintile("orders_count"),
        m_score=_quintile("monetary_fen"),
    )
    high = scored.select(
        (pl.col("r_score") > pl.col("r_score").mean()).alias("r_high"),
        (pl.col("f_score") > pl.col("f_score").mean()).alias("f_high"),
        (pl.col("m_score") > pl.col("m_score").mean()).alias("m_high"),
    )
    segments = [segment_of(r, f, m) for r, f, m in high.iter_rows()]
    return scored.select("member_id", "recency_days", "r_score", "f_score", "m_score").with_columns(
        segment=pl.Series(segments, dtype=pl.Utf8)
    )


# ---------------------------------------------------------------- per order


def _new_stats(member_id: int) -> MemberStats:
    return MemberStats(
        member_id=member_id,
        orders_count=0,
        spend_fen=0,
        refunded_fen=0,
        spend_12m_fen=0,
        channels=[],
        spend_by_month={},
        store_orders={},
        recent_orders=[],
        r_score=0,
        f_score=0,
        m_score=0,
        segment="",
    )


def _stats_for_update(session: Session, member_id: int) -> MemberStats:
    """The survivor's stats row, created if missing, under the member's row lock (so two events
    for one member never both create it)."""
    member = repo.lock(session, member_id)
    if member is None:
        raise not_found("member", member_id)
    stats = session.get(MemberStats, member.id)
    if stats is None:
        stats = _new_stats(member.id)
        session.add(stats)
    return stats


def record_order(
    session: Session,
    member_id: int,
    *,
    order_number: str,
    channel_code: str,
    paid_fen: int,
    placed_at: datetime,
    location_id: int | None = None,
    delivery_mode: str = "",
) -> bool:
    """Counts one order (the consumer calls it once the order is the member's). ``location_id``
    with a ``pos`` or ``click_collect`` ``delivery_mode``: the store, for the preferred store.
    Returns False (and changes nothing) for an order already counted (a replayed event)."""
    stats = _stats_for_update(session, member_id)
    if order_number in (stats.recent_orders or []):
        return False
    stats.orders_count += 1
    stats.spend_fen += paid_fen
    by_month = {k: int(v) for k, v in (stats.spend_by_month or {}).items()}
    key = month_key(placed_at)
    by_month[key] = by_month.get(key, 0) + paid_fen
    stats.spend_by_month = _pruned(by_month)
    stats.spend_12m_fen = spend_12m(stats.spend_by_month, max(utcnow(), placed_at))
    if stats.first_order_at is None or placed_at < stats.first_order_at:
        stats.first_order_at = placed_at
    if stats.last_order_at is None or placed_at > stats.last_order_at:
        stats.last_order_at = placed_at
    if channel_code and channel_code not in (stats.channels or []):
        stats.channels = [*(stats.channels or []), channel_code]
    stats.recent_orders = [*(stats.recent_orders or []), order_number][-RECENT_ORDERS_KEPT:]
    if location_id is not None and delivery_mode in STORE_MODES:
        counts = {k: int(v) for k, v in (stats.store_orders or {}).items()}
        counts[str(location_id)] = counts.get(str(location_id), 0) + 1
        stats.store_orders = counts
        member = session.get(Member, stats.member_id)
        best = preferred_store(counts, {str(location_id): placed_at})
        if member is not None and best is not None:
            member.preferred_location_id = best
    session.flush()
    return True


def record_refund(session: Session, member_id: int, *, refund_fen: int) -> None:
    """A refund: lifetime refunds grow; the 12-month spend drops by it, taken from the latest months
    first (exact figures come back with ``recompute``)."""
    if refund_fen <= 0:
        return
    stats = _stats_for_update(session, member_id)
    stats.refunded_fen += refund_fen
    by_month = {k: int(v) for k, v in (stats.spend_by_month or {}).items()}
    left = refund_fen
    for key in sorted(by_month, reverse=True):
        take = min(left, max(0, by_month[key]))
        by_month[key] -= take
        left -= take
        if left == 0:
            break
    stats.spend_by_month = by_month
    stats.spend_12m_fen = spend_12m(by_month, utcnow())
    session.flush()


def recompute(session: Session, member_id: int) -> None:
    """Rebuilds one member's statistics from the order center (after a merge, a split or an
    erasure). A member that no longer exists on its own (merged) loses its row; so do members
    merged into this one. RFM scores stay until the nightly scoring."""
    member = session.get(Member, member_id)
    if member is None:
        raise not_found("member", member_id)
    absorbed = select(Member.id).where(Member.merged_into_id == member.id)
    session.execute(delete(MemberStats).where(MemberStats.member_id.in_(absorbed)))
    stats = session.get(MemberStats, member.id)
    if member.status == "merged":
        if stats is not None:
            session.delete(stats)
            session.flush()
        return
    counted = [o for o in orders.orders_of_members(session, [member.id]) if o.status != "cancelled"]
    if not counted:
        if stats is not None:
            session.delete(stats)
            session.flush()
        return
    if stats is None:
        stats = _new_stats(member.id)
        session.add(stats)
    _fill(stats, counted, utcnow())
    best = preferred_store(stats.store_orders, _last_store_order(counted))
    if best is not None:
        member.preferred_location_id = best
    session.flush()


def _fill(stats: MemberStats, counted: Sequence[orders.MemberOrder], now: datetime) -> None:
    newest_first = sorted(counted, key=lambda o: o.placed_at, reverse=True)
    by_month: Counter[str] = Counter()
    for o in counted:
        by_month[month_key(o.placed_at)] += o.paid_fen - o.refunded_fen
    stores = Counter(
        str(o.store_location_id) for o in counted if o.delivery_mode in STORE_MODES and o.store_location_id is not None
    )
    channels: list[str] = []
    for o in reversed(newest_first):
        if o.channel_code and o.channel_code not in channels:
            channels.append(o.channel_code)
    stats.orders_count = len(counted)
    stats.spend_fen = sum(o.paid_fen for o in counted)
    stats.refunded_fen = sum(o.refunded_fen for o in counted)
    stats.spend_by_month = _pruned(dict(by_month))
    stats.spend_12m_fen = spend_12m(dict(by_month), now)
    stats.first_order_at = newest_first[-1].placed_at
    stats.last_order_at = newest_first[0].placed_at
    stats.channels = channels
    stats.store_orders = dict(stores)
    stats.recent_orders = [o.number for o in newest_first[:RECENT_ORDERS_KEPT]][::-1]


def _last_store_order(counted: Iterable[orders.MemberOrder]) -> dict[str, datetime]:
    last: dict[str, datetime] = {}
    for o in counted:
        if o.delivery_mode in STORE_MODES and o.store_location_id is not None:
            key = str(o.store_location_id)
            if key not in last or o.placed_at > last[key]:
                last[key] = o.placed_at
    return last


# ---------------------------------------------------------------- nightly


def score_rfm(session: Session, now: datetime) -> int:
    """Scores every active member with orders (R, F, M 1..5 and the segment), lets the 12-month
    spend decay, refreshes preferred stores, and clears the scores of members without orders or no
    longer active. Writes only rows that change. Returns how many members were scored."""
    rows = session.execute(
        select(
            MemberStats.member_id,
            Member.status,
            Member.preferred_location_id,
            MemberStats.orders_count,
            MemberStats.spend_fen,
            MemberStats.refunded_fen,
            MemberStats.last_order_at,
            MemberStats.spend_by_month,
            MemberStats.store_orders,
            MemberStats.spend_12m_fen,
            MemberStats.r_score,
            MemberStats.f_score,
            MemberStats.m_score,
            MemberStats.segment,
        )
        .join(Member, Member.id == MemberStats.member_id)
        .order_by(MemberStats.member_id)
    ).all()
    current: dict[int, dict[str, Any]] = {}
    scoreable: list[tuple[int, datetime, int, int]] = []
    preferred_changes: list[dict[str, Any]] = []
    for row in rows:
        current[row.member_id] = {
            "r_score": row.r_score,
            "f_score": row.f_score,
            "m_score": row.m_score,
            "segment": row.segment,
            "spend_12m_fen": row.spend_12m_fen,
        }
        active = row.status == "active"
        if active and row.orders_count > 0 and row.last_order_at is not None:
            scoreable.append((row.member_id, row.last_order_at, row.orders_count, row.spend_fen - row.refunded_fen))
        best = _still_preferred(row.store_orders or {}, row.preferred_location_id) if active else None
        if best is not None and best != row.preferred_location_id:
            preferred_changes.append({"id": row.member_id, "preferred_location_id": best})
    frame = pl.DataFrame(
        scoreable,
        schema={
            "member_id": pl.Int64,
            "last_order_at": pl.Datetime("us", "UTC"),
            "orders_count": pl.Int64,
            "monetary_fen": pl.Int64,
        },
        orient="row",
    )
    scored = {r[0]: r for r in score_frame(frame, now).iter_rows()}
    changes: list[dict[str, Any]] = []
    for row in rows:
        hit = scored.get(row.member_id)
        new: dict[str, Any] = {
            "r_score": hit[2] if hit else 0,
            "f_score": hit[3] if hit else 0,
            "m_score": hit[4] if hit else 0,
            "segment": hit[5] if hit else "",
            "spend_12m_fen": spend_12m(row.spend_by_month or {}, now),
        }
        if new != current[row.member_id]:
            changes.append({"member_id": row.member_id, **new, "scored_at": now})
    if changes:
        session.execute(update(MemberStats), changes)
    if preferred_changes:
        session.execute(update(Member), preferred_changes)
    session.flush()
    return len(scored)


# ---------------------------------------------------------------- reads


def member_stats(session: Session, member_id: int) -> StatsOut:
    """The card's totals and RFM (zeros for a member without orders)."""
    stats = session.get(MemberStats, member_id)
    if stats is None:
        return StatsOut()
    segment = SEGMENTS.get(stats.segment)
    return StatsOut(
        orders_count=stats.orders_count,
        spend_fen=stats.spend_fen,
        refunded_fen=stats.refunded_fen,
        spend_12m_fen=stats.spend_12m_fen,
        first_order_at=stats.first_order_at,
        last_order_at=stats.last_order_at,
        channels=list(stats.channels or []),
        r_score=stats.r_score,
        f_score=stats.f_score,
        m_score=stats.m_score,
        segment=stats.segment,
        segment_zh=segment.name_zh if segment else "",
        segment_en=segment.name_en if segment else "",
        scored_at=stats.scored_at,
    )


def segment_counts(session: Session) -> dict[str, int]:
    """Active members per segment (for the console's overview)."""
    rows = session.execute(
        select(MemberStats.segment, func.count())
        .join(Member, Member.id == MemberStats.member_id)
        .where(Member.status == "active", MemberStats.segment != "")
        .group_by(MemberStats.segment)
    ).all()
    return {segment: int(count) for segment, count in rows}
