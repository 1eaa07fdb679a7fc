"""Daily demand per SKU x fulfilling location from the order history, for forecasting.

Demand is what customers ordered, through every channel, counted on the business day the order was
placed (Asia/Shanghai by default) at the location that fulfils it (the store of a POS sale or a
pick-up, the DC or store that ships a parcel). It comes from the fulfilment lines of orders that
were not cancelled (rejected fulfilments are left out: their lines were re-routed elsewhere).
Returns are *not* netted out: a return does not mean the demand was not there, and replenishment
sees the returned unit come back as stock. Orders still waiting for stock (not yet routed) are not
counted until they are routed.

Only days with demand are rows: days without any sale are implicit zeros (the forecast engine fills
the gaps of every series with 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy.orm import Session

from zhongtai.orders import repository as repo

DEFAULT_TZ = "Asia/Shanghai"
DEMAND_SCHEMA = {"sku_id": pl.Int64, "location_id": pl.Int64, "day": pl.Date, "units": pl.Int64}


def daily_demand(
    session: Session,
    first_day: date,
    last_day: date,
    *,
    tz: str = DEFAULT_TZ,
    sku_ids: Sequence[int] | None = None,
    location_ids: Sequence[int] | None = None,
    by_channel: bool = False,
) -> pl.DataFrame:
    """Units per (sku_id, location_id, day) for business days ``first_day`` .. ``last_day``
    (inclusive), aggregated in SQL; with ``by_channel`` a ``channel_code`` column splits them."""
    zone = ZoneInfo(tz)
    since = datetime.combine(first_day, time.min, zone).astimezone(UTC)
    until = datetime.combine(last_day + timedelta(days=1), time.min, zone).astimezone(UTC)
    rows = repo.daily_demand_rows(session, since, until, tz, sku_ids=sku_ids, location_ids=location_ids)
    schema = dict(DEMAND_SCHEMA)
    if by_channel:
        schema = {
            "sku_id": pl.Int64,
            "location_id": pl.Int64,
            "day": pl.Date,
            "channel_code": pl.Utf8,
            "units": pl.Int64,
        }
    records = [
        (sku, loc, d if isinstance(d, date) else date.fromisoformat(str(d)[:10]), channel, units)
        for d, sku, loc, channel, units in rows
    ]
    frame = pl.DataFrame(
        records,
        schema={
            "sku_id": pl.Int64,
            "location_id": pl.Int64,
            "day": pl.Date,
            "channel_code": pl.Utf8,
            "units": pl.Int64,
        },
        orient="row",
    )
    keys = ["sku_id", "location_id", "day"] + (["channel_code"] if by_channel else [])
    return frame.group_by(keys).agg(pl.col("units").sum()).select(list(schema)).cast(schema).sort(keys)  # type: ignore[arg-type]


def first_order_day(session: Session, *, tz: str = DEFAULT_TZ) -> date | None:
    """The business day of the first order ever placed (where history starts)."""
    first = repo.first_order_at(session)
    return None if first is None else first.astimezone(ZoneInfo(tz)).date()
