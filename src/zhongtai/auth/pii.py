"""Masking of personal data (PIPL) for principals without ``pii:read``.

The one place that decides what a masked phone, name, e-mail or address looks like; contexts call
``masker_for(principal)`` and apply it to what they return.
"""

from __future__ import annotations

from dataclasses import dataclass

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal


def mask_phone(phone: str) -> str:
    """138****1234: the operator prefix and the last four digits (how Chinese apps show it)."""
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str) -> str:
    """张** / J*** : the first character only."""
    name = name.strip()
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def mask_email(email: str) -> str:
    local, at, domain = email.partition("@")
    if not at:
        return mask_name(email)
    return (local[:1] + "***") + "@" + domain


def mask_address(address: str) -> str:
    """Keeps the first six characters (district and street name), hides the rest."""
    address = address.strip()
    return address[:6] + "****" if len(address) > 6 else ("****" if address else "")


@dataclass(frozen=True, slots=True)
class Masker:
    unmasked: bool

    def phone(self, value: str) -> str:
        return value if self.unmasked or not value else mask_phone(value)

    def name(self, value: str) -> str:
        return value if self.unmasked or not value else mask_name(value)

    def email(self, value: str) -> str:
        return value if self.unmasked or not value else mask_email(value)

    def address(self, value: str) -> str:
        return value if self.unmasked or not value else mask_address(value)

    def coordinate(self, value: float | None) -> float | None:
        """Coordinates of a home are personal data: rounded to ~1 km when masked."""
        return value if self.unmasked or value is None else round(value, 2)


def masker_for(principal: Principal) -> Masker:
    return Masker(principal.can(Perm.PII_READ))
