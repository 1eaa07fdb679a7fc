"""The forecast engine on small generated frames: shapes, quantiles, odd series, exog, selection."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from zhongtai.forecasting.engine import (
    ForecastConfig,
    ForecastInputError,
    anchored_freq,
    default_season_length,
    forecast,
)

FAST_LGBM = {"n_estimators": 30, "num_leaves": 15, "min_child_samples": 5}


def daily(uid: str, values: list[float], start: dt.date = dt.date(2025, 1, 1)) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "unique_id": [uid] * len(values),
            "ds": [start + dt.timedelta(days=i) for i in range(len(values))],
            "y": [float(v) for v in values],
        }
    )


def weekly_pattern(n: int, level: float, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    pattern = np.array([1.0, 0.9, 0.9, 1.0, 1.2, 1.6, 1.5])
    return [max(0.0, level * pattern[i % 7] + rng.normal(0, level * 0.05)) for i in range(n)]


@pytest.fixture
def mixed_history() -> pl.DataFrame:
    """Four kinds of series: regular seasonal, intermittent, all-zero, and too short for a season."""
    rng = np.random.default_rng(1)
    intermittent = [float(rng.poisson(3)) if rng.random() < 0.2 else 0.0 for _ in range(70)]
    return pl.concat(
        [
            daily("regular", weekly_pattern(70, 20.0, 2)),
            daily("intermittent", intermittent),
            daily("zero", [0.0] * 70),
            daily("short", [4.0, 5.0, 6.0], start=dt.date(2025, 3, 9)),
        ]
    )


def test_every_series_gets_horizon_rows_past_its_own_last_date(mixed_history: pl.DataFrame) -> None:
    # given a history of regular, intermittent, all-zero and short series
    config = ForecastConfig(freq="D", horizon=7, models=("seasonal_naive", "tsb", "lgbm"), lgbm_params=FAST_LGBM)

    # when it is forecast
    result = forecast(mixed_history, config)

    # then each series has 7 consecutive days after its last observed day, as dates
    fc = result.forecasts
    assert fc.schema["ds"] == pl.Date
    assert fc.group_by("unique_id").len().sort("unique_id").to_dicts() == [
        {"unique_id": u, "len": 7} for u in ("intermittent", "regular", "short", "zero")
    ]
    last = mixed_history.group_by("unique_id").agg(pl.col("ds").max().alias("last"))
    first = fc.group_by("unique_id").agg(pl.col("ds").min().alias("first")).join(last, on="unique_id")
    assert (first["first"] - first["last"]).dt.total_days().to_list() == [1, 1, 1, 1]


def test_quantiles_are_monotone_and_demand_is_never_negative(mixed_history: pl.DataFrame) -> None:
    # given the mixed history
    config = ForecastConfig(freq="D", horizon=7, models=("seasonal_naive", "tsb", "lgbm"), lgbm_params=FAST_LGBM)

    # when it is forecast
    fc = forecast(mixed_history, config).forecasts

    # then p10 <= p50 <= p90, everything >= 0 and nothing is missing
    assert fc.null_count().sum_horizontal().item() == 0
    assert fc.filter(pl.col("yhat_p10") > pl.col("yhat_p50")).height == 0
    assert fc.filter(pl.col("yhat_p50") > pl.col("yhat_p90")).height == 0
    assert fc.select(pl.min_horizontal("yhat", "yhat_p10").min()).item() >= 0.0
    # the regular series has a real band, the all-zero one forecasts exactly 0
    regular = fc.filter(pl.col("unique_id") == "regular")
    assert (regular["yhat_p90"] - regular["yhat_p10"]).min() > 0  # type: ignore[operator]
    zero = fc.filter(pl.col("unique_id") == "zero")
    assert zero.select(pl.sum_horizontal("yhat", "yhat_p10", "yhat_p90").sum()).item() == 0.0


def test_odd_series_are_labelled_in_chosen(mixed_history: pl.DataFrame) -> None:
    # given the mixed history, when forecast with per-series selection
    config = ForecastConfig(freq="D", horizon=7, models=("seasonal_naive", "naive"), select="best")
    chosen = forecast(mixed_history, config).chosen

    # then all-zero and short series name their fallback and regular ones a backtested model
    models = dict(zip(chosen["unique_id"], chosen["model"], strict=True))
    assert models["zero"] == "zero"
    assert models["short"] == "tsb"
    assert models["regular"] == "seasonal_naive"  # a clean weekly pattern: last week is best


def test_short_series_forecast_near_their_level() -> None:
    # given a series of three points only
    history = daily("new-sku", [10.0, 12.0, 11.0])

    # when forecast with weekly seasonality configured
    fc = forecast(history, ForecastConfig(freq="D", horizon=3)).forecasts

    # then it does not crash and stays around the observed level
    assert fc.height == 3
    assert fc["yhat"].min() > 5  # type: ignore[operator]
    assert fc["yhat"].max() < 15  # type: ignore[operator]


def test_gaps_are_filled_with_zero_demand() -> None:
    # given a series that sells 10 every day except it has no rows on odd days (sold nothing)
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(0, 56, 2)]
    history = pl.DataFrame({"unique_id": "gappy", "ds": days, "y": 10.0})

    # when forecast with a seasonal naive of season 2
    config = ForecastConfig(freq="D", horizon=4, season_length=2, models=("seasonal_naive",), backtest_windows=0)
    fc = forecast(history, config).forecasts

    # then the missing days were zeros: the forecast alternates 0, 10
    assert fc["yhat"].to_list() == pytest.approx([0.0, 10.0, 0.0, 10.0])


def test_ensemble_is_no_worse_than_its_worst_model_in_backtest() -> None:
    # given ten seasonal series
    history = pl.concat([daily(f"s{i}", weekly_pattern(84, 10.0 + i, i)) for i in range(10)])

    # when the ensemble is backtested over two windows
    config = ForecastConfig(freq="D", horizon=7, models=("seasonal_naive", "naive", "tsb"), backtest_windows=2)
    backtest = forecast(history, config).backtest

    # then each model and the combination are scored and the combination beats the worst model
    wape = dict(zip(backtest["model"], backtest["wape"], strict=True))
    assert set(wape) == {"seasonal_naive", "naive", "tsb", "combined"}
    assert wape["combined"] <= max(wape["seasonal_naive"], wape["naive"], wape["tsb"])


def test_promotions_raise_the_lgbm_forecast() -> None:
    # given daily demand of ~10 that triples on promotion days, for 20 SKUs
    rng = np.random.default_rng(3)
    frames = []
    for i in range(20):
        promo = (rng.random(120) < 0.15).astype(float)
        y = 10.0 * (1 + 2 * promo) + rng.normal(0, 0.5, 120)
        frame = daily(f"sku{i}", y.tolist()).with_columns(pl.Series("promo", promo))
        frames.append(frame)
    data = pl.concat(frames)
    history = data.filter(pl.col("ds") < dt.date(2025, 4, 24))
    # and a future where day 2 and 5 of the horizon are promotion days for everyone
    future = (
        history.group_by("unique_id")
        .agg(pl.col("ds").max())
        .with_columns(pl.int_ranges(1, 8).alias("k"))
        .explode("k")
        .with_columns(
            (pl.col("ds") + pl.duration(days=pl.col("k"))).alias("ds"),
            pl.col("k").is_in([2, 5]).cast(pl.Float64).alias("promo"),
        )
        .drop("k")
    )

    # when forecast with the promotion as an exogenous column through LightGBM only
    config = ForecastConfig(
        freq="D", horizon=7, models=("lgbm",), exog=("promo",), backtest_windows=0, lgbm_params=FAST_LGBM
    )
    fc = forecast(history, config, future=future).forecasts.join(
        future.with_columns(pl.col("ds").cast(pl.Date)), on=["unique_id", "ds"]
    )

    # then promotion days are forecast about three times higher than the other days
    means = fc.group_by("promo").agg(pl.col("yhat").mean()).sort("promo")["yhat"].to_list()
    assert means[1] > 2 * means[0]


def test_every_input_problem_is_reported_at_once() -> None:
    # given a history without y, a config with an unknown model and exog but no future
    history = pl.DataFrame({"unique_id": ["a"], "ds": [dt.date(2025, 1, 1)]})
    config = ForecastConfig(freq="D", horizon=0, models=("prophet",), exog=("price",))

    # when forecast, then one error lists all of them
    with pytest.raises(ForecastInputError) as caught:
        forecast(history, config)
    text = " | ".join(caught.value.problems)
    for expected in ("horizon", "prophet", "missing columns ['y', 'price']", "future is required"):
        assert expected in text


def test_frequency_helpers_anchor_weeks_and_months() -> None:
    fridays = pl.Series([dt.date(2012, 7, 6), dt.date(2012, 7, 13)])
    firsts = pl.Series([dt.date(2024, 1, 1), dt.date(2024, 2, 1)])
    assert anchored_freq("W", fridays) == "W-FRI"
    assert anchored_freq("M", firsts) == "MS"
    assert anchored_freq("D", fridays) == "D"
    assert (default_season_length("D"), default_season_length("W-FRI"), default_season_length("MS")) == (7, 52, 12)
