"""Money as integer minor units (fen) with an ISO currency. Never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


class CurrencyMismatch(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise TypeError("amount_minor must be an int (fen)")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"currency must be an ISO 4217 code, got {self.currency!r}")

    def _check(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __mul__(self, quantity: int) -> Money:
        return Money(self.amount_minor * quantity, self.currency)

    @classmethod
    def parse_yuan(cls, text: str, currency: str = "CNY") -> Money:
        """'12.5' or '¥1,299.00' -> fen. Rejects more than two decimals rather than rounding silently."""
        cleaned = text.strip().replace(",", "").lstrip("¥￥").strip()
        try:
            value = Decimal(cleaned)
        except InvalidOperation as exc:
            raise ValueError(f"not an amount: {text!r}") from exc
        if value.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError(f"more than two decimals: {text!r}")
        return cls(int((value * 100).to_integral_value(ROUND_HALF_UP)), currency)

    def to_yuan(self) -> str:
        sign = "-" if self.amount_minor < 0 else ""
        whole, frac = divmod(abs(self.amount_minor), 100)
        return f"{sign}{whole}.{frac:02d}"

    def format(self) -> str:
        symbol = "¥" if self.currency == "CNY" else f"{self.currency} "
        sign = "-" if self.amount_minor < 0 else ""
        whole, frac = divmod(abs(self.amount_minor), 100)
        return f"{sign}{symbol}{whole:,}.{frac:02d}"
