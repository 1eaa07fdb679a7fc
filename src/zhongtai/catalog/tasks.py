"""Job handlers and named schedules of this context."""

from __future__ import annotations

from typing import Any

from zhongtai.auth.permissions import Perm
from zhongtai.catalog.imports import CatalogImporter
from zhongtai.catalog.spreadsheet import parse_file
from zhongtai.jobs import JobContext, job_handler

CHUNK_ROWS = 200


@job_handler("catalog.import")
def run_catalog_import(ctx: JobContext) -> dict[str, Any]:
    """Imports an uploaded CSV/XLSX as the person who uploaded it.

    Commits every ``CHUNK_ROWS`` rows in its own transaction: a large file holds no lock for
    long, and progress is visible. Re-running the job is safe: rows upsert by code, and a row
    that is already as the file says changes nothing.
    """
    ctx.actor.require(Perm.CATALOG_WRITE)
    parsed = parse_file(ctx.input_bytes(), str(ctx.params.get("filename") or "upload.csv"))
    importer = CatalogImporter(ctx.actor, parsed.rows, parsed.row_numbers)
    total = len(parsed.rows)
    ctx.progress(0, total, "reading", force=True)
    with ctx.db.transaction(write=False) as session:
        importer.prepare(session)
    for start in range(0, total, CHUNK_ROWS):
        with ctx.db.transaction() as session:
            importer.apply_rows(session, start, start + CHUNK_ROWS)
        done = min(start + CHUNK_ROWS, total)
        ctx.progress(done, total, f"{done}/{total} rows")
    pending = len(importer.pending_links)
    for start in range(0, pending, CHUNK_ROWS):
        with ctx.db.transaction() as session:
            importer.apply_links(session, start, start + CHUNK_ROWS)
    ctx.progress(total, total, "done", force=True)
    return importer.report.as_result()
