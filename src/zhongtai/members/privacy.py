"""PIPL: a member's data export and erasure.

* ``export_member``: everything Zhongtai keeps about one person, unmasked, as one JSON document
  (the answer to a data access request). Audited.
* ``erase_member``: the person's identifiers are deleted (a later sighting of the same phone starts
  a new member), their profile is blanked, and the buyer details on their orders are replaced by a
  pseudonym; order lines, amounts and dates stay, so sales history and statistics keep adding up.
  The member row stays (status ``erased``) so that ids in old reports still resolve. Audited.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.db import utcnow
from zhongtai.errors import Conflict
from zhongtai.members import guides
from zhongtai.members import repository as repo
from zhongtai.members.identity import MERGE_LOCK, _advisory
from zhongtai.members.models import (
    CannotLink,
    Consent,
    GuideBinding,
    Identifier,
    IdentityEdge,
    MatchCandidate,
    Member,
    MemberTag,
    MergeEvent,
    Observation,
    PointsEntry,
)
from zhongtai.orders import service as orders


def _row(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(obj, name)
        out[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return out


def export_member(session: Session, actor: Principal, key: str | int) -> dict[str, Any]:
    member = repo.find_or_404(session, key)
    ids = [member.id, *session.scalars(select(Member.id).where(Member.merged_into_id == member.id))]
    profile = _row(
        member,
        (
            "id",
            "code",
            "status",
            "name",
            "gender",
            "birthday",
            "province",
            "city",
            "address",
            "postcode",
            "enrolled_at",
            "enrolled_channel",
            "tier",
            "points_balance",
            "first_seen_at",
            "last_seen_at",
        ),
    )
    identifiers = [
        _row(r, ("kind", "app", "value", "status", "source_channel", "first_seen_at", "last_seen_at"))
        for r in session.scalars(select(Identifier).where(Identifier.member_id == member.id).order_by(Identifier.id))
    ]
    order_rows = [
        {
            "number": o.number,
            "channel": o.channel_code,
            "status": o.status,
            "total_fen": o.total_fen,
            "paid_fen": o.paid_fen,
            "refunded_fen": o.refunded_fen,
            "currency": o.currency,
            "placed_at": o.placed_at.isoformat(),
        }
        for o in orders.orders_of_members(session, ids)
    ]
    ledger = [
        _row(r, ("kind", "points", "expires_at", "channel_code", "order_number", "note", "at"))
        for r in session.scalars(select(PointsEntry).where(PointsEntry.member_id == member.id).order_by(PointsEntry.id))
    ]
    consents = [
        _row(r, ("channel", "purpose", "granted", "source", "at"))
        for r in session.scalars(select(Consent).where(Consent.member_id == member.id).order_by(Consent.id))
    ]
    bindings = [
        _row(r, ("guide_user_id", "location_id", "bound_at", "unbound_at", "reason"))
        for r in session.scalars(
            select(GuideBinding).where(GuideBinding.member_id == member.id).order_by(GuideBinding.id)
        )
    ]
    member_tags = [
        _row(r, ("tag", "source", "at"))
        for r in session.scalars(select(MemberTag).where(MemberTag.member_id == member.id).order_by(MemberTag.id))
    ]
    sightings = [
        _row(r, ("source", "source_ref", "channel_code", "observed_at"))
        for r in session.scalars(select(Observation).where(Observation.member_id == member.id).order_by(Observation.id))
    ]
    record(session, actor, "member.export", "member", member.id, after={"identifiers": len(identifiers)})
    return {
        "exported_at": utcnow().isoformat(),
        "member": profile,
        "merged_ids": ids[1:],
        "identifiers": identifiers,
        "orders": order_rows,
        "points": ledger,
        "consents": consents,
        "guide_bindings": bindings,
        "tags": member_tags,
        "sightings": sightings,
    }


def pseudonym(member: Member) -> str:
    """A stable, non-reversible label for the erased person on their orders."""
    return "erased-" + hashlib.sha256(f"zhongtai-member:{member.id}".encode()).hexdigest()[:10]


def erase_member(session: Session, actor: Principal, key: str | int, reason: str) -> Member:
    _advisory(session, MERGE_LOCK)
    member = repo.find_or_404(session, key)
    member = repo.lock(session, member.id) or member
    if member.status == "erased":
        raise Conflict(f"member {member.code} was already erased")
    family = [member.id, *session.scalars(select(Member.id).where(Member.merged_into_id == member.id))]
    label = pseudonym(member)
    node_ids = list(session.scalars(select(Identifier.id).where(Identifier.member_id == member.id)))
    session.execute(delete(IdentityEdge).where(or_(IdentityEdge.a_id.in_(node_ids), IdentityEdge.b_id.in_(node_ids))))
    # Sightings keep their source reference (an order number) but no identifiers.
    session.execute(update(Observation).where(Observation.member_id == member.id).values(identifier_ids=[]))
    session.execute(delete(Identifier).where(Identifier.member_id == member.id))
    session.execute(delete(MemberTag).where(MemberTag.member_id == member.id))
    session.execute(
        update(MatchCandidate)
        .where(
            MatchCandidate.status == "pending",
            or_(MatchCandidate.a_id.in_(family), MatchCandidate.b_id.in_(family)),
        )
        .values(status="obsolete", decided_at=utcnow())
    )
    session.execute(delete(CannotLink).where(or_(CannotLink.a_id.in_(family), CannotLink.b_id.in_(family))))
    # Merge history keeps ids and kinds, not the identifier ids of a person who is gone.
    for event in session.scalars(
        select(MergeEvent).where(or_(MergeEvent.survivor_id.in_(family), MergeEvent.other_id.in_(family)))
    ):
        event.evidence = {k: v for k, v in event.evidence.items() if k in ("probability", "candidate_id")}
    if member.guide_user_id is not None:
        guides.unbind(session, actor, member.id, reason="erased")
    orders.pseudonymise_buyers(session, actor, family, label)
    for m in session.scalars(select(Member).where(Member.id.in_(family))):
        m.name = label if m.id == member.id else ""
        m.gender = ""
        m.birthday = None
        m.province = m.city = m.address = m.postcode = ""
    member.status = "erased"
    member.erased_at = utcnow()
    session.add(
        MergeEvent(
            kind="erase",
            survivor_id=member.id,
            reason="manual",
            evidence={},
            actor_type=actor.kind,
            actor_id=str(actor.id),
            actor_name=actor.name[:128],
        )
    )
    record(session, actor, "member.erase", "member", member.id, after={"reason": reason, "pseudonym": label})
    return member
