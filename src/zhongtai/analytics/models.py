"""The analytics sink's state: watermarks and the lake's identity, in the operational database.

The sink writes a Parquet part first and advances its watermark after (part names are derived
from the ids they hold, so a retry after a crash rewrites the same file): the lake never misses
or doubles a row. ``lake_id`` ties a lake directory to one database; a lake left behind by
another database is wiped and rebuilt instead of being mixed with this one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.db import Base, utcnow


class AnalyticsState(Base):
    __tablename__ = "analytics_state"

    name: Mapped[str] = mapped_column(String(48), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime | None] = mapped_column(default=None)
    value: Mapped[str] = mapped_column(String(255), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
