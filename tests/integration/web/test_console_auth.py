"""Logging in and out of the console; who may open a page at all."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from tests.factories import PASSWORD, console_login, key_headers, make_key, make_user
from tests.integration.web.conftest import csrf_of
from zhongtai.app import create_app
from zhongtai.db import Database
from zhongtai.settings import Settings


def test_login_page_is_bilingual_and_branded(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert "登录中台" in page.text
    assert 'name="username"' in page.text
    client.cookies.set("lang", "en")
    assert "Log in to Zhongtai" in client.get("/login").text


def test_login_sets_a_locked_down_session_cookie_and_redirects(client: TestClient, db: Database) -> None:
    # Given a user
    make_user(db, "wang", "ops")
    # When they log in from the form
    resp = client.post(
        "/login", data={"username": "wang", "password": PASSWORD, "next": "/catalog"}, follow_redirects=False
    )
    # Then they are sent where they wanted to go with an HttpOnly, SameSite=Lax session cookie
    assert resp.status_code == 303
    assert resp.headers["location"] == "/catalog"
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith("zt_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # not production
    assert client.get("/").status_code == 200


def test_production_cookie_is_secure(db: Database) -> None:
    settings = Settings(
        env="production",
        database_url="postgresql://prod/zt",
        secret_key="x" * 40,
        run_worker=False,
        log_json=False,
        log_level="WARNING",
    )
    make_user(db, "wang", "ops")
    with TestClient(create_app(settings, db=db)) as client:
        resp = client.post("/login", data={"username": "wang", "password": PASSWORD}, follow_redirects=False)
    assert resp.status_code == 303
    assert "Secure" in resp.headers["set-cookie"]


def test_wrong_password_shows_the_form_again(client: TestClient, db: Database) -> None:
    make_user(db, "wang", "ops")
    resp = client.post("/login", data={"username": "wang", "password": "nope-nope"}, follow_redirects=False)
    assert resp.status_code == 401
    assert "用户名或密码不正确" in resp.text
    assert "set-cookie" not in resp.headers


def test_login_never_redirects_off_site(client: TestClient, db: Database) -> None:
    make_user(db, "wang", "ops")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        client.cookies.clear()
        resp = client.post(
            "/login", data={"username": "wang", "password": PASSWORD, "next": target}, follow_redirects=False
        )
        assert resp.headers["location"] == "/", target


def test_login_posted_from_another_site_is_refused(client: TestClient, db: Database) -> None:
    make_user(db, "wang", "ops")
    resp = client.post(
        "/login",
        data={"username": "wang", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert resp.status_code == 403
    assert "set-cookie" not in resp.headers


def test_pages_redirect_to_login_when_not_logged_in(client: TestClient) -> None:
    resp = client.get("/catalog?q=手机", follow_redirects=False)
    assert resp.status_code == 303
    location = urlsplit(resp.headers["location"])
    assert location.path == "/login"
    # The page asked for, query included, comes back after logging in.
    assert parse_qs(location.query)["next"] == ["/catalog?q=%E6%89%8B%E6%9C%BA"]
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_an_api_key_cannot_open_console_pages(client: TestClient, db: Database) -> None:
    # Given an admin API key (a machine credential with every permission)
    secret = make_key(db, role="admin")
    for headers in (key_headers(secret), {"X-API-Key": secret}):
        # When it asks for console pages
        for path in ("/", "/catalog", "/admin/users", "/admin/api-keys"):
            resp = client.get(path, headers=headers, follow_redirects=False)
            # Then it is sent to the login form like anyone without a session
            assert resp.status_code == 303, path
            assert resp.headers["location"].startswith("/login")
    # And a key cannot post a console form either
    resp = client.post(
        "/admin/api-keys", data={"name": "x", "role": "integrator"}, headers=key_headers(secret), follow_redirects=False
    )
    assert resp.status_code == 303


def test_people_without_console_access_are_refused(client: TestClient, db: Database) -> None:
    make_user(db, "bot", "integrator")
    console_login(client, "bot")
    resp = client.get("/catalog")
    assert resp.status_code == 403
    assert "没有权限" in resp.text


def test_logout_needs_the_csrf_token_and_ends_the_session(client: TestClient, db: Database) -> None:
    make_user(db, "wang", "ops")
    headers = console_login(client, "wang")
    # Without the form's token nothing happens
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200
    token = client.cookies.get("zt_session")
    # With it the session ends and the cookie is cleared
    resp = client.post("/logout", data={"csrf_token": csrf_of(headers)}, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/login"
    assert 'zt_session=""' in resp.headers["set-cookie"] or "Max-Age=0" in resp.headers["set-cookie"]
    # And the old token no longer opens anything, even if someone kept it
    client.cookies.set("zt_session", token or "")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_logged_in_visit_to_login_goes_home(client: TestClient, db: Database) -> None:
    make_user(db, "wang", "ops")
    console_login(client, "wang")
    resp = client.get("/login?next=/locations", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/locations"
