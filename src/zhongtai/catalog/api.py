"""The catalog API (商品中心). The request owns the transaction; services raise domain errors."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.responses import StreamingResponse

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.catalog import service
from zhongtai.catalog.export import export_columns, export_rows
from zhongtai.catalog.schemas import (
    AttributeDefIn,
    AttributeDefOut,
    AttributeLevel,
    BarcodeIn,
    BrandIn,
    BrandOut,
    CategoryIn,
    CategoryNode,
    ChannelPriceIn,
    ImportAccepted,
    Lifecycle,
    LifecycleIn,
    SkuDetailOut,
    SkuIn,
    SkuLinksIn,
    SkuPatch,
    SkuSummaryOut,
    SpuDetailOut,
    SpuIn,
    SpuOut,
    SpuPatch,
)
from zhongtai.catalog.spreadsheet import csv_chunks, file_format, write_xlsx
from zhongtai.db import utcnow
from zhongtai.errors import invalid
from zhongtai.http import DbSession, Paging, get_db, require
from zhongtai.jobs import enqueue
from zhongtai.pagination import PageOut

router = APIRouter(tags=["catalog"])

Read = Annotated[Principal, Depends(require(Perm.CATALOG_READ))]
Write = Annotated[Principal, Depends(require(Perm.CATALOG_WRITE))]
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ---------------------------------------------------------------- categories, brands, attributes


@router.get("/categories", response_model=list[CategoryNode])
def get_categories(session: DbSession, _: Read) -> list[CategoryNode]:
    return service.category_tree(session)


@router.post("/categories", response_model=CategoryNode, status_code=201)
def post_category(body: CategoryIn, session: DbSession, actor: Write) -> CategoryNode:
    c = service.create_category(
        session,
        actor,
        code=body.code,
        name=body.name,
        name_en=body.name_en,
        parent_code=body.parent_code,
        sort_order=body.sort_order,
    )
    return CategoryNode(code=c.code, name=c.name, name_en=c.name_en, depth=c.depth, sort_order=c.sort_order)


@router.get("/brands", response_model=list[BrandOut])
def get_brands(session: DbSession, _: Read) -> list[BrandOut]:
    return service.list_brands(session)


@router.post("/brands", response_model=BrandOut, status_code=201)
def post_brand(body: BrandIn, session: DbSession, actor: Write) -> BrandOut:
    return BrandOut.model_validate(
        service.create_brand(session, actor, code=body.code, name=body.name, name_en=body.name_en)
    )


@router.get("/attributes", response_model=list[AttributeDefOut])
def get_attributes(session: DbSession, _: Read, level: AttributeLevel | None = None) -> list[AttributeDefOut]:
    return service.list_attribute_defs(session, level.value if level else None)


@router.post("/attributes", response_model=AttributeDefOut, status_code=201)
def post_attribute(body: AttributeDefIn, session: DbSession, actor: Write) -> AttributeDefOut:
    attr = service.define_attribute(
        session,
        actor,
        code=body.code,
        name=body.name,
        name_en=body.name_en,
        kind=body.kind.value,
        level=body.level.value,
        unit=body.unit,
        options=body.options,
    )
    return AttributeDefOut.model_validate(attr)


# ---------------------------------------------------------------- SPUs


@router.get("/spus", response_model=PageOut[SpuOut])
def get_spus(
    session: DbSession,
    _: Read,
    paging: Paging,
    q: Annotated[str | None, Query(max_length=128)] = None,
    category: Annotated[str | None, Query(max_length=64, description="includes sub-categories")] = None,
    brand: Annotated[str | None, Query(max_length=64)] = None,
    lifecycle: Lifecycle | None = None,
) -> PageOut[SpuOut]:
    page = service.list_spus(
        session,
        q=q,
        category_code=category,
        brand_code=brand,
        lifecycle=lifecycle.value if lifecycle else None,
        cursor=paging.cursor,
        limit=paging.limit,
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.post("/spus", response_model=SpuDetailOut, status_code=201)
def post_spu(body: SpuIn, session: DbSession, actor: Write) -> SpuDetailOut:
    service.create_spu(
        session,
        actor,
        code=body.code,
        name=body.name,
        name_en=body.name_en,
        category_code=body.category_code,
        brand_code=body.brand_code,
        description=body.description,
        selling_points=body.selling_points,
        parameters=body.parameters,
        tags=body.tags,
    )
    return service.get_spu_detail(session, body.code)


@router.get("/spus/{code}", response_model=SpuDetailOut)
def get_spu(code: str, session: DbSession, _: Read) -> SpuDetailOut:
    return service.get_spu_detail(session, code)


@router.patch("/spus/{code}", response_model=SpuDetailOut)
def patch_spu(code: str, body: SpuPatch, session: DbSession, actor: Write) -> SpuDetailOut:
    service.update_spu(session, actor, code, service.cast_spu_changes(body.model_dump(exclude_unset=True)))
    return service.get_spu_detail(session, code)


@router.post("/spus/{code}/lifecycle", response_model=SpuDetailOut)
def post_spu_lifecycle(code: str, body: LifecycleIn, session: DbSession, actor: Write) -> SpuDetailOut:
    service.change_spu_lifecycle(session, actor, code, body.lifecycle.value)
    return service.get_spu_detail(session, code)


# ---------------------------------------------------------------- SKUs


@router.get("/skus", response_model=PageOut[SkuSummaryOut])
def get_skus(
    session: DbSession,
    _: Read,
    paging: Paging,
    q: Annotated[str | None, Query(max_length=128, description="part of code or name, or a barcode")] = None,
    category: Annotated[str | None, Query(max_length=64, description="includes sub-categories")] = None,
    brand: Annotated[str | None, Query(max_length=64)] = None,
    lifecycle: Lifecycle | None = None,
    serial_tracked: bool | None = None,
) -> PageOut[SkuSummaryOut]:
    page = service.list_skus(
        session,
        q=q,
        category_code=category,
        brand_code=brand,
        lifecycle=lifecycle.value if lifecycle else None,
        serial_tracked=serial_tracked,
        cursor=paging.cursor,
        limit=paging.limit,
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.post("/skus", response_model=SkuDetailOut, status_code=201)
def post_sku(body: SkuIn, session: DbSession, actor: Write) -> SkuDetailOut:
    data = body.model_dump()
    data["lifecycle"] = body.lifecycle.value
    service.create_sku(session, actor, **data)
    return service.get_sku_detail(session, body.code)


@router.get("/skus/by-barcode/{barcode}", response_model=SkuDetailOut)
def get_sku_by_barcode(barcode: str, session: DbSession, _: Read) -> SkuDetailOut:
    return service.get_sku_by_barcode(session, barcode)


@router.get("/skus/{code}", response_model=SkuDetailOut)
def get_sku(code: str, session: DbSession, _: Read) -> SkuDetailOut:
    return service.get_sku_detail(session, code)


@router.patch("/skus/{code}", response_model=SkuDetailOut)
def patch_sku(code: str, body: SkuPatch, session: DbSession, actor: Write) -> SkuDetailOut:
    changes = body.model_dump(exclude_unset=True)
    if body.lifecycle is not None:
        changes["lifecycle"] = body.lifecycle.value
    service.update_sku(session, actor, code, service.cast_sku_changes(changes))
    return service.get_sku_detail(session, code)


@router.post("/skus/{code}/lifecycle", response_model=SkuDetailOut)
def post_sku_lifecycle(code: str, body: LifecycleIn, session: DbSession, actor: Write) -> SkuDetailOut:
    service.change_lifecycle(session, actor, code, body.lifecycle.value)
    return service.get_sku_detail(session, code)


@router.put("/skus/{code}/channel-prices/{channel_code}", response_model=SkuDetailOut)
def put_channel_price(
    code: str, channel_code: str, body: ChannelPriceIn, session: DbSession, actor: Write
) -> SkuDetailOut:
    service.set_channel_price(session, actor, code, channel_code, body.price_fen, body.currency)
    return service.get_sku_detail(session, code)


@router.delete("/skus/{code}/channel-prices/{channel_code}", response_model=SkuDetailOut)
def delete_channel_price(code: str, channel_code: str, session: DbSession, actor: Write) -> SkuDetailOut:
    service.remove_channel_price(session, actor, code, channel_code)
    return service.get_sku_detail(session, code)


@router.put("/skus/{code}/links", response_model=SkuDetailOut)
def put_links(code: str, body: SkuLinksIn, session: DbSession, actor: Write) -> SkuDetailOut:
    service.set_sku_links(session, actor, code, accessories=body.accessories, related=body.related)
    return service.get_sku_detail(session, code)


@router.post("/skus/{code}/barcodes", response_model=SkuDetailOut, status_code=201)
def post_barcode(code: str, body: BarcodeIn, session: DbSession, actor: Write) -> SkuDetailOut:
    service.add_barcode(session, actor, code, body.barcode)
    return service.get_sku_detail(session, code)


@router.delete("/skus/{code}/barcodes/{barcode}", response_model=SkuDetailOut)
def delete_barcode(code: str, barcode: str, session: DbSession, actor: Write) -> SkuDetailOut:
    service.remove_barcode(session, actor, code, barcode)
    return service.get_sku_detail(session, code)


# ---------------------------------------------------------------- import and export


@router.post("/catalog/imports", response_model=ImportAccepted, status_code=202)
def post_import(file: UploadFile, session: DbSession, actor: Write) -> ImportAccepted:
    """Queues a CSV/XLSX import; poll ``status_url`` for progress and the per-row report."""
    filename = file.filename or ""
    fmt = file_format(filename)
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    if not data:
        raise invalid(("body.file", "empty_file", "the file is empty"))
    if len(data) > MAX_UPLOAD_BYTES:
        raise invalid(("body.file", "too_large", f"at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"))
    if fmt == "xlsx" and not data.startswith(b"PK\x03\x04"):
        raise invalid(("body.file", "unreadable_file", "not a valid .xlsx workbook"))
    job = enqueue(
        session,
        actor,
        "catalog.import",
        {"filename": filename, "format": fmt},
        input_blob=data,
        input_name=filename[:255],
    )
    return ImportAccepted(job_id=job.id, status_url=f"/api/v1/jobs/{job.id}")


@router.get("/catalog/export")
def get_export(
    request: Request, session: DbSession, _: Read, format: Literal["csv", "xlsx"] = "csv"
) -> StreamingResponse:
    """The whole catalog in the import format, streamed."""
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    headers = {"Content-Disposition": f'attachment; filename="catalog-{stamp}.{format}"'}
    if format == "xlsx":
        # openpyxl needs a seekable file; past 8 MB it spills to disk instead of memory.
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
        write_xlsx(export_columns(session), export_rows(session), spool)
        spool.seek(0)

        def chunks() -> Iterator[bytes]:
            with spool:
                while block := spool.read(64 * 1024):
                    yield block

        return StreamingResponse(chunks(), media_type=XLSX_TYPE, headers=headers)
    columns = export_columns(session)
    db = get_db(request)

    def csv_stream() -> Iterator[bytes]:
        # The request's session is closed once this returns; the stream reads with its own.
        with db.transaction(write=False) as stream_session:
            yield from csv_chunks(columns, export_rows(stream_session))

    return StreamingResponse(csv_stream(), media_type="text/csv; charset=utf-8", headers=headers)
