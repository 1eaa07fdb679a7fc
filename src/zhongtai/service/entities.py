"""Entities in a customer's message: order numbers, phones, URLs, products, quantities, dates,
serial numbers and the product attributes asked about.

``extract(text, catalog)`` is pure and fast (no database): the catalog part comes from a
:class:`CatalogIndex`, built once per process from the catalog service's search rows and rebuilt
when the catalog changes (``catalog_index(session)`` checks one cheap fingerprint query per call).

Products are found in three ways, all mapped to a SKU code:

* exact: a SKU or SPU code, a barcode, or a product URL (``/p/<sku code>``, ``?sku=<code>``, a JD
  item URL whose number is a barcode or a code);
* by name: the product's name (zh or en), brand + model ("云启 Q60 Pro", "Yunqi Q60 Pro") or a
  model on its own when it is a letter-and-digit model ("Q60 Pro"), compared without spaces,
  case or full-width differences, and fuzzily (one typo in the brand or a word of the model),
  never across a different number: "Q50" is not "Q60";
* then the variant: the memory/storage ("12+256", "16GB+1TB") and colour ("冰川白", "白色") said
  near the mention pick the SKU of the product; otherwise the first on-sale SKU stands for it.

Spans are ``(start, end)`` offsets in the text as given.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA
from sqlalchemy.orm import Session

from zhongtai.catalog import service as catalog_service
from zhongtai.catalog.barcodes import is_valid_imei
from zhongtai.service.text import _converter, to_half_width

# Below this a product mention is not reported: ordinary words ("手机", "你好") stay far below it,
# one typo in a brand-and-model name stays above it.
SKU_MIN_SCORE = 0.75
# Fuzzy name matches need at least this rapidfuzz partial ratio (0-100).
_FUZZY_CUTOFF = 80.0
_MAX_MENTIONS = 5
CHINA = ZoneInfo("Asia/Shanghai")


# ================================================================ the results


@dataclass(frozen=True, slots=True)
class SkuMention:
    """A product named in the text. ``code`` is a SKU code: the variant the text names, else the
    product's first on-sale SKU (``variant`` says which). ``score`` is 1.0 for codes, barcodes and
    URLs, up to 1.0 for names (exact brand + model or full name 1.0, model alone 0.9, fuzzy less)."""

    code: str
    name: str
    score: float
    span: tuple[int, int]
    spu_code: str = ""
    on_sale: bool = True
    # True when the text picked this SKU (its code, barcode, URL, or its memory/colour), False when
    # it only named the product and the SKU stands in for it.
    variant: bool = False


@dataclass(frozen=True, slots=True)
class Entities:
    """Everything found, each kind in text order. Phones are 11 characters: all digits, or masked
    with ``*`` where the customer hid digits ("138****1234"; "尾号1234" gives "*******1234")."""

    order_numbers: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    skus: tuple[SkuMention, ...] = ()
    quantities: tuple[int, ...] = ()
    dates: tuple[date, ...] = ()
    serials: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttributeInfo:
    code: str
    name: str
    name_en: str = ""
    unit: str | None = None


# ================================================================ normalisation with stable offsets

_SKIP = frozenset(" \t\r\n\u3000-_·・")


def _is_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _norm(text: str) -> str:
    """Half-width, simplified, lower-case: the same length as ``text`` so offsets carry over."""
    half = to_half_width(text)
    simplified = _converter().convert(half)
    if len(simplified) != len(half):  # a phrase conversion changed the length: go char by char
        simplified = "".join(c if len(t := _converter().convert(c)) != 1 else t for c in half)
    out = []
    for ch in simplified:
        low = ch.lower()
        out.append(low if len(low) == 1 else ch)
    return "".join(out)


def _compact(text: str) -> str:
    return "".join(ch for ch in _norm(text) if ch not in _SKIP)


class _Compact:
    """The normalised text without spaces and separators, and where each character came from."""

    __slots__ = ("norm", "pos", "text")

    def __init__(self, norm: str, masked: Sequence[tuple[int, int]] = ()) -> None:
        self.norm = norm
        blocked = [False] * len(norm)
        for s, e in masked:
            for i in range(s, e):
                blocked[i] = True
        chars: list[str] = []
        pos: list[int] = []
        for i, ch in enumerate(norm):
            if ch in _SKIP:
                continue
            chars.append("\x00" if blocked[i] else ch)
            pos.append(i)
        self.text = "".join(chars)
        self.pos = pos

    def widen(self, start: int, end: int) -> tuple[int, int]:
        """Compact offsets grown to whole Latin/digit words of the spaced text."""
        s, e = self.span(start, end)
        while s > 0 and _is_alnum(self.norm[s]) and _is_alnum(self.norm[s - 1]):
            s -= 1
        while e < len(self.norm) and _is_alnum(self.norm[e - 1]) and _is_alnum(self.norm[e]):
            e += 1
        return bisect_left(self.pos, s), bisect_left(self.pos, e)

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.pos[start], self.pos[end - 1] + 1

    def bounded(self, start: int, end: int) -> bool:
        """No letter or digit glued to either end of the match in the spaced text: "q60" is not a
        mention inside "q60pro", but is one in "q60 pro" (where "q60 pro" also matches, longer)."""
        s, e = self.span(start, end)
        if _is_alnum(self.norm[s]) and s > 0 and _is_alnum(self.norm[s - 1]):
            return False
        return not (_is_alnum(self.norm[e - 1]) and e < len(self.norm) and _is_alnum(self.norm[e]))


# ================================================================ the catalog index


@dataclass(frozen=True, slots=True)
class _Sku:
    code: str
    name: str
    on_sale: bool
    cues: tuple[str, ...]  # compact variant words: "12+256", "12gb+256gb", "冰川白", "白色" ...


@dataclass(slots=True)
class _Product:
    spu_code: str
    name: str
    skus: list[_Sku] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Alias:
    product: int
    text: str  # compact
    weight: float
    key_start: int  # the model's (or distinctive part's) place in ``text``
    key_end: int
    key_digits: tuple[str, ...]


_ALNUM_RUN = re.compile(r"[a-z0-9][a-z0-9.+]*")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_DIGITS = re.compile(r"\d+")
_NETWORK = re.compile(r"^[345]g$")
_COLOUR_CHARS = "黑白蓝绿粉灰银金紫红黄橙青棕"


def _memory_forms(token: str) -> list[str]:
    """ "12gb+256gb" → also "12g+256g", "12+256"; "16gb+1tb" → "16+1t", "16g+1t", "16+1tb"."""
    forms = {token}
    bare = re.sub(r"(\d)gb", r"\1", token)
    forms.add(bare)
    forms.add(re.sub(r"(\d)gb", r"\1g", token))
    forms.add(bare.replace("tb", "t"))
    forms.add(re.sub(r"(\d)gb", r"\1g", token).replace("tb", "t"))
    return [f for f in forms if f]


def _variant_cues(sku_name: str, spu_name: str, extra: Iterable[str]) -> tuple[str, ...]:
    cues: set[str] = set()
    name, base = _compact(sku_name), _compact(spu_name)
    rest = name[len(base) :] if base and name.startswith(base) else ""
    for part in [*_ALNUM_RUN.findall(rest), *_CJK_RUN.findall(rest), *(_compact(x) for x in extra)]:
        if not part or (part.isdigit() and len(part) < 3):
            continue
        if any(c.isdigit() for c in part) and ("gb" in part or "tb" in part or "+" in part):
            cues.update(_memory_forms(part))
        else:
            cues.add(part)
        if _CJK_RUN.fullmatch(part) and part[-1] in _COLOUR_CHARS:
            cues.add(part[-1] + "色")
    return tuple(sorted(cues, key=len, reverse=True))


def _strip_brand(name: str, brands: Sequence[str]) -> str:
    for b in brands:
        if b and name.startswith(b):
            return name[len(b) :].strip()
    return name.strip()


def _derived_model(name_without_brand: str) -> str:
    """The leading Latin/digit words of a name after its brand ("Q60 Pro 5G 手机" → "q60 pro"),
    without a trailing network generation."""
    tokens: list[str] = []
    for tok in _norm(name_without_brand).split():
        if not re.fullmatch(r"[a-z0-9][a-z0-9.+]*", tok):
            break
        tokens.append(tok)
    if len(tokens) > 1 and _NETWORK.match(tokens[-1]):
        tokens.pop()
    return " ".join(tokens)


def _is_letter_digit_model(model_c: str) -> bool:
    return any(c.isdigit() for c in model_c) and any(c.isalpha() for c in model_c) and len(model_c) >= 2


class CatalogIndex:
    """What ``extract`` needs to know about the catalog, precomputed: exact code/barcode maps,
    name aliases per product with a token index to find candidates, variant cues per SKU and the
    attribute vocabulary. Immutable once built; shared by every request of the process."""

    def __init__(
        self,
        rows: Sequence[catalog_service.SearchIndexRow],
        attributes: Sequence[AttributeInfo] = (),
        *,
        fingerprint: tuple[object, ...] = (),
    ) -> None:
        self.fingerprint = fingerprint
        self.products: list[_Product] = []
        self.sku_by_code: dict[str, tuple[int, _Sku]] = {}
        self.spu_by_code: dict[str, int] = {}
        self.barcodes: dict[str, str] = {}
        self.aliases: list[_Alias] = []
        self._token_index: dict[str, set[int]] = {}
        self.attributes: dict[str, AttributeInfo] = {a.code: a for a in attributes}
        by_spu: dict[str, int] = {}
        first_row: dict[int, catalog_service.SearchIndexRow] = {}
        for row in rows:
            idx = by_spu.get(row.spu_code)
            if idx is None:
                idx = len(self.products)
                by_spu[row.spu_code] = idx
                self.products.append(_Product(row.spu_code, row.spu_name))
                first_row[idx] = row
            extra = [str(v) for v in row.sale_attributes.values() if isinstance(v, str)]
            cues = _variant_cues(row.name, row.spu_name, extra) + _variant_cues(row.name_en, row.spu_name_en, ())
            sku = _Sku(row.code, row.name, row.lifecycle == "on_sale", tuple(dict.fromkeys(cues)))
            self.products[idx].skus.append(sku)
            self.sku_by_code[row.code.lower()] = (idx, sku)
            for b in row.barcodes:
                self.barcodes[b] = row.code
        for code, idx in by_spu.items():
            self.spu_by_code[code.lower()] = idx
        self._models: dict[int, str] = {}
        for idx, row in first_row.items():
            self._add_aliases(idx, row)
        self._add_tierless_models()
        self._attr_terms = self._attribute_terms()
        self._codes_re = self._code_pattern()

    # ---------------------------------------------------------------- building

    def _add_aliases(self, idx: int, row: catalog_service.SearchIndexRow) -> None:
        brands_zh = [_norm(row.brand_name).strip()] if row.brand_name else []
        brands_en = [_norm(row.brand_name_en).strip()] if row.brand_name_en else []
        brands = brands_zh + brands_en
        name_zh, name_en = _norm(row.spu_name).strip(), _norm(row.spu_name_en).strip()
        model = _norm(row.model).strip() if row.model else ""
        if not model:
            model = _derived_model(_strip_brand(name_zh, brands)) or _derived_model(_strip_brand(name_en, brands))
        model_c = "".join(ch for ch in model if ch not in _SKIP)
        if model_c:
            self._models[idx] = model_c
        seen: set[str] = set()

        def add(text: str, weight: float) -> None:
            text_c = "".join(ch for ch in text if ch not in _SKIP)
            if len(text_c) < 2 or text_c in seen:
                return
            seen.add(text_c)
            k = text_c.find(model_c) if model_c else -1
            if k >= 0:
                key_start, key_end = k, k + len(model_c)
            else:  # no model in this alias: its part after the brand is what must be said
                key_start = next((len(b) for b in (_compact(x) for x in brands) if b and text_c.startswith(b)), 0)
                key_end = len(text_c)
            alias = _Alias(idx, text_c, weight, key_start, key_end, tuple(_DIGITS.findall(text_c[key_start:key_end])))
            self.aliases.append(alias)
            for tok in _tokens(text_c[key_start:key_end]):
                self._token_index.setdefault(tok, set()).add(len(self.aliases) - 1)

        for name in (name_zh, name_en):
            if name:
                add(name, 1.0)
                stripped = _strip_brand(name, brands)
                if stripped != name and len(_compact(stripped)) >= 4:
                    add(stripped, 0.95)
        add(row.spu_code.lower(), 1.0)  # an SPU code typed as it is: the product, its variant from the text
        if model_c:
            for b in brands:
                add(f"{b}{model}", 1.0)
            if _is_letter_digit_model(model_c) or len(model_c) >= 6:
                add(model, 0.9)

    def _add_tierless_models(self) -> None:
        """ "P700" for the "P700 Pro" when the catalog has no P700 of its own: customers drop the tier
        word (Pro, Max, Plus ...). Where a plain P700 exists, "P700" stays that one."""
        full = set(self._models.values())
        bases: dict[str, set[str]] = {}
        for model in full:
            m = _TIER_SUFFIX_RE.fullmatch(model)
            if m and _is_letter_digit_model(m.group(1)):
                bases.setdefault(m.group(1), set()).add(model)
        for base, models in bases.items():
            if base in full or len(models) != 1:
                continue
            (model,) = models
            for idx, own in self._models.items():
                if own != model:
                    continue
                alias = _Alias(idx, base, 0.85, 0, len(base), tuple(_DIGITS.findall(base)))
                self.aliases.append(alias)
                for tok in _tokens(base):
                    self._token_index.setdefault(tok, set()).add(len(self.aliases) - 1)

    def _attribute_terms(self) -> list[tuple[str, tuple[str, ...], bool]]:
        """(compact term, attribute codes, is Latin) longest first."""
        terms: dict[str, list[str]] = {}
        for a in self.attributes.values():
            for t in (a.name, a.name_en, a.code.replace("_", " ")):
                t_c = _compact(t)
                if len(t_c) >= 2:
                    terms.setdefault(t_c, []).append(a.code)
        for word, codes in ATTRIBUTE_SYNONYMS.items():
            known = [c for c in codes if c in self.attributes]
            if known:
                bucket = terms.setdefault(_compact(word), [])
                bucket.extend(c for c in known if c not in bucket)
        out = [(t, tuple(dict.fromkeys(c)), t.isascii()) for t, c in terms.items()]
        out.sort(key=lambda x: len(x[0]), reverse=True)
        return out

    def _code_pattern(self) -> re.Pattern[str] | None:
        codes = [c for c in self.sku_by_code if len(c) >= 3]
        if not codes:
            return None
        codes.sort(key=len, reverse=True)
        return re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(c) for c in codes) + r")(?![a-z0-9])")

    # ---------------------------------------------------------------- lookups

    def sku_count(self) -> int:
        return len(self.sku_by_code)

    def candidates(self, compact_text: str) -> set[int]:
        """Aliases sharing a distinctive token with the text. Tokens in more than 3 % of the aliases
        ("pro", "手机") find nothing on their own: a model is always named with a rarer one."""
        found: set[int] = set()
        common = max(50, len(self.aliases) // 33)
        for tok in _tokens(compact_text):
            hit = self._token_index.get(tok)
            if hit and len(hit) <= common:
                found |= hit
        return found

    def representative(self, product: int) -> _Sku:
        skus = self.products[product].skus
        return next((s for s in skus if s.on_sale), skus[0])


def _tokens(text: str) -> set[str]:
    """Latin/digit runs cut into letter and digit parts and every 1-3 consecutive parts joined
    ("q60pro12" → q, 60, pro, 12, q60, 60pro, pro12, q60pro, 60pro12), across spaces too ("q60
    pro" → q60pro), and the bigrams of Chinese runs: the index and the query use the same."""
    toks: set[str] = set()
    parts: list[str] = []
    for run in re.split(r"[^a-z0-9]+", text.replace("\x00", " ")):
        if not run:
            continue
        parts.extend(re.findall(r"[a-z]+|\d+", run))
        parts.append(" ")  # a run boundary: joins may cross one
    seq = [p for p in parts if p != " "]
    for i in range(len(seq)):
        for n in (1, 2, 3):
            if i + n <= len(seq):
                tok = "".join(seq[i : i + n])
                if len(tok) >= 2 or tok.isdigit():
                    toks.add(tok)
    for run in _CJK_RUN.findall(text):
        toks.update(run[i : i + 2] for i in range(len(run) - 1))
    return toks


# Common ways customers name an attribute; only codes that exist in the catalog are used, in this
# order (the dialogue takes the first one the product has a value for).
ATTRIBUTE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "屏幕": ("screen_size",),
    "屏幕多大": ("screen_size",),
    "尺寸": ("screen_size", "size"),
    "几寸": ("screen_size",),
    "多少寸": ("screen_size",),
    "英寸": ("screen_size",),
    "screen": ("screen_size",),
    "电池": ("battery_capacity", "battery"),
    "电量": ("battery_capacity", "battery"),
    "毫安": ("battery_capacity",),
    "mah": ("battery_capacity",),
    "battery": ("battery_capacity", "battery"),
    "续航": ("battery_life",),
    "能用多久": ("battery_life",),
    "内存": ("memory", "ram"),
    "运存": ("memory", "ram"),
    "运行内存": ("memory", "ram"),
    "ram": ("ram", "memory"),
    "存储": ("storage",),
    "容量": ("storage", "capacity"),
    "机身存储": ("storage",),
    "rom": ("storage",),
    "硬盘": ("storage",),
    "闪存": ("storage",),
    "storage": ("storage",),
    "重量": ("weight",),
    "多重": ("weight",),
    "多沉": ("weight",),
    "几斤": ("weight",),
    "weight": ("weight",),
    "刷新率": ("refresh_rate",),
    "高刷": ("refresh_rate",),
    "hz": ("refresh_rate",),
    "像素": ("main_camera", "camera"),
    "摄像头": ("main_camera", "camera"),
    "拍照": ("main_camera", "camera"),
    "相机": ("main_camera", "camera"),
    "camera": ("main_camera", "camera"),
    "功率": ("power",),
    "瓦数": ("power",),
    "多少瓦": ("power",),
    "处理器": ("processor", "cpu"),
    "cpu": ("processor", "cpu"),
    "芯片": ("processor", "cpu"),
    "显卡": ("gpu",),
    "gpu": ("gpu",),
    "分辨率": ("resolution",),
    "接口": ("interface",),
    "插口": ("interface",),
    "颜色": ("color",),
    "配色": ("color",),
    "什么色": ("color",),
    "color": ("color",),
    "colour": ("color",),
    "材质": ("material",),
    "材料": ("material",),
    "质保": ("warranty",),
    "保修期": ("warranty",),
    "吸力": ("suction",),
    "坑距": ("rough_in",),
    "面板": ("panel_type",),
    "型号": ("model",),
    "适用机型": ("compatible_model",),
    "适配": ("compatible_model",),
    "兼容": ("compatible_model",),
    "洗涤容量": ("wash_load",),
    "洗多少": ("wash_load",),
    "几公斤": ("wash_load", "weight"),
    "轴体": ("switch",),
    "款式": ("style",),
}


# ================================================================ building and caching the index

_cache: OrderedDict[str, CatalogIndex] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 4


def build_index(session: Session, fingerprint: tuple[object, ...] = ()) -> CatalogIndex:
    rows = catalog_service.search_index_rows(session)
    specs = catalog_service.attribute_specs(session)
    attrs = [AttributeInfo(s.code, s.name, s.name_en, s.unit) for s in specs.values()]
    return CatalogIndex(rows, attrs, fingerprint=fingerprint)


def catalog_index(session: Session) -> CatalogIndex:
    """The process's index of this database's catalog, rebuilt when the catalog changed (SKU and
    SPU counts and newest updates, barcodes, attribute definitions, brands): one cheap query when
    it has not."""
    fingerprint = catalog_service.catalog_fingerprint(session)
    bind = session.get_bind()
    key = str(getattr(bind, "url", id(bind)))
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached.fingerprint == fingerprint:
            _cache.move_to_end(key)
            return cached
    index = build_index(session, fingerprint)
    with _cache_lock:
        _cache[key] = index
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return index


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


# ================================================================ extraction

_URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s\u3000-\u303f\uff00-\uffef\u4e00-\u9fff\"'<>]+"
    r"|(?<![a-z0-9@.])(?:[a-z0-9-]+\.)+(?:com|cn|net|org|hk|io|shop|top)(?::\d+)?/[^\s\u3000-\u303f\uff00-\uffef\u4e00-\u9fff\"'<>]*"
)
_ZT_RE = re.compile(r"(?<![a-z0-9])zt\s?(\d{6})\s?([0-9a-z]{8})(?![a-z0-9])")
# A model whose last word is its tier: "p700pro" is the "p700" line's Pro.
_TIER_SUFFIX_RE = re.compile(r"([a-z]*\d+[a-z]?)(pro|max|plus|ultra|mini|lite|se)")
_ORDER_CUE_RE = re.compile(r"订单|单号|order")
_LONG_DIGITS = re.compile(r"(?<![\d.])\d{10,20}(?![\d.])")
_PHONE_RE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_MOBILE_DIGITS = re.compile(r"(?:0086|86)?1[3-9]\d{9}")
_MASKED_PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d)[*xX]{4}(\d{4})(?!\d)")
_TAIL_PHONE_RE = re.compile(r"(?:手机|电话)?尾号(?:是|为)?[:\s]*(\d{4})(?!\d)")
_SERIAL_KEY_RE = re.compile(
    r"(?:序列号|串号|机身码|sn码|s/n|sn|imei)\s*(?:号码|号)?\s*(?:是|为)?\s*[:=]?\s*([a-z0-9]{6,20})(?![a-z0-9])"
)
_SERIAL_BARE_RE = re.compile(r"(?<![A-Za-z0-9-])[A-Za-z0-9]{8,20}(?![A-Za-z0-9-])")
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUM = r"(?:\d{1,4}|[零〇一二两三四五六七八九十百千]{1,6})"
_CLASSIFIERS = "个台件只部套盒条把张箱瓶双支块份组包袋副对片桶罐本辆根"
_QTY_RE = re.compile(
    rf"(?<![第\d.])({_NUM})\s?([{_CLASSIFIERS}])(?!月|小时|钟|工作日|星期|礼拜|钱|以上|以内|左右|多月)"
)
_ISO_DATE_RE = re.compile(r"(?<!\d)(\d{4})\s?[-/.年]\s?(\d{1,2})\s?[-/.月]\s?(\d{1,2})\s?[日号]?(?!\d)")
_MD_RE = re.compile(
    r"(?<![\d年])([0-9]{1,2}|[一二三四五六七八九十]{1,3})月([0-9]{1,2}|[一二三四五六七八九十]{1,3})[日号]?"
)
_DAY_RE = re.compile(r"(?<![\d月个])(\d{1,2})号(?![\d码线楼])")
_REL_DAY_RE = re.compile(r"大前天|前天|昨天|昨日|今天|今日|明天|后天")
_REL_DAYS = {"大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "明天": 1, "后天": 2}
_DAYS_AGO_RE = re.compile(rf"({_NUM})\s?天(?:前|以前|之前)")
_WEEKDAY_RE = re.compile(r"(上上|上个?|这个?|本|下个?)?(?:周|星期|礼拜)([一二三四五六日天1-7])")
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}


def _looks_like_serial(token: str) -> bool:
    """Typed in capitals with at least two letters and two digits ("C02XK1ABJG5H"), or, in any
    case, long and thoroughly mixed ("c02xk1abjg5h": letters and digits alternate four times or
    more), which words and model names ("iphone15promax", "bookpro14") are not."""
    digits = sum(c.isdigit() for c in token)
    letters = sum(c.isalpha() for c in token)
    if token == token.upper():
        return digits >= 2 and letters >= 2
    switches = sum(1 for a, b in pairwise(token) if a.isdigit() != b.isdigit())
    return len(token) >= 10 and digits >= 3 and letters >= 3 and switches >= 4


def cn_number(text: str) -> int | None:
    """ "12" → 12, "十二" → 12, "两" → 2, "一百零五" → 105, "二十" → 20; None when not a number."""
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            total += (current or 1) * _CN_UNITS[ch]
            current = 0
        else:
            return None
    return total + current


def _china_today() -> date:
    return datetime.now(CHINA).date()


def extract(text: str, catalog: CatalogIndex, *, today: date | None = None) -> Entities:
    """Every entity in ``text``; ``today`` (default: today in China) anchors relative dates."""
    if not text:
        return Entities()
    today = today or _china_today()
    norm = _norm(text)
    taken: list[tuple[int, int]] = []  # spans consumed by earlier kinds

    # URLs first: what is inside them is not a phone or an order number.
    urls: list[str] = []
    url_skus: list[SkuMention] = []
    for m in _URL_RE.finditer(norm):
        raw = text[m.start() : m.end()].rstrip(".,;:!?)]}")
        urls.append(raw)
        taken.append((m.start(), m.start() + len(raw)))
        mention = _sku_from_url(norm[m.start() : m.start() + len(raw)], catalog, (m.start(), m.start() + len(raw)))
        if mention is not None:
            url_skus.append(mention)

    def free(s: int, e: int) -> bool:
        return all(e <= ts or s >= te for ts, te in taken)

    # Order numbers: Zhongtai's, then long digit strings (not phones, barcodes or serials).
    orders: list[tuple[int, str]] = []
    for m in _ZT_RE.finditer(norm):
        if free(m.start(), m.end()):
            body = m.group(2).upper().translate(str.maketrans("OIL", "011"))
            orders.append((m.start(), f"ZT{m.group(1)}{body}"))
            taken.append((m.start(), m.end()))

    serial_spans: list[tuple[int, int, str]] = []
    for m in _SERIAL_KEY_RE.finditer(norm):
        value = m.group(1)
        if free(m.start(1), m.end(1)) and (any(c.isdigit() for c in value)):
            serial_spans.append((m.start(1), m.end(1), value.upper()))
            taken.append((m.start(1), m.end(1)))

    code_skus: list[SkuMention] = []
    for m in _LONG_DIGITS.finditer(norm):
        s, e = m.start(), m.end()
        if not free(s, e):
            continue
        digits = m.group()
        if digits in catalog.barcodes:
            code_skus.append(_exact_mention(catalog, catalog.barcodes[digits], (s, e)))
            taken.append((s, e))
        elif is_valid_imei(digits) and not _ORDER_CUE_RE.search(norm[max(0, s - 6) : s]):
            # A phone's IMEI (15 digits, Luhn-valid) is its serial; a channel order id of that length
            # passes the check one time in ten, so "订单号" right before it still makes it an order.
            serial_spans.append((s, e, digits))
            taken.append((s, e))
        elif not _MOBILE_DIGITS.fullmatch(digits):
            orders.append((s, digits))
            taken.append((s, e))

    phones: list[tuple[int, str]] = []
    for m in _PHONE_RE.finditer(norm):
        if free(m.start(), m.end()):
            phones.append((m.start(), m.group(1) + m.group(2) + m.group(3)))
            taken.append((m.start(), m.end()))
    for m in _MASKED_PHONE_RE.finditer(norm):
        if free(m.start(), m.end()):
            phones.append((m.start(), f"{m.group(1)}****{m.group(2)}"))
            taken.append((m.start(), m.end()))
    for m in _TAIL_PHONE_RE.finditer(norm):
        if free(m.start(1), m.end(1)):
            phones.append((m.start(), "*******" + m.group(1)))
            taken.append((m.start(1), m.end(1)))

    # Codes typed as they are: SKU and SPU codes.
    if catalog._codes_re is not None:
        for m in catalog._codes_re.finditer(norm):
            if free(m.start(), m.end()):
                code_skus.append(_code_mention(catalog, m.group(), (m.start(), m.end())))
                taken.append((m.start(), m.end()))

    name_skus = _name_mentions(norm, catalog, taken)
    for mention in name_skus:
        taken.append(mention.span)

    # Serial numbers written bare: upper-case letters and digits in the text as typed.
    half = to_half_width(text)
    for m in _SERIAL_BARE_RE.finditer(half):
        token = m.group()
        if (
            free(m.start(), m.end())
            and _looks_like_serial(token)
            and token.lower() not in catalog.sku_by_code
            and not token.upper().startswith("ZT")
        ):
            serial_spans.append((m.start(), m.end(), token.upper()))
            taken.append((m.start(), m.end()))

    quantities: list[tuple[int, int]] = []
    for m in _QTY_RE.finditer(norm):
        if not free(m.start(), m.end()):
            continue
        value = cn_number(m.group(1))
        if value is not None and 0 < value <= 100_000:
            quantities.append((m.start(), value))

    dates = _dates(norm, today, free)
    attributes = _attributes(norm, catalog, taken)

    skus = _dedupe(sorted([*url_skus, *code_skus, *name_skus], key=lambda x: x.span[0]))
    return Entities(
        order_numbers=tuple(dict.fromkeys(v for _, v in sorted(orders))),
        phones=tuple(dict.fromkeys(v for _, v in sorted(phones))),
        urls=tuple(dict.fromkeys(urls)),
        skus=tuple(skus[:_MAX_MENTIONS]),
        quantities=tuple(v for _, v in sorted(quantities)),
        dates=tuple(dict.fromkeys(d for _, d in sorted(dates))),
        serials=tuple(dict.fromkeys(v for _, _, v in sorted(serial_spans))),
        attributes=attributes,
    )


def _dedupe(mentions: list[SkuMention]) -> list[SkuMention]:
    out: list[SkuMention] = []
    seen: dict[str, int] = {}
    for m in mentions:
        if m.code in seen:
            i = seen[m.code]
            if m.score > out[i].score:
                out[i] = m
            continue
        seen[m.code] = len(out)
        out.append(m)
    return out


# ---------------------------------------------------------------- products


def _exact_mention(catalog: CatalogIndex, sku_code: str, span: tuple[int, int]) -> SkuMention:
    idx, sku = catalog.sku_by_code[sku_code.lower()]
    return SkuMention(sku.code, sku.name, 1.0, span, catalog.products[idx].spu_code, sku.on_sale, True)


def _code_mention(catalog: CatalogIndex, code: str, span: tuple[int, int]) -> SkuMention:
    if code in catalog.sku_by_code:
        return _exact_mention(catalog, code, span)
    idx = catalog.spu_by_code[code]
    sku = catalog.representative(idx)
    return SkuMention(sku.code, sku.name, 1.0, span, catalog.products[idx].spu_code, sku.on_sale, False)


_URL_SKU_KEYS = ("sku", "skuid", "sku_id", "code", "item", "id", "product")


def _sku_from_url(url: str, catalog: CatalogIndex, span: tuple[int, int]) -> SkuMention | None:
    """Zhongtai's web shop shapes (``/p/<code>``, ``/sku/<code>``, ``?sku=<code>``), JD items
    (``item.jd.com/<number>.html``: a barcode or a code) and any URL path or query part that is a
    known SKU code or barcode."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    pieces: list[str] = []
    path = [unquote(p) for p in parts.path.split("/") if p]
    for i, p in enumerate(path):
        if i > 0 and path[i - 1] in ("p", "sku", "item", "product", "products"):
            pieces.insert(0, p)
        pieces.append(p)
        if "." in p:
            pieces.append(p.rsplit(".", 1)[0])
    query = parse_qs(parts.query)
    for key in _URL_SKU_KEYS:
        for value in query.get(key, ()):
            pieces.insert(0, value)
    for values in query.values():
        pieces.extend(values)
    for piece in pieces:
        p = piece.strip().lower()
        if p in catalog.sku_by_code:
            return _exact_mention(catalog, p, span)
        if p in catalog.barcodes:
            return _exact_mention(catalog, catalog.barcodes[p], span)
        if p in catalog.spu_by_code:
            return _code_mention(catalog, p, span)
    return None


@dataclass(slots=True)
class _Hit:
    product: int
    start: int  # compact offsets
    end: int
    score: float


def _name_mentions(norm: str, catalog: CatalogIndex, taken: Sequence[tuple[int, int]]) -> list[SkuMention]:
    comp = _Compact(norm, taken)
    if not comp.text or not catalog.aliases:
        return []
    candidates = catalog.candidates(comp.text) | catalog.candidates(norm)
    hits: list[_Hit] = []
    exact_products: set[int] = set()
    for a_id in candidates:
        alias = catalog.aliases[a_id]
        start = comp.text.find(alias.text)
        while start >= 0:
            end = start + len(alias.text)
            if comp.bounded(start, end):
                hits.append(_Hit(alias.product, start, end, alias.weight))
                exact_products.add(alias.product)
            start = comp.text.find(alias.text, start + 1)
    for a_id in candidates:
        alias = catalog.aliases[a_id]
        if alias.product in exact_products or len(alias.text) < 4:
            continue
        hit = _fuzzy(alias, comp)
        if hit is not None:
            hits.append(hit)
    chosen = _resolve(hits)
    mentions: list[SkuMention] = []
    for i, hit in enumerate(chosen):
        following = chosen[i + 1].start if i + 1 < len(chosen) else len(comp.text)
        window = comp.text[hit.start : following]
        sku, named = _pick_variant(catalog.products[hit.product], window)
        mentions.append(
            SkuMention(
                sku.code,
                sku.name,
                round(hit.score, 3),
                comp.span(hit.start, hit.end),
                catalog.products[hit.product].spu_code,
                sku.on_sale,
                named,
            )
        )
    return mentions


def _fuzzy(alias: _Alias, comp: _Compact) -> _Hit | None:
    """One typo's worth of difference, the model's digits exactly, and most of the model said."""
    m = fuzz.partial_ratio_alignment(alias.text, comp.text, score_cutoff=_FUZZY_CUTOFF)
    if m is None:
        return None
    a_s, a_e, t_s, t_e = m.src_start, m.src_end, m.dest_start, m.dest_end
    key_len = alias.key_end - alias.key_start
    covered = max(0, min(a_e, alias.key_end) - max(a_s, alias.key_start))
    if key_len and covered / key_len < 0.7:
        return None
    # trim to letters/digits/CJK so the span does not start or end on punctuation, and widen it
    # to whole Latin/digit words ("云启q60po" of "云启q60por" is "云启q60por")
    while t_s < t_e and not _is_word_char(comp.text[t_s]):
        t_s += 1
    while t_e > t_s and not _is_word_char(comp.text[t_e - 1]):
        t_e -= 1
    if t_e <= t_s:
        return None
    t_s, t_e = comp.widen(t_s, t_e)
    window = comp.text[t_s:t_e]
    if "\x00" in window:
        return None
    ratio = fuzz.ratio(alias.text[a_s:a_e], window)
    if ratio < _FUZZY_CUTOFF:
        return None
    # every word of the model is said, give or take one typo: "watch 4" is not "watch 4 pro"
    said_words = re.findall(r"[a-z]+", window)
    for word in re.findall(r"[a-z]{2,}", alias.text[alias.key_start : alias.key_end]):
        limit = 1 if len(word) >= 3 else 0
        if not any(OSA.distance(word, w, score_cutoff=limit + 1) <= limit for w in said_words):
            return None
    # the numbers in the aligned parts are the same numbers, and the model's are among them
    said, meant = _DIGITS.findall(window), _DIGITS.findall(alias.text[a_s:a_e])
    if sorted(said) != sorted(meant) or any(d not in meant for d in alias.key_digits):
        return None
    coverage = (a_e - a_s) / len(alias.text)
    score = (ratio / 100.0) * (0.7 + 0.3 * coverage) * alias.weight * 0.97
    return _Hit(alias.product, t_s, t_e, score) if score >= SKU_MIN_SCORE else None


def _is_word_char(ch: str) -> bool:
    return _is_alnum(ch) or "\u4e00" <= ch <= "\u9fff"


def _resolve(hits: list[_Hit]) -> list[_Hit]:
    """Overlapping hits: a longer plausible mention ("q60 pro") beats one inside it ("q60"); else
    the higher score. Returns the chosen hits in text order, one per place."""
    hits = [h for h in hits if h.score >= SKU_MIN_SCORE]
    best: dict[tuple[int, int, int], _Hit] = {}
    for h in hits:
        k = (h.product, h.start, h.end)
        if k not in best or best[k].score < h.score:
            best[k] = h
    hits = list(best.values())
    inside = {
        id(h)
        for h in hits
        for o in hits
        if o is not h
        and o.product != h.product
        and o.start <= h.start
        and h.end <= o.end
        and (o.end - o.start) > (h.end - h.start)
        and o.score >= 0.8
    }
    ranked = sorted(
        (h for h in hits if id(h) not in inside), key=lambda h: (-h.score, -(h.end - h.start), h.start, h.product)
    )
    chosen: list[_Hit] = []
    for h in ranked:
        if all(h.end <= c.start or h.start >= c.end for c in chosen):
            chosen.append(h)
    return sorted(chosen, key=lambda h: h.start)


def _pick_variant(product: _Product, window: str) -> tuple[_Sku, bool]:
    if len(product.skus) == 1:
        return product.skus[0], False
    scored: list[tuple[int, int, int, _Sku]] = []
    for i, sku in enumerate(product.skus):
        hits = 0
        used: list[tuple[int, int]] = []
        for cue in sku.cues:
            k = window.find(cue)
            if k >= 0 and all(k + len(cue) <= s or k >= e for s, e in used):
                hits += 1
                used.append((k, k + len(cue)))
        scored.append((hits, 1 if sku.on_sale else 0, -i, sku))
    scored.sort(key=lambda x: (x[0], x[1], x[2]), reverse=True)
    top = scored[0]
    if top[0] == 0:
        return next((s for s in product.skus if s.on_sale), product.skus[0]), False
    unique = len(scored) == 1 or scored[1][0] < top[0]
    return top[3], unique


# ---------------------------------------------------------------- dates and attributes


def _dates(norm: str, today: date, free: Any) -> list[tuple[int, date]]:
    out: list[tuple[int, date]] = []
    used: list[tuple[int, int]] = []

    def ok(s: int, e: int) -> bool:
        return bool(free(s, e)) and all(e <= us or s >= ue for us, ue in used)

    def add(pos: int, end: int, d: date | None) -> None:
        if d is not None:
            out.append((pos, d))
            used.append((pos, end))

    for m in _ISO_DATE_RE.finditer(norm):
        if ok(m.start(), m.end()):
            add(m.start(), m.end(), _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
    for m in _MD_RE.finditer(norm):
        if ok(m.start(), m.end()):
            month, day = cn_number(m.group(1)), cn_number(m.group(2))
            if month is not None and day is not None:
                add(m.start(), m.end(), _recent(today, month, day))
    for m in _DAY_RE.finditer(norm):
        if ok(m.start(), m.end()):
            day = int(m.group(1))
            d = _safe_date(today.year, today.month, day)
            if d is not None and d > today:
                prev = today.replace(day=1) - timedelta(days=1)
                d = _safe_date(prev.year, prev.month, day)
            add(m.start(), m.end(), d)
    for m in _REL_DAY_RE.finditer(norm):
        if ok(m.start(), m.end()):
            add(m.start(), m.end(), today + timedelta(days=_REL_DAYS[m.group()]))
    for m in _DAYS_AGO_RE.finditer(norm):
        if ok(m.start(), m.end()):
            n = cn_number(m.group(1))
            if n is not None and n <= 3650:
                add(m.start(), m.end(), today - timedelta(days=n))
    for m in _WEEKDAY_RE.finditer(norm):
        if ok(m.start(), m.end()):
            wd_raw = m.group(2)
            wd = int(wd_raw) - 1 if wd_raw.isdigit() else _WEEKDAYS[wd_raw]
            monday = today - timedelta(days=today.weekday())
            prefix = (m.group(1) or "").rstrip("个")
            if prefix == "上上":
                d = monday - timedelta(weeks=2) + timedelta(days=wd)
            elif prefix == "上":
                d = monday - timedelta(weeks=1) + timedelta(days=wd)
            elif prefix == "下":
                d = monday + timedelta(weeks=1) + timedelta(days=wd)
            elif prefix in ("这", "本"):
                d = monday + timedelta(days=wd)
            else:  # a bare weekday is the latest one that has come (customers talk about the past)
                d = monday + timedelta(days=wd)
                if d > today:
                    d -= timedelta(weeks=1)
            add(m.start(), m.end(), d)
    return out


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _recent(today: date, month: int, day: int) -> date | None:
    """A month and day without a year: this year's, unless that is more than 60 days ahead."""
    d = _safe_date(today.year, month, day)
    if d is None:
        return _safe_date(today.year - 1, month, day)
    if d > today + timedelta(days=60):
        return _safe_date(today.year - 1, month, day)
    return d


def _attributes(norm: str, catalog: CatalogIndex, taken: Sequence[tuple[int, int]]) -> tuple[str, ...]:
    comp = _Compact(norm, taken)
    text = comp.text
    used = [False] * len(text)
    found: list[tuple[int, tuple[str, ...]]] = []
    for term, codes, latin in catalog._attr_terms:
        start = text.find(term)
        while start >= 0:
            end = start + len(term)
            clear = not any(used[start:end])
            if clear and (not latin or comp.bounded(start, end)):
                for i in range(start, end):
                    used[i] = True
                found.append((start, codes))
            start = text.find(term, end)
    out: list[str] = []
    for _, codes in sorted(found):
        out.extend(c for c in codes if c not in out)
    return tuple(out)
