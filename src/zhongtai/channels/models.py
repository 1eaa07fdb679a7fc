from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.db import Base, BigIntPK, utcnow


class Channel(Base):
    """A sales channel: own web shop, a JD or Tmall store, POS, a mini-program, instant retail."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    # web_shop | marketplace | pos | mini_program | instant_retail
    kind: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(32), default="own")  # own | jd | tmall | wechat | meituan ...
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # How the channel's order payloads are read: "zhongtai" (the normalised shape) or "marketplace"
    # (TOP-style trades: tid/oid, yuan strings, WAIT_SELLER_SEND_GOODS ...). See docs/orders.md.
    adapter: Mapped[str] = mapped_column(String(32), default="zhongtai")
    # Signed webhooks (order events) go here; empty: none.
    webhook_url: Mapped[str] = mapped_column(String(512), default="")
    # HMAC-SHA256 key for webhook signatures. It has to be usable, so it is stored, never shown
    # again after creation or rotation (like a client secret).
    webhook_secret: Mapped[str] = mapped_column(String(128), default="")
    # How long an unpaid order holds its stock, in seconds.
    unpaid_hold_s: Mapped[int] = mapped_column(Integer, default=1800)
    # Whether this channel's parcels may ship from stores (ship-from-store rule).
    ship_from_store: Mapped[bool] = mapped_column(default=True)


class WebhookDelivery(Base):
    """One outbox event sent (or to be sent) to one channel's webhook, with every attempt's result."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(BigInteger, index=True)
    channel_code: Mapped[str] = mapped_column(ForeignKey("channels.code"), index=True)
    topic: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
