"""Inventory's job handlers and named schedules.

* ``inventory.count_import`` (job): applies an uploaded count file, one transaction per location,
  reporting progress and every bad row; good rows are applied even when others are bad. Counts are
  absolute, so re-running the job changes nothing the second time.
* ``inventory.reservation-expiry`` (every 30 s): releases reservations whose time is up.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from zhongtai.auth.scoping import can_access_location
from zhongtai.db import Database
from zhongtai.errors import DomainError
from zhongtai.inventory import service
from zhongtai.inventory.counts import UnreadableFile, parse_count_file
from zhongtai.inventory.schemas import CountRowError
from zhongtai.jobs import JobContext, job_handler, schedule

COUNT_IMPORT = "inventory.count_import"
RESERVATION_EXPIRY = "inventory.reservation-expiry"


@job_handler(COUNT_IMPORT)
def import_counts(ctx: JobContext) -> dict[str, Any]:
    name = str(ctx.params.get("file_name") or "counts.csv")
    reason = str(ctx.params.get("reason") or f"count import {name}")
    try:
        parsed = parse_count_file(name, ctx.input_bytes())
    except UnreadableFile as exc:
        raise DomainError(str(exc)) from exc
    errors: list[CountRowError] = list(parsed.errors)
    by_location: dict[str, list[service.CountRow]] = defaultdict(list)
    for r in parsed.rows:
        by_location[r.location_code].append(service.CountRow(r.row, r.sku_code, r.counted))
    with ctx.db.transaction(write=False) as session:
        ids = service.location_ids_by_codes(session, list(by_location))
    total = len(parsed.rows)
    done = applied = differences = value = 0
    counts = []
    ctx.progress(0, total, "counting", force=True)
    for code in sorted(by_location):
        rows = by_location[code]
        loc_id = ids.get(code)
        if loc_id is None or not can_access_location(ctx.actor, loc_id):
            errors += [
                CountRowError(
                    row=r.row, field="location_code", code="unknown_location", message=f"no location {code!r}"
                )
                for r in rows
            ]
        else:
            with ctx.db.transaction() as session:
                location = service.get_location(session, ctx.actor, code)
                out, row_errors = service.apply_count_rows(
                    session, ctx.actor, location=location, rows=rows, reason=reason, job_id=ctx.job_id
                )
            errors += row_errors
            counts.append(out)
            applied += out.lines
            differences += out.differences
            value += out.value_delta_fen
        done += len(rows)
        ctx.progress(done, total, f"{code}: {len(rows)} row(s)")
    errors.sort(key=lambda e: e.row)
    ctx.progress(total, total, "done", force=True)
    return {
        "rows": total + len({e.row for e in parsed.errors}),
        "applied": applied,
        "differences": differences,
        "value_delta_fen": value,
        "counts": [c.model_dump(mode="json") for c in counts],
        "errors": [e.model_dump() for e in errors],
    }


@schedule(RESERVATION_EXPIRY, every_s=30)
def expire_due_reservations(db: Database) -> int:
    return service.expire_reservations(db)
