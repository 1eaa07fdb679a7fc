"""What the forecasting API takes and returns. Request models forbid unknown fields; rates are
Decimal fractions (0.1234 = 12.34 %), stored as basis points."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def bp_to_rate(bp: int | None) -> Decimal | None:
    return None if bp is None else (Decimal(bp) / 10000).quantize(Decimal("0.0001"))


# ---------------------------------------------------------------- runs


class RunIn(_In):
    """Options of a forecast run started by hand; the defaults are the nightly job's."""

    horizon: int | None = Field(default=None, description="days to forecast (1-120, default 28)")
    history_days: int | None = Field(default=None, description="days of history the engine sees (default 365)")
    active_days: int | None = Field(default=None, description="pairs that sold in this many days (default 90)")
    as_of: date | None = Field(default=None, description="the last history day (default yesterday)")
    backtest_windows: int | None = None
    models: list[str] | None = Field(default=None, description="engine models (default: seasonal_naive, tsb, lgbm)")
    reconcile: str | None = Field(default=None, description="none | locations")


class RunOut(_Out):
    id: int
    status: str
    trigger: str
    first_day: date | None
    horizon_days: int
    params: dict[str, Any]
    series_count: int
    values_count: int
    models: dict[str, Any]
    backtest: dict[str, Any]
    timings: dict[str, Any]
    job_id: int | None
    error: str
    created_by: str
    started_at: datetime
    finished_at: datetime | None


class RunAccepted(BaseModel):
    job_id: int
    status_url: str


class PairTotalOut(BaseModel):
    sku_code: str
    sku_name: str
    location_code: str
    location_name: str
    units: float  # forecast over the horizon
    p10: float
    p90: float


class DayPointOut(BaseModel):
    day: date
    actual: int | None = None
    yhat: float | None = None
    p10: float | None = None
    p50: float | None = None
    p90: float | None = None


class SeriesEventOut(BaseModel):
    code: str
    name: str
    start_day: date
    end_day: date


class PairSeriesOut(BaseModel):
    """History and forecast of one SKU at one location (the console chart's data)."""

    sku_code: str
    location_code: str
    run_id: int | None
    points: list[DayPointOut]
    events: list[SeriesEventOut]


# ---------------------------------------------------------------- events


class EventIn(_In):
    code: str = Field(max_length=64)
    name_zh: str = Field(max_length=128)
    name_en: str = Field(default="", max_length=128)
    kind: str = Field(max_length=24, description="618 | double11 | double12 | spring_festival | national_day | custom")
    start_day: date
    end_day: date
    scope: str = Field(default="all", description="all | channel | category | location")
    scope_code: str = Field(default="", max_length=64)
    uplift_bp: int = Field(default=0, description="expected uplift in basis points (2500 = +25 %)")
    notes: str = Field(default="", max_length=2000)


class EventPatch(_In):
    name_zh: str | None = Field(default=None, max_length=128)
    name_en: str | None = Field(default=None, max_length=128)
    kind: str | None = Field(default=None, max_length=24)
    start_day: date | None = None
    end_day: date | None = None
    scope: str | None = None
    scope_code: str | None = Field(default=None, max_length=64)
    uplift_bp: int | None = None
    notes: str | None = Field(default=None, max_length=2000)


class EventOut(_Out):
    code: str
    name_zh: str
    name_en: str
    kind: str
    start_day: date
    end_day: date
    scope: str
    scope_code: str
    uplift_bp: int
    notes: str
    updated_by: str
    updated_at: datetime
    # Past events: units per day during the event over the 4 weeks before, minus one.
    measured_uplift: Decimal | None = None


# ---------------------------------------------------------------- accuracy


class AccuracyOut(BaseModel):
    week_start: date
    level: str
    category_code: str | None = None
    category_name: str | None = None
    location_code: str | None = None
    location_name: str | None = None
    run_id: int | None
    units_actual: int
    units_forecast: float
    wape: Decimal | None
    bias: Decimal | None
