"""The trainer loop: unanswered questions queued once per message, clustered (paraphrases
together, different questions apart), assigned to a sub-intent or a new one, ignored; the API and
its permissions; two trainers assigning the same questions at once (PostgreSQL)."""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import SYSTEM, key_headers, make_key
from zhongtai.auth.models import AuditEntry
from zhongtai.auth.permissions import Role
from zhongtai.auth.principal import Principal
from zhongtai.channels import service as channels
from zhongtai.db import Database
from zhongtai.errors import Conflict, PermissionDenied, ValidationFailed
from zhongtai.service import kb, trainer, trainer_repository
from zhongtai.service.models import Conversation, ConversationMessage, TrainingItem
from zhongtai.service.schemas_trainer import NewSubIntentIn

OPS = Principal("user", None, "trainer.li", Role.OPS)
AGENT = Principal("user", None, "agent.wu", Role.CS_AGENT)
_ids = itertools.count(1)

INVOICE = ["能开发票吗", "可以开发票吗？", "请问能开发票吗", "怎么开发票呢", "你好，能不能开发票"]
GIFTS = ["有没有赠品", "有赠品吗？", "送赠品吗"]
TRADE_IN = ["支持以旧换新吗", "以旧换新怎么弄", "可以以旧换新吗"]
ALONE = ["你们几点下班"]


def _messages(db: Database, texts: Sequence[str], channel: str = "web") -> list[int]:
    """One conversation with a customer message per text; returns the message ids."""
    with db.transaction() as s:
        n = next(_ids)
        conv = Conversation(
            public_id=f"t{n:04d}{secrets.token_hex(4)}",
            token_hash="0" * 64,
            channel_code=channel,
            customer_ref=f"visitor-{n}-{secrets.token_hex(2)}",
        )
        s.add(conv)
        s.flush()
        ids: list[int] = []
        for seq, text in enumerate(texts, start=1):
            msg = ConversationMessage(conversation_id=conv.id, seq=seq, sender="customer", text=text)
            s.add(msg)
            s.flush()
            ids.append(msg.id)
        return ids


def _queue(db: Database, texts: Sequence[str], channel: str = "web", guess: str | None = None) -> list[int]:
    """The texts as open training items (through record_training_item); returns their item ids."""
    message_ids = _messages(db, texts, channel)
    with db.transaction() as s:
        for mid, text in zip(message_ids, texts, strict=True):
            assert trainer.record_training_item(s, mid, text, channel, guess, 0.2 if guess else None)
    with db.transaction(write=False) as s:
        rows = s.scalars(select(TrainingItem).where(TrainingItem.message_id.in_(message_ids)))
        by_message = {r.message_id: r.id for r in rows}
    return [by_message[m] for m in message_ids]


def _kb(db: Database, *, publish: bool = False) -> None:
    """A small draft: invoices and shipping, with examples; optionally published."""
    with db.transaction() as s:
        kb.create_scenario(s, SYSTEM, code="sale", name="售中")
        kb.create_intent(s, SYSTEM, scenario_code="sale", code="billing", name="发票与物流")
        kb.create_subintent(
            s,
            SYSTEM,
            intent_code="billing",
            code="invoice_issue",
            name="开发票",
            examples=["能开发票吗", "发票怎么开", "可以开增值税发票吗", "我要开发票", "开票怎么弄", "能不能开票"],
            answer_text="可以开具电子发票。",
        )
        kb.create_subintent(
            s,
            SYSTEM,
            intent_code="billing",
            code="shipping_time",
            name="发货时间",
            examples=["什么时候发货", "几天能到", "快递多久到", "今天能发货吗", "发货要多久", "物流几天"],
            answer_text="下单后 48 小时内发货。",
        )
        if publish:
            kb.publish(s, SYSTEM, note="trainer tests")


@pytest.fixture
def web(db: Database) -> Database:
    with db.transaction() as s:
        channels.create_channel(s, SYSTEM, code="web", name="官网", kind="web_shop")
        channels.create_channel(s, SYSTEM, code="jd", name="京东旗舰店", kind="marketplace", platform="jd")
    return db


# ---------------------------------------------------------------- the queue


def test_record_is_idempotent_per_message(web: Database) -> None:
    (mid,) = _messages(web, ["能开专票吗"])
    with web.transaction() as s:
        assert trainer.record_training_item(s, mid, "  能开专票吗 ", "web", "invoice_issue", 0.31) is True
        assert trainer.record_training_item(s, mid, "能开专票吗", "web", None, None) is False
    with web.transaction() as s:  # a retry in a later transaction too
        assert trainer.record_training_item(s, mid, "能开专票吗", "web", None, None) is False
        assert trainer.record_training_item(s, mid, "   ", "web", None, None) is False
    with web.transaction(write=False) as s:
        (item,) = s.scalars(select(TrainingItem)).all()
    assert (item.text, item.guess, item.confidence, item.status) == ("能开专票吗", "invoice_issue", 0.31, "open")


def test_a_racing_duplicate_is_refused_and_the_transaction_goes_on(web: Database) -> None:
    """Two workers passing the existence check at once: the unique message id refuses the second
    insert inside a savepoint, and the caller's transaction stays usable."""
    (mid,) = _messages(web, ["能开专票吗"])
    with web.transaction() as s:
        assert trainer.record_training_item(s, mid, "能开专票吗", "web", None, None)
        duplicate = TrainingItem(message_id=mid, text="能开专票吗", channel_code="web")
        assert trainer_repository.insert_item(s, duplicate) is False
        assert s.scalar(select(func.count()).select_from(TrainingItem)) == 1
    with web.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(TrainingItem)) == 1


# ---------------------------------------------------------------- clustering


def _cluster_texts(clusters: Sequence[Any]) -> list[set[str]]:
    return [{i.text for i in c.items} for c in clusters]


def test_clusters_group_paraphrases_and_separate_questions(web: Database) -> None:
    _queue(web, INVOICE[:3])
    _queue(web, GIFTS + TRADE_IN + ALONE, channel="jd")
    _queue(web, INVOICE[3:])
    with web.transaction(write=False) as s:
        found = trainer.clusters(s, AGENT)
    # largest first, then the most recently asked
    assert _cluster_texts(found) == [set(INVOICE), set(TRADE_IN), set(GIFTS), set(ALONE)]
    invoice = found[0]
    assert invoice.size == 5
    assert invoice.channels == ["web"]
    assert invoice.representative in INVOICE
    assert invoice.representative_id in {i.id for i in invoice.items}
    assert invoice.guess is None  # nothing published, and the bot had no guess
    assert invoice.first_seen <= invoice.last_seen
    with web.transaction(write=False) as s:
        again = trainer.clusters(s, AGENT, limit=2)
    assert [c.id for c in again] == [c.id for c in found[:2]]  # stable for the same questions


def test_cluster_id_changes_with_its_questions(web: Database) -> None:
    _queue(web, GIFTS[:2])
    with web.transaction(write=False) as s:
        (before,) = trainer.clusters(s, AGENT)
    _queue(web, GIFTS[2:])
    with web.transaction(write=False) as s:
        (after,) = trainer.clusters(s, AGENT)
    assert before.id != after.id
    assert after.size == 3


def test_guess_from_the_bots_guesses_without_a_published_kb(web: Database) -> None:
    _queue(web, GIFTS, guess="gifts")
    with web.transaction(write=False) as s:
        (cluster,) = trainer.clusters(s, AGENT)
    assert cluster.guess is not None
    assert (cluster.guess.subintent_code, cluster.guess.share, cluster.guess.confidence) == ("gifts", 1.0, 0.2)


def test_guess_from_the_published_classifier(web: Database) -> None:
    _kb(web, publish=True)
    _queue(web, INVOICE)
    _queue(web, ["快递几天能到啊", "快递多久能到", "快递要几天能到"])
    with web.transaction(write=False) as s:
        invoice, shipping = trainer.clusters(s, AGENT)
    assert invoice.guess is not None
    assert shipping.guess is not None
    assert (invoice.guess.subintent_code, invoice.guess.name) == ("invoice_issue", "开发票")
    assert shipping.guess.subintent_code == "shipping_time"
    assert invoice.guess.share == 1.0
    assert 0.0 < invoice.guess.confidence <= 1.0


def test_only_the_asked_status_and_channel_keys_see_their_channel(web: Database) -> None:
    _queue(web, INVOICE)
    jd_ids = _queue(web, GIFTS, channel="jd")
    with web.transaction() as s:
        trainer.ignore(s, OPS, jd_ids)
    with web.transaction(write=False) as s:
        assert _cluster_texts(trainer.clusters(s, AGENT)) == [set(INVOICE)]
        assert _cluster_texts(trainer.clusters(s, AGENT, status="ignored")) == [set(GIFTS)]
        jd_key = Principal("api_key", None, "jd analyst", Role.ANALYST, channel_code="jd")
        assert trainer.clusters(s, jd_key) == []
        with pytest.raises(ValidationFailed):
            trainer.clusters(s, AGENT, status="done")
        with pytest.raises(ValidationFailed):
            trainer.clusters(s, AGENT, limit=0)
        with pytest.raises(PermissionDenied):
            trainer.clusters(s, Principal("api_key", None, "widget", Role.CHAT_WIDGET))


def test_cluster_texts_edge_cases() -> None:
    assert trainer.cluster_texts([]) == []
    assert trainer.cluster_texts(["能开发票吗"]) == [trainer.Group((0,), 0)]
    groups = trainer.cluster_texts(["？？", "！！", "能开发票吗"])
    assert sorted(g.members for g in groups) == [(0,), (1,), (2,)]


# ---------------------------------------------------------------- assigning and ignoring


def _examples(db: Database, code: str) -> list[str]:
    with db.transaction(write=False) as s:
        return kb.subintent_detail(s, code).examples


def test_assign_adds_the_questions_as_examples(web: Database) -> None:
    _kb(web)
    ids = _queue(web, ["开专票吗", "能开专票吗", "能开发票吗"])  # the last one the draft has already
    with web.transaction() as s:
        out = trainer.assign(s, OPS, ids, subintent_code="invoice_issue")
    assert (out.subintent_code, out.assigned, out.skipped, out.created) == ("invoice_issue", ids, [], False)
    assert out.examples_added == 2
    assert _examples(web, "invoice_issue")[-2:] == ["开专票吗", "能开专票吗"]
    with web.transaction(write=False) as s:
        items = s.scalars(select(TrainingItem).order_by(TrainingItem.id)).all()
        assert {(i.status, i.subintent_code, i.resolved_by) for i in items} == {
            ("assigned", "invoice_issue", "trainer.li")
        }
        assert all(i.resolved_at is not None for i in items)
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "service.trainer.assign")).one()
        assert audit.after == {"items": ids, "skipped": [], "examples_added": 2, "created": False}
        assert trainer.clusters(s, AGENT) == []

    # Assigning them again: nothing is open any more.
    with pytest.raises(Conflict), web.transaction() as s:
        trainer.assign(s, OPS, ids, subintent_code="shipping_time")
    assert _examples(web, "shipping_time") == [
        "什么时候发货",
        "几天能到",
        "快递多久到",
        "今天能发货吗",
        "发货要多久",
        "物流几天",
    ]


def test_assign_skips_what_was_already_handled(web: Database) -> None:
    _kb(web)
    ids = _queue(web, ["发票抬头开错了", "发票抬头写错了怎么办"])
    with web.transaction() as s:
        trainer.ignore(s, OPS, ids[:1])
    with web.transaction() as s:
        out = trainer.assign(s, OPS, ids, subintent_code="invoice_issue")
    assert (out.assigned, out.skipped, out.examples_added) == (ids[1:], ids[:1], 1)


def test_assign_to_a_new_subintent(web: Database) -> None:
    _kb(web)
    ids = _queue(web, TRADE_IN)
    new = NewSubIntentIn(
        intent_code="billing", code="trade_in", name="以旧换新", answer_text="支持以旧换新，详见活动页。"
    )
    with web.transaction() as s:
        out = trainer.assign(s, OPS, ids, new_subintent=new)
    assert (out.subintent_code, out.created, out.examples_added) == ("trade_in", True, 3)
    with web.transaction(write=False) as s:
        sub = kb.subintent_detail(s, "trade_in")
    assert (sub.source, sub.examples, sub.answers[0].text) == ("trainer", TRADE_IN, "支持以旧换新，详见活动页。")


def test_a_failed_new_subintent_leaves_the_questions_open(web: Database) -> None:
    _kb(web)
    ids = _queue(web, TRADE_IN)
    taken = NewSubIntentIn(intent_code="billing", code="invoice_issue", name="重复")
    with pytest.raises(ValidationFailed), web.transaction() as s:
        trainer.assign(s, OPS, ids, new_subintent=taken)
    with web.transaction(write=False) as s:
        assert {i.status for i in s.scalars(select(TrainingItem))} == {"open"}


def test_assign_and_ignore_validation(web: Database) -> None:
    _kb(web)
    ids = _queue(web, GIFTS)
    new = NewSubIntentIn(intent_code="billing", code="gifts", name="赠品")
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"item_ids": ids}, ["one_of"]),
        ({"item_ids": ids, "subintent_code": "invoice_issue", "new_subintent": new}, ["one_of"]),
        ({"item_ids": ids, "subintent_code": "nope"}, ["unknown_subintent"]),
        ({"item_ids": [], "subintent_code": "invoice_issue"}, ["required"]),
        ({"item_ids": [0, ids[0]], "subintent_code": "invoice_issue"}, ["invalid_id"]),
        ({"item_ids": [ids[0], 999_999], "subintent_code": "invoice_issue"}, ["unknown_item"]),
    ]
    for kwargs, codes in cases:
        item_ids = kwargs.pop("item_ids")
        with pytest.raises(ValidationFailed) as exc, web.transaction() as s:
            trainer.assign(s, OPS, item_ids, **kwargs)
        assert [p.code for p in exc.value.errors] == codes, kwargs
    with pytest.raises(ValidationFailed), web.transaction() as s:
        trainer.ignore(s, OPS, [])
    with pytest.raises(PermissionDenied), web.transaction() as s:
        trainer.ignore(s, AGENT, ids)
    with pytest.raises(PermissionDenied), web.transaction() as s:
        trainer.assign(s, AGENT, ids, subintent_code="invoice_issue")
    with web.transaction(write=False) as s:
        assert {i.status for i in s.scalars(select(TrainingItem))} == {"open"}


def test_ignore(web: Database) -> None:
    ids = _queue(web, ["哈哈哈", "嗯嗯"])
    with web.transaction() as s:
        out = trainer.ignore(s, OPS, ids)
    assert (out.ignored, out.skipped) == (ids, [])
    with pytest.raises(Conflict), web.transaction() as s:
        trainer.ignore(s, OPS, ids)
    with web.transaction(write=False) as s:
        assert {(i.status, i.subintent_code) for i in s.scalars(select(TrainingItem))} == {("ignored", None)}
        assert s.scalar(select(func.count()).where(AuditEntry.action == "service.trainer.ignore")) == 1


# ---------------------------------------------------------------- the API


def test_api(web: Database, client: TestClient) -> None:
    _kb(web)
    invoice_ids = _queue(web, INVOICE)
    gift_ids = _queue(web, GIFTS)
    analyst = key_headers(make_key(web, role="analyst"))
    ops = key_headers(make_key(web, role="ops"))

    got = client.get("/api/v1/service/trainer/clusters", headers=analyst)
    assert got.status_code == 200, got.text
    body = got.json()
    assert [c["size"] for c in body] == [5, 3]
    assert {i["id"] for i in body[0]["items"]} == set(invoice_ids)
    assert (
        client.get("/api/v1/service/trainer/clusters", params={"limit": 1}, headers=analyst).json()[0]["id"]
        == (body[0]["id"])
    )
    bad = client.get("/api/v1/service/trainer/clusters", params={"status": "x"}, headers=analyst)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")

    payload = {"item_ids": invoice_ids, "subintent_code": "invoice_issue"}
    assert client.post("/api/v1/service/trainer/assign", json=payload, headers=analyst).status_code == 403
    assert client.post("/api/v1/service/trainer/assign", json=payload).status_code == 401
    done = client.post("/api/v1/service/trainer/assign", json=payload, headers=ops)
    assert done.status_code == 200, done.text
    assert done.json()["assigned"] == invoice_ids
    again = client.post("/api/v1/service/trainer/assign", json=payload, headers=ops)
    assert again.status_code == 409

    neither = client.post("/api/v1/service/trainer/assign", json={"item_ids": gift_ids}, headers=ops)
    assert neither.status_code == 422
    assert [e["code"] for e in neither.json()["errors"]] == ["one_of"]
    extra = client.post("/api/v1/service/trainer/ignore", json={"item_ids": gift_ids, "x": 1}, headers=ops)
    assert extra.status_code == 422

    created = client.post(
        "/api/v1/service/trainer/assign",
        json={"item_ids": gift_ids[:2], "new_subintent": {"intent_code": "billing", "code": "gifts", "name": "赠品"}},
        headers=ops,
    )
    assert created.status_code == 200, created.text
    assert created.json()["created"] is True
    ignored = client.post("/api/v1/service/trainer/ignore", json={"item_ids": gift_ids}, headers=ops)
    assert ignored.status_code == 200, ignored.text
    assert (ignored.json()["ignored"], ignored.json()["skipped"]) == (gift_ids[2:], gift_ids[:2])
    assert client.get("/api/v1/service/trainer/clusters", headers=analyst).json() == []


# ---------------------------------------------------------------- two trainers at once


@pytest.mark.postgres
def test_two_trainers_assigning_the_same_questions_add_them_once(pg_db: Database) -> None:
    with pg_db.transaction() as s:
        channels.create_channel(s, SYSTEM, code="web", name="官网", kind="web_shop")
    _kb(pg_db)
    ids = _queue(pg_db, ["开专票吗", "能开专票吗", "专票可以开吗"])
    barrier = threading.Barrier(4)
    results: list[str] = []
    lock = threading.Lock()

    def trainer_assigns(target: str) -> None:
        barrier.wait()
        try:
            with pg_db.transaction() as s:
                out = trainer.assign(s, OPS, ids, subintent_code=target)
            outcome = f"assigned:{target}:{len(out.assigned)}"
        except Conflict:
            outcome = "conflict"
        with lock:
            results.append(outcome)

    threads = [
        threading.Thread(target=trainer_assigns, args=(t,))
        for t in ("invoice_issue", "invoice_issue", "shipping_time", "invoice_issue")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r.startswith("assigned")]
    assert len(winners) == 1, results
    assert results.count("conflict") == 3
    target = winners[0].split(":")[1]
    assert winners[0].endswith(":3")
    added = [e for e in _examples(pg_db, target) if "专票" in e]
    assert added == ["开专票吗", "能开专票吗", "专票可以开吗"]
    other = "shipping_time" if target == "invoice_issue" else "invoice_issue"
    assert not [e for e in _examples(pg_db, other) if "专票" in e]
    with pg_db.transaction(write=False) as s:
        assert {(i.status, i.subintent_code) for i in s.scalars(select(TrainingItem))} == {("assigned", target)}
