"""One Settings object, read from ``ZHONGTAI_*`` environment variables.

Demo defaults make ``make run`` work with no configuration; outside the demo/dev/test
environments the settings refuse to start with any of them (fail fast, not at the first login).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET_KEY = "demo-secret-key-change-me-in-production-0000"  # noqa: S105 - the known demo value
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def default_database_url() -> str:
    return f"sqlite:///{PROJECT_ROOT / 'var' / 'zhongtai.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHONGTAI_", extra="ignore")

    env: Literal["demo", "dev", "test", "production"] = "demo"
    database_url: str = Field(default_factory=default_database_url)
    secret_key: str = DEMO_SECRET_KEY
    # Connection pool for PostgreSQL; SQLite uses one connection per thread.
    db_pool_size: int = 10
    db_max_overflow: int = 20
    # Threads for sync endpoints, and the most requests one process serves at once (more get 503).
    # Keep max_concurrent_requests below threadpool_size: see app.lifespan.
    threadpool_size: int = 100
    max_concurrent_requests: int = 80
    session_cookie: str = "zt_session"
    session_max_age_s: int = 12 * 3600
    default_locale: Literal["zh-CN", "en"] = "zh-CN"
    default_currency: str = "CNY"
    default_timezone: str = "Asia/Shanghai"
    reservation_ttl_s: int = 15 * 60
    idempotency_ttl_s: int = 24 * 3600
    # The in-process worker runs background jobs (imports) and named schedules (reservation expiry).
    run_worker: bool = True
    worker_poll_s: float = 1.0
    log_level: str = "INFO"
    log_json: bool = True
    demo_password: str = "demo1234"  # noqa: S105 - printed in the README; refused in production
    # Origins (https://shop.example.com) whose pages may embed the chat widget and call the
    # conversation API from the browser; empty: the widget works on Zhongtai's own pages only.
    service_widget_origins: list[str] = Field(default_factory=list)
    # Load the bot's dictionaries and published model at startup (in a background thread), so
    # that the first customer's reply does not pay for it. Tests switch it off.
    service_warm_up: bool = True
    # The columnar store (Parquet files DuckDB reads). Unset: beside a SQLite database file
    # (var/zhongtai.db -> var/zhongtai-analytics/), var/analytics/<database> for PostgreSQL.
    analytics_dir: Path | None = None
    # How often the worker's sink copies new events and facts into it (seconds).
    analytics_sync_s: float = 5.0
    # Staged events already in the lake are deleted after this many days (0: kept; `rebuild` needs them).
    analytics_purge_staged_days: int = 0

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def cookie_secure(self) -> bool:
        return self.is_production

    @model_validator(mode="after")
    def _concurrency_below_threads(self) -> Settings:
        if self.max_concurrent_requests >= self.threadpool_size:
            raise ValueError("ZHONGTAI_MAX_CONCURRENT_REQUESTS must be below ZHONGTAI_THREADPOOL_SIZE")
        return self

    @model_validator(mode="after")
    def _refuse_demo_secrets_in_production(self) -> Settings:
        if self.is_production:
            problems = []
            if self.secret_key == DEMO_SECRET_KEY or len(self.secret_key) < 32:
                problems.append("ZHONGTAI_SECRET_KEY must be set to a random value of 32+ characters")
            if self.database_url.startswith("sqlite"):
                problems.append("ZHONGTAI_DATABASE_URL must point at PostgreSQL in production")
            if problems:
                raise ValueError("; ".join(problems))
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
