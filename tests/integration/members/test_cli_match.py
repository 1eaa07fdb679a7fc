"""``zhongtai members match``: a member file in, each record's cluster out."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from zhongtai.cli import app

runner = CliRunner()

MEMBERS = pl.DataFrame(
    {
        "no": ["1", "2", "3", "4", "5", "6"],
        "mobile": ["13800138001", "", "+86 138 0013 8001", "13900139003", "13900139003", "not a phone"],
        "mail": ["", "li.na@example.cn", "LI.NA@example.cn", "", "", ""],
        "name": ["李娜", "李娜", "李 娜", "王芳", "汪芳", "张伟"],
        "born": ["1990-01-02", "1990年1月2日", "", "1985-03-04", "1985-03-04", ""],
        "city": ["上海市", "上海市", "上海市", "北京市", "北京市", "广州市"],
    }
)
ATTRS = ["--attr", "mobile=phone", "--attr", "mail=email", "--attr", "name=full_name", "--attr", "born=birthday"]


@pytest.fixture
def member_file(tmp_path: Path) -> Path:
    path = tmp_path / "members.csv"
    MEMBERS.write_csv(path)
    return path


def test_match_writes_each_records_cluster(member_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "clusters.parquet"

    result = runner.invoke(
        app, ["members", "match", str(member_file), "--id", "no", *ATTRS, "--out", str(out), "--no-probabilistic"]
    )

    assert result.exit_code == 0, result.output
    clusters = dict(pl.read_parquet(out).iter_rows())
    # 1 and 3 share the phone, 3 and 2 the e-mail; 4 and 5 the phone; 6's phone is invalid
    assert clusters == {"1": "1", "2": "1", "3": "1", "4": "4", "5": "4", "6": "6"}
    assert (tmp_path / "clusters.review.csv").exists()
    for figure in ("records", "clusters (members)", "quarantined identifiers", "review pairs", "seconds"):
        assert figure in result.output
    assert "invalid mobile" in result.output


def test_match_runs_the_probabilistic_model(member_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "clusters.csv"

    result = runner.invoke(
        app,
        ["members", "match", str(member_file), "--id", "no", *ATTRS, "--attr", "city=city", "--out", str(out)],
    )

    assert result.exit_code == 0, result.output
    assert pl.read_csv(out, infer_schema=False).height == len(MEMBERS)
    assert "probabilistic merges" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attr", "mobile=mobile"], "unknown kind 'mobile'"),
        (["--attr", "mobile"], "expected COL=KIND"),
        (["--attr", "phone=phone"], "no column 'phone'"),
        (["--attr", "mobile=phone", "--backend", "spark"], "Java runtime"),
    ],
)
def test_bad_arguments_are_explained(
    member_file: Path, tmp_path: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "spark" in args:
        # given pyspark (in the lock) on a machine without Java
        monkeypatch.setenv("PATH", "/nonexistent")
        monkeypatch.delenv("JAVA_HOME", raising=False)

    result = runner.invoke(
        app, ["members", "match", str(member_file), "--id", "no", *args, "--out", str(tmp_path / "o.csv")]
    )

    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "o.csv").exists()
