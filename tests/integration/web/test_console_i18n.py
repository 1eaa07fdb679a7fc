"""Both catalogs carry every key, and every key the pages use exists."""

from __future__ import annotations

import re
from pathlib import Path

from zhongtai.auth.permissions import Role
from zhongtai.web.i18n import LOCALES_DIR, SUPPORTED_LOCALES, Translator, catalog, pick_locale
from zhongtai.web.views.sku_stock import LOCATION_TYPES
from zhongtai.web.views.stock import MOVEMENT_TYPES

WEB = Path(LOCALES_DIR).parent
STATIC_KEY = re.compile(r"""\bt\(\s*["']([a-z_][a-z0-9_.]*[a-z0-9_])["']""")


def _catalogs() -> dict[str, dict[str, str]]:
    # The merged catalogs: the base file plus every <locale>.<part>.json.
    return {loc: catalog(loc) for loc in SUPPORTED_LOCALES}


def test_both_catalogs_have_the_same_keys() -> None:
    zh, en = _catalogs()["zh-CN"], _catalogs()["en"]
    assert sorted(set(zh) - set(en)) == []
    assert sorted(set(en) - set(zh)) == []
    assert all(v.strip() for v in zh.values())
    assert all(v.strip() for v in en.values())


def test_placeholders_match_between_languages() -> None:
    zh, en = _catalogs()["zh-CN"], _catalogs()["en"]
    names = re.compile(r"\{(\w+)\}")
    assert [k for k in zh if set(names.findall(zh[k])) != set(names.findall(en[k]))] == []


def test_every_key_the_templates_and_views_use_exists() -> None:
    zh = _catalogs()["zh-CN"]
    used = set()
    for path in [*WEB.rglob("*.html"), *WEB.rglob("*.py")]:
        used |= set(STATIC_KEY.findall(path.read_text(encoding="utf-8")))
    assert sorted(k for k in used if k not in zh) == []


def test_every_value_the_pages_translate_by_name_exists() -> None:
    zh = _catalogs()["zh-CN"]
    families = {
        "role": [r.value for r in Role],
        "lifecycle": ["draft", "on_sale", "off_sale"],
        "location_type": list(LOCATION_TYPES),
        "movement": list(MOVEMENT_TYPES),
        "job.status": ["queued", "running", "succeeded", "failed"],
        "weekday": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "nav": ["home", "catalog", "locations", "movements", "imports", "users", "api_keys", "audit"],
        "nav.section": ["overview", "operations", "admin"],
    }
    missing = [f"{p}.{v}" for p, values in families.items() for v in values if f"{p}.{v}" not in zh]
    for kind in ("not_found", "forbidden", "csrf", "invalid", "conflict", "internal", "generic"):
        missing += [k for k in (f"error.{kind}.title", f"error.{kind}.text") if k not in zh]
    assert missing == []


def test_translator_and_locale_choice() -> None:
    assert Translator("en")("nav.catalog") == "Catalog"
    assert Translator("zh-CN")("nav.catalog") == "商品中心"
    assert Translator("en")("sku.margin", pct="12.5") == "Gross margin 12.5%"
    assert Translator("fr")("nav.catalog") == "商品中心"  # unknown locale: the default
    assert Translator("en")("no.such.key") == "no.such.key"
    # The switch wins, then the user's setting, then the platform default
    assert pick_locale("en", "zh-CN") == "en"
    assert pick_locale(None, "en-US") == "en"
    assert pick_locale("xx", None) == "zh-CN"
