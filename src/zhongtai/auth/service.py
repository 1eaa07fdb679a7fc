"""Users, console sessions, API keys and the audit trail: the verbs other code calls."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhongtai.auth import repository as repo
from zhongtai.auth.audit import record
from zhongtai.auth.models import ApiKey, AuditEntry, ConsoleSession, User, UserStoreScope
from zhongtai.auth.permissions import SINGLE_STORE_ROLES, STORE_SCOPED_ROLES, Role
from zhongtai.auth.principal import Principal
from zhongtai.db import utcnow
from zhongtai.errors import Conflict, FieldProblem, ValidationFailed, not_found
from zhongtai.pagination import Page, SortKey, paginate

_hasher = PasswordHasher()
API_KEY_PREFIX = "zt"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------- users


def _validate_user_fields(
    session: Session, role: str, store_ids: Sequence[int], password: str | None, prefix: str = "body"
) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    try:
        parsed = Role(role)
    except ValueError:
        problems.append(FieldProblem(f"{prefix}.role", "invalid_role", f"unknown role {role!r}"))
        parsed = None
    if password is not None and len(password) < 8:
        problems.append(FieldProblem(f"{prefix}.password", "too_short", "at least 8 characters"))
    if parsed in STORE_SCOPED_ROLES:
        if not store_ids:
            problems.append(FieldProblem(f"{prefix}.store_ids", "required", f"role {role} needs a store"))
        elif parsed in SINGLE_STORE_ROLES and len(set(store_ids)) != 1:
            problems.append(FieldProblem(f"{prefix}.store_ids", "one_store", "a guide works in exactly one store"))
    elif store_ids:
        problems.append(FieldProblem(f"{prefix}.store_ids", "not_scoped_role", f"role {role} is not limited to stores"))
    if store_ids:
        unknown = sorted(set(store_ids) - repo.store_location_ids(session, store_ids))
        if unknown:
            problems.append(FieldProblem(f"{prefix}.store_ids", "unknown_store", f"not stores: {unknown}"))
    return problems


def user_snapshot(user: User, store_ids: Sequence[int]) -> dict[str, object]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "locale": user.locale,
        "is_active": user.is_active,
        "store_ids": sorted(store_ids),
    }


def create_user(
    session: Session,
    actor: Principal,
    *,
    username: str,
    display_name: str,
    password: str,
    role: str,
    store_ids: Sequence[int] = (),
    locale: str = "zh-CN",
) -> User:
    problems = _validate_user_fields(session, role, store_ids, password)
    if repo.get_user_by_username(session, username) is not None:
        problems.append(FieldProblem("body.username", "taken", f"username {username!r} is taken"))
    if problems:
        raise ValidationFailed("invalid user", errors=problems)
    user = User(
        username=username,
        display_name=display_name,
        password_hash=hash_password(password),
        role=role,
        locale=locale,
        is_active=True,
    )
    session.add(user)
    session.flush()
    repo.replace_store_scopes(session, user.id, store_ids)
    record(session, actor, "user.create", "user", user.id, after=user_snapshot(user, store_ids))
    return user


def update_user(
    session: Session,
    actor: Principal,
    user_id: int,
    *,
    display_name: str | None = None,
    role: str | None = None,
    store_ids: Sequence[int] | None = None,
    is_active: bool | None = None,
    password: str | None = None,
    locale: str | None = None,
) -> User:
    user = repo.get_user(session, user_id)
    if user is None:
        raise not_found("user", user_id)
    current_stores = sorted(repo.store_ids_of(session, user_id))
    before = user_snapshot(user, current_stores)
    new_role = role if role is not None else user.role
    new_stores = list(store_ids) if store_ids is not None else current_stores
    problems = _validate_user_fields(session, new_role, new_stores, password)
    if problems:
        raise ValidationFailed("invalid user", errors=problems)
    if display_name is not None:
        user.display_name = display_name
    user.role = new_role
    if locale is not None:
        user.locale = locale
    if password is not None:
        user.password_hash = hash_password(password)
    if is_active is not None:
        user.is_active = is_active
    if store_ids is not None:
        repo.replace_store_scopes(session, user.id, new_stores)
    if is_active is False or password is not None or role is not None or store_ids is not None:
        # A changed role or scope takes effect at once: open sessions are closed.
        repo.revoke_sessions_of(session, user.id, utcnow())
    session.flush()
    after = user_snapshot(user, new_stores)
    if password is not None:
        after["password"] = "changed"  # noqa: S105 - a marker, not a secret
    record(session, actor, "user.update", "user", user.id, before=before, after=after)
    return user


def list_users(session: Session, *, cursor: str | None, limit: int) -> Page[User]:
    return paginate(session, select(User), [SortKey(User.id)], cursor=cursor, limit=limit)


def store_ids_of_users(session: Session, user_ids: Sequence[int]) -> dict[int, list[int]]:
    return repo.store_ids_of_many(session, user_ids)


def get_user(session: Session, user_id: int) -> User:
    user = repo.get_user(session, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


def users_by_ids(session: Session, user_ids: Sequence[int]) -> dict[int, User]:
    """Many users at once, by id (ids that name no user are left out)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}


def active_users_in_store(session: Session, location_id: int, role: Role) -> list[User]:
    """The active users of one role whose store scope includes the location, by id."""
    stmt = (
        select(User)
        .join(UserStoreScope, UserStoreScope.user_id == User.id)
        .where(UserStoreScope.location_id == location_id, User.role == role.value, User.is_active.is_(True))
        .order_by(User.id)
    )
    return list(session.scalars(stmt))


def user_principal(session: Session, user: User, console_session: ConsoleSession | None = None) -> Principal:
    role = Role(user.role)
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        role=role,
        store_ids=repo.store_ids_of(session, user.id) if role in STORE_SCOPED_ROLES else None,
        locale=user.locale,
        session_id=console_session.id if console_session else None,
        csrf_token=console_session.csrf_token if console_session else None,
    )


# ---------------------------------------------------------------- console sessions


@dataclass(frozen=True, slots=True)
class StartedSession:
    token: str
    principal: Principal


def login(session: Session, username: str, password: str, *, max_age_s: int) -> StartedSession | None:
    user = repo.get_user_by_username(session, username)
    if user is None:
        verify_password(_dummy_hash(), password)  # same time whether or not the user exists
        return None
    if not user.is_active or not verify_password(user.password_hash, password):
        return None
    now = utcnow()
    token = secrets.token_urlsafe(32)
    console_session = ConsoleSession(
        token_hash=sha256_hex(token),
        csrf_token=secrets.token_urlsafe(24),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(seconds=max_age_s),
    )
    session.add(console_session)
    user.last_login_at = now
    session.flush()
    principal = user_principal(session, user, console_session)
    record(session, principal, "user.login", "user", user.id)
    return StartedSession(token=token, principal=principal)


def logout(session: Session, principal: Principal) -> None:
    if principal.session_id is None:
        return
    cs = session.get(ConsoleSession, principal.session_id)
    if cs is not None and cs.revoked_at is None:
        cs.revoked_at = utcnow()
        record(session, principal, "user.logout", "user", principal.id)


def principal_from_session_token(session: Session, token: str) -> Principal | None:
    cs = repo.find_session_by_token_hash(session, sha256_hex(token))
    if cs is None or cs.revoked_at is not None or cs.expires_at <= utcnow():
        return None
    user = repo.get_user(session, cs.user_id)
    if user is None or not user.is_active:
        return None
    return user_principal(session, user, cs)


# ---------------------------------------------------------------- API keys


@dataclass(frozen=True, slots=True)
class IssuedKey:
    secret: str  # shown once
    key: ApiKey


def create_api_key(
    session: Session, actor: Principal, *, name: str, role: str, channel_code: str | None = None
) -> IssuedKey:
    problems = []
    try:
        parsed = Role(role)
    except ValueError:
        problems.append(FieldProblem("body.role", "invalid_role", f"unknown role {role!r}"))
        parsed = None
    if parsed in STORE_SCOPED_ROLES:
        problems.append(FieldProblem("body.role", "not_for_keys", "store-scoped roles are for people"))
    if not name.strip():
        problems.append(FieldProblem("body.name", "required", "give the key a name"))
    if problems:
        raise ValidationFailed("invalid API key", errors=problems)
    prefix = secrets.token_hex(4)
    secret = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(24)}"
    key = ApiKey(
        name=name.strip(),
        prefix=prefix,
        key_hash=sha256_hex(secret),
        role=role,
        channel_code=channel_code,
        created_by_user_id=actor.id if actor.kind == "user" else None,
    )
    session.add(key)
    session.flush()
    record(
        session,
        actor,
        "api_key.create",
        "api_key",
        key.id,
        after={"name": key.name, "prefix": prefix, "role": role, "channel_code": channel_code},
    )
    return IssuedKey(secret=secret, key=key)


def revoke_api_key(session: Session, actor: Principal, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise not_found("api_key", key_id)
    if key.revoked_at is not None:
        raise Conflict("API key already revoked", extra={"key_id": key_id})
    key.revoked_at = utcnow()
    record(
        session,
        actor,
        "api_key.revoke",
        "api_key",
        key.id,
        before={"revoked": False},
        after={"revoked": True},
    )
    return key


def list_api_keys(session: Session, *, cursor: str | None, limit: int) -> Page[ApiKey]:
    return paginate(session, select(ApiKey), [SortKey(ApiKey.id)], cursor=cursor, limit=limit)


def principal_from_api_key(session: Session, secret: str) -> Principal | None:
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    key = repo.find_api_key_by_prefix(session, parts[1])
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.key_hash, sha256_hex(secret)):
        return None
    return _key_principal(key)


def principal_for_key_id(session: Session, key_id: int) -> Principal | None:
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return None
    return _key_principal(key)


def _key_principal(key: ApiKey) -> Principal:
    return Principal(
        kind="api_key", id=key.id, name=f"key:{key.name}", role=Role(key.role), channel_code=key.channel_code
    )


def touch_api_key(session: Session, key_id: int) -> None:
    now = utcnow()
    repo.touch_api_key(session, key_id, now, now - timedelta(minutes=1))


# ---------------------------------------------------------------- audit


def list_audit(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    cursor: str | None,
    limit: int,
) -> Page[AuditEntry]:
    stmt = repo.audit_query(entity_type, entity_id, action)
    return paginate(session, stmt, [SortKey(AuditEntry.id, descending=True)], cursor=cursor, limit=limit)


def audit_since(session: Session, since: datetime) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.occurred_at >= since)) or 0


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("not-a-real-password")
