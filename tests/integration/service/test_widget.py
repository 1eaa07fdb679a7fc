"""The chat widget's server side: CORS on the conversation API for the configured origins only
(preflight allowed and denied, other API paths untouched), the static files, and a whole widget
conversation through the API with a publishable key from another origin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.factories import key_headers, make_key
from tests.integration.service.test_agent_desk import AGENT_API, build_desk, login, queue_it
from zhongtai.app import create_app
from zhongtai.db import Database
from zhongtai.service.widget import embed_snippet, is_widget_path
from zhongtai.settings import Settings

SHOP = "https://shop.example.com"
CHAT = "/api/v1/service/conversations"


@pytest.fixture
def shop_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """The app with the retailer's site allowed to embed the widget."""
    allowed = settings.model_copy(update={"service_widget_origins": [SHOP + "/"]})
    with TestClient(create_app(allowed, db=db)) as c:
        yield c


def preflight(client: TestClient, path: str, origin: str) -> dict[str, str]:
    resp = client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-conversation-token",
        },
    )
    return {"status": str(resp.status_code), **{k.lower(): v for k, v in resp.headers.items()}}


def test_preflight_is_allowed_for_the_configured_origin_on_the_conversation_api(shop_client: TestClient) -> None:
    for path in (CHAT, f"{CHAT}/C123/messages", f"{CHAT}/C123/rating"):
        answer = preflight(shop_client, path, SHOP)
        assert answer["status"] == "200", path
        assert answer["access-control-allow-origin"] == SHOP
        assert "x-conversation-token" in answer["access-control-allow-headers"].lower()
        assert "POST" in answer["access-control-allow-methods"]
        assert "access-control-allow-credentials" not in answer


def test_preflight_is_denied_for_other_origins_and_other_paths(shop_client: TestClient, client: TestClient) -> None:
    denied = preflight(shop_client, CHAT, "https://evil.example.net")
    assert denied["status"] == "400"
    assert "access-control-allow-origin" not in denied
    # The agent API and the rest of the platform never answer CORS, whatever the origin.
    for path in (f"{AGENT_API}/queue", "/api/v1/catalog/skus", "/api/v1/service/conversationsX"):
        assert "access-control-allow-origin" not in preflight(shop_client, path, SHOP), path
    # With no origins configured (the default), only Zhongtai's own pages can use the widget.
    assert preflight(client, CHAT, SHOP)["status"] == "400"


def test_a_widget_conversation_from_the_retailers_site(shop_client: TestClient, db: Database) -> None:
    # Given a chat_widget key for the web channel, used from the retailer's page
    build_desk(db)
    widget = {**key_headers(make_key(db, role="chat_widget", channel_code="web")), "Origin": SHOP}

    # When the widget opens a conversation, which the bot hands to a person
    resp = shop_client.post(CHAT, json={"channel_code": "web", "customer_ref": "v-abc"}, headers=widget)
    assert resp.status_code == 201, resp.text
    assert resp.headers["access-control-allow-origin"] == SHOP
    started = resp.json()
    public_id = started["public_id"]
    token = {"X-Conversation-Token": started["token"]}
    assert started["messages"][0]["sender"] == "bot"
    queue_it(db, public_id)
    resp = shop_client.post(f"{CHAT}/{public_id}/messages", json={"text": "在吗"}, headers=widget | token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["messages"] == []  # waiting for a person: no bot reply

    # Then, once an agent accepts and answers, the widget's poll shows the agent's reply
    agent = login(shop_client, "xiaowang")
    assert shop_client.post(f"{AGENT_API}/conversations/{public_id}/accept", headers=agent).status_code == 200
    shop_client.post(f"{AGENT_API}/conversations/{public_id}/messages", json={"text": "您好"}, headers=agent)
    shop_client.cookies.clear()
    polled = shop_client.get(f"{CHAT}/{public_id}", headers=widget | token).json()
    assert polled["status"] == "agent"
    assert [m["text"] for m in polled["messages"] if m["sender"] == "agent"] == ["您好"]
    # And without the token the same key sees nothing
    assert shop_client.get(f"{CHAT}/{public_id}", headers=widget).status_code == 404


def test_the_widget_files_are_served_and_the_snippet_names_them(client: TestClient) -> None:
    js = client.get("/static/service/widget.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    for attribute in ("data-key", "data-channel", "data-csrf", "X-Conversation-Token", "localStorage"):
        assert attribute in js.text
    assert client.get("/static/service/widget.css").status_code == 200
    snippet = embed_snippet("https://zt.example.com/", channel_code="web", key="zt_pub_1")
    assert snippet == (
        '<script src="https://zt.example.com/static/service/widget.js" data-key="zt_pub_1" '
        'data-channel="web" async></script>'
    )
    assert is_widget_path(CHAT)
    assert is_widget_path(f"{CHAT}/C1/rating")
    assert not is_widget_path(CHAT + "X")
