from __future__ import annotations

from collections import Counter

import pytest

from zhongtai.demo.catalog_data import build_catalog
from zhongtai.demo.check_digits import is_valid_imei
from zhongtai.demo.network_data import build_network
from zhongtai.demo.stock_data import StockPlan, build_stock_plan


def plan(seed: int, scale: str = "full") -> StockPlan:
    return build_stock_plan(build_catalog(seed, scale), build_network(seed, scale), seed)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def full() -> StockPlan:
    return plan(42)


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    assert plan(3, "small") == plan(3, "small")
    assert plan(3, "small") != plan(4, "small")


def test_only_sellable_skus_get_stock(full: StockPlan) -> None:
    skus = build_catalog(42).sku_by_code()
    assert all(skus[r.sku_code].lifecycle != "draft" for r in full.receipts)
    assert all(r.quantity > 0 for r in full.receipts)


def test_serial_tracked_units_each_have_a_unique_valid_serial(full: StockPlan) -> None:
    skus = build_catalog(42).sku_by_code()
    seen: set[str] = set()
    for r in full.receipts:
        sku = skus[r.sku_code]
        if sku.serial_tracked:
            assert len(r.serials) == r.quantity
        else:
            assert r.serials == ()
        for serial in r.serials:
            assert serial not in seen
            seen.add(serial)
            if sku.serial_kind == "imei":
                assert is_valid_imei(serial), serial
    assert len(seen) > 1_000


def test_dcs_are_deep_and_stores_shallow(full: StockPlan) -> None:
    network = build_network(42).location_by_code()
    by_type: dict[str, list[int]] = {}
    for r in full.receipts:
        by_type.setdefault(network[r.location_code].type, []).append(r.quantity)

    def median(xs: list[int]) -> int:
        return sorted(xs)[len(xs) // 2]

    assert median(by_type["central_dc"]) > 5 * median(by_type["store"])
    assert median(by_type["regional_dc"]) > median(by_type["store"])


def test_some_store_lines_are_empty_or_below_safety_stock(full: StockPlan) -> None:
    network = build_network(42).location_by_code()
    on_hand = full.expected_on_hand()
    low = [k for k in full.below_safety() if network[k[1]].type == "store"]
    store_lines = [s for s in full.safety_stock if network[s.location_code].type == "store"]
    assert 0.02 * len(store_lines) < len(low) < 0.2 * len(store_lines)
    assert any(on_hand.get(k, 0) == 0 for k in low)
    assert any(on_hand.get(k, 0) > 0 for k in low)


def test_transfers_move_units_the_source_holds(full: StockPlan) -> None:
    assert Counter(t.status for t in full.transfers) == {"shipped": 3, "draft": 1, "received": 1}
    received = {(r.sku_code, r.location_code): set(r.serials) for r in full.receipts}
    moved: set[str] = set()
    for t in full.transfers:
        for line in t.lines:
            assert line.serials == () or len(line.serials) == line.quantity
            assert set(line.serials) <= received[(line.sku_code, t.source_code)]
            assert not moved & set(line.serials)
            moved |= set(line.serials)
    assert all(q >= 0 for q in full.expected_on_hand().values())
    safety = {(s.sku_code, s.location_code): s.quantity for s in full.safety_stock}
    on_hand = full.expected_on_hand()
    for t in full.transfers:
        for line in t.lines:
            key = (line.sku_code, t.source_code)
            assert on_hand[key] >= safety.get(key, 0) - (line.quantity if t.status == "draft" else 0)


def test_channel_safety_keeps_units_for_the_pos(full: StockPlan) -> None:
    network = build_network(42)
    store_rules = [r for r in full.channel_safety if r.sku_code is None]
    assert {r.channel_code for r in store_rules} == {"web", "jd", "tmall", "miniapp", "meituan"}
    assert {r.location_code for r in store_rules} == {s.code for s in network.stores}
    assert all(r.quantity == 2 for r in store_rules)
    assert any(r.sku_code is not None for r in full.channel_safety)


def test_small_plan_is_light() -> None:
    small = plan(42, "small")
    assert sum(len(r.serials) for r in small.receipts) < 3_000
    assert len(small.transfers) == 5
