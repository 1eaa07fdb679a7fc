"""Signed webhooks: a channel's order events POSTed to the channel's own endpoint.

Services ``emit`` outbox events with a ``channel_code`` inside their transaction. ``fan_out``
(schedule ``channels.webhook-fanout``, every 2 s) turns each into a ``WebhookDelivery`` for the
channel's webhook URL; ``deliver_due`` (schedule ``channels.webhook-delivery``, every 5 s) sends the
due ones, signed with the channel's secret, and retries failures with exponential backoff until
``MAX_ATTEMPTS``, after which a delivery is ``dead`` (an operator can ``redeliver`` it).

Delivery is at least once: a receiver deduplicates by ``X-Zhongtai-Delivery`` (or the event ``id``).
No database transaction is held open while a request is in flight: a batch is claimed in one short
transaction (``next_attempt_at`` pushed out as a lease, so other workers skip it), sent, and the
results are written in another. See docs/webhooks.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import random
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import false, select
from sqlalchemy.orm import Session

from zhongtai import __version__
from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.channels import repository as repo
from zhongtai.channels.models import Channel, WebhookDelivery
from zhongtai.db import Database, utcnow
from zhongtai.errors import Conflict, FieldProblem, InvalidTransition, ValidationFailed, invalid, not_found
from zhongtai.outbox import OutboxEvent
from zhongtai.pagination import Page, SortKey, paginate

log = logging.getLogger("zhongtai.webhooks")

SIGNATURE_HEADER = "X-Zhongtai-Signature"
EVENT_HEADER = "X-Zhongtai-Event"
DELIVERY_HEADER = "X-Zhongtai-Delivery"

TIMEOUT_S = 5.0
MAX_ATTEMPTS = 10
BASE_DELAY_S = 10.0
MAX_DELAY_S = 3600.0
JITTER = 0.10
# How long a claimed batch is hidden from other workers before it counts as abandoned (the worker
# died mid-batch); grows with the batch so that a slow batch is not sent twice.
LEASE_S = 60.0
SEND_WORKERS = 8
MAX_ERROR_CHARS = 500
MAX_URL_CHARS = 512
SIGNATURE_TOLERANCE_S = 300

STATUSES = ("pending", "delivered", "dead")


# ---------------------------------------------------------------- signatures


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``timestamp + "." + body`` under ``secret``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Zhongtai-Signature`` value: ``t=<unix seconds>,v1=<hex>``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return f"t={ts},v1={sign(secret, ts, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
    now: float | datetime | None = None,
) -> bool:
    """Whether ``header`` (an ``X-Zhongtai-Signature`` value) signs exactly ``body`` under ``secret``
    and is no more than ``tolerance_s`` seconds away from ``now`` (unix seconds or a datetime;
    default: the clock). For receivers and tests."""
    if not secret:
        return False
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamp = value
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not (timestamp.isascii() and timestamp.isdigit()) or not candidates:
        return False
    if now is None:
        current = time.time()
    elif isinstance(now, datetime):
        current = now.timestamp()
    else:
        current = float(now)
    if abs(current - int(timestamp)) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).encode()
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.encode())
    return matched


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


# ---------------------------------------------------------------- URLs


def url_problems(url: str, field: str) -> list[FieldProblem]:
    """Why ``url`` cannot be a webhook URL (empty: none, the channel gets no webhooks)."""
    if url == "":
        return []
    if len(url) > MAX_URL_CHARS:
        return [FieldProblem(field, "too_long", f"at most {MAX_URL_CHARS} characters")]
    if any(c.isspace() or ord(c) < 32 for c in url):
        return [FieldProblem(field, "invalid_url", "a URL has no spaces or control characters")]
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number in range
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        return [FieldProblem(field, "invalid_url", "not a valid URL")]
    if parts.scheme not in ("http", "https"):
        return [FieldProblem(field, "invalid_scheme", "the webhook URL must start with http:// or https://")]
    if not parts.hostname:
        return [FieldProblem(field, "invalid_url", "the URL has no host")]
    if parts.username is not None or parts.password is not None:
        return [
            FieldProblem(
                field,
                "credentials_in_url",
                "no user or password in the URL (it is shown to API readers); verify the signature instead",
            )
        ]
    return []


# ---------------------------------------------------------------- fan-out


def fan_out(session: Session, limit: int = 500, *, now: datetime | None = None) -> int:
    """Turns undispatched channel events into deliveries for channels with an active webhook and
    marks every one of them dispatched. Returns how many deliveries were created. Events are locked
    ``FOR UPDATE SKIP LOCKED`` so that concurrent workers take disjoint batches."""
    at = now or utcnow()
    events = list(
        session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.dispatched == false(), OutboxEvent.channel_code.is_not(None))
            .order_by(OutboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not events:
        return 0
    codes = {e.channel_code for e in events if e.channel_code}
    channels = {c.code: c for c in session.scalars(select(Channel).where(Channel.code.in_(codes)))}
    created = 0
    for event in events:
        channel = channels.get(event.channel_code or "")
        if channel is not None and channel.is_active and channel.webhook_url:
            session.add(
                WebhookDelivery(
                    outbox_id=event.id,
                    channel_code=channel.code,
                    topic=event.topic,
                    url=channel.webhook_url,
                    status="pending",
                    attempts=0,
                    next_attempt_at=at,
                    last_error="",
                    created_at=at,
                )
            )
            created += 1
        event.dispatched = True
    session.flush()
    return created


# ---------------------------------------------------------------- delivery


def event_body(event: OutboxEvent) -> bytes:
    """The exact bytes POSTed (and signed) for ``event``."""
    document = {
        "id": event.id,
        "topic": event.topic,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "occurred_at": event.occurred_at.isoformat(),
        "data": event.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def backoff_s(attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the ``attempts``-th failure: 10, 20, 40 … capped at an hour, ±10 %."""
    base: float = min(MAX_DELAY_S, BASE_DELAY_S * float(2 ** min(max(0, attempts - 1), 30)))
    return min(MAX_DELAY_S, base * (1 + JITTER * (2 * rand() - 1)))


@dataclass(frozen=True, slots=True)
class _Send:
    delivery_id: int
    attempts: int  # before this attempt: the row is only updated if it still has this many
    url: str
    topic: str
    body: bytes
    secret: str


@dataclass(frozen=True, slots=True)
class _Outcome:
    delivery_id: int
    attempts: int
    ok: bool
    status_code: int | None = None
    error: str = ""


def _apply(row: WebhookDelivery, outcome: _Outcome, at: datetime) -> None:
    row.attempts += 1
    row.last_status_code = outcome.status_code
    if outcome.ok:
        row.status = "delivered"
        row.delivered_at = at
        row.last_error = ""
        return
    row.last_error = outcome.error[:MAX_ERROR_CHARS]
    if row.attempts >= MAX_ATTEMPTS:
        row.status = "dead"
        row.next_attempt_at = at
    else:
        row.next_attempt_at = at + timedelta(seconds=backoff_s(row.attempts))


def _lease_s(batch: int) -> float:
    rounds = math.ceil(batch / SEND_WORKERS)
    # connect, write and read may each take up to the timeout
    return LEASE_S + rounds * 3 * TIMEOUT_S


def _claim(db: Database, at: datetime, limit: int) -> tuple[list[_Send], int]:
    """Leases the due deliveries that can be sent; fails at once those that cannot (no secret, no
    URL ...). Returns what to send and how many deliveries were taken in all."""
    with db.transaction() as session:
        rows = list(
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= at)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not rows:
            return [], 0
        events = {
            e.id: e for e in session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_({r.outbox_id for r in rows})))
        }
        channels = {
            c.code: c for c in session.scalars(select(Channel).where(Channel.code.in_({r.channel_code for r in rows})))
        }
        lease_until = at + timedelta(seconds=_lease_s(len(rows)))
        sends: list[_Send] = []
        for row in rows:
            event = events.get(row.outbox_id)
            channel = channels.get(row.channel_code)
            problem = ""
            if event is None:
                # Nothing to send, ever.
                row.status, row.last_error, row.attempts = "dead", "the outbox event no longer exists", row.attempts + 1
                continue
            if channel is None or not channel.is_active:
                problem = "the channel is inactive"
            elif not channel.webhook_url:
                problem = "the channel has no webhook URL"
            elif not channel.webhook_secret:
                problem = (
                    f"the channel has no webhook secret: rotate one (POST /channels/{channel.code}/webhook-secret)"
                )
            if problem:
                _apply(row, _Outcome(row.id, row.attempts, ok=False, error=problem), at)
                continue
            assert channel is not None
            # The channel's current URL: a corrected URL applies to retries still pending.
            row.url = channel.webhook_url
            row.next_attempt_at = lease_until
            sends.append(
                _Send(
                    delivery_id=row.id,
                    attempts=row.attempts,
                    url=channel.webhook_url,
                    topic=row.topic,
                    body=event_body(event),
                    secret=channel.webhook_secret,
                )
            )
        return sends, len(rows)


def _post(client: httpx.Client, item: _Send) -> _Outcome:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Zhongtai-Webhooks/{__version__}",
        EVENT_HEADER: item.topic,
        DELIVERY_HEADER: str(item.delivery_id),
        SIGNATURE_HEADER: signature_header(item.secret, item.body),
    }
    try:
        with client.stream("POST", item.url, content=item.body, headers=headers) as resp:
            if resp.is_success:
                return _Outcome(item.delivery_id, item.attempts, ok=True, status_code=resp.status_code)
            snippet = b""
            for chunk in resp.iter_bytes():
                snippet += chunk
                if len(snippet) >= MAX_ERROR_CHARS:
                    break
            text = snippet.decode("utf-8", "replace").strip()
            error = f"HTTP {resp.status_code}" + (f": {text}" if text else "")
            return _Outcome(item.delivery_id, item.attempts, ok=False, status_code=resp.status_code, error=error)
    except Exception as exc:  # a receiver's failure, whatever it is, is a failed attempt
        return _Outcome(item.delivery_id, item.attempts, ok=False, error=f"{type(exc).__name__}: {exc}")


def _record(db: Database, outcomes: list[_Outcome], at: datetime) -> None:
    by_id = {o.delivery_id: o for o in outcomes}
    with db.transaction() as session:
        rows = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.id.in_(list(by_id)))
            .order_by(WebhookDelivery.id)
            # wait for (not skip) a concurrent writer of the same row
            .with_for_update()
        )
        for row in rows:
            outcome = by_id[row.id]
            # The lease ran out and another worker already recorded a later attempt: theirs stands.
            if row.status != "pending" or row.attempts != outcome.attempts:
                continue
            _apply(row, outcome, at)


def deliver_due(
    db: Database, *, limit: int = 50, client: httpx.Client | None = None, now: datetime | None = None
) -> int:
    """Sends up to ``limit`` due pending deliveries; returns how many were attempted (an attempt that
    fails before sending, e.g. for want of a secret, counts)."""
    at = now or utcnow()
    sends, taken = _claim(db, at, limit)
    if not sends:
        return taken
    own_client = client is None
    http = client or httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)
    try:
        if len(sends) == 1:
            outcomes = [_post(http, sends[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(SEND_WORKERS, len(sends))) as pool:
                outcomes = list(pool.map(lambda item: _post(http, item), sends))
    finally:
        if own_client:
            http.close()
    _record(db, outcomes, now or utcnow())
    failed = sum(1 for o in outcomes if not o.ok)
    if failed:
        log.info("webhook attempts failed", extra={"fields": {"attempted": len(outcomes), "failed": failed}})
    return taken


# ---------------------------------------------------------------- verbs


def _channel(session: Session, code: str) -> Channel:
    channel = repo.get_by_code(session, code)
    if channel is None:
        raise not_found("channel", code)
    return channel


def set_webhook(session: Session, actor: Principal, channel_code: str, url: str) -> Channel:
    """Sets (or, with "", removes) the channel's webhook URL. Pending deliveries follow the new URL."""
    channel = _channel(session, channel_code)
    url = url.strip()
    problems = url_problems(url, "body.url")
    if problems:
        raise ValidationFailed("invalid webhook URL", errors=problems)
    before = {"webhook_url": channel.webhook_url}
    channel.webhook_url = url
    session.flush()
    record(session, actor, "channel.set_webhook", "channel", channel.code, before=before, after={"webhook_url": url})
    return channel


def rotate_webhook_secret(session: Session, actor: Principal, channel_code: str) -> str:
    """A new signing secret for the channel, returned once. It signs every attempt from now on,
    retries of earlier events included."""
    channel = _channel(session, channel_code)
    secret = new_webhook_secret()
    channel.webhook_secret = secret
    session.flush()
    record(
        session, actor, "channel.rotate_webhook_secret", "channel", channel.code, after={"webhook_secret": "rotated"}
    )
    return secret


def get_delivery(session: Session, delivery_id: int) -> WebhookDelivery:
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise not_found("webhook_delivery", delivery_id)
    return row


def redeliver(session: Session, actor: Principal, delivery_id: int) -> WebhookDelivery:
    """Puts a dead or delivered delivery back in the queue, due now, with a fresh set of attempts."""
    row = session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update())
    if row is None:
        raise not_found("webhook_delivery", delivery_id)
    if row.status == "pending":
        raise InvalidTransition(
            "the delivery is still pending; it is retried on its own",
            extra={"delivery_id": delivery_id, "status": row.status},
        )
    channel = _channel(session, row.channel_code)
    if not channel.is_active or not channel.webhook_url:
        raise Conflict(
            "the channel has no active webhook; set its URL first",
            extra={"delivery_id": delivery_id, "channel_code": channel.code},
        )
    before = {"status": row.status, "attempts": row.attempts, "last_status_code": row.last_status_code}
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = utcnow()
    row.delivered_at = None
    row.url = channel.webhook_url
    session.flush()
    record(
        session,
        actor,
        "webhook_delivery.redeliver",
        "webhook_delivery",
        row.id,
        before=before,
        after={"status": "pending", "attempts": 0},
    )
    return row


def list_deliveries(
    session: Session,
    *,
    channel_code: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[WebhookDelivery]:
    """The delivery log, newest first."""
    if status is not None and status not in STATUSES:
        raise invalid(("query.status", "invalid_status", f"one of {', '.join(STATUSES)}"))
    stmt = select(WebhookDelivery)
    if channel_code is not None:
        stmt = stmt.where(WebhookDelivery.channel_code == channel_code)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    return paginate(session, stmt, [SortKey(WebhookDelivery.id, descending=True)], cursor=cursor, limit=limit)
