"""How numbers, money and times read on a console page (pure functions, no I/O).

Money arrives as integer fen. Big figures are compacted the way people in Chinese retail read
them (万 / 亿) in zh-CN and with K / M / B in English.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

CURRENCY_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "HKD": "HK$", "JPY": "¥"}


def symbol(currency: str) -> str:
    return CURRENCY_SYMBOLS.get(currency, currency + " ")


def money(amount_fen: int | None, currency: str = "CNY") -> str:
    """12345678 -> '¥123,456.78'. Integer arithmetic: no float ever touches money."""
    if amount_fen is None:
        return "—"
    sign = "-" if amount_fen < 0 else ""
    units, cents = divmod(abs(amount_fen), 100)
    return f"{sign}{symbol(currency)}{units:,}.{cents:02d}"


def _compact(value: Decimal, locale: str) -> str:
    steps = [(Decimal(100_000_000), "亿"), (Decimal(10_000), "万")] if locale == "zh-CN" else []
    if locale != "zh-CN":
        steps = [(Decimal(1_000_000_000), "B"), (Decimal(1_000_000), "M"), (Decimal(1_000), "K")]
    magnitude = abs(value)
    for step, suffix in steps:
        if magnitude >= step:
            scaled = (value / step).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            text = f"{scaled:,.2f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{value.quantize(Decimal(1), rounding=ROUND_HALF_UP):,}"


def money_compact(amount_fen: int | None, currency: str = "CNY", locale: str = "zh-CN") -> str:
    """12345678900 fen -> '¥1.23亿' (zh-CN) / '¥123.46M' (en)."""
    if amount_fen is None:
        return "—"
    return symbol(currency) + _compact(Decimal(amount_fen) / 100, locale)


def number(value: int | float | Decimal | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{Decimal(str(value)).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):,}"


def number_compact(value: int | None, locale: str = "zh-CN") -> str:
    if value is None:
        return "—"
    return _compact(Decimal(value), locale)


def local_time(value: datetime | None, tz: str = "Asia/Shanghai", *, seconds: bool = False) -> str:
    """UTC in storage, the store's zone on the page."""
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(tz))
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def distance_km(value: float | Decimal | None) -> str:
    if value is None:
        return "—"
    km = Decimal(str(value))
    if km < 1:
        return f"{(km * 1000).quantize(Decimal(1))} m"
    return f"{km.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} km"
