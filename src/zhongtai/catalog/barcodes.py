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


def luhn_check_digit(body: str) -> int:
    """The Luhn digit to append to ``body`` (IMEI: 14 digits of TAC and serial; card numbers)."""
    if not body or not body.isdigit():
        raise ValueError(f"a Luhn body is digits, got {body!r}")
    total = 0
    # Counting from the right of the body, every first, third ... digit is doubled, because the
    # check digit will take the rightmost position.
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def is_valid_imei(code: str) -> bool:
    """15 digits whose last is the Luhn digit of the first 14: a phone's serial number."""
    return len(code) == 15 and code.isdigit() and luhn_check_digit(code[:14]) == int(code[14])
