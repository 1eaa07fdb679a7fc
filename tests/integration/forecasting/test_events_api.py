"""The event calendar through the API: CRUD, problem+json naming every bad field, permissions."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import key_headers, make_catalog_basics, make_key
from zhongtai.db import Database

EVENT = {
    "code": "618-2027",
    "name_zh": "2027 618",
    "name_en": "618 2027",
    "kind": "618",
    "start_day": "2027-06-01",
    "end_day": "2027-06-18",
    "uplift_bp": 8000,
}


def test_an_ops_planner_creates_reads_edits_and_deletes_an_event(client: TestClient, db: Database) -> None:
    # given the catalog's categories and an ops key
    make_catalog_basics(db)
    ops = key_headers(make_key(db, role="ops"))
    # when an event is created, listed, narrowed to a category and deleted
    created = client.post("/api/v1/forecasts/events", json=EVENT, headers=ops)
    listed = client.get("/api/v1/forecasts/events", params={"overlapping_from": "2027-06-10"}, headers=ops)
    patched = client.patch(
        "/api/v1/forecasts/events/618-2027",
        json={"scope": "category", "scope_code": "phones", "uplift_bp": 12000},
        headers=ops,
    )
    deleted = client.delete("/api/v1/forecasts/events/618-2027", headers=ops)
    gone = client.get("/api/v1/forecasts/events/618-2027", headers=ops)
    # then each step answered as the API promises
    assert created.status_code == 201, created.text
    assert created.json()["uplift_bp"] == 8000
    assert created.json()["measured_uplift"] is None
    assert [e["code"] for e in listed.json()["items"]] == ["618-2027"]
    assert patched.status_code == 200, patched.text
    assert (patched.json()["scope"], patched.json()["scope_code"], patched.json()["uplift_bp"]) == (
        "category",
        "phones",
        12000,
    )
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")


def test_a_bad_event_is_refused_with_every_bad_field_named(client: TestClient, db: Database) -> None:
    ops = key_headers(make_key(db, role="ops"))
    bad = EVENT | {"kind": "black_friday", "end_day": "2027-05-01", "scope": "region", "uplift_bp": 200000}
    resp = client.post("/api/v1/forecasts/events", json=bad, headers=ops)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    problems = {(e["field"], e["code"]) for e in resp.json()["errors"]}
    assert problems == {
        ("body.kind", "unknown_kind"),
        ("body.end_day", "end_before_start"),
        ("body.scope", "unknown_scope"),
        ("body.uplift_bp", "out_of_range"),
    }
    # an unknown scope code and a duplicate code are named too
    unknown = client.post(
        "/api/v1/forecasts/events", json=EVENT | {"scope": "location", "scope_code": "NOPE"}, headers=ops
    )
    assert [(e["field"], e["code"]) for e in unknown.json()["errors"]] == [("body.scope_code", "unknown_location")]
    assert client.post("/api/v1/forecasts/events", json=EVENT, headers=ops).status_code == 201
    dup = client.post("/api/v1/forecasts/events", json=EVENT, headers=ops)
    assert [(e["field"], e["code"]) for e in dup.json()["errors"]] == [("body.code", "duplicate_code")]
    # and an edit that would end before the start is refused the same way
    edit = client.patch("/api/v1/forecasts/events/618-2027", json={"end_day": "2027-01-01"}, headers=ops)
    assert [(e["field"], e["code"]) for e in edit.json()["errors"]] == [("body.end_day", "end_before_start")]


def test_analysts_read_the_calendar_but_cannot_edit_it_and_integrators_cannot_see_it(
    client: TestClient, db: Database
) -> None:
    analyst = key_headers(make_key(db, role="analyst", name="analyst"))
    integrator = key_headers(make_key(db, role="integrator", name="integrator"))
    assert client.get("/api/v1/forecasts/events", headers=analyst).status_code == 200
    assert client.post("/api/v1/forecasts/events", json=EVENT, headers=analyst).status_code == 403
    assert client.post("/api/v1/forecasts/runs", json={}, headers=analyst).status_code == 403
    assert client.get("/api/v1/forecasts/events", headers=integrator).status_code == 403
