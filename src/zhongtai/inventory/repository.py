"""All of inventory's SQL. Services call these; the request (or the job) owns the transaction.

Stock changes are conditional UPDATEs whose WHERE clause carries the invariant, checked through
the returned row or the rowcount: under PostgreSQL's READ COMMITTED a concurrent writer makes the
second UPDATE wait for the row and re-check the condition against the committed values, so two
clients can never both take the last unit. SQLite serialises writers (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, func, literal_column, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import InstrumentedAttribute, Session

from zhongtai.db import settled_after
from zhongtai.inventory.models import (
    ChannelSafetyStock,
    Location,
    Reservation,
    ReservationLine,
    SerialNumber,
    StockBalance,
    StockMovement,
    Transfer,
    TransferLine,
)

NO_SYNC = {"synchronize_session": False}

_Line = TypeVar("_Line", ReservationLine, TransferLine)


def _rowcount(result: Any) -> int:
    return int(result.rowcount if isinstance(result, CursorResult) else getattr(result, "rowcount", 0) or 0)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# ---------------------------------------------------------------- locations


def location_by_code(session: Session, code: str) -> Location | None:
    return session.scalar(select(Location).where(Location.code == code))


def locations_by_codes(session: Session, codes: Iterable[str]) -> dict[str, Location]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    return {loc.code: loc for loc in session.scalars(select(Location).where(Location.code.in_(wanted)))}


def locations_by_ids(session: Session, ids: Iterable[int]) -> dict[int, Location]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {loc.id: loc for loc in session.scalars(select(Location).where(Location.id.in_(wanted)))}


def locations_query(*, type: str | None = None, city: str | None = None, active: bool | None = None) -> Select[Any]:
    stmt = select(Location)
    if type:
        stmt = stmt.where(Location.type == type)
    if city:
        stmt = stmt.where(Location.city == city)
    if active is not None:
        stmt = stmt.where(Location.is_active.is_(active))
    return stmt


# ---------------------------------------------------------------- balances


@dataclass(frozen=True, slots=True)
class BalanceRow:
    sku_id: int
    location_id: int
    on_hand: int
    reserved: int
    in_transit: int
    safety_stock: int
    updated_at: datetime | None = None

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


_BALANCE_COLS = (
    StockBalance.sku_id,
    StockBalance.location_id,
    StockBalance.on_hand,
    StockBalance.reserved,
    StockBalance.in_transit,
    StockBalance.safety_stock,
    StockBalance.updated_at,
)


def ensure_balance(session: Session, sku_id: int, location_id: int, now: datetime) -> None:
    """Creates the zero balance row if absent. Race-safe: ON CONFLICT DO NOTHING on both backends
    (on PostgreSQL a concurrent inserter waits for the first one's commit, then does nothing)."""
    values = {
        "sku_id": sku_id,
        "location_id": location_id,
        "on_hand": 0,
        "reserved": 0,
        "in_transit": 0,
        "safety_stock": 0,
        "updated_at": now,
    }
    if _dialect(session) == "postgresql":
        pg = (
            postgresql.insert(StockBalance)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["sku_id", "location_id"])
        )
        session.execute(pg)
    else:
        lite = (
            sqlite.insert(StockBalance)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["sku_id", "location_id"])
        )
        session.execute(lite)


def apply_balance_delta(
    session: Session,
    sku_id: int,
    location_id: int,
    *,
    on_hand: int,
    reserved: int,
    in_transit: int,
    now: datetime,
) -> tuple[int, int, int] | None:
    """Adds the deltas if the result keeps 0 <= reserved <= on_hand and in_transit >= 0.

    Returns (on_hand, reserved, in_transit) after the change, or None when the row is absent or
    the change would break the invariant (nothing is changed then).
    """
    stmt = (
        update(StockBalance)
        .where(
            StockBalance.sku_id == sku_id,
            StockBalance.location_id == location_id,
            StockBalance.on_hand + on_hand >= StockBalance.reserved + reserved,
            StockBalance.reserved + reserved >= 0,
            StockBalance.in_transit + in_transit >= 0,
        )
        .values(
            on_hand=StockBalance.on_hand + on_hand,
            reserved=StockBalance.reserved + reserved,
            in_transit=StockBalance.in_transit + in_transit,
            updated_at=now,
        )
        .returning(StockBalance.on_hand, StockBalance.reserved, StockBalance.in_transit)
        .execution_options(**NO_SYNC)
    )
    row = session.execute(stmt).first()
    return (int(row[0]), int(row[1]), int(row[2])) if row is not None else None


def fulfilment_locations(session: Session) -> list[Location]:
    stmt = select(Location).where(
        Location.is_active.is_(True), Location.type.in_(("central_dc", "regional_dc", "store"))
    )
    return list(session.scalars(stmt.order_by(Location.id)))


def available_with_safety(session: Session, sku_ids: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """(sku_id, location_id, available, safety_stock) wherever these SKUs have units available."""
    rows = session.execute(
        select(
            StockBalance.sku_id,
            StockBalance.location_id,
            StockBalance.on_hand - StockBalance.reserved,
            StockBalance.safety_stock,
        ).where(StockBalance.sku_id.in_(sorted(set(sku_ids))), StockBalance.on_hand > StockBalance.reserved)
    )
    return [(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]


def reserve_units(session: Session, sku_id: int, location_id: int, quantity: int, safety: int, now: datetime) -> bool:
    """``reserved += q`` only if the channel may still sell q here; True when it did."""
    result = session.execute(
        update(StockBalance)
        .where(
            StockBalance.sku_id == sku_id,
            StockBalance.location_id == location_id,
            StockBalance.on_hand - StockBalance.reserved - safety >= quantity,
        )
        .values(reserved=StockBalance.reserved + quantity, updated_at=now)
        .execution_options(**NO_SYNC)
    )
    return _rowcount(result) == 1


def unreserve_units(session: Session, sku_id: int, location_id: int, quantity: int, now: datetime) -> bool:
    result = session.execute(
        update(StockBalance)
        .where(
            StockBalance.sku_id == sku_id,
            StockBalance.location_id == location_id,
            StockBalance.reserved >= quantity,
        )
        .values(reserved=StockBalance.reserved - quantity, updated_at=now)
        .execution_options(**NO_SYNC)
    )
    return _rowcount(result) == 1


def set_safety_stock(session: Session, sku_id: int, location_id: int, quantity: int, now: datetime) -> None:
    ensure_balance(session, sku_id, location_id, now)
    session.execute(
        update(StockBalance)
        .where(StockBalance.sku_id == sku_id, StockBalance.location_id == location_id)
        .values(safety_stock=quantity, updated_at=now)
        .execution_options(**NO_SYNC)
    )


def balances(session: Session, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], BalanceRow]:
    """{(sku_id, location_id): row} for the pairs that have a balance."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    sku_ids = sorted({s for s, _ in wanted})
    loc_ids = sorted({loc for _, loc in wanted})
    rows = session.execute(
        select(*_BALANCE_COLS).where(StockBalance.sku_id.in_(sku_ids), StockBalance.location_id.in_(loc_ids))
    )
    found = {(r.sku_id, r.location_id): BalanceRow(*r) for r in rows}
    return {k: v for k, v in found.items() if k in set(wanted)}


def lock_balance(session: Session, sku_id: int, location_id: int) -> BalanceRow | None:
    row = session.execute(
        select(*_BALANCE_COLS)
        .where(StockBalance.sku_id == sku_id, StockBalance.location_id == location_id)
        .with_for_update()
    ).first()
    return BalanceRow(*row) if row is not None else None


def balances_query() -> Select[*tuple[Any, ...]]:
    return select(*_BALANCE_COLS, Location).join(Location, Location.id == StockBalance.location_id)


def below_safety_clause() -> Any:
    return and_(StockBalance.safety_stock > 0, StockBalance.on_hand - StockBalance.reserved < StockBalance.safety_stock)


# ---------------------------------------------------------------- ledger


def add_movement(session: Session, movement: StockMovement) -> StockMovement:
    session.add(movement)
    return movement


def ledger_sums(session: Session, sku_ids: Sequence[int] | None = None) -> dict[tuple[int, int], tuple[int, int]]:
    stmt = select(
        StockMovement.sku_id,
        StockMovement.location_id,
        func.coalesce(func.sum(StockMovement.on_hand_delta), 0),
        func.coalesce(func.sum(StockMovement.in_transit_delta), 0),
    ).group_by(StockMovement.sku_id, StockMovement.location_id)
    if sku_ids is not None:
        stmt = stmt.where(StockMovement.sku_id.in_(list(sku_ids)))
    return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in session.execute(stmt)}


def all_balances(session: Session, sku_ids: Sequence[int] | None = None) -> list[BalanceRow]:
    stmt = select(*_BALANCE_COLS)
    if sku_ids is not None:
        stmt = stmt.where(StockBalance.sku_id.in_(list(sku_ids)))
    return [BalanceRow(*r) for r in session.execute(stmt)]


def open_reserved_sums(session: Session, sku_ids: Sequence[int] | None = None) -> dict[tuple[int, int], int]:
    stmt = (
        select(
            ReservationLine.sku_id,
            ReservationLine.location_id,
            func.sum(ReservationLine.quantity - ReservationLine.consumed),
        )
        .join(Reservation, Reservation.id == ReservationLine.reservation_id)
        .where(Reservation.status == "active")
        .group_by(ReservationLine.sku_id, ReservationLine.location_id)
    )
    if sku_ids is not None:
        stmt = stmt.where(ReservationLine.sku_id.in_(list(sku_ids)))
    return {(r[0], r[1]): int(r[2] or 0) for r in session.execute(stmt)}


# ---------------------------------------------------------------- channel safety stock


def channel_safety(session: Session, channel_code: str, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """{(sku_id, location_id): units the channel may not sell}: the SKU override, else the
    location default, else 0 (absent from the result)."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    loc_ids = sorted({loc for _, loc in wanted})
    sku_ids = sorted({s for s, _ in wanted})
    rows = session.execute(
        select(ChannelSafetyStock.location_id, ChannelSafetyStock.sku_id, ChannelSafetyStock.quantity).where(
            ChannelSafetyStock.channel_code == channel_code,
            ChannelSafetyStock.location_id.in_(loc_ids),
            or_(ChannelSafetyStock.sku_id.is_(None), ChannelSafetyStock.sku_id.in_(sku_ids)),
        )
    )
    defaults: dict[int, int] = {}
    overrides: dict[tuple[int, int], int] = {}
    for loc_id, sku_id, qty in rows:
        if sku_id is None:
            defaults[loc_id] = qty
        else:
            overrides[(sku_id, loc_id)] = qty
    out = {}
    for sku_id, loc_id in wanted:
        qty = overrides.get((sku_id, loc_id), defaults.get(loc_id, 0))
        if qty:
            out[(sku_id, loc_id)] = qty
    return out


def find_channel_safety(
    session: Session, location_id: int, channel_code: str, sku_id: int | None
) -> ChannelSafetyStock | None:
    sku_clause = ChannelSafetyStock.sku_id.is_(None) if sku_id is None else ChannelSafetyStock.sku_id == sku_id
    return session.scalar(
        select(ChannelSafetyStock).where(
            ChannelSafetyStock.location_id == location_id, ChannelSafetyStock.channel_code == channel_code, sku_clause
        )
    )


# ---------------------------------------------------------------- serials


def serials_of(session: Session, sku_id: int, serials: Sequence[str]) -> dict[str, SerialNumber]:
    if not serials:
        return {}
    rows = session.scalars(
        select(SerialNumber).where(SerialNumber.sku_id == sku_id, SerialNumber.serial.in_(sorted(set(serials))))
    )
    return {r.serial: r for r in rows}


def serial_states(
    session: Session, sku_id: int, serials: Sequence[str]
) -> dict[str, tuple[str, int | None, int | None]]:
    """{serial: (state, location_id, reservation_id)}, read fresh (no identity map)."""
    if not serials:
        return {}
    rows = session.execute(
        select(SerialNumber.serial, SerialNumber.state, SerialNumber.location_id, SerialNumber.reservation_id).where(
            SerialNumber.sku_id == sku_id, SerialNumber.serial.in_(sorted(set(serials)))
        )
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


_KEEP = object()


def move_serials(
    session: Session,
    sku_id: int,
    serials: Sequence[str],
    *,
    from_states: Sequence[str],
    to_state: str,
    now: datetime,
    from_location_id: int | None = None,
    reservation_id: int | None = None,
    to_location_id: int | object | None = _KEEP,
    set_reservation_id: int | object | None = _KEEP,
    sold: bool = False,
) -> int:
    """Conditional state change of the listed units; returns how many changed.

    Only units in ``from_states`` (at ``from_location_id`` / held by ``reservation_id`` when
    given) change, so two writers can never both take the same serial.
    """
    if not serials:
        return 0
    conds = [
        SerialNumber.sku_id == sku_id,
        SerialNumber.serial.in_(sorted(set(serials))),
        SerialNumber.state.in_(list(from_states)),
    ]
    if from_location_id is not None:
        conds.append(SerialNumber.location_id == from_location_id)
    if reservation_id is not None:
        conds.append(SerialNumber.reservation_id == reservation_id)
    values: dict[str, Any] = {"state": to_state, "updated_at": now}
    if to_location_id is not _KEEP:
        values["location_id"] = to_location_id
    if set_reservation_id is not _KEEP:
        values["reservation_id"] = set_reservation_id
    if sold:
        values["sold_at"] = now
    result = session.execute(update(SerialNumber).where(*conds).values(**values).execution_options(**NO_SYNC))
    return _rowcount(result)


def reserved_serials_of(session: Session, reservation_id: int) -> dict[tuple[int, int], list[str]]:
    rows = session.execute(
        select(SerialNumber.sku_id, SerialNumber.location_id, SerialNumber.serial)
        .where(SerialNumber.reservation_id == reservation_id, SerialNumber.state == "reserved")
        .order_by(SerialNumber.serial)
    )
    out: dict[tuple[int, int], list[str]] = {}
    for sku_id, loc_id, serial in rows:
        out.setdefault((sku_id, int(loc_id or 0)), []).append(serial)
    return out


# ---------------------------------------------------------------- reservations


def reservation_by_reference(session: Session, channel_code: str | None, reference: str) -> Reservation | None:
    return session.scalar(
        select(Reservation)
        # Spelled exactly as the unique index's expression, so that the index is used.
        .where(
            func.coalesce(Reservation.channel_code, literal_column("''")) == (channel_code or ""),
            Reservation.reference == reference,
        )
        .execution_options(populate_existing=True)
    )


def reservation(
    session: Session, reservation_id: int, *, for_update: bool = False, skip_locked: bool = False
) -> Reservation | None:
    stmt = select(Reservation).where(Reservation.id == reservation_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update(skip_locked=skip_locked)
    return session.scalar(stmt)


def reservation_lines(session: Session, reservation_ids: Sequence[int]) -> dict[int, list[ReservationLine]]:
    return _lines_by_parent(
        session,
        ReservationLine,
        ReservationLine.reservation_id,
        reservation_ids,
        ReservationLine.location_id,
        ReservationLine.sku_id,
    )


def due_reservation_ids(session: Session, now: datetime, limit: int) -> list[int]:
    return list(
        session.scalars(
            select(Reservation.id)
            .where(Reservation.status == "active", Reservation.expires_at <= now)
            .order_by(Reservation.expires_at, Reservation.id)
            .limit(limit)
        )
    )


# ---------------------------------------------------------------- transfers


def transfer_by_code(session: Session, code: str, *, for_update: bool = False) -> Transfer | None:
    stmt = select(Transfer).where(Transfer.code == code).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def transfer_lines(session: Session, transfer_ids: Sequence[int]) -> dict[int, list[TransferLine]]:
    return _lines_by_parent(
        session, TransferLine, TransferLine.transfer_id, transfer_ids, TransferLine.sku_id, TransferLine.id
    )


def _lines_by_parent(
    session: Session,
    model: type[_Line],
    parent_id: InstrumentedAttribute[int],
    parent_ids: Sequence[int],
    *order_by: InstrumentedAttribute[int],
) -> dict[int, list[_Line]]:
    """{parent id: its lines, in ``order_by``} for every id asked for (an empty list when none)."""
    out: dict[int, list[_Line]] = {pid: [] for pid in parent_ids}
    if not parent_ids:
        return out
    rows = session.scalars(
        select(model)
        .where(parent_id.in_(list(parent_ids)))
        .order_by(*order_by)
        .execution_options(populate_existing=True)
    )
    for line in rows:
        out[getattr(line, parent_id.key)].append(line)
    return out


# ---------------------------------------------------------------- summary


def summary_stock_query() -> Select[*tuple[Any, ...]]:
    return (
        select(
            StockBalance.sku_id,
            Location.type,
            Location.city,
            func.sum(StockBalance.on_hand),
            func.sum(StockBalance.reserved),
            func.sum(StockBalance.in_transit),
        )
        .join(Location, Location.id == StockBalance.location_id)
        .group_by(StockBalance.sku_id, Location.type, Location.city)
    )


def below_safety_count_query() -> Select[*tuple[Any, ...]]:
    return select(func.count()).select_from(StockBalance).where(below_safety_clause())


def locations_by_type_query() -> Select[*tuple[Any, ...]]:
    return select(Location.type, func.count()).group_by(Location.type)


# ---------------------------------------------------------------- replenishment reads


def balances_at(session: Session, location_ids: Sequence[int]) -> list[BalanceRow]:
    """Every balance row at these locations (the stock position of a replenishment run)."""
    wanted = sorted(set(location_ids))
    if not wanted:
        return []
    return [BalanceRow(*r) for r in session.execute(select(*_BALANCE_COLS).where(StockBalance.location_id.in_(wanted)))]


def draft_transfer_sums(session: Session, location_ids: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """(sku_id, source_location_id, dest_location_id, units) of draft transfers touching these
    locations: committed moves whose stock has not left yet."""
    wanted = sorted(set(location_ids))
    if not wanted:
        return []
    stmt = (
        select(
            TransferLine.sku_id,
            Transfer.source_location_id,
            Transfer.dest_location_id,
            func.sum(TransferLine.quantity),
        )
        .join(Transfer, Transfer.id == TransferLine.transfer_id)
        .where(
            Transfer.status == "draft",
            or_(Transfer.source_location_id.in_(wanted), Transfer.dest_location_id.in_(wanted)),
        )
        .group_by(TransferLine.sku_id, Transfer.source_location_id, Transfer.dest_location_id)
    )
    return [(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in session.execute(stmt)]


# ---------------------------------------------------------------- analytics export (read-only)


def movement_rows_after(session: Session, after_id: int, limit: int) -> list[tuple[Any, ...]]:
    """Up to ``limit`` stock movements with an id above ``after_id``, in id order (the ledger only grows)."""
    stmt = (
        select(
            StockMovement.id,
            StockMovement.occurred_at,
            StockMovement.type,
            StockMovement.sku_id,
            StockMovement.location_id,
            StockMovement.on_hand_delta,
            StockMovement.on_hand_after,
            StockMovement.reference_type,
        )
        .where(settled_after(session, StockMovement, StockMovement.id, after_id))
        .order_by(StockMovement.id)
        .limit(limit)
    )
    return [tuple(r) for r in session.execute(stmt)]


def balance_rows(session: Session) -> list[tuple[Any, ...]]:
    """Every stock balance row (sku, location, on hand, reserved, in transit, safety stock)."""
    stmt = select(
        StockBalance.sku_id,
        StockBalance.location_id,
        StockBalance.on_hand,
        StockBalance.reserved,
        StockBalance.in_transit,
        StockBalance.safety_stock,
    ).order_by(StockBalance.sku_id, StockBalance.location_id)
    return [tuple(r) for r in session.execute(stmt)]


def location_rows(session: Session) -> list[tuple[Any, ...]]:
    """Every location (active or not: old sales still name it)."""
    stmt = select(
        Location.id,
        Location.code,
        Location.name,
        Location.name_en,
        Location.type,
        Location.region,
        Location.province,
        Location.city,
    ).order_by(Location.id)
    return [tuple(r) for r in session.execute(stmt)]
