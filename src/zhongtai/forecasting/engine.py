"""The forecast engine: one long frame of series in, quantile forecasts out.

Pure frames in, frames out, no database. Every step works on the whole long frame at once
(statsforecast, mlforecast, Polars group-bys); there is no Python loop over series.

Pipeline:
1. prepare: cast, fill missing periods with 0 demand (a period with no sales row sold nothing),
   classify series as zero (all 0), short (less than one season plus one period) or regular;
2. backtest (rolling origin, `backtest_windows` windows of `horizon` periods) every model on the
   regular series long enough for it;
3. weight the models per series by inverse backtest MAE (or pick the best one);
4. fit on the full history and forecast `horizon` periods past each series' own last date;
5. quantiles by split-conformal calibration on the combined forecast's backtest residuals.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

# LightGBM's OpenMP threads spin while waiting by default; on a busy machine (a shared box, a
# web worker next to the nightly job) a descheduled spinning thread stalls every tree: measured
# 94 s instead of 12 s for the same fit on 2 loaded cores. Passive waiting costs nothing when idle.
# It must be set before the OpenMP runtime loads, i.e. before lightgbm is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

QUANTILES = (0.1, 0.5, 0.9)
QUANTILE_COLUMNS = ("yhat_p10", "yhat_p50", "yhat_p90")

STAT_MODELS = (
    "seasonal_naive",
    "seasonal_window_average",
    "ets",
    "theta",
    "tsb",
    "croston",
    "adida",
    "naive",
    "window_average",
)
ML_MODELS = ("lgbm",)
# computed in Polars/numpy by the engine itself, no library fit
FRAME_MODELS = ("seasonal_level", "seasonal_level_svd")
KNOWN_MODELS = STAT_MODELS + ML_MODELS + FRAME_MODELS

Progress = Callable[[str, int, int], None]

# statsforecast needs at least one full season (plus a point to fit a level) for its seasonal
# models; shorter series get the simple, non-seasonal fallback instead of crashing or NaNs.
_SHORT_MODELS = ("tsb",)
_PROGRESS_STAGES = ("prepare", "backtest", "fit", "combine")


class ForecastInputError(ValueError):
    """The history/future frames or the config cannot be forecast; `problems` lists every issue."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class ForecastConfig:
    freq: str  # pandas offset: "D", "W-FRI", "W", "MS"...
    horizon: int
    season_length: int | None = None  # default derived from freq (D->7, W->52, M->12)
    models: tuple[str, ...] = ("seasonal_naive", "ets", "theta", "tsb", "lgbm")
    exog: tuple[str, ...] = ()  # exogenous columns present in history AND future
    static: tuple[str, ...] = ()  # static per-series columns (store type/size...)
    backtest_windows: int = 2  # rolling-origin windows used to choose/ensemble models
    select: str = "ensemble"  # "best" per series | "ensemble" (inverse-error weights)
    n_jobs: int = 1
    backend: str = "local"  # "local" | "spark"
    seed: int = 0
    lgbm_params: dict[str, Any] = field(default_factory=dict, hash=False)  # overrides the defaults
    # "seasonal_level": last season's same period + level_damping x (mean of the last
    # level_window periods - mean of the same periods one season earlier)
    level_window: int = 8
    level_damping: float = 0.5
    level_spread: int = 0  # >0: copy the mean of last season's period and this many neighbours each side
    # "seasonal_level_svd": the same on a rank-`smooth_rank` SVD approximation of the histories
    # of all series sharing the value of the static column `smooth_group` (e.g. the department)
    smooth_group: str | None = None
    smooth_rank: int = 10


RESIDUAL_SCHEMA = pl.Schema(
    {
        "unique_id": pl.String(),
        "cutoff": pl.Datetime("ns"),
        "ds": pl.Datetime("ns"),
        "y": pl.Float64(),
        "yhat": pl.Float64(),
    }
)


def _no_residuals() -> pl.DataFrame:
    return pl.DataFrame(schema=RESIDUAL_SCHEMA)


@dataclass(frozen=True)
class ForecastResult:
    forecasts: pl.DataFrame  # unique_id, ds, yhat, yhat_p10, yhat_p50, yhat_p90
    chosen: pl.DataFrame  # unique_id, model ("ensemble", a model name, "zero", "short"), error
    backtest: pl.DataFrame  # model, wape, mae over the backtest windows
    # unique_id, cutoff, ds, y, yhat: the combined forecast against the actuals in every backtest
    # window (regular series only; zero and short series are not backtested). Callers measure
    # errors the daily quantiles do not show from it, e.g. of multi-day sums (sum_errors).
    residuals: pl.DataFrame = field(default_factory=_no_residuals)


def default_season_length(freq: str) -> int:
    """The seasonal period implied by a pandas offset alias."""
    base = freq.upper().lstrip("0123456789").split("-")[0]
    if base in ("D", "B"):
        return 7
    if base == "W":
        return 52
    if base in ("M", "MS", "ME"):
        return 12
    if base in ("Q", "QS", "QE"):
        return 4
    if base in ("H", "h"):
        return 24
    return 1


def anchored_freq(freq: str, ds: pl.Series) -> str:
    """Anchor a bare weekly/monthly alias to the data so generated future dates line up with it.

    "W" in pandas means weeks ending Sunday; Walmart weeks end Friday. Likewise "M" is month end,
    while most sales extracts use the first of the month.
    """
    if ds.len() == 0:
        return freq
    first = ds.drop_nulls().head(200)
    if freq.upper() == "W":
        weekdays = first.dt.weekday().unique()  # 1 = Monday ... 7 = Sunday
        if weekdays.len() == 1:
            return "W-" + ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")[int(weekdays[0]) - 1]
    if freq.upper() == "M" and bool((first.dt.day() == 1).all()):
        return "MS"
    if freq.upper() == "M":
        return "ME"
    return freq


def validate(history: pl.DataFrame, config: ForecastConfig, future: pl.DataFrame | None) -> None:
    """Raise ForecastInputError naming every problem with the inputs at once."""
    problems: list[str] = []
    if config.horizon < 1:
        problems.append(f"horizon must be >= 1, got {config.horizon}")
    if config.backtest_windows < 0:
        problems.append(f"backtest_windows must be >= 0, got {config.backtest_windows}")
    if config.select not in ("best", "ensemble"):
        problems.append(f"select must be 'best' or 'ensemble', got {config.select!r}")
    if config.backend not in ("local", "spark"):
        problems.append(f"backend must be 'local' or 'spark', got {config.backend!r}")
    unknown = [m for m in config.models if m not in KNOWN_MODELS]
    if unknown:
        problems.append(f"unknown models {unknown}; known: {list(KNOWN_MODELS)}")
    if not config.models:
        problems.append("models must name at least one model")
    if config.level_window < 1:
        problems.append(f"level_window must be >= 1, got {config.level_window}")
    if config.level_spread < 0:
        problems.append(f"level_spread must be >= 0, got {config.level_spread}")
    if config.smooth_rank < 1:
        problems.append(f"smooth_rank must be >= 1, got {config.smooth_rank}")
    if "seasonal_level_svd" in config.models and config.smooth_group is None:
        problems.append("model seasonal_level_svd needs smooth_group (a static column grouping the series)")
    if config.smooth_group is not None and config.smooth_group not in config.static:
        problems.append(f"smooth_group {config.smooth_group!r} must be one of the static columns {list(config.static)}")
    try:
        import pandas as pd  # type: ignore[import-untyped]  # no stubs in the lock

        pd.tseries.frequencies.to_offset(config.freq)
    except ValueError:
        problems.append(f"freq {config.freq!r} is not a pandas offset alias (D, W-FRI, MS...)")
    needed = ["unique_id", "ds", "y", *config.exog, *config.static]
    missing = [c for c in needed if c not in history.columns]
    if missing:
        problems.append(f"history is missing columns {missing}")
    if "ds" in history.columns and not history.schema["ds"].is_temporal():
        problems.append(f"history column ds must be a date or datetime, got {history.schema['ds']}")
    if "y" in history.columns and not history.schema["y"].is_numeric():
        problems.append(f"history column y must be numeric, got {history.schema['y']}")
    for column in ("unique_id", "ds"):
        if column in history.columns and history[column].null_count():
            problems.append(f"history column {column} has {history[column].null_count()} empty values")
    if not problems and history.select(pl.struct("unique_id", "ds").is_duplicated().any()).item():
        problems.append("history has more than one row for the same unique_id and ds")
    if config.exog:
        if future is None:
            problems.append(f"future is required when exog is set ({list(config.exog)})")
        else:
            missing_future = [c for c in ("unique_id", "ds", *config.exog) if c not in future.columns]
            if missing_future:
                problems.append(f"future is missing columns {missing_future}")
    if problems:
        raise ForecastInputError(problems)


def forecast(
    history: pl.DataFrame,
    config: ForecastConfig,
    *,
    future: pl.DataFrame | None = None,
    progress: Progress | None = None,
) -> ForecastResult:
    """Forecast every series `config.horizon` periods past its own last date.

    history: unique_id (str), ds (date/datetime), y (float) + config.exog + config.static columns.
    future: unique_id, ds + config.exog for the horizon (required when exog is non-empty).
    Missing periods inside a series are filled with y = 0 (demand data: no row, no sale).
    """
    validate(history, config, future)
    report = progress or (lambda _stage, _done, _total: None)
    total = len(_PROGRESS_STAGES)
    report("prepare", 0, total)
    freq = anchored_freq(config.freq, history["ds"])
    season = config.season_length or default_season_length(freq)
    frame = _prepare(history, config, freq)
    kinds = _classify(frame, season)
    regular_ids = kinds.filter(pl.col("kind") == "regular")["unique_id"]
    short_ids = kinds.filter(pl.col("kind") == "short")["unique_id"]
    regular = frame.filter(pl.col("unique_id").is_in(regular_ids.implode()))
    short = frame.filter(pl.col("unique_id").is_in(short_ids.implode()))
    future_frame = _prepare_future(future, config, frame, freq) if config.exog else None

    report("backtest", 1, total)
    run = _Runner(config, freq, season)
    cv = run.backtest(regular, kinds)

    report("fit", 2, total)
    parts: list[pl.DataFrame] = []
    if regular.height:
        parts.append(run.predict(regular, future_frame, config.models))
    if short.height:
        parts.append(run.predict(short, None, _SHORT_MODELS))
    report("combine", 3, total)

    models = [m for m in config.models]
    weights = _weights(cv, models, config.select)
    base = pl.concat(parts, how="diagonal_relaxed") if parts else _empty_predictions(frame)
    combined = _combine(base, weights, models, kinds)
    residuals = _backtest_residuals(cv, weights, models)
    forecasts = _quantiles(combined, residuals, frame, kinds, season)
    forecasts = _add_zero_series(forecasts, kinds, frame, config.horizon, freq)
    chosen = _chosen(kinds, weights, residuals, config.select)
    backtest = _backtest_summary(cv, models, residuals)
    report("combine", total, total)
    forecasts = to_output_dates(forecasts, history.schema["ds"])
    exposed = residuals.select(list(RESIDUAL_SCHEMA)).cast(RESIDUAL_SCHEMA) if "cutoff" in residuals.columns else None
    return ForecastResult(
        forecasts=forecasts.sort("unique_id", "ds"),
        chosen=chosen.sort("unique_id"),
        backtest=backtest,
        residuals=to_output_dates(
            exposed if exposed is not None else _no_residuals(), history.schema["ds"], columns=("cutoff", "ds")
        ).sort("unique_id", "cutoff", "ds"),
    )


def sum_errors(residuals: pl.DataFrame, block_days: int) -> pl.DataFrame:
    """unique_id, sum_rmse, blocks: the root mean square error of forecast SUMS over
    ``block_days`` consecutive periods, from the backtest residuals.

    Each backtest window (one cutoff) is cut into non-overlapping blocks of ``block_days`` periods
    from its first forecast period; a partial block at the end is dropped. Root mean square, not
    the sd around the mean error: a biased forecast is exactly the risk a safety stock covers.
    Daily errors run together (a missed level is missed every day), so this is what the daily
    quantiles, summed as if days were independent, understate.
    """
    schema = {"unique_id": pl.String, "sum_rmse": pl.Float64, "blocks": pl.Int64}
    if block_days < 1:
        raise ForecastInputError([f"block_days must be >= 1, got {block_days}"])
    if not residuals.height:
        return pl.DataFrame(schema=schema)
    blocks = (
        residuals.sort("unique_id", "cutoff", "ds")
        .with_columns((pl.int_range(pl.len()).over("unique_id", "cutoff") // block_days).alias("block"))
        .group_by("unique_id", "cutoff", "block")
        .agg((pl.col("y") - pl.col("yhat")).sum().alias("error"), pl.len().alias("n"))
        .filter(pl.col("n") == block_days)
    )
    return (
        blocks.group_by("unique_id")
        .agg((pl.col("error") ** 2).mean().sqrt().alias("sum_rmse"), pl.len().cast(pl.Int64).alias("blocks"))
        .select(pl.col("unique_id").cast(pl.String), "sum_rmse", "blocks")
        .sort("unique_id")
    )


# ---------------------------------------------------------------- preparation


def _prepare(history: pl.DataFrame, config: ForecastConfig, freq: str) -> pl.DataFrame:
    from utilsforecast.preprocessing import fill_gaps

    columns = ["unique_id", "ds", "y", *config.exog, *config.static]
    frame = history.select(columns).with_columns(
        pl.col("unique_id").cast(pl.String),
        pl.col("y").cast(pl.Float64).fill_null(0.0).fill_nan(0.0),
    )
    if frame.schema["ds"] == pl.Date:
        frame = frame.with_columns(pl.col("ds").cast(pl.Datetime("us")))
    elif isinstance(frame.schema["ds"], pl.Datetime) and frame.schema["ds"].time_zone:
        # the libraries compute on naive timestamps; the wall clock of the business zone is kept
        frame = frame.with_columns(pl.col("ds").dt.replace_time_zone(None))
    frame = frame.with_columns(pl.col("ds").cast(pl.Datetime("ns")))
    filled = pl.from_pandas(
        fill_gaps(frame.select("unique_id", "ds").to_pandas(), freq=freq, start="per_serie", end="per_serie")
    ).with_columns(pl.col("unique_id").cast(pl.String), pl.col("ds").cast(pl.Datetime("ns")))
    frame = filled.join(frame, on=["unique_id", "ds"], how="left").sort("unique_id", "ds")
    fills: list[pl.Expr] = [pl.col("y").fill_null(0.0)]
    # exogenous values of a filled period: carry the last known value (prices, store features)
    fills += [pl.col(c).forward_fill().backward_fill().over("unique_id") for c in config.exog]
    fills += [pl.col(c).forward_fill().backward_fill().over("unique_id") for c in config.static]
    frame = frame.with_columns(fills)
    numeric_exog = [c for c in config.exog if frame.schema[c].is_numeric() or frame.schema[c] == pl.Boolean]
    return frame.with_columns([pl.col(c).cast(pl.Float64).fill_null(0.0) for c in numeric_exog])


def _prepare_future(
    future: pl.DataFrame | None, config: ForecastConfig, frame: pl.DataFrame, freq: str
) -> pl.DataFrame:
    assert future is not None  # validated
    import pandas as pd

    fut = future.select("unique_id", "ds", *config.exog).with_columns(pl.col("unique_id").cast(pl.String))
    if fut.schema["ds"] == pl.Date:
        fut = fut.with_columns(pl.col("ds").cast(pl.Datetime("us")))
    elif isinstance(fut.schema["ds"], pl.Datetime) and fut.schema["ds"].time_zone:
        fut = fut.with_columns(pl.col("ds").dt.replace_time_zone(None))
    fut = fut.with_columns(pl.col("ds").cast(pl.Datetime("ns")))
    # the exact horizon grid per series, so a gap in the future file becomes a carried-forward value
    offset = pd.tseries.frequencies.to_offset(freq)
    last = frame.group_by("unique_id").agg(pl.col("ds").max())
    grid_pd = last.to_pandas()
    steps = [grid_pd.assign(ds=grid_pd["ds"] + offset * step) for step in range(1, config.horizon + 1)]
    grid = pl.from_pandas(pd.concat(steps, ignore_index=True)).with_columns(pl.col("ds").cast(pl.Datetime("ns")))
    last_known = frame.sort("ds").group_by("unique_id").agg([pl.col(c).last() for c in config.exog])
    out = grid.join(fut, on=["unique_id", "ds"], how="left").sort("unique_id", "ds")
    out = out.join(last_known, on="unique_id", how="left", suffix="_last")
    out = out.with_columns(
        [pl.col(c).forward_fill().over("unique_id").fill_null(pl.col(f"{c}_last")) for c in config.exog]
    ).drop([f"{c}_last" for c in config.exog])
    numeric = [c for c in config.exog if frame.schema[c] == pl.Float64]
    return out.with_columns([pl.col(c).cast(pl.Float64).fill_null(0.0) for c in numeric])


def _classify(frame: pl.DataFrame, season: int) -> pl.DataFrame:
    stats = frame.group_by("unique_id").agg(
        pl.len().alias("n"),
        (pl.col("y") != 0).sum().alias("nonzero"),
        pl.col("ds").max().alias("last_ds"),
        pl.col("y").tail(max(season, 2)).std().fill_null(0.0).alias("recent_std"),
        pl.col("y").tail(max(season, 2)).mean().alias("recent_mean"),
    )
    return stats.with_columns(
        pl.when(pl.col("nonzero") == 0)
        .then(pl.lit("zero"))
        .when(pl.col("n") < season + 1)
        .then(pl.lit("short"))
        .otherwise(pl.lit("regular"))
        .alias("kind")
    )


# ---------------------------------------------------------------- models


def _week_of_year(dates: Any) -> Any:  # a pandas DatetimeIndex
    return dates.isocalendar().week.to_numpy().astype("int16")


def _day_of_year(dates: Any) -> Any:  # a pandas DatetimeIndex
    return dates.dayofyear.to_numpy().astype("int16")


def smooth_by_group(frame: pl.DataFrame, group: str, rank: int) -> pl.DataFrame:
    """Replace y by its rank-`rank` SVD approximation across the series of each `group` value.

    Series of one group (the stores of a department) share most of their seasonal shape; keeping
    the leading singular vectors of the group's series x period matrix keeps that shape and each
    series' loading on it and drops the week-to-week noise a seasonal naive would copy forward
    (the idea of the winning Walmart Kaggle entry). Periods before a series starts count as 0.
    All groups are decomposed in one batched numpy SVD of a zero-padded groups x series x periods
    array: zero rows do not change the other rows' approximation.
    """
    import numpy as np

    ids = frame.group_by("unique_id").agg(pl.col(group).first().cast(pl.String).fill_null("")).sort(group, "unique_id")
    ids = ids.with_columns(
        pl.col(group).rank("dense").cast(pl.Int64).sub(1).alias("g"),
        pl.int_range(pl.len()).over(group).alias("r"),
    )
    dates = frame.select(pl.col("ds").unique().sort()).with_row_index("t")
    cells = frame.select("unique_id", "ds", "y").join(ids, on="unique_id").join(dates, on="ds")
    n_groups, n_rows = int(ids["g"].to_numpy().max()) + 1, int(ids["r"].to_numpy().max()) + 1
    cube = np.zeros((n_groups, n_rows, dates.height))
    g, r, t = cells["g"].to_numpy(), cells["r"].to_numpy(), cells["t"].to_numpy()
    cube[g, r, t] = cells["y"].to_numpy()
    u, sv, vt = np.linalg.svd(cube, full_matrices=False)
    sv[:, rank:] = 0.0
    low = (u * sv[:, None, :]) @ vt
    smoothed = cells.select("unique_id", "ds", pl.Series("y_low", low[g, r, t]))
    return (
        frame.join(smoothed, on=["unique_id", "ds"], how="left")
        .with_columns(pl.coalesce(pl.col("y_low"), pl.col("y")).alias("y"))
        .drop("y_low")
    )


def seasonal_level(
    frame: pl.DataFrame, horizon: int, season: int, freq: str, window: int, damping: float, spread: int = 0
) -> pl.DataFrame:
    """Level-adjusted seasonal naive: unique_id, ds, seasonal_level.

    yhat(T + h) = y(T + h - s*ceil(h/s)) + damping * (mean(y over the last `window` periods)
    - mean(y over the same periods one season earlier)). It copies last season's shape and
    moves it by this year's change in level; damping < 1 trusts that change only partly (a
    short window is noisy). Series without the year-ago window get no adjustment. With
    spread > 0 the copied value is the mean of y(T + h - s) and its `spread` neighbours on each
    side: a calendar period rarely falls on exactly the same weeks two years running.
    """
    import pandas as pd

    indexed = frame.sort("unique_id", "ds").with_columns(
        (pl.len() - 1 - pl.int_range(pl.len())).over("unique_id").alias("pos"),
        pl.col("y")
        .rolling_mean(window_size=2 * spread + 1, center=True, min_samples=1)
        .over("unique_id")
        .alias("y_spread"),
    )
    recent = pl.col("pos") < window
    year_ago = (pl.col("pos") >= season) & (pl.col("pos") < season + window)
    level = indexed.group_by("unique_id").agg(
        pl.col("ds").max().alias("last_ds"),
        (pl.col("y").filter(recent).mean() - pl.col("y").filter(year_ago).mean()).alias("shift"),
        (year_ago.sum() == window).alias("complete"),
    )
    level = level.with_columns(
        pl.when(pl.col("complete")).then(pl.col("shift") * damping).otherwise(0.0).fill_null(0.0).alias("shift")
    )
    steps = pl.DataFrame({"h": list(range(1, horizon + 1))}).with_columns(
        (season * ((pl.col("h") + season - 1) // season) - pl.col("h")).alias("pos")
    )
    offset = pd.tseries.frequencies.to_offset(freq)
    lpd = level.select("unique_id", "last_ds").to_pandas()
    grid = pl.from_pandas(
        pd.concat([lpd.assign(h=h, ds=lpd["last_ds"] + offset * h) for h in range(1, horizon + 1)], ignore_index=True)
    ).select(pl.col("unique_id").cast(pl.String), pl.col("h").cast(pl.Int64), pl.col("ds").cast(pl.Datetime("ns")))
    out = (
        grid.join(steps.with_columns(pl.col("h").cast(pl.Int64), pl.col("pos").cast(pl.Int64)), on="h")
        .join(
            indexed.select("unique_id", pl.col("pos").cast(pl.Int64), pl.col("y_spread").alias("base")),
            on=["unique_id", "pos"],
            how="left",
        )
        .join(level.select("unique_id", "shift"), on="unique_id", how="left")
    )
    return out.select("unique_id", "ds", (pl.col("base") + pl.col("shift")).alias("seasonal_level"))


class _Runner:
    """Runs the statistical and the LightGBM models over a whole long frame at once."""

    def __init__(self, config: ForecastConfig, freq: str, season: int) -> None:
        self.config = config
        self.freq = freq
        self.season = season

    # statsforecast ----------------------------------------------------------

    def _stat_models(self, names: Sequence[str]) -> list[Any]:
        from statsforecast.models import (
            ADIDA,
            TSB,
            AutoETS,
            CrostonSBA,
            Naive,
            SeasonalNaive,
            SeasonalWindowAverage,
            Theta,
            WindowAverage,
        )

        season = self.season
        factories: dict[str, Callable[[], Any]] = {
            "seasonal_naive": lambda: SeasonalNaive(season_length=season, alias="seasonal_naive"),
            # the same period of the last two seasons: a seasonal naive with half the noise
            "seasonal_window_average": lambda: SeasonalWindowAverage(
                season_length=season, window_size=2, alias="seasonal_window_average"
            ),
            # seasonal AutoETS with a long season is very slow in statsforecast (about 0.5 s per
            # weekly series with m = 52); like R's ets(), which refuses m > 24, long seasons get a
            # non-seasonal ETS and the seasonality comes from the other models
            "ets": lambda: AutoETS(season_length=season if season <= 24 else 1, alias="ets"),
            "theta": lambda: Theta(season_length=season, decomposition_type="additive", alias="theta"),
            "tsb": lambda: TSB(alpha_d=0.2, alpha_p=0.2, alias="tsb"),
            "croston": lambda: CrostonSBA(alias="croston"),
            "adida": lambda: ADIDA(alias="adida"),
            "naive": lambda: Naive(alias="naive"),
            "window_average": lambda: WindowAverage(window_size=season, alias="window_average"),
        }
        return [factories[name]() for name in names if name in STAT_MODELS]

    def _statsforecast(self, names: Sequence[str]) -> Any:
        from statsforecast import StatsForecast
        from statsforecast.models import Naive

        return StatsForecast(
            models=self._stat_models(names), freq=self.freq, n_jobs=self.config.n_jobs, fallback_model=Naive()
        )

    def _stats_input(self, frame: pl.DataFrame) -> Any:
        data = frame.select("unique_id", "ds", "y").to_pandas()
        if self.config.backend == "spark":
            from pyspark.sql import SparkSession

            spark = SparkSession.builder.getOrCreate()
            data["ds"] = data["ds"].astype("datetime64[us]")
            return spark.createDataFrame(data)
        return data

    def _stats_output(self, result: Any) -> pl.DataFrame:
        if self.config.backend == "spark":
            result = result.toPandas()
        out = pl.from_pandas(result.reset_index(drop="unique_id" in result.columns))
        return out.with_columns(pl.col("unique_id").cast(pl.String), pl.col("ds").cast(pl.Datetime("ns")))

    # mlforecast ----------------------------------------------------------------

    def _lgbm(self) -> Any:
        import lightgbm as lgb
        from mlforecast import MLForecast
        from mlforecast.lag_transforms import RollingMean, SeasonalRollingMean

        season = self.season
        lags = sorted({1, 2, 3, 4, season} | ({2 * season} if season <= 12 else set()))
        lag_transforms: dict[int, list[Any]] = {
            1: [RollingMean(window_size=w, min_samples=1) for w in sorted({4, season, 13} if season > 7 else {7, 28})],
        }
        if season > 1:
            lag_transforms[season] = [RollingMean(window_size=3, min_samples=1)]
            lag_transforms[1].append(SeasonalRollingMean(season_length=season, window_size=2, min_samples=1))
        date_features: list[Any] = ["month", _week_of_year]
        if default_season_length(self.freq) == 7:
            date_features += ["dayofweek", "day", _day_of_year]
        params: dict[str, Any] = {
            "n_estimators": 400,
            "learning_rate": 0.05,
            "num_leaves": 63,
            "min_child_samples": 20,
            "colsample_bytree": 0.8,
            "objective": "l2",
            "random_state": self.config.seed,
            "n_jobs": self.config.n_jobs,
            "verbosity": -1,
        }
        params.update(self.config.lgbm_params)
        return MLForecast(
            models={"lgbm": lgb.LGBMRegressor(**params)},
            freq=self.freq,
            lags=lags,
            lag_transforms=lag_transforms,
            date_features=date_features,
            num_threads=self.config.n_jobs,
        )

    def _ml_frame(self, frame: pl.DataFrame, scale: pl.DataFrame) -> Any:
        """Scale every series by its mean absolute demand so one global model fits all sizes.

        The weight puts the scale back into the loss, so big series count in proportion to their
        volume (the same weighting as WAPE)."""
        data = (
            frame.join(scale, on="unique_id", how="left")
            .with_columns((pl.col("y") / pl.col("scale")).alias("y"), pl.col("scale").alias("weight"))
            .drop("scale")
        )
        pdf = data.to_pandas()
        for column in self.config.static:
            if pdf[column].dtype == object or str(pdf[column].dtype) in ("string", "str"):
                pdf[column] = pdf[column].astype("category")
        return pdf

    @staticmethod
    def _scale(frame: pl.DataFrame, before: Any | None = None) -> pl.DataFrame:
        data = frame if before is None else frame.filter(pl.col("ds") <= before)
        scale = data.group_by("unique_id").agg(pl.col("y").abs().mean().alias("scale"))
        scale = frame.select("unique_id").unique().join(scale, on="unique_id", how="left")
        return scale.with_columns(
            pl.when(pl.col("scale").is_null() | (pl.col("scale") <= 0))
            .then(1.0)
            .otherwise(pl.col("scale"))
            .alias("scale")
        )

    def _ml_output(self, result: Any, scale: pl.DataFrame) -> pl.DataFrame:
        out = pl.from_pandas(result).with_columns(
            pl.col("unique_id").cast(pl.String), pl.col("ds").cast(pl.Datetime("ns"))
        )
        return out.join(scale, on="unique_id", how="left").with_columns(pl.col("lgbm") * pl.col("scale")).drop("scale")

    # Polars models ---------------------------------------------------------------

    def _frame_models(self, frame: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame | None:
        c = self.config
        out: pl.DataFrame | None = None
        for name in [n for n in names if n in FRAME_MODELS]:  # at most two models
            data = frame
            if name == "seasonal_level_svd":
                assert c.smooth_group is not None  # validated
                data = smooth_by_group(frame, c.smooth_group, c.smooth_rank)
            pred = seasonal_level(
                data, c.horizon, self.season, self.freq, c.level_window, c.level_damping, c.level_spread
            )
            pred = pred.rename({"seasonal_level": name})
            out = pred if out is None else out.join(pred, on=["unique_id", "ds"], how="left")
        return out

    # public -------------------------------------------------------------------

    def backtest(self, regular: pl.DataFrame, kinds: pl.DataFrame) -> pl.DataFrame:
        """Rolling-origin predictions of every model: unique_id, ds, cutoff, y, <model>...

        Only series with at least one season of training data before the first cutoff take part;
        the others get the average weights of those that did."""
        h, windows = self.config.horizon, self.config.backtest_windows
        names = list(self.config.models)
        if windows == 0 or (len(names) < 2 and self.config.select == "best") or not regular.height:
            return pl.DataFrame()
        need = self.season + 1 + h * windows
        eligible = kinds.filter((pl.col("kind") == "regular") & (pl.col("n") >= need))["unique_id"]
        data = regular.filter(pl.col("unique_id").is_in(eligible.implode()))
        if not data.height:
            return pl.DataFrame()
        # only series that end on the common last date: rolling origins are calendar dates
        last = data["ds"].max()
        ends = data.group_by("unique_id").agg(pl.col("ds").max().alias("end"))
        data = data.join(ends.filter(pl.col("end") == last).select("unique_id"), on="unique_id")
        if not data.height:
            return pl.DataFrame()
        frames: list[pl.DataFrame] = []
        stat_names = [n for n in names if n in STAT_MODELS]
        if stat_names:
            sf = self._statsforecast(stat_names)
            result = sf.cross_validation(h=h, df=self._stats_input(data), n_windows=windows, step_size=h)
            frames.append(self._stats_output(result))
        if "lgbm" in names:
            cutoffs = data.select(pl.col("ds").unique().sort()).to_series()
            first_cutoff = cutoffs[-(h * windows) - 1]
            scale = self._scale(data, first_cutoff)
            mlf = self._lgbm()
            result = mlf.cross_validation(
                df=self._ml_frame(data, scale),
                n_windows=windows,
                h=h,
                step_size=h,
                static_features=list(self.config.static),
                dropna=False,
                weight_col="weight",
            )
            ml = self._ml_output(result, scale).with_columns(pl.col("cutoff").cast(pl.Datetime("ns")))
            frames.append(ml.drop("y"))  # mlforecast's y is the scaled one
        if any(n in FRAME_MODELS for n in names):
            periods = data.select(pl.col("ds").unique().sort()).to_series()
            # the same cutoffs as cross_validation: windows of h periods ending at the last date
            origins = [periods[-(h * w) - 1] for w in range(windows, 0, -1)]
            frames.append(
                pl.concat(
                    [
                        self._frame_models(data.filter(pl.col("ds") <= cut), names).with_columns(  # type: ignore[union-attr]
                            pl.lit(cut).cast(pl.Datetime("ns")).alias("cutoff")
                        )
                        for cut in origins  # a couple of windows, not series
                    ]
                )
            )
        cv = frames[0]
        for extra in frames[1:]:
            added = [m for m in names if m in extra.columns and m not in cv.columns]
            cv = cv.join(extra.select("unique_id", "ds", "cutoff", *added), on=["unique_id", "ds", "cutoff"])
        if "y" not in cv.columns:
            cv = cv.join(data.select("unique_id", "ds", "y"), on=["unique_id", "ds"])
        return cv.with_columns([pl.col(m).clip(lower_bound=0.0).fill_nan(None) for m in names])

    def predict(self, frame: pl.DataFrame, future: pl.DataFrame | None, names: Sequence[str]) -> pl.DataFrame:
        h = self.config.horizon
        out: pl.DataFrame | None = None
        stat_names = [n for n in names if n in STAT_MODELS]
        if stat_names:
            sf = self._statsforecast(stat_names)
            out = self._stats_output(sf.forecast(h=h, df=self._stats_input(frame)))
        if "lgbm" in names:
            scale = self._scale(frame)
            mlf = self._lgbm()
            mlf.fit(
                self._ml_frame(frame, scale),
                static_features=list(self.config.static),
                dropna=False,
                weight_col="weight",
            )
            x_df = None
            if future is not None:
                x_df = future.filter(pl.col("unique_id").is_in(frame["unique_id"].unique().implode())).to_pandas()
            ml = self._ml_output(mlf.predict(h=h, X_df=x_df), scale)
            out = ml if out is None else out.join(ml, on=["unique_id", "ds"], how="left")
        level = self._frame_models(frame, names)
        if level is not None:
            out = level if out is None else out.join(level, on=["unique_id", "ds"], how="left")
        assert out is not None
        present = [n for n in names if n in out.columns]
        return out.with_columns([pl.col(m).clip(lower_bound=0.0).fill_nan(None) for m in present])


# ---------------------------------------------------------------- combination


def _empty_predictions(frame: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame(schema={"unique_id": pl.String, "ds": pl.Datetime("ns")})


def _weights(cv: pl.DataFrame, models: list[str], select: str) -> pl.DataFrame:
    """unique_id, model, weight; plus a row with unique_id null holding the pooled weights."""
    if not cv.height:
        return pl.DataFrame(schema={"unique_id": pl.String, "model": pl.String, "weight": pl.Float64})
    present = [m for m in models if m in cv.columns]
    long = cv.unpivot(index=["unique_id", "ds", "cutoff", "y"], on=present, variable_name="model", value_name="pred")
    err = long.group_by("unique_id", "model").agg(
        (pl.col("y") - pl.col("pred")).abs().mean().alias("mae"), pl.col("y").abs().mean().alias("level")
    )
    # a model that failed (NaN) for a series gets no weight rather than poisoning the average
    err = err.with_columns(pl.col("mae").fill_nan(None))
    pooled = err.group_by("model").agg(
        (pl.col("mae").sum() / pl.col("level").sum().clip(lower_bound=1e-9)).alias("rel")
    )
    if select == "best":
        best = err.drop_nulls("mae").sort("mae").group_by("unique_id").first()
        per_series = best.select("unique_id", "model", pl.lit(1.0).alias("weight"))
        best_pooled = pooled.drop_nulls("rel").sort("rel").head(1)
        pooled_w = best_pooled.select(pl.lit(None, pl.String).alias("unique_id"), "model", pl.lit(1.0).alias("weight"))
        return pl.concat([per_series, pooled_w])
    # inverse-error weights, squared so clearly worse models fade out; the per-series errors are
    # shrunk towards the pooled error (2 windows are a small sample) before inverting
    err = err.join(pooled, on="model").with_columns(
        ((pl.col("mae") + pl.col("rel") * pl.col("level")) / 2 + 1e-9).alias("shrunk")
    )
    err = err.with_columns((1.0 / pl.col("shrunk") ** 2).fill_null(0.0).alias("raw"))
    per_series = err.with_columns((pl.col("raw") / pl.col("raw").sum().over("unique_id")).alias("weight")).select(
        "unique_id", "model", pl.col("weight").fill_nan(1.0 / len(present))
    )
    pooled_raw = pooled.with_columns((1.0 / (pl.col("rel") + 1e-9) ** 2).fill_null(0.0).alias("raw"))
    pooled_w = pooled_raw.select(
        pl.lit(None, pl.String).alias("unique_id"), "model", (pl.col("raw") / pl.col("raw").sum()).alias("weight")
    )
    return pl.concat([per_series, pooled_w])


def _combine(base: pl.DataFrame, weights: pl.DataFrame, models: list[str], kinds: pl.DataFrame) -> pl.DataFrame:
    present = [m for m in [*models, *_SHORT_MODELS] if m in base.columns]
    if not base.height:
        return pl.DataFrame(schema={"unique_id": pl.String, "ds": pl.Datetime("ns"), "yhat": pl.Float64})
    long = base.unpivot(index=["unique_id", "ds"], on=present, variable_name="model", value_name="pred").drop_nulls(
        "pred"
    )
    long = long.join(kinds.select("unique_id", "kind"), on="unique_id")
    if weights.height:
        own = weights.drop_nulls("unique_id")
        pooled = weights.filter(pl.col("unique_id").is_null()).select("model", pl.col("weight").alias("pooled"))
        long = long.join(own, on=["unique_id", "model"], how="left").join(pooled, on="model", how="left")
        has_own = own.select("unique_id").unique().with_columns(pl.lit(True).alias("has_own"))
        long = long.join(has_own, on="unique_id", how="left")
        weight = (
            pl.when(pl.col("kind") == "short")
            .then(1.0)
            .when(pl.col("has_own").fill_null(False))
            .then(pl.col("weight").fill_null(0.0))
            .otherwise(pl.col("pooled").fill_null(0.0))
        )
    else:
        weight = pl.lit(1.0)
    long = long.with_columns(weight.alias("w"))
    combined = long.group_by("unique_id", "ds").agg(
        pl.when(pl.col("w").sum() > 0)
        .then((pl.col("pred") * pl.col("w")).sum() / pl.col("w").sum())
        .otherwise(pl.col("pred").mean())
        .alias("yhat")
    )
    return combined


def _backtest_residuals(cv: pl.DataFrame, weights: pl.DataFrame, models: list[str]) -> pl.DataFrame:
    """unique_id, ds, cutoff, y, yhat of the combined forecast over the backtest windows."""
    if not cv.height or not weights.height:
        return pl.DataFrame(schema={"unique_id": pl.String, "y": pl.Float64, "yhat": pl.Float64})
    present = [m for m in models if m in cv.columns]
    long = cv.unpivot(index=["unique_id", "ds", "cutoff", "y"], on=present, variable_name="model", value_name="pred")
    long = long.drop_nulls("pred").join(weights.drop_nulls("unique_id"), on=["unique_id", "model"], how="left")
    long = long.with_columns(pl.col("weight").fill_null(0.0))
    return long.group_by("unique_id", "ds", "cutoff").agg(
        pl.col("y").first(),
        pl.when(pl.col("weight").sum() > 0)
        .then((pl.col("pred") * pl.col("weight")).sum() / pl.col("weight").sum())
        .otherwise(pl.col("pred").mean())
        .alias("yhat"),
    )


def _quantiles(
    combined: pl.DataFrame, residuals: pl.DataFrame, frame: pl.DataFrame, kinds: pl.DataFrame, season: int
) -> pl.DataFrame:
    """Split-conformal band: yhat +/- the conformal quantile of |backtest error| of the combination.

    With n calibration errors the (ceil((n + 1) * 0.8) / n) empirical quantile of |error| gives an
    80% two-sided band (p10..p90). Series without backtest errors use 1.2816 standard deviations
    of their recent history (the normal 80% band) instead.
    """
    coverage = QUANTILES[-1] - QUANTILES[0]
    if residuals.height:
        width = (
            residuals.with_columns((pl.col("y") - pl.col("yhat")).abs().alias("abs_err"))
            .group_by("unique_id")
            .agg(pl.col("abs_err"), pl.len().alias("n_err"))
            .with_columns(
                pl.col("abs_err").list.eval(pl.element().sort()).alias("sorted"),
            )
            .with_columns(
                pl.min_horizontal(
                    ((pl.col("n_err") + 1) * coverage).ceil().cast(pl.Int64) - 1, pl.col("n_err") - 1
                ).alias("k")
            )
            .select("unique_id", pl.col("sorted").list.get(pl.col("k")).alias("conformal"))
        )
    else:
        width = pl.DataFrame(schema={"unique_id": pl.String, "conformal": pl.Float64})
    z80 = 1.2815515655446004
    out = (
        combined.join(width, on="unique_id", how="left")
        .join(kinds.select("unique_id", "recent_std"), on="unique_id", how="left")
        .with_columns(pl.coalesce(pl.col("conformal"), pl.col("recent_std") * z80).fill_null(0.0).alias("half"))
        .with_columns(pl.col("yhat").clip(lower_bound=0.0).fill_null(0.0))
        .with_columns(
            (pl.col("yhat") - pl.col("half")).clip(lower_bound=0.0).alias("yhat_p10"),
            pl.col("yhat").alias("yhat_p50"),
            (pl.col("yhat") + pl.col("half")).alias("yhat_p90"),
        )
    )
    return out.select("unique_id", "ds", "yhat", *QUANTILE_COLUMNS)


def _add_zero_series(
    forecasts: pl.DataFrame, kinds: pl.DataFrame, frame: pl.DataFrame, horizon: int, freq: str
) -> pl.DataFrame:
    """All-zero series forecast 0 with a zero-width band; no model is fitted on them."""
    zero = kinds.filter(pl.col("kind") == "zero").select("unique_id", "last_ds")
    if not zero.height:
        return forecasts
    import pandas as pd

    offset = pd.tseries.frequencies.to_offset(freq)
    zpd = zero.to_pandas()
    steps = [zpd.assign(ds=zpd["last_ds"] + offset * step) for step in range(1, horizon + 1)]
    grid = pl.from_pandas(pd.concat(steps, ignore_index=True)).select(
        pl.col("unique_id").cast(pl.String), pl.col("ds").cast(pl.Datetime("ns"))
    )
    zeros = grid.with_columns([pl.lit(0.0).alias(c) for c in ("yhat", *QUANTILE_COLUMNS)])
    return pl.concat([forecasts, zeros], how="vertical_relaxed")


def _chosen(kinds: pl.DataFrame, weights: pl.DataFrame, residuals: pl.DataFrame, select: str) -> pl.DataFrame:
    if residuals.height:
        err = residuals.group_by("unique_id").agg(
            ((pl.col("y") - pl.col("yhat")).abs().sum() / pl.col("y").abs().sum().clip(lower_bound=1e-9)).alias("wape"),
            (pl.col("y") - pl.col("yhat")).abs().mean().alias("mae"),
        )
    else:
        err = pl.DataFrame(schema={"unique_id": pl.String, "wape": pl.Float64, "mae": pl.Float64})
    if select == "best" and weights.height:
        best = weights.drop_nulls("unique_id").select("unique_id", pl.col("model").alias("best"))
    else:
        best = pl.DataFrame(schema={"unique_id": pl.String, "best": pl.String})
    default = "ensemble" if select == "ensemble" else None
    pooled_best = weights.filter(pl.col("unique_id").is_null()).sort("weight", descending=True)["model"].head(1)
    fallback = default or (pooled_best[0] if pooled_best.len() else "ensemble")
    return (
        kinds.select("unique_id", "kind")
        .join(best, on="unique_id", how="left")
        .join(err, on="unique_id", how="left")
        .with_columns(
            pl.when(pl.col("kind") == "zero")
            .then(pl.lit("zero"))
            .when(pl.col("kind") == "short")
            .then(pl.lit(_SHORT_MODELS[0]))
            .otherwise(pl.coalesce(pl.col("best"), pl.lit(fallback)))
            .alias("model")
        )
        .select("unique_id", "model", "wape", "mae")
    )


def _backtest_summary(cv: pl.DataFrame, models: list[str], residuals: pl.DataFrame) -> pl.DataFrame:
    schema = {"model": pl.String, "wape": pl.Float64, "mae": pl.Float64, "n": pl.Int64}
    if not cv.height:
        return pl.DataFrame(schema=schema)
    rows: list[dict[str, Any]] = []
    present = [m for m in models if m in cv.columns]
    scored = [(m, cv.select("y", pl.col(m).fill_null(0.0).alias("yhat"))) for m in present]
    if residuals.height:
        scored.append(("combined", residuals.select("y", "yhat")))
    for model, frame in scored:  # a handful of models, not series
        err = (pl.col("y") - pl.col("yhat")).abs()
        wape, mae = frame.select(
            (err.sum() / pl.col("y").abs().sum().clip(lower_bound=1e-9)).alias("wape"), err.mean().alias("mae")
        ).row(0)
        rows.append({"model": model, "wape": wape, "mae": mae})
    n_rows = cv.height
    return pl.DataFrame([{**r, "n": n_rows} for r in rows], schema=schema)


def to_output_dates(forecasts: pl.DataFrame, like: pl.DataType, *, columns: Sequence[str] = ("ds",)) -> pl.DataFrame:
    """Cast the engine's naive ns timestamps back to the caller's date/datetime type."""
    if like == pl.Date:
        return forecasts.with_columns([pl.col(c).dt.date() for c in columns])
    if isinstance(like, pl.Datetime):
        casts = [pl.col(c).cast(pl.Datetime(like.time_unit)) for c in columns]
        if like.time_zone:
            casts = [cast.dt.replace_time_zone(like.time_zone) for cast in casts]
        return forecasts.with_columns(casts)
    return forecasts


RECONCILE_METHODS = ("bottom_up", "mint_ols", "mint_wls_struct")


def reconcile(
    forecasts: pl.DataFrame,
    history: pl.DataFrame,
    spec: list[list[str]],
    *,
    method: str = "mint_ols",
    config: ForecastConfig | None = None,
) -> pl.DataFrame:
    """Coherent forecasts for every level of a hierarchy with hierarchicalforecast.

    spec lists the levels top-down as column lists, e.g. [["total"], ["region"],
    ["region", "location"], ["region", "location", "sku"]]; a "total" column is added when
    missing. history holds the bottom level: the spec columns, ds, y. forecasts holds bottom-level
    forecasts: the bottom spec columns (the upper ones are looked up in history), ds, yhat and the
    quantile columns.

    Base forecasts of the upper levels: with `config`, the engine forecasts every aggregated
    series itself and MinTrace reconciles the levels; without it they are the bottom-level sums
    (so every method returns the bottom-up answer). Quantile columns are reconciled column by
    column, then re-sorted so p10 <= p50 <= p90 and clipped at 0; the band of an aggregate is
    therefore the sum of its children's bands (a conservative, full-correlation band).

    Returns: level ("region/location"), unique_id ("north/sh01"), every spec column (null when
    not part of the level), ds, yhat, yhat_p10, yhat_p50, yhat_p90.
    """
    from hierarchicalforecast.core import HierarchicalReconciliation  # type: ignore[import-untyped]
    from hierarchicalforecast.methods import BottomUp, MinTrace  # type: ignore[import-untyped]
    from hierarchicalforecast.utils import aggregate  # type: ignore[import-untyped]

    if not spec:
        raise ForecastInputError(["spec must list at least one level"])
    levels = [list(level) for level in spec]
    columns = list(dict.fromkeys(c for level in levels for c in level))
    if "total" in columns:
        # the library names the top node "total"; whatever the caller's column holds is replaced
        history = history.with_columns(pl.lit("total").alias("total"))
    value_columns = ["yhat", *QUANTILE_COLUMNS]
    bottom = levels[-1]
    problems: list[str] = []
    if method not in RECONCILE_METHODS:
        problems.append(f"method must be one of {list(RECONCILE_METHODS)}, got {method!r}")
    if any(set(level) - set(bottom) - {"total"} for level in levels):
        problems.append(f"the last level {bottom} must contain every column of the other levels")
    missing_history = [c for c in [*columns, "ds", "y"] if c not in history.columns]
    if missing_history:
        problems.append(f"history is missing columns {missing_history}")
    missing_forecasts = [c for c in [*bottom, "ds", *value_columns] if c not in forecasts.columns and c != "total"]
    if missing_forecasts:
        problems.append(f"forecasts are missing columns {missing_forecasts}")
    if problems:
        raise ForecastInputError(problems)

    ds_type = forecasts.schema["ds"]
    cast_text = [pl.col(c).cast(pl.String) for c in columns]
    hist = history.with_columns(cast_text).select(*columns, "ds", pl.col("y").cast(pl.Float64))
    mapping = hist.select(columns).unique()
    fc = forecasts.with_columns([pl.col(c).cast(pl.String) for c in bottom if c in forecasts.columns])
    fc = fc.drop([c for c in columns if c not in bottom and c in fc.columns])
    fc = fc.join(mapping, on=[c for c in bottom if c != "total" or c in fc.columns], how="left")
    if "total" in columns and "total" not in fc.columns:
        fc = fc.with_columns(pl.lit("total").alias("total"))
    fc = fc.select(*columns, pl.col("ds").cast(pl.Datetime("ns")), *[pl.col(c).cast(pl.Float64) for c in value_columns])
    hist = hist.with_columns(pl.col("ds").cast(pl.Datetime("ns")))

    # hierarchicalforecast wants every column in the bottom level: a "total" level is spelled as a
    # prefix of every other level for the library and stripped from its ids afterwards
    with_total = "total" in columns and ["total"] in levels
    lib_levels = [lv if lv == ["total"] or not with_total else ["total", *lv] for lv in levels]
    y_df, s_df, tags = aggregate(hist.to_pandas(), lib_levels)
    base, _, _ = aggregate(fc.to_pandas(), lib_levels, target_cols=tuple(value_columns))
    base_pl = pl.from_pandas(base).with_columns(pl.col("unique_id").cast(pl.String))
    if config is not None and method != "bottom_up":
        upper_ids = [uid for level in lib_levels[:-1] for uid in tags["/".join(level)]]
        upper_hist = (
            pl.from_pandas(y_df)
            .with_columns(pl.col("unique_id").cast(pl.String))
            .filter(pl.col("unique_id").is_in(upper_ids))
        )
        from dataclasses import replace

        upper_config = replace(config, exog=(), static=())
        upper = forecast(upper_hist.select("unique_id", "ds", "y"), upper_config).forecasts
        upper = upper.with_columns(pl.col("ds").cast(pl.Datetime("ns")))
        base_pl = (
            base_pl.join(upper, on=["unique_id", "ds"], how="left", suffix="_own")
            .with_columns([pl.coalesce(pl.col(f"{c}_own"), pl.col(c)).alias(c) for c in value_columns])
            .drop([f"{c}_own" for c in value_columns])
        )
    reconciler = BottomUp() if method == "bottom_up" else MinTrace(method=method.removeprefix("mint_"))
    hrec = HierarchicalReconciliation(reconcilers=[reconciler])
    result = pl.from_pandas(hrec.reconcile(Y_hat_df=base_pl.to_pandas(), S_df=s_df, tags=tags, Y_df=y_df)).with_columns(
        pl.col("unique_id").cast(pl.String)
    )
    if with_total:
        result = result.with_columns(
            pl.when(pl.col("unique_id") == "total")
            .then(pl.col("unique_id"))
            .otherwise(pl.col("unique_id").str.strip_prefix("total/"))
            .alias("unique_id")
        )
    renamed = {}
    for column in value_columns:
        produced = [c for c in result.columns if c.startswith(f"{column}/")]
        renamed[produced[0]] = column
    result = result.select("unique_id", "ds", *renamed.keys()).rename(renamed)
    result = (
        result.with_columns(pl.col("yhat").clip(lower_bound=0.0))
        .with_columns(
            pl.min_horizontal(QUANTILE_COLUMNS).clip(lower_bound=0.0).alias("lo"),
            pl.max_horizontal(QUANTILE_COLUMNS).clip(lower_bound=0.0).alias("hi"),
            (
                pl.sum_horizontal(QUANTILE_COLUMNS)
                - pl.min_horizontal(QUANTILE_COLUMNS)
                - pl.max_horizontal(QUANTILE_COLUMNS)
            )
            .clip(lower_bound=0.0)
            .alias("mid"),
        )
        .select("unique_id", "ds", "yhat", yhat_p10="lo", yhat_p50="mid", yhat_p90="hi")
    )

    level_rows = [
        mapping.select(level)
        .unique()
        .with_columns(pl.concat_str(level, separator="/").alias("unique_id"), pl.lit("/".join(level)).alias("level"))
        for level in levels
    ]
    labels = pl.concat(level_rows, how="diagonal_relaxed").select("level", "unique_id", *columns)
    out = labels.join(result, on="unique_id", how="inner").sort("level", "unique_id", "ds")
    return to_output_dates(out, ds_type)
