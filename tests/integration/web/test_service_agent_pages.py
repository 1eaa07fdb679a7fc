"""The agent desk and the widget preview in the console, in Chinese and English: the queue with its
SLA breach, the selected conversation's bubbles with what the bot understood, the member card and
suggestions; who may open them; the widget embedded with the session or with a key."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient

from tests.factories import SYSTEM, make_catalog_sku, make_catalog_spu
from tests.integration.service.test_agent_desk import build_desk, login, open_conversation, queue_it, small_kb
from zhongtai.db import Database
from zhongtai.members import identity, points
from zhongtai.members.identifiers import IdentifierIn, IdKind


def _member(db: Database) -> int:
    with db.transaction() as s:
        points.ensure_default_tiers(s)
        return identity.enrol(
            s,
            SYSTEM,
            phone=IdentifierIn(IdKind.PHONE, "+8613912345678"),
            channel_code="web",
            name="李娜",
            birthday=date(1988, 3, 8),
        ).member.id


def test_the_desk_shows_the_queue_the_conversation_the_member_and_suggestions(client: TestClient, db: Database) -> None:
    # Given a published knowledge base, one long-waiting member conversation and a fresh one
    build_desk(db, sla_web=60)
    small_kb(db)
    member_id = _member(db)
    late, _ = open_conversation(db, name="李娜", member_id=member_id)
    queue_it(db, late, ago_s=400, reason="negative", says=("什么时候发货啊，等好久了",))
    fresh, _ = open_conversation(db, channel="jd", name="王先生")
    queue_it(db, fresh, ago_s=5, says=("在吗",))
    login(client, "xiaowang")

    # When the agent opens the desk on the late one
    page = client.get(f"/service/agent?c={late}")

    # Then the queue lists both, the late one flagged past its SLA
    assert page.status_code == 200, page.text
    html = page.text
    assert "客服工作台" in html
    assert re.search(rf'class="q-item on breach" href="/service/agent\?c={late}"', html)
    assert re.search(rf'class="q-item" href="/service/agent\?c={fresh}"', html)
    assert "客户情绪负面" in html
    assert "京东旗舰店" in html
    # And the conversation: the customer's bubble, the hand-off note and the accept button
    assert "什么时候发货啊，等好久了" in html
    assert 'data-action="accept"' in html
    # And the member card (cs_agent has pii:read) and the knowledge base's suggestion
    assert "李娜" in html
    assert "13912345678" in html
    assert "官网订单 24 小时内发货。" in html
    assert 'src="/static/service/agent.js"' in html

    # When the agent accepts (as agent.js does, through the API with the CSRF header)
    csrf = re.search(r'data-csrf="([^"]+)"', html)
    assert csrf is not None
    resp = client.post(f"/api/v1/service/agent/conversations/{late}/accept", headers={"X-CSRF-Token": csrf.group(1)})
    assert resp.status_code == 200, resp.text
    # Then the desk shows the reply box and the close button
    html = client.get(f"/service/agent?c={late}").text
    assert 'id="reply-form"' in html
    assert 'data-action="close"' in html
    assert "人工客服「xiaowang」已接入" in html


def test_an_incomplete_suggestion_is_marked_and_ranked_after_the_complete_ones(
    client: TestClient, db: Database
) -> None:
    # Given a question naming an order whose arrival date nobody filled, then "转人工"
    build_desk(db)
    small_kb(db)
    public_id, _ = open_conversation(db)
    queue_it(db, public_id, says=("订单 ZT261111ABCD2345 的快递到哪了", "转人工"))
    login(client, "xiaowang")
    # When the agent opens it
    html = client.get(f"/service/agent?c={public_id}").text
    # Then the incomplete suggestion shows its placeholder marked, after the complete ones
    cards = re.findall(
        r'<button type="button" class="sugg( partial)?" data-text="([^"]*)" data-missing="([^"]*)"', html
    )
    assert cards
    assert [bool(partial) for partial, _t, _m in cards] == sorted(bool(partial) for partial, _t, _m in cards)
    partial = [(text, missing) for flag, text, missing in cards if flag]
    assert partial == [("订单 ZT261111ABCD2345 预计 {eta} 送达。", "eta")]
    assert '<mark class="sugg-slot">{eta}</mark>' in html
    assert "转接人工" not in "".join(text for _f, text, _m in cards)


def test_the_desk_in_english(client: TestClient, db: Database) -> None:
    build_desk(db)
    public_id, _ = open_conversation(db)
    queue_it(db, public_id, reason="requested", says=("hello?",))
    login(client, "xiaowang")
    client.get("/lang/en?next=/")
    html = client.get("/service/agent").text
    assert "Agent desk" in html
    assert "Asked for a person" in html
    assert "Accept" in html
    assert "客服工作台" not in html


def test_the_desk_needs_the_agent_permission_and_a_cookie_write_needs_csrf(client: TestClient, db: Database) -> None:
    build_desk(db)
    public_id, _ = open_conversation(db)
    queue_it(db, public_id)
    login(client, "ana")  # analyst: reads service metrics, takes no conversations
    assert client.get("/service/agent").status_code == 403
    login(client, "xiaowang")
    resp = client.post(f"/api/v1/service/agent/conversations/{public_id}/accept")
    assert resp.status_code == 403
    assert resp.json()["reason"] == "csrf"


def test_the_widget_preview_embeds_the_widget_on_a_product_page(client: TestClient, db: Database) -> None:
    # Given an SKU on sale with selling points and parameters
    build_desk(db)
    make_catalog_spu(db, "P1", parameters={"screen_size": 6.7})
    make_catalog_sku(db, "X1-BLK", sale_price_fen=459_900, list_price_fen=499_900, lifecycle="on_sale")
    from tests.factories import make_user

    make_user(db, "root", "admin")
    login(client, "root")

    # When an admin (who may chat) opens the preview
    html = client.get("/service/widget?channel=web").text

    # Then the product page shows the SKU and the widget is embedded with the session's CSRF token
    assert "SKU X1-BLK" in html
    assert "¥4,599.00" in html
    assert "长续航" in html
    assert "6.7英寸" in html
    assert re.search(r'<script src="/static/service/widget.js" data-channel="web" data-csrf="[^"]+"', html)
    assert "data-key=&#34;CHAT_WIDGET_KEY&#34;" in html  # the snippet to copy
    # A cs_agent may not chat as a customer: no widget until a key is pasted
    login(client, "xiaowang")
    html = client.get("/service/widget").text
    assert 'id="needs-key"' in html
    assert '/static/service/widget.js" data-channel' not in html
    html = client.get("/service/widget?key=zt_pub_test").text
    assert 'data-key="zt_pub_test"' in html
    client.get("/lang/en?next=/")
    assert "Chat widget" in client.get("/service/widget").text
