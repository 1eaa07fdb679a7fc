from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, column, delete, select, table, update
from sqlalchemy.orm import Session

from zhongtai.auth.models import ApiKey, AuditEntry, ConsoleSession, User, UserStoreScope

# Auth sits below inventory and may not import its models; it only needs to know which
# location ids are stores, so it names the two columns it reads.
_locations = table("locations", column("id"), column("type"))


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def store_ids_of(session: Session, user_id: int) -> frozenset[int]:
    rows = session.scalars(select(UserStoreScope.location_id).where(UserStoreScope.user_id == user_id))
    return frozenset(rows)


def store_ids_of_many(session: Session, user_ids: Sequence[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {uid: [] for uid in user_ids}
    rows = session.execute(
        select(UserStoreScope.user_id, UserStoreScope.location_id)
        .where(UserStoreScope.user_id.in_(list(user_ids)))
        .order_by(UserStoreScope.location_id)
    )
    for uid, lid in rows:
        out[uid].append(lid)
    return out


def replace_store_scopes(session: Session, user_id: int, location_ids: Sequence[int]) -> None:
    session.execute(delete(UserStoreScope).where(UserStoreScope.user_id == user_id))
    session.add_all([UserStoreScope(user_id=user_id, location_id=lid) for lid in sorted(set(location_ids))])


def store_location_ids(session: Session, candidate_ids: Sequence[int]) -> set[int]:
    rows = session.execute(
        select(_locations.c.id).where(_locations.c.id.in_(list(candidate_ids)), _locations.c.type == "store")
    )
    return {r[0] for r in rows}


def find_session_by_token_hash(session: Session, token_hash: str) -> ConsoleSession | None:
    return session.scalar(select(ConsoleSession).where(ConsoleSession.token_hash == token_hash))


def revoke_sessions_of(session: Session, user_id: int, now: datetime) -> None:
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def find_api_key_by_prefix(session: Session, prefix: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))


def touch_api_key(session: Session, key_id: int, now: datetime, older_than: datetime) -> None:
    # Conditional so that a busy key writes at most once a minute, not on every request.
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < older_than))
        .values(last_used_at=now)
    )


def audit_query(
    entity_type: str | None = None, entity_id: str | None = None, action: str | None = None
) -> Select[AuditEntry]:
    stmt = select(AuditEntry)
    if entity_type:
        stmt = stmt.where(AuditEntry.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return stmt
