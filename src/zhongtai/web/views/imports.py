"""Imports (catalog file, stock-count file) as background jobs, and a job's progress page."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from zhongtai import jobs
from zhongtai.auth.permissions import Perm
from zhongtai.auth.scoping import can_access_location
from zhongtai.errors import FieldProblem, ValidationFailed, not_found
from zhongtai.web.page import Console, ConsoleForm, PageContext, render

router = APIRouter(include_in_schema=False)

CATALOG_IMPORT = "catalog.import"
COUNT_IMPORT = "inventory.count_import"
ALLOWED_SUFFIXES = (".csv", ".xlsx")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
STATUSES = ("queued", "running", "succeeded", "failed")
# Columns of the per-row error report, in this order when present; any others follow.
ERROR_COLUMNS = ("row", "line", "sheet", "sku_code", "code_value", "field", "column", "code", "message", "value")


def _imports_page(ctx: PageContext, *, problems: dict[str, str] | None = None, status_code: int = 200) -> Response:
    return render(
        ctx,
        "imports/index.html",
        status_code=status_code,
        can_import_catalog=ctx.can(Perm.CATALOG_WRITE),
        can_import_counts=ctx.can(Perm.INVENTORY_WRITE),
        problems=problems or {},
    )


@router.get("/imports")
def imports(ctx: Console) -> Response:
    ctx.require(Perm.JOBS_READ)
    return _imports_page(ctx)


async def _upload(ctx: PageContext, field: str) -> tuple[bytes, str]:
    form = await ctx.request.form()
    upload = form.get(field)
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ValidationFailed("no file", errors=[FieldProblem(field, "required", ctx.t("imports.no_file"))])
    name = upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if not name.lower().endswith(ALLOWED_SUFFIXES):
        raise ValidationFailed("bad file", errors=[FieldProblem(field, "format", ctx.t("imports.bad_format"))])
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationFailed("too big", errors=[FieldProblem(field, "too_large", ctx.t("imports.too_large"))])
    if not data:
        raise ValidationFailed("empty", errors=[FieldProblem(field, "empty", ctx.t("imports.empty_file"))])
    return data, name


@router.post("/imports/catalog")
async def import_catalog(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.CATALOG_WRITE)
    try:
        data, name = await _upload(ctx, "file")
    except ValidationFailed as error:
        return _imports_page(ctx, problems={"catalog": error.errors[0].message}, status_code=422)
    job = jobs.enqueue(ctx.session, ctx.principal, CATALOG_IMPORT, {"filename": name}, input_blob=data, input_name=name)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post("/imports/counts")
async def import_count(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.INVENTORY_WRITE)
    form = await ctx.request.form()
    reason = str(form.get("reason", "")).strip()[:255]
    try:
        data, name = await _upload(ctx, "file")
    except ValidationFailed as error:
        return _imports_page(ctx, problems={"counts": error.errors[0].message}, status_code=422)
    # The file names its locations (one column); the job checks each against the uploader's
    # scope. A one-store manager's job is tagged with that store so that only they see it.
    scope = ctx.principal.store_ids if ctx.principal.is_store_scoped else None
    job = jobs.enqueue(
        ctx.session,
        ctx.principal,
        COUNT_IMPORT,
        {"file_name": name, "reason": reason or f"count import {name}"},
        input_blob=data,
        input_name=name,
        location_id=next(iter(scope)) if scope is not None and len(scope) == 1 else None,
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _error_rows(result: dict[str, Any] | None) -> tuple[list[str], list[dict[str, str]]]:
    errors = (result or {}).get("errors") or []
    rows = [e if isinstance(e, dict) else {"message": str(e)} for e in errors]
    keys: list[str] = []
    for row in rows:
        for key in row:
            if key not in keys:
                keys.append(key)
    ordered = [k for k in ERROR_COLUMNS if k in keys] + [k for k in keys if k not in ERROR_COLUMNS]
    text_rows = [{k: _cell(row.get(k)) for k in ordered} for row in rows]
    return ordered, text_rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _summary(ctx: PageContext, result: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The job's figures (created, updated, differences …) without the error list."""
    out = []
    for key, value in (result or {}).items():
        if key == "errors" or isinstance(value, list | dict):
            continue
        if isinstance(value, bool):
            out.append((key, ctx.t("common.yes") if value else ctx.t("common.no")))
        elif key.endswith("_fen") and isinstance(value, int):
            out.append((key, ctx.money(value)))
        else:
            out.append((key, f"{value:,}" if isinstance(value, int) else _cell(value)))
    return out


@router.get("/jobs/{job_id}")
def job_page(job_id: int, ctx: Console) -> Response:
    ctx.require(Perm.JOBS_READ)
    job = jobs.get_job(ctx.session, job_id)
    if ctx.principal.is_store_scoped and (
        job.created_by_user_id != ctx.principal.id
        or (job.location_id is not None and not can_access_location(ctx.principal, job.location_id))
    ):
        # Same answer as for a job that does not exist (no probing of other stores' jobs).
        raise not_found("job", job_id)
    columns, error_rows = _error_rows(job.result)
    pct = 100 if job.status == "succeeded" else (int(job.progress * 100 / job.total) if job.total else 0)
    return render(
        ctx,
        "imports/job.html",
        job=job,
        pct=min(100, pct),
        done=job.status in ("succeeded", "failed"),
        columns=columns,
        error_rows=error_rows,
        summary=_summary(ctx, job.result),
        status_labels=json.dumps({s: ctx.t(f"job.status.{s}") for s in STATUSES}, ensure_ascii=False),
    )
