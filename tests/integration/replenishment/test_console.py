"""The console pages render in zh-CN and en, show the reasoning, and their verbs work."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import SYSTEM, console_login, make_user
from tests.integration.replenishment.conftest import World, record_flat_forecast
from zhongtai.db import Database
from zhongtai.replenishment import service


def test_pages_show_reasoning_and_the_verbs_close_the_loop(db: Database, client: TestClient, world: World) -> None:
    record_flat_forecast(db, world.first_day, {(world.sku_case, world.store_a): (6.0, 4.0, 8.0)})
    with db.transaction() as s:
        service.run_suggestions(s, SYSTEM)
    make_user(db, "planner", "ops")
    console_login(client, "planner")
    csrf = client.get("/replenishment/suggestions")
    assert csrf.status_code == 200
    assert "天需求" in csrf.text
    assert "按箱规 12 取整" in csrf.text
    assert "补货建议" in csrf.text
    token = csrf.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    with db.transaction(write=False) as s:
        purchase = service.list_suggestions(s, SYSTEM, kind="purchase").items[0]
    # approve, order, approve the PO, send, receive: all through the console's forms
    r = client.post(
        f"/replenishment/suggestions/{purchase.id}/approve", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    r = client.post(
        "/replenishment/purchase-orders/from-suggestions", data={"csrf_token": token}, follow_redirects=False
    )
    number = r.headers["location"].split("/replenishment/purchase-orders/", 1)[1].split("?", 1)[0]
    for verb in ("approve", "send"):
        assert (
            client.post(
                f"/replenishment/purchase-orders/{number}/{verb}", data={"csrf_token": token}, follow_redirects=False
            ).status_code
            == 303
        )
    detail = client.get(f"/replenishment/purchase-orders/{number}")
    assert "过账收货" in detail.text
    with db.transaction(write=False) as s:
        po = service.get_purchase_order(s, SYSTEM, number)
    line = po.order_lines[0]
    r = client.post(
        f"/replenishment/purchase-orders/{number}/receive",
        data={"csrf_token": token, f"qty_{line.id}": str(line.quantity)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(f"/replenishment/purchase-orders/{number}")
    assert "已收货" in page.text
    assert f"{number}-R1" in page.text
    # English too
    client.get("/lang/en?next=/")
    for path in ("/replenishment/suggestions?status=all", "/replenishment/purchase-orders", "/replenishment/transfers"):
        en = client.get(path)
        assert en.status_code == 200, path
    assert "Purchase orders" in client.get("/replenishment/purchase-orders").text
    assert "-day demand" in client.get("/replenishment/suggestions?status=all").text


def test_readers_see_no_verbs(db: Database, client: TestClient, world: World) -> None:
    record_flat_forecast(db, world.first_day, {(world.sku_case, world.store_a): (6.0, 4.0, 8.0)})
    with db.transaction() as s:
        service.run_suggestions(s, SYSTEM)
    make_user(db, "analyst", "analyst")
    console_login(client, "analyst")
    page = client.get("/replenishment/suggestions")
    assert page.status_code == 200
    assert "/approve" not in page.text
    assert "立即计算" not in page.text
