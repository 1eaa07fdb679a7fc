"""The catalog API: CRUD, validation that lists every problem, detail shape, lists, audit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from tests.factories import (
    key_headers,
    make_catalog_basics,
    make_catalog_sku,
    make_catalog_spu,
    make_key,
)
from zhongtai.auth.models import AuditEntry
from zhongtai.catalog.models import Sku, SkuBarcode, Spu
from zhongtai.db import Database

API = "/api/v1"


def _ops(db: Database) -> dict[str, str]:
    return key_headers(make_key(db, role="ops"))


def _count(db: Database, model: Any) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _audit(db: Database, entity_type: str, entity_id: str) -> list[tuple[str, Any, Any]]:
    with db.transaction(write=False) as s:
        rows = s.execute(
            select(AuditEntry.action, AuditEntry.before, AuditEntry.after)
            .where(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == entity_id)
            .order_by(AuditEntry.id)
        )
        return [tuple(r) for r in rows]


@contextmanager
def _queries(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


SKU_BODY = {
    "spu_code": "P1",
    "code": "P1-BLK-256",
    "name": "极客 X1 曜石黑 256GB",
    "sale_attributes": {"color": "曜石黑", "storage": "256GB"},
    "list_price_fen": 599_900,
    "sale_price_fen": 549_900,
    "unit_cost_fen": 420_000,
    "serial_tracked": True,
    "tags": ["旗舰"],
    "barcodes": ["6901234567892"],
    "channel_prices": {"jd": 539_900},
}


def test_ops_builds_a_catalog_and_reads_a_full_detail(client: TestClient, db: Database) -> None:
    # given an ops key
    h = _ops(db)
    # when it creates the reference data, an SPU and two SKUs through the API
    for path, body in [
        ("/categories", {"code": "3c", "name": "数码"}),
        ("/categories", {"code": "phones", "name": "手机", "parent_code": "3c"}),
        ("/brands", {"code": "acme", "name": "极客", "name_en": "Acme"}),
        ("/attributes", {"code": "screen_size", "name": "屏幕尺寸", "kind": "number", "unit": "英寸"}),
        ("/attributes", {"code": "color", "name": "颜色", "kind": "enum", "level": "sku", "options": ["曜石黑"]}),
        ("/attributes", {"code": "storage", "name": "存储", "kind": "enum", "level": "sku", "options": ["256GB"]}),
        ("/channels", {"code": "jd", "name": "京东", "kind": "marketplace"}),
    ]:
        headers = key_headers(make_key(db, role="admin")) if path == "/channels" else h
        resp = client.post(API + path, json=body, headers=headers)
        assert resp.status_code == 201, resp.text
    resp = client.post(
        f"{API}/spus",
        json={
            "code": "P1",
            "name": "极客 X1",
            "category_code": "phones",
            "brand_code": "acme",
            "selling_points": ["长续航", "快充"],
            "parameters": {"screen_size": 6.1},
        },
        headers=h,
    )
    assert resp.status_code == 201, resp.text
    resp = client.post(f"{API}/skus", json=SKU_BODY, headers=h)
    assert resp.status_code == 201, resp.text
    resp = client.post(
        f"{API}/skus",
        json={"spu_code": "P1", "code": "CASE-1", "name": "保护壳", "list_price_fen": 9900, "sale_price_fen": 9900},
        headers=h,
    )
    assert resp.status_code == 201, resp.text
    resp = client.put(f"{API}/skus/P1-BLK-256/links", json={"accessories": ["CASE-1"]}, headers=h)
    assert resp.status_code == 200, resp.text

    # then the detail has the category path, brand, parameters with units, prices and links
    detail = client.get(f"{API}/skus/P1-BLK-256", headers=h).json()
    assert [c["code"] for c in detail["category_path"]] == ["3c", "phones"]
    assert detail["brand"] == {"code": "acme", "name": "极客", "name_en": "Acme"}
    assert detail["parameters"] == [
        {"code": "screen_size", "name": "屏幕尺寸", "name_en": "", "kind": "number", "unit": "英寸", "value": 6.1}
    ]
    assert [a["value"] for a in detail["attributes"]] == ["曜石黑", "256GB"]
    assert detail["channel_prices"] == [{"channel_code": "jd", "price_fen": 539_900, "currency": "CNY"}]
    assert detail["barcodes"] == ["6901234567892"]
    assert detail["accessories"] == [{"code": "CASE-1", "name": "保护壳"}]
    assert detail["selling_points"] == ["长续航", "快充"]
    assert detail["serial_tracked"] is True
    assert detail["unit_cost_fen"] == 420_000
    # and the tree, brands, attributes and SPU read back
    tree = client.get(f"{API}/categories", headers=h).json()
    assert tree[0]["code"] == "3c"
    assert tree[0]["children"][0]["code"] == "phones"
    assert [b["code"] for b in client.get(f"{API}/brands", headers=h).json()] == ["acme"]
    assert [a["code"] for a in client.get(f"{API}/attributes?level=sku", headers=h).json()] == ["color", "storage"]
    spu = client.get(f"{API}/spus/P1", headers=h).json()
    assert [s["code"] for s in spu["skus"]] == ["P1-BLK-256", "CASE-1"]
    by_barcode = client.get(f"{API}/skus/by-barcode/6901234567892", headers=h)
    assert by_barcode.status_code == 200
    assert by_barcode.json()["code"] == "P1-BLK-256"


def test_malformed_sku_lists_every_bad_field_and_writes_nothing(client: TestClient, db: Database) -> None:
    # given a catalog with one SKU holding a barcode
    make_catalog_basics(db)
    make_catalog_spu(db)
    make_catalog_sku(db, "TAKEN", barcodes=("6901234567892",), sale_attributes={"color": "冰川白"})
    skus_before = _count(db, Sku)
    # when a SKU arrives with many things wrong that only the database can tell
    body = {
        "spu_code": "NOPE",
        "code": "TAKEN",
        "name": "x",
        "sale_attributes": {"color": "土豪金", "ram": "8GB"},
        "list_price_fen": 100,
        "sale_price_fen": 200,
        "barcodes": ["6901234567892", "123"],
        "channel_prices": {"tmall": 100},
        "accessories": ["GHOST"],
    }
    resp = client.post(f"{API}/skus", json=body, headers=_ops(db))
    # then it is one 422 problem listing every one of them
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    problem = resp.json()
    assert problem["code"] == "validation_failed"
    assert {(e["field"], e["code"]) for e in problem["errors"]} == {
        ("body.code", "taken"),
        ("body.spu_code", "unknown_spu"),
        ("body.sale_attributes.color", "not_an_option"),
        ("body.sale_attributes.ram", "unknown_attribute"),
        ("body.sale_price_fen", "above_list_price"),
        ("body.barcodes.0", "taken"),
        ("body.channel_prices.tmall", "unknown_channel"),
        ("body.accessories", "unknown_sku"),
    }
    # and nothing was written
    assert _count(db, Sku) == skus_before


def test_shape_errors_are_all_listed_too(client: TestClient, db: Database) -> None:
    body = {"code": "bad code!", "name": "", "list_price_fen": -1, "sale_price_fen": "12", "surprise": 1}
    resp = client.post(f"{API}/skus", json=body, headers=_ops(db))
    assert resp.status_code == 422
    fields = {e["field"] for e in resp.json()["errors"]}
    assert {
        "body.code",
        "body.name",
        "body.list_price_fen",
        "body.sale_price_fen",
        "body.spu_code",
        "body.surprise",
    } <= fields
    assert _count(db, Sku) == 0


def test_spu_with_bad_parameters_is_refused_whole(client: TestClient, db: Database) -> None:
    make_catalog_basics(db)
    resp = client.post(
        f"{API}/spus",
        json={
            "code": "P9",
            "name": "x",
            "category_code": "nope",
            "brand_code": "nobody",
            "parameters": {"screen_size": "big", "color": "曜石黑"},
        },
        headers=_ops(db),
    )
    assert resp.status_code == 422
    assert {(e["field"], e["code"]) for e in resp.json()["errors"]} == {
        ("body.category_code", "unknown_category"),
        ("body.brand_code", "unknown_brand"),
        ("body.parameters.screen_size", "not_a_number"),
        ("body.parameters.color", "wrong_level"),
    }
    assert _count(db, Spu) == 0


def test_unknown_sku_is_a_404_problem(client: TestClient, db: Database) -> None:
    h = _ops(db)
    for method, path in [
        ("get", "/skus/NOPE"),
        ("patch", "/skus/NOPE"),
        ("get", "/spus/NOPE"),
        ("get", "/skus/by-barcode/6901234567892"),
    ]:
        resp = client.request(method.upper(), API + path, json={} if method == "patch" else None, headers=h)
        assert resp.status_code == 404, (path, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"] == "not_found"


def test_integrator_reads_but_cannot_write(client: TestClient, db: Database) -> None:
    make_catalog_basics(db)
    h = key_headers(make_key(db, role="integrator"))
    assert client.get(f"{API}/skus", headers=h).status_code == 200
    resp = client.post(f"{API}/brands", json={"code": "b2", "name": "B2"}, headers=h)
    assert resp.status_code == 403
    assert resp.json()["code"] == "permission_denied"


def test_patch_changes_only_what_is_given_and_audits_the_difference(client: TestClient, db: Database) -> None:
    # given a SKU with a barcode
    make_catalog_basics(db)
    make_catalog_spu(db)
    make_catalog_sku(db, "S1", barcodes=("6901234567892",))
    h = _ops(db)
    # when its sale price and barcodes change, and then the same patch is sent again
    patch = {"sale_price_fen": 379_900, "barcodes": ["6901234567892", "INT-77"]}
    first = client.patch(f"{API}/skus/S1", json=patch, headers=h)
    second = client.patch(f"{API}/skus/S1", json=patch, headers=h)
    # then the SKU changed once, and the audit entry holds exactly the difference
    assert first.status_code == 200
    assert second.status_code == 200
    assert first.json()["sale_price_fen"] == 379_900
    assert first.json()["barcodes"] == ["6901234567892", "INT-77"]
    assert first.json()["name"] == "SKU S1"
    updates = [a for a in _audit(db, "sku", "S1") if a[0] == "sku.update"]
    assert updates == [
        (
            "sku.update",
            {"sale_price_fen": 399_900, "barcodes": ["6901234567892"]},
            {"sale_price_fen": 379_900, "barcodes": ["6901234567892", "INT-77"]},
        )
    ]


def test_barcodes_are_unique_across_skus(client: TestClient, db: Database) -> None:
    make_catalog_basics(db)
    make_catalog_spu(db)
    make_catalog_sku(db, "S1", barcodes=("6901234567892",))
    make_catalog_sku(db, "S2")
    h = _ops(db)
    resp = client.post(f"{API}/skus/S2/barcodes", json={"barcode": "6901234567892"}, headers=h)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["code"] == "taken"
    assert "S1" in resp.json()["errors"][0]["message"]
    assert client.post(f"{API}/skus/S2/barcodes", json={"barcode": "4006381333931"}, headers=h).status_code == 201
    assert client.delete(f"{API}/skus/S2/barcodes/4006381333931", headers=h).json()["barcodes"] == []
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(SkuBarcode)) == 1


def test_channel_prices_and_links(client: TestClient, db: Database) -> None:
    make_catalog_basics(db)
    make_catalog_spu(db)
    for code in ("S1", "S2", "S3"):
        make_catalog_sku(db, code)
    h = _ops(db)
    resp = client.put(f"{API}/skus/S1/channel-prices/jd", json={"price_fen": 389_900}, headers=h)
    assert resp.status_code == 200
    assert resp.json()["channel_prices"] == [{"channel_code": "jd", "price_fen": 389_900, "currency": "CNY"}]
    resp = client.put(f"{API}/skus/S1/channel-prices/tmall", json={"price_fen": 1}, headers=h)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "body.channel_prices.tmall"
    resp = client.put(f"{API}/skus/S1/channel-prices/jd", json={"price_fen": 1, "currency": "USD"}, headers=h)
    assert resp.status_code == 422
    # links keep their order; a SKU cannot be its own accessory
    resp = client.put(f"{API}/skus/S1/links", json={"accessories": ["S3", "S2"], "related": ["S2"]}, headers=h)
    assert [a["code"] for a in resp.json()["accessories"]] == ["S3", "S2"]
    assert [a["code"] for a in resp.json()["related"]] == ["S2"]
    resp = client.put(f"{API}/skus/S1/links", json={"accessories": ["S1"]}, headers=h)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["code"] == "self_link"
    assert [a[0] for a in _audit(db, "sku", "S1")] == ["sku.create", "sku.channel_price", "sku.links"]


def test_duplicate_variant_of_one_spu_is_refused(client: TestClient, db: Database) -> None:
    make_catalog_basics(db)
    make_catalog_spu(db)
    make_catalog_sku(db, "S1", sale_attributes={"color": "曜石黑"})
    body = {
        "spu_code": "P1",
        "code": "S2",
        "name": "x",
        "sale_attributes": {"color": "曜石黑"},
        "list_price_fen": 1,
        "sale_price_fen": 1,
    }
    resp = client.post(f"{API}/skus", json=body, headers=_ops(db))
    assert resp.status_code == 422
    assert resp.json()["errors"] == [
        {
            "field": "body.sale_attributes",
            "code": "duplicate_variant",
            "message": "SKU S1 of this SPU has the same attributes",
        }
    ]


def test_list_pages_with_a_cursor_and_filters(client: TestClient, db: Database) -> None:
    # given 7 phones (3 serial-tracked) and 2 accessories, one with a barcode
    make_catalog_basics(db)
    make_catalog_spu(db, "P1")
    make_catalog_spu(db, "A1", category_code="accessories", parameters={})
    for i in range(7):
        make_catalog_sku(db, f"PH-{i}", serial_tracked=i < 3)
    make_catalog_sku(db, "CASE-1", spu_code="A1", sale_price_fen=9900, list_price_fen=9900)
    make_catalog_sku(db, "CASE-2", spu_code="A1", sale_price_fen=9900, list_price_fen=9900, barcodes=("4006381333931",))
    h = _ops(db)
    # when paging through 3 at a time
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = client.get(f"{API}/skus", params=params, headers=h).json()
        seen += [s["code"] for s in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # then every SKU comes exactly once, in creation order
    assert seen == [f"PH-{i}" for i in range(7)] + ["CASE-1", "CASE-2"]
    assert pages == 3

    def codes(**params: Any) -> list[str]:
        resp = client.get(f"{API}/skus", params=params, headers=h)
        assert resp.status_code == 200, resp.text
        return [s["code"] for s in resp.json()["items"]]

    # and the filters narrow it: category subtree, barcode, code fragment, flags
    assert len(codes(category="3c")) == 9
    assert codes(category="accessories") == ["CASE-1", "CASE-2"]
    assert codes(category="home") == []
    assert codes(q="4006381333931") == ["CASE-2"]
    assert codes(q="case") == ["CASE-1", "CASE-2"]
    assert codes(q="100%") == []
    assert codes(serial_tracked="true") == ["PH-0", "PH-1", "PH-2"]
    assert codes(brand="acme", lifecycle="on_sale") == []
    assert client.get(f"{API}/skus", params={"category": "nope"}, headers=h).status_code == 422
    assert client.get(f"{API}/skus", params={"cursor": "garbage"}, headers=h).status_code == 422


def test_list_query_count_does_not_grow_with_the_page(client: TestClient, db: Database) -> None:
    make_catalog_basics(db)
    make_catalog_spu(db)
    for i in range(12):
        make_catalog_sku(db, f"S{i}", barcodes=(f"INT-{i}",))
    h = _ops(db)
    client.get(f"{API}/skus", params={"limit": 1}, headers=h)  # warm the key's last-used stamp
    with _queries(db) as small:
        assert len(client.get(f"{API}/skus", params={"limit": 2}, headers=h).json()["items"]) == 2
    with _queries(db) as large:
        assert len(client.get(f"{API}/skus", params={"limit": 12}, headers=h).json()["items"]) == 12
    assert len(large) == len(small)
    assert len(large) <= 10, large


def test_every_change_leaves_an_audit_entry(client: TestClient, db: Database) -> None:
    make_catalog_basics(db)
    make_catalog_spu(db)
    make_catalog_sku(db, "S1")
    h = _ops(db)
    client.patch(f"{API}/spus/P1", json={"selling_points": ["轻薄"]}, headers=h)
    client.post(f"{API}/skus/S1/lifecycle", json={"lifecycle": "on_sale"}, headers=h)
    assert [a[0] for a in _audit(db, "spu", "P1")] == ["spu.create", "spu.update", "spu.lifecycle"]
    assert [a[0] for a in _audit(db, "sku", "S1")] == ["sku.create", "sku.lifecycle"]
    assert [a[0] for a in _audit(db, "category", "phones")] == ["category.create"]
    assert [a[0] for a in _audit(db, "brand", "acme")] == ["brand.create"]
    assert [a[0] for a in _audit(db, "attribute_def", "color")] == ["attribute.define"]
    with db.transaction(write=False) as s:
        actor = s.scalar(select(AuditEntry.actor_type).where(AuditEntry.action == "spu.update"))
    assert actor == "api_key"
