"""The knowledge base's API shapes: the draft tree, one sub-intent, versions, the diff, imports,
"try a question" and the channel settings.

Inputs check types only (and forbid unknown fields); ``service.kb`` checks everything else
(codes, actions, slots, examples, answer variants, catalog SKUs, channels) and reports every
problem at once, so the API, the CLI and the importer share one set of rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- answers and sub-intents


class CardIn(_In):
    sku: str


class LinkIn(_In):
    title: str
    url: str


class AnswerIn(_In):
    text: str
    channel: str = ""
    scene: str = ""
    cards: list[CardIn] = Field(default_factory=list)
    links: list[LinkIn] = Field(default_factory=list)


class AnswerOut(BaseModel):
    text: str
    channel: str = ""
    scene: str = ""
    cards: list[dict[str, Any]] = Field(default_factory=list)
    links: list[dict[str, Any]] = Field(default_factory=list)


class ScenarioIn(_In):
    code: str
    name: str
    name_en: str = ""
    position: int | None = None


class ScenarioPatch(_In):
    name: str | None = None
    name_en: str | None = None
    position: int | None = None


class IntentIn(_In):
    scenario_code: str
    code: str
    name: str
    name_en: str = ""
    position: int | None = None


class IntentPatch(_In):
    scenario_code: str | None = None
    name: str | None = None
    name_en: str | None = None
    position: int | None = None


class SubIntentIn(_In):
    intent_code: str
    code: str
    name: str
    name_en: str = ""
    action: str = "answer"
    slots: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    enabled: bool = True
    answers: list[AnswerIn] = Field(default_factory=list)


class SubIntentPatch(_In):
    intent_code: str | None = None
    name: str | None = None
    name_en: str | None = None
    action: str | None = None
    slots: list[str] | None = None
    examples: list[str] | None = None
    enabled: bool | None = None
    answers: list[AnswerIn] | None = None


class ExamplesIn(_In):
    examples: list[str]


class SubIntentSummaryOut(BaseModel):
    code: str
    name: str
    name_en: str
    action: str
    slots: list[str]
    enabled: bool
    source: str
    examples: int
    answers: int
    updated_at: datetime


class IntentOut(BaseModel):
    code: str
    name: str
    name_en: str
    scenario_code: str
    position: int
    subintents: list[SubIntentSummaryOut] = Field(default_factory=list)


class ScenarioOut(BaseModel):
    code: str
    name: str
    name_en: str
    position: int
    intents: list[IntentOut] = Field(default_factory=list)


class TreeCounts(BaseModel):
    scenarios: int
    intents: int
    subintents: int
    enabled: int
    examples: int
    answers: int


class TreeOut(BaseModel):
    scenarios: list[ScenarioOut]
    counts: TreeCounts
    published_version: int | None


class SubIntentOut(BaseModel):
    code: str
    name: str
    name_en: str
    intent_code: str
    intent_name: str
    scenario_code: str
    scenario_name: str
    action: str
    slots: list[str]
    examples: list[str]
    enabled: bool
    source: str
    answers: list[AnswerOut]
    updated_at: datetime
    updated_by: str


# ---------------------------------------------------------------- import, versions, diff, try


class LevelCounts(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


class ImportResultOut(BaseModel):
    """Sub-intent counts at the top (what a trainer cares about); every level in ``levels``."""

    mode: str
    dry_run: bool
    created: int
    updated: int
    unchanged: int
    deleted: int
    levels: dict[str, LevelCounts]


class ServiceKbVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    subintents: int
    examples: int
    train_seconds: float
    note: str
    published_at: datetime
    published_by: str


class KbDiffOut(BaseModel):
    """The draft against the newest published version (sub-intent codes; disabled counts as absent)."""

    base_version: int | None
    added: list[str]
    removed: list[str]
    changed: list[str]


class PublishIn(_In):
    note: str = ""


class TryIn(_In):
    question: str
    channel_code: str = ""
    scene: str | None = None


class TryAlternative(BaseModel):
    code: str
    name: str
    confidence: float


class TryOut(BaseModel):
    version: int
    question: str
    subintent: str
    name: str
    action: str
    confidence: float
    alternatives: list[TryAlternative]
    answer: AnswerOut | None


# ---------------------------------------------------------------- settings


class ServiceSettingsOut(BaseModel):
    """A channel's bot settings. ``inherited`` is true when the channel has no row of its own and
    these are the default row's (or the built-in) values."""

    channel_code: str
    welcome: str
    min_confidence: float
    clarify_margin: float
    max_misses: int
    vip_tiers: list[str]
    sla_wait_s: int
    webhook_token: str
    inherited: bool
    updated_at: datetime | None


class ServiceSettingsPublicOut(BaseModel):
    """What the API shows: the webhook token is a secret, only whether it is set."""

    channel_code: str
    welcome: str
    min_confidence: float
    clarify_margin: float
    max_misses: int
    vip_tiers: list[str]
    sla_wait_s: int
    webhook_token_set: bool
    inherited: bool
    updated_at: datetime | None


class ServiceSettingsIn(_In):
    welcome: str | None = None
    min_confidence: float | None = None
    clarify_margin: float | None = None
    max_misses: int | None = None
    vip_tiers: list[str] | None = None
    sla_wait_s: int | None = None
    webhook_token: str | None = None
