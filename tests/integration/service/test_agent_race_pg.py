"""Agents accepting one waiting conversation at once: exactly one gets it.

PostgreSQL only (``ZHONGTAI_TEST_DATABASE_URL``): a real server (uvicorn, two worker processes)
and concurrent HTTP clients, each a logged-in agent on its own connection, released together by a
barrier. Per conversation: one 200, every other agent a 409 ``conflict``; the row names the
winner, and the customer sees one "agent joined" message.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, make_user
from tests.integration.service.test_agent_desk import build_desk, open_conversation, queue_it
from zhongtai.auth import service as auth_service
from zhongtai.auth.models import AuditEntry
from zhongtai.db import Database
from zhongtai.service.models import Conversation, ConversationMessage

pytestmark = pytest.mark.postgres
SERVER_POOL_SIZE = 20
AGENTS = 6
ROUNDS = 4


def _session_headers(db: Database, username: str) -> dict[str, str]:
    with db.transaction() as s:
        started = auth_service.login(s, username, PASSWORD, max_age_s=3600)
    assert started is not None
    return {
        "Cookie": f"zt_session={started.token}",
        "X-CSRF-Token": started.principal.csrf_token or "",
        "Content-Type": "application/json",
    }


def _all_at_once(base: str, path: str, callers: list[dict[str, str]]) -> list[tuple[int, dict[str, Any]]]:
    parsed = urlsplit(base)
    barrier = threading.Barrier(len(callers))
    answers: list[tuple[int, dict[str, Any]]] = [(0, {})] * len(callers)

    def agent(i: int) -> None:
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
        try:
            conn.connect()
            barrier.wait(timeout=60)
            conn.request("POST", path, body=b"{}", headers=callers[i])
            resp = conn.getresponse()
            answers[i] = (resp.status, json.loads(resp.read() or b"null"))
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as exc:
            answers[i] = (-1, {"error": repr(exc)})
        finally:
            conn.close()

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(len(callers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return answers


def test_agents_accepting_at_once_one_wins_the_rest_get_409(pg_db: Database, pg_server: str) -> None:
    # Given waiting conversations and six agents logged in to the console
    build_desk(pg_db)
    names = [f"agent{i}" for i in range(AGENTS)]
    ids = {make_user(pg_db, n, "cs_agent"): n for n in names}
    callers = [_session_headers(pg_db, n) for n in names]
    conversations = []
    for _ in range(ROUNDS):
        public_id, _token = open_conversation(pg_db)
        queue_it(pg_db, public_id, says=("人工客服在吗",))
        conversations.append(public_id)

    winners: dict[str, str] = {}
    for public_id in conversations:
        # When all six accept the same conversation at the same moment
        answers = _all_at_once(pg_server, f"/api/v1/service/agent/conversations/{public_id}/accept", callers)

        # Then exactly one gets it and the others are told it is taken
        statuses = Counter(status for status, _ in answers)
        assert statuses == {200: 1, 409: AGENTS - 1}, answers
        assert all(body["code"] == "conflict" for status, body in answers if status == 409)
        winners[public_id] = names[next(i for i, (status, _) in enumerate(answers) if status == 200)]

    # And each conversation is with its winner, who joined it once (one message, one audit entry)
    with pg_db.transaction(write=False) as s:
        for public_id, winner in winners.items():
            conv = s.scalar(select(Conversation).where(Conversation.public_id == public_id))
            assert conv is not None
            assert (conv.status, ids[conv.assigned_user_id or 0]) == ("agent", winner)
            joined = s.scalars(
                select(ConversationMessage).where(
                    ConversationMessage.conversation_id == conv.id, ConversationMessage.sender == "system"
                )
            ).all()
            assert [m.payload.get("event") for m in joined] == ["handoff", "accepted"]
            seqs = s.scalars(
                select(ConversationMessage.seq)
                .where(ConversationMessage.conversation_id == conv.id)
                .order_by(ConversationMessage.seq)
            ).all()
            assert seqs == list(range(1, len(seqs) + 1))
            audit = s.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "service.conversation.accepted", AuditEntry.entity_id == public_id
                )
            ).all()
            assert [ids[e.actor_id or 0] for e in audit] == [winner]
