"""A small retailer with POS sales on chosen days (through the order service), for the forecast
tests: two Shanghai stores and a Beijing store, a phone and a case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tests.factories import SYSTEM, receive
from tests.integration.orders.world import build, web_order
from zhongtai.catalog import service as catalog
from zhongtai.db import Database
from zhongtai.orders import service as orders


@dataclass
class Shop:
    db: Database
    locations: dict[str, int]
    skus: dict[str, int]
    n: int = 0

    def sell(self, store: str, sku: str, quantity: int, day: date) -> None:
        """A POS sale at ``store`` at 12:00 Beijing time on ``day``."""
        self.n += 1
        placed = datetime.combine(day, time(4, 0), UTC)  # 12:00 in Beijing
        body = web_order(f"POS-{self.n}", (sku, quantity), mode="pos", store_code=store, placed_at=placed.isoformat())
        with self.db.transaction() as s:
            out = orders.intake(s, SYSTEM, "pos", body).out.order
        assert out is not None
        assert out.status == "completed", out


def make_shop(db: Database, stock: int = 500) -> Shop:
    world = build(db, stock=False)
    for store in ("S-SH-01", "S-SH-02", "S-BJ-01"):
        receive(db, store, "P1-BLK", stock)
        receive(db, store, "CASE-1", stock)
    with db.transaction(write=False) as s:
        refs = catalog.sku_refs_by_codes(s, ["P1-BLK", "CASE-1"])
    return Shop(db, world.locations, {code: r.id for code, r in refs.items()})


def days_back(last: date, n: int) -> list[date]:
    return [last - timedelta(days=i) for i in range(n - 1, -1, -1)]
