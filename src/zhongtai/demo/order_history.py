"""Two years of the demo retailer's orders, generated deterministically (plain data, no database).

For a seed, a demo plan and the load date ("today", Beijing time) this builds every order of the
730 days that end yesterday, on every channel: the own web shop, JD, Tmall, the WeChat
mini-program, Meituan instant retail and the POS of every store. Same seed, same plan and same
date: the same orders, to the fen and the second.

Demand is drawn per day, channel (and store) as a Poisson count of orders whose rate carries:

* a weekly pattern (stores are busiest on Saturdays and Sundays; online barely moves by weekday);
* a gentle yearly seasonality and a year-on-year growth of about 20 %;
* the Spring Festival: stores busy in the three weeks before and during the holiday week but
  nearly shut on New Year's Eve and Day; online orders dip to a third while couriers stop
  (about a week each side), after a 年货节 lift;
* 618 (June 1–18, peak on the 18th) and Double 11 (October 20 – November 11, peak on the 11th):
  5–10× an ordinary online day on the peak days, with deeper discounts; Double 12, 劳动节,
  国庆 and back-to-school are smaller bumps;
* categories: phones, laptops and accessories move fast, big appliances slowly; air purifiers
  sell in winter, dryers in the plum-rain season and winter, laptops and tablets at
  back-to-school; the flagship phones launched each September spike and decay.

Orders have one to four lines (cases, films and chargers ride along with phones), buyers from a
customer pool with Pareto-like purchase frequencies (phones, WeChat unionids, JD pins and Tmall
buyer ids, so that the member center has something to stitch), delivery addresses in the
network's cities, one fulfilment each (the selling store for POS, the nearest store for 1-hour
delivery, a store for click & collect, mostly a DC for parcels) and returns: about 7 % of online
order lines and 1–2 % of store lines, asked for within 7 days of delivery, mostly restocked.

``zhongtai.demo.stock_history`` turns the shipments and returns into the stock ledger (with the
replenishment receipts that keep every balance at or above zero and end at the stock plan) and
names the serial-tracked units; ``zhongtai.demo.history_loader`` writes both in bulk.
"""

from __future__ import annotations

import base64
import math
import random
from bisect import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate

from zhongtai.demo.catalog_data import ACCESSORY_CATEGORIES, CatalogPlan, SkuSpec
from zhongtai.demo.network_data import CENTRAL_DC, LocationSpec, NetworkPlan
from zhongtai.demo.stock_data import StockPlan

HISTORY_DAYS = 730
BEIJING_OFFSET = timedelta(hours=8)  # China keeps no daylight saving time
ONLINE = ("jd", "tmall", "web", "miniapp", "meituan")
RETURN_WINDOW_DAYS = 7
AUTO_COMPLETE_DAYS = 7

# ---------------------------------------------------------------- the calendar

# Spring Festival (农历正月初一) by Gregorian year.
SPRING_FESTIVAL: dict[int, date] = {
    2018: date(2018, 2, 16),
    2019: date(2019, 2, 5),
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
    2033: date(2033, 1, 31),
    2034: date(2034, 2, 19),
    2035: date(2035, 2, 8),
}
_MONTH = (0.0, 1.05, 0.85, 0.95, 0.95, 1.0, 1.05, 0.95, 1.0, 1.05, 1.0, 1.1, 1.1)
_ONLINE_WEEKDAY = (1.0, 0.97, 0.97, 0.98, 0.95, 1.03, 1.1)
_STORE_WEEKDAY = (0.85, 0.85, 0.9, 0.9, 1.1, 1.8, 1.6)


def beijing_date(moment: datetime) -> date:
    return (moment.astimezone(UTC) + BEIJING_OFFSET).date()


def day_start(day: date) -> datetime:
    """Midnight in Beijing of ``day``, as UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - BEIJING_OFFSET


def history_window(today: date) -> tuple[date, date]:
    """The first and last day of the history: the 730 days that end yesterday."""
    return today - timedelta(days=HISTORY_DAYS), today - timedelta(days=1)


def _spring_festival_offset(day: date) -> int | None:
    """Days from the nearest Spring Festival, when within 30 days of one."""
    for year in (day.year, day.year + 1, day.year - 1):
        sf = SPRING_FESTIVAL.get(year)
        if sf is not None and abs((day - sf).days) <= 30:
            return (day - sf).days
    return None


def festival(day: date) -> str:
    """The shopping festival ``day`` belongs to (618, double11, double12) or ''."""
    md = (day.month, day.day)
    if (6, 1) <= md <= (6, 18):
        return "618"
    if (10, 20) <= md <= (11, 11):
        return "double11"
    if (12, 10) <= md <= (12, 12):
        return "double12"
    return ""


def _festival_lift(day: date) -> float:
    """How much busier online shops are on ``day`` because of 618, Double 11 or Double 12."""
    m, d = day.month, day.day
    if m == 6:
        if d == 18:
            return 6.5
        if d == 1:
            return 3.0
        if d in (16, 17):
            return 2.8
        if d < 18:
            return 1.6
        if d in (19, 20):
            return 1.3
    if m == 10 and d >= 20:
        return 3.0 if d == 20 else 1.5
    if m == 11:
        if d == 11:
            return 8.0
        if d == 1:
            return 4.0
        if d == 10:
            return 2.6
        if d < 11:
            return 1.6
        if d == 12:
            return 1.5
    if m == 12:
        if d == 12:
            return 2.5
        if d in (10, 11):
            return 1.3
    return 1.0


def online_factor(day: date, channel: str = "web") -> float:
    """An online channel's order rate on ``day`` relative to an ordinary weekday."""
    f = _MONTH[day.month] * _ONLINE_WEEKDAY[day.weekday()]
    lift = _festival_lift(day)
    if channel == "meituan":  # instant retail barely joins the marketplace festivals
        lift = 1.0 + 0.25 * (lift - 1.0)
    f *= lift
    sf = _spring_festival_offset(day)
    if sf is not None:
        if -6 <= sf <= 6:
            f *= 0.35  # couriers stop for the holiday
        elif -24 <= sf < -6:
            f *= 1.3  # 年货节: stocking up while parcels still arrive
    md = (day.month, day.day)
    if (8, 20) <= md <= (9, 5):
        f *= 1.1
    return f


def store_factor(day: date) -> float:
    """A store's footfall on ``day`` relative to an ordinary weekday."""
    f = _MONTH[day.month] * _STORE_WEEKDAY[day.weekday()]
    sf = _spring_festival_offset(day)
    if sf is not None:
        if sf == -1:
            f *= 0.3  # 除夕
        elif sf == 0:
            f *= 0.1
        elif 1 <= sf <= 6:
            f *= 1.3  # red packets to spend
        elif -21 <= sf <= -2:
            f *= 1.35
    md = (day.month, day.day)
    if (10, 1) <= md <= (10, 7):
        f *= 1.6  # 国庆黄金周
    elif (5, 1) <= md <= (5, 5):
        f *= 1.4
    lift = _festival_lift(day)
    if lift > 1.0:
        f *= 1.0 + 0.08 * (lift - 1.0)  # stores match the festival prices, a little
    if (8, 20) <= md <= (9, 5):
        f *= 1.1
    return f


def category_factor(day: date, category: str) -> float:
    """Seasonality of a category on ``day`` (1.0: no season)."""
    m = day.month
    md = (m, day.day)
    f = 1.0
    if category in ("laptop", "tablet", "tablet_accessory", "laptop_bag", "mouse", "keyboard"):
        if (8, 15) <= md <= (9, 10):
            f = 1.8  # back to school
        elif m == 6:
            f = 1.2  # graduation
    elif category in ("air_purifier", "filter"):
        f = 1.8 if m in (11, 12, 1, 2, 3) else 0.6 if m in (6, 7, 8) else 1.0
    elif category in ("washer_dryer", "clothes_dryer"):
        f = 1.6 if m == 6 else 1.4 if m in (12, 1, 2) else 1.0  # plum rain, damp winters
    elif category in ("phone", "rice_cooker"):
        sf = _spring_festival_offset(day)
        if sf is not None and -24 <= sf <= -2:
            f = 1.25  # gifts for the family
    if category in ("smart_toilet", "smart_toilet_seat", "washer_dryer", "clothes_dryer", "robot_vacuum"):
        lift = _festival_lift(day)
        if lift >= 2.5:
            f *= 1.5  # big-ticket items wait for the festival price
    return f


def _growth(index: int) -> float:
    """About 20 % more business in the second year than in the first."""
    return 0.9 + 0.2 * index / HISTORY_DAYS


# ---------------------------------------------------------------- the plain data produced


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    name: str
    phone: str
    city: str
    province: str
    district: str
    address: str
    postcode: str
    latitude: float
    longitude: float
    unionid: str
    jd_pin: str
    tmall_uid: str
    email: str
    # Customers who live together (a couple, a parent and a grown-up child) share one address and
    # this number (the first one's id); 0 for those who live alone. No identifier is shared.
    household: int = 0


@dataclass(slots=True)
class HistLine:
    line_no: int
    sku_code: str
    name: str
    quantity: int
    unit_price_fen: int
    discount_fen: int
    total_fen: int
    shipped: int = 0
    cancelled: int = 0
    returned: int = 0
    # The units shipped, for serial-tracked SKUs (named by ``stock_history``).
    serials: list[str] = field(default_factory=list)


@dataclass(slots=True)
class HistReturnLine:
    line_no: int
    quantity: int
    refund_fen: int
    # restock | scrap once received ('' until then).
    disposition: str = ""
    serials: list[str] = field(default_factory=list)


@dataclass(slots=True)
class HistReturn:
    number: str
    status: str  # requested | approved | received
    reason: str
    location_code: str
    requested_at: datetime
    decided_at: datetime | None
    received_at: datetime | None
    refund_fen: int
    lines: list[HistReturnLine]


@dataclass(slots=True)
class HistRefund:
    amount_fen: int
    reason: str
    created_at: datetime
    # None: still pending at the end of the history.
    settled_at: datetime | None
    return_number: str | None = None


@dataclass(slots=True)
class HistOrder:
    number: str
    channel_code: str
    external_id: str
    status: str
    payment_status: str
    channel_status: str
    delivery_mode: str
    store_code: str | None
    customer_id: int | None
    buyer_phone: str
    buyer_name: str
    buyer_unionid: str
    buyer_marketplace_id: str
    buyer_email: str
    ship_name: str
    ship_phone: str
    ship_province: str
    ship_city: str
    ship_district: str
    ship_address: str
    ship_postcode: str
    ship_latitude: float | None
    ship_longitude: float | None
    goods_fen: int
    discount_fen: int
    shipping_fen: int
    total_fen: int
    paid_fen: int
    refunded_fen: int
    placed_at: datetime
    paid_at: datetime | None
    routed_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str
    completed_by_buyer: bool
    lines: list[HistLine]
    # The one fulfilment.
    location_code: str
    fulfilment_kind: str
    fulfilment_status: str
    carrier: str
    tracking_no: str
    cost_fen: int
    eta_at: datetime
    returns: list[HistReturn] = field(default_factory=list)
    refunds: list[HistRefund] = field(default_factory=list)

    @property
    def fulfilment_number(self) -> str:
        return f"{self.number}-F1"

    @property
    def updated_at(self) -> datetime:
        times = [self.placed_at, self.paid_at, self.shipped_at, self.delivered_at, self.completed_at]
        times.append(self.cancelled_at)
        for r in self.returns:
            times += [r.requested_at, r.decided_at, r.received_at]
        for f in self.refunds:
            times += [f.created_at, f.settled_at]
        return max(t for t in times if t is not None)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    kind: str
    from_status: str
    to_status: str
    message: str
    on_fulfilment: bool = False


@dataclass(frozen=True, slots=True)
class OrderHistory:
    seed: int
    first_day: date
    last_day: date
    # Midnight (Beijing) after the last day: nothing in the history happens at or after it.
    cutoff: datetime
    customers: tuple[Customer, ...]
    orders: tuple[HistOrder, ...]
    # Products launched in (or just before) the history: SPU code -> launch day.
    launches: dict[str, date] = field(default_factory=dict)


# ---------------------------------------------------------------- people and places


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = _words(
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 琳 丹 鹏 飞 秀英 桂英 建华 文博 子涵 梓轩 欣怡 "
    "思远 佳琪 一诺 雨桐 晨曦 嘉怡 俊杰 博文 诗涵 雅婷 志强 海燕 晓东 云峰 浩然 宇航 梦琪 心怡 子墨 宇轩 欣妍 "
    "晓明 建国 秀兰 淑芬 丽华 春梅 国强 海涛 晓燕 玉兰 志刚 文静 佳怡 思彤 若曦 天佑 明轩 梓涵 可馨 雨泽 浩宇 "
    "一鸣 家豪 婉清 振华 立新 卫东 子豪 诗雨 嘉懿 沐阳 亦菲 俊熙 安琪 泽宇 思琪 晓峰 红梅 丽娟 建军"
)
_MOBILE_PREFIXES = _words(
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 173 175 176 177 178 180 181 "
    "182 183 184 185 186 187 188 189 191 193 195 198 199"
)
_STREETS = _words(
    "人民路 中山路 解放路 建设路 和平路 文化路 新华路 长江路 青年路 学院路 光明路 幸福路 东风路 友谊路 滨江大道 "
    "世纪大道 科技路 花园路 胜利路 复兴路"
)
_COMMUNITIES = _words(
    "阳光花园 锦绣华庭 翠湖苑 金色家园 万科城 碧桂园 保利香槟 绿地世纪城 世茂滨江 华润悦府 龙湖天街 中海国际 "
    "招商雍景湾 融创壹号院 新城公馆 星河湾 滨江花园 御景园 东方名苑 书香门第"
)
_EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "foxmail.com", "sina.com")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# city -> (province, postcode, share of customers, districts (name, latitude, longitude))
CITIES: dict[str, tuple[str, str, float, tuple[tuple[str, float, float], ...]]] = {
    "上海市": ("上海市", "200000", 0.18, (
        ("黄浦区", 31.2317, 121.4846), ("徐汇区", 31.1886, 121.4367), ("静安区", 31.2290, 121.4480),
        ("浦东新区", 31.2215, 121.5447), ("杨浦区", 31.2595, 121.5260), ("闵行区", 31.1129, 121.3817),
        ("长宁区", 31.2204, 121.4246), ("普陀区", 31.2491, 121.3974),
    )),
    "北京市": ("北京市", "100000", 0.16, (
        ("东城区", 39.9285, 116.4160), ("西城区", 39.9123, 116.3660), ("朝阳区", 39.9219, 116.4436),
        ("海淀区", 39.9593, 116.2981), ("丰台区", 39.8585, 116.2864), ("通州区", 39.9097, 116.6566),
    )),
    "广州市": ("广东省", "510000", 0.10, (
        ("天河区", 23.1246, 113.3612), ("越秀区", 23.1290, 113.2668), ("海珠区", 23.0836, 113.3177),
        ("番禺区", 22.9375, 113.3843), ("白云区", 23.1571, 113.2734),
    )),
    "深圳市": ("广东省", "518000", 0.12, (
        ("福田区", 22.5410, 114.0550), ("南山区", 22.5333, 113.9305), ("罗湖区", 22.5486, 114.1315),
        ("宝安区", 22.5552, 113.8830), ("龙华区", 22.6969, 114.0449), ("龙岗区", 22.7204, 114.2468),
    )),
    "杭州市": ("浙江省", "310000", 0.09, (
        ("上城区", 30.2425, 120.1692), ("拱墅区", 30.3197, 120.1420), ("西湖区", 30.2593, 120.1302),
        ("滨江区", 30.2084, 120.2119), ("余杭区", 30.4189, 120.3000),
    )),
    "成都市": ("四川省", "610000", 0.10, (
        ("锦江区", 30.6571, 104.0833), ("青羊区", 30.6742, 104.0612), ("武侯区", 30.6422, 104.0434),
        ("高新区", 30.5810, 104.0636), ("成华区", 30.6600, 104.1018),
    )),
    "武汉市": ("湖北省", "430000", 0.08, (
        ("江汉区", 30.6014, 114.2709), ("武昌区", 30.5539, 114.3162), ("洪山区", 30.4994, 114.3430),
        ("江岸区", 30.6000, 114.3090), ("汉阳区", 30.5540, 114.2188),
    )),
    "南京市": ("江苏省", "210000", 0.08, (
        ("秦淮区", 32.0339, 118.7945), ("鼓楼区", 32.0664, 118.7699), ("建邺区", 32.0036, 118.7317),
        ("玄武区", 32.0487, 118.7980), ("栖霞区", 32.0962, 118.9095),
    )),
    "苏州市": ("江苏省", "215000", 0.09, (
        ("姑苏区", 31.3116, 120.6176), ("工业园区", 31.3166, 120.7235), ("虎丘区", 31.2959, 120.5669),
        ("吴中区", 31.2624, 120.6321), ("相城区", 31.3690, 120.6423),
    )),
}  # fmt: skip


def _name(rng: random.Random) -> str:
    i = min(int(rng.expovariate(1 / 18)), len(_SURNAMES) - 1)  # the common surnames are common
    return _SURNAMES[i] + rng.choice(_GIVEN)


def _phone(rng: random.Random, taken: set[str]) -> str:
    while True:
        phone = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"
        if phone not in taken:
            taken.add(phone)
            return phone


def street_address(rng: random.Random) -> str:
    return (
        f"{rng.choice(_STREETS)}{rng.randint(1, 999)}号{rng.choice(_COMMUNITIES)}"
        f"{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元{rng.randint(2, 32)}{rng.randint(1, 6):02d}室"
    )


def point_near(rng: random.Random, lat: float, lon: float, km: float) -> tuple[float, float]:
    """A point uniformly within ``km`` of (lat, lon)."""
    r = km * math.sqrt(rng.random())
    theta = rng.random() * 2 * math.pi
    dlat = r * math.cos(theta) / 111.0
    dlon = r * math.sin(theta) / (111.0 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dlat = (lat2 - lat1) * 111.0
    dlon = (lon2 - lon1) * 111.0 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dlat, dlon)


_B32_TABLE = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _B32)


def _b64(rng: random.Random, n: int) -> str:
    """``n`` URL-safe base64 characters (WeChat unionids and Tmall buyer ids look like this)."""
    return base64.urlsafe_b64encode(rng.randbytes(n * 3 // 4 + 1)).decode()[:n]


def _alnum(rng: random.Random, n: int) -> str:
    """``n`` lower-case letters and digits."""
    return base64.b32encode(rng.randbytes(n * 5 // 8 + 1)).decode().lower()[:n]


def _b32(rng: random.Random, n: int) -> str:
    """``n`` characters of the order number alphabet (no I, L, O, U)."""
    return base64.b32encode(rng.randbytes(n * 5 // 8 + 1)).decode()[:n].translate(_B32_TABLE)


def _customers(rng: random.Random, n: int) -> tuple[list[Customer], list[float]]:
    """``n`` customers and their purchase weights (Pareto: a few buy often, most once or twice)."""
    cities = list(CITIES)
    city_cum = list(accumulate(CITIES[c][2] for c in cities))
    phones: set[str] = set()
    out: list[Customer] = []
    weights: list[float] = []
    for i in range(n):
        city = cities[bisect(city_cum, rng.random() * city_cum[-1])]
        province, postcode, _share, districts = CITIES[city]
        district, lat, lon = rng.choice(districts)
        lat, lon = point_near(rng, lat, lon, 4.0)
        phone = _phone(rng, phones)
        email = ""
        if rng.random() < 0.12:
            if rng.random() < 0.5:
                email = f"{rng.randint(10_000_000, 3_999_999_999)}@qq.com"
            else:
                user = "".join(rng.choices(_LETTERS, k=rng.randint(4, 8)))
                email = f"{user}{rng.randint(1, 99)}@{rng.choice(_EMAIL_DOMAINS)}"
        out.append(
            Customer(
                id=i + 1,
                name=_name(rng),
                phone=phone,
                city=city,
                province=province,
                district=district,
                address=street_address(rng),
                postcode=postcode[:3] + f"{rng.randint(0, 999):03d}",
                latitude=lat,
                longitude=lon,
                unionid="o" + _b64(rng, 27),
                jd_pin="jd_" + _alnum(rng, 12),
                tmall_uid="AAH" + _b64(rng, 21),
                email=email,
            )
        )
        weights.append(min(rng.paretovariate(1.3), 40.0))
    return out, weights


def share_households(customers: list[Customer], rng: random.Random, share: float = 0.08) -> list[Customer]:
    """Families: about ``share`` of the customers live with another customer of the same city (a
    couple, or a parent and a grown-up child, who share the surname too). They share the address,
    so their parcels go to one door, but each keeps their own phone, WeChat and marketplace
    accounts: the member center must not merge them for living together."""
    out = list(customers)
    by_city: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(out):
        by_city[c.city].append(i)
    for city in sorted(by_city):
        members = by_city[city]
        rng.shuffle(members)
        pairs = round(len(members) * share / 2)
        for k in range(pairs):
            head, other = out[members[2 * k]], out[members[2 * k + 1]]
            name = head.name[0] + other.name[1:] if rng.random() < 0.4 else other.name
            out[members[2 * k]] = replace(head, household=head.id)
            out[members[2 * k + 1]] = replace(
                other,
                name=name,
                district=head.district,
                address=head.address,
                postcode=head.postcode,
                latitude=head.latitude,
                longitude=head.longitude,
                household=head.id,
            )
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# ---------------------------------------------------------------- what sells where

# The weight of each category as the first line of an order (the rest ride along).
CATEGORY_WEIGHT: dict[str, float] = {
    "phone": 30.0,
    "tablet": 5.0,
    "wearable": 6.0,
    "laptop": 10.0,
    "gaming_desktop": 1.2,
    "monitor": 4.0,
    "smart_toilet_seat": 1.5,
    "smart_toilet": 0.7,
    "washer_dryer": 0.8,
    "clothes_dryer": 0.4,
    "air_purifier": 2.0,
    "robot_vacuum": 2.0,
    "rice_cooker": 2.5,
    "hair_dryer": 3.0,
    "phone_case": 6.0,
    "screen_protector": 4.0,
    "charger": 4.0,
    "cable": 4.0,
    "power_bank": 4.0,
    "mouse": 4.0,
    "keyboard": 3.0,
    "laptop_bag": 1.5,
    "monitor_stand": 1.0,
    "tablet_accessory": 1.0,
    "earphones": 8.0,
    "filter": 2.0,
    "vacuum_kit": 1.5,
}
_GROUP: dict[str, str] = {
    "phone": "handset",
    "tablet": "handset",
    "wearable": "wearable",
    "laptop": "computer",
    "gaming_desktop": "computer",
    "monitor": "computer",
    "smart_toilet": "bulky",
    "washer_dryer": "bulky",
    "clothes_dryer": "bulky",
    "smart_toilet_seat": "appliance",
    "air_purifier": "appliance",
    "robot_vacuum": "appliance",
    "rice_cooker": "appliance",
    "hair_dryer": "appliance",
}
# How much more (or less) a channel sells of a product group than the average channel.
_AFFINITY: dict[str, dict[str, float]] = {
    "jd": {"computer": 1.4, "bulky": 1.3, "appliance": 1.1},
    "tmall": {"appliance": 1.3, "wearable": 1.2},
    "web": {"handset": 1.2},
    "miniapp": {"handset": 1.1, "accessory": 1.2},
    "pos": {"handset": 1.3, "accessory": 1.1, "bulky": 0.4, "computer": 0.8},
    # One-hour delivery by a rider: small things, nothing bulky.
    "same_city": {"accessory": 3.0, "handset": 0.5, "wearable": 1.5, "computer": 0.1, "bulky": 0.0, "appliance": 0.5},
}
# Chance that the first line brings accessories along (a case and a film with a phone ...).
_ATTACH: dict[str, float] = {"handset": 0.45, "computer": 0.35, "appliance": 0.3, "wearable": 0.1, "bulky": 0.1}
# Orders on an ordinary weekday, per online channel (full scale) and per store.
_ONLINE_BASE: dict[str, float] = {"jd": 12.0, "tmall": 10.0, "web": 4.5, "miniapp": 3.5, "meituan": 3.0}
_STORE_BASE = 0.7
# Share of an online channel's order lines returned (七天无理由); stores see far fewer.
RETURN_RATE: dict[str, float] = {
    "jd": 0.075,
    "tmall": 0.08,
    "web": 0.065,
    "miniapp": 0.065,
    "meituan": 0.05,
    "pos": 0.015,
}
_RETURN_REASONS: tuple[tuple[str, float, float], ...] = (
    # reason, weight, chance the unit cannot be sold again
    ("七天无理由退货", 45, 0.03),
    ("不想要了/拍错了", 15, 0.02),
    ("商品与描述不符", 10, 0.05),
    ("颜色/尺寸不合适", 10, 0.02),
    ("质量问题", 10, 0.6),
    ("收到商品破损", 5, 0.8),
    ("发票问题", 5, 0.0),
)
_RETURN_REASON_CUM = list(accumulate(w for _, w, _ in _RETURN_REASONS))
_VOLUME: dict[str, float] = {"full": 1.0, "small": 0.12}
# Phones launched in September, in years before the load: 0 = the latest September.
_LAUNCHES: dict[str, int] = {"YQ-Q60P": 0, "YQ-Q60": 0, "YQ-S30P": 1, "YQ-S30": 1, "YQ-Q50P": 2}
# Phones retired some weeks after their successor's launch (the successor's launch year).
_RETIRED_BY: dict[str, int] = {"YQ-Q50P": 0}
_ONLINE_HOURS = (3, 1.5, 0.8, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 5, 4.5, 4, 4, 4, 4.5, 5, 6, 7.5, 8, 7, 5)
_PEAK_HOURS = (18, 8, 3, 1, 0.5, 0.5, 0.5, 1, 2, 3, 3.5, 4, 4, 3.5, 3.5, 3.5, 3.5, 4, 4.5, 5.5, 8, 9, 9, 7)
# 10:00 to 21:59: when the stores (and the riders that leave from them) work.
_STORE_HOURS = (3, 4, 5, 5, 6, 7, 7, 6, 6, 7, 6, 4)
_RIDER_HOURS = (3, 4, 6, 4, 4, 4, 5, 6, 7, 8, 7, 5)


def group_of(category: str) -> str:
    return "accessory" if category in ACCESSORY_CATEGORIES else _GROUP.get(category, "accessory")


def launch_day(today: date, years_back: int) -> date:
    """The second Tuesday of September of the latest launch season (``years_back`` before it)."""
    year = (today.year if today >= date(today.year, 10, 1) else today.year - 1) - years_back
    first = date(year, 9, 1)
    return first + timedelta(days=(1 - first.weekday()) % 7 + 7)


@dataclass(slots=True)
class _Universe:
    """What one channel may sell from one assortment, for the three-step draw: category, product
    (weighted by the day's seasonality and launch curves), SKU (static weights)."""

    categories: list[str]
    cat_base: list[float]
    spus: dict[str, list[str]]
    spu_base: dict[str, list[float]]
    skus: dict[str, list[SkuSpec]]
    sku_cum: dict[str, list[float]]
    # Categories whose demand follows launches and retirements: category -> (weight of its
    # steady products, weight of all, [(launched or retired product, its weight)]).
    dynamic: dict[str, tuple[float, float, list[tuple[str, float]]]] = field(default_factory=dict)
    # The other categories' product weights never change.
    spu_cum: dict[str, list[float]] = field(default_factory=dict)


def _cum_pick(rng: random.Random, cum: Sequence[float]) -> int:
    return bisect(cum, rng.random() * cum[-1])


def build_order_history(
    seed: int,
    catalog: CatalogPlan,
    network: NetworkPlan,
    stock: StockPlan,
    today: date,
    *,
    volume: float | None = None,
) -> OrderHistory:
    """The orders of the 730 days before ``today`` (Beijing), with their fulfilments, returns and
    refunds; ``volume`` scales the order rates (default: by the catalog's scale)."""
    return _Generator(seed, catalog, network, stock, today, volume).run()


class _Generator:
    def __init__(
        self,
        seed: int,
        catalog: CatalogPlan,
        network: NetworkPlan,
        stock: StockPlan,
        today: date,
        volume: float | None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(f"zhongtai-demo-orders-{seed}")
        self.catalog = catalog
        self.network = network
        self.volume = _VOLUME[catalog.scale] if volume is None else volume
        self.first, self.last = history_window(today)
        self.cutoff = day_start(today)
        self.days = [self.first + timedelta(days=i) for i in range(HISTORY_DAYS)]
        self.day0 = [day_start(d) for d in self.days]
        self.ymd = [d.strftime("%y%m%d") for d in self.days]
        self.sellable = [s for s in catalog.skus if s.lifecycle != "draft"]
        self.sku_by_code = {s.code: s for s in self.sellable}
        self.locations = network.location_by_code()
        self.stores = list(network.stores)
        # Who carries what: the stock plan's receipts and safety lines; the central DC everything.
        carried: dict[str, set[str]] = defaultdict(set)
        for r in stock.receipts:
            carried[r.location_code].add(r.sku_code)
        for line in stock.safety_stock:
            carried[line.location_code].add(line.sku_code)
        carried[CENTRAL_DC] = {s.code for s in self.sellable}
        self.carried = {k: frozenset(v & self.sku_by_code.keys()) for k, v in carried.items()}
        self.accessories: dict[str, list[str]] = defaultdict(list)
        for ln in catalog.links:
            if ln.kind == "accessory" and ln.linked_sku_code in self.sku_by_code:
                self.accessories[ln.sku_code].append(ln.linked_sku_code)
        self.prices: dict[tuple[str, str], int] = {
            (p.sku_code, p.channel_code): p.price_fen for p in catalog.channel_prices
        }
        self._lifecycles(today)
        self.cat_factor = [{c: category_factor(day, c) for c in CATEGORY_WEIGHT} for day in self.days]
        self._universes: dict[tuple[str, str], _Universe] = {}
        self._dynamic_spus = set(self.spu_launch) | set(self.spu_until)
        self._cache_day = -1
        self._cat_cum: dict[tuple[int, bool], list[float]] = {}
        self._spu_cum: dict[tuple[int, str], list[float]] = {}
        self._spu_weight = {spu.code: self.rng.lognormvariate(0.0, 0.6) for spu in catalog.spus}
        for code in _LAUNCHES:
            if code in self._spu_weight:
                self._spu_weight[code] *= 2.0  # the flagships
        self._sku_weight: dict[str, float] = {}
        position: dict[str, int] = defaultdict(int)
        for s in self.sellable:
            i = position[s.spu_code]
            position[s.spu_code] += 1
            w = 1.0 / (1.0 + 0.5 * i) ** 0.8
            if "爆款" in s.tags:
                w *= 2.5
            if s.lifecycle == "off_sale":
                w *= 0.6
            self._sku_weight[s.code] = w
        # Customers: about one for every 1.6 orders.
        expected = (
            self.volume * HISTORY_DAYS * (sum(_ONLINE_BASE.values()) * 1.2 + _STORE_BASE * 1.2 * len(self.stores))
        )
        self.customers, weights = _customers(self.rng, max(50, round(expected / 1.6)))
        # A separate stream: families do not move a single order of the history.
        self.customers = share_households(self.customers, random.Random(f"zhongtai-demo-households-{seed}"))
        self.customer_cum = list(accumulate(weights))
        by_city: dict[str, list[int]] = defaultdict(list)
        for c in self.customers:
            by_city[c.city].append(c.id - 1)
        self.city_customers = {city: (ids, list(accumulate(weights[i] for i in ids))) for city, ids in by_city.items()}
        from zhongtai.demo.network_data import _CITIES

        self.city_dc = {city: row[2] for city, row in _CITIES.items()}
        self.city_region = {city: row[1] for city, row in _CITIES.items()}
        self.stores_in_city: dict[str, list[LocationSpec]] = defaultdict(list)
        for st in self.stores:
            self.stores_in_city[st.city].append(st)
        self.store_size = {st.code: 2.0 if "旗舰" in st.name else 1.0 for st in self.stores}
        self.store_cum = list(accumulate(self.store_size[st.code] for st in self.stores))
        self.numbers: set[str] = set()
        self.external: set[tuple[str, str]] = set()
        self.seq: dict[tuple[str, int], int] = defaultdict(int)
        self.orders: list[HistOrder] = []
        self.online_cum = list(accumulate(_ONLINE_HOURS))
        self.peak_cum = list(accumulate(_PEAK_HOURS))
        self.store_cum_hours = list(accumulate(_STORE_HOURS))
        self.rider_cum = list(accumulate(_RIDER_HOURS))

    # ------------------------------------------------------------ lifecycles

    def _lifecycles(self, today: date) -> None:
        """When each product could be bought: phones launched in September (spike, then decay),
        withdrawn colours and products stopped some months ago."""
        rng = random.Random(f"zhongtai-demo-lifecycles-{self.seed}")
        self.spu_launch: dict[str, int] = {}
        self.spu_until: dict[str, int] = {}
        for code, years in _LAUNCHES.items():
            self.spu_launch[code] = (launch_day(today, years) - self.first).days
        for code, years in _RETIRED_BY.items():
            self.spu_until[code] = (launch_day(today, years) - self.first).days + 21
        self.sku_until: dict[str, int] = {}
        for s in self.sellable:
            if s.lifecycle == "off_sale":
                until = self.spu_until.get(s.spu_code)
                self.sku_until[s.code] = until if until is not None else HISTORY_DAYS - rng.randint(30, 400)

    def _spu_factor(self, spu: str, d: int) -> float:
        if d > self.spu_until.get(spu, HISTORY_DAYS):
            return 0.0
        launch = self.spu_launch.get(spu)
        if launch is None:
            return 1.0
        if d < launch:
            return 0.0
        age = d - launch
        return 1.0 + 5.0 * math.exp(-age / 10.0) + 0.8 * math.exp(-age / 120.0)

    def _active(self, sku: SkuSpec, d: int) -> bool:
        return d <= self.sku_until.get(sku.code, HISTORY_DAYS) and d >= self.spu_launch.get(sku.spu_code, -1)

    # ------------------------------------------------------------ drawing baskets

    def _universe(self, channel: str, assortment: str) -> _Universe:
        key = (channel, assortment)
        found = self._universes.get(key)
        if found is not None:
            return found
        carried = self.carried.get(assortment, frozenset())
        affinity = _AFFINITY.get(channel, {})
        by_cat: dict[str, dict[str, list[SkuSpec]]] = defaultdict(lambda: defaultdict(list))
        for s in self.sellable:
            if s.code in carried and s.category_code in CATEGORY_WEIGHT:
                by_cat[s.category_code][s.spu_code].append(s)
        u = _Universe([], [], {}, {}, {}, {})
        for cat, spus in by_cat.items():
            weight = CATEGORY_WEIGHT[cat] * affinity.get(group_of(cat), 1.0)
            if weight <= 0:
                continue
            u.categories.append(cat)
            u.cat_base.append(weight)
            u.spus[cat] = list(spus)
            u.spu_base[cat] = [self._spu_weight.get(spu, 1.0) for spu in spus]
            moving = [(spu, w) for spu, w in zip(spus, u.spu_base[cat], strict=True) if spu in self._dynamic_spus]
            if moving:
                total = sum(u.spu_base[cat])
                u.dynamic[cat] = (total - sum(w for _, w in moving), total, moving)
            else:
                u.spu_cum[cat] = list(accumulate(u.spu_base[cat]))
            for spu, skus in spus.items():
                u.skus[spu] = skus
                u.sku_cum[spu] = list(accumulate(self._sku_weight[s.code] for s in skus))
        self._universes[key] = u
        return u

    def _draw(self, d: int, u: _Universe, accessory_only: bool = False) -> SkuSpec | None:
        rng = self.rng
        if d != self._cache_day:  # the weights below change from day to day only
            self._cache_day, self._cat_cum, self._spu_cum = d, {}, {}
        cum = self._cat_cum.get((id(u), accessory_only))
        if cum is None:
            factors = self.cat_factor[d]
            if u.dynamic:
                # A launch brings buyers to the category (not only share from its other products).
                factors = dict(factors)
                for cat, (steady, total, moving) in u.dynamic.items():
                    factors[cat] *= (steady + sum(w * self._spu_factor(spu, d) for spu, w in moving)) / total
            cum = list(
                accumulate(
                    0.0 if accessory_only and c not in ACCESSORY_CATEGORIES else b * factors[c]
                    for c, b in zip(u.categories, u.cat_base, strict=True)
                )
            )
            self._cat_cum[(id(u), accessory_only)] = cum
        if not cum or cum[-1] <= 0:
            return None
        for _ in range(8):
            cat = u.categories[_cum_pick(rng, cum)]
            spu_cum = u.spu_cum.get(cat) or self._spu_cum.get((id(u), cat))
            if spu_cum is None:
                spu_cum = list(
                    accumulate(
                        b * self._spu_factor(spu, d) for spu, b in zip(u.spus[cat], u.spu_base[cat], strict=True)
                    )
                )
                self._spu_cum[(id(u), cat)] = spu_cum
            if spu_cum[-1] <= 0:
                continue
            spu = u.spus[cat][_cum_pick(rng, spu_cum)]
            for _ in range(4):
                sku = u.skus[spu][_cum_pick(rng, u.sku_cum[spu])]
                if self._active(sku, d):
                    return sku
        return None

    def _basket(self, d: int, u: _Universe, carried: frozenset[str]) -> list[SkuSpec]:
        rng = self.rng
        primary = self._draw(d, u)
        if primary is None:
            return []
        items = [primary]
        group = group_of(primary.category_code)
        links = self.accessories.get(primary.code, [])
        if links and rng.random() < _ATTACH.get(group, 0.0):
            fits = [self.sku_by_code[c] for c in links if c in carried and self._active(self.sku_by_code[c], d)]
            k = (1, 1, 1, 2, 2, 3)[rng.randrange(6)]
            items += rng.sample(fits, min(k, len(fits)))
        if (group == "accessory" and rng.random() < 0.12) or rng.random() < 0.05:
            extra = self._draw(d, u, accessory_only=True)
            if extra is not None and extra not in items:
                items.append(extra)
        return items[:4]

    # ------------------------------------------------------------ the order loop

    def run(self) -> OrderHistory:
        rng = self.rng
        for d, day in enumerate(self.days):
            growth = _growth(d)
            for channel in ONLINE:
                lam = _ONLINE_BASE[channel] * self.volume * growth * online_factor(day, channel)
                for _ in range(_poisson(rng, lam)):
                    self._online_order(channel, d)
            footfall = store_factor(day) * growth * self.volume * _STORE_BASE
            for store in self.stores:
                for _ in range(_poisson(rng, footfall * self.store_size[store.code])):
                    self._pos_order(store, d)
        self.orders.sort(key=lambda o: (o.placed_at, o.number))
        return OrderHistory(
            seed=self.seed,
            first_day=self.first,
            last_day=self.last,
            cutoff=self.cutoff,
            customers=tuple(self.customers),
            orders=tuple(self.orders),
            launches={spu: self.first + timedelta(days=d) for spu, d in self.spu_launch.items()},
        )

    def _at(self, d: int, hour: float) -> datetime:
        """``hour`` (fractional, may exceed 24) after midnight of day ``d``, Beijing time."""
        if d >= len(self.day0):
            return self.day0[-1] + timedelta(days=d - len(self.day0) + 1, hours=hour)
        return self.day0[d] + timedelta(hours=hour)

    def _hour(self, d: int, cum: Sequence[float], first: int = 0) -> float:
        return first + _cum_pick(self.rng, cum) + self.rng.random()

    def _customer(self, city: str | None = None) -> Customer:
        if city is None:
            return self.customers[_cum_pick(self.rng, self.customer_cum)]
        found = self.city_customers.get(city)
        if found is None:
            return self.customers[_cum_pick(self.rng, self.customer_cum)]
        ids, cum = found
        return self.customers[ids[_cum_pick(self.rng, cum)]]

    def _number(self, d: int) -> str:
        prefix = "ZT" + self.ymd[d]
        while True:
            number = prefix + _b32(self.rng, 8)
            if number not in self.numbers:
                self.numbers.add(number)
                return number

    def _external_id(self, channel: str, d: int, store: str | None = None) -> str:
        rng = self.rng
        ymd = self.ymd[d]
        while True:
            if channel == "jd":
                ext = str(rng.randint(280_000_000_000, 329_999_999_999))
            elif channel == "tmall":
                ext = str(rng.randint(1_800_000_000_000_000_000, 4_999_999_999_999_999_999))
            elif channel == "meituan":
                ext = str(rng.randint(10**17, 10**18 - 1))
            else:
                key = (store or channel, d)
                self.seq[key] += 1
                n = self.seq[key]
                ext = f"{store}-{ymd}-{n:04d}" if store else f"{'W' if channel == 'web' else 'MP'}{ymd}{n:05d}"
            if (channel, ext) not in self.external:
                self.external.add((channel, ext))
                return ext

    def _price_lines(self, channel: str, d: int, items: list[SkuSpec]) -> list[HistLine]:
        rng = self.rng
        day = self.days[d]
        lift = _festival_lift(day)
        lines = []
        for i, sku in enumerate(items):
            accessory = sku.category_code in ACCESSORY_CATEGORIES
            r = rng.random()
            qty = (1 if r < 0.8 else 2 if r < 0.95 else 3) if accessory else (1 if r < 0.97 else 2)
            unit = self.prices.get((sku.code, channel), sku.sale_price_fen)
            gross = unit * qty
            pct = 0.0
            if channel == "pos":
                if lift > 1.0 or (10, 1) <= (day.month, day.day) <= (10, 7):
                    pct = rng.uniform(0.03, 0.06) if rng.random() < 0.4 else 0.0
                elif rng.random() < 0.12:
                    pct = rng.uniform(0.02, 0.05)  # member price
            elif lift >= 2.5:
                pct = rng.uniform(0.08, 0.18) if channel != "meituan" else rng.uniform(0.03, 0.06)
            elif lift > 1.0:
                pct = rng.uniform(0.04, 0.10) if rng.random() < 0.7 else 0.0
            elif rng.random() < 0.25:
                pct = rng.uniform(0.02, 0.05)
            discount = min(round(gross * pct / 100) * 100, max(0, gross - 100))
            lines.append(HistLine(i + 1, sku.code, sku.name[:255], qty, unit, discount, gross - discount))
        return lines

    def _coupon(self, channel: str, d: int, net: int) -> int:
        """An order-level coupon (满减) on festival days, online."""
        if channel in ("pos", "meituan"):
            return 0
        lift = _festival_lift(self.days[d])
        if lift >= 2.5 and self.rng.random() < 0.6:
            return min((net // 30_000) * 3_000, net // 5)
        if lift > 1.0 and self.rng.random() < 0.3:
            return min((net // 20_000) * 2_000, net // 5)
        return 0

    # ------------------------------------------------------------ one order

    def _online_order(self, channel: str, d: int) -> None:
        rng = self.rng
        r = rng.random()
        mode = "express"
        if channel == "meituan":
            mode = "same_city"
        elif channel == "miniapp":
            mode = "same_city" if r < 0.15 else "click_collect" if r < 0.25 else "express"
        elif channel == "web":
            mode = "click_collect" if r < 0.08 else "express"
        elif channel == "tmall":
            mode = "click_collect" if r < 0.03 else "express"
        if mode != "express" and not self.stores:
            return
        store: LocationSpec | None = None
        if mode == "express":
            customer = self._customer()
            lat, lon = customer.latitude, customer.longitude
            district, address = customer.district, customer.address
            u = self._universe(channel, CENTRAL_DC)
            carried = self.carried[CENTRAL_DC]
        else:
            seed_store = self.stores[_cum_pick(rng, self.store_cum)]
            customer = self._customer(seed_store.city)
            assert seed_store.latitude is not None
            assert seed_store.longitude is not None
            lat, lon = point_near(rng, seed_store.latitude, seed_store.longitude, 2.5)
            district, address = self._district(seed_store.city, lat, lon), street_address(rng)
            store = seed_store
            if mode == "same_city":
                store = min(self.stores_in_city[seed_store.city], key=lambda s: _km(lat, lon, *_coords(s)))
            u = self._universe("same_city" if mode == "same_city" else channel, store.code)
            carried = self.carried.get(store.code, frozenset())
        items = self._basket(d, u, carried)
        if not items:
            return
        lift = _festival_lift(self.days[d])
        if mode == "express":
            hour = self._hour(d, self.peak_cum if lift >= 2.5 else self.online_cum)
            if d == HISTORY_DAYS - 1 and hour >= 22:
                hour = 9 + rng.random() * 12  # late orders of the last day ship tomorrow: not history
        else:
            hour = self._hour(d, self.rider_cum if mode == "same_city" else self.store_cum_hours, 10)
        placed = self._at(d, hour)
        paid = placed + timedelta(seconds=min(720.0, 10.0 + rng.expovariate(1 / 120)))
        origin = store if store is not None else self._express_origin(channel, customer.city, items)
        lines = self._price_lines(channel, d, items)
        net = sum(ln.total_fen for ln in lines)
        coupon = self._coupon(channel, d, net)
        shipping = 0
        if mode == "express" and channel in ("web", "miniapp") and net - coupon < 9_900:
            shipping = 800
        elif mode == "same_city" and net - coupon < 9_900:
            shipping = 500
        goods = sum(ln.unit_price_fen * ln.quantity for ln in lines)
        total = net - coupon + shipping
        o = HistOrder(
            number=self._number(d),
            channel_code=channel,
            external_id=self._external_id(channel, d),
            status="completed",
            payment_status="paid",
            channel_status="completed",
            delivery_mode=mode,
            store_code=store.code if mode == "click_collect" and store is not None else None,
            customer_id=customer.id,
            buyer_phone=customer.phone if channel not in ("jd", "tmall") else "",
            buyer_name=customer.name if channel not in ("jd", "tmall") else "",
            buyer_unionid=customer.unionid if channel == "miniapp" else "",
            buyer_marketplace_id={"jd": customer.jd_pin, "tmall": customer.tmall_uid}.get(channel, ""),
            buyer_email=customer.email if channel == "web" else "",
            ship_name=customer.name if mode != "click_collect" else "",
            ship_phone=customer.phone if mode != "click_collect" else "",
            ship_province=customer.province if mode != "click_collect" else "",
            ship_city=customer.city if mode != "click_collect" else "",
            ship_district=district if mode != "click_collect" else "",
            ship_address=address if mode != "click_collect" else "",
            ship_postcode=customer.postcode if mode == "express" else "",
            ship_latitude=lat if mode != "click_collect" else None,
            ship_longitude=lon if mode != "click_collect" else None,
            goods_fen=goods,
            discount_fen=goods - net + coupon,
            shipping_fen=shipping,
            total_fen=total,
            paid_fen=total,
            refunded_fen=0,
            placed_at=placed,
            paid_at=paid,
            routed_at=paid + timedelta(seconds=2 + 6 * rng.random()),
            shipped_at=None,
            delivered_at=None,
            completed_at=None,
            cancelled_at=None,
            cancel_reason="",
            completed_by_buyer=False,
            lines=lines,
            location_code=origin.code,
            fulfilment_kind={"express": "ship", "same_city": "same_city", "click_collect": "pickup"}[mode],
            fulfilment_status="delivered",
            carrier="",
            tracking_no="",
            cost_fen=0,
            eta_at=paid,
        )
        if self._maybe_cancel(o):
            self.orders.append(o)
            return
        self._carrier(o, items)
        self._ship(o, d, origin, customer.city)
        self._returns(o)
        self.orders.append(o)

    def _pos_order(self, store: LocationSpec, d: int) -> None:
        rng = self.rng
        items = self._basket(d, self._universe("pos", store.code), self.carried.get(store.code, frozenset()))
        if not items:
            return
        placed = self._at(d, self._hour(d, self.store_cum_hours, 10))
        paid = placed + timedelta(seconds=rng.uniform(20, 90))
        member = self._customer(store.city) if rng.random() < 0.55 else None
        lines = self._price_lines("pos", d, items)
        goods = sum(ln.unit_price_fen * ln.quantity for ln in lines)
        total = sum(ln.total_fen for ln in lines)
        for ln in lines:
            ln.shipped = ln.quantity
        o = HistOrder(
            number=self._number(d),
            channel_code="pos",
            external_id=self._external_id("pos", d, store.code),
            status="completed",
            payment_status="paid",
            channel_status="completed",
            delivery_mode="pos",
            store_code=store.code,
            customer_id=member.id if member else None,
            buyer_phone=member.phone if member else "",
            buyer_name=member.name if member else "",
            buyer_unionid="",
            buyer_marketplace_id="",
            buyer_email="",
            ship_name="",
            ship_phone="",
            ship_province="",
            ship_city="",
            ship_district="",
            ship_address="",
            ship_postcode="",
            ship_latitude=None,
            ship_longitude=None,
            goods_fen=goods,
            discount_fen=goods - total,
            shipping_fen=0,
            total_fen=total,
            paid_fen=total,
            refunded_fen=0,
            placed_at=placed,
            paid_at=paid,
            routed_at=paid,
            shipped_at=paid,
            delivered_at=paid,
            completed_at=paid,
            cancelled_at=None,
            cancel_reason="",
            completed_by_buyer=False,
            lines=lines,
            location_code=store.code,
            fulfilment_kind="pos",
            fulfilment_status="delivered",
            carrier="",
            tracking_no="",
            cost_fen=0,
            eta_at=paid,
        )
        self._returns(o)
        self.orders.append(o)

    def _district(self, city: str, lat: float, lon: float) -> str:
        districts = CITIES[city][3] if city in CITIES else (("", lat, lon),)
        return min(districts, key=lambda x: _km(lat, lon, x[1], x[2]))[0]

    def _express_origin(self, channel: str, city: str, items: list[SkuSpec]) -> LocationSpec:
        """Parcels leave the buyer's regional DC when it holds everything, else the central DC;
        now and then a store in the buyer's city (ship from store) for the own channels."""
        rng = self.rng
        codes = {s.code for s in items}
        if channel in ("web", "miniapp") and rng.random() < 0.1:
            stores = [s for s in self.stores_in_city.get(city, []) if codes <= self.carried.get(s.code, frozenset())]
            if stores:
                return rng.choice(stores)
        dc = self.city_dc.get(city, CENTRAL_DC)
        if dc in self.locations and codes <= self.carried.get(dc, frozenset()) and rng.random() < 0.9:
            return self.locations[dc]
        return self.locations[CENTRAL_DC]

    def _carrier(self, o: HistOrder, items: list[SkuSpec]) -> None:
        rng = self.rng
        weight_kg = sum(s.weight_g * ln.quantity for s, ln in zip(items, o.lines, strict=True)) / 1000
        bulky = any(group_of(s.category_code) == "bulky" for s in items)
        if o.delivery_mode == "same_city":
            if o.channel_code == "meituan":
                o.carrier, o.tracking_no = "美团配送", "MT" + _digits(rng, 16)
            else:
                o.carrier, o.tracking_no = "达达秒送", "DD" + _digits(rng, 14)
            o.cost_fen = rng.choice((600, 700, 800, 900))
        elif o.delivery_mode == "express":
            if bulky:
                o.carrier, o.tracking_no = "日日顺物流", "RRS" + _digits(rng, 12)
                o.cost_fen = rng.randint(80, 150) * 100
            elif o.channel_code == "jd":
                o.carrier, o.tracking_no = "京东物流", "JDV" + _digits(rng, 12)
                o.cost_fen = 1_000 + round(200 * weight_kg)
            elif o.goods_fen >= 100_000:
                o.carrier, o.tracking_no = "顺丰速运", "SF" + _digits(rng, 13)
                o.cost_fen = 1_400 + round(300 * weight_kg)
            else:
                o.carrier, prefix, n = rng.choice(
                    (("中通快递", "7", 14), ("圆通速递", "YT", 13), ("韵达快递", "43", 13))
                )
                o.tracking_no = prefix + _digits(rng, n)
                o.cost_fen = 800 + round(150 * weight_kg)

    def _ship(self, o: HistOrder, d: int, origin: LocationSpec, city: str) -> None:
        """Shipment, delivery and completion times; what lies beyond the end of history is not
        there yet (the order is still in transit, or delivered and not yet completed)."""
        rng = self.rng
        assert o.paid_at is not None
        paid_h = (o.paid_at - self.day0[d]).total_seconds() / 3600
        if o.delivery_mode == "same_city":
            shipped = o.paid_at + timedelta(minutes=rng.uniform(8, 25))
            delivered = shipped + timedelta(minutes=rng.uniform(18, 45))
        elif o.delivery_mode == "click_collect":
            if paid_h < 18:
                shipped = self._at(d, rng.uniform(max(paid_h + 1.5, 12.0), 21.5))
            else:
                shipped = self._at(d + 1, rng.uniform(11.0, 21.5))
            shipped = self._before_cutoff(shipped, o.paid_at)
            delivered = shipped + timedelta(minutes=rng.uniform(1, 5))
        else:
            ship_day, ship_h = (d, rng.uniform(16.0, 20.5)) if paid_h < 15 else (d + 1, rng.uniform(10.0, 18.0))
            backlog = 0
            if _festival_lift(self.days[d]) >= 2.5:
                backlog = rng.choice((1, 1, 2))
                ship_day += backlog
            if ship_day < HISTORY_DAYS:
                sf = _spring_festival_offset(self.days[ship_day])
                if sf is not None and -6 <= sf <= 6:
                    ship_day += 7 - sf  # the couriers are back
            shipped = self._before_cutoff(self._at(ship_day, ship_h), o.paid_at)
            region = self.city_region.get(city, "")
            if origin.city == city or origin.province == CITIES.get(city, ("",))[0]:
                transit = 1
            elif origin.region == region:
                transit = rng.choice((1, 2))
            else:
                transit = rng.choice((2, 3))
            delivered = day_start(beijing_date(shipped) + timedelta(days=transit + min(backlog, 1)))
            delivered += timedelta(hours=rng.uniform(9.0, 20.0))
        o.eta_at = delivered
        o.shipped_at = shipped
        for ln in o.lines:
            ln.shipped = ln.quantity
        if rng.random() < 0.4:
            completed = delivered + timedelta(days=rng.uniform(0.2, 4.0))
            o.completed_by_buyer = True
        else:
            completed = delivered + timedelta(days=AUTO_COMPLETE_DAYS)
        if delivered >= self.cutoff:
            o.status, o.fulfilment_status, o.channel_status = "shipped", "shipped", "paid"
            return
        o.delivered_at = delivered
        if completed >= self.cutoff:
            o.status, o.channel_status = "delivered", "paid"
            return
        o.completed_at = completed

    def _before_cutoff(self, moment: datetime, after: datetime) -> datetime:
        """The last day's late shipments leave before midnight (the history ends there)."""
        if moment < self.cutoff - timedelta(minutes=5):
            return moment
        return max(after + timedelta(minutes=5), self.cutoff - timedelta(minutes=self.rng.uniform(10, 50)))

    def _maybe_cancel(self, o: HistOrder) -> bool:
        """A few online orders are never paid (the hold lapses) or are cancelled by the buyer
        before shipment; the stock they held went back."""
        rng = self.rng
        r = rng.random()
        assert o.paid_at is not None
        if r < 0.02:
            at = o.placed_at + timedelta(minutes=30)
            reason = "not paid in time"
            o.paid_at, o.paid_fen, o.payment_status = None, 0, "unpaid"
            o.routed_at = o.placed_at + timedelta(seconds=2 + 6 * rng.random())
        elif r < 0.032:
            at = o.paid_at + timedelta(minutes=rng.uniform(3, 180))
            reason = "cancelled by the buyer"
        else:
            return False
        settled = at + timedelta(minutes=rng.uniform(5, 600))
        if settled >= self.cutoff:
            # Too close to the end of history to have happened: the order goes ahead after all.
            if o.paid_at is None:
                o.paid_at, o.paid_fen, o.payment_status = o.placed_at + timedelta(seconds=40), o.total_fen, "paid"
                o.routed_at = o.paid_at + timedelta(seconds=3)
            return False
        o.status, o.fulfilment_status, o.channel_status = "cancelled", "cancelled", "cancelled"
        o.cancelled_at, o.cancel_reason = at, reason
        for ln in o.lines:
            ln.cancelled = ln.quantity
        if o.paid_fen > 0:
            o.refunds.append(HistRefund(o.paid_fen, f"cancelled: {reason}", at, settled))
            o.refunded_fen, o.payment_status = o.paid_fen, "refunded"
        return True

    def _returns(self, o: HistOrder) -> None:
        """七天无理由: some delivered lines come back within the window, to the location that
        sent them (or the selling store); most are restocked, damaged ones scrapped."""
        rng = self.rng
        if o.delivered_at is None:
            return
        rate = RETURN_RATE[o.channel_code]
        picked = [ln for ln in o.lines if rng.random() < rate]
        if not picked:
            return
        reason, _weight, scrap_chance = _RETURN_REASONS[_cum_pick(rng, _RETURN_REASON_CUM)]
        requested = o.delivered_at + timedelta(days=rng.uniform(0.2, RETURN_WINDOW_DAYS - 0.1))
        if requested >= self.cutoff:
            return
        in_store = o.delivery_mode in ("pos", "click_collect", "same_city")
        if o.delivery_mode == "pos":
            requested = day_start(beijing_date(requested)) + timedelta(hours=rng.uniform(10.0, 21.5))
            latest = o.delivered_at + timedelta(days=RETURN_WINDOW_DAYS, minutes=-rng.uniform(5, 60))
            requested = min(requested, latest)
            if requested < o.delivered_at + timedelta(hours=1):  # the same day, later on
                requested = o.delivered_at + timedelta(hours=rng.uniform(1.0, 3.0))
            decided: datetime | None = requested + timedelta(minutes=rng.uniform(2, 10))
            received: datetime | None = decided
        else:
            decided = requested + timedelta(hours=rng.uniform(0.1, 6.0))
            days = rng.uniform(0.3, 2.0) if in_store else rng.uniform(2.0, 5.0)
            received = day_start(beijing_date(decided + timedelta(days=days))) + timedelta(hours=rng.uniform(10, 18))
            received = max(received, decided + timedelta(hours=1))
        status = "received"
        assert decided is not None
        assert received is not None
        if decided >= self.cutoff:
            status, decided, received = "requested", None, None
        elif received >= self.cutoff:
            status, received = "approved", None
        goods_net = sum(ln.total_fen for ln in o.lines)
        paid_goods = o.total_fen - o.shipping_fen
        rlines = []
        for ln in picked:
            qty = ln.quantity if ln.quantity == 1 or rng.random() < 0.7 else 1
            refund = (ln.total_fen * qty * paid_goods) // (ln.quantity * goods_net) if goods_net > 0 else 0
            disposition = ""
            if received is not None:
                disposition = "scrap" if rng.random() < scrap_chance else "restock"
                ln.returned += qty
            rlines.append(HistReturnLine(ln.line_no, qty, refund, disposition))
        ret = HistReturn(
            number=f"{o.number}-R1",
            status=status,
            reason=reason,
            location_code=o.location_code,
            requested_at=requested,
            decided_at=decided,
            received_at=received,
            refund_fen=sum(rl.refund_fen for rl in rlines),
            lines=rlines,
        )
        o.returns.append(ret)
        if received is not None and ret.refund_fen > 0:
            settled: datetime | None = received + timedelta(hours=rng.uniform(1, 48))
            if settled is not None and settled >= self.cutoff:
                settled = None
            o.refunds.append(HistRefund(ret.refund_fen, f"return {ret.number}", received, settled, ret.number))
            if settled is not None:
                o.refunded_fen += ret.refund_fen
                o.payment_status = "refunded" if o.refunded_fen >= o.paid_fen else "partially_refunded"


def _coords(loc: LocationSpec) -> tuple[float, float]:
    assert loc.latitude is not None
    assert loc.longitude is not None
    return loc.latitude, loc.longitude


def _digits(rng: random.Random, n: int) -> str:
    return f"{rng.randrange(10**n):0{n}d}"


# ---------------------------------------------------------------- the timeline


def timeline(o: HistOrder) -> list[TimelineEntry]:
    """The order's condensed timeline, as the order center would have written it."""
    out = [TimelineEntry(o.placed_at, "status", "", "created", f"order received from {o.channel_code}")]
    if o.delivery_mode == "pos":
        assert o.paid_at is not None
        assert o.completed_at is not None
        out.append(TimelineEntry(o.paid_at, "payment", "", "", f"paid {o.paid_fen} fen at the till"))
        out.append(TimelineEntry(o.completed_at, "status", "created", "completed", "sold in store", True))
    else:
        if o.paid_at is not None:
            out.append(TimelineEntry(o.paid_at, "payment", "", "", f"paid {o.paid_fen} fen"))
        out.append(TimelineEntry(o.routed_at, "status", "created", "routed", f"routed to {o.location_code}"))
        if o.cancelled_at is not None:
            out.append(TimelineEntry(o.cancelled_at, "status", "routed", "cancelled", f"cancelled: {o.cancel_reason}"))
        elif o.shipped_at is not None:
            how = "handed over at the store" if o.delivery_mode == "click_collect" else f"{o.carrier} {o.tracking_no}"
            out.append(
                TimelineEntry(
                    o.shipped_at, "status", "routed", "shipped", f"{o.fulfilment_number} shipped: {how}", True
                )
            )
            if o.delivered_at is not None:
                said = {"click_collect": "collected at the store", "same_city": "delivered by the rider"}
                out.append(
                    TimelineEntry(
                        o.delivered_at,
                        "status",
                        "shipped",
                        "delivered",
                        said.get(o.delivery_mode, "signed for by the buyer"),
                        True,
                    )
                )
            if o.completed_at is not None:
                why = (
                    "confirmed by the buyer"
                    if o.completed_by_buyer
                    else f"no complaint within {AUTO_COMPLETE_DAYS} days"
                )
                out.append(TimelineEntry(o.completed_at, "status", "delivered", "completed", why))
    for r in o.returns:
        out.append(TimelineEntry(r.requested_at, "return", "", "", f"return {r.number} requested: {r.reason}"))
        if r.decided_at is not None:
            out.append(TimelineEntry(r.decided_at, "return", "", "", f"return {r.number} approved"))
        if r.received_at is not None:
            out.append(
                TimelineEntry(r.received_at, "return", "", "", f"return {r.number} received at {r.location_code}")
            )
    for f in o.refunds:
        if f.return_number is not None or f.settled_at is None:
            out.append(TimelineEntry(f.created_at, "refund", "", "", f"refund {f.amount_fen} fen pending: {f.reason}"))
        if f.settled_at is not None:
            out.append(TimelineEntry(f.settled_at, "refund", "", "", f"refund {f.amount_fen} fen succeeded"))
    out.sort(key=lambda e: e.at)
    return out
