"""Forecasts as the rest of Zhongtai sees them.

Replenishment reads daily forecasts (with the measured error of 7-day sums) through
``demand_forecasts``; a forecast is stored through
``record_forecast`` (the nightly job, and tests of other contexts that need one in place). Both
work on the latest *succeeded* run: a run that is still writing, or failed, is never read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import allowed_location_ids
from zhongtai.catalog import service as catalog
from zhongtai.db import utcnow
from zhongtai.errors import Conflict, FieldProblem, ValidationFailed, not_found
from zhongtai.forecasting import calendar, engine
from zhongtai.forecasting import repository as repo
from zhongtai.forecasting.models import ForecastRun
from zhongtai.inventory import service as inventory
from zhongtai.jobs import Job, enqueue, has_pending
from zhongtai.orders import demand as order_demand
from zhongtai.pagination import Page, SortKey, paginate

# Runs whose values are kept; older runs keep their row (history, accuracy) but lose their values.
KEEP_RUNS = 3
# Reported problems per request: a bad frame of 100 000 rows must not produce a 100 000-line error.
_MAX_PROBLEMS = 20
_ZONE = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class DailyForecast:
    sku_id: int
    location_id: int
    days: tuple[date, ...]
    mean: tuple[float, ...]
    p10: tuple[float, ...]
    p90: tuple[float, ...]
    # The measured error (root mean square, units) of this pair's forecast SUM over
    # ``sum_error_days`` days in the run's backtest; None when the run did not measure it (a series
    # too short to backtest, a recorded plan). Replenishment sizes safety stock from it.
    sum_error_sd: float | None = None
    sum_error_days: int | None = None


@dataclass(frozen=True)
class ForecastError:
    """The measured error of one pair's forecast sums: root mean square of (actual - forecast)
    over ``blocks`` backtest blocks of ``block_days`` days."""

    sku_id: int
    location_id: int
    block_days: int
    sum_rmse: float
    blocks: int


# Days per block of the measured sum error: a week, the usual review period (the policy scales it
# to its protection interval by sqrt(P / 7)).
SUM_ERROR_DAYS = 7


@dataclass(frozen=True)
class ForecastRow:
    sku_id: int
    location_id: int
    day: date
    yhat: float
    p10: float
    p50: float
    p90: float


def demand_forecasts(
    session: Session, pairs: Sequence[tuple[int, int]] | None, first_day: date, days: int
) -> dict[tuple[int, int], DailyForecast]:
    """Daily forecasts of ``days`` days from ``first_day`` out of the latest succeeded run.

    Days the run does not cover (before its first day, past its horizon) are 0, and so is every
    day of a requested pair the run has no values for (no sales in the last 90 days, or no run at
    all): a pair asked for is always in the answer. ``pairs=None`` means every pair of the run."""
    if days <= 0:
        return {}
    calendar = tuple(first_day + timedelta(days=i) for i in range(days))
    index = {d: i for i, d in enumerate(calendar)}
    wanted = None if pairs is None else set(pairs)
    run = repo.latest_run(session)
    series: dict[tuple[int, int], tuple[list[float], list[float], list[float]]] = {}
    if wanted is not None:
        for pair in wanted:
            series[pair] = ([0.0] * days, [0.0] * days, [0.0] * days)
    if run is not None and (wanted is None or wanted):
        rows = repo.values_between(
            session,
            run.id,
            first_day,
            calendar[-1],
            sku_ids=None if wanted is None else {s for s, _ in wanted},
            location_ids=None if wanted is None else {lo for _, lo in wanted},
        )
        for sku_id, location_id, day, yhat, p10, _p50, p90 in rows:
            pair = (sku_id, location_id)
            if wanted is not None and pair not in wanted:
                continue
            mean_, low, high = series.setdefault(pair, ([0.0] * days, [0.0] * days, [0.0] * days))
            i = index[day]
            mean_[i], low[i], high[i] = yhat, p10, p90
    errors: dict[tuple[int, int], tuple[float, int]] = {}
    if run is not None and series:
        errors = repo.errors_of(
            session,
            run.id,
            sku_ids=None if wanted is None else {s for s, _ in wanted},
            location_ids=None if wanted is None else {lo for _, lo in wanted},
        )
    no_error: tuple[float | None, int | None] = (None, None)
    return {
        pair: DailyForecast(pair[0], pair[1], calendar, tuple(m), tuple(lo), tuple(hi), *errors.get(pair, no_error))
        for pair, (m, lo, hi) in sorted(series.items())
    }


def _row_problems(rows: Sequence[ForecastRow]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    seen: set[tuple[int, int, date]] = set()
    for i, r in enumerate(rows):
        where = f"rows.{i}"
        values = (r.yhat, r.p10, r.p50, r.p90)
        if not all(math.isfinite(v) for v in values):
            problems.append(FieldProblem(where, "not_finite", "yhat and the quantiles must be finite numbers"))
        elif min(values) < 0:
            problems.append(FieldProblem(where, "negative", "demand forecasts cannot be negative"))
        elif not r.p10 <= r.p50 <= r.p90:
            problems.append(FieldProblem(where, "quantiles_not_monotone", "p10 <= p50 <= p90 is required"))
        key = (r.sku_id, r.location_id, r.day)
        if key in seen:
            problems.append(FieldProblem(where, "duplicate", f"SKU {r.sku_id} at {r.location_id} on {r.day} twice"))
        seen.add(key)
        if len(problems) >= _MAX_PROBLEMS:
            break
    return problems


def _error_problems(errors: Sequence[ForecastError]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    seen: set[tuple[int, int]] = set()
    for i, e in enumerate(errors):
        where = f"errors.{i}"
        if not (math.isfinite(e.sum_rmse) and e.sum_rmse >= 0):
            problems.append(FieldProblem(where, "invalid_error", "sum_rmse must be a finite number >= 0"))
        if e.block_days < 1 or e.blocks < 1:
            problems.append(FieldProblem(where, "invalid_blocks", "block_days and blocks must be at least 1"))
        key = (e.sku_id, e.location_id)
        if key in seen:
            problems.append(FieldProblem(where, "duplicate", f"SKU {e.sku_id} at {e.location_id} twice"))
        seen.add(key)
        if len(problems) >= _MAX_PROBLEMS:
            break
    return problems


def start_run(
    session: Session,
    actor: Principal,
    *,
    trigger: str,
    params: dict[str, Any] | None = None,
    job_id: int | None = None,
) -> ForecastRun:
    """A run in state ``running`` (the nightly job opens one first, so the console shows it)."""
    run = ForecastRun(
        status="running",
        trigger=trigger,
        params=dict(params or {}),
        job_id=job_id,
        created_by=actor.name,
        started_at=utcnow(),
    )
    session.add(run)
    session.flush()
    record(
        session, actor, "forecast.run.start", "forecast_run", run.id, after={"trigger": trigger, "params": run.params}
    )
    return run


def complete_run(
    session: Session,
    actor: Principal,
    run_id: int,
    rows: Sequence[ForecastRow],
    *,
    series_count: int | None = None,
    models: dict[str, Any] | None = None,
    backtest: dict[str, Any] | None = None,
    timings: dict[str, Any] | None = None,
    errors: Sequence[ForecastError] = (),
) -> ForecastRun:
    """Stores the values (and the measured sum errors) of a running run and marks it succeeded
    (in the caller's transaction)."""
    problems = _row_problems(rows) + _error_problems(errors)
    if problems:
        raise ValidationFailed(f"{len(problems)} invalid forecast row(s)", errors=problems)
    run = repo.get_run(session, run_id)
    if run is None:
        raise not_found("forecast run", run_id)
    stored = repo.insert_values(
        session, run.id, ((r.sku_id, r.location_id, r.day, r.yhat, r.p10, r.p50, r.p90) for r in rows)
    )
    repo.insert_errors(session, run.id, ((e.sku_id, e.location_id, e.block_days, e.sum_rmse, e.blocks) for e in errors))
    run.status = "succeeded"
    run.values_count = stored
    run.series_count = series_count if series_count is not None else len({(r.sku_id, r.location_id) for r in rows})
    run.first_day = min((r.day for r in rows), default=None)
    run.horizon_days = len({r.day for r in rows})
    run.models = dict(models or {})
    run.backtest = dict(backtest or {})
    run.timings = dict(timings or {})
    run.finished_at = utcnow()
    session.flush()
    record(
        session,
        actor,
        "forecast.run.succeed",
        "forecast_run",
        run.id,
        after={
            "series": run.series_count,
            "values": stored,
            "errors": len(errors),
            "first_day": run.first_day,
            "models": run.models,
        },
    )
    return run


def fail_run(session: Session, actor: Principal, run_id: int, error: str) -> None:
    run = repo.get_run(session, run_id)
    if run is None or run.status != "running":
        return
    run.status = "failed"
    run.error = error[:4000]
    run.finished_at = utcnow()
    record(session, actor, "forecast.run.fail", "forecast_run", run.id, after={"error": run.error[:255]})


def record_forecast(
    session: Session,
    actor: Principal,
    rows: Sequence[ForecastRow],
    *,
    params: dict[str, Any] | None = None,
    errors: Sequence[ForecastError] = (),
) -> int:
    """Stores ``rows`` (and measured sum ``errors``, if any) as a new succeeded run (which becomes
    the latest) and returns its id."""
    problems = _row_problems(rows) + _error_problems(errors)
    if problems:
        raise ValidationFailed(f"{len(problems)} invalid forecast row(s)", errors=problems)
    run = start_run(session, actor, trigger="recorded", params=params)
    return complete_run(session, actor, run.id, rows, errors=errors).id


def prune_values(session: Session, actor: Principal, keep: int = KEEP_RUNS) -> list[int]:
    """Drops the values and measured errors of every run but the ``keep`` newest that have values;
    returns the pruned run ids. The run rows stay (history, accuracy)."""
    with_values = repo.runs_with_values(session)
    old = with_values[keep:]
    if old:
        repo.delete_values(session, old)
        repo.delete_errors(session, old)
        for run_id in old:
            record(session, actor, "forecast.run.prune", "forecast_run", run_id, after={"values": "deleted"})
    return old


def visible_location_ids(principal: Principal) -> frozenset[int] | None:
    """The locations whose forecasts the principal may read (None: all)."""
    return allowed_location_ids(principal)


# ---------------------------------------------------------------- the forecast of every active pair


@dataclass(frozen=True)
class RunOptions:
    """What the nightly forecast does (the job's params, the API's body)."""

    horizon: int = 28
    # Days of history the engine sees (a year: weekly and festival patterns, and LightGBM's lags).
    history_days: int = 365
    # Pairs forecast: those with any sale in this many days before the cutoff. The others get no
    # values at all, which ``demand_forecasts`` reads as zero.
    active_days: int = 90
    # The last history day (business day); None: yesterday in Asia/Shanghai.
    as_of: date | None = None
    # ETS is left out by default: on the demo it takes minutes per fit of 2 800 daily series.
    models: tuple[str, ...] = ("seasonal_naive", "tsb", "lgbm")
    backtest_windows: int = 1
    # "none" | "locations" (SKU x location -> location -> region -> total, MinTrace OLS).
    reconcile: str = "locations"
    n_jobs: int = 1

    def as_params(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon,
            "history_days": self.history_days,
            "active_days": self.active_days,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "models": list(self.models),
            "backtest_windows": self.backtest_windows,
            "reconcile": self.reconcile,
            "n_jobs": self.n_jobs,
        }


RECONCILE_MODES = ("none", "locations")


def options_problems(params: dict[str, Any], prefix: str = "body") -> list[FieldProblem]:
    p: list[FieldProblem] = []
    for name, low, high in (("horizon", 1, 120), ("history_days", 28, 1100), ("active_days", 7, 730), ("n_jobs", 1, 8)):
        value = params.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            p.append(FieldProblem(f"{prefix}.{name}", "out_of_range", f"an integer from {low} to {high}"))
    bw = params.get("backtest_windows")
    if bw is not None and (isinstance(bw, bool) or not isinstance(bw, int) or not 0 <= bw <= 4):
        p.append(FieldProblem(f"{prefix}.backtest_windows", "out_of_range", "an integer from 0 to 4"))
    models = params.get("models")
    if models is not None and (
        not isinstance(models, list | tuple) or not models or any(m not in engine.KNOWN_MODELS for m in models)
    ):
        p.append(FieldProblem(f"{prefix}.models", "unknown_model", f"some of {', '.join(engine.KNOWN_MODELS)}"))
    if params.get("reconcile") is not None and params["reconcile"] not in RECONCILE_MODES:
        p.append(FieldProblem(f"{prefix}.reconcile", "unknown_mode", f"one of {', '.join(RECONCILE_MODES)}"))
    as_of = params.get("as_of")
    if as_of is not None:
        try:
            date.fromisoformat(str(as_of))
        except ValueError:
            p.append(FieldProblem(f"{prefix}.as_of", "invalid_date", "a day as YYYY-MM-DD"))
    return p


def options_from_params(params: dict[str, Any]) -> RunOptions:
    problems = options_problems(params, prefix="params")
    if problems:
        raise ValidationFailed(f"{len(problems)} invalid forecast option(s)", errors=problems)
    defaults = RunOptions()
    as_of = params.get("as_of")
    return RunOptions(
        horizon=int(params.get("horizon") or defaults.horizon),
        history_days=int(params.get("history_days") or defaults.history_days),
        active_days=int(params.get("active_days") or defaults.active_days),
        as_of=date.fromisoformat(str(as_of)) if as_of else None,
        models=tuple(params.get("models") or defaults.models),
        backtest_windows=int(params.get("backtest_windows", defaults.backtest_windows)),
        reconcile=str(params.get("reconcile") or defaults.reconcile),
        n_jobs=int(params.get("n_jobs") or defaults.n_jobs),
    )


@dataclass(frozen=True)
class HistoryFrames:
    """The engine's input: one dense daily row per active pair from its first sale in the window
    to the cutoff (days without sales are 0), event features, and the same features for the
    horizon; ``pairs`` maps unique_id to ids and hierarchy levels."""

    history: pl.DataFrame  # unique_id, ds, y, event_on, days_to_event, event_uplift
    future: pl.DataFrame  # unique_id, ds, event_on, days_to_event, event_uplift
    pairs: pl.DataFrame  # unique_id, sku_id, location_id, location, region, sku, category
    first_day: date  # the first forecast day


EXOG = ("event_on", "days_to_event", "event_uplift")


def pair_id(sku_id: int, location_id: int) -> str:
    return f"{sku_id}:{location_id}"


def build_frames(session: Session, options: RunOptions, cutoff: date) -> HistoryFrames:
    """Reads the order history, the calendar, the SKUs' categories and the locations, and builds
    the engine's frames (everything as frames: no loop over series)."""
    first = cutoff - timedelta(days=options.history_days - 1)
    demand = order_demand.daily_demand(session, first, cutoff, by_channel=True)
    active_since = cutoff - timedelta(days=options.active_days - 1)
    active = demand.filter(pl.col("day") >= active_since, pl.col("units") > 0).select("sku_id", "location_id").unique()
    demand = demand.join(active, on=["sku_id", "location_id"], how="semi")
    first_forecast = cutoff + timedelta(days=1)
    horizon_end = cutoff + timedelta(days=options.horizon)
    empty = pl.DataFrame(schema={"unique_id": pl.Utf8, "ds": pl.Date})
    if active.is_empty():
        pairs = pl.DataFrame(
            schema={
                "unique_id": pl.Utf8,
                "sku_id": pl.Int64,
                "location_id": pl.Int64,
                "location": pl.Utf8,
                "region": pl.Utf8,
                "sku": pl.Utf8,
                "category": pl.Utf8,
            }
        )
        hist = empty.with_columns(pl.lit(0.0).alias("y"))
        return HistoryFrames(_with_exog_empty(hist), _with_exog_empty(empty), pairs, first_forecast)
    skus = catalog.sku_refs_by_ids(session, active["sku_id"].unique().to_list())
    categories = catalog.categories_by_id(session)
    locations = inventory.locations_by_ids(session, active["location_id"].unique().to_list())
    per_sku = pl.DataFrame(
        {
            "sku_id": list(skus),
            "sku": [r.code for r in skus.values()],
            "category": [categories[r.category_id].code if r.category_id in categories else "" for r in skus.values()],
            "category_codes": [
                [categories[i].code for i in categories[r.category_id].path_ids if i in categories]
                if r.category_id in categories
                else []
                for r in skus.values()
            ],
        },
        schema={"sku_id": pl.Int64, "sku": pl.Utf8, "category": pl.Utf8, "category_codes": pl.List(pl.Utf8)},
    )
    per_location = pl.DataFrame(
        {
            "location_id": list(locations),
            "location": [lo.code for lo in locations.values()],
            "region": [lo.region or "-" for lo in locations.values()],
        },
        schema={"location_id": pl.Int64, "location": pl.Utf8, "region": pl.Utf8},
    )
    channels_of = demand.group_by("sku_id", "location_id").agg(pl.col("channel_code").unique().alias("channel_codes"))
    pairs = (
        active.join(per_sku, on="sku_id")
        .join(per_location, on="location_id")
        .join(channels_of, on=["sku_id", "location_id"], how="left")
        .with_columns((pl.col("sku_id").cast(pl.Utf8) + ":" + pl.col("location_id").cast(pl.Utf8)).alias("unique_id"))
        .sort("unique_id")
    )
    daily = (
        demand.group_by("sku_id", "location_id", "day")
        .agg(pl.col("units").sum().cast(pl.Float64).alias("y"))
        .join(pairs.select("sku_id", "location_id", "unique_id"), on=["sku_id", "location_id"])
    )
    # Dense grid to the cutoff: every series ends on the same day, so every forecast starts the
    # day after it (the engine forecasts past each series' own last date). It starts at the SKU's
    # first sale anywhere in the window (its launch, as far as the history knows), not the pair's:
    # a pair that sold once last week has a year of zeros before it, not a one-day history.
    first_sale = daily.group_by("sku_id").agg(pl.col("day").min().alias("start"))
    starts = pairs.select("unique_id", "sku_id").join(first_sale, on="sku_id").select("unique_id", "start")
    grid = (
        starts.with_columns(pl.date_ranges("start", pl.lit(cutoff)).alias("ds")).explode("ds").select("unique_id", "ds")
    )
    history = grid.join(
        daily.select("unique_id", pl.col("day").alias("ds"), "y"), on=["unique_id", "ds"], how="left"
    ).with_columns(pl.col("y").fill_null(0.0))
    future = (
        pairs.select("unique_id")
        .with_columns(pl.date_ranges(pl.lit(first_forecast), pl.lit(horizon_end)).alias("ds"))
        .explode("ds")
    )
    events = calendar.events_between(session, first, horizon_end)
    attributes = pairs.select(
        "unique_id",
        "category_codes",
        pl.col("location").alias("location_code"),
        pl.col("channel_codes").fill_null([]),
    )
    features = calendar.event_features(pl.concat([history.select("unique_id", "ds"), future]), attributes, events)
    history = history.join(features, on=["unique_id", "ds"], how="left").sort("unique_id", "ds")
    future = future.join(features, on=["unique_id", "ds"], how="left").sort("unique_id", "ds")
    return HistoryFrames(
        history,
        future,
        pairs.select("unique_id", "sku_id", "location_id", "location", "region", "sku", "category"),
        first_forecast,
    )


def _with_exog_empty(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(0, pl.Int8).alias("event_on"),
        pl.lit(0, pl.Int16).alias("days_to_event"),
        pl.lit(0.0).alias("event_uplift"),
    )


def forecast_errors(
    residuals: pl.DataFrame, pairs: pl.DataFrame, block_days: int = SUM_ERROR_DAYS
) -> list[ForecastError]:
    """The measured error of ``block_days``-day forecast sums per pair (``engine.sum_errors`` over
    the engine's backtest residuals), for the pairs that were backtested."""
    measured = engine.sum_errors(residuals, block_days).join(
        pairs.select("unique_id", "sku_id", "location_id"), on="unique_id"
    )
    return [
        ForecastError(int(s), int(lo), block_days, round(float(e), 3), int(n))
        for s, lo, e, n in measured.select("sku_id", "location_id", "sum_rmse", "blocks").iter_rows()
    ]


def forecast_rows(forecasts: pl.DataFrame, pairs: pl.DataFrame) -> list[ForecastRow]:
    """The engine's bottom-level forecasts as rows: non-negative, quantiles made monotone around
    the mean-independent p50, rounded to 3 decimals (units; more precision is noise)."""
    frame = (
        forecasts.join(pairs.select("unique_id", "sku_id", "location_id"), on="unique_id")
        .with_columns(
            pl.col("ds").cast(pl.Date),
            pl.max_horizontal(pl.col("yhat"), pl.lit(0.0)).round(3).alias("yhat"),
            pl.max_horizontal(pl.col("yhat_p10"), pl.lit(0.0)).alias("p10"),
            pl.max_horizontal(pl.col("yhat_p50"), pl.lit(0.0)).alias("p50"),
            pl.max_horizontal(pl.col("yhat_p90"), pl.lit(0.0)).alias("p90"),
        )
        .with_columns(
            pl.min_horizontal("p10", "p50", "p90").round(3).alias("p10"),
            pl.max_horizontal("p10", "p90", "p50").round(3).alias("p90"),
            pl.col("p50").round(3),
        )
        .with_columns(pl.col("p50").clip(pl.col("p10"), pl.col("p90")))
    )
    return [
        ForecastRow(int(s), int(lo), d, float(y), float(a), float(b), float(c))
        for s, lo, d, y, a, b, c in frame.select("sku_id", "location_id", "ds", "yhat", "p10", "p50", "p90").iter_rows()
    ]


# ---------------------------------------------------------------- reads for the API and the console


def get_run(session: Session, run_id: int) -> ForecastRun:
    run = repo.get_run(session, run_id)
    if run is None:
        raise not_found("forecast run", run_id)
    return run


def latest_run(session: Session, *, any_status: bool = False) -> ForecastRun | None:
    return repo.latest_run(session, status=None if any_status else "succeeded")


def list_runs(session: Session, *, cursor: str | None, limit: int) -> Page[ForecastRun]:
    return paginate(session, repo.runs_stmt(), [SortKey(ForecastRun.id, descending=True)], cursor=cursor, limit=limit)


@dataclass(frozen=True, slots=True)
class PairTotal:
    sku_id: int
    sku_code: str
    sku_name: str
    location_id: int
    location_code: str
    location_name: str
    units: float
    p10: float
    p90: float


def top_pairs(
    session: Session, principal: Principal, *, run_id: int | None = None, offset: int = 0, limit: int = 20
) -> tuple[list[PairTotal], int]:
    """Pairs of a run (the latest succeeded one by default) by forecast volume over the horizon,
    among the locations the principal may see."""
    run = repo.get_run(session, run_id) if run_id is not None else repo.latest_run(session)
    if run is None:
        return [], 0
    rows, total = repo.pair_totals(
        session, run.id, location_ids=allowed_location_ids(principal), offset=offset, limit=limit
    )
    skus = catalog.sku_refs_by_ids(session, [r[0] for r in rows])
    locations = inventory.locations_by_ids(session, [r[1] for r in rows])
    out = []
    for sku_id, location_id, units, p10, p90 in rows:
        sku, loc = skus.get(sku_id), locations.get(location_id)
        out.append(
            PairTotal(
                sku_id,
                sku.code if sku else str(sku_id),
                sku.name if sku else "",
                location_id,
                loc.code if loc else str(location_id),
                loc.name if loc else "",
                round(units, 1),
                round(p10, 1),
                round(p90, 1),
            )
        )
    return out, total


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: date
    actual: int | None
    yhat: float | None
    p10: float | None
    p50: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class PairSeries:
    sku_code: str
    sku_name: str
    location_code: str
    location_name: str
    run_id: int | None
    first_forecast_day: date | None
    points: list[DayPoint]
    events: list[calendar.EventSpan]
    event_names: dict[str, tuple[str, str]]  # code -> (name_zh, name_en)


def pair_series(
    session: Session,
    principal: Principal,
    sku_code: str,
    location_code: str,
    *,
    history_days: int = 90,
    today: date | None = None,
) -> PairSeries:
    """The last ``history_days`` of actual demand and the latest run's forecast of one SKU at one
    location, with the events that apply to it. Another store's pair is "not found" for a store
    role (the scoping helper)."""
    sku = catalog.sku_refs_by_codes(session, [sku_code]).get(sku_code)
    if sku is None:
        raise not_found("SKU", sku_code)
    loc = inventory.get_location(session, principal, location_code)
    last_actual = today or (utcnow().astimezone(_ZONE).date() - timedelta(days=1))
    first = last_actual - timedelta(days=history_days - 1)
    demand = order_demand.daily_demand(session, first, last_actual, sku_ids=[sku.id], location_ids=[loc.id])
    actual = {d: int(u) for d, u in demand.select("day", "units").iter_rows()}
    run = repo.latest_run(session)
    forecast: dict[date, tuple[float, float, float, float]] = {}
    if run is not None and run.first_day is not None:
        last_day = run.first_day + timedelta(days=max(run.horizon_days, 1) - 1)
        for _s, _l, day, yhat, p10, p50, p90 in repo.values_between(
            session, run.id, run.first_day, last_day, sku_ids=[sku.id], location_ids=[loc.id]
        ):
            forecast[day] = (yhat, p10, p50, p90)
    last = max([last_actual, *forecast])
    points = []
    day = first
    while day <= last:
        f = forecast.get(day)
        points.append(
            DayPoint(
                day,
                actual.get(day, 0) if day <= last_actual else None,
                f[0] if f else None,
                f[1] if f else None,
                f[2] if f else None,
                f[3] if f else None,
            )
        )
        day += timedelta(days=1)
    categories = catalog.categories_by_id(session)
    path_codes = (
        {categories[i].code for i in categories[sku.category_id].path_ids} if sku.category_id in categories else set()
    )
    events, names = [], {}
    for e in repo.list_events(session, overlapping=(first, last))[0]:
        applies = (
            e.scope in ("all", "channel")
            or (e.scope == "location" and e.scope_code == loc.code)
            or (e.scope == "category" and e.scope_code in path_codes)
        )
        if applies:
            events.append(calendar.span_of(e))
            names[e.code] = (e.name_zh, e.name_en or e.name_zh)
    return PairSeries(
        sku.code,
        sku.name,
        loc.code,
        loc.name,
        run.id if run else None,
        run.first_day if run else None,
        points,
        events,
        names,
    )


JOB_KIND = "forecasting.nightly"
BACKFILL_JOB_KIND = "forecasting.backfill"
# A run still "running" after this long died with its process; it no longer blocks a new one.
_STALE_RUN = timedelta(hours=3)


def start_forecast_job(session: Session, actor: Principal, params: dict[str, Any]) -> Job:
    """Queues a forecast run (the nightly job's work, now) after checking its options."""
    clean = {k: v.isoformat() if isinstance(v, date) else v for k, v in params.items() if v is not None}
    problems = options_problems(clean)
    if problems:
        raise ValidationFailed(f"{len(problems)} invalid forecast option(s)", errors=problems)
    running = repo.running_run(session)
    if running is not None and running.started_at > utcnow() - _STALE_RUN:
        raise Conflict(f"forecast run {running.id} is still running", extra={"run_id": running.id})
    return enqueue(session, actor, JOB_KIND, clean)


def nightly_due(session: Session, now: datetime | None = None) -> bool:
    """Whether today's forecast (the business day in Asia/Shanghai) is still to be made: none has
    succeeded or is running since local midnight, and no forecast job is waiting."""
    local_day = (now or utcnow()).astimezone(_ZONE).date()
    since = datetime.combine(local_day, time.min, _ZONE).astimezone(UTC)
    return not (has_pending(session, JOB_KIND) or repo.forecast_run_since(session, since))


def start_backfill_job(session: Session, actor: Principal, weeks: int = 6, *, today: date | None = None) -> Job:
    """Queues forecasts "as of" each of the last ``weeks`` closed weeks before ``today`` (default:
    the day the job runs; see ``tasks.backfill_job``)."""
    if not 1 <= weeks <= 26:
        raise ValidationFailed("1 invalid field(s)", errors=[FieldProblem("weeks", "out_of_range", "1 to 26 weeks")])
    params: dict[str, Any] = {"weeks": weeks} | ({"today": today.isoformat()} if today else {})
    return enqueue(session, actor, BACKFILL_JOB_KIND, params)
