"""The demo's two years of orders and today's live orders, loaded into a real database."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from sqlalchemy import text

from zhongtai.db import Database
from zhongtai.demo.loader import ACTOR, load_demo
from zhongtai.demo.order_history import ONLINE, beijing_date, day_start
from zhongtai.inventory import service as inventory_service
from zhongtai.orders import service as order_service
from zhongtai.settings import Settings

SEED = 7


def test_history_and_live_orders_load_consistently(db: Database, settings: Settings, tmp_path: Path) -> None:
    # given an empty database, when the small demo is loaded with its history
    started = datetime.now(UTC)
    summary = load_demo(
        db,
        seed=SEED,
        scale="small",
        console=Console(file=io.StringIO(), width=120),
        settings=settings,
        credentials_path=tmp_path / "c.txt",
    )
    today_start = day_start(beijing_date(started))
    c = summary.counts
    assert c["history_orders"] > 2_000
    assert c["history_movements"] > c["history_order_lines"]
    assert c["live_orders"] >= 30
    assert c["live_orders_failed"] == 0

    with db.transaction(write=False) as s:
        # the ledger matches the balances
        assert inventory_service.check_ledger(s) == []

        # orders on every channel, every order adds up and has its timeline
        by_channel = dict(s.execute(text("SELECT channel_code, count(*) FROM orders GROUP BY channel_code")).all())
        assert set(by_channel) == {*ONLINE, "pos"}
        assert all(n > 0 for n in by_channel.values())
        assert sum(by_channel.values()) == c["history_orders"] + c["live_orders"]
        mismatched = s.execute(
            text(
                "SELECT count(*) FROM orders o WHERE o.goods_fen != "
                "(SELECT sum(l.unit_price_fen * l.quantity) FROM order_lines l WHERE l.order_id = o.id)"
            )
        ).scalar_one()
        assert mismatched == 0
        assert (
            s.execute(
                text("SELECT count(*) FROM orders WHERE total_fen != goods_fen - discount_fen + shipping_fen")
            ).scalar_one()
            == 0
        )
        without_events = s.execute(
            text(
                "SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id)"
            )
        ).scalar_one()
        assert without_events == 0
        assert s.execute(text("SELECT count(*) FROM fulfilments")).scalar_one() >= c["history_orders"]

        # balances never went below zero: on_hand_after is the running sum, in id (= time) order
        running: dict[tuple[int, int], int] = defaultdict(int)
        last_at: dict[tuple[int, int], datetime] = {}
        rows = s.execute(
            text(
                "SELECT sku_id, location_id, on_hand_delta, on_hand_after, occurred_at, actor_name "
                "FROM stock_movements ORDER BY id"
            )
        )
        history_movements = 0
        for sku_id, location_id, delta, after, occurred_at, actor_name in rows:
            key = (sku_id, location_id)
            running[key] += delta
            assert running[key] == after >= 0, key
            at = occurred_at if isinstance(occurred_at, datetime) else datetime.fromisoformat(str(occurred_at))
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
            assert key not in last_at or last_at[key] <= at
            last_at[key] = at
            if actor_name == "demo":
                history_movements += 1
                assert at < today_start  # the history ends yesterday
        assert history_movements == c["history_movements"]

        # every serial-tracked unit on hand is a serial in stock there
        uncounted = s.execute(
            text(
                "SELECT count(*) FROM stock_balances b JOIN skus k ON k.id = b.sku_id WHERE k.serial_tracked "
                "AND b.on_hand != (SELECT count(*) FROM serial_numbers n WHERE n.sku_id = b.sku_id "
                "AND n.location_id = b.location_id AND n.state IN ('in_stock', 'reserved'))"
            )
        ).scalar_one()
        assert uncounted == 0
        sold = s.execute(text("SELECT count(*) FROM serial_numbers WHERE state = 'sold'")).scalar_one()
        assert sold > 100

        # today's orders fill the console's queues
        statuses = dict(s.execute(text("SELECT status, count(*) FROM orders GROUP BY status")).all())
        for status in ("routed", "picking", "packed", "shipped", "delivered", "completed", "cancelled"):
            assert statuses.get(status, 0) > 0, status
        exceptions = {k for (k,) in s.execute(text("SELECT kind FROM order_exceptions WHERE status = 'open'"))}
        assert {"no_stock", "cancel_after_shipment"} <= exceptions
        returns = dict(s.execute(text("SELECT status, count(*) FROM order_returns GROUP BY status")).all())
        assert returns.get("received", 0) > 50
        assert returns.get("requested", 0) >= 1

        # the order service reads a historical order like any other
        number, channel = s.execute(
            text("SELECT number, channel_code FROM orders WHERE status = 'completed' AND channel_code = 'jd' LIMIT 1")
        ).one()
        order = order_service.get_order(s, ACTOR, number)
        assert order.channel_code == channel
        assert order.fulfilments[0].status == "delivered"
        assert order.goods_fen == sum(ln.unit_price_fen * ln.quantity for ln in order.lines)
        steps = [e.to_status for e in order_service.timeline(s, ACTOR, number) if e.kind == "status"]
        assert steps == ["created", "routed", "shipped", "delivered", "completed"]


def test_without_history_the_stock_is_keyed_in_and_there_are_no_orders(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    summary = load_demo(
        db, seed=SEED, scale="small", settings=settings, credentials_path=tmp_path / "c.txt", history=False
    )
    assert "history_orders" not in summary.counts
    with db.transaction(write=False) as s:
        assert inventory_service.check_ledger(s) == []
        assert s.execute(text("SELECT count(*) FROM orders")).scalar_one() == 0
        receipts = s.execute(text("SELECT count(*) FROM stock_movements WHERE type = 'receipt'")).scalar_one()
        assert receipts == summary.counts["receipt_lines"]
