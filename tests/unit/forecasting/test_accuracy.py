"""WAPE and bias, hand-computed on tiny sets."""

from __future__ import annotations

from datetime import date

import polars as pl

from zhongtai.forecasting.accuracy import closed_weeks, pair_errors, score, week_of


def test_wape_and_bias_of_a_hand_computed_set() -> None:
    # given actuals 10, 0, 5 and forecasts 8, 1, 9
    got = score([10, 0, 5], [8.0, 1.0, 9.0])
    # then WAPE = (2 + 1 + 4) / 15 and bias = (18 - 15) / 15, in basis points
    assert got.units_actual == 15
    assert got.abs_error == 7.0
    assert got.wape_bp == 4667
    assert got.bias_bp == 2000


def test_no_sales_means_no_wape_rather_than_a_division_by_zero() -> None:
    got = score([0, 0], [1.0, 0.0])
    assert got.wape_bp is None
    assert got.bias_bp is None


def test_pair_errors_keep_both_sides_pairs_so_misses_count() -> None:
    # given a pair sold without forecast and a pair forecast without sales
    actual = pl.DataFrame({"sku_id": [1, 1, 2], "location_id": [1, 1, 1], "units": [3, 2, 4]})
    forecast = pl.DataFrame({"sku_id": [1, 3], "location_id": [1, 1], "yhat": [4.5, 2.0]})
    # when errors are computed per pair
    errors = pair_errors(actual, forecast).sort("sku_id")
    # then every pair is there, absolute errors summed per pair before any aggregation
    assert errors.select("sku_id", "actual", "forecast", "abs_error").rows() == [
        (1, 5, 4.5, 0.5),
        (2, 4, 0.0, 4.0),
        (3, 0, 2.0, 2.0),
    ]
    overall = score(errors["actual"].to_list(), errors["forecast"].to_list())
    assert overall.wape_bp == round(6.5 / 9 * 10000)
    assert overall.bias_bp == round((6.5 - 9) / 9 * 10000)


def test_weeks_start_on_monday_and_only_closed_ones_are_scored() -> None:
    assert week_of(date(2026, 12, 6)) == date(2026, 11, 30)  # a Sunday
    assert closed_weeks(date(2026, 12, 7), 2) == [date(2026, 11, 23), date(2026, 11, 30)]
