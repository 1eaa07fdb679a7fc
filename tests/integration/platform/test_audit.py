from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from tests.factories import key_headers, make_key
from zhongtai.auth.models import AuditEntry
from zhongtai.db import Database


def test_state_changes_are_audited_with_actor_and_before_after(client: TestClient, db: Database) -> None:
    admin = key_headers(make_key(db, role="admin", name="ops-bot"))
    created = client.post(
        "/api/v1/users",
        json={"username": "li", "display_name": "李雷", "password": "password-1", "role": "analyst"},
        headers={**admin, "X-Request-ID": "rq-audit-1"},
    ).json()
    client.patch(f"/api/v1/users/{created['id']}", json={"role": "cs_agent"}, headers=admin)
    entries = client.get(
        "/api/v1/audit", params={"entity_type": "user", "entity_id": str(created["id"])}, headers=admin
    ).json()["items"]
    assert [e["action"] for e in entries] == ["user.update", "user.create"]
    update_entry, create_entry = entries
    assert create_entry["actor_type"] == "api_key"
    assert create_entry["actor_name"] == "key:ops-bot"
    assert create_entry["request_id"] == "rq-audit-1"
    assert create_entry["after"]["role"] == "analyst"
    assert "password" not in create_entry["after"]
    assert update_entry["before"]["role"] == "analyst"
    assert update_entry["after"]["role"] == "cs_agent"


@pytest.mark.postgres
def test_postgres_refuses_to_rewrite_the_audit_log(client: TestClient, db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("the trigger is PostgreSQL's")
    make_key(db, role="admin")
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as s:
        s.execute(update(AuditEntry).values(action="forged"))
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as s:
        s.execute(delete(AuditEntry))
