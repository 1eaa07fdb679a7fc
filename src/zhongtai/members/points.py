"""The points ledger and member tiers: one balance for every channel.

**The ledger.** ``PointsEntry`` rows are append-only and signed; their sum is the member's balance
(``Member.points_balance`` caches it, changed only under the member's row lock). Credits are *lots*
(earn entries, positive adjustments, reversals of redemptions whose lots are gone) with an expiry and
what is left of them (``remaining``); debits (redeem, expire, clawback, negative adjustments) take
points from the lots whose expiry comes first, and say which (``consumed``), so a voided redemption
gives back exactly the lots it took. Invariant: while the balance is positive the lots hold it
exactly; a clawback may take more than is left (the balance goes negative, the lots are empty), and
the next credits pay that debt before they fill a lot. A negative balance blocks redemption.

**Idempotency.** Every entry has a unique ``(source, source_ref)``: ``("order", <order number>)``
for an earn, ``("refund", "<order>:<refund>")`` for a clawback, ``("redeem", "<channel>:<reference>")``
for a redemption, ``("reverse", <redeem entry id>)``, ``("expire", <lot id>)``. The lookup happens
after the member's row lock, so concurrent repeats see the first one and never write a second.

**Earning.** Points = paid fen (net of refunds already known) × the tier's earn rate / 10,000,
rounded down once (earn rate 100 = one point per yuan). A refund that arrives before the points were
earned is recorded (0 points, its fen) so the earn counts the order net of it; a refund afterwards
takes back the points in proportion, cumulatively, so the refunds of a whole order take back exactly
what it earned.

**Expiry.** A lot expires at the end of the calendar year after the year it was earned, in
Asia/Shanghai (earned any day of 2026: valid through 31 December 2027), the usual rule of Chinese
retail programmes; ``expiry_of(..., years_after=)`` and the ``expiry_years`` argument of the credit
functions change it. ``expire_due`` (the daily ``members.points-expiry`` schedule) writes one
``expire`` entry per lot.

**Tiers.** ``TierRule`` rows (the four ``DEFAULT_TIERS`` until someone sets them): the member's tier
is the highest-ranked rule whose ``min_spend_fen`` is at most their qualifying spend, i.e. the paid
fen minus refunds of the orders that earned points in the last 365 days. It is recomputed on every
earn and clawback, after merges (``recompute_tier``), and daily for members whose spend is leaving
the window.

Queries live here, next to the ledger logic they serve (the member center's ``repository.py``
holds the member lookups).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, aliased

from zhongtai.auth.audit import record
from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.db import utcnow
from zhongtai.errors import Conflict, FieldProblem, PermissionDenied, ValidationFailed, not_found
from zhongtai.members import repository
from zhongtai.members.models import Member, PointsEntry, TierRule
from zhongtai.members.schemas_points import PointsEntryOut, PointsSummaryOut, TierBriefOut, TierIn, TierOut
from zhongtai.pagination import Page, SortKey, paginate

log = logging.getLogger("zhongtai.members.points")

# Business calendar of the expiry rule (the settings' default_timezone; services take no settings).
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
# Lots live through the end of the calendar year after the year they were earned.
EXPIRY_YEARS_AFTER = 1
# Qualifying spend for tiers: orders that earned points within this window.
TIER_WINDOW = timedelta(days=365)
# "Expiring soon" on the member's summary.
EXPIRING_SOON = timedelta(days=90)
# An earn rate of 100 means one point per yuan; rates are hundredths of that.
RATE_SCALE = 100
FEN_PER_YUAN = 100
MAX_EARN_RATE = 1000

SYSTEM = Principal.system("members.points")


# ---------------------------------------------------------------- errors


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    title = "Not enough points"


class RedemptionMismatch(Conflict):
    """The (channel, reference) already names a redemption of another amount or member."""

    code = "redemption_mismatch"
    title = "This reference was used for a different redemption"


class MemberErased(Conflict):
    code = "member_erased"
    title = "The member was erased"


class NotARedemption(Conflict):
    code = "not_a_redemption"
    title = "Only a redemption can be reversed"


class LedgerOutOfStep(Conflict):
    """The member's lots hold less than the balance says (should not happen: recompute_balance fixes it)."""

    code = "points_ledger_out_of_step"
    title = "The member's points lots do not match the balance"


# ---------------------------------------------------------------- rules (pure)


@dataclass(frozen=True, slots=True)
class TierSpec:
    code: str
    name_zh: str
    name_en: str
    min_spend_fen: int
    earn_rate: int
    rank: int


DEFAULT_TIERS: tuple[TierSpec, ...] = (
    TierSpec("regular", "普通会员", "Regular", 0, 100, 0),
    TierSpec("silver", "银卡", "Silver", 200_000, 110, 1),
    TierSpec("gold", "金卡", "Gold", 1_000_000, 125, 2),
    TierSpec("black", "黑金", "Black Gold", 5_000_000, 150, 3),
)


def earn_points(paid_fen: int, earn_rate: int) -> int:
    """paid yuan × earn_rate / 100, rounded down once (computed in fen: ¥99.99 at 110 is 109)."""
    return max(0, paid_fen) * max(0, earn_rate) // (FEN_PER_YUAN * RATE_SCALE)


def expiry_of(earned_at: datetime, *, years_after: int = EXPIRY_YEARS_AFTER, tz: ZoneInfo = BUSINESS_TZ) -> datetime:
    """When a lot earned at ``earned_at`` expires (UTC): the first instant of the year
    ``years_after + 1`` after the local year it was earned in."""
    if earned_at.tzinfo is None:
        raise ValueError("naive datetime")
    year = earned_at.astimezone(tz).year
    return datetime(year + years_after + 1, 1, 1, tzinfo=tz).astimezone(UTC)


def last_valid_day(expires_at: datetime, tz: ZoneInfo = BUSINESS_TZ) -> date:
    """The last local day on which a lot expiring at ``expires_at`` can be spent."""
    return (expires_at.astimezone(tz) - timedelta(microseconds=1)).date()


def choose_tier(rules: Sequence[TierSpec], spend_fen: int) -> TierSpec | None:
    """The highest-ranked rule whose threshold the spend reaches (the lowest rule if none does)."""
    ranked = sorted(rules, key=lambda r: r.rank)
    if not ranked:
        return None
    best = ranked[0]
    for rule in ranked:
        if rule.min_spend_fen <= spend_fen:
            best = rule
    return best


def tier_after(rules: Sequence[TierSpec], current: TierSpec | None) -> TierSpec | None:
    """The next tier up, or None at the top."""
    ranked = sorted(rules, key=lambda r: r.rank)
    if current is None:
        return ranked[0] if ranked else None
    return next((r for r in ranked if r.rank > current.rank), None)


def clawback_points(
    earned: int, net_at_earn_fen: int, net_before_fen: int, refund_fen: int, clawed_before: int
) -> tuple[int, int]:
    """(points to take back, refunded fen that counts) for one refund of an order that earned
    ``earned`` points on ``net_at_earn_fen``. Cumulative: the order keeps floor(earned × what is
    still paid / what earned), so several partial refunds take back exactly ``earned`` in total."""
    counted = min(max(0, refund_fen), max(0, net_before_fen))
    net_after = net_before_fen - counted
    keep = earned * min(max(0, net_after), net_at_earn_fen) // net_at_earn_fen if net_at_earn_fen > 0 else 0
    return max(0, earned - keep - clawed_before), counted


def credit_to_lots(balance_before: int, points: int) -> int:
    """What of a credit goes into a lot: a negative balance (a clawback took more than was left)
    is paid back first."""
    return max(0, points - max(0, -balance_before))


def tier_problems(tiers: Sequence[TierSpec], prefix: str = "body.tiers") -> list[FieldProblem]:
    """Every problem of a tier table: codes and ranks unique, earn rate 0..1000, thresholds
    strictly increasing with rank, the lowest tier open to everyone (0)."""
    problems: list[FieldProblem] = []
    if not tiers:
        return [FieldProblem(prefix, "empty", "at least one tier")]
    seen_codes: dict[str, int] = {}
    seen_ranks: dict[int, int] = {}
    for i, t in enumerate(tiers):
        at = f"{prefix}.{i}"
        if t.code in seen_codes:
            problems.append(
                FieldProblem(f"{at}.code", "duplicate", f"code {t.code!r} is also tier {seen_codes[t.code]}")
            )
        seen_codes.setdefault(t.code, i)
        if t.rank in seen_ranks:
            problems.append(FieldProblem(f"{at}.rank", "duplicate", f"rank {t.rank} is also tier {seen_ranks[t.rank]}"))
        seen_ranks.setdefault(t.rank, i)
        if not 0 <= t.earn_rate <= MAX_EARN_RATE:
            problems.append(FieldProblem(f"{at}.earn_rate", "out_of_range", f"0 to {MAX_EARN_RATE}"))
        if t.min_spend_fen < 0:
            problems.append(FieldProblem(f"{at}.min_spend_fen", "negative", "a threshold is 0 or more"))
        if not t.name_zh.strip():
            problems.append(FieldProblem(f"{at}.name_zh", "blank", "a Chinese name is required"))
        if not t.name_en.strip():
            problems.append(FieldProblem(f"{at}.name_en", "blank", "an English name is required"))
    order = sorted(range(len(tiers)), key=lambda i: tiers[i].rank)
    lowest = order[0]
    if tiers[lowest].min_spend_fen != 0:
        problems.append(
            FieldProblem(f"{prefix}.{lowest}.min_spend_fen", "not_zero", "the lowest-ranked tier starts at 0 spend")
        )
    for prev, cur in pairwise(order):
        if tiers[cur].rank != tiers[prev].rank and tiers[cur].min_spend_fen <= tiers[prev].min_spend_fen:
            problems.append(
                FieldProblem(
                    f"{prefix}.{cur}.min_spend_fen",
                    "not_increasing",
                    f"rank {tiers[cur].rank} needs more than {tiers[prev].min_spend_fen} fen (rank {tiers[prev].rank})",
                )
            )
    return problems


# ---------------------------------------------------------------- tiers


def _spec(rule: TierRule | TierIn) -> TierSpec:
    return TierSpec(rule.code, rule.name_zh, rule.name_en, rule.min_spend_fen, rule.earn_rate, rule.rank)


def _tier_out(spec: TierSpec) -> TierOut:
    return TierOut(
        code=spec.code,
        name_zh=spec.name_zh,
        name_en=spec.name_en,
        min_spend_fen=spec.min_spend_fen,
        earn_rate=spec.earn_rate,
        rank=spec.rank,
    )


def _brief(spec: TierSpec | None) -> TierBriefOut | None:
    if spec is None:
        return None
    return TierBriefOut(
        code=spec.code,
        name_zh=spec.name_zh,
        name_en=spec.name_en,
        min_spend_fen=spec.min_spend_fen,
        earn_rate=spec.earn_rate,
    )


def _rules(session: Session) -> list[TierSpec]:
    """The tier table, or the defaults while none was set (read-only: no insert races)."""
    rows = list(session.scalars(select(TierRule).order_by(TierRule.rank)))
    return [_spec(r) for r in rows] if rows else list(DEFAULT_TIERS)


def ensure_default_tiers(session: Session) -> list[TierOut]:
    """Writes the default tiers if there are none (setup, demo); returns the table."""
    if session.scalar(select(func.count()).select_from(TierRule)) == 0:
        for spec in DEFAULT_TIERS:
            session.add(
                TierRule(
                    code=spec.code,
                    name_zh=spec.name_zh,
                    name_en=spec.name_en,
                    min_spend_fen=spec.min_spend_fen,
                    earn_rate=spec.earn_rate,
                    rank=spec.rank,
                )
            )
        session.flush()
    return tiers(session)


def tiers(session: Session) -> list[TierOut]:
    return [_tier_out(s) for s in _rules(session)]


def set_tiers(session: Session, actor: Principal, new: Sequence[TierIn]) -> list[TierOut]:
    """Replaces the tier table. Members keep their stored tier until it is recomputed (their next
    earn or clawback, or the ``members.points-retier`` job the API starts after a change)."""
    actor.require(Perm.MEMBERS_MANAGE)
    specs = [_spec(t) for t in new]
    problems = tier_problems(specs)
    if problems:
        raise ValidationFailed("invalid tier table", errors=problems)
    before = [_tier_out(s).model_dump() for s in _rules(session)]
    existing = {r.code: r for r in session.scalars(select(TierRule))}
    wanted = {s.code for s in specs}
    gone = [code for code in existing if code not in wanted]
    if gone:
        session.execute(delete(TierRule).where(TierRule.code.in_(gone)))
    for spec in specs:
        row = existing.get(spec.code)
        if row is None:
            row = TierRule(code=spec.code)
            session.add(row)
        row.name_zh, row.name_en = spec.name_zh, spec.name_en
        row.min_spend_fen, row.earn_rate, row.rank = spec.min_spend_fen, spec.earn_rate, spec.rank
    session.flush()
    out = tiers(session)
    record(
        session,
        actor,
        "member_tiers.set",
        "member_tiers",
        "all",
        before={"tiers": before},
        after={"tiers": [t.model_dump() for t in out]},
    )
    return out


def _qualifying_spend(session: Session, member_id: int, now: datetime) -> int:
    """Paid minus refunded fen of the member's orders that earned points in the last 365 days."""
    earned = aliased(PointsEntry)
    recent = select(earned.order_number).where(
        earned.member_id == member_id, earned.kind == "earn", earned.at > now - TIER_WINDOW
    )
    total = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.spend_fen), 0)).where(
            PointsEntry.member_id == member_id, PointsEntry.order_number.in_(recent)
        )
    )
    return max(0, int(total or 0))


def _retier(
    session: Session, actor: Principal, member: Member, rules: Sequence[TierSpec], now: datetime
) -> TierSpec | None:
    tier = choose_tier(rules, _qualifying_spend(session, member.id, now))
    code = tier.code if tier else ""
    if member.tier != code:
        record(session, actor, "member.tier", "member", member.id, before={"tier": member.tier}, after={"tier": code})
        member.tier = code
    return tier


def recompute_tier(session: Session, member: Member, now: datetime, *, actor: Principal = SYSTEM) -> str:
    """The member's tier from their qualifying spend as of ``now`` (stored on the member; returns
    the code). Hook after merges and splits; call with the member's row locked."""
    tier = _retier(session, actor, member, _rules(session), now)
    return tier.code if tier else ""


def members_with_lapsing_spend(session: Session, now: datetime, *, days: int = 7) -> list[int]:
    """Members whose qualifying spend lost an order in the last ``days`` days (it left the
    365-day window): their tier may fall. Days, not one: a missed daily run is caught up."""
    since = now - TIER_WINDOW - timedelta(days=days)
    stmt = (
        select(PointsEntry.member_id)
        .distinct()
        .where(PointsEntry.kind == "earn", PointsEntry.at > since, PointsEntry.at <= now - TIER_WINDOW)
        .order_by(PointsEntry.member_id)
    )
    return [int(i) for i in session.scalars(stmt)]


def member_ids_after(session: Session, after_id: int, limit: int) -> list[int]:
    """Active members by id, one batch at a time (the re-tier job walks them all)."""
    stmt = select(Member.id).where(Member.id > after_id, Member.status == "active").order_by(Member.id).limit(limit)
    return [int(i) for i in session.scalars(stmt)]


def retier(session: Session, member_ids: Iterable[int], now: datetime, *, actor: Principal = SYSTEM) -> int:
    """Recomputes the tiers of these members (row locks in id order); returns how many changed."""
    rules = _rules(session)
    changed = 0
    for member_id in sorted(set(member_ids)):
        member = repository.lock_or_404(session, member_id)
        if member.status != "active":
            continue
        before = member.tier
        _retier(session, actor, member, rules, now)
        changed += member.tier != before
    return changed


# ---------------------------------------------------------------- ledger internals


def _by_source(session: Session, source: str, source_ref: str) -> PointsEntry | None:
    stmt = select(PointsEntry).where(PointsEntry.source == source, PointsEntry.source_ref == source_ref)
    return session.scalar(stmt.execution_options(populate_existing=True))


def _lots(session: Session, member_id: int) -> list[PointsEntry]:
    """Live lots, first to expire first."""
    stmt = (
        select(PointsEntry)
        .where(PointsEntry.member_id == member_id, PointsEntry.remaining > 0)
        .order_by(PointsEntry.expires_at.asc().nulls_last(), PointsEntry.id)
    )
    return list(session.scalars(stmt.execution_options(populate_existing=True)))


def _consume(session: Session, member_id: int, points: int) -> list[list[int]]:
    """Takes up to ``points`` from the lots, first to expire first: [[lot id, points], ...]."""
    taken: list[list[int]] = []
    need = points
    for lot in _lots(session, member_id):
        if need <= 0:
            break
        n = min(need, lot.remaining)
        lot.remaining -= n
        need -= n
        taken.append([lot.id, n])
    return taken


def _append(
    session: Session,
    actor: Principal,
    member: Member,
    *,
    kind: str,
    points: int,
    source: str,
    source_ref: str,
    at: datetime,
    remaining: int = 0,
    expires_at: datetime | None = None,
    channel_code: str = "",
    order_number: str = "",
    spend_fen: int = 0,
    consumed: list[list[int]] | None = None,
    note: str = "",
) -> PointsEntry:
    """One ledger entry, the cached balance moved by it, and the audit record."""
    member.points_balance += points
    entry = PointsEntry(
        member_id=member.id,
        kind=kind,
        points=points,
        remaining=remaining,
        expires_at=expires_at,
        source=source,
        source_ref=source_ref,
        channel_code=channel_code,
        order_number=order_number,
        balance_after=member.points_balance,
        spend_fen=spend_fen,
        consumed=consumed or [],
        note=note[:255],
        actor_name=actor.name[:128],
        at=at,
    )
    session.add(entry)
    session.flush()
    after: dict[str, Any] = {"entry": entry.id, "points": points, "balance": member.points_balance}
    if order_number:
        after["order"] = order_number
    if source in ("redeem", "reverse", "adjust"):
        after["reference"] = source_ref
    if note:
        after["note"] = entry.note
    record(session, actor, f"points.{kind}", "member", member.id, after=after)
    return entry


def _problems(*checks: tuple[bool, str, str, str]) -> None:
    """Raises one ValidationFailed naming every failed check (bad, field, code, message)."""
    problems = [FieldProblem(f, c, m) for bad, f, c, m in checks if bad]
    if problems:
        raise ValidationFailed(f"{len(problems)} invalid field(s)", errors=problems)


def _aware(at: datetime | None) -> bool:
    return at is not None and at.tzinfo is not None


# ---------------------------------------------------------------- verbs


def earn_for_order(
    session: Session,
    actor: Principal,
    member_id: int,
    *,
    order_number: str,
    paid_fen: int,
    channel_code: str,
    at: datetime,
    expiry_years: int = EXPIRY_YEARS_AFTER,
) -> PointsEntry | None:
    """Points for a completed order, at the member's tier rate; None when the order already
    earned (or the member was erased). ``paid_fen`` is what the buyer paid; refunds recorded
    before (``clawback_for_refund``) are deducted here."""
    _problems(
        (not order_number or len(order_number) > 32, "order_number", "invalid", "1 to 32 characters"),
        (paid_fen < 0, "paid_fen", "negative", "paid fen is 0 or more"),
        (len(channel_code) > 32, "channel_code", "too_long", "at most 32 characters"),
        (not _aware(at), "at", "naive_datetime", "a timezone-aware time"),
        (expiry_years < 0, "expiry_years", "negative", "0 or more"),
    )
    member = repository.lock_or_404(session, member_id)
    if _by_source(session, "order", order_number) is not None:
        return None
    if member.status == "erased":
        log.info("no points for order %s: member %s was erased", order_number, member.id)
        return None
    now = utcnow()
    rules = _rules(session)
    tier = _retier(session, actor, member, rules, now)
    refunded_before = _order_spend(session, order_number)  # refunds recorded before the earn: <= 0
    net = max(0, paid_fen + refunded_before)
    points = earn_points(net, tier.earn_rate if tier else RATE_SCALE)
    entry = _append(
        session,
        actor,
        member,
        kind="earn",
        points=points,
        remaining=credit_to_lots(member.points_balance, points),
        expires_at=expiry_of(at, years_after=expiry_years),
        source="order",
        source_ref=order_number,
        order_number=order_number,
        channel_code=channel_code,
        spend_fen=paid_fen,
        at=at,
        note=f"{net} fen at {tier.code if tier else '-'} rate {tier.earn_rate if tier else RATE_SCALE}",
    )
    _retier(session, actor, member, rules, now)
    return entry


def _order_spend(session: Session, order_number: str) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.spend_fen), 0)).where(PointsEntry.order_number == order_number)
    )
    return int(total or 0)


def clawback_for_refund(
    session: Session,
    actor: Principal,
    member_id: int,
    *,
    order_number: str,
    refund_ref: str,
    refund_fen: int,
    at: datetime,
) -> PointsEntry | None:
    """Takes back the points of a refunded order in proportion to the refund (lots first to
    expire first; the balance may go negative when they were spent). Idempotent per refund: None
    when this refund was already applied. A refund before the points were earned is recorded with
    0 points so the earn deducts it."""
    _problems(
        (not order_number or len(order_number) > 32, "order_number", "invalid", "1 to 32 characters"),
        (not refund_ref or len(refund_ref) > 63, "refund_ref", "invalid", "1 to 63 characters"),
        (refund_fen <= 0, "refund_fen", "not_positive", "a refund is at least 1 fen"),
        (not _aware(at), "at", "naive_datetime", "a timezone-aware time"),
    )
    source_ref = f"{order_number}:{refund_ref}"
    earned = _by_source(session, "order", order_number)
    # The points are wherever the earn is now (a merge or split may have moved it).
    member = repository.lock_or_404(session, earned.member_id if earned is not None else member_id)
    if _by_source(session, "refund", source_ref) is not None:
        return None
    earn = _by_source(session, "order", order_number)
    entries = list(
        session.scalars(
            select(PointsEntry)
            .where(PointsEntry.order_number == order_number)
            .order_by(PointsEntry.id)
            .execution_options(populate_existing=True)
        )
    )
    net_before = sum(e.spend_fen for e in entries)
    if earn is None:
        back, counted, consumed = 0, refund_fen, []
        note = f"refund {refund_ref} before points were earned"
    else:
        net_at_earn = sum(e.spend_fen for e in entries if e.id <= earn.id)
        clawed_before = -sum(e.points for e in entries if e.kind == "clawback" and e.id > earn.id)
        back, counted = clawback_points(earn.points, net_at_earn, net_before, refund_fen, clawed_before)
        consumed = _consume(session, member.id, back)
        note = f"refund {refund_ref}: {counted} fen"
    entry = _append(
        session,
        actor,
        member,
        kind="clawback",
        points=-back,
        source="refund",
        source_ref=source_ref,
        order_number=order_number,
        channel_code=earn.channel_code if earn is not None else "",
        spend_fen=-counted,
        consumed=consumed,
        at=at,
        note=note,
    )
    if member.status != "erased":
        _retier(session, actor, member, _rules(session), utcnow())
    return entry


def redeem(
    session: Session,
    actor: Principal,
    member_id: int,
    *,
    points: int,
    channel_code: str,
    reference: str,
    note: str = "",
) -> PointsEntry:
    """Spends points at a till or in a channel. The same (channel, reference) twice is one
    redemption: the first entry comes back (a different amount is a conflict). Never spends a
    point twice: the member's row is locked before the balance is read."""
    _problems(
        (points <= 0, "body.points", "not_positive", "redeem at least 1 point"),
        (not channel_code or len(channel_code) > 32, "body.channel_code", "invalid", "1 to 32 characters"),
        (not reference or len(reference) > 63, "body.reference", "invalid", "1 to 63 characters"),
        (len(note) > 255, "body.note", "too_long", "at most 255 characters"),
    )
    if actor.channel_code is not None and actor.channel_code != channel_code:
        raise PermissionDenied(
            f"this key redeems for channel {actor.channel_code} only", extra={"channel_code": channel_code}
        )
    member = repository.lock_or_404(session, member_id)
    source_ref = f"{channel_code}:{reference}"
    first = _by_source(session, "redeem", source_ref)
    if first is not None:
        if first.points != -points or first.member_id != member.id:
            raise RedemptionMismatch(
                f"reference {reference} of {channel_code} redeemed {-first.points} points for member {first.member_id}",
                extra={"entry_id": first.id, "points": -first.points},
            )
        return first
    if member.status == "erased":
        raise MemberErased(f"member {member.code} was erased", extra={"member_id": member.id})
    if member.points_balance < points:
        raise InsufficientPoints(
            f"{points} points requested, {member.points_balance} available",
            extra={"balance": member.points_balance, "requested": points, "member_id": member.id},
        )
    consumed = _consume(session, member.id, points)
    if sum(n for _, n in consumed) != points:
        raise LedgerOutOfStep(f"member {member.id}: the lots hold less than the balance {member.points_balance}")
    return _append(
        session,
        actor,
        member,
        kind="redeem",
        points=-points,
        source="redeem",
        source_ref=source_ref,
        channel_code=channel_code,
        consumed=consumed,
        at=utcnow(),
        note=note,
    )


def reverse_redemption(
    session: Session, actor: Principal, entry_id: int, reason: str, *, member_id: int | None = None
) -> PointsEntry:
    """A till voids a redemption: a positive ``reverse`` entry gives the points back to the lots
    they came from. Points whose lot has expired meanwhile (or moved to another member) come back
    as a lot of the reverse entry with that lot's expiry, so they expire as they would have.
    Idempotent: reversing twice returns the first reversal. ``member_id``: the entry must be
    this member's (after redirects), else not found."""
    _problems((not reason.strip() or len(reason) > 255, "body.reason", "invalid", "1 to 255 characters"))
    original = session.get(PointsEntry, entry_id)
    owner = repository.find(session, member_id) if member_id is not None else None
    if original is None or (member_id is not None and (owner is None or original.member_id != owner.id)):
        raise not_found("points entry", entry_id)
    if original.kind != "redeem":
        raise NotARedemption(f"entry {entry_id} is a {original.kind} entry", extra={"entry_id": entry_id})
    member = repository.lock_or_404(session, original.member_id)
    done = _by_source(session, "reverse", str(entry_id))
    if done is not None:
        return done
    session.refresh(original)
    points = -original.points
    now = utcnow()
    lot_ids = [lot_id for lot_id, _ in original.consumed]
    lots = {
        lot.id: lot
        for lot in session.scalars(
            select(PointsEntry).where(PointsEntry.id.in_(lot_ids)).execution_options(populate_existing=True)
        )
    }
    expired = _expired_lot_ids(session, lot_ids)
    pieces = [(lots.get(int(lot_id)), int(n)) for lot_id, n in original.consumed]
    pieces.sort(key=lambda p: _first_to_expire(p[0], now))
    # A negative balance (a clawback since) is paid back first, from the lots first to expire.
    debt = max(0, -member.points_balance)
    own_lot, own_expiry = 0, None
    for lot, n in pieces:
        pay = min(debt, n)
        debt, n = debt - pay, n - pay
        if n == 0:
            continue
        if lot is not None and lot.id not in expired and lot.member_id == member.id and lot.remaining + n <= lot.points:
            lot.remaining += n
        else:
            own_lot += n
            expiry = lot.expires_at if lot is not None and lot.expires_at else expiry_of(now)
            own_expiry = expiry if own_expiry is None else max(own_expiry, expiry)
    return _append(
        session,
        actor,
        member,
        kind="reverse",
        points=points,
        remaining=own_lot,
        expires_at=own_expiry,
        source="reverse",
        source_ref=str(entry_id),
        channel_code=original.channel_code,
        at=now,
        note=reason,
    )


def _first_to_expire(lot: PointsEntry | None, default: datetime) -> tuple[datetime, int]:
    if lot is None:
        return (default, 0)
    return (lot.expires_at or default, lot.id)


def _expired_lot_ids(session: Session, lot_ids: Sequence[int]) -> set[int]:
    if not lot_ids:
        return set()
    refs = [str(i) for i in lot_ids]
    stmt = select(PointsEntry.source_ref).where(PointsEntry.source == "expire", PointsEntry.source_ref.in_(refs))
    return {int(r) for r in session.scalars(stmt)}


def adjust(
    session: Session,
    actor: Principal,
    member_id: int,
    *,
    points: int,
    reason: str,
    expiry_years: int = EXPIRY_YEARS_AFTER,
) -> PointsEntry:
    """A manual correction (goodwill, a migration fix). Positive: a new lot expiring by the usual
    rule from today; negative: taken from the lots like a redemption, never below zero."""
    actor.require(Perm.MEMBERS_MANAGE)
    _problems(
        (points == 0, "body.points", "zero", "an adjustment of 0 points changes nothing"),
        (not reason.strip() or len(reason) > 255, "body.reason", "invalid", "1 to 255 characters"),
    )
    member = repository.lock_or_404(session, member_id)
    if member.status == "erased":
        raise MemberErased(f"member {member.code} was erased", extra={"member_id": member.id})
    now = utcnow()
    ref = uuid.uuid4().hex
    if points > 0:
        return _append(
            session,
            actor,
            member,
            kind="adjust",
            points=points,
            remaining=credit_to_lots(member.points_balance, points),
            expires_at=expiry_of(now, years_after=expiry_years),
            source="adjust",
            source_ref=ref,
            at=now,
            note=reason,
        )
    if member.points_balance < -points:
        raise InsufficientPoints(
            f"{-points} points to deduct, {member.points_balance} available",
            extra={"balance": member.points_balance, "requested": -points, "member_id": member.id},
        )
    consumed = _consume(session, member.id, -points)
    if sum(n for _, n in consumed) != -points:
        raise LedgerOutOfStep(f"member {member.id}: the lots hold less than the balance {member.points_balance}")
    return _append(
        session,
        actor,
        member,
        kind="adjust",
        points=points,
        source="adjust",
        source_ref=ref,
        consumed=consumed,
        at=now,
        note=reason,
    )


def expire_due(session: Session, now: datetime, limit: int = 500, *, actor: Principal = SYSTEM) -> int:
    """Expires what is left of up to ``limit`` lots past their expiry: one ``expire`` entry per
    lot (idempotent: an expired lot is empty). Members are locked in id order. Returns the number
    of lots expired."""
    due = session.execute(
        select(PointsEntry.id, PointsEntry.member_id)
        .where(PointsEntry.remaining > 0, PointsEntry.expires_at <= now)
        .order_by(PointsEntry.member_id, PointsEntry.id)
        .limit(limit)
    ).all()
    by_member: dict[int, list[int]] = defaultdict(list)
    for lot_id, member_id in due:
        by_member[int(member_id)].append(int(lot_id))
    expired = 0
    for member_id in sorted(by_member):
        member = repository.lock_or_404(session, member_id)
        lots = session.scalars(
            select(PointsEntry)
            .where(PointsEntry.id.in_(by_member[member_id]))
            .order_by(PointsEntry.expires_at, PointsEntry.id)
            .execution_options(populate_existing=True)
        )
        done: list[int] = []
        total = 0
        for lot in lots:
            # Re-read under the lock: a redemption may have emptied it meanwhile.
            if lot.member_id != member.id or lot.remaining <= 0 or lot.expires_at is None or lot.expires_at > now:
                continue
            n = lot.remaining
            lot.remaining = 0
            member.points_balance -= n
            session.add(
                PointsEntry(
                    member_id=member.id,
                    kind="expire",
                    points=-n,
                    source="expire",
                    source_ref=str(lot.id),
                    channel_code=lot.channel_code,
                    order_number="",
                    balance_after=member.points_balance,
                    consumed=[[lot.id, n]],
                    note=f"lot {lot.id} expired {lot.expires_at.isoformat()}",
                    actor_name=actor.name[:128],
                    at=now,
                )
            )
            done.append(lot.id)
            total += n
        if done:
            session.flush()
            record(
                session,
                actor,
                "points.expire",
                "member",
                member.id,
                after={"lots": done, "points": -total, "balance": member.points_balance},
            )
            expired += len(done)
    return expired


def recompute_balance(session: Session, member: Member) -> int:
    """The member's balance from the ledger (hook after a merge, split or erasure; call with the
    member's row locked). Brings the lots back in step with it: moved entries may leave a member
    with more in its lots than it owns (taken oldest expiry first) or less (refilled from its own
    partly spent, unexpired lots, latest expiry first). The ledger itself is not changed."""
    session.flush()
    total = int(
        session.scalar(select(func.coalesce(func.sum(PointsEntry.points), 0)).where(PointsEntry.member_id == member.id))
        or 0
    )
    lots = _lots(session, member.id)
    held = sum(lot.remaining for lot in lots)
    target = max(0, total)
    before = {"balance": member.points_balance, "lots": held}
    if held > target:
        _consume(session, member.id, held - target)
    elif held < target:
        partly = list(
            session.scalars(
                select(PointsEntry)
                .where(
                    PointsEntry.member_id == member.id,
                    PointsEntry.points > PointsEntry.remaining,
                    PointsEntry.expires_at.is_not(None),
                    PointsEntry.points > 0,
                )
                .order_by(PointsEntry.expires_at.desc(), PointsEntry.id.desc())
                .execution_options(populate_existing=True)
            )
        )
        expired = _expired_lot_ids(session, [lot.id for lot in partly])
        short = target - held
        for lot in partly:
            if short <= 0:
                break
            if lot.id in expired:
                continue
            n = min(short, lot.points - lot.remaining)
            lot.remaining += n
            short -= n
        if short > 0:
            log.warning("member %s: lots hold %s points fewer than the ledger's %s", member.id, short, total)
    if member.points_balance != total or held != target:
        member.points_balance = total
        session.flush()
        record(
            session,
            SYSTEM,
            "points.recompute",
            "member",
            member.id,
            before=before,
            after={"balance": total, "lots": target},
        )
    return total


# ---------------------------------------------------------------- queries


def points_summary(session: Session, member_id: int | str, *, now: datetime | None = None) -> PointsSummaryOut:
    """Balance, tier, the next tier and the spend it needs, and the points expiring within 90 days."""
    now = now or utcnow()
    member = repository.find_or_404(session, member_id)
    rules = _rules(session)
    spend = _qualifying_spend(session, member.id, now)
    current = next((r for r in rules if r.code == member.tier), None) or choose_tier(rules, spend)
    up = tier_after(rules, current)
    soon = session.execute(
        select(func.coalesce(func.sum(PointsEntry.remaining), 0), func.min(PointsEntry.expires_at)).where(
            PointsEntry.member_id == member.id,
            PointsEntry.remaining > 0,
            PointsEntry.expires_at <= now + EXPIRING_SOON,
        )
    ).one()
    expiring = int(soon[0] or 0)
    first: datetime | None = soon[1]
    return PointsSummaryOut(
        member_id=member.id,
        member_code=member.code,
        balance=member.points_balance,
        tier=_brief(current),
        spend_12m_fen=spend,
        next_tier=_brief(up),
        spend_to_next_fen=max(0, up.min_spend_fen - spend) if up is not None else None,
        expiring_points=expiring,
        expiring_at=first if expiring else None,
        expiring_on=last_valid_day(first) if expiring and first is not None else None,
    )


def ledger(
    session: Session, member_id: int | str, *, cursor: str | None = None, limit: int = 50
) -> Page[PointsEntryOut]:
    """The member's entries, newest first."""
    member = repository.find_or_404(session, member_id)
    stmt = select(PointsEntry).where(PointsEntry.member_id == member.id)
    page = paginate(
        session,
        stmt,
        [SortKey(PointsEntry.at, descending=True), SortKey(PointsEntry.id, descending=True)],
        cursor=cursor,
        limit=limit,
    )
    return page.map(PointsEntryOut.model_validate)
