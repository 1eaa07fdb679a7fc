"""Lifecycle rules: draft -> on_sale -> off_sale -> on_sale, and what selling needs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import key_headers, make_catalog_basics, make_catalog_sku, make_catalog_spu, make_key
from zhongtai.db import Database

API = "/api/v1"


def _setup(db: Database) -> dict[str, str]:
    make_catalog_basics(db)
    make_catalog_spu(db)
    return key_headers(make_key(db, role="ops"))


def _lifecycle(client: TestClient, h: dict[str, str], code: str, target: str, kind: str = "skus") -> tuple[int, dict]:  # type: ignore[type-arg]
    resp = client.post(f"{API}/{kind}/{code}/lifecycle", json={"lifecycle": target}, headers=h)
    return resp.status_code, resp.json()


def test_first_sku_on_sale_launches_its_draft_spu(client: TestClient, db: Database) -> None:
    h = _setup(db)
    make_catalog_sku(db, "S1")
    status, body = _lifecycle(client, h, "S1", "on_sale")
    assert status == 200
    assert body["lifecycle"] == "on_sale"
    assert body["spu_lifecycle"] == "on_sale"


def test_a_sku_without_a_sale_price_cannot_go_on_sale(client: TestClient, db: Database) -> None:
    h = _setup(db)
    make_catalog_sku(db, "FREE", sale_price_fen=0)
    status, body = _lifecycle(client, h, "FREE", "on_sale")
    assert status == 409
    assert body["code"] == "invalid_transition"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("body.sale_price_fen", "no_sale_price")]
    assert client.get(f"{API}/skus/FREE", headers=h).json()["lifecycle"] == "draft"


def test_the_price_of_an_on_sale_sku_cannot_drop_to_zero(client: TestClient, db: Database) -> None:
    h = _setup(db)
    make_catalog_sku(db, "S1", lifecycle="on_sale")
    resp = client.patch(f"{API}/skus/S1", json={"sale_price_fen": 0}, headers=h)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["code"] == "no_sale_price"


def test_off_sale_and_back_but_never_back_to_draft(client: TestClient, db: Database) -> None:
    h = _setup(db)
    make_catalog_sku(db, "S1", lifecycle="on_sale")
    assert _lifecycle(client, h, "S1", "off_sale")[0] == 200
    assert _lifecycle(client, h, "S1", "on_sale")[0] == 200
    status, body = _lifecycle(client, h, "S1", "draft")
    assert status == 409
    assert body["errors"][0]["code"] == "invalid_transition"
    make_catalog_sku(db, "S2", sale_attributes={"color": "曜石黑"})
    assert _lifecycle(client, h, "S2", "off_sale")[0] == 409  # a draft was never sold


def test_withdrawing_an_spu_takes_its_skus_off_sale_and_blocks_relaunch(client: TestClient, db: Database) -> None:
    # given an SPU on sale with one SKU on sale and one draft
    h = _setup(db)
    make_catalog_sku(db, "S1", lifecycle="on_sale")
    make_catalog_sku(db, "S2", sale_attributes={"color": "曜石黑"})
    # when the SPU goes off sale
    status, spu = _lifecycle(client, h, "P1", "off_sale", kind="spus")
    # then its on-sale SKU went with it, the draft stayed a draft
    assert status == 200
    assert {s["code"]: s["lifecycle"] for s in spu["skus"]} == {"S1": "off_sale", "S2": "draft"}
    # and no SKU can go on sale under it until the SPU is back
    status, body = _lifecycle(client, h, "S1", "on_sale")
    assert status == 409
    assert body["errors"][0]["code"] == "spu_off_sale"
    assert _lifecycle(client, h, "P1", "on_sale", kind="spus")[0] == 200
    assert _lifecycle(client, h, "S1", "on_sale")[0] == 200


def test_an_spu_needs_a_priced_sku_to_go_on_sale(client: TestClient, db: Database) -> None:
    h = _setup(db)
    status, body = _lifecycle(client, h, "P1", "on_sale", kind="spus")
    assert status == 409
    assert body["errors"][0]["code"] == "no_sellable_sku"
