"""Entities in customers' messages: order numbers, phones, URLs, products, quantities, dates,
serials and attributes, on a small hand-written catalog (and once through the catalog service)."""

from __future__ import annotations

from datetime import date

import pytest

from zhongtai.catalog.service import SearchIndexRow
from zhongtai.db import Database
from zhongtai.service import entities
from zhongtai.service.entities import SKU_MIN_SCORE, AttributeInfo, CatalogIndex, cn_number, extract

TODAY = date(2026, 12, 10)  # a Thursday


def _row(
    code: str,
    name: str,
    spu_code: str,
    spu_name: str,
    *,
    brand: tuple[str, str] = ("极客", "Acme"),
    name_en: str = "",
    spu_name_en: str = "",
    model: str = "",
    lifecycle: str = "on_sale",
    attrs: dict[str, object] | None = None,
    barcodes: tuple[str, ...] = (),
) -> SearchIndexRow:
    return SearchIndexRow(
        code=code,
        name=name,
        name_en=name_en,
        spu_code=spu_code,
        spu_name=spu_name,
        spu_name_en=spu_name_en,
        brand_name=brand[0],
        brand_name_en=brand[1],
        category_name="手机",
        category_name_en="Phones",
        model=model,
        lifecycle=lifecycle,
        sale_attributes=attrs or {},
        barcodes=barcodes,
    )


XIAOMI = ("小米", "Xiaomi")
ROWS = [
    _row(
        "XM14P-12-256-BK",
        "Xiaomi 14 Pro 12+256 黑色",
        "XM14P",
        "Xiaomi 14 Pro",
        brand=XIAOMI,
        model="14 Pro",
        attrs={"color": "黑色"},
        barcodes=("6934177700011",),
    ),
    _row(
        "XM14P-16-512-WH",
        "Xiaomi 14 Pro 16+512 白色",
        "XM14P",
        "Xiaomi 14 Pro",
        brand=XIAOMI,
        model="14 Pro",
        attrs={"color": "白色"},
    ),
    _row("XM14-12-256-BK", "Xiaomi 14 12+256 黑色", "XM14", "Xiaomi 14", brand=XIAOMI, model="14"),
    _row(
        "AC-X5P-8-128-BK",
        "极客 X5 Pro 5G 手机 8GB+128GB 曜石黑",
        "AC-X5P",
        "极客 X5 Pro 5G 手机",
        name_en="Acme X5 Pro 5G Smartphone 8GB+128GB Obsidian Black",
        spu_name_en="Acme X5 Pro 5G Smartphone",
        attrs={"color": "曜石黑"},
        barcodes=("6900000000017",),
    ),
    _row(
        "AC-X5P-12-256-WH",
        "极客 X5 Pro 5G 手机 12GB+256GB 冰川白",
        "AC-X5P",
        "极客 X5 Pro 5G 手机",
        name_en="Acme X5 Pro 5G Smartphone 12GB+256GB Glacier White",
        spu_name_en="Acme X5 Pro 5G Smartphone",
        attrs={"color": "冰川白"},
    ),
    _row(
        "AC-X5P-16-1024-WH",
        "极客 X5 Pro 5G 手机 16GB+1TB 冰川白",
        "AC-X5P",
        "极客 X5 Pro 5G 手机",
        spu_name_en="Acme X5 Pro 5G Smartphone",
        attrs={"color": "冰川白"},
        lifecycle="off_sale",
    ),
    _row("AC-X5-8-128-BK", "极客 X5 5G 手机 8GB+128GB 曜石黑", "AC-X5", "极客 X5 5G 手机"),
    _row("AC-X6-8-128-BK", "极客 X6 5G 手机 8GB+128GB 曜石黑", "AC-X6", "极客 X6 5G 手机"),
    _row("AC-BOOK14", "极客 BookPro 14 轻薄笔记本电脑", "AC-BOOK14", "极客 BookPro 14 轻薄笔记本电脑"),
    _row("AC-BOOK16", "极客 BookPro 16 高性能创作本", "AC-BOOK16", "极客 BookPro 16 高性能创作本"),
    _row("AC-CHG65", "极客 65W 氮化镓充电器", "AC-CHG65", "极客 65W 氮化镓充电器"),
    _row(
        "DJ-CASE-X5P",
        "盾甲 极客 X5 Pro 液态硅胶手机壳",
        "DJ-CASE-X5P",
        "盾甲 极客 X5 Pro 液态硅胶手机壳",
        brand=("盾甲", "Dunjia"),
    ),
    _row("AC-M1", "极客 M1 无线鼠标", "AC-M1", "极客 M1 无线鼠标"),
]
ATTRS = [
    AttributeInfo("screen_size", "屏幕尺寸", "Screen size", "英寸"),
    AttributeInfo("battery_capacity", "电池容量", "Battery capacity", "mAh"),
    AttributeInfo("memory", "内存", "Memory", "GB"),
    AttributeInfo("storage", "存储", "Storage", "GB"),
    AttributeInfo("weight", "重量", "Weight", "kg"),
    AttributeInfo("refresh_rate", "刷新率", "Refresh rate", "Hz"),
    AttributeInfo("color", "颜色", "Colour"),
    AttributeInfo("capacity", "容量", "Capacity", "L"),
]


@pytest.fixture(scope="module")
def catalog() -> CatalogIndex:
    return CatalogIndex(ROWS, ATTRS)


def _skus(text: str, catalog: CatalogIndex) -> list[str]:
    return [m.code for m in extract(text, catalog, today=TODAY).skus]


# ---------------------------------------------------------------- order numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的订单ZT261203ABCD1234到哪了", ("ZT261203ABCD1234",)),
        ("订单号 zt261203abcd1234", ("ZT261203ABCD1234",)),
        ("单号是 ZT 261203 ABCD1234，麻烦查下", ("ZT261203ABCD1234",)),
        ("ｚｔ２６１２０３ＡＢＣＤ１２３４", ("ZT261203ABCD1234",)),
        ("京东订单 250612345678 还没发货", ("250612345678",)),
        ("两个单 ZT261203ABCD1234 和 ZT261204XYZW5678", ("ZT261203ABCD1234", "ZT261204XYZW5678")),
        ("订单 31234567890123456789", ("31234567890123456789",)),
    ],
)
def test_order_numbers(text: str, expected: tuple[str, ...], catalog: CatalogIndex) -> None:
    assert extract(text, catalog, today=TODAY).order_numbers == expected


@pytest.mark.parametrize(
    "text",
    [
        "我的手机号13812345678",  # a mobile number is not a channel order id
        "订单ZT2612ABCD",  # too short to be one of ours
        "123456789",  # nine digits
        "条码6934177700011有货吗",  # a known barcode is a product, not an order
        "IMEI 867530012345678",  # a serial
        "https://item.jd.com/100012345678.html",  # inside a URL
    ],
)
def test_not_order_numbers(text: str, catalog: CatalogIndex) -> None:
    assert extract(text, catalog, today=TODAY).order_numbers == ()


# ---------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的电话13812345678", ("13812345678",)),
        ("手机：138 1234 5678", ("13812345678",)),
        ("+86 138-1234-5678", ("13812345678",)),
        ("8613912345678", ("13912345678",)),
        ("预留的是138****1234", ("138****1234",)),
        ("手机尾号5678的那个订单", ("*******5678",)),
        ("１５９１２３４５６７８", ("15912345678",)),
    ],
)
def test_phones(text: str, expected: tuple[str, ...], catalog: CatalogIndex) -> None:
    assert extract(text, catalog, today=TODAY).phones == expected


@pytest.mark.parametrize(
    "text",
    [
        "订单ZT261203ABCD1234",
        "订单 2138123456789",  # 13 digits: an order id with a phone-like middle
        "12812345678",  # 12x is not a mobile prefix
        "你好",
    ],
)
def test_not_phones(text: str, catalog: CatalogIndex) -> None:
    assert extract(text, catalog, today=TODAY).phones == ()


# ---------------------------------------------------------------- URLs


def test_web_shop_url_names_the_sku(catalog: CatalogIndex) -> None:
    e = extract("这个有货吗 https://shop.example.com/p/AC-X5P-12-256-WH", catalog, today=TODAY)
    assert e.urls == ("https://shop.example.com/p/AC-X5P-12-256-WH",)
    assert [(m.code, m.score, m.variant) for m in e.skus] == [("AC-X5P-12-256-WH", 1.0, True)]
    assert e.skus[0].span == (6, 6 + len(e.urls[0]))


def test_query_url_and_jd_item_by_barcode(catalog: CatalogIndex) -> None:
    assert _skus("https://m.example.cn/item?sku=xm14p-16-512-wh&from=share", catalog) == ["XM14P-16-512-WH"]
    e = extract("京东链接 https://item.jd.com/6934177700011.html 和官网一样吗", catalog, today=TODAY)
    assert e.urls == ("https://item.jd.com/6934177700011.html",)
    assert [m.code for m in e.skus] == ["XM14P-12-256-BK"]


def test_unknown_url_is_kept_without_a_sku(catalog: CatalogIndex) -> None:
    e = extract("看看这个 item.jd.com/100012345678.html", catalog, today=TODAY)
    assert e.urls == ("item.jd.com/100012345678.html",)
    assert e.skus == ()
    assert e.order_numbers == ()


# ---------------------------------------------------------------- products


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("小米14 pro多少钱", ["XM14P-12-256-BK"]),
        ("xiaomi 14 pro 有货吗", ["XM14P-12-256-BK"]),
        ("小米14pro 16+512 白色", ["XM14P-16-512-WH"]),
        ("小米14呢", ["XM14-12-256-BK"]),
        ("极客X5 Pro多少钱", ["AC-X5P-8-128-BK"]),
        ("X5 Pro 12+256 冰川白有吗", ["AC-X5P-12-256-WH"]),
        ("x5pro 16GB+1TB", ["AC-X5P-16-1024-WH"]),
        ("Acme X5 Pro 5G Smartphone", ["AC-X5P-8-128-BK"]),
        ("极客Ｘ５　Ｐｒｏ", ["AC-X5P-8-128-BK"]),  # full-width
        ("極客X5 Pro", ["AC-X5P-8-128-BK"]),  # traditional
        ("极克X5 Pro怎么样", ["AC-X5P-8-128-BK"]),  # a typo in the brand
        ("极客X5 Por", ["AC-X5P-8-128-BK"]),  # a typo in the model
        ("bookpro 14 续航", ["AC-BOOK14"]),
        ("m1鼠标", ["AC-M1"]),
        ("盾甲x5 pro液态硅胶手机壳", ["DJ-CASE-X5P"]),
        ("AC-X6-8-128-BK", ["AC-X6-8-128-BK"]),
        ("6900000000017", ["AC-X5P-8-128-BK"]),
    ],
)
def test_products(text: str, expected: list[str], catalog: CatalogIndex) -> None:
    assert _skus(text, catalog) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("X5 Pro和X5有什么区别", ["AC-X5P-8-128-BK", "AC-X5-8-128-BK"]),
        ("x5跟x6哪个好", ["AC-X5-8-128-BK", "AC-X6-8-128-BK"]),
        ("小米14 pro 和 极客x5 pro 比一下", ["XM14P-12-256-BK", "AC-X5P-8-128-BK"]),
        ("BookPro 16和BookPro 14区别", ["AC-BOOK16", "AC-BOOK14"]),
    ],
)
def test_two_products_for_a_comparison(text: str, expected: list[str], catalog: CatalogIndex) -> None:
    assert _skus(text, catalog) == expected


@pytest.mark.parametrize(
    "text",
    [
        "你好",
        "我想买个手机",
        "有没有充电器",
        "笔记本电脑哪款好",
        "pro和max有什么区别",
        "我的快递到哪了",
        "X7 Pro 有吗",  # a model this catalog does not have
        "极客X9",
        "BookPro 15",  # a number the catalog does not have
        "小米13",
        "5G手机",
    ],
)
def test_ordinary_words_are_not_products(text: str, catalog: CatalogIndex) -> None:
    assert _skus(text, catalog) == []


def test_mention_details(catalog: CatalogIndex) -> None:
    (exact,) = extract("请问极客X5 Pro有货吗", catalog, today=TODAY).skus
    assert exact.spu_code == "AC-X5P"
    assert exact.score == 1.0
    assert exact.span == (2, 10)
    assert exact.variant is False  # the product, not a variant: the first on-sale SKU stands for it
    (model_only,) = extract("X5 Pro", catalog, today=TODAY).skus
    assert SKU_MIN_SCORE <= model_only.score < 1.0
    (fuzzy,) = extract("极克X5 Pro", catalog, today=TODAY).skus
    assert SKU_MIN_SCORE <= fuzzy.score < exact.score
    (off,) = extract("X5 Pro 16+1T", catalog, today=TODAY).skus
    assert off.variant is True
    assert off.on_sale is False


def test_threshold_both_ways(catalog: CatalogIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fuzzy score of a one-typo mention sits above the threshold and that of a near-miss
    below it; moving the threshold moves the answer."""
    typo = "极克X5 Pro怎么样"
    (hit,) = extract(typo, catalog, today=TODAY).skus
    monkeypatch.setattr(entities, "SKU_MIN_SCORE", hit.score + 0.01)
    assert extract(typo, catalog, today=TODAY).skus == ()
    monkeypatch.setattr(entities, "SKU_MIN_SCORE", 0.3)
    assert _skus("极客X5 Pro", catalog) == ["AC-X5P-8-128-BK"]


# ---------------------------------------------------------------- quantities, dates, serials


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("买两台", (2,)),
        ("要3个", (3,)),
        ("一件就够", (1,)),
        ("十二个", (12,)),
        ("二十件", (20,)),
        ("一百零五个", (105,)),
        ("手机壳要2个，充电器1个", (2, 1)),
        ("保修3个月", ()),
        ("第二个", ()),
        ("3块钱", ()),
        ("你好", ()),
    ],
)
def test_quantities(text: str, expected: tuple[int, ...], catalog: CatalogIndex) -> None:
    assert extract(text, catalog, today=TODAY).quantities == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("昨天下的单", (date(2026, 12, 9),)),
        ("前天买的", (date(2026, 12, 8),)),
        ("大前天", (date(2026, 12, 7),)),
        ("12月3日付的款", (date(2026, 12, 3),)),
        ("12月3号", (date(2026, 12, 3),)),
        ("十二月三日", (date(2026, 12, 3),)),
        ("2026-12-03", (date(2026, 12, 3),)),
        ("2026/12/3", (date(2026, 12, 3),)),
        ("2025年11月11日", (date(2025, 11, 11),)),
        ("上周五买的", (date(2026, 12, 4),)),
        ("这周一", (date(2026, 12, 7),)),
        ("周五", (date(2026, 12, 4),)),  # Friday has not come yet this week: last Friday
        ("周二", (date(2026, 12, 8),)),
        ("下周一能到吗", (date(2026, 12, 14),)),
        ("3天前", (date(2026, 12, 7),)),
        ("三天前", (date(2026, 12, 7),)),
        ("5号下的单", (date(2026, 12, 5),)),
        ("28号", (date(2026, 11, 28),)),  # the 28th has not come this month: last month's
        ("12月31日", (date(2026, 12, 31),)),  # 21 days ahead: within 60 days, this year's
        ("2月30日", ()),
        ("你好", ()),
    ],
)
def test_dates(text: str, expected: tuple[date, ...], catalog: CatalogIndex) -> None:
    assert extract(text, catalog, today=TODAY).dates == expected


def test_month_day_far_ahead_is_last_year(catalog: CatalogIndex) -> None:
    assert extract("12月28日买的", catalog, today=date(2027, 1, 3)).dates == (date(2026, 12, 28),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SN: C02XK1ABJG5H 还在保修吗", ("C02XK1ABJG5H",)),
        ("序列号是c02xk1abjg5h", ("C02XK1ABJG5H",)),
        ("串号 867530012345678", ("867530012345678",)),
        ("IMEI：867530012345678", ("867530012345678",)),
        ("机器背面写着 YQ24A1B2C3D4", ("YQ24A1B2C3D4",)),
        ("订单ZT261203ABCD1234", ()),
        ("AC-X6-8-128-BK", ()),
        ("iphone15promax 怎么样", ()),  # lower-case words are not serials
        ("bookpro14pro2023", ()),
        ("机器编号 g5tw9a3cxb12", ("G5TW9A3CXB12",)),  # but a long, thoroughly mixed token is
        ("我的订单是250612345678", ()),
        # A bare 15-digit number that passes the Luhn check is a phone's IMEI, not an order id ...
        ("查保修 490154203237518", ("490154203237518",)),
        ("490154203237518这台机器保修到哪天", ("490154203237518",)),
        # ... unless the customer says it is an order, or the check fails.
        ("订单号490154203237518", ()),
        ("查一下 490154203237517", ()),
    ],
)
def test_serials(text: str, expected: tuple[str, ...], catalog: CatalogIndex) -> None:
    assert extract(text, catalog, today=TODAY).serials == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("屏幕多大", ("screen_size",)),
        ("屏幕尺寸是多少", ("screen_size",)),
        ("电池多少毫安", ("battery_capacity",)),
        ("运存多少", ("memory",)),
        ("内存和存储分别是多少", ("memory", "storage")),
        ("容量多大", ("capacity", "storage")),  # the name first, then the synonym
        ("有多重", ("weight",)),
        ("刷新率是多少hz", ("refresh_rate",)),
        ("what is the screen size", ("screen_size",)),
        ("有什么颜色", ("color",)),
        ("续航怎么样", ()),  # battery_life is not defined in this catalog
        ("你好", ()),
    ],
)
def test_attributes(text: str, expected: tuple[str, ...], catalog: CatalogIndex) -> None:
    assert extract(text, catalog, today=TODAY).attributes == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", 12), ("十", 10), ("十二", 12), ("二十", 20), ("两", 2), ("一百零五", 105), ("三千", 3000), ("x", None)],
)
def test_cn_number(text: str, value: int | None) -> None:
    assert cn_number(text) == value


def test_everything_in_one_message(catalog: CatalogIndex) -> None:
    e = extract(
        "昨天在京东买了两台极客X5 Pro 12+256 冰川白，订单250612345678，电话138 1234 5678，屏幕有划痕！",
        catalog,
        today=TODAY,
    )
    assert e.dates == (date(2026, 12, 9),)
    assert e.quantities == (2,)
    assert [m.code for m in e.skus] == ["AC-X5P-12-256-WH"]
    assert e.order_numbers == ("250612345678",)
    assert e.phones == ("13812345678",)
    assert e.attributes == ("screen_size",)
    assert e.serials == ()


def test_empty_catalog_and_text() -> None:
    empty = CatalogIndex([], [])
    assert extract("", empty) == entities.Entities()
    assert extract("小米14 pro 订单ZT261203ABCD1234", empty).skus == ()
    assert extract("小米14 pro 订单ZT261203ABCD1234", empty).order_numbers == ("ZT261203ABCD1234",)


# ---------------------------------------------------------------- through the catalog service


def test_catalog_index_from_the_catalog_and_its_invalidation(db: Database) -> None:
    from tests.factories import SYSTEM, make_catalog_basics, make_catalog_sku
    from zhongtai.catalog import service as catalog_service

    make_catalog_basics(db)
    with db.transaction() as s:
        catalog_service.create_spu(
            s,
            SYSTEM,
            code="NOVA7",
            name="极客 Nova 7 5G 手机",
            name_en="Acme Nova 7 5G Phone",
            category_code="phones",
            brand_code="acme",
            parameters={"screen_size": 6.7},
        )
    make_catalog_sku(db, "NOVA7-128-BK", spu_code="NOVA7", sale_attributes={"color": "曜石黑", "storage": "128GB"})
    make_catalog_sku(
        db,
        "NOVA7-256-WH",
        spu_code="NOVA7",
        sale_attributes={"color": "冰川白", "storage": "256GB"},
        barcodes=("6900000000021",),
    )
    entities.clear_cache()
    with db.transaction(write=False) as s:
        index = entities.catalog_index(s)
        assert entities.catalog_index(s) is index  # cached while nothing changes
    assert index.sku_count() == 2
    assert set(index.attributes) == {"screen_size", "material", "color", "storage"}
    e = extract("极客nova7 冰川白 屏幕多大", index, today=TODAY)
    assert [(m.code, m.variant) for m in e.skus] == [("NOVA7-256-WH", True)]
    assert e.attributes == ("screen_size",)
    assert [m.code for m in extract("条码 6900000000021", index, today=TODAY).skus] == ["NOVA7-256-WH"]
    assert extract("nova 8", index, today=TODAY).skus == ()

    with db.transaction() as s:
        catalog_service.create_spu(
            s, SYSTEM, code="NOVA8", name="极客 Nova 8 5G 手机", category_code="phones", brand_code="acme"
        )
    make_catalog_sku(db, "NOVA8-256-BK", spu_code="NOVA8", sale_attributes={"color": "曜石黑"})
    with db.transaction(write=False) as s:
        rebuilt = entities.catalog_index(s)
    assert rebuilt is not index
    assert [m.code for m in extract("nova 8", rebuilt, today=TODAY).skus] == ["NOVA8-256-BK"]


def test_a_luhn_valid_15_digit_number_is_a_serial_not_an_order(catalog: CatalogIndex) -> None:
    found = extract("查保修 490154203237518", catalog, today=TODAY)
    assert found.order_numbers == ()
    assert extract("订单号490154203237518", catalog, today=TODAY).order_numbers == ("490154203237518",)
    assert extract("查一下 490154203237517", catalog, today=TODAY).order_numbers == ("490154203237517",)


def test_a_model_said_without_its_tier_word() -> None:
    # Customers drop "Pro": "P700" is the P700 Pro (and its filter) when there is no plain P700;
    # where a plain Q60 exists, "Q60" stays the Q60.
    rows = [
        _row("P700P-WH", "极客 P700 Pro 空气净化器 白", "P700P", "极客 P700 Pro 空气净化器"),
        _row("P300-WH", "极客 P300 空气净化器 白", "P300", "极客 P300 空气净化器"),
        _row("Q60-BK", "极客 Q60 手机 黑", "Q60", "极客 Q60 手机"),
        _row("Q60P-BK", "极客 Q60 Pro 手机 黑", "Q60P", "极客 Q60 Pro 手机"),
    ]
    index = CatalogIndex(rows)
    assert _skus("P300和P700差在哪", index) == ["P300-WH", "P700P-WH"]
    assert _skus("Q60怎么样", index) == ["Q60-BK"]
    assert _skus("Q60 Pro怎么样", index) == ["Q60P-BK"]
    assert _skus("P70怎么样", index) == []
