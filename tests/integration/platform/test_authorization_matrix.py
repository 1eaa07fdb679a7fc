"""Every API route × every role, against the permission table in auth/permissions.py.

The routes are read from the app itself, so an endpoint added later is covered without touching
this test, and an endpoint without a permission check fails it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.factories import console_login, key_headers, make_key, make_user
from zhongtai.auth.permissions import STORE_SCOPED_ROLES, Perm, Role, permissions_for
from zhongtai.db import Database
from zhongtai.inventory.models import Location

# Routes any authenticated caller may use (they only describe the caller).
AUTHENTICATED_ONLY = {("GET", "/api/v1/me")}
# Routes authenticated by the caller's signature, not by a key or a session (webhooks): no
# permission applies; tests/integration/service/test_wecom.py holds them to 401 when unsigned.
SIGNATURE_AUTHENTICATED = {
    ("GET", "/api/v1/service/wecom/{channel_code}"),
    ("POST", "/api/v1/service/wecom/{channel_code}"),
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _required_perm(route: APIRoute) -> Perm | None:
    names: list[str] = []

    def walk(dependant: object) -> None:
        for dep in getattr(dependant, "dependencies", []):
            call = getattr(dep, "call", None)
            names.append(getattr(call, "__name__", ""))
            walk(dep)

    walk(route.dependant)
    perms = [Perm[n.removeprefix("require_").upper()] for n in names if n.startswith("require_")]
    assert len(perms) <= 1, f"{route.path} checks several permissions: {perms}"
    return perms[0] if perms else None


def api_routes(app: FastAPI) -> Iterator[tuple[str, str, Perm | None]]:
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/api/v1/"):
            for method in sorted(route.methods):
                yield method, route.path, _required_perm(route)


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    kwargs: dict[str, object] = {"headers": headers}
    if method in WRITE_METHODS:
        kwargs["json"] = {}
    resp = client.request(method, _fill(path), **kwargs)  # type: ignore[arg-type]
    body = resp.json() if resp.headers.get("content-type", "").startswith("application/") and resp.content else {}
    return resp.status_code, body if isinstance(body, dict) else {}


def test_every_api_route_checks_a_permission(app: FastAPI) -> None:
    exempt = AUTHENTICATED_ONLY | SIGNATURE_AUTHENTICATED
    unchecked = [(m, p) for m, p, perm in api_routes(app) if perm is None and (m, p) not in exempt]
    assert unchecked == []


def test_every_api_route_refuses_anonymous_callers(client: TestClient, app: FastAPI) -> None:
    for method, path, _ in api_routes(app):
        status, body = _call(client, method, path, {})
        assert status == 401, (method, path, status)
        assert body.get("code") == "unauthenticated"


def _caller_headers(client: TestClient, db: Database, role: Role, store_id: int) -> dict[str, str]:
    if role in STORE_SCOPED_ROLES:
        make_user(db, f"u_{role.value}", role.value, [store_id])
        headers = console_login(client, f"u_{role.value}")
        return headers
    return key_headers(make_key(db, role=role.value, name=role.value))


@pytest.mark.parametrize("role", list(Role))
def test_every_route_answers_each_role_by_the_permission_table(
    client: TestClient, app: FastAPI, db: Database, role: Role
) -> None:
    # Given a caller of this role (a key, or a console session for store-scoped people)
    with db.transaction() as s:
        store = Location(code="S-A", name="Store A", type="store", city="上海")
        s.add(store)
        s.flush()
        store_id = store.id
    headers = _caller_headers(client, db, role, store_id)
    allowed = permissions_for(role)
    mismatches = []
    # When it calls every route
    for method, path, perm in api_routes(app):
        if (method, path) in SIGNATURE_AUTHENTICATED:
            continue  # a key is no signature: always 401 (see test_wecom.py)
        status, body = _call(client, method, path, headers)
        denied = status == 403 and body.get("code") == "permission_denied"
        # Then it is refused exactly where its role lacks the route's permission
        should_deny = perm is not None and perm not in allowed
        if denied != should_deny or status == 401:
            mismatches.append((method, path, perm.value if perm else None, status, body.get("code")))
    assert mismatches == []
