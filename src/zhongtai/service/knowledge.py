"""The published knowledge base as the bot reads it: immutable, loaded from a version's snapshot.

Four levels: scenario → intent → sub-intent → answers. The classifier predicts a sub-intent code;
``KnowledgeBase.answer_for`` picks the answer variant that fits the conversation's channel and
scene best. The snapshot is plain JSON (``to_snapshot`` / ``from_snapshot``) so that a version is
one row and an export is a faithful copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SCENES = ("ecommerce", "instant")
CHANNEL_KINDS = ("web_shop", "marketplace", "pos", "mini_program", "instant_retail")
# How the bot answers a sub-intent. ``answer``: the variant's text as written; the rest run a
# handler that reads the order center or the catalog and fills the text's {placeholders}.
ACTIONS = (
    "answer",
    "greeting",
    "goodbye",
    "thanks",
    "handoff",
    "order_status",
    "logistics",
    "order_list",
    "cancel_order",
    "return_eligibility",
    "create_return",
    "return_status",
    "warranty",
    "invoice",
    "product_card",
    "product_param",
    "product_compare",
    "product_gifts",
    "product_stock",
    "product_recommend",
)
# Slots an action may ask for before it can answer.
SLOTS = ("order_number", "sku", "sku_pair", "serial", "phone", "reason", "quantity")


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    channel: str = ""
    scene: str = ""
    cards: tuple[Mapping[str, Any], ...] = ()
    links: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "channel": self.channel,
            "scene": self.scene,
            "cards": [dict(c) for c in self.cards],
            "links": [dict(link) for link in self.links],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Answer:
        return cls(
            text=str(data["text"]),
            channel=str(data.get("channel") or ""),
            scene=str(data.get("scene") or ""),
            cards=tuple(dict(c) for c in data.get("cards") or ()),
            links=tuple(dict(link) for link in data.get("links") or ()),
        )


@dataclass(frozen=True, slots=True)
class SubIntent:
    code: str
    name: str
    intent_code: str
    intent_name: str
    scenario_code: str
    scenario_name: str
    action: str = "answer"
    slots: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    answers: tuple[Answer, ...] = ()
    name_en: str = ""
    source: str = "manual"

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "intent_code": self.intent_code,
            "intent_name": self.intent_name,
            "scenario_code": self.scenario_code,
            "scenario_name": self.scenario_name,
            "action": self.action,
            "slots": list(self.slots),
            "examples": list(self.examples),
            "answers": [a.to_json() for a in self.answers],
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubIntent:
        return cls(
            code=str(data["code"]),
            name=str(data["name"]),
            name_en=str(data.get("name_en") or ""),
            intent_code=str(data["intent_code"]),
            intent_name=str(data["intent_name"]),
            scenario_code=str(data["scenario_code"]),
            scenario_name=str(data["scenario_name"]),
            action=str(data.get("action") or "answer"),
            slots=tuple(str(s) for s in data.get("slots") or ()),
            examples=tuple(str(e) for e in data.get("examples") or ()),
            answers=tuple(Answer.from_json(a) for a in data.get("answers") or ()),
            source=str(data.get("source") or "manual"),
        )


def _variant_rank(answer: Answer, channel_code: str, channel_kind: str, scene: str) -> int | None:
    """How well a variant fits (higher is better); None when it is for another channel or scene."""
    rank = 0
    if answer.channel:
        if answer.channel == channel_code:
            rank += 4
        elif answer.channel == channel_kind:
            rank += 2
        else:
            return None
    if answer.scene:
        if answer.scene != scene:
            return None
        rank += 1
    return rank


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    version: int
    subintents: Mapping[str, SubIntent] = field(default_factory=dict)

    def get(self, code: str) -> SubIntent | None:
        return self.subintents.get(code)

    def by_action(self, action: str) -> list[SubIntent]:
        return [s for s in self.subintents.values() if s.action == action]

    def training_set(self) -> tuple[list[str], list[str]]:
        """(questions, sub-intent codes) for the intent classifier."""
        questions: list[str] = []
        labels: list[str] = []
        for sub in self.subintents.values():
            for example in sub.examples:
                questions.append(example)
                labels.append(sub.code)
        return questions, labels

    def answer_for(
        self, code: str, *, channel_code: str = "", channel_kind: str = "", scene: str = ""
    ) -> Answer | None:
        """The variant of ``code``'s answers that fits best: channel code over channel kind over
        any channel, then the scene; among equals the first written."""
        sub = self.subintents.get(code)
        if sub is None:
            return None
        best: Answer | None = None
        best_rank = -1
        for answer in sub.answers:
            rank = _variant_rank(answer, channel_code, channel_kind, scene)
            if rank is not None and rank > best_rank:
                best, best_rank = answer, rank
        return best

    def to_snapshot(self) -> dict[str, Any]:
        return {"version": self.version, "subintents": [s.to_json() for s in self.subintents.values()]}

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> KnowledgeBase:
        subs: Sequence[Mapping[str, Any]] = data.get("subintents") or ()
        return cls(version=int(data.get("version") or 0), subintents={s["code"]: SubIntent.from_json(s) for s in subs})
