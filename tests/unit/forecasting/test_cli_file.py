"""`zhongtai forecast file` on an analyst's CSV and on a Walmart-shaped Parquet file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from zhongtai.cli import app

runner = CliRunner()


@pytest.fixture
def analyst_csv(tmp_path: Path) -> Path:
    """门店 x 商品 daily sales as an analyst exports them: text dates, one gap day per week."""
    rng = np.random.default_rng(0)
    rows = []
    for store in ("上海一店", "北京二店"):
        for product in ("可乐", "薯片"):
            for day in range(60):
                if product == "薯片" and day % 7 == 3 and day < 50:
                    continue
                date = dt.date(2025, 3, 1) + dt.timedelta(days=day)
                rows.append({"门店": store, "商品": product, "日期": date.isoformat(), "销量": int(rng.poisson(12))})
    path = tmp_path / "sales.csv"
    pl.DataFrame(rows).write_csv(path)
    return path


def test_analyst_csv_gets_forecasts_with_its_own_columns(analyst_csv: Path, tmp_path: Path) -> None:
    # given the analyst's file, when forecasting 14 days into a CSV
    out = tmp_path / "forecast.csv"
    result = runner.invoke(
        app,
        ["forecast", "file", str(analyst_csv), "--id", "门店,商品", "--time", "日期", "--target", "销量",
         "--freq", "D", "--horizon", "14", "--models", "seasonal_naive,tsb", "--out", str(out)],
    )  # fmt: skip

    # then it succeeds and writes the original id columns, the date column and the forecast columns
    assert result.exit_code == 0, result.output
    written = pl.read_csv(out, try_parse_dates=True)
    assert written.columns == ["门店", "商品", "日期", "yhat", "yhat_p10", "yhat_p50", "yhat_p90"]
    assert written.height == 4 * 14
    assert written["日期"].min() == dt.date(2025, 4, 30)
    assert written.filter(pl.col("yhat_p10") > pl.col("yhat_p90")).height == 0
    assert written["yhat"].mean() == pytest.approx(12, rel=0.35)


def test_bad_file_lists_every_problem_and_exits_non_zero(tmp_path: Path) -> None:
    # given a file with an unparseable date, a non-numeric quantity and no 商品 column
    path = tmp_path / "bad.csv"
    path.write_text("门店,日期,销量\n上海一店,2025-03-01,3\n上海一店,not-a-date,4\n上海一店,2025-03-03,many\n")

    # when forecasting it by 门店,商品
    result = runner.invoke(
        app,
        ["forecast", "file", str(path), "--id", "门店,商品", "--time", "日期", "--target", "销量",
         "--freq", "D", "--horizon", "3", "--out", str(tmp_path / "o.parquet")],
    )  # fmt: skip

    # then the missing column is reported; with it fixed, the date and number problems come by line
    assert result.exit_code == 1
    assert "missing columns ['商品']" in result.output
    result = runner.invoke(
        app,
        ["forecast", "file", str(path), "--id", "门店", "--time", "日期", "--target", "销量",
         "--freq", "D", "--horizon", "3", "--out", str(tmp_path / "o.parquet")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "1 values are not dates (first: 'not-a-date' on line 3)" in result.output
    assert "1 values are not numbers (first: 'many' on line 4)" in result.output
    assert not (tmp_path / "o.parquet").exists()


def test_walmart_shaped_parquet_with_store_features(tmp_path: Path) -> None:
    # given weekly Store x Dept sales (Fridays) and a features file by Store and Date covering the
    # history and 4 future weeks, where markdown weeks sell double
    rng = np.random.default_rng(1)
    weeks = [dt.date(2011, 1, 7) + dt.timedelta(weeks=i) for i in range(64)]
    markdown = {(s, w): float(rng.random() < 0.2) for s in (1, 2) for w in weeks}
    sales = pl.DataFrame(
        [
            {"Store": s, "Dept": d, "Date": w, "Weekly_Sales": 100.0 * d * (1 + markdown[(s, w)]) + rng.normal(0, 5)}
            for s in (1, 2)
            for d in (1, 2, 3)
            for w in weeks[:60]
        ]
    )
    features = pl.DataFrame([{"Store": s, "Date": w, "MarkDown1": markdown[(s, w)]} for s in (1, 2) for w in weeks])
    sales.write_parquet(tmp_path / "train.parquet")
    features.write_parquet(tmp_path / "features.parquet")
    out = tmp_path / "forecast.parquet"

    # when forecasting 4 weeks with the features joined on Store,Date
    result = runner.invoke(
        app,
        ["forecast", "file", str(tmp_path / "train.parquet"), "--id", "Store,Dept", "--time", "Date",
         "--target", "Weekly_Sales", "--freq", "W", "--horizon", "4", "--features", str(tmp_path / "features.parquet"),
         "--features-on", "Store,Date", "--models", "seasonal_naive,lgbm", "--quantiles", "0.1,0.9", "--out", str(out)],
    )  # fmt: skip

    # then the Parquet keeps the integer ids and Date type, Fridays, and the requested quantiles
    assert result.exit_code == 0, result.output
    written = pl.read_parquet(out)
    assert written.columns == ["Store", "Dept", "Date", "yhat", "yhat_p10", "yhat_p90"]
    assert written.schema["Store"] == sales.schema["Store"]
    assert written.schema["Date"] == pl.Date
    assert written.height == 6 * 4
    assert set(written["Date"].dt.weekday()) == {5}
    assert written["Date"].min() == weeks[60]


def test_the_shell_sees_the_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given the real entry point (click returns typer.Exit's code outside standalone mode)
    from zhongtai.cli import main

    argv = ["zhongtai", "forecast", "file", str(tmp_path / "missing.csv"), "--id", "a", "--time", "b"]
    argv += ["--target", "c", "--freq", "D", "--horizon", "3", "--out", str(tmp_path / "out.csv")]
    monkeypatch.setattr("sys.argv", argv)
    # when the input does not exist / then the exit code is not 0 and nothing is written
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    assert not (tmp_path / "out.csv").exists()
