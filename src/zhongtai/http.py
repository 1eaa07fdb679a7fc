"""Request-scoped dependencies: the transaction, the caller, pagination.

The request owns the transaction: ``get_session`` commits when the endpoint returns and rolls
back when it raises, before the response is sent (``scope="function"``), so a client never sees
a success that was not committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Query, Request
from sqlalchemy.orm import Session

from zhongtai.auth import service as auth_service
from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.db import Database
from zhongtai.errors import PermissionDenied, Unauthenticated
from zhongtai.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _session(request: Request) -> Iterator[Session]:
    db = get_db(request)
    session = db.new_session(write=request.method not in SAFE_METHODS)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


get_session = Depends(_session, scope="function")
DbSession = Annotated[Session, get_session]


def credential_of(request: Request) -> tuple[str, str] | None:
    """('key', secret) from Authorization: Bearer / X-API-Key, or ('session', token) from the cookie."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return ("key", auth[7:].strip())
    api_key = request.headers.get("x-api-key")
    if api_key:
        return ("key", api_key.strip())
    settings = get_settings_dep(request)
    token = request.cookies.get(settings.session_cookie)
    if token:
        return ("session", token)
    return None


def _principal(request: Request, session: DbSession, background: BackgroundTasks) -> Principal:
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    cred = credential_of(request)
    if cred is None:
        raise Unauthenticated("send an API key (Authorization: Bearer …) or log in to the console")
    kind, secret = cred
    if kind == "key":
        principal = auth_service.principal_from_api_key(session, secret)
        if principal is None:
            raise Unauthenticated("unknown or revoked API key")
        if principal.id is not None:
            _note_key_use(request, background, principal.id)
    else:
        principal = auth_service.principal_from_session_token(session, secret)
        if principal is None:
            raise Unauthenticated("console session expired; log in again")
        # Cookie-authenticated writes must prove they come from our own pages.
        if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
            sent = request.headers.get("x-csrf-token")
            if not sent or sent != principal.csrf_token:
                raise PermissionDenied("missing or wrong X-CSRF-Token", extra={"reason": "csrf"})
    request.state.principal = principal
    return principal


KEY_TOUCH_EVERY_S = 60.0


def _note_key_use(request: Request, background: BackgroundTasks, key_id: int) -> None:
    """Records when a key was last used: at most once a minute per key and process, after the
    response, in its own short transaction. Never inside the request's transaction: a row lock
    on a shared key held for a whole request would serialise every caller of that key (and on
    SQLite a second writer inside the request would wait for the request itself)."""
    touched: dict[int, float] = request.app.state.key_touches
    now = time.monotonic()
    if now - touched.get(key_id, -KEY_TOUCH_EVERY_S) < KEY_TOUCH_EVERY_S:
        return
    touched[key_id] = now
    background.add_task(_touch_key, get_db(request), key_id)


def _touch_key(db: Database, key_id: int) -> None:
    with db.transaction() as session:
        auth_service.touch_api_key(session, key_id)


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


def require(perm: Perm) -> Callable[..., Principal]:
    def dependency(principal: CurrentPrincipal) -> Principal:
        principal.require(perm)
        return principal

    dependency.__name__ = f"require_{perm.name.lower()}"
    return dependency


class PageParams:
    def __init__(
        self,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> None:
        self.cursor = cursor
        self.limit = limit


Paging = Annotated[PageParams, Depends()]
