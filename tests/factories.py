"""Builders for test data. They go through the same service verbs as the product."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient

from zhongtai.auth import service as auth_service
from zhongtai.auth.principal import Principal
from zhongtai.db import Database

SYSTEM = Principal.system("tests")
PASSWORD = "correct-horse-1"


@dataclass
class ApiCaller:
    """Headers for one API caller (key or console session)."""

    headers: dict[str, str]
    cookies: dict[str, str]


def make_user(db: Database, username: str, role: str, store_ids: list[int] | None = None) -> int:
    with db.transaction() as s:
        user = auth_service.create_user(
            s,
            SYSTEM,
            username=username,
            display_name=username,
            password=PASSWORD,
            role=role,
            store_ids=store_ids or [],
        )
        return user.id


def make_key(
    db: Database, role: str = "integrator", channel_code: str | None = None, name: str = "test key"
) -> str:
    with db.transaction() as s:
        return auth_service.create_api_key(s, SYSTEM, name=name, role=role, channel_code=channel_code).secret


def key_headers(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def console_login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Logs the client in through the console form; returns the headers a page's JS would send."""
    resp = client.post("/login", data={"username": username, "password": password}, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    with client.app.state.db.transaction(write=False) as s:  # type: ignore[attr-defined]
        token = client.cookies.get(client.app.state.settings.session_cookie)  # type: ignore[attr-defined]
        principal = auth_service.principal_from_session_token(s, token or "")
    assert principal is not None
    return {"X-CSRF-Token": principal.csrf_token or ""}
