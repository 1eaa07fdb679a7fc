"""Console forms: CSRF on every POST, users and keys, imports as jobs with a progress page."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.factories import console_login, key_headers, make_user
from tests.integration.web.conftest import csrf_of
from tests.integration.web.seed import Shop
from zhongtai.db import Database
from zhongtai.jobs import run_pending

FORMS = [
    ("/logout", {}),
    ("/admin/users", {"username": "forged.user", "display_name": "X", "password": "long-enough-1", "role": "ops"}),
    ("/admin/users/1", {"display_name": "X", "role": "admin"}),
    ("/admin/users/1/active", {"active": "0"}),
    ("/admin/api-keys", {"name": "k", "role": "integrator"}),
    ("/admin/api-keys/1/revoke", {}),
]


@pytest.mark.parametrize(("path", "data"), FORMS)
def test_every_form_needs_the_sessions_csrf_token(
    client: TestClient, admin: dict[str, str], path: str, data: dict[str, str]
) -> None:
    # Without a token, and with someone else's, the form is refused and nothing changes
    for token in (None, "forged-token"):
        body = dict(data) | ({"csrf_token": token} if token else {})
        resp = client.post(path, data=body, follow_redirects=False)
        assert resp.status_code == 403, (path, token)
        assert "页面已过期" in resp.text
    assert client.get("/", follow_redirects=False).status_code == 200  # still logged in
    # (a name with a dot: random CSRF tokens are URL-safe base64 and could contain a short name)
    assert "forged.user" not in client.get("/admin/users").text


def test_uploads_need_the_csrf_token(client: TestClient, admin: dict[str, str]) -> None:
    files = {"file": ("c.csv", b"spu_code,sku_code\n", "text/csv")}
    assert client.post("/imports/catalog", files=files).status_code == 403
    assert client.post("/imports/counts", files=files).status_code == 403


def test_admin_creates_and_edits_a_store_manager(client: TestClient, admin: dict[str, str], shop: Shop) -> None:
    token = csrf_of(admin)
    # When the admin creates a store manager for two stores
    resp = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "zhang.wei",
            "display_name": "张伟",
            "password": "long-enough-1",
            "role": "store_manager",
            "locale": "zh-CN",
            "store_ids": [str(shop.store_a), str(shop.store_c)],
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303
    page = client.get(resp.headers["location"]).text
    # Then the list shows them with their stores
    assert "用户已创建" in page
    assert "zhang.wei" in page
    assert "北京西单店" in page
    user_id = int(re.search(r'href="/admin/users/(\d+)">张伟', page).group(1))  # type: ignore[union-attr]
    # And the new user can log in and sees only those stores
    other = TestClient(client.app)
    console_login(other, "zhang.wei", "long-enough-1")
    assert other.get("/locations/S-BJ01").status_code == 200
    assert other.get("/locations/S-SH02").status_code == 404
    # When the admin moves them to one store only
    resp = client.post(
        f"/admin/users/{user_id}",
        follow_redirects=False,
        data={"csrf_token": token, "display_name": "张伟", "role": "store_manager", "store_ids": [str(shop.store_b)]},
    )
    assert resp.status_code == 303
    # Then their open session is closed (the scope changed)
    assert other.get("/", follow_redirects=False).status_code == 303


def test_user_form_reports_every_problem_at_once(client: TestClient, admin: dict[str, str]) -> None:
    resp = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf_of(admin),
            "username": "a b",
            "display_name": "",
            "password": "short",
            "role": "guide",
        },
    )
    assert resp.status_code == 422
    assert "请修正标出的字段" in resp.text
    assert "2–64 个字符" in resp.text
    assert "必填" in resp.text
    assert 'value="a b"' in resp.text  # what was typed stays in the form
    assert "short" not in resp.text  # but never the password


def test_admin_cannot_deactivate_themselves(client: TestClient, admin: dict[str, str]) -> None:
    page = client.get("/admin/users").text
    my_id = re.search(r'href="/admin/users/(\d+)">boss', page).group(1)  # type: ignore[union-attr]
    resp = client.post(f"/admin/users/{my_id}/active", data={"csrf_token": csrf_of(admin), "active": "0"})
    assert resp.status_code == 409
    assert client.get("/", follow_redirects=False).status_code == 200


def test_api_key_secret_is_shown_once_and_revocation_works(client: TestClient, admin: dict[str, str]) -> None:
    token = csrf_of(admin)
    resp = client.post(
        "/admin/api-keys",
        data={"csrf_token": token, "name": "京东订单同步", "role": "integrator", "channel_code": "jd"},
    )
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    secret = re.search(r"(zt_[0-9a-f]{8}_[A-Za-z0-9_\-]+)</span>", resp.text).group(1)  # type: ignore[union-attr]
    # The key works on the API, and the list never shows the secret again
    assert client.get("/api/v1/me", headers=key_headers(secret)).json()["channel_code"] == "jd"
    listing = client.get("/admin/api-keys").text
    assert secret not in listing
    assert "京东订单同步" in listing
    key_id = re.search(r'action="/admin/api-keys/(\d+)/revoke"', listing).group(1)  # type: ignore[union-attr]
    # When it is revoked it stops working at once
    resp = client.post(f"/admin/api-keys/{key_id}/revoke", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303
    assert "密钥已吊销" in client.get(resp.headers["location"]).text
    assert client.get("/api/v1/me", headers=key_headers(secret)).status_code == 401


def test_api_key_form_refuses_store_roles_and_unknown_channels(client: TestClient, admin: dict[str, str]) -> None:
    resp = client.post(
        "/admin/api-keys",
        data={"csrf_token": csrf_of(admin), "name": "x", "role": "integrator", "channel_code": "nope"},
    )
    assert resp.status_code == 422
    assert "没有这个渠道" in resp.text
    resp = client.post("/admin/api-keys", data={"csrf_token": csrf_of(admin), "name": "x", "role": "store_manager"})
    assert resp.status_code == 422


CATALOG_CSV = (
    "spu_code,spu_name,category_code,sku_code,sku_name,list_price,sale_price\n"
    "P-X1,云启 X1 手机,smartphones,X1-GRN-256,云启 X1 青山绿 256GB,4999.00,4599.00\n"
    "P-X1,云启 X1 手机,smartphones,X1-BAD,坏行,abc,4599.00\n"
)


def test_catalog_import_runs_as_a_job_with_a_row_report(
    client: TestClient, admin: dict[str, str], db: Database
) -> None:
    # When the admin uploads a catalog file with one good and one bad row
    resp = client.post(
        "/imports/catalog",
        data={"csrf_token": csrf_of(admin)},
        files={"file": ("目录.csv", CATALOG_CSV.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    job_url = resp.headers["location"]
    assert re.fullmatch(r"/jobs/\d+", job_url)
    # Then the job page polls the job API while it waits
    waiting = client.get(job_url).text
    assert f'data-job-poll="/api/v1{job_url}"' in waiting
    assert "排队中" in waiting
    # And the API answers that poll with the console's own session cookie
    assert client.get(f"/api/v1{job_url}").json()["status"] == "queued"
    # When the worker has run it
    run_pending(db)
    done = client.get(job_url).text
    # Then the page shows the figures and the bad row with its column and message
    assert "已完成" in done
    assert "data-job-poll" not in done
    report = done[done.index("错误报告") :]
    assert "list_price" in report
    assert "<td>3</td>" in report
    assert "X1-GRN-256" in client.get("/catalog?q=X1-GRN").text


def test_upload_problems_are_shown_on_the_form(client: TestClient, admin: dict[str, str]) -> None:
    resp = client.post(
        "/imports/catalog",
        data={"csrf_token": csrf_of(admin)},
        files={"file": ("evil.exe", b"MZ", "application/octet-stream")},
    )
    assert resp.status_code == 422
    assert "只支持 .csv 和 .xlsx 文件" in resp.text


def test_store_manager_counts_their_store_and_others_cannot_see_the_job(
    client: TestClient, db: Database, shop: Shop
) -> None:
    # Given a manager of one store
    make_user(db, "sh1", "store_manager", [shop.store_a])
    headers = console_login(client, "sh1")
    csv = "location_code,sku_code,counted\nS-SH01,X1-CASE,15\nS-BJ01,X1-CASE,1\n"
    resp = client.post(
        "/imports/counts",
        data={"csrf_token": csrf_of(headers), "reason": "月度盘点"},
        files={"file": ("count.csv", csv.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    job_url = resp.headers["location"]
    run_pending(db)
    page = client.get(job_url).text
    # Their store was counted; the row for another store is reported, not applied
    assert "已完成" in page
    assert "unknown_location" in page
    # Another store's manager gets a 404 for the job, page and API alike
    make_user(db, "bj1", "store_manager", [shop.store_c])
    other = TestClient(client.app)
    console_login(other, "bj1")
    assert other.get(job_url).status_code == 404
    assert other.get(f"/api/v1{job_url}").status_code == 404
