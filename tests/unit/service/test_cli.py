from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from zhongtai.cli import app

runner = CliRunner()


@pytest.fixture
def intent_files(tmp_path: Path, intent_examples: dict[str, list[str]]) -> tuple[Path, Path]:
    """A CSV of 9 paraphrases per intent to train on and a Parquet file of the other 3."""
    train = [(q, label) for label, qs in intent_examples.items() for q in qs[:9]]
    test = [(q, label) for label, qs in intent_examples.items() for q in qs[9:]]
    pl.DataFrame(train, schema=["问题", "意图"], orient="row").write_csv(tmp_path / "train.csv")
    pl.DataFrame(test, schema=["问题", "意图"], orient="row").write_parquet(tmp_path / "test.parquet")
    return tmp_path / "train.csv", tmp_path / "test.parquet"


@pytest.fixture
def pair_files(tmp_path: Path, match_pairs: list[tuple[str, str, int]]) -> tuple[Path, Path]:
    frame = pl.DataFrame(match_pairs, schema=["sentence1", "sentence2", "label"], orient="row")
    frame.write_parquet(tmp_path / "pairs.parquet")
    frame.head(40).write_csv(tmp_path / "pairs_test.csv")
    return tmp_path / "pairs.parquet", tmp_path / "pairs_test.csv"


def _last_json(output: str) -> dict[str, float]:
    lines = [line for line in output.splitlines() if line.strip()]
    parsed: dict[str, float] = json.loads(lines[-1])
    return parsed


def test_nlu_evaluate_prints_accuracy_and_macro_f1_last(intent_files: tuple[Path, Path]) -> None:
    # given labelled train (CSV) and test (Parquet) files with Chinese column names
    train, test = intent_files
    # when the intent model is evaluated
    result = runner.invoke(
        app,
        [
            "service",
            "nlu",
            "evaluate",
            "--train",
            str(train),
            "--test",
            str(test),
            "--text-col",
            "问题",
            "--label-col",
            "意图",
        ],
    )
    # then it succeeds and the last line is JSON with the two figures
    assert result.exit_code == 0, result.output
    figures = _last_json(result.output)
    assert 0.6 <= figures["accuracy"] <= 1.0
    assert 0.0 <= figures["macro_f1"] <= 1.0
    assert "accuracy" in result.output.splitlines()[-2]


def test_match_evaluate_prints_f1_precision_recall_accuracy_last(pair_files: tuple[Path, Path]) -> None:
    # given pair files (Parquet to train, CSV to test)
    train, test = pair_files
    # when the matcher is evaluated
    result = runner.invoke(app, ["service", "match", "evaluate", "--train", str(train), "--test", str(test)])
    # then the last line holds the positive class's figures
    assert result.exit_code == 0, result.output
    figures = _last_json(result.output)
    assert set(figures) >= {"f1", "precision", "recall", "accuracy"}
    assert figures["accuracy"] > 0.5


def test_bad_inputs_are_each_named_and_exit_2(tmp_path: Path, intent_files: tuple[Path, Path]) -> None:
    # given a train file missing the label column, and a test file with an unknown extension
    train, _ = intent_files
    (tmp_path / "test.xlsx").write_text("x")
    # when evaluating
    result = runner.invoke(
        app,
        [
            "service",
            "nlu",
            "evaluate",
            "--train",
            str(train),
            "--test",
            str(tmp_path / "test.xlsx"),
            "--text-col",
            "问题",
            "--label-col",
            "intent",
        ],
    )
    # then each problem is one line and the exit code is 2
    assert result.exit_code == 2
    assert "missing column(s) intent" in result.output
    assert "unknown extension '.xlsx'" in result.output


def test_empty_pair_file_and_bad_labels_are_refused(tmp_path: Path) -> None:
    # given an empty pair CSV (header only) and a pair file whose labels are not 0/1
    empty, odd = tmp_path / "empty.csv", tmp_path / "odd.csv"
    empty.write_text("sentence1,sentence2,label\n")
    odd.write_text("sentence1,sentence2,label\n我要退货,怎么退货,yes\n")
    # when evaluating
    result = runner.invoke(app, ["service", "match", "evaluate", "--train", str(empty), "--test", str(odd)])
    # then both are named and the exit code is 2
    assert result.exit_code == 2
    assert "empty.csv: no rows" in result.output
    assert "odd.csv: label must be 0 or 1" in result.output


def test_entry_point_exits_2_on_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given the installed `zhongtai` entry point (not the test runner) and a file of unknown type
    from zhongtai.cli import main

    (tmp_path / "train.txt").write_text("x")
    argv = ["zhongtai", "service", "match", "evaluate", "--train", str(tmp_path / "train.txt"), "--test", "t.csv"]
    monkeypatch.setattr("sys.argv", argv)
    # when it runs / then the shell sees exit code 2
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
