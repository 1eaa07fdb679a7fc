"""The engine exposes the combined forecast's backtest residuals, and sum_errors measures the error
of multi-day forecast sums from them."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from zhongtai.forecasting.engine import ForecastConfig, ForecastInputError, ForecastResult, forecast, sum_errors

START = dt.date(2025, 1, 1)


def daily(uid: str, values: list[float], start: dt.date = START) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "unique_id": [uid] * len(values),
            "ds": [start + dt.timedelta(days=i) for i in range(len(values))],
            "y": [float(v) for v in values],
        }
    )


def test_residuals_are_the_backtest_errors_of_the_combined_forecast() -> None:
    # given a flat series that steps up by 3 in its last week, an all-zero and a too-short series
    history = pl.concat(
        [daily("step", [5.0] * 28 + [8.0] * 7), daily("zero", [0.0] * 35), daily("short", [1.0, 2.0, 3.0])]
    )
    config = ForecastConfig(freq="D", horizon=7, models=("seasonal_naive",), backtest_windows=1)

    # when it is forecast with one backtest window of a week
    result = forecast(history, config)

    # then the residuals hold that week of the stepped series only, as dates: the seasonal naive
    # copied the week before (5), the actuals were 8
    res = result.residuals
    assert res.columns == ["unique_id", "cutoff", "ds", "y", "yhat"]
    assert res.schema["ds"] == pl.Date
    assert res.schema["cutoff"] == pl.Date
    assert res["unique_id"].unique().to_list() == ["step"]
    assert res["ds"].to_list() == [START + dt.timedelta(days=28 + i) for i in range(7)]
    assert res["cutoff"].unique().to_list() == [START + dt.timedelta(days=27)]
    assert res["y"].to_list() == [8.0] * 7
    assert res["yhat"].to_list() == pytest.approx([5.0] * 7)
    # and the error of the week's sum is 7 x 3 units, one block
    measured = sum_errors(res, 7)
    assert measured.rows() == [("step", pytest.approx(21.0), 1)]


def test_sum_errors_is_the_rms_of_full_blocks_per_window() -> None:
    # given two backtest windows of 10 days: block errors +2 and -4, and 3 trailing days each
    def window(cutoff: dt.date, errors: list[float]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "unique_id": ["a"] * len(errors),
                "cutoff": [cutoff] * len(errors),
                "ds": [cutoff + dt.timedelta(days=1 + i) for i in range(len(errors))],
                "y": [10.0 + e for e in errors],
                "yhat": [10.0] * len(errors),
            }
        )

    first, second = dt.date(2025, 3, 1), dt.date(2025, 3, 8)
    residuals = pl.concat(
        [
            window(second, [-1.0, -1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 50.0, 50.0, 50.0]),
            window(first, [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 9.0, 9.0, 9.0]),
        ]
    )

    # when the errors of 7-day sums are measured
    measured = sum_errors(residuals, 7)

    # then the partial blocks are dropped and the rest give sqrt((2^2 + 4^2) / 2)
    assert measured.rows() == [("a", pytest.approx(math.sqrt(10.0)), 2)]


def test_sum_errors_of_no_residuals_is_empty_and_a_result_defaults_to_none() -> None:
    # given a result built without residuals (an older caller)
    empty = pl.DataFrame()
    result = ForecastResult(forecasts=empty, chosen=empty, backtest=empty)
    # then its residuals are an empty frame with the columns, and measure nothing
    assert result.residuals.columns == ["unique_id", "cutoff", "ds", "y", "yhat"]
    assert sum_errors(result.residuals, 7).height == 0
    with pytest.raises(ForecastInputError):
        sum_errors(result.residuals, 0)
