from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import key_headers, make_key
from tests.integration.inventory.conftest import Net, QueryCounter
from zhongtai.db import Database
from zhongtai.inventory import service as inventory
from zhongtai.inventory.models import Location

STORE = {
    "code": "S-NJ",
    "name": "南京新街口店",
    "type": "store",
    "city": "南京",
    "province": "江苏",
    "region": "华东",
    "latitude": 32.04,
    "longitude": 118.78,
    "opening_hours": {"mon": ["10:00", "22:00"], "sat": ["09:00", "23:00"]},
    "parent_dc_code": "DC-SH",
}


def _locations(db: Database) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(Location)) or 0


def test_create_get_patch_and_list_a_location(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="ops"))
    # When ops creates a store supplied by the Shanghai DC
    resp = client.post("/api/v1/locations", json=STORE, headers=h)
    # Then it is stored with its parent DC and hours, and can be read back
    assert resp.status_code == 201, resp.text
    assert resp.json()["parent_dc_code"] == "DC-SH"
    got = client.get("/api/v1/locations/S-NJ", headers=h).json()
    assert got["opening_hours"] == {"mon": ["10:00", "22:00"], "sat": ["09:00", "23:00"]}
    # When the name is patched and the coordinates cleared
    resp = client.patch(
        "/api/v1/locations/S-NJ", json={"name": "新街口旗舰店", "latitude": None, "longitude": None}, headers=h
    )
    assert resp.status_code == 200, resp.text
    assert (resp.json()["name"], resp.json()["latitude"]) == ("新街口旗舰店", None)
    assert resp.json()["city"] == "南京"  # untouched fields stay
    # And the list filters by type
    stores = client.get("/api/v1/locations?type=store", headers=h).json()["items"]
    assert {s["code"] for s in stores} == {"S-A", "S-B", "S-NJ"}
    # And the CLI's lookup finds it
    with db.transaction(write=False) as s:
        assert inventory.get_location_by_code(s, "S-NJ").city == "南京"


def test_every_bad_field_is_listed_and_nothing_is_written(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="admin"))
    before = _locations(db)
    # When the schema itself is violated in several fields
    bad = {**STORE, "type": "warehouse", "latitude": 95, "colour": "red", "code": ""}
    resp = client.post("/api/v1/locations", json=bad, headers=h)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in resp.json()["errors"]}
    assert {"body.type", "body.latitude", "body.colour", "body.code"} <= fields
    # When the fields are well-formed but wrong together / against the database
    bad = {
        **STORE,
        "code": "S-A",
        "timezone": "Mars/Base",
        "opening_hours": {"mon": ["22:00", "10:00"], "xyz": ["10:00", "11:00"]},
        "parent_dc_code": "S-B",
        "longitude": None,
    }
    resp = client.post("/api/v1/locations", json=bad, headers=h)
    assert resp.status_code == 422
    assert {(e["field"], e["code"]) for e in resp.json()["errors"]} == {
        ("body.code", "taken"),
        ("body.timezone", "unknown_timezone"),
        ("body.opening_hours.mon", "closes_before_opening"),
        ("body.opening_hours.xyz", "unknown_weekday"),
        ("body.parent_dc_code", "not_a_dc"),
        ("body.longitude", "required"),
    }
    # Then nothing was written
    assert _locations(db) == before


def test_store_manager_sees_only_their_store_and_cannot_create(
    client: TestClient, db: Database, net: Net, act_as
) -> None:  # type: ignore[no-untyped-def]
    # Given a store manager of store A
    act_as("mgr_a", "store_manager", [net.store_a])
    # When they list locations, they see store A only; B is "not found"
    items = client.get("/api/v1/locations").json()["items"]
    assert [i["code"] for i in items] == ["S-A"]
    assert client.get("/api/v1/locations/S-B").status_code == 404
    # And they may not create or change locations
    assert client.post("/api/v1/locations", json=STORE).status_code == 403
    assert client.patch("/api/v1/locations/S-A", json={"name": "x"}).status_code == 403


def test_location_list_query_count_does_not_grow_with_rows(client: TestClient, db: Database, net: Net) -> None:
    h = key_headers(make_key(db, role="admin"))
    client.get("/api/v1/locations", headers=h)  # warm caches
    with QueryCounter(db) as few:
        assert len(client.get("/api/v1/locations?limit=2", headers=h).json()["items"]) == 2
    for i in range(6):
        client.post("/api/v1/locations", json={**STORE, "code": f"S-X{i}"}, headers=h)
    with QueryCounter(db) as many:
        assert len(client.get("/api/v1/locations?limit=9", headers=h).json()["items"]) == 9
    assert many.count == few.count
