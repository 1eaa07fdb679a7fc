"""The /touchpoints console pages render in both languages; the register and edit forms
validate and name each bad field."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import console_login, key_headers, make_key, make_user
from tests.integration.touchpoints.world import search, touchpoint_world
from zhongtai.db import Database


def _login(client: TestClient, db: Database, role: str = "admin") -> None:
    make_user(db, f"tp-{role}", role)
    console_login(client, f"tp-{role}")


def _csrf(client: TestClient) -> str:
    with client.app.state.db.transaction(write=False) as s:  # type: ignore[attr-defined]
        from zhongtai.auth import service as auth_service

        token = client.cookies.get(client.app.state.settings.session_cookie)  # type: ignore[attr-defined]
        principal = auth_service.principal_from_session_token(s, token or "")
    assert principal is not None
    return principal.csrf_token or ""


def test_list_and_detail_render_in_both_languages(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    headers = key_headers(make_key(db, role="integrator"))
    client.post("/api/v1/touchpoints/cam-sh02/heartbeats", json={"latency_ms": 35}, headers=headers)
    client.post("/api/v1/events", json={"touchpoint": "web-shop", "events": [search("a"), "bad"]}, headers=headers)
    _login(client, db)
    page = client.get("/touchpoints")
    assert page.status_code == 200
    assert "全触点" in page.text
    assert "客流摄像头" in page.text
    assert "tp-dot healthy" in page.text
    assert "tp-dot never" in page.text
    assert "¥1,200.00" in page.text
    filtered = client.get("/touchpoints?type=offline")
    assert "cam-sh02" in filtered.text
    assert "/touchpoints/web-shop" not in filtered.text
    detail = client.get("/touchpoints/web-shop")
    assert detail.status_code == 200
    assert "curl -X POST" in detail.text
    assert "&#34;touchpoint&#34;: &#34;web-shop&#34;" in detail.text
    assert "not_an_object" in detail.text
    assert "搜索" in detail.text
    client.get("/lang/en?next=/touchpoints", follow_redirects=False)
    english = client.get("/touchpoints/cam-sh02")
    assert "Heartbeat latency, last 24 h" in english.text
    assert "<svg" in english.text
    assert client.get("/touchpoints").text.count("Touchpoints") >= 1
    assert client.get("/touchpoints/none").status_code == 404


def test_register_form_names_each_bad_field_then_registers(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    _login(client, db)
    token = _csrf(client)
    bad = client.post(
        "/touchpoints",
        data={
            "csrf_token": token,
            "code": "",
            "name": "屏",
            "type": "offline",
            "kind": "web_shop",
            "cost_fen_month": "-5",
            "store_code": "DC-WH",
        },
    )
    assert bad.status_code == 422
    assert bad.text.count('class="field-error"') == 4  # code, kind, cost, store
    good = client.post(
        "/touchpoints",
        data={
            "csrf_token": token,
            "code": "screen-1",
            "name": "互动屏",
            "type": "offline",
            "kind": "interactive_screen",
            "store_code": "S-SH-01",
            "factors": ["retail", "marketing"],
            "cost_fen_month": "30000",
            "heartbeat_interval_s": "120",
        },
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert good.headers["location"] == "/touchpoints/screen-1?done=registered"
    edit = client.post(
        "/touchpoints/screen-1",
        data={
            "csrf_token": token,
            "name": "互动屏 A",
            "kind": "interactive_screen",
            "status": "active",
            "store_code": "S-SH-01",
            "cost_fen_month": "30000",
            "heartbeat_interval_s": "120",
        },
        follow_redirects=False,
    )
    assert edit.status_code == 303
    shown = client.get("/touchpoints/screen-1")
    assert "互动屏 A" in shown.text
    assert "运行中" in shown.text
    wrong = client.post(
        "/touchpoints/screen-1",
        data={"csrf_token": token, "name": "x", "kind": "camera", "cost_fen_month": "abc"},
    )
    assert wrong.status_code == 422
    assert wrong.text.count('class="field-error"') == 1


def test_readers_see_no_forms(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    _login(client, db, role="analyst")
    page = client.get("/touchpoints")
    assert page.status_code == 200
    assert 'method="get" action="/touchpoints"' in page.text
    assert 'method="post" action="/touchpoints"' not in page.text
    assert 'method="post" action="/touchpoints/web-shop"' not in client.get("/touchpoints/web-shop").text
