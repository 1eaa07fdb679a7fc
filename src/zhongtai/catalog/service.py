"""The catalog's verbs and queries. Other contexts use only what this module exports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhongtai.catalog.models import Sku, Spu


@dataclass(frozen=True, slots=True)
class SkuRef:
    """What other contexts need to know about a SKU (inventory, later orders and forecasting)."""

    id: int
    code: str
    name: str
    spu_id: int
    category_id: int
    serial_tracked: bool
    unit_cost_fen: int
    sale_price_fen: int
    currency: str
    lifecycle: str


def _refs(session: Session, where: object) -> list[SkuRef]:
    rows = session.execute(
        select(
            Sku.id, Sku.code, Sku.name, Sku.spu_id, Spu.category_id, Sku.serial_tracked, Sku.unit_cost_fen,
            Sku.sale_price_fen, Sku.currency, Sku.lifecycle,
        )
        .join(Spu, Spu.id == Sku.spu_id)
        .where(where)  # type: ignore[arg-type]
    )
    return [SkuRef(*row) for row in rows]


def sku_refs_by_codes(session: Session, codes: Sequence[str]) -> dict[str, SkuRef]:
    """{code: SkuRef} for the codes that exist; callers report the missing ones."""
    if not codes:
        return {}
    return {r.code: r for r in _refs(session, Sku.code.in_(sorted(set(codes))))}


def sku_refs_by_ids(session: Session, ids: Sequence[int]) -> dict[int, SkuRef]:
    if not ids:
        return {}
    return {r.id: r for r in _refs(session, Sku.id.in_(sorted(set(ids))))}
