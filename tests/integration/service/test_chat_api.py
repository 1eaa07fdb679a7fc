"""The chat REST API: who may open and reach a conversation (widget keys with their token, the
channel's integrator without), problems naming the fields, and a channel's repeated message
answered once. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import key_headers, make_key
from tests.integration.service.chat_world import build_chat_world
from zhongtai.db import Database

BASE = "/api/v1/service/conversations"


def _start(client: TestClient, secret: str, **body: object) -> dict:  # type: ignore[type-arg]
    resp = client.post(BASE, json=body, headers=key_headers(secret))
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_widget_conversation_with_its_token(client: TestClient, db: Database) -> None:
    build_chat_world(db)
    widget = make_key(db, role="chat_widget", channel_code="web")
    started = _start(client, widget, customer_name="访客")
    assert started["messages"][0]["sender"] == "bot"
    assert started["token"]
    conv_headers = {**key_headers(widget), "X-Conversation-Token": started["token"]}
    url = f"{BASE}/{started['public_id']}"

    resp = client.post(f"{url}/messages", json={"text": "有赠品吗"}, headers=conv_headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "bot"
    assert body["messages"]
    assert body["messages"][0]["sender"] == "bot"

    got = client.get(url, headers=conv_headers).json()
    assert [m["sender"] for m in got["messages"]][:3] == ["bot", "customer", "bot"]
    assert got["messages"][1]["intent"] == "presale.product_gifts"

    # Without the token (or with another's), the conversation does not exist for this key.
    for headers in (key_headers(widget), {**key_headers(widget), "X-Conversation-Token": "nope"}):
        resp = client.get(url, headers=headers)
        assert resp.status_code == 404
        assert resp.headers["content-type"].startswith("application/problem+json")
    other = make_key(db, role="chat_widget", channel_code="web", name="another shop page")
    assert client.post(f"{url}/messages", json={"text": "hi"}, headers=key_headers(other)).status_code == 404

    rated = client.post(f"{url}/rating", json={"score": 4, "comment": "ok"}, headers=conv_headers)
    assert rated.status_code == 200
    assert rated.json()["satisfaction"] == 4
    bad = client.post(f"{url}/rating", json={"score": 9}, headers=conv_headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.score"
    closed = client.post(f"{url}/close", headers=conv_headers)
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    again = client.post(f"{url}/messages", json={"text": "在吗"}, headers=conv_headers)
    assert again.status_code == 409


def test_channel_binding_and_member_identifiers(client: TestClient, db: Database) -> None:
    world = build_chat_world(db)
    widget = make_key(db, role="chat_widget", channel_code="web")
    resp = client.post(BASE, json={"channel_code": "jd"}, headers=key_headers(widget))
    assert resp.status_code == 403
    resp = client.post(
        BASE, json={"member_identifiers": [{"kind": "phone", "value": "13912345678"}]}, headers=key_headers(widget)
    )
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "body.member_identifiers"

    unbound = make_key(db, role="chat_widget", name="unbound widget")
    resp = client.post(BASE, json={}, headers=key_headers(unbound))
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "body.channel_code"
    resp = client.post(BASE, json={"channel_code": "web", "scene": "moon"}, headers=key_headers(unbound))
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "body.scene"

    integrator = make_key(db, role="integrator", channel_code="web")
    started = _start(
        client,
        integrator,
        customer_ref="oAbc-123",
        member_identifiers=[{"kind": "phone", "value": "139 1234 5678"}],
    )
    url = f"{BASE}/{started['public_id']}"
    # The channel's integrator needs no token.
    got = client.get(url, headers=key_headers(integrator)).json()
    assert got["member_id"] == world.alice
    bad = client.post(
        BASE, json={"member_identifiers": [{"kind": "phone", "value": "12"}]}, headers=key_headers(integrator)
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.member_identifiers.0.value"
    # The same customer on the same channel continues the open conversation.
    again = _start(client, integrator, customer_ref="oAbc-123")
    assert again["public_id"] == started["public_id"]
    assert again["reused"]
    assert again["token"] is None
    # Another channel's key does not reach it.
    jd = make_key(db, role="integrator", channel_code="jd")
    assert client.get(url, headers=key_headers(jd)).status_code == 404


def test_repeated_client_message_id_gets_the_same_replies(client: TestClient, db: Database) -> None:
    build_chat_world(db)
    integrator = make_key(db, role="integrator", channel_code="web")
    started = _start(client, integrator, customer_ref="oXyz-9")
    url = f"{BASE}/{started['public_id']}/messages"
    first = client.post(url, json={"text": "运费怎么算", "client_message_id": "m-1"}, headers=key_headers(integrator))
    again = client.post(url, json={"text": "运费怎么算", "client_message_id": "m-1"}, headers=key_headers(integrator))
    assert first.status_code == again.status_code == 200
    assert [m["id"] for m in again.json()["messages"]] == [m["id"] for m in first.json()["messages"]]
    got = client.get(f"{BASE}/{started['public_id']}", headers=key_headers(integrator)).json()
    assert sum(1 for m in got["messages"] if m["sender"] == "customer") == 1
    empty = client.post(url, json={"text": ""}, headers=key_headers(integrator))
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "body.text"


def test_keys_without_service_chat_are_refused(client: TestClient, db: Database) -> None:
    build_chat_world(db)
    for secret in (make_key(db, role="analyst"), ""):
        resp = client.post(BASE, json={"channel_code": "web"}, headers=key_headers(secret) if secret else {})
        assert resp.status_code in (401, 403)
