"""The whole catalog in the import format (one row per SKU), so that export -> import changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.orm import Session

from zhongtai.catalog import repository as repo
from zhongtai.catalog import service
from zhongtai.catalog.attributes import format_value
from zhongtai.catalog.imports import EXTRA_COLUMNS, LINK_COLUMNS, SKU_COLUMNS, SPU_COLUMNS
from zhongtai.catalog.models import Brand, Category, Spu
from zhongtai.channels import service as channel_service
from zhongtai.money import Money

BATCH = 500


def export_columns(session: Session) -> list[str]:
    """Fixed columns, then one per SPU parameter, SKU sale attribute and channel, then the rest."""
    specs = service.attribute_specs(session).values()
    channels = sorted(c.code for c in channel_service.list_channels(session))
    return [
        *SPU_COLUMNS,
        *SKU_COLUMNS,
        *[f"param:{s.code}" for s in specs if s.level == "spu"],
        *[f"attr:{s.code}" for s in specs if s.level == "sku"],
        *[f"price:{c}" for c in channels],
        *LINK_COLUMNS,
        *EXTRA_COLUMNS,
    ]


def _yuan(fen: int, currency: str) -> str:
    return Money(fen, currency).to_yuan()


def export_rows(session: Session, *, batch_size: int = BATCH) -> Iterator[dict[str, str]]:
    """Every SKU in id order, read a batch at a time in a fixed number of queries per batch."""
    spus: dict[int, Spu] = {}
    categories: dict[int, Category] = {}
    brands: dict[int, Brand] = {}
    after = 0
    while True:
        skus = repo.skus_after(session, after, batch_size)
        if not skus:
            return
        after = skus[-1].id
        ids = [s.id for s in skus]
        spus.update(repo.spus_by_ids(session, {s.spu_id for s in skus} - spus.keys()))
        categories.update(repo.categories_by_ids(session, {p.category_id for p in spus.values()} - categories.keys()))
        wanted_brands = {p.brand_id for p in spus.values() if p.brand_id is not None} - brands.keys()
        brands.update(repo.brands_by_ids(session, wanted_brands))
        barcodes = repo.barcodes_of(session, ids)
        prices = repo.channel_prices_of(session, ids)
        links = repo.links_of(session, ids)
        linked_codes = {
            i: code
            for i, (code, _name) in repo.sku_names_by_ids(
                session, {x for by_kind in links.values() for xs in by_kind.values() for x in xs}
            ).items()
        }
        for sku in skus:
            spu = spus[sku.spu_id]
            brand = brands.get(spu.brand_id) if spu.brand_id is not None else None
            row = {
                "spu_code": spu.code,
                "spu_name": spu.name,
                "category_code": categories[spu.category_id].code,
                "brand_code": brand.code if brand else "",
                "sku_code": sku.code,
                "sku_name": sku.name,
                "list_price": _yuan(sku.list_price_fen, sku.currency),
                "sale_price": _yuan(sku.sale_price_fen, sku.currency),
                "unit_cost": _yuan(sku.unit_cost_fen, sku.currency),
                "currency": sku.currency,
                "barcodes": "|".join(barcodes[sku.id]),
                "serial_tracked": "true" if sku.serial_tracked else "false",
                "lifecycle": sku.lifecycle,
                "selling_points": "|".join(spu.selling_points),
                "tags": "|".join(sku.tags),
                "accessories": "|".join(linked_codes[i] for i in links[sku.id]["accessory"] if i in linked_codes),
                "related": "|".join(linked_codes[i] for i in links[sku.id]["related"] if i in linked_codes),
                "spu_name_en": spu.name_en,
                "sku_name_en": sku.name_en,
                "description": spu.description,
                "spu_tags": "|".join(spu.tags),
                "weight_g": "" if sku.weight_g is None else str(sku.weight_g),
            }
            row.update({f"param:{k}": format_value(v) for k, v in spu.parameters.items()})
            row.update({f"attr:{k}": format_value(v) for k, v in sku.sale_attributes.items()})
            row.update({f"price:{c}": _yuan(p, cur) for c, (p, cur) in prices[sku.id].items()})
            yield row
        for sku in skus:  # a large export should not keep every SKU in the identity map
            session.expunge(sku)
