"""The demo retailer's network: DCs, stores, suppliers, channels, users and an API key.

A central DC in Wuhan supplies three regional DCs (华东 Suzhou, 华南 Dongguan, 西南 Chengdu)
and the stores of 华中 and 华北 directly. Stores sit on real shopping streets of nine cities,
several within 3 km of each other in the big ones (1-hour delivery from the nearest store).
Coordinates are WGS-84 and approximate; the retailer itself is invented.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from zhongtai.demo.catalog_data import Scale

LocationType = Literal["central_dc", "regional_dc", "store", "supplier", "in_transit"]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class LocationSpec:
    code: str
    name: str
    name_en: str
    type: LocationType
    region: str
    province: str
    city: str
    address: str
    latitude: float | None
    longitude: float | None
    # (day, opens, closes) in the store's local time; empty for round-the-clock DCs.
    opening_hours: tuple[tuple[str, str, str], ...]
    parent_code: str | None
    timezone: str = TIMEZONE

    def opening_hours_dict(self) -> dict[str, list[str]]:
        return {day: [opens, closes] for day, opens, closes in self.opening_hours}


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    code: str
    name: str
    name_en: str
    kind: str
    platform: str
    # How the channel's order payloads are read (orders/adapters.py): Tmall pushes TOP-style trades.
    adapter: str = "zhongtai"


@dataclass(frozen=True, slots=True)
class UserSpec:
    username: str
    display_name: str
    role: str
    store_codes: tuple[str, ...] = ()
    locale: str = "zh-CN"


@dataclass(frozen=True, slots=True)
class ApiKeySpec:
    name: str
    role: str
    channel_code: str | None


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    seed: int
    scale: Scale
    locations: tuple[LocationSpec, ...]
    channels: tuple[ChannelSpec, ...]
    users: tuple[UserSpec, ...]
    api_keys: tuple[ApiKeySpec, ...]

    def of_type(self, *types: LocationType) -> tuple[LocationSpec, ...]:
        return tuple(loc for loc in self.locations if loc.type in types)

    @property
    def stores(self) -> tuple[LocationSpec, ...]:
        return self.of_type("store")

    def location_by_code(self) -> dict[str, LocationSpec]:
        return {loc.code: loc for loc in self.locations}


CENTRAL_DC = "DC-WH"
EAST_DC = "RDC-EC"
SOUTH_DC = "RDC-SC"
SOUTHWEST_DC = "RDC-SW"
TRANSIT = "TRANSIT"

_DCS: tuple[LocationSpec, ...] = (
    LocationSpec(
        CENTRAL_DC, "云启华中中央仓", "Yunqi Central DC (Wuhan)", "central_dc", "华中", "湖北省", "武汉市",
        "东西湖区临空港大道 1 号", 30.6705, 114.1325, (), None,
    ),
    LocationSpec(
        EAST_DC, "云启华东区域仓", "Yunqi East China DC (Suzhou)", "regional_dc", "华东", "江苏省", "苏州市",
        "相城区阳澄湖西路 88 号", 31.4325, 120.6420, (), CENTRAL_DC,
    ),
    LocationSpec(
        SOUTH_DC, "云启华南区域仓", "Yunqi South China DC (Dongguan)", "regional_dc", "华南", "广东省", "东莞市",
        "麻涌镇新沙港工业区 8 号", 23.0580, 113.5900, (), CENTRAL_DC,
    ),
    LocationSpec(
        SOUTHWEST_DC, "云启西南区域仓", "Yunqi Southwest DC (Chengdu)", "regional_dc", "西南", "四川省", "成都市",
        "双流区西航港大道 99 号", 30.5505, 103.9535, (), CENTRAL_DC,
    ),
)  # fmt: skip

SUPPLIERS: tuple[LocationSpec, ...] = (
    LocationSpec(
        "SUP-YQDG", "云启智能制造（东莞）有限公司", "Yunqi Smart Manufacturing (Dongguan)", "supplier", "华南",
        "广东省", "东莞市", "松山湖高新区工业东路 18 号", 22.9125, 113.8880, (), None,
    ),
    LocationSpec(
        "SUP-YQFS", "云启家电制造（佛山）有限公司", "Yunqi Home Appliances (Foshan)", "supplier", "华南",
        "广东省", "佛山市", "顺德区北滘镇工业大道 20 号", 22.9255, 113.2060, (), None,
    ),
    LocationSpec(
        "SUP-SNSZ", "深圳闪能科技有限公司", "Shenzhen Shanneng Technology", "supplier", "华南", "广东省",
        "深圳市", "宝安区福永街道凤凰第四工业区 3 栋", 22.6720, 113.8180, (), None,
    ),
)  # fmt: skip

_TRANSIT = LocationSpec(
    TRANSIT, "在途虚拟仓", "In transit (virtual)", "in_transit", "", "", "", "", None, None, (), None
)

# city -> (province, region, parent DC, English name)
_CITIES: dict[str, tuple[str, str, str, str]] = {
    "上海市": ("上海市", "华东", EAST_DC, "Shanghai"),
    "北京市": ("北京市", "华北", CENTRAL_DC, "Beijing"),
    "广州市": ("广东省", "华南", SOUTH_DC, "Guangzhou"),
    "深圳市": ("广东省", "华南", SOUTH_DC, "Shenzhen"),
    "杭州市": ("浙江省", "华东", EAST_DC, "Hangzhou"),
    "成都市": ("四川省", "西南", SOUTHWEST_DC, "Chengdu"),
    "武汉市": ("湖北省", "华中", CENTRAL_DC, "Wuhan"),
    "南京市": ("江苏省", "华东", EAST_DC, "Nanjing"),
    "苏州市": ("江苏省", "华东", EAST_DC, "Suzhou"),
}

# city -> (code, short name zh, short name en, address, lat, lon, in a mall, in the small demo)
_STORES: dict[str, tuple[tuple[str, str, str, str, float, float, bool, bool], ...]] = {
    "上海市": (
        ("S-SH01", "南京东路旗舰店", "Nanjing Rd E. Flagship", "黄浦区南京东路 299 号", 31.2366, 121.4795, False, True),
        ("S-SH02", "淮海中路店", "Huaihai Road", "黄浦区淮海中路 523 号", 31.2205, 121.4680, False, True),
        ("S-SH03", "静安寺店", "Jing'an Temple", "静安区南京西路 1618 号", 31.2240, 121.4470, True, True),
        ("S-SH04", "陆家嘴店", "Lujiazui", "浦东新区世纪大道 8 号", 31.2370, 121.5060, True, False),
        ("S-SH05", "徐家汇店", "Xujiahui", "徐汇区漕溪北路 28 号", 31.1945, 121.4375, True, False),
        ("S-SH06", "五角场店", "Wujiaochang", "杨浦区淞沪路 8 号", 31.3005, 121.5145, True, False),
        ("S-SH07", "虹桥天地店", "Hongqiao", "闵行区申长路 688 号", 31.1975, 121.3195, True, False),
    ),
    "北京市": (
        ("S-BJ01", "西单旗舰店", "Xidan Flagship", "西城区西单北大街 131 号", 39.9110, 116.3740, False, True),
        ("S-BJ02", "王府井店", "Wangfujing", "东城区王府井大街 255 号", 39.9135, 116.4070, False, True),
        ("S-BJ03", "三里屯店", "Sanlitun", "朝阳区三里屯路 19 号", 39.9335, 116.4545, True, False),
        ("S-BJ04", "国贸店", "Guomao", "朝阳区建国门外大街 1 号", 39.9090, 116.4595, True, False),
        ("S-BJ05", "中关村店", "Zhongguancun", "海淀区中关村大街 15 号", 39.9830, 116.3165, True, False),
    ),
    "广州市": (
        ("S-GZ01", "天河路旗舰店", "Tianhe Road Flagship", "天河区天河路 208 号", 23.1325, 113.3275, True, True),
        ("S-GZ02", "珠江新城店", "Zhujiang New Town", "天河区花城大道 85 号", 23.1200, 113.3245, True, False),
        ("S-GZ03", "北京路店", "Beijing Road", "越秀区北京路 238 号", 23.1255, 113.2705, False, False),
        ("S-GZ04", "番禺店", "Panyu", "番禺区市桥街富华西路 2 号", 22.9385, 113.3605, True, False),
    ),
    "深圳市": (
        ("S-SZ01", "华强北旗舰店", "Huaqiangbei Flagship", "福田区华强北路 1019 号", 22.5445, 114.0875, False, True),
        ("S-SZ02", "福田中心店", "Futian Centre", "福田区福华三路 268 号", 22.5365, 114.0625, True, False),
        ("S-SZ03", "南山科技园店", "Nanshan Science Park", "南山区科苑南路 2666 号", 22.5175, 113.9450, True, False),
        ("S-SZ04", "宝安中心店", "Bao'an Centre", "宝安区新湖路 99 号", 22.5565, 113.8835, True, False),
        ("S-SZ05", "龙华店", "Longhua", "龙华区人民路 4022 号", 22.6565, 114.0255, True, False),
    ),
    "杭州市": (
        ("S-HZ01", "湖滨旗舰店", "Hubin Flagship", "上城区延安路 258 号", 30.2590, 120.1640, False, True),
        ("S-HZ02", "武林店", "Wulin", "拱墅区延安路 530 号", 30.2735, 120.1635, True, False),
        ("S-HZ03", "滨江店", "Binjiang", "滨江区江南大道 228 号", 30.2085, 120.2110, True, False),
    ),
    "成都市": (
        ("S-CD01", "春熙路旗舰店", "Chunxi Road Flagship", "锦江区春熙路 18 号", 30.6555, 104.0805, False, True),
        ("S-CD02", "天府广场店", "Tianfu Square", "青羊区人民南路一段 86 号", 30.6575, 104.0660, True, False),
        ("S-CD03", "高新店", "Hi-Tech Zone", "高新区天府大道北段 1700 号", 30.5745, 104.0665, True, False),
    ),
    "武汉市": (
        ("S-WH01", "江汉路旗舰店", "Jianghan Road Flagship", "江汉区江汉路 118 号", 30.5805, 114.2880, False, True),
        ("S-WH02", "光谷店", "Optics Valley", "洪山区珞喻路 766 号", 30.5055, 114.3985, True, False),
        ("S-WH03", "楚河汉街店", "Chuhe Hanjie", "武昌区楚河汉街 1 号", 30.5565, 114.3385, False, False),
    ),
    "南京市": (
        ("S-NJ01", "新街口旗舰店", "Xinjiekou Flagship", "秦淮区中山路 18 号", 32.0420, 118.7845, True, False),
        ("S-NJ02", "河西店", "Hexi", "建邺区江东中路 98 号", 32.0040, 118.7310, True, False),
        ("S-NJ03", "仙林店", "Xianlin", "栖霞区仙林大道 18 号", 32.1045, 118.9140, True, False),
    ),
    "苏州市": (
        ("S-SU01", "观前街店", "Guanqian Street", "姑苏区观前街 245 号", 31.3105, 120.6265, False, False),
        ("S-SU02", "园区店", "Industrial Park", "工业园区苏州大道东 265 号", 31.3175, 120.6705, True, False),
    ),
}  # fmt: skip

CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec("web", "云启官方商城", "Yunqi Official Store", "web_shop", "own"),
    ChannelSpec("jd", "云启京东自营旗舰店", "Yunqi JD Flagship Store", "marketplace", "jd"),
    ChannelSpec("tmall", "云启天猫旗舰店", "Yunqi Tmall Flagship Store", "marketplace", "tmall", "marketplace"),
    ChannelSpec("pos", "门店POS", "Store POS", "pos", "own"),
    ChannelSpec("miniapp", "云启微信小程序", "Yunqi WeChat Mini Program", "mini_program", "wechat"),
    ChannelSpec("meituan", "云启美团闪购", "Yunqi on Meituan Instant Retail", "instant_retail", "meituan"),
)
ONLINE_CHANNELS = ("web", "jd", "tmall", "miniapp", "meituan")

USERS: tuple[UserSpec, ...] = (
    UserSpec("admin", "系统管理员", "admin"),
    UserSpec("ops", "陈思远（总部运营）", "ops"),
    UserSpec("manager_sh", "李娜（上海店长）", "store_manager", ("S-SH01", "S-SH02")),
    UserSpec("guide_sh01", "王磊（南京东路导购）", "guide", ("S-SH01",)),
    UserSpec("cs", "赵敏（客服）", "cs_agent"),
    UserSpec("analyst", "Zhou Jie (analyst)", "analyst", locale="en"),
)
API_KEYS: tuple[ApiKeySpec, ...] = (ApiKeySpec("demo integrator", "integrator", None),)


def _hours(rng: random.Random, in_mall: bool) -> tuple[tuple[str, str, str], ...]:
    """Mall stores keep the mall's hours; street stores open earlier and stay late at weekends."""
    if in_mall:
        closes = rng.choice(("22:00", "22:00", "21:30"))
        return tuple((d, "10:00", closes) for d in DAYS)
    opens = rng.choice(("09:30", "10:00"))
    late = rng.choice(("22:00", "22:30"))
    return tuple((d, opens, late if d in ("fri", "sat") else "22:00") for d in DAYS)


def build_network(seed: int, scale: Scale = "full") -> NetworkPlan:
    if scale not in ("small", "full"):
        raise ValueError(f"scale is small or full, got {scale!r}")
    rng = random.Random(f"zhongtai-demo-network-{seed}")
    stores = []
    rows = [(city, *row) for city, city_rows in _STORES.items() for row in city_rows]
    for city, code, short, short_en, address, lat, lon, in_mall, in_small in rows:
        hours = _hours(rng, in_mall)
        if scale == "small" and not in_small:
            continue
        province, region, parent, city_en = _CITIES[city]
        stores.append(
            LocationSpec(
                code=code,
                name=f"云启{city.removesuffix('市')}{short}",
                name_en=f"Yunqi {city_en} {short_en}",
                type="store",
                region=region,
                province=province,
                city=city,
                address=address,
                latitude=lat,
                longitude=lon,
                opening_hours=hours,
                parent_code=parent,
            )
        )
    return NetworkPlan(
        seed=seed,
        scale=scale,
        locations=(*_DCS, *SUPPLIERS, _TRANSIT, *stores),
        channels=CHANNELS,
        users=USERS,
        api_keys=API_KEYS,
    )
