"""Queries of the member center."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from zhongtai.errors import Conflict, not_found
from zhongtai.members.identifiers import IdentifierIn
from zhongtai.members.identifiers import key as identifier_key
from zhongtai.members.models import (
    CannotLink,
    ConsumerCursor,
    Identifier,
    IdentityEdge,
    MatchCandidate,
    Member,
    MemberTag,
    MergeEvent,
    Observation,
    PointsEntry,
)


def get(session: Session, member_id: int) -> Member | None:
    return session.get(Member, member_id)


def by_code(session: Session, code: str) -> Member | None:
    return session.scalar(select(Member).where(Member.code == code))


def resolve(session: Session, member: Member) -> Member:
    """Follows merge redirects to the surviving member (a merged id stays valid forever)."""
    seen = 0
    while member.status == "merged" and member.merged_into_id is not None and seen < 64:
        nxt = session.get(Member, member.merged_into_id)
        if nxt is None:
            break
        member, seen = nxt, seen + 1
    return member


def lock(session: Session, member_id: int) -> Member | None:
    """The surviving member's row, locked FOR UPDATE (a no-op on SQLite, whose writers serialize).
    Redirects are followed before locking, so no lock is held on a merged row."""
    target = member_id
    for _ in range(64):
        member = session.get(Member, target, populate_existing=True)
        if member is None:
            return None
        member = resolve(session, member)
        locked = session.scalar(
            select(Member).where(Member.id == member.id).with_for_update().execution_options(populate_existing=True)
        )
        if locked is None or locked.status != "merged" or locked.merged_into_id is None:
            return locked
        target = locked.merged_into_id
    return None


def find(session: Session, key: str | int) -> Member | None:
    """A member by id (``123``) or code (``M0000000123``), following merge redirects."""
    text_key = str(key).strip()
    member = session.get(Member, int(text_key)) if text_key.isdigit() else by_code(session, text_key.upper())
    return resolve(session, member) if member is not None else None


def find_or_404(session: Session, key: str | int) -> Member:
    """``find``, or the API's 404 problem."""
    member = find(session, key)
    if member is None:
        raise not_found("member", key)
    return member


def lock_or_404(session: Session, member_id: int) -> Member:
    member = lock(session, member_id)
    if member is None:
        raise not_found("member", member_id)
    return member


def lock_active(session: Session, member_id: int) -> Member:
    """The surviving member, locked; a 409 when it was erased."""
    member = lock_or_404(session, member_id)
    if member.status != "active":
        raise Conflict(f"member {member.code} is {member.status}", extra={"member_status": member.status})
    return member


def observation(session: Session, source: str, source_ref: str) -> Observation | None:
    return session.scalar(select(Observation).where(Observation.source == source, Observation.source_ref == source_ref))


def cursor(session: Session, name: str) -> int:
    row = session.get(ConsumerCursor, name)
    return row.last_id if row else 0


def advance_cursor(session: Session, name: str, last_id: int) -> None:
    row = session.get(ConsumerCursor, name, with_for_update=True)
    if row is None:
        session.add(ConsumerCursor(name=name, last_id=last_id))
    elif row.last_id < last_id:
        row.last_id = last_id


def lock_row(session: Session, member_id: int) -> Member | None:
    """One member's row locked as it is (no redirect): an unmerge restores a merged member."""
    return session.scalar(
        select(Member).where(Member.id == member_id).with_for_update().execution_options(populate_existing=True)
    )


def active_member_count(session: Session) -> int:
    return int(session.scalar(select(func.count(Member.id)).where(Member.status == "active")) or 0)


def merged_into(session: Session, member_id: int) -> list[int]:
    """Members that redirect to this one."""
    return list(session.scalars(select(Member.id).where(Member.merged_into_id == member_id)))


def redirect_merged(session: Session, from_id: int, to_id: int) -> None:
    session.execute(update(Member).where(Member.merged_into_id == from_id).values(merged_into_id=to_id))


def weak_attribute_rows(session: Session) -> list[Any]:
    """Active members with a name: id, name, birthday, city, address, postcode."""
    return list(
        session.execute(
            select(Member.id, Member.name, Member.birthday, Member.city, Member.address, Member.postcode).where(
                Member.status == "active", Member.name != ""
            )
        )
    )


# --- the identity graph --------------------------------------------------------------------------


def identifiers_by_keys(session: Session, idents: Sequence[IdentifierIn]) -> dict[str, Identifier]:
    """The graph's nodes for these identifiers, by ``identifiers.key``."""
    if not idents:
        return {}
    conds = [
        and_(Identifier.kind == i.kind.value, Identifier.app == i.app, Identifier.value == i.value) for i in idents
    ]
    return {identifier_key(r.kind, r.value, r.app): r for r in session.scalars(select(Identifier).where(or_(*conds)))}


def identifiers_of(session: Session, member_id: int) -> list[Identifier]:
    return list(session.scalars(select(Identifier).where(Identifier.member_id == member_id).order_by(Identifier.id)))


def identifier_ids(session: Session, member_id: int) -> list[int]:
    return list(session.scalars(select(Identifier.id).where(Identifier.member_id == member_id)))


def identifier_count(session: Session, member_ids: Sequence[int]) -> int:
    return int(session.scalar(select(func.count(Identifier.id)).where(Identifier.member_id.in_(member_ids))) or 0)


def oldest_identifier(session: Session, member_id: int, *, kind: str | None = None) -> Identifier | None:
    stmt = select(Identifier).where(Identifier.member_id == member_id, Identifier.status == "active")
    if kind is not None:
        stmt = stmt.where(Identifier.kind == kind)
    return session.scalar(stmt.order_by(Identifier.id).limit(1))


def move_identifiers(session: Session, ids: Sequence[int], to_member: int) -> None:
    session.execute(update(Identifier).where(Identifier.id.in_(ids)).values(member_id=to_member))


def edge_pairs(session: Session, ids: Sequence[int]) -> set[tuple[int, int]]:
    """Every edge (active or not) between these identifiers, as (a, b)."""
    if len(ids) < 2:
        return set()
    stmt = select(IdentityEdge.a_id, IdentityEdge.b_id).where(IdentityEdge.a_id.in_(ids), IdentityEdge.b_id.in_(ids))
    return {(a, b) for a, b in session.execute(stmt)}


def active_edges_among(session: Session, ids: Sequence[int]) -> list[tuple[int, int]]:
    stmt = select(IdentityEdge.a_id, IdentityEdge.b_id).where(
        IdentityEdge.active.is_(True), IdentityEdge.a_id.in_(ids), IdentityEdge.b_id.in_(ids)
    )
    return [(a, b) for a, b in session.execute(stmt)]


def active_edges_touching(session: Session, ids: Iterable[int]) -> list[IdentityEdge]:
    nodes = list(ids)
    stmt = select(IdentityEdge).where(
        IdentityEdge.active.is_(True), or_(IdentityEdge.a_id.in_(nodes), IdentityEdge.b_id.in_(nodes))
    )
    return list(session.scalars(stmt))


def edge(session: Session, a: int, b: int) -> IdentityEdge | None:
    lo, hi = min(a, b), max(a, b)
    return session.scalar(select(IdentityEdge).where(IdentityEdge.a_id == lo, IdentityEdge.b_id == hi))


def disable_edges_of(session: Session, identifier_id: int, reason: str) -> None:
    session.execute(
        update(IdentityEdge)
        .where(
            or_(IdentityEdge.a_id == identifier_id, IdentityEdge.b_id == identifier_id),
            IdentityEdge.active.is_(True),
        )
        .values(active=False, disabled_reason=reason)
    )


def observations_of(session: Session, member_id: int) -> list[Observation]:
    return list(session.scalars(select(Observation).where(Observation.member_id == member_id)))


def move_observations(session: Session, from_id: int, to_id: int) -> None:
    session.execute(update(Observation).where(Observation.member_id == from_id).values(member_id=to_id))


def attached_ids(session: Session, model: Any, member_id: int) -> list[int]:
    """Ids of a table's rows that belong to the member (points entries, consents, tags ...)."""
    return list(session.scalars(select(model.id).where(model.member_id == member_id)))


def move_attached(session: Session, model: Any, ids: Sequence[int], to_id: int, *, from_id: int | None = None) -> None:
    stmt = update(model).where(model.id.in_(ids))
    if from_id is not None:
        stmt = stmt.where(model.member_id == from_id)
    session.execute(stmt.values(member_id=to_id))


def move_order_points(session: Session, order_number: str, from_id: int, to_id: int) -> None:
    session.execute(
        update(PointsEntry)
        .where(PointsEntry.order_number == order_number, PointsEntry.member_id == from_id)
        .values(member_id=to_id)
    )


def cannot_link(session: Session, a: int, b: int) -> bool:
    lo, hi = min(a, b), max(a, b)
    return session.scalar(select(CannotLink.id).where(CannotLink.a_id == lo, CannotLink.b_id == hi)) is not None


def forget_cannot_link(session: Session, a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    session.execute(delete(CannotLink).where(CannotLink.a_id == lo, CannotLink.b_id == hi))


def candidate(session: Session, a: int, b: int) -> MatchCandidate | None:
    lo, hi = min(a, b), max(a, b)
    return session.scalar(select(MatchCandidate).where(MatchCandidate.a_id == lo, MatchCandidate.b_id == hi))


def lock_candidate(session: Session, candidate_id: int) -> MatchCandidate | None:
    return session.scalar(select(MatchCandidate).where(MatchCandidate.id == candidate_id).with_for_update())


def decided_pairs(session: Session) -> set[tuple[int, int]]:
    stmt = select(MatchCandidate.a_id, MatchCandidate.b_id).where(MatchCandidate.status.in_(("rejected", "merged")))
    return {(a, b) for a, b in session.execute(stmt)}


def obsolete_candidates(session: Session, member_ids: Sequence[int], at: datetime) -> None:
    """Pending review pairs with one of these members (merged or erased meanwhile) are moot."""
    session.execute(
        update(MatchCandidate)
        .where(
            MatchCandidate.status == "pending",
            or_(MatchCandidate.a_id.in_(member_ids), MatchCandidate.b_id.in_(member_ids)),
        )
        .values(status="obsolete", decided_at=at)
    )


def merge_events(session: Session, member_ids: Iterable[int]) -> list[MergeEvent]:
    ids = list(member_ids)
    return list(
        session.scalars(
            select(MergeEvent)
            .where(or_(MergeEvent.survivor_id.in_(ids), MergeEvent.other_id.in_(ids)))
            .order_by(MergeEvent.at.desc(), MergeEvent.id.desc())
        )
    )


def rows_of(session: Session, model: Any, member_id: int) -> list[Any]:
    """A table's rows that belong to the member, oldest first (a PIPL export)."""
    return list(session.scalars(select(model).where(model.member_id == member_id).order_by(model.id)))


def members_by_ids(session: Session, ids: Sequence[int]) -> list[Member]:
    return list(session.scalars(select(Member).where(Member.id.in_(ids))))


def erase_graph(session: Session, member_id: int, family: Sequence[int]) -> None:
    """Removes a person from the identity graph (PIPL erasure): their identifiers and the edges to
    them, the identifiers on their sightings (kept for the order references), their tags, and the
    cannot-links that name them."""
    node_ids = identifier_ids(session, member_id)
    session.execute(delete(IdentityEdge).where(or_(IdentityEdge.a_id.in_(node_ids), IdentityEdge.b_id.in_(node_ids))))
    session.execute(update(Observation).where(Observation.member_id == member_id).values(identifier_ids=[]))
    session.execute(delete(Identifier).where(Identifier.member_id == member_id))
    session.execute(delete(MemberTag).where(MemberTag.member_id == member_id))
    session.execute(delete(CannotLink).where(or_(CannotLink.a_id.in_(family), CannotLink.b_id.in_(family))))


# ---------------------------------------------------------------- analytics export (read-only)


def member_export_rows(session: Session) -> list[tuple[Any, ...]]:
    """Active members with their order aggregates and RFM (no personal data but gender and tier)."""
    from zhongtai.members.models import MemberStats

    stmt = (
        select(
            Member.id,
            Member.code,
            func.coalesce(Member.enrolled_at, Member.first_seen_at),
            Member.enrolled_channel,
            Member.enrolled_location_id,
            Member.preferred_location_id,
            Member.tier,
            Member.gender,
            Member.guide_user_id.is_not(None),
            MemberStats.orders_count,
            MemberStats.spend_fen,
            MemberStats.first_order_at,
            MemberStats.last_order_at,
            MemberStats.r_score,
            MemberStats.f_score,
            MemberStats.m_score,
            MemberStats.segment,
        )
        .outerjoin(MemberStats, MemberStats.member_id == Member.id)
        .where(Member.status == "active")
        .order_by(Member.id)
    )
    return [tuple(r) for r in session.execute(stmt)]
