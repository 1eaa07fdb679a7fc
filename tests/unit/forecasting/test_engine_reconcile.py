"""Hierarchical reconciliation of bottom-level forecasts (hierarchicalforecast)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from zhongtai.forecasting.engine import ForecastConfig, ForecastInputError, forecast, reconcile

SPEC = [["total"], ["region"], ["region", "location"], ["region", "location", "sku"]]


@pytest.fixture
def stores() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two regions, three locations, two SKUs each: 6 bottom series and their forecasts."""
    rng = np.random.default_rng(5)
    rows = []
    for region, location in (("north", "bj01"), ("north", "bj02"), ("east", "sh01")):
        for sku in ("cola", "chips"):
            level = rng.uniform(5, 20)
            for day in range(56):
                rows.append(
                    {
                        "region": region,
                        "location": location,
                        "sku": sku,
                        "ds": dt.date(2025, 1, 1) + dt.timedelta(days=day),
                        "y": float(rng.poisson(level)),
                    }
                )
    history = pl.DataFrame(rows)
    keyed = history.with_columns(pl.concat_str("region", "location", "sku", separator="/").alias("unique_id"))
    config = ForecastConfig(freq="D", horizon=7, models=("seasonal_naive", "naive"), backtest_windows=1)
    fc = forecast(keyed.select("unique_id", "ds", "y"), config).forecasts
    bottom = fc.with_columns(pl.col("unique_id").str.split("/").list.to_struct(fields=["region", "location", "sku"]))
    return history, bottom.unnest("unique_id")


def test_bottom_up_sums_every_level(stores: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    # given bottom-level forecasts of SKU x location
    history, bottom = stores

    # when reconciled bottom-up
    out = reconcile(bottom, history, SPEC, method="bottom_up")

    # then every level is present and the total equals the sum of the bottom forecasts per day
    assert set(out["level"]) == {"total", "region", "region/location", "region/location/sku"}
    total = out.filter(pl.col("level") == "total").sort("ds")["yhat"].to_numpy()
    summed = bottom.group_by("ds").agg(pl.col("yhat").sum()).sort("ds")["yhat"].to_numpy()
    assert total == pytest.approx(summed)
    assert out.schema["ds"] == pl.Date


def test_mint_with_own_upper_forecasts_is_coherent(stores: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    # given bottom forecasts, and the engine config to forecast the upper levels themselves
    history, bottom = stores
    config = ForecastConfig(freq="D", horizon=7, models=("seasonal_naive", "naive"), backtest_windows=1)

    # when reconciled with MinTrace (ols)
    out = reconcile(bottom, history, SPEC, method="mint_ols", config=config)

    # then each region equals the sum of its locations, and quantiles stay ordered and >= 0
    regions = out.filter(pl.col("level") == "region").select("region", "ds", "yhat")
    locations = out.filter(pl.col("level") == "region/location").group_by("region", "ds").agg(pl.col("yhat").sum())
    joined = regions.join(locations, on=["region", "ds"], suffix="_sum")
    assert joined.height == 14
    assert joined["yhat"].to_numpy() == pytest.approx(joined["yhat_sum"].to_numpy(), rel=1e-6)
    assert out.filter(pl.col("yhat_p10") > pl.col("yhat_p50")).height == 0
    assert out.filter(pl.col("yhat_p50") > pl.col("yhat_p90")).height == 0
    assert out["yhat_p10"].min() >= 0  # type: ignore[operator]


def test_bad_spec_and_method_are_reported(stores: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    history, bottom = stores
    with pytest.raises(ForecastInputError) as caught:
        reconcile(bottom, history, [["region"], ["sku"]], method="magic")
    assert len(caught.value.problems) == 2
