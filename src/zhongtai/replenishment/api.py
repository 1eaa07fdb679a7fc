"""Replenishment's HTTP API under /api/v1/replenishment. Thin: parse, call one service function.

Reads need ``planning:read`` (store roles see their stores' suggestions, POs and transfers);
every change needs ``planning:write``. Retries are safe with an Idempotency-Key (middleware).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from zhongtai import jobs
from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.http import DbSession, Paging, require
from zhongtai.pagination import PageOut
from zhongtai.replenishment import service
from zhongtai.replenishment.schemas import (
    BulkIn,
    BulkOut,
    POFromSuggestionsIn,
    POIn,
    PolicyIn,
    PolicyOut,
    POOut,
    POStatus,
    POSummaryOut,
    QuantityIn,
    ReasonIn,
    ReceiptOut,
    ReceiveIn,
    RunOut,
    RunStartOut,
    SuggestionKind,
    SuggestionOut,
    SuggestionStatus,
    SupplierTermsIn,
    SupplierTermsOut,
    TransferLinkOut,
)
from zhongtai.replenishment.tasks import REBALANCE, SUGGEST

router = APIRouter(prefix="/replenishment", tags=["replenishment"])

Read = Annotated[Principal, Depends(require(Perm.PLANNING_READ))]
Write = Annotated[Principal, Depends(require(Perm.PLANNING_WRITE))]
LocCode = Annotated[str | None, Query(max_length=32)]


# ---------------------------------------------------------------- runs


@router.post("/runs", response_model=RunStartOut, status_code=202)
def start_run(
    session: DbSession, actor: Write, kind: Annotated[str, Query(pattern="^(suggest|rebalance)$")] = "suggest"
) -> RunStartOut:
    """Starts a suggestion (or rebalancing) run as a job; poll ``/api/v1/jobs/{job_id}``."""
    job = jobs.enqueue(session, actor, SUGGEST if kind == "suggest" else REBALANCE)
    return RunStartOut(job_id=job.id, kind=kind)


@router.get("/runs", response_model=PageOut[RunOut])
def list_runs(session: DbSession, _: Read, paging: Paging) -> PageOut[RunOut]:
    page = service.list_runs(session, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: int, session: DbSession, _: Read) -> RunOut:
    return service.get_run(session, run_id)


# ---------------------------------------------------------------- suggestions


@router.get("/suggestions", response_model=PageOut[SuggestionOut])
def list_suggestions(
    session: DbSession,
    principal: Read,
    paging: Paging,
    status: SuggestionStatus | None = None,
    kind: SuggestionKind | None = None,
    location: LocCode = None,
    source: LocCode = None,
    run_id: int | None = None,
) -> PageOut[SuggestionOut]:
    page = service.list_suggestions(
        session,
        principal,
        status=status,
        kind=kind,
        location_code=location,
        source_code=source,
        run_id=run_id,
        cursor=paging.cursor,
        limit=paging.limit,
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.get("/suggestions/{suggestion_id}", response_model=SuggestionOut)
def get_suggestion(suggestion_id: int, session: DbSession, principal: Read) -> SuggestionOut:
    return service.get_suggestion(session, principal, suggestion_id)


@router.post("/suggestions/{suggestion_id}/approve", response_model=SuggestionOut)
def approve_suggestion(suggestion_id: int, session: DbSession, actor: Write) -> SuggestionOut:
    return service.approve_suggestion(session, actor, suggestion_id)


@router.post("/suggestions/{suggestion_id}/quantity", response_model=SuggestionOut)
def edit_suggestion(suggestion_id: int, body: QuantityIn, session: DbSession, actor: Write) -> SuggestionOut:
    return service.edit_suggestion(session, actor, suggestion_id, body.quantity)


@router.post("/suggestions/{suggestion_id}/reject", response_model=SuggestionOut)
def reject_suggestion(suggestion_id: int, body: ReasonIn, session: DbSession, actor: Write) -> SuggestionOut:
    return service.reject_suggestion(session, actor, suggestion_id, body.reason)


@router.post("/suggestions/approve", response_model=BulkOut)
def bulk_approve(body: BulkIn, session: DbSession, actor: Write) -> BulkOut:
    return service.bulk_approve(session, actor, body.ids)


# ---------------------------------------------------------------- purchase orders


@router.get("/purchase-orders", response_model=PageOut[POSummaryOut])
def list_purchase_orders(
    session: DbSession,
    principal: Read,
    paging: Paging,
    status: POStatus | None = None,
    supplier: LocCode = None,
    location: LocCode = None,
) -> PageOut[POSummaryOut]:
    page = service.list_purchase_orders(
        session,
        principal,
        status=status,
        supplier_code=supplier,
        location_code=location,
        cursor=paging.cursor,
        limit=paging.limit,
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.post("/purchase-orders", response_model=POOut, status_code=201)
def create_purchase_order(body: POIn, session: DbSession, actor: Write) -> POOut:
    return service.create_purchase_order(session, actor, body)


@router.post("/purchase-orders/from-suggestions", response_model=list[POSummaryOut], status_code=201)
def create_from_suggestions(body: POFromSuggestionsIn, session: DbSession, actor: Write) -> list[POSummaryOut]:
    return service.create_purchase_orders(session, actor, body)


@router.get("/purchase-orders/{number}", response_model=POOut)
def get_purchase_order(number: str, session: DbSession, principal: Read) -> POOut:
    return service.get_purchase_order(session, principal, number)


@router.post("/purchase-orders/{number}/approve", response_model=POOut)
def approve_purchase_order(number: str, session: DbSession, actor: Write) -> POOut:
    return service.approve_purchase_order(session, actor, number)


@router.post("/purchase-orders/{number}/send", response_model=POOut)
def send_purchase_order(number: str, session: DbSession, actor: Write) -> POOut:
    return service.send_purchase_order(session, actor, number)


@router.post("/purchase-orders/{number}/cancel", response_model=POOut)
def cancel_purchase_order(number: str, body: ReasonIn, session: DbSession, actor: Write) -> POOut:
    return service.cancel_purchase_order(session, actor, number, body.reason)


@router.post("/purchase-orders/{number}/receive", response_model=POOut)
def receive_purchase_order(number: str, body: ReceiveIn, session: DbSession, actor: Write) -> POOut:
    """Goods in (full or partial): stock goes up at the PO's destination; over-receipt is a 422
    naming every line."""
    return service.receive_purchase_order(session, actor, number, body)


@router.get("/receipts", response_model=PageOut[ReceiptOut])
def list_receipts(session: DbSession, principal: Read, paging: Paging) -> PageOut[ReceiptOut]:
    page = service.list_receipts(session, principal, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


# ---------------------------------------------------------------- transfers


@router.get("/transfers", response_model=PageOut[TransferLinkOut])
def list_transfers(
    session: DbSession,
    principal: Read,
    paging: Paging,
    kind: Annotated[str | None, Query(pattern="^(replenishment|allocation|rebalance)$")] = None,
) -> PageOut[TransferLinkOut]:
    page = service.list_transfer_links(session, principal, kind=kind, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


# ---------------------------------------------------------------- policies and supplier terms


@router.get("/policies", response_model=PageOut[PolicyOut])
def list_policies(
    session: DbSession,
    principal: Read,
    paging: Paging,
    location: LocCode = None,
    location_type: Annotated[str | None, Query(max_length=16)] = None,
) -> PageOut[PolicyOut]:
    page = service.list_policies(
        session,
        principal,
        location_code=location,
        location_type=location_type,
        cursor=paging.cursor,
        limit=paging.limit,
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.put("/policies", response_model=PolicyOut)
def set_policy(body: PolicyIn, session: DbSession, actor: Write) -> PolicyOut:
    return service.set_policy(session, actor, body)


@router.delete("/policies/{policy_id}", status_code=204)
def delete_policy(policy_id: int, session: DbSession, actor: Write) -> Response:
    service.delete_policy(session, actor, policy_id)
    return Response(status_code=204)


@router.get("/supplier-terms", response_model=PageOut[SupplierTermsOut])
def list_supplier_terms(
    session: DbSession,
    _: Read,
    paging: Paging,
    supplier: LocCode = None,
    sku: Annotated[str | None, Query(max_length=64)] = None,
) -> PageOut[SupplierTermsOut]:
    page = service.list_supplier_terms(
        session, supplier_code=supplier, sku_code=sku, cursor=paging.cursor, limit=paging.limit
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.put("/supplier-terms", response_model=SupplierTermsOut)
def set_supplier_terms(body: SupplierTermsIn, session: DbSession, actor: Write) -> SupplierTermsOut:
    return service.set_supplier_terms(session, actor, body)


@router.delete("/supplier-terms/{terms_id}", status_code=204)
def delete_supplier_terms(terms_id: int, session: DbSession, actor: Write) -> Response:
    service.delete_supplier_terms(session, actor, terms_id)
    return Response(status_code=204)
