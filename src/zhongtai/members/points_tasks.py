"""The points ledger's schedule and job.

* ``members.points-expiry`` (daily): what is left of lots past their expiry expires, ``BATCH`` lots
  per transaction; then members whose qualifying spend lost an order (it left the 365-day window)
  get their tier recomputed. Both are idempotent: a re-run, or a run after a missed day, catches up.
* job ``members.points-retier``: every active member's tier, ``BATCH`` members per transaction,
  after the tier table changed (``PUT /api/v1/member-tiers`` starts it).

Imported by ``members.tasks`` (and by ``members.api_points``, which starts the job).
"""

from __future__ import annotations

from typing import Any

from zhongtai.db import Database, utcnow
from zhongtai.jobs import JobContext, job_handler, schedule
from zhongtai.members import points, repository

POINTS_EXPIRY = "members.points-expiry"
RETIER_JOB = "members.points-retier"
BATCH = 500


@schedule(POINTS_EXPIRY, every_s=24 * 3600)
def expire_points(db: Database) -> dict[str, int]:
    now = utcnow()
    expired = 0
    while True:
        with db.transaction() as session:
            done = points.expire_due(session, now, limit=BATCH)
        expired += done
        if done < BATCH:
            break
    with db.transaction(write=False) as session:
        lapsing = points.members_with_lapsing_spend(session, now)
    changed = 0
    for start in range(0, len(lapsing), BATCH):
        with db.transaction() as session:
            changed += points.retier(session, lapsing[start : start + BATCH], now)
    return {"expired_lots": expired, "tiers_changed": changed}


@job_handler(RETIER_JOB)
def retier_all(ctx: JobContext) -> dict[str, Any]:
    now = utcnow()
    with ctx.db.transaction(write=False) as session:
        total = repository.active_member_count(session)
    after, seen, changed = 0, 0, 0
    while True:
        with ctx.db.transaction() as session:
            ids = points.member_ids_after(session, after, BATCH)
            if not ids:
                break
            changed += points.retier(session, ids, now, actor=ctx.actor)
        after, seen = ids[-1], seen + len(ids)
        ctx.progress(seen, max(total, seen), f"{changed} tiers changed")
    return {"members": seen, "tiers_changed": changed}
