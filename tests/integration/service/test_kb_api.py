"""The knowledge-base API under /api/v1/service/kb and /api/v1/service/settings: reads need
service:read, changes service:write; problems come back as problem+json naming every field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import key_headers, make_catalog_basics, make_key
from zhongtai.db import Database

KB = "/api/v1/service/kb"

SMALL_YAML = """
scenarios:
- code: presale
  name: 售前
  intents:
  - code: shipping
    name: 配送
    subintents:
    - code: shipping.fee
      name: 运费
      examples: [包邮吗, 运费多少, 满多少包邮, 要运费吗]
      answers:
      - {text: 满99包邮}
      - {text: 京东满99免运费, channel: marketplace}
    - code: shipping.area
      name: 配送范围
      examples: [新疆能发吗, 西藏能送吗, 配送范围有哪些]
      answers: [{text: 全国都能送}]
""".encode()


@pytest.fixture
def keys(db: Database) -> dict[str, dict[str, str]]:
    make_catalog_basics(db)
    return {
        role: key_headers(
            make_key(db, role, channel_code="web" if role in ("integrator", "chat_widget") else None, name=role)
        )
        for role in ("ops", "analyst", "cs_agent", "integrator", "chat_widget")
    }


def test_reads_need_service_read_and_changes_service_write(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    for role in ("ops", "analyst", "cs_agent"):
        assert client.get(f"{KB}/tree", headers=keys[role]).status_code == 200, role
    for role in ("integrator", "chat_widget"):
        assert client.get(f"{KB}/tree", headers=keys[role]).status_code == 403, role
        assert client.get("/api/v1/service/settings/web", headers=keys[role]).status_code == 403, role
    assert client.get(f"{KB}/tree").status_code == 401
    body = {"code": "presale", "name": "售前"}
    for role in ("analyst", "cs_agent", "integrator"):
        resp = client.post(f"{KB}/scenarios", json=body, headers=keys[role])
        assert (resp.status_code, resp.json()["code"]) == (403, "permission_denied"), role
        assert client.post(f"{KB}/publish", headers=keys[role]).status_code == 403, role
        assert client.put("/api/v1/service/settings/web", json={"max_misses": 3}, headers=keys[role]).status_code == 403
    assert client.post(f"{KB}/scenarios", json=body, headers=keys["ops"]).status_code == 201


def test_draft_crud_over_http(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    ops = keys["ops"]
    assert client.post(f"{KB}/scenarios", json={"code": "presale", "name": "售前"}, headers=ops).status_code == 201
    intent = client.post(
        f"{KB}/intents", json={"scenario_code": "presale", "code": "shipping", "name": "配送"}, headers=ops
    )
    assert intent.status_code == 201
    assert intent.json()["scenario_code"] == "presale"
    created = client.post(
        f"{KB}/subintents",
        json={
            "intent_code": "shipping",
            "code": "shipping.fee",
            "name": "运费",
            "examples": ["包邮吗", "运费多少"],
            "answers": [{"text": "满99包邮"}, {"text": "官网包邮", "channel": "web"}],
        },
        headers=ops,
    )
    assert created.status_code == 201, created.text
    assert [a["channel"] for a in created.json()["answers"]] == ["", "web"]
    bad = client.post(
        f"{KB}/subintents",
        json={
            "intent_code": "x",
            "code": "BAD",
            "name": "",
            "action": "dance",
            "answers": [{"text": "", "channel": "tmall"}],
        },
        headers=ops,
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in bad.json()["errors"]} == {
        "body.intent_code",
        "body.code",
        "body.name",
        "body.action",
        "body.answers.0.text",
        "body.answers.0.channel",
    }
    put = client.put(f"{KB}/subintents/shipping.fee", json={"answers": [{"text": "全场包邮"}]}, headers=ops)
    assert put.status_code == 200
    assert [a["text"] for a in put.json()["answers"]] == ["全场包邮"]
    added = client.post(
        f"{KB}/subintents/shipping.fee/examples", json={"examples": ["包郵嗎", "要运费吗"]}, headers=ops
    )
    assert added.json()["added"] == 1
    assert added.json()["subintent"]["examples"][-1] == "要运费吗"
    assert client.get(f"{KB}/subintents/shipping.fee", headers=keys["analyst"]).json()["name"] == "运费"
    assert client.get(f"{KB}/subintents/nope", headers=ops).status_code == 404
    tree = client.get(f"{KB}/tree", headers=ops).json()
    assert tree["counts"] == {"scenarios": 1, "intents": 1, "subintents": 1, "enabled": 1, "examples": 3, "answers": 1}
    assert client.delete(f"{KB}/intents/shipping", headers=ops).status_code == 409
    assert client.delete(f"{KB}/subintents/shipping.fee", headers=ops).status_code == 204
    assert client.delete(f"{KB}/intents/shipping", headers=ops).status_code == 204
    assert client.put(f"{KB}/scenarios/presale", json={"name": "售前咨询"}, headers=ops).json()["name"] == "售前咨询"


def test_import_export_publish_try_and_restore(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    ops = keys["ops"]
    dry = client.post(
        f"{KB}/import", files={"file": ("kb.yaml", SMALL_YAML)}, data={"mode": "merge", "dry_run": "true"}, headers=ops
    )
    assert dry.status_code == 200
    assert dry.json()["created"] == 2
    assert dry.json()["dry_run"] is True
    assert client.get(f"{KB}/tree", headers=ops).json()["counts"]["subintents"] == 0
    done = client.post(f"{KB}/import", files={"file": ("kb.yaml", SMALL_YAML)}, headers=ops)
    assert done.json()["created"] == 2
    bad = client.post(f"{KB}/import", files={"file": ("kb.txt", b"x")}, headers=ops)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "format"
    broken = client.post(f"{KB}/import", files={"file": ("kb.csv", b"scenario_code\nx\n")}, headers=ops)
    assert broken.status_code == 422
    assert broken.json()["errors"][0]["code"] == "missing_columns"

    export = client.get(f"{KB}/export", params={"format": "csv"}, headers=keys["analyst"])
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    assert export.content.startswith("\ufeff".encode())
    yaml_export = client.get(f"{KB}/export", headers=ops)
    assert "shipping.fee" in yaml_export.text

    assert client.get(f"{KB}/diff", headers=ops).json()["added"] == ["shipping.area", "shipping.fee"]
    assert client.post(f"{KB}/try", json={"question": "包邮吗"}, headers=ops).status_code == 409  # nothing published
    published = client.post(f"{KB}/publish", json={"note": "首发"}, headers=ops)
    assert published.status_code == 201
    assert published.json()["version"] == 1
    assert published.json()["note"] == "首发"
    trial = client.post(f"{KB}/try", json={"question": "包邮吗", "channel_code": "jd"}, headers=keys["cs_agent"])
    assert trial.status_code == 200
    assert trial.json()["subintent"] == "shipping.fee"
    assert trial.json()["answer"]["text"] == "京东满99免运费"

    client.post(f"{KB}/import", files={"file": ("kb.yaml", b"scenarios: []\n")}, data={"mode": "replace"}, headers=ops)
    assert client.get(f"{KB}/diff", headers=ops).json()["removed"] == ["shipping.area", "shipping.fee"]
    assert client.post(f"{KB}/publish", headers=ops).status_code == 422  # an empty draft cannot train
    restored = client.post(f"{KB}/versions/1/restore", headers=ops)
    assert restored.status_code == 200
    assert restored.json()["created"] == 2
    assert [v["version"] for v in client.get(f"{KB}/versions", headers=ops).json()] == [1]
    assert client.post(f"{KB}/versions/7/restore", headers=ops).status_code == 404


def test_settings_over_http(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    ops = keys["ops"]
    default = client.get("/api/v1/service/settings", headers=keys["analyst"]).json()
    assert default["inherited"] is True
    assert default["min_confidence"] == 0.45
    client.put("/api/v1/service/settings", json={"sla_wait_s": 120}, headers=ops)
    web = client.get("/api/v1/service/settings/web", headers=ops).json()
    assert web["inherited"] is True
    assert web["sla_wait_s"] == 120
    put = client.put("/api/v1/service/settings/web", json={"webhook_token": "tok123", "max_misses": 3}, headers=ops)
    assert put.status_code == 200
    body = put.json()
    assert body["inherited"] is False
    assert body["webhook_token_set"] is True
    assert "webhook_token" not in body
    bad = client.put("/api/v1/service/settings/web", json={"min_confidence": 2, "sla_wait_s": 1}, headers=ops)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"body.min_confidence", "body.sla_wait_s"}
    assert client.get("/api/v1/service/settings/nosuch", headers=ops).status_code == 404
    assert client.put("/api/v1/service/settings/nosuch", json={"max_misses": 3}, headers=ops).status_code == 422
