"""Queries of the member center."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhongtai.errors import Conflict, not_found
from zhongtai.members.models import Member


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
