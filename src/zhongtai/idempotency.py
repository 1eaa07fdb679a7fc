"""``Idempotency-Key`` for every mutating API endpoint.

The first request with a key claims it (a ``pending`` row, committed at once); its response is
stored with the key when it finishes. A retry with the same key and the same request replays the
stored response with ``Idempotent-Replayed: true``; the same key with a different method, path
or body is a 409 ``idempotency_key_reused``; a retry while the first is still running is a 409
``idempotency_key_in_progress``. Keys are per caller (the credential's digest). 5xx answers and
answers to bad credentials are not stored, so they can be retried. If the process dies between
committing the business transaction and storing the response, the key stays pending: retries get
409 until it expires (never a second execution).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhongtai.auth.models import IdempotencyRecord
from zhongtai.db import Database, utcnow
from zhongtai.errors import (
    DomainError,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    ValidationFailed,
    invalid,
)
from zhongtai.observability import request_id_var

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_STORED_BODY = 1024 * 1024
REPLAYED_HEADERS = {"content-type", "location"}


def _problem_response(error: DomainError, path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(error.problem(path, request_id_var.get()), ensure_ascii=False).encode()
    return error.status, [(b"content-type", b"application/problem+json")], body


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, db: Database, session_cookie: str) -> None:
        self.app = app
        self.db = db
        self.session_cookie = session_cookie

    def _caller(self, headers: dict[bytes, bytes]) -> str | None:
        auth = headers.get(b"authorization") or headers.get(b"x-api-key")
        if auth:
            return hashlib.sha256(auth.strip()).hexdigest()
        cookie = headers.get(b"cookie", b"").decode("latin-1")
        for part in cookie.split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.session_cookie and value:
                return hashlib.sha256(value.encode()).hexdigest()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_key = headers.get(b"idempotency-key")
        caller = self._caller(headers)
        if raw_key is None or caller is None:
            # No key, or no credential (the endpoint will answer 401): nothing to remember.
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not (1 <= len(key) <= 255):
            await self._send(send, *_problem_response(_bad_key(), scope["path"]))
            return

        body = await _read_body(receive)
        fingerprint = hashlib.sha256(
            scope["method"].encode()
            + b" "
            + scope["path"].encode()
            + b"?"
            + scope.get("query_string", b"")
            + b"\n"
            + body
        ).hexdigest()

        claim = await run_in_threadpool(self._claim, caller, key, fingerprint)
        if isinstance(claim, DomainError):
            await self._send(send, *_problem_response(claim, scope["path"]))
            return
        if isinstance(claim, IdempotencyRecord):
            stored_headers = [(k.encode(), v.encode()) for k, v in (claim.response_headers or {}).items()]
            stored_headers.append((b"idempotent-replayed", b"true"))
            await self._send(send, claim.status_code or 200, stored_headers, claim.response_body or b"")
            return

        record_id: int = claim
        status = 500
        out_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def replay_receive() -> Message:
            nonlocal body
            chunk, body = body, b""
            return {"type": "http.request", "body": chunk, "more_body": False}

        async def capture_send(message: Message) -> None:
            nonlocal status, out_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                out_headers = list(message.get("headers") or [])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        except BaseException:
            await run_in_threadpool(self._release, record_id)
            raise
        payload = b"".join(chunks)
        if status >= 500 or status in (401, 403) or len(payload) > MAX_STORED_BODY:
            await run_in_threadpool(self._release, record_id)
        else:
            kept = {
                k.decode("latin-1"): v.decode("latin-1")
                for k, v in out_headers
                if k.decode("latin-1").lower() in REPLAYED_HEADERS
            }
            await run_in_threadpool(self._complete, record_id, status, kept, payload)

    @staticmethod
    async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _claim(self, caller: str, key: str, fingerprint: str) -> int | IdempotencyRecord | DomainError:
        with self.db.transaction() as session:
            existing = session.scalar(
                select(IdempotencyRecord).where(IdempotencyRecord.caller == caller, IdempotencyRecord.key == key)
            )
            if existing is None:
                record = IdempotencyRecord(caller=caller, key=key, fingerprint=fingerprint, state="pending")
                session.add(record)
                try:
                    session.flush()
                except IntegrityError:
                    session.rollback()
                    return IdempotencyKeyInProgress("another request with this key arrived at the same time")
                return record.id
        if existing.fingerprint != fingerprint:
            return IdempotencyKeyReused("this Idempotency-Key was used for a different request")
        if existing.state != "complete":
            return IdempotencyKeyInProgress()
        return existing

    def _complete(self, record_id: int, status: int, headers: dict[str, Any], body: bytes) -> None:
        with self.db.transaction() as session:
            record = session.get(IdempotencyRecord, record_id)
            if record is not None:
                record.state = "complete"
                record.status_code = status
                record.response_headers = headers
                record.response_body = body
                record.size = len(body)

    def _release(self, record_id: int) -> None:
        with self.db.transaction() as session:
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))


def _bad_key() -> ValidationFailed:
    return invalid(("header.Idempotency-Key", "invalid_length", "1 to 255 characters"))


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            break
    return b"".join(parts)


def purge_expired(db: Database, ttl_s: int) -> int:
    """Named schedule ``idempotency-purge``: forget keys older than the TTL."""
    with db.transaction() as session:
        result = session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - timedelta(seconds=ttl_s))
        )
        return int(getattr(result, "rowcount", 0) or 0)
