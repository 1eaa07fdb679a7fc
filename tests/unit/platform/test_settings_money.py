from __future__ import annotations

import pytest
from pydantic import ValidationError

from zhongtai.money import CurrencyMismatch, Money
from zhongtai.settings import DEMO_SECRET_KEY, Settings


def test_production_refuses_demo_secret_and_sqlite() -> None:
    with pytest.raises(ValidationError) as excinfo:
        Settings(env="production", secret_key=DEMO_SECRET_KEY, database_url="sqlite:///x.db")
    message = str(excinfo.value)
    assert "ZHONGTAI_SECRET_KEY" in message
    assert "PostgreSQL" in message


def test_production_accepts_real_settings() -> None:
    s = Settings(env="production", secret_key="x" * 40, database_url="postgresql://u@db/zt")
    assert s.is_production
    assert s.cookie_secure


def test_demo_defaults_work_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZHONGTAI_ENV", raising=False)
    s = Settings()
    assert s.env == "demo"
    assert s.database_url.startswith("sqlite:///")


def test_settings_read_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHONGTAI_RESERVATION_TTL_S", "60")
    assert Settings().reservation_ttl_s == 60


@pytest.mark.parametrize(
    ("text", "fen"), [("12.5", 1250), ("¥1,299.00", 129900), ("0", 0), ("￥3.07", 307), ("-4.10", -410)]
)
def test_parse_yuan(text: str, fen: int) -> None:
    assert Money.parse_yuan(text).amount_minor == fen


@pytest.mark.parametrize("text", ["1.005", "abc", "", "1,2.3.4"])
def test_parse_yuan_rejects_bad_amounts(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        Money.parse_yuan(text)


def test_money_refuses_floats_and_mixed_currencies() -> None:
    with pytest.raises(TypeError):
        Money(12.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(CurrencyMismatch):
        Money(100, "CNY") + Money(100, "USD")
    assert (Money(129900) * 2).format() == "¥2,598.00"
    assert Money(-5).to_yuan() == "-0.05"
