"""The same pipeline with backend="spark": statsforecast runs on a local Spark session (fugue;
the ``spark`` fixture in tests/conftest.py, skipped without Java)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

from zhongtai.forecasting.engine import ForecastConfig, forecast


def test_spark_backend_matches_the_local_one(spark: Any) -> None:
    # given eight weekly-patterned daily series
    rng = np.random.default_rng(4)
    pattern = np.array([1.0, 0.9, 0.9, 1.0, 1.2, 1.6, 1.5])
    history = pl.DataFrame(
        {
            "unique_id": np.repeat([f"sku{i}" for i in range(8)], 63),
            "ds": [dt.date(2025, 1, 1) + dt.timedelta(days=d) for _ in range(8) for d in range(63)],
            "y": np.concatenate([10 * (i + 1) * np.tile(pattern, 9) + rng.normal(0, 1, 63) for i in range(8)]),
        }
    )
    models = ("seasonal_naive", "naive", "lgbm")
    lgbm = {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5}
    local = ForecastConfig(freq="D", horizon=7, models=models, backtest_windows=1, lgbm_params=lgbm)
    on_spark = ForecastConfig(freq="D", horizon=7, models=models, backtest_windows=1, backend="spark", lgbm_params=lgbm)

    # when forecast locally and through Spark
    expected = forecast(history, local)
    got = forecast(history, on_spark)

    # then the forecasts and the backtest agree
    assert got.forecasts.height == 8 * 7
    joined = expected.forecasts.join(got.forecasts, on=["unique_id", "ds"], suffix="_spark")
    assert joined.height == 8 * 7
    assert joined["yhat_spark"].to_numpy() == pytest.approx(joined["yhat"].to_numpy(), rel=1e-6)
    assert got.backtest["wape"].to_list() == pytest.approx(expected.backtest["wape"].to_list(), rel=1e-6)
