"""Screenshots of every console page, for the docs and for reviewing the look.

    python docs/screenshots.py [var/zhongtai.db] [--out docs/screenshots]

Serves the app (``zhongtai.live_server``, a free 127.0.0.1 port) against a *copy* of the given
SQLite database (or against a database URL as it is), logs in as the admin, a store manager and a
shopping guide (who sees the member card masked), and drives Debian's Chromium through Playwright
(``apt-get install chromium fonts-noto-cjk``; never ``playwright install``). One PNG per page
lands in the output folder. The run uploads a small catalog file to show a job page, so it never
touches the original SQLite file.

The order pages need orders: when the database has none (the demo loads none yet), the copy gets
a fortnight of them first, made through the order service (``seed_orders``): every channel, every
delivery mode, some picked, shipped and delivered, a cancellation, a return and a few exceptions.
A database URL is only seeded with ``--seed-orders``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
# This checkout's package, whichever one the interpreter has installed.
sys.path.insert(0, str(ROOT / "src"))

from zhongtai.live_server import serve_in_subprocess  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# One good row and two bad ones: the job page then shows its per-row error report.
SAMPLE_IMPORT = (
    "spu_code,spu_name,category_code,sku_code,sku_name,list_price,sale_price\n"
    "SHOT-SPU,截图示例商品,__no_such_category__,SHOT-1,截图示例 SKU,99.00,89.00\n"
    "SHOT-SPU,截图示例商品,__no_such_category__,SHOT-2,截图示例 SKU 2,abc,89.00\n"
)


def shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def login(page: Page, base: str, username: str, password: str) -> bool:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return not page.url.startswith(f"{base}/login")


def logout(page: Page) -> None:
    page.click("form[action='/logout'] button")
    page.wait_for_load_state("networkidle")


def best_sku(page: Page) -> str | None:
    """The SKU on the first catalog page with the most available units (a rich detail page)."""
    code: str | None = page.evaluate(
        """() => {
            let best = null, most = -1;
            for (const row of document.querySelectorAll('#sku-table tbody tr')) {
              const code = row.querySelector('.sku-cell small')?.textContent?.trim();
              const cells = row.querySelectorAll('td.num');
              const units = cells.length > 1 ? parseInt(cells[1].textContent.replace(/[^0-9]/g, '') || '0') : 0;
              if (code && units > most) { best = code; most = units; }
            }
            return best;
        }"""
    )
    return code


# ---------------------------------------------------------------- demo orders for the order pages

# Delivery points (WGS-84) in the cities the demo has stores in.
POINTS = (
    ("上海市", "上海市", "黄浦区", "人民大道 200 号", 31.2304, 121.4737),
    ("上海市", "上海市", "浦东新区", "世纪大道 100 号", 31.2353, 121.5055),
    ("北京市", "北京市", "朝阳区", "建国路 88 号", 39.9087, 116.4605),
    ("广东省", "广州市", "天河区", "天河路 385 号", 23.1322, 113.3240),
    ("四川省", "成都市", "锦江区", "春熙路 1 号", 30.6570, 104.0817),
    ("浙江省", "杭州市", "上城区", "湖滨路 28 号", 30.2580, 120.1650),
    ("湖北省", "武汉市", "江汉区", "江汉路 118 号", 30.5810, 114.2880),
    ("广东省", "深圳市", "福田区", "深南大道 6008 号", 22.5400, 114.0580),
    ("江苏省", "南京市", "秦淮区", "中山南路 1 号", 32.0410, 118.7840),
)
# People's Square and Nanjing Road: within 3 km of the two Shanghai flagship stores.
SH_NEAR = (("上海市", "上海市", "黄浦区", "南京东路 300 号", 31.2380, 121.4830),)
BUYERS = (
    ("13800138000", "张三"),
    ("13912345678", "李四"),
    ("13700001111", "王芳"),
    ("18601234567", "刘洋"),
    ("15900002222", "陈静"),
    ("18812345678", "赵磊"),
)
CHANNEL_WEIGHTS = (("tmall", 30), ("jd", 30), ("web", 22), ("miniapp", 18))


def _address(point: tuple[str, str, str, str, float, float], buyer: tuple[str, str]) -> dict[str, Any]:
    province, city, district, street, lat, lon = point
    return {
        "name": buyer[1],
        "phone": buyer[0],
        "province": province,
        "city": city,
        "district": district,
        "address": street,
        "latitude": lat,
        "longitude": lon,
    }


def seed_orders(url: str) -> int:
    """A fortnight of orders through the order service, when the database has none. Returns how many."""
    from zhongtai.auth.permissions import Role
    from zhongtai.auth.principal import Principal
    from zhongtai.catalog import service as catalog
    from zhongtai.db import Database
    from zhongtai.errors import DomainError
    from zhongtai.inventory import service as inventory
    from zhongtai.models_registry import import_all_models
    from zhongtai.orders import service as orders
    from zhongtai.orders.schemas import PickIn, ReturnLineIn, ShipIn, StatusUpdateIn

    import_all_models()
    system = Principal.system("screenshots")
    db = Database(url)
    rng = random.Random(20261111)
    try:
        with db.transaction(write=False) as s:
            if orders.list_orders(s, system, limit=1).items:
                return 0
            stores = inventory.location_ids_by_codes(s, ["S-SH01", "S-SH02"])
            held: dict[str, dict[str, int]] = {}
            prices: dict[str, int] = {}
            cursor: str | None = None
            while True:
                page = catalog.list_skus(s, lifecycle="on_sale", serial_tracked=False, cursor=cursor, limit=200)
                for sku in page.items:
                    rows = inventory.sku_availability(s, system, sku.code).locations
                    held[sku.code] = {r.location_code: r.available for r in rows if r.available > 0}
                    prices[sku.code] = sku.sale_price_fen
                cursor = page.next_cursor
                if cursor is None:
                    break
        if not stores or not held:
            return 0
        ops = Principal("user", None, "陈思远（总部运营）", Role.OPS)
        manager = Principal("user", None, "李娜（上海店长）", Role.STORE_MANAGER, store_ids=frozenset(stores.values()))
        at_dc = [c for c, h in held.items() if h.get("DC-WH", 0) + h.get("RDC-EC", 0) >= 20]
        at_sh01 = [c for c, h in held.items() if h.get("S-SH01", 0) >= 4]
        at_sh02 = [c for c, h in held.items() if h.get("S-SH02", 0) >= 4]
        # Units each SKU has where orders can ship from (DCs and stores), for an order that cannot be filled.
        network = {c: sum(n for loc, n in h.items() if loc.startswith(("DC-", "RDC-", "S-"))) for c, h in held.items()}
        scarce = sorted((c for c, n in network.items() if n > 0), key=lambda c: (network[c], c))
        now = datetime.now(UTC)
        made: list[tuple[str, str, datetime]] = []  # number, mode, placed

        def intake(channel: str, body: dict[str, Any], actor: Principal = system) -> Any:
            try:
                with db.transaction() as s:
                    out = orders.intake(s, actor, channel, body).out.order
            except DomainError as exc:
                print(f"  (seed order {body['external_id']} refused: {exc.detail})")
                return None
            if out is not None:
                made.append((out.number, out.delivery_mode, datetime.fromisoformat(body["placed_at"])))
            return out

        def order_body(ext: str, skus: list[str], placed: datetime, **extra: Any) -> dict[str, Any]:
            lines = [{"sku_code": c, "quantity": rng.choice((1, 1, 1, 2)), "unit_price_fen": prices[c]} for c in skus]
            buyer = rng.choice(BUYERS)
            body: dict[str, Any] = {
                "external_id": ext,
                "status": "paid",
                "placed_at": placed.isoformat(),
                "paid_at": (placed + timedelta(minutes=2)).isoformat(),
                "lines": lines,
                "buyer": {"phone": buyer[0], "name": buyer[1]},
                "paid_fen": sum(ln["unit_price_fen"] * ln["quantity"] for ln in lines),
            }
            body.update(extra)
            if body.get("delivery_mode", "express") in ("express", "same_city") and "address" not in body:
                body["address"] = _address(rng.choice(POINTS), buyer)
            if body["status"] != "paid":
                body.pop("paid_fen")
                body.pop("paid_at")
            return body

        def placed_on(days_ago: int) -> datetime:
            return now - timedelta(days=days_ago, hours=rng.randint(0, 9), minutes=rng.randint(0, 59))

        # Marketplace and own-shop parcels, more of them on recent days.
        for i in range(46):
            days_ago = min(13, int(rng.expovariate(0.18)))
            channel = rng.choices([c for c, _ in CHANNEL_WEIGHTS], weights=[w for _, w in CHANNEL_WEIGHTS])[0]
            skus = rng.sample(at_dc, k=rng.choice((1, 1, 2)))
            intake(channel, order_body(f"{channel.upper()}-{202611000 + i}", skus, placed_on(days_ago)))
        # 1-hour delivery in central Shanghai (Meituan), from a store within 3 km.
        for i in range(9):
            skus = [rng.choice(at_sh01)]
            buyer = rng.choice(BUYERS)
            body = order_body(
                f"MT-{88000 + i}",
                skus,
                placed_on(rng.choice((0, 0, 1, 2, 3))),
                delivery_mode="same_city",
                address=_address(SH_NEAR[0], buyer),
                promised_at=(now + timedelta(hours=rng.choice((2, 3, 4)))).isoformat(),
            )
            intake("meituan", body)
        # Click & collect at the Huaihai Road store, some from its own shelf, one by transfer.
        for i, sku in enumerate([*at_sh02[:3], *[c for c in at_dc if c not in at_sh02][:1]]):
            intake(
                "miniapp",
                order_body(f"MP-CC-{i + 1}", [sku], placed_on(i), delivery_mode="click_collect", store_code="S-SH02"),
            )
        # Store sales at the till.
        for i in range(6):
            sku = rng.choice(at_sh01)
            body = order_body(
                f"POS-SH01-{i + 1:04d}", [sku], placed_on(rng.randint(0, 10)), delivery_mode="pos", store_code="S-SH01"
            )
            body["lines"][0]["quantity"] = 1
            body["paid_fen"] = body["lines"][0]["unit_price_fen"]
            intake("pos", body, manager)
        # Exceptions: more than the network holds; a payment that does not match; a cancel after shipment.
        if scarce:
            sku = scarce[0]
            body = order_body("JD-SHORT-1", [sku], placed_on(0))
            body["lines"][0]["quantity"] = network[sku] + 3
            body["paid_fen"] = body["lines"][0]["quantity"] * prices[sku]
            intake("jd", body)
        mismatch = intake("tmall", order_body("TM-PAY-1", [rng.choice(at_dc)], placed_on(0), status="created"))
        if mismatch is not None:
            with db.transaction() as s:
                orders.update_status(
                    s,
                    system,
                    "tmall",
                    "TM-PAY-1",
                    StatusUpdateIn(status="paid", paid_fen=max(1, mismatch.total_fen - 1000)),
                )

        # Work done on the older ones: picked, packed, shipped, signed for; one cancelled, one returned.
        def step(fn: Any, *args: Any) -> None:
            try:
                with db.transaction() as s:
                    fn(s, *args)
            except DomainError as exc:
                print(f"  (seed step {fn.__name__} refused: {exc.detail})")

        for number, mode, placed in made:
            if mode == "pos":
                continue
            age = (now - placed).days
            with db.transaction(write=False) as s:
                order = orders.get_order(s, system, number)
            who = manager if all(f.location_code in stores for f in order.fulfilments) else ops
            for f in order.fulfilments:
                if f.status != "routed" or (age < 1 and mode != "same_city"):
                    continue
                if mode == "same_city" and age == 0 and rng.random() < 0.5:
                    continue
                step(orders.start_picking, who, f.number, PickIn())
                if age >= 1 or mode == "same_city":
                    step(orders.pack, who, f.number)
                if age >= 2 or (mode == "same_city" and age >= 1):
                    carrier = "美团骑手" if mode == "same_city" else rng.choice(("顺丰速运", "京东物流", "中通快递"))
                    step(
                        orders.ship,
                        who,
                        f.number,
                        ShipIn(carrier=carrier, tracking_no=f"SF{rng.randint(10**11, 10**12)}"),
                    )
                if age >= 4:
                    step(orders.deliver, system, f.number)
        express = [n for n, m, p in made if m == "express" and (now - p).days == 0]
        if express:
            step(orders.cancel, ops, express[0], "买家下单后申请取消")
        delivered = []
        with db.transaction(write=False) as s:
            for number, _mode, _placed in made:
                o = orders.get_order(s, system, number)
                if o.status == "delivered":
                    delivered.append(o)
        cs = Principal("user", None, "赵敏（客服）", Role.CS_AGENT)
        reasons = ("七天无理由退货", "商品有划痕", "尺寸不合适")
        for i, o in enumerate(delivered[:3]):
            step(orders.request_return, cs, o.number, [ReturnLineIn(line_no=1, quantity=1)], reasons[i])
            if i >= 1:
                step(lambda s, number: orders.decide_return(s, ops, number, approve=True), f"{o.number}-R1")
            if i == 2:
                step(
                    lambda s, number: orders.receive_return(s, ops, number, location_code="DC-WH", lines=None),
                    f"{o.number}-R1",
                )
        shipped = [n for n, m, _ in made if m == "express"]
        for number in shipped:
            with db.transaction(write=False) as s:
                o = orders.get_order(s, system, number)
            if o.status == "shipped":
                with db.transaction() as s:
                    orders.update_status(
                        s,
                        system,
                        o.channel_code,
                        o.external_id,
                        StatusUpdateIn(status="cancelled", reason="买家在平台申请退款"),
                    )
                break
        return len(made)
    finally:
        db.dispose()


def first_order(page: Page, base: str, query: str = "") -> str | None:
    """The number of the first order on the list (with ``query``'s filters)."""
    page.goto(f"{base}/orders{query}")
    link = page.query_selector("#order-table a")
    return (link.text_content() or "").strip() or None if link else None


def orders_tour(page: Page, base: str, out: Path) -> None:
    page.goto(f"{base}/orders")
    shoot(page, out, "15-orders")
    # A 1-hour delivery has the richest routing explanation: stores by distance, DCs left out.
    number = first_order(page, base, "?mode=same_city") or first_order(page, base)
    if number:
        page.goto(f"{base}/orders/{number}")
        shoot(page, out, "16-order")
        page.goto(f"{base}/lang/en?next=/orders/{number}")
        shoot(page, out, "17-order-en")
        page.goto(f"{base}/lang/zh-CN?next=/")
    page.goto(f"{base}/fulfilment-queue")
    shoot(page, out, "18-fulfilment-queue")
    page.goto(f"{base}/exceptions")
    shoot(page, out, "19-exceptions")
    page.goto(f"{base}/returns")
    shoot(page, out, "20-returns")


# ---------------------------------------------------------------- the member center


def richest_member(url: str) -> str | None:
    """The code of the member whose identity graph spans the most channels (the card shows
    stitching at work), preferring one with a quarantined identifier and a merge."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT m.code FROM members m JOIN member_identifiers i ON i.member_id = m.id "
                    "LEFT JOIN member_merge_events e ON e.survivor_id = m.id AND e.kind = 'merge' "
                    "WHERE m.status = 'active' GROUP BY m.id, m.code "
                    "ORDER BY COUNT(DISTINCT i.source_channel) DESC, "
                    "MAX(CASE WHEN i.status = 'quarantined' THEN 1 ELSE 0 END) DESC, "
                    "COUNT(DISTINCT e.id) DESC, COUNT(DISTINCT i.id) DESC, m.id LIMIT 1"
                )
            ).first()
    finally:
        engine.dispose()
    return str(row[0]) if row else None


def members_tour(page: Page, base: str, out: Path, code: str | None) -> None:
    page.goto(f"{base}/members")
    shoot(page, out, "26-members")
    page.goto(f"{base}/members?q=张")
    shoot(page, out, "27-member-search")
    if code:
        page.goto(f"{base}/members/{code}")
        shoot(page, out, "28-member-card")
        page.goto(f"{base}/lang/en?next=/members/{code}")
        shoot(page, out, "29-member-card-en")
        page.goto(f"{base}/lang/zh-CN?next=/")
    page.goto(f"{base}/members/review")
    shoot(page, out, "30-member-review")
    page.goto(f"{base}/members/tag-rules")
    shoot(page, out, "31-tag-rules")
    link = page.query_selector("#rule-table a")
    first_rule = link.get_attribute("href") if link else None
    if first_rule:
        page.goto(f"{base}{first_rule}")
        shoot(page, out, "32-tag-rule")


def guide_tour(page: Page, base: str, out: Path, code: str | None) -> None:
    """What a shopping guide sees: the same card, personal data masked."""
    if code:
        page.goto(f"{base}/members/{code}")
        shoot(page, out, "33-guide-member-card")


def forecasting_tour(page: Page, base: str, out: Path) -> None:
    """The latest forecast run and its top pairs, the chart of the busiest pair (history, forecast,
    p10-p90 band, events) in Chinese and English, the event calendar with its year strip, an
    event, and the weekly accuracy. Content needs a forecast run (the demo queues one)."""
    page.goto(f"{base}/forecasts")
    shoot(page, out, "34-forecasts")
    chart = page.query_selector("#pair-table a[href^='/forecasts/series']")
    target = chart.get_attribute("href") if chart else "/forecasts/series"
    page.goto(f"{base}{target}&days=180" if "?" in (target or "") else f"{base}{target}")
    shoot(page, out, "35-forecast-chart")
    page.goto(f"{base}/lang/en?next={quote(target or '/forecasts/series', safe='')}")
    shoot(page, out, "36-forecast-chart-en")
    page.goto(f"{base}/lang/zh-CN?next=/forecasts/events")
    year = datetime.now(UTC).year
    page.goto(f"{base}/forecasts/events?year={year}")
    shoot(page, out, "37-forecast-events")
    page.goto(f"{base}/forecasts/events/double11-{year}")
    shoot(page, out, "38-forecast-event")
    page.goto(f"{base}/forecasts/accuracy?level=category")
    shoot(page, out, "39-forecast-accuracy")


def replenishment_tour(page: Page, base: str, out: Path) -> None:
    """Suggestions with their reasoning, purchase orders (list and a partially received one) and
    the allocation / rebalancing transfers. Content needs a forecast and a suggestion run."""
    page.goto(f"{base}/replenishment/suggestions?status=all&kind=purchase")
    shoot(page, out, "40-replenishment-suggestions")
    page.goto(f"{base}/replenishment/suggestions?status=all&kind=rebalance")
    shoot(page, out, "44-rebalancing-suggestions")
    page.goto(f"{base}/replenishment/purchase-orders")
    shoot(page, out, "41-purchase-orders")
    partial = page.locator("#po-table tr:has(.badge-warn) a").first
    if partial.count():
        partial.click()
        shoot(page, out, "42-purchase-order")
    page.goto(f"{base}/replenishment/transfers")
    shoot(page, out, "43-replenishment-transfers")


def service_console_tour(page: Page, base: str, out: Path) -> None:
    """The knowledge base (its tree, and "try a question" as the JD store's bot), one sub-intent's
    editor, the trainer's clusters and the service metrics in Chinese and English. Content needs
    the demo's customer service (the published packs and six weeks of conversations)."""
    page.goto(f"{base}/service/kb?try={quote('京东上买要运费吗')}&try_channel=jd")
    shoot(page, out, "50-service-kb")
    page.goto(f"{base}/service/kb/subintents/shipping.fee")
    shoot(page, out, "51-service-kb-subintent")
    page.goto(f"{base}/service/trainer")
    shoot(page, out, "52-service-trainer")
    page.goto(f"{base}/service/metrics")
    shoot(page, out, "53-service-metrics")
    page.goto(f"{base}/lang/en?next=/service/metrics")
    shoot(page, out, "54-service-metrics-en")
    page.goto(f"{base}/lang/zh-CN?next=/")


def widget_order(url: str) -> tuple[str, str] | None:
    """A shipped order with a tracking number and its buyer phone's last four digits: the widget's
    anonymous customer proves the order is theirs with them, then sees its logistics timeline."""
    from zhongtai.auth.principal import Principal
    from zhongtai.db import Database
    from zhongtai.models_registry import import_all_models
    from zhongtai.orders import service as orders

    import_all_models()
    system = Principal.system("screenshots")
    db = Database(url)
    try:
        with db.transaction(write=False) as s:
            for status in ("shipped", "delivered"):
                for summary in orders.list_orders(s, system, status=status, limit=30).items:
                    order = orders.get_order(s, system, summary.number)
                    if len(order.buyer.phone) >= 4 and any(f.tracking_no for f in order.fulfilments):
                        return order.number, order.buyer.phone[-4:]
    finally:
        db.dispose()
    return None


def widget_ask(page: Page, text: str) -> None:
    page.fill(".ztw-form textarea", text)
    page.press(".ztw-form textarea", "Enter")
    page.wait_for_selector(".ztw-typing", state="hidden", timeout=30_000)
    page.wait_for_timeout(300)


def shoot_viewport(page: Page, out: Path, name: str) -> None:
    """What the window shows (the chat widget is fixed to the window's corner)."""
    page.wait_for_load_state("networkidle")
    path = out / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def widget_tour(page: Page, base: str, out: Path, order: tuple[str, str] | None) -> None:
    """The sample shop page with the chat widget open: a product question (a product card), then
    an order's logistics (the order card and its timeline, after the buyer phone's last four
    digits). As the admin, whose console session the preview uses."""
    page.goto(f"{base}/service/widget")
    if not page.query_selector(".ztw-launcher"):
        print("  (no widget on the preview page: no channel or no SKU on sale)")
        return
    page.click(".ztw-launcher")
    page.wait_for_selector(".ztw-row", timeout=30_000)
    name = (page.text_content("#product-name") or "").strip()
    if name:
        widget_ask(page, f"{name} 有什么卖点")
    shoot_viewport(page, out, "48-service-widget")
    if order:
        widget_ask(page, f"{order[0]} 物流到哪了")
        widget_ask(page, order[1])
        shoot_viewport(page, out, "49-service-widget-order")


def agent_desk_tour(page: Page, base: str, out: Path) -> None:
    """The agent desk as the customer-service agent: a waiting conversation (a member's when there
    is one), then accepted and answered with a suggestion (member card, recent orders and
    suggestions beside it), and the same in English."""
    page.goto(f"{base}/service/agent")
    target = page.evaluate(
        """async () => {
            const resp = await fetch('/api/v1/service/agent/queue', {credentials: 'same-origin'});
            const waiting = (await resp.json()).items.filter(i => i.status === 'queued');
            const pick = waiting.find(i => i.member_id) || waiting[0];
            return pick ? pick.public_id : null;
        }"""
    )
    if not target:
        shoot(page, out, "45-service-agent-queue")
        print("  (nobody waiting in the service queue: no accepted conversation to show)")
        return
    page.goto(f"{base}/service/agent?c={target}")
    shoot(page, out, "45-service-agent-queue")
    with page.expect_navigation():
        page.click("#btn-accept")
    page.wait_for_selector("#reply-form")
    # A complete suggestion (one with {placeholders} left to fill is refused until they are).
    if page.query_selector(".sugg:not(.partial)"):
        page.click(".sugg:not(.partial)")
    else:
        page.fill("#reply-text", "您好，我是客服赵敏，马上为您处理。")
    page.click("#btn-send")
    page.wait_for_function("() => document.getElementById('reply-text').value === ''")
    page.wait_for_timeout(500)
    shoot(page, out, "46-service-agent-desk")
    page.goto(f"{base}/lang/en?next={quote(f'/service/agent?c={target}', safe='')}")
    shoot(page, out, "47-service-agent-desk-en")
    page.goto(f"{base}/lang/zh-CN?next=/")


def admin_tour(page: Page, base: str, out: Path, tmp: Path) -> None:
    shoot(page, out, "01-home")
    page.goto(f"{base}/catalog")
    shoot(page, out, "02-catalog")
    code = best_sku(page)
    if code:
        page.goto(f"{base}/catalog/skus/{code}")
        shoot(page, out, "03-sku")
        origin = page.evaluate(
            "() => [...document.querySelectorAll('#n-from option')]"
            ".map(o => o.value).find(v => v.startsWith('S-')) || ''"
        )
        if origin:
            page.goto(f"{base}/catalog/skus/{code}?near={origin}&radius_km=50")
            shoot(page, out, "04-sku-near")
    page.goto(f"{base}/locations")
    shoot(page, out, "05-locations")
    first_store = page.eval_on_selector("a[href^='/locations/S']", "a => a ? a.getAttribute('href') : ''")
    if first_store:
        page.goto(f"{base}{first_store}")
        shoot(page, out, "06-location")
    page.goto(f"{base}/stock/movements")
    shoot(page, out, "07-movements")
    page.goto(f"{base}/imports")
    shoot(page, out, "08-imports")
    sample = tmp / "catalog-sample.csv"
    sample.write_text(SAMPLE_IMPORT, encoding="utf-8")
    page.set_input_files("#catalog-file", str(sample))
    with page.expect_navigation():
        page.click("form[action='/imports/catalog'] button[type=submit]")
    if "/jobs/" not in page.url:
        shoot(page, out, "09-job-upload-failed")
        raise SystemExit(f"the catalog upload did not start a job: {page.url}")
    # The worker may be filling the copy's analytics lake first (a full sync): give the job time.
    page.wait_for_selector("text=/错误报告|Error report/", timeout=180_000)
    shoot(page, out, "09-job")
    page.goto(f"{base}/admin/users")
    shoot(page, out, "10-users")
    page.goto(f"{base}/admin/api-keys")
    page.fill("#k-name", "截图演示密钥")
    page.click("form[action='/admin/api-keys'] button[type=submit]")
    shoot(page, out, "11-api-keys")
    page.goto(f"{base}/admin/audit")
    shoot(page, out, "12-audit")
    page.goto(f"{base}/lang/en?next=/")
    shoot(page, out, "13-home-en")
    if code:
        page.goto(f"{base}/catalog/skus/{code}")
        shoot(page, out, "14-sku-en")
    page.goto(f"{base}/lang/zh-CN?next=/")


def wait_for_lake(page: Page, base: str, timeout_s: float = 240.0) -> bool:
    """The copy's lake is built by the server's sink in its first seconds (a full export of the
    copied database): wait until the sales dashboard has figures."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page.goto(f"{base}/analytics/sales")
        if not page.query_selector("#lake-empty"):
            return True
        time.sleep(3)
    return False


def analytics_tour(page: Page, base: str, out: Path) -> None:
    """The data platform: sales, inventory, members (growth, RFM, 4A), store traffic, touchpoint
    health and maturity, the touchpoint registry and one touchpoint; the sales dashboard filtered
    to one channel and in English."""
    if not wait_for_lake(page, base):
        print("  (the analytics store stayed empty: dashboards shot without data)")
    page.goto(f"{base}/analytics/sales?start={(datetime.now(UTC) - timedelta(days=89)).date()}")
    shoot(page, out, "55-analytics-sales")
    page.goto(f"{base}/analytics/inventory")
    shoot(page, out, "56-analytics-inventory")
    page.goto(f"{base}/analytics/members?start={(datetime.now(UTC) - timedelta(days=89)).date()}")
    shoot(page, out, "57-analytics-members")
    page.goto(f"{base}/analytics/traffic")
    shoot(page, out, "58-analytics-traffic")
    page.goto(f"{base}/analytics/touchpoints")
    shoot(page, out, "59-analytics-touchpoints")
    page.goto(f"{base}/analytics/maturity")
    shoot(page, out, "60-analytics-maturity")
    page.goto(f"{base}/touchpoints")
    shoot(page, out, "61-touchpoints")
    first = page.query_selector("a[href^='/touchpoints/']")
    href = first.get_attribute("href") if first else None
    if href:
        page.goto(f"{base}{href}")
        shoot(page, out, "62-touchpoint")
    page.goto(f"{base}/lang/en?next={quote('/analytics/sales?channel=pos', safe='')}")
    shoot(page, out, "63-analytics-sales-en")
    page.goto(f"{base}/lang/zh-CN?next=/")


def manager_tour(page: Page, base: str, out: Path) -> None:
    shoot(page, out, "21-manager-home")
    page.goto(f"{base}/analytics/sales")
    shoot(page, out, "64-manager-analytics-sales")
    page.goto(f"{base}/locations")
    shoot(page, out, "22-manager-locations")
    page.goto(f"{base}/locations/DC-WH")
    shoot(page, out, "23-manager-out-of-scope")
    page.goto(f"{base}/fulfilment-queue")
    shoot(page, out, "24-manager-fulfilment-queue")
    page.goto(f"{base}/orders")
    shoot(page, out, "25-manager-orders")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "database",
        nargs="?",
        default=str(ROOT / "var" / "zhongtai.db"),
        help="SQLite file (copied first) or a database URL; default: the demo's var/zhongtai.db",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--admin", default="admin")
    parser.add_argument("--manager", default="manager_sh")
    parser.add_argument("--guide", default="guide_sh01")
    parser.add_argument("--agent", default="cs", help="a cs_agent user (the agent desk)")
    parser.add_argument("--password", default=os.environ.get("ZHONGTAI_DEMO_PASSWORD", "demo1234"))
    parser.add_argument(
        "--seed-orders", action="store_true", help="also seed orders into a database URL (a copy is always seeded)"
    )
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "://" in args.database:
            url = args.database
        else:
            copy = tmp / "screenshots.db"
            shutil.copy(args.database, copy)
            url = f"sqlite:///{copy}"
        if "://" not in args.database or args.seed_orders:
            seeded = seed_orders(url)
            print(f"  seeded {seeded} demo orders" if seeded else "  (orders present: none seeded)")
        with ExitStack() as stack:
            # Background jobs run in the web process: the tour uploads a catalog file and waits for its job.
            env = {"ZHONGTAI_RUN_WORKER": "true", "ZHONGTAI_WORKER_POLL_S": "0.2"}
            try:
                base = stack.enter_context(serve_in_subprocess(url, env=env))
            except RuntimeError as exc:
                raise SystemExit(f"the server did not start: {exc}") from exc
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
                page.goto(f"{base}/login")
                shoot(page, args.out, "00-login")
                if not login(page, base, args.admin, args.password):
                    raise SystemExit(f"cannot log in as {args.admin}")
                admin_tour(page, base, args.out, tmp)
                orders_tour(page, base, args.out)
                forecasting_tour(page, base, args.out)
                replenishment_tour(page, base, args.out)
                service_console_tour(page, base, args.out)
                analytics_tour(page, base, args.out)
                widget_tour(page, base, args.out, widget_order(url))
                member = richest_member(url)
                members_tour(page, base, args.out, member)
                logout(page)
                if login(page, base, args.manager, args.password):
                    manager_tour(page, base, args.out)
                    logout(page)
                else:
                    print(f"  (no store manager {args.manager!r}: skipped their pages)")
                if login(page, base, args.guide, args.password):
                    guide_tour(page, base, args.out, member)
                else:
                    print(f"  (no guide {args.guide!r}: skipped their pages)")
                if page.query_selector("form[action='/logout'] button"):
                    logout(page)
                if login(page, base, args.agent, args.password):
                    agent_desk_tour(page, base, args.out)
                else:
                    print(f"  (no customer-service agent {args.agent!r}: skipped the agent desk)")
                browser.close()


if __name__ == "__main__":
    main()
