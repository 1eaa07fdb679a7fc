"""All of replenishment's SQL. The service calls these; the request (or the job) owns the transaction.

State changes are conditional UPDATEs whose WHERE clause names the state the caller saw
(``... WHERE id = :id AND status IN (...)``); the rowcount says whether this caller won. Under
PostgreSQL's READ COMMITTED a concurrent writer waits for the row and re-checks the condition
against the committed values, so two approvals, two sends or two receipts never both succeed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from zhongtai.replenishment.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    ReceiptLine,
    ReplenishmentPolicy,
    ReplenishmentRun,
    Suggestion,
    SupplierTerms,
    TransferLink,
)

NO_SYNC = {"synchronize_session": False}
OPEN_PO_STATUSES = ("draft", "approved", "sent", "partially_received")


def _rowcount(result: Any) -> int:
    return int(result.rowcount if isinstance(result, CursorResult) else getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- supplier terms and policies


def terms_for(session: Session, supplier_id: int, sku_id: int) -> SupplierTerms | None:
    return session.scalar(
        select(SupplierTerms).where(SupplierTerms.supplier_location_id == supplier_id, SupplierTerms.sku_id == sku_id)
    )


def terms_by_id(session: Session, terms_id: int) -> SupplierTerms | None:
    return session.get(SupplierTerms, terms_id)


def all_terms(session: Session, sku_ids: Iterable[int] | None = None) -> list[SupplierTerms]:
    stmt = select(SupplierTerms)
    if sku_ids is not None:
        stmt = stmt.where(SupplierTerms.sku_id.in_(sorted(set(sku_ids))))
    return list(session.scalars(stmt.order_by(SupplierTerms.sku_id, SupplierTerms.id)))


def terms_query(*, supplier_id: int | None = None, sku_id: int | None = None) -> Select[Any]:
    stmt = select(SupplierTerms)
    if supplier_id is not None:
        stmt = stmt.where(SupplierTerms.supplier_location_id == supplier_id)
    if sku_id is not None:
        stmt = stmt.where(SupplierTerms.sku_id == sku_id)
    return stmt


def policy_by_scope(session: Session, scope: str) -> ReplenishmentPolicy | None:
    return session.scalar(select(ReplenishmentPolicy).where(ReplenishmentPolicy.scope == scope))


def policy_by_id(session: Session, policy_id: int) -> ReplenishmentPolicy | None:
    return session.get(ReplenishmentPolicy, policy_id)


def all_policies(session: Session) -> list[ReplenishmentPolicy]:
    return list(session.scalars(select(ReplenishmentPolicy).order_by(ReplenishmentPolicy.id)))


def policies_query(
    *, location_id: int | None = None, location_type: str | None = None, allowed: Sequence[int] | None = None
) -> Select[Any]:
    """Policies filtered by whatever is given; with ``allowed``, the defaults (no location) and the
    policies of those locations (what a store role may see)."""
    stmt = select(ReplenishmentPolicy)
    if allowed is not None:
        stmt = stmt.where(ReplenishmentPolicy.location_id.is_(None) | ReplenishmentPolicy.location_id.in_(allowed))
    if location_id is not None:
        stmt = stmt.where(ReplenishmentPolicy.location_id == location_id)
    if location_type is not None:
        stmt = stmt.where(ReplenishmentPolicy.location_type == location_type)
    return stmt


# ---------------------------------------------------------------- runs and suggestions


def get_run(session: Session, run_id: int) -> ReplenishmentRun | None:
    return session.get(ReplenishmentRun, run_id)


def latest_run(session: Session, kind: str) -> ReplenishmentRun | None:
    return session.scalar(
        select(ReplenishmentRun).where(ReplenishmentRun.kind == kind).order_by(ReplenishmentRun.id.desc()).limit(1)
    )


def runs_query() -> Select[Any]:
    return select(ReplenishmentRun)


def get_suggestion(session: Session, suggestion_id: int, *, for_update: bool = False) -> Suggestion | None:
    stmt = select(Suggestion).where(Suggestion.id == suggestion_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def suggestions_by_ids(session: Session, ids: Sequence[int]) -> list[Suggestion]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    stmt = select(Suggestion).where(Suggestion.id.in_(wanted)).order_by(Suggestion.id)
    return list(session.scalars(stmt.execution_options(populate_existing=True)))


def suggestions_query(
    *,
    allowed: Sequence[int] | None = None,
    status: str | None = None,
    kind: str | None = None,
    location_id: int | None = None,
    source_id: int | None = None,
    run_id: int | None = None,
) -> Select[Any]:
    """Suggestions filtered by whatever is given; ``allowed`` limits them to those locations."""
    stmt = select(Suggestion)
    if allowed is not None:
        stmt = stmt.where(Suggestion.location_id.in_(allowed))
    if status:
        stmt = stmt.where(Suggestion.status == status)
    if kind:
        stmt = stmt.where(Suggestion.kind == kind)
    if run_id is not None:
        stmt = stmt.where(Suggestion.run_id == run_id)
    if location_id is not None:
        stmt = stmt.where(Suggestion.location_id == location_id)
    if source_id is not None:
        stmt = stmt.where(Suggestion.source_location_id == source_id)
    return stmt


def add_suggestions(session: Session, rows: Sequence[Suggestion]) -> None:
    session.add_all(rows)
    session.flush()


def supersede_proposed(session: Session, kinds: Sequence[str], before_run_id: int) -> int:
    """Proposals of older runs of these kinds nobody decided on: a newer run replaces them."""
    result = session.execute(
        update(Suggestion)
        .where(Suggestion.kind.in_(list(kinds)), Suggestion.status == "proposed", Suggestion.run_id < before_run_id)
        .values(status="superseded")
        .execution_options(**NO_SYNC)
    )
    return _rowcount(result)


def last_decided_quantities(
    session: Session, kind: str, pairs: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """{(sku_id, location_id): the quantity of the pair's latest approved or ordered suggestion}."""
    wanted = set(pairs)
    if not wanted:
        return {}
    latest = (
        select(func.max(Suggestion.id))
        .where(Suggestion.kind == kind, Suggestion.status.in_(("approved", "ordered")))
        .where(Suggestion.sku_id.in_(sorted({s for s, _ in wanted})))
        .group_by(Suggestion.sku_id, Suggestion.location_id)
    )
    rows = session.execute(
        select(Suggestion.sku_id, Suggestion.location_id, Suggestion.quantity, Suggestion.edited_quantity).where(
            Suggestion.id.in_(latest)
        )
    )
    out: dict[tuple[int, int], int] = {}
    for sku_id, loc_id, qty, edited in rows:
        if (sku_id, loc_id) in wanted:
            out[(int(sku_id), int(loc_id))] = int(edited if edited is not None else qty)
    return out


def set_suggestion_status(
    session: Session,
    suggestion_id: int,
    *,
    expected: Sequence[str],
    now: datetime,
    **values: Any,
) -> bool:
    result = session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion_id, Suggestion.status.in_(list(expected)))
        .values(decided_at=now, **values)
        .execution_options(**NO_SYNC)
    )
    return _rowcount(result) == 1


def mark_ordered(
    session: Session, suggestion_ids: Sequence[int], *, purchase_order_id: int | None = None, transfer_code: str = ""
) -> int:
    """approved -> ordered for exactly these suggestions; returns how many changed."""
    if not suggestion_ids:
        return 0
    values: dict[str, Any] = {"status": "ordered"}
    if purchase_order_id is not None:
        values["purchase_order_id"] = purchase_order_id
    if transfer_code:
        values["transfer_code"] = transfer_code
    result = session.execute(
        update(Suggestion)
        .where(Suggestion.id.in_(sorted(set(suggestion_ids))), Suggestion.status == "approved")
        .values(**values)
        .execution_options(**NO_SYNC)
    )
    return _rowcount(result)


def suggestion_value_by_source(
    session: Session, statuses: Sequence[str], kind: str, location_ids: Sequence[int] | None
) -> list[tuple[int, int, int]]:
    """(source_location_id, suggestions, value_fen) of suggestions in these states."""
    qty = func.coalesce(Suggestion.edited_quantity, Suggestion.quantity)
    stmt = (
        select(Suggestion.source_location_id, func.count(), func.coalesce(func.sum(qty * Suggestion.unit_cost_fen), 0))
        .where(Suggestion.status.in_(list(statuses)), Suggestion.kind == kind)
        .group_by(Suggestion.source_location_id)
    )
    if location_ids is not None:
        stmt = stmt.where(Suggestion.location_id.in_(sorted(location_ids)))
    return [(int(r[0]), int(r[1]), int(r[2])) for r in session.execute(stmt)]


# ---------------------------------------------------------------- purchase orders


def get_po(session: Session, po_id: int, *, for_update: bool = False) -> PurchaseOrder | None:
    stmt = select(PurchaseOrder).where(PurchaseOrder.id == po_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def po_by_number(session: Session, number: str, *, for_update: bool = False) -> PurchaseOrder | None:
    stmt = select(PurchaseOrder).where(PurchaseOrder.number == number).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def pos_query(
    *,
    allowed: Sequence[int] | None = None,
    status: str | None = None,
    supplier_id: int | None = None,
    dest_id: int | None = None,
) -> Select[Any]:
    """Purchase orders filtered by whatever is given; ``allowed`` limits their destinations."""
    stmt = select(PurchaseOrder)
    if allowed is not None:
        stmt = stmt.where(PurchaseOrder.dest_location_id.in_(allowed))
    if status:
        stmt = stmt.where(PurchaseOrder.status == status)
    if supplier_id is not None:
        stmt = stmt.where(PurchaseOrder.supplier_location_id == supplier_id)
    if dest_id is not None:
        stmt = stmt.where(PurchaseOrder.dest_location_id == dest_id)
    return stmt


def draft_po_for(session: Session, run_id: int, supplier_id: int, dest_id: int) -> PurchaseOrder | None:
    """The run's PO to this supplier and destination still open for more lines (one per run)."""
    return session.scalar(
        select(PurchaseOrder)
        .where(
            PurchaseOrder.run_id == run_id,
            PurchaseOrder.supplier_location_id == supplier_id,
            PurchaseOrder.dest_location_id == dest_id,
            PurchaseOrder.status.in_(("draft", "approved")),
        )
        .order_by(PurchaseOrder.id)
        .limit(1)
    )


def po_lines(session: Session, po_ids: Sequence[int]) -> dict[int, list[PurchaseOrderLine]]:
    out: dict[int, list[PurchaseOrderLine]] = {i: [] for i in po_ids}
    if not po_ids:
        return out
    stmt = (
        select(PurchaseOrderLine)
        .where(PurchaseOrderLine.purchase_order_id.in_(sorted(set(po_ids))))
        .order_by(PurchaseOrderLine.purchase_order_id, PurchaseOrderLine.line_no)
        .execution_options(populate_existing=True)
    )
    for line in session.scalars(stmt):
        out.setdefault(line.purchase_order_id, []).append(line)
    return out


def set_po_status(session: Session, po_id: int, *, expected: Sequence[str], now: datetime, **values: Any) -> bool:
    result = session.execute(
        update(PurchaseOrder)
        .where(PurchaseOrder.id == po_id, PurchaseOrder.status.in_(list(expected)))
        .values(updated_at=now, **values)
        .execution_options(**NO_SYNC)
    )
    return _rowcount(result) == 1


def add_received(session: Session, line_id: int, quantity: int) -> bool:
    """``received_quantity += q`` only while it stays within the ordered quantity."""
    result = session.execute(
        update(PurchaseOrderLine)
        .where(
            PurchaseOrderLine.id == line_id,
            PurchaseOrderLine.received_quantity + quantity <= PurchaseOrderLine.quantity,
        )
        .values(received_quantity=PurchaseOrderLine.received_quantity + quantity)
        .execution_options(**NO_SYNC)
    )
    return _rowcount(result) == 1


def open_po_quantities(session: Session, dest_ids: Sequence[int]) -> dict[tuple[int, int], int]:
    """{(sku_id, dest_location_id): units ordered and not yet received} over open POs."""
    if not dest_ids:
        return {}
    stmt = (
        select(
            PurchaseOrderLine.sku_id,
            PurchaseOrder.dest_location_id,
            func.sum(PurchaseOrderLine.quantity - PurchaseOrderLine.received_quantity),
        )
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(PurchaseOrder.status.in_(OPEN_PO_STATUSES), PurchaseOrder.dest_location_id.in_(sorted(set(dest_ids))))
        .group_by(PurchaseOrderLine.sku_id, PurchaseOrder.dest_location_id)
    )
    return {(int(r[0]), int(r[1])): int(r[2]) for r in session.execute(stmt) if int(r[2]) > 0}


def receipts_of(session: Session, po_id: int) -> list[tuple[Receipt, list[ReceiptLine]]]:
    receipts = list(session.scalars(select(Receipt).where(Receipt.purchase_order_id == po_id).order_by(Receipt.id)))
    if not receipts:
        return []
    lines: dict[int, list[ReceiptLine]] = {r.id: [] for r in receipts}
    for ln in session.scalars(
        select(ReceiptLine).where(ReceiptLine.receipt_id.in_(list(lines))).order_by(ReceiptLine.id)
    ):
        lines[ln.receipt_id].append(ln)
    return [(r, lines[r.id]) for r in receipts]


def receipt_count(session: Session, po_id: int) -> int:
    return int(session.scalar(select(func.count()).where(Receipt.purchase_order_id == po_id)) or 0)


def receipts_query(*, allowed: Sequence[int] | None = None) -> Select[Any]:
    stmt = select(Receipt)
    if allowed is not None:
        stmt = stmt.where(Receipt.location_id.in_(allowed))
    return stmt


def po_numbers(session: Session, po_ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(po_ids))
    if not wanted:
        return {}
    rows = session.execute(select(PurchaseOrder.id, PurchaseOrder.number).where(PurchaseOrder.id.in_(wanted)))
    return {int(r[0]): str(r[1]) for r in rows}


# ---------------------------------------------------------------- transfer links


def links_query() -> Select[Any]:
    return select(TransferLink)


def link_by_transfer(session: Session, code: str) -> TransferLink | None:
    return session.scalar(select(TransferLink).where(TransferLink.transfer_code == code))
