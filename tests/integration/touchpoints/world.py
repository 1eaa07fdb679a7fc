"""Touchpoints over the orders test world (stores S-SH-01/S-SH-02/S-BJ-01, DC-WH, channels web,
jd, tmall and pos, SKUs P1-BLK and CASE-1): a web shop, a JD store, a Shanghai camera system."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.factories import SYSTEM
from tests.integration.orders.world import build
from zhongtai.db import Database
from zhongtai.touchpoints import service
from zhongtai.touchpoints.schemas import TouchpointIn

TOUCHPOINTS = (
    TouchpointIn(
        code="web-shop",
        name="官网商城",
        type="online",
        kind="web_shop",
        channel_code="web",
        factors=["goods", "marketing"],
        cost_fen_month=120_000,
    ),
    TouchpointIn(code="jd-store", name="京东店", type="online", kind="marketplace_store", channel_code="jd"),
    TouchpointIn(
        code="cam-sh02",
        name="客流摄像头",
        type="offline",
        kind="camera",
        store_code="S-SH-02",
        factors=["retail"],
        heartbeat_interval_s=60,
    ),
)


def touchpoint_world(db: Database, *, stock: bool = False) -> None:
    build(db, stock=stock)
    with db.transaction() as s:
        for tp in TOUCHPOINTS:
            service.register_touchpoint(s, SYSTEM, tp)


def at(minutes_ago: int = 1) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def search(event_id: str, query: str = "手机", results: int = 3, **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "type": "search", "at": at(), "data": {"query": query, "results": results}, **extra}
