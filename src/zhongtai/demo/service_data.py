"""Customer-service demo data as plain data: what a customer of the demo retailer can ask about,
customer questions with placeholders filled from it, and six weeks of conversations planned.

* ``Facts``: the demo's real SKUs (model names, parameters, accessories), orders (status, lines,
  serial numbers, returns) and the members who placed them, with the phone that finds them in
  the member center. ``service_loader.gather_facts`` reads them through the services.
* ``Filler``: turns ``{order:shipped}``, ``{serial:received|model}``, ``{sku:has=battery_capacity|model}``
  or ``{member_phone}`` into real values, the same value for the same placeholder within a
  conversation. The customer-service benchmark's scripted conversations (``bench/cs_dialogues``)
  use the same placeholders.
* ``plan_history``: a few hundred conversations over the last six weeks on every online channel,
  sampled from the templates below (pre-sale, in-sale, after-sale, chit-chat, questions the
  knowledge base cannot answer, hand-offs) over those facts; seeded, so the same facts and seed
  give the same plan. ``service_loader`` plays them through the real bot.
* ``agent_answer``: what the demo's agent says when a conversation reaches a person, written
  from the facts the conversation named (the order's status, parcel, return or return window;
  the unit's warranty; the product's parameter or price), as an agent who looked them up would.

Placeholder grammar: ``{kind}`` or ``{kind:selector}`` or ``{kind:selector|field}``; a selector may
end in ``#n`` for the n-th distinct value of the same selector (``{sku:category=phone#2}``).

==========  ======================================  ==========================================
kind        selector                                fields (first is the default)
==========  ======================================  ==========================================
order       an order class (``ORDER_CLASSES``;      number, status, status_zh, sku_name, model,
            ``a+b``: both), or ``latest``           sku_code, return_number, return_status(_zh),
                                                    channel, carrier, tracking
serial      an order class (the order of the unit)  serial, model, sku_name, sku_code, order
sku         ``,``-separated tests: ``on_sale``      model, name, code, short, spu_name, price,
            (the SKU), ``off_sale``, ``draft``      ``param.<attribute>``, accessory,
            (the product), ``serial_tracked``,      accessory_short
            ``with_accessories``, ``category=C``,
            ``model=M``, ``has=<attribute>``
member_phone, member_name, member_surname   (the conversation's member)
==========  ======================================  ==========================================
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

# What the console calls each order status (``order.status.*`` in the locale files).
STATUS_ZH: dict[str, str] = {
    "created": "已创建",
    "reserved": "已锁库",
    "routed": "已分配",
    "picking": "拣货中",
    "packed": "已打包",
    "partially_shipped": "部分发货",
    "shipped": "已发货",
    "delivered": "已签收",
    "completed": "已完成",
    "cancelled": "已取消",
}
RETURN_STATUS_ZH: dict[str, str] = {
    "requested": "待审核",
    "approved": "已同意",
    "rejected": "已拒绝",
    "received": "已收货",
    "refunded": "已退款",
}
PROCESSING = ("created", "reserved", "routed", "picking", "packed")
# A serial-tracked unit is under warranty for a year from delivery (the 3C pack's promise).
RETURN_WINDOW_DAYS = 7


@dataclass(frozen=True, slots=True)
class SkuFact:
    code: str
    name: str
    spu_code: str
    spu_name: str
    # The SPU's ``model`` parameter ("Q60 Pro"); empty for products without one (chargers).
    model: str
    category: str
    lifecycle: str
    serial_tracked: bool
    price_fen: int
    # attribute code -> the value as a customer would read it ("5500", "6.78", "骁龙 8 Gen 3").
    params: Mapping[str, str] = field(default_factory=dict)
    accessories: tuple[str, ...] = ()
    brand: str = ""
    # The product's lifecycle: a model is off sale when the product is, not one colour of it.
    spu_lifecycle: str = ""

    @property
    def short(self) -> str:
        """What a customer calls it: the model, else the product's name without the brand."""
        if self.model:
            return self.model
        name = self.spu_name
        if self.brand and name.startswith(self.brand):
            name = name[len(self.brand) :]
        return name.strip()


@dataclass(frozen=True, slots=True)
class ReturnFact:
    number: str
    status: str


@dataclass(frozen=True, slots=True)
class OrderFact:
    number: str
    channel_code: str
    status: str
    payment_status: str
    member_id: int | None
    placed_at: datetime
    delivered_at: datetime | None
    sku_codes: tuple[str, ...]
    serials: tuple[tuple[str, str], ...] = ()  # (sku code, serial)
    returns: tuple[ReturnFact, ...] = ()
    # From the order service's return eligibility: whether anything can still be returned.
    returnable: bool = False
    # The parcel's carrier and tracking number (the first shipped fulfilment's).
    carrier: str = ""
    tracking: str = ""


@dataclass(frozen=True, slots=True)
class MemberFact:
    id: int
    name: str
    # The phone the member center finds this member by (checked when the facts are gathered).
    phone: str
    tier: str = ""


@dataclass(slots=True)
class Facts:
    skus: dict[str, SkuFact]
    orders: list[OrderFact]
    members: dict[int, MemberFact]
    # attribute code -> (name, unit): how the catalog labels a parameter.
    attributes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def orders_of(self, member_id: int) -> list[OrderFact]:
        return [o for o in self.orders if o.member_id == member_id]


# ---------------------------------------------------------------- order classes


def _received(o: OrderFact) -> bool:
    return o.status in ("delivered", "completed")


ORDER_CLASSES: dict[str, Callable[[OrderFact], bool]] = {
    "any": lambda o: True,
    # The customer's newest order (``Filler`` picks the newest; as a test: any order).
    "latest": lambda o: True,
    "unpaid": lambda o: o.payment_status == "unpaid" and o.status != "cancelled",
    "processing": lambda o: o.status in PROCESSING and o.payment_status == "paid",
    "shipped": lambda o: o.status in ("shipped", "partially_shipped"),
    "delivered": lambda o: o.status == "delivered",
    "completed": lambda o: o.status == "completed",
    "received": _received,
    "open": lambda o: o.status not in ("completed", "cancelled"),
    "cancellable": lambda o: o.status in ("created", "reserved", "routed"),
    "returnable": lambda o: o.returnable and not o.returns,
    "not_returnable": lambda o: _received(o) and not o.returnable and not o.returns,
    "returned": lambda o: bool(o.returns),
    "cancelled": lambda o: o.status == "cancelled",
    "serial": lambda o: bool(o.serials),
    # One product line: a return needs no choice of item.
    "single": lambda o: len(o.sku_codes) == 1,
}


def order_class(name: str) -> Callable[[OrderFact], bool]:
    """``received`` or ``received+serial``: every named test must hold."""
    tests = [ORDER_CLASSES[part] for part in name.split("+")]
    return lambda o: all(t(o) for t in tests)


def _check_order_class(name: str) -> None:
    unknown = [part for part in name.split("+") if part not in ORDER_CLASSES]
    if unknown:
        raise PlaceholderError(f"unknown order class {'+'.join(unknown)!r} (known: {', '.join(ORDER_CLASSES)})")


# ---------------------------------------------------------------- placeholders

PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([^{}|]+))?(?:\|([^{}]+))?\}")
MEMBER_KINDS = ("member_phone", "member_name", "member_surname")


class PlaceholderError(ValueError):
    """A placeholder that is malformed, or that the facts cannot fill."""


@dataclass(frozen=True, slots=True)
class Need:
    """What a conversation needs from its member: ``count`` distinct orders of ``cls``
    (``serial``: orders of ``cls`` that shipped serial-tracked units)."""

    cls: str
    count: int
    serial: bool = False


def placeholders(text: str) -> list[tuple[str, str, str]]:
    """(kind, selector, field) of every placeholder in ``text``."""
    return [(m.group(1), m.group(2) or "", m.group(3) or "") for m in PLACEHOLDER.finditer(text)]


def _split_index(selector: str) -> tuple[str, int]:
    base, _, index = selector.partition("#")
    if index and not index.isdigit():
        raise PlaceholderError(f"bad index in {selector!r}")
    return base.strip(), int(index or 1)


def needs_of(texts: Iterable[str]) -> list[Need]:
    """The orders a conversation's texts ask for, per class (the largest index wins)."""
    orders: dict[str, int] = {}
    serials: dict[str, int] = {}
    for text in texts:
        for kind, selector, _field in placeholders(text):
            if kind in ("order", "serial"):
                cls, n = _split_index(selector or "any")
                _check_order_class(cls)
                target = orders if kind == "order" else serials
                target[cls] = max(target.get(cls, 0), n)
    out = [Need(cls, n) for cls, n in sorted(orders.items())]
    out += [Need(cls, n, serial=True) for cls, n in sorted(serials.items())]
    return out


def wants_member(texts: Iterable[str]) -> bool:
    return any(kind in MEMBER_KINDS for text in texts for kind, _s, _f in placeholders(text))


def _sku_test(token: str, *, loose: bool = False) -> Callable[[SkuFact], bool]:
    """One test of a SKU selector. ``loose``: ``model=M`` also matches a product without a model
    parameter whose name starts with M (``Buds 3 Pro`` of ``Buds 3 Pro 主动降噪真无线耳机``)."""
    key, eq, value = token.partition("=")
    key = key.strip()
    value = value.strip()
    if eq:
        if key == "category":
            return lambda s: s.category == value
        if key == "model":
            want = value.casefold()
            if loose:
                return lambda s: not s.model and s.short.casefold().startswith(want)
            return lambda s: s.model.casefold() == want
        if key == "has":
            return lambda s: value in s.params
        if key == "code":
            return lambda s: s.code == value
        raise PlaceholderError(f"unknown SKU test {token!r}")
    simple: dict[str, Callable[[SkuFact], bool]] = {
        "on_sale": lambda s: s.lifecycle == "on_sale",
        "off_sale": lambda s: (s.spu_lifecycle or s.lifecycle) == "off_sale",
        "draft": lambda s: (s.spu_lifecycle or s.lifecycle) == "draft",
        "serial_tracked": lambda s: s.serial_tracked,
        "with_accessories": lambda s: bool(s.accessories),
        "any": lambda s: True,
    }
    if key not in simple:
        raise PlaceholderError(f"unknown SKU test {token!r}")
    return simple[key]


def _num(value: object) -> str:
    """A parameter as text: 14.0 -> "14", 6.78 -> "6.78"."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value)


def param_text(value: object) -> str:
    return _num(value)


def _seed_of(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()[:8], "big")


class Filler:
    """Fills one conversation's placeholders. ``member`` is the conversation's customer (None:
    anonymous: orders are anybody's); ``now``: only orders placed at least an hour before."""

    def __init__(
        self,
        facts: Facts,
        rng: random.Random,
        *,
        member: MemberFact | None = None,
        now: datetime | None = None,
    ) -> None:
        self.facts = facts
        self.rng = rng
        self.member = member
        self.now = now
        self.bound: dict[str, object] = {}  # selector key -> chosen fact (order, serial, SKU)
        # Values already taken by a selector's other indices ({order:shipped} and {order:shipped#2}
        # are two different orders); different selectors may name the same thing.
        self._used: dict[str, set[str]] = {}

    # ------------------------------------------------------------ choosing

    def _orders(self) -> list[OrderFact]:
        pool = self.facts.orders_of(self.member.id) if self.member is not None else self.facts.orders
        if self.now is not None:
            cutoff = self.now - timedelta(hours=1)
            pool = [o for o in pool if o.placed_at <= cutoff]
        return pool

    def _order(self, selector: str) -> OrderFact:
        key = f"order:{selector}"
        found = self.bound.get(key)
        if isinstance(found, OrderFact):
            return found
        cls, _n = _split_index(selector or "any")
        _check_order_class(cls)
        test = order_class(cls)
        used = self._used.setdefault(f"order:{cls}", set())
        candidates = [o for o in self._orders() if test(o) and o.number not in used]
        if not candidates:
            raise PlaceholderError(f"no {cls} order" + (f" of member {self.member.id}" if self.member else ""))
        if cls == "latest":
            chosen = max(candidates, key=lambda o: (o.placed_at, o.number))
        else:
            chosen = self.rng.choice(sorted(candidates, key=lambda o: o.number))
        used.add(chosen.number)
        self.bound[key] = chosen
        return chosen

    def _serial(self, selector: str) -> tuple[OrderFact, str, str]:
        key = f"serial:{selector}"
        found = self.bound.get(key)
        if isinstance(found, tuple):
            return found
        cls, _n = _split_index(selector or "any")
        _check_order_class(cls)
        test = order_class(cls)
        used = self._used.setdefault(f"serial:{cls}", set())
        candidates = [
            (o, sku, serial) for o in self._orders() if test(o) for sku, serial in o.serials if serial not in used
        ]
        if not candidates:
            raise PlaceholderError(
                f"no serial number from a {cls} order" + (f" of member {self.member.id}" if self.member else "")
            )
        chosen = self.rng.choice(sorted(candidates, key=lambda c: c[2]))
        used.add(chosen[2])
        self.bound[key] = chosen
        return chosen

    def _sku(self, selector: str) -> SkuFact:
        key = f"sku:{selector}"
        found = self.bound.get(key)
        if isinstance(found, SkuFact):
            return found
        base, _n = _split_index(selector or "on_sale")
        tokens = [t for t in base.split(",") if t.strip()]
        used = self._used.setdefault(f"sku:{base}", set())
        candidates = []
        # A model parameter first; a product without one by the start of its name.
        for loose in (False, True):
            tests = [_sku_test(t, loose=loose) for t in tokens]
            candidates = [s for s in self.facts.skus.values() if all(t(s) for t in tests) and s.spu_code not in used]
            if candidates or not any(t.strip().startswith("model=") for t in tokens):
                break
        if not candidates:
            raise PlaceholderError(f"no SKU matches {base!r}")
        # One SKU per product: a customer names the model, not the colour.
        by_spu: dict[str, SkuFact] = {}
        for s in sorted(candidates, key=lambda s: s.code):
            by_spu.setdefault(s.spu_code, s)
        chosen = self.rng.choice(sorted(by_spu.values(), key=lambda s: s.code))
        used.add(chosen.spu_code)
        self.bound[key] = chosen
        return chosen

    # ------------------------------------------------------------ rendering

    def _sku_field(self, sku: SkuFact, name: str) -> str:
        if name in ("", "model"):
            return sku.short
        if name == "name":
            return sku.name
        if name == "code":
            return sku.code
        if name == "short":
            return sku.short
        if name == "spu_name":
            return sku.spu_name
        if name == "price":
            return _num(sku.price_fen / 100)
        if name.startswith("param."):
            attr = name.removeprefix("param.")
            if attr not in sku.params:
                raise PlaceholderError(f"SKU {sku.code} has no parameter {attr}")
            return sku.params[attr]
        if name in ("accessory", "accessory_short"):
            known = [self.facts.skus[c] for c in sku.accessories if c in self.facts.skus]
            if not known:
                raise PlaceholderError(f"SKU {sku.code} has no accessories")
            return known[0].name if name == "accessory" else known[0].short
        raise PlaceholderError(f"unknown SKU field {name!r}")

    def _value(self, kind: str, selector: str, name: str) -> str:
        if kind in MEMBER_KINDS:
            if self.member is None:
                raise PlaceholderError(f"{{{kind}}} needs a member")
            if kind == "member_phone":
                return self.member.phone
            if kind == "member_surname":
                return self.member.name[:1]
            return self.member.name
        if kind == "order":
            o = self._order(selector)
            sku = self.facts.skus.get(o.sku_codes[0]) if o.sku_codes else None
            if name in ("", "number"):
                return o.number
            if name == "status":
                return o.status
            if name == "status_zh":
                return STATUS_ZH.get(o.status, o.status)
            if name == "channel":
                return o.channel_code
            if name in ("carrier", "tracking"):
                value = o.carrier if name == "carrier" else o.tracking
                if not value:
                    raise PlaceholderError(f"order {o.number} has no {name}")
                return value
            if name in ("sku_name", "model", "sku_code"):
                if sku is None:
                    raise PlaceholderError(f"order {o.number}'s SKU is not in the facts")
                return {"sku_name": sku.name, "model": sku.short, "sku_code": sku.code}[name]
            if name in ("return_number", "return_status", "return_status_zh"):
                if not o.returns:
                    raise PlaceholderError(f"order {o.number} has no return")
                r = o.returns[-1]
                if name == "return_number":
                    return r.number
                return r.status if name == "return_status" else RETURN_STATUS_ZH.get(r.status, r.status)
            raise PlaceholderError(f"unknown order field {name!r}")
        if kind == "serial":
            o, sku_code, serial = self._serial(selector)
            if name in ("", "serial"):
                return serial
            if name == "order":
                return o.number
            sku = self.facts.skus.get(sku_code)
            if sku is None:
                raise PlaceholderError(f"SKU {sku_code} is not in the facts")
            if name == "model":
                return sku.short
            if name == "sku_name":
                return sku.name
            if name == "sku_code":
                return sku.code
            raise PlaceholderError(f"unknown serial field {name!r}")
        if kind == "sku":
            return self._sku_field(self._sku(selector), name)
        raise PlaceholderError(f"unknown placeholder kind {kind!r}")

    def fill(self, text: str) -> str:
        return PLACEHOLDER.sub(lambda m: self._value(m.group(1), m.group(2) or "", m.group(3) or ""), text)


def members_meeting(facts: Facts, needs: Sequence[Need], now: datetime | None = None) -> list[MemberFact]:
    """Members with enough orders of every needed class (placed an hour before ``now``)."""
    cutoff = now - timedelta(hours=1) if now is not None else None
    by_member: dict[int, list[OrderFact]] = {}
    for o in facts.orders:
        if o.member_id is not None and o.member_id in facts.members and (cutoff is None or o.placed_at <= cutoff):
            by_member.setdefault(o.member_id, []).append(o)
    out = []
    for mid, orders in sorted(by_member.items()):
        ok = True
        for need in needs:
            test = order_class(need.cls)
            have = sum(len(o.serials) if need.serial else 1 for o in orders if test(o))
            if have < need.count:
                ok = False
                break
        if ok:
            out.append(facts.members[mid])
    return out


@dataclass(frozen=True, slots=True)
class FilledConversation:
    """A conversation's texts filled, its customer, and the facts its placeholders chose (in the
    order the texts named them): what an agent answering it would look up."""

    texts: list[str]
    member: MemberFact | None
    orders: tuple[OrderFact, ...] = ()
    skus: tuple[SkuFact, ...] = ()
    # (order, SKU code, serial) of the units named by serial number.
    serials: tuple[tuple[OrderFact, str, str], ...] = ()
    # Attribute codes the texts ask about (``has=<attribute>`` of a SKU selector).
    attributes: tuple[str, ...] = ()


def fill_conversation_facts(
    facts: Facts,
    texts: Sequence[str],
    *,
    seed: object,
    member: bool | str = "auto",
    now: datetime | None = None,
    member_filter: Callable[[MemberFact], bool] | None = None,
) -> FilledConversation:
    """``fill_conversation``, keeping the orders, SKUs and serial numbers it chose."""
    rng = random.Random(_seed_of("fill", seed))
    needs = needs_of(texts)
    use_member = member is True or (member == "auto" and (bool(needs) or wants_member(texts)))
    chosen: MemberFact | None = None
    if use_member:
        candidates = members_meeting(facts, needs, now)
        if member_filter is not None:
            candidates = [m for m in candidates if member_filter(m)]
        if not candidates:
            raise PlaceholderError("no member has " + ", ".join(f"{n.count} {n.cls}" for n in needs))
        chosen = rng.choice(candidates)
    filler = Filler(facts, rng, member=chosen, now=now)
    filled = [filler.fill(t) for t in texts]
    bound = list(filler.bound.items())
    attributes: list[str] = []
    for key, _fact in bound:
        if key.startswith("sku:"):
            for token in key.removeprefix("sku:").partition("#")[0].split(","):
                name, eq, value = token.strip().partition("=")
                if eq and name == "has" and value not in attributes:
                    attributes.append(value)
    return FilledConversation(
        texts=filled,
        member=chosen,
        orders=tuple(f for _k, f in bound if isinstance(f, OrderFact)),
        skus=tuple(f for _k, f in bound if isinstance(f, SkuFact)),
        serials=tuple(
            (f[0], str(f[1]), str(f[2])) for _k, f in bound if isinstance(f, tuple) and isinstance(f[0], OrderFact)
        ),
        attributes=tuple(attributes),
    )


def fill_conversation(
    facts: Facts,
    texts: Sequence[str],
    *,
    seed: object,
    member: bool | str = "auto",
    now: datetime | None = None,
    member_filter: Callable[[MemberFact], bool] | None = None,
) -> tuple[list[str], MemberFact | None]:
    """Fills every text of one conversation consistently. ``member``: True (a member who has
    what the texts need), False (anonymous), "auto" (a member when the texts name orders,
    serials or the member). Raises ``PlaceholderError`` when the facts cannot fill them."""
    done = fill_conversation_facts(facts, texts, seed=seed, member=member, now=now, member_filter=member_filter)
    return done.texts, done.member


# ================================================================ what the demo's agents say


def _fill_with_follow_up(
    facts: Facts, texts: Sequence[str], follow_ups: Sequence[str], *, seed: object, now: datetime
) -> FilledConversation:
    """The conversation's texts and the customer's question to the agent filled together (the same
    customer, the same orders): the first of ``follow_ups`` the facts can fill, else none."""
    for follow_up in follow_ups:
        try:
            return fill_conversation_facts(facts, [*texts, follow_up], seed=seed, now=now)
        except PlaceholderError:
            continue
    return fill_conversation_facts(facts, texts, seed=seed, now=now)


def _facts_named(filled: FilledConversation, text: str) -> FilledConversation:
    """The facts of ``filled`` that ``text`` names."""
    return replace(
        filled,
        texts=[text],
        orders=tuple(o for o in filled.orders if o.number in text),
        skus=tuple(k for k in filled.skus if k.short in text or k.name in text),
        serials=tuple(u for u in filled.serials if u[2] in text),
    )


def _yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def _day(at: datetime) -> str:
    local = at + BEIJING
    return f"{local.month}月{local.day}日"


def _topic(texts: Sequence[str]) -> str:
    """What the customer wants done, roughly: broken (a complaint about the goods), cancel,
    return, install, gifts, stock, or status (anything else)."""
    said = "".join(texts)
    for topic, words in (
        ("broken", ("坏", "投诉", "差劲", "摔", "气死")),
        ("cancel", ("取消", "不想要了能取消")),
        ("return", ("退", "无理由")),
        ("install", ("安装", "装吗", "自己装", "送装")),
        ("gifts", ("送东西", "赠品", "送壳", "送膜")),
        ("stock", ("有货", "现货", "缺货", "能买到")),
    ):
        if any(w in said for w in words):
            return topic
    return "status"


RETURN_NEXT: dict[str, str] = {
    "requested": "已经提交，正在审核，我这边帮您催一下，今天内会有结果。",
    "approved": "已经审核通过，请按短信里的地址寄回商品，仓库收到后 1-3 个工作日退款。",
    "rejected": "没有通过审核，原因已经短信通知您；如果有疑问，我可以帮您重新提交。",
    "received": "仓库已经收到退货，退款会在 1-3 个工作日内原路退回。",
    "refunded": "退款已经原路退回，一般 1-3 个工作日到账，请留意银行或支付宝的通知。",
}


def order_answer(facts: Facts, o: OrderFact, topic: str) -> str:
    """What an agent who looked the order up tells the customer."""
    n = o.number
    sku = facts.skus.get(o.sku_codes[0]) if o.sku_codes else None
    what = sku.short if sku is not None else "商品"
    if topic == "broken":
        return (
            f"非常抱歉给您带来不好的体验！订单 {n} 的{what}我这边为您优先换新，麻烦先拍一下问题照片发给我，"
            "快递员会上门取件，新机优先发出。"
        )
    if o.returns:
        r = o.returns[-1]
        status = RETURN_STATUS_ZH.get(r.status, r.status)
        return f"您好，订单 {n} 的退货单 {r.number}（{status}）" + RETURN_NEXT.get(r.status, "我这边帮您跟进。")
    if o.payment_status == "unpaid" and o.status != "cancelled":
        return f"您好，订单 {n} 还没有付款，超时会自动取消；您在订单详情点「去支付」就可以继续付款。"
    if o.status == "cancelled":
        return f"您好，订单 {n} 已经取消了，已付的款项会原路退回，一般 1-3 个工作日到账。"
    if o.status in PROCESSING:
        if topic == "cancel":
            return f"您好，订单 {n} 还没有发货，可以取消：在订单详情点「取消订单」，款项会原路退回。"
        return f"您好，订单 {n} 目前{STATUS_ZH.get(o.status, o.status)}，仓库正在备货，发货后会短信通知您运单号。"
    if o.status in ("shipped", "partially_shipped"):
        if topic == "cancel":
            return f"您好，订单 {n} 已经发货，不能取消了；您可以拒收，或者签收后申请 7 天无理由退货。"
        if o.tracking:
            return (
                f"您好，订单 {n} 已经由{o.carrier or '快递'}发出，运单号 {o.tracking}，"
                "一般 1-3 天送达，派送前快递员会联系您。"
            )
        return f"您好，订单 {n} 已经发货，运单号稍后短信发给您，一般 1-3 天送达。"
    if topic in ("return", "cancel"):
        if o.returnable:
            return f"您好，订单 {n} 还在 7 天无理由退货期内，您在订单详情点「申请退货」，审核通过后快递员会上门取件。"
        return f"您好，订单 {n} 签收已超过 7 天无理由退货期了；如果{what}有质量问题，可以申请保修或换新，我帮您登记。"
    signed = f"已于{_day(o.delivered_at)}签收" if o.delivered_at is not None else "已经签收"
    return f"您好，订单 {n} {signed}，使用中有任何问题随时找我。"


def serial_answer(facts: Facts, o: OrderFact, sku_code: str, serial: str, at: datetime) -> str:
    """The warranty of one unit: a year from delivery (the 3C pack's promise)."""
    sku = facts.skus.get(sku_code)
    what = sku.short if sku is not None else "这台设备"
    start = o.delivered_at or o.placed_at
    until = start + timedelta(days=365)
    local = until + BEIJING
    end = f"{local.year}年{local.month}月{local.day}日"
    if at < until:
        return (
            f"您好，序列号 {serial} 是{what}，{_day(start)}签收，在保修期内，保修到 {end}；"
            "有问题可以预约上门检测或送修。"
        )
    return f"您好，序列号 {serial} 是{what}，保修已于 {end} 到期；可以付费维修，我帮您查一下维修报价。"


def sku_answer(facts: Facts, skus: Sequence[SkuFact], attributes: Sequence[str], topic: str) -> str:
    """What an agent with the product page open tells the customer."""
    a = skus[0]
    price = _yuan(a.price_fen)
    if len(skus) >= 2:
        b = skus[1]
        shared = next((x for x in (*attributes, *a.params) if x in a.params and x in b.params), None)
        diff = ""
        if shared is not None and a.params[shared] != b.params[shared]:
            name, unit = facts.attributes.get(shared, (shared, ""))
            diff = f"{name}分别是 {a.params[shared]}{unit} 和 {b.params[shared]}{unit}；"
        return (
            f"您好，{a.short} 售价 {price}，{b.short} 售价 {_yuan(b.price_fen)}；{diff}"
            "您更看重哪方面？我按您的需要推荐。"
        )
    asked = next((x for x in attributes if x in a.params), None)
    if asked is not None:
        name, unit = facts.attributes.get(asked, (asked, ""))
        return f"您好，{a.short} 的{name}是 {a.params[asked]}{unit}，还有其他想了解的吗？"
    if topic == "install":
        return f"您好，{a.short} 支持上门安装，基础安装免费；签收后在订单详情点「预约安装」，师傅会提前电话联系您。"
    accessories = [facts.skus[c] for c in a.accessories if c in facts.skus]
    if topic == "gifts" and accessories:
        return f"您好，{a.short} 的赠品以商品页活动为准；推荐搭配 {accessories[0].short}，一起下单一起发货。"
    if topic == "stock":
        return f"您好，{a.short} 现在售价 {price}，库存以下单页显示为准，您需要的话我把购买链接发给您。"
    return f"您好，{a.short} 现在售价 {price}，您主要用来做什么？我帮您看看合不合适。"


def agent_answer(
    facts: Facts,
    texts: Sequence[str],
    named: FilledConversation,
    at: datetime,
) -> str:
    """The agent's reply to what the customer said, from the order, unit or product the customer
    named (looked up like an agent would); "" when nothing was named."""
    topic = _topic(texts)
    if named.orders:
        return order_answer(facts, named.orders[0], topic)
    if named.serials:
        o, sku_code, serial = named.serials[0]
        return serial_answer(facts, o, sku_code, serial, at)
    if named.skus:
        return sku_answer(facts, named.skus, named.attributes, topic)
    return ""


# ================================================================ the demo's six weeks

HISTORY_DAYS = 42
# Channel mix of customer-service conversations (the stores' POS has no chat).
CHANNEL_WEIGHTS: dict[str, float] = {"web": 0.25, "jd": 0.27, "tmall": 0.16, "miniapp": 0.22, "meituan": 0.10}
# Conversations per day at each scale, before the weekly and festival shape.
PER_DAY: dict[str, float] = {"small": 3.0, "full": 8.0}
# Conversations still waiting in the queue when the demo is loaded (the agent desk has work).
OPEN_TODAY: dict[str, int] = {"small": 3, "full": 6}
# Beijing hours of the day customers write (weights per hour 0..23).
HOUR_WEIGHTS = (
    (1, 0.4), (2, 0.2), (3, 0.1), (4, 0.1), (5, 0.1), (6, 0.3), (7, 0.7), (8, 1.2), (9, 1.8), (10, 2.0),
    (11, 1.8), (12, 1.5), (13, 1.6), (14, 1.8), (15, 1.8), (16, 1.7), (17, 1.6), (18, 1.6), (19, 2.0),
    (20, 2.6), (21, 2.8), (22, 2.2), (23, 1.2), (0, 0.7),
)  # fmt: skip
BEIJING = timedelta(hours=8)


@dataclass(frozen=True, slots=True)
class Template:
    """One kind of conversation: each turn is a list of alternative phrasings."""

    code: str
    category: str
    turns: tuple[tuple[str, ...], ...]
    weight: float = 1.0
    # Channels where this kind of conversation happens (empty: all).
    channels: tuple[str, ...] = ()
    # What the agent says when the bot hands this conversation over (alternatives); without them
    # the agent answers from the facts the conversation names, or with the desk's suggestion.
    agent_replies: tuple[str, ...] = ()
    # What the customer then asks the agent (alternatives, with placeholders; empty: nothing more).
    follow_ups: tuple[str, ...] = ()


def _t(
    code: str,
    category: str,
    weight: float,
    *turns: Sequence[str],
    agent: Sequence[str] = (),
    channels: Sequence[str] = (),
    follow_ups: Sequence[str] = (),
) -> Template:
    return Template(
        code, category, tuple(tuple(t) for t in turns), weight, tuple(channels), tuple(agent), tuple(follow_ups)
    )


GREETINGS = ("你好", "在吗", "您好", "hello", "在不在", "客服在吗")
THANKS = ("好的谢谢", "谢谢", "明白了，谢谢", "ok", "好的", "知道了 谢谢啊", "行，谢了")
# What an agent says first to a customer who only asked for a person.
AGENT_GREETINGS = (
    "您好，我是人工客服，请问有什么可以帮您？",
    "您好，让您久等了，请问遇到什么问题了？我来帮您处理。",
    "亲，这边是人工客服，您具体想咨询什么呢？",
)
# ... and what that customer then asks.
HUMAN_FOLLOW_UPS = (
    "帮我看下订单{order:latest}",
    "{order:shipped}这个快递到哪了",
    "订单{order:open}什么时候能到",
    "{order:received}这单还能退吗",
    "{order:returned}的退款什么时候到",
)

# The demo's customers: written for the demo, not copied from the knowledge packs' examples.
TEMPLATES: tuple[Template, ...] = (
    # ---------------------------------------------------------- pre-sale
    _t(
        "param_battery",
        "pre_sale",
        3.0,
        (
            "{sku:has=battery_capacity,on_sale|model}电池多大",
            "{sku:has=battery_capacity,on_sale|model}的电池容量多少毫安",
            "请问{sku:has=battery_capacity,on_sale|model}电池是多少mAh的",
        ),
    ),
    _t(
        "param_screen",
        "pre_sale",
        2.5,
        (
            "{sku:has=screen_size,on_sale|model}屏幕多大",
            "{sku:has=screen_size,on_sale|model}是几寸的屏",
            "{sku:has=screen_size,on_sale|model}屏幕尺寸是多少",
        ),
    ),
    _t(
        "param_refresh",
        "pre_sale",
        1.5,
        ("{sku:has=refresh_rate,on_sale|model}刷新率多少", "{sku:has=refresh_rate,on_sale|model}支持高刷吗，多少赫兹"),
    ),
    _t(
        "param_cpu",
        "pre_sale",
        1.5,
        ("{sku:has=processor,on_sale|model}用的什么处理器", "{sku:has=processor,on_sale|model}是什么芯片"),
    ),
    _t(
        "param_power",
        "pre_sale",
        1.2,
        ("{sku:has=power,on_sale|model}功率多大", "{sku:has=power,on_sale|model}多少瓦的"),
    ),
    _t(
        "param_weight",
        "pre_sale",
        0.8,
        ("{sku:has=weight,on_sale|model}有多重", "{sku:has=weight,on_sale|model}重量多少"),
    ),
    _t(
        "compare_phones",
        "pre_sale",
        2.0,
        GREETINGS,
        (
            "{sku:category=phone,on_sale|model}和{sku:category=phone,on_sale#2|model}有啥区别",
            "{sku:category=phone,on_sale|model}跟{sku:category=phone,on_sale#2|model}哪个好一点",
            "纠结{sku:category=phone,on_sale|model}还是{sku:category=phone,on_sale#2|model}，区别大吗",
        ),
        THANKS,
    ),
    _t(
        "compare_laptops",
        "pre_sale",
        1.2,
        (
            "{sku:category=laptop,on_sale|model}和{sku:category=laptop,on_sale#2|model}比较一下",
            "{sku:category=laptop,on_sale|model}与{sku:category=laptop,on_sale#2|model}有什么不同",
        ),
    ),
    _t(
        "gifts",
        "pre_sale",
        2.0,
        (
            "买{sku:with_accessories,on_sale,serial_tracked|model}送东西吗",
            "{sku:with_accessories,on_sale,serial_tracked|model}有赠品吗",
            "现在买{sku:with_accessories,on_sale,serial_tracked|model}有没有送壳送膜什么的",
        ),
        ("那配件怎么买", "好吧", "配个什么好"),
    ),
    _t(
        "stock",
        "pre_sale",
        1.8,
        (
            "{sku:on_sale,serial_tracked|model}还有货吗",
            "{sku:on_sale|model}现在能买到吗有现货吗",
            "{sku:on_sale|model}缺货了吗",
        ),
    ),
    _t(
        "recommend",
        "pre_sale",
        1.5,
        (
            "想买个手机，预算三千左右，推荐一下",
            "有没有适合打游戏的笔记本推荐",
            "给老人买个手机哪款合适",
            "家里有猫，推荐个空气净化器",
            "推荐一款扫地机器人",
        ),
    ),
    _t(
        "card",
        "pre_sale",
        1.2,
        ("介绍下{sku:on_sale,serial_tracked|model}", "{sku:on_sale|model}怎么样", "说说{sku:on_sale|model}的卖点"),
    ),
    _t("price", "pre_sale", 1.0, ("{sku:on_sale|model}多少钱", "{sku:on_sale,serial_tracked|model}现在什么价")),
    # ---------------------------------------------------------- in-sale
    _t(
        "status_number",
        "in_sale",
        2.5,
        ("帮我查一下订单{order:open}", "{order:open} 这个单子什么状态了", "订单号{order:open}，现在到哪一步了"),
        THANKS,
    ),
    _t(
        "status_slot",
        "in_sale",
        2.0,
        ("我的订单怎么样了", "帮我看看我买的东西", "查订单"),
        ("{order:open}", "是{order:open}这个", "订单号是{order:open}"),
    ),
    _t(
        "logistics",
        "in_sale",
        2.5,
        (
            "{order:shipped} 快递到哪了",
            "我的快递到哪里了，单号{order:shipped}",
            "物流怎么一直不动，订单{order:shipped}",
        ),
        THANKS,
    ),
    _t(
        "logistics_slot", "in_sale", 1.5, ("我的快递到哪了", "什么时候能送到啊", "物流信息查一下"), ("{order:shipped}",)
    ),
    _t("order_list", "in_sale", 1.0, ("我最近买了什么", "看看我的订单", "我下过哪些单")),
    _t(
        "cancel",
        "in_sale",
        0.8,
        (
            "我想取消订单{order:cancellable}",
            "{order:cancellable} 不想要了能取消吗",
            "订单{order:cancellable}帮我取消掉",
        ),
    ),
    _t("ship_when", "in_sale", 1.2, ("什么时候发货", "下单后多久发货", "今天下单今天能发吗")),
    # ---------------------------------------------------------- after-sale
    _t(
        "return_check",
        "after_sale",
        2.0,
        (
            "{order:received} 还能退吗",
            "订单{order:received}的东西不想要了，能退货吗",
            "{order:received}可以七天无理由吗",
        ),
    ),
    _t(
        "return_apply",
        "after_sale",
        1.2,
        ("我要退货，订单{order:returnable}", "申请退货 {order:returnable}", "帮我把{order:returnable}退了"),
        ("不喜欢", "买错了", "质量有问题", "尺寸不合适"),
    ),
    _t(
        "return_progress",
        "after_sale",
        1.2,
        (
            "{order:returned}的退货处理到哪了",
            "退款什么时候到账，订单{order:returned}",
            "我退的货你们收到了吗 {order:returned}",
        ),
    ),
    _t(
        "warranty",
        "after_sale",
        1.8,
        (
            "序列号{serial:received}还在保修吗",
            "帮我查下保修，SN是{serial:received}",
            "{serial:received} 这台机器保修到什么时候",
        ),
    ),
    _t("invoice", "after_sale", 1.5, ("怎么开发票", "能开增值税专用发票吗", "发票开错了怎么办", "电子发票在哪里下载")),
    _t(
        "install",
        "after_sale",
        1.0,
        ("{sku:category=smart_toilet,on_sale|model}包安装吗", "洗衣机送装一体吗", "马桶盖需要自己装吗"),
        channels=("jd", "tmall", "web", "miniapp"),
    ),
    # ---------------------------------------------------------- general
    _t("shipping_fee", "faq", 1.5, ("包邮吗", "运费多少", "偏远地区包邮不")),
    _t("payment", "faq", 1.0, ("可以分期吗", "支持花呗吗", "能用信用卡付款吗")),
    _t("instant", "faq", 1.0, ("多久能送到", "一小时能到吗", "能送到小区门口吗"), channels=("meituan",)),
    # ---------------------------------------------------------- chit-chat
    _t("hello_bye", "chitchat", 1.0, GREETINGS, ("没事了", "再见", "拜拜")),
    _t("who", "chitchat", 0.6, ("你是机器人吗", "你是真人吗", "你叫什么名字")),
    # ---------------------------------------------------------- what the knowledge base lacks
    _t(
        "trade_in",
        "faq",
        0.8,
        ("旧手机可以以旧换新吗", "以旧换新怎么折价", "我的旧电脑能抵多少钱", "有没有回收旧机的活动"),
        agent=("目前官方商城支持以旧换新，您在商品页选择「以旧换新」估价即可，旧机由快递上门回收。",),
    ),
    _t(
        "engrave",
        "unknown",
        0.7,
        ("手机壳能刻字吗", "可以定制刻字吗", "能不能在背面刻名字"),
        agent=("抱歉，目前暂不提供刻字定制服务。",),
    ),
    _t(
        "student",
        "unknown",
        0.8,
        ("学生有优惠吗", "有没有教育优惠", "学生证能打折吗"),
        agent=("每年暑期有教育优惠活动，认证学生身份后可享受专属价格，敬请关注。",),
    ),
    _t(
        "bulk",
        "faq",
        0.5,
        ("公司批量采购有优惠吗", "企业团购怎么联系", "买二十台能便宜点吗"),
        agent=("企业采购请留下公司名称和联系方式，大客户经理会在一个工作日内联系您。",),
    ),
    _t(
        "points",
        "faq",
        0.6,
        ("积分能换什么", "会员积分怎么用", "我的积分快过期了怎么办"),
        agent=("积分可以在结算时抵现，100 积分抵 1 元，也可以在小程序积分商城兑换礼品。",),
    ),
    _t(
        "rental",
        "unknown",
        0.7,
        ("笔记本能租吗", "有没有租赁服务", "可以按月租电脑吗", "短租一台游戏本多少钱"),
        agent=("目前暂不提供租赁服务，您可以关注以旧换新和分期免息活动。",),
    ),
    _t(
        "gift_wrap",
        "unknown",
        0.7,
        ("能帮忙礼盒包装吗", "可以写贺卡吗，送人的", "送礼的话能不能不放发票和价签"),
        agent=("可以的，我帮您在订单上备注礼品包装和贺卡内容，发票我们单独寄给您。",),
    ),
    # ---------------------------------------------------------- hand-off
    _t(
        "human",
        "handoff",
        1.5,
        ("转人工", "人工客服", "我要找真人", "叫你们客服来"),
        agent=AGENT_GREETINGS,
        follow_ups=HUMAN_FOLLOW_UPS,
    ),
    _t(
        "angry",
        "handoff",
        1.0,
        (
            "{order:received}收到的东西是坏的，你们怎么搞的",
            "太差劲了，东西用了两天就坏了，我要投诉",
            "气死了，快递员态度恶劣，东西还摔坏了",
        ),
        ("我要投诉", "叫你们负责人来"),
        agent=(
            "非常抱歉给您带来不好的体验，我这边马上为您登记换新，快递员上门取件，新机优先发出。",
            "实在抱歉，您把商品照片发我一下，我为您申请换货并补偿一张 50 元无门槛券。",
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class PlannedConversation:
    key: str
    template: str
    category: str
    channel_code: str
    started_at: datetime
    member: MemberFact | None
    customer_ref: str
    customer_name: str
    texts: tuple[str, ...]
    # Seconds between the customer's messages.
    gaps: tuple[int, ...]
    # After a hand-off: seconds until an agent accepts, and what the agent says ("": the reply the
    # agent desk suggests, complete; the loader asks it).
    accept_after_s: int
    agent_reply: str
    # The customer's rating when asked (None: the customer does not answer the survey).
    rating: int | None
    comment: str = ""
    # Left waiting in the queue (today's open conversations).
    leave_open: bool = False
    # The customer walks away without closing (the conversation ends abandoned).
    abandon: bool = False
    # What the customer then asks the agent, and the agent's answer ("" both: nothing more).
    follow_up: str = ""
    follow_up_reply: str = ""


def _weekday_factor(day: datetime) -> float:
    return 1.15 if (day + BEIJING).weekday() >= 5 else 1.0


def _start_time(rng: random.Random, day_start: datetime) -> datetime:
    hours, weights = zip(*HOUR_WEIGHTS, strict=True)
    hour = rng.choices(hours, weights=weights)[0]
    # day_start is midnight in Beijing, as UTC.
    return day_start + timedelta(hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60))


def _rating(rng: random.Random, handed_off: bool) -> int | None:
    if rng.random() > (0.55 if handed_off else 0.3):
        return None
    if handed_off:
        return rng.choices((5, 4, 3, 2, 1), weights=(45, 30, 13, 8, 4))[0]
    return rng.choices((5, 4, 3, 2, 1), weights=(55, 28, 10, 5, 2))[0]


COMMENTS = {
    5: ("很快就解决了", "客服很专业", "满意"),
    4: ("还行", "挺好"),
    3: ("一般",),
    2: ("等太久了",),
    1: ("没解决问题",),
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def _anonymous_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(("先生", "女士", ""))


def plan_history(
    facts: Facts, *, seed: int, scale: str, now: datetime, days: int = HISTORY_DAYS
) -> tuple[list[PlannedConversation], dict[str, int]]:
    """Conversations over the ``days`` before ``now`` (oldest first), and a count of the templates
    that could not be filled from the facts (skipped) by template code."""
    rng = random.Random(_seed_of("service-history", seed, scale))
    per_day = PER_DAY.get(scale, PER_DAY["small"])
    channels = [c for c in CHANNEL_WEIGHTS]
    channel_weights = [CHANNEL_WEIGHTS[c] for c in channels]
    today = (now + BEIJING).replace(hour=0, minute=0, second=0, microsecond=0) - BEIJING
    plans: list[PlannedConversation] = []
    skipped: dict[str, int] = {}
    serial = 0
    for back in range(days, -1, -1):
        day = today - timedelta(days=back)
        n = _poisson(rng, per_day * _weekday_factor(day) * (0.6 + 0.4 * (days - back) / max(days, 1) + 0.2))
        for _ in range(n):
            started = _start_time(rng, day)
            if started >= now - timedelta(minutes=30):
                continue
            serial += 1
            plan = _plan_one(facts, rng, serial, seed, started, rng.choices(channels, channel_weights)[0], skipped)
            if plan is not None:
                plans.append(plan)
    # Today's queue: a few conversations in the last half hour that end up with a person.
    open_n = OPEN_TODAY.get(scale, 3)
    handoffs = [t for t in TEMPLATES if t.category in ("handoff", "unknown")]
    for k in range(open_n):
        serial += 1
        started = now - timedelta(minutes=3 + 5 * k, seconds=rng.randrange(60))
        template = handoffs[k % len(handoffs)]
        plan = _plan_one(
            facts, rng, serial, seed, started, rng.choices(channels, channel_weights)[0], skipped, template=template
        )
        if plan is not None:
            plans.append(replace(plan, leave_open=True, rating=None, comment="", abandon=False))
    plans.sort(key=lambda p: p.started_at)
    return plans, skipped


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: lam is small here.
    threshold = pow(2.718281828459045, -lam)
    k, p = 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def _plan_one(
    facts: Facts,
    rng: random.Random,
    serial: int,
    seed: int,
    started: datetime,
    channel: str,
    skipped: dict[str, int],
    template: Template | None = None,
) -> PlannedConversation | None:
    key = f"{seed}-{serial}"
    pool = [t for t in TEMPLATES if not t.channels or channel in t.channels]
    # A question about an order needs one placed before the conversation: when the facts have
    # none (open orders are recent), the customer asks about something else.
    for _attempt in range(4):
        chosen = template or rng.choices(pool, weights=[t.weight for t in pool])[0]
        texts = [rng.choice(options) for options in chosen.turns]
        # In their own random order: the rest of the plan stays what it was without follow-ups.
        asks = list(chosen.follow_ups)
        random.Random(_seed_of("follow-up", key, _attempt)).shuffle(asks)
        try:
            filled = _fill_with_follow_up(facts, texts, asks, seed=key, now=started)
        except PlaceholderError:
            skipped[chosen.code] = skipped.get(chosen.code, 0) + 1
            continue
        template = chosen
        break
    else:
        return None
    member = filled.member
    if member is None and rng.random() < 0.4 and facts.members:
        # Many customers are signed in even when they ask about a product.
        member = facts.members[rng.choice(sorted(facts.members))]
    said = filled.texts[: len(texts)]
    follow_up = filled.texts[len(texts)] if len(filled.texts) > len(texts) else ""
    gaps = tuple(rng.randint(8, 90) for _ in said)
    name = member.name if member is not None else _anonymous_name(rng)
    rating = _rating(rng, template.category == "handoff")
    comment = rng.choice(COMMENTS[rating]) if rating is not None and rng.random() < 0.4 else ""
    # The template's own reply (or a greeting), for when the customer named nothing to look up.
    canned = rng.choice(template.agent_replies or AGENT_GREETINGS)
    if follow_up:
        reply = canned
        follow_up_reply = agent_answer(facts, [follow_up], _facts_named(filled, follow_up), started)
    else:
        reply = agent_answer(facts, said, filled, started) or (canned if template.agent_replies else "")
        follow_up_reply = ""
    return PlannedConversation(
        key=key,
        template=template.code,
        category=template.category,
        channel_code=channel,
        started_at=started,
        member=member,
        customer_ref=f"demo-{channel}-{serial:05d}",
        customer_name=name,
        texts=tuple(said),
        gaps=gaps,
        accept_after_s=rng.randint(15, 240),
        agent_reply=reply,
        follow_up=follow_up,
        follow_up_reply=follow_up_reply,
        rating=rating,
        comment=comment,
        abandon=rng.random() < 0.08,
    )
