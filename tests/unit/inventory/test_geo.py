from __future__ import annotations

import math

import pytest

from zhongtai.inventory.geo import bounding_box, haversine_km, nearest_within, valid_point

# People's Square and Lujiazui (Shanghai), Beijing Tiananmen.
PEOPLES_SQUARE = (31.2304, 121.4737)
LUJIAZUI = (31.2397, 121.4998)
TIANANMEN = (39.9087, 116.3975)


def test_same_point_is_zero_km() -> None:
    assert haversine_km(*PEOPLES_SQUARE, *PEOPLES_SQUARE) == 0.0


def test_known_distances() -> None:
    # Shanghai to Beijing is about 1,067 km as the crow flies; across the Huangpu about 2.7 km.
    assert haversine_km(*PEOPLES_SQUARE, *TIANANMEN) == pytest.approx(1067, abs=5)
    assert haversine_km(*PEOPLES_SQUARE, *LUJIAZUI) == pytest.approx(2.66, abs=0.05)


def test_distance_is_symmetric_and_handles_the_antimeridian() -> None:
    assert haversine_km(*LUJIAZUI, *TIANANMEN) == pytest.approx(haversine_km(*TIANANMEN, *LUJIAZUI))
    # 1 degree of longitude on the equator either side of 180°: ~111 km, not ~40,000 km.
    assert haversine_km(0, 179.5, 0, -179.5) == pytest.approx(111.2, abs=0.5)


def test_antipodes_are_half_the_circumference() -> None:
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * 6371.0088, rel=1e-9)


def test_nearest_within_keeps_only_points_in_radius_nearest_first() -> None:
    # Given two Shanghai stores and a Beijing one, listed far-first
    items = [("beijing", *TIANANMEN), ("lujiazui", *LUJIAZUI), ("square", *PEOPLES_SQUARE)]
    # When asking for 3 km around a point next to People's Square
    found = nearest_within(items, 31.231, 121.474, 3.0)
    # Then Beijing is out and the two stores come nearest first
    assert [n.item for n in found] == ["square", "lujiazui"]
    assert found[0].distance_km < found[1].distance_km <= 3.0


def test_bounding_box_contains_every_point_of_the_circle() -> None:
    lat, lon, r = 31.23, 121.47, 50.0
    box = bounding_box(lat, lon, r)
    for bearing in range(0, 360, 15):
        # A point r km away along the bearing (spherical destination formula)
        d = r / 6371.0088
        b = math.radians(bearing)
        p1 = math.radians(lat)
        p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
        l2 = math.radians(lon) + math.atan2(
            math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
        )
        assert box.contains(math.degrees(p2) * 0.99999 + lat * 0.00001, math.degrees(l2))


def test_bounding_box_wraps_at_the_antimeridian_and_poles() -> None:
    box = bounding_box(0, 179.9, 50)
    assert box.wraps
    assert box.contains(0, -179.9)
    assert not box.contains(0, 0)
    polar = bounding_box(89.9, 0, 50)
    assert (polar.min_lon, polar.max_lon) == (-180.0, 180.0)


def test_negative_radius_is_refused() -> None:
    with pytest.raises(ValueError, match="radius"):
        bounding_box(0, 0, -1)


@pytest.mark.parametrize(("lat", "lon", "ok"), [(0, 0, True), (91, 0, False), (0, -181, False), (math.nan, 0, False)])
def test_valid_point(lat: float, lon: float, ok: bool) -> None:
    assert valid_point(lat, lon) is ok
