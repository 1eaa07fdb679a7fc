"""A few dozen of today's orders, in every state, placed through the real order service.

The two years of history are finished business; these are the console's work queues: orders
waiting for payment, to be picked, packed or shipped, parcels on the way, a store that refused
a 1-hour delivery (re-routed), a presale order waiting for stock (backorder), a marketplace
that cancelled after shipment (an exception), returns waiting to be approved or received,
click & collect orders ready at the counter and today's till sales. Every one goes through
``orders.service`` (intake, then the fulfilment verbs), so it holds, consumes and gives back
stock exactly as in production. Their buyers come from the history's customers.

Each order runs in its own savepoint: if the order service refuses one (its rules changed since
this was written), that order is left out and counted in ``live_orders_failed``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from zhongtai.auth.principal import Principal
from zhongtai.demo.catalog_data import ACCESSORY_CATEGORIES, SkuSpec
from zhongtai.demo.network_data import CENTRAL_DC, LocationSpec
from zhongtai.demo.order_history import Customer, OrderHistory, point_near, street_address
from zhongtai.demo.plan import DemoPlan
from zhongtai.errors import DomainError
from zhongtai.inventory import service as inventory_service
from zhongtai.orders import adapters
from zhongtai.orders import service as order_service
from zhongtai.orders.schemas import (
    OrderOut,
    PickIn,
    PickLineIn,
    ReceiveLineIn,
    ReturnLineIn,
    ShipIn,
)

# (scenario, orders at full scale)
SCENARIOS: tuple[tuple[str, int], ...] = (
    ("unpaid", 4),
    ("routed", 10),
    ("picking", 6),
    ("packed", 5),
    ("shipped", 8),
    ("delivered", 6),
    ("completed", 3),
    ("rejected", 3),
    ("backorder", 2),
    ("cancel_after_shipment", 2),
    ("return_requested", 1),
    ("return_approved", 1),
    ("return_received", 1),
    ("pos", 8),
    ("click_collect", 3),
    ("same_city", 4),
    ("cancelled", 2),
)
_CARRIERS = (("顺丰速运", "SF", 13), ("京东物流", "JDV", 12), ("中通快递", "7", 14))


@dataclass
class LiveResult:
    placed: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.placed.values())


def scenario_counts(scale: str) -> list[tuple[str, int]]:
    """The scenarios and how many orders of each: all of them at full scale, about half at small."""
    return [(name, n if scale == "full" else max(1, (n + 1) // 2)) for name, n in SCENARIOS]


class LiveOrders:
    def __init__(
        self, session: Session, actor: Principal, plan: DemoPlan, history: OrderHistory, now: datetime
    ) -> None:
        self.session = session
        self.actor = actor
        self.plan = plan
        self.now = now
        self.rng = random.Random(f"zhongtai-demo-live-{plan.seed}")
        self.customers = [c for c in history.customers if c.city in {s.city for s in plan.network.stores}]
        self.skus = plan.catalog.sku_by_code()
        stock: dict[tuple[str, str], int] = {}
        for r in plan.stock.receipts:
            stock[(r.sku_code, r.location_code)] = stock.get((r.sku_code, r.location_code), 0) + r.quantity
        self.stock = stock
        deep = sorted(
            code
            for (code, loc), qty in stock.items()
            if loc == CENTRAL_DC and qty >= 10 and self.skus[code].lifecycle == "on_sale"
        )
        self.deep = [self.skus[c] for c in deep]
        self.deep_plain = [s for s in self.deep if not s.serial_tracked]
        self.stores = [s for s in plan.network.stores if s.latitude is not None]
        self.drafts = [s for s in plan.catalog.skus if s.lifecycle == "draft"]
        self.picked: set[str] = set()
        self.n = 0
        self.adapters = {c.code: c.adapter for c in plan.network.channels}

    # ------------------------------------------------------------ running

    def run(self, scenarios: list[tuple[str, int]], advance: Callable[[int], None] | None = None) -> LiveResult:
        result = LiveResult()
        for name, count in scenarios:
            step: Callable[[], bool | None] = getattr(self, f"_{name}")
            for _ in range(count):
                savepoint = self.session.begin_nested()
                try:
                    placed = step() is not False
                except DomainError as exc:
                    savepoint.rollback()
                    result.failed.append(f"{name}: {exc.code}: {exc.detail or exc.title}")
                else:
                    savepoint.commit()
                    if placed:
                        result.placed[name] = result.placed.get(name, 0) + 1
                if advance is not None:
                    advance(1)
        return result

    # ------------------------------------------------------------ building orders

    def _external_id(self, channel: str) -> str:
        self.n += 1
        stamp = self.now.strftime("%y%m%d")
        if channel == "jd":
            return str(330_000_000_000 + self.rng.randrange(10**9))
        if channel == "tmall":
            return str(5_000_000_000_000_000_000 + self.rng.randrange(10**15))
        if channel == "meituan":
            return str(10**18 + self.rng.randrange(10**17))
        return f"{'W' if channel == 'web' else 'MP'}{stamp}L{self.n:04d}"

    def _customer(self) -> Customer:
        return self.rng.choice(self.customers)

    def _buyer(self, channel: str, c: Customer) -> dict[str, str]:
        if channel == "jd":
            return {"marketplace_id": c.jd_pin}
        if channel == "tmall":
            return {"marketplace_id": c.tmall_uid}
        buyer = {"phone": c.phone, "name": c.name}
        if channel == "miniapp":
            buyer["unionid"] = c.unionid
        return buyer

    def _lines(self, channel: str, skus: list[SkuSpec]) -> list[dict[str, Any]]:
        prices = {(p.sku_code, p.channel_code): p.price_fen for p in self.plan.catalog.channel_prices}
        return [
            {
                "sku_code": s.code,
                "quantity": 1,
                "unit_price_fen": prices.get((s.code, channel), s.sale_price_fen),
                "external_line_id": f"L{i + 1}",
            }
            for i, s in enumerate(skus)
        ]

    def _basket(self, *, serial: bool = True) -> list[SkuSpec]:
        pool = self.deep if serial else self.deep_plain
        first = self.rng.choice(pool)
        items = [first]
        links = [ln.linked_sku_code for ln in self.plan.catalog.links if ln.sku_code == first.code]
        extras = [self.skus[c] for c in links if any(s.code == c for s in self.deep_plain)]
        if extras and self.rng.random() < 0.5:
            items.append(self.rng.choice(extras))
        return items

    def _order(
        self,
        channel: str,
        skus: list[SkuSpec],
        *,
        mode: str = "express",
        paid: bool = True,
        hours_ago: float = 2.0,
        store: LocationSpec | None = None,
        address_near: LocationSpec | None = None,
        customer: Customer | None = None,
    ) -> OrderOut:
        c = customer or self._customer()
        placed = self.now - timedelta(hours=hours_ago * (0.5 + self.rng.random()))
        lines = self._lines(channel, skus)
        total = sum(ln["unit_price_fen"] * ln["quantity"] for ln in lines)
        body: dict[str, Any] = {
            "external_id": self._external_id(channel),
            "status": "paid" if paid else "created",
            "placed_at": placed.isoformat(),
            "delivery_mode": mode,
            "lines": lines,
            "buyer": self._buyer(channel, c),
        }
        if paid:
            body["paid_at"] = (placed + timedelta(minutes=2)).isoformat()
            body["paid_fen"] = total
        if mode in ("express", "same_city"):
            lat, lon = c.latitude, c.longitude
            city, province, district, address = c.city, c.province, c.district, c.address
            if address_near is not None:
                assert address_near.latitude is not None
                assert address_near.longitude is not None
                lat, lon = point_near(self.rng, address_near.latitude, address_near.longitude, 1.5)
                city, province, address = address_near.city, address_near.province, street_address(self.rng)
                district = ""
            body["address"] = {
                "name": c.name,
                "phone": c.phone,
                "province": province,
                "city": city,
                "district": district,
                "address": address,
                "latitude": lat,
                "longitude": lon,
            }
        if store is not None:
            body["store_code"] = store.code
        result = order_service.intake(self.session, self.actor, channel, self._shaped(channel, body))
        assert result.out.order is not None
        return result.out.order

    def _shaped(self, channel: str, body: dict[str, Any]) -> dict[str, Any]:
        """The payload as the channel sends it: Tmall pushes TOP-style trades."""
        if self.adapters.get(channel) == "marketplace":
            return adapters.to_marketplace(adapters.from_zhongtai(body))
        return body

    def _refresh(self, order: OrderOut) -> OrderOut:
        return order_service.get_order(self.session, self.actor, order.number)

    def _pick(self, order: OrderOut) -> OrderOut:
        for f in order.fulfilments:
            if f.status != "routed":
                continue
            lines = []
            for fl in f.lines:
                if self.skus[fl.sku_code].serial_tracked:
                    lines.append(
                        PickLineIn(line_no=fl.line_no, serials=self._serials(fl.sku_code, f.location_code, fl.quantity))
                    )
            order = order_service.start_picking(self.session, self.actor, f.number, PickIn(lines=lines))
        return order

    def _serials(self, sku_code: str, location_code: str, n: int) -> list[str]:
        page = inventory_service.list_serials(
            self.session,
            self.actor,
            sku_code,
            state="in_stock",
            location_code=location_code,
            limit=n + len(self.picked),
        )
        free = [s.serial for s in page.items if s.serial not in self.picked][:n]
        self.picked.update(free)
        return free

    def _pack(self, order: OrderOut) -> OrderOut:
        for f in order.fulfilments:
            if f.status == "picking":
                order = order_service.pack(self.session, self.actor, f.number)
        return order

    def _ship(self, order: OrderOut) -> OrderOut:
        for f in order.fulfilments:
            if f.status not in ("routed", "picking", "packed"):
                continue
            if f.kind == "same_city":
                carrier, tracking = "美团配送", f"MT{self.rng.randrange(10**16):016d}"
            elif f.kind == "pickup":
                carrier, tracking = "", ""
            else:
                name, prefix, digits = self.rng.choice(_CARRIERS)
                carrier, tracking = name, f"{prefix}{self.rng.randrange(10**digits):0{digits}d}"
            order = order_service.ship(
                self.session, self.actor, f.number, ShipIn(carrier=carrier, tracking_no=tracking)
            )
        return order

    def _deliver(self, order: OrderOut) -> OrderOut:
        for f in order.fulfilments:
            if f.status == "shipped":
                order = order_service.deliver(self.session, self.actor, f.number)
        return order

    def _through(self, order: OrderOut, last: str) -> OrderOut:
        """Picks, packs, ships and delivers, up to and including ``last``."""
        order = self._pick(order)
        if last == "picking":
            return order
        order = self._pack(order)
        if last == "packed":
            return order
        order = self._ship(order)
        if last == "shipped":
            return order
        return self._deliver(order)

    def _online(self) -> str:
        return self.rng.choice(("jd", "jd", "tmall", "tmall", "web", "miniapp"))

    # ------------------------------------------------------------ the scenarios

    def _unpaid(self) -> None:
        self._order("web", self._basket(), paid=False, hours_ago=0.1)

    def _routed(self) -> None:
        self._order(self._online(), self._basket(), hours_ago=3)

    def _picking(self) -> None:
        self._through(self._order(self._online(), self._basket(), hours_ago=5), "picking")

    def _packed(self) -> None:
        self._through(self._order(self._online(), self._basket(), hours_ago=8), "packed")

    def _shipped(self) -> None:
        self._through(self._order(self._online(), self._basket(), hours_ago=24), "shipped")

    def _delivered(self) -> None:
        self._through(self._order(self._online(), self._basket(), hours_ago=48), "delivered")

    def _completed(self) -> None:
        order = self._through(self._order(self._online(), self._basket(), hours_ago=60), "delivered")
        order_service.complete(self.session, self.actor, order.number)

    def _rejected(self) -> None:
        """A store refuses a 1-hour delivery (short of staff): the order goes elsewhere."""
        store = self.rng.choice(self.stores)
        plain = self._store_skus(store, minimum=4, serial=False)
        if not plain:
            plain = self.deep_plain[:1]
        order = self._order("meituan", [self.rng.choice(plain)], mode="same_city", address_near=store, hours_ago=0.3)
        for f in order.fulfilments:
            if f.status == "routed":
                order_service.reject(self.session, self.actor, f.number, "店员不足 short of staff")
                break

    def _backorder(self) -> None:
        """A presale (预售) order for a product not yet in stock anywhere: held as an exception."""
        sku = self.rng.choice(self.drafts) if self.drafts else self.deep_plain[0]
        self._order(self.rng.choice(("jd", "web")), [sku], hours_ago=12)

    def _cancel_after_shipment(self) -> None:
        """Tmall closes a trade we have already shipped: an exception for customer service."""
        order = self._through(self._order("tmall", self._basket(serial=False), hours_ago=20), "shipped")
        body = {
            "external_id": order.external_id,
            "status": "cancelled",
            "delivery_mode": "express",
            "lines": [
                {"sku_code": ln.sku_code, "quantity": ln.quantity, "unit_price_fen": ln.unit_price_fen}
                for ln in order.lines
            ],
            "address": order.address.model_dump(),
        }
        order_service.intake(self.session, self.actor, "tmall", self._shaped("tmall", body))

    def _delivered_for_return(self) -> OrderOut:
        return self._through(self._order(self._online(), self._basket(serial=False), hours_ago=72), "delivered")

    def _return_requested(self) -> None:
        order = self._delivered_for_return()
        order_service.request_return(
            self.session, self.actor, order.number, [ReturnLineIn(line_no=1, quantity=1)], "七天无理由退货"
        )

    def _return_approved(self) -> None:
        order = self._delivered_for_return()
        ret = order_service.request_return(
            self.session, self.actor, order.number, [ReturnLineIn(line_no=1, quantity=1)], "颜色不喜欢"
        )
        order_service.decide_return(self.session, self.actor, ret.number, approve=True)

    def _return_received(self) -> None:
        order = self._delivered_for_return()
        ret = order_service.request_return(
            self.session, self.actor, order.number, [ReturnLineIn(line_no=1, quantity=1)], "商品与描述不符"
        )
        order_service.decide_return(self.session, self.actor, ret.number, approve=True)
        location = order.fulfilments[0].location_code
        order_service.receive_return(
            self.session,
            self.actor,
            ret.number,
            location_code=location,
            lines=[ReceiveLineIn(line_no=1, quantity=1, disposition="restock")],
        )

    def _store_skus(self, store: LocationSpec, *, minimum: int, serial: bool = True) -> list[SkuSpec]:
        return [
            self.skus[code]
            for (code, loc), qty in sorted(self.stock.items())
            if loc == store.code
            and qty >= minimum
            and self.skus[code].lifecycle == "on_sale"
            and (serial or not self.skus[code].serial_tracked)
        ]

    def _pos(self) -> bool:
        """A till sale in a store (phones scanned by IMEI)."""
        store = self.rng.choice(self.stores)
        skus = self._store_skus(store, minimum=3)
        if not skus:
            return False  # nothing on this store's shelves to sell
        first = self.rng.choice(skus)
        items = [first]
        accessories = [s for s in skus if s.category_code in ACCESSORY_CATEGORIES and s != first]
        if accessories and self.rng.random() < 0.5:
            items.append(self.rng.choice(accessories))
        lines = self._lines("pos", items)
        for ln, s in zip(lines, items, strict=True):
            if s.serial_tracked:
                ln["serials"] = self._serials(s.code, store.code, 1)
        c = self._customer() if self.rng.random() < 0.6 else None
        total = sum(ln["unit_price_fen"] * ln["quantity"] for ln in lines)
        placed = self.now - timedelta(minutes=self.rng.uniform(5, 300))
        body: dict[str, Any] = {
            "external_id": f"{store.code}-{self.now:%y%m%d}-L{self._next():03d}",
            "status": "paid",
            "placed_at": placed.isoformat(),
            "paid_at": placed.isoformat(),
            "paid_fen": total,
            "delivery_mode": "pos",
            "store_code": store.code,
            "lines": lines,
            "buyer": {"phone": c.phone, "name": c.name} if c else {},
        }
        order_service.intake(self.session, self.actor, "pos", body)
        return True

    def _next(self) -> int:
        self.n += 1
        return self.n

    def _click_collect(self) -> None:
        """Ordered online, to collect at a store: picked and packed, waiting at the counter."""
        store = self.rng.choice(self.stores)
        skus = self._store_skus(store, minimum=4, serial=False) or self.deep_plain[:1]
        order = self._order(
            self.rng.choice(("web", "miniapp")), [self.rng.choice(skus)], mode="click_collect", store=store, hours_ago=4
        )
        self._through(order, "packed")

    def _same_city(self) -> None:
        """1-hour delivery from the nearest store: some picking, some with the rider."""
        store = self.rng.choice(self.stores)
        skus = self._store_skus(store, minimum=4, serial=False) or self.deep_plain[:1]
        channel = "meituan" if self.rng.random() < 0.7 else "miniapp"
        order = self._order(channel, [self.rng.choice(skus)], mode="same_city", address_near=store, hours_ago=0.4)
        self._through(order, self.rng.choice(("picking", "packed", "shipped")))

    def _cancelled(self) -> None:
        order = self._order(self.rng.choice(("web", "miniapp")), self._basket(serial=False), hours_ago=1)
        order_service.cancel(self.session, self.actor, order.number, "买错了 ordered by mistake")
