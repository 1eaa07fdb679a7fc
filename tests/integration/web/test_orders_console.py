"""The order center's console pages: who sees which orders, masked personal data, and every verb
as a CSRF-protected form that changes the order (or, refused, changes nothing)."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from fastapi.testclient import TestClient

from tests.factories import SYSTEM, console_login, make_user
from tests.integration.orders.world import BJ_POINT, World, build, web_order
from zhongtai.auth.permissions import Role
from zhongtai.auth.principal import Principal
from zhongtai.db import Database
from zhongtai.orders import service, stats
from zhongtai.orders.schemas import OrderOut, PickIn, ShipIn
from zhongtai.web import charts
from zhongtai.web.i18n import LOCALES_DIR
from zhongtai.web.views.orders import order_status_keys


@pytest.fixture
def world(db: Database) -> World:
    return build(db)


def _intake(db: Database, body: dict[str, object], channel: str = "web") -> OrderOut:
    with db.transaction() as s:
        order = service.intake(s, SYSTEM, channel, body).out.order
    assert order is not None
    return order


def _order(db: Database, number: str) -> OrderOut:
    with db.transaction(write=False) as s:
        return service.get_order(s, SYSTEM, number)


def _login(client: TestClient, db: Database, world: World, username: str, role: str, *stores: str) -> str:
    """Logs ``client`` in as a new user; returns the session's CSRF token."""
    make_user(db, username, role, [world.locations[code] for code in stores])
    return console_login(client, username)["X-CSRF-Token"]


def _other(client: TestClient) -> TestClient:
    return TestClient(client.app)


def _express(db: Database, ext: str = "W-EXP") -> OrderOut:
    """Paid, express to Shanghai: routed to the regional DC in Suzhou."""
    order = _intake(db, web_order(ext, ("P1-BLK", 1)))
    assert [f.location_code for f in order.fulfilments] == ["RDC-EC"]
    return order


def _same_city(db: Database, ext: str = "W-SC", sku: str = "P1-BLK") -> OrderOut:
    """Paid, 1-hour delivery in Shanghai: routed to the Nanjing Road store (S-SH-01)."""
    order = _intake(db, web_order(ext, (sku, 1), mode="same_city"))
    assert [f.location_code for f in order.fulfilments] == ["S-SH-01"]
    return order


def _beijing(db: Database) -> OrderOut:
    """Click & collect at the Beijing store, from its own stock."""
    order = _intake(db, web_order("W-BJ", ("P1-WHT", 1), mode="click_collect", store_code="S-BJ-01"))
    assert {f.location_code for f in order.fulfilments} == {"S-BJ-01"}
    return order


# ---------------------------------------------------------------- pages and scopes


def test_admin_sees_every_order_page(client: TestClient, db: Database, world: World) -> None:
    express, same_city = _express(db), _same_city(db)
    _intake(db, web_order("W-SHORT", ("P1-WHT", 9)))  # 7 of 9 in stock: an exception
    _login(client, db, world, "boss", "admin")

    listing = client.get("/orders")
    assert listing.status_code == 200, listing.text[-2000:]
    assert listing.headers["cache-control"] == "no-store"
    for text in (express.number, same_city.number, "已分配", "同城1小时达", "快递", "¥3,999.00", "挂起订单"):
        assert text in listing.text, text
    assert 'class="chart stacked-chart' in listing.text  # today's orders by channel, inline SVG
    assert "cdn" not in listing.text.lower()
    # The menu has the order center, with every entry for an admin
    for href in ('href="/orders"', 'href="/fulfilment-queue"', 'href="/returns"', 'href="/exceptions"'):
        assert href in listing.text

    page = client.get(f"/orders/{express.number}")
    assert page.status_code == 200, page.text[-2000:]
    for text in ("路由决策", "下单路由", "单点满足", "选中", "RDC-EC", "时间线", "已锁库", "张三", "13800138000"):
        assert text in page.text, text
    # The chosen location is highlighted, the others carry their exclusion reason or cost
    candidates = page.text[page.text.index('class="data compact candidates"') :]
    assert re.search(r'<tr class="chosen">\s*<td><div class="sku-cell"><span>[^<]*</span><small>RDC-EC', candidates)
    assert "第1行×1" in page.text  # the localised summary of the plan
    assert "fills the whole order" in page.text  # and the router's own sentence
    # Admin may do everything: every form is there
    for action in ("/reroute", "/retry-routing", "/cancel", "/pick", "/pack", "/reject"):
        assert f'{action}"' in page.text, action

    for path, expected in (
        ("/orders?status=routed&channel=web&mode=express&hold=0&location=RDC-EC", express.number),
        (f"/orders?q={express.external_id}", express.number),
        ("/orders?hold=1", "W-SHORT"),
        ("/orders?since=2000-01-01&until=2999-12-31", same_city.number),
        ("/orders?since=nonsense", "日期"),
        ("/fulfilment-queue?location=S-SH-01", same_city.number),
        ("/fulfilment-queue", "履约队列"),
        ("/returns", "退货"),
        ("/exceptions", "缺货"),
    ):
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.text[-2000:])
        assert expected in resp.text, path
    assert express.number not in client.get("/orders?mode=same_city").text
    resp = client.get("/locations/S-SH-01/fulfilment-queue", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/fulfilment-queue?location=S-SH-01"
    assert client.get("/orders/ZT000000NOPE").status_code == 404


def test_pages_speak_english_too(client: TestClient, db: Database, world: World) -> None:
    order = _express(db)
    _login(client, db, world, "boss", "admin")
    client.cookies.set("lang", "en")
    page = client.get(f"/orders/{order.number}").text
    for text in ("Routing decisions", "Routed", "Express", "Chosen", "Timeline", "line 1 × 1"):
        assert text in page, text
    assert "Orders by channel" in client.get("/orders").text


def test_store_manager_sees_only_their_stores_orders(client: TestClient, db: Database, world: World) -> None:
    express, same_city, beijing = _express(db), _same_city(db), _beijing(db)
    _login(client, db, world, "li.na", "store_manager", "S-SH-01")
    listing = client.get("/orders").text
    assert same_city.number in listing
    assert express.number not in listing
    assert beijing.number not in listing
    assert client.get(f"/orders/{same_city.number}").status_code == 200
    # Another store's order: the same 404 as an order that does not exist
    resp = client.get(f"/orders/{beijing.number}")
    assert resp.status_code == 404
    assert "不在您的门店权限范围内" in resp.text
    assert client.get(f"/orders/{express.number}").status_code == 404
    assert client.get("/fulfilment-queue?location=S-BJ-01").status_code == 404
    # Their own queue by default, with the one-click verbs
    queue = client.get("/fulfilment-queue").text
    assert same_city.number in queue
    assert "开始拣货" in queue
    # No exception queue for a store (orders:manage)
    assert 'href="/exceptions"' not in queue
    assert client.get("/exceptions").status_code == 403
    # A store manager sees the buyer's phone (pii:read) but has no ops forms
    page = client.get(f"/orders/{same_city.number}").text
    assert "13800138000" in page
    assert "/reroute" not in page
    assert f"/orders/{same_city.number}/cancel" not in page


def test_guide_reads_but_has_no_forms(client: TestClient, db: Database, world: World) -> None:
    order = _same_city(db)
    token = _login(client, db, world, "wang.lei", "guide", "S-SH-01")
    page = client.get(f"/orders/{order.number}")
    assert page.status_code == 200
    assert 'method="post" action="/orders/' not in page.text
    queue = client.get("/fulfilment-queue").text
    assert order.number in queue
    assert 'action="/orders/' not in queue
    assert 'href="/fulfilment-queue"' not in queue  # not in the menu: a guide does not fulfil
    # A forged form is refused by role, and nothing changes
    fnum = order.fulfilments[0].number
    resp = client.post(f"/orders/{order.number}/fulfilments/{fnum}/pick", data={"csrf_token": token})
    assert resp.status_code == 403
    assert _order(db, order.number).fulfilments[0].status == "routed"


def test_roles_without_pii_read_see_masked_buyers(client: TestClient, db: Database, world: World) -> None:
    order = _express(db)
    _login(client, db, world, "zhou.jie", "analyst")
    for path in ("/orders", f"/orders/{order.number}"):
        page = client.get(path).text
        assert "138****8000" in page, path
        assert "13800138000" not in page, path  # not on the page, not in the timeline's data
    page = client.get(f"/orders/{order.number}").text
    assert "张*" in page
    assert "张三" not in page
    assert "您的角色看不到完整的个人信息" in page
    assert 'method="post" action="/orders/' not in page  # an analyst only reads
    assert client.get("/exceptions").status_code == 403
    # Ops run the orders but see masked data too
    ops = _other(client)
    make_user(db, "chen.ops", "ops")
    console_login(ops, "chen.ops")
    page = ops.get(f"/orders/{order.number}").text
    assert "138****8000" in page
    assert "13800138000" not in page
    assert "/reroute" in page


# ---------------------------------------------------------------- verbs


def test_pick_pack_ship_deliver_through_the_forms(client: TestClient, db: Database, world: World) -> None:
    order = _same_city(db)
    token = _login(client, db, world, "li.na", "store_manager", "S-SH-01")
    base = f"/orders/{order.number}/fulfilments/{order.fulfilments[0].number}"

    resp = client.post(f"{base}/pick", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/orders/{order.number}?done=picked"
    page = client.get(resp.headers["location"]).text
    assert "已开始拣货" in page
    assert "拣货中" in page
    assert _order(db, order.number).status == "picking"

    assert client.post(f"{base}/pack", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert _order(db, order.number).status == "packed"

    resp = client.post(
        f"{base}/ship",
        data={"csrf_token": token, "carrier": "达达", "tracking_no": "DD-20261111-01"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    shipped = _order(db, order.number)
    assert shipped.status == "shipped"
    assert shipped.fulfilments[0].tracking_no == "DD-20261111-01"
    page = client.get(f"/orders/{order.number}").text
    assert "已发货" in page
    assert "DD-20261111-01" in page
    assert "确认签收" in page

    assert client.post(f"{base}/deliver", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert _order(db, order.number).status == "delivered"
    # The timeline names the person who did each step, newest last
    page = client.get(f"/orders/{order.number}").text
    timeline = page[page.index('class="timeline"') :]
    assert timeline.count("li.na") >= 4
    assert timeline.rindex("已签收") > timeline.rindex("已打包")


def test_serial_tracked_pick_needs_the_serials(client: TestClient, db: Database, world: World) -> None:
    order = _same_city(db, "W-SN", sku="P1-SN")
    token = _login(client, db, world, "li.na", "store_manager", "S-SH-01")
    fnum = order.fulfilments[0].number
    page = client.get(f"/orders/{order.number}").text
    assert 'name="serials_1"' in page  # a scan field for the serial-tracked line
    # Without the serials: the problem is shown, nothing is written
    resp = client.post(f"/orders/{order.number}/fulfilments/{fnum}/pick", data={"csrf_token": token})
    assert resp.status_code == 422
    assert "提交的内容有误" in resp.text
    assert "请扫描串号" in resp.text
    assert _order(db, order.number).fulfilments[0].status == "routed"
    # A serial that is not in the store: refused too, and what was typed stays in the field
    resp = client.post(
        f"/orders/{order.number}/fulfilments/{fnum}/pick", data={"csrf_token": token, "serials_1": "SN-ZZ9"}
    )
    assert resp.status_code == 422
    assert "串号不可用" in resp.text
    assert ">SN-ZZ9</textarea>" in resp.text
    assert _order(db, order.number).fulfilments[0].status == "routed"
    # With it: picked, and the serial is on the fulfilment
    resp = client.post(
        f"/orders/{order.number}/fulfilments/{fnum}/pick",
        data={"csrf_token": token, "serials_1": " SN-A2 "},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert _order(db, order.number).fulfilments[0].lines[0].serials == ["SN-A2"]


def test_the_queue_works_in_one_click_and_comes_back(client: TestClient, db: Database, world: World) -> None:
    order = _same_city(db)
    token = _login(client, db, world, "li.na", "store_manager", "S-SH-01")
    fnum = order.fulfilments[0].number
    back = "/fulfilment-queue?location=S-SH-01"
    # An off-site "back" is never followed
    resp = client.post(
        f"/orders/{order.number}/fulfilments/{fnum}/pick",
        data={"csrf_token": token, "back": "//evil.example/x"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert resp.headers["location"] == "/?done=picked"
    resp = client.post(
        f"/orders/{order.number}/fulfilments/{fnum}/pack",
        data={"csrf_token": token, "back": back},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert resp.headers["location"] == back + "&done=packed"
    queue = client.get(resp.headers["location"]).text
    assert "已打包。" in queue
    assert 'name="tracking_no"' in queue  # packed: the next click ships it
    # A second order is rejected from the queue: it goes elsewhere and leaves this store's queue
    other = _same_city(db, "W-SC-2")
    resp = client.post(
        f"/orders/{other.number}/fulfilments/{other.fulfilments[0].number}/reject",
        data={"csrf_token": token, "back": back, "reason": "店内人手不足"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    after = _order(db, other.number)
    assert after.fulfilments[0].status == "rejected"
    assert after.fulfilments[0].reject_reason == "店内人手不足"
    # No other Shanghai store holds the phone: 1-hour delivery falls back to an express parcel
    assert {f.location_code for f in after.fulfilments if f.status == "routed"} == {"RDC-EC"}
    assert other.number not in client.get(back).text


def test_manual_reroute_and_its_bad_input(client: TestClient, db: Database, world: World) -> None:
    order = _express(db)
    token = _login(client, db, world, "chen.ops", "ops")
    # An unknown location: the problem is shown, the order keeps its fulfilment
    resp = client.post(
        f"/orders/{order.number}/reroute", data={"csrf_token": token, "location_code": "NOPE", "reason": "测试"}
    )
    assert resp.status_code == 422
    assert "没有这个仓店" in resp.text
    assert 'value="测试"' in resp.text
    after = _order(db, order.number)
    assert [(f.location_code, f.status) for f in after.fulfilments] == [("RDC-EC", "routed")]
    # No reason: refused as well
    resp = client.post(f"/orders/{order.number}/reroute", data={"csrf_token": token, "location_code": "DC-WH"})
    assert resp.status_code == 422
    assert "必填" in resp.text
    # To the central DC, with a reason
    resp = client.post(
        f"/orders/{order.number}/reroute",
        data={"csrf_token": token, "location_code": "DC-WH", "reason": "区域仓盘点"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    after = _order(db, order.number)
    assert [(f.location_code, f.status) for f in after.fulfilments] == [("RDC-EC", "cancelled"), ("DC-WH", "routed")]
    page = client.get(resp.headers["location"]).text
    assert "已改派" in page
    assert "人工改派" in page
    assert "re-routed by hand: 区域仓盘点" in page
    # Retry routing has nothing left to route: still fine
    resp = client.post(f"/orders/{order.number}/retry-routing", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303


def test_cancel_needs_a_reason_and_refunds_a_paid_order(client: TestClient, db: Database, world: World) -> None:
    order = _express(db)
    token = _login(client, db, world, "chen.ops", "ops")
    resp = client.post(f"/orders/{order.number}/cancel", data={"csrf_token": token, "reason": "  "})
    assert resp.status_code == 422
    assert "必填" in resp.text
    assert _order(db, order.number).status == "routed"
    resp = client.post(
        f"/orders/{order.number}/cancel", data={"csrf_token": token, "reason": "买家要求取消"}, follow_redirects=False
    )
    assert resp.status_code == 303
    assert _order(db, order.number).status == "cancelled"
    page = client.get(resp.headers["location"]).text
    assert "已取消" in page
    assert "买家要求取消" in page
    assert "待退款" in page
    # Cancelling twice: the state refuses it, shown on the order's page
    resp = client.post(f"/orders/{order.number}/cancel", data={"csrf_token": token, "reason": "again"})
    assert resp.status_code == 409
    assert "操作与当前状态冲突" in resp.text
    # The pending refund is settled from the same page
    refund_id = re.search(r'/refunds/(\d+)/settle"', page).group(1)  # type: ignore[union-attr]
    resp = client.post(
        f"/orders/{order.number}/refunds/{refund_id}/settle",
        data={"csrf_token": token, "external_ref": "WX-REF-1", "outcome": "succeeded"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert _order(db, order.number).payment_status == "refunded"


def test_exceptions_are_resolved_from_the_queue(client: TestClient, db: Database, world: World) -> None:
    order = _intake(db, web_order("W-SHORT", ("P1-WHT", 9)))
    assert order.on_hold
    token = _login(client, db, world, "chen.ops", "ops")
    page = client.get("/exceptions").text
    assert "缺货" in page
    assert order.number in page
    assert "P1-WHT × 2" in page
    exc_id = re.search(r'action="/exceptions/(\d+)/resolve"', page).group(1)  # type: ignore[union-attr]
    # No resolution text: refused, still open
    resp = client.post(f"/exceptions/{exc_id}/resolve", data={"csrf_token": token, "reason": ""})
    assert resp.status_code == 422
    assert "必填" in resp.text
    assert _order(db, order.number).on_hold
    resp = client.post(
        f"/exceptions/{exc_id}/resolve",
        data={"csrf_token": token, "reason": "已联系买家，缺的 2 件取消", "back": "/exceptions"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert resp.headers["location"] == "/exceptions?done=resolved"
    assert not _order(db, order.number).on_hold
    assert order.number not in client.get("/exceptions").text
    resolved = client.get("/exceptions?status=resolved").text
    assert "已联系买家" in resolved
    assert "chen.ops" in resolved


def test_every_order_form_needs_the_csrf_token(client: TestClient, db: Database, world: World) -> None:
    order = _express(db)
    _login(client, db, world, "boss", "admin")
    fnum = order.fulfilments[0].number
    for path, data in (
        (f"/orders/{order.number}/cancel", {"reason": "x"}),
        (f"/orders/{order.number}/reroute", {"reason": "x"}),
        (f"/orders/{order.number}/fulfilments/{fnum}/pick", {}),
        ("/exceptions/1/resolve", {"reason": "x"}),
    ):
        for token in (None, "forged"):
            resp = client.post(path, data=data | ({"csrf_token": token} if token else {}))
            assert resp.status_code == 403, path
            assert "页面已过期" in resp.text, path
    assert _order(db, order.number).status == "routed"


def test_a_return_from_request_to_refund(client: TestClient, db: Database, world: World) -> None:
    order = _intake(db, web_order("W-RET", ("P1-BLK", 2), address=BJ_POINT))
    fnum = order.fulfilments[0].number
    with db.transaction() as s:
        service.start_picking(s, SYSTEM, fnum, PickIn())
        service.ship(s, SYSTEM, fnum, ShipIn(carrier="SF", tracking_no="SF1"))
        service.deliver(s, SYSTEM, fnum)
    token = _login(client, db, world, "zhao.min", "cs_agent")  # customer service: returns:write
    page = client.get(f"/orders/{order.number}").text
    assert 'id="return-request"' in page
    assert 'name="qty_1"' in page
    # Too many units: refused, nothing requested
    resp = client.post(
        f"/orders/{order.number}/returns", data={"csrf_token": token, "qty_1": "3", "reason": "不想要了"}
    )
    assert resp.status_code == 422
    assert "超过可退数量" in resp.text
    assert "-R1" not in resp.text
    resp = client.post(
        f"/orders/{order.number}/returns",
        data={"csrf_token": token, "qty_1": "1", "reason": "七天无理由"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    rnum = f"{order.number}-R1"
    assert rnum in client.get("/returns?status=requested").text
    resp = client.post(
        f"/orders/{order.number}/returns/{rnum}/approve", data={"csrf_token": token}, follow_redirects=False
    )
    assert resp.status_code == 303
    resp = client.post(
        f"/orders/{order.number}/returns/{rnum}/receive",
        data={"csrf_token": token, "location_code": "S-BJ-01", "disposition": "restock"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    page = client.get(f"/orders/{order.number}").text
    assert "已收货" in page
    assert "¥3,999.00" in page
    assert "待退款" in page
    # Customer service cannot settle refunds (orders:manage)
    assert "/settle" not in page


# ---------------------------------------------------------------- figures, charts, catalogs


def test_orders_by_day_and_channel_is_scoped(db: Database, world: World) -> None:
    _express(db)
    _same_city(db)
    _intake(db, web_order("T-1", ("CASE-1", 1)))
    with db.transaction(write=False) as s:
        rows = stats.orders_by_day_and_channel(s, SYSTEM, 14)
        manager = Principal("user", 99, "m", Role.STORE_MANAGER, store_ids=frozenset({world.locations["S-SH-01"]}))
        scoped = stats.orders_by_day_and_channel(s, manager, 14)
        work = stats.open_fulfilment_counts(s, manager)
        backlog = stats.backlog(s, SYSTEM)
    assert sum(r.orders for r in rows) == 3
    assert {r.channel_code for r in rows} == {"web"}
    assert all(isinstance(r.day, date) for r in rows)
    assert sum(r.total_fen for r in rows) == 399_900 * 2 + 9_900
    assert sum(r.orders for r in scoped) == 1
    assert work == {world.locations["S-SH-01"]: {"routed": 1}}
    assert backlog.on_hold == 0
    assert backlog.returns_requested == 0


def test_stacked_bar_chart() -> None:
    svg = charts.stacked_bar_chart(
        ["11-10", "今天"],
        [charts.Series("官网", [3, 1]), charts.Series("天猫 <旗舰店>", [0, 2])],
        title="订单",
        hrefs=["/orders?since=2026-11-10", None],
    )
    assert svg.startswith('<svg class="chart stacked-chart')
    assert "天猫 &lt;旗舰店&gt;" in svg
    assert "<旗舰店>" not in svg
    assert svg.count("<rect") == 2 + 3  # legend squares + non-zero segments
    assert 'href="/orders?since=2026-11-10"' in svg
    assert ">3<" in svg  # the total above each bar
    empty = charts.stacked_bar_chart(["a"], [charts.Series("x", [0])], title="t", empty_message="没有订单")
    assert "没有订单" in empty


def test_every_value_the_order_pages_translate_exists() -> None:
    catalogs = {loc: json.loads((LOCALES_DIR / f"{loc}.json").read_text(encoding="utf-8")) for loc in ("zh-CN", "en")}
    for catalog in catalogs.values():
        missing = [f"{p}.{v}" for p, values in order_status_keys().items() for v in values if f"{p}.{v}" not in catalog]
        missing += [
            k for k in ("nav.orders", "nav.fulfilment_queue", "nav.returns", "nav.exceptions") if k not in catalog
        ]
        assert missing == []
    zh = catalogs["zh-CN"]
    assert [zh[f"order.status.{s}"] for s in ("created", "reserved", "routed", "picking", "packed")] == [
        "已创建",
        "已锁库",
        "已分配",
        "拣货中",
        "已打包",
    ]
    assert [zh[f"order.mode.{m}"] for m in ("express", "same_city", "click_collect", "pos")] == [
        "快递",
        "同城1小时达",
        "门店自提",
        "门店POS",
    ]
