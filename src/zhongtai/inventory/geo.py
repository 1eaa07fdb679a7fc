"""Distances on the Earth's surface for "stock within N km of a point".

Pure functions over plain numbers: the SQL side only narrows candidates with a bounding box
(cheap on any backend, no PostGIS needed), the exact great-circle distance is computed here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius

T = TypeVar("T")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two WGS-84 points (degrees)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    # min() guards against a rounding overshoot just above 1 for antipodal points.
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class BoundingBox:
    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float
    # True when the box crosses the antimeridian: longitude is then lon >= min_lon OR lon <= max_lon.
    wraps: bool = False

    def contains(self, lat: float, lon: float) -> bool:
        if not self.min_lat <= lat <= self.max_lat:
            return False
        if self.wraps:
            return lon >= self.min_lon or lon <= self.max_lon
        return self.min_lon <= lon <= self.max_lon


def bounding_box(lat: float, lon: float, radius_km: float) -> BoundingBox:
    """A lat/lon box that contains every point within ``radius_km`` of (lat, lon)."""
    if radius_km < 0:
        raise ValueError("radius_km must not be negative")
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90 or max_lat >= 90:
        # A pole is inside the circle: every longitude qualifies.
        return BoundingBox(max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)
    dlon = math.degrees(math.asin(min(1.0, math.sin(radius_km / EARTH_RADIUS_KM) / math.cos(math.radians(lat)))))
    min_lon, max_lon = lon - dlon, lon + dlon
    if min_lon < -180:
        return BoundingBox(min_lat, max_lat, min_lon + 360, max_lon, wraps=True)
    if max_lon > 180:
        return BoundingBox(min_lat, max_lat, min_lon, max_lon - 360, wraps=True)
    return BoundingBox(min_lat, max_lat, min_lon, max_lon)


@dataclass(frozen=True, slots=True)
class Near(Generic[T]):
    item: T
    distance_km: float


def nearest_within(items: Iterable[tuple[T, float, float]], lat: float, lon: float, radius_km: float) -> list[Near[T]]:
    """The items (item, lat, lon) within ``radius_km`` of the point, nearest first.

    Ties keep their input order, so callers get a stable answer.
    """
    found = []
    for item, ilat, ilon in items:
        d = haversine_km(lat, lon, ilat, ilon)
        if d <= radius_km:
            found.append(Near(item, d))
    found.sort(key=lambda n: n.distance_km)
    return found


def valid_point(lat: float, lon: float) -> bool:
    return -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0 and not (math.isnan(lat) or math.isnan(lon))
