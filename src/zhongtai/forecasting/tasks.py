"""The forecasting context's job and named schedule.

* ``forecasting.nightly`` (daily schedule, and the job of the same kind started from the console or
  ``POST /api/v1/forecasts/runs``): forecasts the next 28 days of every SKU x location that sold in
  the last 90 days, reconciles along the location hierarchy, stores the run with the measured error
  of 7-day forecast sums per pair, scores the weeks that
  have closed since, and prunes the values of old runs.

The heavy part (the engine) runs outside any transaction: the run row is committed first as
``running`` (the console shows it), the values are written in one transaction at the end, and a
failure marks the run failed in its own transaction. Re-running is safe: every run is a new row and
only the latest succeeded one is read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from zhongtai.auth.principal import Principal
from zhongtai.db import Database
from zhongtai.forecasting import accuracy, calendar, engine, service
from zhongtai.jobs import JobContext, enqueue, job_handler, schedule

NIGHTLY = service.JOB_KIND
BACKFILL = service.BACKFILL_JOB_KIND
TZ = "Asia/Shanghai"
log = logging.getLogger("zhongtai.forecasting")

Progress = Callable[[int, int, str], None]
# Progress is reported in steps of a fixed scale: load 10, engine 70, reconcile 10, store 10.
_SCALE = 100


# SKU x location -> location -> region -> total. Every level names the columns above it, so
# the levels nest (the engine's reconcile wants the bottom level to hold every column; it adds
# the "total" level itself).
HIERARCHY = [
    ["total"],
    ["region"],
    ["region", "location"],
    ["region", "location", "sku"],
]


def _reconcile(
    frames: service.HistoryFrames, forecasts: pl.DataFrame, mode: str, config: engine.ForecastConfig
) -> tuple[pl.DataFrame, str]:
    """Bottom-level forecasts made coherent with the location hierarchy: the engine forecasts the
    location, region and total series itself and MinTrace (OLS, hierarchicalforecast) reconciles
    them with the SKU x location forecasts. The SKU -> category path is a second, crossing
    hierarchy; it is not reconciled (see docs/forecasting.md)."""
    if mode == "none" or forecasts.is_empty():
        return forecasts, "none"
    levels = frames.pairs.select("unique_id", "region", "location", "sku").with_columns(pl.lit("all").alias("total"))
    hist = frames.history.select("unique_id", "ds", "y").join(levels, on="unique_id").drop("unique_id")
    fc = forecasts.join(levels, on="unique_id").drop("unique_id")
    upper = replace(config, exog=(), backtest_windows=min(config.backtest_windows, 1))
    reconciled = engine.reconcile(fc, hist, HIERARCHY, method="mint_ols", config=upper)
    bottom = (
        reconciled.filter(pl.col("level") == "/".join(HIERARCHY[-1]))
        .drop("unique_id")
        .join(levels.select("unique_id", "region", "location", "sku"), on=["region", "location", "sku"])
    )
    if bottom.height != forecasts.height:
        log.warning(
            "reconciliation returned %s bottom rows for %s; kept the base forecast", bottom.height, forecasts.height
        )
        return forecasts, "skipped"
    return bottom.select(forecasts.columns), "mint_ols"


def _today() -> date:
    return datetime.now(ZoneInfo(TZ)).date()


def run_forecast(
    db: Database,
    actor: Principal,
    options: service.RunOptions,
    *,
    trigger: str,
    job_id: int | None = None,
    progress: Progress | None = None,
    rescore: bool = False,
) -> dict[str, Any]:
    """One forecast of every active pair, end to end; returns the run's summary. ``rescore``
    scores closed weeks again even when they have rows (the backfill replaces earlier scores)."""
    report = progress or (lambda _d, _t, _m: None)
    cutoff = options.as_of or _today() - timedelta(days=1)
    with db.transaction() as session:
        run_id = service.start_run(session, actor, trigger=trigger, params=options.as_params(), job_id=job_id).id
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        report(0, _SCALE, "history")
        with db.transaction(write=False) as session:
            frames = service.build_frames(session, options, cutoff)
        timings["history_s"] = round(time.perf_counter() - started, 2)
        series = frames.pairs.height
        report(10, _SCALE, f"forecast {series} series")
        rows: list[service.ForecastRow] = []
        errors: list[service.ForecastError] = []
        models: dict[str, Any] = {}
        backtest: dict[str, Any] = {}
        reconciled = "none"
        if series:
            stage = time.perf_counter()
            config = engine.ForecastConfig(
                freq="D",
                horizon=options.horizon,
                models=options.models,
                exog=service.EXOG,
                backtest_windows=options.backtest_windows,
                n_jobs=options.n_jobs,
            )

            def engine_progress(stage_name: str, done: int, total: int) -> None:
                report(10 + int(70 * done / max(total, 1)), _SCALE, f"{stage_name} ({series} series)")

            fallback = ""
            try:
                result = engine.forecast(frames.history, config, future=frames.future, progress=engine_progress)
            except Exception as exc:
                # The global LightGBM is the one model that can fail on a feature it did not
                # expect; a night without a forecast is worse than one without it.
                if "lgbm" not in config.models or len(config.models) == 1:
                    raise
                log.exception("forecast with LightGBM failed; retrying with the statistical models")
                fallback = f"{type(exc).__name__}: {exc}"[:300]
                config = replace(config, models=tuple(m for m in config.models if m != "lgbm"))
                result = engine.forecast(frames.history, config, future=frames.future, progress=engine_progress)
            timings["forecast_s"] = round(time.perf_counter() - stage, 2)
            models = {str(k): int(v) for k, v in result.chosen.group_by("model").len().iter_rows()}
            backtest = {
                "fallback": fallback,
                "by_model": {
                    str(r["model"]): round(float(r["wape"]), 4)
                    for r in result.backtest.iter_rows(named=True)
                    if r.get("wape") is not None
                },
            }
            report(80, _SCALE, "reconcile")
            stage = time.perf_counter()
            forecasts, reconciled = _reconcile(frames, result.forecasts, options.reconcile, config)
            timings["reconcile_s"] = round(time.perf_counter() - stage, 2)
            rows = service.forecast_rows(forecasts, frames.pairs)
            # The error of 7-day forecast sums measured on the backtest (of the base forecast;
            # reconciliation moves the values a little, not the size of the error): replenishment's
            # safety stock comes from it rather than from the daily quantiles summed as if the days
            # were independent, which understate it (docs/replenishment.md).
            errors = service.forecast_errors(result.residuals, frames.pairs)
        report(90, _SCALE, f"store {len(rows)} values")
        stage = time.perf_counter()
        with db.transaction() as session:
            service.complete_run(
                session,
                actor,
                run_id,
                rows,
                series_count=series,
                models=models,
                backtest=backtest | {"reconcile": reconciled},
                timings=timings,
                errors=errors,
            )
        with db.transaction() as session:
            weeks = accuracy.compute_closed_weeks(session, actor, cutoff + timedelta(days=1), recompute=rescore)
            calendar.measure_events(session, actor, cutoff + timedelta(days=1))
            service.prune_values(session, actor)
        timings["store_s"] = round(time.perf_counter() - stage, 2)
        with db.transaction() as session:
            run = service.get_run(session, run_id)
            run.timings = timings | {"total_s": round(time.perf_counter() - started, 2)}
        report(_SCALE, _SCALE, "done")
    except Exception as exc:
        with db.transaction() as session:
            service.fail_run(session, actor, run_id, f"{type(exc).__name__}: {exc}")
        raise
    return {
        "run_id": run_id,
        "series": series,
        "values": len(rows),
        "errors": len(errors),
        "first_day": frames.first_day.isoformat(),
        "reconcile": reconciled,
        "weeks_scored": [w.isoformat() for w in weeks],
        "timings": timings,
    }


@job_handler(BACKFILL)
def backfill_job(ctx: JobContext) -> dict[str, Any]:
    """Forecasts as they would have been made before each of the last ``weeks`` closed weeks
    (cheap models, a week's horizon), so that a new installation (or the demo) has weekly
    accuracy at once. The runs are marked ``backfill``; run the nightly forecast after it."""
    weeks = int(ctx.params.get("weeks") or 6)
    today = date.fromisoformat(str(ctx.params["today"])) if ctx.params.get("today") else _today()
    mondays = accuracy.closed_weeks(today, max(1, min(weeks, 26)))
    cheap = service.RunOptions(horizon=7, models=("seasonal_naive", "tsb"), backtest_windows=0, reconcile="none")
    runs = []
    for i, monday in enumerate(mondays):

        def step(done: int, total: int, message: str, i: int = i, monday: date = monday) -> None:
            ctx.progress(i * 100 + done, len(mondays) * 100, f"{monday.isoformat()}: {message}")

        options = replace(cheap, as_of=monday - timedelta(days=1))
        runs.append(
            run_forecast(ctx.db, ctx.actor, options, trigger="backfill", job_id=ctx.job_id, progress=step, rescore=True)
        )
    with ctx.db.transaction() as session:
        scored = accuracy.compute_closed_weeks(session, ctx.actor, today, weeks=len(mondays), recompute=True)
    return {"runs": [r["run_id"] for r in runs], "weeks_scored": len(scored)}


@job_handler(NIGHTLY)
def nightly_job(ctx: JobContext) -> dict[str, Any]:
    options = service.options_from_params(ctx.params)
    trigger = "nightly" if ctx.actor.kind == "system" else "manual"
    return run_forecast(
        ctx.db,
        ctx.actor,
        options,
        trigger=trigger,
        job_id=ctx.job_id,
        progress=lambda done, total, message: ctx.progress(done, total, message),
    )


# Looked at every half hour; it queues the forecast once per business day (the first look after
# midnight in Asia/Shanghai, or at start-up when today has none), as a job with progress, so a
# restart does not forecast again and the worker stays free for other jobs in between.
@schedule(NIGHTLY, every_s=1800)
def nightly(db: Database) -> int | None:
    with db.transaction() as session:
        if not service.nightly_due(session):
            return None
        return enqueue(session, Principal.system(NIGHTLY), NIGHTLY).id
