"""POST /api/v1/events: partial acceptance, every problem named, idempotent resends, member
attribution through identifiers (merged members too), refused batches still counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.factories import SYSTEM, key_headers, make_key
from tests.integration.touchpoints.world import at, search, touchpoint_world
from zhongtai.db import Database
from zhongtai.members import identity
from zhongtai.members.identifiers import IdentifierIn, IdKind
from zhongtai.touchpoints.models import EventRejection, Touchpoint, TouchpointEvent


def _post(client: TestClient, headers: dict[str, str], touchpoint: str, events: list[Any]) -> Any:
    return client.post("/api/v1/events", json={"touchpoint": touchpoint, "events": events}, headers=headers)


def _staged(db: Database) -> dict[str, TouchpointEvent]:
    with db.transaction(write=False) as s:
        return {e.event_id: e for e in s.scalars(select(TouchpointEvent))}


def _rejections(db: Database) -> list[EventRejection]:
    with db.transaction(write=False) as s:
        return list(s.scalars(select(EventRejection).order_by(EventRejection.id)))


def test_a_batch_is_judged_event_by_event_and_every_problem_is_named(client: TestClient, db: Database) -> None:
    # given the web shop and an integrator key
    touchpoint_world(db)
    headers = key_headers(make_key(db, role="integrator"))
    events = [
        search("e1"),
        {"id": "e2", "type": "add_to_cart", "at": at(), "data": {"sku": "P1-BLK", "quantity": 2, "price_fen": 399_900}},
        {"id": "e3", "type": "search", "at": at(), "data": {"results": -1}},
        {
            "id": "e4",
            "type": "store_entry",
            "at": at(),
            "store": "S-SH-02",
            "data": {"visitor": "v1", "gender": "female", "age_band": "25-34", "face_image": "base64..."},
        },
        {"id": "e5", "type": "product_view", "at": at(), "data": {"sku": "NO-SUCH"}},
        "not an event",
        {"id": "bad id!", "type": "teleport", "at": "2026-01-01T10:00:00"},
    ]
    # when it posts the batch
    r = _post(client, headers, "web-shop", events)
    # then two are accepted, five rejected, each naming its fields
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 5)
    fields = {e["index"]: {(p["field"], p["code"]) for p in e["errors"]} for e in body["errors"]}
    assert fields[2] == {("events[2].data.query", "missing"), ("events[2].data.results", "greater_than_equal")}
    assert fields[3] == {("events[3].data.face_image", "extra_forbidden")}
    assert fields[4] == {("events[4].data.sku", "unknown_sku")}
    assert fields[5] == {("events[5]", "not_an_object")}
    assert {f for f, _ in fields[6]} >= {"events[6].id", "events[6].at"}
    assert [e["id"] for e in body["errors"]] == ["e3", "e4", "e5", "", "bad id!"]
    staged = _staged(db)
    assert set(staged) == {"e1", "e2"}
    cart = staged["e2"]
    # 2 x 399,900 fen = 799,800 fen in the cart
    assert (cart.data["quantity"], cart.data["value_fen"], cart.channel_code) == (2, 799_800, "web")
    assert cart.sku_id is not None
    assert cart.source == "web-shop"
    assert cart.identified is False
    rejected = _rejections(db)
    assert [r.event_id for r in rejected] == ["e3", "e4", "e5", "", "bad id!"]
    assert rejected[1].errors[0]["field"] == "events[3].data.face_image"
    assert rejected[3].payload == {"truncated": True, "excerpt": '"not an event"'}


def test_resending_a_batch_is_safe(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    headers = key_headers(make_key(db, role="integrator"))
    batch = [search("a"), search("b"), search("a")]
    first = _post(client, headers, "web-shop", batch).json()
    again = _post(client, headers, "web-shop", batch).json()
    # the repeated id inside the batch is a duplicate the first time already
    assert (first["accepted"], first["duplicates"], first["rejected"]) == (2, 1, 0)
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 3, 0)
    assert len(_staged(db)) == 2
    # the same id from another touchpoint is another event
    assert _post(client, headers, "jd-store", [search("a")]).json()["accepted"] == 1


def test_identifiers_attribute_events_to_members_and_follow_merges(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    with db.transaction() as s:
        older = identity.enrol(s, SYSTEM, phone=IdentifierIn(IdKind.PHONE, "+8613800000001"), channel_code="web")
        newer = identity.enrol(s, SYSTEM, phone=IdentifierIn(IdKind.PHONE, "+8613800000002"), channel_code="web")
        older_id, newer_id = older.member.id, newer.member.id
    with db.transaction() as s:
        identity.merge(s, SYSTEM, older_id, newer_id)
    headers = key_headers(make_key(db, role="integrator"))
    events = [
        search("m1", identifiers=[{"kind": "phone", "value": "138 0000 0001"}]),
        search("m2", identifiers=[{"kind": "phone", "value": "13800000002"}]),
        search("m3", identifiers=[{"kind": "phone", "value": "13900000009"}]),
        search("m4"),
        search("m5", identifiers=[{"kind": "fax", "value": "1"}, {"kind": "openid", "value": "oAbcdef123"}]),
    ]
    body = _post(client, headers, "web-shop", events).json()
    assert (body["accepted"], body["rejected"]) == (4, 1)
    assert {p["field"] for p in body["errors"][0]["errors"]} == {
        "events[4].identifiers[0].kind",
        "events[4].identifiers[1].app",
    }
    staged = _staged(db)
    # the merged (newer) member's phone lands on the survivor
    assert staged["m1"].member_id == older_id
    assert staged["m2"].member_id == older_id
    assert (staged["m3"].identified, staged["m3"].member_id) == (True, None)
    assert (staged["m4"].identified, staged["m4"].member_id) == (False, None)


def test_store_events_need_a_known_store(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    headers = key_headers(make_key(db, role="integrator"))
    entry = {"visitor": "track-9", "gender": "male", "age_band": "35-44"}
    body = _post(
        client,
        headers,
        "web-shop",
        [
            {"id": "s1", "type": "store_entry", "at": at(), "data": entry},
            {"id": "s2", "type": "store_entry", "at": at(), "store": "NOPE", "data": entry},
            {"id": "s3", "type": "search", "at": at(), "channel": "nope", "data": {"query": "x", "results": 0}},
        ],
    ).json()
    codes = {e["index"]: [(p["field"], p["code"]) for p in e["errors"]] for e in body["errors"]}
    assert codes == {
        0: [("events[0].store", "missing")],
        1: [("events[1].store", "unknown_store")],
        2: [("events[2].channel", "unknown_channel")],
    }
    # the camera's own store is the default; the visitor track id becomes the anonymous id
    ok = _post(
        client, headers, "cam-sh02", [{"id": "s4", "type": "store_exit", "at": at(), "data": {**entry, "dwell_s": 600}}]
    ).json()
    assert ok["accepted"] == 1
    row = _staged(db)["s4"]
    assert row.anonymous_id == "track-9"
    assert "visitor" not in row.data
    assert row.data == {"dwell_s": 600, "gender": "male", "age_band": "35-44"}
    with db.transaction(write=False) as s:
        cam = s.scalar(select(Touchpoint).where(Touchpoint.code == "cam-sh02"))
        assert cam is not None
        assert row.location_id == cam.location_id is not None


def test_time_must_be_aware_and_not_in_the_future(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    headers = key_headers(make_key(db, role="integrator"))
    soon = (datetime.now(UTC) + timedelta(minutes=3)).isoformat()
    late = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    events = [
        {**search("t1"), "at": "2026-11-01T10:00:00"},
        {**search("t2"), "at": late},
        {**search("t3"), "at": soon},
    ]
    body = _post(client, headers, "web-shop", events).json()
    codes = {e["id"]: [(p["field"], p["code"]) for p in e["errors"]] for e in body["errors"]}
    assert codes == {"t1": [("events[0].at", "timezone_aware")], "t2": [("events[1].at", "in_future")]}
    assert body["accepted"] == 1


def test_unknown_or_retired_touchpoint_refuses_the_batch_but_counts_it(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    headers = key_headers(make_key(db, role="integrator"))
    r = _post(client, headers, "nope", [search("x1"), search("x2")])
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "body.touchpoint"
    assert r.json()["rejected"] == 2
    admin = key_headers(make_key(db, role="admin"))
    assert client.patch("/api/v1/touchpoints/jd-store", json={"status": "retired"}, headers=admin).status_code == 200
    r = _post(client, headers, "jd-store", [search("x3")])
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "retired"
    rejected = _rejections(db)
    assert [(x.source, x.event_id, x.touchpoint_id is None) for x in rejected] == [
        ("nope", "x1", True),
        ("nope", "x2", True),
        ("jd-store", "x3", False),
    ]
    assert _staged(db) == {}


def test_envelope_problems_are_a_422_naming_the_fields(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    headers = key_headers(make_key(db, role="integrator"))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"touchpoint": "web-shop", "events": {"id": 1}}, "body.events"),
        ({"touchpoint": "web-shop", "events": []}, "body.events"),
        ({"touchpoint": "web-shop", "events": [search(f"n{i}") for i in range(1001)]}, "body.events"),
        ({"events": [search("n")]}, "body.touchpoint"),
        ({"touchpoint": "web-shop", "events": [search("n")], "extra": 1}, "body.extra"),
    ]
    for body, field in cases:
        r = client.post("/api/v1/events", json=body, headers=headers)
        assert r.status_code == 422, body
        assert field in {e["field"] for e in r.json()["errors"]}
    assert _staged(db) == {}
    assert _rejections(db) == []


def test_a_channel_bound_key_posts_only_for_its_channel(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    jd_key = key_headers(make_key(db, role="integrator", channel_code="jd"))
    r = _post(client, jd_key, "web-shop", [search("c1")])
    assert r.status_code == 403
    assert r.json()["code"] == "wrong_channel"
    assert _post(client, jd_key, "jd-store", [search("c1")]).json()["accepted"] == 1
    hb = client.post("/api/v1/touchpoints/web-shop/heartbeats", json={"status": "ok"}, headers=jd_key)
    assert hb.status_code == 403
    # a key without events:write cannot post at all
    analyst = key_headers(make_key(db, role="analyst"))
    assert _post(client, analyst, "jd-store", [search("c2")]).status_code == 403


def test_heartbeats_and_first_events_activate_a_planned_touchpoint(client: TestClient, db: Database) -> None:
    touchpoint_world(db)
    headers = key_headers(make_key(db, role="touchpoint"))
    r = client.post(
        "/api/v1/touchpoints/cam-sh02/heartbeats",
        json={"status": "degraded", "latency_ms": 420, "version": "2.1.0", "detail": "one lens dirty"},
        headers=headers,
    )
    assert r.status_code == 204, r.text
    _post(client, headers, "web-shop", [search("h1")])
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    with db.transaction(write=False) as s:
        tps = {t.code: t for t in s.scalars(select(Touchpoint))}
    cam, web, jd = tps["cam-sh02"], tps["web-shop"], tps["jd-store"]
    assert (cam.status, cam.connected_on, cam.last_latency_ms) == ("active", today, 420)
    assert cam.last_heartbeat_at is not None
    assert cam.first_event_at is None
    assert (web.status, web.connected_on) == ("active", today)
    assert web.first_event_at is not None
    assert web.last_event_at == web.first_event_at
    assert (jd.status, jd.first_event_at, jd.last_heartbeat_at) == ("planned", None, None)
    # a second batch does not move first_event_at
    first = web.first_event_at
    _post(client, headers, "web-shop", [search("h2")])
    with db.transaction(write=False) as s:
        assert s.scalar(select(Touchpoint.first_event_at).where(Touchpoint.code == "web-shop")) == first
    bad = client.post("/api/v1/touchpoints/cam-sh02/heartbeats", json={"status": "sleepy"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.status"
    assert client.post("/api/v1/touchpoints/none/heartbeats", json={}, headers=headers).status_code == 404


def test_event_types_lists_every_schema(client: TestClient, db: Database) -> None:
    headers = key_headers(make_key(db, role="integrator"))
    body = client.get("/api/v1/events/types", headers=headers).json()
    assert len(body["types"]) == 17
    assert body["types"]["search"]["required"] == ["query", "results"]
    assert body["types"]["store_entry"]["additionalProperties"] is False
    assert "identifiers" in body["envelope"]["properties"]
