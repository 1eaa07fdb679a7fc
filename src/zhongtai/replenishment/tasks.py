"""Replenishment's jobs and named schedules.

* ``replenishment.suggest`` (job; also the schedule of the same name, which enqueues it as the
  system as soon as a forecast run has succeeded after the last suggestion run, and at least
  daily): one suggestion run with a progress bar (see ``service.run_suggestions``).
* ``replenishment.rebalance`` (job; weekly schedule): rebalancing transfer suggestions.

A run reads the latest succeeded forecast, so running late is harmless and running twice only
supersedes the first run's proposals. A job's run is opened in its own short transaction first so the console shows it
as running; the work happens in a second transaction that commits all of it or none of it (a
failure marks the run failed in a third).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from zhongtai import jobs
from zhongtai.auth.principal import Principal
from zhongtai.db import Database, utcnow
from zhongtai.forecasting import service as forecasting_service
from zhongtai.jobs import JobContext, job_handler, schedule
from zhongtai.replenishment import service

SUGGEST = "replenishment.suggest"
REBALANCE = "replenishment.rebalance"
DAY_S = 86_400
SUGGEST_CHECK_S = 120
SYSTEM = Principal.system("replenishment")


def _run(ctx: JobContext, kind: str) -> dict[str, Any]:
    with ctx.db.transaction() as session:
        run_id = service.start_run(session, ctx.actor, kind=kind, job_id=ctx.job_id).id
    ctx.progress(0, 4, "starting", force=True)
    work = service.run_suggestions if kind == "suggest" else service.run_rebalance
    # SQLite has one writer: the run's transaction holds it, so progress (its own short write
    # transaction) could only wait for the run. There the bar moves before and after the run.
    progress = service.no_progress if ctx.db.is_sqlite else ctx.progress
    try:
        with ctx.db.transaction() as session:
            result = work(session, ctx.actor, run_id=run_id, progress=progress)
    except Exception as exc:
        with ctx.db.transaction() as session:
            service.fail_run(session, ctx.actor, run_id, str(exc) or type(exc).__name__)
        raise
    return {"run_id": result.run_id, **result.counts}


@job_handler(SUGGEST)
def suggest_job(ctx: JobContext) -> dict[str, Any]:
    return _run(ctx, "suggest")


@job_handler(REBALANCE)
def rebalance_job(ctx: JobContext) -> dict[str, Any]:
    return _run(ctx, "rebalance")


def enqueue_if_due(db: Database, kind: str, every_s: float) -> int | None:
    """Enqueues a run unless one started within the period (every process's worker fires the
    schedule once at start-up; a restart must not pile up runs). Returns the job id."""
    with db.transaction() as session:
        last = service.latest_run(session, kind)
        if (
            last is not None
            and last.status != "failed"
            and utcnow() - last.started_at < timedelta(seconds=every_s * 0.8)
        ):
            return None
        return jobs.enqueue(session, SYSTEM, SUGGEST if kind == "suggest" else REBALANCE).id


def enqueue_after_forecast(db: Database) -> int | None:
    """The closed loop's trigger: a suggestion run as soon as a forecast run has succeeded after
    the last suggestion run started (and at least daily, should no forecast come). A run still in
    progress is left alone."""
    with db.transaction() as session:
        last = service.latest_run(session, "suggest")
        forecast = forecasting_service.latest_run(session)
        if (last is not None and last.status == "running") or jobs.has_pending(session, SUGGEST):
            return None
        fresh_forecast = (
            forecast is not None
            and forecast.finished_at is not None
            and (last is None or forecast.finished_at > last.started_at)
        )
        stale = last is None or last.status == "failed" or utcnow() - last.started_at >= timedelta(seconds=DAY_S)
        if not (fresh_forecast or stale):
            return None
        return jobs.enqueue(session, SYSTEM, SUGGEST).id


# Checked every few minutes; it enqueues work only after a new forecast (or once a day).
@schedule(SUGGEST, every_s=SUGGEST_CHECK_S)
def suggest_after_forecast(db: Database) -> int | None:
    return enqueue_after_forecast(db)


@schedule(REBALANCE, every_s=7 * DAY_S)
def weekly_rebalance(db: Database) -> int | None:
    return enqueue_if_due(db, "rebalance", 7 * DAY_S)
