"""Member search and the user card (会员卡): one member across every channel, on one page.

Read-only views over the member center's tables and the order center's member queries. Personal
values (name, phone, e-mail, address, birthday) are masked for a principal without ``pii:read``;
for one with it, every view that shows them unmasked is written to the audit log
(``member.pii_viewed``, one entry per member shown), so "who looked at this person" has an answer.

The queries live here rather than in ``repository.py`` because they serve only these views; they
read the tables the identity, points and engagement modules write and never change them.
"""

from __future__ import annotations

import contextlib
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from zhongtai.auth import audit
from zhongtai.auth import service as auth_service
from zhongtai.auth.pii import Masker, masker_for
from zhongtai.auth.principal import Principal
from zhongtai.db import utcnow
from zhongtai.errors import not_found
from zhongtai.inventory import service as inventory_service
from zhongtai.members import consents, points, repository
from zhongtai.members.identifiers import IdKind, InvalidIdentifier, normalise, normalise_email, normalise_phone
from zhongtai.members.models import (
    GuideBinding,
    Identifier,
    MatchCandidate,
    Member,
    MemberStats,
    MemberTag,
    Observation,
    PointsEntry,
    TagRule,
    TierRule,
)
from zhongtai.members.schemas_cards import (
    CardMergeEventOut,
    CardOrderOut,
    GuideBindingOut,
    GuideOut,
    IdentityOut,
    LocationRefOut,
    MemberCardOut,
    MemberChannelOut,
    MembersOverviewOut,
    MemberSummaryOut,
    MonthSpendOut,
    PointsEntryOut,
    PointsOut,
    ProfileOut,
    ReviewEvidenceOut,
    ReviewPairOut,
    ReviewSideOut,
    RfmOut,
    TagOut,
    TotalsOut,
)
from zhongtai.members.schemas_engagement import ConsentOut
from zhongtai.orders import service as orders_service
from zhongtai.pagination import Page, SortKey, paginate

PII_VIEWED = "member.pii_viewed"
# The card lists this many orders; totals and the chart use every order up to ORDER_SCAN_CAP
# (beyond it, a reseller-sized history, the totals come from member_stats instead).
CARD_ORDERS = 20
ORDER_SCAN_CAP = 5000
CHART_MONTHS = 12
RECENT_POINTS = 5
DEFAULT_TZ = "Asia/Shanghai"
_CODE = re.compile(r"^M\d{4,15}$", re.IGNORECASE)
_LAST4 = re.compile(r"^\d{4}$")


def _clean(q: str) -> str:
    return unicodedata.normalize("NFKC", q or "").strip()


def _birthday(m: Masker, value: date | None) -> str:
    if value is None:
        return ""
    return value.isoformat() if m.unmasked else f"{value.year}-**-**"


def display_phone(value: str) -> str:
    """A mainland mobile as people write it (13812345678), other numbers in E.164."""
    return value[3:] if value.startswith("+86") and len(value) == 14 else value


def _phone(m: Masker, value: str) -> str:
    return m.phone(display_phone(value))


def _identifier_value(m: Masker, kind: str, value: str) -> str:
    if kind == IdKind.PHONE:
        return _phone(m, value)
    if kind == IdKind.EMAIL:
        return m.email(value)
    return value


def _audit_views(session: Session, principal: Principal, member_ids: Iterable[int], view: str, **extra: Any) -> None:
    """One audit entry per member whose personal data this view shows unmasked."""
    for member_id in dict.fromkeys(member_ids):
        audit.record(session, principal, PII_VIEWED, "member", member_id, after={"view": view, **extra})


def _lookup(session: Session, key: str | int) -> Member | None:
    """A member by id or code as stored: no redirect followed (the caller wants to know)."""
    text_key = _clean(str(key))
    if text_key.isdigit():
        return repository.get(session, int(text_key)) if len(text_key) <= 18 else None
    return repository.by_code(session, text_key.upper())


# ================================================================ search


@dataclass
class _Query:
    """What a search box text can mean, and which members it already found exactly."""

    text: str
    exact: dict[int, set[str]]
    redirected: dict[int, int]
    last4: str | None
    name_prefix: str | None


def _parse_query(session: Session, q: str) -> _Query:
    text = _clean(q)
    exact: dict[int, set[str]] = defaultdict(set)
    redirected: dict[int, int] = {}
    if not text:
        return _Query(text, exact, redirected, None, None)

    def found(member: Member | None, reason: str) -> None:
        if member is None:
            return
        current = repository.resolve(session, member)
        if current.id != member.id:
            redirected[current.id] = member.id
        exact[current.id].add(reason)

    compact = re.sub(r"[\s\-()]", "", text)
    if _CODE.match(compact):
        found(repository.by_code(session, compact.upper()), "code")
    if compact.isdigit() and len(compact) <= 10:
        found(repository.get(session, int(compact)), "id")
    # Every strong identifier's canonical forms of the text: one query over the unique index.
    values = {text, text.lower(), text.upper()}
    for canonical in (normalise_phone, normalise_email, lambda raw: normalise(IdKind.CARD, raw)):
        with contextlib.suppress(InvalidIdentifier):
            values.add(canonical(text))
    # Spelled per kind so that the (kind, app, value) unique index serves it; an openid's app is unknown.
    wanted = sorted(values)
    plain_kinds = [k.value for k in IdKind if k is not IdKind.OPENID]
    rows = session.execute(
        select(Identifier.member_id, Identifier.kind).where(
            or_(
                and_(Identifier.kind.in_(plain_kinds), Identifier.app == "", Identifier.value.in_(wanted)),
                and_(Identifier.kind == IdKind.OPENID.value, Identifier.value.in_(wanted)),
            )
        )
    ).all()
    for member_id, kind in rows:
        member = repository.get(session, member_id)
        found(member, str(kind))
    last4 = compact if _LAST4.match(compact) else None
    name_prefix = text if not compact.isdigit() and "@" not in text and len(text) <= 64 else None
    return _Query(text, exact, redirected, last4, name_prefix)


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _search_condition(query: _Query) -> ColumnElement[bool]:
    listed = Member.status != "merged"
    if not query.text:
        return listed
    clauses: list[ColumnElement[bool]] = []
    if query.exact:
        clauses.append(Member.id.in_(sorted(query.exact)))
    if query.last4:
        # The last four digits of a phone, as a customer reads them out at the till.
        clauses.append(
            Member.id.in_(
                select(Identifier.member_id).where(
                    Identifier.kind == IdKind.PHONE.value, Identifier.value.like("%" + query.last4)
                )
            )
        )
    if query.name_prefix:
        clauses.append(Member.name.like(_like_prefix(query.name_prefix), escape="\\"))
    if not clauses:
        return Member.id.is_(None)
    return listed & or_(*clauses)


def search(
    session: Session, principal: Principal, q: str, *, cursor: str | None = None, limit: int = 30
) -> Page[MemberSummaryOut]:
    """Members by phone (any format, or its last four digits), member code, card number, any
    strong identifier's value, or the start of the name; most recently seen first. A merged
    member's id or code finds its survivor (``redirected_from``). An empty ``q`` lists everyone."""
    query = _parse_query(session, q)
    page = paginate(
        session,
        select(Member).where(_search_condition(query)),
        [SortKey(Member.last_seen_at, descending=True), SortKey(Member.id, descending=True)],
        cursor=cursor,
        limit=limit,
    )
    members: list[Member] = page.items
    out = summaries(session, principal, members, query=query)
    return Page(out, page.next_cursor)


def summaries(
    session: Session, principal: Principal, members: Sequence[Member], *, query: _Query | None = None
) -> list[MemberSummaryOut]:
    """Search rows for these members (a constant number of queries, whatever their number)."""
    if not members:
        return []
    m = masker_for(principal)
    ids = [mb.id for mb in members]
    idents = _identifiers_of(session, ids, kinds=(IdKind.PHONE, IdKind.EMAIL))
    stats = {s.member_id: s for s in session.scalars(select(MemberStats).where(MemberStats.member_id.in_(ids)))}
    tiers = _tiers(session)
    out = []
    for mb in members:
        mine = idents.get(mb.id, [])
        phones = [i for i in mine if i.kind == IdKind.PHONE]
        emails = [i for i in mine if i.kind == IdKind.EMAIL]
        st = stats.get(mb.id)
        tier = tiers.get(mb.tier)
        reasons: list[str] = []
        if query is not None:
            reasons = sorted(query.exact.get(mb.id, set()))
            if query.last4 and any(p.value.endswith(query.last4) for p in phones) and IdKind.PHONE not in reasons:
                reasons.append("phone_last4")
            if query.name_prefix and mb.name.startswith(query.name_prefix):
                reasons.append("name")
        out.append(
            MemberSummaryOut(
                id=mb.id,
                code=mb.code,
                status=mb.status,
                name=m.name(mb.name),
                phone=_phone(m, phones[0].value) if phones else "",
                email=m.email(emails[0].value) if emails else "",
                city=mb.city,
                tier=mb.tier,
                tier_name=tier.name_zh if tier else "",
                tier_name_en=tier.name_en if tier else "",
                points_balance=mb.points_balance,
                segment=st.segment if st else "",
                channels=_channels_of(st, mine),
                orders_count=st.orders_count if st else 0,
                spend_fen=st.spend_fen if st else 0,
                last_order_at=st.last_order_at if st else None,
                last_seen_at=mb.last_seen_at,
                enrolled_at=mb.enrolled_at,
                matched_by=reasons,
                redirected_from=query.redirected.get(mb.id) if query else None,
            )
        )
    if m.unmasked:
        shown = [o.id for o in out if o.name or o.phone or o.email]
        _audit_views(session, principal, shown, "search")
    return out


def _channels_of(stats: MemberStats | None, identifiers: Sequence[Identifier]) -> list[str]:
    channels = [str(c) for c in (stats.channels if stats else []) if c]
    for ident in identifiers:
        if ident.source_channel and ident.source_channel not in channels:
            channels.append(ident.source_channel)
    return channels


def _identifiers_of(
    session: Session, member_ids: Sequence[int], *, kinds: Sequence[str] | None = None
) -> dict[int, list[Identifier]]:
    """Active identifiers first, most recently seen first."""
    stmt = select(Identifier).where(Identifier.member_id.in_(member_ids))
    if kinds is not None:
        stmt = stmt.where(Identifier.kind.in_([str(k) for k in kinds]))
    stmt = stmt.order_by(Identifier.member_id, Identifier.status, Identifier.last_seen_at.desc(), Identifier.id)
    out: dict[int, list[Identifier]] = defaultdict(list)
    for ident in session.scalars(stmt):
        out[ident.member_id].append(ident)
    return out


def _tiers(session: Session) -> dict[str, TierRule]:
    return {t.code: t for t in session.scalars(select(TierRule).order_by(TierRule.rank))}


# ================================================================ the card


def card(
    session: Session,
    principal: Principal,
    key: str | int,
    *,
    orders_limit: int = CARD_ORDERS,
    tz: str = DEFAULT_TZ,
    now: datetime | None = None,
) -> MemberCardOut:
    """The user card of the member with this id or code (a merged member's: its survivor's)."""
    raw = _lookup(session, key)
    if raw is None:
        raise not_found("member", key)
    member = repository.resolve(session, raw)
    m = masker_for(principal)
    redirected = raw if raw.id != member.id else None
    if m.unmasked and member.status != "erased":
        # Written (and flushed) before the rest is read: on SQLite the request's read
        # transaction becomes a writer at once instead of after a long read.
        extra = {"redirected_from": redirected.id} if redirected else {}
        _audit_views(session, principal, [member.id], "card", **extra)
        session.flush()
    now = now or utcnow()
    identifiers = _identifiers_of(session, [member.id]).get(member.id, [])
    orders = orders_service.orders_of_members(session, [member.id], limit=ORDER_SCAN_CAP)
    stats = session.get(MemberStats, member.id)
    locations = inventory_service.locations_by_ids(
        session,
        sorted(
            {i for i in (member.preferred_location_id, member.enrolled_location_id) if i is not None}
            | {o.store_location_id for o in orders[:orders_limit] if o.store_location_id is not None}
        ),
    )
    totals = _totals(orders, stats, capped=len(orders) >= ORDER_SCAN_CAP, now=now)
    preferred = locations.get(member.preferred_location_id) if member.preferred_location_id else None
    enrolled_at_loc = locations.get(member.enrolled_location_id) if member.enrolled_location_id else None
    guide, guide_history = _guide(session, member)
    return MemberCardOut(
        id=member.id,
        code=member.code,
        status=member.status,
        redirected_from=redirected.id if redirected else None,
        redirected_from_code=redirected.code if redirected else "",
        masked=not m.unmasked,
        profile=ProfileOut(
            name=m.name(member.name),
            gender=member.gender,
            birthday=_birthday(m, member.birthday),
            province=member.province,
            city=member.city,
            address=m.address(member.address),
            postcode=member.postcode if m.unmasked else "",
            enrolled_at=member.enrolled_at,
            enrolled_channel=member.enrolled_channel,
            enrolled_location_code=enrolled_at_loc.code if enrolled_at_loc else "",
            first_seen_at=member.first_seen_at,
            last_seen_at=member.last_seen_at,
            erased_at=member.erased_at,
        ),
        identities=[
            IdentityOut(
                id=i.id,
                kind=i.kind,
                app=i.app,
                value=_identifier_value(m, i.kind, i.value),
                status=i.status,
                channel=i.source_channel,
                first_seen_at=i.first_seen_at,
                last_seen_at=i.last_seen_at,
                quarantined_at=i.quarantined_at,
            )
            for i in identifiers
        ],
        channels=_member_channels(session, member.id, orders),
        orders=[
            CardOrderOut(
                number=o.number,
                channel_code=o.channel_code,
                status=o.status,
                payment_status=o.payment_status,
                delivery_mode=o.delivery_mode,
                store_code=locations[o.store_location_id].code if o.store_location_id in locations else "",
                total_fen=o.total_fen,
                paid_fen=o.paid_fen,
                refunded_fen=o.refunded_fen,
                currency=o.currency,
                placed_at=o.placed_at,
                completed_at=o.completed_at,
                lines=o.lines,
            )
            for o in orders[:orders_limit]
        ],
        orders_limit=orders_limit,
        totals=totals,
        spend_by_month=_spend_by_month(orders, tz=tz, now=now),
        rfm=RfmOut(
            r_score=stats.r_score,
            f_score=stats.f_score,
            m_score=stats.m_score,
            segment=stats.segment,
            updated_at=stats.updated_at,
        )
        if stats
        else RfmOut(),
        tags=_tags(session, member.id),
        preferred_store=LocationRefOut(
            id=preferred.id, code=preferred.code, name=preferred.name, name_en=preferred.name_en
        )
        if preferred
        else None,
        guide=guide,
        guide_history=guide_history,
        points=_points(session, member, now=now),
        consents=_consents(session, member.id),
        merges=_merges(session, member),
    )


def _counted(o: orders_service.MemberOrder) -> bool:
    """Cancelled orders do not count (as in member_stats: the totals and the RFM agree)."""
    return o.status != "cancelled"


def _totals(
    orders: Sequence[orders_service.MemberOrder], stats: MemberStats | None, *, capped: bool, now: datetime
) -> TotalsOut:
    if capped and stats is not None:
        paid = stats.orders_count
        return TotalsOut(
            orders_count=stats.orders_count,
            paid_orders=paid,
            spend_fen=stats.spend_fen,
            refunded_fen=stats.refunded_fen,
            net_fen=stats.spend_fen - stats.refunded_fen,
            average_order_fen=stats.spend_fen // paid if paid else 0,
            spend_12m_fen=stats.spend_12m_fen,
            first_order_at=stats.first_order_at,
            last_order_at=stats.last_order_at,
        )
    counted = [o for o in orders if _counted(o)]
    paid_orders = [o for o in counted if o.paid_fen > 0]
    spend = sum(o.paid_fen for o in paid_orders)
    refunded = sum(o.refunded_fen for o in counted)
    year_ago = now - timedelta(days=365)
    return TotalsOut(
        orders_count=len(counted),
        paid_orders=len(paid_orders),
        spend_fen=spend,
        refunded_fen=refunded,
        net_fen=spend - refunded,
        average_order_fen=spend // len(paid_orders) if paid_orders else 0,
        spend_12m_fen=sum(o.paid_fen - o.refunded_fen for o in paid_orders if o.placed_at >= year_ago),
        first_order_at=min((o.placed_at for o in counted), default=None),
        last_order_at=max((o.placed_at for o in counted), default=None),
    )


def month_keys(now: datetime, tz: str, months: int = CHART_MONTHS) -> list[str]:
    """The last ``months`` calendar months up to ``now``'s, oldest first, as YYYY-MM."""
    local = now.astimezone(ZoneInfo(tz))
    year, month = local.year, local.month
    keys = []
    for _ in range(months):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return keys[::-1]


def _spend_by_month(orders: Sequence[orders_service.MemberOrder], *, tz: str, now: datetime) -> list[MonthSpendOut]:
    """Paid amounts by the month (in the platform's zone) the order was placed, per channel."""
    keys = set(month_keys(now, tz))
    zone = ZoneInfo(tz)
    cells: dict[tuple[str, str], list[int]] = {}
    for o in orders:
        if o.paid_fen <= 0:
            continue
        month = o.placed_at.astimezone(zone).strftime("%Y-%m")
        if month not in keys:
            continue
        cell = cells.setdefault((month, o.channel_code), [0, 0])
        cell[0] += 1
        cell[1] += o.paid_fen
    return [
        MonthSpendOut(month=month, channel_code=channel, orders=n, spend_fen=fen)
        for (month, channel), (n, fen) in sorted(cells.items())
    ]


def _member_channels(
    session: Session, member_id: int, orders: Sequence[orders_service.MemberOrder]
) -> list[MemberChannelOut]:
    rows = session.execute(
        select(
            Observation.channel_code,
            func.min(Observation.observed_at),
            func.max(Observation.observed_at),
            func.count(),
        )
        .where(Observation.member_id == member_id, Observation.channel_code != "")
        .group_by(Observation.channel_code)
    ).all()
    out: dict[str, MemberChannelOut] = {
        code: MemberChannelOut(code=code, first_seen_at=first, last_seen_at=last, observations=n)
        for code, first, last, n in rows
    }
    for o in orders:
        if not _counted(o):
            continue
        ch = out.setdefault(
            o.channel_code, MemberChannelOut(code=o.channel_code, first_seen_at=None, last_seen_at=None)
        )
        ch.orders += 1
        ch.spend_fen += o.paid_fen
        ch.first_seen_at = min(ch.first_seen_at, o.placed_at) if ch.first_seen_at else o.placed_at
        ch.last_seen_at = max(ch.last_seen_at, o.placed_at) if ch.last_seen_at else o.placed_at
    return sorted(out.values(), key=lambda c: (-c.orders, -(c.last_seen_at or utcnow()).timestamp(), c.code))


def _tags(session: Session, member_id: int) -> list[TagOut]:
    rows = list(session.scalars(select(MemberTag).where(MemberTag.member_id == member_id).order_by(MemberTag.at)))
    rules = (
        {r.code: r for r in session.scalars(select(TagRule).where(TagRule.code.in_(sorted({t.tag for t in rows}))))}
        if rows
        else {}
    )
    out = []
    for t in rows:
        rule = rules.get(t.tag)
        out.append(
            TagOut(
                tag=t.tag,
                source=t.source,
                name_zh=rule.name_zh if rule else t.tag,
                name_en=rule.name_en if rule else t.tag,
                actor_name=t.actor_name,
                at=t.at,
            )
        )
    # Rule tags first (what the member is), then the manual ones people added.
    return sorted(out, key=lambda t: (t.source != "rule", t.at))


def _user_names(session: Session, user_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """(display name, username) per user id; an id that names no user shows as ``#id``."""
    ids = list(dict.fromkeys(user_ids))
    users = auth_service.users_by_ids(session, ids)
    names = {uid: (f"#{uid}", "") for uid in ids}
    names.update({uid: (u.display_name or u.username, u.username) for uid, u in users.items()})
    return names


def _guide(session: Session, member: Member) -> tuple[GuideOut | None, list[GuideBindingOut]]:
    rows = list(
        session.scalars(
            select(GuideBinding)
            .where(GuideBinding.member_id == member.id)
            .order_by(GuideBinding.bound_at.desc(), GuideBinding.id.desc())
        )
    )
    user_ids = [r.guide_user_id for r in rows] + ([member.guide_user_id] if member.guide_user_id else [])
    names = _user_names(session, user_ids)
    locs = inventory_service.locations_by_ids(session, sorted({r.location_id for r in rows if r.location_id}))
    history = [
        GuideBindingOut(
            guide_user_id=r.guide_user_id,
            guide_name=names[r.guide_user_id][0],
            location_code=locs[r.location_id].code if r.location_id in locs else "",
            bound_at=r.bound_at,
            unbound_at=r.unbound_at,
            reason=r.reason,
            actor_name=r.actor_name,
        )
        for r in rows
    ]
    guide = None
    if member.guide_user_id:
        open_row = next((h for h in history if h.guide_user_id == member.guide_user_id and h.unbound_at is None), None)
        name, username = names[member.guide_user_id]
        guide = GuideOut(
            user_id=member.guide_user_id,
            name=name,
            username=username,
            bound_at=open_row.bound_at if open_row else None,
            location_code=open_row.location_code if open_row else "",
        )
    return guide, history


def _points(session: Session, member: Member, *, now: datetime) -> PointsOut:
    """The points module's own summary (balance, tier, the next tier and the spend it needs,
    points expiring soon) and the latest ledger entries."""
    summary = points.points_summary(session, member.id, now=now)
    recent = session.scalars(
        select(PointsEntry)
        .where(PointsEntry.member_id == member.id)
        .order_by(PointsEntry.at.desc(), PointsEntry.id.desc())
        .limit(RECENT_POINTS)
    )
    tier, up = summary.tier, summary.next_tier
    return PointsOut(
        balance=summary.balance,
        tier=tier.code if tier else member.tier,
        tier_name=tier.name_zh if tier else "",
        tier_name_en=tier.name_en if tier else "",
        next_tier=up.code if up else "",
        next_tier_name=up.name_zh if up else "",
        next_tier_name_en=up.name_en if up else "",
        spend_12m_fen=summary.spend_12m_fen,
        spend_to_next_fen=summary.spend_to_next_fen or 0,
        expiring_points=summary.expiring_points,
        expiring_by=summary.expiring_at,
        recent=[
            PointsEntryOut(
                kind=e.kind,
                points=e.points,
                balance_after=e.balance_after,
                channel_code=e.channel_code,
                order_number=e.order_number,
                note=e.note,
                at=e.at,
            )
            for e in recent
        ],
    )


def _consents(session: Session, member_id: int) -> list[ConsentOut]:
    """The channels the member was asked about, with their latest answer."""
    return [c for c in consents.current_consents(session, member_id).values() if c.at is not None]


def _absorbed_ids(session: Session, member_id: int) -> set[int]:
    """The member and every member merged into it, however many merges ago."""
    ids, frontier = {member_id}, {member_id}
    while frontier and len(ids) < 500:
        nxt = set(session.scalars(select(Member.id).where(Member.merged_into_id.in_(sorted(frontier))))) - ids
        ids |= nxt
        frontier = nxt
    return ids


def _merges(session: Session, member: Member) -> list[CardMergeEventOut]:
    ids = sorted(_absorbed_ids(session, member.id))
    events = repository.merge_events(session, ids)
    codes = _codes(session, {e.survivor_id for e in events} | {e.other_id for e in events if e.other_id})
    out = []
    for e in events:
        other = session.get(Member, e.other_id) if e.other_id else None
        probability = e.evidence.get("probability") if isinstance(e.evidence, dict) else None
        out.append(
            CardMergeEventOut(
                id=e.id,
                kind=e.kind,
                survivor_id=e.survivor_id,
                survivor_code=codes.get(e.survivor_id, ""),
                other_id=e.other_id,
                other_code=codes.get(e.other_id, "") if e.other_id else "",
                reason=e.reason,
                probability=float(probability) if isinstance(probability, int | float) else None,
                evidence=e.evidence if isinstance(e.evidence, dict) else {},
                actor_name=e.actor_name,
                at=e.at,
                undone_at=e.undone_at,
                can_unmerge=(
                    e.kind == "merge"
                    and e.undone_at is None
                    and other is not None
                    and other.status == "merged"
                    and repository.resolve(session, other).id == member.id
                ),
            )
        )
    return out


def _codes(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return {mid: code for mid, code in session.execute(select(Member.id, Member.code).where(Member.id.in_(wanted)))}


# ================================================================ the merge review queue


def review_pairs(
    session: Session, principal: Principal, *, status: str = "pending", cursor: str | None = None, limit: int = 20
) -> Page[ReviewPairOut]:
    """Pairs the matcher could not decide, most probable first, each side as a reviewer compares it."""
    stmt = select(MatchCandidate)
    if status:
        stmt = stmt.where(MatchCandidate.status == status)
    page = paginate(
        session,
        stmt,
        [SortKey(MatchCandidate.probability, descending=True), SortKey(MatchCandidate.id)],
        cursor=cursor,
        limit=limit,
    )
    candidates: list[MatchCandidate] = page.items
    ids = sorted({c.a_id for c in candidates} | {c.b_id for c in candidates})
    members = {mb.id: mb for mb in session.scalars(select(Member).where(Member.id.in_(ids)))} if ids else {}
    idents = _identifiers_of(session, ids) if ids else {}
    stats = {s.member_id: s for s in session.scalars(select(MemberStats).where(MemberStats.member_id.in_(ids)))}
    m = masker_for(principal)

    def side(member_id: int) -> ReviewSideOut:
        mb = members[member_id]
        mine = idents.get(member_id, [])
        st = stats.get(member_id)
        return ReviewSideOut(
            id=mb.id,
            code=mb.code,
            status=mb.status,
            name=m.name(mb.name),
            gender=mb.gender,
            birthday=_birthday(m, mb.birthday),
            city=mb.city,
            address=m.address(mb.address),
            postcode=mb.postcode if m.unmasked else "",
            phones=[_phone(m, i.value) for i in mine if i.kind == IdKind.PHONE],
            emails=[m.email(i.value) for i in mine if i.kind == IdKind.EMAIL],
            other_identifiers=[
                f"{i.kind}:{i.value}" for i in mine if i.kind not in (IdKind.PHONE, IdKind.EMAIL, IdKind.OPENID)
            ],
            channels=_channels_of(st, mine),
            orders_count=st.orders_count if st else 0,
            spend_fen=st.spend_fen if st else 0,
            first_seen_at=mb.first_seen_at,
        )

    out = [
        ReviewPairOut(
            id=c.id,
            probability=c.probability,
            status=c.status,
            source=c.source,
            created_at=c.created_at,
            decided_at=c.decided_at,
            decided_by=c.decided_by,
            evidence=evidence_of(c.features, masker=m) or compare_attributes(members[c.a_id], members[c.b_id], m),
            a=side(c.a_id),
            b=side(c.b_id),
        )
        for c in candidates
        if c.a_id in members and c.b_id in members
    ]
    if m.unmasked:
        _audit_views(session, principal, [mid for p in out for mid in (p.a.id, p.b.id)], "review")
    return Page(out, page.next_cursor)


_LEVEL_KEYS = ("label", "level", "comparison", "gamma")
_WEIGHT_KEYS = ("match_weight", "weight", "log2_bf")
_PERSONAL = ("name", "full_name", "given_name", "surname", "address", "phone", "email", "street_number", "id_number")


def evidence_of(features: Any, *, masker: Masker | None = None) -> list[ReviewEvidenceOut]:
    """The matcher's per-attribute explanation, whatever shape it stored: ``{attr: {"level": …,
    "weight"|"match_weight"|"bf": …, "left": …, "right": …}}`` or ``{attr: weight}``. Strongest
    evidence first; the compared values of personal attributes are masked like the rest."""
    if not isinstance(features, dict):
        return []
    out = []
    for attr, value in features.items():
        if attr in ("probability", "match_probability", "match_weight", "total"):
            continue
        level, weight, left, right = "", None, "", ""
        if isinstance(value, dict):
            level = str(next((value[k] for k in _LEVEL_KEYS if value.get(k) not in (None, "")), ""))
            raw = next((value[k] for k in _WEIGHT_KEYS if isinstance(value.get(k), int | float)), None)
            if raw is None and isinstance(value.get("bf"), int | float) and value["bf"] > 0:
                raw = math.log2(value["bf"])
            weight = float(raw) if raw is not None else None
            left, right = str(value.get("left", "") or ""), str(value.get("right", "") or "")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            weight = float(value)
        else:
            level = str(value)
        if masker is not None and not masker.unmasked and str(attr) in _PERSONAL:
            mask = masker.address if "address" in str(attr) else masker.name
            left, right = mask(left), mask(right)
        out.append(ReviewEvidenceOut(attribute=str(attr), level=level, weight=weight, left=left, right=right))
    return sorted(out, key=lambda e: (-(abs(e.weight) if e.weight is not None else -1), e.attribute))


_COMPARED = ("name", "birthday", "gender", "city", "address", "postcode")


def _similar(attr: str, left: str, right: str) -> bool:
    if attr == "name":
        # The same surname and a one-character slip, or one name inside the other (张伟 / 张伟伟).
        return left[:1] == right[:1] and (len(left) == len(right) or left in right or right in left)
    if attr == "birthday":
        # Day and month swapped, or the same year and month.
        return left[:7] == right[:7] or (
            left[:4] == right[:4] and left[5:7] == right[8:10] and left[8:10] == right[5:7]
        )
    if attr == "address":
        return left[:6] == right[:6] or left in right or right in left
    if attr == "postcode":
        return left[:4] == right[:4]
    return False


def compare_attributes(a: Member, b: Member, masker: Masker) -> list[ReviewEvidenceOut]:
    """What a reviewer sees when the matcher left no per-attribute explanation: each weak attribute
    of the two members compared as exact, similar, different or missing on one side."""
    out = []
    for attr in _COMPARED:
        raw_l, raw_r = getattr(a, attr), getattr(b, attr)
        left = raw_l.isoformat() if isinstance(raw_l, date) else " ".join(str(raw_l or "").split())
        right = raw_r.isoformat() if isinstance(raw_r, date) else " ".join(str(raw_r or "").split())
        if not left and not right:
            continue
        if not left or not right:
            level = "missing"
        elif left.casefold() == right.casefold():
            level = "exact"
        elif _similar(attr, left, right):
            level = "similar"
        else:
            level = "different"
        if attr == "name":
            left, right = masker.name(left), masker.name(right)
        elif attr == "address":
            left, right = masker.address(left), masker.address(right)
        elif attr == "birthday":
            left, right = _birthday(masker, raw_l), _birthday(masker, raw_r)
        elif attr == "postcode" and not masker.unmasked:
            left, right = left[:3] + "***" if left else "", right[:3] + "***" if right else ""
        out.append(ReviewEvidenceOut(attribute=attr, level=level, left=left, right=right))
    return out


def pending_reviews(session: Session) -> int:
    return int(
        session.scalar(select(func.count()).select_from(MatchCandidate).where(MatchCandidate.status == "pending")) or 0
    )


# ================================================================ the landing figures


def tier_names(session: Session) -> list[tuple[str, str, str]]:
    """(code, zh, en) of every tier, lowest first."""
    return [(t.code, t.name_zh, t.name_en) for t in session.scalars(select(TierRule).order_by(TierRule.rank))]


def overview(session: Session) -> MembersOverviewOut:
    by_status: dict[str, int] = {
        status: n for status, n in session.execute(select(Member.status, func.count()).group_by(Member.status))
    }
    enrolled = session.scalar(
        select(func.count()).select_from(Member).where(Member.status == "active", Member.enrolled_at.is_not(None))
    )
    with_orders = session.scalar(
        select(func.count())
        .select_from(MemberStats)
        .join(Member, Member.id == MemberStats.member_id)
        .where(Member.status == "active", MemberStats.orders_count > 0)
    )
    by_tier = session.execute(
        select(Member.tier, func.count()).where(Member.status == "active").group_by(Member.tier)
    ).all()
    by_segment = session.execute(
        select(MemberStats.segment, func.count())
        .join(Member, Member.id == MemberStats.member_id)
        .where(Member.status == "active", MemberStats.segment != "")
        .group_by(MemberStats.segment)
    ).all()
    return MembersOverviewOut(
        members=int(by_status.get("active", 0)),
        enrolled=int(enrolled or 0),
        with_orders=int(with_orders or 0),
        merged=int(by_status.get("merged", 0)),
        pending_reviews=pending_reviews(session),
        by_tier=sorted(((str(k), int(v)) for k, v in by_tier), key=lambda kv: -kv[1]),
        by_segment=sorted(((str(k), int(v)) for k, v in by_segment), key=lambda kv: -kv[1]),
    )


def member_ref(session: Session, key: str | int) -> tuple[int, str]:
    """(id, code) of the member this id or code points at now (after merges), or NotFound."""
    member = repository.find(session, key)
    if member is None:
        raise not_found("member", key)
    return member.id, member.code
