"""The stock ledger behind two years of demo orders (plain data, no database).

``build_stock_history`` takes the order history and the stock plan and returns every stock
movement of the two years, in time order, with ``on_hand_after`` set, plus every serial-tracked
unit and where it is now:

* a ``sale`` per fulfilment and SKU at the location that shipped it, when it shipped;
* a ``return`` per received return line at the location that took it back: restocked units
  back on hand, scrapped ones recorded with a zero delta;
* ``receipt`` s: an opening balance at the start (or the first stock of a product launched
  since), and replenishment (supplier deliveries to the DCs once a week, store deliveries twice a
  week, none while the couriers stop for the Spring Festival).

The receipts are worked out backwards from the stock plan (``StockPlan.receipts``: what each
SKU × location holds before today's transfers): walking back from that target day by day, the
balance before a day is the balance after it plus what the day sold minus what came back; on a
delivery day, once it exceeds the location's order-up-to level, a receipt brings it down to the
reorder point. So every running balance stays at or above zero, the last one equals the plan,
and stock levels look like a retailer's: a sawtooth between a reorder point and an order-up-to
level. In the rare case that restocked returns on a day would need stock the location could not
have had (the plan says it ends empty), those units are scrapped instead.

Serial-tracked units are followed one by one (first in, first out): the units still in stock at
the end get the stock plan's serial numbers (so today's transfers find them where the plan put
them); every other unit gets a serial of its own.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from zhongtai.demo.catalog_data import CatalogPlan, SkuSpec
from zhongtai.demo.check_digits import imei
from zhongtai.demo.network_data import NetworkPlan
from zhongtai.demo.order_history import (
    HISTORY_DAYS,
    SPRING_FESTIVAL,
    HistLine,
    HistReturnLine,
    OrderHistory,
    beijing_date,
    day_start,
    group_of,
)
from zhongtai.demo.stock_data import OPENING_BALANCE_REASON, StockPlan

SUPPLIER_REASON = "供应商到货 supplier delivery"
STORE_DELIVERY_REASON = "门店补货到货 store replenishment"
LAUNCH_REASON = "新品首批到货 launch stock"
SALE_REASON = "历史订单出库 order shipped"
# History serials start here, far above the stock plan's (which start below 400,000 per SKU).
_IMEI_BASE = 500_000
_SN_BASE = 5_000_000
# Reorder point (days of cover), delivery cycle (days) and smallest delivery, per location kind.
_COVER_DAYS = {"dc": 7, "store": 4}
_CYCLE_DAYS = {"dc": 14, "store": 7}
_MIN_LOT: dict[str, dict[str, int]] = {
    "dc": {"accessory": 50, "handset": 10, "wearable": 10, "computer": 5, "appliance": 10, "bulky": 3},
    "store": {"accessory": 10, "handset": 2, "wearable": 2, "computer": 1, "appliance": 2, "bulky": 1},
}
_DC_DELIVERY_WEEKDAY = {"central_dc": 0, "regional_dc": 1}


@dataclass(frozen=True, slots=True)
class MovementRow:
    occurred_at: datetime
    type: str  # receipt | sale | return
    sku_code: str
    location_code: str
    on_hand_delta: int
    on_hand_after: int
    reference_type: str
    reference_id: str
    reason: str
    serials: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SerialRow:
    sku_code: str
    serial: str
    state: str  # in_stock | sold | returned
    location_code: str
    received_at: datetime
    sold_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StockHistory:
    movements: tuple[MovementRow, ...]
    serials: tuple[SerialRow, ...]
    # (sku code, location code) -> on hand at the end of the history (= the plan's receipts).
    on_hand: dict[tuple[str, str], int]
    # How many restocked return lines had to become scrap (see the module docstring).
    returns_scrapped: int = 0


@dataclass(slots=True)
class _Event:
    at: datetime
    kind: str  # receipt | sale | return
    qty: int  # units (a scrapped return moves none on hand but still counts its units)
    reference_id: str
    reason: str
    line: HistLine | None = None
    return_line: HistReturnLine | None = None
    units: list[int] = field(default_factory=list)

    @property
    def delta(self) -> int:
        if self.kind == "sale":
            return -self.qty
        if self.kind == "return":
            assert self.return_line is not None
            return self.qty if self.return_line.disposition == "restock" else 0
        return self.qty


@dataclass(slots=True)
class _Unit:
    sku_code: str
    received_at: datetime
    state: str = "in_stock"
    location_code: str = ""
    sold_at: datetime | None = None
    updated_at: datetime | None = None
    serial: str = ""


def build_stock_history(
    history: OrderHistory, catalog: CatalogPlan, network: NetworkPlan, stock: StockPlan
) -> StockHistory:
    """The ledger of ``history`` ending at ``stock``'s receipts; names the serials of the order
    lines and return lines it ships and takes back (and may scrap a few returns, see above)."""
    skus = catalog.sku_by_code()
    locations = network.location_by_code()
    first = history.first_day
    target: dict[tuple[str, str], int] = defaultdict(int)
    plan_serials: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in stock.receipts:
        target[(r.sku_code, r.location_code)] += r.quantity
        plan_serials[(r.sku_code, r.location_code)].extend(r.serials)
    safety = {(s.sku_code, s.location_code): s.quantity for s in stock.safety_stock}

    events: dict[tuple[str, str], list[_Event]] = defaultdict(list)
    for o in history.orders:
        if o.shipped_at is not None:
            for ln in o.lines:
                events[(ln.sku_code, o.location_code)].append(
                    _Event(o.shipped_at, "sale", ln.quantity, o.fulfilment_number, SALE_REASON, line=ln)
                )
        by_no = {ln.line_no: ln for ln in o.lines}
        for ret in o.returns:
            if ret.received_at is None:
                continue
            for rl in ret.lines:
                ln = by_no[rl.line_no]
                events[(ln.sku_code, ret.location_code)].append(
                    _Event(ret.received_at, "return", rl.quantity, ret.number, "", line=ln, return_line=rl)
                )

    launches = {spu: (day - first).days for spu, day in history.launches.items()}
    stops = _courier_stops(first)
    scrapped = 0
    movements: list[MovementRow] = []
    units: list[_Unit] = []
    next_serial: dict[str, int] = defaultdict(int)
    for key in sorted(set(events) | set(target)):
        sku_code, loc_code = key
        sku, loc = skus[sku_code], locations[loc_code]
        evs = sorted(events.get(key, []), key=lambda e: (e.at, e.kind != "return"))
        kind = "dc" if loc.type in _DC_DELIVERY_WEEKDAY else "store"
        start = 0
        launch = launches.get(sku.spu_code)
        if launch is not None and launch > 0:
            start = max(0, launch - (2 if kind == "dc" else 1))
        if evs:
            start = min(start, _day(evs[0].at, first))
        receipts, flipped = _plan_receipts(
            evs,
            first=first,
            start=start,
            end_balance=target.get(key, 0),
            kind=kind,
            group=group_of(sku.category_code),
            safety=safety.get(key, 0),
            delivery_day=_delivery_day(loc.type, loc_code, kind),
            stops=stops,
        )
        scrapped += flipped
        opening_reference = f"OB-{loc_code}" if start == 0 else f"PO{_ymd(first, start)}-{loc_code}"
        opening_reason = OPENING_BALANCE_REASON if start == 0 else LAUNCH_REASON
        for d, qty, opening in receipts:
            at = day_start(first + timedelta(days=d)) + timedelta(hours=6 if opening else 7, minutes=_jitter(loc_code))
            if opening:
                ref, reason = opening_reference, opening_reason
            elif kind == "dc":
                ref, reason = f"PO{_ymd(first, d)}-{loc_code}", SUPPLIER_REASON
            else:
                ref, reason = f"RP{_ymd(first, d)}-{loc_code}", STORE_DELIVERY_REASON
            evs.append(_Event(at, "receipt", qty, ref, reason))
        evs.sort(key=lambda e: (e.at, e.kind != "receipt", e.kind != "return"))
        if sku.serial_tracked:
            _follow_units(evs, sku, loc_code, plan_serials.get(key, []), units, next_serial)
        balance = 0
        for e in evs:
            balance += e.delta
            if balance < 0:
                raise AssertionError(f"{key}: balance below zero at {e.at}")
            if e.kind == "return":
                assert e.return_line is not None
                e.reason = f"return {e.reference_id}" + (
                    "" if e.return_line.disposition == "restock" else " (scrapped)"
                )
            movements.append(
                MovementRow(
                    occurred_at=e.at,
                    type=e.kind,
                    sku_code=sku_code,
                    location_code=loc_code,
                    on_hand_delta=e.delta,
                    on_hand_after=balance,
                    reference_type={"sale": "order", "return": "return", "receipt": "receipt"}[e.kind],
                    reference_id=e.reference_id,
                    reason=e.reason,
                    serials=tuple(units[u].serial for u in e.units),
                )
            )
        if balance != target.get(key, 0):
            raise AssertionError(f"{key}: the history ends at {balance}, the plan at {target.get(key, 0)}")
    movements.sort(key=lambda m: (m.occurred_at, m.location_code, m.sku_code))
    serials = tuple(
        SerialRow(
            sku_code=u.sku_code,
            serial=u.serial,
            state=u.state,
            location_code=u.location_code,
            received_at=u.received_at,
            sold_at=u.sold_at,
            updated_at=u.updated_at or u.received_at,
        )
        for u in units
    )
    return StockHistory(tuple(movements), serials, dict(target), scrapped)


def _day(at: datetime, first: date) -> int:
    return (beijing_date(at) - first).days


def _ymd(first: date, d: int) -> str:
    return (first + timedelta(days=d)).strftime("%y%m%d")


def _jitter(code: str) -> int:
    """A location's fixed delivery minute past the hour (deterministic, not ``hash()``)."""
    return sum(ord(c) for c in code) % 45


def _delivery_day(location_type: str, code: str, kind: str) -> tuple[int, ...]:
    """Weekdays the location takes deliveries: DCs once a week, stores twice."""
    if kind == "dc":
        base = _DC_DELIVERY_WEEKDAY[location_type]
        return ((base + _jitter(code)) % 5,) if location_type == "regional_dc" else (base,)
    first = _jitter(code) % 3
    return (first, first + 3)


def _courier_stops(first: date) -> frozenset[int]:
    """Day indexes on which no delivery arrives (the Spring Festival logistics stop)."""
    out = set()
    for sf in SPRING_FESTIVAL.values():
        for offset in range(-6, 7):
            d = (sf - first).days + offset
            if 0 <= d < HISTORY_DAYS:
                out.add(d)
    return frozenset(out)


def _plan_receipts(
    evs: list[_Event],
    *,
    first: date,
    start: int,
    end_balance: int,
    kind: str,
    group: str,
    safety: int,
    delivery_day: tuple[int, ...],
    stops: frozenset[int],
) -> tuple[list[tuple[int, int, bool]], int]:
    """[(day, quantity, is_opening)] receipts for one SKU × location (see the module docstring),
    and how many return lines it had to scrap."""
    by_day: dict[int, list[_Event]] = defaultdict(list)
    for e in evs:
        by_day[_day(e.at, first)].append(e)

    def net_and_low(d: int) -> tuple[int, int]:
        """The day's net change and its lowest point (<= 0) relative to the morning."""
        net = low = 0
        for e in by_day.get(d, ()):
            net += e.delta
            low = min(low, net)
        return net, low

    def scrap_returns(d: int) -> int:
        n = 0
        for e in by_day.get(d, ()):
            if e.kind == "return" and e.return_line is not None and e.return_line.disposition == "restock":
                e.return_line.disposition = "scrap"
                n += 1
        return n

    sold = sum(e.qty for e in evs if e.kind == "sale")
    days_active = max(30, HISTORY_DAYS - start)
    rate = sold / days_active
    reorder = max(safety, math.ceil(rate * _COVER_DAYS[kind]), end_balance // 4)
    lot = max(_MIN_LOT[kind].get(group, 2), math.ceil(rate * _CYCLE_DAYS[kind]))
    order_up_to = max(end_balance, reorder + lot)
    first_weekday = first.weekday()

    flipped = 0
    lows = {d: net_and_low(d) for d in by_day}
    deliveries = {
        d for d in range(start + 1, HISTORY_DAYS) if (first_weekday + d) % 7 in delivery_day and d not in stops
    }
    balance = end_balance  # in the evening of the day being looked at
    receipts: list[tuple[int, int, bool]] = []
    for d in sorted(lows.keys() | deliveries, reverse=True):
        net, low = lows.get(d, (0, 0))
        if balance < net - low:
            # Restocked returns that day would need stock the location cannot have had.
            flipped += scrap_returns(d)
            net, low = lows[d] = net_and_low(d)
        need = balance - net  # the morning's stock, the day's delivery included
        delivery = 0
        if d in deliveries and need > order_up_to:
            prev_net, prev_low = lows.get(d - 1, (0, 0))
            delivery = need - max(reorder, prev_net - prev_low)
            receipts.append((d, delivery, False))
        balance = need - delivery
    if balance > 0:
        receipts.append((start, balance, True))
    return receipts, flipped


def _follow_units(
    evs: list[_Event],
    sku: SkuSpec,
    loc_code: str,
    plan_serials: list[str],
    units: list[_Unit],
    next_serial: dict[str, int],
) -> None:
    """Names the units of a serial-tracked SKU at one location, first in first out."""
    pool: deque[int] = deque()
    sold_by_line: dict[int, list[int]] = {}
    for e in evs:
        if e.kind == "receipt":
            e.units = list(range(len(units), len(units) + e.qty))
            units.extend(_Unit(sku.code, e.at, location_code=loc_code, updated_at=e.at) for _ in range(e.qty))
            pool.extend(e.units)
        elif e.kind == "sale":
            assert e.line is not None
            e.units = [pool.popleft() for _ in range(e.qty)]
            sold_by_line[id(e.line)] = list(e.units)
            for u in e.units:
                unit = units[u]
                unit.state, unit.sold_at, unit.updated_at = "sold", e.at, e.at
        else:
            assert e.line is not None
            assert e.return_line is not None
            e.units = [u for u in sold_by_line.get(id(e.line), []) if units[u].state == "sold"][: e.qty]
            if len(e.units) != e.qty:
                raise AssertionError(f"{sku.code}@{loc_code}: return {e.reference_id} before its sale")
            restock = e.return_line.disposition == "restock"
            for u in e.units:
                unit = units[u]
                unit.state, unit.updated_at, unit.location_code = (
                    ("in_stock" if restock else "returned"),
                    e.at,
                    loc_code,
                )
                if restock:
                    pool.append(u)
    if len(pool) != len(plan_serials):
        raise AssertionError(f"{sku.code}@{loc_code}: {len(pool)} units in stock, the plan names {len(plan_serials)}")
    for u, serial in zip(pool, plan_serials, strict=True):
        units[u].serial = serial
    for e in evs:
        for u in e.units:
            if not units[u].serial:
                units[u].serial = _history_serial(sku, next_serial)
    for e in evs:
        if e.kind == "sale":
            assert e.line is not None
            e.line.serials.extend(units[u].serial for u in e.units)
        elif e.kind == "return":
            assert e.return_line is not None
            e.return_line.serials.extend(units[u].serial for u in e.units)


def _history_serial(sku: SkuSpec, next_serial: dict[str, int]) -> str:
    k = next_serial[sku.code]
    next_serial[sku.code] = k + 1
    if sku.serial_kind == "imei":
        return imei(sku.serial_prefix, _IMEI_BASE + k)
    return f"{sku.serial_prefix}{_SN_BASE + k:07d}"
