"""Forecast accuracy, week by week.

When a week (Monday to Sunday, business days in Asia/Shanghai) has closed, the forecast that was on
hand before it began (the latest run whose history ended before that Monday) is compared with what
was actually ordered, per SKU x location, then summed overall, per category (the SKU's own
category) and per location:

* WAPE = sum|a - f| / sum a  (the error in units per unit sold; 0 is perfect),
* bias = sum(f - a) / sum a  (positive: the forecast was too high).

The absolute errors are summed per pair *before* aggregating, so over- and under-forecasts of two
SKUs do not cancel in WAPE (they do in bias, which is its point). Pairs that sold without a
forecast count with a forecast of 0; pairs forecast without sales count with an actual of 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import allowed_location_ids
from zhongtai.catalog import service as catalog
from zhongtai.forecasting import repository as repo
from zhongtai.forecasting.models import ForecastAccuracy
from zhongtai.inventory import service as inventory
from zhongtai.orders import demand as order_demand

LEVELS = ("overall", "category", "location")


@dataclass(frozen=True, slots=True)
class Score:
    units_actual: int
    units_forecast: float
    abs_error: float
    wape_bp: int | None
    bias_bp: int | None


def _bp(numerator: float, denominator: int) -> int | None:
    if denominator <= 0:
        return None
    return int((Decimal(str(numerator)) / denominator * 10000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def score(actual: Sequence[int], forecast: Sequence[float]) -> Score:
    """WAPE and bias of paired actuals and forecasts (pure; the unit tests' reference)."""
    a = sum(actual)
    f = sum(forecast)
    err = sum(abs(x - y) for x, y in zip(actual, forecast, strict=True))
    return Score(a, f, err, _bp(err, a), _bp(f - a, a))


def week_of(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def pair_errors(actual: pl.DataFrame, forecast: pl.DataFrame) -> pl.DataFrame:
    """(sku_id, location_id, actual, forecast, abs_error) over the union of both sides' pairs;
    ``actual`` has (sku_id, location_id, units), ``forecast`` (sku_id, location_id, yhat)."""
    keys = ["sku_id", "location_id"]
    a = actual.group_by(keys).agg(pl.col("units").sum().cast(pl.Int64).alias("actual"))
    f = forecast.group_by(keys).agg(pl.col("yhat").sum().cast(pl.Float64).alias("forecast"))
    joined = a.join(f, on=keys, how="full", coalesce=True).with_columns(
        pl.col("actual").fill_null(0), pl.col("forecast").fill_null(0.0)
    )
    return joined.with_columns((pl.col("actual") - pl.col("forecast")).abs().alias("abs_error"))


def _scores(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    aggs = [pl.col("actual").sum(), pl.col("forecast").sum(), pl.col("abs_error").sum()]
    return frame.group_by(by).agg(aggs) if by else frame.select(aggs)


def compute_week(session: Session, actor: Principal, week_start: date, *, tz: str = "Asia/Shanghai") -> int:
    """Scores the week starting ``week_start`` (a Monday) and replaces its rows; returns how many
    rows were written (0 when no forecast was on hand before the week)."""
    week_start = week_of(week_start)
    run = repo.run_for_week(session, week_start)
    if run is None:
        return 0
    last = week_start + timedelta(days=6)
    actual = order_demand.daily_demand(session, week_start, last, tz=tz)
    forecast = pl.DataFrame(
        repo.run_totals_by_pair(session, run.id, week_start, last),
        schema={"sku_id": pl.Int64, "location_id": pl.Int64, "yhat": pl.Float64},
        orient="row",
    )
    errors = pair_errors(actual, forecast)
    refs = catalog.sku_refs_by_ids(session, errors["sku_id"].to_list())
    errors = errors.join(
        pl.DataFrame(
            {"sku_id": list(refs), "category_id": [r.category_id for r in refs.values()]},
            schema={"sku_id": pl.Int64, "category_id": pl.Int64},
        ),
        on="sku_id",
        how="left",
    )
    rows: list[ForecastAccuracy] = []

    def add(level: str, frame: pl.DataFrame, column: str | None) -> None:
        for r in frame.iter_rows(named=True):
            a, f, e = int(r["actual"] or 0), float(r["forecast"] or 0.0), float(r["abs_error"] or 0.0)
            rows.append(
                ForecastAccuracy(
                    week_start=week_start,
                    level=level,
                    category_id=r[column] if column == "category_id" else None,
                    location_id=r[column] if column == "location_id" else None,
                    run_id=run.id,
                    units_actual=a,
                    units_forecast=round(f, 3),
                    abs_error=round(e, 3),
                    wape_bp=_bp(e, a),
                    bias_bp=_bp(f - a, a),
                )
            )

    if errors.height:
        add("overall", _scores(errors, []), None)
        add("category", _scores(errors.filter(pl.col("category_id").is_not_null()), ["category_id"]), "category_id")
        add("location", _scores(errors, ["location_id"]), "location_id")
    repo.replace_accuracy(session, week_start, rows)
    overall = rows[0] if rows else None
    record(
        session,
        actor,
        "forecast.accuracy.compute",
        "forecast_week",
        week_start.isoformat(),
        after={
            "run_id": run.id,
            "rows": len(rows),
            "wape_bp": overall.wape_bp if overall else None,
            "bias_bp": overall.bias_bp if overall else None,
        },
    )
    return len(rows)


def closed_weeks(today: date, weeks: int) -> list[date]:
    """The Mondays of the last ``weeks`` weeks that have ended before ``today``, oldest first."""
    this_monday = week_of(today)
    return [this_monday - timedelta(weeks=i) for i in range(weeks, 0, -1)]


def compute_closed_weeks(
    session: Session, actor: Principal, today: date, *, weeks: int = 8, recompute: bool = False
) -> list[date]:
    """Scores every closed week of the last ``weeks`` not scored yet (or all with ``recompute``);
    returns the weeks written."""
    done = repo.accuracy_weeks(session)
    written = []
    for monday in closed_weeks(today, weeks):
        if monday in done and not recompute:
            continue
        if compute_week(session, actor, monday):
            written.append(monday)
    return written


@dataclass(frozen=True, slots=True)
class AccuracyRow:
    week_start: date
    level: str
    key_code: str | None  # the category or location code (None overall)
    key_name: str | None
    key_name_en: str | None
    run_id: int | None
    units_actual: int
    units_forecast: float
    wape_bp: int | None
    bias_bp: int | None


def report(
    session: Session,
    principal: Principal,
    *,
    level: str = "overall",
    weeks: int = 12,
    today: date | None = None,
    tz: str = "Asia/Shanghai",
) -> list[AccuracyRow]:
    """The scored weeks of the last ``weeks`` at one level, oldest first. Store roles see only the
    location rows of their stores (overall and category figures mix other stores' sales)."""
    scope = allowed_location_ids(principal)
    if scope is not None and level != "location":
        return []
    last = week_of(today or datetime.now(ZoneInfo(tz)).date())
    rows = repo.accuracy_rows(
        session,
        level=level,
        first_week=last - timedelta(weeks=weeks),
        last_week=last,
        location_ids=scope if level == "location" else None,
    )
    names: dict[int, tuple[str, str, str]] = {}
    if level == "category":
        names = {i: (c.code, c.name, c.name_en or c.name) for i, c in catalog.categories_by_id(session).items()}
    elif level == "location":
        ids = sorted({r.location_id for r in rows if r.location_id is not None})
        names = {
            i: (lo.code, lo.name, lo.name_en or lo.name) for i, lo in inventory.locations_by_ids(session, ids).items()
        }
    out = []
    for r in rows:
        key = r.category_id if level == "category" else r.location_id
        code, name, name_en = names.get(key, (None, None, None)) if key is not None else (None, None, None)
        out.append(
            AccuracyRow(
                r.week_start,
                r.level,
                code,
                name,
                name_en,
                r.run_id,
                r.units_actual,
                r.units_forecast,
                r.wape_bp,
                r.bias_bp,
            )
        )
    return out
