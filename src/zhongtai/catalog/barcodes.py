"""Barcode rules. Numeric codes of GTIN length (EAN-8, UPC-A, EAN-13, GTIN-14) must carry a
correct check digit: a wrong one is almost always a typo, and a mistyped barcode sells the wrong
product at the till. Other codes (internal labels) are letters, digits and ``-_.``.
"""

from __future__ import annotations

import re

GTIN_LENGTHS = frozenset({8, 12, 13, 14})
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def gtin_check_digit(body: str) -> int:
    """The check digit for the digits before it (GS1: weights 3,1,3,... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def with_check_digit(body: str) -> str:
    """``'690123456789'`` -> ``'6901234567892'`` (for generators and tests)."""
    return body + str(gtin_check_digit(body))


def barcode_problem(barcode: str) -> tuple[str, str] | None:
    """None when valid, else (code, message)."""
    if not _CODE_RE.match(barcode):
        return ("invalid_barcode", f"{barcode!r}: 1-64 letters, digits or -_. characters")
    is_gtin = barcode.isdigit() and len(barcode) in GTIN_LENGTHS
    if is_gtin and int(barcode[-1]) != gtin_check_digit(barcode[:-1]):
        return ("bad_check_digit", f"{barcode}: check digit should be {gtin_check_digit(barcode[:-1])}")
    return None
