from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import key_headers, make_key
from zhongtai.db import Database


def test_health_checks_the_database(client: TestClient) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"


def test_api_requires_authentication(client: TestClient) -> None:
    resp = client.get("/api/v1/me")
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "unauthenticated"


def test_api_key_identifies_caller(client: TestClient, db: Database) -> None:
    secret = make_key(db, role="integrator", channel_code="jd")
    resp = client.get("/api/v1/me", headers=key_headers(secret))
    assert resp.status_code == 200
    body = resp.json()
    assert body["role"] == "integrator"
    assert body["channel_code"] == "jd"
    assert "console:use" not in body["permissions"]


def test_revoked_key_is_refused(client: TestClient, db: Database) -> None:
    admin = make_key(db, role="admin")
    victim = make_key(db, role="integrator")
    keys = client.get("/api/v1/api-keys", headers=key_headers(admin)).json()["items"]
    victim_id = next(k["id"] for k in keys if victim.split("_")[1] == k["prefix"])
    assert client.post(f"/api/v1/api-keys/{victim_id}/revoke", headers=key_headers(admin)).status_code == 200
    assert client.get("/api/v1/me", headers=key_headers(victim)).status_code == 401


def test_key_use_is_recorded_after_the_response(client: TestClient, db: Database) -> None:
    secret = make_key(db, role="admin", name="watcher")
    assert client.get("/api/v1/me", headers=key_headers(secret)).status_code == 200
    keys = client.get("/api/v1/api-keys", headers=key_headers(secret)).json()["items"]
    assert next(k for k in keys if k["name"] == "watcher")["last_used_at"] is not None
