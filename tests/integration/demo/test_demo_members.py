"""The demo's members, stitched and written in bulk, against a real database: what the load wrote
is a graph the live member center can keep working on."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import date
from itertools import combinations
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import SYSTEM
from zhongtai.db import Database
from zhongtai.demo.loader import ACTOR, load_demo
from zhongtai.demo.member_data import STORE_PHONES
from zhongtai.demo.order_history import build_order_history
from zhongtai.demo.plan import build_demo_plan
from zhongtai.members import cards, consumer, identity
from zhongtai.members.identifiers import normalise
from zhongtai.settings import Settings

SEED = 7
TODAY = date(2026, 3, 10)


def pairwise(groups: dict[object, list[str]], truth: dict[str, int]) -> tuple[float, float]:
    """Precision and recall of grouping orders into members, against their true buyers."""
    true_pairs = sum(1 for g in groups.values() for a, b in combinations(g, 2) if truth[a] == truth[b])
    found = sum(len(g) * (len(g) - 1) // 2 for g in groups.values())
    by_person: dict[int, int] = defaultdict(int)
    for number in truth:
        by_person[truth[number]] += 1
    actual = sum(n * (n - 1) // 2 for n in by_person.values())
    return true_pairs / found, true_pairs / actual


def scalar(s: Session, sql: str) -> int:
    return int(s.execute(text(sql)).scalar_one())


def pairs(s: Session, sql: str) -> dict[Any, Any]:
    return {k: v for k, v in s.execute(text(sql)).all()}


def test_demo_members_are_stitched_and_the_live_service_works_on_them(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    # given the small demo loaded with its history
    printed = io.StringIO()
    summary = load_demo(
        db,
        seed=SEED,
        scale="small",
        console=Console(file=printed, width=200),
        settings=settings,
        credentials_path=tmp_path / "c.txt",
        today=TODAY,
    )
    plan = build_demo_plan(SEED, "small")
    history = build_order_history(SEED, plan.catalog, plan.network, plan.stock, TODAY)
    c = summary.counts

    # then the summary shows stitching at work: records from every channel became fewer members,
    # the matcher merged some, the store phones were quarantined, pairs wait for review
    assert c["member_records"] > 2 * c["members"] > 2_000
    assert c["members_merged"] > 50
    assert c["member_identifiers_quarantined"] == 2
    assert 0 < c["member_review_queued"] <= c["member_review_pairs"]
    assert c["guides_created"] >= len(plan.network.stores) - 1
    assert "members (OneID)" in printed.getvalue()

    with db.transaction(write=False) as s:
        # every order with a known buyer has a member, and members are people: the orders of one
        # member are one buyer's, a buyer's orders mostly one member's
        truth = {o.number: o.customer_id for o in history.orders if o.customer_id is not None}
        members: dict[object, list[str]] = defaultdict(list)
        for number, member_id in s.execute(text("SELECT number, member_id FROM orders")):
            if number in truth:
                assert member_id is not None, number
                members[member_id].append(number)
        assert sum(len(g) for g in members.values()) == len(truth) == c["member_orders_linked"]
        precision, recall = pairwise(members, truth)
        assert precision >= 0.97
        assert recall >= 0.75

        # every attached row points at a current (active) member
        for table in (
            "member_identifiers",
            "member_observations",
            "member_points_entries",
            "member_consents",
            "member_guide_bindings",
            "member_stats",
            "orders",
        ):
            stale = scalar(
                s, f"SELECT count(*) FROM {table} t JOIN members m ON m.id = t.member_id WHERE m.status <> 'active'"
            )
            assert stale == 0, table
        # merged members redirect to an active survivor, and the history says why
        assert scalar(s, "SELECT count(*) FROM members WHERE status = 'merged'") == c["members_merged"]
        assert (
            scalar(
                s,
                "SELECT count(*) FROM members m JOIN members t ON t.id = m.merged_into_id "
                "WHERE m.status = 'merged' AND t.status = 'active' AND m.merged_into_id < m.id",
            )
            == c["members_merged"]
        )
        assert scalar(s, "SELECT count(*) FROM member_merge_events WHERE kind = 'merge'") == c["members_merged"]
        for member_id, code in s.execute(text("SELECT id, code FROM members")):
            assert code == f"M{member_id:010d}"

        # identifiers are valid and canonical; the store phones are quarantined and link nothing
        for kind, value in s.execute(text("SELECT kind, value FROM member_identifiers")):
            assert normalise(kind, value) == value
        quarantined = {
            v for (v,) in s.execute(text("SELECT value FROM member_identifiers WHERE status = 'quarantined'"))
        }
        assert quarantined <= {normalise("phone", p) for p in STORE_PHONES}
        assert (
            scalar(
                s,
                "SELECT count(*) FROM member_identity_edges e JOIN member_identifiers i "
                "ON i.id IN (e.a_id, e.b_id) WHERE i.status = 'quarantined' AND e.active",
            )
            == 0
        )
        assert scalar(s, "SELECT count(*) FROM member_merge_events WHERE kind = 'quarantine'") >= 2

        # points: the balance is the ledger's sum, and the lots hold exactly what is positive of it
        balances = pairs(s, "SELECT id, points_balance FROM members")
        ledger = pairs(s, "SELECT member_id, sum(points) FROM member_points_entries GROUP BY member_id")
        lots = pairs(
            s, "SELECT member_id, sum(remaining) FROM member_points_entries WHERE kind = 'earn' GROUP BY member_id"
        )
        assert ledger
        for member_id, total in ledger.items():
            assert balances[member_id] == total, member_id
            assert lots.get(member_id, 0) == max(0, total), member_id
        kinds = {k for (k,) in s.execute(text("SELECT DISTINCT kind FROM member_points_entries"))}
        assert {"earn", "clawback", "redeem", "expire"} <= kinds
        assert scalar(s, "SELECT count(*) FROM members WHERE tier NOT IN ('', 'regular')") > 0

        # statistics count each member's orders, RFM is scored, rule tags are on
        counted = pairs(
            s,
            "SELECT member_id, count(*) FROM orders WHERE member_id IS NOT NULL AND status <> 'cancelled' "
            "GROUP BY member_id",
        )
        stats = pairs(s, "SELECT member_id, orders_count FROM member_stats")
        assert {m: n for m, n in counted.items()} == {m: n for m, n in stats.items() if m in counted}
        assert scalar(s, "SELECT count(*) FROM member_stats WHERE r_score BETWEEN 1 AND 5") == len(stats)
        assert scalar(s, "SELECT count(*) FROM member_tags") > 0

        # enrolment: store members have a store, most a guide of that store, consents captured
        assert scalar(s, "SELECT count(*) FROM members WHERE enrolled_channel = 'pos'") > 500
        bound = scalar(s, "SELECT count(*) FROM members WHERE guide_user_id IS NOT NULL")
        open_rows = scalar(s, "SELECT count(*) FROM member_guide_bindings WHERE unbound_at IS NULL")
        assert bound == open_rows > 300
        granted = pairs(
            s, "SELECT channel, avg(CASE WHEN granted THEN 1.0 ELSE 0.0 END) FROM member_consents GROUP BY channel"
        )
        assert granted["wechat"] > granted["sms"] > 0.2

        # the member center's own reads work on it
        merged_id = scalar(s, "SELECT min(id) FROM members WHERE status = 'merged'")
        assert identity.history(s, merged_id)
        assert cards.review_pairs(s, SYSTEM, limit=5).items
        merge_event = scalar(
            s,
            "SELECT min(e.id) FROM member_merge_events e JOIN members m ON m.id = e.other_id "
            "WHERE e.kind = 'merge' AND m.merged_into_id = e.survivor_id",
        )

    # when a reviewer undoes one of the matcher's merges
    with db.transaction() as s:
        survivor, absorbed = identity.unmerge(s, ACTOR, merge_event)
    # then both are members again
    with db.transaction(write=False) as s:
        assert {
            r for (r,) in s.execute(text(f"SELECT status FROM members WHERE id IN ({survivor.id}, {absorbed.id})"))
        } == {"active"}

    # when the member center reads today's live orders from the outbox
    consumer.consume(db, limit=1_000)
    with db.transaction(write=False) as s:
        # then a live order by a known customer joins that customer's member (no duplicate member)
        known = {re.sub(r"\D", "", c.phone): c for c in history.customers}
        rows = s.execute(
            text(
                "SELECT o.number, o.buyer_phone, o.member_id, m.id FROM orders o "
                "JOIN member_identifiers i ON i.kind = 'phone' AND i.value = '+86' || o.buyer_phone "
                "JOIN members m ON m.id = i.member_id "
                "WHERE o.placed_at >= :today AND o.buyer_phone <> '' AND i.status = 'active'"
            ),
            {"today": history.cutoff},
        ).all()
        assert rows
        for number, phone, member_id, owner in rows:
            assert phone in known
            assert member_id == owner, number
