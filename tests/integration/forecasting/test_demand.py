"""Daily demand per SKU x fulfilling location from the order history (the order context's query
that the forecast reads), through orders captured by the order service."""

from __future__ import annotations

from datetime import date

from tests.factories import SYSTEM
from tests.integration.orders.world import build, web_order
from zhongtai.db import Database
from zhongtai.orders import demand
from zhongtai.orders import service as orders
from zhongtai.orders.schemas import OrderOut


def _capture(db: Database, channel: str, body: dict) -> OrderOut:  # type: ignore[type-arg]
    with db.transaction() as s:
        out = orders.intake(s, SYSTEM, channel, body).out.order
    assert out is not None
    return out


def test_units_per_business_day_and_fulfilling_location_without_cancelled_orders(db: Database) -> None:
    # given a web order placed at 01:30 Beijing time on Dec 1 (still Nov 30 in UTC), a POS sale in
    # a Shanghai store on Dec 1, a second web order on Dec 2 and a cancelled one on Dec 2
    world = build(db)
    first = _capture(db, "web", web_order("W1", ("P1-BLK", 2), ("CASE-1", 1), placed_at="2026-11-30T17:30:00+00:00"))
    _capture(
        db,
        "pos",
        web_order("POS-1", ("P1-BLK", 1), mode="pos", store_code="S-SH-01", placed_at="2026-12-01T04:00:00+00:00"),
    )
    second = _capture(db, "web", web_order("W2", ("P1-BLK", 1), placed_at="2026-12-02T03:00:00+00:00"))
    cancelled = _capture(db, "web", web_order("W3", ("CASE-1", 5), placed_at="2026-12-02T05:00:00+00:00"))
    with db.transaction() as s:
        orders.cancel(s, SYSTEM, cancelled.number, "buyer changed their mind")
    web_loc = world.locations[first.fulfilments[0].location_code]
    second_loc = world.locations[second.fulfilments[0].location_code]

    # when the demand of Dec 1-2 is read (and of Nov 30, which has none in Beijing time)
    with db.transaction(write=False) as s:
        frame = demand.daily_demand(s, date(2026, 11, 30), date(2026, 12, 2))
        by_channel = demand.daily_demand(s, date(2026, 12, 1), date(2026, 12, 1), by_channel=True)
        first_day = demand.first_order_day(s)

    # then units sit on the Beijing business day at the location that fulfils them
    with db.transaction(write=False) as s:
        from zhongtai.catalog import service as catalog

        ids = {code: ref.id for code, ref in catalog.sku_refs_by_codes(s, ["P1-BLK", "CASE-1"]).items()}
    rows = {(r["sku_id"], r["location_id"], r["day"]): r["units"] for r in frame.iter_rows(named=True)}
    expected: dict[tuple[int, int, date], int] = {
        (ids["P1-BLK"], web_loc, date(2026, 12, 1)): 2,
        (ids["CASE-1"], web_loc, date(2026, 12, 1)): 1,
        (ids["P1-BLK"], world.locations["S-SH-01"], date(2026, 12, 1)): 1,
    }
    key = (ids["P1-BLK"], second_loc, date(2026, 12, 2))
    expected[key] = expected.get(key, 0) + 1
    assert rows == expected
    assert frame.columns == ["sku_id", "location_id", "day", "units"]
    assert set(by_channel["channel_code"]) == {"web", "pos"}
    assert first_day == date(2026, 12, 1)
