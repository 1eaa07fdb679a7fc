"""Builders for test data. They go through the same service verbs as the product."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient

from zhongtai.auth import service as auth_service
from zhongtai.auth.principal import Principal
from zhongtai.db import Database

SYSTEM = Principal.system("tests")
PASSWORD = "correct-horse-1"


@dataclass
class ApiCaller:
    """Headers for one API caller (key or console session)."""

    headers: dict[str, str]
    cookies: dict[str, str]


def make_user(db: Database, username: str, role: str, store_ids: list[int] | None = None) -> int:
    with db.transaction() as s:
        user = auth_service.create_user(
            s,
            SYSTEM,
            username=username,
            display_name=username,
            password=PASSWORD,
            role=role,
            store_ids=store_ids or [],
        )
        return user.id


def make_key(db: Database, role: str = "integrator", channel_code: str | None = None, name: str = "test key") -> str:
    with db.transaction() as s:
        return auth_service.create_api_key(s, SYSTEM, name=name, role=role, channel_code=channel_code).secret


def key_headers(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def console_login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Logs the client in through the console form; returns the headers a page's JS would send."""
    resp = client.post("/login", data={"username": username, "password": password}, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    with client.app.state.db.transaction(write=False) as s:  # type: ignore[attr-defined]
        token = client.cookies.get(client.app.state.settings.session_cookie)  # type: ignore[attr-defined]
        principal = auth_service.principal_from_session_token(s, token or "")
    assert principal is not None
    return {"X-CSRF-Token": principal.csrf_token or ""}


# ---------------------------------------------------------------- catalog


def make_catalog_basics(db: Database) -> None:
    """Categories 3c > phones and 3c > accessories, brand ``acme``, channels ``web`` and ``jd``, and
    attributes screen_size (number, 英寸), material (text), color and storage (enum, sale attributes)."""
    from zhongtai.catalog import service as catalog
    from zhongtai.channels import service as channels

    with db.transaction() as s:
        catalog.create_category(s, SYSTEM, code="3c", name="数码")
        catalog.create_category(s, SYSTEM, code="phones", name="手机", name_en="Phones", parent_code="3c")
        catalog.create_category(s, SYSTEM, code="accessories", name="配件", parent_code="3c")
        catalog.create_category(s, SYSTEM, code="home", name="家电")
        catalog.create_brand(s, SYSTEM, code="acme", name="极客", name_en="Acme")
        catalog.define_attribute(s, SYSTEM, code="screen_size", name="屏幕尺寸", kind="number", unit="英寸")
        catalog.define_attribute(s, SYSTEM, code="material", name="材质", kind="text")
        catalog.define_attribute(
            s, SYSTEM, code="color", name="颜色", kind="enum", level="sku", options=["曜石黑", "冰川白", "远峰蓝"]
        )
        catalog.define_attribute(
            s, SYSTEM, code="storage", name="存储", kind="enum", level="sku", options=["128GB", "256GB"]
        )
        channels.create_channel(s, SYSTEM, code="web", name="官网", kind="web_shop")
        channels.create_channel(s, SYSTEM, code="jd", name="京东旗舰店", kind="marketplace", platform="jd")


def make_catalog_spu(
    db: Database, code: str = "P1", *, category_code: str = "phones", parameters: dict[str, object] | None = None
) -> None:
    from zhongtai.catalog import service as catalog

    with db.transaction() as s:
        catalog.create_spu(
            s,
            SYSTEM,
            code=code,
            name=f"手机 {code}",
            category_code=category_code,
            brand_code="acme",
            selling_points=["长续航"],
            parameters=parameters if parameters is not None else {"screen_size": 6.1},
        )


def make_catalog_sku(
    db: Database,
    code: str,
    *,
    spu_code: str = "P1",
    sale_price_fen: int = 399_900,
    list_price_fen: int = 499_900,
    sale_attributes: dict[str, object] | None = None,
    barcodes: tuple[str, ...] = (),
    lifecycle: str = "draft",
    serial_tracked: bool = False,
) -> None:
    from zhongtai.catalog import service as catalog

    with db.transaction() as s:
        catalog.create_sku(
            s,
            SYSTEM,
            spu_code=spu_code,
            code=code,
            name=f"SKU {code}",
            list_price_fen=list_price_fen,
            sale_price_fen=sale_price_fen,
            unit_cost_fen=250_000,
            sale_attributes=sale_attributes or {},
            barcodes=barcodes,
            lifecycle=lifecycle,
            serial_tracked=serial_tracked,
        )


# ---------------------------------------------------------------- inventory


def make_location(db: Database, code: str, type: str = "store", **fields: object) -> int:
    """A location through the service verb; returns its id. ``fields``: any LocationIn field."""
    from zhongtai.inventory import service as inventory
    from zhongtai.inventory.schemas import LocationIn

    data = LocationIn.model_validate({"code": code, "name": f"{type} {code}", "type": type, **fields})
    with db.transaction() as s:
        return inventory.create_location(s, SYSTEM, data).id


def receive(db: Database, location_code: str, sku_code: str, quantity: int, serials: list[str] | None = None) -> None:
    """Goods in through ``receive_stock`` (a ``receipt`` movement)."""
    from zhongtai.inventory import service as inventory
    from zhongtai.inventory.schemas import StockLineIn

    with db.transaction() as s:
        inventory.receive_stock(
            s,
            SYSTEM,
            location_code=location_code,
            lines=[StockLineIn(sku_code=sku_code, quantity=quantity, serials=serials or [])],
            reason="test stock",
        )
