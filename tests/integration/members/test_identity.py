"""The identity graph: stitching, merges with redirects, guard rails, unmerge, review, enrolment."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import SYSTEM, key_headers, make_key
from zhongtai.db import Database
from zhongtai.members import cards, identity
from zhongtai.members import repository as repo
from zhongtai.members.identifiers import IdentifierIn, IdKind
from zhongtai.members.models import CannotLink, Identifier, MatchCandidate, Member, MergeEvent


def ph(n: str) -> IdentifierIn:
    return IdentifierIn(IdKind.PHONE, f"+86{n}")


def idn(kind: IdKind, value: str) -> IdentifierIn:
    return IdentifierIn(kind, value)


def see(db: Database, ref: str, *idents: IdentifierIn, channel: str = "web", **attrs: object) -> int:
    with db.transaction() as s:
        return identity.observe(
            s,
            SYSTEM,
            source="event",
            source_ref=ref,
            identifiers=list(idents),
            attributes=dict(attrs),
            channel_code=channel,
        ).id


def active_members(db: Database) -> int:
    with db.transaction(write=False) as s:
        return int(s.scalar(select(func.count(Member.id)).where(Member.status == "active")) or 0)


def test_sightings_stitch_on_shared_identifiers_and_are_idempotent(db: Database) -> None:
    a = see(db, "pos-1", ph("13800000001"), idn(IdKind.CARD, "80000000001"), channel="pos", name="王芳")
    b = see(db, "mini-1", ph("13800000001"), idn(IdKind.UNIONID, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"), channel="miniapp")
    c = see(db, "mini-1", ph("13900000009"))  # same source ref: the first answer, nothing new
    assert a == b == c
    d = see(db, "jd-1", idn(IdKind.JD_PIN, "jd_wangfang"), channel="jd")
    assert d != a
    assert active_members(db) == 2
    with db.transaction(write=False) as s:
        kinds = {r.kind for r in identity.identifiers_of(s, a)}
        assert kinds == {"phone", "card", "unionid"}
        assert repo.get(s, a).name == "王芳"  # type: ignore[union-attr]


def test_a_sighting_joining_two_members_merges_them_and_the_old_id_redirects(db: Database) -> None:
    older = see(db, "web-1", idn(IdKind.EMAIL, "li.lei@example.com"), channel="web")
    newer = see(db, "jd-1", idn(IdKind.JD_PIN, "lilei_88"), ph("13700000002"), channel="jd")
    assert older != newer
    survivor = see(db, "link-1", idn(IdKind.EMAIL, "li.lei@example.com"), ph("13700000002"))
    assert survivor == older  # the older id is stable
    with db.transaction(write=False) as s:
        absorbed = s.get(Member, newer)
        assert absorbed is not None
        assert absorbed.status == "merged"
        assert absorbed.merged_into_id == older
        assert repo.find(s, newer).id == older  # type: ignore[union-attr]
        assert repo.find(s, absorbed.code).id == older  # type: ignore[union-attr]
        assert {r.kind for r in identity.identifiers_of(s, older)} == {"email", "jd_pin", "phone"}
        event = s.scalar(select(MergeEvent).where(MergeEvent.kind == "merge"))
        assert event is not None
        assert event.survivor_id == older
        assert event.other_id == newer
    assert active_members(db) == 1


def test_a_store_phone_typed_for_many_customers_is_quarantined_and_they_are_split(db: Database) -> None:
    store_phone = ph("13911112222")
    ids = [see(db, f"pos-{i}", store_phone, idn(IdKind.CARD, f"8000000010{i}"), channel="pos") for i in range(6)]
    with db.transaction(write=False) as s:
        row = s.scalar(select(Identifier).where(Identifier.kind == "phone"))
        assert row is not None
        assert row.status == "quarantined"
        card_rows = list(s.scalars(select(Identifier).where(Identifier.kind == "card")))
        owners = {c.member_id for c in card_rows}
    # Six different people: six members (the card is the only identifier that is theirs).
    assert len(owners) == 6
    assert active_members(db) == 6
    # A later sighting of the quarantined phone with a new card joins nobody.
    later = see(db, "pos-9", store_phone, idn(IdKind.CARD, "80000000999"), channel="pos")
    assert later not in owners
    assert ids[0] in owners


def test_unmerge_restores_the_absorbed_member_and_keeps_them_apart(db: Database) -> None:
    a = see(db, "web-1", idn(IdKind.EMAIL, "amy@example.com"))
    b = see(db, "jd-1", idn(IdKind.JD_PIN, "amy_jd"))
    see(db, "bridge", idn(IdKind.EMAIL, "amy@example.com"), idn(IdKind.JD_PIN, "amy_jd"))
    with db.transaction(write=False) as s:
        event_id = s.scalar(select(MergeEvent.id).where(MergeEvent.kind == "merge"))
    assert event_id is not None
    with db.transaction() as s:
        survivor, restored = identity.unmerge(s, SYSTEM, event_id)
        assert (survivor.id, restored.id) == (a, b)
    with db.transaction(write=False) as s:
        assert s.get(Member, b).status == "active"  # type: ignore[union-attr]
        assert {r.kind for r in identity.identifiers_of(s, a)} == {"email"}
        assert {r.kind for r in identity.identifiers_of(s, b)} == {"jd_pin"}
        assert s.scalar(select(CannotLink.id)) is not None
        assert s.get(MergeEvent, event_id).undone_at is not None  # type: ignore[union-attr]
    # The same evidence again does not merge them: it goes to review.
    see(db, "bridge-2", idn(IdKind.EMAIL, "amy@example.com"), idn(IdKind.JD_PIN, "amy_jd"))
    assert active_members(db) == 2
    with db.transaction(write=False) as s:
        candidate = s.scalar(select(MatchCandidate))
        assert candidate is not None
        assert candidate.status == "pending"
        assert candidate.source == "blocked"


def test_review_queue_approve_merges_and_reject_keeps_apart(db: Database) -> None:
    a = see(db, "a", ph("13600000001"), name="陈静")
    b = see(db, "b", ph("13600000002"), name="陈静")
    c = see(db, "c", ph("13600000003"), name="陈晶")
    with db.transaction() as s:
        merged, queued = identity.apply_matches(s, SYSTEM, [], [(a, b, 0.8, {}), (a, c, 0.6, {})])
        assert (merged, queued) == (0, 2)
    with db.transaction(write=False) as s:
        page = cards.review_pairs(s, SYSTEM)
        assert [(x.a.id, x.b.id) for x in page.items] == [(a, b), (a, c)]
        first, second = page.items[0].id, page.items[1].id
    with db.transaction() as s:
        identity.decide_candidate(s, SYSTEM, first, approve=True)
        identity.decide_candidate(s, SYSTEM, second, approve=False)
    with db.transaction(write=False) as s:
        assert repo.find(s, b).id == a  # type: ignore[union-attr]
        assert repo.find(s, c).id == c  # type: ignore[union-attr]
    # A rejected pair is not queued or merged again by the matcher.
    with db.transaction() as s:
        assert identity.apply_matches(s, SYSTEM, [(a, c, 0.99)], [(a, c, 0.7, {})]) == (0, 0)


def test_enrol_by_phone_issues_a_card_and_does_not_duplicate(client: TestClient, db: Database) -> None:
    headers = key_headers(make_key(db, role="admin"))
    body = {"phone": "138-0013-8000", "name": "张伟", "channel_code": "pos", "consents": {"wechat": True}}
    first = client.post("/api/v1/members/enrol", json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["created"] is True
    card = first.json()["card_number"]
    again = client.post("/api/v1/members/enrol", json={**body, "phone": "+86 138 0013 8000"}, headers=headers)
    assert again.json()["created"] is False
    assert again.json()["member"]["id"] == first.json()["member"]["id"]
    assert again.json()["card_number"] == card
    ids = client.get(f"/api/v1/members/{first.json()['member']['code']}/identifiers", headers=headers).json()
    assert {i["kind"] for i in ids} == {"phone", "card"}


def test_bad_input_names_every_field_and_writes_nothing(client: TestClient, db: Database) -> None:
    headers = key_headers(make_key(db, role="admin"))
    bad = client.post(
        "/api/v1/members/enrol",
        json={
            "phone": "12345",
            "channel_code": "pos",
            "unionid": "x",
            "consents": {"fax": True},
            "location_code": "NO",
        },
        headers=headers,
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"body.phone", "body.unionid", "body.consents.fax", "body.location_code"}
    obs = client.post(
        "/api/v1/members/observations",
        json={
            "source_ref": "x1",
            "identifiers": [{"kind": "email", "value": "not-an-email"}, {"kind": "openid", "value": "oABCDEFG"}],
        },
        headers=headers,
    )
    assert obs.status_code == 422
    assert {e["field"] for e in obs.json()["errors"]} == {"body.identifiers.0.value", "body.identifiers.1.value"}
    assert active_members(db) == 0


def test_identifiers_are_masked_without_pii_permission(client: TestClient, db: Database) -> None:
    member = see(db, "m", ph("13812345678"), idn(IdKind.EMAIL, "zhang.wei@example.com"))
    analyst = key_headers(make_key(db, role="analyst"))
    agent = key_headers(make_key(db, role="cs_agent"))
    url = f"/api/v1/members/{member}/identifiers"
    masked = {i["kind"]: i["value"] for i in client.get(url, headers=analyst).json()}
    assert masked["phone"].endswith("5678")
    assert masked["phone"].count("*") >= 4
    assert "13812345678" not in str(masked)
    assert "zhang.wei" not in str(masked)
    clear = {i["kind"]: i["value"] for i in client.get(url, headers=agent).json()}
    assert clear["phone"] == "+8613812345678"


def test_a_short_phone_is_named_with_the_other_bad_fields(client: TestClient, db: Database) -> None:
    headers = key_headers(make_key(db, role="admin"))
    bad = client.post(
        "/api/v1/members/enrol", json={"phone": "123", "channel_code": "pos", "unionid": "x"}, headers=headers
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"body.phone", "body.unionid"}
