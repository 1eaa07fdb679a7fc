"""Where the demo retailer's stock is: opening balances, safety stock, channel rules, transfers.

DCs hold deep stock, stores a shallow assortment; accessories are plentiful. Some store lines
are empty or below their safety stock, so that the console's "below safety stock" figure means
something. Serial-tracked units get their IMEIs or serial numbers here, so that a transfer can
name the units it moves.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from zhongtai.demo.catalog_data import CatalogPlan, SkuSpec
from zhongtai.demo.check_digits import imei
from zhongtai.demo.network_data import (
    CENTRAL_DC,
    EAST_DC,
    ONLINE_CHANNELS,
    SOUTH_DC,
    SOUTHWEST_DC,
    LocationSpec,
    NetworkPlan,
)

OPENING_BALANCE_REASON = "期初库存 opening balance"
TransferStatus = Literal["draft", "shipped", "received"]


@dataclass(frozen=True, slots=True)
class ReceiptSpec:
    location_code: str
    sku_code: str
    quantity: int
    serials: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SafetyStockSpec:
    location_code: str
    sku_code: str
    quantity: int


@dataclass(frozen=True, slots=True)
class ChannelSafetySpec:
    """``quantity`` units of the location's stock that ``channel_code`` may not sell; a rule
    without a SKU is the location × channel default."""

    location_code: str
    channel_code: str
    sku_code: str | None
    quantity: int


@dataclass(frozen=True, slots=True)
class TransferLineSpec:
    sku_code: str
    quantity: int
    serials: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TransferSpec:
    # The plan's name for it; the inventory service numbers transfers itself (TR000001 ...).
    label: str
    source_code: str
    dest_code: str
    status: TransferStatus
    note: str
    lines: tuple[TransferLineSpec, ...]


@dataclass(frozen=True, slots=True)
class StockPlan:
    receipts: tuple[ReceiptSpec, ...]
    safety_stock: tuple[SafetyStockSpec, ...]
    channel_safety: tuple[ChannelSafetySpec, ...]
    transfers: tuple[TransferSpec, ...]

    def expected_on_hand(self) -> dict[tuple[str, str], int]:
        """(sku code, location code) -> on hand once every receipt and transfer has run."""
        on_hand: dict[tuple[str, str], int] = defaultdict(int)
        for r in self.receipts:
            on_hand[(r.sku_code, r.location_code)] += r.quantity
        for t in self.transfers:
            if t.status == "draft":
                continue
            for line in t.lines:
                on_hand[(line.sku_code, t.source_code)] -= line.quantity
                if t.status == "received":
                    on_hand[(line.sku_code, t.dest_code)] += line.quantity
        return dict(on_hand)

    def below_safety(self) -> list[tuple[str, str]]:
        """(sku, location) pairs whose expected on hand is under their safety stock."""
        on_hand = self.expected_on_hand()
        return [
            (s.sku_code, s.location_code)
            for s in self.safety_stock
            if on_hand.get((s.sku_code, s.location_code), 0) < s.quantity
        ]


@dataclass(frozen=True, slots=True)
class _Depth:
    """How deep each kind of location holds a kind of product, and how widely."""

    central: tuple[int, int]
    regional: tuple[int, int]
    store: tuple[int, int]
    safety_central: int
    safety_regional: int
    # 0: stores keep no safety stock of it (accessories are topped up from the DC every week).
    safety_store: int
    # Shares of regional DCs, ordinary stores and flagship stores that carry a SKU of the kind.
    regional_share: float
    store_share: float
    flagship_share: float


# A 3C store shows every phone model but not every colour and memory size; laptops, monitors
# and big appliances are mostly in the flagships; regional DCs hold the faster movers.
_DEPTH: dict[str, _Depth] = {
    "handset": _Depth((40, 120), (12, 40), (2, 8), 30, 10, 3, 0.8, 0.4, 0.85),
    "computer": _Depth((30, 80), (8, 24), (1, 4), 15, 5, 2, 0.7, 0.2, 0.6),
    "desktop": _Depth((10, 30), (3, 10), (1, 2), 5, 2, 1, 0.5, 0.0, 0.5),
    "monitor": _Depth((20, 50), (6, 16), (1, 3), 10, 3, 1, 0.5, 0.15, 0.6),
    "bulky": _Depth((20, 60), (6, 18), (1, 2), 10, 3, 1, 0.6, 0.05, 0.4),
    "appliance": _Depth((40, 120), (10, 40), (2, 6), 20, 6, 2, 0.6, 0.25, 0.6),
    "accessory": _Depth((300, 900), (80, 250), (8, 30), 100, 30, 0, 0.5, 0.25, 0.5),
}
_GROUP = {
    "phone": "handset",
    "tablet": "handset",
    "laptop": "computer",
    "gaming_desktop": "desktop",
    "monitor": "monitor",
    "smart_toilet": "bulky",
    "washer_dryer": "bulky",
    "clothes_dryer": "bulky",
    "smart_toilet_seat": "appliance",
    "air_purifier": "appliance",
    "robot_vacuum": "appliance",
    "rice_cooker": "appliance",
    "hair_dryer": "appliance",
    "wearable": "appliance",
}
# The small demo keeps DC quantities low so that it loads in seconds (fewer serial numbers).
_SMALL_DC_FACTOR = 0.25


def _group(sku: SkuSpec) -> str:
    return _GROUP.get(sku.category_code, "accessory")


class _Serials:
    """Issues unit identifiers per SKU in sequence from a random start, so they never repeat."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.next: dict[str, int] = {}

    def take(self, sku: SkuSpec, n: int) -> tuple[str, ...]:
        if sku.serial_kind is None or n <= 0:
            return ()
        start = self.next.setdefault(sku.code, self.rng.randint(1_000, 400_000))
        self.next[sku.code] = start + n
        if sku.serial_kind == "imei":
            return tuple(imei(sku.serial_prefix, i) for i in range(start, start + n))
        return tuple(f"{sku.serial_prefix}{i:07d}" for i in range(start, start + n))


def build_stock_plan(catalog: CatalogPlan, network: NetworkPlan, seed: int) -> StockPlan:
    rng = random.Random(f"zhongtai-demo-stock-{seed}")
    serials = _Serials(rng)
    dc_factor = _SMALL_DC_FACTOR if catalog.scale == "small" else 1.0
    central = network.location_by_code()[CENTRAL_DC]
    regionals = network.of_type("regional_dc")
    stores = network.stores

    receipts: list[ReceiptSpec] = []
    safety: list[SafetyStockSpec] = []
    on_hand: dict[tuple[str, str], int] = {}
    serials_at: dict[tuple[str, str], list[str]] = {}

    def receive(loc: LocationSpec, sku: SkuSpec, qty: int) -> None:
        units = serials.take(sku, qty)
        on_hand[(sku.code, loc.code)] = qty
        serials_at[(sku.code, loc.code)] = list(units)
        if qty > 0:
            receipts.append(ReceiptSpec(loc.code, sku.code, qty, units))

    def dc_qty(bounds: tuple[int, int]) -> int:
        return max(1, round(rng.randint(*bounds) * dc_factor))

    for sku in catalog.skus:
        if sku.lifecycle == "draft":
            continue
        group = _group(sku)
        depth = _DEPTH[group]
        if sku.lifecycle == "off_sale":
            # Sold down, not reordered: a remnant at the central DC and in a few stores.
            receive(central, sku, rng.randint(0, 6))
            for store in stores:
                if rng.random() < 0.15:
                    receive(store, sku, rng.randint(1, 2))
            continue
        receive(central, sku, dc_qty(depth.central))
        safety.append(SafetyStockSpec(central.code, sku.code, max(1, round(depth.safety_central * dc_factor))))
        for dc in regionals:
            if rng.random() < depth.regional_share:
                receive(dc, sku, dc_qty(depth.regional))
                safety.append(SafetyStockSpec(dc.code, sku.code, max(1, round(depth.safety_regional * dc_factor))))
        for store in stores:
            flagship = "旗舰" in store.name
            if rng.random() >= (depth.flagship_share if flagship else depth.store_share):
                continue
            roll = rng.random()
            if depth.safety_store:
                safety.append(SafetyStockSpec(store.code, sku.code, depth.safety_store))
            if roll < 0.04:
                qty = 0  # sold out, waiting for replenishment
            elif roll < 0.10 and depth.safety_store:
                qty = rng.randint(0, depth.safety_store - 1)  # running low
            else:
                qty = rng.randint(max(depth.store[0], depth.safety_store), depth.store[1])
            receive(store, sku, qty)

    channel_safety = _channel_safety(catalog, network)
    safety_by_key = {(s.sku_code, s.location_code): s.quantity for s in safety}
    transfers = _transfers(rng, catalog, network, on_hand, serials_at, safety_by_key)
    return StockPlan(tuple(receipts), tuple(safety), tuple(channel_safety), tuple(transfers))


def _channel_safety(catalog: CatalogPlan, network: NetworkPlan) -> list[ChannelSafetySpec]:
    # The store's POS keeps the last 2 units of everything for walk-in customers: online
    # channels (including instant retail, which picks in the store) may not take them.
    rules = [ChannelSafetySpec(store.code, channel, None, 2) for store in network.stores for channel in ONLINE_CHANNELS]
    # The new flagship's launch allocation at the central DC is for the own web shop and
    # mini-program: the marketplaces may not take its last 20 units.
    for sku in catalog.skus:
        if sku.spu_code == "YQ-Q60P" and sku.lifecycle == "on_sale":
            rules.extend(ChannelSafetySpec(CENTRAL_DC, ch, sku.code, 20) for ch in ("jd", "tmall"))
    return rules


# (label, source, destination, status, [(product group, quantity)])
_TRANSFER_PLANS: tuple[tuple[str, str, str, TransferStatus, tuple[tuple[str, int], ...]], ...] = (
    ("TR-0001", EAST_DC, "S-SH01", "shipped", (("handset", 3), ("handset", 3), ("accessory", 20))),
    ("TR-0002", SOUTH_DC, "S-SZ01", "shipped", (("computer", 2), ("accessory", 15), ("accessory", 15))),
    ("TR-0003", CENTRAL_DC, SOUTHWEST_DC, "shipped", (("handset", 20), ("accessory", 100))),
    ("TR-0004", CENTRAL_DC, "S-BJ01", "draft", (("monitor", 2), ("accessory", 10))),
    ("TR-0005", EAST_DC, "S-HZ01", "received", (("handset", 2), ("accessory", 10))),
)
_TRANSFER_NOTES: dict[TransferStatus, str] = {
    "shipped": "门店补货 store replenishment",
    "draft": "待审批补货 replenishment awaiting approval",
    "received": "门店补货（已收货） store replenishment, received",
}


def _transfers(
    rng: random.Random,
    catalog: CatalogPlan,
    network: NetworkPlan,
    on_hand: dict[tuple[str, str], int],
    serials_at: dict[tuple[str, str], list[str]],
    safety: dict[tuple[str, str], int],
) -> list[TransferSpec]:
    """A few transfers in every state: stores replenished from their DC, a regional DC from
    the central one. A transfer never takes its source below safety stock."""
    skus = catalog.sku_by_code()
    locations = network.location_by_code()
    out: list[TransferSpec] = []
    for label, source, dest, status, wanted in _TRANSFER_PLANS:
        if source not in locations or dest not in locations:
            continue
        lines: list[TransferLineSpec] = []
        used: set[str] = set()
        for group, qty in wanted:
            candidates = sorted(
                sku_code
                for (sku_code, loc), have in on_hand.items()
                if loc == source
                and sku_code not in used
                and skus[sku_code].lifecycle == "on_sale"
                and _group(skus[sku_code]) == group
                and have - qty >= safety.get((sku_code, loc), 0)
            )
            if not candidates:
                continue
            sku_code = rng.choice(candidates)
            used.add(sku_code)
            on_hand[(sku_code, source)] -= qty
            moved: tuple[str, ...] = ()
            if skus[sku_code].serial_tracked:
                pool = serials_at[(sku_code, source)]
                moved = tuple(pool[-qty:])
                del pool[-qty:]
            lines.append(TransferLineSpec(sku_code, qty, moved))
        if lines:
            out.append(TransferSpec(label, source, dest, status, _TRANSFER_NOTES[status], tuple(lines)))
    return out
