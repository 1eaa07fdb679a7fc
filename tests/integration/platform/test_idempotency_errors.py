from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import key_headers, make_key
from zhongtai.auth.models import AuditEntry
from zhongtai.channels.models import Channel
from zhongtai.db import Database

CHANNEL = {"code": "web", "name": "官方商城", "kind": "web_shop"}


def _count_channels(db: Database) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(Channel)) or 0


def test_retry_with_same_key_replays_the_first_response(client: TestClient, db: Database) -> None:
    # Given an admin key
    headers = {**key_headers(make_key(db, role="admin")), "Idempotency-Key": "create-web-1"}
    # When the same create is sent twice with the same key
    first = client.post("/api/v1/channels", json=CHANNEL, headers=headers)
    second = client.post("/api/v1/channels", json=CHANNEL, headers=headers)
    # Then the second is the stored first answer, and only one channel exists
    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    assert _count_channels(db) == 1


def test_same_key_with_a_different_body_is_a_conflict(client: TestClient, db: Database) -> None:
    headers = {**key_headers(make_key(db, role="admin")), "Idempotency-Key": "k-2"}
    assert client.post("/api/v1/channels", json=CHANNEL, headers=headers).status_code == 201
    resp = client.post("/api/v1/channels", json={**CHANNEL, "code": "jd"}, headers=headers)
    assert resp.status_code == 409
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "idempotency_key_reused"
    assert _count_channels(db) == 1


def test_keys_belong_to_their_caller(client: TestClient, db: Database) -> None:
    a = {**key_headers(make_key(db, role="admin", name="a")), "Idempotency-Key": "same"}
    b = {**key_headers(make_key(db, role="admin", name="b")), "Idempotency-Key": "same"}
    assert client.post("/api/v1/channels", json=CHANNEL, headers=a).status_code == 201
    resp = client.post("/api/v1/channels", json={**CHANNEL, "code": "pos", "kind": "pos"}, headers=b)
    assert resp.status_code == 201
    assert _count_channels(db) == 2


def test_without_a_key_a_duplicate_create_is_a_validation_error(client: TestClient, db: Database) -> None:
    headers = key_headers(make_key(db, role="admin"))
    assert client.post("/api/v1/channels", json=CHANNEL, headers=headers).status_code == 201
    resp = client.post("/api/v1/channels", json=CHANNEL, headers=headers)
    assert resp.status_code == 422
    assert resp.json()["errors"] == [{"field": "body.code", "code": "taken", "message": "channel 'web' exists"}]


def test_unauthenticated_requests_do_not_burn_the_key(client: TestClient, db: Database) -> None:
    good = key_headers(make_key(db, role="admin"))
    bad = {"Authorization": "Bearer zt_nope_nope", "Idempotency-Key": "k"}
    assert client.post("/api/v1/channels", json=CHANNEL, headers=bad).status_code == 401
    assert client.post("/api/v1/channels", json=CHANNEL, headers={**good, "Idempotency-Key": "k"}).status_code == 201


def test_malformed_input_lists_every_bad_field_and_writes_nothing(client: TestClient, db: Database) -> None:
    headers = key_headers(make_key(db, role="admin"))
    with db.transaction(write=False) as s:
        audits_before = s.scalar(select(func.count()).select_from(AuditEntry))
    resp = client.post(
        "/api/v1/users",
        json={"username": "a b", "display_name": "", "password": "short", "role": "king", "extra": 1},
        headers=headers,
    )
    assert resp.status_code == 422
    body = resp.json()
    assert body["code"] == "validation_failed"
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"body.username", "body.display_name", "body.password", "body.role", "body.extra"}
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audits_before


def test_invalid_json_is_a_problem(client: TestClient, db: Database) -> None:
    headers = {**key_headers(make_key(db, role="admin")), "Content-Type": "application/json"}
    resp = client.post("/api/v1/channels", content=b"{not json", headers=headers)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["code"] == "json_invalid"


def test_unknown_path_is_a_problem_with_request_id(client: TestClient) -> None:
    resp = client.get("/api/v1/nothing-here", headers={"X-Request-ID": "req-123"})
    assert resp.status_code == 404
    assert resp.json()["request_id"] == "req-123"
    assert resp.headers["x-request-id"] == "req-123"


def test_cursor_pagination_walks_every_row_once(client: TestClient, db: Database) -> None:
    admin = key_headers(make_key(db, role="admin"))
    for i in range(5):
        r = client.post(
            "/api/v1/users",
            json={"username": f"u{i}", "display_name": f"U{i}", "password": "password-1", "role": "analyst"},
            headers=admin,
        )
        assert r.status_code == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/users", params=params, headers=admin).json()
        seen += [u["username"] for u in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"u{i}" for i in range(5)]
    assert pages == 3
    bad = client.get("/api/v1/users", params={"cursor": "!!!"}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.cursor"


def test_metrics_need_permission_and_speak_prometheus(client: TestClient, db: Database) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=key_headers(make_key(db, role="integrator"))).status_code == 403
    client.get("/healthz")
    resp = client.get("/metrics", headers=key_headers(make_key(db, role="admin")))
    assert resp.status_code == 200
    assert "zhongtai_http_requests_total" in resp.text
