"""The points ledger and tiers on both backends: earning per order, proportional clawback,
redemption (insufficient, idempotent by reference), reversal, expiry, tiers, and the HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from tests.factories import SYSTEM, key_headers, make_key
from zhongtai.auth.models import AuditEntry
from zhongtai.db import Database, utcnow
from zhongtai.errors import PermissionDenied, ValidationFailed
from zhongtai.jobs import Job, run_pending
from zhongtai.members import points, points_tasks
from zhongtai.members.models import Member, PointsEntry, TierRule
from zhongtai.members.schemas_points import TierIn

API = "/api/v1"
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def make_member(db: Database, n: int = 1, **fields: Any) -> int:
    """A member row, inserted directly (the identity service is not what is tested here)."""
    with db.transaction() as s:
        member = Member(code=f"M{n:010d}", **fields)
        s.add(member)
        s.flush()
        return member.id


def earn(db: Database, member_id: int, number: str, paid_fen: int, at: datetime = NOW) -> PointsEntry | None:
    with db.transaction() as s:
        return points.earn_for_order(
            s, SYSTEM, member_id, order_number=number, paid_fen=paid_fen, channel_code="web", at=at
        )


def refund(db: Database, member_id: int, number: str, ref: str, fen: int) -> PointsEntry | None:
    with db.transaction() as s:
        return points.clawback_for_refund(
            s, SYSTEM, member_id, order_number=number, refund_ref=ref, refund_fen=fen, at=NOW
        )


def redeem(db: Database, member_id: int, pts: int, ref: str, channel: str = "pos") -> PointsEntry:
    with db.transaction() as s:
        return points.redeem(s, SYSTEM, member_id, points=pts, channel_code=channel, reference=ref)


def state(db: Database, member_id: int) -> tuple[int, int, int, str]:
    """(cached balance, ledger sum, what the lots hold, tier)."""
    with db.transaction(write=False) as s:
        m = s.get(Member, member_id)
        assert m is not None
        total = s.scalar(select(func.coalesce(func.sum(PointsEntry.points), 0)).where(PointsEntry.member_id == m.id))
        lots = s.scalar(select(func.coalesce(func.sum(PointsEntry.remaining), 0)).where(PointsEntry.member_id == m.id))
        negative = s.scalar(select(func.count()).where(PointsEntry.remaining < 0))
        assert negative == 0
        return m.points_balance, int(total or 0), int(lots or 0), m.tier


def kinds(db: Database, member_id: int) -> list[tuple[str, int]]:
    with db.transaction(write=False) as s:
        rows = s.scalars(select(PointsEntry).where(PointsEntry.member_id == member_id).order_by(PointsEntry.id))
        return [(e.kind, e.points) for e in rows]


# ---------------------------------------------------------------- earning


def test_a_completed_order_earns_once_at_the_tier_rate_with_a_lot_expiring_next_year_end(db: Database) -> None:
    m = make_member(db)
    first = earn(db, m, "ZT0001", 9_999)
    assert first is not None
    assert first.points == 99
    assert first.remaining == 99
    assert first.spend_fen == 9_999
    assert points.last_valid_day(first.expires_at or NOW) == date(2027, 12, 31)
    # The same order again (a replayed event) earns nothing more.
    assert earn(db, m, "ZT0001", 9_999) is None
    assert state(db, m) == (99, 99, 99, "regular")
    with db.transaction(write=False) as s:
        audits = s.scalar(select(func.count()).where(AuditEntry.action == "points.earn"))
    assert audits == 1


def test_spend_over_a_threshold_lifts_the_tier_and_later_orders_earn_at_its_rate(db: Database) -> None:
    m = make_member(db)
    e1 = earn(db, m, "ZT0001", 150_000)  # ¥1,500 as a regular member: 1,500 points
    e2 = earn(db, m, "ZT0002", 60_000)  # still regular when it earns (600); ¥2,100 in 12 months: silver
    e3 = earn(db, m, "ZT0003", 10_000)  # silver: 110
    assert [e.points for e in (e1, e2, e3) if e is not None] == [1_500, 600, 110]
    assert state(db, m) == (2_210, 2_210, 2_210, "silver")
    # Spend older than 365 days does not count.
    m2 = make_member(db, 2)
    earn(db, m2, "ZT0100", 500_000, at=utcnow() - timedelta(days=400))
    with db.transaction() as s:
        assert points.recompute_tier(s, s.get(Member, m2), utcnow()) == "regular"  # type: ignore[arg-type]


def test_refunds_claw_back_in_proportion_once_per_refund_and_lower_the_tier(db: Database) -> None:
    m = make_member(db)
    earn(db, m, "ZT0001", 200_000)  # 2,000 points, silver
    assert state(db, m)[3] == "silver"
    part = refund(db, m, "ZT0001", "RF1", 50_000)
    assert part is not None
    assert part.points == -500
    assert part.spend_fen == -50_000
    assert refund(db, m, "ZT0001", "RF1", 50_000) is None  # the same refund again
    assert state(db, m) == (1_500, 1_500, 1_500, "regular")  # ¥1,500 qualifying: silver lost
    rest = refund(db, m, "ZT0001", "RF2", 999_999)  # more than is left: counts what is left
    assert rest is not None
    assert (rest.points, rest.spend_fen) == (-1_500, -150_000)
    assert state(db, m) == (0, 0, 0, "regular")


def test_a_clawback_of_spent_points_goes_negative_blocks_redemption_and_is_repaid_by_the_next_earn(
    db: Database,
) -> None:
    m = make_member(db)
    earn(db, m, "ZT0001", 10_000)  # 100
    redeem(db, m, 80, "R1")
    refund(db, m, "ZT0001", "RF1", 10_000)  # takes all 100: 20 from the lot, 80 into debt
    assert state(db, m) == (-80, -80, 0, "regular")
    with pytest.raises(points.InsufficientPoints), db.transaction() as s:
        points.redeem(s, SYSTEM, m, points=1, channel_code="pos", reference="R2")
    lot = earn(db, m, "ZT0002", 15_000)  # 150: 80 repay the debt, 70 go into the lot
    assert lot is not None
    assert lot.remaining == 70
    assert state(db, m) == (70, 70, 70, "regular")


def test_a_refund_before_the_points_were_earned_is_deducted_when_they_are(db: Database) -> None:
    m = make_member(db)
    early = refund(db, m, "ZT0001", "RF1", 4_000)
    assert early is not None
    assert (early.points, early.spend_fen) == (0, -4_000)
    later = earn(db, m, "ZT0001", 10_000)
    assert later is not None
    assert later.points == 60  # on the ¥60 still paid
    # A second refund takes back in proportion to what earned: 3,000 of 6,000 -> 30.
    again = refund(db, m, "ZT0001", "RF2", 3_000)
    assert again is not None
    assert again.points == -30
    assert state(db, m) == (30, 30, 30, "regular")


# ---------------------------------------------------------------- redemption


def test_redemption_takes_the_lots_that_expire_first(db: Database) -> None:
    m = make_member(db)
    newer = earn(db, m, "ZT0002", 30_000, at=datetime(2026, 3, 1, tzinfo=UTC))
    older = earn(db, m, "ZT0001", 20_000, at=datetime(2025, 8, 1, tzinfo=UTC))
    assert newer is not None
    assert older is not None
    spent = redeem(db, m, 250, "R1")
    assert spent.consumed == [[older.id, 200], [newer.id, 50]]
    assert spent.balance_after == 250
    with db.transaction(write=False) as s:
        assert s.get(PointsEntry, older.id).remaining == 0  # type: ignore[union-attr]
        assert s.get(PointsEntry, newer.id).remaining == 250  # type: ignore[union-attr]


def test_redemption_is_idempotent_by_channel_and_reference(db: Database) -> None:
    m = make_member(db)
    earn(db, m, "ZT0001", 50_000)
    first = redeem(db, m, 100, "TILL-7-0001")
    again = redeem(db, m, 100, "TILL-7-0001")
    assert again.id == first.id
    other_channel = redeem(db, m, 100, "TILL-7-0001", channel="miniapp")
    assert other_channel.id != first.id
    with pytest.raises(points.RedemptionMismatch), db.transaction() as s:
        points.redeem(s, SYSTEM, m, points=120, channel_code="pos", reference="TILL-7-0001")
    assert state(db, m)[0] == 300


def test_merged_members_redeem_from_the_survivor_and_erased_ones_not_at_all(db: Database) -> None:
    survivor = make_member(db, 1)
    earn(db, survivor, "ZT0001", 10_000)
    absorbed = make_member(db, 2, status="merged", merged_into_id=survivor)
    entry = redeem(db, absorbed, 40, "R1")
    assert entry.member_id == survivor
    assert state(db, survivor)[0] == 60
    gone = make_member(db, 3, status="erased", points_balance=0)
    with pytest.raises(points.MemberErased), db.transaction() as s:
        points.redeem(s, SYSTEM, gone, points=1, channel_code="pos", reference="R9")
    assert earn(db, gone, "ZT0009", 10_000) is None


def test_a_void_at_the_till_gives_back_the_lots_and_only_once(db: Database) -> None:
    m = make_member(db)
    lot = earn(db, m, "ZT0001", 10_000)
    assert lot is not None
    spent = redeem(db, m, 60, "R1")
    with db.transaction() as s:
        back = points.reverse_redemption(s, SYSTEM, spent.id, "voided sale", member_id=m)
    assert (back.kind, back.points, back.remaining) == ("reverse", 60, 0)
    with db.transaction() as s:
        assert points.reverse_redemption(s, SYSTEM, spent.id, "again").id == back.id
        assert s.get(PointsEntry, lot.id).remaining == 100  # type: ignore[union-attr]
    assert state(db, m) == (100, 100, 100, "regular")
    with pytest.raises(points.NotARedemption), db.transaction() as s:
        points.reverse_redemption(s, SYSTEM, lot.id, "not a redemption")


def test_points_of_a_lot_that_expired_since_come_back_expired(db: Database) -> None:
    m = make_member(db)
    old = earn(db, m, "ZT0001", 10_000, at=datetime(2024, 6, 1, tzinfo=UTC))  # expired 1 Jan 2026 (Shanghai)
    assert old is not None
    spent = redeem(db, m, 100, "R1")  # before the expiry job ran
    with db.transaction() as s:
        assert points.expire_due(s, utcnow()) == 0  # nothing left to expire
        back = points.reverse_redemption(s, SYSTEM, spent.id, "voided")
        # The lot itself was not expired by the job: the points go back into it ...
        assert back.remaining == 0
        assert points.expire_due(s, utcnow()) == 1  # ... and expire now, as they would have
    assert state(db, m) == (0, 0, 0, "regular")
    assert kinds(db, m) == [("earn", 100), ("redeem", -100), ("reverse", 100), ("expire", -100)]
    # Once a lot has expired, reversing a redemption from it gives a lot that expires in turn.
    m2 = make_member(db, 2)
    lot = earn(db, m2, "ZT0002", 10_000, at=datetime(2024, 6, 1, tzinfo=UTC))
    assert lot is not None
    spent2 = redeem(db, m2, 30, "R2")
    with db.transaction() as s:
        assert points.expire_due(s, utcnow()) == 1  # the 70 left
        back2 = points.reverse_redemption(s, SYSTEM, spent2.id, "voided")
        assert (back2.remaining, back2.expires_at) == (30, lot.expires_at)
        assert points.expire_due(s, utcnow()) == 1
    assert state(db, m2) == (0, 0, 0, "regular")


# ---------------------------------------------------------------- expiry, adjustments, hooks


def test_the_daily_expiry_job_expires_each_lot_once(db: Database) -> None:
    m = make_member(db)
    earn(db, m, "ZT0001", 20_000, at=datetime(2024, 12, 31, 15, 0, tzinfo=UTC))  # 2024 in Shanghai: expired
    earn(db, m, "ZT0002", 30_000, at=datetime(2024, 12, 31, 17, 0, tzinfo=UTC))  # 2025 in Shanghai: valid
    redeem(db, m, 50, "R1")
    assert points_tasks.expire_points(db) == {"expired_lots": 1, "tiers_changed": 0}
    assert points_tasks.expire_points(db) == {"expired_lots": 0, "tiers_changed": 0}
    assert kinds(db, m) == [("earn", 200), ("earn", 300), ("redeem", -50), ("expire", -150)]
    assert state(db, m) == (300, 300, 300, "regular")


def test_manual_adjustments_need_members_manage_and_never_go_below_zero(db: Database) -> None:
    m = make_member(db)
    with db.transaction() as s:
        plus = points.adjust(s, SYSTEM, m, points=500, reason="goodwill")
    assert (plus.kind, plus.remaining) == ("adjust", 500)
    with pytest.raises(points.InsufficientPoints), db.transaction() as s:
        points.adjust(s, SYSTEM, m, points=-501, reason="too much")
    with db.transaction() as s:
        minus = points.adjust(s, SYSTEM, m, points=-200, reason="correction")
    assert minus.consumed == [[plus.id, 200]]
    guide = SYSTEM.__class__(kind="user", id=1, name="guide", role=SYSTEM.role.GUIDE)
    with pytest.raises(PermissionDenied), db.transaction() as s:
        points.adjust(s, guide, m, points=1, reason="no")
    assert state(db, m) == (300, 300, 300, "")


def test_recompute_balance_after_entries_moved_brings_the_cache_and_lots_in_step(db: Database) -> None:
    a, b = make_member(db, 1), make_member(db, 2)
    earn(db, a, "ZT0001", 10_000)  # a: 100
    earn(db, b, "ZT0002", 5_000)  # b: 50
    redeem(db, b, 50, "R1")
    refund(db, b, "ZT0002", "RF1", 5_000)  # b: -50
    # A merge moves b's entries onto a (as identity.merge does), then calls the hooks.
    with db.transaction() as s:
        for e in s.scalars(select(PointsEntry).where(PointsEntry.member_id == b)):
            e.member_id = a
        s.flush()
        ma = s.get(Member, a)
        assert ma is not None
        assert points.recompute_balance(s, ma) == 50
        assert points.recompute_tier(s, ma, utcnow()) == "regular"
    assert state(db, a) == (50, 50, 50, "regular")


# ---------------------------------------------------------------- queries and tiers


def test_the_summary_shows_tier_next_tier_and_what_expires_within_90_days(db: Database) -> None:
    m = make_member(db)
    earn(db, m, "ZT0001", 120_000, at=datetime(2025, 12, 1, tzinfo=UTC))  # lot valid through 31 Dec 2026
    earn(db, m, "ZT0002", 30_000, at=datetime(2026, 11, 1, tzinfo=UTC))  # valid through 31 Dec 2027
    with db.transaction(write=False) as s:
        out = points.points_summary(s, "M0000000001", now=NOW)
    assert out.balance == 1_500
    assert out.tier is not None
    assert (out.tier.code, out.tier.name_zh) == ("regular", "普通会员")
    assert out.next_tier is not None
    assert out.next_tier.code == "silver"
    assert out.spend_12m_fen == 150_000
    assert out.spend_to_next_fen == 50_000
    assert out.expiring_points == 1_200
    assert out.expiring_on == date(2026, 12, 31)
    assert out.expiring_at == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)


def test_the_ledger_pages_newest_first(db: Database) -> None:
    m = make_member(db)
    for i in range(5):
        earn(db, m, f"ZT000{i}", 1_000 * (i + 1), at=NOW + timedelta(minutes=i))
    with db.transaction(write=False) as s:
        page1 = points.ledger(s, m, limit=3)
        page2 = points.ledger(s, m, cursor=page1.next_cursor, limit=3)
    assert [e.order_number for e in page1.items + page2.items] == [f"ZT000{i}" for i in range(4, -1, -1)]
    assert page2.next_cursor is None


def test_tiers_default_until_set_and_setting_them_validates_every_field(db: Database) -> None:
    with db.transaction() as s:
        assert [t.code for t in points.tiers(s)] == ["regular", "silver", "gold", "black"]
        assert s.scalar(select(func.count()).select_from(TierRule)) == 0
        points.ensure_default_tiers(s)
        points.ensure_default_tiers(s)
        assert s.scalar(select(func.count()).select_from(TierRule)) == 4
    bad = [
        TierIn(code="basic", name_zh="基础", name_en="Basic", min_spend_fen=10, earn_rate=100, rank=0),
        TierIn(code="basic", name_zh="高级", name_en="Plus", min_spend_fen=5, earn_rate=120, rank=1),
    ]
    with pytest.raises(ValidationFailed) as caught, db.transaction() as s:
        points.set_tiers(s, SYSTEM, bad)
    assert {e.field for e in caught.value.errors} == {
        "body.tiers.0.min_spend_fen",
        "body.tiers.1.code",
        "body.tiers.1.min_spend_fen",
    }
    good = [
        TierIn(code="basic", name_zh="基础", name_en="Basic", min_spend_fen=0, earn_rate=100, rank=0),
        TierIn(code="vip", name_zh="贵宾", name_en="VIP", min_spend_fen=100_000, earn_rate=200, rank=1),
    ]
    with db.transaction() as s:
        assert [t.code for t in points.set_tiers(s, SYSTEM, good)] == ["basic", "vip"]
    m = make_member(db)
    earn(db, m, "ZT0001", 100_000)
    assert state(db, m)[3] == "vip"
    assert earn(db, m, "ZT0002", 10_000).points == 200  # type: ignore[union-attr]


# ---------------------------------------------------------------- HTTP


def test_redeem_over_http_insufficient_is_409_problem_and_a_repeat_returns_the_first(
    client: TestClient, db: Database
) -> None:
    m = make_member(db)
    earn(db, m, "ZT0001", 10_000)
    till = key_headers(make_key(db, "integrator", channel_code="pos", name="till"))
    url = f"{API}/members/M0000000001/points/redeem"
    short = client.post(url, json={"points": 101, "channel_code": "pos", "reference": "S1-0001"}, headers=till)
    assert short.status_code == 409
    assert short.headers["content-type"].startswith("application/problem+json")
    assert short.json()["code"] == "insufficient_points"
    assert short.json()["balance"] == 100
    body = {"points": 40, "channel_code": "pos", "reference": "S1-0002", "note": "换购"}
    first = client.post(url, json=body, headers=till)
    assert first.status_code == 201, first.text
    again = client.post(url, json=body, headers=till)
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    mismatch = client.post(url, json={**body, "points": 41}, headers=till)
    assert (mismatch.status_code, mismatch.json()["code"]) == (409, "redemption_mismatch")
    # A channel's key redeems for its own channel only.
    other = client.post(url, json={**body, "channel_code": "web", "reference": "X"}, headers=till)
    assert other.status_code == 403
    bad = client.post(url, json={"points": 0, "channel_code": "POS!", "reference": ""}, headers=till)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"body.points", "body.channel_code", "body.reference"}
    summary = client.get(f"{API}/members/{m}/points", headers=till)
    assert summary.status_code == 200
    assert summary.json()["balance"] == 60
    entries = client.get(f"{API}/members/M0000000001/points/entries?limit=1", headers=till)
    assert entries.status_code == 200
    assert [e["kind"] for e in entries.json()["items"]] == ["redeem"]
    assert entries.json()["next_cursor"]


def test_reversal_and_adjustment_over_http(client: TestClient, db: Database) -> None:
    m = make_member(db)
    earn(db, m, "ZT0001", 10_000)
    make_member(db, 2)
    till = key_headers(make_key(db, "integrator", channel_code="pos", name="till"))
    ops = key_headers(make_key(db, "ops", name="ops"))
    spent = client.post(
        f"{API}/members/{m}/points/redeem", json={"points": 30, "channel_code": "pos", "reference": "V1"}, headers=till
    ).json()
    # The entry is another member's: not found.
    wrong = client.post(
        f"{API}/members/M0000000002/points/reversals", json={"entry_id": spent["id"], "reason": "void"}, headers=till
    )
    assert wrong.status_code == 404
    back = client.post(
        f"{API}/members/{m}/points/reversals", json={"entry_id": spent["id"], "reason": "void"}, headers=till
    )
    assert back.status_code == 201, back.text
    assert (back.json()["kind"], back.json()["points"], back.json()["balance_after"]) == ("reverse", 30, 100)
    # Adjustments need members:manage, which a till's key lacks.
    body = {"points": 20, "reason": "生日礼"}
    assert client.post(f"{API}/members/{m}/points/adjustments", json=body, headers=till).status_code == 403
    done = client.post(f"{API}/members/{m}/points/adjustments", json=body, headers=ops)
    assert done.status_code == 201
    assert done.json()["balance_after"] == 120
    zero = client.post(f"{API}/members/{m}/points/adjustments", json={"points": 0, "reason": ""}, headers=ops)
    assert zero.status_code == 422
    assert {e["field"] for e in zero.json()["errors"]} == {"body.points", "body.reason"}


def test_points_api_needs_a_key_and_answers_404_for_unknown_members(client: TestClient, db: Database) -> None:
    assert client.get(f"{API}/members/M0000000001/points").status_code == 401
    analyst = key_headers(make_key(db, "analyst", name="analyst"))
    missing = client.get(f"{API}/members/M0000000404/points", headers=analyst)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"{API}/members/nobody/points/entries", headers=analyst).status_code == 404
    make_member(db)
    assert client.get(f"{API}/members/M0000000001/points", headers=analyst).status_code == 200
    body = {"points": 1, "channel_code": "pos", "reference": "R1"}
    denied = client.post(f"{API}/members/M0000000001/points/redeem", json=body, headers=analyst)
    assert (denied.status_code, denied.json()["code"]) == (403, "permission_denied")


def test_tier_table_over_http_names_every_bad_field_and_retiers_members(client: TestClient, db: Database) -> None:
    ops = key_headers(make_key(db, "ops", name="ops"))
    analyst = key_headers(make_key(db, "analyst", name="analyst"))
    assert [t["code"] for t in client.get(f"{API}/member-tiers", headers=analyst).json()] == [
        "regular",
        "silver",
        "gold",
        "black",
    ]
    tiers: list[dict[str, Any]] = [
        {
            "code": "regular",
            "name_zh": "普通会员",
            "name_en": "Regular",
            "min_spend_fen": 0,
            "earn_rate": 100,
            "rank": 0,
        },
        {
            "code": "silver",
            "name_zh": "银卡",
            "name_en": "Silver",
            "min_spend_fen": 50_000,
            "earn_rate": 110,
            "rank": 1,
        },
    ]
    assert client.put(f"{API}/member-tiers", json={"tiers": tiers}, headers=analyst).status_code == 403
    shape = client.put(
        f"{API}/member-tiers",
        json={"tiers": [{**tiers[0], "earn_rate": 2_000}, {**tiers[1], "code": "Silver!", "name_zh": ""}]},
        headers=ops,
    )
    assert shape.status_code == 422
    assert shape.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in shape.json()["errors"]} == {
        "body.tiers.0.earn_rate",
        "body.tiers.1.code",
        "body.tiers.1.name_zh",
    }
    rules = client.put(
        f"{API}/member-tiers",
        json={"tiers": [{**tiers[0], "min_spend_fen": 100}, {**tiers[1], "code": "regular", "min_spend_fen": 50}]},
        headers=ops,
    )
    assert rules.status_code == 422
    assert {e["field"] for e in rules.json()["errors"]} == {
        "body.tiers.0.min_spend_fen",
        "body.tiers.1.code",
        "body.tiers.1.min_spend_fen",
    }
    # A member with ¥600 of spend is regular under the defaults, silver under the new table.
    m = make_member(db)
    earn(db, m, "ZT0001", 60_000)
    assert state(db, m)[3] == "regular"
    ok = client.put(f"{API}/member-tiers", json={"tiers": tiers}, headers=ops)
    assert ok.status_code == 200, ok.text
    assert [t["min_spend_fen"] for t in ok.json()] == [0, 50_000]
    assert run_pending(db) == 1
    with db.transaction(write=False) as s:
        job = s.get(Job, int(ok.headers["X-Job-Id"]))
        assert job is not None
        assert (job.status, job.result) == ("succeeded", {"members": 1, "tiers_changed": 1})
    assert state(db, m)[3] == "silver"


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


def test_the_entries_list_query_count_does_not_grow_with_the_page(client: TestClient, db: Database) -> None:
    m = make_member(db)
    for i in range(12):
        earn(db, m, f"ZT{i:04d}", 1_000, at=NOW + timedelta(minutes=i))
    h = key_headers(make_key(db, "analyst", name="analyst"))
    url = f"{API}/members/M0000000001/points/entries"
    client.get(url, params={"limit": 1}, headers=h)  # warm the key's last-used stamp
    with _queries(db) as small:
        assert len(client.get(url, params={"limit": 2}, headers=h).json()["items"]) == 2
    with _queries(db) as large:
        assert len(client.get(url, params={"limit": 12}, headers=h).json()["items"]) == 12
    assert len(large) == len(small)
    assert len(large) <= 6, large
