"""The whole demo retailer for one seed and scale, as plain data (no database)."""

from __future__ import annotations

from dataclasses import dataclass

from zhongtai.demo.catalog_data import CatalogPlan, Scale, build_catalog
from zhongtai.demo.network_data import NetworkPlan, build_network
from zhongtai.demo.stock_data import StockPlan, build_stock_plan

SCALES: tuple[Scale, ...] = ("small", "full")


@dataclass(frozen=True, slots=True)
class DemoPlan:
    seed: int
    scale: Scale
    catalog: CatalogPlan
    network: NetworkPlan
    stock: StockPlan


def build_demo_plan(seed: int, scale: Scale = "full") -> DemoPlan:
    if scale not in SCALES:
        raise ValueError(f"scale is one of {', '.join(SCALES)}, got {scale!r}")
    catalog = build_catalog(seed, scale)
    network = build_network(seed, scale)
    return DemoPlan(seed, scale, catalog, network, build_stock_plan(catalog, network, seed))
