"""Check digits for the identifiers the demo invents: EAN-13 barcodes and IMEI serials.

Scanners and marketplace listings reject codes whose check digit is wrong, so the demo's
barcodes and IMEIs are valid, not merely the right length.
"""

from __future__ import annotations

from zhongtai.catalog.barcodes import is_valid_imei, luhn_check_digit

__all__ = ["ean13", "ean13_check_digit", "imei", "is_valid_ean13", "is_valid_imei", "luhn_check_digit"]


def ean13_check_digit(body: str) -> int:
    """The 13th digit for a 12-digit body: weights 1, 3, 1, 3 ... from the left."""
    if len(body) != 12 or not body.isdigit():
        raise ValueError(f"an EAN-13 body is 12 digits, got {body!r}")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return (10 - total % 10) % 10


def ean13(body: str) -> str:
    return body + str(ean13_check_digit(body))


def is_valid_ean13(code: str) -> bool:
    return len(code) == 13 and code.isdigit() and ean13_check_digit(code[:12]) == int(code[12])


def imei(tac: str, serial: int) -> str:
    """A 15-digit IMEI: 8-digit type allocation code, 6-digit serial, Luhn check digit."""
    if len(tac) != 8 or not tac.isdigit():
        raise ValueError(f"a TAC is 8 digits, got {tac!r}")
    if not 0 <= serial < 1_000_000:
        raise ValueError(f"an IMEI serial is 6 digits, got {serial}")
    body = f"{tac}{serial:06d}"
    return body + str(luhn_check_digit(body))
