"""The migrations are the schema: one head, date-named, and exactly the models, up and down."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Index, create_engine, inspect, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL
from zhongtai.db import MIGRATIONS_DIR, Base, alembic_config, downgrade, make_engine, upgrade
from zhongtai.models_registry import import_all_models

import_all_models()


def test_one_head_and_date_named_files() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    files = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    assert files, "no migrations"
    for name in files:
        assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{4}-[a-z0-9_]+\.py", name), name


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mig.db'}"
        return
    if not PG_URL:
        pytest.skip("ZHONGTAI_TEST_DATABASE_URL not set")
    url = make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"{url.database}_mig"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _has_expression(index: Index) -> bool:
    return any(not isinstance(e, Column) for e in index.expressions)


def _all_indexes() -> list[Index]:
    return [i for t in Base.metadata.sorted_tables for i in t.indexes]


def test_upgrade_gives_the_models_schema_and_downgrade_removes_it(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn, warnings.catch_warnings():
            # Reflection cannot read expression indexes; they are checked by name below.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        # Alembic cannot reflect expression indexes (COALESCE(...)) on PostgreSQL; those are checked
        # by name instead.
        expression_indexes = {d[1].name for d in diff if d[0] == "add_index" and _has_expression(d[1])}
        diff = [d for d in diff if not (d[0] == "add_index" and d[1].name in expression_indexes)]
        assert diff == [], diff
        inspector = inspect(engine)
        for name in expression_indexes:
            table = next(i.table.name for i in _all_indexes() if i.name == name)
            assert name in {i["name"] for i in inspector.get_indexes(table)}, name
        downgrade(empty_url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(empty_url)  # and up again: downgrades leave nothing behind that blocks it
    finally:
        engine.dispose()
