"""All SQL of the catalog. Functions take a session and return rows; they never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from zhongtai.catalog.models import AttributeDef, Brand, Category, ChannelPrice, Sku, SkuBarcode, SkuLink, Spu

# ---------------------------------------------------------------- categories and brands


def category_by_code(session: Session, code: str) -> Category | None:
    return session.scalar(select(Category).where(Category.code == code))


def categories_by_ids(session: Session, ids: Iterable[int]) -> dict[int, Category]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {c.id: c for c in session.scalars(select(Category).where(Category.id.in_(wanted)))}


def all_categories(session: Session) -> list[Category]:
    return list(session.scalars(select(Category).order_by(Category.depth, Category.sort_order, Category.code)))


def category_ids_by_codes(session: Session, codes: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = session.execute(select(Category.code, Category.id).where(Category.code.in_(wanted)))
    return {code: id_ for code, id_ in rows}


def brand_by_code(session: Session, code: str) -> Brand | None:
    return session.scalar(select(Brand).where(Brand.code == code))


def brands_by_ids(session: Session, ids: Iterable[int]) -> dict[int, Brand]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {b.id: b for b in session.scalars(select(Brand).where(Brand.id.in_(wanted)))}


def all_brands(session: Session) -> list[Brand]:
    return list(session.scalars(select(Brand).order_by(Brand.code)))


# ---------------------------------------------------------------- attribute definitions


def attribute_def_by_code(session: Session, code: str) -> AttributeDef | None:
    return session.scalar(select(AttributeDef).where(AttributeDef.code == code))


def all_attribute_defs(session: Session, level: str | None = None) -> list[AttributeDef]:
    stmt = select(AttributeDef).order_by(AttributeDef.id)
    if level is not None:
        stmt = stmt.where(AttributeDef.level == level)
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- SPUs


def spu_by_code(session: Session, code: str) -> Spu | None:
    return session.scalar(select(Spu).where(Spu.code == code))


def spus_by_ids(session: Session, ids: Iterable[int]) -> dict[int, Spu]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {s.id: s for s in session.scalars(select(Spu).where(Spu.id.in_(wanted)))}


def spu_query(
    *,
    q: str | None = None,
    category_path: str | None = None,
    brand_id: int | None = None,
    lifecycle: str | None = None,
) -> Select[Spu]:
    stmt = select(Spu)
    if q:
        stmt = stmt.where(Spu.code.icontains(q, autoescape=True) | Spu.name.icontains(q, autoescape=True))
    if category_path is not None:
        stmt = stmt.where(Spu.category_id.in_(_subtree_ids(category_path)))
    if brand_id is not None:
        stmt = stmt.where(Spu.brand_id == brand_id)
    if lifecycle is not None:
        stmt = stmt.where(Spu.lifecycle == lifecycle)
    return stmt


# ---------------------------------------------------------------- SKUs


def sku_by_code(session: Session, code: str) -> Sku | None:
    return session.scalar(select(Sku).where(Sku.code == code))


def sku_by_barcode(session: Session, barcode: str) -> Sku | None:
    return session.scalar(
        select(Sku).join(SkuBarcode, SkuBarcode.sku_id == Sku.id).where(SkuBarcode.barcode == barcode)
    )


def skus_of_spu(session: Session, spu_id: int) -> list[Sku]:
    return list(session.scalars(select(Sku).where(Sku.spu_id == spu_id).order_by(Sku.id)))


def skus_of_spus(session: Session, spu_ids: Sequence[int]) -> list[Sku]:
    if not spu_ids:
        return []
    return list(session.scalars(select(Sku).where(Sku.spu_id.in_(sorted(set(spu_ids)))).order_by(Sku.id)))


def sku_ids_by_codes(session: Session, codes: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = session.execute(select(Sku.code, Sku.id).where(Sku.code.in_(wanted)))
    return {code: id_ for code, id_ in rows}


def sku_names_by_ids(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """{id: (code, name)}."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(Sku.id, Sku.code, Sku.name).where(Sku.id.in_(wanted)))
    return {i: (c, n) for i, c, n in rows}


def _subtree_ids(category_path: str) -> Select[int]:
    # The path of a category starts with the path of each ancestor: "/3/" is a prefix of "/3/17/".
    return select(Category.id).where(Category.path.startswith(category_path, autoescape=True))


def sku_query(
    *,
    q: str | None = None,
    category_path: str | None = None,
    brand_id: int | None = None,
    lifecycle: str | None = None,
    serial_tracked: bool | None = None,
    spu_id: int | None = None,
) -> Select[Sku]:
    stmt = select(Sku)
    if q:
        by_barcode = select(SkuBarcode.sku_id).where(SkuBarcode.barcode == q)
        stmt = stmt.where(
            Sku.code.icontains(q, autoescape=True) | Sku.name.icontains(q, autoescape=True) | Sku.id.in_(by_barcode)
        )
    if category_path is not None or brand_id is not None:
        spus = select(Spu.id)
        if category_path is not None:
            spus = spus.where(Spu.category_id.in_(_subtree_ids(category_path)))
        if brand_id is not None:
            spus = spus.where(Spu.brand_id == brand_id)
        stmt = stmt.where(Sku.spu_id.in_(spus))
    if lifecycle is not None:
        stmt = stmt.where(Sku.lifecycle == lifecycle)
    if serial_tracked is not None:
        stmt = stmt.where(Sku.serial_tracked.is_(serial_tracked))
    if spu_id is not None:
        stmt = stmt.where(Sku.spu_id == spu_id)
    return stmt


def count(session: Session, stmt: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


def skus_after(session: Session, after_id: int, limit: int) -> list[Sku]:
    """SKUs in id order, one batch at a time (export)."""
    return list(session.scalars(select(Sku).where(Sku.id > after_id).order_by(Sku.id).limit(limit)))


# ---------------------------------------------------------------- barcodes


def barcodes_of(session: Session, sku_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = list(sku_ids)
    out: dict[int, list[str]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = session.execute(
        select(SkuBarcode.sku_id, SkuBarcode.barcode)
        .where(SkuBarcode.sku_id.in_(sorted(set(ids))))
        .order_by(SkuBarcode.barcode)
    )
    for sku_id, barcode in rows:
        out[sku_id].append(barcode)
    return out


def barcode_owners(session: Session, barcodes: Iterable[str]) -> dict[str, tuple[int, str]]:
    """{barcode: (sku id, sku code)} for the barcodes already in use."""
    wanted = sorted(set(barcodes))
    if not wanted:
        return {}
    rows = session.execute(
        select(SkuBarcode.barcode, Sku.id, Sku.code)
        .join(Sku, Sku.id == SkuBarcode.sku_id)
        .where(SkuBarcode.barcode.in_(wanted))
    )
    return {b: (i, c) for b, i, c in rows}


def replace_barcodes(session: Session, sku_id: int, barcodes: Sequence[str], *, existing: bool = True) -> None:
    """``existing=False``: the SKU is new and has none yet (saves a DELETE per row in imports)."""
    if existing:
        session.execute(delete(SkuBarcode).where(SkuBarcode.sku_id == sku_id))
    session.add_all([SkuBarcode(barcode=b, sku_id=sku_id) for b in barcodes])


# ---------------------------------------------------------------- channel prices


def channel_prices_of(session: Session, sku_ids: Iterable[int]) -> dict[int, dict[str, tuple[int, str]]]:
    """{sku id: {channel code: (price fen, currency)}}."""
    ids = list(sku_ids)
    out: dict[int, dict[str, tuple[int, str]]] = {i: {} for i in ids}
    if not ids:
        return out
    rows = session.execute(
        select(ChannelPrice.sku_id, ChannelPrice.channel_code, ChannelPrice.price_fen, ChannelPrice.currency)
        .where(ChannelPrice.sku_id.in_(sorted(set(ids))))
        .order_by(ChannelPrice.channel_code)
    )
    for sku_id, channel, price, currency in rows:
        out[sku_id][channel] = (price, currency)
    return out


def replace_channel_prices(
    session: Session, sku_id: int, prices: dict[str, int], currency: str, *, existing: bool = True
) -> None:
    if existing:
        session.execute(delete(ChannelPrice).where(ChannelPrice.sku_id == sku_id))
    session.add_all(
        [ChannelPrice(sku_id=sku_id, channel_code=c, price_fen=p, currency=currency) for c, p in sorted(prices.items())]
    )


# ---------------------------------------------------------------- links


def links_of(session: Session, sku_ids: Iterable[int]) -> dict[int, dict[str, list[int]]]:
    """{sku id: {"accessory": [linked ids in display order], "related": [...]}}."""
    ids = list(sku_ids)
    out: dict[int, dict[str, list[int]]] = {i: {"accessory": [], "related": []} for i in ids}
    if not ids:
        return out
    rows = session.execute(
        select(SkuLink.sku_id, SkuLink.kind, SkuLink.linked_sku_id)
        .where(SkuLink.sku_id.in_(sorted(set(ids))))
        .order_by(SkuLink.sku_id, SkuLink.kind, SkuLink.position, SkuLink.linked_sku_id)
    )
    for sku_id, kind, linked in rows:
        out[sku_id].setdefault(kind, []).append(linked)
    return out


def replace_links(session: Session, sku_id: int, links: dict[str, list[int]], *, existing: bool = True) -> None:
    if existing:
        session.execute(delete(SkuLink).where(SkuLink.sku_id == sku_id))
    session.add_all(
        [
            SkuLink(sku_id=sku_id, linked_sku_id=linked, kind=kind, position=pos)
            for kind, linked_ids in sorted(links.items())
            for pos, linked in enumerate(linked_ids)
        ]
    )


# ---------------------------------------------------------------- analytics export (read-only)


def sku_export_rows(session: Session) -> list[tuple[Any, ...]]:
    """Every SKU with its SPU's category (and that category's id path) and brand name."""
    stmt = (
        select(
            Sku.id,
            Sku.code,
            Sku.name,
            Sku.name_en,
            Sku.spu_id,
            Spu.category_id,
            Category.path,
            Brand.name,
            Sku.list_price_fen,
            Sku.sale_price_fen,
            Sku.unit_cost_fen,
            Sku.lifecycle,
            Sku.created_at,
        )
        .join(Spu, Spu.id == Sku.spu_id)
        .join(Category, Category.id == Spu.category_id)
        .outerjoin(Brand, Brand.id == Spu.brand_id)
        .order_by(Sku.id)
    )
    return [tuple(r) for r in session.execute(stmt)]


def category_export_rows(session: Session) -> list[tuple[Any, ...]]:
    stmt = select(
        Category.id, Category.parent_id, Category.code, Category.name, Category.name_en, Category.path, Category.depth
    ).order_by(Category.id)
    return [tuple(r) for r in session.execute(stmt)]
