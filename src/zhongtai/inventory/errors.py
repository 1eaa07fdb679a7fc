"""Inventory's domain errors. Rendered as problem+json by the one handler in ``app.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zhongtai.errors import Conflict


@dataclass(frozen=True, slots=True)
class Shortage:
    """One line that cannot be held: what was asked, what the caller's channel may still sell."""

    sku_code: str
    location_code: str
    requested: int
    available: int
    sku_id: int
    location_id: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "sku_code": self.sku_code,
            "sku_id": self.sku_id,
            "location_code": self.location_code,
            "location_id": self.location_id,
            "requested": self.requested,
            "available": self.available,
        }


@dataclass(frozen=True, slots=True)
class UnavailableSerial:
    sku_code: str
    location_code: str
    serial: str
    state: str | None  # None: no such serial for this SKU

    def as_dict(self) -> dict[str, Any]:
        return {
            "sku_code": self.sku_code,
            "location_code": self.location_code,
            "serial": self.serial,
            "state": self.state,
        }


class InsufficientStock(Conflict):
    """Raised once per request with every short line (and every unavailable serial)."""

    code = "insufficient_stock"
    title = "Not enough stock"

    @classmethod
    def of(cls, shortages: list[Shortage], serials: list[UnavailableSerial] | None = None) -> InsufficientStock:
        serials = serials or []
        parts = [f"{s.sku_code}@{s.location_code}: {s.requested} requested, {s.available} available" for s in shortages]
        parts += [f"serial {u.serial} ({u.sku_code}@{u.location_code}) is {u.state or 'unknown'}" for u in serials]
        return cls(
            "; ".join(parts),
            extra={
                "shortages": [s.as_dict() for s in shortages],
                "unavailable_serials": [u.as_dict() for u in serials],
            },
        )


class ReservationMismatch(Conflict):
    """The (channel, reference) already holds a reservation with other lines, or a closed one."""

    code = "reservation_exists"
    title = "A different reservation exists for this reference"
