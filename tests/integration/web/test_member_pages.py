"""The member center's console pages: search, the user card, the merge review queue and tag rules;
masking for a guide, an audit entry for an unmasked view, and every verb as a CSRF-protected form."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.factories import SYSTEM, console_login, make_user
from tests.integration.orders.world import World, build, tmall_trade, web_order
from zhongtai.auth.models import AuditEntry
from zhongtai.db import Database
from zhongtai.members import cards, identity, points, privacy, stats, tags
from zhongtai.members.identifiers import IdentifierIn, IdKind
from zhongtai.members.models import CannotLink, MatchCandidate, Member, MemberTag, TagRule
from zhongtai.orders import service as orders
from zhongtai.web.i18n import LOCALES_DIR
from zhongtai.web.views.members import member_value_keys

NOW = datetime.now(UTC)


@dataclass
class Shop:
    world: World
    zhang: str  # the member's code: enrolled at the till, seen on JD, orders in three channels
    web_zhang: str  # the same person as a web-shop e-mail only: the review queue's pair
    li: str
    candidate: int
    guide: int


@pytest.fixture
def shop(db: Database) -> Shop:
    world = build(db)
    guide = make_user(db, "wang.guide", "guide", [world.locations["S-SH-01"]])
    with db.transaction() as s:
        points.ensure_default_tiers(s)
        tags.ensure_default_tag_rules(s)
        zhang = identity.enrol(
            s,
            SYSTEM,
            phone=IdentifierIn(IdKind.PHONE, "+8613812345678"),
            channel_code="pos",
            name="张伟",
            birthday=date(1990, 5, 17),
            city="上海市",
            location_id=world.locations["S-SH-01"],
            consents={"sms": True, "wechat": False},
            guide_user_id=guide,
        ).member
        identity.observe(
            s,
            SYSTEM,
            source="order",
            source_ref="JD-ZW-1",
            identifiers=[IdentifierIn(IdKind.JD_PIN, "jd_zhangwei"), IdentifierIn(IdKind.PHONE, "+8613812345678")],
            channel_code="jd",
        )
        web_zhang = identity.observe(
            s,
            SYSTEM,
            source="event",
            source_ref="web-login-1",
            identifiers=[IdentifierIn(IdKind.EMAIL, "zhang.wei@example.com")],
            attributes={"name": "张伟", "city": "上海市", "birthday": date(1990, 5, 17)},
            channel_code="web",
        )
        li = identity.observe(
            s,
            SYSTEM,
            source="order",
            source_ref="JD-LN-1",
            identifiers=[IdentifierIn(IdKind.PHONE, "+8613900005678")],
            attributes={"name": "李娜", "city": "北京市"},
            channel_code="jd",
        )
        identity.apply_matches(s, SYSTEM, [], [(zhang.id, web_zhang.id, 0.83, {})])
        numbers = []
        for channel, body in (
            ("web", web_order("W-ZW-1", ("P1-BLK", 1), placed_at=(NOW - timedelta(days=70)).isoformat())),
            ("pos", web_order("POS-ZW-1", ("P1-BLK", 1), mode="pos", store_code="S-SH-01")),
            ("tmall", tmall_trade("TM-ZW-1", "WAIT_SELLER_SEND_GOODS", ("CASE-1", 1, "99.00"))),
        ):
            out = orders.intake(s, SYSTEM, channel, body).out.order
            assert out is not None
            numbers.append(out.number)
        orders.assign_members(s, {n: zhang.id for n in numbers})
        # What the order consumer does once the orders are the member's: statistics, then RFM.
        stats.recompute(s, zhang.id)
        stats.score_rfm(s, NOW)
        candidate = s.scalar(select(MatchCandidate.id))
        assert candidate is not None
        codes = (zhang.code, web_zhang.code, li.code)
    return Shop(world, *codes, candidate=candidate, guide=guide)


def _login(client: TestClient, db: Database, shop: Shop, username: str, role: str) -> str:
    stores = [shop.world.locations["S-SH-01"]] if role in ("guide", "store_manager") else []
    make_user(db, username, role, stores)
    return console_login(client, username)["X-CSRF-Token"]


def _member(db: Database, code: str) -> Member:
    with db.transaction(write=False) as s:
        member = s.scalar(select(Member).where(Member.code == code))
    assert member is not None
    return member


# ---------------------------------------------------------------- pages


def test_admin_sees_every_member_page(client: TestClient, db: Database, shop: Shop) -> None:
    _login(client, db, shop, "boss", "admin")
    landing = client.get("/members")
    assert landing.status_code == 200, landing.text[-2000:]
    for text in ("会员中心", "会员总数", "会员等级分布", "RFM 客户分层", 'class="chart donut-chart', "待合并审核"):
        assert text in landing.text, text
    for href in ('href="/members"', 'href="/members/review"', 'href="/members/tag-rules"'):
        assert href in landing.text, href
    assert "13812345678" not in landing.text  # an empty box lists no one

    results = client.get("/members", params={"q": "138 1234 5678"})
    assert results.status_code == 200
    assert shop.zhang in results.text
    assert "13812345678" in results.text  # an admin has pii:read
    assert shop.li not in results.text

    card = client.get(f"/members/{shop.zhang}")
    assert card.status_code == 200, card.text[-3000:]
    page = card.text
    for text in (
        "张伟",
        "身份图谱",
        "jd_zhangwei",
        "13812345678",
        "全渠道订单",
        'class="chart stacked-chart',
        "京东",  # the JD channel's group
        "营销授权",
        "wang.guide",
        "RFM 评分",
        "合并历史",
        "1990-05-17",
    ):
        assert text in page, text
    assert page.count('href="/orders/') >= 3  # every channel's order, linked
    assert f'action="/members/{shop.zhang}/tags"' in page  # an admin may tag

    review = client.get("/members/review")
    assert review.status_code == 200, review.text[-2000:]
    for text in (shop.zhang, shop.web_zhang, "83.0%", "逐项比对", "一致", f"/members/review/{shop.candidate}/approve"):
        assert text in review.text, text

    rules = client.get("/members/tag-rules")
    assert rules.status_code == 200
    for text in ("高价值", "high_value", "多渠道", "/members/tag-rules/evaluate"):
        assert text in rules.text, text
    assert client.get("/members/tag-rules/new").status_code == 200
    edit = client.get("/members/tag-rules/high_value")
    assert edit.status_code == 200
    assert 'value="5000"' in edit.text  # ¥5,000.00 in the form, 500000 fen in the rule
    assert client.get("/members/tag-rules/nope").status_code == 404
    assert client.get("/members/M0000000000").status_code == 404


def test_pages_speak_english_too(client: TestClient, db: Database, shop: Shop) -> None:
    _login(client, db, shop, "boss", "admin")
    client.get("/lang/en")
    for path, text in (
        ("/members", "Members by tier"),
        (f"/members/{shop.zhang}", "Identity graph"),
        ("/members/review", "Match probability"),
        ("/members/tag-rules", "Conditions (all must hold)"),
    ):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert text in resp.text, path


def test_a_merged_code_shows_the_survivors_card(client: TestClient, db: Database, shop: Shop) -> None:
    with db.transaction() as s:
        identity.merge(s, SYSTEM, shop.zhang, shop.web_zhang)
    _login(client, db, shop, "boss", "admin")
    page = client.get(f"/members/{shop.web_zhang}").text
    assert f"会员 {shop.web_zhang} 已合并到 {shop.zhang}" in page
    assert "zhang.wei@example.com" in page


def test_guide_sees_a_masked_card_and_no_manager_forms(client: TestClient, db: Database, shop: Shop) -> None:
    with db.transaction() as s:
        identity.merge(s, SYSTEM, shop.zhang, shop.web_zhang)
    token = _login(client, db, shop, "xiao.wang", "guide")
    page = client.get(f"/members/{shop.zhang}").text
    assert "138****5678" in page
    assert "13812345678" not in page
    assert "张*" in page
    assert "张伟" not in page
    assert "1990-**-**" in page
    assert "z***@example.com" in page
    assert "您的角色看不到完整的个人信息" in page
    assert "/unmerge" not in page  # merges are a manager's
    assert f'action="/members/{shop.zhang}/tags"' in page  # a guide tags the customer in front of them
    assert 'href="/members/review"' not in page  # not in the menu
    results = client.get("/members", params={"q": "5678"}).text
    assert "138****5678" in results
    assert "13812345678" not in results
    # A forged manager form is refused by role
    resp = client.post(f"/members/review/{shop.candidate}/approve", data={"csrf_token": token})
    assert resp.status_code == 403
    with db.transaction(write=False) as s:
        audits = s.scalars(select(AuditEntry).where(AuditEntry.action == cards.PII_VIEWED)).all()
    assert audits == []


def test_an_unmasked_card_view_is_audited(client: TestClient, db: Database, shop: Shop) -> None:
    _login(client, db, shop, "zhao.cs", "cs_agent")
    page = client.get(f"/members/{shop.zhang}").text
    assert "13812345678" in page
    with db.transaction(write=False) as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == cards.PII_VIEWED)).all()
    assert [(e.actor_name, e.entity_id, (e.after or {}).get("view")) for e in entries] == [
        ("zhao.cs", str(_member(db, shop.zhang).id), "card")
    ]
    audit_page = client.get("/admin/audit")
    assert audit_page.status_code == 403  # an agent does not read the audit log; an admin does


def test_an_erased_member_shows_as_erased(client: TestClient, db: Database, shop: Shop) -> None:
    with db.transaction() as s:
        privacy.erase_member(s, SYSTEM, shop.li, "会员申请注销")
    _login(client, db, shop, "zhao.cs", "cs_agent")
    page = client.get(f"/members/{shop.li}").text
    assert "已注销" in page
    assert "李娜" not in page
    assert "13900005678" not in page
    assert f'action="/members/{shop.li}/tags"' not in page  # nothing to add to an erased member
    assert shop.li not in client.get("/members", params={"q": "李"}).text


# ---------------------------------------------------------------- verbs


def test_tags_are_added_and_removed_through_the_card(client: TestClient, db: Database, shop: Shop) -> None:
    token = _login(client, db, shop, "xiao.wang", "guide")
    base = f"/members/{shop.zhang}"
    resp = client.post(f"{base}/tags", data={"csrf_token": token, "tag": "喜欢跑步"}, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == f"{base}?done=tag_added"
    page = client.get(resp.headers["location"]).text
    assert "已添加标签" in page
    assert "喜欢跑步" in page
    # A rule's code cannot be set by hand: the card comes back with the problem, nothing written
    refused = client.post(f"{base}/tags", data={"csrf_token": token, "tag": "high_value"})
    assert refused.status_code == 422
    assert "提交的内容有误" in refused.text
    resp = client.post(f"{base}/tags/remove", data={"csrf_token": token, "tag": "喜欢跑步"}, follow_redirects=False)
    assert resp.headers["location"] == f"{base}?done=tag_removed"
    with db.transaction(write=False) as s:
        left = s.scalars(select(MemberTag.tag).where(MemberTag.source == "manual")).all()
    assert left == []


def test_review_approve_then_unmerge_from_the_card(client: TestClient, db: Database, shop: Shop) -> None:
    token = _login(client, db, shop, "chen.ops", "ops")
    resp = client.post(f"/members/review/{shop.candidate}/approve", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/members/review?done=approved"
    assert _member(db, shop.web_zhang).status == "merged"
    page = client.get(f"/members/{shop.zhang}").text
    assert "z***@example.com" in page  # the absorbed member's e-mail; ops have no pii:read
    with db.transaction(write=False) as s:
        event = cards.card(s, SYSTEM, shop.zhang).merges[0]
    assert event.can_unmerge
    assert f"/merges/{event.id}/unmerge" in page
    resp = client.post(
        f"/members/{shop.zhang}/merges/{event.id}/unmerge", data={"csrf_token": token}, follow_redirects=False
    )
    assert resp.status_code == 303, resp.text[-2000:]
    assert resp.headers["location"] == f"/members/{shop.zhang}?done=unmerged"
    assert _member(db, shop.web_zhang).status == "active"
    # Undoing it twice is refused on the card, and nothing changes
    again = client.post(f"/members/{shop.zhang}/merges/{event.id}/unmerge", data={"csrf_token": token})
    assert again.status_code == 409
    assert "操作与当前状态冲突" in again.text


def test_review_reject_keeps_them_apart(client: TestClient, db: Database, shop: Shop) -> None:
    token = _login(client, db, shop, "chen.ops", "ops")
    resp = client.post(f"/members/review/{shop.candidate}/reject", data={"csrf_token": token}, follow_redirects=False)
    assert resp.headers["location"] == "/members/review?done=rejected"
    with db.transaction(write=False) as s:
        assert s.scalar(select(MatchCandidate.status)) == "rejected"
        assert s.scalar(select(CannotLink.id)) is not None
    assert "不是同一人" in client.get("/members/review?status=rejected").text
    again = client.post(f"/members/review/{shop.candidate}/reject", data={"csrf_token": token})
    assert again.status_code == 409


def test_tag_rules_are_created_edited_evaluated_and_deleted(client: TestClient, db: Database, shop: Shop) -> None:
    token = _login(client, db, shop, "chen.ops", "ops")
    form = {
        "csrf_token": token,
        "code": "jd_buyers",
        "name_zh": "京东买家",
        "name_en": "JD buyers",
        "active": "1",
        "field_0": "channel",
        "op_0": "in",
        "value_0": "jd, tmall",
        "field_1": "spend_fen",
        "op_1": ">=",
        "value_1": "99.5",
        "field_2": "",
    }
    resp = client.post("/members/tag-rules", data=form, follow_redirects=False)
    assert resp.status_code == 303, resp.text[-2000:]
    assert resp.headers["location"] == "/members/tag-rules?done=rule_created"
    with db.transaction(write=False) as s:
        rule = s.scalar(select(TagRule).where(TagRule.code == "jd_buyers"))
        assert rule is not None
        assert rule.conditions == [
            {"field": "channel", "op": "in", "value": ["jd", "tmall"]},
            {"field": "spend_fen", "op": ">=", "value": 9950},  # yuan in the form, fen in the rule
        ]
    # Bad input: every problem named, the form comes back with what was typed
    bad = client.post("/members/tag-rules", data=form | {"code": "Bad Code", "value_1": "lots", "name_en": ""})
    assert bad.status_code == 422
    assert "lots" in bad.text
    assert "条件 2" in bad.text
    resp = client.post(
        "/members/tag-rules/jd_buyers",
        data=form | {"name_zh": "京东天猫买家", "value_1": "1"},
        follow_redirects=False,
    )
    assert resp.headers["location"] == "/members/tag-rules?done=rule_updated"
    resp = client.post("/members/tag-rules/evaluate", data={"csrf_token": token}, follow_redirects=False)
    assert resp.headers["location"] == "/members/tag-rules?done=evaluated"
    listing = client.get(resp.headers["location"]).text
    assert "京东天猫买家" in listing
    assert "已按全部规则重新计算" in listing
    with db.transaction(write=False) as s:
        tagged = s.scalars(select(MemberTag.member_id).where(MemberTag.tag == "jd_buyers")).all()
    assert tagged == [_member(db, shop.zhang).id]  # ordered on Tmall, spent more than ¥1
    assert "京东天猫买家" in client.get(f"/members/{shop.zhang}").text
    resp = client.post("/members/tag-rules/jd_buyers/delete", data={"csrf_token": token}, follow_redirects=False)
    assert resp.headers["location"] == "/members/tag-rules?done=rule_deleted"
    with db.transaction(write=False) as s:
        assert s.scalar(select(TagRule).where(TagRule.code == "jd_buyers")) is None


def test_a_guide_cannot_change_tag_rules(client: TestClient, db: Database, shop: Shop) -> None:
    token = _login(client, db, shop, "xiao.wang", "guide")
    page = client.get("/members/tag-rules").text
    assert "/members/tag-rules/evaluate" not in page
    assert client.get("/members/tag-rules/new").status_code == 403
    assert client.post("/members/tag-rules/evaluate", data={"csrf_token": token}).status_code == 403
    assert client.post("/members/tag-rules/high_value/delete", data={"csrf_token": token}).status_code == 403


def test_every_member_form_needs_the_csrf_token(client: TestClient, db: Database, shop: Shop) -> None:
    _login(client, db, shop, "boss", "admin")
    for path, data in (
        (f"/members/{shop.zhang}/tags", {"tag": "x"}),
        (f"/members/{shop.zhang}/tags/remove", {"tag": "x"}),
        (f"/members/{shop.zhang}/merges/1/unmerge", {}),
        (f"/members/review/{shop.candidate}/approve", {}),
        (f"/members/review/{shop.candidate}/reject", {}),
        ("/members/tag-rules", {"code": "x"}),
        ("/members/tag-rules/evaluate", {}),
        ("/members/tag-rules/high_value/delete", {}),
    ):
        for token in (None, "forged"):
            resp = client.post(path, data=data | ({"csrf_token": token} if token else {}))
            assert resp.status_code == 403, path
            assert "页面已过期" in resp.text, path
    assert _member(db, shop.web_zhang).status == "active"


def test_every_value_the_member_pages_translate_exists() -> None:
    catalogs = {loc: json.loads((LOCALES_DIR / f"{loc}.json").read_text(encoding="utf-8")) for loc in ("zh-CN", "en")}
    for catalog in catalogs.values():
        missing = [f"{p}.{v}" for p, values in member_value_keys().items() for v in values if f"{p}.{v}" not in catalog]
        missing += [
            k for k in ("nav.members", "nav.member_review", "nav.tag_rules", "nav.section.members") if k not in catalog
        ]
        assert missing == []
    assert catalogs["zh-CN"]["nav.section.members"] == "会员中心"
