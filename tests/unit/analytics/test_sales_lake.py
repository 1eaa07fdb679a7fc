"""The small hand-built lake of the sales and inventory dashboard tests (and a check that it is
consistent: the ledger ends where the balances are).

Period under test: 2026-03-01 .. 2026-03-07 (7 days); the previous one 2026-02-22 .. 2026-02-28.

Channels pos / tmall / mini. Locations: 1 S1 store, 2 S2 store, 9 DC. Categories: 10 Phones
(/10/), 11 Smartphones (/10/11/), 20 Accessories (/20/). SKUs (unit cost fen): 101 phone in 11
(600), 102 case in 20 (50), 103 charger in 20 (100), 104 phone lite directly in 10 (300).

Sales lines (order: channel, store, fulfilled from, member, local day and hour):

  O1  pos   S1  from 1  m501  03-01 10h  L1 101 ×1 1000 | L2 102 ×2 200
  O2  pos   S2  from 2  —     03-02 14h  L3 102 ×1 100
  O3  tmall —   from 9  m502  03-02 20h  L4 101 ×1 1000
  O4  tmall —   from 9  m501  03-03 20h  L5 103 ×3 450, 1 returned: net 2 / 300
  O5  mini  S1  from 1  m503  03-04 10h  L6 104 ×1 500 (line without cost: the SKU's 300)
  O6  mini  S2  from 2  —     03-05 14h  L7 101 ×1 1000 | L8 103 ×1 150
  O7  pos   S1  from 1  m502  03-06 10h  L9 102 ×1 100, returned: net 0 / 0 (status refunded)
  O8  tmall —   from 9  m504  03-06 20h  L10 101 ×1 1000 cancelled (status cancelled: left out)
  O9  mini  S1  from 1  m501  03-07 12h  L11 102 ×1 100 never paid (left out)
  O10 pos   S1  from 1  m503  03-07 14h  L12 101 ×2 2000 | L13 102 ×1 100 cancelled: net 0 / 0
  previous period:
  P1  pos   S1  from 1  m501  02-25 10h  101 ×1 1000
  P3  tmall —   from 9  —     02-26 20h  103 ×2 300
  P2  tmall —   from 9  —     02-27 20h  101 ×2 2000
  E1  pos   S1  from 1  —     02-10 11h  103 ×1 150 (before both periods)

Balances (snapshot 2026-03-07 12:00 local): sku, location: on_hand / available / safety stock
  (101,1) 0/0/2  (102,1) 10/10/0  (104,1) 4/3/1  (101,2) 3/0/0  (103,2) 0/0/0  (101,9) 5/5/0
  (103,9) 9/9/0  (102,9) 0/0/0

Ledger (day type delta -> after):
  (101,1) 02-20 receipt +3->3, 03-01 sale -1->2, 03-07 sale -2->0
  (102,1) 2025-10-01 receipt +8->8, 02-25 receipt +4->12, 03-01 sale -2->10
  (104,1) no movements
  (101,2) 2025-12-01 transfer_in +4->4, 03-05 sale -1->3
  (103,2) 03-02 receipt +1->1, 03-05 sale -1->0
  (101,9) 01-10 receipt +6->6, 02-27 sale -2->4, 03-02 sale -1->3, 03-06 receipt +2->5
  (103,9) 02-01 receipt +10->10, 02-26 sale -2->8, 03-03 sale -3->5, 03-04 return +1->6,
          03-05 adjustment +3->9
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.lake import Lake

START, END = date(2026, 3, 1), date(2026, 3, 7)
PERIOD = DashboardFilters(START, END)
S1, S2, DC = 1, 2, 9
COST = {101: 600, 102: 50, 103: 100, 104: 300}


def local(day: date, hour: int) -> datetime:
    """A local (UTC+8) hour of a day, as the UTC instant the lake stores."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=8)


# (order id, number, channel, store, fulfilled from, member, day, hour, status, paid)
ORDERS: list[tuple[int, str, str, int | None, int, int | None, date, int, str, bool]] = [
    (1, "O1", "pos", S1, S1, 501, date(2026, 3, 1), 10, "completed", True),
    (2, "O2", "pos", S2, S2, None, date(2026, 3, 2), 14, "completed", True),
    (3, "O3", "tmall", None, DC, 502, date(2026, 3, 2), 20, "completed", True),
    (4, "O4", "tmall", None, DC, 501, date(2026, 3, 3), 20, "completed", True),
    (5, "O5", "mini", S1, S1, 503, date(2026, 3, 4), 10, "completed", True),
    (6, "O6", "mini", S2, S2, None, date(2026, 3, 5), 14, "completed", True),
    (7, "O7", "pos", S1, S1, 502, date(2026, 3, 6), 10, "refunded", True),
    (8, "O8", "tmall", None, DC, 504, date(2026, 3, 6), 20, "cancelled", True),
    (9, "O9", "mini", S1, S1, 501, date(2026, 3, 7), 12, "placed", False),
    (10, "O10", "pos", S1, S1, 503, date(2026, 3, 7), 14, "completed", True),
    (11, "P1", "pos", S1, S1, 501, date(2026, 2, 25), 10, "completed", True),
    (12, "P2", "tmall", None, DC, None, date(2026, 2, 27), 20, "completed", True),
    (13, "P3", "tmall", None, DC, None, date(2026, 2, 26), 20, "completed", True),
    (14, "E1", "pos", S1, S1, None, date(2026, 2, 10), 11, "completed", True),
]
# (line id, order id, sku, quantity, cancelled, returned, unit price, line cost or None)
LINES: list[tuple[int, int, int, int, int, int, int, int | None]] = [
    (1, 1, 101, 1, 0, 0, 1000, 600),
    (2, 1, 102, 2, 0, 0, 100, 50),
    (3, 2, 102, 1, 0, 0, 100, 50),
    (4, 3, 101, 1, 0, 0, 1000, 600),
    (5, 4, 103, 3, 0, 1, 150, 100),
    (6, 5, 104, 1, 0, 0, 500, None),
    (7, 6, 101, 1, 0, 0, 1000, 600),
    (8, 6, 103, 1, 0, 0, 150, 100),
    (9, 7, 102, 1, 0, 1, 100, 50),
    (10, 8, 101, 1, 1, 0, 1000, 600),
    (11, 9, 102, 1, 0, 0, 100, 50),
    (12, 10, 101, 2, 0, 0, 1000, 600),
    (13, 10, 102, 1, 1, 0, 100, 50),
    (14, 11, 101, 1, 0, 0, 1000, 600),
    (15, 12, 101, 2, 0, 0, 1000, 600),
    (16, 13, 103, 2, 0, 0, 150, 100),
    (17, 14, 103, 1, 0, 0, 150, 100),
]
# (sku, location, on_hand, reserved, available, safety stock)
BALANCES = [
    (101, S1, 0, 0, 0, 2),
    (102, S1, 10, 0, 10, 0),
    (104, S1, 4, 1, 3, 1),
    (101, S2, 3, 3, 0, 0),
    (103, S2, 0, 0, 0, 0),
    (101, DC, 5, 0, 5, 0),
    (103, DC, 9, 0, 9, 0),
    (102, DC, 0, 0, 0, 0),
]
# (sku, location, day, type, delta, after)
MOVEMENTS = [
    (101, S1, date(2026, 2, 20), "receipt", 3, 3),
    (101, S1, date(2026, 3, 1), "sale", -1, 2),
    (101, S1, date(2026, 3, 7), "sale", -2, 0),
    (102, S1, date(2025, 10, 1), "receipt", 8, 8),
    (102, S1, date(2026, 2, 25), "receipt", 4, 12),
    (102, S1, date(2026, 3, 1), "sale", -2, 10),
    (101, S2, date(2025, 12, 1), "transfer_in", 4, 4),
    (101, S2, date(2026, 3, 5), "sale", -1, 3),
    (103, S2, date(2026, 3, 2), "receipt", 1, 1),
    (103, S2, date(2026, 3, 5), "sale", -1, 0),
    (101, DC, date(2026, 1, 10), "receipt", 6, 6),
    (101, DC, date(2026, 2, 27), "sale", -2, 4),
    (101, DC, date(2026, 3, 2), "sale", -1, 3),
    (101, DC, date(2026, 3, 6), "receipt", 2, 5),
    (103, DC, date(2026, 2, 1), "receipt", 10, 10),
    (103, DC, date(2026, 2, 26), "sale", -2, 8),
    (103, DC, date(2026, 3, 3), "sale", -3, 5),
    (103, DC, date(2026, 3, 4), "return", 1, 6),
    (103, DC, date(2026, 3, 5), "adjustment", 3, 9),
]


def sales_rows(ids: Mapping[int, int] | None = None) -> list[dict[str, Any]]:
    orders = {o[0]: o for o in ORDERS}
    loc = _relabel(ids)
    out = []
    for line_id, order_id, sku, qty, cancelled, returned, price, cost in LINES:
        _, number, channel, store, fulfil, member, day, hour, status, paid = orders[order_id]
        net_qty = qty - cancelled - returned
        out.append(
            {
                "line_id": line_id,
                "order_id": order_id,
                "order_number": number,
                "channel_code": channel,
                "store_location_id": loc(store),
                "fulfil_location_id": loc(fulfil),
                "member_id": member,
                "placed_at": local(day, hour),
                "paid_at": local(day, hour) if paid else None,
                "day": day,
                "month": day.strftime("%Y-%m"),
                "hour": hour,
                "status": status,
                "sku_id": sku,
                "quantity": qty,
                "cancelled": cancelled,
                "returned": returned,
                "net_quantity": net_qty,
                "unit_price_fen": price,
                "total_fen": qty * price,
                "net_fen": net_qty * price,
                "unit_cost_fen": cost,
                "currency": "CNY",
            }
        )
    return out


def _relabel(ids: Mapping[int, int] | None) -> Callable[[int | None], int | None]:
    def loc(location_id: int | None) -> int | None:
        return None if location_id is None else (ids or {}).get(location_id, location_id)

    return loc


def build_lake(root: Path, ids: Mapping[int, int] | None = None) -> Lake:
    """Writes the lake described above under ``root``; ``ids`` renumbers the locations (S1, S2,
    DC) to match those of a database (console and API tests log in users scoped to them)."""
    lake = Lake(root)
    loc = _relabel(ids)
    lake.replace(
        "channels",
        pl.DataFrame(
            {
                "code": ["pos", "tmall", "mini"],
                "name": ["门店收银", "天猫旗舰店", "微信小程序"],
                "name_en": ["Store POS", "Tmall", "Mini program"],
                "kind": ["store", "marketplace", "own"],
            }
        ),
    )
    lake.replace(
        "locations",
        pl.DataFrame(
            {
                "location_id": [loc(S1), loc(S2), loc(DC)],
                "code": ["S1", "S2", "DC"],
                "name": ["上海一店", "上海二店", "华东仓"],
                "name_en": ["Shanghai One", "Shanghai Two", "East DC"],
                "type": ["store", "store", "central_dc"],
            }
        ),
    )
    lake.replace(
        "categories",
        pl.DataFrame(
            {
                "category_id": [10, 11, 20],
                "parent_id": [None, 10, None],
                "code": ["phones", "smart", "acc"],
                "name": ["手机", "智能手机", "配件"],
                "name_en": ["Phones", "Smartphones", "Accessories"],
                "path": ["/10/", "/10/11/", "/20/"],
                "depth": [0, 1, 0],
            }
        ),
    )
    lake.replace(
        "skus",
        pl.DataFrame(
            {
                "sku_id": [101, 102, 103, 104],
                "code": ["SKU-101", "SKU-102", "SKU-103", "SKU-104"],
                "name": ["云启手机", "手机壳", "充电器", "云启手机青春版"],
                "name_en": ["Yunqi phone", "Case", "Charger", "Yunqi phone lite"],
                "category_id": [11, 20, 20, 10],
                "category_path": ["/10/11/", "/20/", "/20/", "/10/"],
                "unit_cost_fen": [COST[s] for s in (101, 102, 103, 104)],
            }
        ),
    )
    frame = pl.DataFrame(sales_rows(ids))
    for (month,), part in frame.partition_by("month", as_dict=True).items():
        lake.replace_partition("sales", str(month), part)
    snapshot = local(END, 12)
    lake.replace(
        "stock_balances",
        pl.DataFrame(
            [
                {
                    "sku_id": sku,
                    "location_id": loc(location),
                    "on_hand": on_hand,
                    "reserved": reserved,
                    "in_transit": 0,
                    "available": available,
                    "safety_stock": safety,
                    "snapshot_at": snapshot,
                }
                for sku, location, on_hand, reserved, available, safety in BALANCES
            ]
        ),
    )
    lake.append(
        "stock_movements",
        pl.DataFrame(
            [
                {
                    "id": i,
                    "occurred_at": local(day, 9 + i % 8),
                    "day": day,
                    "type": kind,
                    "sku_id": sku,
                    "location_id": loc(location),
                    "on_hand_delta": delta,
                    "on_hand_after": after,
                }
                for i, (sku, location, day, kind, delta, after) in enumerate(MOVEMENTS, start=1)
            ]
        ),
        "1-19",
    )
    return lake


def test_the_ledger_ends_at_the_balances_and_adds_up(tmp_path: Path) -> None:
    lake = build_lake(tmp_path)
    last = lake.query(
        """SELECT sku_id, location_id, arg_max(on_hand_after, id) AS after,
                  sum(on_hand_delta) AS total FROM stock_movements GROUP BY ALL"""
    )
    balances = {
        (r["sku_id"], r["location_id"]): r["on_hand"]
        for r in lake.query("SELECT * FROM stock_balances").iter_rows(named=True)
    }
    for r in last.iter_rows(named=True):
        assert balances[(r["sku_id"], r["location_id"])] == r["after"] == r["total"]
    # Every local day stored is the local date of its instant (UTC+8).
    days = lake.query("SELECT DISTINCT day, hour, placed_at FROM sales")
    for r in days.iter_rows(named=True):
        shifted = r["placed_at"] + timedelta(hours=8)
        assert (shifted.date(), shifted.hour) == (r["day"], r["hour"])
