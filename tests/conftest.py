"""Test fixtures.

Every test that takes ``db`` (or ``client``) runs twice: on SQLite and, when
``ZHONGTAI_TEST_DATABASE_URL`` is set (CI sets it), on PostgreSQL. Each test gets an empty
schema: a copy of a template file on SQLite, a TRUNCATE of every table on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from zhongtai.app import create_app
from zhongtai.db import Base, Database
from zhongtai.models_registry import import_all_models
from zhongtai.settings import Settings

import_all_models()
PG_URL = os.environ.get("ZHONGTAI_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pg_url() -> str:
    """The PostgreSQL database of this test process. Under pytest-xdist each worker gets its own
    database beside the given one (``<name>_gw0`` ...), created here; CI drops them afterwards."""
    if not PG_URL:
        pytest.skip("ZHONGTAI_TEST_DATABASE_URL not set")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return PG_URL
    url = make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"{url.database}_{worker}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    db = Database(f"sqlite:///{path}")
    Base.metadata.create_all(db.engine)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Database]:
    db = Database(pg_url(), pool_size=60, max_overflow=20)
    Base.metadata.drop_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    Base.metadata.create_all(db.engine)
    yield db
    db.dispose()


def _truncate_all(db: Database) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def pg_db(pg_database: Database) -> Database:
    """The PostgreSQL test database, emptied: for the tests that race real clients against it."""
    _truncate_all(pg_database)
    return pg_database


@pytest.fixture
def pg_server(pg_db: Database, request: pytest.FixtureRequest) -> Iterator[str]:
    """A real server (uvicorn, two worker processes) on ``pg_db``; a module may size its pool with
    ``SERVER_POOL_SIZE`` (connections per process)."""
    from zhongtai.live_server import serve_in_subprocess

    pool = getattr(request.module, "SERVER_POOL_SIZE", 30)
    env = {"ZHONGTAI_ENV": "test", "ZHONGTAI_DB_POOL_SIZE": str(pool)}
    with serve_in_subprocess(pg_db.url, workers=2, env=env) as base:
        yield base


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One local Spark session per test process, shared by every Spark test: a JVM holds one
    active session, so a second builder would silently get the first one's configuration. It has
    Splink's similarity UDF jar (shipped in the splink package) and runs Python workers on this
    interpreter. Tests needing it skip when no Java runtime is installed."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs a Java runtime (java not on PATH, no JAVA_HOME)")
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    previous = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    work = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("zhongtai-tests")
        .config("spark.jars", similarity_jar_location())
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.local.dir", str(work))
        .getOrCreate()
    )
    session.sparkContext.setCheckpointDir(str(work / "checkpoints"))
    yield session
    session.stop()
    if previous is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = previous


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "zt.db"
        shutil.copy(sqlite_template, path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
    else:
        database = request.getfixturevalue("pg_database")
        _truncate_all(database)
        yield database


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=db.url,
        analytics_dir=tmp_path / "lake",
        run_worker=False,
        service_warm_up=False,
        log_json=False,
        log_level="WARNING",
    )


@pytest.fixture
def app(settings: Settings, db: Database):  # type: ignore[no-untyped-def]
    return create_app(settings, db=db)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c
