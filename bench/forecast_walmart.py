"""Walmart store sales: the forecast engine against seasonal naive and AutoETS on held-out weeks.

    python bench/forecast_walmart.py --data ../shared/data/walmart_store_sales [--n-jobs 2] [--inner]

The folder holds the Kaggle "Walmart Recruiting - Store Sales Forecasting" files train.parquet
(Store, Dept, Date, Weekly_Sales, IsHoliday), features.parquet (markdowns, temperature, fuel, CPI,
unemployment, IsHoliday per Store x week) and stores.parquet (Type, Size). The competition's own
test weeks are not there, so the last 13 weeks of train.parquet are held out. Every Store x Dept
series is forecast 13 weeks ahead through `zhongtai.forecasting.engine.forecast()`, the same
pipeline the product runs, with the holiday flag, the markdowns and weather/economy columns as
exogenous features and Dept, store Type and Size as static features.
The default models are the engine's level-adjusted seasonal naive, the same on histories
SVD-smoothed across the stores of each department, and the global LightGBM, ensembled by backtest.

`--inner` moves everything 13 weeks back (trains on all but the last 26 weeks and scores weeks
-26..-14): every choice of models and parameters was made on that inner split, never on the
final 13 weeks.

Figures:
* wmae: the competition's metric, mean absolute error with holiday weeks weighted 5;
* wmae_snaive / wmae_ets: seasonal naive (52 weeks) and AutoETS through the same engine in the
  same run (series too short for a season use the engine's short-series fallback in all three);
* ratio_to_snaive = wmae / wmae_snaive (target <= 0.75);
* mase: mean over series of MAE / in-sample mean |y_t - y_{t-52}|;
* coverage_p10_p90: share of held-out actuals inside [yhat_p10, yhat_p90] (nominal 0.80);
* seconds: wall time of the engine run; seconds_total includes data loading and both baselines;
* peak_rss_mb: peak resident memory of this process plus that of its largest child (ru_maxrss).
Forecasts are clipped at 0 (the engine forecasts demand); the truth keeps its negative weeks.
Writes bench/results/forecast_walmart.json (forecast_walmart_inner.json with --inner).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import polars as pl  # noqa: E402

from zhongtai.forecasting.engine import ForecastConfig, forecast  # noqa: E402

HORIZON = 13
EXOG = (
    "IsHoliday",
    "MarkDown1",
    "MarkDown2",
    "MarkDown3",
    "MarkDown4",
    "MarkDown5",
    "Temperature",
    "Fuel_Price",
    "CPI",
    "Unemployment",
)
STATIC = ("Dept", "Type", "Size")


def load(data: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The sales as one long frame (unique_id, ds, y, Store, Dept) and the weekly store features."""
    train = pl.read_parquet(data / "train.parquet")
    features = pl.read_parquet(data / "features.parquet").drop("IsHoliday")
    stores = pl.read_parquet(data / "stores.parquet")
    sales = train.select(
        pl.format("{}_{}", "Store", "Dept").alias("unique_id"),
        pl.col("Date").alias("ds"),
        pl.col("Weekly_Sales").alias("y"),
        "Store",
        "Dept",
        "IsHoliday",
    )
    store_weeks = features.join(stores, on="Store", how="left").with_columns(
        [pl.col(f"MarkDown{i}").fill_null(0.0) for i in range(1, 6)]
    )
    return sales, store_weeks


def holiday_weeks(sales: pl.DataFrame) -> pl.DataFrame:
    return sales.select(pl.col("ds"), pl.col("IsHoliday")).unique("ds")


def with_features(frame: pl.DataFrame, store_weeks: pl.DataFrame, holidays: pl.DataFrame) -> pl.DataFrame:
    out = frame.join(store_weeks.rename({"Date": "ds"}), on=["Store", "ds"], how="left")
    out = out.join(holidays, on="ds", how="left") if "IsHoliday" not in out.columns else out
    return out.with_columns(
        pl.col("IsHoliday").cast(pl.Float64).fill_null(0.0),
        pl.col("Dept").cast(pl.String),
    )


def future_frame(
    train: pl.DataFrame, store_weeks: pl.DataFrame, holidays: pl.DataFrame, weeks: pl.Series
) -> pl.DataFrame:
    ids = train.select("unique_id", "Store", "Dept").unique()
    grid = ids.join(pl.DataFrame({"ds": weeks}), how="cross")
    return with_features(grid, store_weeks, holidays)


def wmae(frame: pl.DataFrame, column: str) -> float:
    weight = pl.when(pl.col("IsHoliday")).then(5.0).otherwise(1.0)
    return float(frame.select(((pl.col("y") - pl.col(column)).abs() * weight).sum() / weight.sum()).item())


def mase(frame: pl.DataFrame, train: pl.DataFrame) -> float:
    scale = (
        train.sort("ds")
        .with_columns((pl.col("y") - pl.col("y").shift(52).over("unique_id")).abs().alias("d"))
        .group_by("unique_id")
        .agg(pl.col("d").mean().alias("scale"))
        .filter(pl.col("scale") > 0)
    )
    per_series = (
        frame.group_by("unique_id")
        .agg((pl.col("y") - pl.col("yhat")).abs().mean().alias("mae"))
        .join(scale, on="unique_id")
    )
    return float(per_series.select((pl.col("mae") / pl.col("scale")).mean()).item())


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "walmart_store_sales")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--inner", action="store_true", help="score weeks -26..-14 (the tuning split)")
    parser.add_argument("--models", default="seasonal_level,seasonal_level_svd,lgbm")
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--select", default="ensemble", choices=["ensemble", "best"])
    parser.add_argument("--lgbm-objective", default="l2", help="LightGBM objective (l2, l1, huber)")
    parser.add_argument("--level-window", type=int, default=4, help="seasonal_level: weeks compared")
    parser.add_argument("--level-damping", type=float, default=1.0, help="seasonal_level: share of the change")
    parser.add_argument("--level-spread", type=int, default=1, help="seasonal_level: neighbours averaged")
    parser.add_argument("--smooth-rank", type=int, default=10, help="seasonal_level_svd: SVD rank per Dept")
    parser.add_argument("--no-baselines", action="store_true", help="skip AutoETS (tuning runs)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    sales, store_weeks = load(args.data)
    holidays = holiday_weeks(sales)
    weeks = sales["ds"].unique().sort()
    if args.inner:
        weeks = weeks.head(weeks.len() - HORIZON)
        sales = sales.filter(pl.col("ds") <= weeks[-1])
    test_weeks = weeks.tail(HORIZON)
    train = sales.filter(pl.col("ds") < test_weeks[0])
    test = sales.filter(pl.col("ds") >= test_weeks[0])
    history = with_features(train, store_weeks, holidays).drop("Store")
    future = future_frame(train, store_weeks, holidays, test_weeks).drop("Store")

    config = ForecastConfig(
        freq="W-FRI",
        horizon=HORIZON,
        season_length=52,
        models=tuple(args.models.split(",")),
        exog=EXOG,
        static=STATIC,
        backtest_windows=args.windows,
        select=args.select,
        n_jobs=args.n_jobs,
        lgbm_params={"objective": args.lgbm_objective},
        level_window=args.level_window,
        level_damping=args.level_damping,
        level_spread=args.level_spread,
        smooth_group="Dept",
        smooth_rank=args.smooth_rank,
    )
    t0 = time.perf_counter()
    result = forecast(history, config, future=future)
    seconds = time.perf_counter() - t0

    def baseline(model: str) -> pl.DataFrame:
        plain = ForecastConfig(
            freq="W-FRI", horizon=HORIZON, season_length=52, models=(model,), backtest_windows=0, n_jobs=args.n_jobs
        )
        return forecast(train.select("unique_id", "ds", "y"), plain).forecasts.select(
            "unique_id", "ds", pl.col("yhat").alias(model)
        )

    scored = test.join(result.forecasts, on=["unique_id", "ds"], how="left")
    scored = scored.join(baseline("seasonal_naive"), on=["unique_id", "ds"], how="left")
    baselines = ["seasonal_naive"]
    if not args.no_baselines:
        scored = scored.join(baseline("ets"), on=["unique_id", "ds"], how="left")
        baselines.append("ets")
    # a Store x Dept first seen in the held-out weeks has no forecast: it counts as 0 everywhere
    scored = scored.with_columns([pl.col(c).fill_null(0.0) for c in ["yhat", "yhat_p10", "yhat_p90", *baselines]])
    inside = scored.select(((pl.col("y") >= pl.col("yhat_p10")) & (pl.col("y") <= pl.col("yhat_p90"))).mean()).item()
    figures: dict[str, Any] = {
        "wmae": round(wmae(scored, "yhat"), 2),
        "wmae_snaive": round(wmae(scored, "seasonal_naive"), 2),
        "ratio_to_snaive": round(wmae(scored, "yhat") / wmae(scored, "seasonal_naive"), 4),
        "wmae_ets": round(wmae(scored, "ets"), 2) if "ets" in baselines else None,
        "mase": round(mase(scored, train), 4),
        "coverage_p10_p90": round(float(inside), 4),
        "seconds": round(seconds, 1),
        "seconds_total": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    params = {
        "split": "inner (weeks -26..-14)" if args.inner else "final (last 13 weeks)",
        "train_weeks": f"{train['ds'].min()}..{train['ds'].max()}",
        "test_weeks": f"{test_weeks[0]}..{test_weeks[-1]}",
        "series": int(history["unique_id"].n_unique()),
        "test_rows": scored.height,
        "models": list(config.models),
        "select": config.select,
        "lgbm_objective": args.lgbm_objective,
        "backtest_windows": config.backtest_windows,
        "level_window": config.level_window,
        "level_damping": config.level_damping,
        "level_spread": config.level_spread,
        "smooth_group": config.smooth_group,
        "smooth_rank": config.smooth_rank,
        "exog": list(EXOG),
        "static": list(STATIC),
        "n_jobs": args.n_jobs,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "clip_forecasts_at_zero": True,
    }
    backtest = result.backtest.to_dicts()
    out = {"figures": figures, "params": params, "backtest": backtest}
    print(json.dumps(out, indent=2, default=str))
    name = "forecast_walmart_inner.json" if args.inner else "forecast_walmart.json"
    results = ROOT / "bench" / "results" / name
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(out, indent=2, default=str) + "\n")
    return out


if __name__ == "__main__":
    main()
