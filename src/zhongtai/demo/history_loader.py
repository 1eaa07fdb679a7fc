"""Writes the demo's two years of history in bulk: the stock ledger and the finished orders.

Through the order service a historical order costs about 25 ms (routing, reservation, one
flush per step); two years of them would take half an hour. These rows describe the past, so
they are inserted the way a data migration would insert them: SQLAlchemy Core ``INSERT``
statements with a list of parameter dicts (``session.execute(insert(table), rows)``), a few
thousand rows at a time.

This module is the demo's one exception to "everything through a service verb" (see
``loader``): it writes rows of the inventory and order tables directly. It does not import
their model modules (the import contract for the demo stays as it is); it looks the tables up by
name in the shared metadata, and only ever inserts complete, consistent rows:

* every stock movement with the ``on_hand_after`` the ledger would have produced, in time
  order, and balances equal to the sum of their movements (``check_ledger`` runs after the
  load);
* every serial-tracked unit once, in its final state and place;
* orders only in end states or in transit (completed, cancelled, delivered, shipped), so no
  reservation, routing decision or exception is ever needed for them.

The history emits no outbox events: webhooks of two-year-old orders would only flood the
channels' endpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from zhongtai.catalog import service as catalog_service
from zhongtai.db import Base, utcnow
from zhongtai.demo.order_history import HistOrder, OrderHistory, timeline
from zhongtai.demo.stock_history import StockHistory
from zhongtai.inventory import service as inventory_service

ACTOR_TYPE = "system"
ACTOR_NAME = "demo"
CHUNK = 2_000

Progress = Callable[[int], None]


def _table(name: str) -> Table:
    table = Base.metadata.tables.get(name)
    if table is None:  # the owning context's models were not imported: a wiring bug
        raise RuntimeError(f"table {name!r} is not in the metadata; import zhongtai.models_registry first")
    return table


def _chunks(rows: Sequence[dict[str, Any]], size: int = CHUNK) -> Iterator[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _insert(session: Session, table: Table, rows: Sequence[dict[str, Any]], advance: Progress | None = None) -> None:
    for chunk in _chunks(rows):
        session.execute(insert(table), list(chunk))
        if advance is not None:
            advance(len(chunk))


def _insert_with_ids(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Inserts ``rows`` with ids taken up front and returns them, in the order of ``rows``.

    ``INSERT … RETURNING`` in a guaranteed order makes SQLite insert row by row (a third of
    the load's time); plain multi-row inserts with ids chosen first do not. On PostgreSQL the
    ids come from the table's own sequence (safe beside other writers); on SQLite the load
    holds the write lock, so the next ids after the largest one are free.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        result = session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": len(rows)},
        )
        ids = [int(r[0]) for r in result]
    else:
        top = int(session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one())
        ids = list(range(top + 1, top + 1 + len(rows)))
    _insert(session, table, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
    return ids


@dataclass(frozen=True, slots=True)
class _Ids:
    skus: dict[str, int]
    locations: dict[str, int]


def _ids(session: Session, sku_codes: set[str], location_codes: set[str]) -> _Ids:
    skus = {code: ref.id for code, ref in catalog_service.sku_refs_by_codes(session, sorted(sku_codes)).items()}
    locations = inventory_service.location_ids_by_codes(session, sorted(location_codes))
    missing = (sku_codes - skus.keys()) | (location_codes - locations.keys())
    if missing:
        raise RuntimeError(f"the history names codes the database does not have: {sorted(missing)[:5]}")
    return _Ids(skus, locations)


# ---------------------------------------------------------------- the stock ledger


def write_stock_history(session: Session, stock: StockHistory, advance: Progress | None = None) -> dict[str, int]:
    """Movements, serial numbers and balances (on hand = the sum of the movements)."""
    ids = _ids(
        session,
        {m.sku_code for m in stock.movements} | {s.sku_code for s in stock.serials},
        {m.location_code for m in stock.movements} | {s.location_code for s in stock.serials},
    )
    movements = [
        {
            "occurred_at": m.occurred_at,
            "type": m.type,
            "sku_id": ids.skus[m.sku_code],
            "location_id": ids.locations[m.location_code],
            "on_hand_delta": m.on_hand_delta,
            "in_transit_delta": 0,
            "on_hand_after": m.on_hand_after,
            "reference_type": m.reference_type,
            "reference_id": m.reference_id,
            "reason": m.reason,
            "serials": list(m.serials),
            "actor_type": ACTOR_TYPE,
            "actor_id": None,
            "actor_name": ACTOR_NAME,
        }
        for m in stock.movements
    ]
    _insert(session, _table("stock_movements"), movements, advance)
    serials = [
        {
            "sku_id": ids.skus[s.sku_code],
            "serial": s.serial,
            "state": s.state,
            "location_id": ids.locations[s.location_code],
            "reservation_id": None,
            "received_at": s.received_at,
            "sold_at": s.sold_at,
            "updated_at": s.updated_at,
        }
        for s in stock.serials
    ]
    _insert(session, _table("serial_numbers"), serials, advance)

    # Balances: the sum of each SKU × location's movements (safety stock rows exist already).
    on_hand: dict[tuple[int, int], int] = {}
    for m in stock.movements:
        key = (ids.skus[m.sku_code], ids.locations[m.location_code])
        on_hand[key] = on_hand.get(key, 0) + m.on_hand_delta
    balances = _table("stock_balances")
    existing = {(r[0], r[1]) for r in session.execute(select(balances.c.sku_id, balances.c.location_id))}
    now = utcnow()
    updates = [{"k_sku": k[0], "k_loc": k[1], "v_on_hand": v} for k, v in on_hand.items() if k in existing]
    if updates:
        stmt = (
            update(balances)
            .where(and_(balances.c.sku_id == bindparam("k_sku"), balances.c.location_id == bindparam("k_loc")))
            .values(on_hand=bindparam("v_on_hand"), updated_at=now)
        )
        for chunk in _chunks(updates):
            session.execute(stmt.execution_options(synchronize_session=False), list(chunk))
    inserts = [
        {
            "sku_id": k[0],
            "location_id": k[1],
            "on_hand": v,
            "reserved": 0,
            "in_transit": 0,
            "safety_stock": 0,
            "updated_at": now,
        }
        for k, v in on_hand.items()
        if k not in existing
    ]
    _insert(session, balances, inserts)
    return {
        "history_movements": len(movements),
        "history_receipts": sum(1 for m in stock.movements if m.type == "receipt"),
        "history_serial_numbers": len(serials),
        "history_units_received": sum(m.on_hand_delta for m in stock.movements if m.type == "receipt"),
    }


# ---------------------------------------------------------------- the orders


def write_order_history(session: Session, history: OrderHistory, advance: Progress | None = None) -> dict[str, int]:
    """Orders, lines, fulfilments, timelines, returns and refunds, a chunk of orders at a time."""
    orders = history.orders
    ids = _ids(
        session,
        {ln.sku_code for o in orders for ln in o.lines},
        {o.location_code for o in orders} | {o.store_code for o in orders if o.store_code},
    )
    counts = {"orders": 0, "order_lines": 0, "order_events": 0, "returns": 0, "refunds": 0}
    for i in range(0, len(orders), CHUNK):
        chunk = orders[i : i + CHUNK]
        _write_orders(session, chunk, ids, counts)
        if advance is not None:
            advance(len(chunk))
    return counts


def _write_orders(session: Session, orders: Sequence[HistOrder], ids: _Ids, counts: dict[str, int]) -> None:
    order_ids = _insert_with_ids(session, _table("orders"), [_order_row(o, ids) for o in orders])
    line_rows = []
    for o, oid in zip(orders, order_ids, strict=True):
        for ln in o.lines:
            line_rows.append(
                {
                    "order_id": oid,
                    "line_no": ln.line_no,
                    "external_line_id": f"{o.external_id}-{ln.line_no}",
                    "sku_id": ids.skus[ln.sku_code],
                    "sku_code": ln.sku_code,
                    "name": ln.name,
                    "quantity": ln.quantity,
                    "unit_price_fen": ln.unit_price_fen,
                    "discount_fen": ln.discount_fen,
                    "total_fen": ln.total_fen,
                    "shipped": ln.shipped,
                    "cancelled": ln.cancelled,
                    "returned": ln.returned,
                }
            )
    line_ids = iter(_insert_with_ids(session, _table("order_lines"), line_rows))
    line_id: dict[tuple[int, int], int] = {}
    for o, oid in zip(orders, order_ids, strict=True):
        for ln in o.lines:
            line_id[(oid, ln.line_no)] = next(line_ids)
    fulfilment_ids = _insert_with_ids(
        session, _table("fulfilments"), [_fulfilment_row(o, oid, ids) for o, oid in zip(orders, order_ids, strict=True)]
    )
    fulfilment_lines = []
    events = []
    returns: list[tuple[HistOrder, int, int]] = []  # (order, order id, index of its return)
    for o, oid, fid in zip(orders, order_ids, fulfilment_ids, strict=True):
        for ln in o.lines:
            fulfilment_lines.append(
                {
                    "fulfilment_id": fid,
                    "order_line_id": line_id[(oid, ln.line_no)],
                    "sku_id": ids.skus[ln.sku_code],
                    "quantity": ln.quantity,
                    "shipped": ln.shipped,
                    "serials": list(ln.serials),
                }
            )
        for e in timeline(o):
            events.append(
                {
                    "order_id": oid,
                    "at": e.at,
                    "kind": e.kind,
                    "from_status": e.from_status,
                    "to_status": e.to_status,
                    "fulfilment_id": fid if e.on_fulfilment else None,
                    "message": e.message[:255],
                    "data": {"fulfilment": o.fulfilment_number} if e.on_fulfilment else {},
                    "actor_type": ACTOR_TYPE,
                    "actor_id": None,
                    "actor_name": ACTOR_NAME,
                }
            )
        returns.extend((o, oid, k) for k in range(len(o.returns)))
    _insert(session, _table("fulfilment_lines"), fulfilment_lines)
    _insert(session, _table("order_events"), events)
    return_ids: dict[str, int] = {}
    if returns:
        rows = []
        for o, oid, k in returns:
            r = o.returns[k]
            rows.append(
                {
                    "number": r.number,
                    "order_id": oid,
                    "status": r.status,
                    "reason": r.reason,
                    "location_id": ids.locations[r.location_code] if r.received_at is not None else None,
                    "refund_fen": r.refund_fen,
                    "requested_at": r.requested_at,
                    "decided_at": r.decided_at,
                    "received_at": r.received_at,
                    "created_by": ACTOR_NAME,
                }
            )
        new_ids = _insert_with_ids(session, _table("order_returns"), rows)
        return_lines = []
        for (o, oid, k), rid in zip(returns, new_ids, strict=True):
            return_ids[o.returns[k].number] = rid
            for rl in o.returns[k].lines:
                return_lines.append(
                    {
                        "return_id": rid,
                        "order_line_id": line_id[(oid, rl.line_no)],
                        "quantity": rl.quantity,
                        "disposition": rl.disposition,
                        "serials": list(rl.serials),
                        "refund_fen": rl.refund_fen,
                    }
                )
        _insert(session, _table("order_return_lines"), return_lines)
    refunds = [
        {
            "order_id": oid,
            "return_id": return_ids[f.return_number] if f.return_number else None,
            "amount_fen": f.amount_fen,
            "status": "succeeded" if f.settled_at is not None else "pending",
            "reason": f.reason[:255],
            "external_ref": f"PAY{o.number[2:]}{k}" if f.settled_at is not None else "",
            "created_at": f.created_at,
            "settled_at": f.settled_at,
            "created_by": ACTOR_NAME,
        }
        for o, oid in zip(orders, order_ids, strict=True)
        for k, f in enumerate(o.refunds, start=1)
    ]
    _insert(session, _table("order_refunds"), refunds)
    counts["orders"] += len(orders)
    counts["order_lines"] += len(line_rows)
    counts["order_events"] += len(events)
    counts["returns"] += len(returns)
    counts["refunds"] += len(refunds)


def _order_row(o: HistOrder, ids: _Ids) -> dict[str, Any]:
    return {
        "number": o.number,
        "channel_code": o.channel_code,
        "external_id": o.external_id,
        "status": o.status,
        "payment_status": o.payment_status,
        "channel_status": o.channel_status,
        "delivery_mode": o.delivery_mode,
        "store_location_id": ids.locations[o.store_code] if o.store_code else None,
        "buyer_phone": o.buyer_phone,
        "buyer_name": o.buyer_name,
        "buyer_unionid": o.buyer_unionid,
        "buyer_marketplace_id": o.buyer_marketplace_id,
        "buyer_email": o.buyer_email,
        "member_id": None,
        "ship_name": o.ship_name,
        "ship_phone": o.ship_phone,
        "ship_province": o.ship_province,
        "ship_city": o.ship_city,
        "ship_district": o.ship_district,
        "ship_address": o.ship_address,
        "ship_postcode": o.ship_postcode,
        "ship_latitude": o.ship_latitude,
        "ship_longitude": o.ship_longitude,
        "currency": "CNY",
        "goods_fen": o.goods_fen,
        "discount_fen": o.discount_fen,
        "shipping_fen": o.shipping_fen,
        "total_fen": o.total_fen,
        "paid_fen": o.paid_fen,
        "refunded_fen": o.refunded_fen,
        "note": "",
        "placed_at": o.placed_at,
        "paid_at": o.paid_at,
        "pay_by": None,
        "promised_at": None,
        "eta_at": o.eta_at,
        "shipped_at": o.shipped_at,
        "delivered_at": o.delivered_at,
        "completed_at": o.completed_at,
        "cancelled_at": o.cancelled_at,
        "cancel_reason": o.cancel_reason,
        "on_hold": False,
        "created_at": o.placed_at,
        "updated_at": o.updated_at,
    }


def _fulfilment_row(o: HistOrder, order_id: int, ids: _Ids) -> dict[str, Any]:
    times: list[datetime | None] = [o.routed_at, o.shipped_at, o.delivered_at, o.cancelled_at]
    return {
        "order_id": order_id,
        "number": o.fulfilment_number,
        "location_id": ids.locations[o.location_code],
        "kind": o.fulfilment_kind,
        "status": o.fulfilment_status,
        "reservation_id": None,
        "transfer_to_location_id": None,
        "transfer_code": "",
        "cost_fen": o.cost_fen,
        "carrier": o.carrier,
        "tracking_no": o.tracking_no,
        "eta_at": o.eta_at,
        "decision_id": None,
        "reject_reason": "",
        "created_at": o.routed_at,
        "updated_at": max(t for t in times if t is not None),
        "shipped_at": o.shipped_at,
        "delivered_at": o.delivered_at,
    }
