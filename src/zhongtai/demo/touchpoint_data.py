"""The demo retailer's touchpoints and the last months of their event stream (plain data, no database).

For a seed, the demo plan, its order history and the load date this builds:

* **the registry**: the online trackers (web shop, mini-program, WeChat official account, the JD and
  Tmall store trackers), per store a people-counting camera system (most stores, not all) and for
  some stores interactive screens, smart shelves and a price-check scanner, a few commercial
  touchpoints (vending machines, elevator ad screens, an OTT campaign) and the guides' WeCom and
  WeChat groups. Registered over the last twelve months and connected days to weeks later; two
  are still planned and one is paused. Costs are monthly fen; ``manufacturing`` is digitised by
  none of them (the coverage indicator is not 100 %).
* **events** for the ``WINDOW_DAYS`` days that end yesterday, consistent with the orders: every
  order of a member on a tracked online channel is preceded by the browse path that led to it
  (page views, searches, product views and add-to-cart of the ordered SKUs, the coupon used),
  attributed to the member who placed it; anonymous sessions that buy nothing; coupons received;
  chats; and per store visitors counted by the camera (entry/exit pairs with dwell, gender and age
  band) at POS buyers ÷ a conversion of 15–35 % varying by store and weekday, the buyers walking
  in shortly before their till receipt. Zones, shelf interactions and scans where a store has those
  devices, and the order center's order events (placed, paid, cancelled, completed, refunded) for
  the history's orders in the window.
* **heartbeats** (one per touchpoint interval over the whole window: the demo's devices report
  every 30 minutes (online trackers) or every hour, which keeps the demo at a few hundred
  thousand rows while uptime stays exact; a few touchpoints have outages) and **rejections**
  (1–3 % of a few touchpoints' events: a missing field, an unknown SKU, a timestamp in the
  future ...).

Same seed, plan, history, date and references: the same frames, row for row.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import polars as pl

from zhongtai.demo.catalog_data import SkuSpec
from zhongtai.demo.network_data import LocationSpec
from zhongtai.demo.order_history import HistOrder, OrderHistory, beijing_date, day_start, festival
from zhongtai.demo.plan import DemoPlan

WINDOW_DAYS = 180
ORDER_SOURCE = "order-center"
TRACKED_ONLINE = ("web", "miniapp", "jd", "tmall")
# Sessions that buy nothing, per buying session, by channel (the trackers see far more browsing).
BROWSE_RATIO = {"web": 8.0, "miniapp": 6.0, "jd": 4.0, "tmall": 4.0}
ZONES = ("phones", "laptops", "audio", "wearables", "smart_home", "appliances", "checkout")
GENDERS = ("male", "female", "unknown")
GENDER_P = (0.55, 0.40, 0.05)
AGE_BANDS = ("0-17", "18-24", "25-34", "35-44", "45-54", "55+", "unknown")
AGE_P = (0.04, 0.20, 0.35, 0.22, 0.10, 0.06, 0.03)
# Local hour weights: online peaks late morning and late evening; stores at lunch and after work.
ONLINE_HOURS = np.array(
    [2, 1, 0.6, 0.4, 0.3, 0.4, 0.8, 1.5, 2.5, 3.5, 4.5, 5, 4.5, 4, 3.8, 3.8, 4, 4.2, 4.5, 5, 6, 6.5, 5.5, 3.5]
)
STORE_HOURS = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0.5, 2, 3.5, 4, 3.8, 2.5, 2.2, 2.3, 2.6, 3.6, 4.2, 4.2, 3.6, 1.2, 0])
ZERO_RESULT_QUERIES = ("switch 2 游戏机", "戴森吹风机", "iphone 17 pro max 1t", "拍立得相纸", "无人机 大疆")

TpType = Literal["online", "offline", "commercial", "social"]
TpStatus = Literal["planned", "active", "paused"]


@dataclass(frozen=True, slots=True)
class TouchpointSpec:
    code: str
    name: str
    name_en: str
    type: TpType
    kind: str
    channel_code: str | None
    store_code: str | None
    owner: str
    factors: tuple[str, ...]
    cost_fen_month: int
    heartbeat_interval_s: int
    # Registered as planned or active; ``paused`` ones are paused on ``paused_on`` after the import.
    status: TpStatus
    registered_at: datetime
    connected_on: date | None
    paused_on: date | None = None
    # (start, end) UTC: no heartbeat and no event in between.
    outages: tuple[tuple[datetime, datetime], ...] = ()

    @property
    def live(self) -> bool:
        return self.connected_on is not None

    def sends_from(self, first: datetime) -> datetime:
        """The first moment this touchpoint sends anything in a window starting at ``first``."""
        assert self.connected_on is not None
        return max(first, day_start(self.connected_on))

    def sends_until(self, end: datetime) -> datetime:
        return min(end, day_start(self.paused_on)) if self.paused_on is not None else end


@dataclass(frozen=True, slots=True)
class Refs:
    """The database's ids the events carry (looked up by the loader; tests make them up)."""

    sku_ids: Mapping[str, int]
    location_ids: Mapping[str, int]
    # The history's orders that belong to a member (order number -> member id).
    member_of_order: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class TouchpointHistory:
    touchpoints: tuple[TouchpointSpec, ...]
    first_day: date
    last_day: date
    # Columns: source, event_id, touchpoint (code, null for the order center), type, occurred_at,
    # received_at, channel_code, location_id, member_id, identified, anonymous_id, session_id,
    # sku_id, data (JSON text of the type's fields).
    events: pl.DataFrame
    # touchpoint (code), at, status, latency_ms
    heartbeats: pl.DataFrame
    # touchpoint (code), received_at, source, event_id, type, errors (JSON list), payload (JSON)
    rejections: pl.DataFrame
    # Stores whose visitors a camera counts, and the first day it counted them.
    camera_stores: Mapping[str, date] = field(default_factory=dict)


def window(today: date) -> tuple[date, date]:
    """The first and last day of the event history: ``WINDOW_DAYS`` days ending yesterday."""
    return today - timedelta(days=WINDOW_DAYS), today - timedelta(days=1)


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


# ---------------------------------------------------------------- the registry


def _at(today: date, days_ago: float) -> datetime:
    return day_start(today) - timedelta(days=days_ago) + timedelta(hours=10)


def build_registry(seed: int, stores: Sequence[LocationSpec], today: date) -> tuple[TouchpointSpec, ...]:
    """The demo's touchpoints (see the module doc), deterministic for the seed."""
    rng = np.random.default_rng(_seed("zhongtai-demo-touchpoints", seed))
    out: list[TouchpointSpec] = []

    def add(
        code: str,
        name: str,
        name_en: str,
        type_: TpType,
        kind: str,
        *,
        owner: str,
        factors: tuple[str, ...],
        cost: int,
        interval: int,
        registered_days_ago: float,
        connect_after: int | None,
        channel: str | None = None,
        store: str | None = None,
        paused_days_ago: int | None = None,
        outages: tuple[tuple[datetime, datetime], ...] = (),
    ) -> None:
        registered = _at(today, registered_days_ago)
        connected = None if connect_after is None else beijing_date(registered) + timedelta(days=connect_after)
        if connected is not None and connected >= today:
            connected = None
        status: TpStatus = "planned" if connected is None else "active"
        paused = today - timedelta(days=paused_days_ago) if paused_days_ago is not None else None
        if paused is not None and status == "active":
            status = "paused"
        out.append(
            TouchpointSpec(
                code,
                name,
                name_en,
                type_,
                kind,
                channel,
                store,
                owner,
                factors,
                cost,
                interval,
                status,
                registered,
                connected,
                paused,
                outages,
            )
        )

    def outage(days_ago: float, hours: float) -> tuple[datetime, datetime]:
        start = day_start(today) - timedelta(days=days_ago) + timedelta(hours=float(rng.integers(0, 20)))
        return start, start + timedelta(hours=hours)

    ecom, stores_ops, mkt, crm = (
        "电商运营部 E-commerce",
        "门店运营部 Store operations",
        "市场部 Marketing",
        "会员中心 CRM",
    )
    add(
        "TP-WEB-TRACK",
        "官方商城行为埋点",
        "Web shop tracker",
        "online",
        "web_shop",
        owner=ecom,
        factors=("channel", "goods", "retail"),
        cost=1_200_000,
        interval=1800,
        registered_days_ago=162,
        connect_after=4,
        channel="web",
        outages=(outage(37, 5),),
    )
    add(
        "TP-MINIAPP",
        "微信小程序埋点",
        "Mini-program tracker",
        "online",
        "mini_program",
        owner=ecom,
        factors=("channel", "marketing", "service"),
        cost=800_000,
        interval=1800,
        registered_days_ago=158,
        connect_after=6,
        channel="miniapp",
    )
    add(
        "TP-WX-OA",
        "微信公众号",
        "WeChat official account",
        "online",
        "official_account",
        owner=mkt,
        factors=("brand", "marketing"),
        cost=300_000,
        interval=3600,
        registered_days_ago=148,
        connect_after=9,
    )
    add(
        "TP-JD-STORE",
        "京东旗舰店数据回传",
        "JD store tracker",
        "online",
        "marketplace_store",
        owner=ecom,
        factors=("channel", "retail"),
        cost=500_000,
        interval=3600,
        registered_days_ago=135,
        connect_after=21,
        channel="jd",
    )
    add(
        "TP-TMALL-STORE",
        "天猫旗舰店数据回传",
        "Tmall store tracker",
        "online",
        "marketplace_store",
        owner=ecom,
        factors=("channel", "retail"),
        cost=500_000,
        interval=3600,
        registered_days_ago=126,
        connect_after=18,
        channel="tmall",
    )

    n = len(stores)
    for i, s in enumerate(stores):
        flagship = "旗舰" in s.name
        short = s.name.removeprefix("云启")
        # Cameras roll out over the year, flagships first; one store in seven has none yet.
        if flagship or rng.random() > 0.15:
            ago = 144 - 126 * i / max(1, n - 1) + float(rng.integers(-5, 5))
            add(
                f"TP-CAM-{s.code}",
                f"{short}客流摄像头",
                f"{s.name_en} people counter",
                "offline",
                "camera",
                owner=stores_ops,
                factors=("retail", "service"),
                cost=180_000,
                interval=1800,
                registered_days_ago=max(ago, 11),
                connect_after=int(rng.integers(5, 25)),
                store=s.code,
            )
        if flagship or rng.random() < 0.3:
            add(
                f"TP-SCR-{s.code}",
                f"{short}互动大屏",
                f"{s.name_en} interactive screen",
                "offline",
                "interactive_screen",
                owner=stores_ops,
                factors=("goods", "marketing"),
                cost=90_000,
                interval=3600,
                registered_days_ago=float(rng.integers(27, 108)),
                connect_after=int(rng.integers(7, 30)),
                store=s.code,
            )
        if flagship:
            add(
                f"TP-SHELF-{s.code}",
                f"{short}智能货架",
                f"{s.name_en} smart shelf",
                "offline",
                "smart_shelf",
                owner=stores_ops,
                factors=("goods", "retail"),
                cost=120_000,
                interval=1800,
                registered_days_ago=float(rng.integers(40, 90)),
                connect_after=int(rng.integers(10, 35)),
                store=s.code,
                outages=(outage(float(rng.integers(5, 60)), float(rng.integers(3, 30))),),
            )
        if rng.random() < 0.25:
            add(
                f"TP-SCAN-{s.code}",
                f"{short}自助查价机",
                f"{s.name_en} price checker",
                "offline",
                "scanner",
                owner=stores_ops,
                factors=("goods",),
                cost=30_000,
                interval=3600,
                registered_days_ago=float(rng.integers(14, 135)),
                connect_after=int(rng.integers(3, 14)),
                store=s.code,
            )
    # A screen bought for the newest store, not wired up yet.
    planned_store = stores[-1].code
    add(
        f"TP-SCR2-{planned_store}",
        f"{stores[-1].name.removeprefix('云启')}第二块互动屏",
        f"{stores[-1].name_en} second screen",
        "offline",
        "interactive_screen",
        owner=stores_ops,
        factors=("goods", "marketing"),
        cost=90_000,
        interval=3600,
        registered_days_ago=3,
        connect_after=None,
        store=planned_store,
    )

    add(
        "TP-VEND-SUBWAY",
        "地铁站智能售货机",
        "Metro station vending machines",
        "commercial",
        "vending_machine",
        owner=mkt,
        factors=("retail", "goods"),
        cost=250_000,
        interval=3600,
        registered_days_ago=90,
        connect_after=12,
        outages=(outage(48, 40),),
    )
    add(
        "TP-ELEV-ADS",
        "写字楼电梯广告屏",
        "Office elevator ad screens",
        "commercial",
        "ad_screen",
        owner=mkt,
        factors=("brand", "marketing"),
        cost=600_000,
        interval=3600,
        registered_days_ago=76,
        connect_after=10,
        paused_days_ago=20,
    )
    add(
        "TP-OTT-618",
        "智能电视开机广告",
        "Smart-TV (OTT) campaign",
        "commercial",
        "ott",
        owner=mkt,
        factors=("brand", "marketing"),
        cost=1_500_000,
        interval=3600,
        registered_days_ago=68,
        connect_after=5,
    )
    add(
        "TP-OUTDOOR-CBD",
        "商圈户外大屏",
        "CBD outdoor screen",
        "commercial",
        "outdoor_ad",
        owner=mkt,
        factors=("brand",),
        cost=2_000_000,
        interval=3600,
        registered_days_ago=1,
        connect_after=None,
    )

    add(
        "TP-WECOM-GUIDES",
        "导购企业微信",
        "Guides on WeCom",
        "social",
        "guide_wecom",
        owner=crm,
        factors=("service", "marketing"),
        cost=150_000,
        interval=3600,
        registered_days_ago=108,
        connect_after=14,
    )
    add(
        "TP-WX-GROUPS",
        "门店会员微信群",
        "Store members' WeChat groups",
        "social",
        "wechat_group",
        owner=crm,
        factors=("marketing", "service"),
        cost=50_000,
        interval=3600,
        registered_days_ago=45,
        connect_after=8,
    )
    return tuple(out)


# ---------------------------------------------------------------- the event builder


class _Columns:
    """The events frame's columns, appended row by row (a few hundred thousand rows)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.cols: dict[str, list[Any]] = defaultdict(list)
        self.n = 0

    def add(
        self,
        tp: str | None,
        type_: str,
        at: datetime,
        event_id: str,
        data: dict[str, Any],
        *,
        channel: str | None = None,
        location: int | None = None,
        member: int | None = None,
        identified: bool = False,
        anonymous: str = "",
        session: str = "",
        sku: int | None = None,
        source: str | None = None,
    ) -> None:
        c = self.cols
        c["source"].append(source or tp)
        c["event_id"].append(event_id)
        c["touchpoint"].append(tp)
        c["type"].append(type_)
        c["occurred_at"].append(at)
        c["channel_code"].append(channel)
        c["location_id"].append(location)
        c["member_id"].append(member)
        c["identified"].append(identified)
        c["anonymous_id"].append(anonymous)
        c["session_id"].append(session)
        c["sku_id"].append(sku)
        c["data"].append(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        self.n += 1

    def frame(self) -> pl.DataFrame:
        n = self.n
        # Mostly a second or two on the wire; devices that were offline upload a late batch.
        delay = np.exp(self.rng.normal(0.4, 0.9, n)).clip(0.05, 120.0)
        late = self.rng.random(n) < 0.012
        delay = np.where(late, self.rng.uniform(600, 6 * 3600, n), delay)
        frame = pl.DataFrame(
            {
                "source": pl.Series(self.cols["source"], dtype=pl.Utf8),
                "event_id": pl.Series(self.cols["event_id"], dtype=pl.Utf8),
                "touchpoint": pl.Series(self.cols["touchpoint"], dtype=pl.Utf8),
                "type": pl.Series(self.cols["type"], dtype=pl.Utf8),
                "occurred_at": pl.Series(self.cols["occurred_at"], dtype=pl.Datetime("us", "UTC")),
                "channel_code": pl.Series(self.cols["channel_code"], dtype=pl.Utf8),
                "location_id": pl.Series(self.cols["location_id"], dtype=pl.Int32),
                "member_id": pl.Series(self.cols["member_id"], dtype=pl.Int64),
                "identified": pl.Series(self.cols["identified"], dtype=pl.Boolean),
                "anonymous_id": pl.Series(self.cols["anonymous_id"], dtype=pl.Utf8),
                "session_id": pl.Series(self.cols["session_id"], dtype=pl.Utf8),
                "sku_id": pl.Series(self.cols["sku_id"], dtype=pl.Int32),
                "data": pl.Series(self.cols["data"], dtype=pl.Utf8),
                "_delay_us": pl.Series((delay * 1e6).astype(np.int64)),
            }
        )
        # The order center writes its events in the transaction that changes the order.
        received = pl.col("occurred_at") + pl.duration(microseconds=pl.col("_delay_us"))
        return frame.with_columns(
            received_at=pl.when(pl.col("source") == ORDER_SOURCE).then(pl.col("occurred_at")).otherwise(received)
        ).drop("_delay_us")


def _pick(rng: np.random.Generator, values: Sequence[str], p: Sequence[float], n: int) -> list[str]:
    return [values[i] for i in rng.choice(len(values), size=n, p=np.asarray(p) / sum(p))]


def _hour_offsets(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """Seconds after local midnight, drawn from an hourly shape."""
    hours = rng.choice(24, size=n, p=weights / weights.sum())
    return hours * 3600 + rng.integers(0, 3600, n)


class _Builder:
    def __init__(self, plan: DemoPlan, history: OrderHistory, today: date, refs: Refs) -> None:
        self.plan = plan
        self.history = history
        self.today = today
        self.refs = refs
        self.first_day, self.last_day = window(today)
        self.start = day_start(self.first_day)
        self.end = min(day_start(today), history.cutoff)
        self.rng = np.random.default_rng(_seed("zhongtai-demo-events", plan.seed, today.isoformat()))
        self.registry = build_registry(plan.seed, plan.network.stores, today)
        self.tp = {t.code: t for t in self.registry}
        self.ev = _Columns(self.rng)
        self.skus: dict[str, SkuSpec] = {s.code: s for s in plan.catalog.skus}
        self.on_sale = [s for s in plan.catalog.skus if s.lifecycle == "on_sale" and s.code in refs.sku_ids]
        self.members = sorted(set(refs.member_of_order.values()))
        self.orders = [o for o in history.orders if self.start <= o.placed_at < self.end]
        self._ids = 0

    # -------------------------------------------------------- helpers

    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids:07d}"

    def _sending(self, code: str, at: datetime) -> bool:
        t = self.tp.get(code)
        if t is None or not t.live:
            return False
        if not (t.sends_from(self.start) <= at < t.sends_until(self.end)):
            return False
        return not any(a <= at < b for a, b in t.outages)

    def _sku(self) -> SkuSpec:
        return self.on_sale[int(self.rng.integers(len(self.on_sale)))]

    def _device(self, member: int | None, salt: str) -> str:
        key = f"m{member}" if member is not None else salt
        return "dev-" + hashlib.blake2b(key.encode(), digest_size=6).hexdigest()

    def _query(self, sku: SkuSpec) -> str:
        words = sku.name.split()
        return " ".join(words[: max(1, min(2, len(words)))])

    # -------------------------------------------------------- online

    def online(self) -> None:
        by_day_channel: dict[tuple[date, str], int] = defaultdict(int)
        for o in self.orders:
            if o.channel_code not in TRACKED_ONLINE:
                continue
            tp = _tracker(o.channel_code)
            if not self._sending(tp, o.placed_at):
                continue
            by_day_channel[(beijing_date(o.placed_at), o.channel_code)] += 1
            self._buying_session(tp, o)
        for (day, channel), buyers in sorted(by_day_channel.items()):
            n = int(self.rng.poisson(buyers * BROWSE_RATIO[channel]))
            offsets = _hour_offsets(self.rng, ONLINE_HOURS, n)
            for off in offsets:
                at = day_start(day) + timedelta(seconds=int(off))
                self._browsing_session(_tracker(channel), channel, at)

    def _buying_session(self, tp: str, o: HistOrder) -> None:
        rng = self.rng
        member = self.refs.member_of_order.get(o.number)
        session = f"s-{o.number}"
        device = self._device(member, o.number)
        common: dict[str, Any] = {
            "channel": o.channel_code,
            "member": member,
            "identified": member is not None,
            "anonymous": device,
            "session": session,
        }
        lines = [ln for ln in o.lines if ln.sku_code in self.refs.sku_ids]
        steps = 3 + 2 * len(lines) + int(rng.integers(0, 3))
        at = o.placed_at - timedelta(seconds=int(rng.integers(4 * 60, 40 * 60)))
        gap = (o.placed_at - at) / (steps + 1)
        t = at
        self.ev.add(tp, "page_view", t, self._id(tp), {"url": "/", "page_type": "home"}, **common)
        if lines and rng.random() < 0.7:
            t += gap
            q = self._query(self.skus[lines[0].sku_code])
            self.ev.add(tp, "search", t, self._id(tp), {"query": q, "results": int(rng.integers(3, 40))}, **common)
        for ln in lines:
            sku = self.skus[ln.sku_code]
            sku_id = self.refs.sku_ids[ln.sku_code]
            t += gap
            view = {"sku": ln.sku_code, "price_fen": ln.unit_price_fen, "value_fen": ln.unit_price_fen}
            self.ev.add(tp, "product_view", t, self._id(tp), view, sku=sku_id, **common)
            if rng.random() < 0.35:  # compared with another product first
                other = self._sku()
                t += gap / 2
                seen = {"sku": other.code, "price_fen": other.sale_price_fen, "value_fen": other.sale_price_fen}
                self.ev.add(tp, "product_view", t, self._id(tp), seen, sku=self.refs.sku_ids[other.code], **common)
            t += gap
            cart = {
                "sku": sku.code,
                "quantity": ln.quantity,
                "price_fen": ln.unit_price_fen,
                "value_fen": ln.unit_price_fen * ln.quantity,
            }
            self.ev.add(tp, "add_to_cart", t, self._id(tp), cart, sku=sku_id, **common)
        if o.discount_fen > 0 and member is not None:
            coupon = _coupon(o.placed_at)
            received_at = o.placed_at - timedelta(days=float(rng.uniform(0.2, 9)))
            source = "TP-MINIAPP" if self._sending("TP-MINIAPP", received_at) else tp
            if self._sending(source, received_at):
                got = {
                    "coupon": coupon,
                    "value_fen": o.discount_fen,
                    "campaign": festival(beijing_date(o.placed_at)) or "member",
                }
                self.ev.add(source, "coupon_received", received_at, self._id(source), got, **{**common, "session": ""})
            used = {"coupon": coupon, "value_fen": o.discount_fen, "order_number": o.number}
            self.ev.add(tp, "coupon_used", o.placed_at, self._id(tp), used, **common)

    def _browsing_session(self, tp: str, channel: str, at: datetime) -> None:
        if not self._sending(tp, at):
            return
        rng = self.rng
        member: int | None = None
        identified = rng.random() < 0.25 and bool(self.members)
        if identified:
            # Logged in; one in twenty identifiers belongs to nobody the member center knows.
            member = None if rng.random() < 0.05 else self.members[int(rng.integers(len(self.members)))]
        session = self._id("sess")
        common: dict[str, Any] = {
            "channel": channel,
            "member": member,
            "identified": identified,
            "anonymous": self._device(member, session),
            "session": session,
        }
        t = at
        for _ in range(int(rng.integers(1, 4))):
            self.ev.add(tp, "page_view", t, self._id(tp), {"url": "/", "page_type": "home"}, **common)
            t += timedelta(seconds=int(rng.integers(10, 120)))
        if rng.random() < 0.45:
            if rng.random() < 0.12:
                q, results = ZERO_RESULT_QUERIES[int(rng.integers(len(ZERO_RESULT_QUERIES)))], 0
            else:
                q, results = self._query(self._sku()), int(rng.integers(1, 60))
            self.ev.add(tp, "search", t, self._id(tp), {"query": q, "results": results}, **common)
            t += timedelta(seconds=int(rng.integers(5, 60)))
        for _ in range(int(rng.integers(0, 4))):
            sku = self._sku()
            view = {"sku": sku.code, "price_fen": sku.sale_price_fen, "value_fen": sku.sale_price_fen}
            self.ev.add(tp, "product_view", t, self._id(tp), view, sku=self.refs.sku_ids[sku.code], **common)
            t += timedelta(seconds=int(rng.integers(15, 180)))
            if rng.random() < 0.15:  # an abandoned cart
                cart = {
                    "sku": sku.code,
                    "quantity": 1,
                    "price_fen": sku.sale_price_fen,
                    "value_fen": sku.sale_price_fen,
                }
                self.ev.add(tp, "add_to_cart", t, self._id(tp), cart, sku=self.refs.sku_ids[sku.code], **common)

    # -------------------------------------------------------- members' social and marketing reach

    def engagement(self) -> None:
        rng = self.rng
        if not self.members:
            return
        stores = [s.code for s in self.plan.network.stores]
        day = self.first_day
        while day <= self.last_day:
            lift = 3.0 if festival(day) else 1.0
            base = day_start(day)
            # Official-account articles and the coupons they hand out; 30 % of followers are no members.
            for off in _hour_offsets(rng, ONLINE_HOURS, int(rng.poisson(25 * lift))):
                at = base + timedelta(seconds=int(off))
                if not self._sending("TP-WX-OA", at):
                    continue
                member = None if rng.random() < 0.3 else self.members[int(rng.integers(len(self.members)))]
                common: dict[str, Any] = {
                    "member": member,
                    "identified": True,
                    "anonymous": self._device(member, f"oa{off}"),
                }
                article = {"url": f"/articles/{day:%Y%m%d}", "page_type": "article"}
                self.ev.add("TP-WX-OA", "page_view", at, self._id("TP-WX-OA"), article, **common)
                if rng.random() < 0.4:
                    got = {
                        "coupon": _coupon(at),
                        "value_fen": int(rng.choice([2000, 5000, 10000])),
                        "campaign": "official_account",
                    }
                    self.ev.add(
                        "TP-WX-OA", "coupon_received", at + timedelta(seconds=30), self._id("TP-WX-OA"), got, **common
                    )
            # Guides chat with their members on WeCom; the stores' member groups.
            for off in _hour_offsets(rng, STORE_HOURS, int(rng.poisson(1.5 * len(stores)))):
                at = base + timedelta(seconds=int(off))
                member = self.members[int(rng.integers(len(self.members)))]
                store = stores[int(rng.integers(len(stores)))]
                tp = "TP-WECOM-GUIDES" if rng.random() < 0.75 else "TP-WX-GROUPS"
                if not self._sending(tp, at):
                    continue
                conv = self._id("conv")
                common = {
                    "member": member,
                    "identified": True,
                    "anonymous": self._device(member, conv),
                    "session": conv,
                    "location": self.refs.location_ids.get(store),
                }
                for k in range(int(rng.integers(1, 5))):
                    chat = {
                        "conversation": conv,
                        "direction": "in" if k % 2 == 0 else "out",
                        "intent": "product_advice",
                    }
                    self.ev.add(tp, "chat", at + timedelta(minutes=3 * k), self._id(tp), chat, **common)
            day += timedelta(days=1)
        self._commercial()

    def _commercial(self) -> None:
        rng = self.rng
        day = self.first_day
        snacks = [s for s in self.on_sale if s.sale_price_fen < 20_000][:30] or self.on_sale[:30]
        while day <= self.last_day:
            base = day_start(day)
            for off in _hour_offsets(rng, STORE_HOURS + 0.5, int(rng.poisson(30))):
                at = base + timedelta(seconds=int(off))
                if not self._sending("TP-VEND-SUBWAY", at):
                    continue
                sku = snacks[int(rng.integers(len(snacks)))]
                sku_id = self.refs.sku_ids[sku.code]
                anon = self._id("vend")
                view = {"sku": sku.code, "price_fen": sku.sale_price_fen, "value_fen": sku.sale_price_fen}
                self.ev.add(
                    "TP-VEND-SUBWAY", "product_view", at, self._id("TP-VEND-SUBWAY"), view, sku=sku_id, anonymous=anon
                )
                if rng.random() < 0.3:
                    self.ev.add(
                        "TP-VEND-SUBWAY",
                        "scan",
                        at + timedelta(seconds=20),
                        self._id("TP-VEND-SUBWAY"),
                        {"code": sku.barcodes[0] if sku.barcodes else sku.code, "sku": sku.code},
                        sku=sku_id,
                        anonymous=anon,
                    )
            for code, n in (("TP-ELEV-ADS", 40), ("TP-OTT-618", 20 if festival(day) == "618" else 6)):
                for off in _hour_offsets(rng, ONLINE_HOURS, int(rng.poisson(n))):
                    at = base + timedelta(seconds=int(off))
                    if not self._sending(code, at):
                        continue
                    member = self.members[int(rng.integers(len(self.members)))] if rng.random() < 0.2 else None
                    got = {"coupon": _coupon(at), "value_fen": 5000, "campaign": code.lower()}
                    self.ev.add(
                        code,
                        "coupon_received",
                        at,
                        self._id(code),
                        got,
                        member=member,
                        identified=member is not None,
                        anonymous=self._device(member, f"{code}{off}"),
                    )
            day += timedelta(days=1)

    # -------------------------------------------------------- stores

    def stores(self) -> dict[str, date]:
        rng = self.rng
        buyers: dict[tuple[str, date], list[HistOrder]] = defaultdict(list)
        for o in self.orders:
            if o.channel_code == "pos" and o.store_code is not None:
                buyers[(o.store_code, beijing_date(o.placed_at))].append(o)
        cameras: dict[str, date] = {}
        for store in self.plan.network.stores:
            cam = f"TP-CAM-{store.code}"
            if cam not in self.tp or not self.tp[cam].live:
                continue
            cameras[store.code] = beijing_date(self.tp[cam].sends_from(self.start))
            loc = self.refs.location_ids.get(store.code)
            conversion = float(rng.uniform(0.18, 0.32))
            days = [d for (s, d) in buyers if s == store.code]
            mean = len([o for d in days for o in buyers[(store.code, d)]]) / WINDOW_DAYS
            opens, closes = _hours(store)
            day = self.first_day
            while day <= self.last_day:
                base = day_start(day)
                if self.tp[cam].sends_from(self.start) > base:
                    day += timedelta(days=1)
                    continue
                weekend = day.weekday() >= 5
                c = min(0.35, max(0.15, conversion * (0.82 if weekend else 1.0) + float(rng.normal(0, 0.02))))
                bought = buyers.get((store.code, day), [])
                n = math.ceil(len(bought) / c) if bought else int(rng.poisson(mean * (1.4 if weekend else 1.0) / c))
                # The buyers walked in a while before the till receipt; the others at the hours' shape.
                # (never before the day's midnight: each visitor counts on the day of the receipt)
                entries = [max(base, o.placed_at - timedelta(seconds=int(rng.integers(300, 2100)))) for o in bought]
                stays = [
                    int((o.placed_at - e).total_seconds()) + int(rng.integers(60, 600))
                    for o, e in zip(bought, entries, strict=True)
                ]
                k = n - len(bought)
                hours = STORE_HOURS.copy()
                hours[:opens] = 0
                hours[closes:] = 0
                for off in _hour_offsets(rng, hours, k):
                    entries.append(base + timedelta(seconds=int(off)))
                    stays.append(int(min(5400, max(45, rng.lognormal(math.log(360), 0.7)))))
                self._visitors(store.code, loc, entries, stays)
                day += timedelta(days=1)
        return cameras

    def _visitors(self, store: str, loc: int | None, entries: list[datetime], stays: list[int]) -> None:
        rng = self.rng
        n = len(entries)
        genders = _pick(rng, GENDERS, GENDER_P, n)
        ages = _pick(rng, AGE_BANDS, AGE_P, n)
        cam, scr, shelf, scan = (f"TP-{k}-{store}" for k in ("CAM", "SCR", "SHELF", "SCAN"))
        for at, stay, g, a in zip(entries, stays, genders, ages, strict=True):
            visitor = self._id("v")
            common: dict[str, Any] = {"channel": "pos", "location": loc, "anonymous": visitor}
            band = {"visitor": visitor, "gender": g, "age_band": a}
            self.ev.add(cam, "store_entry", at, self._id(cam), band, **common)
            for z in range(int(rng.integers(0, 3))):
                zone = ZONES[int(rng.integers(len(ZONES)))]
                dwell = {**band, "zone": zone, "dwell_s": int(rng.integers(20, max(21, stay // 2)))}
                self.ev.add(cam, "dwell", at + timedelta(seconds=stay * (z + 1) // 4), self._id(cam), dwell, **common)
            if self._sending(scr, at) and rng.random() < 0.2:
                sku = self._sku()
                view = {"sku": sku.code, "price_fen": sku.sale_price_fen, "value_fen": sku.sale_price_fen}
                self.ev.add(
                    scr,
                    "product_view",
                    at + timedelta(seconds=stay // 3),
                    self._id(scr),
                    view,
                    sku=self.refs.sku_ids[sku.code],
                    **common,
                )
            if self._sending(shelf, at) and rng.random() < 0.4:
                for _ in range(int(rng.integers(1, 4))):
                    sku = self._sku()
                    act = {
                        "shelf": f"{store}-A{int(rng.integers(1, 9))}",
                        "sku": sku.code,
                        "action": str(rng.choice(["pick_up", "put_back", "touch"])),
                        "duration_s": int(rng.integers(2, 90)),
                    }
                    self.ev.add(
                        shelf,
                        "shelf_interaction",
                        at + timedelta(seconds=stay // 2),
                        self._id(shelf),
                        act,
                        sku=self.refs.sku_ids[sku.code],
                        **common,
                    )
            if self._sending(scan, at) and rng.random() < 0.25:
                sku = self._sku()
                code = sku.barcodes[0] if sku.barcodes else sku.code
                self.ev.add(
                    scan,
                    "scan",
                    at + timedelta(seconds=stay // 2),
                    self._id(scan),
                    {"code": code, "sku": sku.code},
                    sku=self.refs.sku_ids[sku.code],
                    **common,
                )
            self.ev.add(
                cam, "store_exit", at + timedelta(seconds=stay), self._id(cam), {**band, "dwell_s": stay}, **common
            )

    # -------------------------------------------------------- the order center

    def order_events(self) -> None:
        for o in self.orders:
            member = self.refs.member_of_order.get(o.number)
            loc = self.refs.location_ids.get(o.store_code) if o.store_code else None
            common: dict[str, Any] = {
                "channel": o.channel_code,
                "location": loc,
                "member": member,
                "identified": member is not None,
                "source": ORDER_SOURCE,
            }
            base = {"order_number": o.number, "total_fen": o.total_fen, "value_fen": o.total_fen}
            steps = (
                ("order_placed", o.placed_at),
                ("order_paid", o.paid_at),
                ("order_cancelled", o.cancelled_at),
                ("order_completed", o.completed_at),
            )
            for type_, at in steps:
                if at is not None and at < self.end:
                    self.ev.add(None, type_, at, f"hist-{o.number}-{type_.removeprefix('order_')}", base, **common)
            for i, r in enumerate(o.refunds):
                at = r.settled_at
                if at is not None and at < self.end:
                    data = {**base, "refund_fen": r.amount_fen, "value_fen": r.amount_fen}
                    self.ev.add(None, "order_refunded", at, f"hist-{o.number}-refunded-{i}", data, **common)


def _tracker(channel: str) -> str:
    return {"web": "TP-WEB-TRACK", "miniapp": "TP-MINIAPP", "jd": "TP-JD-STORE", "tmall": "TP-TMALL-STORE"}[channel]


def _coupon(at: datetime) -> str:
    return {"618": "CP-618", "double11": "CP-1111", "double12": "CP-1212"}.get(festival(beijing_date(at)), "CP-MEMBER")


def _hours(store: LocationSpec) -> tuple[int, int]:
    """The store's usual opening and closing hour (local)."""
    if not store.opening_hours:
        return 10, 22
    _, opens, closes = store.opening_hours[0]
    return int(opens[:2]), min(23, int(closes[:2]) + (1 if closes[3:] != "00" else 0))


# ---------------------------------------------------------------- heartbeats and rejections

_LATENCY_MS = {"online": 60.0, "offline": 140.0, "commercial": 260.0, "social": 90.0}


def _heartbeats(
    rng: np.random.Generator, registry: Sequence[TouchpointSpec], start: datetime, end: datetime
) -> pl.DataFrame:
    frames: list[pl.DataFrame] = []
    for t in registry:
        if not t.live:
            continue
        first, last = t.sends_from(start), t.sends_until(end)
        if first >= last:
            continue
        at = np.arange(first.timestamp(), last.timestamp(), t.heartbeat_interval_s)
        at = at + rng.uniform(0, 2, at.size)  # devices are never exactly on the second
        keep = np.ones(at.size, dtype=bool)
        degraded = np.zeros(at.size, dtype=bool)
        for a, b in t.outages:
            keep &= ~((at >= a.timestamp()) & (at < b.timestamp()))
            # Struggling in the hour before it went down and the hour after it came back.
            degraded |= (at >= a.timestamp() - 3600) & (at < a.timestamp())
            degraded |= (at >= b.timestamp()) & (at < b.timestamp() + 3600)
        degraded |= rng.random(at.size) < 0.01
        latency = rng.lognormal(math.log(_LATENCY_MS[t.type]), 0.35, at.size)
        latency = np.where(degraded, latency * rng.uniform(4, 12, at.size), latency)
        frames.append(
            pl.DataFrame(
                {
                    "touchpoint": [t.code] * int(keep.sum()),
                    "at": pl.Series((at[keep] * 1e6).astype(np.int64)).cast(pl.Datetime("us", "UTC")),
                    "status": np.where(degraded[keep], "degraded", "ok").tolist(),
                    "latency_ms": latency[keep].round().astype(np.int32),
                }
            )
        )
    if not frames:
        return pl.DataFrame(
            schema={"touchpoint": pl.Utf8, "at": pl.Datetime("us", "UTC"), "status": pl.Utf8, "latency_ms": pl.Int32}
        )
    return pl.concat(frames).sort("touchpoint", "at")


# Touchpoints with a flaky integration: share of their batches' events that fail validation.
FLAKY = {"TP-WEB-TRACK": 0.012, "TP-VEND-SUBWAY": 0.03, "TP-JD-STORE": 0.018}


def _rejections(rng: np.random.Generator, events: pl.DataFrame) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for code, share in FLAKY.items():
        own = events.filter(pl.col("touchpoint") == code)
        if own.is_empty():
            continue
        picked = own.sample(n=max(1, int(own.height * share)), seed=int(rng.integers(2**31)))
        for i, e in enumerate(picked.iter_rows(named=True)):
            data = json.loads(e["data"])
            at: datetime = e["occurred_at"]
            bad_id = f"{e['event_id']}-r{i}"
            payload: dict[str, Any] = {"id": bad_id, "type": e["type"], "at": at.isoformat(), "data": data}
            kind = int(rng.integers(4))
            if kind == 0 and "sku" in data:
                data["sku"] = f"{data['sku']}-X"
                err = ("data.sku", "unknown_sku", f"no SKU {data['sku']}")
            elif kind == 1:
                future = at + timedelta(hours=int(rng.integers(1, 48)))
                payload["at"] = future.isoformat()
                err = ("at", "in_future", "more than 5 minutes in the future")
            elif kind == 2:
                payload["at"] = at.replace(tzinfo=None).isoformat()
                err = ("at", "timezone_aware", "Input should have timezone info")
            else:
                missing = next(iter(data), "url")
                data.pop(missing, None)
                err = (f"data.{missing}", "missing", "field required")
            field_, code_, message = err
            rows.append(
                {
                    "touchpoint": code,
                    "received_at": e["received_at"],
                    "source": code,
                    "event_id": bad_id,
                    "type": e["type"],
                    "errors": json.dumps([{"field": f"events[{i % 100}].{field_}", "code": code_, "message": message}]),
                    "payload": json.dumps(payload, ensure_ascii=False),
                }
            )
    schema: dict[str, pl.DataType] = {
        "touchpoint": pl.Utf8(),
        "received_at": pl.Datetime("us", "UTC"),
        "source": pl.Utf8(),
        "event_id": pl.Utf8(),
        "type": pl.Utf8(),
        "errors": pl.Utf8(),
        "payload": pl.Utf8(),
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


# ---------------------------------------------------------------- the whole history


def build_touchpoint_history(
    plan: DemoPlan, history: OrderHistory, today: date, refs: Refs, *, now: datetime | None = None
) -> TouchpointHistory:
    """The registry and the window's events, heartbeats and rejections (see the module doc).
    ``now``: the end of the heartbeats (default: midnight of ``today``, Beijing)."""
    b = _Builder(plan, history, today, refs)
    b.online()
    b.engagement()
    cameras = b.stores()
    b.order_events()
    events = b.ev.frame().sort("occurred_at", "event_id")
    end = now or day_start(today)
    heartbeats = _heartbeats(b.rng, b.registry, b.start, end.astimezone(UTC))
    rejections = _rejections(b.rng, events)
    return TouchpointHistory(b.registry, b.first_day, b.last_day, events, heartbeats, rejections, cameras)
