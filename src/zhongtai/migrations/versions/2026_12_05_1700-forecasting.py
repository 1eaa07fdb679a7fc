"""Forecasting: forecast runs and values per SKU x location and day, measured sum errors, the event calendar,
weekly accuracy.

Revision ID: a1f0c2e5d7b1
Revises: 0639f5e1127e
Create Date: 2026-12-05 17:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import zhongtai.db

revision: str = "a1f0c2e5d7b1"
down_revision: str | None = "0639f5e1127e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "forecast_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=128), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("start_day", sa.Date(), nullable=False),
        sa.Column("end_day", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_code", sa.String(length=64), nullable=False),
        sa.Column("uplift_bp", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("measured_uplift_bp", sa.Integer(), nullable=True),
        sa.Column("measured_at", zhongtai.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", zhongtai.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", zhongtai.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("end_day >= start_day", name=op.f("ck_forecast_events_days_ordered")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_events")),
        sa.UniqueConstraint("code", name=op.f("uq_forecast_events_code")),
    )
    op.create_index("ix_forecast_events_days", "forecast_events", ["start_day", "end_day"], unique=False)

    op.create_table(
        "forecast_runs",
        sa.Column("id", _BIGINT_PK, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=True),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("series_count", sa.Integer(), nullable=False),
        sa.Column("values_count", sa.Integer(), nullable=False),
        sa.Column("models", _json(), nullable=False),
        sa.Column("backtest", _json(), nullable=False),
        sa.Column("timings", _json(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("started_at", zhongtai.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", zhongtai.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_runs")),
    )
    op.create_index("ix_forecast_runs_status", "forecast_runs", ["status", "id"], unique=False)

    op.create_table(
        "forecast_accuracy",
        sa.Column("id", _BIGINT_PK, nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("run_id", _BIGINT_PK, nullable=True),
        sa.Column("units_actual", sa.Integer(), nullable=False),
        sa.Column("units_forecast", sa.Float(), nullable=False),
        sa.Column("abs_error", sa.Float(), nullable=False),
        sa.Column("wape_bp", sa.Integer(), nullable=True),
        sa.Column("bias_bp", sa.Integer(), nullable=True),
        sa.Column("computed_at", zhongtai.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_forecast_accuracy_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_forecast_accuracy_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["forecast_runs.id"],
            name=op.f("fk_forecast_accuracy_run_id_forecast_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_accuracy")),
    )
    op.create_index("ix_forecast_accuracy_week", "forecast_accuracy", ["week_start", "level"], unique=False)

    op.create_table(
        "forecast_values",
        sa.Column("run_id", _BIGINT_PK, nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("yhat", sa.Float(), nullable=False),
        sa.Column("p10", sa.Float(), nullable=False),
        sa.Column("p50", sa.Float(), nullable=False),
        sa.Column("p90", sa.Float(), nullable=False),
        sa.CheckConstraint("p10 <= p50 AND p50 <= p90", name=op.f("ck_forecast_values_quantiles_monotone")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_forecast_values_location_id_locations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["forecast_runs.id"], name=op.f("fk_forecast_values_run_id_forecast_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_forecast_values_sku_id_skus"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "sku_id", "location_id", "day", name=op.f("pk_forecast_values")),
    )
    op.create_index("ix_forecast_values_pair", "forecast_values", ["sku_id", "location_id", "run_id"], unique=False)

    op.create_table(
        "forecast_errors",
        sa.Column("run_id", _BIGINT_PK, nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("block_days", sa.Integer(), nullable=False),
        sa.Column("sum_rmse", sa.Float(), nullable=False),
        sa.Column("blocks", sa.Integer(), nullable=False),
        sa.CheckConstraint("sum_rmse >= 0", name=op.f("ck_forecast_errors_sum_rmse_nonnegative")),
        sa.CheckConstraint("block_days >= 1 AND blocks >= 1", name=op.f("ck_forecast_errors_blocks_positive")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_forecast_errors_location_id_locations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["forecast_runs.id"], name=op.f("fk_forecast_errors_run_id_forecast_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_forecast_errors_sku_id_skus"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "sku_id", "location_id", name=op.f("pk_forecast_errors")),
    )


def downgrade() -> None:
    op.drop_table("forecast_errors")
    op.drop_index("ix_forecast_values_pair", table_name="forecast_values")
    op.drop_table("forecast_values")
    op.drop_index("ix_forecast_accuracy_week", table_name="forecast_accuracy")
    op.drop_table("forecast_accuracy")
    op.drop_index("ix_forecast_runs_status", table_name="forecast_runs")
    op.drop_table("forecast_runs")
    op.drop_index("ix_forecast_events_days", table_name="forecast_events")
    op.drop_table("forecast_events")
