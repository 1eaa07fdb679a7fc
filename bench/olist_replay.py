"""Replay real marketplace orders (Olist, Brazil) through the marketplace intake and the router.

    python bench/olist_replay.py --data ../shared/data/olist [--limit 5000] [--database-url sqlite|URL]
                                 [--margin 1]

Reads the Parquet files with Polars (a project dependency).

The data (``shared/data/README.md``): a coherent stratified sample of Olist's orders (every
non-delivered order plus ~5 % of the delivered ones), with their items, customers and sellers,
and the geolocation table (latitude/longitude samples per 5-digit zip prefix).

How it maps onto Zhongtai:

* **Sellers become stock locations**: the sellers with the most items sold (the top 5 %, at
  least 10 items) are ``regional_dc``, the rest ``store``; each is placed at the mean coordinates
  of its zip prefix in the geolocation table (no coordinates when the prefix is not in it: the
  router then prices by province/region zone). Province = the Brazilian state, region = its
  macro-region (N, NE, CO, SE, S).
* **Products become SKUs** (every product in the sample's order items), priced at their median
  item price.
* **Stock**: each seller holds, of each product, the units it sold in the sample plus
  ``--margin`` (default 1).
* **Customers' zip prefixes become delivery points** (``receiver_lat``/``receiver_lng``; absent
  when the prefix has no coordinates, leaving state and city).
* **Each order is replayed as a TOP-style trade** on a channel with ``adapter="marketplace"``, in
  purchase-timestamp order: ``WAIT_SELLER_SEND_GOODS`` (paid) when Olist approved it, else
  ``WAIT_BUYER_PAY``; one line per product (``num`` = its item rows). **Prices are BRL, passed as
  the yuan strings the adapter expects** (``"99.90"``): amounts are the order's own currency
  units, not converted. ``post_fee`` is the sum of the items' freight. Timestamps are passed as
  given (the adapter reads them as Beijing time; only their order matters here). Orders Olist
  ended as ``canceled`` or ``unavailable`` are then closed with a status-only ``TRADE_CLOSED``
  right after their capture (their stock goes back).
* **In process**: each order goes through ``orders.service.intake`` (the real service, adapter
  and router, one transaction per order, as the HTTP endpoint does) on a fresh database (a
  temporary SQLite file by default, or a new database on the PostgreSQL server of
  ``--database-url``). Not through HTTP.

Reported: orders, accepted, rejected with reason counts (the problem codes the intake answered),
routed share (fully / partly / not at all), mean great-circle km from each fulfilling location to
its customer (legs with coordinates on both ends) next to the km from the seller Olist actually
used, the share of legs from one of the order's own Olist sellers, mean plan cost, split rate.
Writes ``bench/results/olist_replay.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import select

from _orders import ROOT, SYSTEM, scratch_database, write_result
from zhongtai.catalog import service as catalog
from zhongtai.channels import service as channels
from zhongtai.db import Database
from zhongtai.errors import DomainError, ValidationFailed
from zhongtai.inventory import service as inventory
from zhongtai.inventory.geo import haversine_km
from zhongtai.inventory.schemas import LocationIn, StockLineIn
from zhongtai.orders import service
from zhongtai.orders.models import Order, RoutingDecision
from zhongtai.orders.schemas import StatusUpdateIn

CHANNEL = "olist"
REGION = {
    **dict.fromkeys(("AC", "AP", "AM", "PA", "RO", "RR", "TO"), "N"),
    **dict.fromkeys(("AL", "BA", "CE", "MA", "PB", "PE", "PI", "RN", "SE"), "NE"),
    **dict.fromkeys(("DF", "GO", "MT", "MS"), "CO"),
    **dict.fromkeys(("ES", "MG", "RJ", "SP"), "SE"),
    **dict.fromkeys(("PR", "RS", "SC"), "S"),
}
CLOSED = ("canceled", "unavailable")


def _read(folder: Path, name: str) -> dict[str, list[Any]]:
    import polars as pl

    table: dict[str, list[Any]] = pl.read_parquet(folder / f"{name}.parquet").to_dict(as_series=False)
    return table


def _rows(table: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(table)
    return [dict(zip(keys, values, strict=True)) for values in zip(*table.values(), strict=True)]


def _money(value: float) -> str:
    return f"{round(float(value) * 100) // 100}.{round(float(value) * 100) % 100:02d}"


def _time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


class Olist:
    def __init__(self, folder: Path) -> None:
        self.orders = sorted(_rows(_read(folder, "olist_orders_dataset")), key=lambda o: o["order_purchase_timestamp"])
        self.items: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for it in _rows(_read(folder, "olist_order_items_dataset")):
            self.items[it["order_id"]].append(it)
        self.customers = {c["customer_id"]: c for c in _rows(_read(folder, "olist_customers_dataset"))}
        self.sellers = {s["seller_id"]: s for s in _rows(_read(folder, "olist_sellers_dataset"))}
        geo = _read(folder, "olist_geolocation_dataset")
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for z, lat, lng in zip(
            geo["geolocation_zip_code_prefix"], geo["geolocation_lat"], geo["geolocation_lng"], strict=True
        ):
            if lat is None or lng is None or not (-35 < lat < 6 and -75 < lng < -30):  # outside Brazil: bad rows
                continue
            acc = sums[z]
            acc[0] += lat
            acc[1] += lng
            acc[2] += 1
        self.geo = {z: (round(a / n, 5), round(b / n, 5)) for z, (a, b, n) in sums.items()}


def seed(db: Database, data: Olist, margin: int) -> dict[str, Any]:
    sold: Counter[tuple[str, str]] = Counter()
    prices: dict[str, list[float]] = defaultdict(list)
    for items in data.items.values():
        for it in items:
            sold[(it["seller_id"], it["product_id"])] += 1
            prices[it["product_id"]].append(float(it["price"]))
    by_seller = Counter(s for s, _ in sold.elements())
    ranked = [s for s, n in by_seller.most_common() if n >= 10]
    dcs = set(ranked[: max(1, len(by_seller) // 20)])
    codes = {s: f"SL{s[:16]}" for s in by_seller}
    assert len(set(codes.values())) == len(codes), "seller code prefix collision"
    with db.transaction() as s:
        ch = channels.create_channel(s, SYSTEM, code=CHANNEL, name="Olist", kind="marketplace", platform="olist")
        ch.adapter = "marketplace"
        catalog.create_category(s, SYSTEM, code="olist", name="Olist")
        catalog.create_spu(s, SYSTEM, code="OLIST", name="Olist products", category_code="olist")
    products = sorted(prices)
    for start in range(0, len(products), 500):
        with db.transaction() as s:
            for p in products[start : start + 500]:
                fen = max(1, round(statistics.median(prices[p]) * 100))
                catalog.create_sku(
                    s,
                    SYSTEM,
                    spu_code="OLIST",
                    code=p,
                    name=f"product {p[:8]}",
                    list_price_fen=fen,
                    sale_price_fen=fen,
                    lifecycle="on_sale",
                )
    placed = 0
    with db.transaction() as s:
        for seller_id in sorted(by_seller):
            row = data.sellers[seller_id]
            point = data.geo.get(row["seller_zip_code_prefix"])
            placed += point is not None
            loc = LocationIn.model_validate(
                {
                    "code": codes[seller_id],
                    "name": f"{row['seller_city']} {seller_id[:6]}"[:128],
                    "type": "regional_dc" if seller_id in dcs else "store",
                    "province": row["seller_state"],
                    "city": str(row["seller_city"])[:32],
                    "region": REGION.get(row["seller_state"], ""),
                    "latitude": point[0] if point else None,
                    "longitude": point[1] if point else None,
                    "timezone": "America/Sao_Paulo",
                }
            )
            inventory.create_location(s, SYSTEM, loc)
    stock: dict[str, list[StockLineIn]] = defaultdict(list)
    for (seller_id, product), n in sorted(sold.items()):
        stock[seller_id].append(StockLineIn(sku_code=product, quantity=n + margin))
    for seller_id, lines in stock.items():
        with db.transaction() as s:
            inventory.receive_stock(s, SYSTEM, location_code=codes[seller_id], lines=lines, reason="olist replay")
    return {
        "skus": len(products),
        "locations": len(by_seller),
        "regional_dcs": len(dcs),
        "stores": len(by_seller) - len(dcs),
        "locations_with_coordinates": placed,
        "units_seeded": sum(sold.values()) + margin * len(sold),
        "codes": codes,
    }


def trade(data: Olist, order: dict[str, Any]) -> dict[str, Any]:
    customer = data.customers[order["customer_id"]]
    point = data.geo.get(customer["customer_zip_code_prefix"])
    items = data.items.get(order["order_id"], [])
    lines: dict[tuple[str, float], int] = Counter()
    for it in items:
        lines[(it["product_id"], float(it["price"]))] += 1
    goods = sum(p * n for (_, p), n in lines.items())
    freight = sum(float(it["freight_value"]) for it in items)
    paid = order["order_approved_at"] is not None
    body: dict[str, Any] = {
        "tid": order["order_id"],
        "status": "WAIT_SELLER_SEND_GOODS" if paid else "WAIT_BUYER_PAY",
        "created": _time(order["order_purchase_timestamp"]),
        "pay_time": _time(order["order_approved_at"]),
        "buyer_open_uid": customer["customer_unique_id"],
        "receiver_name": "cliente",
        "receiver_state": customer["customer_state"],
        "receiver_city": str(customer["customer_city"])[:32],
        "receiver_zip": customer["customer_zip_code_prefix"],
        "payment": _money(goods + freight),
        "post_fee": _money(freight),
        "shipping_type": "express",
        "orders": [
            {"oid": f"{order['order_id']}-{k}", "outer_sku_id": product, "num": n, "price": _money(price)}
            for k, ((product, price), n) in enumerate(sorted(lines.items()))
        ],
    }
    if point is not None:
        body["receiver_lat"] = str(point[0])
        body["receiver_lng"] = str(point[1])
    return body


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationFailed) and exc.errors:
        return ", ".join(
            sorted({f"{p.field.split('.')[1] if '.' in p.field else p.field}:{p.code}" for p in exc.errors})
        )
    if isinstance(exc, DomainError):
        return str(getattr(exc, "code", type(exc).__name__))
    return f"error:{type(exc).__name__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "olist")
    parser.add_argument("--limit", type=int, default=5000, help="orders to replay, in purchase order; 0: all")
    parser.add_argument("--database-url", default="sqlite", help="'sqlite' (default) or a PostgreSQL server URL")
    parser.add_argument("--margin", type=int, default=1, help="units added to what each seller sold")
    args = parser.parse_args()

    t0 = time.monotonic()
    data = Olist(args.data)
    orders = data.orders if args.limit == 0 else data.orders[: args.limit]
    print(f"read {len(data.orders)} orders, {sum(map(len, data.items.values()))} items in {time.monotonic() - t0:.1f}s")
    with scratch_database(args.database_url, "zt_olist") as url:
        db = Database(url)
        t0 = time.monotonic()
        seeded = seed(db, data, args.margin)
        codes = seeded.pop("codes")
        print(f"seeded {seeded} in {time.monotonic() - t0:.1f}s on {db.engine.dialect.name}")

        reasons: Counter[str] = Counter()
        accepted: list[str] = []
        closed = 0
        close_failed: Counter[str] = Counter()
        t0 = time.monotonic()
        for k, order in enumerate(orders, start=1):
            body = trade(data, order)
            try:
                with db.transaction() as s:
                    result = service.intake(s, SYSTEM, CHANNEL, body)
            except Exception as exc:  # every refusal is counted by its reason
                reasons[_reason(exc)] += 1
                continue
            if result.created:
                accepted.append(order["order_id"])
            if order["order_status"] in CLOSED:
                try:
                    with db.transaction() as s:
                        service.update_status(s, SYSTEM, CHANNEL, body["tid"], StatusUpdateIn(status="TRADE_CLOSED"))
                    closed += 1
                except Exception as exc:
                    close_failed[_reason(exc)] += 1
            if k % 1000 == 0:
                print(f"  {k} orders, {len(accepted)} accepted, {time.monotonic() - t0:.0f}s")
        elapsed = time.monotonic() - t0

        # Routing quality, from the capture decisions (what the router chose when the order came).
        loc_point: dict[int, tuple[float, float]] = {}
        seller_of_loc: dict[int, str] = {}
        by_code = {v: k for k, v in codes.items()}
        with db.transaction(write=False) as s:
            for loc in inventory.fulfilment_locations(s):
                if loc.latitude is not None and loc.longitude is not None:
                    loc_point[loc.id] = (loc.latitude, loc.longitude)
                seller_of_loc[loc.id] = by_code.get(loc.code, "")
            rows = s.execute(
                select(Order.external_id, Order.ship_latitude, Order.ship_longitude, Order.on_hold, RoutingDecision)
                .join(RoutingDecision, RoutingDecision.order_id == Order.id)
                .where(RoutingDecision.trigger == "capture")
            ).all()
            ledger = inventory.check_ledger(s)
        db.dispose()
        full = partial = none = split = legs_total = own_seller = 0
        costs: list[float] = []
        km: list[float] = []
        olist_km: list[float] = []
        items_by_order = data.items
        for ext, lat, lng, _hold, decision in rows:
            exp = decision.explanation
            legs = exp.get("legs", [])
            unfilled = exp.get("unfilled", [])
            if legs and not unfilled:
                full += 1
            elif legs:
                partial += 1
            else:
                none += 1
            if legs:
                costs.append(decision.cost_fen / 100)
                split += len(legs) > 1
            sellers = {it["seller_id"] for it in items_by_order.get(ext, [])}
            for leg in legs:
                legs_total += 1
                own_seller += seller_of_loc.get(leg["location_id"]) in sellers
                p = loc_point.get(leg["location_id"])
                if p is not None and lat is not None and lng is not None:
                    km.append(haversine_km(p[0], p[1], lat, lng))
            if lat is not None and lng is not None:
                for seller in sellers:
                    sp = data.geo.get(data.sellers[seller]["seller_zip_code_prefix"])
                    if sp is not None:
                        olist_km.append(haversine_km(sp[0], sp[1], lat, lng))
        routed_any = full + partial
        figures = {
            "orders": len(orders),
            "accepted": len(accepted),
            "rejected": sum(reasons.values()),
            "mean_km": round(statistics.mean(km), 1) if km else None,
            "routed_share": round(full / len(accepted), 4) if accepted else None,
            "mean_plan_cost": round(statistics.mean(costs), 2) if costs else None,
            "split_rate": round(split / routed_any, 4) if routed_any else None,
        }
        print(f"figures: {figures}")
        print(f"rejected by reason: {dict(reasons.most_common())}")
        print(
            f"routed fully {full}, partly {partial}, not at all {none}; legs {legs_total}, from one of the order's own"
            f" Olist sellers {own_seller}; Olist's own sellers were {statistics.mean(olist_km) if olist_km else 0:.1f}"
            f" km away on average; {len(accepted) / elapsed:.1f} orders/s in process"
        )
        result = {
            "figures": figures,
            "params": {
                "data": str(args.data),
                "limit": args.limit,
                "margin": args.margin,
                "mode": "in process (orders.service.intake), one transaction per order; not HTTP",
                "money": "BRL amounts passed as the adapter's yuan strings (order currency units, not converted)",
            },
            "backend": db.engine.dialect.name,
            "detail": {
                "seeded": seeded,
                "rejected_by_reason": dict(reasons.most_common()),
                "routed_fully": full,
                "routed_partly": partial,
                "not_routed": none,
                "legs": legs_total,
                "legs_with_km": len(km),
                "median_km": round(statistics.median(km), 1) if km else None,
                "legs_from_an_own_olist_seller": own_seller,
                "olist_seller_mean_km": round(statistics.mean(olist_km), 1) if olist_km else None,
                "closed_after_capture": closed,
                "close_failed": dict(close_failed),
                "orders_per_s_in_process": round(len(accepted) / elapsed, 1) if elapsed else None,
                "elapsed_s": round(elapsed, 1),
                "ledger_balanced": not ledger,
            },
        }
        path = write_result("olist_replay", result)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
