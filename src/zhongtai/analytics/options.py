"""What the dashboards' filters can choose from, read from the lake's dimension tables.

Store choices are limited to a store-scoped principal's stores; categories come as a flat list in
tree order with their depth (for an indented select).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.lake import Lake


@dataclass(frozen=True)
class Choice:
    value: str
    name: str
    name_en: str = ""
    depth: int = 0


@dataclass
class FilterOptions:
    channels: list[Choice] = field(default_factory=list)
    stores: list[Choice] = field(default_factory=list)
    categories: list[Choice] = field(default_factory=list)

    def channel_codes(self) -> list[str]:
        return [c.value for c in self.channels]


def filter_options(lake: Lake, filters: DashboardFilters | None = None) -> FilterOptions:
    channels = lake.query("SELECT code, name, name_en FROM channels ORDER BY code")
    stores = lake.query("SELECT location_id, code, name, name_en FROM locations WHERE type = 'store' ORDER BY code")
    categories = lake.query("SELECT category_id, name, name_en, depth, path FROM categories ORDER BY path")
    scope = set(filters.scope) if filters is not None and filters.scope is not None else None
    return FilterOptions(
        channels=[Choice(r["code"], r["name"], r["name_en"] or "") for r in channels.iter_rows(named=True)],
        stores=[
            Choice(str(r["location_id"]), f"{r['name']} ({r['code']})", f"{r['name_en'] or r['name']} ({r['code']})")
            for r in stores.iter_rows(named=True)
            if scope is None or r["location_id"] in scope
        ],
        categories=[
            Choice(str(r["category_id"]), r["name"], r["name_en"] or "", int(r["depth"] or 0))
            for r in categories.iter_rows(named=True)
        ],
    )
