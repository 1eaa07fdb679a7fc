"""The console's translator: flat JSON catalogs, one per locale, zh-CN first.

A locale's catalog is ``locales/<locale>.json`` plus any ``locales/<locale>.<part>.json`` (a
context's own keys, e.g. ``zh-CN.service.json``); a key defined twice is an error, not a silent
override.

Keys are dotted (``nav.catalog``); values may hold ``{name}`` placeholders. Both catalogs carry
the same keys (a test holds them to it), so a missing key is a bug that shows as the key itself
rather than as a crash in front of a store manager.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).parent / "locales"
SUPPORTED_LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
LANG_COOKIE = "lang"


@cache
def catalog(locale: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((LOCALES_DIR / f"{locale}.json").read_text(encoding="utf-8"))
    for part in sorted(LOCALES_DIR.glob(f"{locale}.*.json")):
        extra: dict[str, str] = json.loads(part.read_text(encoding="utf-8"))
        twice = sorted(data.keys() & extra.keys())
        if twice:
            raise ValueError(f"{part.name} redefines {', '.join(twice[:5])}")
        data.update(extra)
    return data


def normalise_locale(value: str | None) -> str | None:
    """'en-US' -> 'en', 'zh' / 'zh-cn' -> 'zh-CN'; None for anything we do not speak."""
    if not value:
        return None
    lowered = value.strip().lower()
    if lowered.startswith("zh"):
        return "zh-CN"
    if lowered.startswith("en"):
        return "en"
    return None


def pick_locale(cookie_value: str | None, user_locale: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The switch (cookie) wins, then the user's own setting, then the platform default."""
    return normalise_locale(cookie_value) or normalise_locale(user_locale) or default


class Translator:
    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE
        self._messages = catalog(self.locale)

    @property
    def is_zh(self) -> bool:
        return self.locale == "zh-CN"

    def __call__(self, key: str, /, **values: Any) -> str:
        text = self._messages.get(key)
        if text is None:
            return key
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self._messages

    def maybe(self, prefix: str, value: str | None) -> str:
        """The translation of ``prefix.value`` (a lifecycle, a movement type), else the raw value."""
        if not value:
            return ""
        key = f"{prefix}.{value}"
        return self(key) if key in self._messages else value
