from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations

import pytest

from zhongtai.auth.permissions import Role
from zhongtai.demo.network_data import NetworkPlan, build_network


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


@pytest.fixture(scope="module")
def full() -> NetworkPlan:
    return build_network(42, "full")


def test_same_seed_same_network_other_seed_other_hours() -> None:
    assert build_network(5) == build_network(5)
    assert [s.opening_hours for s in build_network(5).stores] != [s.opening_hours for s in build_network(6).stores]


def test_a_central_dc_three_regional_dcs_suppliers_and_transit(full: NetworkPlan) -> None:
    assert len(full.of_type("central_dc")) == 1
    regional = full.of_type("regional_dc")
    assert {dc.region for dc in regional} == {"华东", "华南", "西南"}
    assert 2 <= len(full.of_type("supplier")) <= 3
    assert len(full.of_type("in_transit")) == 1
    codes = [loc.code for loc in full.locations]
    assert len(codes) == len(set(codes))
    assert all(len(c) <= 32 for c in codes)


def test_at_least_30_stores_in_at_least_6_cities(full: NetworkPlan) -> None:
    assert len(full.stores) >= 30
    assert len({s.city for s in full.stores}) >= 6


def test_every_store_has_a_parent_dc_hours_and_an_address(full: NetworkPlan) -> None:
    dcs = {loc.code for loc in full.of_type("central_dc", "regional_dc")}
    for store in full.stores:
        assert store.parent_code in dcs
        assert store.timezone == "Asia/Shanghai"
        assert store.address
        assert store.province
        assert store.region
        hours = store.opening_hours_dict()
        assert set(hours) == {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
        assert all(opens < closes for opens, closes in hours.values())


def test_stores_sit_inside_their_city_and_some_are_within_3_km(full: NetworkPlan) -> None:
    by_city: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for store in full.stores:
        assert store.latitude is not None
        assert store.longitude is not None
        assert 18 < store.latitude < 45
        assert 100 < store.longitude < 125
        by_city[store.city].append((store.latitude, store.longitude))
    close_cities = set()
    for city, points in by_city.items():
        centre = (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
        assert all(km(p, centre) < 40 for p in points), city
        if any(km(a, b) <= 3 for a, b in combinations(points, 2)):
            close_cities.add(city)
    assert {"上海市", "北京市", "广州市", "深圳市"} <= close_cities


def test_one_user_per_role_and_scopes_fit_the_role(full: NetworkPlan) -> None:
    roles = {u.role for u in full.users}
    assert roles == {r.value for r in Role} - {Role.INTEGRATOR.value, Role.CHAT_WIDGET.value, Role.TOUCHPOINT.value}
    stores = {s.code: s for s in full.stores}
    manager = next(u for u in full.users if u.role == "store_manager")
    assert len(manager.store_codes) == 2
    assert {stores[c].city for c in manager.store_codes} == {"上海市"}
    guide = next(u for u in full.users if u.role == "guide")
    assert len(guide.store_codes) == 1
    assert guide.store_codes[0] in manager.store_codes
    assert all(not u.store_codes for u in full.users if u.role not in ("store_manager", "guide"))
    assert [k.role for k in full.api_keys] == ["integrator"]


def test_small_network_keeps_the_dcs_and_the_scoped_stores() -> None:
    small = build_network(42, "small")
    assert 6 <= len(small.stores) < 30
    codes = {s.code for s in small.stores}
    assert all(set(u.store_codes) <= codes for u in small.users)
    assert len(small.of_type("central_dc", "regional_dc")) == 4


def test_six_channels() -> None:
    assert [c.code for c in build_network(1).channels] == ["web", "jd", "tmall", "pos", "miniapp", "meituan"]
