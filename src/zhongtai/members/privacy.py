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

from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.db import advisory_xact_lock, utcnow
from zhongtai.errors import Conflict
from zhongtai.members import guides
from zhongtai.members import repository as repo
from zhongtai.members.identity import MERGE_LOCK
from zhongtai.members.models import (
    Consent,
    GuideBinding,
    Identifier,
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
    ids = [member.id, *repo.merged_into(session, member.id)]
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
        for r in repo.rows_of(session, Identifier, member.id)
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
        for r in repo.rows_of(session, PointsEntry, member.id)
    ]
    consents = [
        _row(r, ("channel", "purpose", "granted", "source", "at")) for r in repo.rows_of(session, Consent, member.id)
    ]
    bindings = [
        _row(r, ("guide_user_id", "location_id", "bound_at", "unbound_at", "reason"))
        for r in repo.rows_of(session, GuideBinding, member.id)
    ]
    member_tags = [_row(r, ("tag", "source", "at")) for r in repo.rows_of(session, MemberTag, member.id)]
    sightings = [
        _row(r, ("source", "source_ref", "channel_code", "observed_at"))
        for r in repo.rows_of(session, Observation, member.id)
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
    advisory_xact_lock(session, MERGE_LOCK)
    member = repo.find_or_404(session, key)
    member = repo.lock(session, member.id) or member
    if member.status == "erased":
        raise Conflict(f"member {member.code} was already erased")
    family = [member.id, *repo.merged_into(session, member.id)]
    label = pseudonym(member)
    repo.erase_graph(session, member.id, family)
    repo.obsolete_candidates(session, family, utcnow())
    # Merge history keeps ids and kinds, not the identifier ids of a person who is gone.
    for event in repo.merge_events(session, family):
        event.evidence = {k: v for k, v in event.evidence.items() if k in ("probability", "candidate_id")}
    if member.guide_user_id is not None:
        guides.unbind(session, actor, member.id, reason="erased")
    orders.pseudonymise_buyers(session, actor, family, label)
    for m in repo.members_by_ids(session, family):
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
