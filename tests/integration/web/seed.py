"""A small shop for console tests, built through the services (as the product builds it).

Two stores in Shanghai, one in Beijing and a DC in Wuhan; a phone in two colours, a case that is
its accessory, a draft SKU; stock received everywhere, one SKU below its safety stock.
"""

from __future__ import annotations

from dataclasses import dataclass

from zhongtai.auth.principal import Principal
from zhongtai.catalog import service as catalog
from zhongtai.channels import service as channels
from zhongtai.db import Database
from zhongtai.inventory import service as inventory
from zhongtai.inventory.schemas import LocationIn, StockLineIn

SYSTEM = Principal.system("web-tests")
HOURS = {d: ["10:00", "22:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def gtin(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Shop:
    dc: int
    store_a: int  # S-SH01
    store_b: int  # S-SH02
    store_c: int  # S-BJ01


LOCATIONS = (
    ("DC-WH", "华中中央仓", "Central DC", "central_dc", "武汉市", 30.67, 114.13, None, {}),
    ("S-SH01", "上海南京东路店", "Shanghai Nanjing Rd", "store", "上海市", 31.2366, 121.4795, "DC-WH", HOURS),
    ("S-SH02", "上海淮海中路店", "Shanghai Huaihai Rd", "store", "上海市", 31.2205, 121.4680, "DC-WH", HOURS),
    ("S-BJ01", "北京西单店", "Beijing Xidan", "store", "北京市", 39.9110, 116.3740, "DC-WH", HOURS),
)


def seed_shop(db: Database) -> Shop:
    with db.transaction() as s:
        channels.create_channel(s, SYSTEM, code="jd", name="京东旗舰店", kind="marketplace", platform="jd")
        ids = {}
        for code, name, name_en, kind, city, lat, lon, parent, hours in LOCATIONS:
            loc = inventory.create_location(
                s,
                SYSTEM,
                LocationIn(
                    code=code,
                    name=name,
                    name_en=name_en,
                    type=kind,
                    city=city,
                    region="华东",
                    province=city,
                    address=f"{city}某路 1 号",
                    latitude=lat,
                    longitude=lon,
                    opening_hours=hours,
                    parent_dc_code=parent,
                ),
            )
            ids[code] = loc.id
        catalog.create_category(s, SYSTEM, code="phones", name="手机通讯", name_en="Phones")
        catalog.create_category(
            s, SYSTEM, code="smartphones", name="智能手机", name_en="Smartphones", parent_code="phones"
        )
        catalog.create_category(s, SYSTEM, code="cases", name="手机壳", name_en="Cases", parent_code="phones")
        catalog.create_brand(s, SYSTEM, code="yq", name="云启", name_en="Yunqi")
        catalog.define_attribute(
            s, SYSTEM, code="screen_size", name="屏幕尺寸", name_en="Screen size", kind="number", unit="英寸"
        )
        catalog.define_attribute(s, SYSTEM, code="color", name="颜色", name_en="Colour", kind="text", level="sku")
        catalog.create_spu(
            s,
            SYSTEM,
            code="P-X1",
            name="云启 X1 手机",
            name_en="Yunqi X1 phone",
            category_code="smartphones",
            brand_code="yq",
            selling_points=["一亿像素主摄", "两天续航"],
            parameters={"screen_size": 6.7},
        )
        catalog.create_spu(s, SYSTEM, code="C-X1", name="X1 手机壳", category_code="cases", brand_code="yq")
        catalog.create_sku(
            s,
            SYSTEM,
            spu_code="C-X1",
            code="X1-CASE",
            name="X1 硅胶手机壳",
            list_price_fen=9900,
            sale_price_fen=7900,
            unit_cost_fen=2000,
            lifecycle="on_sale",
            barcodes=[gtin("690000000003")],
        )
        catalog.create_sku(
            s,
            SYSTEM,
            spu_code="P-X1",
            code="X1-BLK-256",
            name="云启 X1 曜石黑 256GB",
            name_en="Yunqi X1 Black 256GB",
            list_price_fen=499900,
            sale_price_fen=459900,
            unit_cost_fen=320000,
            sale_attributes={"color": "曜石黑"},
            barcodes=[gtin("690000000001")],
            channel_prices={"jd": 449900},
            accessories=["X1-CASE"],
            lifecycle="on_sale",
        )
        catalog.create_sku(
            s,
            SYSTEM,
            spu_code="P-X1",
            code="X1-WHT-256",
            name="云启 X1 云白 256GB",
            list_price_fen=499900,
            sale_price_fen=499900,
            unit_cost_fen=320000,
            sale_attributes={"color": "云白"},
            barcodes=[gtin("690000000002")],
        )
        for code, qty in (("DC-WH", 120), ("S-SH01", 8), ("S-SH02", 3), ("S-BJ01", 5)):
            inventory.receive_stock(
                s,
                SYSTEM,
                location_code=code,
                reference=f"PO-{code}",
                lines=[
                    StockLineIn(sku_code="X1-BLK-256", quantity=qty),
                    StockLineIn(sku_code="X1-CASE", quantity=qty * 2),
                ],
            )
        inventory.set_safety_stock(s, SYSTEM, location_code="S-SH02", sku_code="X1-BLK-256", quantity=5)
    return Shop(dc=ids["DC-WH"], store_a=ids["S-SH01"], store_b=ids["S-SH02"], store_c=ids["S-BJ01"])
