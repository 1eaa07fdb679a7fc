"""Forecast an analyst's own sales file: any id columns, a date column, a target column.

Reads CSV or Parquet with Polars, checks everything at once (missing columns, unparseable dates,
non-numeric targets) and runs the engine over every series found. Rows sharing the same ids and
date are summed (a file of receipts becomes a daily series). An optional features file joined on
some of the input's columns adds exogenous columns: joined on the time column (plus ids) its
numeric columns vary by period and must cover the forecast horizon; joined on id columns only
they are static per series.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from zhongtai.forecasting.engine import (
    QUANTILE_COLUMNS,
    QUANTILES,
    ForecastConfig,
    ForecastInputError,
    Progress,
    forecast,
)

_ID_SEPARATOR = "\x1f"  # joins several id columns into the engine's unique_id; never in real ids
_TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def read_table(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    if not path.exists():
        raise ForecastInputError([f"{path}: no such file"])
    if suffix not in _TABLE_SUFFIXES:
        raise ForecastInputError([f"{path}: expected a .csv, .tsv or .parquet file"])
    if suffix in (".parquet", ".pq"):
        return pl.read_parquet(path)
    # every column as text first: the date and target parsers then report bad values by line
    return pl.read_csv(path, separator="\t" if suffix == ".tsv" else ",", infer_schema=False)


def write_table(frame: pl.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame.write_parquet(path)
    elif suffix == ".tsv":
        frame.write_csv(path, separator="\t")
    else:
        frame.write_csv(path)


def check_output_path(path: Path) -> list[str]:
    if path.suffix.lower() not in _TABLE_SUFFIXES:
        return [f"--out {path}: expected a .csv, .tsv or .parquet file name"]
    if not path.parent.exists():
        return [f"--out {path}: folder {path.parent} does not exist"]
    return []


def _parse_time(frame: pl.DataFrame, column: str, label: str, problems: list[str]) -> pl.DataFrame:
    dtype = frame.schema[column]
    if dtype.is_temporal():
        return frame
    if dtype != pl.String:
        problems.append(f"{label} column {column!r} is {dtype}, not a date")
        return frame
    text = pl.col(column).str.strip_chars()
    parsed = pl.coalesce(
        text.str.to_date(strict=False),
        text.str.to_date("%Y/%m/%d", strict=False),
        text.str.to_date("%Y%m%d", strict=False),
        text.str.to_date("%d/%m/%Y", strict=False),
    )
    has_time = frame.select(text.str.contains(r"\d[ T]\d{1,2}:").any()).item()
    if has_time:
        parsed = text.str.to_datetime(strict=False)
    out = frame.with_row_index("_line", offset=2).with_columns(parsed.alias("_parsed"))
    bad = out.filter(pl.col("_parsed").is_null() & pl.col(column).is_not_null())
    empty = out.filter(pl.col(column).is_null()).height
    if bad.height:
        first = bad.row(0, named=True)
        problems.append(
            f"{label} column {column!r}: {bad.height} values are not dates"
            f" (first: {first[column]!r} on line {first['_line']})"
        )
    if empty:
        problems.append(f"{label} column {column!r}: {empty} rows have no date")
    return out.with_columns(pl.col("_parsed").alias(column)).drop("_line", "_parsed")


def _parse_number(frame: pl.DataFrame, column: str, label: str, problems: list[str]) -> pl.DataFrame:
    dtype = frame.schema[column]
    if dtype.is_numeric():
        return frame.with_columns(pl.col(column).cast(pl.Float64))
    if dtype == pl.Boolean:
        return frame.with_columns(pl.col(column).cast(pl.Float64))
    if dtype != pl.String:
        problems.append(f"{label} column {column!r} is {dtype}, not a number")
        return frame
    text = pl.col(column).str.strip_chars().str.replace_all(",", "")
    lowered = text.str.to_lowercase()
    parsed = (
        pl.when(lowered.is_in(["true", "false"]))
        .then((lowered == "true").cast(pl.Float64))
        .otherwise(text.cast(pl.Float64, strict=False))
    )
    out = frame.with_row_index("_line", offset=2).with_columns(parsed.alias("_parsed"))
    bad = out.filter(pl.col("_parsed").is_null() & pl.col(column).is_not_null() & (text != ""))
    if bad.height:
        first = bad.row(0, named=True)
        problems.append(
            f"{label} column {column!r}: {bad.height} values are not numbers"
            f" (first: {first[column]!r} on line {first['_line']})"
        )
    return out.with_columns(pl.col("_parsed").alias(column)).drop("_line", "_parsed")


def forecast_table(
    data: pl.DataFrame,
    *,
    id_cols: Sequence[str],
    time_col: str,
    target_col: str,
    freq: str,
    horizon: int,
    features: pl.DataFrame | None = None,
    features_on: Sequence[str] = (),
    quantiles: Sequence[float] = QUANTILES,
    n_jobs: int = 1,
    models: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """Forecasts for every series of `data`: the id columns, the time column, yhat, yhat_pNN."""
    problems: list[str] = []
    id_cols = list(id_cols)
    if not id_cols:
        problems.append("--id: name at least one id column")
    missing = [c for c in dict.fromkeys([*id_cols, time_col, target_col]) if c not in data.columns]
    if missing:
        problems.append(f"input is missing columns {missing}; it has {data.columns}")
    if horizon < 1:
        problems.append(f"--horizon must be at least 1, got {horizon}")
    unknown_q = [q for q in quantiles if q not in QUANTILES]
    if unknown_q:
        problems.append(f"--quantiles: the engine forecasts {list(QUANTILES)}; {unknown_q} are not available")
    if features is not None:
        if not features_on:
            problems.append("--features needs --features-on (the columns to join on)")
        missing_in = [c for c in features_on if c not in data.columns]
        missing_feat = [c for c in features_on if c not in features.columns]
        if missing_in:
            problems.append(f"--features-on columns {missing_in} are not in the input")
        if missing_feat:
            problems.append(f"--features-on columns {missing_feat} are not in the features file")
    if problems:
        raise ForecastInputError(problems)

    data = _parse_time(data, time_col, "input", problems)
    data = _parse_number(data, target_col, "input", problems)
    empty_ids = [c for c in id_cols if data[c].null_count()]
    if empty_ids:
        problems.append(f"id columns {empty_ids} have empty values")
    exog: list[str] = []
    static: list[str] = []
    if features is not None:
        if time_col in features_on:
            features = _parse_time(features, time_col, "features", problems)
        extra = [c for c in features.columns if c not in features_on and c not in (target_col,)]
        for column in extra:
            features = _parse_number(features, column, "features", problems)
        exog, static = (extra, []) if time_col in features_on else ([], extra)
    if problems:
        raise ForecastInputError(problems)

    id_types = {c: data.schema[c] for c in id_cols}
    data = data.with_columns([pl.col(c).cast(pl.String) for c in id_cols])
    uid = pl.concat_str(id_cols, separator=_ID_SEPARATOR).alias("unique_id")
    history = (
        data.group_by([*id_cols, time_col])
        .agg(pl.col(target_col).sum().alias("y"))
        .with_columns(uid)
        .rename({time_col: "ds"})
    )
    future: pl.DataFrame | None = None
    if features is not None:
        feats = features.with_columns([pl.col(c).cast(pl.String) for c in features_on if c in id_cols])
        feats = feats.unique(subset=list(features_on), keep="last")
        on_hist = [("ds" if c == time_col else c) for c in features_on]
        feats = feats.rename({time_col: "ds"}) if time_col in features_on else feats
        history = history.join(feats, on=on_hist, how="left")
        if exog:
            keys = [c for c in on_hist if c != "ds"]
            last = history.group_by("unique_id", *id_cols).agg(pl.col("ds").max().alias("_last"))
            future = (
                (last.join(feats, on=keys, how="inner") if keys else last.join(feats, how="cross"))
                .filter(pl.col("ds") > pl.col("_last"))
                .drop("_last")
            )
            future = future.with_columns(future["ds"].cast(history.schema["ds"]))
    config = ForecastConfig(
        freq=freq,
        horizon=horizon,
        exog=tuple(exog),
        static=tuple(static),
        n_jobs=n_jobs,
        models=tuple(models) if models else ForecastConfig.models,
    )
    result = forecast(history, config, future=future, progress=progress)
    ids = history.select("unique_id", *id_cols).unique("unique_id")
    wanted = [col for q, col in zip(QUANTILES, QUANTILE_COLUMNS, strict=True) if q in quantiles]
    out = result.forecasts.join(ids, on="unique_id", how="left")
    out = out.with_columns([pl.col(c).cast(t, strict=False) for c, t in id_types.items()])
    return out.select(*id_cols, pl.col("ds").alias(time_col), "yhat", *wanted).sort([*id_cols, time_col])
