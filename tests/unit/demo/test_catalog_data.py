from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from zhongtai.demo.catalog_data import (
    ACCESSORY_CATEGORIES,
    PRICE_BANDS_YUAN,
    CatalogPlan,
    build_catalog,
)
from zhongtai.demo.check_digits import is_valid_ean13
from zhongtai.demo.network_data import CHANNELS

SERIAL_CATEGORIES = {"phone", "laptop", "gaming_desktop", "monitor"}


@pytest.fixture(scope="module")
def full() -> CatalogPlan:
    return build_catalog(42, "full")


@pytest.fixture(scope="module")
def small() -> CatalogPlan:
    return build_catalog(42, "small")


def test_same_seed_gives_the_same_catalog() -> None:
    assert build_catalog(7) == build_catalog(7)
    assert build_catalog(7, "small") == build_catalog(7, "small")


def test_another_seed_gives_another_catalog() -> None:
    a, b = build_catalog(7), build_catalog(8)
    assert [s.code for s in a.skus] == [s.code for s in b.skus]  # the same products ...
    assert [(s.sale_price_fen, s.unit_cost_fen, s.barcodes) for s in a.skus] != [
        (s.sale_price_fen, s.unit_cost_fen, s.barcodes) for s in b.skus
    ]  # ... priced, costed and coded differently


def test_generation_leaves_the_global_rng_alone() -> None:
    import random

    random.seed(1)
    expected = random.random()
    random.seed(1)
    build_catalog(3)
    assert random.random() == expected


def test_full_has_at_least_300_skus_and_small_about_60(full: CatalogPlan, small: CatalogPlan) -> None:
    assert len(full.skus) >= 300
    assert 45 <= len(small.skus) <= 80


def test_small_is_a_subset_of_full(full: CatalogPlan, small: CatalogPlan) -> None:
    by_code = full.sku_by_code()
    for sku in small.skus:
        assert by_code[sku.code] == sku


def test_codes_and_barcodes_are_unique_and_barcodes_valid(full: CatalogPlan) -> None:
    codes = [s.code for s in full.skus]
    assert len(codes) == len(set(codes))
    assert len({s.code for s in full.spus}) == len(full.spus)
    barcodes = [b for s in full.skus for b in s.barcodes]
    assert len(barcodes) == len(set(barcodes))
    for barcode in barcodes:
        assert is_valid_ean13(barcode), barcode
        assert barcode.startswith("69"), barcode


def test_prices_are_integer_fen_in_realistic_bands(full: CatalogPlan) -> None:
    for sku in full.skus:
        for value in (sku.list_price_fen, sku.sale_price_fen, sku.unit_cost_fen):
            assert isinstance(value, int)
            assert not isinstance(value, bool)
        assert sku.list_price_fen >= sku.sale_price_fen > sku.unit_cost_fen > 0
        assert 55 <= sku.unit_cost_fen * 100 // sku.sale_price_fen <= 80, sku.code
        low, high = PRICE_BANDS_YUAN[sku.category_code]
        assert low * 100 <= sku.list_price_fen <= high * 100, (sku.code, sku.list_price_fen)
        if sku.lifecycle == "on_sale":
            assert sku.sale_price_fen >= low * 100 * 0.8, sku.code
    phones = [s for s in full.skus if s.category_code == "phone"]
    assert min(s.list_price_fen for s in phones) == 129_900
    assert max(s.list_price_fen for s in phones) == 699_900
    assert any(s.sale_price_fen < s.list_price_fen for s in full.skus if s.lifecycle == "on_sale")


def test_channel_prices_name_real_channels_and_stay_above_cost(full: CatalogPlan) -> None:
    channels = {c.code for c in CHANNELS}
    by_code = full.sku_by_code()
    assert full.channel_prices
    for cp in full.channel_prices:
        assert cp.channel_code in channels
        assert isinstance(cp.price_fen, int)
        assert cp.price_fen > by_code[cp.sku_code].unit_cost_fen


def test_serial_tracking_follows_the_category(full: CatalogPlan) -> None:
    for sku in full.skus:
        if sku.category_code in SERIAL_CATEGORIES:
            assert sku.serial_tracked, sku.code
        if sku.category_code == "phone":
            assert sku.serial_kind == "imei"
            assert len(sku.serial_prefix) == 8
            assert sku.serial_prefix.isdigit()
        if sku.category_code in ACCESSORY_CATEGORIES:
            assert not sku.serial_tracked
    prefixes = [s.serial_prefix for s in full.skus if s.serial_tracked]
    assert len(prefixes) == len(set(prefixes))


def test_categories_form_a_tree_and_products_sit_on_leaves(full: CatalogPlan) -> None:
    codes = {c.code for c in full.categories}
    parents = {c.parent_code for c in full.categories if c.parent_code}
    assert parents <= codes
    for spu in full.spus:
        assert spu.category_code in codes
        assert spu.category_code not in parents
    required = {"phone", "laptop", "gaming_desktop", "monitor", "smart_toilet_seat", "smart_toilet"}
    required |= {"air_purifier", "robot_vacuum", "rice_cooker", "hair_dryer", "washer_dryer"}
    required |= {"mouse", "keyboard", "earphones", "charger", "phone_case", "screen_protector"}
    required |= {"monitor_stand", "filter"}
    assert required <= codes
    for c in full.categories:
        assert c.name
        assert c.name_en


def test_parameters_and_sale_attributes_match_their_definitions(full: CatalogPlan) -> None:
    defs = {a.code: a for a in full.attributes}
    for spu in full.spus:
        for code, value in spu.parameters:
            d = defs[code]
            assert d.level == "spu", code
            if d.kind == "number":
                assert isinstance(value, int | float), (spu.code, code)
            if d.kind == "enum":
                assert value in d.options, (spu.code, code, value)
    for sku in full.skus:
        for code, value in sku.sale_attributes:
            d = defs[code]
            assert d.level == "sku", code
            if d.kind == "enum":
                assert value in d.options, (sku.code, code, value)
    units = {a.code: a.unit for a in full.attributes}
    assert units["screen_size"] == "英寸"
    assert units["battery_capacity"] == "mAh"
    assert units["cadr"] == "m³/h"


def test_names_read_like_a_chinese_shop(full: CatalogPlan) -> None:
    names = {s.code: s.name for s in full.skus}
    assert names["YQ-Q60P-12-256-BK"] == "云启 Q60 Pro 5G 手机 12GB+256GB 曜石黑"
    for sku in full.skus:
        assert sku.name_en.isascii(), sku.name_en
        assert sku.weight_g > 0
    for spu in full.spus:
        assert 3 <= len(spu.selling_points) <= 5, spu.code
        assert all(p and "{" not in p for p in spu.selling_points)


def test_lifecycle_is_mostly_on_sale(full: CatalogPlan) -> None:
    states = Counter(s.lifecycle for s in full.skus)
    assert states["on_sale"] >= 0.85 * len(full.skus)
    assert states["draft"] > 0
    assert states["off_sale"] > 0


def test_every_link_points_to_an_existing_sellable_sku(full: CatalogPlan, small: CatalogPlan) -> None:
    for plan in (full, small):
        by_code = plan.sku_by_code()
        for link in plan.links:
            assert link.sku_code in by_code
            assert link.linked_sku_code in by_code
            assert link.sku_code != link.linked_sku_code
            assert by_code[link.linked_sku_code].lifecycle != "draft"
        assert len({(ln.sku_code, ln.linked_sku_code, ln.kind) for ln in plan.links}) == len(plan.links)


@pytest.mark.parametrize(
    ("category", "accessory_categories"),
    [
        ("phone", {"phone_case", "screen_protector", "charger"}),
        ("laptop", {"mouse", "laptop_bag"}),
        ("monitor", {"monitor_stand"}),
        ("air_purifier", {"filter"}),
    ],
)
def test_products_link_to_their_accessories(full: CatalogPlan, category: str, accessory_categories: set[str]) -> None:
    by_code = full.sku_by_code()
    accessories: dict[str, set[str]] = defaultdict(set)
    for link in full.links:
        if link.kind == "accessory":
            accessories[link.sku_code].add(by_code[link.linked_sku_code].category_code)
    for sku in full.skus:
        if sku.category_code == category and sku.lifecycle == "on_sale":
            assert accessory_categories <= accessories[sku.code], sku.code
    laptops_with_keyboard = [s for s in full.skus if s.category_code == "laptop" and "keyboard" in accessories[s.code]]
    assert laptops_with_keyboard


def test_siblings_are_related_both_ways(full: CatalogPlan) -> None:
    related = {(ln.sku_code, ln.linked_sku_code) for ln in full.links if ln.kind == "related"}
    assert related
    assert all((b, a) in related for a, b in related)


def test_unknown_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        build_catalog(1, "huge")  # type: ignore[arg-type]
