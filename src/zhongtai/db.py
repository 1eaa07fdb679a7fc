"""Engine and session factories, the declarative Base, and the migrations helper.

No engine exists at import time: ``Database(settings)`` is created by ``create_app`` or by a
command, and the HTTP request (or the job) owns the transaction. Services take a ``Session``
and never commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Engine,
    MetaData,
    and_,
    create_engine,
    event,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from zhongtai.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A BIGINT primary key that is still SQLite's rowid alias (SQLite only autoincrements INTEGER).
BigIntPK = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
# JSONB on PostgreSQL, JSON text elsewhere.
JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on every backend (SQLite stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Zhongtai stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


def advisory_xact_lock(session: Session, key: str) -> None:
    """Serialises everything about ``key`` until the transaction ends (a PostgreSQL advisory lock;
    a no-op on SQLite, which has one writer at a time)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20, echo: bool = False) -> Engine:
    if is_sqlite(url):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling is off so that write transactions can start with
    # BEGIN IMMEDIATE: a deferred transaction that later upgrades to a write lock can fail at
    # once with "database is locked" instead of waiting (the busy handler is not used then).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The engine and session factory of one running app or command."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 20) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def new_session(self, *, write: bool = False) -> Session:
        session = self.sessionmaker()
        if write and self.is_sqlite:
            session.connection(execution_options={"sqlite_immediate": True})
        return session

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """A unit of work for jobs and commands: commit on success, roll back on error."""
        session = self.new_session(write=write)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(slug)s")
    cfg.set_main_option("timezone", "UTC")
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


# On PostgreSQL an id is drawn before its transaction commits: a row with a higher id can be
# visible while a lower one is still in flight. A reader that follows an id watermark (the
# analytics sink) reads only up to the first row written by a transaction not older than the
# oldest one still running in this database (looked up in a statement of its own, before the rows
# are read), so its watermark never passes a row that commits later. Transaction ids are compared
# modulo 2**32. SQLite has one writer at a time: nothing to guard.
_OLDEST_RUNNING_XID = (
    "SELECT backend_xid::text::bigint FROM pg_stat_activity WHERE datname = current_database() "
    "AND backend_xid IS NOT NULL ORDER BY age(backend_xid) DESC LIMIT 1"
)
_NOT_OLDER = "((({table}.xmin::text::bigint) - :oldest_xid + 4294967296) % 4294967296) < 2147483648"


def settled_after(session: Session, table: Any, id_column: Any, after_id: int) -> ColumnElement[bool]:
    """The rows of ``table`` above ``after_id`` that no running transaction can still precede."""
    above: ColumnElement[bool] = id_column > after_id
    if session.get_bind().dialect.name != "postgresql":
        return above
    oldest = session.execute(text(_OLDEST_RUNNING_XID)).scalar()
    if oldest is None:
        return above
    not_older = text(_NOT_OLDER.format(table=table.__tablename__)).bindparams(oldest_xid=int(oldest))
    unsettled = select(func.min(id_column)).where(id_column > after_id, not_older).scalar_subquery()
    return and_(above, or_(unsettled.is_(None), id_column < unsettled))
