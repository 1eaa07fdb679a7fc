"""The engine's own Polars models: level-adjusted seasonal naive and its SVD-smoothed variant."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from zhongtai.forecasting.engine import (
    ForecastConfig,
    ForecastInputError,
    forecast,
    seasonal_level,
    smooth_by_group,
)


def weekly(uid: str, values: list[float], start: dt.date = dt.date(2024, 1, 1), **static: str) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "unique_id": [uid] * len(values),
            "ds": [start + dt.timedelta(weeks=i) for i in range(len(values))],
            "y": [float(v) for v in values],
        }
    )
    return frame.with_columns([pl.lit(v).alias(k) for k, v in static.items()])


def as_ns(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("ds").cast(pl.Datetime("ns")))


def test_seasonal_level_moves_last_season_by_the_change_in_level() -> None:
    # given y = 1..10 with a season of 4 and a 2-week level window
    history = as_ns(weekly("a", list(range(1, 11))))

    # when it forecasts 5 weeks with full damping (1.0)
    out = seasonal_level(history, horizon=5, season=4, freq="W-MON", window=2, damping=1.0)

    # then week T+h is y(T+h-4) (y(T+h-8) for h=5) plus mean(9, 10) - mean(5, 6) = 4
    assert out["seasonal_level"].to_list() == [11.0, 12.0, 13.0, 14.0, 11.0]
    assert out["ds"].dt.date().to_list()[0] == dt.date(2024, 3, 11)


def test_damping_scales_the_level_change_and_missing_year_ago_means_none() -> None:
    # given the same series, and one with only one season of history (no year-ago window)
    history = as_ns(pl.concat([weekly("a", list(range(1, 11))), weekly("b", [5.0, 6.0, 7.0, 8.0])]))

    # when half of the level change is applied
    out = seasonal_level(history, horizon=1, season=4, freq="W-MON", window=2, damping=0.5).sort("unique_id")

    # then a gets y7 + 0.5 * 4 = 9 and b its plain seasonal naive y(T+1-4) = 5
    assert out["seasonal_level"].to_list() == [9.0, 5.0]


def test_spread_copies_the_mean_of_last_seasons_neighbours() -> None:
    # given y = 1..10, season 4, no level change applied (damping 0)
    history = as_ns(weekly("a", list(range(1, 11))))

    # when one neighbour on each side is averaged into the copied value
    out = seasonal_level(history, horizon=4, season=4, freq="W-MON", window=2, damping=0.0, spread=1)

    # then h=1 copies mean(y6, y7, y8) = 7, ..., and h=4 (the last point) mean(y9, y10) = 9.5
    assert out["seasonal_level"].to_list() == [7.0, 8.0, 9.0, 9.5]


def test_rank_one_smoothing_shares_the_group_shape() -> None:
    # given two stores of one department with proportional histories plus noise on one week,
    # and a store of another department
    history = as_ns(
        pl.concat(
            [
                weekly("s1", [1.0, 2.0, 3.0, 4.0], dept="d1"),
                weekly("s2", [2.0, 4.0, 6.0, 8.0], dept="d1"),
                weekly("s3", [5.0, 0.0, 5.0, 0.0], dept="d2"),
            ]
        )
    )

    # when it is smoothed at rank 1 per department
    smoothed = smooth_by_group(history, "dept", 1).sort("unique_id", "ds")

    # then rank-1 groups are reproduced exactly (already rank 1) and rows keep their order/columns
    assert smoothed["y"].round(9).to_list() == [1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0, 5.0, 0.0, 5.0, 0.0]
    assert smoothed.columns == history.columns

    # and a week that breaks the shared shape is pulled towards it
    noisy = history.with_columns(
        pl.when((pl.col("unique_id") == "s1") & (pl.col("ds") == pl.col("ds").min()))
        .then(3.0)
        .otherwise(pl.col("y"))
        .alias("y")
    )
    first = smooth_by_group(noisy, "dept", 1).filter(pl.col("unique_id") == "s1").sort("ds")["y"][0]
    assert 1.0 < first < 3.0


def test_forecast_runs_and_ensembles_the_level_models() -> None:
    # given three years of a weekly series growing 10% a year in two stores of one department
    def store(uid: str, size: float) -> pl.DataFrame:
        values = [size * (1.0 + 0.1 * (i // 52)) * (2.0 if i % 52 == 47 else 1.0) for i in range(156)]
        return weekly(uid, values, start=dt.date(2021, 1, 1), dept="d1")

    history = pl.concat([store("a", 100.0), store("b", 50.0)])
    config = ForecastConfig(
        freq="W",
        horizon=4,
        models=("seasonal_level", "seasonal_level_svd"),
        static=("dept",),
        smooth_group="dept",
        smooth_rank=1,
        level_window=4,
        level_damping=1.0,
    )

    # when it is forecast through the engine
    result = forecast(history, config)

    # then the forecast is last year's level plus this year's growth (a: 120 + 10 = 130)
    a = result.forecasts.filter(pl.col("unique_id") == "a")
    assert a.height == 4
    assert a["yhat"].to_list() == pytest.approx([130.0] * 4, rel=1e-6)
    assert set(result.backtest["model"]) >= {"seasonal_level", "seasonal_level_svd", "combined"}


def test_svd_model_needs_a_static_group_column() -> None:
    # given the svd model without smooth_group, and a smooth_group that is not static
    history = weekly("a", [1.0] * 60)

    # when/then both problems are reported
    with pytest.raises(ForecastInputError) as err:
        forecast(history, ForecastConfig(freq="W", horizon=2, models=("seasonal_level_svd",)))
    assert "smooth_group" in str(err.value)
    with pytest.raises(ForecastInputError) as err:
        forecast(history, ForecastConfig(freq="W", horizon=2, models=("seasonal_level",), smooth_group="dept"))
    assert "static" in str(err.value)
