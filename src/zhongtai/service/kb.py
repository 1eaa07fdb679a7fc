"""The knowledge base: the draft (scenario → intent → sub-intent → answers), its import and
export, the general packs shipped in ``packs/``, publishing versions and the channel settings.

The rows are the *draft*: every verb here edits it, takes the acting principal and writes the
audit record. ``publish`` freezes the enabled part into a ``ServiceKbVersion`` (a JSON snapshot
plus the intent classifier trained on its example questions and on questions generated from
the catalog), and the bot reads only :func:`published`, cached per process by version number.

Product answers are not stored: the product_* sub-intents' handlers read the catalog at the
moment of the question, so a SKU that goes on sale is answerable without a new version; the
catalog only lends the classifier example questions ("{spu}怎么样") at publish time.
"""

from __future__ import annotations

import csv
import io
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import joblib  # type: ignore[import-untyped]
import yaml
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhongtai.auth import audit
from zhongtai.auth.principal import Principal
from zhongtai.catalog import service as catalog
from zhongtai.channels import service as channels
from zhongtai.db import advisory_xact_lock, utcnow
from zhongtai.errors import Conflict, FieldProblem, NotFound, ValidationFailed, not_found
from zhongtai.service import kb_repository as repo
from zhongtai.service import text
from zhongtai.service.intents import IntentClassifier, IntentTrainingError
from zhongtai.service.knowledge import ACTIONS, CHANNEL_KINDS, SCENES, SLOTS, Answer, KnowledgeBase, SubIntent
from zhongtai.service.models import (
    ServiceAnswer,
    ServiceIntent,
    ServiceKbVersion,
    ServiceScenario,
    ServiceSettings,
    ServiceSubIntent,
)
from zhongtai.service.schemas_kb import (
    AnswerOut,
    ImportResultOut,
    IntentOut,
    KbDiffOut,
    LevelCounts,
    ScenarioOut,
    ServiceKbVersionOut,
    ServiceSettingsOut,
    SubIntentOut,
    SubIntentSummaryOut,
    TreeCounts,
    TreeOut,
    TryAlternative,
    TryOut,
)

CODE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
MAX_CODE = 64
MAX_NAME = 128
MAX_EXAMPLES = 500
MAX_EXAMPLE_LEN = 200
MAX_ANSWERS = 50
MAX_ANSWER_LEN = 2000
MAX_CARDS = 20
MAX_LINKS = 20
MAX_NOTE = 255
# '|' joins list items in the CSV format, so it may not appear inside one.
LIST_SEPARATOR = "|"
PACKS_DIR = Path(__file__).parent / "packs"
PACK_NAMES = ("chitchat", "shipping", "payment", "invoice", "orders", "aftersale", "installation", "product")
Mode = Literal["merge", "replace"]
Format = Literal["yaml", "csv"]
CSV_COLUMNS = (
    "scenario_code",
    "scenario_name",
    "intent_code",
    "intent_name",
    "subintent_code",
    "subintent_name",
    "action",
    "slots",
    "examples",
    "channel",
    "scene",
    "answer",
    "cards",
    "links",
)
# Written by export, optional on import (an absent column keeps the default).
CSV_EXTRA_COLUMNS = ("scenario_name_en", "intent_name_en", "subintent_name_en", "enabled", "source")
# The pack sub-intents the catalog lends example questions to, by action.
PRODUCT_SUBINTENTS = {
    "product_param": "presale.product_param",
    "product_card": "presale.product_card",
    "product_compare": "presale.product_compare",
    "product_gifts": "presale.product_gifts",
    "product_stock": "presale.product_stock",
}
CATALOG_EXAMPLES_PER_SUBINTENT = 30
DEFAULT_WELCOME = "您好，我是智能客服，请问有什么可以帮您？可以直接发订单号、商品名或问题给我。"
SETTINGS_DEFAULTS: dict[str, Any] = {
    "welcome": DEFAULT_WELCOME,
    "min_confidence": 0.45,
    "clarify_margin": 0.12,
    "max_misses": 2,
    "vip_tiers": [],
    "sla_wait_s": 60,
    "webhook_token": "",
}
_MASKED = "(set)"  # what the audit log shows of a webhook token
WEBHOOK_TOKEN_RE = re.compile(r"^[A-Za-z0-9]{3,128}$")


# ---------------------------------------------------------------- the draft as plain data


@dataclass
class AnswerSpec:
    text: str
    channel: str = ""
    scene: str = ""
    cards: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "channel": self.channel,
            "scene": self.scene,
            "cards": [dict(c) for c in self.cards],
            "links": [dict(link) for link in self.links],
        }


@dataclass
class SubIntentSpec:
    code: str
    name: str
    name_en: str = ""
    action: str = "answer"
    slots: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    enabled: bool = True
    source: str | None = None
    answers: list[AnswerSpec] = field(default_factory=list)


@dataclass
class IntentSpec:
    code: str
    name: str
    name_en: str = ""
    subintents: list[SubIntentSpec] = field(default_factory=list)


@dataclass
class ScenarioSpec:
    code: str
    name: str
    name_en: str = ""
    intents: list[IntentSpec] = field(default_factory=list)


class _Problems:
    """Collects every problem; SKU and channel codes are checked in one query each at the end."""

    def __init__(self) -> None:
        self.items: list[FieldProblem] = []
        self._skus: list[tuple[str, str]] = []
        self._channels: list[tuple[str, str]] = []

    def add(self, where: str, code: str, message: str) -> None:
        self.items.append(FieldProblem(where, code, message))

    def want_sku(self, where: str, sku: str) -> None:
        self._skus.append((where, sku))

    def want_channel(self, where: str, channel: str) -> None:
        self._channels.append((where, channel))

    def check_references(self, session: Session) -> None:
        if self._skus:
            known = catalog.sku_codes_exist(session, {s for _, s in self._skus})
            for where, sku in self._skus:
                if sku not in known:
                    self.add(where, "unknown_sku", f"no SKU {sku!r} in the catalog")
        if self._channels:
            unknown = set(channels.unknown_codes(session, [c for _, c in self._channels]))
            for where, channel in self._channels:
                if channel in unknown:
                    self.add(
                        where,
                        "unknown_channel",
                        f"{channel!r} is neither a channel code nor a kind ({', '.join(CHANNEL_KINDS)})",
                    )
        self._skus, self._channels = [], []

    def raise_if_any(self, what: str) -> None:
        if self.items:
            raise ValidationFailed(f"invalid {what}: {len(self.items)} problem(s)", errors=list(self.items))


def _join(prefix: str, name: str | int) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


def _clean_code(p: _Problems, where: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        p.add(where, "required", "a code is required")
        return ""
    if len(value) > MAX_CODE or not CODE_RE.match(value):
        p.add(where, "invalid_code", "lower-case letters, digits and _, parts joined by '.', at most 64 characters")
    return value


def _clean_name(p: _Problems, where: str, value: object, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        p.add(where, "invalid_type", "must be text")
        return ""
    value = value.strip()
    if required and not value:
        p.add(where, "required", "a name is required")
    elif len(value) > MAX_NAME:
        p.add(where, "too_long", f"at most {MAX_NAME} characters")
    return value


def _clean_action(p: _Problems, where: str, value: object) -> str:
    if value is None or value == "":
        return "answer"
    if value not in ACTIONS:
        p.add(where, "unknown_action", f"{value!r} is not one of {', '.join(ACTIONS)}")
        return "answer"
    return str(value)


def _clean_slots(p: _Problems, where: str, value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        p.add(where, "invalid_type", "must be a list")
        return []
    slots: list[str] = []
    for i, slot in enumerate(value):
        if slot not in SLOTS:
            p.add(_join(where, i), "unknown_slot", f"{slot!r} is not one of {', '.join(SLOTS)}")
        elif slot not in slots:
            slots.append(str(slot))
    return slots


def clean_examples(p: _Problems, where: str, value: object) -> list[str]:
    """Trimmed, deduplicated after normalisation (简繁, full-width, case), the first spelling kept."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        p.add(where, "invalid_type", "must be a list of questions")
        return []
    seen: set[str] = set()
    out: list[str] = []
    for i, example in enumerate(value):
        if isinstance(example, int | float) and not isinstance(example, bool):
            example = str(example)  # YAML reads "666" as a number
        if not isinstance(example, str):
            p.add(_join(where, i), "invalid_type", "must be text")
            continue
        example = " ".join(example.split())
        key = text.normalise(example)
        if not key:
            p.add(_join(where, i), "empty", "an example question cannot be empty")
        elif len(example) > MAX_EXAMPLE_LEN:
            p.add(_join(where, i), "too_long", f"at most {MAX_EXAMPLE_LEN} characters")
        elif LIST_SEPARATOR in example:
            p.add(_join(where, i), "invalid_character", f"{LIST_SEPARATOR!r} separates examples in CSV files")
        elif key not in seen:
            seen.add(key)
            out.append(example)
    if len(out) > MAX_EXAMPLES:
        p.add(where, "too_many", f"at most {MAX_EXAMPLES} example questions ({len(out)} given)")
    return out


def _clean_url(url: object) -> str | None:
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not re.match(r"^https?://[^\s/$.?#][^\s|]*$", url, re.IGNORECASE):
        return None
    return url


def _clean_answer(p: _Problems, where: str, value: object) -> AnswerSpec | None:
    if not isinstance(value, Mapping):
        p.add(where, "invalid_type", "an answer is an object with text, channel, scene, cards, links")
        return None
    unknown = sorted(set(value) - {"text", "channel", "scene", "cards", "links"})
    for key in unknown:
        p.add(_join(where, key), "unknown_field", "not a field of an answer")
    body = value.get("text")
    if not isinstance(body, str) or not body.strip():
        p.add(_join(where, "text"), "required", "an answer needs its text")
        body = ""
    elif len(body.strip()) > MAX_ANSWER_LEN:
        p.add(_join(where, "text"), "too_long", f"at most {MAX_ANSWER_LEN} characters")
    channel = value.get("channel") or ""
    if not isinstance(channel, str):
        p.add(_join(where, "channel"), "invalid_type", "must be text")
        channel = ""
    elif channel and channel not in CHANNEL_KINDS:
        p.want_channel(_join(where, "channel"), channel)
    scene = value.get("scene") or ""
    if scene and scene not in SCENES:
        # Kept as written (the problem is reported): resetting it would report a false duplicate.
        p.add(_join(where, "scene"), "unknown_scene", f"empty or one of {', '.join(SCENES)}")
    cards: list[dict[str, Any]] = []
    raw_cards = value.get("cards") or []
    if not isinstance(raw_cards, list | tuple):
        p.add(_join(where, "cards"), "invalid_type", 'must be a list of {"sku": code}')
        raw_cards = []
    if len(raw_cards) > MAX_CARDS:
        p.add(_join(where, "cards"), "too_many", f"at most {MAX_CARDS} product cards")
    for i, card in enumerate(raw_cards):
        sku = card.get("sku") if isinstance(card, Mapping) else None
        if not isinstance(sku, str) or not sku:
            p.add(_join(_join(where, "cards"), i), "invalid_card", 'a card is {"sku": "<SKU code>"}')
            continue
        p.want_sku(_join(_join(where, "cards"), i), sku)
        cards.append({"sku": sku})
    links: list[dict[str, Any]] = []
    raw_links = value.get("links") or []
    if not isinstance(raw_links, list | tuple):
        p.add(_join(where, "links"), "invalid_type", 'must be a list of {"title", "url"}')
        raw_links = []
    if len(raw_links) > MAX_LINKS:
        p.add(_join(where, "links"), "too_many", f"at most {MAX_LINKS} links")
    for i, link in enumerate(raw_links):
        spot = _join(_join(where, "links"), i)
        if not isinstance(link, Mapping):
            p.add(spot, "invalid_link", 'a link is {"title": ..., "url": "https://..."}')
            continue
        title = link.get("title")
        url = _clean_url(link.get("url"))
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_NAME:
            p.add(_join(spot, "title"), "invalid_title", f"a link needs a title of 1-{MAX_NAME} characters")
        if url is None:
            p.add(_join(spot, "url"), "invalid_url", "only http:// and https:// addresses")
        if isinstance(title, str) and url is not None:
            links.append({"title": title.strip(), "url": url})
    return AnswerSpec(text=body.strip(), channel=channel, scene=str(scene), cards=cards, links=links)


def _clean_answers(p: _Problems, where: str, value: object) -> list[AnswerSpec]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        p.add(where, "invalid_type", "must be a list of answer variants")
        return []
    if len(value) > MAX_ANSWERS:
        p.add(where, "too_many", f"at most {MAX_ANSWERS} answer variants")
    out: list[AnswerSpec] = []
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(value):
        answer = _clean_answer(p, _join(where, i), raw.model_dump() if hasattr(raw, "model_dump") else raw)
        if answer is None:
            continue
        key = (answer.channel, answer.scene)
        if key in seen:
            # Two variants for the same channel and scene: the second could never be chosen.
            p.add(_join(where, i), "duplicate_variant", f"another variant is for channel {key[0]!r} scene {key[1]!r}")
        seen.add(key)
        out.append(answer)
    return out


def _clean_bool(p: _Problems, where: str, value: object, default: bool = True) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "y", "是"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "0", "no", "n", "否"}:
        return False
    p.add(where, "invalid_type", "true or false")
    return default


SUBINTENT_FIELDS = ("name", "name_en", "action", "slots", "examples", "enabled", "answers", "intent_code")


def _clean_subintent(p: _Problems, where: str, data: Mapping[str, Any], *, known: Sequence[str]) -> SubIntentSpec:
    for key in sorted(set(data) - set(known)):
        p.add(_join(where, key), "unknown_field", "not a field of a sub-intent")
    action = _clean_action(p, _join(where, "action"), data.get("action"))
    slots = _clean_slots(p, _join(where, "slots"), data.get("slots"))
    source = data.get("source")
    if source is not None and (not isinstance(source, str) or len(source) > 32):
        p.add(_join(where, "source"), "invalid_source", "at most 32 characters")
        source = None
    return SubIntentSpec(
        code=_clean_code(p, _join(where, "code"), data.get("code")),
        name=_clean_name(p, _join(where, "name"), data.get("name"), required=True),
        name_en=_clean_name(p, _join(where, "name_en"), data.get("name_en"), required=False),
        action=action,
        slots=slots,
        examples=clean_examples(p, _join(where, "examples"), data.get("examples")),
        enabled=_clean_bool(p, _join(where, "enabled"), data.get("enabled")),
        source=source,
        answers=_clean_answers(p, _join(where, "answers"), data.get("answers")),
    )


@dataclass(frozen=True)
class _Level:
    code: str
    name: str
    name_en: str
    children: list[Any]


def _level(p: _Problems, where: str, raw: object, what: str, children_key: str) -> _Level | None:
    """One scenario or intent of the nested form: its code and names checked, its children listed;
    None (with the problem noted) when it is not a mapping."""
    if not isinstance(raw, Mapping):
        p.add(where, "invalid_type", f"{what} is a mapping")
        return None
    for key in sorted(set(raw) - {"code", "name", "name_en", children_key}):
        p.add(_join(where, key), "unknown_field", f"not a field of {what}")
    children = raw.get(children_key) or []
    if not isinstance(children, list):
        p.add(_join(where, children_key), "invalid_type", "must be a list")
        children = []
    return _Level(
        code=_clean_code(p, _join(where, "code"), raw.get("code")),
        name=_clean_name(p, _join(where, "name"), raw.get("name"), required=True),
        name_en=_clean_name(p, _join(where, "name_en"), raw.get("name_en"), required=False),
        children=children,
    )


def parse_tree(p: _Problems, data: object, where: str = "") -> list[ScenarioSpec]:
    """The nested YAML form ({scenarios: [{code, name, intents: [{..., subintents: [...]}]}]}) as
    specs; every problem goes to ``p`` with its path."""
    if not isinstance(data, Mapping) or not isinstance(data.get("scenarios"), list):
        p.add(where or "file", "invalid_format", "expected a mapping with a 'scenarios' list")
        return []
    for key in sorted(set(data) - {"scenarios", "format", "version"}):
        p.add(_join(where, key), "unknown_field", "only 'scenarios' (and 'format', 'version') at the top")
    out: list[ScenarioSpec] = []
    for si, raw_s in enumerate(data["scenarios"]):
        s_where = _join(where, f"scenarios.{si}")
        s_level = _level(p, s_where, raw_s, "a scenario", "intents")
        if s_level is None:
            continue
        scenario = ScenarioSpec(code=s_level.code, name=s_level.name, name_en=s_level.name_en)
        for ii, raw_i in enumerate(s_level.children):
            i_where = _join(s_where, f"intents.{ii}")
            i_level = _level(p, i_where, raw_i, "an intent", "subintents")
            if i_level is None:
                continue
            intent = IntentSpec(code=i_level.code, name=i_level.name, name_en=i_level.name_en)
            for ui, raw_u in enumerate(i_level.children):
                u_where = _join(i_where, f"subintents.{ui}")
                if not isinstance(raw_u, Mapping):
                    p.add(u_where, "invalid_type", "a sub-intent is a mapping")
                    continue
                known = ("code", "name", "name_en", "action", "slots", "examples", "enabled", "source", "answers")
                intent.subintents.append(_clean_subintent(p, u_where, raw_u, known=known))
            scenario.intents.append(intent)
        out.append(scenario)
    _check_unique_codes(p, out, where)
    return out


def _check_unique_codes(p: _Problems, specs: Sequence[ScenarioSpec], where: str) -> None:
    seen: dict[str, set[str]] = {"scenario": set(), "intent": set(), "sub-intent": set()}
    for si, s in enumerate(specs):
        if s.code and s.code in seen["scenario"]:
            p.add(_join(where, f"scenarios.{si}.code"), "duplicate", f"scenario {s.code!r} appears twice")
        seen["scenario"].add(s.code)
        for ii, i in enumerate(s.intents):
            if i.code and i.code in seen["intent"]:
                p.add(
                    _join(where, f"scenarios.{si}.intents.{ii}.code"), "duplicate", f"intent {i.code!r} appears twice"
                )
            seen["intent"].add(i.code)
            for ui, u in enumerate(i.subintents):
                if u.code and u.code in seen["sub-intent"]:
                    p.add(
                        _join(where, f"scenarios.{si}.intents.{ii}.subintents.{ui}.code"),
                        "duplicate",
                        f"sub-intent {u.code!r} appears twice",
                    )
                seen["sub-intent"].add(u.code)


# ---------------------------------------------------------------- CSV


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()]


def _parse_link(p: _Problems, where: str, value: str) -> dict[str, str]:
    """``title url``: the last whitespace-separated word is the address, the rest the title."""
    title, _, url = value.rpartition(" ")
    if not title.strip():
        p.add(where, "invalid_link", "a link is written 'title https://...'")
    return {"title": title.strip(), "url": url}


def parse_csv(p: _Problems, data: bytes) -> list[ScenarioSpec]:
    """One row per answer variant; the rows of one sub-intent share its examples (their union)."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        p.add("file", "invalid_encoding", f"not UTF-8 ({exc.reason} at byte {exc.start})")
        return []
    reader = csv.DictReader(io.StringIO(content, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        p.add("file", "missing_columns", f"missing column(s): {', '.join(missing)}")
        return []
    for column in header:
        if column not in CSV_COLUMNS and column not in CSV_EXTRA_COLUMNS:
            p.add(f"columns.{column}", "unknown_column", "not a column of the knowledge-base format")
    scenarios: dict[str, tuple[int, dict[str, Any]]] = {}
    intents: dict[str, tuple[int, dict[str, Any]]] = {}
    subs: dict[str, tuple[int, dict[str, Any]]] = {}
    for line, row in enumerate(reader, start=2):
        where = f"rows.{line}"
        if None in row:
            p.add(where, "extra_cells", "more cells than columns")
        cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if not any(cells.values()):
            continue
        s_code, i_code, u_code = cells["scenario_code"], cells["intent_code"], cells["subintent_code"]
        for level, code_key, registry, attrs in (
            (
                "scenario",
                s_code,
                scenarios,
                {"name": cells["scenario_name"], "name_en": cells.get("scenario_name_en", "")},
            ),
            (
                "intent",
                i_code,
                intents,
                {
                    "name": cells["intent_name"],
                    "name_en": cells.get("intent_name_en", ""),
                    "scenario": s_code,
                },
            ),
            (
                "subintent",
                u_code,
                subs,
                {
                    "name": cells["subintent_name"],
                    "name_en": cells.get("subintent_name_en", ""),
                    "intent": i_code,
                    "action": cells["action"],
                    "slots": cells["slots"],
                    "enabled": cells.get("enabled", ""),
                    "source": cells.get("source", ""),
                },
            ),
        ):
            if not code_key:
                p.add(_join(where, f"{level}_code"), "required", f"a {level} code is required")
                continue
            first = registry.get(code_key)
            if first is None:
                registry[code_key] = (line, attrs | {"examples": [], "answers": []})
                continue
            for key, value in attrs.items():
                if first[1][key] != value:
                    column = {"scenario": "scenario_code", "intent": "intent_code"}.get(key, f"{level}_{key}")
                    if key in ("action", "slots", "enabled", "source"):
                        column = key
                    p.add(_join(where, column), "inconsistent", f"differs from row {first[0]} for {level} {code_key!r}")
        if not (s_code and i_code and u_code) or u_code not in subs:
            continue
        sub = subs[u_code][1]
        for example in _split(cells["examples"]):
            if example not in sub["examples"]:
                sub["examples"].append(example)
        if cells["answer"]:
            sub["answers"].append(
                {
                    "text": cells["answer"],
                    "channel": cells["channel"],
                    "scene": cells["scene"],
                    "cards": [{"sku": c} for c in _split(cells["cards"])],
                    "links": [_parse_link(p, _join(where, "links"), v) for v in _split(cells["links"])],
                    "_line": line,
                }
            )
        elif cells["channel"] or cells["scene"] or cells["cards"] or cells["links"]:
            p.add(_join(where, "answer"), "required", "a row with a channel, scene, cards or links needs its answer")
    out: list[ScenarioSpec] = []
    by_scenario: dict[str, ScenarioSpec] = {}
    by_intent: dict[str, IntentSpec] = {}
    for code, (line, attrs) in scenarios.items():
        where = f"rows.{line}"
        spec = ScenarioSpec(
            code=_clean_code(p, _join(where, "scenario_code"), code),
            name=_clean_name(p, _join(where, "scenario_name"), attrs["name"], required=True),
            name_en=_clean_name(p, _join(where, "scenario_name_en"), attrs["name_en"], required=False),
        )
        by_scenario[code] = spec
        out.append(spec)
    for code, (line, attrs) in intents.items():
        where = f"rows.{line}"
        intent = IntentSpec(
            code=_clean_code(p, _join(where, "intent_code"), code),
            name=_clean_name(p, _join(where, "intent_name"), attrs["name"], required=True),
            name_en=_clean_name(p, _join(where, "intent_name_en"), attrs["name_en"], required=False),
        )
        by_intent[code] = intent
        by_scenario[attrs["scenario"]].intents.append(intent)
    for code, (line, attrs) in subs.items():
        where = f"rows.{line}"
        answers: list[AnswerSpec] = []
        seen: set[tuple[str, str]] = set()
        for raw in attrs["answers"]:
            a_where = f"rows.{raw.pop('_line')}"
            answer = _clean_answer(p, a_where, raw)
            if answer is None:
                continue
            if (answer.channel, answer.scene) in seen:
                p.add(
                    _join(a_where, "channel"),
                    "duplicate_variant",
                    "another row of this sub-intent has this channel and scene",
                )
            seen.add((answer.channel, answer.scene))
            answers.append(answer)
        slots_where = _join(where, "slots")
        spec_u = SubIntentSpec(
            code=_clean_code(p, _join(where, "subintent_code"), code),
            name=_clean_name(p, _join(where, "subintent_name"), attrs["name"], required=True),
            name_en=_clean_name(p, _join(where, "subintent_name_en"), attrs["name_en"], required=False),
            action=_clean_action(p, _join(where, "action"), attrs["action"]),
            slots=_clean_slots(p, slots_where, _split(attrs["slots"])),
            examples=clean_examples(p, _join(where, "examples"), attrs["examples"]),
            enabled=_clean_bool(p, _join(where, "enabled"), attrs["enabled"] or None),
            source=attrs["source"] or None,
            answers=answers,
        )
        by_intent[attrs["intent"]].subintents.append(spec_u)
    return out


# ---------------------------------------------------------------- reading the draft


@dataclass
class _Draft:
    scenarios: dict[str, ServiceScenario]
    intents: dict[str, ServiceIntent]
    subintents: dict[str, ServiceSubIntent]
    answers: dict[int, list[ServiceAnswer]]

    @classmethod
    def load(cls, session: Session) -> _Draft:
        answers: dict[int, list[ServiceAnswer]] = {}
        for a in repo.answers(session):
            answers.setdefault(a.subintent_id, []).append(a)
        return cls(
            scenarios={s.code: s for s in repo.scenarios(session)},
            intents={i.code: i for i in repo.intents(session)},
            subintents={u.code: u for u in repo.subintents(session)},
            answers=answers,
        )


def _answer_json(a: ServiceAnswer) -> dict[str, Any]:
    return {
        "text": a.text,
        "channel": a.channel,
        "scene": a.scene,
        "cards": [dict(c) for c in a.cards or []],
        "links": [dict(link) for link in a.links or []],
    }


def _sub_state(sub: ServiceSubIntent, intent_code: str, answers: Sequence[ServiceAnswer]) -> dict[str, Any]:
    return {
        "intent_code": intent_code,
        "name": sub.name,
        "name_en": sub.name_en,
        "action": sub.action,
        "slots": list(sub.slots or []),
        "examples": list(sub.examples or []),
        "enabled": sub.enabled,
        "source": sub.source,
        "answers": [_answer_json(a) for a in answers],
    }


def export_tree(session: Session) -> dict[str, Any]:
    """The whole draft in the nested (YAML) form; importing it in replace mode gives the same draft."""
    draft = _Draft.load(session)
    by_scenario: dict[int, list[ServiceIntent]] = {}
    for i in draft.intents.values():
        by_scenario.setdefault(i.scenario_id, []).append(i)
    by_intent: dict[int, list[ServiceSubIntent]] = {}
    for u in draft.subintents.values():
        by_intent.setdefault(u.intent_id, []).append(u)
    scenarios = []
    for s in draft.scenarios.values():
        intents = []
        for i in by_scenario.get(s.id, []):
            subs = []
            for u in by_intent.get(i.id, []):
                subs.append(
                    {
                        "code": u.code,
                        "name": u.name,
                        "name_en": u.name_en,
                        "action": u.action,
                        "slots": list(u.slots or []),
                        "enabled": u.enabled,
                        "source": u.source,
                        "examples": list(u.examples or []),
                        "answers": [_answer_json(a) for a in draft.answers.get(u.id, [])],
                    }
                )
            intents.append({"code": i.code, "name": i.name, "name_en": i.name_en, "subintents": subs})
        scenarios.append({"code": s.code, "name": s.name, "name_en": s.name_en, "intents": intents})
    return {"format": "zhongtai-kb", "version": 1, "scenarios": scenarios}


def draft_kb(session: Session, *, version: int = 0, enabled_only: bool = True) -> KnowledgeBase:
    """The draft as the bot would read it once published."""
    draft = _Draft.load(session)
    scenarios_by_id = {s.id: s for s in draft.scenarios.values()}
    intents_by_id = {i.id: i for i in draft.intents.values()}
    subs: dict[str, SubIntent] = {}
    for u in draft.subintents.values():
        if enabled_only and not u.enabled:
            continue
        intent = intents_by_id[u.intent_id]
        scenario = scenarios_by_id[intent.scenario_id]
        subs[u.code] = SubIntent(
            code=u.code,
            name=u.name,
            name_en=u.name_en,
            intent_code=intent.code,
            intent_name=intent.name,
            scenario_code=scenario.code,
            scenario_name=scenario.name,
            action=u.action,
            slots=tuple(u.slots or ()),
            examples=tuple(u.examples or ()),
            answers=tuple(Answer.from_json(_answer_json(a)) for a in draft.answers.get(u.id, [])),
            source=u.source,
        )
    return KnowledgeBase(version=version, subintents=subs)


def tree(session: Session) -> TreeOut:
    draft = _Draft.load(session)
    by_scenario: dict[int, list[ServiceIntent]] = {}
    for i in draft.intents.values():
        by_scenario.setdefault(i.scenario_id, []).append(i)
    by_intent: dict[int, list[ServiceSubIntent]] = {}
    for u in draft.subintents.values():
        by_intent.setdefault(u.intent_id, []).append(u)
    counts = TreeCounts(
        scenarios=len(draft.scenarios),
        intents=len(draft.intents),
        subintents=len(draft.subintents),
        enabled=sum(1 for u in draft.subintents.values() if u.enabled),
        examples=sum(len(u.examples or []) for u in draft.subintents.values()),
        answers=sum(len(v) for v in draft.answers.values()),
    )
    scenarios = [
        ScenarioOut(
            code=s.code,
            name=s.name,
            name_en=s.name_en,
            position=s.position,
            intents=[
                IntentOut(
                    code=i.code,
                    name=i.name,
                    name_en=i.name_en,
                    scenario_code=s.code,
                    position=i.position,
                    subintents=[
                        SubIntentSummaryOut(
                            code=u.code,
                            name=u.name,
                            name_en=u.name_en,
                            action=u.action,
                            slots=list(u.slots or []),
                            enabled=u.enabled,
                            source=u.source,
                            examples=len(u.examples or []),
                            answers=len(draft.answers.get(u.id, [])),
                            updated_at=u.updated_at,
                        )
                        for u in by_intent.get(i.id, [])
                    ],
                )
                for i in by_scenario.get(s.id, [])
            ],
        )
        for s in draft.scenarios.values()
    ]
    newest = repo.newest_version_key(session)
    return TreeOut(scenarios=scenarios, counts=counts, published_version=newest[0] if newest else None)


def _get_sub(session: Session, code: str) -> ServiceSubIntent:
    sub = repo.subintent_by_code(session, code)
    if sub is None:
        raise not_found("sub-intent", code)
    return sub


def _sub_out(session: Session, sub: ServiceSubIntent) -> SubIntentOut:
    intent = session.get(ServiceIntent, sub.intent_id)
    assert intent is not None
    scenario = session.get(ServiceScenario, intent.scenario_id)
    assert scenario is not None
    return SubIntentOut(
        code=sub.code,
        name=sub.name,
        name_en=sub.name_en,
        intent_code=intent.code,
        intent_name=intent.name,
        scenario_code=scenario.code,
        scenario_name=scenario.name,
        action=sub.action,
        slots=list(sub.slots or []),
        examples=list(sub.examples or []),
        enabled=sub.enabled,
        source=sub.source,
        answers=[AnswerOut(**_answer_json(a)) for a in repo.answers_of(session, sub.id)],
        updated_at=sub.updated_at,
        updated_by=sub.updated_by,
    )


def subintent_detail(session: Session, code: str) -> SubIntentOut:
    return _sub_out(session, _get_sub(session, code))


# ---------------------------------------------------------------- draft verbs: scenarios and intents


def _scenario_out(s: ServiceScenario) -> ScenarioOut:
    return ScenarioOut(code=s.code, name=s.name, name_en=s.name_en, position=s.position)


def _intent_out(i: ServiceIntent, scenario_code: str) -> IntentOut:
    return IntentOut(code=i.code, name=i.name, name_en=i.name_en, scenario_code=scenario_code, position=i.position)


def _check_position(p: _Problems, where: str, value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100_000:
        p.add(where, "invalid_position", "a whole number from 0 to 100000")
        return None
    return value


def _unknown_fields(p: _Problems, changes: Mapping[str, Any], allowed: Sequence[str], what: str) -> None:
    for key in sorted(set(changes) - set(allowed)):
        p.add(f"body.{key}", "unknown_field", f"not a field of {what}")


def create_scenario(
    session: Session, actor: Principal, *, code: str, name: str, name_en: str = "", position: int | None = None
) -> ScenarioOut:
    p = _Problems()
    code = _clean_code(p, "body.code", code)
    name = _clean_name(p, "body.name", name, required=True)
    name_en = _clean_name(p, "body.name_en", name_en, required=False)
    position = _check_position(p, "body.position", position)
    if code and repo.scenario_by_code(session, code) is not None:
        p.add("body.code", "taken", f"scenario {code!r} exists")
    p.raise_if_any("scenario")
    scenario = ServiceScenario(
        code=code,
        name=name,
        name_en=name_en,
        position=position if position is not None else repo.next_scenario_position(session),
    )
    session.add(scenario)
    session.flush()
    audit.record(
        session, actor, "service.kb.scenario.create", "service_scenario", code, after=_scenario_state(scenario)
    )
    return _scenario_out(scenario)


def _scenario_state(s: ServiceScenario) -> dict[str, Any]:
    return {"name": s.name, "name_en": s.name_en, "position": s.position}


def update_scenario(session: Session, actor: Principal, code: str, changes: Mapping[str, Any]) -> ScenarioOut:
    scenario = repo.scenario_by_code(session, code)
    if scenario is None:
        raise not_found("scenario", code)
    p = _Problems()
    _unknown_fields(p, changes, ("name", "name_en", "position"), "a scenario")
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = _clean_name(p, "body.name", changes["name"], required=True)
    if "name_en" in changes:
        values["name_en"] = _clean_name(p, "body.name_en", changes["name_en"], required=False)
    if changes.get("position") is not None:
        values["position"] = _check_position(p, "body.position", changes["position"])
    p.raise_if_any("scenario")
    before = _scenario_state(scenario)
    for key, value in values.items():
        setattr(scenario, key, value)
    session.flush()
    if _scenario_state(scenario) != before:
        audit.record(
            session,
            actor,
            "service.kb.scenario.update",
            "service_scenario",
            code,
            before=before,
            after=_scenario_state(scenario),
        )
    return _scenario_out(scenario)


def delete_scenario(session: Session, actor: Principal, code: str) -> None:
    scenario = repo.scenario_by_code(session, code)
    if scenario is None:
        raise not_found("scenario", code)
    count = repo.count_intents_of(session, scenario.id)
    if count:
        raise Conflict(f"scenario {code!r} still has {count} intent(s); move or delete them first")
    before = _scenario_state(scenario)
    session.delete(scenario)
    session.flush()
    audit.record(session, actor, "service.kb.scenario.delete", "service_scenario", code, before=before)


def _intent_state(i: ServiceIntent, scenario_code: str) -> dict[str, Any]:
    return {"scenario_code": scenario_code, "name": i.name, "name_en": i.name_en, "position": i.position}


def create_intent(
    session: Session,
    actor: Principal,
    *,
    scenario_code: str,
    code: str,
    name: str,
    name_en: str = "",
    position: int | None = None,
) -> IntentOut:
    p = _Problems()
    scenario = repo.scenario_by_code(session, scenario_code) if isinstance(scenario_code, str) else None
    if scenario is None:
        p.add("body.scenario_code", "unknown_scenario", f"no scenario {scenario_code!r}")
    code = _clean_code(p, "body.code", code)
    name = _clean_name(p, "body.name", name, required=True)
    name_en = _clean_name(p, "body.name_en", name_en, required=False)
    position = _check_position(p, "body.position", position)
    if code and repo.intent_by_code(session, code) is not None:
        p.add("body.code", "taken", f"intent {code!r} exists")
    p.raise_if_any("intent")
    assert scenario is not None
    intent = ServiceIntent(
        scenario_id=scenario.id,
        code=code,
        name=name,
        name_en=name_en,
        position=position if position is not None else repo.next_intent_position(session, scenario.id),
    )
    session.add(intent)
    session.flush()
    audit.record(
        session, actor, "service.kb.intent.create", "service_intent", code, after=_intent_state(intent, scenario.code)
    )
    return _intent_out(intent, scenario.code)


def update_intent(session: Session, actor: Principal, code: str, changes: Mapping[str, Any]) -> IntentOut:
    intent = repo.intent_by_code(session, code)
    if intent is None:
        raise not_found("intent", code)
    scenario = session.get(ServiceScenario, intent.scenario_id)
    assert scenario is not None
    p = _Problems()
    _unknown_fields(p, changes, ("scenario_code", "name", "name_en", "position"), "an intent")
    values: dict[str, Any] = {}
    target = scenario
    if changes.get("scenario_code") is not None:
        found = repo.scenario_by_code(session, str(changes["scenario_code"]))
        if found is None:
            p.add("body.scenario_code", "unknown_scenario", f"no scenario {changes['scenario_code']!r}")
        else:
            target = found
            values["scenario_id"] = found.id
    if "name" in changes:
        values["name"] = _clean_name(p, "body.name", changes["name"], required=True)
    if "name_en" in changes:
        values["name_en"] = _clean_name(p, "body.name_en", changes["name_en"], required=False)
    if changes.get("position") is not None:
        values["position"] = _check_position(p, "body.position", changes["position"])
    p.raise_if_any("intent")
    before = _intent_state(intent, scenario.code)
    for key, value in values.items():
        setattr(intent, key, value)
    session.flush()
    after = _intent_state(intent, target.code)
    if after != before:
        audit.record(session, actor, "service.kb.intent.update", "service_intent", code, before=before, after=after)
    return _intent_out(intent, target.code)


def delete_intent(session: Session, actor: Principal, code: str) -> None:
    intent = repo.intent_by_code(session, code)
    if intent is None:
        raise not_found("intent", code)
    count = repo.count_subintents_of(session, intent.id)
    if count:
        raise Conflict(f"intent {code!r} still has {count} sub-intent(s); move or delete them first")
    scenario = session.get(ServiceScenario, intent.scenario_id)
    before = _intent_state(intent, scenario.code if scenario else "")
    session.delete(intent)
    session.flush()
    audit.record(session, actor, "service.kb.intent.delete", "service_intent", code, before=before)


# ---------------------------------------------------------------- draft verbs: sub-intents


def _write_answers(session: Session, sub: ServiceSubIntent, answers: Sequence[AnswerSpec]) -> None:
    repo.delete_answers_of(session, sub.id)
    for position, answer in enumerate(answers):
        session.add(
            ServiceAnswer(
                subintent_id=sub.id,
                channel=answer.channel,
                scene=answer.scene,
                text=answer.text,
                cards=[dict(c) for c in answer.cards],
                links=[dict(link) for link in answer.links],
                position=position,
            )
        )
    session.flush()


def create_subintent(
    session: Session,
    actor: Principal,
    *,
    intent_code: str,
    code: str,
    name: str,
    action: str = "answer",
    examples: Sequence[str] = (),
    answer_text: str = "",
    name_en: str = "",
    slots: Sequence[str] = (),
    enabled: bool = True,
    answers: Sequence[Mapping[str, Any]] | None = None,
    source: str = "manual",
) -> SubIntentOut:
    """A new sub-intent in the draft. ``answer_text`` is a shorthand for one variant for every
    channel (the trainer's "new sub-intent" form); ``answers`` gives the full list."""
    p = _Problems()
    intent = repo.intent_by_code(session, intent_code) if isinstance(intent_code, str) else None
    if intent is None:
        p.add("body.intent_code", "unknown_intent", f"no intent {intent_code!r}")
    raw_answers: list[Any] = list(answers) if answers is not None else []
    if answer_text and answers is None:
        raw_answers = [{"text": answer_text}]
    elif answer_text:
        p.add("body.answer_text", "conflicting", "give answer_text or answers, not both")
    spec = _clean_subintent(
        p,
        "body",
        {
            "code": code,
            "name": name,
            "name_en": name_en,
            "action": action,
            "slots": list(slots),
            "examples": list(examples),
            "enabled": enabled,
            "answers": raw_answers,
            "source": source,
        },
        known=("code", "name", "name_en", "action", "slots", "examples", "enabled", "answers", "source"),
    )
    if spec.code and repo.subintent_by_code(session, spec.code) is not None:
        p.add("body.code", "taken", f"sub-intent {spec.code!r} exists")
    p.check_references(session)
    p.raise_if_any("sub-intent")
    assert intent is not None
    sub = ServiceSubIntent(
        intent_id=intent.id,
        code=spec.code,
        name=spec.name,
        name_en=spec.name_en,
        action=spec.action,
        slots=spec.slots,
        examples=spec.examples,
        source=spec.source or "manual",
        enabled=spec.enabled,
        position=repo.next_subintent_position(session, intent.id),
        updated_by=actor.name,
    )
    session.add(sub)
    session.flush()
    _write_answers(session, sub, spec.answers)
    audit.record(
        session,
        actor,
        "service.kb.subintent.create",
        "service_subintent",
        sub.code,
        after=_sub_state(sub, intent.code, repo.answers_of(session, sub.id)),
    )
    return _sub_out(session, sub)


def update_subintent(session: Session, actor: Principal, code: str, changes: Mapping[str, Any]) -> SubIntentOut:
    """Changes the given fields; ``answers`` replaces the whole list of variants at once."""
    sub = _get_sub(session, code)
    intent = session.get(ServiceIntent, sub.intent_id)
    assert intent is not None
    p = _Problems()
    _unknown_fields(p, changes, SUBINTENT_FIELDS, "a sub-intent")
    values: dict[str, Any] = {}
    target_intent = intent
    if changes.get("intent_code") is not None:
        found = repo.intent_by_code(session, str(changes["intent_code"]))
        if found is None:
            p.add("body.intent_code", "unknown_intent", f"no intent {changes['intent_code']!r}")
        else:
            target_intent = found
            values["intent_id"] = found.id
    if changes.get("name") is not None:
        values["name"] = _clean_name(p, "body.name", changes["name"], required=True)
    if changes.get("name_en") is not None:
        values["name_en"] = _clean_name(p, "body.name_en", changes["name_en"], required=False)
    if changes.get("action") is not None:
        values["action"] = _clean_action(p, "body.action", changes["action"])
    if changes.get("slots") is not None:
        values["slots"] = _clean_slots(p, "body.slots", changes["slots"])
    if changes.get("examples") is not None:
        values["examples"] = clean_examples(p, "body.examples", changes["examples"])
    if changes.get("enabled") is not None:
        values["enabled"] = _clean_bool(p, "body.enabled", changes["enabled"])
    answers: list[AnswerSpec] | None = None
    if changes.get("answers") is not None:
        answers = _clean_answers(p, "body.answers", changes["answers"])
    p.check_references(session)
    p.raise_if_any("sub-intent")
    before = _sub_state(sub, intent.code, repo.answers_of(session, sub.id))
    for key, value in values.items():
        setattr(sub, key, value)
    if answers is not None:
        _write_answers(session, sub, answers)
    after = _sub_state(sub, target_intent.code, repo.answers_of(session, sub.id))
    if after != before:
        sub.updated_by = actor.name
        sub.updated_at = utcnow()
        audit.record(
            session, actor, "service.kb.subintent.update", "service_subintent", code, before=before, after=after
        )
    session.flush()
    return _sub_out(session, sub)


def delete_subintent(session: Session, actor: Principal, code: str) -> None:
    sub = _get_sub(session, code)
    intent = session.get(ServiceIntent, sub.intent_id)
    before = _sub_state(sub, intent.code if intent else "", repo.answers_of(session, sub.id))
    repo.delete_answers_of(session, sub.id)
    session.delete(sub)
    session.flush()
    audit.record(session, actor, "service.kb.subintent.delete", "service_subintent", code, before=before)


def add_examples(session: Session, actor: Principal, subintent_code: str, examples: Sequence[str]) -> int:
    """Appends example questions to a draft sub-intent (the trainer's "assign"), skipping those it
    already has after normalisation. Returns how many were added."""
    sub = _get_sub(session, subintent_code)
    p = _Problems()
    new = clean_examples(p, "body.examples", list(examples))
    p.raise_if_any("examples")
    current = list(sub.examples or [])
    seen = {text.normalise(e) for e in current}
    added = [e for e in new if text.normalise(e) not in seen]
    if not added:
        return 0
    if len(current) + len(added) > MAX_EXAMPLES:
        raise ValidationFailed(
            "too many examples",
            errors=[
                FieldProblem(
                    "body.examples",
                    "too_many",
                    f"{subintent_code} has {len(current)} examples; {len(added)} more would pass {MAX_EXAMPLES}",
                )
            ],
        )
    sub.examples = current + added
    sub.updated_by = actor.name
    sub.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor,
        "service.kb.subintent.add_examples",
        "service_subintent",
        subintent_code,
        after={"added": added},
    )
    return len(added)


# ---------------------------------------------------------------- import, export, packs


def _apply(
    session: Session,
    actor: Principal,
    specs: Sequence[ScenarioSpec],
    *,
    mode: Mode,
    dry_run: bool,
    only_missing: bool = False,
    default_source: str = "manual",
) -> dict[str, LevelCounts]:
    """Brings the draft to ``specs``. merge: create and update what the file names, keep the rest;
    replace: also delete what it does not name, and take its order; only_missing (the packs):
    create what is missing, touch nothing that exists. With dry_run nothing is written."""
    draft = _Draft.load(session)
    counts = {"scenarios": LevelCounts(), "intents": LevelCounts(), "subintents": LevelCounts()}
    write = not dry_run
    replace = mode == "replace"
    next_s = max((s.position for s in draft.scenarios.values()), default=-1) + 1
    for s_pos, s_spec in enumerate(specs):
        scenario = draft.scenarios.get(s_spec.code)
        if scenario is None:
            counts["scenarios"].created += 1
            if write:
                scenario = ServiceScenario(
                    code=s_spec.code, name=s_spec.name, name_en=s_spec.name_en, position=s_pos if replace else next_s
                )
                session.add(scenario)
                session.flush()
            next_s += 1
        elif only_missing:
            counts["scenarios"].unchanged += 1
        else:
            wanted = {
                "name": s_spec.name,
                "name_en": s_spec.name_en,
                "position": s_pos if replace else scenario.position,
            }
            _update(scenario, wanted, counts["scenarios"], write=write)
        scenario_id = scenario.id if scenario is not None else None
        next_i = 0
        for i_pos, i_spec in enumerate(s_spec.intents):
            intent = draft.intents.get(i_spec.code)
            if intent is None:
                counts["intents"].created += 1
                if write:
                    assert scenario_id is not None
                    intent = ServiceIntent(
                        scenario_id=scenario_id,
                        code=i_spec.code,
                        name=i_spec.name,
                        name_en=i_spec.name_en,
                        position=i_pos if replace else repo.next_intent_position(session, scenario_id),
                    )
                    session.add(intent)
                    session.flush()
            elif only_missing:
                counts["intents"].unchanged += 1
            else:
                wanted_i = {
                    "scenario_id": scenario_id,
                    "name": i_spec.name,
                    "name_en": i_spec.name_en,
                    "position": i_pos if replace else intent.position,
                }
                _update(intent, wanted_i, counts["intents"], write=write)
            intent_id = intent.id if intent is not None else None
            next_i += 1
            for u_pos, u_spec in enumerate(i_spec.subintents):
                sub = draft.subintents.get(u_spec.code)
                source = u_spec.source or (sub.source if sub is not None else default_source)
                if sub is None:
                    counts["subintents"].created += 1
                    if write:
                        assert intent_id is not None
                        sub = ServiceSubIntent(
                            intent_id=intent_id,
                            code=u_spec.code,
                            name=u_spec.name,
                            name_en=u_spec.name_en,
                            action=u_spec.action,
                            slots=list(u_spec.slots),
                            examples=list(u_spec.examples),
                            source=source,
                            enabled=u_spec.enabled,
                            position=u_pos if replace else repo.next_subintent_position(session, intent_id),
                            updated_by=actor.name,
                        )
                        session.add(sub)
                        session.flush()
                        _write_answers(session, sub, u_spec.answers)
                    continue
                if only_missing:
                    counts["subintents"].unchanged += 1
                    continue
                wanted_u = {
                    "intent_id": intent_id,
                    "name": u_spec.name,
                    "name_en": u_spec.name_en,
                    "action": u_spec.action,
                    "slots": list(u_spec.slots),
                    "examples": list(u_spec.examples),
                    "source": source,
                    "enabled": u_spec.enabled,
                    "position": u_pos if replace else sub.position,
                }
                current_answers = [_answer_json(a) for a in draft.answers.get(sub.id, [])]
                wanted_answers = [a.to_json() for a in u_spec.answers]
                if _differs(sub, wanted_u) or current_answers != wanted_answers:
                    counts["subintents"].updated += 1
                    if write:
                        _assign(sub, wanted_u)
                        sub.updated_by = actor.name
                        sub.updated_at = utcnow()
                        if current_answers != wanted_answers:
                            _write_answers(session, sub, u_spec.answers)
                else:
                    counts["subintents"].unchanged += 1
    if replace:
        named_s = {s.code for s in specs}
        named_i = {i.code for s in specs for i in s.intents}
        named_u = {u.code for s in specs for i in s.intents for u in i.subintents}
        # Children first: a sub-intent's answers, then sub-intents, intents, scenarios.
        gone_u = [sub for code, sub in draft.subintents.items() if code not in named_u]
        if write:
            for sub in gone_u:
                repo.delete_answers_of(session, sub.id)
        _delete_unnamed(session, gone_u, counts["subintents"], write=write)
        _delete_unnamed(
            session,
            [i for code, i in draft.intents.items() if code not in named_i],
            counts["intents"],
            write=write,
        )
        _delete_unnamed(
            session,
            [sc for code, sc in draft.scenarios.items() if code not in named_s],
            counts["scenarios"],
            write=write,
        )
    if write:
        session.flush()
    return counts


def _differs(obj: object, wanted: Mapping[str, Any]) -> bool:
    return any(getattr(obj, k) != v for k, v in wanted.items())


def _assign(obj: object, wanted: Mapping[str, Any]) -> None:
    for key, value in wanted.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)


def _delete_unnamed(session: Session, rows: Sequence[object], count: LevelCounts, *, write: bool) -> None:
    """Counts ``rows`` as deleted and, when writing, deletes them (flushed, so that the next level's
    rows are no longer referenced)."""
    count.deleted += len(rows)
    if write:
        for row in rows:
            session.delete(row)
        session.flush()


def _update(obj: object, wanted: Mapping[str, Any], count: LevelCounts, *, write: bool) -> None:
    """Counts ``obj`` as updated (and, when writing, updates it) or as unchanged."""
    if _differs(obj, wanted):
        count.updated += 1
        if write:
            _assign(obj, wanted)
    else:
        count.unchanged += 1


def _result(counts: dict[str, LevelCounts], mode: str, dry_run: bool) -> ImportResultOut:
    subs = counts["subintents"]
    return ImportResultOut(
        mode=mode,
        dry_run=dry_run,
        created=subs.created,
        updated=subs.updated,
        unchanged=subs.unchanged,
        deleted=subs.deleted,
        levels=counts,
    )


def parse_file(session: Session, data: bytes, fmt: str) -> list[ScenarioSpec]:
    """The file's specs, or one ValidationFailed listing every problem with its row or path."""
    p = _Problems()
    specs: list[ScenarioSpec] = []
    if fmt == "yaml":
        try:
            loaded = yaml.safe_load(data.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            p.add("file", "invalid_encoding", f"not UTF-8 ({exc.reason} at byte {exc.start})")
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            p.add("file", "invalid_yaml", f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}")
        else:
            specs = parse_tree(p, loaded)
    elif fmt == "csv":
        specs = parse_csv(p, data)
    else:
        p.add("format", "unknown_format", "yaml or csv")
    p.check_references(session)
    p.raise_if_any("knowledge-base file")
    return specs


def import_kb(
    session: Session, actor: Principal, data: bytes, fmt: str, *, mode: str = "merge", dry_run: bool = False
) -> ImportResultOut:
    """Imports a YAML or CSV file into the draft, all or nothing."""
    if mode not in ("merge", "replace"):
        raise ValidationFailed("invalid mode", errors=[FieldProblem("mode", "unknown_mode", "merge or replace")])
    specs = parse_file(session, data, fmt)
    counts = _apply(session, actor, specs, mode="replace" if mode == "replace" else "merge", dry_run=dry_run)
    result = _result(counts, mode, dry_run)
    if not dry_run:
        audit.record(
            session,
            actor,
            "service.kb.import",
            "service_kb",
            "draft",
            after={"format": fmt, "mode": mode} | result.model_dump(exclude={"levels", "mode", "dry_run"}),
        )
    return result


def export_kb(session: Session, fmt: str) -> bytes:
    tree_data = export_tree(session)
    if fmt == "yaml":
        header = "# Zhongtai knowledge base (智能客服知识库): scenario → intent → sub-intent → answers\n"
        return (header + yaml.safe_dump(tree_data, allow_unicode=True, sort_keys=False, width=1000)).encode("utf-8")
    if fmt != "csv":
        raise ValidationFailed("invalid format", errors=[FieldProblem("format", "unknown_format", "yaml or csv")])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *CSV_EXTRA_COLUMNS])
    for s in tree_data["scenarios"]:
        for i in s["intents"]:
            for u in i["subintents"]:
                common = {
                    "scenario_code": s["code"],
                    "scenario_name": s["name"],
                    "intent_code": i["code"],
                    "intent_name": i["name"],
                    "subintent_code": u["code"],
                    "subintent_name": u["name"],
                    "action": u["action"],
                    "slots": LIST_SEPARATOR.join(u["slots"]),
                    "examples": LIST_SEPARATOR.join(u["examples"]),
                    "scenario_name_en": s["name_en"],
                    "intent_name_en": i["name_en"],
                    "subintent_name_en": u["name_en"],
                    "enabled": "true" if u["enabled"] else "false",
                    "source": u["source"],
                }
                variants = u["answers"] or [None]
                for a in variants:
                    row = common | {
                        "channel": a["channel"] if a else "",
                        "scene": a["scene"] if a else "",
                        "answer": a["text"] if a else "",
                        "cards": LIST_SEPARATOR.join(c["sku"] for c in a["cards"]) if a else "",
                        "links": LIST_SEPARATOR.join(f"{lk['title']} {lk['url']}" for lk in a["links"]) if a else "",
                    }
                    writer.writerow([row[c] for c in (*CSV_COLUMNS, *CSV_EXTRA_COLUMNS)])
    # The BOM makes Excel open the file as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def pack_names() -> list[str]:
    return [n for n in PACK_NAMES if (PACKS_DIR / f"{n}.yaml").is_file()]


def read_pack(name: str) -> list[ScenarioSpec]:
    """A shipped pack's specs (a ValidationFailed naming the pack's path for any problem)."""
    path = PACKS_DIR / f"{name}.yaml"
    p = _Problems()
    specs = parse_tree(p, yaml.safe_load(path.read_text(encoding="utf-8")), where=f"packs/{name}.yaml")
    p.raise_if_any(f"pack {name}")
    return specs


def _merge_specs(groups: Iterable[tuple[str, list[ScenarioSpec]]]) -> list[ScenarioSpec]:
    """Packs share scenarios (and may share intents): one tree, in pack order; sub-intents keep
    their pack as source."""
    scenarios: dict[str, ScenarioSpec] = {}
    intents: dict[str, IntentSpec] = {}
    for name, specs in groups:
        for s in specs:
            target = scenarios.setdefault(s.code, ScenarioSpec(code=s.code, name=s.name, name_en=s.name_en))
            for i in s.intents:
                intent = intents.get(i.code)
                if intent is None:
                    intent = intents[i.code] = IntentSpec(code=i.code, name=i.name, name_en=i.name_en)
                    target.intents.append(intent)
                for u in i.subintents:
                    u.source = u.source or f"pack:{name}"
                    intent.subintents.append(u)
    return list(scenarios.values())


def load_packs(session: Session, actor: Principal, names: Sequence[str] | None = None) -> int:
    """Loads the general packs shipped in ``service/packs`` into the draft: what is missing is
    created, what exists (perhaps edited by a trainer) is left alone, so it can run again.
    Returns the number of sub-intents created."""
    available = pack_names()
    wanted = list(names) if names is not None else available
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise ValidationFailed(
            "unknown pack",
            errors=[
                FieldProblem("names", "unknown_pack", f"{n!r} is not one of {', '.join(available)}") for n in unknown
            ],
        )
    specs = _merge_specs((n, read_pack(n)) for n in wanted)
    counts = _apply(session, actor, specs, mode="merge", dry_run=False, only_missing=True)
    created = counts["subintents"].created
    audit.record(
        session,
        actor,
        "service.kb.load_packs",
        "service_kb",
        "draft",
        after={"packs": wanted, "created": created, "existing": counts["subintents"].unchanged},
    )
    return created


# ---------------------------------------------------------------- product questions from the catalog


def _sample(items: Sequence[str], k: int, seed: str) -> list[str]:
    unique = sorted(set(items))
    if len(unique) <= k:
        return unique
    return sorted(random.Random(seed).sample(unique, k))


def catalog_examples(session: Session, *, per_subintent: int = CATALOG_EXAMPLES_PER_SUBINTENT) -> list[tuple[str, str]]:
    """(question, sub-intent code) generated from the catalog for the product_* sub-intents of
    the packs: parameter names ("屏幕尺寸是多少"), SPU and brand names ("{spu}怎么样",
    "{spu}和{spu2}有什么区别"). Sampled deterministically and capped per sub-intent, so that a
    large catalog does not slow training down or drown the other intents."""
    return _catalog_examples(session, per_subintent)[0]


def _catalog_examples(session: Session, per_subintent: int) -> tuple[list[tuple[str, str]], list[str]]:
    """The generated examples and the product names they were made from."""
    attrs = [a for a in catalog.list_attribute_defs(session) if a.level == "spu" or a.kind == "number"]
    spus = catalog.list_spus(session, lifecycle="on_sale", limit=200).items
    brands = catalog.list_brands(session)
    names = [s.name for s in spus]
    short = [n.split(" ")[0] for n in names if n.split(" ")[0]]
    products = sorted(set(names) | set(short))
    candidates: dict[str, list[str]] = {code: [] for code in PRODUCT_SUBINTENTS.values()}
    param = candidates[PRODUCT_SUBINTENTS["product_param"]]
    for a in attrs:
        param += [f"{a.name}是多少", f"{a.name}多少", f"请问{a.name}是什么", f"这款的{a.name}呢"]
        if a.unit or a.kind == "number":
            param += [f"{a.name}多大", f"{a.name}有多少{a.unit or ''}".rstrip()]
        if a.name_en:
            param += [f"what is the {a.name_en.lower()}", f"{a.name_en.lower()}?"]
        for product in _sample(products, 2, f"param:{a.code}"):
            param.append(f"{product}的{a.name}是多少")
    for product in products:
        candidates[PRODUCT_SUBINTENTS["product_card"]] += [
            f"{product}怎么样",
            f"{product}有什么卖点",
            f"介绍一下{product}",
            f"{product}值得买吗",
        ]
        candidates[PRODUCT_SUBINTENTS["product_gifts"]] += [
            f"{product}送什么赠品",
            f"{product}有配件吗",
            f"买{product}有赠品吗",
        ]
        candidates[PRODUCT_SUBINTENTS["product_stock"]] += [
            f"{product}有货吗",
            f"{product}还有库存吗",
            f"{product}什么时候到货",
        ]
    rng = random.Random("compare")
    for _ in range(min(60, len(products) * 2)):
        if len(products) < 2:
            break
        a_name, b_name = rng.sample(products, 2)
        candidates[PRODUCT_SUBINTENTS["product_compare"]] += [
            f"{a_name}和{b_name}有什么区别",
            f"{a_name}跟{b_name}哪个好",
            f"{a_name}对比{b_name}",
        ]
    for brand in brands:
        candidates[PRODUCT_SUBINTENTS["product_card"]].append(f"{brand.name}的产品怎么样")
    out: list[tuple[str, str]] = []
    for code, questions in candidates.items():
        out += [(q, code) for q in _sample(questions, per_subintent, code)]
    return out, sorted(set(names))


# ---------------------------------------------------------------- publishing and the published KB


@dataclass(frozen=True)
class PublishedKb:
    version: int
    kb: KnowledgeBase
    classifier: IntentClassifier
    published_at: datetime
    # SPU names the catalog lent example questions at publish time (the dialogue may use them as
    # a hint; the catalog itself is the truth for product answers).
    catalog_terms: tuple[str, ...] = ()


_cache: OrderedDict[tuple[str, int, str], PublishedKb] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 8


def _cache_key(session: Session, number: int, published_at: datetime) -> tuple[str, int, str]:
    # Keyed by database too: one process may talk to several (tests, the bench).
    return (str(session.get_bind().engine.url), number, published_at.isoformat())


def published(session: Session) -> PublishedKb | None:
    """The newest published version: one cheap query per call; the model is unpickled once per
    version and process."""
    newest = repo.newest_version_key(session)
    if newest is None:
        return None
    key = _cache_key(session, *newest)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            return hit
        row = repo.version(session, newest[0])
        if row is None:  # deleted in between: cannot happen through the verbs
            return None
        loaded = _load_version(row)
        _cache[key] = loaded
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return loaded


def _load_version(row: ServiceKbVersion) -> PublishedKb:
    classifier = joblib.load(io.BytesIO(row.model))
    if not isinstance(classifier, IntentClassifier):
        raise TypeError(f"knowledge-base version {row.version} holds no IntentClassifier")
    snapshot = dict(row.snapshot)
    kb = KnowledgeBase.from_snapshot(snapshot | {"version": row.version})
    return PublishedKb(
        version=row.version,
        kb=kb,
        classifier=classifier,
        published_at=row.published_at,
        catalog_terms=tuple(snapshot.get("catalog_terms") or ()),
    )


def _version_out(row: ServiceKbVersion) -> ServiceKbVersionOut:
    return ServiceKbVersionOut.model_validate(row)


def training_data(session: Session, kb: KnowledgeBase) -> tuple[list[str], list[str], list[str]]:
    """(questions, labels, catalog product names) a draft's classifier is trained on: the
    sub-intents' examples plus the catalog's, lent to the sub-intent that has each product action
    (the pack's code when present)."""
    questions, labels = kb.training_set()
    remap: dict[str, str] = {}
    for action, default_code in PRODUCT_SUBINTENTS.items():
        holders = kb.by_action(action)
        if kb.get(default_code) is not None:
            remap[default_code] = default_code
        elif holders:
            remap[default_code] = holders[0].code
    if not remap:
        return questions, labels, []
    generated, terms = _catalog_examples(session, CATALOG_EXAMPLES_PER_SUBINTENT)
    for question, code in generated:
        if code in remap:
            questions.append(question)
            labels.append(remap[code])
    return questions, labels, terms


def _warm_up() -> None:
    """Imports scikit-learn and bm25s and loads jieba's dictionaries: once per process, and not
    part of what ``train_seconds`` reports (a running server has paid for them already)."""
    import bm25s  # type: ignore[import-untyped]  # noqa: F401
    import sklearn.calibration  # type: ignore[import-untyped]
    import sklearn.feature_extraction.text  # type: ignore[import-untyped]
    import sklearn.svm  # type: ignore[import-untyped]  # noqa: F401

    text.tagged_words("预热")


def publish(session: Session, actor: Principal, *, note: str = "") -> ServiceKbVersionOut:
    """Freezes the draft's enabled sub-intents into a new version and trains its classifier."""
    p = _Problems()
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        p.add("body.note", "too_long", f"at most {MAX_NOTE} characters")
    draft = draft_kb(session)
    questions, labels, terms = training_data(session, draft)
    with_examples = set(labels)
    if len(with_examples) < 2:
        p.add(
            "examples",
            "too_few_intents",
            f"publishing needs example questions for at least two enabled sub-intents ({len(with_examples)} have some)",
        )
    p.raise_if_any("knowledge base")
    _warm_up()
    started = time.perf_counter()
    try:
        classifier = IntentClassifier().fit(questions, labels)
    except IntentTrainingError as exc:
        raise ValidationFailed("cannot train", errors=[FieldProblem("examples", "cannot_train", str(exc))]) from exc
    train_seconds = time.perf_counter() - started
    buffer = io.BytesIO()
    joblib.dump(classifier, buffer)
    tree_data = export_tree(session)
    # Version numbers are handed out one publish at a time (a PostgreSQL advisory lock; SQLite has
    # one writer anyway); the unique constraint and the retry cover anything that slips past.
    advisory_xact_lock(session, "service.kb.publish")
    row: ServiceKbVersion | None = None
    for _attempt in range(5):
        number = repo.max_version(session) + 1
        snapshot = KnowledgeBase(version=number, subintents=draft.subintents).to_snapshot()
        candidate = ServiceKbVersion(
            version=number,
            snapshot=snapshot | {"tree": tree_data, "catalog_terms": terms},
            model=buffer.getvalue(),
            subintents=len(draft.subintents),
            examples=len(questions),
            train_seconds=round(train_seconds, 3),
            note=note.strip(),
            published_at=utcnow(),
            published_by=actor.name,
        )
        try:
            with session.begin_nested():
                session.add(candidate)
                session.flush()
        except IntegrityError:
            continue
        row = candidate
        break
    if row is None:
        raise Conflict("another publish took every version number tried; publish again")
    audit.record(
        session,
        actor,
        "service.kb.publish",
        "service_kb_version",
        row.version,
        after={
            "subintents": row.subintents,
            "examples": row.examples,
            "train_seconds": row.train_seconds,
            "note": row.note,
        },
    )
    return _version_out(row)


def versions(session: Session, *, limit: int = 50) -> list[ServiceKbVersionOut]:
    return [_version_out(v) for v in repo.versions(session, max(1, min(limit, 500)))]


def diff(session: Session) -> KbDiffOut:
    """The draft's enabled sub-intents against the newest published version."""
    draft = draft_kb(session)
    newest = repo.newest_version_key(session)
    if newest is None:
        return KbDiffOut(base_version=None, added=sorted(draft.subintents), removed=[], changed=[])
    snapshot = repo.version_snapshot(session, newest[0]) or {}
    base = KnowledgeBase.from_snapshot(snapshot)
    added = sorted(set(draft.subintents) - set(base.subintents))
    removed = sorted(set(base.subintents) - set(draft.subintents))
    changed = sorted(
        code
        for code in set(draft.subintents) & set(base.subintents)
        if draft.subintents[code].to_json() != base.subintents[code].to_json()
    )
    return KbDiffOut(base_version=newest[0], added=added, removed=removed, changed=changed)


def restore(session: Session, actor: Principal, version: int) -> ImportResultOut:
    """The draft becomes the draft that was published as ``version`` (publish again to serve it)."""
    snapshot = repo.version_snapshot(session, version)
    if snapshot is None:
        raise not_found("knowledge-base version", version)
    p = _Problems()
    tree_data = snapshot.get("tree")
    if tree_data is None:
        tree_data = _tree_from_snapshot(snapshot)
    specs = parse_tree(p, tree_data, where="snapshot")
    # Cards name SKUs that may have left the catalog since; the restore reports them.
    p.check_references(session)
    p.raise_if_any(f"version {version}")
    counts = _apply(session, actor, specs, mode="replace", dry_run=False)
    result = _result(counts, "replace", False)
    audit.record(
        session,
        actor,
        "service.kb.restore",
        "service_kb",
        "draft",
        after={"version": version} | result.model_dump(exclude={"levels", "mode", "dry_run"}),
    )
    return result


def _tree_from_snapshot(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The nested form of a snapshot that carries only the flat sub-intents."""
    kb = KnowledgeBase.from_snapshot(snapshot)
    scenarios: dict[str, dict[str, Any]] = {}
    intents: dict[str, dict[str, Any]] = {}
    for sub in kb.subintents.values():
        s = scenarios.setdefault(
            sub.scenario_code, {"code": sub.scenario_code, "name": sub.scenario_name, "intents": []}
        )
        i = intents.get(sub.intent_code)
        if i is None:
            i = intents[sub.intent_code] = {"code": sub.intent_code, "name": sub.intent_name, "subintents": []}
            s["intents"].append(i)
        data = sub.to_json()
        i["subintents"].append(
            {k: data[k] for k in ("code", "name", "name_en", "action", "slots", "examples", "answers", "source")}
        )
    return {"scenarios": list(scenarios.values())}


def try_question(session: Session, question: str, *, channel_code: str = "", scene: str | None = None) -> TryOut:
    """What the published bot understands from ``question`` and which answer variant it would pick
    on ``channel_code``: the console's "try it" box."""
    p = _Problems()
    if not isinstance(question, str) or not text.normalise(question):
        p.add("body.question", "required", "a question is required")
    elif len(question) > 500:
        p.add("body.question", "too_long", "at most 500 characters")
    kind = ""
    if channel_code:
        try:
            kind = channels.get_channel(session, channel_code).kind
        except NotFound:
            p.add("body.channel_code", "unknown_channel", f"no channel {channel_code!r}")
    if scene is not None and scene not in SCENES:
        p.add("body.scene", "unknown_scene", f"one of {', '.join(SCENES)}")
    p.raise_if_any("question")
    current = published(session)
    if current is None:
        raise Conflict("no knowledge-base version is published yet; publish the draft first")
    prediction = current.classifier.predict_one(question)
    sub = current.kb.get(prediction.label)
    effective_scene = scene or ("instant" if kind == "instant_retail" else "ecommerce")
    answer = current.kb.answer_for(
        prediction.label, channel_code=channel_code, channel_kind=kind, scene=effective_scene
    )

    def name_of(code: str) -> str:
        found = current.kb.get(code)
        return found.name if found else code

    return TryOut(
        version=current.version,
        question=question,
        subintent=prediction.label,
        name=sub.name if sub else prediction.label,
        action=sub.action if sub else "answer",
        confidence=round(prediction.confidence, 4),
        alternatives=[
            TryAlternative(code=a.label, name=name_of(a.label), confidence=round(a.confidence, 4))
            for a in prediction.alternatives
        ],
        answer=AnswerOut(**answer.to_json()) if answer is not None else None,
    )


# ---------------------------------------------------------------- channel settings


def _settings_values(row: ServiceSettings) -> dict[str, Any]:
    return {
        "welcome": row.welcome or DEFAULT_WELCOME,
        "min_confidence": row.min_confidence,
        "clarify_margin": row.clarify_margin,
        "max_misses": row.max_misses,
        "vip_tiers": list(row.vip_tiers or []),
        "sla_wait_s": row.sla_wait_s,
        "webhook_token": row.webhook_token,
    }


def settings_for(session: Session, channel_code: str) -> ServiceSettingsOut:
    """The channel's settings: its own row, else the default row (""), else the built-in values."""
    own = repo.settings_row(session, channel_code)
    if own is not None:
        return ServiceSettingsOut(
            channel_code=channel_code, inherited=False, updated_at=own.updated_at, **_settings_values(own)
        )
    default = repo.settings_row(session, "") if channel_code else None
    if default is not None:
        return ServiceSettingsOut(
            channel_code=channel_code, inherited=True, updated_at=default.updated_at, **_settings_values(default)
        )
    return ServiceSettingsOut(channel_code=channel_code, inherited=True, updated_at=None, **SETTINGS_DEFAULTS)


def channel_settings(session: Session, channel_code: str) -> ServiceSettingsOut:
    """:func:`settings_for` for a caller naming a channel: 404 for a channel that does not exist."""
    if channel_code and channels.unknown_codes(session, [channel_code]):
        raise not_found("channel", channel_code)
    return settings_for(session, channel_code)


def _clean_settings(p: _Problems, changes: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in sorted(set(changes) - set(SETTINGS_DEFAULTS)):
        p.add(f"body.{key}", "unknown_field", "not a setting")

    def number(key: str) -> float | None:
        value = changes[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            p.add(f"body.{key}", "invalid_type", "must be a number")
            return None
        return float(value)

    if changes.get("welcome") is not None:
        welcome = changes["welcome"]
        if not isinstance(welcome, str) or len(welcome) > 500:
            p.add("body.welcome", "too_long", "text of at most 500 characters")
        else:
            values["welcome"] = welcome.strip()
    if changes.get("min_confidence") is not None:
        value = number("min_confidence")
        if value is not None and not 0 < value < 1:
            p.add("body.min_confidence", "out_of_range", "between 0 and 1 (exclusive)")
        elif value is not None:
            values["min_confidence"] = value
    if changes.get("clarify_margin") is not None:
        value = number("clarify_margin")
        if value is not None and not 0 <= value < 0.5:
            p.add("body.clarify_margin", "out_of_range", "from 0 up to 0.5")
        elif value is not None:
            values["clarify_margin"] = value
    for key, low, high in (("max_misses", 1, 10), ("sla_wait_s", 5, 86_400)):
        if changes.get(key) is not None:
            value = changes[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                p.add(f"body.{key}", "out_of_range", f"a whole number from {low} to {high}")
            else:
                values[key] = value
    if changes.get("vip_tiers") is not None:
        tiers = changes["vip_tiers"]
        if not isinstance(tiers, list | tuple) or not all(isinstance(t, str) and 0 < len(t) <= 32 for t in tiers):
            p.add("body.vip_tiers", "invalid_type", "a list of member tier codes")
        elif len(tiers) > 20:
            p.add("body.vip_tiers", "too_many", "at most 20 tiers")
        else:
            values["vip_tiers"] = list(dict.fromkeys(tiers))
    if changes.get("webhook_token") is not None:
        token = changes["webhook_token"]
        if not isinstance(token, str) or (token and not WEBHOOK_TOKEN_RE.match(token)):
            p.add("body.webhook_token", "invalid_token", "3-128 letters and digits (empty to clear)")
        else:
            values["webhook_token"] = token
    return values


def update_settings(
    session: Session, actor: Principal, channel_code: str, changes: Mapping[str, Any]
) -> ServiceSettingsOut:
    """Sets some of a channel's settings ("" is the default every channel inherits). A channel
    without its own row gets one, starting from what it inherited."""
    p = _Problems()
    if channel_code and channels.unknown_codes(session, [channel_code]):
        p.add("channel_code", "unknown_channel", f"no channel {channel_code!r}")
    values = _clean_settings(p, changes)
    p.raise_if_any("settings")
    row = repo.settings_row(session, channel_code)
    if row is None:
        inherited = settings_for(session, channel_code)
        start = inherited.model_dump(include=set(SETTINGS_DEFAULTS))
        if start["welcome"] == DEFAULT_WELCOME:
            start["welcome"] = ""
        row = ServiceSettings(channel_code=channel_code, **start)
        session.add(row)
        session.flush()
        before: dict[str, Any] | None = None
    else:
        before = _settings_values(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    session.flush()
    after = _settings_values(row)
    for state in (before, after):
        if state is not None and state.get("webhook_token"):
            state["webhook_token"] = _MASKED
    audit.record(
        session,
        actor,
        "service.settings.update",
        "service_settings",
        channel_code or "(default)",
        before=before,
        after=after,
    )
    return settings_for(session, channel_code)
