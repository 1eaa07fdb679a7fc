"""Signed channel webhooks: signatures, fan-out, delivery with retries, redelivery, and the API."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.factories import SYSTEM, key_headers, make_key
from zhongtai.auth.models import AuditEntry
from zhongtai.channels import service as channels
from zhongtai.channels import webhooks
from zhongtai.channels.models import WebhookDelivery
from zhongtai.db import Database, utcnow
from zhongtai.errors import InvalidTransition, ValidationFailed
from zhongtai.outbox import OutboxEvent, emit

# ---------------------------------------------------------------- a real receiver


@dataclass
class Received:
    headers: Message
    body: bytes
    verified: bool


@dataclass
class Receiver:
    url: str
    # Answers in order; the last one repeats.
    statuses: list[int] = field(default_factory=lambda: [200])
    secret: str = ""
    requests: list[Received] = field(default_factory=list)
    # When set, requests wait for it (a slow receiver).
    gate: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        verified = webhooks.verify(receiver.secret, self.headers.get("X-Zhongtai-Signature", ""), body)
        receiver.requests.append(Received(self.headers, body, verified))
        receiver.arrived.set()
        if receiver.gate is not None:
            receiver.gate.wait(10)
        status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
        payload = b'{"error":"try later"}' if status >= 300 else b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    receiver: Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/zhongtai")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.receiver
    if server.receiver.gate is not None:
        server.receiver.gate.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    # trust_env=False: a proxy configured in the environment must not get between us and 127.0.0.1
    with httpx.Client(timeout=webhooks.TIMEOUT_S, trust_env=False) as c:
        yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# ---------------------------------------------------------------- helpers


def _channel(db: Database, code: str, webhook_url: str = "") -> str:
    """A channel; returns its webhook secret."""
    with db.transaction() as s:
        return channels.create_channel(
            s, SYSTEM, code=code, name=f"渠道 {code}", kind="web_shop", webhook_url=webhook_url
        ).webhook_secret


def _emit(db: Database, channel_code: str | None, order_no: str = "ZT0001") -> int:
    with db.transaction() as s:
        event = emit(
            s,
            "order.created",
            "order",
            order_no,
            {"order_no": order_no, "total_fen": 12_900, "buyer": "张三"},
            channel_code=channel_code,
        )
        s.flush()
        return event.id


def _delivery(db: Database, delivery_id: int | None = None) -> WebhookDelivery:
    with db.transaction(write=False) as s:
        stmt = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(1)
        if delivery_id is not None:
            stmt = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
        row = s.scalar(stmt)
        assert row is not None
        return row


def _fan_out(db: Database) -> int:
    with db.transaction() as s:
        return webhooks.fan_out(s)


# ---------------------------------------------------------------- signatures


def test_a_signature_verifies_only_the_exact_body_secret_and_a_fresh_timestamp() -> None:
    body = b'{"id":1,"topic":"order.created"}'
    now = int(time.time())
    header = webhooks.signature_header("s3cret", body, now)
    # Then the header has the documented shape and verifies
    t, v1 = header.split(",")
    assert t == f"t={now}"
    assert v1 == "v1=" + webhooks.sign("s3cret", str(now), body)
    assert webhooks.verify("s3cret", header, body)
    # and fails for a tampered body, another secret, or an old or far-future timestamp
    assert not webhooks.verify("s3cret", header, body.replace(b"1", b"2"))
    assert not webhooks.verify("other", header, body)
    assert not webhooks.verify("", header, body)
    stale = webhooks.signature_header("s3cret", body, now - 301)
    assert not webhooks.verify("s3cret", stale, body)
    assert webhooks.verify("s3cret", stale, body, tolerance_s=600)
    assert not webhooks.verify("s3cret", webhooks.signature_header("s3cret", body, now + 301), body)
    assert webhooks.verify("s3cret", header, body, now=now + 299.0)
    # and garbage never verifies
    for bad in ("", "t=abc,v1=00", f"t={now}", f"v1={v1}", f"t={now},v1=ünïcode", "t=²,v1=00"):
        assert not webhooks.verify("s3cret", bad, body), bad


def test_backoff_doubles_from_ten_seconds_with_jitter_and_a_cap() -> None:
    assert [webhooks.backoff_s(n, lambda: 0.5) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert webhooks.backoff_s(1, lambda: 0.0) == pytest.approx(9.0)
    assert webhooks.backoff_s(1, lambda: 1.0) == pytest.approx(11.0)
    assert webhooks.backoff_s(20, lambda: 1.0) == 3600


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/x", "invalid_scheme"),
        ("example.com/hook", "invalid_scheme"),
        ("https://", "invalid_url"),
        ("https://exa mple.com", "invalid_url"),
        ("https://example.com:99999/", "invalid_url"),
        ("https://user:pw@example.com/", "credentials_in_url"),
        ("https://example.com/" + "x" * 600, "too_long"),
    ],
)
def test_webhook_urls_must_be_plain_http_or_https(url: str, code: str) -> None:
    problems = webhooks.url_problems(url, "body.url")
    assert [(p.field, p.code) for p in problems] == [("body.url", code)]


def test_good_webhook_urls_pass() -> None:
    for url in ("", "http://127.0.0.1:8080/hook", "https://erp.example.cn/zhongtai/hooks?tenant=7"):
        assert webhooks.url_problems(url, "body.url") == [], url


# ---------------------------------------------------------------- fan-out


def test_fan_out_creates_deliveries_only_for_active_channels_with_a_url(db: Database) -> None:
    # Given a channel with a webhook, one without, and one with a webhook but switched off
    _channel(db, "web", "https://shop.example.com/hooks")
    _channel(db, "pos")
    _channel(db, "mini", "https://mini.example.com/hooks")
    with db.transaction() as s:
        channels.get_channel(s, "mini").is_active = False
    # and events for each of them, an internal one and one for a channel that does not exist
    web_event = _emit(db, "web", "ZT1")
    _emit(db, "pos", "ZT2")
    _emit(db, "mini", "ZT3")
    _emit(db, None, "ZT4")
    _emit(db, "gone", "ZT5")
    # When the events are fanned out
    created = _fan_out(db)
    # Then only the web channel's event becomes a pending delivery, due now
    assert created == 1
    with db.transaction(write=False) as s:
        rows = list(s.scalars(select(WebhookDelivery)))
        assert [(r.outbox_id, r.channel_code, r.topic, r.url, r.status, r.attempts) for r in rows] == [
            (web_event, "web", "order.created", "https://shop.example.com/hooks", "pending", 0)
        ]
        assert rows[0].next_attempt_at <= utcnow()
        # and every event is dispatched, so a second run creates nothing
        assert set(s.scalars(select(OutboxEvent.dispatched))) == {True}
    assert _fan_out(db) == 0


def test_fan_out_takes_at_most_limit_events_in_id_order(db: Database) -> None:
    _channel(db, "web", "https://shop.example.com/hooks")
    ids = [_emit(db, "web", f"ZT{i}") for i in range(5)]
    with db.transaction() as s:
        assert webhooks.fan_out(s, limit=3) == 3
    with db.transaction(write=False) as s:
        assert sorted(s.scalars(select(WebhookDelivery.outbox_id))) == ids[:3]
    assert _fan_out(db) == 2


# ---------------------------------------------------------------- delivery


def test_failed_deliveries_back_off_and_then_succeed_with_a_signature_the_receiver_verifies(
    db: Database, receiver: Receiver, http: httpx.Client
) -> None:
    # Given a channel whose endpoint answers 500 twice, then 200
    receiver.secret = _channel(db, "web", receiver.url)
    receiver.statuses = [500, 500, 200]
    event_id = _emit(db, "web", "ZT100")
    _fan_out(db)
    t0 = utcnow()

    # When the delivery is first attempted
    assert webhooks.deliver_due(db, client=http, now=t0) == 1
    # Then the failure is recorded and the next attempt is about 10 s later
    first = _delivery(db)
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
    assert first.last_error.startswith("HTTP 500")
    assert "try later" in first.last_error
    delay1 = (first.next_attempt_at - t0).total_seconds()
    assert 9 <= delay1 <= 11
    # and nothing is due before then
    assert webhooks.deliver_due(db, client=http, now=t0 + timedelta(seconds=5)) == 0

    # When it is due again and fails again, the wait doubles (about 20 s)
    t1 = first.next_attempt_at
    assert webhooks.deliver_due(db, client=http, now=t1) == 1
    second = _delivery(db)
    assert (second.status, second.attempts, second.last_status_code) == ("pending", 2, 500)
    delay2 = (second.next_attempt_at - t1).total_seconds()
    assert 18 <= delay2 <= 22
    assert delay2 > delay1

    # When the third attempt gets a 200
    t2 = second.next_attempt_at
    assert webhooks.deliver_due(db, client=http, now=t2) == 1
    # Then the delivery is done
    done = _delivery(db)
    assert (done.status, done.attempts, done.last_status_code, done.last_error) == ("delivered", 3, 200, "")
    assert done.delivered_at == t2
    assert webhooks.deliver_due(db, client=http, now=t2 + timedelta(days=1)) == 0

    # And the receiver got the same signed event three times, and every signature verified
    assert len(receiver.requests) == 3
    assert all(r.verified for r in receiver.requests)
    assert len({r.body for r in receiver.requests}) == 1
    got = receiver.requests[-1]
    assert got.headers["X-Zhongtai-Event"] == "order.created"
    assert got.headers["X-Zhongtai-Delivery"] == str(done.id)
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Zhongtai-Signature"].startswith("t=")
    document = json.loads(got.body)
    assert document["id"] == event_id
    assert document["topic"] == "order.created"
    assert document["aggregate_type"] == "order"
    assert document["aggregate_id"] == "ZT100"
    assert document["data"] == {"order_no": "ZT100", "total_fen": 12_900, "buyer": "张三"}
    assert document["occurred_at"].endswith("+00:00")


def test_a_delivery_dies_after_max_attempts_and_can_be_redelivered(
    db: Database, receiver: Receiver, http: httpx.Client
) -> None:
    # Given an endpoint that always fails
    receiver.secret = _channel(db, "web", receiver.url)
    receiver.statuses = [503]
    _emit(db, "web")
    _fan_out(db)
    # When every attempt fails
    at = utcnow()
    for _ in range(webhooks.MAX_ATTEMPTS):
        assert webhooks.deliver_due(db, client=http, now=at) == 1
        at = _delivery(db).next_attempt_at
    # Then after the last one the delivery is dead and never tried again
    dead = _delivery(db)
    assert (dead.status, dead.attempts, dead.last_status_code) == ("dead", webhooks.MAX_ATTEMPTS, 503)
    assert webhooks.deliver_due(db, client=http, now=at + timedelta(days=30)) == 0
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS

    # When the receiver is fixed and an operator redelivers it
    receiver.statuses = [204]
    with db.transaction() as s:
        again = webhooks.redeliver(s, SYSTEM, dead.id)
        assert (again.status, again.attempts) == ("pending", 0)
    # Then the next run delivers it, with the attempts counted afresh
    assert webhooks.deliver_due(db, client=http) == 1
    done = _delivery(db, dead.id)
    assert (done.status, done.attempts, done.last_status_code) == ("delivered", 1, 204)
    assert receiver.requests[-1].verified
    # and the redelivery is audited
    with db.transaction(write=False) as s:
        audit = s.scalar(select(AuditEntry).where(AuditEntry.action == "webhook_delivery.redeliver"))
        assert audit is not None
        assert audit.before == {"status": "dead", "attempts": webhooks.MAX_ATTEMPTS, "last_status_code": 503}
    # A delivered delivery may be sent again too; a pending one may not
    with db.transaction() as s:
        webhooks.redeliver(s, SYSTEM, dead.id)
    with pytest.raises(InvalidTransition), db.transaction() as s:
        webhooks.redeliver(s, SYSTEM, dead.id)


def test_an_unreachable_endpoint_is_a_failed_attempt_with_the_error(db: Database, http: httpx.Client) -> None:
    _channel(db, "web", f"http://127.0.0.1:{_free_port()}/hooks")
    _emit(db, "web")
    _fan_out(db)
    assert webhooks.deliver_due(db, client=http) == 1
    row = _delivery(db)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert row.last_error.startswith("ConnectError")


def test_a_channel_without_a_secret_or_url_fails_the_attempt_without_sending(
    db: Database, receiver: Receiver, http: httpx.Client
) -> None:
    # Given a pending delivery whose channel has since lost its secret (a channel from before secrets)
    _channel(db, "web", receiver.url)
    _emit(db, "web")
    _fan_out(db)
    with db.transaction() as s:
        channels.get_channel(s, "web").webhook_secret = ""
    # When it is due
    assert webhooks.deliver_due(db, client=http) == 1
    # Then nothing is sent unsigned; the attempt fails with the reason
    row = _delivery(db)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "no webhook secret" in row.last_error
    assert receiver.requests == []
    # When the secret is rotated, the retry is signed with the new one and goes through
    with db.transaction() as s:
        receiver.secret = webhooks.rotate_webhook_secret(s, SYSTEM, "web")
    assert webhooks.deliver_due(db, client=http, now=row.next_attempt_at) == 1
    assert _delivery(db).status == "delivered"
    assert [r.verified for r in receiver.requests] == [True]


def test_a_delivery_in_flight_is_leased_so_another_worker_skips_it(
    db: Database, receiver: Receiver, http: httpx.Client
) -> None:
    # Given a slow receiver and a delivery being sent by one worker
    receiver.secret = _channel(db, "web", receiver.url)
    receiver.gate = threading.Event()
    _emit(db, "web")
    _fan_out(db)
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(webhooks.deliver_due(db, client=http)))
    worker.start()
    assert receiver.arrived.wait(10)
    # When a second worker looks for due deliveries while the request is in flight
    # Then it finds none (and the database is not locked by the first: it can answer at all)
    assert webhooks.deliver_due(db, client=http) == 0
    row = _delivery(db)
    assert (row.status, row.attempts) == ("pending", 0)
    assert row.next_attempt_at > utcnow() + timedelta(seconds=webhooks.LEASE_S - 5)
    # When the receiver answers, the first worker records the result
    receiver.gate.set()
    worker.join(15)
    assert results == [1]
    assert _delivery(db).status == "delivered"
    assert len(receiver.requests) == 1


def test_the_delivery_log_lists_newest_first_by_status(db: Database) -> None:
    _channel(db, "web", "https://shop.example.com/hooks")
    _channel(db, "jd", "https://jd.example.com/hooks")
    for i in range(3):
        _emit(db, "web", f"ZT{i}")
    _emit(db, "jd", "ZT9")
    _fan_out(db)
    with db.transaction() as s:
        first = s.scalar(select(WebhookDelivery).order_by(WebhookDelivery.id))
        assert first is not None
        first.status = "dead"
    with db.transaction(write=False) as s:
        page = webhooks.list_deliveries(s, channel_code="web", limit=2)
        assert [d.id for d in page.items] == [3, 2]
        assert page.next_cursor is not None
        rest = webhooks.list_deliveries(s, channel_code="web", cursor=page.next_cursor, limit=2)
        assert [d.id for d in rest.items] == [1]
        assert rest.next_cursor is None
        assert [d.id for d in webhooks.list_deliveries(s, status="dead").items] == [1]
        assert [d.id for d in webhooks.list_deliveries(s, channel_code="jd").items] == [4]
        with pytest.raises(ValidationFailed):
            webhooks.list_deliveries(s, status="lost")


# ---------------------------------------------------------------- API


def test_creating_a_channel_returns_a_working_channel_key_and_a_webhook_secret(
    client: TestClient, db: Database
) -> None:
    admin = key_headers(make_key(db, role="admin", name="admin"))
    # When an admin creates a channel
    resp = client.post(
        "/api/v1/channels",
        json={
            "code": "tmall",
            "name": "天猫旗舰店",
            "kind": "marketplace",
            "platform": "tmall",
            "adapter": "marketplace",
            "webhook_url": "https://erp.example.cn/hooks",
            "unpaid_hold_s": 3600,
            "ship_from_store": False,
        },
        headers=admin,
    )
    # Then the answer carries the settings and, this once, an API key and a webhook secret
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["adapter"] == "marketplace"
    assert created["webhook_url"] == "https://erp.example.cn/hooks"
    assert (created["unpaid_hold_s"], created["ship_from_store"]) == (3600, False)
    assert created["api_key"].startswith("zt_")
    assert len(created["webhook_secret"]) >= 40
    # And the key authenticates as an integrator bound to the channel
    channel_key = key_headers(created["api_key"])
    me = client.get("/api/v1/me", headers=channel_key).json()
    assert (me["role"], me["channel_code"]) == ("integrator", "tmall")
    listed = client.get("/api/v1/channels", headers=channel_key)
    assert listed.status_code == 200
    assert [c["code"] for c in listed.json()] == ["tmall"]
    # but can not change channels, and the secret is never shown again
    assert client.post("/api/v1/channels/tmall/webhook-secret", headers=channel_key).status_code == 403
    assert "webhook_secret" not in listed.json()[0]
    assert created["webhook_secret"] not in listed.text
    with db.transaction(write=False) as s:
        audit = [json.dumps([e.before, e.after]) for e in s.scalars(select(AuditEntry))]
    assert not any(created["webhook_secret"] in entry for entry in audit)
    assert not any(created["api_key"] in entry for entry in audit)


def test_bad_webhook_urls_are_refused_with_problem_json(client: TestClient, db: Database) -> None:
    admin = key_headers(make_key(db, role="admin", name="admin"))
    resp = client.post(
        "/api/v1/channels",
        json={"code": "web", "name": "官网", "kind": "web_shop", "webhook_url": "ftp://x.example.com/"},
        headers=admin,
    )
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [(e["field"], e["code"]) for e in resp.json()["errors"]] == [("body.webhook_url", "invalid_scheme")]

    _channel(db, "web")
    resp = client.put("/api/v1/channels/web/webhook", json={"url": "javascript:alert(1)"}, headers=admin)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    problem = resp.json()
    assert problem["code"] == "validation_failed"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("body.url", "invalid_scheme")]
    assert client.put("/api/v1/channels/nope/webhook", json={"url": ""}, headers=admin).status_code == 404


def test_webhook_settings_log_and_redelivery_through_the_api(
    client: TestClient, db: Database, receiver: Receiver, http: httpx.Client
) -> None:
    admin = key_headers(make_key(db, role="admin", name="admin"))
    old_secret = _channel(db, "web")
    # When the webhook URL is set and the secret rotated
    resp = client.put("/api/v1/channels/web/webhook", json={"url": receiver.url}, headers=admin)
    assert resp.status_code == 200, resp.text
    assert resp.json()["webhook_url"] == receiver.url
    rotated = client.post("/api/v1/channels/web/webhook-secret", headers=admin)
    assert rotated.status_code == 200
    receiver.secret = rotated.json()["webhook_secret"]
    assert receiver.secret != old_secret
    # Then events are signed with the new secret
    _emit(db, "web")
    _fan_out(db)
    assert webhooks.deliver_due(db, client=http) == 1
    assert [r.verified for r in receiver.requests] == [True]
    # And the delivery log shows it
    log = client.get("/api/v1/channels/web/webhook-deliveries", headers=admin)
    assert log.status_code == 200, log.text
    items = log.json()["items"]
    assert [(d["status"], d["attempts"], d["last_status_code"], d["url"]) for d in items] == [
        ("delivered", 1, 200, receiver.url)
    ]
    pending = client.get("/api/v1/channels/web/webhook-deliveries", params={"status": "pending"}, headers=admin)
    assert pending.json()["items"] == []
    bad = client.get("/api/v1/channels/web/webhook-deliveries", params={"status": "lost"}, headers=admin)
    assert bad.status_code == 422
    assert client.get("/api/v1/channels/nope/webhook-deliveries", headers=admin).status_code == 404
    # When it is redelivered
    again = client.post(f"/api/v1/webhook-deliveries/{items[0]['id']}/redeliver", headers=admin)
    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["attempts"]) == ("pending", 0)
    # Then a second redelivery while pending is a conflict, an unknown one a 404
    conflict = client.post(f"/api/v1/webhook-deliveries/{items[0]['id']}/redeliver", headers=admin)
    assert (conflict.status_code, conflict.json()["code"]) == (409, "invalid_transition")
    assert client.post("/api/v1/webhook-deliveries/999/redeliver", headers=admin).status_code == 404
    assert webhooks.deliver_due(db, client=http) == 1
    assert len(receiver.requests) == 2
    # And only channel admins see the log
    analyst = key_headers(make_key(db, role="analyst", name="analyst"))
    assert client.get("/api/v1/channels/web/webhook-deliveries", headers=analyst).status_code == 403


# ---------------------------------------------------------------- schedules and concurrency


def test_the_schedules_fan_out_and_deliver(db: Database, receiver: Receiver) -> None:
    from zhongtai.app import register_tasks
    from zhongtai.jobs import SCHEDULES

    register_tasks()
    fanout, delivery = SCHEDULES["channels.webhook-fanout"], SCHEDULES["channels.webhook-delivery"]
    assert (fanout.every_s, delivery.every_s) == (2, 5)
    receiver.secret = _channel(db, "web", receiver.url)
    _emit(db, "web")
    assert fanout.run(db) == 1
    assert delivery.run(db) == 1
    assert _delivery(db).status == "delivered"
    assert [r.verified for r in receiver.requests] == [True]


@pytest.mark.postgres
def test_locked_rows_are_skipped_not_waited_for(db: Database, http: httpx.Client) -> None:
    if db.is_sqlite:
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    _channel(db, "web", f"http://127.0.0.1:{_free_port()}/hooks")
    first, second = _emit(db, "web", "ZT1"), _emit(db, "web", "ZT2")
    # Given another worker holding the first event
    with db.transaction() as other:
        other.scalar(select(OutboxEvent).where(OutboxEvent.id == first).with_for_update())
        # When this one fans out, it takes the second without waiting
        with db.transaction() as s:
            assert webhooks.fan_out(s) == 1
            assert list(s.scalars(select(WebhookDelivery.outbox_id))) == [second]
        # and the same for a delivery held by another worker
        with db.transaction() as s:
            held = s.scalar(select(WebhookDelivery.id))
        other.scalar(select(WebhookDelivery).where(WebhookDelivery.id == held).with_for_update())
        assert webhooks.deliver_due(db, client=http) == 0
    # Once released, both go on
    assert _fan_out(db) == 1
    assert webhooks.deliver_due(db, client=http) == 2
