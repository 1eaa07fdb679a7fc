"""Marketing consent per channel (营销授权, PIPL): sms, wechat, email, phone, app_push.

Append-only: every statement of consent or refusal is a row with where it was captured and who
recorded it; the latest row per (member, channel, purpose) is the current answer. A channel
never asked is not granted.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.db import utcnow
from zhongtai.errors import Conflict, FieldProblem, ValidationFailed, not_found
from zhongtai.members import repository as repo
from zhongtai.members.models import Consent
from zhongtai.members.schemas_engagement import ConsentOut

CHANNELS = ("sms", "wechat", "email", "phone", "app_push")
PURPOSE = "marketing"


def _out(row: Consent) -> ConsentOut:
    return ConsentOut(
        channel=row.channel,
        purpose=row.purpose,
        granted=row.granted,
        source=row.source,
        actor_name=row.actor_name,
        at=row.at,
    )


def set_consent(
    session: Session,
    actor: Principal,
    member_id: int,
    *,
    channel: str,
    granted: bool,
    source: str,
    purpose: str = PURPOSE,
) -> ConsentOut:
    """Records the member's answer for one channel (a new row, even when it repeats the last)."""
    problems: list[FieldProblem] = []
    if channel not in CHANNELS:
        problems.append(FieldProblem(f"body.{channel}", "unknown_channel", f"one of {', '.join(CHANNELS)}"))
    if not source.strip():
        problems.append(FieldProblem("body.source", "required", "where the consent was captured"))
    if problems:
        raise ValidationFailed("invalid consent", errors=problems)
    member = repo.lock(session, member_id)
    if member is None:
        raise not_found("member", member_id)
    if member.status != "active":
        raise Conflict(f"member {member.code} is {member.status}", extra={"member_status": member.status})
    row = Consent(
        member_id=member.id,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=source.strip()[:64],
        actor_name=actor.name[:128],
        at=utcnow(),
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor,
        "member.consent",
        "member",
        member.id,
        after={"channel": channel, "purpose": purpose, "granted": granted, "source": row.source},
    )
    return _out(row)


def current_consents(session: Session, member_id: int, purpose: str = PURPOSE) -> dict[str, ConsentOut]:
    """Every channel's current answer (not granted where never asked)."""
    latest = (
        select(func.max(Consent.id))
        .where(Consent.member_id == member_id, Consent.purpose == purpose)
        .group_by(Consent.channel)
        .scalar_subquery()
    )
    rows = {r.channel: r for r in session.scalars(select(Consent).where(Consent.id.in_(latest)))}
    return {c: _out(rows[c]) if c in rows else ConsentOut(channel=c, purpose=purpose) for c in CHANNELS}


def consent_history(session: Session, member_id: int) -> list[ConsentOut]:
    """Every statement, newest first."""
    rows = session.scalars(
        select(Consent).where(Consent.member_id == member_id).order_by(Consent.at.desc(), Consent.id.desc())
    )
    return [_out(r) for r in rows]
