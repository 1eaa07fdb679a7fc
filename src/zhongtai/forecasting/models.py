"""The forecasting context's tables.

A ``ForecastRun`` is one forecast of every active SKU x location (the nightly job, a run started by
hand, or ``service.record_forecast``); its ``ForecastValue`` rows hold one day each with the mean
and the p10/p50/p90 quantiles, its ``ForecastError`` rows the measured error of 7-day forecast sums
per pair. Only the last few runs keep their values (the job prunes older ones;
the run rows stay as history). ``ForecastEvent`` rows are the promotion and event calendar (618,
Double 11, Spring Festival ...) that the forecast sees as features; ``ForecastAccuracy`` rows are
the weekly WAPE and bias of forecasts made before each week, overall, per category and per location.

Every change goes through a verb function of ``service`` / ``calendar`` / ``accuracy`` that records
the actor in the audit log.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.db import Base, BigIntPK, utcnow


class ForecastRun(Base):
    __tablename__ = "forecast_runs"
    __table_args__ = (Index("ix_forecast_runs_status", "status", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # running | succeeded | failed
    status: Mapped[str] = mapped_column(String(16), default="running")
    # nightly | manual | recorded (stored by record_forecast, e.g. an imported plan)
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
    # The first forecast day (the business day after the last history day) and the horizon.
    first_day: Mapped[date | None] = mapped_column(Date, default=None)
    horizon_days: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    series_count: Mapped[int] = mapped_column(Integer, default=0)
    values_count: Mapped[int] = mapped_column(Integer, default=0)
    # {model name: series for which it was chosen} (or {"ensemble": n}).
    models: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The engine's rolling-origin backtest: {"wape": ..., "by_model": {model: wape}}.
    backtest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Seconds per stage (history, forecast, reconcile, store) for the console and the docs.
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class ForecastValue(Base):
    """One forecast day of one SKU at one location. Demand units; floats because a forecast is an
    expectation, not a count."""

    __tablename__ = "forecast_values"
    __table_args__ = (
        # The latest run per pair, and a pair's days within a run (the chart, replenishment).
        Index("ix_forecast_values_pair", "sku_id", "location_id", "run_id"),
        CheckConstraint("p10 <= p50 AND p50 <= p90", name="quantiles_monotone"),
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    yhat: Mapped[float] = mapped_column(Float)
    p10: Mapped[float] = mapped_column(Float)
    p50: Mapped[float] = mapped_column(Float)
    p90: Mapped[float] = mapped_column(Float)


class ForecastError(Base):
    """The measured error of one pair's forecast SUM over ``block_days`` days, from the run's
    rolling-origin backtest: the root mean square of (actual - forecast) over ``blocks``
    non-overlapping blocks. Replenishment sizes safety stock from it (the daily quantiles, summed
    as independent days, understate the error of a multi-day sum). Pruned with the run's values."""

    __tablename__ = "forecast_errors"
    __table_args__ = (
        CheckConstraint("sum_rmse >= 0", name="sum_rmse_nonnegative"),
        CheckConstraint("block_days >= 1 AND blocks >= 1", name="blocks_positive"),
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True)
    block_days: Mapped[int] = mapped_column(Integer)
    sum_rmse: Mapped[float] = mapped_column(Float)
    blocks: Mapped[int] = mapped_column(Integer)


class ForecastEvent(Base):
    """A promotion or holiday on the calendar. ``scope`` narrows where it applies: ``all``, or one
    channel / category / location named by ``scope_code``."""

    __tablename__ = "forecast_events"
    __table_args__ = (
        CheckConstraint("end_day >= start_day", name="days_ordered"),
        Index("ix_forecast_events_days", "start_day", "end_day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    # 618 | double11 | double12 | spring_festival | national_day | custom
    kind: Mapped[str] = mapped_column(String(24))
    start_day: Mapped[date] = mapped_column(Date)
    end_day: Mapped[date] = mapped_column(Date)
    # all | channel | category | location
    scope: Mapped[str] = mapped_column(String(16), default="all")
    scope_code: Mapped[str] = mapped_column(String(64), default="")
    # Expected uplift of demand during the event in basis points (2500 = +25 %, -3000 = -30 %).
    uplift_bp: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[str] = mapped_column(Text, default="")
    # What demand did during a past event (units per day over the 4 weeks before, minus one), in
    # basis points; measured by the nightly job once the event has ended, reset when it is edited.
    measured_uplift_bp: Mapped[int | None] = mapped_column(Integer, default=None)
    measured_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    updated_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ForecastAccuracy(Base):
    """Forecast against actual demand for one closed week (Monday to Sunday, business days).
    ``level`` says which slice: overall (both ids None), category, or location."""

    __tablename__ = "forecast_accuracy"
    __table_args__ = (Index("ix_forecast_accuracy_week", "week_start", "level"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    week_start: Mapped[date] = mapped_column(Date)
    level: Mapped[str] = mapped_column(String(16))  # overall | category | location
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"), default=None)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"), default=None)
    # The run whose forecast was compared: the latest one that finished before the week started.
    run_id: Mapped[int | None] = mapped_column(ForeignKey("forecast_runs.id", ondelete="SET NULL"), default=None)
    units_actual: Mapped[int] = mapped_column(Integer)
    units_forecast: Mapped[float] = mapped_column(Float)
    abs_error: Mapped[float] = mapped_column(Float)
    # sum|a-f| / sum a and sum(f-a) / sum a in basis points; None when nothing sold that week.
    wape_bp: Mapped[int | None] = mapped_column(Integer, default=None)
    bias_bp: Mapped[int | None] = mapped_column(Integer, default=None)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
