"""The demo retailer's catalog, generated deterministically from a seed.

云启 Yunqi is an invented 3C and home-appliance brand (phones, laptops, gaming desktops,
monitors, smart toilets, laundry and small appliances) with a few invented partner brands for
accessories. The product families below are fixed; the seed decides what a real catalog leaves
to chance: promotions, unit costs, channel prices, barcodes, serial prefixes, which colours are
discontinued and a few tags.

Everything here is plain frozen data. ``zhongtai.demo.loader`` turns it into catalog service
calls; the unit tests check it without a database.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from itertools import pairwise, product
from typing import Literal

from zhongtai.demo.check_digits import ean13

ParamValue = str | int | float
Pairs = tuple[tuple[str, ParamValue], ...]
Scale = Literal["small", "full"]
SerialKind = Literal["imei", "sn"]


@dataclass(frozen=True, slots=True)
class BrandSpec:
    code: str
    name: str
    name_en: str


@dataclass(frozen=True, slots=True)
class CategorySpec:
    code: str
    name: str
    name_en: str
    parent_code: str | None
    sort_order: int


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    code: str
    name: str
    name_en: str
    kind: Literal["text", "number", "enum"]
    unit: str | None
    options: tuple[str, ...]
    level: Literal["spu", "sku"]


@dataclass(frozen=True, slots=True)
class SpuSpec:
    code: str
    name: str
    name_en: str
    brand_code: str
    category_code: str
    description: str
    selling_points: tuple[str, ...]
    parameters: Pairs
    tags: tuple[str, ...]
    lifecycle: str


@dataclass(frozen=True, slots=True)
class SkuSpec:
    code: str
    spu_code: str
    category_code: str
    name: str
    name_en: str
    sale_attributes: Pairs
    list_price_fen: int
    sale_price_fen: int
    unit_cost_fen: int
    barcodes: tuple[str, ...]
    # How the physical units are identified: IMEI for phones, a maker's serial for computers
    # and monitors, nothing for everything else.
    serial_kind: SerialKind | None
    serial_prefix: str
    lifecycle: str
    tags: tuple[str, ...]
    weight_g: int

    @property
    def serial_tracked(self) -> bool:
        return self.serial_kind is not None


@dataclass(frozen=True, slots=True)
class ChannelPriceSpec:
    sku_code: str
    channel_code: str
    price_fen: int


@dataclass(frozen=True, slots=True)
class SkuLinkSpec:
    sku_code: str
    linked_sku_code: str
    kind: Literal["related", "accessory"]


@dataclass(frozen=True, slots=True)
class CatalogPlan:
    seed: int
    scale: Scale
    brands: tuple[BrandSpec, ...]
    categories: tuple[CategorySpec, ...]
    attributes: tuple[AttributeSpec, ...]
    spus: tuple[SpuSpec, ...]
    skus: tuple[SkuSpec, ...]
    channel_prices: tuple[ChannelPriceSpec, ...]
    links: tuple[SkuLinkSpec, ...]

    def sku_by_code(self) -> dict[str, SkuSpec]:
        return {s.code: s for s in self.skus}

    def spu_by_code(self) -> dict[str, SpuSpec]:
        return {s.code: s for s in self.spus}


# ---------------------------------------------------------------- fixed reference data

BRAND = BrandSpec("yunqi", "云启", "Yunqi")
PARTNER_BRANDS = (
    BrandSpec("shenglan", "声岚", "Shenglan Audio"),
    BrandSpec("dunjia", "盾甲", "Dunjia"),
    BrandSpec("shanneng", "闪能", "Shanneng Power"),
    BrandSpec("jiangong", "键工坊", "Jiangong Works"),
)
BRANDS = (BRAND, *PARTNER_BRANDS)
_BRAND_BY_CODE = {b.code: b for b in BRANDS}

# (code, zh, en, parent)
_CATEGORY_ROWS: tuple[tuple[str, str, str, str | None], ...] = (
    ("phones", "手机通讯", "Phones", None),
    ("phone", "手机", "Mobile phones", "phones"),
    ("tablet", "平板电脑", "Tablets", "phones"),
    ("wearable", "智能穿戴", "Wearables", "phones"),
    ("computers", "电脑办公", "Computers", None),
    ("laptop", "笔记本电脑", "Laptops", "computers"),
    ("gaming_desktop", "游戏台式机", "Gaming desktops", "computers"),
    ("monitor", "显示器", "Monitors", "computers"),
    ("smart_bathroom", "智能卫浴", "Smart bathroom", None),
    ("smart_toilet_seat", "智能马桶盖", "Smart toilet seats", "smart_bathroom"),
    ("smart_toilet", "智能马桶", "Smart toilets", "smart_bathroom"),
    ("home_appliances", "家用电器", "Home appliances", None),
    ("laundry", "洗烘", "Laundry", "home_appliances"),
    ("washer_dryer", "洗烘一体机", "Washer-dryers", "laundry"),
    ("clothes_dryer", "干衣机", "Clothes dryers", "laundry"),
    ("small_appliances", "小家电", "Small appliances", "home_appliances"),
    ("air_purifier", "空气净化器", "Air purifiers", "small_appliances"),
    ("robot_vacuum", "扫地机器人", "Robot vacuums", "small_appliances"),
    ("rice_cooker", "电饭煲", "Rice cookers", "small_appliances"),
    ("hair_dryer", "吹风机", "Hair dryers", "small_appliances"),
    ("accessories", "数码配件", "Accessories", None),
    ("phone_accessories", "手机配件", "Phone accessories", "accessories"),
    ("phone_case", "手机保护壳", "Phone cases", "phone_accessories"),
    ("screen_protector", "手机贴膜", "Screen protectors", "phone_accessories"),
    ("charger", "充电器", "Chargers", "phone_accessories"),
    ("cable", "数据线", "Cables", "phone_accessories"),
    ("power_bank", "移动电源", "Power banks", "phone_accessories"),
    ("computer_accessories", "电脑配件", "Computer accessories", "accessories"),
    ("mouse", "鼠标", "Mice", "computer_accessories"),
    ("keyboard", "键盘", "Keyboards", "computer_accessories"),
    ("laptop_bag", "电脑包", "Laptop bags", "computer_accessories"),
    ("monitor_stand", "显示器支架", "Monitor stands", "computer_accessories"),
    ("tablet_accessory", "平板配件", "Tablet accessories", "computer_accessories"),
    ("audio", "影音", "Audio", "accessories"),
    ("earphones", "耳机", "Earphones & headsets", "audio"),
    ("appliance_parts", "家电配件", "Appliance parts", "accessories"),
    ("filter", "滤芯", "Filters", "appliance_parts"),
    ("vacuum_kit", "扫地机耗材", "Robot vacuum consumables", "appliance_parts"),
)


def _categories() -> tuple[CategorySpec, ...]:
    order: dict[str | None, int] = {}
    out = []
    for code, zh, en, parent in _CATEGORY_ROWS:
        order[parent] = order.get(parent, 0) + 1
        out.append(CategorySpec(code, zh, en, parent, order[parent] * 10))
    return tuple(out)


CATEGORIES = _categories()

# Sale prices (yuan) a shopper would find believable for each leaf category; the unit tests
# hold the generator to them.
PRICE_BANDS_YUAN: dict[str, tuple[int, int]] = {
    "phone": (1_299, 6_999),
    "tablet": (1_299, 4_999),
    "wearable": (199, 1_999),
    "laptop": (3_999, 12_999),
    "gaming_desktop": (3_499, 16_999),
    "monitor": (699, 4_999),
    "smart_toilet_seat": (1_999, 5_999),
    "smart_toilet": (2_999, 5_999),
    "washer_dryer": (2_499, 5_999),
    "clothes_dryer": (2_499, 5_999),
    "air_purifier": (599, 2_999),
    "robot_vacuum": (1_499, 4_999),
    "rice_cooker": (199, 999),
    "hair_dryer": (129, 999),
    "phone_case": (29, 399),
    "screen_protector": (29, 399),
    "charger": (29, 399),
    "cable": (29, 399),
    "power_bank": (29, 399),
    "mouse": (29, 399),
    "keyboard": (29, 399),
    "laptop_bag": (29, 399),
    "monitor_stand": (29, 399),
    "tablet_accessory": (29, 399),
    "earphones": (29, 399),
    "filter": (29, 399),
    "vacuum_kit": (29, 399),
}

# Standard cost as a share of the sale price (percent): thin margins on phones and computers,
# fat ones on accessories.
_COST_PCT: dict[str, tuple[int, int]] = {
    "phone": (74, 80),
    "tablet": (70, 78),
    "laptop": (75, 80),
    "gaming_desktop": (74, 80),
    "monitor": (68, 76),
}
_DEFAULT_COST_PCT = (62, 72)
_ACCESSORY_COST_PCT = (55, 65)
ACCESSORY_CATEGORIES = frozenset(
    c for c, *_ in _CATEGORY_ROWS if c in PRICE_BANDS_YUAN and PRICE_BANDS_YUAN[c][1] <= 399
)

COLORS: dict[str, tuple[str, str]] = {
    "BK": ("曜石黑", "Obsidian Black"),
    "WH": ("冰川白", "Glacier White"),
    "BL": ("远峰蓝", "Sierra Blue"),
    "GN": ("青山绿", "Mountain Green"),
    "PK": ("樱花粉", "Sakura Pink"),
    "PU": ("暮光紫", "Twilight Purple"),
    "SV": ("星光银", "Starlight Silver"),
    "GY": ("深空灰", "Space Grey"),
    "GD": ("流光金", "Flowing Gold"),
    "CL": ("透明", "Clear"),
}

_CPUS = (
    "骁龙 8 Elite",
    "骁龙 8 Gen 3",
    "骁龙 8 Gen 2",
    "骁龙 7 Gen 3",
    "骁龙 4 Gen 2",
    "天玑 8300",
    "天玑 7050",
    "酷睿 Ultra 5 125H",
    "酷睿 Ultra 7 155H",
    "酷睿 Ultra 9 185H",
    "酷睿 i7-13700H",
    "酷睿 i7-13650HX",
    "酷睿 i9-14900HX",
    "酷睿 i5-14400F",
    "酷睿 i7-14700F",
    "酷睿 i9-14900KF",
    "锐龙 7 8845H",
    "锐龙 7 8845HS",
)
_GPUS = (
    "RTX 4060",
    "RTX 4070",
    "RTX 4060 Laptop",
    "RTX 4070 Laptop",
    "RTX 4070 SUPER",
    "RTX 4080 SUPER",
    "Radeon 780M",
    "Arc 集成显卡",
)
_RESOLUTIONS = (
    "1600×720",
    "2400×1080",
    "2712×1220",
    "3200×1440",
    "1920×1080",
    "2560×1440",
    "2560×1600",
    "2880×1800",
    "3200×2000",
    "3440×1440",
    "3840×2160",
)
_INTERFACES = ("USB-C", "USB-C+HDMI+DP", "HDMI+DP", "蓝牙", "2.4G 无线", "三模", "有线 USB", "磁吸")

ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec("screen_size", "屏幕尺寸", "Screen size", "number", "英寸", (), "spu"),
    AttributeSpec("battery_capacity", "电池容量", "Battery capacity", "number", "mAh", (), "spu"),
    AttributeSpec("refresh_rate", "刷新率", "Refresh rate", "number", "Hz", (), "spu"),
    AttributeSpec("main_camera", "主摄像素", "Main camera", "number", "MP", (), "spu"),
    AttributeSpec("power", "功率", "Power", "number", "W", (), "spu"),
    AttributeSpec("weight", "重量", "Weight", "number", "kg", (), "spu"),
    AttributeSpec("cadr", "CADR", "Clean air delivery rate", "number", "m³/h", (), "spu"),
    AttributeSpec("capacity", "容量", "Capacity", "number", "L", (), "spu"),
    AttributeSpec("wash_load", "洗涤容量", "Wash load", "number", "kg", (), "spu"),
    AttributeSpec("suction", "吸力", "Suction", "number", "Pa", (), "spu"),
    AttributeSpec("battery_life", "续航", "Battery life", "number", "h", (), "spu"),
    AttributeSpec("processor", "处理器", "Processor", "enum", None, _CPUS, "spu"),
    AttributeSpec("gpu", "显卡", "Graphics", "enum", None, _GPUS, "spu"),
    AttributeSpec(
        "panel_type",
        "面板类型",
        "Panel type",
        "enum",
        None,
        ("IPS", "Fast IPS", "OLED", "Mini LED", "VA", "LCD"),
        "spu",
    ),
    AttributeSpec("resolution", "分辨率", "Resolution", "enum", None, _RESOLUTIONS, "spu"),
    AttributeSpec("interface", "接口", "Connection", "enum", None, _INTERFACES, "spu"),
    AttributeSpec("model", "型号", "Model", "text", None, (), "spu"),
    AttributeSpec("compatible_model", "适用机型", "Fits", "text", None, (), "spu"),
    AttributeSpec("material", "材质", "Material", "text", None, (), "spu"),
    AttributeSpec("warranty", "保修", "Warranty", "text", None, (), "spu"),
    AttributeSpec("color", "颜色", "Colour", "enum", None, tuple(zh for zh, _ in COLORS.values()), "sku"),
    AttributeSpec("memory", "内存", "Memory", "number", "GB", (), "sku"),
    AttributeSpec("storage", "存储", "Storage", "number", "GB", (), "sku"),
    AttributeSpec("rough_in", "坑距", "Rough-in", "enum", None, ("305mm", "400mm"), "sku"),
    AttributeSpec("switch", "轴体", "Switch", "enum", None, ("红轴", "茶轴", "青轴"), "sku"),
    AttributeSpec(
        "style",
        "款式",
        "Style",
        "enum",
        None,
        ("高清钢化膜", "防窥钢化膜", "防蓝光钢化膜", "1 米", "2 米", "单支装", "两支装"),
        "sku",
    ),
)

# ---------------------------------------------------------------- product families


@dataclass(frozen=True, slots=True)
class _Option:
    """One configuration of a family (12GB+256GB, 400mm rough-in); its price in yuan."""

    code: str
    name: str
    name_en: str
    attrs: Pairs
    price_yuan: int | None = None
    extra_weight_g: int = 0


@dataclass(frozen=True, slots=True)
class _Family:
    code: str
    brand: str
    category: str
    model: str
    model_en: str
    kind: str
    kind_en: str
    price_yuan: int
    options: tuple[_Option, ...]
    colors: tuple[str, ...]
    params: Pairs
    highlights: tuple[str, ...]
    tags: tuple[str, ...]
    weight_g: int
    serial: SerialKind | None = None
    lifecycle: str = "on_sale"
    small: bool = False
    # SPU codes whose SKUs fit this family (cross-sell): cases, chargers, filters ...
    accessories: tuple[str, ...] = ()


def _gb(n: int) -> str:
    return f"{n // 1024}TB" if n >= 1024 else f"{n}GB"


def _mem(memory: int, storage: int, price: int) -> _Option:
    label = f"{_gb(memory)}+{_gb(storage)}"
    return _Option(f"{memory}-{storage}", label, label, (("memory", memory), ("storage", storage)), price)


def _opt(code: str, name: str, name_en: str, attrs: Pairs, price: int | None = None) -> _Option:
    return _Option(code, name, name_en, attrs, price)


def _family(
    code: str,
    brand: str,
    category: str,
    model: str,
    kind: str,
    kind_en: str,
    price: int,
    *,
    options: Iterable[_Option] = (),
    colors: Iterable[str] = (),
    params: Mapping[str, ParamValue] | None = None,
    highlights: Iterable[str] = (),
    tags: Iterable[str] = (),
    weight_g: int,
    serial: SerialKind | None = None,
    lifecycle: str = "on_sale",
    small: bool = False,
    accessories: Iterable[str] = (),
    model_en: str | None = None,
) -> _Family:
    return _Family(
        code=code,
        brand=brand,
        category=category,
        model=model,
        model_en=model_en if model_en is not None else model,
        kind=kind,
        kind_en=kind_en,
        price_yuan=price,
        options=tuple(options),
        colors=tuple(colors),
        params=tuple((params or {}).items()),
        highlights=tuple(highlights),
        tags=tuple(tags),
        weight_g=weight_g,
        serial=serial,
        lifecycle=lifecycle,
        small=small,
        accessories=tuple(accessories),
    )


# Phones with an official leather case besides the partner brand's cases.
_OFFICIAL_CASES = ("Q60P", "Q60", "S30P")


def _phones() -> list[_Family]:
    def phone(
        code: str,
        model: str,
        price_configs: list[_Option],
        colors: str,
        params: dict[str, ParamValue],
        charger: str,
        highlights: Iterable[str],
        tags: Iterable[str],
        weight_g: int,
        lifecycle: str = "on_sale",
        small: bool = False,
    ) -> _Family:
        # Cases and screen protectors are derived per phone (see _phone_accessories); the
        # charger is shared by several models.
        official_case = (f"YQ-CASE-{code}",) if code in _OFFICIAL_CASES else ()
        acc = (f"DJ-CASE-{code}", *official_case, f"DJ-CLEAR-{code}", f"DJ-FILM-{code}", charger)
        return _family(
            f"YQ-{code}",
            "yunqi",
            "phone",
            model,
            "5G 手机",
            "5G Smartphone",
            0,
            options=price_configs,
            colors=colors.split(),
            params={"model": model, **params},
            highlights=highlights,
            tags=("5G", *tags),
            weight_g=weight_g,
            serial="imei",
            accessories=acc,
            lifecycle=lifecycle,
            small=small,
        )

    return [
        phone(
            "Q60P",
            "Q60 Pro",
            [_mem(12, 256, 5499), _mem(16, 512, 5999), _mem(16, 1024, 6999)],
            "BK WH BL GN",
            {
                "processor": "骁龙 8 Gen 3",
                "screen_size": 6.78,
                "resolution": "3200×1440",
                "refresh_rate": 120,
                "battery_capacity": 5500,
                "main_camera": 50,
                "power": 120,
            },
            "YQ-CHG120",
            ["IP68 级防尘防水，意外泼溅不慌", "一英寸大底主摄，夜景人像都清晰"],
            ["旗舰", "以旧换新"],
            221,
            small=True,
        ),
        phone(
            "Q60",
            "Q60",
            [_mem(12, 256, 4299), _mem(16, 512, 4799)],
            "BK WH PK GN",
            {
                "processor": "骁龙 8 Gen 3",
                "screen_size": 6.36,
                "resolution": "2712×1220",
                "refresh_rate": 120,
                "battery_capacity": 5000,
                "main_camera": 50,
                "power": 90,
            },
            "YQ-CHG90",
            ["小屏旗舰，单手握持更舒适"],
            ["旗舰", "小屏"],
            189,
        ),
        phone(
            "S30P",
            "S30 Pro",
            [_mem(8, 256, 2799), _mem(12, 256, 2999), _mem(12, 512, 3299)],
            "BK BL PU GN",
            {
                "processor": "天玑 8300",
                "screen_size": 6.67,
                "resolution": "2712×1220",
                "refresh_rate": 120,
                "battery_capacity": 5000,
                "main_camera": 50,
                "power": 90,
            },
            "YQ-CHG90",
            ["潜望长焦，3 倍光学变焦"],
            ["性价比", "拍照"],
            199,
        ),
        phone(
            "S30",
            "S30",
            [_mem(8, 128, 1799), _mem(8, 256, 1999), _mem(12, 256, 2199)],
            "BK WH GN BL",
            {
                "processor": "骁龙 7 Gen 3",
                "screen_size": 6.67,
                "resolution": "2400×1080",
                "refresh_rate": 120,
                "battery_capacity": 5000,
                "main_camera": 50,
                "power": 67,
            },
            "YQ-CHG67",
            ["学生党首选，千元档均衡之选"],
            ["性价比", "学生"],
            190,
            small=True,
        ),
        phone(
            "A20P",
            "A20 Pro",
            [_mem(8, 256, 1599), _mem(12, 256, 1799)],
            "BK BL GN",
            {
                "processor": "天玑 7050",
                "screen_size": 6.72,
                "resolution": "2400×1080",
                "refresh_rate": 120,
                "battery_capacity": 5800,
                "main_camera": 64,
                "power": 67,
            },
            "YQ-CHG67",
            ["5800mAh 超大电池，长辈孩子都省心"],
            ["长续航"],
            196,
        ),
        phone(
            "A20",
            "A20",
            [_mem(6, 128, 1299), _mem(8, 128, 1399), _mem(8, 256, 1499)],
            "BK BL WH",
            {
                "processor": "骁龙 4 Gen 2",
                "screen_size": 6.56,
                "resolution": "1600×720",
                "refresh_rate": 90,
                "battery_capacity": 5000,
                "main_camera": 50,
                "power": 33,
            },
            "SN-CHG20",
            ["千元 5G 入门，大字体大音量模式"],
            ["入门", "长辈机"],
            185,
        ),
        phone(
            "Q50P",
            "Q50 Pro",
            [_mem(12, 256, 3999), _mem(16, 512, 4499)],
            "BK WH",
            {
                "processor": "骁龙 8 Gen 2",
                "screen_size": 6.73,
                "resolution": "3200×1440",
                "refresh_rate": 120,
                "battery_capacity": 5000,
                "main_camera": 50,
                "power": 120,
            },
            "YQ-CHG120",
            ["上一代旗舰，清仓特惠"],
            ["清仓"],
            215,
            lifecycle="off_sale",
        ),
        phone(
            "Q70P",
            "Q70 Pro",
            [_mem(16, 512, 6499), _mem(16, 1024, 6999)],
            "BK SV",
            {
                "processor": "骁龙 8 Elite",
                "screen_size": 6.82,
                "resolution": "3200×1440",
                "refresh_rate": 120,
                "battery_capacity": 6000,
                "main_camera": 50,
                "power": 120,
            },
            "YQ-CHG120",
            ["新一代旗舰，即将发布"],
            ["新品", "旗舰"],
            225,
            lifecycle="draft",
            small=True,
        ),
    ]


def _phone_accessories(phones: list[_Family]) -> list[_Family]:
    out: list[_Family] = []
    for p in phones:
        code = p.code.removeprefix("YQ-")
        # Accessories of an unreleased phone are not in the small demo (nothing links to them).
        small = p.small and p.lifecycle != "draft"
        fits = f"云启 {p.model}"
        fits_en = f"for Yunqi {p.model}"
        out.append(
            _family(
                f"DJ-CASE-{code}",
                "dunjia",
                "phone_case",
                fits,
                "液态硅胶手机壳",
                f"Liquid Silicone Case {fits_en}",
                59,
                colors=("BK", "WH", "BL", "PK"),
                params={"compatible_model": fits, "material": "液态硅胶"},
                highlights=["亲肤细腻手感，不沾指纹"],
                tags=["保护壳"],
                weight_g=32,
                model_en="",
                lifecycle=p.lifecycle,
                small=small,
            )
        )
        if code in _OFFICIAL_CASES:
            out.append(
                _family(
                    f"YQ-CASE-{code}",
                    "yunqi",
                    "phone_case",
                    p.model,
                    "官方素皮保护壳",
                    "Official Vegan Leather Case",
                    129,
                    colors=("BK", "GN", "GD"),
                    params={"compatible_model": fits, "material": "素皮"},
                    highlights=["官方原装，贴合机身曲线"],
                    tags=["官方配件"],
                    weight_g=38,
                    model_en=p.model,
                    lifecycle=p.lifecycle,
                    small=small,
                )
            )
        out.append(
            _family(
                f"DJ-CLEAR-{code}",
                "dunjia",
                "phone_case",
                fits,
                "透明防摔壳",
                f"Clear Shockproof Case {fits_en}",
                39,
                colors=("CL",),
                params={"compatible_model": fits, "material": "TPU"},
                highlights=["四角气囊防摔，原机颜值不遮挡"],
                tags=["保护壳"],
                weight_g=28,
                model_en="",
                lifecycle=p.lifecycle,
                small=small,
            )
        )
        out.append(
            _family(
                f"DJ-FILM-{code}",
                "dunjia",
                "screen_protector",
                fits,
                "钢化膜",
                f"Tempered Glass Screen Protector {fits_en}",
                29,
                options=(
                    _opt("HD", "高清钢化膜 2 片装", "HD, 2-pack", (("style", "高清钢化膜"),), 29),
                    _opt("PRV", "防窥钢化膜", "Privacy", (("style", "防窥钢化膜"),), 49),
                    _opt("BLU", "防蓝光钢化膜", "Anti-blue-light", (("style", "防蓝光钢化膜"),), 39),
                ),
                params={"compatible_model": fits, "material": "钢化玻璃"},
                highlights=["贴膜神器辅助，一次贴正"],
                tags=["贴膜"],
                weight_g=20,
                model_en="",
                lifecycle=p.lifecycle,
                small=small,
            )
        )
    return out


def _computers() -> list[_Family]:
    bag14 = "JG-BAG14"
    bag16 = "JG-BAG16"
    office = ("JG-M3", "JG-K2", "YQ-CHG100")
    gaming = ("YQ-G1", "YQ-K1", "YQ-BAGG")
    return [
        _family(
            "YQ-BP14",
            "yunqi",
            "laptop",
            "BookPro 14",
            "轻薄笔记本电脑",
            "Thin and Light Laptop",
            0,
            options=[_mem(16, 512, 6999), _mem(16, 1024, 7499), _mem(32, 1024, 8499)],
            colors=("SV", "GY", "BL"),
            params={
                "model": "BookPro 14",
                "processor": "酷睿 Ultra 7 155H",
                "gpu": "Arc 集成显卡",
                "screen_size": 14.5,
                "resolution": "2880×1800",
                "panel_type": "OLED",
                "refresh_rate": 120,
                "weight": 1.42,
                "interface": "USB-C",
            },
            highlights=["2.8K OLED 原色屏，设计修图更准"],
            tags=["轻薄", "学生优惠"],
            weight_g=1420,
            serial="sn",
            small=True,
            accessories=(*office, bag14),
        ),
        _family(
            "YQ-BP16",
            "yunqi",
            "laptop",
            "BookPro 16",
            "高性能创作本",
            "Creator Laptop",
            0,
            options=[_mem(32, 1024, 9999), _mem(32, 2048, 11499)],
            colors=("SV", "GY"),
            params={
                "model": "BookPro 16",
                "processor": "酷睿 Ultra 9 185H",
                "gpu": "RTX 4060 Laptop",
                "screen_size": 16.0,
                "resolution": "3200×2000",
                "panel_type": "Mini LED",
                "refresh_rate": 165,
                "weight": 1.95,
                "interface": "USB-C",
            },
            highlights=["Mini LED 屏，1600nit 峰值亮度"],
            tags=["创作"],
            weight_g=1950,
            serial="sn",
            accessories=(*office, bag16),
        ),
        _family(
            "YQ-BA14",
            "yunqi",
            "laptop",
            "Book Air 14",
            "轻薄笔记本电脑",
            "Thin and Light Laptop",
            0,
            options=[_mem(16, 512, 4999), _mem(16, 1024, 5499)],
            colors=("SV", "GY", "BL", "PK"),
            params={
                "model": "Book Air 14",
                "processor": "酷睿 Ultra 5 125H",
                "gpu": "Arc 集成显卡",
                "screen_size": 14.0,
                "resolution": "2560×1600",
                "panel_type": "IPS",
                "refresh_rate": 90,
                "weight": 1.19,
                "interface": "USB-C",
            },
            highlights=["1.19kg 全金属机身，通勤无负担"],
            tags=["轻薄", "学生优惠"],
            weight_g=1190,
            serial="sn",
            small=True,
            accessories=(*office, bag14),
        ),
        _family(
            "YQ-BK15",
            "yunqi",
            "laptop",
            "Book 15",
            "全能笔记本电脑",
            "Everyday Laptop",
            0,
            options=[_mem(16, 512, 3999), _mem(16, 1024, 4399)],
            colors=("GY", "SV"),
            params={
                "model": "Book 15",
                "processor": "锐龙 7 8845H",
                "gpu": "Radeon 780M",
                "screen_size": 15.6,
                "resolution": "1920×1080",
                "panel_type": "IPS",
                "refresh_rate": 60,
                "weight": 1.65,
                "interface": "USB-C",
            },
            highlights=["大屏办公，数字小键盘录入更快"],
            tags=["办公"],
            weight_g=1650,
            serial="sn",
            accessories=(*office, bag16),
        ),
        _family(
            "YQ-BZ16",
            "yunqi",
            "laptop",
            "Blaze 16",
            "电竞游戏本",
            "Gaming Laptop",
            0,
            options=[_mem(16, 1024, 9999), _mem(32, 1024, 11499), _mem(32, 2048, 12999)],
            colors=("BK",),
            params={
                "model": "Blaze 16",
                "processor": "酷睿 i9-14900HX",
                "gpu": "RTX 4070 Laptop",
                "screen_size": 16.0,
                "resolution": "2560×1600",
                "panel_type": "IPS",
                "refresh_rate": 240,
                "weight": 2.5,
                "interface": "USB-C+HDMI+DP",
            },
            highlights=["满血 140W 显卡释放，3A 大作全高画质"],
            tags=["电竞"],
            weight_g=2500,
            serial="sn",
            accessories=gaming,
        ),
        _family(
            "YQ-BZ15",
            "yunqi",
            "laptop",
            "Blaze 15",
            "电竞游戏本",
            "Gaming Laptop",
            0,
            options=[_mem(16, 512, 7499), _mem(16, 1024, 7999)],
            colors=("BK", "WH"),
            params={
                "model": "Blaze 15",
                "processor": "酷睿 i7-13650HX",
                "gpu": "RTX 4060 Laptop",
                "screen_size": 15.6,
                "resolution": "2560×1440",
                "panel_type": "IPS",
                "refresh_rate": 165,
                "weight": 2.3,
                "interface": "USB-C+HDMI+DP",
            },
            highlights=["学生电竞首选，2.5K 165Hz 电竞屏"],
            tags=["电竞", "学生优惠"],
            weight_g=2300,
            serial="sn",
            accessories=gaming,
        ),
        _family(
            "YQ-BP14-23",
            "yunqi",
            "laptop",
            "BookPro 14 2023",
            "轻薄笔记本电脑",
            "Thin and Light Laptop",
            0,
            options=[_mem(16, 512, 5999)],
            colors=("SV",),
            params={
                "model": "BookPro 14 2023",
                "processor": "酷睿 i7-13700H",
                "gpu": "Arc 集成显卡",
                "screen_size": 14.0,
                "resolution": "2880×1800",
                "panel_type": "OLED",
                "refresh_rate": 90,
                "weight": 1.45,
                "interface": "USB-C",
            },
            highlights=["上代经典款，清仓特惠"],
            tags=["清仓"],
            weight_g=1450,
            serial="sn",
            lifecycle="off_sale",
            accessories=(*office, bag14),
        ),
        _family(
            "YQ-BT5",
            "yunqi",
            "gaming_desktop",
            "Blaze Tower 5",
            "游戏台式机",
            "Gaming Desktop",
            0,
            options=[_mem(16, 512, 5999), _mem(16, 1024, 6499)],
            params={"model": "Blaze Tower 5", "processor": "酷睿 i5-14400F", "gpu": "RTX 4060", "power": 550},
            highlights=["入门电竞主机，网游 2K 高帧"],
            tags=["电竞"],
            weight_g=9800,
            serial="sn",
            accessories=(*gaming[:2], "SL-G7"),
        ),
        _family(
            "YQ-BT7",
            "yunqi",
            "gaming_desktop",
            "Blaze Tower 7",
            "游戏台式机",
            "Gaming Desktop",
            0,
            options=[_mem(32, 1024, 9999), _mem(32, 2048, 10999)],
            params={"model": "Blaze Tower 7", "processor": "酷睿 i7-14700F", "gpu": "RTX 4070 SUPER", "power": 750},
            highlights=["2K 光追畅玩，DLSS 3 帧生成"],
            tags=["电竞"],
            weight_g=11200,
            serial="sn",
            small=True,
            accessories=(*gaming[:2], "SL-G7"),
        ),
        _family(
            "YQ-BT9",
            "yunqi",
            "gaming_desktop",
            "Blaze Tower 9",
            "游戏台式机",
            "Gaming Desktop",
            0,
            options=[_mem(32, 2048, 14999), _mem(64, 2048, 16999)],
            params={"model": "Blaze Tower 9", "processor": "酷睿 i9-14900KF", "gpu": "RTX 4080 SUPER", "power": 1000},
            highlights=["4K 光追全开，360 水冷压满载"],
            tags=["电竞", "旗舰"],
            weight_g=13500,
            serial="sn",
            accessories=(*gaming[:2], "SL-G7"),
        ),
        _family(
            "YQ-CUBE",
            "yunqi",
            "gaming_desktop",
            "Blaze Cube",
            "迷你电竞主机",
            "Mini Gaming PC",
            0,
            options=[_mem(16, 512, 3499), _mem(32, 1024, 4299)],
            colors=("SV", "GY"),
            params={"model": "Blaze Cube", "processor": "锐龙 7 8845HS", "gpu": "Radeon 780M", "power": 120},
            highlights=["0.8L 小机身，桌面不占地"],
            tags=["迷你主机"],
            weight_g=720,
            serial="sn",
            accessories=("JG-M3", "JG-K2"),
        ),
        *_monitors(),
    ]


def _monitors() -> list[_Family]:
    def monitor(
        code: str,
        model: str,
        kind: str,
        kind_en: str,
        price: int,
        colors: str,
        size: float,
        res: str,
        panel: str,
        hz: int,
        interface: str,
        highlight: str,
        tags: Iterable[str],
        weight_g: int,
        stand: str = "JG-S1",
        small: bool = False,
    ) -> _Family:
        return _family(
            code,
            "yunqi",
            "monitor",
            model,
            kind,
            kind_en,
            price,
            colors=colors.split(),
            params={
                "model": model,
                "screen_size": size,
                "resolution": res,
                "panel_type": panel,
                "refresh_rate": hz,
                "interface": interface,
            },
            highlights=[highlight],
            tags=tags,
            weight_g=weight_g,
            serial="sn",
            small=small,
            accessories=(stand,),
        )

    return [
        monitor(
            "YQ-V24F", "V24F", "23.8 英寸办公显示器", "23.8-inch Office Monitor", 699, "BK",
            23.8, "1920×1080", "IPS", 100, "HDMI+DP", "窄边框设计，双屏拼接无缝", ["办公"], 3600,
        ),
        monitor(
            "YQ-V27Q", "V27Q", "27 英寸 2K 显示器", "27-inch QHD Monitor", 999, "BK WH",
            27.0, "2560×1440", "IPS", 100, "HDMI+DP", "2K 高清，文字显示更锐利", ["办公"], 4900,
        ),
        monitor(
            "YQ-V27U", "V27U", "27 英寸 4K 设计显示器", "27-inch 4K Designer Monitor", 1999, "BK WH",
            27.0, "3840×2160", "IPS", 60, "USB-C+HDMI+DP", "Type-C 90W 反向充电，一线连接笔记本",
            ["设计", "Type-C"], 5600, small=True,
        ),
        monitor(
            "YQ-G27Q", "G27Q", "27 英寸 2K 电竞显示器", "27-inch QHD Gaming Monitor", 1499, "BK",
            27.0, "2560×1440", "Fast IPS", 180, "HDMI+DP", "180Hz 高刷，1ms 灰阶响应", ["电竞"], 5200,
            small=True,
        ),
        monitor(
            "YQ-G27O", "G27O", "27 英寸 OLED 电竞显示器", "27-inch OLED Gaming Monitor", 3999, "BK",
            27.0, "2560×1440", "OLED", 240, "USB-C+HDMI+DP", "OLED 0.03ms 响应，纯黑对比", ["电竞", "旗舰"], 5900,
        ),
        monitor(
            "YQ-G32U", "G32U Pro", "32 英寸 4K Mini LED 显示器", "32-inch 4K Mini LED Monitor", 4999, "BK",
            32.0, "3840×2160", "Mini LED", 160, "USB-C+HDMI+DP", "1152 分区 Mini LED，HDR1000", ["电竞", "旗舰"],
            8200, stand="YQ-SHD",
        ),
        monitor(
            "YQ-C34W", "C34W", "34 英寸带鱼屏曲面显示器", "34-inch Ultrawide Curved Monitor", 2499, "BK",
            34.0, "3440×1440", "VA", 165, "HDMI+DP", "1500R 曲率，沉浸式游戏与多窗口办公", ["电竞", "带鱼屏"], 7600,
            stand="YQ-SHD",
        ),
    ]  # fmt: skip


def _tablets_and_wearables() -> list[_Family]:
    return [
        _family(
            "YQ-PAD11",
            "yunqi",
            "tablet",
            "Pad 11",
            "平板电脑",
            "Tablet",
            0,
            options=[_mem(8, 128, 1499), _mem(8, 256, 1799)],
            colors=("GY", "SV", "BL"),
            params={
                "model": "Pad 11",
                "processor": "骁龙 7 Gen 3",
                "screen_size": 11.0,
                "resolution": "2560×1600",
                "refresh_rate": 144,
                "battery_capacity": 8850,
            },
            highlights=["网课追剧两相宜，四扬声器环绕"],
            tags=["学生优惠"],
            weight_g=510,
            serial="sn",
            accessories=("YQ-PEN2",),
        ),
        _family(
            "YQ-PAD12P",
            "yunqi",
            "tablet",
            "Pad 12 Pro",
            "平板电脑",
            "Tablet",
            0,
            options=[_mem(12, 256, 2999), _mem(16, 512, 3599)],
            colors=("GY", "GN"),
            params={
                "model": "Pad 12 Pro",
                "processor": "骁龙 8 Gen 3",
                "screen_size": 12.1,
                "resolution": "3200×2000",
                "refresh_rate": 144,
                "battery_capacity": 10000,
            },
            highlights=["搭配键盘秒变生产力，PC 级 WPS"],
            tags=["办公"],
            weight_g=590,
            serial="sn",
            accessories=("YQ-PEN2", "YQ-KBC12"),
        ),
        _family(
            "YQ-W4P",
            "yunqi",
            "wearable",
            "Watch 4 Pro",
            "智能手表",
            "Smartwatch",
            1499,
            colors=("BK", "SV"),
            params={"model": "Watch 4 Pro", "battery_life": 336, "screen_size": 1.43},
            highlights=["eSIM 独立通话，跑步不带手机"],
            tags=["运动健康"],
            weight_g=52,
        ),
        _family(
            "YQ-W4",
            "yunqi",
            "wearable",
            "Watch 4",
            "智能手表",
            "Smartwatch",
            999,
            colors=("BK", "PK", "WH"),
            params={"model": "Watch 4", "battery_life": 240, "screen_size": 1.32},
            highlights=["血氧心率全天监测"],
            tags=["运动健康"],
            weight_g=38,
        ),
        _family(
            "YQ-BAND9",
            "yunqi",
            "wearable",
            "Band 9",
            "智能手环",
            "Smart Band",
            249,
            colors=("BK", "PK", "GN"),
            params={"model": "Band 9", "battery_life": 336, "screen_size": 1.62},
            highlights=["21 天超长续航"],
            tags=["运动健康", "性价比"],
            weight_g=16,
        ),
    ]


def _bathroom_and_appliances() -> list[_Family]:
    rough_in = (
        _opt("305", "坑距 305mm", "305mm rough-in", (("rough_in", "305mm"),)),
        _opt("400", "坑距 400mm", "400mm rough-in", (("rough_in", "400mm"),)),
    )
    seat_points = ["即热式冲洗，出水即温无需等待"]
    return [
        _family(
            "YQ-T3", "yunqi", "smart_toilet_seat", "T3", "智能马桶盖", "Smart Toilet Seat", 1999, colors=("WH",),
            params={"model": "T3", "power": 1350, "weight": 4.2}, highlights=seat_points,
            tags=["以旧换新补贴"], weight_g=4200,
        ),
        _family(
            "YQ-T5", "yunqi", "smart_toilet_seat", "T5", "智能马桶盖", "Smart Toilet Seat", 2699, colors=("WH",),
            params={"model": "T5", "power": 1500, "weight": 4.6},
            highlights=[*seat_points, "UV 杀菌与自洁喷嘴"], tags=["以旧换新补贴", "热销"], weight_g=4600, small=True,
        ),
        _family(
            "YQ-T7P", "yunqi", "smart_toilet_seat", "T7 Pro", "智能马桶盖", "Smart Toilet Seat", 3299, colors=("WH",),
            params={"model": "T7 Pro", "power": 1600, "weight": 5.1},
            highlights=["自动翻盖与泡沫盾防溅"], tags=["以旧换新补贴"], weight_g=5100,
        ),
        _family(
            "YQ-X7", "yunqi", "smart_toilet", "X7", "智能马桶一体机", "Smart Toilet", 3999, options=rough_in,
            colors=("WH",), params={"model": "X7", "power": 1400, "weight": 45.0},
            highlights=["无水压限制，高低楼层都能冲净"], tags=["以旧换新补贴"], weight_g=45000,
        ),
        _family(
            "YQ-X9", "yunqi", "smart_toilet", "X9", "智能马桶一体机", "Smart Toilet", 4999, options=rough_in,
            colors=("WH",), params={"model": "X9", "power": 1600, "weight": 48.0},
            highlights=["脚感冲水，自动翻盖翻圈"], tags=["以旧换新补贴", "热销"], weight_g=48000, small=True,
        ),
        _family(
            "YQ-X9P", "yunqi", "smart_toilet", "X9 Pro", "智能马桶一体机", "Smart Toilet", 5999, options=rough_in,
            colors=("WH",), params={"model": "X9 Pro", "power": 1800, "weight": 52.0},
            highlights=["泡沫盾防溅与 AI 感应夜灯"], tags=["以旧换新补贴", "旗舰"], weight_g=52000,
        ),
        _family(
            "YQ-W10", "yunqi", "washer_dryer", "W10", "10 公斤洗烘一体机", "10kg Washer-Dryer", 2999,
            colors=("WH", "SV"), params={"model": "W10", "wash_load": 10.0, "power": 2000, "weight": 72.0},
            highlights=["洗烘一体，阳台不晒也干爽"], tags=["以旧换新补贴"], weight_g=72000, small=True,
        ),
        _family(
            "YQ-W12P", "yunqi", "washer_dryer", "W12 Pro", "12 公斤洗烘一体机", "12kg Washer-Dryer", 4299,
            colors=("SV",), params={"model": "W12 Pro", "wash_load": 12.0, "power": 2200, "weight": 80.0},
            highlights=["智能投放洗涤剂，用量精准"], tags=["以旧换新补贴", "旗舰"], weight_g=80000,
        ),
        _family(
            "YQ-D10", "yunqi", "clothes_dryer", "D10", "10 公斤热泵干衣机", "10kg Heat Pump Dryer", 3999,
            colors=("WH",), params={"model": "D10", "wash_load": 10.0, "power": 800, "weight": 50.0},
            highlights=["热泵低温烘干，羊毛羽绒也能烘"], tags=["以旧换新补贴"], weight_g=50000,
        ),
        _family(
            "YQ-P300", "yunqi", "air_purifier", "P300", "空气净化器", "Air Purifier", 899, colors=("WH",),
            params={"model": "P300", "cadr": 300, "power": 35, "weight": 5.2},
            highlights=["小户型卧室够用"], tags=["母婴"], weight_g=5200, accessories=("YQ-F300",),
        ),
        _family(
            "YQ-P500", "yunqi", "air_purifier", "P500", "除甲醛空气净化器", "Formaldehyde Air Purifier", 1499,
            colors=("WH", "GY"), params={"model": "P500", "cadr": 500, "power": 55, "weight": 7.8},
            highlights=["除甲醛数显，新装修入住更安心"], tags=["母婴", "热销"], weight_g=7800, small=True,
            accessories=("YQ-F500",),
        ),
        _family(
            "YQ-P700P", "yunqi", "air_purifier", "P700 Pro", "空气净化器", "Air Purifier", 2299, colors=("WH",),
            params={"model": "P700 Pro", "cadr": 700, "power": 70, "weight": 11.5},
            highlights=["大客厅 80 平方米 10 分钟净化"], tags=["旗舰"], weight_g=11500,
            accessories=("YQ-F700", "YQ-F700H"),
        ),
        _family(
            "YQ-R8", "yunqi", "robot_vacuum", "R8", "扫拖一体机器人", "Robot Vacuum and Mop", 1999, colors=("WH",),
            params={"model": "R8", "suction": 5000, "battery_life": 2.5, "power": 40},
            highlights=["激光导航，规划式清扫不漏扫"], tags=["懒人神器"], weight_g=3600, accessories=("YQ-RK8",),
        ),
        _family(
            "YQ-R10P", "yunqi", "robot_vacuum", "R10 Pro", "全能扫拖机器人", "Self-Emptying Robot Vacuum", 3499,
            colors=("WH", "BK"), params={"model": "R10 Pro", "suction": 8000, "battery_life": 3.0, "power": 55},
            highlights=["自动集尘、洗拖布与热风烘干"], tags=["懒人神器", "热销"], weight_g=4100, small=True,
            accessories=("YQ-RK10",),
        ),
        _family(
            "YQ-R10M", "yunqi", "robot_vacuum", "R10 Max", "全能扫拖机器人", "Self-Emptying Robot Vacuum", 4599,
            colors=("BK",), params={"model": "R10 Max", "suction": 12000, "battery_life": 3.5, "power": 60},
            highlights=["AI 避障识别 100+ 障碍物，宠物粪便不碰"], tags=["旗舰"], weight_g=4300,
            accessories=("YQ-RK10",),
        ),
        _family(
            "YQ-C3", "yunqi", "rice_cooker", "C3", "迷你电饭煲 3L", "3L Mini Rice Cooker", 249, colors=("WH",),
            params={"model": "C3", "capacity": 3.0, "power": 500}, highlights=["一人食两人份刚刚好"],
            tags=["小户型"], weight_g=2300,
        ),
        _family(
            "YQ-C4", "yunqi", "rice_cooker", "C4", "IH 电饭煲 4L", "4L IH Rice Cooker", 499, colors=("WH", "GY"),
            params={"model": "C4", "capacity": 4.0, "power": 1200}, highlights=["IH 电磁加热，米饭受热均匀"],
            tags=["热销"], weight_g=4100, small=True,
        ),
        _family(
            "YQ-C5P", "yunqi", "rice_cooker", "C5 Pro", "IH 压力电饭煲 5L", "5L IH Pressure Rice Cooker", 799,
            colors=("SV",), params={"model": "C5 Pro", "capacity": 5.0, "power": 1300},
            highlights=["1.2 倍大气压，米饭更香糯"], tags=["旗舰"], weight_g=5600,
        ),
        _family(
            "YQ-H1", "yunqi", "hair_dryer", "H1", "负离子吹风机", "Ionic Hair Dryer", 199, colors=("PK", "WH"),
            params={"model": "H1", "power": 1600}, highlights=["亿级负离子，吹后顺滑"], tags=["性价比"],
            weight_g=450,
        ),
        _family(
            "YQ-H3", "yunqi", "hair_dryer", "H3", "高速吹风机", "High-Speed Hair Dryer", 399, colors=("PK", "GY", "WH"),
            params={"model": "H3", "power": 1800}, highlights=["11 万转高速马达，3 分钟速干"], tags=["热销"],
            weight_g=380, small=True,
        ),
        _family(
            "YQ-H5P", "yunqi", "hair_dryer", "H5 Pro", "高速吹风机", "High-Speed Hair Dryer", 899, colors=("SV",),
            params={"model": "H5 Pro", "power": 1800}, highlights=["智能温控，每秒 100 次测温"], tags=["旗舰"],
            weight_g=350,
        ),
    ]  # fmt: skip


def _accessories() -> list[_Family]:
    usb_c = {"interface": "USB-C"}
    return [
        _family(
            "YQ-CHG120", "yunqi", "charger", "120W", "超级快充充电器", "HyperCharge Charger", 199, colors=("WH",),
            params={**usb_c, "power": 120}, highlights=["19 分钟充满 Q60 Pro"], tags=["官方配件"], weight_g=120,
            small=True,
        ),
        _family(
            "YQ-CHG90", "yunqi", "charger", "90W", "快充充电器", "Fast Charger", 149, colors=("WH",),
            params={**usb_c, "power": 90}, tags=["官方配件"], weight_g=105,
        ),
        _family(
            "YQ-CHG67", "yunqi", "charger", "67W", "快充充电器", "Fast Charger", 99, colors=("WH",),
            params={**usb_c, "power": 67}, tags=["官方配件"], weight_g=90, small=True,
        ),
        _family(
            "YQ-CHG100", "yunqi", "charger", "100W", "氮化镓三口充电器", "GaN 3-Port Charger", 249, colors=("WH", "BK"),
            params={**usb_c, "power": 100}, highlights=["一头充满笔记本、手机和耳机"], tags=["官方配件"],
            weight_g=180, small=True,
        ),
        _family(
            "SN-CHG65", "shanneng", "charger", "65W", "氮化镓双口充电器", "GaN Dual-Port Charger", 129,
            colors=("WH", "BK"), params={**usb_c, "power": 65}, tags=["氮化镓"], weight_g=110,
        ),
        _family(
            "SN-CHG20", "shanneng", "charger", "20W", "PD 快充头", "PD Fast Charger", 39, colors=("WH",),
            params={**usb_c, "power": 20}, tags=["性价比"], weight_g=45,
        ),
        _family(
            "SN-WPAD", "shanneng", "charger", "30W", "磁吸无线充电器", "Magnetic Wireless Charger", 159,
            colors=("WH", "BK"), params={"interface": "磁吸", "power": 30}, tags=["无线充"], weight_g=80,
        ),
        _family(
            "YQ-CBL6A", "yunqi", "cable", "6A", "快充数据线", "Fast-Charge Cable", 29,
            options=(
                _opt("1M", "1 米", "1 m", (("style", "1 米"),), 29),
                _opt("2M", "2 米", "2 m", (("style", "2 米"),), 39),
            ),
            colors=("WH",), params=usb_c, tags=["官方配件"], weight_g=40,
        ),
        _family(
            "SN-CBL240", "shanneng", "cable", "240W", "编织数据线", "Braided Cable", 49,
            options=(
                _opt("1M", "1 米", "1 m", (("style", "1 米"),), 49),
                _opt("2M", "2 米", "2 m", (("style", "2 米"),), 59),
            ),
            colors=("BK",), params=usb_c, tags=["耐用"], weight_g=55,
        ),
        _family(
            "SN-PB10", "shanneng", "power_bank", "10000mAh", "22.5W 充电宝", "22.5W Power Bank", 99,
            colors=("BK", "WH"), params={"battery_capacity": 10000, "power": 22.5, **usb_c}, tags=["可带上飞机"],
            weight_g=210,
        ),
        _family(
            "SN-PB20", "shanneng", "power_bank", "20000mAh", "65W 充电宝", "65W Power Bank", 199, colors=("BK",),
            params={"battery_capacity": 20000, "power": 65, **usb_c}, highlights=["65W 输出，可充笔记本"],
            tags=["大容量"], weight_g=420,
        ),
        _family(
            "YQ-PBMAG", "yunqi", "power_bank", "5000mAh", "磁吸充电宝", "Magnetic Power Bank", 149,
            colors=("WH", "BL"), params={"battery_capacity": 5000, "power": 15, "interface": "磁吸"},
            tags=["官方配件", "轻薄"], weight_g=120,
        ),
        _family(
            "YQ-BUDS3P", "yunqi", "earphones", "Buds 3 Pro", "主动降噪真无线耳机", "ANC True Wireless Earbuds", 399,
            colors=("BK", "WH", "BL"), params={"interface": "蓝牙", "battery_life": 36},
            highlights=["50dB 深度降噪，通勤地铁也安静"], tags=["降噪"], weight_g=52, small=True,
        ),
        _family(
            "YQ-BUDS3", "yunqi", "earphones", "Buds 3", "真无线耳机", "True Wireless Earbuds", 199,
            colors=("BK", "WH", "PK"), params={"interface": "蓝牙", "battery_life": 30}, tags=["性价比"],
            weight_g=45,
        ),
        _family(
            "SL-AIR", "shenglan", "earphones", "Air", "开放式运动耳机", "Open-Ear Sports Earphones", 299,
            colors=("BK", "GY"), params={"interface": "蓝牙", "battery_life": 10},
            highlights=["不入耳，跑步听得见路况"], tags=["运动"], weight_g=29,
        ),
        _family(
            "SL-NEO", "shenglan", "earphones", "Neo", "颈挂式蓝牙耳机", "Neckband Earphones", 129,
            colors=("BK", "BL"), params={"interface": "蓝牙", "battery_life": 20}, tags=["运动"], weight_g=26,
        ),
        _family(
            "SL-G7", "shenglan", "earphones", "G7", "头戴式游戏耳机", "Gaming Headset", 349, colors=("BK",),
            params={"interface": "三模", "battery_life": 60}, highlights=["7.1 虚拟环绕声，听声辨位"],
            tags=["电竞"], weight_g=310,
        ),
        _family(
            "SL-PURE", "shenglan", "earphones", "Pure", "Type-C 有线耳机", "USB-C Wired Earphones", 49,
            colors=("WH",), params=usb_c, tags=["性价比"], weight_g=18,
        ),
        _family(
            "JG-M1", "jiangong", "mouse", "M1", "无线鼠标", "Wireless Mouse", 59, colors=("BK", "WH", "PK"),
            params={"interface": "2.4G 无线"}, tags=["办公"], weight_g=68, small=True,
        ),
        _family(
            "JG-M3", "jiangong", "mouse", "M3", "静音蓝牙鼠标", "Silent Bluetooth Mouse", 89,
            colors=("BK", "WH", "GY", "PK"), params={"interface": "蓝牙"}, highlights=["静音微动，办公不打扰"],
            tags=["办公", "静音"], weight_g=75, small=True,
        ),
        _family(
            "YQ-G1", "yunqi", "mouse", "Blaze G1", "电竞游戏鼠标", "Gaming Mouse", 199, colors=("BK", "WH"),
            params={"interface": "三模"}, highlights=["26000 DPI 传感器，58g 轻量化"], tags=["电竞"], weight_g=58,
        ),
        _family(
            "YQ-M2", "yunqi", "mouse", "M2", "轻薄蓝牙鼠标", "Slim Bluetooth Mouse", 129, colors=("SV", "GY"),
            params={"interface": "蓝牙"}, tags=["官方配件", "轻薄"], weight_g=62,
        ),
        _family(
            "JG-K2", "jiangong", "keyboard", "K2", "蓝牙键盘", "Bluetooth Keyboard", 149, colors=("BK", "WH"),
            params={"interface": "蓝牙"}, highlights=["三设备一键切换"], tags=["办公"], weight_g=420, small=True,
        ),
        _family(
            "JG-K5", "jiangong", "keyboard", "K5", "矮轴机械键盘", "Low-Profile Mechanical Keyboard", 249,
            colors=("BK", "WH"), params={"interface": "三模"}, tags=["办公"], weight_g=560,
        ),
        _family(
            "JG-K7", "jiangong", "keyboard", "K7", "三模机械键盘", "Tri-Mode Mechanical Keyboard", 399,
            options=(
                _opt("RED", "红轴", "Red switches", (("switch", "红轴"),)),
                _opt("BRN", "茶轴", "Brown switches", (("switch", "茶轴"),)),
                _opt("BLU", "青轴", "Blue switches", (("switch", "青轴"),)),
            ),
            params={"interface": "三模"}, highlights=["热插拔轴座，轴体随心换"], tags=["机械键盘"], weight_g=980,
        ),
        _family(
            "YQ-K1", "yunqi", "keyboard", "Blaze K1", "电竞机械键盘", "Gaming Mechanical Keyboard", 299,
            options=(
                _opt("RED", "红轴", "Red switches", (("switch", "红轴"),)),
                _opt("BLU", "青轴", "Blue switches", (("switch", "青轴"),)),
            ),
            params={"interface": "有线 USB"}, highlights=["全键无冲与 RGB 背光"], tags=["电竞"], weight_g=1050,
        ),
        _family(
            "JG-BAG14", "jiangong", "laptop_bag", "14 英寸", "电脑内胆包", "Laptop Sleeve 14-inch", 79,
            colors=("GY", "BK"), params={"material": "防泼水涤纶"}, tags=["轻便"], weight_g=220, small=True,
            model_en="",
        ),
        _family(
            "JG-BAG16", "jiangong", "laptop_bag", "16 英寸", "电脑内胆包", "Laptop Sleeve 16-inch", 89,
            colors=("GY", "BK"), params={"material": "防泼水涤纶"}, tags=["轻便"], weight_g=260, model_en="",
        ),
        _family(
            "YQ-BAGB", "yunqi", "laptop_bag", "商务", "双肩电脑包 16 英寸", "Business Backpack 16-inch", 249,
            colors=("BK",), params={"material": "尼龙"}, tags=["官方配件", "商务"], weight_g=850, model_en="",
        ),
        _family(
            "YQ-BAGG", "yunqi", "laptop_bag", "Blaze", "电竞双肩包 17 英寸", "Gaming Backpack 17-inch", 299,
            colors=("BK",), params={"material": "尼龙"}, tags=["电竞"], weight_g=980,
        ),
        _family(
            "JG-S1", "jiangong", "monitor_stand", "S1", "单屏显示器支架", "Single Monitor Arm", 199,
            colors=("BK", "WH"), params={"material": "铝合金"}, highlights=["气压弹簧，悬停随心调"],
            tags=["桌面整理"], weight_g=2600, small=True,
        ),
        _family(
            "JG-S2", "jiangong", "monitor_stand", "S2", "双屏显示器支架", "Dual Monitor Arm", 349, colors=("BK",),
            params={"material": "铝合金"}, tags=["桌面整理"], weight_g=4800,
        ),
        _family(
            "YQ-SHD", "yunqi", "monitor_stand", "重载", "显示器支架（适用 32-34 英寸）", "Heavy-Duty Monitor Arm", 399,
            colors=("BK",), params={"material": "铝合金", "compatible_model": "G32U Pro / C34W"}, tags=["官方配件"],
            weight_g=3900, model_en="",
        ),
        _family(
            "YQ-PEN2", "yunqi", "tablet_accessory", "Pen 2", "手写笔", "Stylus", 299, colors=("WH",),
            params={"compatible_model": "Pad 11 / Pad 12 Pro"}, highlights=["4096 级压感，磁吸充电"],
            tags=["官方配件"], weight_g=15,
        ),
        _family(
            "YQ-KBC12", "yunqi", "tablet_accessory", "Pad 12 Pro", "键盘式保护套", "Keyboard Cover", 399,
            colors=("GY",), params={"compatible_model": "Pad 12 Pro"}, tags=["官方配件"], weight_g=420,
        ),
        _family(
            "YQ-F300", "yunqi", "filter", "P300", "复合滤芯", "Composite Filter", 149,
            params={"compatible_model": "P300"}, tags=["原装耗材"], weight_g=600,
        ),
        _family(
            "YQ-F500", "yunqi", "filter", "P500", "除甲醛复合滤芯", "Formaldehyde Filter", 199,
            params={"compatible_model": "P500"}, tags=["原装耗材"], weight_g=850, small=True,
        ),
        _family(
            "YQ-F700", "yunqi", "filter", "P700 Pro", "HEPA 复合滤芯", "HEPA Filter", 299,
            params={"compatible_model": "P700 Pro"}, tags=["原装耗材"], weight_g=1100,
        ),
        _family(
            "YQ-F700H", "yunqi", "filter", "P700 Pro", "除甲醛增强滤芯", "Formaldehyde Booster Filter", 349,
            params={"compatible_model": "P700 Pro"}, tags=["原装耗材"], weight_g=1200,
        ),
        _family(
            "YQ-RK8", "yunqi", "vacuum_kit", "R8", "耗材套装（边刷+滤网+拖布）", "Consumables Kit", 99,
            params={"compatible_model": "R8"}, tags=["原装耗材"], weight_g=300,
        ),
        _family(
            "YQ-RK10", "yunqi", "vacuum_kit", "R10 系列", "耗材套装（尘袋+边刷+滤网）", "Consumables Kit", 129,
            params={"compatible_model": "R10 Pro / R10 Max"}, tags=["原装耗材"], weight_g=350, small=True,
            model_en="R10 series",
        ),
    ]  # fmt: skip


# Selling-point phrases per category; ``{param}`` takes the SPU's parameter. A phrase whose
# parameter the SPU lacks is skipped.
_POINTS: dict[str, tuple[str, ...]] = {
    "phone": (
        "{processor} 芯片，日常流畅、游戏稳帧",
        "{battery_capacity}mAh 大电池，{power}W 快充",
        "{screen_size} 英寸 {refresh_rate}Hz 高刷屏，高频 PWM 调光护眼",
        "{main_camera}MP 主摄，夜景更清晰",
        "启云 OS 多设备互联，手机电脑一拉即传",
        "支持 NFC 与红外遥控",
    ),
    "tablet": (
        "{screen_size} 英寸 {refresh_rate}Hz 高刷大屏",
        "{battery_capacity}mAh 大电池，追剧一整天",
        "{processor} 芯片，多任务分屏流畅",
        "与云启手机跨屏协同，文件一拖即传",
    ),
    "wearable": (
        "续航长达 {battery_life} 小时",
        "{screen_size} 英寸 AMOLED 屏，阳光下清晰可见",
        "100+ 运动模式，科学运动指导",
        "5ATM 防水，游泳可戴",
    ),
    "laptop": (
        "{processor} 处理器，多任务办公不卡顿",
        "{screen_size} 英寸 {refresh_rate}Hz {panel_type} 屏，色彩准确",
        "机身约 {weight}kg，通勤轻松携带",
        "全功能 USB-C 接口，支持 PD 快充与视频输出",
        "启云 OS 跨屏协同，与云启手机无缝互联",
    ),
    "gaming_desktop": (
        "{processor} + {gpu}，3A 大作高画质流畅运行",
        "冰封散热系统，满载安静稳定",
        "预留升级空间，显卡内存硬盘随心扩展",
        "RGB 灯效随心调节",
        "前置 USB-C 20Gbps 高速接口",
    ),
    "monitor": (
        "{screen_size} 英寸 {resolution} {panel_type} 面板",
        "{refresh_rate}Hz 刷新率，画面顺滑",
        "出厂逐台校色，ΔE<2",
        "TÜV 莱茵低蓝光与无频闪认证",
        "支持升降、旋转与俯仰调节",
    ),
    "smart_toilet_seat": (
        "座圈恒温加热，冬季不冰",
        "断电可冲水，停电不尴尬",
        "暖风烘干，温度三档可调",
        "{power}W 即热模块，温水不断流",
        "无需改造，安装师傅上门包装",
    ),
    "smart_toilet": (
        "座圈恒温加热，冬季不冰",
        "断电可冲水，停电不尴尬",
        "UV 杀菌与自洁喷嘴，洁净卫生",
        "虹吸式冲水，一次冲净",
        "送装一体，旧马桶免费拆除",
    ),
    "washer_dryer": (
        "{wash_load}kg 大容量，四季被罩一次洗",
        "高温除菌率 99.99%，婴童衣物放心洗",
        "APP 远程控制，预约洗烘",
        "一级能效，洗烘更省电",
    ),
    "clothes_dryer": (
        "{wash_load}kg 大容量，全家衣物一次烘干",
        "热泵低温烘干，呵护衣物不伤料",
        "一级能效，比传统干衣机省电一半",
        "免排水安装，阳台卫生间都能放",
    ),
    "air_purifier": (
        "CADR {cadr}m³/h，快速净化",
        "H13 级 HEPA 滤网，过滤 PM2.5 与花粉",
        "实时空气质量显示，自动调档",
        "睡眠模式低至 22dB",
        "滤芯寿命智能提醒",
    ),
    "robot_vacuum": (
        "{suction}Pa 大吸力，地毯深层清洁",
        "续航 {battery_life} 小时，一次扫完大户型",
        "APP 分区清扫与禁区设置",
        "毛发防缠绕滚刷，养宠家庭适用",
    ),
    "rice_cooker": (
        "{capacity}L 容量，一家人吃饭刚好",
        "24 小时预约，早晚都有热饭",
        "不粘内胆，易清洗",
        "煮饭、煲粥、蒸煮多种模式",
    ),
    "hair_dryer": (
        "{power}W 大功率，速干省时",
        "智能温控，防止过热伤发",
        "轻巧机身，长时间使用不累",
        "磁吸风嘴，造型更方便",
    ),
    "phone_case": (
        "精准开孔，按键手感清晰",
        "镜头加高保护，平放不磨损",
        "适配 {compatible_model}",
        "支持无线充电，无需摘壳",
    ),
    "screen_protector": (
        "9H 硬度钢化玻璃，耐刮耐磨",
        "疏油层防指纹，顺滑触控",
        "适配 {compatible_model}，不影响指纹解锁",
    ),
    "charger": (
        "{power}W 快充，一头多充",
        "多重安全防护，充电更安心",
        "折叠插脚，出差好收纳",
        "兼容 PD/QC 主流快充协议",
    ),
    "cable": ("{interface} 接口，正反可插", "加粗线芯，快充不发烫", "1 万次弯折测试"),
    "power_bank": (
        "{battery_capacity}mAh 容量，出门一整天",
        "{power}W 快充输出",
        "多重温控保护，安全放心",
    ),
    "earphones": (
        "单次续航 {battery_life} 小时",
        "{interface} 连接，稳定低延迟",
        "IP54 防水防汗",
        "双设备连接，手机电脑自由切换",
    ),
    "mouse": (
        "{interface} 连接，即插即用",
        "人体工学设计，久握不累",
        "最高 4000 DPI 多档可调",
        "一节电池续航长达 12 个月",
    ),
    "keyboard": ("{interface} 连接，多设备切换", "可折叠脚撑，两段高度调节", "PBT 键帽，久用不打油"),
    "laptop_bag": ("{material} 面料，防泼水", "加厚海绵内衬，防磕碰", "多口袋分区收纳电源鼠标"),
    "monitor_stand": ("{material} 材质，承重稳固", "免打孔桌夹安装", "隐藏式理线，桌面更整洁"),
    "tablet_accessory": ("适配 {compatible_model}", "磁吸贴合，即连即用", "轻薄便携"),
    "filter": ("适配 {compatible_model}", "原装滤芯，净化效果有保障", "建议 6–12 个月更换"),
    "vacuum_kit": ("适配 {compatible_model}", "原装耗材，贴合机身", "建议每 3 个月更换"),
}


def _fill(template: str, params: dict[str, ParamValue]) -> str | None:
    try:
        return template.format_map(params)
    except KeyError:
        return None


def _all_families() -> list[_Family]:
    phones = _phones()
    families = [
        *phones,
        *_computers(),
        *_tablets_and_wearables(),
        *_bathroom_and_appliances(),
        *_accessories(),
        *_phone_accessories(phones),
    ]
    # An accessory of a family in the small demo is in the small demo too, so that every
    # accessory link of the small demo lands on a SKU it has.
    by_code = {f.code: f for f in families}
    small_codes = {f.code for f in families if f.small}
    for f in families:
        # A draft product links to nothing (its accessories would be links to an unsold item).
        if f.small and f.lifecycle != "draft":
            small_codes.update(f.accessories)
    missing = sorted(c for f in families for c in f.accessories if c not in by_code)
    if missing:
        raise ValueError(f"accessory families not defined: {missing}")
    return [f if f.small or f.code not in small_codes else replace(f, small=True) for f in families]


# ---------------------------------------------------------------- generation


@dataclass
class _Barcodes:
    """EAN-13 in the Chinese GS1 range (69...): one company prefix per brand, items in sequence."""

    rng: random.Random
    companies: dict[str, str] = field(default_factory=dict)
    next_item: dict[str, int] = field(default_factory=dict)

    def issue(self, brand: str) -> str:
        if brand not in self.companies:
            taken = set(self.companies.values())
            while (company := f"{self.rng.randint(10_000, 99_999)}") in taken:
                pass
            self.companies[brand] = company
            self.next_item[brand] = self.rng.randint(100, 40_000)
        item = self.next_item[brand]
        self.next_item[brand] = item + self.rng.randint(1, 3)
        return ean13(f"69{self.companies[brand]}{item:05d}")


def _discount_yuan(rng: random.Random, price: int) -> int:
    if price >= 3_000:
        return rng.choice((100, 200, 300, 500))
    if price >= 1_000:
        return rng.choice((50, 100, 200))
    if price >= 200:
        return rng.choice((20, 30, 50))
    if price >= 100:
        return rng.choice((5, 10))
    return rng.choice((3, 5))


def _cost_pct(category: str) -> tuple[int, int]:
    if category in ACCESSORY_CATEGORIES:
        return _ACCESSORY_COST_PCT
    return _COST_PCT.get(category, _DEFAULT_COST_PCT)


def _serial_prefix(rng: random.Random, kind: SerialKind | None, taken: set[str]) -> str:
    if kind is None:
        return ""
    while True:
        if kind == "imei":
            # 86 is the reporting-body prefix most Chinese handsets carry.
            prefix = f"86{rng.randint(0, 999_999):06d}"
        else:
            letters = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3))
            prefix = f"YQ{letters}{rng.randint(23, 25)}"
        if prefix not in taken:
            taken.add(prefix)
            return prefix


def build_catalog(seed: int, scale: Scale = "full") -> CatalogPlan:
    """The demo catalog for ``seed``. ``small`` is a subset of ``full`` for the same seed."""
    if scale not in ("small", "full"):
        raise ValueError(f"scale is small or full, got {scale!r}")
    rng = random.Random(seed)
    barcodes = _Barcodes(rng)
    serial_prefixes: set[str] = set()
    families = _all_families()

    spus: list[SpuSpec] = []
    skus: list[SkuSpec] = []
    small_skus: set[str] = set()
    sku_color: dict[str, str] = {}
    for fam in families:
        brand = _BRAND_BY_CODE[fam.brand]
        spu_name = f"{brand.name} {fam.model} {fam.kind}"
        spu_name_en = " ".join(p for p in (brand.name_en, fam.model_en, fam.kind_en) if p)
        params = dict(fam.params)
        pool = [p for t in _POINTS.get(fam.category, ()) if (p := _fill(t, params)) is not None]
        n_points = rng.randint(3, 5)
        picked = sorted(rng.sample(range(len(pool)), min(len(pool), max(0, n_points - len(fam.highlights)))))
        points = (*fam.highlights, *(pool[i] for i in picked))
        spus.append(
            SpuSpec(
                code=fam.code,
                name=spu_name,
                name_en=spu_name_en,
                brand_code=fam.brand,
                category_code=fam.category,
                description=f"{spu_name}：{'；'.join(points[:3])}。",
                selling_points=points,
                parameters=fam.params,
                tags=fam.tags,
                lifecycle=fam.lifecycle,
            )
        )
        options: tuple[_Option | None, ...] = fam.options or (None,)
        colors: tuple[str | None, ...] = fam.colors or (None,)
        for oi, ci in product(range(len(options)), range(len(colors))):
            opt, color = options[oi], colors[ci]
            suffix = "-".join(p for p in (opt.code if opt else None, color) if p) or "STD"
            code = f"{fam.code}-{suffix}"
            attrs: list[tuple[str, ParamValue]] = list(opt.attrs) if opt else []
            name_parts = [spu_name]
            name_en_parts = [spu_name_en]
            if opt:
                name_parts.append(opt.name)
                name_en_parts.append(opt.name_en)
            if color:
                zh, en = COLORS[color]
                attrs.append(("color", zh))
                name_parts.append(zh)
                name_en_parts.append(en)
            price = (opt.price_yuan if opt and opt.price_yuan is not None else None) or fam.price_yuan
            list_fen = price * 100
            lifecycle = fam.lifecycle
            # Now and then the last colour of a live product is discontinued (sold down, not
            # reordered).
            if lifecycle == "on_sale" and len(colors) > 2 and ci == len(colors) - 1 and rng.random() < 0.2:
                lifecycle = "off_sale"
            if lifecycle == "off_sale":
                sale_fen = list_fen - 100 * _discount_yuan(rng, price) * rng.randint(1, 2)
            elif lifecycle == "on_sale" and rng.random() < 0.35:
                sale_fen = list_fen - 100 * _discount_yuan(rng, price)
            else:
                sale_fen = list_fen
            lo, hi = _cost_pct(fam.category)
            # Whole yuan for anything over 100 yuan, whole jiao below (rounded up).
            step = 100 if sale_fen >= 10_000 else 10
            cost_fen = -(-sale_fen * rng.randint(lo, hi) // (100 * step)) * step
            tags = list(fam.tags)
            if lifecycle == "on_sale" and rng.random() < 0.08:
                tags.append("爆款")
            skus.append(
                SkuSpec(
                    code=code,
                    spu_code=fam.code,
                    category_code=fam.category,
                    name=" ".join(name_parts),
                    name_en=" ".join(p for p in name_en_parts if p),
                    sale_attributes=tuple(attrs),
                    list_price_fen=list_fen,
                    sale_price_fen=sale_fen,
                    unit_cost_fen=cost_fen,
                    barcodes=(barcodes.issue(fam.brand),),
                    serial_kind=fam.serial,
                    serial_prefix=_serial_prefix(rng, fam.serial, serial_prefixes),
                    lifecycle=lifecycle,
                    tags=tuple(tags),
                    weight_g=fam.weight_g + (opt.extra_weight_g if opt else 0),
                )
            )
            if color:
                sku_color[code] = color
            # The small demo keeps two configurations and two colours of a product, one of an
            # accessory.
            if fam.small and oi < 2 and ci < (1 if fam.category in ACCESSORY_CATEGORIES else 2):
                small_skus.add(code)

    channel_prices = _channel_prices(rng, skus)
    if scale == "small":
        families = [f for f in families if f.small]
        keep_spus = {f.code for f in families}
        spus = [s for s in spus if s.code in keep_spus]
        skus = [s for s in skus if s.code in small_skus]
        channel_prices = [c for c in channel_prices if c.sku_code in small_skus]
    links = _links(families, skus, sku_color)
    used_categories = {s.category_code for s in spus}
    parents = {c.code: c.parent_code for c in CATEGORIES}
    needed: set[str] = set()
    for code in used_categories:
        node: str | None = code
        while node is not None:
            needed.add(node)
            node = parents[node]
    used_brands = {s.brand_code for s in spus}
    return CatalogPlan(
        seed=seed,
        scale=scale,
        brands=tuple(b for b in BRANDS if b.code in used_brands),
        categories=tuple(c for c in CATEGORIES if c.code in needed),
        attributes=ATTRIBUTES,
        spus=tuple(spus),
        skus=tuple(skus),
        channel_prices=tuple(channel_prices),
        links=tuple(links),
    )


def _links(families: list[_Family], skus: list[SkuSpec], sku_color: dict[str, str]) -> list[SkuLinkSpec]:
    by_spu: dict[str, list[SkuSpec]] = {}
    for s in skus:
        by_spu.setdefault(s.spu_code, []).append(s)
    sellable = {s.code for s in skus if s.lifecycle != "draft"}
    links: list[SkuLinkSpec] = []
    seen: set[tuple[str, str, str]] = set()

    def add(a: str, b: str, kind: Literal["related", "accessory"]) -> None:
        if a != b and b in sellable and (a, b, kind) not in seen:
            seen.add((a, b, kind))
            links.append(SkuLinkSpec(a, b, kind))

    for fam in families:
        for sku in by_spu[fam.code]:
            for acc in fam.accessories:
                candidates = by_spu.get(acc, [])
                if not candidates:
                    continue
                # The case in the phone's own colour when there is one, else the first.
                colour = sku_color.get(sku.code)
                same = [c for c in candidates if colour is not None and sku_color.get(c.code) == colour]
                add(sku.code, (same or candidates)[0].code, "accessory")
    # Related: each product's lead SKU beside its neighbours in the same category.
    by_category: dict[str, list[str]] = {}
    for fam in families:
        if fam.lifecycle != "draft":
            by_category.setdefault(fam.category, []).append(by_spu[fam.code][0].code)
    for leads in by_category.values():
        for a, b in pairwise(leads):
            add(a, b, "related")
            add(b, a, "related")
    return links


def _channel_prices(rng: random.Random, skus: list[SkuSpec]) -> list[ChannelPriceSpec]:
    """Marketplace promotions on some big-ticket SKUs; instant retail a little dearer on some
    accessories (the platform's commission)."""
    out: list[ChannelPriceSpec] = []
    for s in skus:
        if s.lifecycle != "on_sale":
            continue
        sale_yuan = s.sale_price_fen // 100
        if sale_yuan >= 1_000 and rng.random() < 0.3:
            for channel in ("jd", "tmall"):
                cut = rng.choice((0, 50, 100)) if channel == "tmall" else rng.choice((50, 100))
                if cut:
                    out.append(ChannelPriceSpec(s.code, channel, s.sale_price_fen - cut * 100))
        elif s.category_code in ACCESSORY_CATEGORIES and rng.random() < 0.2:
            out.append(ChannelPriceSpec(s.code, "meituan", s.sale_price_fen + rng.choice((3, 5, 10)) * 100))
    return out
