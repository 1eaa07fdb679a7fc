"""The dialogue engine: one customer message in, the bot's turn out.

A :class:`Bot` is built per message from the published knowledge base (its classifier), the
catalog index (entities), the channel's settings and an :class:`~zhongtai.service.actions.Actions`
(the handlers that read the order center, the catalog and stock). ``Bot.reply`` takes the
conversation's :class:`State` (plain JSON, stored on the conversation) and returns a :class:`Turn`:
the messages to send, what the bot understood (sub-intent, confidence), what it did (outcome),
whether it hands off (and why), and the new state.

The order of decisions for a message:

1. an explicit request for a person (转人工, 人工客服, real person ...) → hand-off (``requested``);
2. strongly negative sentiment → apology and hand-off (``negative``);
3. a pending yes/no question (confirming a return or a cancellation, or "continue the earlier
   topic?"), a pending clarification ("您是想问 A 还是 B？"), or a pending slot (order number,
   a pick from the listed orders, serial, product, phone digits) that the message answers;
4. otherwise the classifier: a confident sub-intent is answered (a new confident question while
   a slot is pending is a topic switch: answered, and the old topic is offered back); two close
   plausible sub-intents → clarification; below ``min_confidence`` → a fallback with suggestions,
   a training item for the trainers, and after ``max_misses`` misses a hand-off
   (``low_confidence``; VIP members go at the first miss, reason ``vip``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from zhongtai.service import text as textmod
from zhongtai.service.knowledge import Answer, KnowledgeBase, SubIntent

if TYPE_CHECKING:
    from zhongtai.db import Database
    from zhongtai.service.actions import ActionResult, Actions
    from zhongtai.service.entities import CatalogIndex, Entities
    from zhongtai.service.intents import IntentClassifier, IntentPrediction
    from zhongtai.service.kb import PublishedKb

CHINA = ZoneInfo("Asia/Shanghai")
# At or above this negativity (0..1, sentiment.negativity) the bot apologises and hands off (the
# live bot uses sentiment.HANDOFF_THRESHOLD, chosen on labelled reviews).
NEGATIVE_THRESHOLD = 0.6
# An alternative below this probability (or half of min_confidence) is never offered in a
# clarification.
PLAUSIBLE = 0.2
# The share of min_confidence enough for a sub-intent whose slot the message fills.
ENTITY_SUPPORT = 0.6
# The weight of a sub-intent whose slot the message fills (an order number for the order and
# after-sale questions, a serial for the warranty lookup, a product for product questions), and
# of a product question when neither the message nor the conversation names a product.
ENTITY_BOOST = 2.0
NO_PRODUCT_PENALTY = 0.35
# Below the threshold, the top sub-intent is still taken when it is at least LEAD_FLOOR of the
# threshold and LEAD_RATIO times the runner-up: chosen by 5-fold cross-validation on the packs'
# own examples (held out), where it answers 64 % of held-out questions at 72 % precision against
# 54 % at 77 % for the threshold alone.
LEAD_FLOOR = 0.67
LEAD_RATIO = 2.0
# A slot is asked at most this many times before a person takes over.
MAX_SLOT_TRIES = 2
MAX_STACK = 3

HANDOFF_SUBINTENT = "chitchat.human"
COMPLAINT_SUBINTENT = "chitchat.complaint"
# A customer asking for a person, whatever the classifier thinks.
_HUMAN = re.compile(
    r"转人工|人工客服|人工服务|找客服|真人客服|找真人|人工坐席|接人工|要人工|找人工|叫人工|^人工[!！。.]*$|"
    r"有人工吗|有没有人工|人工在吗|人工呢|^有人吗|"
    r"real person|human agent|talk to (a |an )?(human|person|agent)|speak to (a |an )?(human|person|agent)|"
    r"customer service agent|live agent"
)
# A yes (or a no) is a message made only of such words ("对，确认提交", "好的确认", "ok sure").
_YES = re.compile(
    # "确定取消" confirms a cancellation: 取消 alone is a no, after 确定/确认/要 it is the verb confirmed.
    r"^(是的?|对的?|嗯+|好的?|好滴|好呀|好啊|确认|确定|确定取消|确认取消|要取消|就取消|可以|行|没问题|继续|要的?|需要|提交|"
    r"申请|办理|吧|呀|啊|了|"
    r"yes|yep|yeah|y|ok|okay|sure|confirm|please)+$"
)
_NO = re.compile(r"^(不是?|不用了?|不要了?|算了|取消|否|不需要|没有|没事了?|先不|暂时|了|吧|no|n|nope|cancel|thanks)+$")
_YES_NO_SEP = re.compile(r"[\s!！。.,，、～~?？]+")
# A message that drops what is pending ("算了不取消了，问下包邮吗": the rest is read afresh).
_DROP = re.compile(r"^(算了|不用了|先不|不取消了|不退了|不要了|不查了)+[,，。.!！\s]*")
# Words that make a message a question (a reason slot takes anything else as the reason).
_QUESTION = re.compile(
    r"[?？]|吗|呢|么|怎么|什么|如何|多少|几|哪|能不能|可不可以|是否|有没有|\b(how|what|when|can|do|does|is)\b"
)
# Acknowledgements and goodbyes: small talk that ends what is pending instead of filling it.
ACK_ACTIONS = ("thanks", "goodbye")
_ORDINALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_ORDINAL = re.compile(r"第\s*([一二两三四五六七八九十]|\d{1,2})\s*(个|单|笔|件|条|款|项|种)?")
_BARE_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.。)）]?\s*$")
_LAST = re.compile(r"最后一(个|单|笔|件|条|款)|最近(的)?(一|那)(个|单|笔)|最新(的)?(一|那)?(个|单|笔)?")
_CJK = re.compile(r"[\u4e00-\u9fff]")


# ================================================================ settings, context, state, turn


@dataclass(frozen=True, slots=True)
class BotSettings:
    welcome: str = ""
    min_confidence: float = 0.45
    clarify_margin: float = 0.12
    max_misses: int = 2
    vip_tiers: tuple[str, ...] = ()
    sla_wait_s: int = 60

    @classmethod
    def of(cls, source: Any) -> BotSettings:
        """From a ``ServiceSettingsOut`` (or anything with those attributes)."""
        return cls(
            welcome=str(getattr(source, "welcome", "") or ""),
            min_confidence=float(getattr(source, "min_confidence", _DEFAULTS.min_confidence)),
            clarify_margin=float(getattr(source, "clarify_margin", _DEFAULTS.clarify_margin)),
            max_misses=int(getattr(source, "max_misses", _DEFAULTS.max_misses)),
            vip_tiers=tuple(str(t) for t in getattr(source, "vip_tiers", ()) or ()),
            sla_wait_s=int(getattr(source, "sla_wait_s", _DEFAULTS.sla_wait_s)),
        )


_DEFAULTS = BotSettings()


@dataclass(frozen=True, slots=True)
class ConversationContext:
    public_id: str
    channel_code: str
    channel_kind: str = ""
    scene: str = "ecommerce"
    member_id: int | None = None
    member_tier: str = ""
    customer_name: str = ""


@dataclass
class State:
    """What the bot remembers between messages (stored as JSON on the conversation)."""

    # The topic waiting for an answer: {"subintent", "action", "slot", "tries", "slots": {...},
    # "options": [{"label", "value"}]}.
    pending: dict[str, Any] | None = None
    # Earlier topics interrupted by a new question (most recent last).
    topics: list[dict[str, Any]] = field(default_factory=list)
    # A yes/no question: {"kind": "confirm", "subintent", "action", "slots"} or {"kind": "resume"}.
    confirm: dict[str, Any] | None = None
    # A clarification: {"options": [codes], "guess": code, "confidence": float, "text": question}.
    clarify: dict[str, Any] | None = None
    order_number: str | None = None
    skus: list[str] = field(default_factory=list)
    # Orders the anonymous customer proved to be theirs (the buyer phone's last four digits).
    verified: list[str] = field(default_factory=list)
    misses: int = 0
    last_subintent: str | None = None
    lang: str = "zh"
    # Orders (or other things) just listed, that the next message may pick from:
    # {"options": [{"label", "value", "text"}], "action": "order_status"}.
    picklist: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> State:
        data = data or {}
        return cls(
            pending=dict(data["pending"]) if data.get("pending") else None,
            topics=[dict(t) for t in data.get("topics") or ()][-MAX_STACK:],
            confirm=dict(data["confirm"]) if data.get("confirm") else None,
            clarify=dict(data["clarify"]) if data.get("clarify") else None,
            order_number=data.get("order_number") or None,
            skus=[str(s) for s in data.get("skus") or ()][-5:],
            verified=[str(s) for s in data.get("verified") or ()][-20:],
            misses=int(data.get("misses") or 0),
            last_subintent=data.get("last_subintent") or None,
            lang=str(data.get("lang") or "zh"),
            picklist=dict(data["picklist"]) if data.get("picklist") else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "topics": self.topics[-MAX_STACK:],
            "confirm": self.confirm,
            "clarify": self.clarify,
            "order_number": self.order_number,
            "skus": self.skus[-5:],
            "verified": self.verified[-20:],
            "misses": self.misses,
            "last_subintent": self.last_subintent,
            "lang": self.lang,
            "picklist": self.picklist,
        }

    def remember_skus(self, codes: Sequence[str]) -> None:
        for code in codes:
            if code in self.skus:
                self.skus.remove(code)
            self.skus.append(code)
        self.skus = self.skus[-5:]


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Turn:
    replies: list[Reply]
    # answered | slot | clarify | fallback | handoff | chitchat
    outcome: str
    subintent: str | None
    confidence: float | None
    state: dict[str, Any]
    handoff: str | None = None
    # None: the conversation decides (VIP tiers); a number overrides.
    priority: int | None = None
    # Whether the message goes to the trainers' queue (fallback, failed clarification, low-confidence hand-off).
    training: bool = False
    guess: str | None = None
    kb_version: int | None = None


def welcome_payload() -> dict[str, Any]:
    """Quick replies under the welcome message: the questions customers ask most."""
    return {
        "quick_replies": [
            {"label": "查订单", "text": "我的订单到哪了"},
            {"label": "退换货", "text": "我想退货"},
            {"label": "发票", "text": "怎么开发票"},
            {"label": "转人工", "text": "转人工"},
        ]
    }


_CODES = re.compile(r"https?://\S+|www\.\S+|\b[A-Za-z0-9-]*\d[A-Za-z0-9-]*\b")
_WORD = re.compile(r"[A-Za-z]{2,}")


def language_of(message: str, default: str = "zh") -> str:
    """``zh`` for a message with Chinese, ``en`` for one written in English words; a message with
    neither (an order number, "8000", "ok") keeps the conversation's language."""
    if _CJK.search(message):
        return "zh"
    words = _WORD.findall(_CODES.sub(" ", message))
    if len(words) >= 2 or (len(words) == 1 and len(words[0]) >= 4):
        return "en"
    return default


def has_english(answer_text: str) -> bool:
    return any(marker in answer_text for marker in ("\nEN:", "\n[en]", "\nEn:"))


def localised(answer_text: str, lang: str) -> str:
    """An answer may carry an English version after a line ``EN:`` (or ``[en]``); Chinese first."""
    for marker in ("\nEN:", "\n[en]", "\nEn:"):
        if marker in answer_text:
            zh, _, en = answer_text.partition(marker)
            return en.strip() if lang == "en" and en.strip() else zh.strip()
    return answer_text.strip()


def without_identifiers(message: str, ents: Entities) -> str:
    """The message without order numbers, serials, phones and links: the knowledge base's example
    questions have none, so they only blur the intent ("ZT2612… 能退货吗" → "能退货吗")."""
    out = message
    for value in (*ents.order_numbers, *ents.serials, *ents.urls):
        out = re.sub(re.escape(value), " ", out, flags=re.IGNORECASE)
    out = re.sub(r"1[3-9]\d{9}", " ", out)
    out = re.sub(r"(?i)\b(sn|sku)\s*[:：]?\s*(?=\s|$)", " ", out)
    out = " ".join(out.split())
    return out or message


def t(lang: str, zh: str, en: str) -> str:
    return en if lang == "en" else zh


def quick(label: str, text: str | None = None) -> dict[str, str]:
    return {"label": label, "text": text if text is not None else label}


def ordinal_pick(message: str, count: int) -> int | None:
    """The 0-based index a message picks from a list of ``count`` ("第二个", "2", "最后一个")."""
    norm = textmod.normalise(message)
    if count <= 0:
        return None
    if _LAST.search(norm):
        return 0 if "最近" in norm or "最新" in norm else count - 1
    found = _ORDINAL.search(norm)
    raw = found.group(1) if found else None
    if raw is None:
        bare = _BARE_NUMBER.match(norm)
        raw = bare.group(1) if bare else None
    if raw is None:
        return None
    n = int(raw) if raw.isdigit() else _ORDINALS.get(raw, 0)
    return n - 1 if 1 <= n <= count else None


def is_yes(message: str) -> bool:
    return bool(_YES.match(_YES_NO_SEP.sub("", textmod.normalise(message))))


def is_no(message: str) -> bool:
    return bool(_NO.match(_YES_NO_SEP.sub("", textmod.normalise(message))))


def is_question(message: str) -> bool:
    return bool(_QUESTION.search(textmod.normalise(message)))


def wants_human(message: str) -> bool:
    return bool(_HUMAN.search(textmod.normalise(message)))


# ================================================================ the bot


@dataclass
class _Ctx:
    """One message being answered."""

    message: str
    lang: str
    entities: Entities
    prediction: IntentPrediction
    now: datetime


class Bot:
    def __init__(
        self,
        kb: KnowledgeBase,
        classifier: IntentClassifier,
        catalog: CatalogIndex,
        settings: BotSettings,
        actions: Actions,
        *,
        kb_version: int | None = None,
        negativity: Any = None,
        extract: Any = None,
        wait_minutes: Any = None,
        negative_threshold: float = NEGATIVE_THRESHOLD,
    ) -> None:
        self.kb = kb
        self.classifier = classifier
        self.catalog = catalog
        self.settings = settings
        self.actions = actions
        self.kb_version = kb_version
        self._negativity = negativity
        self._extract = extract
        self._wait = wait_minutes
        self.negative_threshold = negative_threshold
        self._ctx: ConversationContext | None = None

    # ------------------------------------------------------------ entry point

    def reply(
        self, state_json: Mapping[str, Any] | None, ctx: ConversationContext, message: str, now: datetime
    ) -> Turn:
        self._ctx = ctx
        st = State.from_json(state_json)
        lang = language_of(message, st.lang)
        st.lang = lang
        if wants_human(message):
            return self._handoff(st, "requested", lang, subintent=HANDOFF_SUBINTENT, confidence=1.0)
        if self._negativity is not None and float(self._negativity(message)) >= self.negative_threshold:
            return self._handoff(
                st,
                "negative",
                lang,
                text=t(
                    lang,
                    "非常抱歉给您带来不好的体验，我马上为您转接人工客服，请稍候。",
                    "I'm very sorry for the trouble. I'm passing you to a colleague right away.",
                ),
            )
        entities = self._extract(message) if self._extract is not None else _no_entities()
        prediction = self._predict(without_identifiers(message, entities), entities, st)
        c = _Ctx(message=message, lang=lang, entities=entities, prediction=prediction, now=now)
        picklist, st.picklist = st.picklist, None
        if entities.skus:
            st.remember_skus([m.code for m in entities.skus[:2]])

        if st.confirm is not None:
            turn = self._on_confirm(st, ctx, c)
            if turn is not None:
                return turn
        if st.clarify is not None:
            turn = self._on_clarify(st, ctx, c)
            if turn is not None:
                return turn
        if st.pending is not None:
            turn = self._on_pending(st, ctx, c)
            if turn is not None:
                return turn
        if picklist is not None:
            turn = self._on_picklist(picklist, st, ctx, c)
            if turn is not None:
                return turn
        return self._classified(st, ctx, c)

    def _on_picklist(self, picklist: Mapping[str, Any], st: State, ctx: ConversationContext, c: _Ctx) -> Turn | None:
        """ "第一个" after a list of orders: that order, with the list's follow-up action."""
        value = self._picked(picklist, c)
        subs = self.kb.by_action(str(picklist.get("action") or ""))
        if value is None or not subs:
            return None
        return self._run(
            st, ctx, c, subs[0], confidence=1.0, slots={str(picklist.get("slot") or "order_number"): value}
        )

    # ------------------------------------------------------------ pending questions

    def _on_confirm(self, st: State, ctx: ConversationContext, c: _Ctx) -> Turn | None:
        confirm = st.confirm or {}
        if is_yes(c.message):
            st.confirm = None
            if confirm.get("kind") == "resume":
                return self._resume(st, ctx, c)
            sub = self.kb.get(str(confirm.get("subintent")))
            slots = dict(confirm.get("slots") or {})
            slots["confirmed"] = True
            return self._run(st, ctx, c, sub, confidence=1.0, slots=slots, action=str(confirm.get("action")))
        if is_no(c.message):
            st.confirm = None
            if confirm.get("kind") == "resume":
                if st.topics:
                    st.topics.pop()
                text = t(c.lang, "好的。还有其他可以帮您的吗？", "All right. Anything else I can help with?")
            else:
                text = t(
                    c.lang, "好的，已为您取消本次操作。还有其他问题吗？", "OK, I've cancelled that. Anything else?"
                )
            return self._turn(st, [Reply(text)], "answered", None, 1.0)
        # Anything else: the question is dropped and the message is read afresh.
        if confirm.get("kind") == "resume" and st.topics:
            st.topics.pop()
        st.confirm = None
        return None

    def _on_clarify(self, st: State, ctx: ConversationContext, c: _Ctx) -> Turn | None:
        options = [str(o) for o in (st.clarify or {}).get("options") or ()]
        st.clarify = None
        picked: str | None = None
        index = ordinal_pick(c.message, len(options))
        if index is not None:
            picked = options[index]
        else:
            norm = textmod.normalise(c.message)
            for code in options:
                sub = self.kb.get(code)
                if sub is not None and (textmod.normalise(sub.name) in norm or norm in textmod.normalise(sub.name)):
                    picked = code
                    break
            if picked is None and c.prediction.label in options and c.prediction.confidence >= PLAUSIBLE:
                # A rephrase that leans to one of the offered meanings settles it.
                picked = c.prediction.label
        if picked is None:
            return None
        sub = self.kb.get(picked)
        if sub is None:
            return None
        return self._run(st, ctx, c, sub, confidence=max(c.prediction.confidence, 0.0))

    def _on_pending(self, st: State, ctx: ConversationContext, c: _Ctx) -> Turn | None:
        pending = st.pending or {}
        slot = str(pending.get("slot") or "")
        pred = c.prediction
        new_sub = self.kb.get(pred.label)
        picked = self._picked(pending, c)
        filled = picked is not None or (slot != "reason" and self._fill(slot, pending, st, c) is not None)
        if not filled and new_sub is not None and new_sub.action in ACK_ACTIONS and pred.confidence >= PLAUSIBLE:
            # "明白了，谢谢" / "好的，再见" while an order number is awaited: the customer is done.
            st.pending = None
            return None
        dropped = _DROP.match(c.message.strip())
        if not filled and dropped is not None:
            # "算了不取消了，问下包邮吗": the pending topic is dropped, the rest read afresh.
            st.pending = None
            rest = c.message.strip()[dropped.end() :]
            if len(re.sub(r"[\W_]", "", rest)) < 2:
                text = t(c.lang, "好的。还有其他可以帮您的吗？", "All right. Anything else I can help with?")
                return self._turn(st, [Reply(text)], "answered", None, 1.0)
            c.message = rest
            c.prediction = self._predict(without_identifiers(rest, c.entities), c.entities, st)
            return None
        value = picked if picked is not None else self._fill(slot, pending, st, c)
        sub = self.kb.get(str(pending.get("subintent") or ""))
        # A new confident question is a topic switch; small talk ("嗯嗯", "好的") is not. A message
        # that fills the slot but asks something else ("ZT… 还能退吗" while logistics waits for
        # an order number) switches too, carrying the value along.
        switched = (
            new_sub is not None
            and pred.label != pending.get("subintent")
            and pred.confidence >= self._threshold(new_sub, c.entities)
            and not self._is_close(pred)
            and (new_sub.scenario_code != "chitchat" or new_sub.action == "handoff")
            and (
                value is None
                or (picked is None and ((slot == "reason" and is_question(c.message)) or self._asks_more(c)))
            )
        )
        if value is not None and sub is not None and not switched:
            slots = dict(pending.get("slots") or {})
            slots[slot] = value
            st.pending = None
            return self._run(st, ctx, c, sub, confidence=1.0, slots=slots, action=str(pending.get("action")))
        if switched and new_sub is not None:
            st.topics.append(pending)
            st.topics = st.topics[-MAX_STACK:]
            st.pending = None
            carried = {slot: value} if value is not None and slot in new_sub.slots else {}
            return self._run(st, ctx, c, new_sub, confidence=pred.confidence, slots=carried, switched=True)
        tries = int(pending.get("tries") or 0) + 1
        if tries >= MAX_SLOT_TRIES or sub is None:
            st.pending = None
            return self._handoff(
                st,
                "misses",
                c.lang,
                subintent=str(pending.get("subintent") or "") or None,
                confidence=pred.confidence,
                text=t(
                    c.lang,
                    "抱歉，我没能识别到需要的信息，这就为您转接人工客服，请稍候。",
                    "Sorry, I couldn't get the details I need. I'm passing you to a colleague.",
                ),
                training=False,
            )
        pending["tries"] = tries
        st.pending = pending
        prompt = str(pending.get("prompt") or "")
        again = t(c.lang, "抱歉，我没有识别到。", "Sorry, I didn't catch that. ")
        payload: dict[str, Any] = {}
        if pending.get("options"):
            payload["quick_replies"] = [quick(o["label"], o.get("text", o["label"])) for o in pending["options"]]
        return self._turn(st, [Reply(again + prompt, payload)], "slot", sub.code, pred.confidence)

    @staticmethod
    def _picked(holder: Mapping[str, Any], c: _Ctx) -> Any:
        """The value of the listed option the message picks ("第二个", "2", its label), or None."""
        options: list[Mapping[str, Any]] = list(holder.get("options") or ())
        if not options:
            return None
        index = ordinal_pick(c.message, len(options))
        if index is not None:
            return options[index].get("value")
        norm = textmod.normalise(c.message)
        for option in options:
            label = textmod.normalise(str(option.get("label") or ""))
            said = textmod.normalise(str(option.get("text") or ""))
            if norm and norm in (label, said):
                return option.get("value")
        return None

    @staticmethod
    def _asks_more(c: _Ctx) -> bool:
        """Whether the message says more than its identifiers (a question around an order number)."""
        rest = without_identifiers(c.message, c.entities)
        return rest != c.message and len(re.sub(r"[\W_]", "", rest)) >= 3

    def _fill(self, slot: str, pending: Mapping[str, Any], st: State, c: _Ctx) -> Any:
        """The value the message gives for ``slot``, or None."""
        options: list[Mapping[str, Any]] = list(pending.get("options") or ())
        ents = c.entities
        norm = textmod.normalise(c.message)
        for option in options:
            value = str(option.get("value") or "")
            if len(value) >= 4 and value.lower() in norm:
                return option.get("value")
        if slot == "order_number":
            return ents.order_numbers[0] if ents.order_numbers else None
        if slot == "phone":
            digits = re.findall(r"\d+", c.message)
            if ents.phones:
                return ents.phones[0][-4:]
            if digits and len(digits[-1]) == 4:
                return digits[-1]
            return None
        if slot == "serial":
            return ents.serials[0] if ents.serials else None
        if slot == "sku":
            return ents.skus[0].code if ents.skus else None
        if slot == "sku_pair":
            codes = [m.code for m in ents.skus]
            if len(codes) >= 2:
                return codes[:2]
            if len(codes) == 1 and st.skus and st.skus[-1] != codes[0]:
                return [st.skus[-1], codes[0]]
            return None
        if slot == "quantity":
            if ents.quantities:
                return ents.quantities[0]
            bare = _BARE_NUMBER.match(textmod.normalise(c.message))
            return int(bare.group(1)) if bare else None
        if slot == "reason":
            if is_yes(c.message) or is_no(c.message) or len(c.message.strip()) < 2:
                return None
            return c.message.strip()[:120]
        return None

    def _resume(self, st: State, ctx: ConversationContext, c: _Ctx) -> Turn:
        if not st.topics:
            return self._turn(
                st,
                [Reply(t(c.lang, "好的，请问还有什么可以帮您？", "Sure, what else can I do for you?"))],
                "answered",
                None,
                1.0,
            )
        old = st.topics.pop()
        sub = self.kb.get(str(old.get("subintent") or ""))
        if sub is None:
            return self._turn(
                st,
                [Reply(t(c.lang, "好的，请问还有什么可以帮您？", "Sure, what else can I do for you?"))],
                "answered",
                None,
                1.0,
            )
        return self._run(
            st, ctx, c, sub, confidence=1.0, slots=dict(old.get("slots") or {}), action=str(old.get("action"))
        )

    # ------------------------------------------------------------ classification

    def _predict(self, question: str, ents: Entities, st: State) -> IntentPrediction:
        """The classifier's guess, steered by what the message carries: an order number makes
        the sub-intents that need one likelier, a serial the warranty lookup, a product the
        product questions; a product question with no product in the message or the conversation
        is unlikely ("今天天气怎么样" is no "{product}怎么样"). The top guess and its alternatives
        are re-weighted; the rest of the distribution keeps its mass (renormalised)."""
        from zhongtai.service.intents import Alternative, IntentPrediction

        pred = self.classifier.predict_one(question)
        has_product = bool(ents.skus) or bool(st.skus)
        candidates = [(pred.label, pred.confidence), *((a.label, a.confidence) for a in pred.alternatives)]
        steered = [(code, p * self._weight(code, ents, has_product)) for code, p in candidates]
        total = 1.0 + sum(w - p for (_, p), (_, w) in zip(candidates, steered, strict=True))
        if total <= 0:
            return pred
        ranked = sorted(((code, w / total) for code, w in steered), key=lambda cw: -cw[1])
        (label, confidence), rest = ranked[0], ranked[1:]
        return IntentPrediction(
            label=label, confidence=confidence, alternatives=tuple(Alternative(code, p) for code, p in rest)
        )

    def _weight(self, code: str, ents: Entities, has_product: bool) -> float:
        sub = self.kb.get(code)
        if sub is None:
            return 1.0
        w = 1.0
        if "order_number" in sub.slots and ents.order_numbers:
            w *= ENTITY_BOOST
        if "serial" in sub.slots and ents.serials:
            w *= ENTITY_BOOST
        if ("sku" in sub.slots or "sku_pair" in sub.slots) and sub.action.startswith("product_"):
            if ents.skus:
                w *= ENTITY_BOOST
            elif not has_product:
                w *= NO_PRODUCT_PENALTY
        return w

    def _confident(self, pred: IntentPrediction, sub: SubIntent, ents: Entities) -> bool:
        """Whether the top sub-intent is sure enough to act on: at least the threshold, or a
        clear lead over the runner-up above a floor (with 70+ sub-intents the calibrated top
        probability of a right guess is often low although the ranking is right)."""
        threshold = self._threshold(sub, ents)
        confidence = pred.confidence
        others = [a.confidence for a in pred.alternatives]
        second = self.kb.get(pred.alternatives[0].label) if pred.alternatives else None
        if second is not None and _interchangeable(sub, second):
            # "ok 谢了" split between thanks and goodbye: either reply is right.
            confidence += others.pop(0)
        if confidence >= threshold:
            return True
        runner_up = others[0] if others else 0.0
        return confidence >= threshold * LEAD_FLOOR and confidence >= LEAD_RATIO * runner_up

    def _is_close(self, pred: IntentPrediction) -> bool:
        """Two distinct sub-intents so close that the bot should ask which one is meant."""
        if not pred.alternatives:
            return False
        alt = pred.alternatives[0]
        floor = max(PLAUSIBLE, self.settings.min_confidence / 2)
        if alt.confidence < floor or pred.confidence - alt.confidence > self.settings.clarify_margin:
            return False
        a, b = self.kb.get(pred.label), self.kb.get(alt.label)
        if a is None or b is None or _interchangeable(a, b):
            return False
        return pred.confidence + alt.confidence >= self.settings.min_confidence

    def _entity_only(self, c: _Ctx) -> str | None:
        """A message that is nothing but an order number, a serial or a product: what it asks."""
        ents = c.entities
        rest = textmod.normalise(c.message)
        for value in (*ents.order_numbers, *ents.serials):
            rest = rest.replace(value.lower(), "")
        rest = re.sub(r"[\s,，。.!?？！:：#]|订单号?|单号|序列号|sn", "", rest)
        if ents.order_numbers and not rest:
            return "order_status"
        if ents.serials and not ents.order_numbers and not rest:
            return "warranty"
        return None

    def _classified(self, st: State, ctx: ConversationContext, c: _Ctx) -> Turn:
        pred = c.prediction
        shortcut = self._entity_only(c)
        if shortcut is not None and pred.confidence < self.settings.min_confidence:
            subs = self.kb.by_action(shortcut)
            if subs:
                return self._run(st, ctx, c, subs[0], confidence=pred.confidence)
        if self._is_close(pred):
            return self._clarify(st, c)
        sub = self.kb.get(pred.label)
        if sub is not None and self._confident(pred, sub, c.entities):
            return self._run(st, ctx, c, sub, confidence=pred.confidence)
        return self._fallback(st, ctx, c)

    def _threshold(self, sub: SubIntent, ents: Entities) -> float:
        """``min_confidence``, lowered when the message carries what the sub-intent needs
        ("ZT… 能退吗": an order number backs an order question)."""
        supported = (
            ("order_number" in sub.slots and bool(ents.order_numbers))
            or ("serial" in sub.slots and bool(ents.serials))
            or ("sku" in sub.slots and bool(ents.skus))
            or ("sku_pair" in sub.slots and len(ents.skus) >= 2)
        )
        return self.settings.min_confidence * (ENTITY_SUPPORT if supported else 1.0)

    def _clarify(self, st: State, c: _Ctx) -> Turn:
        pred = c.prediction
        codes = [pred.label, pred.alternatives[0].label]
        subs = [s for s in (self.kb.get(code) for code in codes) if s is not None]
        names = [self._name(s, c.lang) for s in subs]
        st.clarify = {"options": [s.code for s in subs], "guess": pred.label, "confidence": pred.confidence}
        if c.lang == "en":
            text = "Do you mean " + " or ".join(f"“{n}”" for n in names) + "?"
        else:
            text = "您是想问" + "还是".join(f"“{n}”" for n in names) + "？"
        payload = {"quick_replies": [quick(n) for n in names]}
        return self._turn(st, [Reply(text, payload)], "clarify", pred.label, pred.confidence)

    def _fallback(self, st: State, ctx: ConversationContext, c: _Ctx) -> Turn:
        pred = c.prediction
        st.misses += 1
        vip = bool(ctx.member_tier) and ctx.member_tier in self.settings.vip_tiers
        if vip or st.misses >= self.settings.max_misses:
            st.misses = 0
            return self._handoff(
                st,
                "vip" if vip else "low_confidence",
                c.lang,
                subintent=None,
                confidence=pred.confidence,
                text=t(
                    c.lang,
                    "抱歉，这个问题我暂时回答不好，正在为您转接人工客服，请稍候。",
                    "Sorry, I can't answer that well. I'm passing you to a colleague, one moment please.",
                ),
                training=True,
                guess=pred.label,
            )
        suggestions = [a.label for a in pred.alternatives[:2]]
        subs = [s for s in (self.kb.get(code) for code in [pred.label, *suggestions]) if s is not None]
        # Two sub-intents may share a name: each suggestion once.
        names = list(dict.fromkeys(self._name(s, c.lang) for s in subs))[:3]
        text = t(
            c.lang,
            "抱歉，我没有完全理解您的问题。您可以换个说法，或者看看下面是不是您想问的：",
            "Sorry, I didn't quite get that. Could you rephrase, or is it one of these?",
        )
        payload = {
            "quick_replies": [quick(n) for n in names] + [quick(t(c.lang, "转人工", "Talk to a person"), "转人工")]
        }
        turn = self._turn(st, [Reply(text, payload)], "fallback", None, pred.confidence)
        turn.training = True
        turn.guess = pred.label
        return turn

    # ------------------------------------------------------------ answering a sub-intent

    def _name(self, sub: SubIntent, lang: str) -> str:
        return sub.name_en if lang == "en" and sub.name_en else sub.name

    def _variant(self, sub: SubIntent, ctx: ConversationContext) -> Answer | None:
        return self.kb.answer_for(
            sub.code, channel_code=ctx.channel_code, channel_kind=ctx.channel_kind, scene=ctx.scene
        )

    def _run(
        self,
        st: State,
        ctx: ConversationContext,
        c: _Ctx,
        sub: SubIntent | None,
        *,
        confidence: float,
        slots: Mapping[str, Any] | None = None,
        action: str | None = None,
        switched: bool = False,
    ) -> Turn:
        if sub is None:
            return self._fallback(st, ctx, c)
        act = action if action and action != "None" else sub.action
        st.last_subintent = sub.code
        if act == "handoff":
            return self._handoff(st, "requested", c.lang, subintent=sub.code, confidence=confidence)
        variant = self._variant(sub, ctx)
        if act in ("answer", "greeting", "thanks", "goodbye"):
            st.misses = 0
            values: dict[str, Any] = {}
            if variant is not None and "{wait_minutes}" in variant.text:
                values["wait_minutes"] = self._wait_minutes()
            reply = self._answer_reply(sub, variant, c.lang, values, customer_name=ctx.customer_name)
            outcome = "chitchat" if act != "answer" or sub.scenario_code == "chitchat" else "answered"
            replies = [reply]
            self._offer_return(st, c, replies, switched)
            return self._turn(st, replies, outcome, sub.code, confidence)
        result = self.actions.run(act, sub, dict(slots or {}), st, ctx, c.entities, c.message, c.lang, c.now)
        return self._apply(st, ctx, c, sub, act, result, confidence, switched)

    def _answer_reply(
        self, sub: SubIntent, variant: Answer | None, lang: str, values: Mapping[str, Any], *, customer_name: str = ""
    ) -> Reply:
        payload: dict[str, Any] = {}
        if variant is None:
            return Reply(self._name(sub, lang), payload)
        text = localised(variant.text, lang)
        # "您好{customer_name}，..." reads "您好张先生，..." or, without a name, "您好，...".
        text = text.replace("{customer_name}", customer_name)
        if values:
            text = fill(text, values) or text
        if variant.cards:
            payload["cards"] = self.actions.cards([str(card.get("sku")) for card in variant.cards if card.get("sku")])
        if variant.links:
            payload["links"] = [dict(link) for link in variant.links]
        return Reply(text, payload)

    def _apply(
        self,
        st: State,
        ctx: ConversationContext,
        c: _Ctx,
        sub: SubIntent,
        act: str,
        result: ActionResult,
        confidence: float,
        switched: bool,
    ) -> Turn:
        for key, value in result.remember.items():
            if key == "order_number":
                st.order_number = str(value)
            elif key == "verified":
                if value not in st.verified:
                    st.verified.append(str(value))
            elif key == "skus":
                st.remember_skus([str(v) for v in value])
        if result.handoff:
            return self._handoff(
                st, result.handoff, c.lang, subintent=sub.code, confidence=confidence, text=result.text
            )
        payload = dict(result.payload)
        if result.need:
            st.pending = {
                "subintent": sub.code,
                "action": act,
                "slot": result.need,
                "tries": 0,
                "slots": dict(result.slots),
                "options": list(result.options),
                "prompt": result.text,
            }
            if result.options:
                payload["quick_replies"] = [quick(o["label"], o.get("text", o["label"])) for o in result.options]
            return self._turn(st, [Reply(result.text, payload)], "slot", sub.code, confidence)
        if result.confirm:
            st.confirm = {"kind": "confirm", "subintent": sub.code, "action": act, "slots": dict(result.slots)}
            payload["quick_replies"] = [quick(t(c.lang, "确认", "Confirm")), quick(t(c.lang, "取消", "Cancel"))]
            return self._turn(st, [Reply(result.text, payload)], "slot", sub.code, confidence)
        st.misses = 0
        if result.options and result.pick_action:
            st.picklist = {"options": list(result.options), "action": result.pick_action, "slot": "order_number"}
        text = result.text
        variant = self._variant(sub, ctx)
        if (
            variant is not None
            and result.values
            and _PLACEHOLDER.search(variant.text)
            and (c.lang == "zh" or has_english(variant.text))
        ):
            # The knowledge base's wording wins when it only needs values the handler has; what
            # the handler knows beyond it (an ETA, the rows of a list) follows.
            template = localised(variant.text, c.lang)
            written = fill(template, result.values)
            if written:
                extras = [v for k, v in result.extras.items() if v and "{" + k + "}" not in template]
                text = "\n".join([written, *extras]) if any("\n" in e for e in extras) else written + "".join(extras)
        replies = [Reply(text, payload)]
        self._offer_return(st, c, replies, switched)
        return self._turn(st, replies, "answered", sub.code, confidence)

    def _offer_return(self, st: State, c: _Ctx, replies: list[Reply], switched: bool) -> None:
        """After a topic switch, offer to go back to the interrupted topic."""
        if not switched or not st.topics or st.pending is not None or st.confirm is not None:
            return
        old = self.kb.get(str(st.topics[-1].get("subintent") or ""))
        if old is None:
            st.topics.pop()
            return
        st.confirm = {"kind": "resume"}
        name = self._name(old, c.lang)
        replies.append(
            Reply(
                t(c.lang, f"刚才的“{name}”还要继续吗？", f"Shall we continue with “{name}”?"),
                {
                    "quick_replies": [
                        quick(t(c.lang, "继续", "Continue"), "继续"),
                        quick(t(c.lang, "不用了", "No thanks"), "不用了"),
                    ]
                },
            )
        )

    # ------------------------------------------------------------ turns

    def _handoff(
        self,
        st: State,
        reason: str,
        lang: str,
        *,
        subintent: str | None = None,
        confidence: float | None = None,
        text: str | None = None,
        training: bool = False,
        guess: str | None = None,
    ) -> Turn:
        st.pending = None
        st.confirm = None
        st.clarify = None
        message = text or self._kb_handoff_text(HANDOFF_SUBINTENT, lang)
        if reason == "negative":
            message = self._kb_handoff_text(COMPLAINT_SUBINTENT, lang) or message
        message = message or t(
            lang, "好的，正在为您转接人工客服，请稍候。", "Sure, I'm passing you to a colleague. One moment please."
        )
        turn = self._turn(st, [Reply(message, {"handoff": reason})], "handoff", subintent, confidence)
        turn.handoff = reason
        turn.training = training
        turn.guess = guess
        return turn

    def _kb_handoff_text(self, code: str, lang: str) -> str:
        """The knowledge base's wording for a hand-off (with the expected wait), if it has one."""
        sub = self.kb.get(code)
        if sub is None or (lang == "en" and not has_english(sub.answers[0].text if sub.answers else "")):
            return ""
        variant = self._variant(sub, self._ctx) if self._ctx is not None else None
        if variant is None:
            return ""
        values = {"wait_minutes": self._wait_minutes()} if "{wait_minutes}" in variant.text else {}
        return fill(localised(variant.text, lang), values) or ""

    def _wait_minutes(self) -> int:
        return int(self._wait()) if self._wait is not None else max(1, -(-self.settings.sla_wait_s // 60))

    def _turn(
        self, st: State, replies: list[Reply], outcome: str, subintent: str | None, confidence: float | None
    ) -> Turn:
        return Turn(
            replies=replies,
            outcome=outcome,
            subintent=subintent,
            confidence=None if confidence is None else round(float(confidence), 4),
            state=st.to_json(),
            kb_version=self.kb_version,
        )


def _interchangeable(a: SubIntent, b: SubIntent) -> bool:
    """Two kinds of small talk (thanks, goodbye, ok) whose replies both fit: never worth a
    clarification."""
    return a.scenario_code == "chitchat" and b.scenario_code == "chitchat" and "handoff" not in (a.action, b.action)


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def fill(template: str, values: Mapping[str, Any]) -> str | None:
    """``template`` with its {placeholders} filled, or None when one of them has no value."""
    names = _PLACEHOLDER.findall(template)
    if any(n not in values or values[n] in (None, "") for n in names):
        return None
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def _no_entities() -> Entities:
    from zhongtai.service.entities import Entities

    return Entities(order_numbers=(), phones=(), urls=(), skus=(), quantities=(), dates=(), serials=(), attributes=())


# ================================================================ wiring


def respond(
    session: Session,
    ctx: ConversationContext,
    settings: BotSettings,
    state: Mapping[str, Any] | None,
    message: str,
    *,
    now: datetime,
) -> Turn:
    """One bot turn for ``message`` with the newest published knowledge base."""
    from zhongtai.service import entities, kb, sentiment
    from zhongtai.service.actions import Actions

    published: PublishedKb | None = kb.published(session)
    if published is None:
        st = State.from_json(state)
        lang = language_of(message)
        turn = Turn(
            replies=[
                Reply(
                    t(
                        lang,
                        "智能客服正在准备中，正在为您转接人工客服，请稍候。",
                        "Our assistant is not ready yet; I'm passing you to a colleague.",
                    ),
                    {"handoff": "rule"},
                )
            ],
            outcome="handoff",
            subintent=None,
            confidence=None,
            state=st.to_json(),
            handoff="rule",
        )
        return turn
    catalog = entities.catalog_index(session)
    actions = Actions(session, ctx, now=now)
    bot = Bot(
        published.kb,
        published.classifier,
        catalog,
        settings,
        actions,
        kb_version=published.version,
        negativity=sentiment.negativity,
        negative_threshold=sentiment.HANDOFF_THRESHOLD,
        extract=lambda m: entities.extract(m, catalog, today=now.astimezone(CHINA).date()),
        wait_minutes=lambda: actions.wait_minutes(settings.sla_wait_s),
    )
    return bot.reply(state, ctx, message, now)


def warm_up(database: Database) -> None:
    """Loads what the first reply of a process would otherwise pay for inside its write
    transaction (~5 s): jieba's dictionaries, the newest published model and the catalog index.
    Meant for a background thread at startup; a database without the tables (or without a
    published knowledge base) is no error, the first reply then loads them itself."""
    import logging

    from zhongtai.service import entities, kb

    log = logging.getLogger(__name__)
    try:
        textmod.tagged_words("预热一下")
        with database.transaction(write=False) as session:
            published = kb.published(session)
            if published is not None:
                published.classifier.predict_one("你好")
            entities.catalog_index(session)
    except Exception:  # a warm-up never stops the server
        log.info("service warm-up skipped", exc_info=True)
