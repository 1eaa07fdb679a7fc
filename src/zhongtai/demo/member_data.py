"""The demo's members as plain data: the people behind the customers, fragmented across channels.

Every channel knows a fragment of a person, and knows it imperfectly. For each person of the
order history's customer pool this builds the records the brand's systems hold about them:

* **store enrolment (POS)**: phone, member card, name, birthday, gender, city; the clerk types
  fast (a wrong character of the name, day and month of the birthday swapped), and at two or
  three stores types the store's own phone for customers who do not want to give theirs;
* **mini-program**: WeChat unionid and openid, the phone when the person authorised it, the
  WeChat region as the city;
* **web shop**: the login e-mail, the name (now and then in pinyin), sometimes a phone and an
  address;
* **JD**: the JD pin, a delivery name, phone and address, now and then a family member's name or
  phone, or a mistyped phone;
* **Tmall**: the Tmall buyer id, a name in hanzi or in one of the pinyin spellings people type
  (``Zhang Wei``, ``zhangwei``, ``WEI ZHANG``), sometimes a phone.

A few people have two phones (an old one on their store card); some enrolled twice; families share
an address and nothing else. The ground truth (record -> person) is kept, so the batch matcher's
precision and recall can be measured on it (``bench/oneid_febrl.py``) and the demo load can show
what stitching did.

Pure and deterministic: the same seed (and, for the demo, the same order history) gives the same
records. ``generate_member_records`` builds a stand-alone population of any size;
``demo_member_file`` the demo's own, from its order history, so that members and orders agree;
``member_observations`` lists what each of the demo's orders tells about its buyer.
"""

from __future__ import annotations

import base64
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from zhongtai.demo.check_digits import luhn_check_digit
from zhongtai.demo.network_data import LocationSpec
from zhongtai.demo.order_history import (
    Customer,
    OrderHistory,
    _customers,
    day_start,
    share_households,
)

# The columns of a member record, as ``generate_member_records`` returns them (strong identifiers
# last; empty when the record has none).
WEAK_COLUMNS = ("given_name", "surname", "full_name", "birthday", "city", "address", "postcode")
STRONG_COLUMNS = ("phone", "email", "unionid", "openid", "card", "jd_pin", "tmall_uid")
COLUMNS = ("record_id", "channel", *WEAK_COLUMNS, *STRONG_COLUMNS)
# The WeChat app the openids belong to.
MINIAPP = "miniapp"
# Where each channel's records come from, as an observation source.
SOURCE = {"pos": "enrol", "miniapp": "enrol", "web": "enrol", "jd": "import", "tmall": "import"}
CHANNELS = ("pos", "miniapp", "web", "jd", "tmall")
# Records of what orders say about their buyer: "order-" + the first order's number.
ORDER_PREFIX = "order-"
# Share of the people on each channel when nothing else says (the stand-alone population).
PRESENCE = {"pos": 0.55, "miniapp": 0.40, "web": 0.22, "jd": 0.40, "tmall": 0.35}
# Phones clerks type when a walk-in customer will not give theirs (well-known dummy numbers and
# the store manager's mobile): each ends up on many store cards of different people.
STORE_PHONES = ("13800138000", "13912345678", "18688888888")

# ---------------------------------------------------------------- names


def _words(text: str) -> list[str]:
    return text.split()


_PINYIN: dict[str, str] = dict(
    zip(
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
        "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤",
        _words(
            "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang xie "
            "song tang xu han feng deng cao peng zeng xiao tian dong yuan pan yu jiang cai yu du ye cheng su wei "
            "lv ding ren shen yao lu jiang cui zhong tan lu wang fan jin shi liao jia xia wei fu fang bai zou "
            "meng xiong qin qiu jiang yin xue yan duan lei hou long shi tao li he gu mao hao gong shao wan qian "
            "yan qin wu dai mo kong xiang tang"
        ),
        strict=True,
    )
) | dict(
    zip(
        "一东丹丽云亦伟佑佳俊兰军刚勇华博卫可嘉国墨天妍娜娟婉婷子宇安家峰平建强彤心志思怡懿振敏文新明春晓晨曦杰桂"
        "桐梅梓梦欣沐泽洋浩海涛涵淑清然熙燕玉琪琳磊秀立红航艳芬芳若英菲诗诺豪超轩远阳雅雨霞静飞馨鸣鹏",
        _words(
            "yi dong dan li yun yi wei you jia jun lan jun gang yong hua bo wei ke jia guo mo tian yan na juan "
            "wan ting zi yu an jia feng ping jian qiang tong xin zhi si yi yi zhen min wen xin ming chun xiao "
            "chen xi jie gui tong mei zi meng xin mu ze yang hao hai tao han shu qing ran xi yan yu qi lin lei "
            "xiu li hong hang yan fen fang ruo ying fei shi nuo hao chao xuan yuan yang ya yu xia jing fei xin "
            "ming peng"
        ),
        strict=True,
    )
)
# The wrong character an input method offers for the right one: same sound (or nearly), another
# character. Surnames only swap with surnames.
_TYPO: dict[str, str] = dict(
    zip(
        "张王汪李刘陈杨黄赵吴武周徐许胡何贺于余陆卢江姜魏韦秦覃严闫石史唐汤程林"
        "伟静丽敏军杰娟涛霞平刚琳丹鹏飞英华文博子涵轩欣怡思远佳琪雨桐晨曦嘉俊诗雅婷志燕晓东云峰浩然宇航梦心墨妍"
        "建国秀兰淑芬梅玉新彤天佑可馨泽一鸣婉清振立卫亦熙安红明磊洋阳勇超梓桂艳芳菲沐懿",
        "章汪王黎留程阳皇照武吴舟许徐湖贺何余于卢陆姜江韦魏覃秦闫严史石汤唐成琳"
        "玮晶莉民君洁鹃韬侠萍钢林单朋菲瑛桦雯波紫含萱馨宜斯源家淇宇彤辰希佳骏师亚亭智艳小冬芸锋皓冉雨杭孟欣默研"
        "健果绣岚书纷玫钰鑫桐添祐珂欣择依明宛青震丽伟奕希桉虹铭垒阳杨永潮紫贵燕方非木怡",
        strict=True,
    )
)
# Given names mostly given to girls (the rest: boys, or either).
_FEMALE = frozenset(
    _words(
        "芳 娜 敏 静 丽 艳 娟 霞 琳 丹 秀英 桂英 子涵 欣怡 佳琪 一诺 雨桐 嘉怡 诗涵 雅婷 海燕 梦琪 心怡 欣妍 秀兰 淑芬 "
        "丽华 春梅 晓燕 玉兰 文静 佳怡 思彤 若曦 梓涵 可馨 婉清 诗雨 嘉懿 亦菲 安琪 思琪 红梅 丽娟"
    )
)
_RELATIONS = ("伟", "芳", "秀英", "建国", "丽", "强", "桂英", "明")


def pinyin(hanzi: str) -> str:
    """Toneless pinyin of the demo's name characters, joined (``张秀英`` -> ``zhangxiuying``)."""
    return "".join(_PINYIN.get(ch, ch) for ch in hanzi)


def _cap(hanzi: str) -> str:
    return pinyin(hanzi).capitalize()


def _typo(rng: random.Random, name: str) -> str:
    """One character of the name replaced by a look- or sound-alike (张 -> 章, 伟 -> 玮)."""
    spots = [i for i, ch in enumerate(name) if ch in _TYPO]
    if not spots:
        return name
    i = rng.choice(spots)
    return name[:i] + _TYPO[name[i]] + name[i + 1 :]


# ---------------------------------------------------------------- the people


@dataclass(frozen=True, slots=True)
class Person:
    """One real person: the ground truth behind every record."""

    id: str
    # The order history's customer (same person, same phone, name and accounts).
    customer_id: int
    surname: str
    given: str
    gender: str  # F | M
    birthday: date
    phone: str
    # A second mobile (a work phone, or the old number still on their store card); "" for most.
    phone2: str
    # The e-mail the orders know ("" for most), and the web shop login (theirs, or one they made).
    email: str
    login_email: str
    province: str
    city: str
    district: str
    address: str
    postcode: str
    unionid: str
    openid: str
    jd_pin: str
    tmall_uid: str
    household: int

    @property
    def name(self) -> str:
        return self.surname + self.given


@dataclass(slots=True)
class MemberRecord:
    """What one channel holds about one person (``person_id``: the truth, never matched on)."""

    record_id: str
    person_id: str
    channel: str
    given_name: str = ""
    surname: str = ""
    full_name: str = ""
    birthday: str = ""
    city: str = ""
    address: str = ""
    postcode: str = ""
    phone: str = ""
    email: str = ""
    unionid: str = ""
    openid: str = ""
    card: str = ""
    jd_pin: str = ""
    tmall_uid: str = ""
    gender: str = ""
    province: str = ""
    # Store enrolments: the store; enrolments: when (demo only; None in the stand-alone file).
    store_code: str = ""
    enrolled_at: datetime | None = None
    # Marketing consent captured at enrolment, per channel (sms, wechat, email).
    consents: dict[str, bool] = field(default_factory=dict)
    # What went wrong on this record: typo, pinyin, birthday_swap, store_phone, phone2,
    # family_name, family_phone, phone_typo, second_card.
    noise: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return "order" if self.record_id.startswith(ORDER_PREFIX) else SOURCE[self.channel]

    def row(self) -> dict[str, str]:
        return {c: str(getattr(self, c)) for c in COLUMNS}

    def identifiers(self) -> list[tuple[str, str, str]]:
        """(kind, raw value, app) of the record's strong identifiers."""
        out = []
        for kind in STRONG_COLUMNS:
            value = getattr(self, kind)
            if value:
                out.append((kind, value, MINIAPP if kind == "openid" else ""))
        return out


@dataclass(frozen=True, slots=True)
class MemberFile:
    persons: tuple[Person, ...]
    # Enrolment and import records, then the orders' buyer records (``order_records``).
    records: tuple[MemberRecord, ...]
    # The store phones used (raw, as typed).
    store_phones: tuple[str, ...] = ()
    # The demo: order number -> the record of its buyer (orders without a known buyer are not there).
    order_record_of: dict[str, str] = field(default_factory=dict)

    @property
    def truth(self) -> dict[str, str]:
        return {r.record_id: r.person_id for r in self.records}

    def rows(self) -> list[dict[str, str]]:
        return [r.row() for r in self.records]


def _b64(rng: random.Random, n: int) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(n * 3 // 4 + 1)).decode()[:n]


def _mobile(rng: random.Random) -> str:
    return rng.choice(("13", "15", "17", "18", "19")) + str(rng.randint(0, 9)) + f"{rng.randrange(10**8):08d}"


def _persons(customers: Sequence[Customer], rng: random.Random) -> list[Person]:
    """The people behind the customers: the same name, phone, address and accounts, plus what the
    orders never show (birthday, gender, a second phone, a WeChat openid, a web login)."""
    taken = {c.phone for c in customers}
    out = []
    for c in customers:
        surname, given = c.name[0], c.name[1:]
        born = date(1962, 1, 1) + timedelta(days=int(min(max(rng.gauss(9500, 3800), 0), 16000)))
        phone2 = ""
        if rng.random() < 0.05:
            while not phone2 or phone2 in taken:
                phone2 = _mobile(rng)
            taken.add(phone2)
        login = c.email
        if not login:
            style = rng.random()
            if style < 0.4:
                login = f"{rng.randint(10_000_000, 3_999_999_999)}@qq.com"
            else:
                handle = pinyin(c.name) if style < 0.8 else pinyin(given) + pinyin(surname)
                login = f"{handle}{rng.randint(1, 999)}@{rng.choice(('163.com', '126.com', 'qq.com', 'sina.com'))}"
        out.append(
            Person(
                id=f"P{c.id:07d}",
                customer_id=c.id,
                surname=surname,
                given=given,
                gender="F" if given in _FEMALE else "M",
                birthday=born,
                phone=c.phone,
                phone2=phone2,
                email=c.email,
                login_email=login,
                province=c.province,
                city=c.city,
                district=c.district,
                address=c.address,
                postcode=c.postcode,
                unionid=c.unionid,
                openid="o" + _b64(rng, 27),
                jd_pin=c.jd_pin,
                tmall_uid=c.tmall_uid,
                household=c.household,
            )
        )
    return out


# ---------------------------------------------------------------- the records


@dataclass(frozen=True, slots=True)
class _Enrolment:
    """When and where a person joined a channel (the demo knows it from the orders)."""

    channel: str
    store_code: str = ""
    at: datetime | None = None


class _Writer:
    """Writes each person's records, with the noise of the channel that keeps them."""

    def __init__(self, rng: random.Random, persons: Sequence[Person]) -> None:
        self.rng = rng
        self.records: list[MemberRecord] = []
        self.seq: dict[str, int] = defaultdict(int)
        self.cards: set[str] = set()
        self.household: dict[int, list[Person]] = defaultdict(list)
        for p in persons:
            if p.household:
                self.household[p.household].append(p)

    def _new(self, p: Person, channel: str) -> MemberRecord:
        self.seq[channel] += 1
        r = MemberRecord(f"{channel}-{self.seq[channel]:07d}", p.id, channel)
        self.records.append(r)
        return r

    def _card(self) -> str:
        """The brand's card before the member center: 89 + 9 digits + a Luhn digit (the member
        center's own cards are 8 + the member id, ``identity.enrol``: never 89 ...)."""
        while True:
            body = "89" + f"{self.rng.randrange(10**9):09d}"
            card = body + str(luhn_check_digit(body))
            if card not in self.cards:
                self.cards.add(card)
                return card

    def _family(self, p: Person) -> Person | None:
        others = [q for q in self.household.get(p.household, []) if q.id != p.id]
        return others[0] if others else None

    def _name(self, r: MemberRecord, p: Person, *, typo: float, pinyin_share: float = 0.0) -> None:
        rng = self.rng
        x = rng.random()
        if x < pinyin_share:
            style = rng.randrange(4)
            sur, giv = _cap(p.surname), _cap(p.given)
            if style == 0:
                r.surname, r.given_name, r.full_name = sur, giv, f"{sur} {giv}"
            elif style == 1:
                r.surname, r.given_name, r.full_name = sur, giv, f"{giv} {sur}"
            elif style == 2:
                r.surname, r.given_name = sur.upper(), giv.upper()
                r.full_name = f"{r.surname} {r.given_name}"
            else:
                r.surname, r.given_name, r.full_name = sur.lower(), giv.lower(), pinyin(p.name)
            r.noise += ("pinyin",)
            return
        name = p.name
        if x < pinyin_share + typo:
            typed = _typo(rng, name)
            if typed != name:
                name = typed
                r.noise += ("typo",)
        r.surname, r.given_name, r.full_name = name[0], name[1:], name

    def _birthday(self, r: MemberRecord, p: Person, swap: float) -> None:
        b = p.birthday
        if b.day <= 12 and b.day != b.month and self.rng.random() < swap:
            b = date(b.year, b.day, b.month)
            r.noise += ("birthday_swap",)
        r.birthday = b.isoformat()

    def _phone_format(self, phone: str) -> str:
        """As people type it: mostly bare, sometimes with +86, spaces or dashes."""
        x = self.rng.random()
        if x < 0.08:
            return f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
        if x < 0.14:
            return f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"
        return phone

    def _phone_typo(self, phone: str) -> str:
        rng = self.rng
        i = rng.randrange(3, 11)
        digit = str((int(phone[i]) + rng.randint(1, 9)) % 10)
        return phone[:i] + digit + phone[i + 1 :]

    def _consents(self, r: MemberRecord, wechat: float, sms: float, email: float = 0.0) -> None:
        rng = self.rng
        r.consents = {"wechat": rng.random() < wechat, "sms": rng.random() < sms}
        if email:
            r.consents["email"] = rng.random() < email

    # ------------------------------------------------------------ one record per channel

    def pos(self, p: Person, e: _Enrolment, *, second: bool = False) -> MemberRecord:
        rng = self.rng
        r = self._new(p, "pos")
        r.card = self._card()
        r.phone = p.phone
        if p.phone2 and rng.random() < (0.8 if second else 0.5):
            r.phone = p.phone2
            r.noise += ("phone2",)
        if second:
            r.noise += ("second_card",)
        self._name(r, p, typo=0.06)
        if rng.random() < 0.88:
            self._birthday(r, p, swap=0.08)
        r.gender = p.gender if rng.random() < 0.9 else ""
        r.city, r.province = p.city, p.province
        if rng.random() < 0.15:
            r.address = p.address
        r.store_code, r.enrolled_at = e.store_code, e.at
        self._consents(r, wechat=0.78, sms=0.42)
        return r

    def miniapp(self, p: Person, e: _Enrolment) -> MemberRecord:
        rng = self.rng
        r = self._new(p, "miniapp")
        r.unionid, r.openid = p.unionid, p.openid
        if rng.random() < 0.7:  # the person authorised the phone number button
            r.phone = p.phone
        if rng.random() < 0.5:
            self._name(r, p, typo=0.05)
        if rng.random() < 0.35:
            self._birthday(r, p, swap=0.03)
        r.gender = p.gender if rng.random() < 0.7 else ""
        if rng.random() < 0.8:
            r.city, r.province = p.city, p.province
        r.enrolled_at = e.at
        self._consents(r, wechat=0.85, sms=0.3)
        return r

    def web(self, p: Person, e: _Enrolment) -> MemberRecord:
        rng = self.rng
        r = self._new(p, "web")
        email = p.login_email
        r.email = email if rng.random() < 0.85 else email[0].upper() + email[1:]
        if rng.random() < 0.5:
            use2 = p.phone2 and rng.random() < 0.4
            r.phone = self._phone_format(p.phone2 if use2 else p.phone)
            if use2:
                r.noise += ("phone2",)
        if rng.random() < 0.95:
            self._name(r, p, typo=0.05, pinyin_share=0.12)
        if rng.random() < 0.25:
            self._birthday(r, p, swap=0.05)
        if rng.random() < 0.65:
            r.city, r.province, r.address, r.postcode = p.city, p.province, p.address, p.postcode
        r.enrolled_at = e.at
        self._consents(r, wechat=0.5, sms=0.35, email=0.55)
        return r

    def jd(self, p: Person, e: _Enrolment) -> MemberRecord:
        rng = self.rng
        r = self._new(p, "jd")
        r.jd_pin, r.enrolled_at = p.jd_pin, e.at
        family = self._family(p)
        x = rng.random()
        if x < 0.06:  # the parcel goes to a relative at home
            if family is not None:
                r.surname, r.given_name, r.full_name = family.surname, family.given, family.name
            else:
                given = rng.choice(_RELATIONS)
                r.surname, r.given_name, r.full_name = p.surname, given, p.surname + given
            r.noise += ("family_name",)
        else:
            self._name(r, p, typo=0.06)
        if rng.random() < 0.75:
            y = rng.random()
            if y < 0.04 and family is not None:
                r.phone = family.phone
                r.noise += ("family_phone",)
            elif 0.04 <= y < 0.07:
                r.phone = self._phone_typo(p.phone)
                r.noise += ("phone_typo",)
            elif p.phone2 and y < 0.4:
                r.phone = p.phone2
                r.noise += ("phone2",)
            else:
                r.phone = p.phone
            r.phone = self._phone_format(r.phone)
        r.city, r.province, r.address, r.postcode = p.city, p.province, p.address, p.postcode
        return r

    def tmall(self, p: Person, e: _Enrolment) -> MemberRecord:
        rng = self.rng
        r = self._new(p, "tmall")
        r.tmall_uid, r.enrolled_at = p.tmall_uid, e.at
        if rng.random() < 0.95:
            self._name(r, p, typo=0.10, pinyin_share=0.30)
        if rng.random() < 0.4:  # brand membership (入会) shares the phone
            r.phone = self._phone_format(p.phone)
        if rng.random() < 0.2:
            self._birthday(r, p, swap=0.05)
        if rng.random() < 0.7:
            r.city, r.province, r.address, r.postcode = p.city, p.province, p.address, p.postcode
        elif rng.random() < 0.5:
            r.city, r.province = p.city, p.province
        return r

    def write(self, p: Person, enrolments: Sequence[_Enrolment]) -> None:
        for e in enrolments:
            if e.channel == "pos":
                self.pos(p, e)
                if self.rng.random() < 0.04:  # lost the card, or forgot they had one
                    self.pos(p, e, second=True)
            elif e.channel == "miniapp":
                self.miniapp(p, e)
            elif e.channel == "web":
                self.web(p, e)
            elif e.channel == "jd":
                self.jd(p, e)
            elif e.channel == "tmall":
                self.tmall(p, e)

    def store_phones(self, stores: Sequence[str]) -> tuple[str, ...]:
        """At a few stores the clerk typed the store's phone for many customers' cards."""
        rng = self.rng
        pos = [r for r in self.records if r.channel == "pos" and not r.noise]
        if not pos:
            return ()
        count = 2 if len(pos) < 3000 else 3
        used = []
        for k, phone in enumerate(STORE_PHONES[:count]):
            at_store = [r for r in pos if stores and r.store_code == stores[k % len(stores)]] or pos
            n = min(len(at_store), max(6, round(len(pos) * 0.005)))
            for r in rng.sample(at_store, n):
                if r.noise:  # already picked for another store phone
                    continue
                r.phone = phone
                r.noise += ("store_phone",)
            used.append(phone)
        return tuple(used)


def _standalone_enrolments(rng: random.Random) -> list[_Enrolment]:
    chosen = [c for c in CHANNELS if rng.random() < PRESENCE[c]]
    if not chosen:
        weights = [PRESENCE[c] for c in CHANNELS]
        chosen = [rng.choices(CHANNELS, weights)[0]]
    return [_Enrolment(c) for c in chosen]


# ---------------------------------------------------------------- what orders say


@dataclass(frozen=True, slots=True)
class OrderObservation:
    """What one order says about its buyer: the strong identifiers it carries and the weak
    attributes of its delivery (``customer_id`` is the truth, never matched on)."""

    number: str
    channel_code: str
    customer_id: int | None
    at: datetime
    identifiers: tuple[tuple[str, str, str], ...]
    attributes: dict[str, str]


def _observation(
    number: str, channel: str, customer_id: int | None, at: datetime, buyer: dict[str, str], attributes: dict[str, str]
) -> OrderObservation | None:
    ids = [(kind, buyer[kind], "") for kind in ("phone", "email", "unionid", "jd_pin", "tmall_uid") if buyer.get(kind)]
    if not ids:
        return None
    return OrderObservation(number, channel, customer_id, at, tuple(ids), {k: v for k, v in attributes.items() if v})


def member_observations(history: OrderHistory) -> list[OrderObservation]:
    """The orders with a known buyer, in time order: phone on the own channels, Meituan and store
    sales to members; e-mail on the web shop when given; unionid on the mini-program; the JD pin
    or Tmall buyer id on the marketplaces (which give no phone)."""
    out: list[OrderObservation] = []
    for o in history.orders:
        kind = "jd_pin" if o.channel_code == "jd" else "tmall_uid"
        found = _observation(
            o.number,
            o.channel_code,
            o.customer_id,
            o.placed_at,
            {"phone": o.buyer_phone, "email": o.buyer_email, "unionid": o.buyer_unionid, kind: o.buyer_marketplace_id},
            {
                "full_name": o.buyer_name or o.ship_name,
                "city": o.ship_city,
                "address": o.ship_address,
                "postcode": o.ship_postcode,
            },
        )
        if found is not None:
            out.append(found)
    return out


def order_records(
    observations: Sequence[OrderObservation], person_of: dict[int, str]
) -> tuple[list[MemberRecord], dict[str, str]]:
    """One record per distinct set of buyer identifiers (every order carrying the same ones is the
    same buyer account: more of them add weight, not evidence), with the first non-empty name and
    delivery of its orders; and which record each order's buyer is (order number -> record id)."""
    records: dict[tuple[tuple[str, str, str], ...], MemberRecord] = {}
    record_of: dict[str, str] = {}
    for obs in observations:
        if obs.customer_id is None:
            continue
        key = tuple(sorted(obs.identifiers))
        r = records.get(key)
        if r is None:
            r = MemberRecord(ORDER_PREFIX + obs.number, person_of[obs.customer_id], obs.channel_code)
            for kind, value, _app in obs.identifiers:
                setattr(r, kind, value)
            r.enrolled_at = obs.at
            records[key] = r
        for name, value in obs.attributes.items():
            if not getattr(r, name):
                setattr(r, name, value)
        if r.full_name and not r.surname:
            r.surname, r.given_name = r.full_name[0], r.full_name[1:]
        record_of[obs.number] = r.record_id
    return list(records.values()), record_of


def _standalone_orders(
    rng: random.Random, people: Sequence[Person], records: Sequence[MemberRecord]
) -> list[OrderObservation]:
    """For a population without an order history: the orders people placed on the channels they
    joined (most of them), and on Meituan (a few), as the order history would have written them."""
    channels: dict[str, set[str]] = defaultdict(set)
    for r in records:
        channels[r.person_id].add(r.channel)
    out: list[OrderObservation] = []
    at = datetime(2025, 1, 1, tzinfo=UTC)
    for p in people:
        bought = [c for c in CHANNELS if c in channels[p.id] and rng.random() < 0.7]
        if rng.random() < 0.06:
            bought.append("meituan")
        for channel in bought:
            buyer = {
                "pos": {"phone": p.phone},
                "web": {"phone": p.phone, "email": p.email},
                "miniapp": {"phone": p.phone, "unionid": p.unionid},
                "meituan": {"phone": p.phone},
                "jd": {"jd_pin": p.jd_pin},
                "tmall": {"tmall_uid": p.tmall_uid},
            }[channel]
            attributes = {"full_name": p.name, "city": p.city}
            if channel != "pos":
                attributes["address"] = p.address
            if channel in ("web", "jd", "tmall"):
                attributes["postcode"] = p.postcode
            found = _observation(f"{len(out) + 1:08d}", channel, p.customer_id, at, buyer, attributes)
            if found is not None:
                out.append(found)
    return out


def member_file(seed: int, persons: int, *, orders: bool = True) -> MemberFile:
    """A stand-alone population of ``persons`` people (the demo's kind of customers, not its
    customers), each on the channels a share of people use (``PRESENCE``); with ``orders``, also
    the buyer records of the orders they placed there (as the demo has them: ``order_records``)."""
    if persons < 1:
        raise ValueError("persons is at least 1")
    rng = random.Random(f"zhongtai-demo-members-{seed}")
    customers, _weights = _customers(rng, persons)
    customers = share_households(customers, random.Random(f"zhongtai-demo-households-{seed}"))
    people = _persons(customers, rng)
    writer = _Writer(rng, people)
    for p in people:
        writer.write(p, _standalone_enrolments(rng))
    phones = writer.store_phones(())
    records = list(writer.records)
    if orders:
        bought, _record_of = order_records(
            _standalone_orders(rng, people, records), {p.customer_id: p.id for p in people}
        )
        records += bought
    rng.shuffle(records)  # a file is not sorted by person
    return MemberFile(tuple(people), tuple(records), phones)


def generate_member_records(
    seed: int, persons: int, *, orders: bool = True
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """``persons`` people as fragmented member records (columns ``COLUMNS``; strong identifiers
    raw, as typed) and the truth: record id -> person id. With ``orders`` (the default, as in the
    demo's database) the records include what their orders say about them (``order-...`` ids)."""
    f = member_file(seed, persons, orders=orders)
    return f.rows(), f.truth


# ---------------------------------------------------------------- the demo's own members


def demo_member_file(history: OrderHistory, stores: Sequence[LocationSpec]) -> MemberFile:
    """The demo's customers as members: everyone who bought on a channel has that channel's
    record (a store card for identified store buyers, enrolled at their first purchase), some
    joined channels they never bought on, and customers who never ordered joined a few; then one
    record per buyer account of the orders (``order_records``; ``MemberFile.order_record_of``)."""
    rng = random.Random(f"zhongtai-demo-members-{history.seed}")
    people = _persons(history.customers, rng)
    first: dict[tuple[int, str], tuple[datetime, str]] = {}
    for o in history.orders:  # in time order
        if o.customer_id is None or o.channel_code == "meituan":
            continue
        key = (o.customer_id, o.channel_code)
        if key not in first:
            first[key] = (o.placed_at, o.store_code or "")
    store_codes = [s.code for s in stores]
    city_stores: dict[str, list[str]] = defaultdict(list)
    for s in stores:
        city_stores[s.city].append(s.code)
    start = day_start(history.first_day)
    span = (history.cutoff - start).total_seconds()
    writer = _Writer(rng, people)
    for p in people:
        enrolments = []
        ordered = any((p.customer_id, c) in first for c in CHANNELS)
        for channel in CHANNELS:
            seen = first.get((p.customer_id, channel))
            if seen is None and rng.random() >= PRESENCE[channel] * (0.3 if ordered else 0.4):
                continue
            if seen is not None:
                at, store = seen
                at -= timedelta(minutes=rng.uniform(2, 20) if channel == "pos" else rng.uniform(10, 60 * 24 * 60))
                if rng.random() < 0.3:  # a member from before the history
                    at = start - timedelta(days=rng.uniform(30, 5 * 365))
            else:
                at = start + timedelta(seconds=rng.uniform(0, span))
                store = ""
            if channel == "pos" and not store:
                store = rng.choice(city_stores.get(p.city) or store_codes) if store_codes else ""
            enrolments.append(_Enrolment(channel, store, min(at, history.cutoff - timedelta(hours=1))))
        writer.write(p, enrolments)
    enrolled = Counter(r.store_code for r in writer.records if r.channel == "pos")
    by_traffic = sorted(store_codes, key=lambda c: (-enrolled[c], c))
    phones = writer.store_phones(by_traffic[:3])
    bought, record_of = order_records(member_observations(history), {p.customer_id: p.id for p in people})
    return MemberFile(tuple(people), (*writer.records, *bought), phones, record_of)
