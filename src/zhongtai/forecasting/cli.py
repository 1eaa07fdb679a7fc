"""`zhongtai forecast ...`: forecasting from the command line, no database needed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

app = typer.Typer(help="Demand forecasting", no_args_is_help=True)
_out = Console()
_err = Console(stderr=True)


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


@app.command("file")
def forecast_file(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="CSV, TSV or Parquet sales file")],
    id_cols: Annotated[str, typer.Option("--id", help="id columns, comma separated (e.g. 门店,商品)")],
    time_col: Annotated[str, typer.Option("--time", help="date column")],
    target_col: Annotated[str, typer.Option("--target", help="quantity column")],
    freq: Annotated[str, typer.Option("--freq", help="pandas offset: D, W, W-FRI, MS...")],
    horizon: Annotated[int, typer.Option("--horizon", help="periods to forecast past each series' last date")],
    out_path: Annotated[Path, typer.Option("--out", help="output .parquet or .csv")],
    features: Annotated[Path | None, typer.Option("--features", help="file of exogenous columns")] = None,
    features_on: Annotated[str, typer.Option("--features-on", help="join columns, e.g. Store,Date")] = "",
    quantiles: Annotated[str, typer.Option("--quantiles", help="quantiles to write")] = "0.1,0.5,0.9",
    models: Annotated[str, typer.Option("--models", help="engine models, comma separated")] = "",
    n_jobs: Annotated[int, typer.Option("--n-jobs", help="worker processes/threads")] = 1,
) -> None:
    """Forecast every series of INPUT HORIZON periods ahead and write yhat and quantile columns."""
    from zhongtai.forecasting.engine import ForecastInputError
    from zhongtai.forecasting.files import check_output_path, forecast_table, read_table, write_table

    problems = check_output_path(out_path)
    try:
        wanted = [float(q) for q in _columns(quantiles)]
    except ValueError:
        problems.append(f"--quantiles {quantiles!r}: expected numbers like 0.1,0.5,0.9")
        wanted = []
    if n_jobs < 1:
        problems.append(f"--n-jobs must be at least 1, got {n_jobs}")
    try:
        data = read_table(input_path)
        extra = read_table(features) if features is not None else None
    except ForecastInputError as exc:
        problems.extend(exc.problems)
    if problems:
        _fail(problems)
    n_jobs = min(n_jobs, os.cpu_count() or 1)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=_err, transient=True
    ) as bar:
        task = bar.add_task("reading", total=4)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        try:
            result = forecast_table(
                data,
                id_cols=_columns(id_cols),
                time_col=time_col,
                target_col=target_col,
                freq=freq,
                horizon=horizon,
                features=extra,
                features_on=_columns(features_on),
                quantiles=wanted,
                n_jobs=n_jobs,
                models=_columns(models) or None,
                progress=report,
            )
        except ForecastInputError as exc:
            bar.stop()
            _fail(exc.problems)
    write_table(result, out_path)
    series = result.select(_columns(id_cols)).n_unique()
    _out.print(f"[green]wrote {result.height:,} rows ({series:,} series x {horizon}) to {out_path}[/green]")


def _fail(problems: list[str]) -> None:
    for problem in problems:
        _err.print(f"[red]error[/red]: {problem}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)
