"""The sales and inventory dashboards as XLSX: one sheet per table of the page.

Headers and sheet titles are named by ``label(key)`` with keys such as ``xlsx.net_sales``: the
console passes its translator (``an_sales.<key>``), the API ``machine_label`` (the last part of the
key, stable for scripts). Names of channels, stores, categories and SKUs are English when
``english`` and an English name exists. Money is fen here and yuan in the file (``xlsx.workbook``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

from zhongtai.analytics.inventory_dash import AGE_BUCKETS
from zhongtai.analytics.sales import OTHERS
from zhongtai.analytics.schemas_sales import (
    BreakdownRowOut,
    InventoryDashboard,
    PairOut,
    SalesDashboard,
    SalesTotalsOut,
    TurnoverRowOut,
)
from zhongtai.analytics.xlsx import Cell, Column, Kind, Sheet, workbook

Label = Callable[[str], str]


def machine_label(key: str) -> str:
    """``xlsx.net_sales`` -> ``net_sales``."""
    return key.rsplit(".", 1)[-1]


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _name(name: str, name_en: str, english: bool) -> str:
    return name_en if english and name_en else name


class _Columns:
    def __init__(self, label: Label) -> None:
        self.label = label

    def __call__(self, key: str, kind: Kind = "int") -> Column:
        return Column(self.label(f"xlsx.{key}"), kind)


def _breakdown_name(row: BreakdownRowOut, label: Label, english: bool, missing: str) -> str:
    if row.key == OTHERS:
        return label("xlsx.others") + f" ({row.merged})"
    if row.key is None:
        return label(f"xlsx.{missing}")
    return _name(row.name, row.name_en, english) or row.key


def sales_sheets(d: SalesDashboard, label: Label, *, english: bool = False) -> list[Sheet]:
    col = _Columns(label)

    def totals(period: str, start: date, end: date, t: SalesTotalsOut) -> list[Cell]:
        return [
            label(f"xlsx.{period}"),
            start,
            end,
            t.net_fen,
            t.orders,
            t.units,
            t.aov_fen,
            t.buyers,
            _num(t.member_share),
            t.gross_fen,
            _num(t.refund_rate),
        ]

    kpis = Sheet(
        label("xlsx.sheet_kpis"),
        [
            col("period", "text"),
            col("start", "date"),
            col("end", "date"),
            col("net_sales", "money"),
            col("orders"),
            col("units"),
            col("aov", "money"),
            col("buyers"),
            col("member_share", "rate"),
            col("gross_sales", "money"),
            col("refund_rate", "rate"),
        ],
        [
            totals("current", d.start, d.end, d.current),
            totals("previous", d.previous_start, d.previous_end, d.previous),
        ],
    )
    days = Sheet(
        label("xlsx.sheet_days"),
        [
            col("day", "date"),
            col("net_sales", "money"),
            col("orders"),
            col("units"),
            col("previous_day", "date"),
            col("previous_net_sales", "money"),
            col("previous_orders"),
        ],
        [
            [x.day, x.net_fen, x.orders, x.units, x.previous_day, x.previous_net_fen, x.previous_orders]
            for x in d.by_day
        ],
    )

    def breakdown(title: str, head: str, items: list[BreakdownRowOut], missing: str) -> Sheet:
        return Sheet(
            label(f"xlsx.{title}"),
            [
                col("code", "text"),
                col(head, "text"),
                col("net_sales", "money"),
                col("share", "rate"),
                col("orders"),
                col("units"),
            ],
            [
                [
                    r.code or (r.key if r.key not in (None, OTHERS) else ""),
                    _breakdown_name(r, label, english, missing),
                    r.net_fen,
                    _num(r.share),
                    r.orders,
                    r.units,
                ]
                for r in items
            ],
        )

    skus = Sheet(
        label("xlsx.sheet_skus"),
        [
            col("sku_code", "text"),
            col("sku", "text"),
            col("units"),
            col("net_sales", "money"),
            col("cost", "money"),
            col("margin", "money"),
            col("margin_rate", "rate"),
        ],
        [
            [
                s.code,
                _name(s.name, s.name_en, english),
                s.units,
                s.net_fen,
                s.cost_fen,
                s.margin_fen,
                _num(s.margin_rate),
            ]
            for s in d.top_skus
        ],
    )
    hours = Sheet(
        label("xlsx.sheet_hours"),
        [col("hour"), col("net_sales", "money"), col("orders")],
        [[h.hour, h.net_fen, h.orders] for h in d.by_hour],
    )
    return [
        kpis,
        days,
        breakdown("sheet_channels", "channel", d.by_channel, "no_channel"),
        breakdown("sheet_stores", "store", d.by_store, "no_store"),
        breakdown("sheet_categories", "category", d.by_category, "no_category"),
        skus,
        hours,
    ]


def _pair_cells(p: PairOut, english: bool) -> list[Cell]:
    return [
        p.sku_code,
        _name(p.sku_name, p.sku_name_en, english),
        p.location_code,
        _name(p.location_name, p.location_name_en, english),
    ]


def inventory_sheets(d: InventoryDashboard, label: Label, *, english: bool = False) -> list[Sheet]:
    col = _Columns(label)
    pair_cols = [col("sku_code", "text"), col("sku", "text"), col("location_code", "text"), col("location", "text")]
    summary = Sheet(
        label("xlsx.sheet_summary"),
        [
            col("as_of", "date"),
            col("stock_value", "money"),
            col("units_on_hand"),
            col("pairs"),
            col("avg_stock_value", "money"),
            col("cogs", "money"),
            col("turnover_days", "number"),
            col("stockouts"),
            col("stockout_pair_days"),
            col("slow_movers"),
            col("slow_value", "money"),
        ],
        [
            [
                d.as_of,
                d.now.value_fen,
                d.now.units,
                d.now.pairs,
                d.turnover.avg_stock_value_fen,
                d.turnover.cogs_fen,
                _num(d.turnover.turnover_days),
                d.stockout_count,
                d.stockout_pair_days,
                d.slow_count,
                d.slow_value_fen,
            ]
        ],
    )

    def turnover(title: str, head: str, items: list[TurnoverRowOut], missing: str) -> Sheet:
        return Sheet(
            label(f"xlsx.{title}"),
            [
                col("code", "text"),
                col(head, "text"),
                col("stock_value", "money"),
                col("avg_stock_value", "money"),
                col("cogs", "money"),
                col("turnover_days", "number"),
            ],
            [
                [
                    r.code or r.key or "",
                    (_name(r.name, r.name_en, english) or r.key) if r.key is not None else label(f"xlsx.{missing}"),
                    r.stock_value_fen,
                    r.avg_stock_value_fen,
                    r.cogs_fen,
                    _num(r.turnover_days),
                ]
                for r in items
            ],
        )

    stockouts = Sheet(
        label("xlsx.sheet_stockouts"),
        [
            *pair_cols,
            col("on_hand"),
            col("available"),
            col("safety_stock"),
            col("sold_28d"),
            col("last_sale_day", "date"),
        ],
        [
            [*_pair_cells(s, english), s.on_hand, s.available, s.safety_stock, s.sold_28d, s.last_sale_day]
            for s in d.stockouts
        ],
    )
    stockout_days = Sheet(
        label("xlsx.sheet_stockout_days"),
        [col("day", "date"), col("stockout_pairs")],
        [[x.day, x.pairs] for x in d.stockout_days],
    )
    slow = Sheet(
        label("xlsx.sheet_slow"),
        [
            *pair_cols,
            col("on_hand"),
            col("stock_value", "money"),
            col("sold_90d"),
            col("cover_days", "number"),
            col("last_sale_day", "date"),
        ],
        [
            [*_pair_cells(s, english), s.on_hand, s.value_fen, s.sold_90d, _num(s.cover_days), s.last_sale_day]
            for s in d.slow_movers
        ],
    )
    ages = Sheet(
        label("xlsx.sheet_ages"),
        [col("age_bucket", "text"), col("units"), col("stock_value", "money")],
        [[b.bucket, b.units, b.value_fen] for b in d.age_buckets],
    )
    by_location_age = Sheet(
        label("xlsx.sheet_ages_by_location"),
        [col("location_code", "text"), col("location", "text")]
        + [Column(f"{label('xlsx.days')} {name}", "money") for name, _ in AGE_BUCKETS],
        [[a.code, _name(a.name, a.name_en, english), *a.value_fen] for a in d.aged_by_location],
    )
    aged = Sheet(
        label("xlsx.sheet_aged"),
        [
            *pair_cols,
            col("on_hand"),
            col("stock_value", "money"),
            col("aged_units"),
            col("aged_value", "money"),
            col("oldest_days"),
        ],
        [
            [*_pair_cells(a, english), a.on_hand, a.value_fen, a.aged_units, a.aged_value_fen, a.oldest_days]
            for a in d.aged_top
        ],
    )
    return [
        summary,
        turnover("sheet_locations", "location", d.by_location, "no_location"),
        turnover("sheet_categories", "category", d.by_category, "no_category"),
        stockouts,
        stockout_days,
        slow,
        ages,
        by_location_age,
        aged,
    ]


def sales_xlsx(d: SalesDashboard, label: Label, about: Sequence[tuple[str, str]], *, english: bool = False) -> bytes:
    return workbook(sales_sheets(d, label, english=english), about=about)


def inventory_xlsx(
    d: InventoryDashboard, label: Label, about: Sequence[tuple[str, str]], *, english: bool = False
) -> bytes:
    return workbook(inventory_sheets(d, label, english=english), about=about)
