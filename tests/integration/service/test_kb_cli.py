"""``zhongtai service kb ...``: load the packs and publish, export, import (dry run, replace),
and exit 2 with ``error:`` lines on bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zhongtai.cli import app
from zhongtai.db import Database
from zhongtai.service import kb
from zhongtai.settings import get_settings

runner = CliRunner()


@pytest.fixture
def cli_db(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("ZHONGTAI_DATABASE_URL", db.url)
    monkeypatch.setenv("ZHONGTAI_ENV", "test")
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


def _last_json(output: str) -> dict[str, object]:
    parsed: dict[str, object] = json.loads([line for line in output.splitlines() if line.strip()][-1])
    return parsed


def test_load_packs_publish_export_and_import(cli_db: Database, tmp_path: Path) -> None:
    loaded = runner.invoke(app, ["service", "kb", "load-packs", "--pack", "chitchat", "--pack", "orders", "--publish"])
    assert loaded.exit_code == 0, loaded.output
    figures = _last_json(loaded.output)
    assert figures["created"] == 20
    assert figures["version"] == 1
    with cli_db.transaction(write=False) as s:
        assert kb.published(s).version == 1  # type: ignore[union-attr]

    exported = runner.invoke(app, ["service", "kb", "export", str(tmp_path / "kb.csv")])
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "kb.csv").read_bytes().startswith("\ufeff".encode())

    # Only the chit-chat scenario stays in the file: a replace would delete the 9 order sub-intents.
    lines = (tmp_path / "kb.csv").read_text(encoding="utf-8-sig").splitlines()
    (tmp_path / "chitchat.csv").write_text("\n".join([lines[0], *[x for x in lines[1:] if x.startswith("chitchat,")]]))
    dry = runner.invoke(
        app, ["service", "kb", "import", str(tmp_path / "chitchat.csv"), "--mode", "replace", "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert (_last_json(dry.output)["deleted"], _last_json(dry.output)["dry_run"]) == (9, True)
    with cli_db.transaction(write=False) as s:
        assert kb.tree(s).counts.subintents == 20
    real = runner.invoke(app, ["service", "kb", "import", str(tmp_path / "chitchat.csv"), "--mode", "replace"])
    assert real.exit_code == 0, real.output
    with cli_db.transaction(write=False) as s:
        assert kb.tree(s).counts.subintents == 11

    published = runner.invoke(app, ["service", "kb", "publish", "--note", "只留闲聊"])
    assert published.exit_code == 0, published.output
    assert _last_json(published.output)["version"] == 2


def test_bad_input_exits_2_with_error_lines(cli_db: Database, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("scenarios:\n- code: Bad\n  name: ''\n", encoding="utf-8")
    bad = runner.invoke(app, ["service", "kb", "import", str(tmp_path / "bad.yaml")])
    assert bad.exit_code == 2
    assert "error: scenarios.0.code" in bad.output
    assert "error: scenarios.0.name" in bad.output
    wrong = runner.invoke(app, ["service", "kb", "import", str(tmp_path / "kb.txt"), "--mode", "sideways"])
    assert wrong.exit_code == 2
    assert "unknown extension" in wrong.output
    assert "--mode sideways" in wrong.output
    empty = runner.invoke(app, ["service", "kb", "publish"])
    assert empty.exit_code == 2
    assert "too_few_intents" in empty.output
    unknown = runner.invoke(app, ["service", "kb", "load-packs", "--pack", "astrology"])
    assert unknown.exit_code == 2
    assert "unknown_pack" in unknown.output
